//! Ingest: every real email gets in, exactly once, or is refused with a reason.
//!
//! `parse` turns raw RFC 822 bytes into a [`NewEmail`](crate::emails::NewEmail) with a
//! well-kept MIME library (mail-parser: multipart, base64, quoted-printable, legacy
//! charsets through encoding_rs); `json` validates the API's JSON shape; `mbox` splits
//! mailbox files; `store` writes an email and its historical label in one transaction.

pub mod json;
pub mod mbox;
pub mod parse;
pub mod sanitize;
pub mod store;

use serde::Serialize;

/// Default largest message accepted (25 MB), as most mail servers allow.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 25 * 1024 * 1024;

/// Why an email was not stored. Every variant reads as a sentence for the person
/// who sent it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("the message is empty")]
    Empty,
    #[error("the message is {size} bytes, over the limit of {limit} bytes")]
    TooLarge { size: usize, limit: usize },
    #[error("not an email: {0}")]
    NotEmail(String),
    /// The container around the email is broken (a JSON line, an unreadable file).
    #[error("{0}")]
    Malformed(String),
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
}

impl Rejection {
    pub fn invalid(field: &str, message: impl Into<String>) -> Rejection {
        Rejection::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The field at fault, when there is one.
    pub fn field(&self) -> Option<&str> {
        match self {
            Rejection::Invalid { field, .. } => Some(field),
            _ => None,
        }
    }
}

/// What happened to one email.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum Outcome {
    Created {
        id: i64,
        message_id: String,
    },
    Duplicate {
        id: i64,
        message_id: String,
    },
    Rejected {
        message_id: Option<String>,
        error: String,
        field: Option<String>,
    },
}

impl Outcome {
    pub fn rejected(message_id: Option<String>, reason: &Rejection) -> Outcome {
        Outcome::Rejected {
            message_id,
            error: reason.to_string(),
            field: reason.field().map(str::to_string),
        }
    }
}

/// Counts for a summary line.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Tally {
    pub created: usize,
    pub duplicates: usize,
    pub rejected: usize,
}

impl Tally {
    /// Counts an outcome, here and in `/metrics` (`triage_ingest_total{outcome}`).
    pub fn add(&mut self, outcome: &Outcome) {
        let name = match outcome {
            Outcome::Created { .. } => {
                self.created += 1;
                "created"
            }
            Outcome::Duplicate { .. } => {
                self.duplicates += 1;
                "duplicate"
            }
            Outcome::Rejected { .. } => {
                self.rejected += 1;
                "rejected"
            }
        };
        metrics::counter!("triage_ingest_total", "outcome" => name).increment(1);
    }
}
