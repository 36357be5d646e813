//! Signing in: one answer for a wrong user name or a wrong password, and a rate limit
//! on failures per user name and per address, kept in the database so every process
//! sharing it enforces the same limit.

use secrecy::SecretString;

use crate::audit::{self, Actor};
use crate::db::Db;
use crate::error::DomainError;
use crate::time::now_ms;
use crate::wire::CurrentUser;

#[derive(Debug, Clone, Copy)]
pub struct LoginLimits {
    /// Failures per user name within the window before sign-in is refused.
    pub max_failures: i64,
    pub window_ms: i64,
}

impl LoginLimits {
    /// An address may fail for several user names (a shared office) before it is
    /// stopped, but not without bound.
    fn max_failures_per_ip(&self) -> i64 {
        self.max_failures * 4
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    /// Wrong user name or wrong password: deliberately the same error.
    #[error("wrong user name or password")]
    InvalidCredentials,
    #[error("too many failed sign-ins; try again in a few minutes")]
    TooManyAttempts,
    #[error(transparent)]
    Domain(#[from] DomainError),
}

impl From<sqlx::Error> for SignInError {
    fn from(e: sqlx::Error) -> Self {
        SignInError::Domain(e.into())
    }
}

pub async fn sign_in(
    db: &Db,
    limits: LoginLimits,
    username: &str,
    password: SecretString,
    ip: &str,
) -> Result<CurrentUser, SignInError> {
    let username = username.trim().to_lowercase();
    let since = now_ms() - limits.window_ms;
    let (by_user, by_ip): (i64, i64) = sqlx::query_as(
        "SELECT \
           CAST(COALESCE(SUM(CASE WHEN username = $1 THEN 1 ELSE 0 END), 0) AS BIGINT), \
           CAST(COALESCE(SUM(CASE WHEN ip = $2 THEN 1 ELSE 0 END), 0) AS BIGINT) \
         FROM login_failures WHERE at > $3 AND (username = $1 OR ip = $2)",
    )
    .bind(&username)
    .bind(ip)
    .bind(since)
    .fetch_one(&db.pool)
    .await?;
    if by_user >= limits.max_failures || by_ip >= limits.max_failures_per_ip() {
        return Err(SignInError::TooManyAttempts);
    }

    let found = crate::users::find_credentials(db, &username).await?;
    let (user, hash) = match found {
        Some((user, hash)) => (Some(user), Some(hash)),
        None => (None, None),
    };
    if crate::password::verify(password, hash).await
        && let Some(user) = user
    {
        sqlx::query("DELETE FROM login_failures WHERE username = $1")
            .bind(&username)
            .execute(&db.pool)
            .await?;
        audit::record(
            db,
            Actor::User(user.id),
            "auth.sign_in",
            "user",
            &user.id.to_string(),
            serde_json::json!({"ip": ip}),
        )
        .await?;
        return Ok(user);
    }
    sqlx::query("INSERT INTO login_failures (username, ip, at) VALUES ($1, $2, $3)")
        .bind(&username)
        .bind(ip)
        .bind(now_ms())
        .execute(&db.pool)
        .await?;
    Err(SignInError::InvalidCredentials)
}
