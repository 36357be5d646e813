//! The headers every answer carries: a Content-Security-Policy, no framing, no MIME
//! sniffing, a strict referrer policy, and HSTS when the cookie is secure.
//!
//! Pages rendered by Leptos set their own policy, with the nonce Leptos put on the
//! hydration script (`app::shell` calls [`page_policy`]); everything else (API
//! answers, static files, the forbidden page) gets [`DEFAULT_POLICY`], which allows
//! no script at all. The mail frame (`/emails/{id}/html`) sets a stricter one of its
//! own and may be framed by Triage's own pages, never by another site.

use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

use crate::state::AppState;

/// For answers that are not Leptos pages: styles and images from Triage itself, no
/// script, no plugin, no framing.
pub const DEFAULT_POLICY: &str = "default-src 'self'; script-src 'none'; object-src 'none'; \
     base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

pub async fn add_security_headers(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers
        .entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(DEFAULT_POLICY));
    headers
        .entry(header::X_FRAME_OPTIONS)
        .or_insert(HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // Links in mail open other sites; they learn nothing of Triage's addresses.
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(
        HeaderName::from_static("permissions-policy"),
        HeaderValue::from_static("camera=(), microphone=(), geolocation=(), payment=()"),
    );
    headers.insert(
        HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    );
    // HSTS only when Triage is told it is served over TLS (the cookie is secure):
    // sent over plain HTTP it would lock a browser out of a test instance.
    if state.settings.cookie_secure {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    response
}
