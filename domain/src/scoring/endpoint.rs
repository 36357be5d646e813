//! The SageMaker endpoint client: `InvokeEndpoint` through `aws-sdk-sagemakerruntime`
//! with the Hugging Face text-classification payloads of PRODUCT.md.
//!
//! Request `{"inputs": [text, …], "parameters": {"top_k": null}}`; response one list
//! of `{"label", "score"}` per input. Each email goes as its subject, a blank line and
//! its body. Labels map to Triage categories by name, or through the configured
//! mapping; a label that maps to no category is an error naming it, never a guess.
//!
//! Triage does its own retries (the SDK's are off): throttling, 5xx, timeouts and
//! dropped connections are retried with full-jitter exponential backoff; a model
//! error (the container answered 4xx/5xx) or a validation error is reported at once
//! with the endpoint's message. Requests are split so none exceeds the payload limit.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use aws_sdk_sagemakerruntime::Client;
use aws_sdk_sagemakerruntime::config::retry::RetryConfig;
use aws_sdk_sagemakerruntime::config::timeout::TimeoutConfig;
use aws_sdk_sagemakerruntime::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_sagemakerruntime::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sagemakerruntime::operation::invoke_endpoint::InvokeEndpointError;
use aws_sdk_sagemakerruntime::primitives::Blob;
use rand::Rng;
use serde::{Deserialize, Serialize};

use super::{EmailText, ScoreError, Scored, ranked};
use crate::categories::normalize_name;
use crate::error::{DomainError, DomainResult};

/// How to reach an endpoint; stored as the `config` of an endpoint model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EndpointConfig {
    pub endpoint_name: String,
    /// Empty: the region of the standard AWS chain (`AWS_REGION`, the profile).
    pub region: String,
    /// A compatible server instead of AWS (e.g. `triage model-server` on loopback).
    pub endpoint_url: Option<String>,
    pub content_type: String,
    /// Per attempt.
    pub timeout_ms: u64,
    /// Tries per request, the first included.
    pub max_attempts: u32,
    /// No request body is larger (SageMaker's own limit is 6 MB).
    pub max_payload_bytes: usize,
    /// Emails per request.
    pub batch_size: usize,
    /// Endpoint label → Triage category name, for labels that are not already a
    /// category's name (e.g. `LABEL_3` → `complaint`).
    pub label_map: BTreeMap<String, String>,
}

impl Default for EndpointConfig {
    fn default() -> Self {
        EndpointConfig {
            endpoint_name: String::new(),
            region: String::new(),
            endpoint_url: None,
            content_type: "application/json".to_string(),
            timeout_ms: 10_000,
            max_attempts: 4,
            max_payload_bytes: 6 * 1024 * 1024,
            batch_size: 32,
            label_map: BTreeMap::new(),
        }
    }
}

impl EndpointConfig {
    /// Checks every field, naming the first that is wrong.
    pub fn validate(&self) -> DomainResult<()> {
        check_address(
            &self.endpoint_name,
            &self.region,
            self.endpoint_url.as_deref(),
        )?;
        if self.content_type.trim().is_empty() {
            return Err(DomainError::invalid(
                "content_type",
                "a content type is required",
            ));
        }
        if !(100..=600_000).contains(&self.timeout_ms) {
            return Err(DomainError::invalid(
                "timeout_ms",
                "the timeout is between 100 ms and 10 minutes",
            ));
        }
        if !(1..=10).contains(&self.max_attempts) {
            return Err(DomainError::invalid(
                "max_attempts",
                "between 1 and 10 attempts",
            ));
        }
        if !(1024..=100 * 1024 * 1024).contains(&self.max_payload_bytes) {
            return Err(DomainError::invalid(
                "max_payload_bytes",
                "the payload limit is between 1 KB and 100 MB",
            ));
        }
        if !(1..=1000).contains(&self.batch_size) {
            return Err(DomainError::invalid(
                "batch_size",
                "between 1 and 1000 emails",
            ));
        }
        for category in self.label_map.values() {
            normalize_name(category).map_err(|_| {
                DomainError::invalid("label_map", format!("{category:?} is not a category name"))
            })?;
        }
        Ok(())
    }

