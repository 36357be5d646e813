//! `triage model-server`: the built-in model behind the SageMaker container contract
//! (`GET /ping`, `POST /invocations`, port 8080), with the Hugging Face text
//! classification payloads of PRODUCT.md, so the built-in model can be deployed to
//! SageMaker as it is and Triage's endpoint client can be tested against a real server.
//!
//! Request: `{"inputs": "text" | ["text", …], "parameters": {"top_k": null | N}}`.
//! Response: for a list, one list per input of `{"label", "score"}`, best first; for
//! a single string, that one list. An email is sent as its subject, a blank line, and
//! its body; the server splits it there again (a text without a blank line is all body).
//!
//! It also answers the SageMaker runtime's own path, `POST /endpoints/{name}/invocations`,
//! the way the runtime does (a container error becomes `424 ModelError` with the
//! original status and message), so the AWS SDK can point its `endpoint_url` straight
//! at it. Drills (`Faults`) make it slow or throttle, to rehearse both on loopback.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
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

/// Misbehaviour on purpose, for drills and tests of clients: every answer after
/// `latency`, and every `throttle_every`-th runtime request refused as throttled.
#[derive(Debug, Clone, Copy, Default)]
pub struct Faults {
    pub latency: Duration,
    pub throttle_every: u64,
}

struct Served {
    model: Arc<LoadedModel>,
    faults: Faults,
    requests: AtomicU64,
}

pub fn router(model: Arc<LoadedModel>, faults: Faults) -> Router {
    let served = Arc::new(Served {
        model,
        faults,
        requests: AtomicU64::new(0),
    });
    Router::new()
        .route("/ping", get(|| async { StatusCode::OK }))
        .route("/invocations", post(container_invocations))
        .route("/endpoints/{name}/invocations", post(runtime_invocations))
        .with_state(served)
}

/// The container contract: errors are the container's own (400/415 with a message).
async fn container_invocations(
    State(served): State<Arc<Served>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    answer_after(served.faults.latency, || {
        match invoke(&served.model.model, &headers, &body) {
            Ok(answer) => answer,
            Err((status, message)) => {
                (status, Json(serde_json::json!({"error": message}))).into_response()
            }
        }
    })
    .await
}

/// The runtime contract: what `InvokeEndpoint` answers, errors included.
async fn runtime_invocations(
    State(served): State<Arc<Served>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let n = served.requests.fetch_add(1, Ordering::Relaxed) + 1;
    answer_after(served.faults.latency, || {
        if served.faults.throttle_every > 0 && n % served.faults.throttle_every == 0 {
            runtime_error(
                StatusCode::BAD_REQUEST,
                "ThrottlingException",
                serde_json::json!({"message": "Rate exceeded"}),
            )
        } else {
            runtime_answer(&served.model.model, &headers, &body)
        }
    })
    .await
}

/// The model's answer, or its error as `InvokeEndpoint` reports a container's error.
fn runtime_answer(model: &Classifier, headers: &HeaderMap, body: &[u8]) -> Response {
    match invoke(model, headers, body) {
        Ok(answer) => answer,
        Err((status, message)) => runtime_error(
            StatusCode::FAILED_DEPENDENCY,
            "ModelError",
            serde_json::json!({
                "Message": format!("Received client error ({}) from primary with message \"{message}\"", status.as_u16()),
                "OriginalStatusCode": status.as_u16(),
                "OriginalMessage": message,
            }),
        ),
    }
}

/// Works out the answer and gives it `latency` after the request arrived: the
/// model's work happens inside that time, as it does in a real endpoint's latency,
/// so an endpoint of 20 ms answers after 20 ms whatever the model costs. Tokio's
/// timer counts whole milliseconds and rounds up (its 20 ms took up to 21 ms); a
/// blocking thread's sleep does not round, and a test fixture can afford one thread
/// per request in flight.
async fn answer_after(latency: Duration, answer: impl FnOnce() -> Response) -> Response {
    let answer_at = Instant::now() + latency;
    let answer = answer();
    let left = answer_at.saturating_duration_since(Instant::now());
    if !left.is_zero() {
        let _ = tokio::task::spawn_blocking(move || std::thread::sleep(left)).await;
    }
    answer
}

fn runtime_error(status: StatusCode, kind: &'static str, body: serde_json::Value) -> Response {
    (status, [("x-amzn-errortype", kind)], Json(body)).into_response()
}

/// Classifies an invocation, or says why the request is wrong.
fn invoke(
    model: &Classifier,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, (StatusCode, String)> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json");
    if !content_type.starts_with("application/json") {
        return Err((
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("content type {content_type} is not supported; send application/json"),
        ));
    }
    let invocation: Invocation = serde_json::from_slice(body).map_err(|e| {
        (
            StatusCode::BAD_REQUEST,
            format!(
                "expected {{\"inputs\": text or [texts], \"parameters\": {{\"top_k\": null}}}}: {e}"
            ),
        )
    })?;
    let top_k = invocation.parameters.top_k;
    let classify = |text: &str| classify(model, text, top_k);
    Ok(match invocation.inputs {
        Inputs::One(text) => Json(classify(&text)).into_response(),
        Inputs::Many(texts) => {
            Json(texts.iter().map(|t| classify(t)).collect::<Vec<_>>()).into_response()
        }
    })
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
