//! Logs (tracing) and Prometheus metrics.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::state::AppState;

/// Logs to stderr, filtered by `RUST_LOG` or the `log` setting.
pub fn init_tracing(default_filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// The process-wide metrics recorder (one per process, however many apps a test
/// starts in it).
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets(&[
                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                ])
                .expect("static bucket list is valid")
                .build_recorder();
            let handle = recorder.handle();
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// Counts requests and their latency by route (the route pattern, not the raw path,
/// so ids do not explode the number of series).
pub async fn track_requests(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| {
            if request.uri().path().starts_with("/pkg/") {
                "/pkg".into()
            } else {
                "other".into()
            }
        });
    let method = request.method().to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    let labels = [
        ("method", method),
        ("route", route),
        ("status", response.status().as_u16().to_string()),
    ];
    metrics::counter!("triage_http_requests_total", &labels).increment(1);
    metrics::histogram!("triage_http_request_duration_seconds", &labels)
        .record(started.elapsed().as_secs_f64());
    response
}

pub async fn serve_metrics(State(state): State<AppState>) -> impl IntoResponse {
    match domain::backlog::backlog(&state.db).await {
        Ok(backlog) => {
            // Every email has one status: the total is their sum, not another count.
            let total: i64 = backlog.emails_by_status.iter().map(|(_, n)| n).sum();
            metrics::gauge!("triage_emails").set(total as f64);
            for (status, count) in backlog.emails_by_status {
                metrics::gauge!("triage_emails_by_status", "status" => status).set(count as f64);
            }
            metrics::gauge!("triage_oldest_untriaged_age_seconds")
                .set(backlog.oldest_untriaged_seconds);
            for (status, count) in backlog.jobs_by_status {
                metrics::gauge!("triage_jobs_by_status", "status" => status).set(count as f64);
            }
        }
        Err(e) => tracing::warn!(error = ?e, "cannot count the backlog for /metrics"),
    }
    if let Ok(raised) = domain::analytics::drift_alert_raised(&state.db).await {
        metrics::gauge!("triage_drift_alert").set(if raised { 1.0 } else { 0.0 });
    }
    (
        [(CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}

pub async fn healthz() -> &'static str {
    "ok"
}

/// Ready when the database answers.
pub async fn readyz(State(state): State<AppState>) -> Response {
    if state.db.is_ready().await {
        "ready".into_response()
    } else {
        (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "database unavailable",
        )
            .into_response()
    }
}
