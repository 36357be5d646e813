//! Every state a stored thing can be in, as an enum: an email's status, a label's
//! source, a job's kind and status, a model's kind and status, a suggestion's kind, a
//! bulk action. Each is stored and sent as the same lower-case text it always was
//! (`"triaged"`), and `FromStr`/`Display` are the only places that text is spelled
//! out in Rust, so a typo does not compile. The database's `CHECK` constraints hold
//! the same lists.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A text that names no state of its kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownState {
    pub value: String,
    /// Every text the kind knows, in order.
    pub expected: &'static [&'static str],
}

impl fmt::Display for UnknownState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} is not one of {}",
            self.value,
            self.expected.join(", ")
        )
    }
}

impl std::error::Error for UnknownState {}

/// Reads and writes `$name` in the database as its text (`as_str` and `FromStr`).
#[macro_export]
macro_rules! stored_as_text {
    ($name:ty) => {
        #[cfg(feature = "server")]
        impl sqlx::Type<sqlx::Any> for $name {
            fn type_info() -> <sqlx::Any as sqlx::Database>::TypeInfo {
                <String as sqlx::Type<sqlx::Any>>::type_info()
            }
        }

        #[cfg(feature = "server")]
        impl<'q> sqlx::Encode<'q, sqlx::Any> for $name {
            fn encode_by_ref(
                &self,
                buf: &mut <sqlx::Any as sqlx::Database>::ArgumentBuffer<'q>,
            ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
                <&'q str as sqlx::Encode<'q, sqlx::Any>>::encode(self.as_str(), buf)
            }
        }

        #[cfg(feature = "server")]
        impl<'r> sqlx::Decode<'r, sqlx::Any> for $name {
            fn decode(
                value: <sqlx::Any as sqlx::Database>::ValueRef<'r>,
            ) -> Result<Self, sqlx::error::BoxDynError> {
                let text = <String as sqlx::Decode<'r, sqlx::Any>>::decode(value)?;
                Ok(text.parse()?)
            }
        }
    };
}

/// Declares a state enum with its stored text, `FromStr`, `Display`, serde as that
/// text and (on the server) sqlx encoding and decoding as that text.
macro_rules! states {
    ($(
        $(#[$meta:meta])*
        $name:ident {
            $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)?
        }
    )+) => {$(
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            /// Every state, in order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// Every state's text, in order.
            pub const TEXTS: &'static [&'static str] = &[$($text),+];

            /// The text it is stored and sent as.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = UnknownState;

            fn from_str(s: &str) -> Result<Self, UnknownState> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(UnknownState {
                        value: s.to_string(),
                        expected: $name::TEXTS,
                    }),
                }
            }
        }

        stored_as_text!($name);
    )+};
}

