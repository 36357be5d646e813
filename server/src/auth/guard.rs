//! Runs before every page, server function and API route: resolves the session into
//! the signed-in user (put in the request's extensions for everything after), and
//! enforces the role each page needs (app/src/nav.rs). Private pages are never cached.

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use tower_sessions::Session;

use app::error::AppError;
use domain::wire::CurrentUser;

use super::{SEEN_AT_KEY, SIGNED_IN_AT_KEY, USER_ID_KEY};
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
    let signed_in = match session.get::<i64>(USER_ID_KEY).await {
        Ok(Some(id)) => match domain::accounts::session_user(&state.db, id).await {
            Ok(found) => found,
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
    let signed_in = match signed_in {
        Some(found) if session_still_counts(&session, &found).await => Some(found),
        Some(_) => {
            // Ended elsewhere (a password change, "sign out everywhere"): forget it.
            let _ = session.flush().await;
            None
        }
        None => None,
    };
    if let Some(found) = &signed_in
        && found.must_change_password
        && !is_allowed_before_password_change(&path)
    {
        let is_page = !path.starts_with("/api/") && !path.starts_with("/rpc/");
        return if request.method() == axum::http::Method::GET && is_page {
            Redirect::to("/account?required=1").into_response()
        } else if path.starts_with("/rpc/") {
            server_fn_error(AppError::NotAllowed)
        } else {
            (
                StatusCode::FORBIDDEN,
                "choose your own password first (/account)",
            )
                .into_response()
        };
    }
    let user = signed_in.map(|found| found.user);

    if let Some(endpoint) = path.strip_prefix("/rpc/")
        && let Some(refusal) = server_fn_refusal(endpoint, user.as_ref())
    {
        return refusal;
    }

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

/// A server function's role (app/src/nav.rs), checked before it reads its arguments:
/// the answer refusing the call, if it is refused. A refusal is encoded as the
/// functions' own errors are (`AppError` as JSON), so the page that called shows
/// "Sign in first." or "Your role does not allow this.".
fn server_fn_refusal(endpoint: &str, user: Option<&CurrentUser>) -> Option<Response> {
    let refusal = match (app::nav::server_fn_role(endpoint), user) {
        (None, _) => AppError::NotFound,
        (Some(None), _) => return None,
        (Some(Some(_)), None) => AppError::SignedOut,
        (Some(Some(required)), Some(user)) if !user.role.allows(required) => AppError::NotAllowed,
        (Some(Some(_)), Some(_)) => return None,
    };
    Some(server_fn_error(refusal))
}

/// A server function's error as the functions themselves answer it, so the calling
/// page can read it.
fn server_fn_error(error: AppError) -> Response {
    let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::FORBIDDEN);
    let body = serde_json::to_string(&error).unwrap_or_default();
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// Whether the session signed in after the person's sessions were last ended; if so,
/// its idle expiry is renewed (at most once a minute, so a busy agent's requests do
/// not each write the session).
async fn session_still_counts(session: &Session, found: &domain::accounts::SessionUser) -> bool {
    let signed_in_at = session.get::<i64>(SIGNED_IN_AT_KEY).await.ok().flatten();
    if !found.session_counts(signed_in_at) {
        return false;
    }
    let now = domain::time::now_ms();
    let seen_at = session.get::<i64>(SEEN_AT_KEY).await.ok().flatten();
    if seen_at.is_none_or(|seen| now - seen >= RENEW_EVERY_MS) {
        // Changing the session makes tower-sessions store it again, with a new expiry
        // `session_idle_minutes` from now.
        let _ = session.insert(SEEN_AT_KEY, now).await;
    }
    true
}

/// How often a session's idle expiry is renewed.
const RENEW_EVERY_MS: i64 = 60_000;

/// What a person whose password must be changed may still reach: the account page
/// (and what its layout asks for), and sign-out.
fn is_allowed_before_password_change(path: &str) -> bool {
    matches!(
        path,
        "/account" | "/account/password" | "/rpc/me" | "/logout"
    )
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
