use axum::Json;
use axum::extract::{Query, State};
use domain::emails::QueueFilter;
use domain::role::Role;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::caller::ApiCaller;
use super::error::ApiError;
use crate::state::AppState;

#[derive(Deserialize, IntoParams)]
pub struct ListParams {
    /// new, triaged, replied or archived
    status: Option<String>,
    /// a category name, matched against the label, else the prediction
    category: Option<String>,
    /// 1 to 200 (default 50)
    limit: Option<i64>,
    /// `next_cursor` of the previous page
    cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct EmailSummary {
    pub id: i64,
    /// RFC 3339
    pub received_at: String,
    pub from_name: String,
    pub from_address: String,
    pub subject: String,
    pub snippet: String,
    pub status: String,
    pub predicted_category: Option<String>,
    pub confidence: Option<f64>,
    pub label: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct EmailList {
    pub items: Vec<EmailSummary>,
    pub next_cursor: Option<String>,
}

/// The queue, newest first, with keyset pagination.
#[utoipa::path(get, path = "/api/v1/emails", tag = "emails", params(ListParams),
    responses((status = 200, body = EmailList), (status = 401, body = super::error::ErrorBody),
              (status = 422, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    caller: ApiCaller,
    Query(params): Query<ListParams>,
) -> Result<Json<EmailList>, ApiError> {
    caller.require(Role::Agent)?;
    let filter = QueueFilter {
        status: params.status.filter(|s| !s.is_empty()),
        category: params.category.filter(|s| !s.is_empty()),
        cursor: params.cursor.filter(|s| !s.is_empty()),
        limit: params.limit.unwrap_or(50),
    };
    let page = domain::emails::queue(&state.db, &filter).await?;
    let items = page
        .rows
        .into_iter()
        .map(|r| EmailSummary {
            id: r.id,
            received_at: chrono::DateTime::from_timestamp_millis(r.received_at)
                .map(|d| d.to_rfc3339())
                .unwrap_or_default(),
            from_name: r.from_name,
            from_address: r.from_address,
            subject: r.subject,
            snippet: r.snippet,
            status: r.status,
            predicted_category: r.predicted,
            confidence: r.confidence,
            label: r.label,
        })
        .collect();
    Ok(Json(EmailList {
        items,
        next_cursor: page.next_cursor,
    }))
}

/// One email with its prediction (`{"category", "confidence", "probabilities",
/// "model"}`) and label (`{"category", "user", "source", "at"}`) when present.
/// Timestamps are Unix milliseconds.
#[utoipa::path(get, path = "/api/v1/emails/{id}", tag = "emails",
    params(("id" = i64, Path, description = "the email's id")),
    responses((status = 200, body = Object), (status = 401, body = super::error::ErrorBody),
              (status = 404, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_one(
    State(state): State<AppState>,
    caller: ApiCaller,
    axum::extract::Path(id): axum::extract::Path<i64>,
) -> Result<Json<domain::emails::EmailDetail>, ApiError> {
    caller.require(Role::Agent)?;
    Ok(Json(domain::emails::detail(&state.db, id).await?))
}