    /// Reads a mapping written `LABEL_0=feedback, LABEL_1=complaint`.
    pub fn parse_label_map(text: &str) -> DomainResult<BTreeMap<String, String>> {
        let mut map = BTreeMap::new();
        for pair in text
            .split([',', '\n'])
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            let Some((label, category)) = pair.split_once('=') else {
                return Err(DomainError::invalid(
                    "label_map",
                    format!("{pair:?} is not label=category"),
                ));
            };
            map.insert(label.trim().to_string(), category.trim().to_string());
        }
        Ok(map)
    }
}

/// Checks where an endpoint is: its name (`endpoint_name`), `region` and
/// `endpoint_url`, naming the first that is wrong.
pub(crate) fn check_address(
    name: &str,
    region: &str,
    endpoint_url: Option<&str>,
) -> DomainResult<()> {
    let name_ok = !name.is_empty()
        && name.len() <= 63
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if !name_ok {
        return Err(DomainError::invalid(
            "endpoint_name",
            "an endpoint name is 1 to 63 letters, digits and inner hyphens",
        ));
    }
    if !region.is_empty()
        && !region
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Err(DomainError::invalid(
            "region",
            format!("{region:?} is not an AWS region"),
        ));
    }
    if let Some(url) = endpoint_url
        && !(url.starts_with("http://") || url.starts_with("https://"))
    {
        return Err(DomainError::invalid(
            "endpoint_url",
            "the endpoint URL starts with http:// or https://",
        ));
    }
    Ok(())
}

/// Where the client's AWS credentials come from.
#[derive(Debug, Clone, Default)]
pub enum AwsCredentials {
    /// The standard provider chain: environment, shared profile, SSO, web identity,
    /// container and instance roles.
    #[default]
    StandardChain,
    /// Fixed keys: a compatible server that checks no signature (tests, local runs).
    Fixed(Credentials),
}

impl AwsCredentials {
    pub fn fixed(access_key_id: &str, secret_access_key: &str) -> AwsCredentials {
        AwsCredentials::Fixed(Credentials::new(
            access_key_id,
            secret_access_key,
            None,
            None,
            "triage-fixed",
        ))
    }
}

/// A connected endpoint client for one endpoint model.
pub struct EndpointScorer {
    pub model_id: i64,
    pub version: String,
    pub config: EndpointConfig,
    /// Triage's categories, by name, with their ids.
    pub category_ids: HashMap<String, i64>,
    client: Client,
}

impl EndpointScorer {
    pub async fn connect(
        model_id: i64,
        version: String,
        config: EndpointConfig,
        category_ids: HashMap<String, i64>,
        credentials: &AwsCredentials,
    ) -> EndpointScorer {
        let client = runtime_client(
            &config.region,
            config.endpoint_url.as_deref(),
            config.timeout_ms,
            credentials,
        )
        .await;
        EndpointScorer {
            model_id,
            version,
            config,
            category_ids,
            client,
        }
    }

    /// The same endpoint and connections, with a batch job's request limits.
    pub fn with_limits(&self, batch_size: usize, max_payload_bytes: usize) -> EndpointScorer {
        EndpointScorer {
            model_id: self.model_id,
            version: self.version.clone(),
            config: EndpointConfig {
                batch_size,
                max_payload_bytes,
                ..self.config.clone()
            },
            category_ids: self.category_ids.clone(),
            client: self.client.clone(),
        }
    }

