//! People who sign in to Triage.

use secrecy::SecretString;
use sqlx::Row;

use crate::audit::{self, Actor};
use crate::db::Db;
use crate::error::{DomainError, DomainResult, is_unique_violation};
use crate::role::Role;
use crate::time::now_ms;
use crate::wire::{CurrentUser, UserSummary};

/// A user name: 2–64 characters of lowercase letters, digits, `.`, `_` or `-`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    pub fn parse(s: &str) -> DomainResult<Username> {
        let s = s.trim().to_lowercase();
        let ok_chars = s
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c));
        if !(2..=64).contains(&s.len()) || !ok_chars {
            return Err(DomainError::invalid(
                "username",
                "use 2 to 64 characters: lowercase letters, digits, '.', '_' or '-'",
            ));
        }
        Ok(Username(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Creates a user with a hashed password. A taken user name is a `Conflict`.
pub async fn create(
    db: &Db,
    username: &Username,
    display_name: &str,
    role: Role,
    password: SecretString,
    actor: Actor,
) -> DomainResult<i64> {
    if role == Role::Ingest {
        return Err(DomainError::invalid(
            "role",
            "ingest is for API tokens only",
        ));
    }
    let display_name = match display_name.trim() {
        "" => username.as_str().to_string(),
        name => name.to_string(),
    };
    let hash = crate::password::hash(password).await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO users (username, display_name, role, password_hash, created_at) \
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(username.as_str())
    .bind(&display_name)
    .bind(role.as_str())
    .bind(hash)
    .bind(now_ms())
    .fetch_one(&db.pool)
    .await
    .map_err(|e| {
        if is_unique_violation(&e) {
            DomainError::Conflict(format!("user {} already exists", username.as_str()))
        } else {
            e.into()
        }
    })?;
    audit::record(
        db,
        actor,
        "user.create",
        "user",
        &id.to_string(),
        serde_json::json!({"username": username.as_str(), "role": role.as_str()}),
    )
    .await?;
    Ok(id)
}

/// The active user with this id (a deactivated user is `None`: their sessions stop
/// working at once). The one query is `accounts::session_user`'s.
pub async fn find_active(db: &Db, id: i64) -> DomainResult<Option<CurrentUser>> {
    Ok(crate::accounts::session_user(db, id)
        .await?
        .map(|found| found.user))
}

/// The active user with this name and their password hash, for signing in.
pub(crate) async fn find_credentials(
    db: &Db,
    username: &str,
) -> DomainResult<Option<(CurrentUser, String)>> {
    let row = sqlx::query(
        "SELECT id, username, display_name, role, password_hash FROM users \
         WHERE username = $1 AND deactivated_at IS NULL",
    )
    .bind(username)
    .fetch_optional(&db.pool)
    .await?;
    match row {
        Some(r) => Ok(Some((
            current_user_from_row(&r)?,
            r.try_get("password_hash")?,
        ))),
        None => Ok(None),
    }
}

/// Adds a person with a generated one-time password, returned to show the admin once.
pub async fn invite(
    db: &Db,
    username: &str,
    display_name: &str,
    role: Role,
    actor: Actor,
) -> DomainResult<String> {
    let username = Username::parse(username)?;
    let password = crate::password::temporary();
    let id = create(
        db,
        &username,
        display_name,
        role,
        SecretString::from(password.clone()),
        actor,
    )
    .await?;
    // Someone else knows it: the person must choose their own at first sign-in.
    sqlx::query("UPDATE users SET password_change_required_at = $1 WHERE id = $2")
        .bind(now_ms())
        .bind(id)
        .execute(&db.pool)
        .await?;
    Ok(password)
}

/// Changes a person's role (admins). An admin cannot take their own admin role away,
/// so there is always someone who can give it back.
pub async fn set_role(db: &Db, id: i64, role: Role, actor: Actor) -> DomainResult<()> {
    if role == Role::Ingest {
        return Err(DomainError::invalid(
            "role",
            "ingest is for API tokens only",
        ));
    }
    if actor.user_id() == Some(id) && role != Role::Admin {
        return Err(DomainError::Conflict(
            "you cannot take away your own admin role".into(),
        ));
    }
    let done = sqlx::query("UPDATE users SET role = $1 WHERE id = $2")
        .bind(role.as_str())
        .bind(id)
        .execute(&db.pool)
        .await?;
    if done.rows_affected() == 0 {
        return Err(DomainError::NotFound);
    }
    audit::record(
        db,
        actor,
        "user.role",
        "user",
        &id.to_string(),
        serde_json::json!({"role": role.as_str()}),
    )
    .await
}

/// Deactivates (their sessions stop working at once) or reactivates a person.
pub async fn set_active(db: &Db, id: i64, active: bool, actor: Actor) -> DomainResult<()> {
    if actor.user_id() == Some(id) && !active {
        return Err(DomainError::Conflict(
            "you cannot deactivate yourself".into(),
        ));
    }
    // Deactivating ends every session for good: reactivating does not revive them.
    let update = if active {
        sqlx::query("UPDATE users SET deactivated_at = NULL WHERE id = $1").bind(id)
    } else {
        sqlx::query("UPDATE users SET deactivated_at = $1, sessions_valid_after = $1 WHERE id = $2")
            .bind(now_ms())
            .bind(id)
    };
    let done = update.execute(&db.pool).await?;
    if done.rows_affected() == 0 {
        return Err(DomainError::NotFound);
    }
    let action = if active {
        "user.reactivate"
    } else {
        "user.deactivate"
    };
    audit::record(
        db,
        actor,
        action,
        "user",
        &id.to_string(),
        serde_json::json!({}),
    )
    .await
}

/// The id of the person with this user name (active or not).
pub async fn id_by_username(db: &Db, username: &str) -> DomainResult<i64> {
    let username = Username::parse(username)?;
    sqlx::query_scalar("SELECT id FROM users WHERE username = $1")
        .bind(username.as_str())
        .fetch_optional(&db.pool)
        .await?
        .ok_or(DomainError::NotFound)
}

pub async fn list(db: &Db) -> DomainResult<Vec<UserSummary>> {
    let rows = sqlx::query(
        "SELECT id, username, display_name, role, created_at, deactivated_at \
         FROM users ORDER BY username",
    )
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| {
            let user = current_user_from_row(r)?;
            Ok(UserSummary {
                id: user.id,
                username: user.username,
                display_name: user.display_name,
                role: user.role,
                active: r.try_get::<Option<i64>, _>("deactivated_at")?.is_none(),
                created_at: r.try_get("created_at")?,
            })
        })
        .collect()
}

pub(crate) fn current_user_from_row(r: &sqlx::any::AnyRow) -> DomainResult<CurrentUser> {
    let role: String = r.try_get("role")?;
    Ok(CurrentUser {
        id: r.try_get("id")?,
        username: r.try_get("username")?,
        display_name: r.try_get("display_name")?,
        role: Role::parse_user_role(&role).map_err(|e| DomainError::Internal(e.to_string()))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_names_are_normalised_and_checked() {
        assert_eq!(Username::parse(" Alex.M ").unwrap().as_str(), "alex.m");
        assert!(Username::parse("a").is_err());
        assert!(Username::parse("alex m").is_err());
        assert!(Username::parse("<script>").is_err());
    }
}
