//! The model registry over the API: every version with its held-out figures, and
//! promoting one to be the active scorer (a rollback is promoting an older one).

use axum::Json;
use axum::extract::{Path, State};
use domain::role::Role;
use domain::wire::ModelSummary;
use serde::Serialize;
use utoipa::ToSchema;

use super::caller::ApiCaller;
use super::error::ApiError;
use crate::state::AppState;

#[derive(Serialize, ToSchema)]
pub struct Model {
    pub id: i64,
    pub version: String,
    /// `builtin` or `endpoint`.
    pub kind: String,
    /// `candidate`, `active` or `retired`; exactly one model is active, or none.
    pub status: String,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
    pub training_size: Option<i64>,
    /// Held-out figures of a built-in model.
    pub accuracy: Option<f64>,
    pub macro_f1: Option<f64>,
    /// Expected calibration error on the held-out emails.
    pub ece: Option<f64>,
    /// Where an endpoint model is reached.
    pub endpoint: Option<String>,
}

impl From<ModelSummary> for Model {
    fn from(m: ModelSummary) -> Model {
        Model {
            id: m.id,
            version: m.version,
            kind: m.kind,
            status: m.status,
            created_at: m.created_at,
            training_size: m.training_size,
            accuracy: m.accuracy,
            macro_f1: m.macro_f1,
            ece: m.ece,
            endpoint: m.endpoint,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ModelList {
    /// The active model first, then newest first.
    pub items: Vec<Model>,
}

/// Every model version (supervisors).
#[utoipa::path(get, path = "/api/v1/models", tag = "models",
    responses((status = 200, body = ModelList), (status = 401, body = super::error::ErrorBody),
              (status = 403, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    caller: ApiCaller,
) -> Result<Json<ModelList>, ApiError> {
    caller.require(Role::Supervisor)?;
    let items = domain::models::list(&state.db)
        .await?
        .into_iter()
        .map(Model::from)
        .collect();
    Ok(Json(ModelList { items }))
}

/// Makes a model the active scorer; new mail and the unscored backlog go to it.
#[utoipa::path(post, path = "/api/v1/models/{id}/promote", tag = "models",
    params(("id" = i64, Path, description = "The model's id")),
    responses((status = 200, body = Model), (status = 404, body = super::error::ErrorBody),
              (status = 403, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn promote(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<i64>,
) -> Result<Json<Model>, ApiError> {
    let caller = caller.require(Role::Supervisor)?;
    domain::training::activate(&state.db, id, caller.actor).await?;
    state.scorer.new_mail();
    let promoted = domain::models::list(&state.db)
        .await?
        .into_iter()
        .find(|m| m.id == id)
        .ok_or_else(ApiError::not_found)?;
    Ok(Json(promoted.into()))
}