    /// Scores `emails`, in requests of at most `batch_size` emails and
    /// `max_payload_bytes` bytes, one after another.
    pub async fn score(&self, emails: &[EmailText]) -> Result<Vec<Scored>, ScoreError> {
        let mut scored = Vec::with_capacity(emails.len());
        for batch in emails.chunks(self.config.batch_size.max(1)) {
            let texts: Vec<String> = batch.iter().map(|e| self.text_of(e)).collect();
            for request in payloads(&texts, self.config.max_payload_bytes) {
                let started = Instant::now();
                let answer = self.invoke(request.body).await?;
                let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
                let lists = parse_answer(&answer, request.count)?;
                for list in lists {
                    scored.push(self.to_categories(list, latency_ms)?);
                }
            }
        }
        Ok(scored)
    }

    /// Subject, blank line, body; cut so that one email alone fits in a request
    /// (classifiers read only the first few hundred words anyway).
    fn text_of(&self, email: &EmailText) -> String {
        let mut text = format!("{}\n\n{}", email.subject, email.body);
        // JSON escaping can grow a text; leave room for it and the envelope.
        let room = self.config.max_payload_bytes.saturating_sub(256) / 2;
        if text.len() > room {
            let mut cut = room;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
        }
        text
    }

    /// One request, retried on throttling, 5xx, timeouts and dropped connections.
    async fn invoke(&self, body: Vec<u8>) -> Result<Vec<u8>, ScoreError> {
        let call = Invocation {
            endpoint_name: &self.config.endpoint_name,
            content_type: &self.config.content_type,
            timeout_ms: self.config.timeout_ms,
            max_attempts: self.config.max_attempts,
            retry_timeouts: true,
            metrics: CLASSIFIER_METRICS,
        };
        invoke(&self.client, &call, body).await
    }

    /// One answer as the endpoint wrote it (a list of `{"label", "score"}`, or one
    /// such object), e.g. a line of a Batch Transform's output.
    pub fn read_answer(&self, answer: &serde_json::Value) -> Result<Scored, ScoreError> {
        read_labels(answer, &self.config.label_map, &self.category_ids)
    }

    /// Turns an endpoint's labels into Triage categories; see [`to_categories`].
    fn to_categories(
        &self,
        labels: Vec<LabelScore>,
        latency_ms: f64,
    ) -> Result<Scored, ScoreError> {
        to_categories(
            labels,
            &self.config.label_map,
            &self.category_ids,
            latency_ms,
        )
    }
}

/// One answer in the Hugging Face shape (a list of `{"label", "score"}`, or one such
/// object) as Triage categories, its labels renamed by `label_map`.
pub(crate) fn read_labels(
    answer: &serde_json::Value,
    label_map: &BTreeMap<String, String>,
    category_ids: &HashMap<String, i64>,
) -> Result<Scored, ScoreError> {
    let labels: Vec<LabelScore> = match answer {
        serde_json::Value::Array(_) => serde_json::from_value(answer.clone()),
        _ => serde_json::from_value(answer.clone()).map(|one| vec![one]),
    }
    .map_err(|e| ScoreError::BadResponse(e.to_string()))?;
    to_categories(labels, label_map, category_ids, 0.0)
}

/// Turns an endpoint's labels into Triage categories, summing labels that map to
/// the same category and normalising the scores to add up to 1.
fn to_categories(
    labels: Vec<LabelScore>,
    label_map: &BTreeMap<String, String>,
    category_ids: &HashMap<String, i64>,
    latency_ms: f64,
) -> Result<Scored, ScoreError> {
    let mut by_category: BTreeMap<String, f64> = BTreeMap::new();
    for LabelScore { label, score } in labels {
        let mapped = label_map.get(&label).unwrap_or(&label);
        let category = normalize_name(mapped)
            .ok()
            .filter(|c| category_ids.contains_key(c))
            .ok_or_else(|| ScoreError::UnknownLabel {
                label: label.clone(),
            })?;
        if !score.is_finite() || score < 0.0 {
            return Err(ScoreError::BadResponse(format!(
                "the score of {label:?} is {score}"
            )));
        }
        *by_category.entry(category).or_default() += score;
    }
    let total: f64 = by_category.values().sum();
    if by_category.is_empty() || total <= 0.0 {
        return Err(ScoreError::BadResponse(
            "an input was answered with no labels".into(),
        ));
    }
    Ok(ranked(
        by_category
            .into_iter()
            .map(|(c, p)| (c, p / total))
            .collect(),
        latency_ms,
    ))
}

