//! Which scorer answers: the one active model, a built-in version or a registered
//! endpoint. Supervisors switch it on the Models page; configuration can pin it.

use std::collections::HashMap;
use std::sync::Arc;

use super::Scorer;
use super::endpoint::{AwsCredentials, EndpointConfig, EndpointScorer};
use crate::audit::{self, Actor};
use crate::db::Db;
use crate::error::{DomainError, DomainResult};
use crate::time::now_ms;
use crate::training::{self, Artifact};
use crate::wire::ModelKind;

/// The active model's id and when it was switched on: a cheap check that tells a
/// long-lived scorer to load again (a re-registered endpoint keeps its id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct ActiveMarker {
    pub id: i64,
    pub activated_at: i64,
}

pub async fn active_marker(db: &Db) -> DomainResult<Option<ActiveMarker>> {
    Ok(sqlx::query_as(
        "SELECT id, COALESCE(activated_at, 0) AS activated_at FROM models WHERE status = 'active'",
    )
    .fetch_optional(&db.pool)
    .await?)
}

/// The scorer of the active model, if any.
pub async fn load_active(db: &Db, credentials: &AwsCredentials) -> DomainResult<Option<Scorer>> {
    match active_marker(db).await? {
        Some(marker) => load(db, marker.id, credentials).await.map(Some),
        None => Ok(None),
    }
}

/// The scorer of model `id`, built-in or endpoint.
pub async fn load(db: &Db, id: i64, credentials: &AwsCredentials) -> DomainResult<Scorer> {
    load_as(db, id, credentials, Artifact::Scoring).await
}

/// The scorer that judges model `id` on held-out mail: a built-in model's twin fitted
/// without the held-out threads (see [`Artifact::HeldOutTwin`]); an endpoint as is.
pub async fn load_held_out_twin(
    db: &Db,
    id: i64,
    credentials: &AwsCredentials,
) -> DomainResult<Scorer> {
    load_as(db, id, credentials, Artifact::HeldOutTwin).await
}

async fn load_as(
    db: &Db,
    id: i64,
    credentials: &AwsCredentials,
    which: Artifact,
) -> DomainResult<Scorer> {
    #[derive(sqlx::FromRow)]
    struct Model {
        kind: ModelKind,
        version: String,
        config: Option<String>,
    }
    let Model {
        kind,
        version,
        config,
    } = sqlx::query_as("SELECT kind, version, config FROM models WHERE id = $1")
        .bind(id)
        .fetch_optional(&db.pool)
        .await?
        .ok_or(DomainError::NotFound)?;
    if kind == ModelKind::Builtin {
        let loaded = training::load_artifact(db, Some(&version), which)
            .await?
            .ok_or(DomainError::NotFound)?;
        return Ok(Scorer::Builtin(Arc::new(loaded)));
    }
    let config: EndpointConfig = serde_json::from_str(config.as_deref().unwrap_or("{}"))
        .map_err(|e| DomainError::Internal(format!("endpoint model {version}: {e}")))?;
    let scorer =
        EndpointScorer::connect(id, version, config, category_ids(db).await?, credentials).await;
    Ok(Scorer::Endpoint(Arc::new(scorer)))
}

/// Every category that is not retired, by name.
async fn category_ids(db: &Db) -> DomainResult<HashMap<String, i64>> {
    #[derive(sqlx::FromRow)]
    struct Category {
        name: String,
        id: i64,
    }
    let rows: Vec<Category> =
        sqlx::query_as("SELECT name, id FROM categories WHERE retired_at IS NULL")
            .fetch_all(&db.pool)
            .await?;
    Ok(rows.into_iter().map(|c| (c.name, c.id)).collect())
}

/// Registers an endpoint as a model (version `endpoint-NAME`), or updates the
/// settings of the one already registered under that name. Returns its id.
pub async fn register_endpoint(
    db: &Db,
    config: &EndpointConfig,
    actor: Actor,
) -> DomainResult<i64> {
    config.validate()?;
    let version = format!("endpoint-{}", config.endpoint_name);
    let json = serde_json::to_string(config).map_err(|e| DomainError::Internal(e.to_string()))?;
    let existing: Option<i64> = sqlx::query_scalar("SELECT id FROM models WHERE version = $1")
        .bind(&version)
        .fetch_optional(&db.pool)
        .await?;
    let id = match existing {
        Some(id) => {
            sqlx::query("UPDATE models SET config = $1 WHERE id = $2")
                .bind(&json)
                .bind(id)
                .execute(&db.pool)
                .await?;
            // A changed configuration must reach scorers that hold the old one.
            sqlx::query("UPDATE models SET activated_at = $1 WHERE id = $2 AND status = 'active'")
                .bind(now_ms())
                .bind(id)
                .execute(&db.pool)
                .await?;
            id
        }
        None => {
            let created_by = actor.user_id();
            sqlx::query_scalar(
                "INSERT INTO models (version, kind, status, created_at, created_by, config) \
                 VALUES ($1, 'endpoint', 'candidate', $2, $3, $4) RETURNING id",
            )
            .bind(&version)
            .bind(now_ms())
            .bind(created_by)
            .bind(&json)
            .fetch_one(&db.pool)
            .await?
        }
    };
    audit::record(
        db,
        actor,
        "model.register_endpoint",
        "model",
        &id.to_string(),
        serde_json::json!({"version": version, "endpoint_name": config.endpoint_name, "endpoint_url": config.endpoint_url}),
    )
    .await?;
    Ok(id)
}

/// The scorer the configuration pins at start-up (`scorer`, `TRIAGE_SCORER`).
#[derive(Debug, Clone, PartialEq)]
pub enum PinnedScorer {
    /// The newest built-in model.
    Builtin,
    /// The configured endpoint.
    Endpoint(EndpointConfig),
}

/// Applies the scorer the configuration pins at start-up: `Endpoint` registers the
/// endpoint and makes it active; `Builtin` makes the newest built-in model active
/// unless a built-in one already is. `None` leaves the choice to the Models page.
pub async fn apply_pin(db: &Db, pin: Option<PinnedScorer>) -> DomainResult<()> {
    match pin {
        None => Ok(()),
        Some(PinnedScorer::Endpoint(config)) => {
            let id = register_endpoint(db, &config, Actor::System).await?;
            if active_marker(db).await?.map(|m| m.id) != Some(id) {
                training::activate(db, id, Actor::System).await?;
            }
            Ok(())
        }
        Some(PinnedScorer::Builtin) => {
            let active_kind: Option<ModelKind> =
                sqlx::query_scalar("SELECT kind FROM models WHERE status = 'active'")
                    .fetch_optional(&db.pool)
                    .await?;
            if active_kind == Some(ModelKind::Builtin) {
                return Ok(());
            }
            let newest: Option<i64> = sqlx::query_scalar(
                "SELECT id FROM models WHERE kind = 'builtin' ORDER BY created_at DESC, id DESC LIMIT 1",
            )
            .fetch_optional(&db.pool)
            .await?;
            match newest {
                Some(id) => training::activate(db, id, Actor::System).await,
                None => Ok(()),
            }
        }
    }
}
