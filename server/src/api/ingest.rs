//! `POST /api/v1/emails` (JSON, one or a batch) and `POST /api/v1/emails/raw`
//! (`message/rfc822`). Good emails are stored, bad ones reported one by one.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use domain::audit;
use domain::ingest::store::{self, CategoryResolver, UnknownCategories};
use domain::ingest::{Outcome, Rejection, Tally, parse};
use domain::role::Role;
use serde::Serialize;
use utoipa::ToSchema;

use super::caller::ApiCaller;
use super::error::ApiError;
use crate::state::AppState;

#[derive(Serialize, ToSchema)]
pub struct IngestResponse {
    /// One per email, in the order sent: `{"status": "created|duplicate|rejected",
    /// "id"?, "message_id"?, "error"?, "field"?}`.
    #[schema(value_type = Vec<Object>)]
    pub results: Vec<Outcome>,
}

/// Stores one email (`{message_id?, from, to?, subject, body, html?, received_at?,
/// category?}`) or a batch (`{"emails": [...]}`). Idempotent on Message-ID.
#[utoipa::path(post, path = "/api/v1/emails", tag = "emails",
    request_body(content = Object, content_type = "application/json"),
    responses((status = 201, body = IngestResponse, description = "one email stored"),
              (status = 200, body = IngestResponse, description = "a batch, or a duplicate"),
              (status = 400, body = super::error::ErrorBody, description = "not JSON"),
              (status = 413, body = super::error::ErrorBody), (status = 415, body = super::error::ErrorBody),
              (status = 422, body = super::error::ErrorBody, description = "an invalid field, named in details.field")),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    caller: ApiCaller,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<IngestResponse>), ApiError> {
    let (caller, bytes) = ingest_body(&state, caller, &headers, body, "application/json").await?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            format!("the body is not JSON: {e}"),
        )
    })?;
    let now = domain::time::now_ms();
    let max = state.settings.max_message_bytes;

    let (emails, single) = match value {
        serde_json::Value::Object(mut map) if map.contains_key("emails") => {
            match map.remove("emails") {
                Some(serde_json::Value::Array(list)) => (list, false),
                _ => {
                    return Err(ApiError::invalid(
                        "emails",
                        "emails: must be a list of emails",
                    ));
                }
            }
        }
        other => (vec![other], true),
    };
    if emails.len() > state.settings.max_batch {
        return Err(ApiError::invalid(
            "emails",
            format!(
                "emails: {} in one batch; the limit is {}",
                emails.len(),
                state.settings.max_batch
            ),
        ));
    }

    // Check every email, then store the good ones in one transaction; the results
    // keep the order they were sent in.
    let mut results: Vec<Option<Outcome>> = Vec::with_capacity(emails.len());
    let mut good = Vec::new();
    let mut good_at = Vec::new();
    // The API refuses categories nobody created: a typo must not become a class.
    let mut categories = CategoryResolver::new(UnknownCategories::Reject);
    for value in emails {
        match store::prepare_json(&state.db, value, now, max, "api", &mut categories).await? {
            Ok(ready) => {
                good_at.push(results.len());
                good.push(ready);
                results.push(None);
            }
            Err(rejected) => results.push(Some(rejected)),
        }
    }
    for (at, outcome) in good_at
        .into_iter()
        .zip(store::store_many(&state.db, &good).await?)
    {
        results[at] = Some(outcome);
    }
    let results: Vec<Outcome> = results.into_iter().flatten().collect();
    let mut tally = Tally::default();
    results.iter().for_each(|o| tally.add(o));
    record(&state, &caller, tally, "api").await;

    if single {
        match &results[0] {
            Outcome::Rejected { error, field, .. } => {
                return Err(ApiError::invalid(
                    field.as_deref().unwrap_or("email"),
                    error.clone(),
                ));
            }
            Outcome::Created { .. } => {
                return Ok((StatusCode::CREATED, Json(IngestResponse { results })));
            }
            Outcome::Duplicate { .. } => {}
        }
    }
    Ok((StatusCode::OK, Json(IngestResponse { results })))
}

/// Stores one raw RFC 822 message.
#[utoipa::path(post, path = "/api/v1/emails/raw", tag = "emails",
    request_body(content = String, content_type = "message/rfc822"),
    responses((status = 201, body = IngestResponse), (status = 200, body = IngestResponse, description = "a duplicate"),
              (status = 413, body = super::error::ErrorBody), (status = 415, body = super::error::ErrorBody),
              (status = 422, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn create_raw(
    State(state): State<AppState>,
    caller: ApiCaller,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<IngestResponse>), ApiError> {
    let (caller, bytes) = ingest_body(&state, caller, &headers, body, "message/rfc822").await?;
    let max = state.settings.max_message_bytes;
    let email =
        parse::parse_raw(&bytes, domain::time::now_ms(), max, "api").map_err(
            |reason| match reason {
                Rejection::TooLarge { .. } => too_large(max),
                other => ApiError::invalid(other.field().unwrap_or("message"), other.to_string()),
            },
        )?;
    let outcome = store::store(&state.db, &email, None).await?;
    let mut tally = Tally::default();
    tally.add(&outcome);
    record(&state, &caller, tally, "api-raw").await;
    let status = if matches!(outcome, Outcome::Created { .. }) {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(IngestResponse {
            results: vec![outcome],
        }),
    ))
}

/// What both ways in check first: the caller may ingest, the body has the
/// expected content type, and it is no larger than the largest message.
async fn ingest_body(
    state: &AppState,
    caller: ApiCaller,
    headers: &HeaderMap,
    body: Body,
    content_type: &str,
) -> Result<(ApiCaller, axum::body::Bytes), ApiError> {
    let caller = caller.require(Role::Ingest)?;
    require_content_type(headers, &[content_type])?;
    let bytes = read_body(body, state.settings.max_message_bytes).await?;
    Ok((caller, bytes))
}

pub(super) fn require_content_type(headers: &HeaderMap, allowed: &[&str]) -> Result<(), ApiError> {
    let given = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    if allowed.contains(&given.as_str()) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!(
                "send Content-Type {} (got {:?})",
                allowed.join(" or "),
                given
            ),
        ))
    }
}

/// The body, up to `limit` bytes (server/src/limits.rs), or the API's 413 or 400.
pub(super) async fn read_body(body: Body, limit: usize) -> Result<axum::body::Bytes, ApiError> {
    crate::limits::read_limited(body, limit)
        .await
        .map_err(|e| match e {
            crate::limits::BodyError::TooLarge => too_large(limit),
            crate::limits::BodyError::Unreadable => ApiError::new(
                StatusCode::BAD_REQUEST,
                "unreadable_body",
                "the body could not be read",
            ),
        })
}

fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_large",
        format!("the body is over the limit of {limit} bytes"),
    )
}

/// Audits an ingest and wakes the scorer for the new mail.
async fn record(state: &AppState, caller: &ApiCaller, tally: Tally, via: &str) {
    if tally.created == 0 {
        return;
    }
    state.scorer.new_mail();
    let details = serde_json::json!({"via": via, "created": tally.created, "duplicates": tally.duplicates, "rejected": tally.rejected});
    if let Err(e) = audit::record(
        &state.db,
        caller.actor,
        "emails.ingest",
        "email",
        "",
        details,
    )
    .await
    {
        tracing::warn!(error = ?e, "could not audit an ingest");
    }
}