/// A SageMaker runtime client for one endpoint: credentials from `credentials`, the
/// region given (empty: the chain's), `endpoint_url` instead of AWS when set, the
/// SDK's own retries off (the callers retry as they see fit) and `timeout_ms` per
/// attempt. The classifier and the reply generator both connect through here.
pub(crate) async fn runtime_client(
    region: &str,
    endpoint_url: Option<&str>,
    timeout_ms: u64,
    credentials: &AwsCredentials,
) -> Client {
    let mut builder = match credentials {
        AwsCredentials::StandardChain => {
            let mut loader = aws_config::defaults(BehaviorVersion::latest());
            if !region.is_empty() {
                loader = loader.region(Region::new(region.to_string()));
            }
            aws_sdk_sagemakerruntime::config::Builder::from(&loader.load().await)
        }
        AwsCredentials::Fixed(keys) => aws_sdk_sagemakerruntime::config::Builder::new()
            .behavior_version(BehaviorVersion::latest())
            .credentials_provider(keys.clone())
            .region(Region::new(if region.is_empty() {
                "us-east-1".to_string()
            } else {
                region.to_string()
            })),
    };
    builder = builder
        .retry_config(RetryConfig::disabled())
        .timeout_config(
            TimeoutConfig::builder()
                .operation_attempt_timeout(Duration::from_millis(timeout_ms))
                .build(),
        );
    if let Some(url) = endpoint_url {
        builder = builder.endpoint_url(url);
    }
    Client::from_conf(builder.build())
}

/// The names an endpoint's requests are counted under in `/metrics`: their latency,
/// and their failures by kind.
#[derive(Clone, Copy)]
pub(crate) struct EndpointMetrics {
    pub duration: &'static str,
    pub errors: &'static str,
}

const CLASSIFIER_METRICS: EndpointMetrics = EndpointMetrics {
    duration: "triage_endpoint_request_duration_seconds",
    errors: "triage_endpoint_errors_total",
};

/// One `InvokeEndpoint` call and how hard to try.
pub(crate) struct Invocation<'a> {
    pub endpoint_name: &'a str,
    pub content_type: &'a str,
    /// Per attempt (the client's own timeout; used here to say it).
    pub timeout_ms: u64,
    pub max_attempts: u32,
    /// Whether a timed-out attempt is tried again (a batch can wait; a person
    /// waiting for a draft should hear about the timeout at once).
    pub retry_timeouts: bool,
    pub metrics: EndpointMetrics,
}

/// Sends `body`, retrying throttling, 5xx and dropped connections (and timeouts when
/// asked) with backoff; a model error or a refused request is final at once.
pub(crate) async fn invoke(
    client: &Client,
    call: &Invocation<'_>,
    body: Vec<u8>,
) -> Result<Vec<u8>, ScoreError> {
    let attempts = call.max_attempts.max(1);
    let mut last = ScoreError::Unavailable {
        attempts: 0,
        message: "not tried".into(),
    };
    for attempt in 1..=attempts {
        let started = Instant::now();
        let result = client
            .invoke_endpoint()
            .endpoint_name(call.endpoint_name)
            .content_type(call.content_type)
            .accept("application/json")
            .body(Blob::new(body.clone()))
            .send()
            .await;
        metrics::histogram!(call.metrics.duration).record(started.elapsed().as_secs_f64());
        match result {
            Ok(output) => {
                return Ok(output.body.map(Blob::into_inner).unwrap_or_default());
            }
            Err(err) => {
                let failure = match classify(err, attempt, call.timeout_ms) {
                    Failure::Retry(e @ ScoreError::Timeout { .. }) if !call.retry_timeouts => {
                        Failure::Final(e)
                    }
                    other => other,
                };
                let (Failure::Retry(e) | Failure::Final(e)) = &failure;
                metrics::counter!(call.metrics.errors, "kind" => e.kind()).increment(1);
                match failure {
                    Failure::Retry(e) => last = e,
                    Failure::Final(e) => return Err(e),
                }
            }
        }
        if attempt < attempts {
            tokio::time::sleep(backoff(attempt)).await;
        }
    }
    Err(last)
}

