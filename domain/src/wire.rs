//! Types that cross the wire between the server and the browser. Row types for the
//! database live next to their queries; these carry only what a page may show.

use crate::role::Role;
use serde::{Deserialize, Serialize};

pub mod analytics;
pub mod mailboxes;
pub mod states;

pub use states::{
    BulkAction, DraftSource, EmailStatus, JobKind, JobStatus, LabelSource, ModelKind, ModelStatus,
    OutboxStatus, SuggestionKind, TransformStage, UnknownState,
};

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
#[cfg_attr(feature = "server", derive(sqlx::FromRow))]
pub struct QueueRow {
    pub id: i64,
    /// Unix milliseconds.
    pub received_at: i64,
    pub from_name: String,
    pub from_address: String,
    pub subject: String,
    pub snippet: String,
    pub status: EmailStatus,
    /// The model's category, when the email has been scored.
    pub predicted: Option<String>,
    pub confidence: Option<f64>,
    /// The staff (or historical) label, when there is one.
    pub label: Option<String>,
    /// Colour of the category shown in the row (label first, else prediction).
    pub color: Option<String>,
    /// The current label's id: sent back with an accept or correction, so a label
    /// someone else gave in the meantime is noticed.
    pub label_id: Option<i64>,
    /// Who the email is assigned to (display name).
    pub assignee: Option<String>,
}

/// The queue's filter as it travels in a URL (`?status=new&q=refund`), from the page,
/// the API and bulk actions alike. Empty values mean "any"; `domain::queue` checks
/// every field and says which one is wrong.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct QueueQuery {
    /// new, triaged, replied or archived.
    #[serde(default)]
    pub status: Option<String>,
    /// A category name, matched against the label, else the prediction.
    #[serde(default)]
    pub category: Option<String>,
    /// Words to find in the subject or body (the last one may be a prefix).
    #[serde(default)]
    pub q: Option<String>,
    /// `low` (< 50%), `medium` (50–80%) or `high` (≥ 80%).
    #[serde(default)]
    pub confidence: Option<String>,
    #[serde(default)]
    pub min_confidence: Option<String>,
    #[serde(default)]
    pub max_confidence: Option<String>,
    /// First and last day received, `YYYY-MM-DD` (UTC), both included.
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub to: Option<String>,
    /// `me`, `none`, or a user name.
    #[serde(default)]
    pub assignee: Option<String>,
    /// The model version of the current prediction.
    #[serde(default)]
    pub model: Option<String>,
    /// `newest` (default), `oldest`, `least_confident` or `most_confident`.
    #[serde(default)]
    pub sort: Option<String>,
    #[serde(default)]
    pub cursor: Option<String>,
}

impl QueueQuery {
    /// The filter's fields in URL order, without the cursor.
    pub fn fields(&self) -> [(&'static str, &Option<String>); 11] {
        [
            ("q", &self.q),
            ("status", &self.status),
            ("category", &self.category),
            ("confidence", &self.confidence),
            ("min_confidence", &self.min_confidence),
            ("max_confidence", &self.max_confidence),
            ("from", &self.from),
            ("to", &self.to),
            ("assignee", &self.assignee),
            ("model", &self.model),
            ("sort", &self.sort),
        ]
    }

    /// `status=new&q=late%20order` — the filter (no cursor) for links that keep it.
    pub fn to_query_string(&self) -> String {
        self.fields()
            .iter()
            .filter_map(|(k, v)| v.as_deref().filter(|v| !v.is_empty()).map(|v| (k, v)))
            .map(|(k, v)| format!("{k}={}", encode_component(v)))
            .collect::<Vec<_>>()
            .join("&")
    }

    /// Builds the query from URL parameters by name.
    pub fn from_params(get: impl Fn(&str) -> Option<String>) -> QueueQuery {
        let get = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        QueueQuery {
            status: get("status"),
            category: get("category"),
            q: get("q"),
            confidence: get("confidence"),
            min_confidence: get("min_confidence"),
            max_confidence: get("max_confidence"),
            from: get("from"),
            to: get("to"),
            assignee: get("assignee"),
            model: get("model"),
            sort: get("sort"),
            cursor: get("cursor"),
        }
    }
}

/// Percent-encodes a URL query value (everything but unreserved characters).
pub fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
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
    pub kind: ModelKind,
    pub status: ModelStatus,
    pub created_at: i64,
    pub training_size: Option<i64>,
    /// Held-out figures of a built-in model.
    pub accuracy: Option<f64>,
    pub macro_f1: Option<f64>,
    pub ece: Option<f64>,
    /// Where an endpoint model is reached: `name` or `name at URL`.
    pub endpoint: Option<String>,
    /// Who trained or registered it (none: the command line or a schedule).
    pub created_by: Option<String>,
    /// SHA-256 of the labels a built-in model was trained on.
    pub dataset_hash: Option<String>,
    /// A built-in model's held-out figures per category, with its labels of each.
    #[serde(default)]
    pub per_category: Vec<ClassFigures>,
}

