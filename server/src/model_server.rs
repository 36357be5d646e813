//! `triage model-server`: the built-in model behind the SageMaker container contract
//! (`GET /ping`, `POST /invocations`, port 8080), with the Hugging Face text
//! classification payloads of PRODUCT.md, so the built-in model can be deployed to
//! SageMaker as it is and Triage's endpoint client can be tested against a real server.
//!
//! Request: `{"inputs": "text" | ["text", …], "parameters": {"top_k": null | N}}`.
//! Response: for a list, one list per input of `{"label", "score"}`, best first; for
//! a single string, that one list. An email is sent as its subject, a blank line, and
//! its body; the server splits it there again (a text without a blank line is all body).
//! A JSON Lines body (`application/jsonlines`, as Batch Transform sends a mini-batch)
//! holds one such request a line and gets one answer a line.
//!
//! Text generation (the Hugging Face TGI/LMI contract) on the same routes: a request
//! whose `parameters` hold `max_new_tokens`, or sent with the custom attribute
//! `task=generate` (`X-Amzn-SageMaker-Custom-Attributes`), is a prompt to draft a
//! reply for: `{"inputs": "prompt", "parameters": {"max_new_tokens": N}}` →
//! `[{"generated_text", "details": {"source": "retrieval", "similar_to", "similarity"}}]`.
//! There is no language model here: the draft is the past reply to the email most
//! like the prompt's (`domain::model::reply_index`), given whole, since a cut reply
//! would be a worse draft than a long one (`max_new_tokens` only marks the request).
//!
//! It also answers the SageMaker runtime's own path, `POST /endpoints/{name}/invocations`,
//! the way the runtime does (a container error becomes `424 ModelError` with the
//! original status and message), so the AWS SDK can point its `endpoint_url` straight
//! at it. Drills (`Faults`) make it slow or throttle, to rehearse both on loopback.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use domain::model::classifier::Classifier;
use domain::model::features::vectorize;
use domain::model::reply_index::{DraftPrompt, ReplyIndex};
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
    /// Present only in text-generation requests.
    max_new_tokens: Option<u64>,
}

#[derive(Serialize, Debug, PartialEq)]
pub struct LabelScore {
    pub label: String,
    pub score: f32,
}

/// One draft, in the shape of a Hugging Face text-generation answer.
#[derive(Serialize, Debug, PartialEq)]
pub struct Generated {
    pub generated_text: String,
    pub details: GenerationDetails,
}

/// Where a draft came from: always a past reply here.
#[derive(Serialize, Debug, PartialEq)]
pub struct GenerationDetails {
    pub source: &'static str,
    /// The subject of the past email whose reply this is.
    pub similar_to: String,
    pub similarity: f32,
}

/// The header SageMaker's `InvokeEndpoint` passes `CustomAttributes` in.
const CUSTOM_ATTRIBUTES: &str = "x-amzn-sagemaker-custom-attributes";

/// Misbehaviour on purpose, for drills and tests of clients: every answer after
/// `latency`, and every `throttle_every`-th runtime request refused as throttled.
#[derive(Debug, Clone, Copy, Default)]
pub struct Faults {
    pub latency: Duration,
    pub throttle_every: u64,
}

struct Served {
    model: Arc<Classifier>,
    replies: Arc<ReplyIndex>,
    faults: Faults,
    requests: AtomicU64,
}

/// The routes, serving `model` for classification and drafting from `replies`.
pub fn router(model: Arc<Classifier>, replies: Arc<ReplyIndex>, faults: Faults) -> Router {
    let served = Arc::new(Served {
        model,
        replies,
        faults,
        requests: AtomicU64::new(0),
    });
    Router::new()
        .route("/ping", get(|| async { StatusCode::OK }))
        .route("/invocations", post(container_invocations))
        .route("/endpoints/{name}/invocations", post(runtime_invocations))
        // Batch Transform sends up to MaxPayloadInMB, whose ceiling is 100 MB (axum's
        // default limit is 2 MB).
        .layer(DefaultBodyLimit::max(100 * 1024 * 1024))
        .with_state(served)
}

/// The container contract: errors are the container's own (400/415/424 with a message).
async fn container_invocations(
    State(served): State<Arc<Served>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    answer_after(served.faults.latency, || {
        match invoke(&served, &headers, &body) {
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
            runtime_answer(&served, &headers, &body)
        }
    })
    .await
}

