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
    Scoring(#[from] crate::scoring::ScoreError),
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
