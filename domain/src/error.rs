use thiserror::Error;

/// What can go wrong in the domain. The HTTP layers turn each variant into a status
/// and the JSON error shape; `Database` is logged and shown as a plain 500.
#[derive(Debug, Error)]
pub enum DomainError {
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    Conflict(String),
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    #[error("database error")]
    Database(#[from] sqlx::Error),
    /// A scorer could not answer (endpoint down, throttled, model error...).
    #[error(transparent)]
    Scoring(#[from] ScoreError),
    #[error("{0}")]
    Internal(String),
}

impl DomainError {
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        DomainError::Invalid {
            field: field.to_string(),
            message: message.into(),
        }
    }
}

/// True when the database refused a row because a unique constraint already holds
/// it, on SQLite and PostgreSQL alike.
pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Database(db) => {
            matches!(db.kind(), sqlx::error::ErrorKind::UniqueViolation)
                || db.code().as_deref() == Some("23505")
                || db.message().contains("UNIQUE constraint failed")
        }
        _ => false,
    }
}

pub type DomainResult<T> = Result<T, DomainError>;

/// Why a batch could not be scored. Every variant names what to do about it; the
/// emails of a failed batch stay unscored, so nothing is lost.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum ScoreError {
    #[error(
        "the endpoint kept throttling requests ({}); try again later or raise its capacity",
        tries(*attempts)
    )]
    Throttled { attempts: u32 },
    #[error("the endpoint did not answer within {timeout_ms} ms ({})", tries(*attempts))]
    Timeout { timeout_ms: u64, attempts: u32 },
    #[error("the endpoint is unavailable ({}): {message}", tries(*attempts))]
    Unavailable { attempts: u32, message: String },
    #[error("the model returned an error{}: {message}", status.map(|s| format!(" ({s})")).unwrap_or_default())]
    Model {
        status: Option<i32>,
        message: String,
    },
    #[error("the endpoint refused the request: {0}")]
    Rejected(String),
    #[error(
        "the endpoint answered with the label {label:?}, which is not a Triage category; add it to the endpoint's label mapping"
    )]
    UnknownLabel { label: String },
    #[error("the endpoint's answer is not the expected payload: {0}")]
    BadResponse(String),
}

/// "1 attempt", "3 attempts".
fn tries(attempts: u32) -> String {
    match attempts {
        1 => "1 attempt".to_string(),
        n => format!("{n} attempts"),
    }
}

impl ScoreError {
    /// A short name of the kind of failure, for `/metrics`
    /// (`triage_endpoint_errors_total{kind}`).
    pub fn kind(&self) -> &'static str {
        match self {
            ScoreError::Throttled { .. } => "throttled",
            ScoreError::Timeout { .. } => "timeout",
            ScoreError::Unavailable { .. } => "unavailable",
            ScoreError::Model { .. } => "model_error",
            ScoreError::Rejected(_) => "rejected",
            ScoreError::UnknownLabel { .. } => "unknown_label",
            ScoreError::BadResponse(_) => "bad_response",
        }
    }
}
