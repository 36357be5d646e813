//! The audit log: who did what, when. Every change a person or token makes to users,
//! tokens, labels, models or settings is recorded here.

use crate::db::Db;
use crate::error::DomainResult;
use crate::sql::Sql;
use crate::time::now_ms;
use crate::wire::AuditRow;

/// Who acted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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
    let filter = AuditFilter {
        action: Some(action.to_string()),
        ..AuditFilter::default()
    };
    Ok(search(db, &filter, limit)
        .await?
        .into_iter()
        .map(|row| AuditEntry {
            at: row.at,
            actor: row.actor,
            action: row.action,
            details: serde_json::from_str(&row.details).unwrap_or_default(),
        })
        .collect())
}

/// Which audit entries the admin page lists.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuditFilter {
    /// An action (`model.activate`), or a family of them (`model`).
    pub action: Option<String>,
    /// A user name or token name.
    pub actor: Option<String>,
    /// From this time on (Unix ms).
    pub from: Option<i64>,
    /// Before this time.
    pub to: Option<i64>,
    /// Entries older than this id (the next page).
    pub before_id: Option<i64>,
}

/// Audit entries matching `filter`, newest first.
pub async fn search(db: &Db, filter: &AuditFilter, limit: i64) -> DomainResult<Vec<AuditRow>> {
    #[derive(sqlx::FromRow)]
    struct Entry {
        id: i64,
        at: i64,
        actor_user: Option<String>,
        actor_token: Option<String>,
        action: String,
        target_type: String,
        target_id: String,
        details: String,
    }
    let mut sql = Sql::new(
        "SELECT a.id, a.at, u.display_name AS actor_user, t.name AS actor_token, a.action, a.target_type, \
           a.target_id, a.details FROM audit_log a \
         LEFT JOIN users u ON u.id = a.actor_user_id \
         LEFT JOIN api_tokens t ON t.id = a.actor_token_id WHERE 1 = 1",
    );
    let text = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    if let Some(action) = text(&filter.action) {
        // `model.activate` is one action; `model` is its family.
        if action.contains('.') {
            sql.push(" AND a.action = ").bind(action);
        } else {
            sql.push(" AND a.action LIKE ").bind(format!("{action}.%"));
        }
    }
    if let Some(actor) = text(&filter.actor) {
        let actor = actor.to_lowercase();
        sql.push(" AND (u.username = ")
            .bind(actor.as_str())
            .push(" OR LOWER(t.name) = ")
            .bind(actor)
            .push(")");
    }
    for (column, op, value) in [
        ("a.at", ">=", filter.from),
        ("a.at", "<", filter.to),
        ("a.id", "<", filter.before_id),
    ] {
        if let Some(v) = value {
            sql.push(&format!(" AND {column} {op} ")).bind(v);
        }
    }
    sql.push(" ORDER BY a.id DESC LIMIT ")
        .bind(limit.clamp(1, 500));
    let rows: Vec<Entry> = sql.query_as().fetch_all(&db.pool).await?;
    Ok(rows
        .into_iter()
        .map(|e| AuditRow {
            id: e.id,
            at: e.at,
            actor: e
                .actor_user
                .or(e.actor_token)
                .unwrap_or_else(|| "system".into()),
            action: e.action,
            target: if e.target_id.is_empty() {
                e.target_type
            } else {
                format!("{} {}", e.target_type, e.target_id)
            },
            details: e.details,
        })
        .collect())
}
