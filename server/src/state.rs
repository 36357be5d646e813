use std::sync::Arc;

use axum::extract::FromRef;
use domain::auth::LoginLimits;
use domain::db::Db;
use domain::settings::Settings;
use leptos::config::LeptosOptions;
use metrics_exporter_prometheus::PrometheusHandle;

/// Everything a request may need, built once at start-up.
#[derive(Clone, FromRef)]
pub struct AppState {
    pub db: Db,
    pub settings: Arc<Settings>,
    pub leptos_options: LeptosOptions,
    pub metrics: PrometheusHandle,
    pub scorer: domain::scoring::arrival::ArrivalScorer,
    /// Wakes this process's job worker when a job is queued.
    pub jobs: domain::jobs::worker::WorkerHandle,
    /// Requests per API caller (server/src/limits.rs).
    pub api_rate: Arc<crate::limits::ApiRateLimit>,
    /// Seals and opens mailbox passwords.
    pub secrets: domain::secrets::SecretBox,
    /// Wakes this process's mailbox runner (new settings, a reply to send).
    pub mail: domain::mailboxes::runner::MailHandle,
    /// The text-generation endpoint that drafts replies, when one is configured.
    pub generator: Option<domain::drafts::Generator>,
}

impl AppState {
    pub fn login_limits(&self) -> LoginLimits {
        LoginLimits {
            max_failures: self.settings.login_max_failures,
            window_ms: self.settings.login_window_seconds * 1000,
        }
    }
}
