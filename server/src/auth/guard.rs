//! Runs before every page, server function and API route: resolves the session into
//! the signed-in user (put in the request's extensions for everything after), and
//! enforces the role each page needs (app/src/nav.rs). Private pages are never cached.

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use tower_sessions::Session;

use super::USER_ID_KEY;
use crate::state::AppState;

/// Paths served without looking at the session at all (static files, probes).
fn is_sessionless(path: &str) -> bool {
    path.starts_with("/pkg/")
        || matches!(path, "/healthz" | "/readyz" | "/metrics" | "/favicon.ico")
}

pub async fn resolve_user_and_guard_pages(
    State(state): State<AppState>,
    session: Session,
    mut request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path().to_string();
    if is_sessionless(&path) {
        return next.run(request).await;
    }
    let user = match session.get::<i64>(USER_ID_KEY).await {
        Ok(Some(id)) => match domain::users::find_active(&state.db, id).await {
            Ok(user) => user,
            Err(e) => {
                tracing::error!(error = ?e, "cannot load the signed-in user");
                return (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response();
            }
        },
        Ok(None) => None,
        Err(e) => {
            tracing::error!(error = %e, "cannot load the session");
            return (StatusCode::SERVICE_UNAVAILABLE, "session store unavailable").into_response();
        }
    };

    if let Some(required) = app::nav::required_role(&path) {
        match &user {
            None => {
                let target = request
                    .uri()
                    .path_and_query()
                    .map(|p| p.as_str().to_string())
                    .unwrap_or_else(|| "/".into());
                let location = format!("/login?next={}", urlencode(&target));
                return Redirect::to(&location).into_response();
            }
            Some(user) if !user.role.allows(required) => return forbidden_page(required),
            Some(_) => {}
        }
    }
    if let Some(user) = user {
        request.extensions_mut().insert(user);
    }

    let mut response = next.run(request).await;
    response
        .headers_mut()
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("private, no-store"));
    response
}

fn forbidden_page(required: domain::role::Role) -> Response {
    let body = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Not allowed · Triage</title>\
         <link rel=\"stylesheet\" href=\"/pkg/triage.css\"></head><body><main class=\"page\">\
         <h1>Not allowed</h1><p class=\"page-message\">This page needs the {required} role. \
         <a href=\"/\">Back to the queue</a></p></main></body></html>"
    );
    (StatusCode::FORBIDDEN, Html(body)).into_response()
}

pub fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