enum Failure {
    Retry(ScoreError),
    Final(ScoreError),
}

fn classify(
    err: SdkError<InvokeEndpointError, aws_sdk_sagemakerruntime::config::http::HttpResponse>,
    attempts: u32,
    timeout_ms: u64,
) -> Failure {
    let unavailable = |message: String| ScoreError::Unavailable { attempts, message };
    match err {
        SdkError::TimeoutError(_) => Failure::Retry(ScoreError::Timeout {
            timeout_ms,
            attempts,
        }),
        SdkError::DispatchFailure(d) => {
            if d.is_timeout() {
                Failure::Retry(ScoreError::Timeout {
                    timeout_ms,
                    attempts,
                })
            } else if d.is_io() {
                Failure::Retry(unavailable(format!("{d:?}")))
            } else {
                Failure::Final(unavailable(format!("{d:?}")))
            }
        }
        SdkError::ServiceError(service) => {
            let status = service.raw().status().as_u16();
            let err = service.into_err();
            let message = err.message().unwrap_or_default().to_string();
            match err {
                InvokeEndpointError::ModelError(m) => Failure::Final(ScoreError::Model {
                    status: m.original_status_code(),
                    message: m
                        .original_message()
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .unwrap_or(message),
                }),
                InvokeEndpointError::ValidationError(_) => {
                    Failure::Final(ScoreError::Rejected(message))
                }
                InvokeEndpointError::ServiceUnavailable(_)
                | InvokeEndpointError::InternalFailure(_)
                | InvokeEndpointError::InternalDependencyException(_)
                | InvokeEndpointError::ModelNotReadyException(_) => {
                    Failure::Retry(unavailable(message))
                }
                other => {
                    let code = other.code().unwrap_or_default();
                    if code.contains("Throttl") || status == 429 {
                        Failure::Retry(ScoreError::Throttled { attempts })
                    } else if status >= 500 {
                        Failure::Retry(unavailable(format!("{status} {code} {message}")))
                    } else {
                        Failure::Final(ScoreError::Rejected(format!("{status} {code} {message}")))
                    }
                }
            }
        }
        SdkError::ResponseError(r) => Failure::Retry(unavailable(format!("{r:?}"))),
        other => Failure::Final(unavailable(other.to_string())),
    }
}

/// Full jitter: a random wait up to 100 ms × 2^attempt, at most 5 s, so clients that
/// were throttled together do not come back together.
fn backoff(attempt: u32) -> Duration {
    let ceiling_ms = (100u64 << attempt.min(16)).min(5_000);
    Duration::from_millis(rand::thread_rng().gen_range(ceiling_ms / 4..=ceiling_ms))
}

/// One request body and how many emails it carries.
struct Payload {
    body: Vec<u8>,
    count: usize,
}

/// Splits `texts` into as few request bodies as fit in `max_bytes` each, in order.
fn payloads(texts: &[String], max_bytes: usize) -> Vec<Payload> {
    let body_of = |texts: &[String]| {
        serde_json::to_vec(&serde_json::json!({
            "inputs": texts,
            "parameters": {"top_k": null},
        }))
        .unwrap_or_default()
    };
    let body = body_of(texts);
    if body.len() <= max_bytes || texts.len() <= 1 {
        return vec![Payload {
            body,
            count: texts.len(),
        }];
    }
    let (left, right) = texts.split_at(texts.len() / 2);
    let mut out = payloads(left, max_bytes);
    out.extend(payloads(right, max_bytes));
    out
}

