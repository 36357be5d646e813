//! Analytics over the API: the whole report as JSON, and each view as CSV (the
//! Analytics page's "CSV" links point here).

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use domain::role::Role;
use domain::wire::analytics::AnalyticsReport;
use serde::Deserialize;
use utoipa::IntoParams;

use super::caller::ApiCaller;
use super::error::ApiError;
use crate::state::AppState;

#[derive(Deserialize, IntoParams)]
pub struct PeriodParams {
    /// First day, `YYYY-MM-DD` (UTC); 29 days before `to` when missing.
    from: Option<String>,
    /// Last day, included; today when missing.
    to: Option<String>,
}

impl PeriodParams {
    fn period(&self) -> Result<domain::wire::analytics::Period, ApiError> {
        Ok(domain::analytics::period(
            self.from.as_deref(),
            self.to.as_deref(),
            domain::time::now_ms(),
        )?)
    }
}

/// Every analytics view over a period (supervisors).
#[utoipa::path(get, path = "/api/v1/analytics", tag = "analytics", params(PeriodParams),
    responses((status = 200, description = "volume, backlog, time to label, staff, agreement, calibration, suggestions and drift", content_type = "application/json"),
              (status = 403, body = super::error::ErrorBody), (status = 422, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn report(
    State(state): State<AppState>,
    caller: ApiCaller,
    Query(params): Query<PeriodParams>,
) -> Result<Json<AnalyticsReport>, ApiError> {
    caller.require(Role::Supervisor)?;
    Ok(Json(
        domain::analytics::report(&state.db, params.period()?).await?,
    ))
}

/// One analytics view as CSV: volume, backlog, time-to-label, staff, agreement,
/// confusion, calibration or suggestions.
#[utoipa::path(get, path = "/api/v1/analytics/{view}", tag = "analytics",
    params(("view" = String, Path, description = "the view"), PeriodParams),
    responses((status = 200, description = "the view's rows", content_type = "text/csv"),
              (status = 403, body = super::error::ErrorBody), (status = 422, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn view_csv(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(view): Path<String>,
    Query(params): Query<PeriodParams>,
) -> Result<Response, ApiError> {
    caller.require(Role::Supervisor)?;
    let period = params.period()?;
    let table = domain::analytics::table(&state.db, &view, period).await?;
    let body = domain::analytics::csv(&table)?;
    let last_day = domain::wire::analytics::date(period.to - 1);
    let file = format!(
        "attachment; filename=\"triage-{view}-{}-{last_day}.csv\"",
        domain::wire::analytics::date(period.from)
    );
    Ok((
        [
            (
                axum::http::header::CONTENT_TYPE,
                "text/csv; charset=utf-8".to_string(),
            ),
            (axum::http::header::CONTENT_DISPOSITION, file),
        ],
        body,
    )
        .into_response())
}
