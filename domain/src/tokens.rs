//! API tokens: shown once when created, stored only as a SHA-256 hash. Tokens are 256
//! random bits, so a fast hash is enough (a slow password hash protects low-entropy
//! secrets; it would only slow every API call here).

use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::audit::{self, Actor};
use crate::db::Db;
use crate::error::{DomainError, DomainResult};
use crate::role::Role;
use crate::time::now_ms;

pub const TOKEN_PREFIX: &str = "trg_";

/// Who is calling, when a request carries a valid token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenPrincipal {
    pub id: i64,
    pub name: String,
    pub role: Role,
}

/// A freshly created token: the only moment its secret exists outside the caller.
pub struct NewToken {
    pub id: i64,
    pub secret: String,
}

fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

pub async fn create(db: &Db, name: &str, role: Role, actor: Actor) -> DomainResult<NewToken> {
    let name = name.trim();
    if name.is_empty() || name.len() > 100 {
        return Err(DomainError::invalid(
            "name",
            "give the token a name of 1 to 100 characters",
        ));
    }
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let secret = format!(
        "{TOKEN_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    );
    let created_by = actor.user_id();
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO api_tokens (name, role, token_hash, token_prefix, created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(name)
    .bind(role.as_str())
    .bind(hash(&secret))
    .bind(&secret[..TOKEN_PREFIX.len() + 6])
    .bind(created_by)
    .bind(now_ms())
    .fetch_one(&db.pool)
    .await?;
    audit::record(
        db,
        actor,
        "token.create",
        "api_token",
        &id.to_string(),
        serde_json::json!({"name": name, "role": role.as_str()}),
    )
    .await?;
    Ok(NewToken { id, secret })
}

/// The token's owner, or `None` for an unknown or revoked token.
pub async fn authenticate(db: &Db, secret: &str) -> DomainResult<Option<TokenPrincipal>> {
    if !secret.starts_with(TOKEN_PREFIX) {
        return Ok(None);
    }
    let row = sqlx::query(
        "SELECT id, name, role, last_used_at FROM api_tokens \
         WHERE token_hash = $1 AND revoked_at IS NULL",
    )
    .bind(hash(secret))
    .fetch_optional(&db.pool)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let id: i64 = row.try_get("id")?;
    let now = now_ms();
    // "Last used" to the minute is enough; avoid a write on every request.
    let last_used: Option<i64> = row.try_get("last_used_at")?;
    if last_used.is_none_or(|t| now - t > 60_000) {
        sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
            .bind(now)
            .bind(id)
            .execute(&db.pool)
            .await?;
    }
    let role: String = row.try_get("role")?;
    Ok(Some(TokenPrincipal {
        id,
        name: row.try_get("name")?,
        role: Role::parse(&role).map_err(|e| DomainError::Internal(e.to_string()))?,
    }))
}

pub async fn revoke(db: &Db, id: i64, actor: Actor) -> DomainResult<()> {
    crate::sql::stamp_once(db, "api_tokens", "revoked_at", id).await?;
    audit::record(
        db,
        actor,
        "token.revoke",
        "api_token",
        &id.to_string(),
        serde_json::json!({}),
    )
    .await
}

/// Every token, newest first: name, role, prefix and use, never the secret.
pub async fn list(db: &Db) -> DomainResult<Vec<crate::wire::TokenSummary>> {
    Ok(sqlx::query_as(
        "SELECT id, name, role, token_prefix AS prefix, created_at, last_used_at, revoked_at \
         FROM api_tokens ORDER BY id DESC",
    )
    .fetch_all(&db.pool)
    .await?)
}
