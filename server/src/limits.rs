//! Limits that keep one client from taking the server down: a rate limit per API
//! caller, a size limit on every request body, and which address a request counts
//! against when Triage sits behind a proxy.
//!
//! The API rate limit is a token bucket per caller (the `governor` crate, GCRA) kept in
//! this process: with several Triage processes behind a balancer, each allows the
//! rate. Sign-in attempts are limited in the database instead (domain/src/auth.rs), so
//! every process shares that count.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use domain::audit::Actor;
use domain::settings::Settings;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::state::AppState;

/// Requests per caller, or no limit at all (`api_requests_per_minute = 0`).
pub struct ApiRateLimit {
    limiter: Option<DefaultKeyedRateLimiter<Actor>>,
}

impl ApiRateLimit {
    pub fn new(per_minute: u32, burst: u32) -> ApiRateLimit {
        let limiter = NonZeroU32::new(per_minute).map(|rate| {
            let burst = NonZeroU32::new(burst).unwrap_or(rate);
            RateLimiter::keyed(Quota::per_minute(rate).allow_burst(burst))
        });
        ApiRateLimit { limiter }
    }

    pub fn from_settings(settings: &Settings) -> ApiRateLimit {
        ApiRateLimit::new(settings.api_requests_per_minute, settings.api_burst)
    }

    /// `Err(wait)` when `caller` is over its rate: it may try again after `wait`.
    pub fn check(&self, caller: &Actor) -> Result<(), Duration> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        limiter
            .check_key(caller)
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }
}

/// Whole seconds for `Retry-After`, never 0 (a client told 0 would retry at once).
pub fn retry_after_seconds(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

/// The address a request counts against: the peer, unless the peer is a trusted
/// proxy, in which case the right-most address of `X-Forwarded-For` that is not a
/// trusted proxy itself (the left part of that header is whatever the client wrote).
pub fn client_address(peer: IpAddr, headers: &HeaderMap, trusted_proxies: &str) -> IpAddr {
    let trusted: Vec<IpAddr> = trusted_proxies
        .split(',')
        .filter_map(|a| a.trim().parse().ok())
        .collect();
    if !trusted.contains(&peer) {
        return peer;
    }
    let forwarded = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect::<Vec<_>>();
    for hop in forwarded.iter().rev() {
        match hop.parse::<IpAddr>() {
            Ok(address) if trusted.contains(&address) => continue,
            Ok(address) => return address,
            // Garbage in the chain: stop trusting it at that point.
            Err(_) => return peer,
        }
    }
    peer
}

/// The largest body a path accepts. The upload page (`max_upload_bytes`) and the
/// ingest routes (`max_message_bytes`) set and enforce their own,
/// larger limits, with answers that say so; every other route, server functions
/// included, gets `max_request_bytes`.
fn body_limit(path: &str, settings: &Settings) -> Option<usize> {
    match path {
        "/import/upload" | "/api/v1/emails" | "/api/v1/emails/raw" => None,
        _ => Some(settings.max_request_bytes),
    }
}

/// Why a body was not read.
#[derive(Debug, PartialEq, Eq)]
pub enum BodyError {
    TooLarge,
    Unreadable,
}

/// The body, up to `limit` bytes. Past the limit the rest is read and dropped (up to
/// as much again) before answering, so the client gets the 413 instead of a
/// connection closed under it while it is still sending.
pub async fn read_limited(body: Body, limit: usize) -> Result<Bytes, BodyError> {
    use futures::StreamExt;
    let mut stream = body.into_data_stream();
    let mut kept = Vec::new();
    let mut dropped = 0usize;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| BodyError::Unreadable)?;
        if dropped > 0 || kept.len() + chunk.len() > limit {
            dropped += chunk.len();
            if dropped > limit {
                break;
            }
        } else {
            kept.extend_from_slice(&chunk);
        }
    }
    if dropped > 0 {
        return Err(BodyError::TooLarge);
    }
    Ok(kept.into())
}

/// Reads the body of every request to routes without a limit of their own, up to
/// `max_request_bytes`, and answers 413 past it; server functions, forms and the
/// API's small JSON bodies alike. (These bodies are small: holding one in memory
/// before the route runs costs nothing worth measuring.)
pub async fn limit_request_body(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let Some(limit) = body_limit(request.uri().path(), &state.settings) else {
        return next.run(request).await;
    };
    if axum::body::HttpBody::size_hint(request.body()).exact() == Some(0) {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    match read_limited(body, limit).await {
        Ok(bytes) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Err(BodyError::TooLarge) => (
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is over the limit of {limit} bytes"),
        )
            .into_response(),
        Err(BodyError::Unreadable) => {
            (StatusCode::BAD_REQUEST, "the body could not be read").into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn forwarded(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn forwarded_for_counts_only_behind_a_trusted_proxy() {
        let proxy: IpAddr = "10.0.0.2".parse().unwrap();
        let client: IpAddr = "203.0.113.7".parse().unwrap();
        // Not configured: the header is anyone's to write, so it is ignored.
        assert_eq!(client_address(proxy, &forwarded("203.0.113.7"), ""), proxy);
        // From the trusted proxy: the address it saw.
        assert_eq!(
            client_address(proxy, &forwarded("203.0.113.7"), "10.0.0.2"),
            client
        );
        // A client that writes its own header cannot choose the address counted: the
        // right-most untrusted hop is the one the proxy saw.
        assert_eq!(
            client_address(proxy, &forwarded("1.2.3.4, 203.0.113.7"), "10.0.0.2"),
            client
        );
        // Two proxies in a row, both trusted.
        assert_eq!(
            client_address(
                proxy,
                &forwarded("203.0.113.7, 10.0.0.3"),
                "10.0.0.2, 10.0.0.3"
            ),
            client
        );
        // A peer that is not the proxy cannot use the header at all.
        let other: IpAddr = "198.51.100.9".parse().unwrap();
        assert_eq!(
            client_address(other, &forwarded("1.2.3.4"), "10.0.0.2"),
            other
        );
        // Garbage in the chain falls back to the peer.
        assert_eq!(
            client_address(proxy, &forwarded("not-an-address"), "10.0.0.2"),
            proxy
        );
    }

    #[test]
    fn a_caller_over_its_rate_waits_and_others_do_not() {
        let limit = ApiRateLimit::new(60, 3);
        let busy = Actor::Token(1);
        for _ in 0..3 {
            assert!(limit.check(&busy).is_ok());
        }
        let wait = limit
            .check(&busy)
            .expect_err("the fourth request at once is over");
        assert!(wait <= Duration::from_secs(1), "{wait:?}");
        assert!(retry_after_seconds(wait) >= 1);
        assert!(
            limit.check(&Actor::Token(2)).is_ok(),
            "another token has its own"
        );
        assert!(
            limit.check(&Actor::User(1)).is_ok(),
            "a person is not token 1"
        );
        let off = ApiRateLimit::new(0, 0);
        for _ in 0..1000 {
            assert!(off.check(&busy).is_ok());
        }
    }

    #[test]
    fn retry_after_is_whole_seconds_and_never_zero() {
        assert_eq!(retry_after_seconds(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_seconds(Duration::from_millis(1500)), 2);
        assert_eq!(retry_after_seconds(Duration::from_secs(3)), 3);
        assert_eq!(retry_after_seconds(Duration::ZERO), 1);
    }
}
