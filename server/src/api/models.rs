//! The model registry over the API: every version with its held-out figures,
//! comparing a candidate with the active model, promoting one to be the active
//! scorer, and rolling the last promotion back.

use axum::Json;
use axum::extract::{Path, State};
use domain::role::Role;
use domain::wire::{ModelComparison, ModelSummary};
use serde::Serialize;
use utoipa::ToSchema;

use super::caller::ApiCaller;
use super::error::ApiError;
use crate::state::AppState;

#[derive(Serialize, ToSchema)]
pub struct ModelList {
    /// The active model first, then newest first.
    pub items: Vec<ModelSummary>,
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
    let items = domain::models::list(&state.db).await?;
    Ok(Json(ModelList { items }))
}

/// Makes a model the active scorer; new mail and the unscored backlog go to it.
#[utoipa::path(post, path = "/api/v1/models/{id}/promote", tag = "models",
    params(("id" = i64, Path, description = "The model's id")),
    responses((status = 200, body = ModelSummary), (status = 404, body = super::error::ErrorBody),
              (status = 403, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn promote(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<i64>,
) -> Result<Json<ModelSummary>, ApiError> {
    let caller = caller.require(Role::Supervisor)?;
    domain::training::activate(&state.db, id, caller.actor).await?;
    state.scorer.new_mail();
    Ok(Json(summary(&state, id).await?))
}

async fn summary(state: &AppState, id: i64) -> Result<ModelSummary, ApiError> {
    domain::models::list(&state.db)
        .await?
        .into_iter()
        .find(|m| m.id == id)
        .ok_or_else(ApiError::not_found)
}

/// Scores the held-out labelled emails with this model and the active one, and
/// returns both sets of figures with the emails whose category would change.
#[utoipa::path(post, path = "/api/v1/models/{id}/evaluate", tag = "models",
    params(("id" = i64, Path, description = "The candidate's id")),
    responses((status = 200, description = "accuracy, macro-F1, per-class precision and recall and confusion matrices of both models", content_type = "application/json"),
              (status = 404, body = super::error::ErrorBody), (status = 422, body = super::error::ErrorBody),
              (status = 403, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn evaluate(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<i64>,
) -> Result<Json<ModelComparison>, ApiError> {
    let caller = caller.require(Role::Supervisor)?;
    let comparison = domain::evaluation::compare(
        &state.db,
        id,
        &state.settings.aws_credentials(),
        caller.actor,
    )
    .await?;
    Ok(Json(comparison))
}

/// Undoes the last promotion: the model active before the current one scores new
/// mail again (409 when there is none).
#[utoipa::path(post, path = "/api/v1/models/rollback", tag = "models",
    responses((status = 200, body = ModelSummary), (status = 409, body = super::error::ErrorBody),
              (status = 403, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn rollback(
    State(state): State<AppState>,
    caller: ApiCaller,
) -> Result<Json<ModelSummary>, ApiError> {
    let caller = caller.require(Role::Supervisor)?;
    let id = domain::training::rollback(&state.db, caller.actor).await?;
    state.scorer.new_mail();
    Ok(Json(summary(&state, id).await?))
}
