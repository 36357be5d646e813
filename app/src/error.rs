//! What a server function can answer instead of its value. The kinds stay apart all
//! the way to the page, so a page can say "not found", "not allowed" or "could not
//! load" truthfully; on the server each also sets the response's status (401, 403,
//! 404, 409, 422, 503 or 500), for scripts and for pages rendered without JavaScript.

use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AppError {
    /// Nobody is signed in (401).
    SignedOut,
    /// The person's role does not allow this (403).
    NotAllowed,
    /// What was asked for does not exist (404).
    NotFound,
    /// It cannot be done in the state things are in (409), with why.
    Conflict(String),
    /// A value was refused (422): which field, and why.
    Invalid { field: String, message: String },
    /// A scorer or another service could not answer (503), with why.
    Unavailable(String),
    /// Something broke on the server (500); it was logged there, and the page
    /// learns nothing more.
    Internal,
    /// The call itself failed: the network, or an answer that could not be read.
    Transport(String),
}

impl fmt::Display for AppError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AppError::SignedOut => f.write_str("Sign in first."),
            AppError::NotAllowed => f.write_str("Your role does not allow this."),
            AppError::NotFound => f.write_str("Not found."),
            AppError::Conflict(why) | AppError::Unavailable(why) => f.write_str(why),
            AppError::Invalid { field, message } => write!(f, "{field}: {message}"),
            AppError::Internal => f.write_str("Something went wrong; it has been logged."),
            AppError::Transport(why) => write!(f, "The server could not be reached: {why}"),
        }
    }
}

impl std::error::Error for AppError {}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            // A server function's own refusal before its body ran (bad arguments).
            ServerFnErrorErr::Args(why) | ServerFnErrorErr::MissingArg(why) => AppError::Invalid {
                field: "arguments".into(),
                message: why,
            },
            other => AppError::Transport(other.to_string()),
        }
    }
}

impl AppError {
    /// A refused value, named by its field.
    pub fn invalid(field: &str, message: impl Into<String>) -> AppError {
        AppError::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The HTTP status the response carries.
    pub fn status(&self) -> u16 {
        match self {
            AppError::SignedOut => 401,
            AppError::NotAllowed => 403,
            AppError::NotFound => 404,
            AppError::Conflict(_) => 409,
            AppError::Invalid { .. } => 422,
            AppError::Unavailable(_) => 503,
            AppError::Internal | AppError::Transport(_) => 500,
        }
    }
}

#[cfg(feature = "ssr")]
impl AppError {
    /// Sets the response's status to this error's, when a response is being made: a
    /// refusal decided in a server function itself, and every domain error.
    pub fn refuse(self) -> AppError {
        if let Some(response) = leptos::prelude::use_context::<leptos_axum::ResponseOptions>()
            && let Ok(status) = http::StatusCode::from_u16(self.status())
        {
            response.set_status(status);
        }
        self
    }
}

/// A domain error as the page may see it: never SQL text; internal errors are
/// logged here.
#[cfg(feature = "ssr")]
impl From<domain::error::DomainError> for AppError {
    fn from(err: domain::error::DomainError) -> AppError {
        use domain::error::DomainError;
        match err {
            DomainError::NotFound => AppError::NotFound,
            DomainError::Conflict(why) => AppError::Conflict(why),
            DomainError::Invalid { field, message } => AppError::Invalid { field, message },
            DomainError::Scoring(e) => AppError::Unavailable(e.to_string()),
            other => {
                tracing::error!(error = ?other, "server function failed");
                AppError::Internal
            }
        }
        .refuse()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_reads_as_what_happened_and_keeps_its_status() {
        assert_eq!(AppError::NotFound.status(), 404);
        assert_eq!(AppError::NotAllowed.status(), 403);
        assert_eq!(AppError::Conflict("taken".into()).status(), 409);
        let invalid = AppError::invalid("category", "no category named \"x\"");
        assert_eq!(invalid.status(), 422);
        assert_eq!(invalid.to_string(), "category: no category named \"x\"");
        assert_eq!(
            AppError::Internal.to_string(),
            "Something went wrong; it has been logged."
        );
    }

    #[test]
    fn the_kind_survives_the_trip_to_the_browser() {
        for e in [
            AppError::NotFound,
            AppError::NotAllowed,
            AppError::Conflict("already undone".into()),
            AppError::invalid("threshold", "too low"),
        ] {
            let bytes = e.ser();
            assert_eq!(AppError::de(bytes), e);
        }
    }
}