#[derive(Debug, Deserialize)]
struct LabelScore {
    label: String,
    score: f64,
}

/// One list of labels per input. Some servers answer a one-label-per-input request
/// with a flat list; that is accepted too when its length matches.
fn parse_answer(body: &[u8], inputs: usize) -> Result<Vec<Vec<LabelScore>>, ScoreError> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Answer {
        PerInput(Vec<Vec<LabelScore>>),
        Flat(Vec<LabelScore>),
    }
    let answer: Answer = serde_json::from_slice(body).map_err(|e| {
        let start = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
        ScoreError::BadResponse(format!("{e} in {start:?}"))
    })?;
    let lists = match answer {
        Answer::PerInput(lists) => lists,
        Answer::Flat(flat) => flat.into_iter().map(|one| vec![one]).collect(),
    };
    if lists.len() != inputs {
        return Err(ScoreError::BadResponse(format!(
            "{} answers for {inputs} inputs",
            lists.len()
        )));
    }
    Ok(lists)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_split_to_stay_under_the_payload_limit() {
        let texts: Vec<String> = (0..10).map(|i| format!("{i}{}", "x".repeat(300))).collect();
        let parts = payloads(&texts, 1000);
        assert!(parts.len() >= 4, "{}", parts.len());
        assert!(parts.iter().all(|p| p.body.len() <= 1000));
        assert_eq!(parts.iter().map(|p| p.count).sum::<usize>(), 10);
        // Order is kept: the first text of the first request is the first email.
        let first: serde_json::Value = serde_json::from_slice(&parts[0].body).unwrap();
        assert!(first["inputs"][0].as_str().unwrap().starts_with('0'));
    }

    #[test]
    fn answers_per_input_and_flat_answers_are_read() {
        let nested = br#"[[{"label":"a","score":0.9},{"label":"b","score":0.1}],[{"label":"b","score":1.0}]]"#;
        assert_eq!(parse_answer(nested, 2).unwrap().len(), 2);
        let flat = br#"[{"label":"a","score":0.9},{"label":"b","score":0.8}]"#;
        assert_eq!(parse_answer(flat, 2).unwrap()[1][0].label, "b");
        let err = parse_answer(nested, 3).unwrap_err();
        assert!(err.to_string().contains("2 answers for 3 inputs"), "{err}");
        assert!(matches!(
            parse_answer(b"<html>", 1),
            Err(ScoreError::BadResponse(_))
        ));
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert!(backoff(1) <= Duration::from_millis(200));
        assert!(backoff(1) >= Duration::from_millis(50));
        assert!(backoff(12) <= Duration::from_secs(5));
    }

    #[test]
    fn configuration_errors_name_the_field() {
        let mut config = EndpointConfig {
            endpoint_name: "bert-triage".into(),
            ..EndpointConfig::default()
        };
        assert!(config.validate().is_ok());
        config.endpoint_name = "-bad name".into();
        assert!(
            config
                .validate()
                .unwrap_err()
                .to_string()
                .starts_with("endpoint_name")
        );
        config.endpoint_name = "ok".into();
        config.endpoint_url = Some("localhost:8080".into());
        assert!(
            config
                .validate()
                .unwrap_err()
                .to_string()
                .starts_with("endpoint_url")
        );
        let map = EndpointConfig::parse_label_map("LABEL_0=feedback, LABEL_1 = complaint").unwrap();
        assert_eq!(map["LABEL_1"], "complaint");
        assert!(EndpointConfig::parse_label_map("LABEL_0").is_err());
    }
}
