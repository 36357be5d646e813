//! `GET /emails/{id}/html`: an email's HTML part as a document of its own, for the
//! email page's sandboxed frame.
//!
//! Two walls, so that one mistake does not open the mail: the sanitizer removes
//! scripts and remote content (domain/src/ingest/sanitize.rs), and the browser is told
//! by this answer's policy that the document may run nothing and fetch nothing but
//! pictures inside the message (remote ones only when the reader asked). The frame's
//! `sandbox` (here as a CSP directive and on the `<iframe>`) gives the mail an origin
//! of its own, so even a script that slipped through could not read Triage's pages.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use domain::error::DomainError;
use serde::Deserialize;

use crate::state::AppState;

#[derive(Deserialize)]
pub struct FrameQuery {
    /// `images=1`: the reader asked for remote images.
    #[serde(default)]
    images: Option<String>,
}

/// The frame's policy: nothing but pictures, inline styles for the document's own
/// look, links that open outside the sandbox, framed only by Triage.
pub fn frame_policy(remote_images: bool) -> String {
    let images = if remote_images {
        "data: https: http:"
    } else {
        "data:"
    };
    format!(
        "default-src 'none'; img-src {images}; style-src 'unsafe-inline'; base-uri 'none'; \
         form-action 'none'; frame-ancestors 'self'; \
         sandbox allow-popups allow-popups-to-escape-sandbox"
    )
}

pub async fn serve(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(query): Query<FrameQuery>,
) -> Response {
    let remote_images = query.images.as_deref() == Some("1");
    let html = match domain::emails::html_part(&state.db, id).await {
        Ok(Some(html)) => html,
        Ok(None) => return (StatusCode::NOT_FOUND, "this email has no HTML part").into_response(),
        Err(DomainError::NotFound) => {
            return (StatusCode::NOT_FOUND, "no such email").into_response();
        }
        Err(e) => {
            tracing::error!(error = ?e, "cannot load an email's HTML");
            return (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response();
        }
    };
    let mut clean = domain::ingest::sanitize::sanitize_html(&html, remote_images);
    if remote_images && clean.html.contains("cid:") {
        // The message's own pictures, when the reader asked for images: inlined as
        // `data:` addresses, the one kind of source the frame's policy lets load.
        if let Ok(Some(raw)) = domain::emails::raw(&state.db, id).await {
            for (cid, data) in domain::ingest::parse::inline_images(&raw) {
                clean.html = clean
                    .html
                    .replace(&format!("\"cid:{cid}\""), &format!("\"{data}\""));
            }
        }
    }
    let document = format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><base target=\"_blank\">\
         <style>:root{{color-scheme:light dark}}body{{margin:.5rem;font:14px/1.5 system-ui,\
         sans-serif;overflow-wrap:anywhere}}img{{max-width:100%;height:auto}}</style>\
         </head><body>{}</body></html>",
        clean.html
    );
    let mut response = Html(document).into_response();
    let headers = response.headers_mut();
    if let Ok(policy) = HeaderValue::from_str(&frame_policy(remote_images)) {
        headers.insert(header::CONTENT_SECURITY_POLICY, policy);
    }
    headers.insert(
        header::X_FRAME_OPTIONS,
        HeaderValue::from_static("SAMEORIGIN"),
    );
    response
}
