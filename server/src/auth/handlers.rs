//! `POST /login` and `POST /logout`: plain form posts, so signing in works with or
//! without JavaScript (the page is app/src/pages/login.rs).

use std::net::SocketAddr;

use axum::Form;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use domain::audit::{self, Actor};
use domain::auth::SignInError;
use secrecy::SecretString;
use serde::Deserialize;
use tower_sessions::Session;

use super::guard::urlencode;
use super::{SIGNED_IN_AT_KEY, USER_ID_KEY};
use crate::state::AppState;

#[derive(Deserialize)]
pub struct LoginForm {
    username: String,
    password: SecretString,
    next: Option<String>,
}

#[tracing::instrument(skip_all, fields(username = %form.username))]
pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    session: Session,
    Form(form): Form<LoginForm>,
) -> Response {
    let next = local_path(form.next.as_deref());
    let ip = crate::limits::client_address(peer.ip(), &headers, &state.settings.trusted_proxies)
        .to_string();
    let result = domain::auth::sign_in(
        &state.db,
        state.login_limits(),
        &form.username,
        form.password,
        &ip,
    )
    .await;
    let again = |error: &str| {
        Redirect::to(&format!("/login?error={error}&next={}", urlencode(&next))).into_response()
    };
    match result {
        Ok(user) => {
            // A new session id on sign-in, so an id planted before sign-in is worthless.
            let stored = async {
                session.cycle_id().await?;
                session
                    .insert(SIGNED_IN_AT_KEY, domain::time::now_ms())
                    .await?;
                session.insert(USER_ID_KEY, user.id).await
            };
            if let Err(e) = stored.await {
                tracing::error!(error = %e, "cannot store the session");
                return (StatusCode::SERVICE_UNAVAILABLE, "session store unavailable")
                    .into_response();
            }
            Redirect::to(&next).into_response()
        }
        Err(SignInError::InvalidCredentials) => again("invalid"),
        Err(SignInError::TooManyAttempts) => {
            too_many_attempts(state.settings.login_window_seconds.max(1) as u64, &next)
        }
        Err(SignInError::Domain(e)) => {
            tracing::error!(error = ?e, "sign-in failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "sign-in is unavailable right now",
            )
                .into_response()
        }
    }
}

pub async fn logout(State(state): State<AppState>, session: Session) -> Response {
    if let Ok(Some(user_id)) = session.get::<i64>(USER_ID_KEY).await {
        let _ = audit::record(
            &state.db,
            Actor::User(user_id),
            "auth.sign_out",
            "user",
            &user_id.to_string(),
            serde_json::json!({}),
        )
        .await;
    }
    if let Err(e) = session.flush().await {
        tracing::error!(error = %e, "cannot end the session");
    }
    Redirect::to("/login").into_response()
}

/// 429 with `Retry-After`, as a page a person can read: the form post lands here.
fn too_many_attempts(seconds: u64, next: &str) -> Response {
    let minutes = seconds.div_ceil(60);
    let body = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>Too many attempts · Triage</title>\
         <link rel=\"stylesheet\" href=\"/pkg/triage.css\"></head><body><main class=\"page\">\
         <h1>Too many failed sign-ins</h1><p class=\"page-message\" role=\"alert\">\
         Sign-in is paused for this user name or address. Try again in {minutes} \
         minute{s}. <a href=\"/login?next={next}\">Back to sign-in</a></p></main></body></html>",
        s = if minutes == 1 { "" } else { "s" },
        next = urlencode(next),
    );
    (
        StatusCode::TOO_MANY_REQUESTS,
        [(header::RETRY_AFTER, seconds.to_string())],
        Html(body),
    )
        .into_response()
}

/// Where to go after signing in: only a path on this site, never another site.
fn local_path(next: Option<&str>) -> String {
    match next {
        Some(p)
            if p.starts_with('/')
                && !p.starts_with("//")
                && !p.starts_with("/\\")
                && !p.starts_with("/login") =>
        {
            p.to_string()
        }
        _ => "/".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::local_path;

    #[test]
    fn sign_in_never_redirects_off_site() {
        assert_eq!(local_path(Some("/admin")), "/admin");
        assert_eq!(local_path(Some("//evil.example")), "/");
        assert_eq!(local_path(Some("https://evil.example")), "/");
        assert_eq!(local_path(Some("/\\evil.example")), "/");
        assert_eq!(local_path(None), "/");
    }
}