/// The Models page: every version, and whether this user may connect endpoints.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelsOverview {
    pub models: Vec<ModelSummary>,
    pub can_configure: bool,
    /// The model a rollback would bring back (the one active before the current one).
    pub rollback_to: Option<String>,
    /// The active model's agreement with staff labels, against the alert level.
    pub drift: analytics::Drift,
}

/// An email as its page shows it: the sanitized text, the model's answer with every
/// category's probability and the words that drove it, its thread and its history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EmailView {
    pub id: i64,
    pub received_at: i64,
    pub from_name: String,
    pub from_address: String,
    pub to: String,
    pub cc: String,
    pub subject: String,
    pub body_text: String,
    /// The HTML part is shown: asked for, and there is one. Its document comes from
    /// `/emails/{id}/html`, in a sandboxed frame, never inside this view.
    pub html_shown: bool,
    /// The email has an HTML part.
    pub has_html: bool,
    /// Remote images the shown HTML part would load (they load only when asked for).
    pub blocked_images: usize,
    /// The reader asked for remote images to load.
    #[serde(default)]
    pub remote_images: bool,
    pub attachments: Vec<AttachmentView>,
    pub status: EmailStatus,
    pub assignee: Option<String>,
    pub prediction: Option<PredictionExplained>,
    /// The current label: its category and who gave it.
    pub label: Option<CurrentLabel>,
    /// The current label's id, sent back with a decision to notice a concurrent one.
    pub label_id: Option<i64>,
    /// Other emails of the thread, oldest first.
    pub thread: Vec<ThreadEmail>,
    pub history: Vec<HistoryEntry>,
    /// The last reply sent.
    pub reply: Option<SentReply>,
}

/// An email's current label as its page shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CurrentLabel {
    pub category: String,
    /// The person (`None`: a historical import, auto-accept or an API token).
    pub by: Option<String>,
}

/// A reply someone sent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(sqlx::FromRow))]
pub struct SentReply {
    pub text: String,
    /// Who sent it (empty when their account is gone).
    pub by: String,
    pub at: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AttachmentView {
    pub name: String,
    pub content_type: String,
    pub size: u64,
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

/// The knobs of a SageMaker Batch Transform job. Empty ones take the `transform_*`
/// settings' defaults when the job starts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(default, deny_unknown_fields)]
pub struct TransformOptions {
    /// The SageMaker model that scores (the name `CreateModel` gave it).
    pub model_name: Option<String>,
    /// e.g. `ml.m5.xlarge`.
    pub instance_type: Option<String>,
    pub instance_count: Option<i64>,
    /// Requests in flight to each instance (MaxConcurrentTransforms).
    pub max_concurrent_transforms: Option<i64>,
    /// Largest mini-batch sent to the model (MaxPayloadInMB).
    pub max_payload_mb: Option<i64>,
    /// The folder for the job's input and output objects, `s3://bucket/prefix`.
    pub s3_uri: Option<String>,
    /// Every email, not only the unscored ones (when the job has no filter).
    pub all: bool,
}

impl TransformOptions {
    /// True when no knob is set.
    pub fn is_empty(&self) -> bool {
        *self == TransformOptions::default()
    }
}

/// What a transform job ran with and where it stands, kept as the job's `result`
/// and shown on the Jobs page.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct TransformRun {
    /// The SageMaker transform job's name.
    pub transform_job: String,
    pub model_name: String,
    pub instance_type: String,
    pub instance_count: i64,
    pub max_concurrent_transforms: i64,
    pub max_payload_mb: i64,
    /// `s3://…/input/`, one JSON Lines object per `lines_per_object` emails.
    pub input: String,
    /// `s3://…/output/`, where SageMaker writes the `.out` objects.
    pub output: String,
    pub input_objects: i64,
    /// SageMaker's status when it was last described (InProgress, Completed, …).
    pub sagemaker_status: Option<String>,
}

/// A batch job as lists and progress bars show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct JobView {
    pub id: i64,
    pub kind: JobKind,
    pub status: JobStatus,
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
    /// A transform job's SageMaker job: what it ran with and its status there.
    pub transform: Option<TransformRun>,
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
#[cfg_attr(feature = "server", derive(sqlx::FromRow))]
pub struct JobSchedule {
    /// `score` or `retrain`.
    pub kind: JobKind,
    pub every_minutes: i64,
    pub last_run_at: Option<i64>,
}

/// What happened when someone labelled an email.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct LabelOutcome {
    pub label_id: i64,
    pub email_id: i64,
    pub category: String,
    /// `accepted` (the model's category) or `corrected`.
    pub source: LabelSource,
    /// Someone else labelled the email after this person opened it; both labels are
    /// kept, this one is now current.
    pub conflict: Option<LabelConflict>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct LabelConflict {
    /// Who gave the other label ("historical" for an imported one).
    pub by: String,
    pub category: String,
    pub at: i64,
}

/// One line of an email's history: a prediction or a label, newest first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub at: i64,
    pub kind: HistoryKind,
    pub category: String,
    /// The model version, or the person.
    pub by: String,
    /// A prediction's confidence.
    pub confidence: Option<f64>,
    /// For a label: seconds the person spent on the email.
    pub seconds_spent: Option<f64>,
    pub undone: bool,
}

