//! AWS on loopback for the Batch Transform and S3 mailbox tests.
//!
//! - `Moto`: moto in server mode (`scripts/setup.sh --test` installs the pinned
//!   `moto[server]`), a real S3 and a real SageMaker control plane reached by the real
//!   AWS SDK through its endpoint URL. moto records a transform job and reports it
//!   `Completed` at once; it runs nothing, has no `StopTransformJob`, and cannot fail
//!   a job.
//! - `ControlPlane`: for what moto cannot do, a SageMaker control plane speaking the
//!   same protocol (AWS JSON 1.1, `X-Amz-Target: SageMaker.<Operation>`) for
//!   `CreateTransformJob`, `DescribeTransformJob` and `StopTransformJob`, whose job
//!   states the test sets: in progress, failed with a reason, stopped.
//! - `play_sagemaker`: SageMaker's own part of a transform job, done by the test with
//!   Triage's model server: each input object's lines, sent in mini-batches as JSON
//!   Lines (BatchStrategy MultiRecord, SplitType Line), and the answers written back
//!   as `.out` objects joined to their input's id (JoinSource Input, the output
//!   filter `$['id','SageMakerOutput']`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use domain::aws::{ServiceAddress, parse_s3_uri};
use domain::scoring::AwsCredentials;
use tokio::process::{Child, Command};

pub fn credentials() -> AwsCredentials {
    AwsCredentials::fixed("test", "test")
}

pub struct Moto {
    pub url: String,
    _server: Child,
}

impl Moto {
    pub async fn start() -> Moto {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut server = Command::new("python3")
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("python3 with moto[server]: run `scripts/setup.sh --test`");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = server.try_wait() {
                panic!("moto stopped ({status}): run `scripts/setup.sh --test`");
            }
            assert!(tokio::time::Instant::now() < deadline, "moto did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Moto {
            url: format!("http://127.0.0.1:{port}"),
            _server: server,
        }
    }

    pub fn address(&self) -> ServiceAddress {
        ServiceAddress {
            region: "us-east-1".into(),
            endpoint_url: Some(self.url.clone()),
        }
    }

    pub async fn s3(&self) -> aws_sdk_s3::Client {
        domain::aws::s3(&self.address(), &credentials()).await
    }

    pub async fn bucket(&self, name: &str) -> aws_sdk_s3::Client {
        let s3 = self.s3().await;
        s3.create_bucket().bucket(name).send().await.unwrap();
        s3
    }
}

/// A transform job as the control plane keeps it.
#[derive(Debug, Clone)]
pub struct FakeJob {
    pub request: serde_json::Value,
    pub status: String,
    pub failure_reason: Option<String>,
}

/// A SageMaker control plane whose transform jobs the test drives.
#[derive(Clone)]
pub struct ControlPlane {
    pub url: String,
    pub jobs: Arc<Mutex<HashMap<String, FakeJob>>>,
    /// Every operation called, in order (`CreateTransformJob`, …).
    pub calls: Arc<Mutex<Vec<String>>>,
}

impl ControlPlane {
    pub async fn start() -> ControlPlane {
        let plane = ControlPlane {
            url: String::new(),
            jobs: Arc::default(),
            calls: Arc::default(),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = plane.clone();
        let router = axum::Router::new()
            .route("/", axum::routing::post(answer))
            .with_state(state);
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        ControlPlane { url, ..plane }
    }

    pub fn set(&self, name: &str, status: &str, failure_reason: Option<&str>) {
        let mut jobs = self.jobs.lock().unwrap();
        let job = jobs.get_mut(name).expect("a transform job of that name");
        job.status = status.into();
        job.failure_reason = failure_reason.map(str::to_string);
    }

    pub fn calls(&self, operation: &str) -> usize {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|c| *c == operation)
            .count()
    }
}

fn error(kind: &str, message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        [("content-type", "application/x-amz-json-1.1")],
        serde_json::json!({"__type": kind, "message": message}).to_string(),
    )
        .into_response()
}

fn ok(body: serde_json::Value) -> Response {
    (
        StatusCode::OK,
        [("content-type", "application/x-amz-json-1.1")],
        body.to_string(),
    )
        .into_response()
}

