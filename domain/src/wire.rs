//! Types that cross the wire between the server and the browser. Row types for the
//! database live next to their queries; these carry only what a page may show.

use crate::role::Role;
use serde::{Deserialize, Serialize};

/// The signed-in person. Deliberately carries no password hash or session data:
/// every server function is a public endpoint, so whatever is here may reach a browser.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CurrentUser {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub role: Role,
}

/// A category as the UI shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CategoryView {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub color: String,
}

/// One row of the queue.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QueueRow {
    pub id: i64,
    /// Unix milliseconds.
    pub received_at: i64,
    pub from_name: String,
    pub from_address: String,
    pub subject: String,
    pub snippet: String,
    pub status: String,
    /// The model's category, when the email has been scored.
    pub predicted: Option<String>,
    pub confidence: Option<f64>,
    /// The staff (or historical) label, when there is one.
    pub label: Option<String>,
    /// Colour of the category shown in the row (label first, else prediction).
    pub color: Option<String>,
}

/// A page of the queue with the cursor for the next one (keyset pagination).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QueuePage {
    pub rows: Vec<QueueRow>,
    pub next_cursor: Option<String>,
}

/// A person as the admin page lists them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserSummary {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub active: bool,
    pub created_at: i64,
}

/// A model version as the Models page and `GET /api/v1/models` list it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct ModelSummary {
    pub id: i64,
    pub version: String,
    /// `builtin` or `endpoint`.
    pub kind: String,
    /// `candidate`, `active` or `retired`.
    pub status: String,
    pub created_at: i64,
    pub training_size: Option<i64>,
    /// Held-out figures of a built-in model.
    pub accuracy: Option<f64>,
    pub macro_f1: Option<f64>,
    pub ece: Option<f64>,
    /// Where an endpoint model is reached: `name` or `name at URL`.
    pub endpoint: Option<String>,
}

/// The Models page: every version, and whether this user may connect endpoints.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelsOverview {
    pub models: Vec<ModelSummary>,
    pub can_configure: bool,
}

/// An email as its page shows it: the sanitized text, the model's answer with every
/// category's probability, and the words that drove it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EmailView {
    pub id: i64,
    pub received_at: i64,
    pub from_name: String,
    pub from_address: String,
    pub to: String,
    pub subject: String,
    pub body_text: String,
    pub status: String,
    pub prediction: Option<PredictionExplained>,
    /// The current label's category and who gave it (`None`: historical import).
    pub label: Option<(String, Option<String>)>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PredictionExplained {
    pub category: String,
    pub confidence: f64,
    pub model: String,
    /// Every category, best first.
    pub probabilities: Vec<(String, f64)>,
    /// The words that pushed the email most toward the category, with their weight;
    /// empty for an endpoint, which gives no reasons.
    pub reasons: Vec<(String, f64)>,
}

/// A batch job as lists and progress bars show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct JobView {
    pub id: i64,
    /// `score`, `rescore` or `retrain`.
    pub kind: String,
    /// `queued`, `running`, `succeeded`, `failed` or `cancelled`.
    pub status: String,
    /// What it targets, in words.
    pub description: String,
    /// The model version that scores (or, for a retrain, the one it trained).
    pub model: Option<String>,
    pub created_by: Option<String>,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    /// Emails targeted, scored, and failed.
    pub total: i64,
    pub done: i64,
    pub failed: i64,
    pub error: Option<String>,
    /// What a finished job produced (JSON), e.g. a retrain's version and figures.
    pub result: Option<String>,
    /// Emails per second over the job's life so far.
    pub rate_per_second: Option<f64>,
    /// Seconds left at that rate, while running.
    pub eta_seconds: Option<f64>,
}

/// An email a job could not score, or an import could not store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct JobFailure {
    /// The email; none for an import's rejected message, which was never stored.
    pub email_id: Option<i64>,
    /// The email's subject, or where an import found the rejected message.
    pub subject: String,
    pub attempts: i64,
    pub error: String,
}

/// A recurring job set by a supervisor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobSchedule {
    /// `score` or `retrain`.
    pub kind: String,
    pub every_minutes: i64,
    pub last_run_at: Option<i64>,
}