states! {
    /// Where a reply sent from Triage is on its way out (domain/src/mailboxes/outbox.rs).
    OutboxStatus {
        /// Written, waiting for its (next) try.
        Queued = "queued",
        /// A process is handing it to the SMTP server.
        Sending = "sending",
        /// The SMTP server took it.
        Sent = "sent",
        /// Refused for good, given up, or cut short by a crash: a person decides.
        Failed = "failed",
    }

    /// Where an email is in the team's work (see docs/architecture.md for who moves
    /// it where).
    EmailStatus {
        /// Arrived; nobody has decided its category yet.
        New = "new",
        /// Its category is decided (by a person, an import or auto-accept).
        Triaged = "triaged",
        /// Someone answered it.
        Replied = "replied",
        /// Put away.
        Archived = "archived",
    }

    /// Who decided a label, and how.
    LabelSource {
        /// A person took the model's category.
        Accepted = "accepted",
        /// A person chose another category (or one with no prediction to take).
        Corrected = "corrected",
        /// Came with the email from the team's history.
        Imported = "imported",
        /// Auto-accept took a confident prediction, without a person.
        Auto = "auto",
    }

    /// What a job does.
    JobKind {
        /// Scores every email without a prediction.
        Score = "score",
        /// Scores a filter's emails again with a chosen model.
        Rescore = "rescore",
        /// Trains a built-in model on the labels.
        Retrain = "retrain",
        /// Records an import of mail (`triage import`, the Import page).
        Import = "import",
        /// Scores through a SageMaker Batch Transform job: input to S3, the job run
        /// by SageMaker, its output read back.
        Transform = "transform",
    }

    /// Where a job is in its life.
    JobStatus {
        Queued = "queued",
        Running = "running",
        Succeeded = "succeeded",
        Failed = "failed",
        Cancelled = "cancelled",
    }

    /// Where a Batch Transform job stands (`jobs.transform_stage`,
    /// domain/src/jobs/transform.rs). A job cancelled in Triage while at `submit` or
    /// `follow` keeps that stage until SageMaker's job is stopped.
    TransformStage {
        /// Writing the emails to S3 as JSON Lines.
        Export = "export",
        /// Asking SageMaker to create its transform job.
        Submit = "submit",
        /// Waiting for SageMaker's job to end.
        Follow = "follow",
        /// Reading SageMaker's output and storing the predictions.
        Import = "import",
        /// Nothing is left to do.
        Done = "done",
    }

    /// Where a model comes from.
    ModelKind {
        /// Trained in-process from the labels.
        Builtin = "builtin",
        /// A SageMaker (or compatible) endpoint.
        Endpoint = "endpoint",
    }

    /// Whether a model scores new mail.
    ModelStatus {
        Candidate = "candidate",
        Active = "active",
        Retired = "retired",
    }

    /// Where a reply came from.
    SuggestionKind {
        /// A supervisor's template for the category.
        Template = "template",
        /// What staff sent to a similar email.
        Similar = "similar",
        /// Drafted by a text-generation endpoint.
        Generated = "generated",
        /// Written without a suggestion.
        Unassisted = "none",
    }

    /// What wrote a generated reply draft.
    DraftSource {
        /// A language model behind the text-generation endpoint.
        Endpoint = "endpoint",
        /// Triage's own model server, which has no language model: it puts the draft
        /// together from the most similar past replies.
        Retrieval = "retrieval",
    }

    /// What a bulk action does to the emails it takes.
    BulkAction {
        Accept = "accept",
        Correct = "correct",
        Assign = "assign",
        Archive = "archive",
    }
}

impl EmailStatus {
    /// The status that follows a label: a new email is triaged; one already replied
    /// or archived stays so.
    pub fn after_label(self) -> EmailStatus {
        match self {
            EmailStatus::New => EmailStatus::Triaged,
            other => other,
        }
    }

    /// The status that follows when an undo leaves the email without any label: a
    /// triaged email waits in the queue again.
    pub fn after_last_label_undone(self) -> EmailStatus {
        match self {
            EmailStatus::Triaged => EmailStatus::New,
            other => other,
        }
    }
}

impl JobKind {
    /// The kinds someone may ask for (an import job is recorded by the import itself).
    pub const REQUESTABLE: [JobKind; 4] = [
        JobKind::Score,
        JobKind::Rescore,
        JobKind::Retrain,
        JobKind::Transform,
    ];

    /// True for the kinds that score emails chunk by chunk.
    pub fn scores(self) -> bool {
        matches!(self, JobKind::Score | JobKind::Rescore)
    }
}

impl JobStatus {
    /// True once the job will not change any more.
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            JobStatus::Succeeded | JobStatus::Failed | JobStatus::Cancelled
        )
    }
}

impl LabelSource {
    /// True when a person decided (auto-accept and imports are not staff judgements).
    pub fn is_staff(self) -> bool {
        matches!(self, LabelSource::Accepted | LabelSource::Corrected)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_reads_back_from_its_own_text() {
        for s in EmailStatus::ALL {
            assert_eq!(s.as_str().parse::<EmailStatus>(), Ok(*s));
        }
        for s in SuggestionKind::ALL {
            assert_eq!(s.to_string().parse::<SuggestionKind>(), Ok(*s));
        }
        assert_eq!(
            serde_json::to_string(&SuggestionKind::Unassisted).unwrap(),
            "\"none\""
        );
        assert_eq!(
            serde_json::from_str::<JobKind>("\"retrain\"").unwrap(),
            JobKind::Retrain
        );
    }

    #[test]
    fn an_unknown_text_says_what_it_could_have_been() {
        let err = "lost".parse::<EmailStatus>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "\"lost\" is not one of new, triaged, replied, archived"
        );
        assert!(
            "Triaged".parse::<EmailStatus>().is_err(),
            "stored text is exact"
        );
    }
}