async fn answer(
    axum::extract::State(plane): axum::extract::State<ControlPlane>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let operation = target.trim_start_matches("SageMaker.").to_string();
    plane.calls.lock().unwrap().push(operation.clone());
    let request: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let name = request["TransformJobName"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let arn = format!("arn:aws:sagemaker:us-east-1:123456789012:transform-job/{name}");
    let mut jobs = plane.jobs.lock().unwrap();
    match operation.as_str() {
        "CreateTransformJob" => {
            if jobs.contains_key(&name) {
                return error(
                    "ResourceInUse",
                    &format!("Job with name {name} already exists"),
                );
            }
            jobs.insert(
                name,
                FakeJob {
                    request,
                    status: "InProgress".into(),
                    failure_reason: None,
                },
            );
            ok(serde_json::json!({"TransformJobArn": arn}))
        }
        "DescribeTransformJob" => match jobs.get(&name) {
            None => error(
                "ValidationException",
                &format!("Could not find transform job '{arn}'."),
            ),
            Some(job) => {
                let r = &job.request;
                let mut body = serde_json::json!({
                    "TransformJobName": name,
                    "TransformJobArn": arn,
                    "TransformJobStatus": job.status,
                    "ModelName": r["ModelName"],
                    "TransformInput": r["TransformInput"],
                    "TransformOutput": r["TransformOutput"],
                    "TransformResources": r["TransformResources"],
                    "CreationTime": 1_765_000_000.0,
                });
                if let Some(reason) = &job.failure_reason {
                    body["FailureReason"] = reason.clone().into();
                }
                ok(body)
            }
        },
        "StopTransformJob" => match jobs.get_mut(&name) {
            None => error(
                "ValidationException",
                &format!("Could not find transform job '{arn}'."),
            ),
            Some(job) => {
                job.status = "Stopping".into();
                ok(serde_json::json!({}))
            }
        },
        other => error(
            "UnknownOperationException",
            &format!("{other} is not served here"),
        ),
    }
}

/// SageMaker's part of a transform job: every input object under `input`
/// (`s3://…/`), sent to the model server's `/invocations` in mini-batches of JSON
/// Lines, answered into `output` as `<object>.out`. Returns the lines answered.
pub async fn play_sagemaker(
    s3: &aws_sdk_s3::Client,
    input: &str,
    output: &str,
    model_server: &str,
) -> usize {
    let (bucket, in_prefix) = parse_s3_uri(input).unwrap();
    let (out_bucket, out_prefix) = parse_s3_uri(output).unwrap();
    let listed = s3
        .list_objects_v2()
        .bucket(&bucket)
        .prefix(format!("{in_prefix}/"))
        .send()
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let mut answered = 0;
    for object in listed.contents() {
        let key = object.key().unwrap();
        let text = s3
            .get_object()
            .bucket(&bucket)
            .key(key)
            .send()
            .await
            .unwrap()
            .body
            .collect()
            .await
            .unwrap()
            .into_bytes();
        let lines: Vec<&str> = std::str::from_utf8(&text)
            .unwrap()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect();
        let mut out = String::new();
        for batch in lines.chunks(16) {
            let answer = http
                .post(format!("{model_server}/invocations"))
                .header("content-type", "application/jsonlines")
                .body(batch.join("\n"))
                .send()
                .await
                .unwrap();
            assert!(answer.status().is_success(), "{:?}", answer.text().await);
            let answer = answer.text().await.unwrap();
            let answers: Vec<&str> = answer.lines().filter(|l| !l.is_empty()).collect();
            assert_eq!(answers.len(), batch.len(), "one answer line per input line");
            for (line, answer) in batch.iter().zip(answers) {
                let input: serde_json::Value = serde_json::from_str(line).unwrap();
                let answer: serde_json::Value = serde_json::from_str(answer).unwrap();
                out.push_str(
                    &serde_json::json!({"id": input["id"], "SageMakerOutput": answer}).to_string(),
                );
                out.push('\n');
                answered += 1;
            }
        }
        let name = key.rsplit('/').next().unwrap();
        s3.put_object()
            .bucket(&out_bucket)
            .key(format!("{out_prefix}/{name}.out"))
            .body(ByteStream::from(out.into_bytes()))
            .send()
            .await
            .unwrap();
    }
    answered
}
