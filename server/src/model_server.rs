//! `triage model-server`: the built-in model behind the SageMaker container contract
//! (`GET /ping`, `POST /invocations`, port 8080), with the Hugging Face text
//! classification payloads of PRODUCT.md, so the built-in model can be deployed to
//! SageMaker as it is and Triage's endpoint client can be tested against a real server.
//!
//! Request: `{"inputs": "text" | ["text", …], "parameters": {"top_k": null | N}}`.
//! Response: for a list, one list per input of `{"label", "score"}`, best first; for
//! a single string, that one list. An email is sent as its subject, a blank line, and
//! its body; the server splits it there again (a text without a blank line is all body).

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use domain::model::classifier::Classifier;
use domain::model::features::vectorize;
use domain::training::LoadedModel;
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
pub struct Invocation {
    inputs: Inputs,
    #[serde(default)]
    parameters: Parameters,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Inputs {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize, Default)]
struct Parameters {
    top_k: Option<usize>,
}

#[derive(Serialize, Debug, PartialEq)]
pub struct LabelScore {
    pub label: String,
    pub score: f32,
}

pub fn router(served: Arc<LoadedModel>) -> Router {
    Router::new()
        .route("/ping", get(|| async { StatusCode::OK }))
        .route("/invocations", post(invocations))
        .with_state(served)
}

async fn invocations(State(served): State<Arc<LoadedModel>>, body: axum::body::Bytes) -> Response {
    let invocation: Invocation = match serde_json::from_slice(&body) {
        Ok(i) => i,
        Err(e) => {
            let message = format!(
                "expected {{\"inputs\": text or [texts], \"parameters\": {{\"top_k\": null}}}}: {e}"
            );
            return (
                StatusCode::BAD_REQUEST,
                Json(serde_json::json!({"error": message})),
            )
                .into_response();
        }
    };
    let top_k = invocation.parameters.top_k;
    let classify = |text: &str| classify(&served.model, text, top_k);
    match invocation.inputs {
        Inputs::One(text) => Json(classify(&text)).into_response(),
        Inputs::Many(texts) => {
            Json(texts.iter().map(|t| classify(t)).collect::<Vec<_>>()).into_response()
        }
    }
}

/// Every class with its probability, best first (the first `top_k` when given).
pub fn classify(model: &Classifier, text: &str, top_k: Option<usize>) -> Vec<LabelScore> {
    let (subject, body) = text.split_once("\n\n").unwrap_or(("", text));
    let probabilities = model.probabilities(&vectorize(subject, body));
    let mut scored: Vec<LabelScore> = model
        .classes
        .iter()
        .zip(probabilities)
        .map(|(label, score)| LabelScore {
            label: label.clone(),
            score,
        })
        .collect();
    scored.sort_by(|a, b| b.score.total_cmp(&a.score));
    if let Some(k) = top_k {
        scored.truncate(k.max(1));
    }
    scored
}

/// Loads the active built-in model, or the one with `version`.
pub async fn load(db: &domain::db::Db, version: Option<&str>) -> anyhow::Result<LoadedModel> {
    domain::training::load_model(db, version).await?.ok_or_else(|| {
        anyhow::anyhow!("no built-in model to serve: run `triage train --activate`, or name one with --model")
    })
}
