//! One way to score emails, whichever model answers: the built-in model in this
//! process, or a SageMaker endpoint over HTTP. Both take a batch of emails and give,
//! for each, every Triage category's probability (summing to 1), the top category and
//! the model version that answered. Scoring is async and cancellable: dropping the
//! future abandons the batch, and nothing is stored for it.
//!
//! `store` writes the answers as predictions; `active` decides which scorer is on.

pub mod active;
pub mod arrival;
pub mod endpoint;
pub mod store;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use crate::model::features::vectorize;
use crate::training::LoadedModel;

pub use crate::error::ScoreError;
pub use endpoint::{AwsCredentials, EndpointConfig, EndpointScorer};

/// What a scorer reads of an email.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EmailText {
    pub subject: String,
    pub body: String,
}

/// One email's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    /// The top category (a Triage category name).
    pub category: String,
    pub confidence: f64,
    /// Every category the model knows, with its probability, best first; they sum to 1.
    pub probabilities: Vec<(String, f64)>,
    /// How long the email waited for its answer: the model's time for the built-in
    /// model, the round trip of its request for an endpoint.
    pub latency_ms: f64,
}

/// The scorer that answers for one model version.
#[derive(Clone)]
pub enum Scorer {
    Builtin(Arc<LoadedModel>),
    Endpoint(Arc<EndpointScorer>),
}

impl Scorer {
    /// The `models` row this scorer answers for.
    pub fn model_id(&self) -> i64 {
        match self {
            Scorer::Builtin(m) => m.id,
            Scorer::Endpoint(e) => e.model_id,
        }
    }

    pub fn version(&self) -> &str {
        match self {
            Scorer::Builtin(m) => &m.version,
            Scorer::Endpoint(e) => &e.version,
        }
    }

    /// How many emails to hand over at once: the endpoint's configured batch size,
    /// or a large chunk for the in-process model.
    pub fn batch_size(&self) -> usize {
        match self {
            Scorer::Builtin(_) => 500,
            Scorer::Endpoint(e) => e.config.batch_size,
        }
    }

    /// The category id of every category this scorer can answer with.
    pub fn category_ids(&self) -> &HashMap<String, i64> {
        match self {
            Scorer::Builtin(m) => &m.category_ids,
            Scorer::Endpoint(e) => &e.category_ids,
        }
    }

    /// One answer as a model wrote it elsewhere (a Batch Transform's output line):
    /// a list of `{"label", "score"}`. The built-in model's labels are its category
    /// names, as `triage model-server` answers.
    pub fn read_answer(&self, answer: &serde_json::Value) -> Result<Scored, ScoreError> {
        match self {
            Scorer::Builtin(m) => {
                endpoint::read_labels(answer, &Default::default(), &m.category_ids)
            }
            Scorer::Endpoint(e) => e.read_answer(answer),
        }
    }

    /// Scores a batch; the answers come back in the order of `emails`.
    pub async fn score(&self, emails: &[EmailText]) -> Result<Vec<Scored>, ScoreError> {
        match self {
            // A big batch is CPU work: off the async threads, so the server stays quick.
            Scorer::Builtin(m) if emails.len() >= 64 => {
                let (model, emails) = (Arc::clone(m), emails.to_vec());
                tokio::task::spawn_blocking(move || {
                    emails.iter().map(|e| score_builtin(&model, e)).collect()
                })
                .await
                .map_err(|e| ScoreError::Unavailable {
                    attempts: 1,
                    message: format!("the scoring thread stopped: {e}"),
                })
            }
            Scorer::Builtin(m) => Ok(emails.iter().map(|e| score_builtin(m, e)).collect()),
            Scorer::Endpoint(e) => e.score(emails).await,
        }
    }
}

fn score_builtin(loaded: &LoadedModel, email: &EmailText) -> Scored {
    let started = Instant::now();
    let probabilities = loaded
        .model
        .probabilities(&vectorize(&email.subject, &email.body));
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    ranked(
        loaded
            .model
            .classes
            .iter()
            .cloned()
            .zip(probabilities.into_iter().map(f64::from))
            .collect(),
        latency_ms,
    )
}

/// Sorts probabilities best first (ties by name, so answers are stable) and names
/// the top one.
fn ranked(mut probabilities: Vec<(String, f64)>, latency_ms: f64) -> Scored {
    probabilities.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let (category, confidence) = probabilities
        .first()
        .cloned()
        .unwrap_or_else(|| (String::new(), 0.0));
    Scored {
        category,
        confidence,
        probabilities,
        latency_ms,
    }
}

/// Scores every unscored email with the active scorer (none without one); the CLI's
/// way, after an import or a training run.
pub async fn score_unscored(
    db: &crate::db::Db,
    credentials: &endpoint::AwsCredentials,
) -> crate::error::DomainResult<usize> {
    match active::load_active(db, credentials).await? {
        Some(scorer) => store::score_unscored(db, &scorer).await,
        None => Ok(0),
    }
}
