use axum::Json;
use axum::extract::{Query, State};
use domain::queue::QueueFilter;
use domain::role::Role;
use domain::wire::{LabelOutcome, QueueQuery};
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
    /// words to find in the subject or body (the last one may be a prefix)
    q: Option<String>,
    /// 0 to 1, both included
    min_confidence: Option<String>,
    max_confidence: Option<String>,
    /// low, medium or high
    confidence: Option<String>,
    /// first and last day received, YYYY-MM-DD (UTC)
    from: Option<String>,
    to: Option<String>,
    /// me, none, or a user name
    assignee: Option<String>,
    /// the model version of the current prediction
    model: Option<String>,
    /// newest (default), oldest, least_confident or most_confident
    sort: Option<String>,
    /// 1 to 200 (default 50)
    limit: Option<i64>,
    /// `next_cursor` of the previous page
    cursor: Option<String>,
}

impl ListParams {
    fn query(self) -> QueueQuery {
        QueueQuery {
            status: self.status,
            category: self.category,
            q: self.q,
            confidence: self.confidence,
            min_confidence: self.min_confidence,
            max_confidence: self.max_confidence,
            from: self.from,
            to: self.to,
            assignee: self.assignee,
            model: self.model,
            sort: self.sort,
            cursor: self.cursor,
        }
    }
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
    pub status: domain::wire::EmailStatus,
    pub predicted_category: Option<String>,
    pub confidence: Option<f64>,
    pub label: Option<String>,
    /// The current label's id (send it back as `seen_label_id` when labelling).
    pub label_id: Option<i64>,
    pub assignee: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct EmailList {
    pub items: Vec<EmailSummary>,
    pub next_cursor: Option<String>,
}

/// The queue with its filters and sorts (newest first by default), with keyset
/// pagination.
#[utoipa::path(get, path = "/api/v1/emails", tag = "emails", params(ListParams),
    responses((status = 200, body = EmailList), (status = 401, body = super::error::ErrorBody),
              (status = 422, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    caller: ApiCaller,
    Query(params): Query<ListParams>,
) -> Result<Json<EmailList>, ApiError> {
    let caller = caller.require(Role::Agent)?;
    let limit = params.limit.unwrap_or(50);
    let filter =
        QueueFilter::parse(&state.db, &params.query(), caller.actor.user_id(), limit).await?;
    let page = domain::queue::page(&state.db, &filter).await?;
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
            label_id: r.label_id,
            assignee: r.assignee,
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

#[derive(Deserialize, ToSchema)]
pub struct NewLabel {
    /// A category name.
    pub category: String,
    /// The label id the caller saw when deciding (`label_id` of the email); when
    /// someone labelled the email since, the answer's `conflict` says who.
    pub seen_label_id: Option<i64>,
    /// Seconds spent on the email before deciding.
    pub seconds_spent: Option<f64>,
}

/// Labels an email: `accepted` when the category is the model's, else `corrected`.
/// Both of two concurrent labels are kept; the later one is current and is told
/// about the other in `conflict`.
#[utoipa::path(post, path = "/api/v1/emails/{id}/labels", tag = "labels",
    params(("id" = i64, Path, description = "the email's id")),
    request_body = NewLabel,
    responses((status = 201, body = LabelOutcome), (status = 401, body = super::error::ErrorBody),
              (status = 404, body = super::error::ErrorBody), (status = 422, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn label(
    State(state): State<AppState>,
    caller: ApiCaller,
    axum::extract::Path(id): axum::extract::Path<i64>,
    headers: axum::http::HeaderMap,
    body: axum::body::Body,
) -> Result<(axum::http::StatusCode, Json<LabelOutcome>), ApiError> {
    let caller = caller.require(Role::Agent)?;
    let body: NewLabel = super::json::read_json(&headers, body, 16 * 1024).await?;
    let outcome = domain::labels::label(
        &state.db,
        &domain::labels::LabelRequest {
            email_id: id,
            category: body.category,
            user_id: caller.actor.user_id(),
            token_id: caller.actor.token_id(),
            seen_label_id: body.seen_label_id,
            seconds_spent: body.seconds_spent,
        },
    )
    .await?;
    Ok((axum::http::StatusCode::CREATED, Json(outcome)))
}

#[derive(Deserialize, IntoParams)]
pub struct ExportFormat {
    /// jsonl (default) or csv
    format: Option<String>,
}

/// Every current prediction of the emails the filter selects (the queue's filter, as
/// for `GET /api/v1/emails`; cursor, sort and limit do not apply), as JSON Lines or CSV:
/// email id, message id, category, confidence, model version, time.
#[utoipa::path(get, path = "/api/v1/predictions/export", tag = "emails", params(ListParams, ExportFormat),
    responses((status = 200, description = "JSON Lines or CSV, as a download"),
              (status = 403, body = super::error::ErrorBody), (status = 422, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn export_predictions(
    State(state): State<AppState>,
    caller: ApiCaller,
    Query(params): Query<ListParams>,
    Query(format): Query<ExportFormat>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let caller = caller.require(Role::Supervisor)?;
    let format = domain::predictions_export::parse_format(format.format.as_deref().unwrap_or(""))?;
    let mut query = params.query();
    query.cursor = None;
    let filter = QueueFilter::parse(&state.db, &query, caller.actor.user_id(), 1).await?;
    let mut body = Vec::new();
    domain::predictions_export::export(&state.db, &filter, format, &mut body).await?;
    let extension = if format == domain::labels_export::Format::Csv {
        "csv"
    } else {
        "jsonl"
    };
    Ok((
        [
            (
                axum::http::header::CONTENT_TYPE,
                format.content_type().to_string(),
            ),
            (
                axum::http::header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"triage-predictions.{extension}\""),
            ),
        ],
        body,
    )
        .into_response())
}

/// Takes back a label within 30 seconds of giving it (its author only).
#[utoipa::path(post, path = "/api/v1/labels/{id}/undo", tag = "labels",
    params(("id" = i64, Path, description = "the label's id")),
    responses((status = 204), (status = 404, body = super::error::ErrorBody),
              (status = 409, body = super::error::ErrorBody, description = "too late, not yours, or already undone")),
    security(("bearer" = [])))]
pub async fn undo_label(
    State(state): State<AppState>,
    caller: ApiCaller,
    axum::extract::Path(id): axum::extract::Path<i64>,
) -> Result<axum::http::StatusCode, ApiError> {
    let caller = caller.require(Role::Agent)?;
    let user = caller.actor.user_id().ok_or_else(|| {
        ApiError::new(
            axum::http::StatusCode::CONFLICT,
            "conflict",
            "only the person who gave a label can undo it",
        )
    })?;
    domain::labels::undo(&state.db, id, user).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

#[derive(Deserialize, IntoParams)]
pub struct ExportParams {
    /// jsonl (default), csv or fasttext
    format: Option<String>,
    /// Labels given on or after this day (YYYY-MM-DD, UTC).
    from: Option<String>,
    /// Labels given on or before this day.
    to: Option<String>,
    /// Sources, comma-separated: accepted, corrected, imported, auto.
    source: Option<String>,
    /// Time-based split: threads first labelled on or after this day are `test`.
    split_at: Option<String>,
    /// Only `train` or `test` rows (needs `split_at`).
    side: Option<String>,
    /// Only labels up to this id, to rebuild an earlier export exactly (see the
    /// `X-Dataset-As-Of` header of that export).
    as_of: Option<i64>,
}

/// The labels (staff and historical, undone ones left out) with their email's text,
/// oldest first: JSON Lines, CSV, or fastText/BlazingText (`__label__category text`).
/// The response's `X-Dataset-Hash` identifies the rows; `X-Dataset-As-Of` is the
/// last label id, to pass as `as_of` to get the same rows again.
#[utoipa::path(get, path = "/api/v1/labels/export", tag = "labels", params(ExportParams),
    responses((status = 200, description = "the labels, in the format asked for", content_type = "application/x-ndjson"),
              (status = 403, body = super::error::ErrorBody), (status = 422, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn export_labels(
    State(state): State<AppState>,
    caller: ApiCaller,
    Query(params): Query<ExportParams>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    caller.require(Role::Supervisor)?;
    let format = domain::labels_export::Format::parse(params.format.as_deref().unwrap_or(""))?;
    let options = domain::labels_export::ExportOptions::parse(
        params.from.as_deref(),
        params.to.as_deref(),
        params.source.as_deref(),
        params.split_at.as_deref(),
        params.side.as_deref(),
        params.as_of,
    )?;
    let mut body = Vec::new();
    let summary = domain::labels_export::export(&state.db, format, &options, &mut body).await?;
    let extension = match format {
        domain::labels_export::Format::Jsonl => "jsonl",
        domain::labels_export::Format::Csv => "csv",
        domain::labels_export::Format::FastText => "txt",
    };
    Ok((
        [
            (
                axum::http::header::CONTENT_TYPE,
                format.content_type().to_string(),
            ),
            (
                axum::http::header::CONTENT_DISPOSITION,
                format!(
                    "attachment; filename=\"triage-labels-{}.{extension}\"",
                    &summary.dataset_hash[..12]
                ),
            ),
            (
                axum::http::HeaderName::from_static("x-dataset-hash"),
                summary.dataset_hash,
            ),
            (
                axum::http::HeaderName::from_static("x-dataset-as-of"),
                summary.as_of.map(|id| id.to_string()).unwrap_or_default(),
            ),
            (
                axum::http::HeaderName::from_static("x-labels-count"),
                summary.written.to_string(),
            ),
        ],
        body,
    )
        .into_response())
}
