//! The audit log: who did what, when. Every change a person or token makes to users,
//! tokens, labels, models or settings is recorded here.

use crate::db::Db;
use crate::error::DomainResult;
use crate::time::now_ms;

/// Who acted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    User(i64),
    Token(i64),
    /// The command line or the server itself.
    System,
}

impl Actor {
    /// The person who acted, if a person did (for `created_by` columns).
    pub fn user_id(self) -> Option<i64> {
        match self {
            Actor::User(id) => Some(id),
            _ => None,
        }
    }

    /// The token that acted, if one did.
    pub fn token_id(self) -> Option<i64> {
        match self {
            Actor::Token(id) => Some(id),
            _ => None,
        }
    }
}

pub async fn record(
    db: &Db,
    actor: Actor,
    action: &str,
    target_type: &str,
    target_id: &str,
    details: serde_json::Value,
) -> DomainResult<()> {
    let (user, token) = (actor.user_id(), actor.token_id());
    sqlx::query(
        "INSERT INTO audit_log (at, actor_user_id, actor_token_id, action, target_type, target_id, details) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(now_ms())
    .bind(user)
    .bind(token)
    .bind(action)
    .bind(target_type)
    .bind(target_id)
    .bind(details.to_string())
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// The most recent entries' actions, newest first (for tests and the admin page).
pub async fn recent_actions(db: &Db, limit: i64) -> DomainResult<Vec<String>> {
    Ok(
        sqlx::query_scalar("SELECT action FROM audit_log ORDER BY id DESC LIMIT $1")
            .bind(limit)
            .fetch_all(&db.pool)
            .await?,
    )
}

/// One audit entry as pages show it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AuditEntry {
    pub at: i64,
    /// The user's display name, the token's name, or "system".
    pub actor: String,
    pub action: String,
    pub details: serde_json::Value,
}

/// The latest entries of one action, newest first.
pub async fn recent(db: &Db, action: &str, limit: i64) -> DomainResult<Vec<AuditEntry>> {
    // at, user name, token name, action, details
    type Row = (i64, Option<String>, Option<String>, String, String);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT a.at, u.display_name, t.name, a.action, a.details FROM audit_log a \
         LEFT JOIN users u ON u.id = a.actor_user_id \
         LEFT JOIN api_tokens t ON t.id = a.actor_token_id \
         WHERE a.action = $1 ORDER BY a.id DESC LIMIT $2",
    )
    .bind(action)
    .bind(limit)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(at, user, token, action, details)| AuditEntry {
            at,
            actor: user.or(token).unwrap_or_else(|| "system".into()),
            action,
            details: serde_json::from_str(&details).unwrap_or_default(),
        })
        .collect())
}
