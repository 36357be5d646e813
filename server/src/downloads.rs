//! Files an email carries, as downloads: the original message (`.eml`), each
//! attachment, and (for admins) a message the parser could not read. Always
//! `Content-Disposition: attachment` with a neutral type, so a browser saves them and
//! never renders one inside Triage's origin.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use domain::error::DomainError;

use crate::state::AppState;

fn download(bytes: Vec<u8>, content_type: &'static str, filename: &str) -> Response {
    let mut response = Body::from(bytes).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // The name in plain ASCII for old clients, and in full (RFC 6266) for the rest.
    let ascii: String = filename
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._- ".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let disposition = format!(
        "attachment; filename=\"{ascii}\"; filename*=UTF-8''{}",
        crate::auth::guard::urlencode(filename)
    );
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

fn failure(e: DomainError) -> Response {
    match e {
        DomainError::NotFound => (StatusCode::NOT_FOUND, "no such email").into_response(),
        e => {
            tracing::error!(error = ?e, "cannot read a download");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response()
        }
    }
}

async fn raw_of(state: &AppState, id: i64) -> Result<Vec<u8>, Response> {
    match domain::emails::raw(&state.db, id).await {
        Ok(Some(raw)) => Ok(raw),
        Ok(None) => Err((
            StatusCode::NOT_FOUND,
            "this email came in as JSON: there is no original message",
        )
            .into_response()),
        Err(e) => Err(failure(e)),
    }
}

/// `GET /emails/{id}/original.eml`
pub async fn original(State(state): State<AppState>, Path(id): Path<i64>) -> Response {
    match raw_of(&state, id).await {
        Ok(raw) => download(raw, "message/rfc822", &format!("email-{id}.eml")),
        Err(response) => response,
    }
}

/// `GET /emails/{id}/attachments/{index}`
pub async fn attachment(
    State(state): State<AppState>,
    Path((id, index)): Path<(i64, usize)>,
) -> Response {
    let raw = match raw_of(&state, id).await {
        Ok(raw) => raw,
        Err(response) => return response,
    };
    match domain::ingest::parse::attachment_file(&raw, index) {
        Some((name, _declared, bytes)) => download(bytes, "application/octet-stream", &name),
        None => (StatusCode::NOT_FOUND, "no such attachment").into_response(),
    }
}

/// `GET /admin/mailboxes/{id}/unreadable/{message}`: admins only (the path's role).
pub async fn unreadable(
    State(state): State<AppState>,
    Path((_mailbox, message)): Path<(i64, i64)>,
) -> Response {
    match domain::mailboxes::unreadable_raw(&state.db, message).await {
        Ok(raw) => download(
            raw,
            "application/octet-stream",
            &format!("unreadable-{message}.eml"),
        ),
        Err(e) => failure(e),
    }
}