/// What a line of an email's history records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum HistoryKind {
    /// A model's answer.
    Prediction,
    /// A decision on the category.
    Label(LabelSource),
}

/// Another email of the same thread.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ThreadEmail {
    pub id: i64,
    pub received_at: i64,
    pub from: String,
    pub subject: String,
    pub status: EmailStatus,
}

/// A reply an agent may start from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Suggestion {
    pub kind: SuggestionKind,
    /// The template's id, or the past reply's id.
    pub reference: Option<i64>,
    pub title: String,
    pub body: String,
}

/// A reply drafted by the text-generation endpoint for one email.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct Draft {
    pub text: String,
    /// `retrieval` when the endpoint is Triage's own model server, which builds the
    /// draft from the most similar past replies rather than with a language model.
    pub source: DraftSource,
    /// The endpoint's name.
    pub endpoint: String,
    /// How long the endpoint took.
    pub elapsed_ms: u64,
}

/// The placeholders a reply template may use, as `{{name}}`.
pub const REPLY_PLACEHOLDERS: [&str; 5] = [
    "customer_name",
    "customer_first_name",
    "subject",
    "agent_name",
    "references",
];

/// A reply template as supervisors manage it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReplyTemplate {
    pub id: i64,
    /// The category it answers; `None`: any email.
    pub category: Option<String>,
    pub name: String,
    pub body: String,
    pub retired: bool,
    pub updated_at: i64,
}

/// What was stored for a reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredReply {
    pub id: i64,
    /// Characters changed from the suggestion (0: used as it was).
    pub edit_distance: i64,
}

/// One model's figures on the held-out labelled emails.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelFigures {
    pub model_id: i64,
    pub version: String,
    pub accuracy: f64,
    pub macro_f1: f64,
    /// In the order of `ModelComparison::classes`.
    pub per_class: Vec<ClassFigures>,
    /// `confusion[label][prediction]` over `ModelComparison::classes`.
    pub confusion: Vec<Vec<i64>>,
}

/// A category with fewer labels than this is flagged as too few to learn (the Models
/// page, `triage train`). In bench/scoring.py's finest labelling, categories trained
/// on 11 to 19 labels had held-out recall anywhere from 0 to 1 from one split to the
/// next (mean 0.46; LinearSVC's 0.38), measured on a handful of held-out emails each:
/// neither the model nor its figures can be trusted there. It is a floor, not a
/// promise: categories with 20 to 99 labels still averaged recall 0.42, against 0.83
/// from 100 labels up.
pub const MIN_LABELS_TO_LEARN: i64 = 20;

/// One category's figures on the held-out labelled emails.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct ClassFigures {
    pub category: String,
    pub precision: f64,
    pub recall: f64,
    /// Held-out emails labelled with it.
    pub support: i64,
    /// How many labels of it the model learnt from, where recorded.
    #[serde(default)]
    pub labels: Option<i64>,
}

impl ClassFigures {
    /// Whether the model had too few labels of this category to learn it.
    pub fn too_few_labels(&self) -> bool {
        self.labels.is_some_and(|n| n < MIN_LABELS_TO_LEARN)
    }
}

/// An email the candidate would file differently from the active model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChangedEmail {
    pub id: i64,
    pub subject: String,
    pub label: String,
    pub active: String,
    pub candidate: String,
}

/// A candidate and the active model side by side on the same held-out labelled emails
/// (threads no built-in model trained on).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelComparison {
    pub held_out: i64,
    pub classes: Vec<String>,
    pub candidate: ModelFigures,
    pub active: Option<ModelFigures>,
    /// How many held-out emails would change category, and the first of them.
    pub changed_total: i64,
    pub changed: Vec<ChangedEmail>,
}

/// One entry of the audit log as the admin page lists it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditRow {
    pub id: i64,
    pub at: i64,
    /// The person's display name, the token's name, or `system`.
    pub actor: String,
    pub action: String,
    /// What was acted on: `model 12`.
    pub target: String,
    /// The entry's details as JSON text.
    pub details: String,
}

/// An API token as the admin page lists it (never its secret).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(sqlx::FromRow))]
pub struct TokenSummary {
    pub id: i64,
    pub name: String,
    pub role: Role,
    /// The token's first characters, to recognise it.
    pub prefix: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}
