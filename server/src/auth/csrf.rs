//! CSRF protection for every state-changing request that a browser could be tricked
//! into sending: a request that carries our session cookie and is not GET/HEAD/OPTIONS
//! must come from our own origin, as the browser itself reports it (`Sec-Fetch-Site`,
//! else `Origin`). A request with neither header is refused too. This is the
//! origin-verification defence of the OWASP cheat sheet (and of Go's
//! `http.CrossOriginProtection`), on top of a `SameSite=Lax` cookie. Works for
//! JavaScript calls and for plain HTML forms, so no token has to be threaded through
//! every form. Requests authenticated by a bearer token carry no ambient credential
//! and are left alone.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::api::error::ApiError;
use crate::state::AppState;

pub async fn protect(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let safe = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    // A bearer token is proof the caller is not a forged browser request: a page on
    // another site cannot add an Authorization header without a CORS preflight, which
    // Triage never grants. The API then authenticates by the token, not the cookie.
    let bearer = request
        .headers()
        .contains_key(axum::http::header::AUTHORIZATION);
    if safe || bearer || !has_session_cookie(request.headers()) {
        return next.run(request).await;
    }
    if is_same_origin(request.headers(), state.settings.public_origin.as_deref()) {
        return next.run(request).await;
    }
    tracing::warn!(path = %request.uri().path(), "refused a cross-site request");
    ApiError::new(StatusCode::FORBIDDEN, "csrf", "cross-site request refused").into_response()
}

fn has_session_cookie(headers: &HeaderMap) -> bool {
    headers.get_all(header::COOKIE).iter().any(|v| {
        v.to_str()
            .map(|s| {
                s.split(';')
                    .any(|c| c.trim_start().starts_with(super::SESSION_COOKIE))
            })
            .unwrap_or(false)
    })
}

fn is_same_origin(headers: &HeaderMap, public_origin: Option<&str>) -> bool {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = get("sec-fetch-site") {
        // "none" is the user typing the address or using a bookmark.
        return site == "same-origin" || site == "none";
    }
    let Some(origin) = get("origin") else {
        return false;
    };
    if public_origin.is_some_and(|p| p.trim_end_matches('/') == origin) {
        return true;
    }
    let Some(host) = get("host") else {
        return false;
    };
    match url::Url::parse(origin) {
        Ok(url) => {
            let origin_host = match (url.host_str(), url.port()) {
                (Some(h), Some(p)) => format!("{h}:{p}"),
                (Some(h), None) => h.to_string(),
                _ => return false,
            };
            origin_host.eq_ignore_ascii_case(host)
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn fetch_metadata_decides_when_present() {
        assert!(is_same_origin(
            &headers(&[("sec-fetch-site", "same-origin")]),
            None
        ));
        assert!(!is_same_origin(
            &headers(&[
                ("sec-fetch-site", "cross-site"),
                ("origin", "http://a:1"),
                ("host", "a:1")
            ]),
            None
        ));
        assert!(!is_same_origin(
            &headers(&[("sec-fetch-site", "same-site")]),
            None
        ));
    }

    #[test]
    fn the_origin_must_match_the_host_or_the_public_origin() {
        assert!(is_same_origin(
            &headers(&[
                ("origin", "http://127.0.0.1:3000"),
                ("host", "127.0.0.1:3000")
            ]),
            None
        ));
        assert!(!is_same_origin(
            &headers(&[
                ("origin", "http://evil.example"),
                ("host", "127.0.0.1:3000")
            ]),
            None
        ));
        assert!(!is_same_origin(
            &headers(&[("origin", "null"), ("host", "127.0.0.1:3000")]),
            None
        ));
        assert!(is_same_origin(
            &headers(&[
                ("origin", "https://triage.example.com"),
                ("host", "10.0.0.5:3000")
            ]),
            Some("https://triage.example.com/")
        ));
    }

    #[test]
    fn no_origin_information_is_refused() {
        assert!(!is_same_origin(
            &headers(&[("host", "127.0.0.1:3000")]),
            None
        ));
    }
}
