//! A person's password and sessions: changing one's own password, an admin's reset to
//! a one-time password that must be changed at the next sign-in, and ending every
//! session of a person at once.
//!
//! Sessions are ended by a moment, not by finding their rows: each session records
//! when it signed in, and `users.sessions_valid_after` says from when sessions count.
//! The guard compares the two on every request (server/src/auth/guard.rs), so a
//! change takes effect on the next request of every process sharing the database.

use secrecy::{ExposeSecret, SecretString};
use sqlx::Row;

use crate::audit::{self, Actor};
use crate::db::Db;
use crate::error::{DomainError, DomainResult};
use crate::time::now_ms;
use crate::wire::CurrentUser;

/// The signed-in person as the guard needs them.
#[derive(Debug, Clone)]
pub struct SessionUser {
    pub user: CurrentUser,
    /// Their password was given by someone else: they must choose their own first.
    pub must_change_password: bool,
    /// Sessions that signed in before this moment (ms) are over.
    pub sessions_valid_after: i64,
}

impl SessionUser {
    /// A session that signed in at `signed_in_at` still counts: it began after the
    /// person's sessions were last ended (strictly: a sign-in in the same millisecond
    /// as the end is on the safe side of it). A session from before sign-in times
    /// were kept counts until the first end.
    pub fn session_counts(&self, signed_in_at: Option<i64>) -> bool {
        match signed_in_at {
            Some(at) => at > self.sessions_valid_after,
            None => self.sessions_valid_after == 0,
        }
    }
}

/// The active person with this id, with their session rules (`None` when they do not
/// exist or are deactivated).
pub async fn session_user(db: &Db, id: i64) -> DomainResult<Option<SessionUser>> {
    let row = sqlx::query(
        "SELECT id, username, display_name, role, password_change_required_at, \
           sessions_valid_after FROM users WHERE id = $1 AND deactivated_at IS NULL",
    )
    .bind(id)
    .fetch_optional(&db.pool)
    .await?;
    let Some(r) = row else { return Ok(None) };
    Ok(Some(SessionUser {
        user: crate::users::current_user_from_row(&r)?,
        must_change_password: r
            .try_get::<Option<i64>, _>("password_change_required_at")?
            .is_some(),
        sessions_valid_after: r.try_get("sessions_valid_after")?,
    }))
}

#[derive(Debug, thiserror::Error)]
pub enum PasswordChangeError {
    #[error("the current password is wrong")]
    WrongPassword,
    #[error("the two new passwords differ")]
    Mismatch,
    #[error("the new password must differ from the current one")]
    Unchanged,
    #[error(transparent)]
    Domain(#[from] DomainError),
}

/// A person changes their own password, proving they know the current one. Every
/// session of theirs ends (`sessions_valid_after` = now); the caller re-stamps the
/// session it is answering with a later moment (the one returned), so the person
/// stays signed in where they are.
pub async fn change_own_password(
    db: &Db,
    id: i64,
    current: SecretString,
    new: SecretString,
    confirm: SecretString,
) -> Result<i64, PasswordChangeError> {
    if new.expose_secret() != confirm.expose_secret() {
        return Err(PasswordChangeError::Mismatch);
    }
    if new.expose_secret() == current.expose_secret() {
        return Err(PasswordChangeError::Unchanged);
    }
    let stored: Option<String> = sqlx::query_scalar(
        "SELECT password_hash FROM users WHERE id = $1 AND deactivated_at IS NULL",
    )
    .bind(id)
    .fetch_optional(&db.pool)
    .await
    .map_err(DomainError::from)?;
    if !crate::password::verify(current, stored).await {
        return Err(PasswordChangeError::WrongPassword);
    }
    let at = store_password(db, id, new, false, Actor::User(id), "user.password_change").await?;
    Ok(at + 1)
}

/// An admin gives a person a new one-time password (returned, to show once): their
/// sessions end and they must choose their own password at the next sign-in.
pub async fn reset_password(db: &Db, id: i64, actor: Actor) -> DomainResult<String> {
    let password = crate::password::temporary();
    let secret = SecretString::from(password.clone());
    store_password(db, id, secret, true, actor, "user.password_reset").await?;
    Ok(password)
}

/// An operator sets a person's password (`triage user passwd`): their sessions end;
/// the password is theirs to keep (whoever runs the command is trusted with it).
pub async fn set_password(
    db: &Db,
    id: i64,
    password: SecretString,
    actor: Actor,
) -> DomainResult<()> {
    store_password(db, id, password, false, actor, "user.password_set").await?;
    Ok(())
}

/// Ends every session of a person ("sign out everywhere", or a deactivation).
pub async fn end_sessions(db: &Db, id: i64, actor: Actor) -> DomainResult<()> {
    let done = sqlx::query("UPDATE users SET sessions_valid_after = $1 WHERE id = $2")
        .bind(now_ms())
        .bind(id)
        .execute(&db.pool)
        .await?;
    if done.rows_affected() == 0 {
        return Err(DomainError::NotFound);
    }
    audit::record(
        db,
        actor,
        "user.sessions_end",
        "user",
        &id.to_string(),
        serde_json::json!({}),
    )
    .await
}

/// Hashes and stores a password, ends the person's sessions, sets the "must change"
/// mark (a password someone else chose) or clears it, and audits it as `action`.
/// Returns the moment sessions were ended.
async fn store_password(
    db: &Db,
    id: i64,
    password: SecretString,
    must_change: bool,
    actor: Actor,
    action: &str,
) -> DomainResult<i64> {
    let hash = crate::password::hash(password).await?;
    let now = now_ms();
    let done = sqlx::query(
        "UPDATE users SET password_hash = $1, password_change_required_at = $2, \
           sessions_valid_after = $3 WHERE id = $4",
    )
    .bind(hash)
    .bind(must_change.then_some(now))
    .bind(now)
    .bind(id)
    .execute(&db.pool)
    .await?;
    if done.rows_affected() == 0 {
        return Err(DomainError::NotFound);
    }
    audit::record(
        db,
        actor,
        action,
        "user",
        &id.to_string(),
        serde_json::json!({}),
    )
    .await?;
    Ok(now)
}