/// The model's answer, or its error as `InvokeEndpoint` reports a container's error.
fn runtime_answer(served: &Served, headers: &HeaderMap, body: &[u8]) -> Response {
    match invoke(served, headers, body) {
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

/// What a request that cannot be answered gets: its status and why.
type Refusal = (StatusCode, String);

/// Answers an invocation: JSON, or JSON Lines (one invocation a line, one answer a
/// line, as Batch Transform sends a mini-batch with `SplitType=Line` and
/// `BatchStrategy=MultiRecord`), or says why the request is wrong.
fn invoke(served: &Served, headers: &HeaderMap, body: &[u8]) -> Result<Response, Refusal> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json");
    let generate = asks_to_generate(headers);
    if is_json_lines(content_type) {
        let mut out = Vec::with_capacity(body.len() / 4);
        let lines = body.split(|b| *b == b'\n');
        for (n, line) in lines
            .enumerate()
            .filter(|(_, l)| !l.trim_ascii().is_empty())
        {
            let answer = answer(served, line, generate)
                .map_err(|(status, why)| (status, format!("line {}: {why}", n + 1)))?;
            out.extend_from_slice(&answer);
            out.push(b'\n');
        }
        return Ok(([(header::CONTENT_TYPE, "application/jsonlines")], out).into_response());
    }
    if !content_type.starts_with("application/json") {
        return Err((
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "content type {content_type} is not supported; send application/json or \
                 application/jsonlines"
            ),
        ));
    }
    let answer = answer(served, body, generate)?;
    Ok(([(header::CONTENT_TYPE, "application/json")], answer).into_response())
}

fn is_json_lines(content_type: &str) -> bool {
    [
        "application/jsonlines",
        "application/x-jsonlines",
        "application/jsonl",
    ]
    .iter()
    .any(|t| content_type.starts_with(t))
}

/// One invocation's answer as JSON: labels, or drafts when it is a generation
/// request (`max_new_tokens`, or `generate` from the custom attributes).
fn answer(served: &Served, json: &[u8], generate: bool) -> Result<Vec<u8>, Refusal> {
    let invocation: Invocation = serde_json::from_slice(json).map_err(|e| {
        (
            StatusCode::BAD_REQUEST,
            format!(
                "expected {{\"inputs\": text or [texts], \"parameters\": {{\"top_k\": null}}}}, \
                 or {{\"inputs\": prompt, \"parameters\": {{\"max_new_tokens\": N}}}}: {e}"
            ),
        )
    })?;
    let written = if generate || invocation.parameters.max_new_tokens.is_some() {
        let replies = &served.replies;
        if replies.is_empty() {
            // The draft depends on past replies this model was given none of.
            return Err((
                StatusCode::FAILED_DEPENDENCY,
                "there are no past replies to draft from: this model server drafts by \
                 retrieval from the replies staff sent; export a model from a Triage with \
                 replies (triage model export), or send some replies first"
                    .into(),
            ));
        }
        // `[{generated_text, details}]` for a prompt, one such list per prompt for many.
        let drafts = |prompt: &str| draft(replies, prompt).into_iter().collect::<Vec<_>>();
        match invocation.inputs {
            Inputs::One(prompt) => serde_json::to_vec(&drafts(&prompt)),
            Inputs::Many(prompts) => {
                serde_json::to_vec(&prompts.iter().map(|p| drafts(p)).collect::<Vec<_>>())
            }
        }
    } else {
        let top_k = invocation.parameters.top_k;
        let classify = |text: &str| classify(&served.model, text, top_k);
        match invocation.inputs {
            Inputs::One(text) => serde_json::to_vec(&classify(&text)),
            Inputs::Many(texts) => {
                serde_json::to_vec(&texts.iter().map(|t| classify(t)).collect::<Vec<_>>())
            }
        }
    };
    written.map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
}

/// Whether the caller's custom attributes say `task=generate` (SageMaker passes them
/// through as one opaque string; pairs are separated by commas or semicolons here).
fn asks_to_generate(headers: &HeaderMap) -> bool {
    headers
        .get(CUSTOM_ATTRIBUTES)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split([',', ';'])
                .any(|pair| pair.trim().eq_ignore_ascii_case("task=generate"))
        })
}

/// The reply to the past email most like the prompt's (`None` with no replies).
pub fn draft(replies: &ReplyIndex, prompt: &str) -> Option<Generated> {
    let found = replies.draft(&DraftPrompt::parse(prompt))?;
    Some(Generated {
        generated_text: found.reply.to_string(),
        details: GenerationDetails {
            source: "retrieval",
            similar_to: found.similar_to.to_string(),
            similarity: found.similarity,
        },
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
