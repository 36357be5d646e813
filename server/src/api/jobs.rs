//! Batch jobs over the API: queue one (as an S3-event function would), follow it,
//! cancel it, retry its failures.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use domain::jobs::NewJob;
use domain::role::Role;
use domain::wire::{JobFailure, JobView};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::caller::ApiCaller;
use super::error::ApiError;
use super::json::read_json;
use crate::state::AppState;

/// Queues a job: `{"kind": "score"}` scores every unscored email, `{"kind":
/// "rescore", "filter": {...}, "model": "builtin-…"}` rescores a filter with a model,
/// `{"kind": "retrain", "activate": true}` trains the built-in model.
#[utoipa::path(post, path = "/api/v1/jobs", tag = "jobs",
    request_body = NewJob,
    responses((status = 202, body = JobView, description = "queued"),
              (status = 400, body = super::error::ErrorBody, description = "not JSON"),
              (status = 422, body = super::error::ErrorBody, description = "an invalid field, named in details.field")),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    caller: ApiCaller,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<JobView>), ApiError> {
    let caller = caller.require(Role::Supervisor)?;
    let job: NewJob = read_json(&headers, body, 64 * 1024).await?;
    let job = domain::jobs::create(&state.db, &job, caller.actor).await?;
    state.jobs.wake();
    Ok((StatusCode::ACCEPTED, Json(job)))
}

#[derive(Deserialize, IntoParams)]
pub struct ListQuery {
    /// At most this many, newest first (default 50).
    limit: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct JobList {
    pub items: Vec<JobView>,
}

/// The newest jobs first.
#[utoipa::path(get, path = "/api/v1/jobs", tag = "jobs", params(ListQuery),
    responses((status = 200, body = JobList)), security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    caller: ApiCaller,
    Query(query): Query<ListQuery>,
) -> Result<Json<JobList>, ApiError> {
    caller.require(Role::Supervisor)?;
    let items = domain::jobs::list(&state.db, query.limit.unwrap_or(50)).await?;
    Ok(Json(JobList { items }))
}

/// One job with its progress.
#[utoipa::path(get, path = "/api/v1/jobs/{id}", tag = "jobs",
    params(("id" = i64, Path, description = "The job's id")),
    responses((status = 200, body = JobView), (status = 404, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_one(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<i64>,
) -> Result<Json<JobView>, ApiError> {
    caller.require(Role::Supervisor)?;
    Ok(Json(domain::jobs::get(&state.db, id).await?))
}

#[derive(Serialize, ToSchema)]
pub struct FailureList {
    pub items: Vec<JobFailure>,
}

/// The emails a job could not score, with why.
#[utoipa::path(get, path = "/api/v1/jobs/{id}/failures", tag = "jobs",
    params(("id" = i64, Path, description = "The job's id")),
    responses((status = 200, body = FailureList)), security(("bearer" = [])))]
pub async fn failures(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<i64>,
) -> Result<Json<FailureList>, ApiError> {
    caller.require(Role::Supervisor)?;
    domain::jobs::get(&state.db, id).await?;
    let items = domain::jobs::failures(&state.db, id, 1000).await?;
    Ok(Json(FailureList { items }))
}

/// Stops a queued or running job; 409 when it already finished.
#[utoipa::path(post, path = "/api/v1/jobs/{id}/cancel", tag = "jobs",
    params(("id" = i64, Path, description = "The job's id")),
    responses((status = 200, body = JobView), (status = 409, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn cancel(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<i64>,
) -> Result<Json<JobView>, ApiError> {
    let caller = caller.require(Role::Supervisor)?;
    Ok(Json(
        domain::jobs::cancel(&state.db, id, caller.actor).await?,
    ))
}

/// Runs a finished job again for its failed emails.
#[utoipa::path(post, path = "/api/v1/jobs/{id}/retry", tag = "jobs",
    params(("id" = i64, Path, description = "The job's id")),
    responses((status = 200, body = JobView), (status = 409, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn retry(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<i64>,
) -> Result<Json<JobView>, ApiError> {
    let caller = caller.require(Role::Supervisor)?;
    let job = domain::jobs::retry(&state.db, id, caller.actor).await?;
    state.jobs.wake();
    Ok(Json(job))
}
