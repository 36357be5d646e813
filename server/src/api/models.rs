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
    let promoted = domain::models::list(&state.db)
        .await?
        .into_iter()
        .find(|m| m.id == id)
        .ok_or_else(ApiError::not_found)?;
    Ok(Json(promoted))
}
