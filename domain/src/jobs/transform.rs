//! Batch Transform jobs run by Triage, the pattern Triage grew from: the job's emails
//! are written to S3 as JSON Lines, SageMaker's `CreateTransformJob` scores them with
//! a SageMaker model, Triage follows the job with `DescribeTransformJob`, and reads
//! the `.out` objects back into predictions through the same path as every other
//! answer (history, auto-accept, analytics).
//!
//! A transform job moves through stages kept on its row (`transform_stage`):
//! `export` → `submit` → `follow` → `import` → `done`, or `stop` after a cancel.
//! Every stage can be repeated safely, so a worker that dies mid-stage is simply
//! replaced: the export rewrites the same objects, the SageMaker job's name is fixed
//! before it is created (a second create finds it), and each `.out` object's
//! predictions are stored in one transaction with its row in `transform_outputs`.
//! A worker claims a step by pushing `next_step_at` one lease ahead; a step that takes
//! longer pushes it again as it goes.

use std::collections::HashSet;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_sagemaker::error::ProvideErrorMetadata;
use aws_sdk_sagemaker::types::{
    AssemblyType, BatchStrategy, DataProcessing, JoinSource, S3DataType, SplitType,
    TransformDataSource, TransformInput, TransformInstanceType, TransformJobStatus,
    TransformOutput, TransformResources, TransformS3DataSource,
};
use futures::StreamExt;
use futures::stream::FuturesOrdered;
use tokio::sync::OnceCell;
use tokio_util::task::AbortOnDropHandle;

use crate::aws::{self, ServiceAddress, describe, parse_s3_uri};
use crate::db::Db;
use crate::error::{DomainError, DomainResult};
use crate::scoring::store::{Replace, store_answers};
use crate::scoring::{AwsCredentials, Scored, Scorer, active};
use crate::sql::id_list;
use crate::time::now_ms;
pub use crate::wire::TransformRun;
use crate::wire::{JobStatus, TransformOptions, TransformStage};

use super::{JobFilter, NewJob, targets};

/// Input objects read, encoded and uploaded at once during an export, each its own
/// task: the next objects are read and encoded (on every core) while earlier ones
/// upload. Each holds up to `lines_per_object` bodies in memory.
const OBJECTS_AT_ONCE: usize = 3;

/// The defaults of every transform job (`transform_*` settings) and where S3 and
/// the SageMaker control plane are.
#[derive(Debug, Clone)]
pub struct TransformSettings {
    pub s3: ServiceAddress,
    pub sagemaker: ServiceAddress,
    pub options: TransformOptions,
    /// How often a running SageMaker job is described.
    pub poll_ms: u64,
    /// Emails per input object.
    pub lines_per_object: usize,
}

impl Default for TransformSettings {
    fn default() -> Self {
        TransformSettings {
            s3: ServiceAddress::default(),
            sagemaker: ServiceAddress::default(),
            options: TransformOptions::default(),
            poll_ms: 30_000,
            lines_per_object: 10_000,
        }
    }
}

/// The line of Batch Transform input for one email, in the endpoint's payload shape
/// with the email's id beside it: `{"id": "42", "inputs": "subject\n\nbody",
/// "parameters": {"top_k": null}}`. The model ignores `id`; the job's `JoinSource =
/// Input` brings it back beside the answer.
pub fn input_line(id: i64, subject: &str, body: &str) -> String {
    let mut line = Vec::with_capacity(subject.len() + body.len() + 64);
    push_input_line(&mut line, id, subject, body);
    line.pop(); // the newline
    String::from_utf8(line).expect("JSON is UTF-8")
}

/// Appends [`input_line`] and a newline to `out`, escaping subject and body straight
/// into it: an export writes 100,000 of these, and building a JSON value for each
/// copied every body three times.
pub fn push_input_line(out: &mut Vec<u8>, id: i64, subject: &str, body: &str) {
    /// The subject and body joined as one JSON string, with no joined copy.
    struct Inputs<'a>(&'a str, &'a str);
    impl serde::Serialize for Inputs<'_> {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.collect_str(&format_args!("{}\n\n{}", self.0, self.1))
        }
    }
    out.extend_from_slice(format!("{{\"id\":\"{id}\",\"inputs\":").as_bytes());
    serde_json::to_writer(&mut *out, &Inputs(subject, body)).expect("writing to memory");
    out.extend_from_slice(b",\"parameters\":{\"top_k\":null}}\n");
}

/// What storing a text of transform output did.
#[derive(Debug, Default)]
pub struct StoredOutput {
    pub stored: usize,
    /// Line number, the email's id when the line had one, and why it was not stored.
    pub rejected: Vec<(usize, Option<i64>, String)>,
}

/// Stores the answers in `text` (JSON Lines of `{"id", "SageMakerOutput"}`, as a
/// transform job with `JoinSource = Input` writes them) as predictions of `scorer`'s
/// model, in the caller's transaction. A line answering an email this job already
/// stored is skipped, so a repeated object stores nothing twice.
pub async fn store_output(
    conn: &mut sqlx::AnyConnection,
    scorer: &Scorer,
    text: &str,
    job_id: i64,
    replace: Replace,
) -> DomainResult<StoredOutput> {
    let mut out = StoredOutput::default();
    let mut answers: Vec<(usize, i64, Scored)> = Vec::new();
    for (number, line) in text.lines().enumerate().map(|(i, l)| (i + 1, l.trim())) {
        if line.is_empty() {
            continue;
        }
        match read_line(scorer, line) {
            Ok((id, scored)) => answers.push((number, id, scored)),
            Err((id, why)) => out.rejected.push((number, id, why)),
        }
    }
    let ids: Vec<i64> = answers.iter().map(|(_, id, _)| *id).collect();
    let mut existing: HashSet<i64> = HashSet::new();
    let mut already: HashSet<i64> = HashSet::new();
    for part in ids.chunks(1000) {
        let list = id_list(part.iter().copied());
        existing.extend(
            sqlx::query_scalar::<_, i64>(&format!("SELECT id FROM emails WHERE id IN ({list})"))
                .fetch_all(&mut *conn)
                .await?,
        );
        already.extend(
            sqlx::query_scalar::<_, i64>(&format!(
                "SELECT email_id FROM predictions WHERE job_id = $1 AND email_id IN ({list})"
            ))
            .bind(job_id)
            .fetch_all(&mut *conn)
            .await?,
        );
    }
    let mut batch: Vec<(i64, &Scored)> = Vec::new();
    let mut seen = HashSet::new();
    for (number, id, scored) in &answers {
        if !existing.contains(id) {
            out.rejected
                .push((*number, None, format!("there is no email {id}")));
        } else if already.contains(id) {
            // Stored by an earlier read of this output.
        } else if !seen.insert(*id) {
            out.rejected.push((
                *number,
                Some(*id),
                format!("email {id} is answered twice; the first answer was kept"),
            ));
        } else {
            batch.push((*id, scored));
        }
    }
    for part in batch.chunks(500) {
        store_answers(conn, scorer, part, Some(job_id), replace).await?;
    }
    out.stored = batch.len();
    out.rejected.sort_by_key(|r| r.0);
    Ok(out)
}

/// One output line: the email's id and the model's answer, or why not.
fn read_line(scorer: &Scorer, line: &str) -> Result<(i64, Scored), (Option<i64>, String)> {
    let value: serde_json::Value =
        serde_json::from_str(line).map_err(|e| (None, format!("not JSON: {e}")))?;
    let id: i64 = match &value["id"] {
        serde_json::Value::String(s) => s
            .parse()
            .map_err(|_| (None, format!("id {s:?} is not an email id")))?,
        serde_json::Value::Number(n) => n
            .as_i64()
            .ok_or((None, "id is not an email id".to_string()))?,
        _ => {
            return Err((
                None,
                "no id: run the transform job with --data-processing JoinSource=Input".into(),
            ));
        }
    };
    let answer = value.get("SageMakerOutput").ok_or((
        Some(id),
        "no SageMakerOutput: run the transform job with --data-processing JoinSource=Input"
            .to_string(),
    ))?;
    let scored = scorer
        .read_answer(answer)
        .map_err(|e| (Some(id), e.to_string()))?;
    Ok((id, scored))
}

/// A step's outcome when it did not finish its stage.
enum Stop {
    /// Try this stage again after the poll interval; the reason shows on the job.
    Retry(String),
    /// The job cannot go on: it fails with this reason.
    Fail(String),
}

impl From<DomainError> for Stop {
    fn from(e: DomainError) -> Self {
        Stop::Retry(e.to_string())
    }
}

impl From<sqlx::Error> for Stop {
    fn from(e: sqlx::Error) -> Self {
        Stop::Retry(DomainError::from(e).to_string())
    }
}

/// The clients, made on first use (the AWS chain is only asked when a transform
/// job exists).
struct Clients {
    s3: aws_sdk_s3::Client,
    sagemaker: aws_sdk_sagemaker::Client,
}

/// Runs the steps of transform jobs for one worker.
pub struct Transformer {
    db: Db,
    settings: TransformSettings,
    credentials: AwsCredentials,
    lease_ms: i64,
    clients: OnceCell<Clients>,
}

/// A transform job's row.
#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    status: JobStatus,
    params: String,
    model_id: Option<i64>,
    created_at: i64,
    started_at: Option<i64>,
    total: i64,
    result: Option<String>,
    transform_stage: Option<TransformStage>,
}

impl Transformer {
    pub fn new(
        db: Db,
        settings: TransformSettings,
        credentials: AwsCredentials,
        lease_ms: i64,
    ) -> Transformer {
        Transformer {
            db,
            settings,
            credentials,
            lease_ms,
            clients: OnceCell::new(),
        }
    }

    async fn clients(&self) -> &Clients {
        self.clients
            .get_or_init(|| async {
                Clients {
                    s3: aws::s3(&self.settings.s3, &self.credentials).await,
                    sagemaker: aws::sagemaker(&self.settings.sagemaker, &self.credentials).await,
                }
            })
            .await
    }

    /// Takes one transform job whose next step is due and runs that step. Returns
    /// whether there was one.
    pub async fn step_due(&self, worker: &str) -> DomainResult<bool> {
        let now = now_ms();
        let due: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM jobs WHERE kind = 'transform' AND next_step_at <= $1 AND \
             ((status = 'running' AND transform_stage IN ('export', 'submit', 'follow', 'import')) \
              OR (status = 'cancelled' AND transform_stage IN ('submit', 'follow'))) \
             ORDER BY next_step_at LIMIT 1",
        )
        .bind(now)
        .fetch_optional(&self.db.pool)
        .await?;
        let Some(id) = due else {
            return Ok(false);
        };
        let claimed = sqlx::query(
            "UPDATE jobs SET next_step_at = $1, worker = $2, heartbeat_at = $3 \
             WHERE id = $4 AND next_step_at <= $3",
        )
        .bind(now + self.lease_ms)
        .bind(worker)
        .bind(now)
        .bind(id)
        .execute(&self.db.pool)
        .await?;
        if claimed.rows_affected() == 0 {
            return Ok(true); // another worker took it
        }
        self.step(id).await?;
        Ok(true)
    }

    /// Runs job `id`'s stages from where it stands until one has to wait.
    async fn step(&self, id: i64) -> DomainResult<()> {
        loop {
            let row: Row = sqlx::query_as(
                "SELECT id, status, params, model_id, created_at, started_at, total, result, \
                 transform_stage FROM jobs WHERE id = $1",
            )
            .bind(id)
            .fetch_one(&self.db.pool)
            .await?;
            let Some(stage) = row.transform_stage else {
                return Ok(());
            };
            use TransformStage::*;
            let outcome = match (row.status, stage) {
                (JobStatus::Cancelled, Submit | Follow) => self.stop(&row).await,
                (JobStatus::Running, Export) => self.export(&row).await,
                (JobStatus::Running, Submit) => self.submit(&row).await,
                (JobStatus::Running, Follow) => self.follow(&row).await,
                (JobStatus::Running, Import) => self.import(&row).await,
                _ => return Ok(()),
            };
            match outcome {
                Ok(true) => continue, // the next stage can start now
                Ok(false) => return self.wait(id, None).await,
                Err(Stop::Retry(why)) => {
                    tracing::warn!(job = id, %stage, error = %why, "transform step will be retried");
                    return self.wait(id, Some(&why)).await;
                }
                Err(Stop::Fail(why)) => {
                    tracing::warn!(job = id, %stage, error = %why, "transform job failed");
                    sqlx::query(
                        "UPDATE jobs SET status = 'failed', finished_at = $1, error = $2, \
                         transform_stage = 'done', next_step_at = NULL WHERE id = $3",
                    )
                    .bind(now_ms())
                    .bind(&why)
                    .bind(id)
                    .execute(&self.db.pool)
                    .await?;
                    return Ok(());
                }
            }
        }
    }

    /// The next look is one poll interval away; `why` says what went wrong this time.
    async fn wait(&self, id: i64, why: Option<&str>) -> DomainResult<()> {
        sqlx::query("UPDATE jobs SET next_step_at = $1, error = $2 WHERE id = $3")
            .bind(now_ms() + self.settings.poll_ms as i64)
            .bind(why)
            .bind(id)
            .execute(&self.db.pool)
            .await?;
        Ok(())
    }

    /// Keeps this worker's claim on job `id` through a long stage.
    async fn hold(&self, id: i64) -> DomainResult<()> {
        let now = now_ms();
        sqlx::query("UPDATE jobs SET next_step_at = $1, heartbeat_at = $2 WHERE id = $3")
            .bind(now + self.lease_ms)
            .bind(now)
            .bind(id)
            .execute(&self.db.pool)
            .await?;
        Ok(())
    }

    /// Writes the job's emails to S3 and fixes the SageMaker job's name.
    async fn export(&self, row: &Row) -> Result<bool, Stop> {
        let job = NewJob::from_params(&row.params).map_err(|e| Stop::Fail(e.to_string()))?;
        let run = self.plan(row, &job.transform)?;
        let clients = self.clients().await;
        let (bucket, input_prefix) = parse_s3_uri(&run.input).map_err(Stop::Fail)?;
        // A repeated export starts from a clean input folder.
        self.delete_under(&bucket, &format!("{input_prefix}/"))
            .await?;
        let ids: Vec<i64> = targets::select(&job)
            .query_scalar()
            .fetch_all(&self.db.pool)
            .await?;
        if ids.is_empty() {
            sqlx::query(
                "UPDATE jobs SET status = 'succeeded', finished_at = $1, result = $2, \
                 transform_stage = 'done', next_step_at = NULL, error = NULL WHERE id = $3",
            )
            .bind(now_ms())
            .bind(serde_json::to_string(&run).unwrap_or_default())
            .bind(row.id)
            .execute(&self.db.pool)
            .await?;
            return Ok(false);
        }
        let mut parts = ids
            .chunks(self.settings.lines_per_object.max(1))
            .enumerate();
        let mut writes = FuturesOrdered::new();
        let mut objects = 0i64;
        loop {
            while writes.len() < OBJECTS_AT_ONCE {
                let Some((n, part)) = parts.next() else { break };
                let key = format!("{input_prefix}/part-{:05}.jsonl", n + 1);
                let (db, s3, bucket) = (self.db.clone(), clients.s3.clone(), bucket.clone());
                let ids = part.to_vec();
                // Spawned so that encoding runs beside the uploads; dropped (an
                // error) it stops.
                writes.push_back(AbortOnDropHandle::new(tokio::spawn(async move {
                    write_object(&db, &s3, &bucket, &key, &ids).await
                })));
            }
            let Some(written) = writes.next().await else {
                break;
            };
            written.map_err(|e| Stop::Retry(format!("writing an input object: {e}")))??;
            objects += 1;
            self.hold(row.id).await?;
        }
        let run = TransformRun {
            input_objects: objects,
            ..run
        };
        sqlx::query(
            "UPDATE jobs SET total = $1, result = $2, transform_name = $3, \
             transform_stage = 'submit', error = NULL WHERE id = $4",
        )
        .bind(ids.len() as i64)
        .bind(serde_json::to_string(&run).unwrap_or_default())
        .bind(&run.transform_job)
        .bind(row.id)
        .execute(&self.db.pool)
        .await?;
        Ok(true)
    }

    /// The job's settings over the defaults, and where its objects go.
    fn plan(&self, row: &Row, asked: &TransformOptions) -> Result<TransformRun, Stop> {
        let defaults = &self.settings.options;
        let pick = |a: &Option<String>, d: &Option<String>| {
            a.clone()
                .filter(|s| !s.trim().is_empty())
                .or_else(|| d.clone())
                .filter(|s| !s.trim().is_empty())
        };
        let model_name = pick(&asked.model_name, &defaults.model_name).ok_or_else(|| {
            Stop::Fail(
                "no SageMaker model to run: name one on the job, or set transform_model_name"
                    .into(),
            )
        })?;
        let s3_uri = pick(&asked.s3_uri, &defaults.s3_uri).ok_or_else(|| {
            Stop::Fail(
                "no S3 folder for the input and output: give one on the job, or set transform_s3_uri"
                    .into(),
            )
        })?;
        let (bucket, prefix) = parse_s3_uri(&s3_uri).map_err(Stop::Fail)?;
        let name = format!("triage-{}-{}", row.id, row.created_at / 1000);
        let folder = if prefix.is_empty() {
            format!("s3://{bucket}/{name}")
        } else {
            format!("s3://{bucket}/{prefix}/{name}")
        };
        let number = |a: Option<i64>, d: Option<i64>, fallback: i64| a.or(d).unwrap_or(fallback);
        Ok(TransformRun {
            transform_job: name,
            model_name,
            instance_type: pick(&asked.instance_type, &defaults.instance_type)
                .unwrap_or_else(|| "ml.m5.xlarge".into()),
            instance_count: number(asked.instance_count, defaults.instance_count, 1),
            max_concurrent_transforms: number(
                asked.max_concurrent_transforms,
                defaults.max_concurrent_transforms,
                4,
            ),
            max_payload_mb: number(asked.max_payload_mb, defaults.max_payload_mb, 6),
            input: format!("{folder}/input/"),
            output: format!("{folder}/output/"),
            input_objects: 0,
            sagemaker_status: None,
        })
    }

    /// Deletes every object under `prefix`.
    async fn delete_under(&self, bucket: &str, prefix: &str) -> Result<(), Stop> {
        let s3 = &self.clients().await.s3;
        for key in self.list(bucket, prefix).await? {
            s3.delete_object()
                .bucket(bucket)
                .key(&key)
                .send()
                .await
                .map_err(|e| {
                    Stop::Retry(format!("deleting s3://{bucket}/{key}: {}", describe(e)))
                })?;
        }
        Ok(())
    }

    /// Every key under `prefix`, in S3's order.
    async fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<String>, Stop> {
        let s3 = &self.clients().await.s3;
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = s3
                .list_objects_v2()
                .bucket(bucket)
                .prefix(prefix)
                .set_continuation_token(token.take())
                .send()
                .await
                .map_err(|e| {
                    Stop::Retry(format!("listing s3://{bucket}/{prefix}: {}", describe(e)))
                })?;
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_string)),
            );
            match page.next_continuation_token() {
                Some(next) if page.is_truncated() == Some(true) => token = Some(next.to_string()),
                _ => return Ok(keys),
            }
        }
    }

    fn run(row: &Row) -> Result<TransformRun, Stop> {
        row.result
            .as_deref()
            .and_then(|r| serde_json::from_str(r).ok())
            .ok_or_else(|| Stop::Fail("the transform job's plan is missing from its row".into()))
    }

    /// `CreateTransformJob`. A job of that name already there is this one, created
    /// by a worker that stopped before it could say so.
    async fn submit(&self, row: &Row) -> Result<bool, Stop> {
        let run = Self::run(row)?;
        let sagemaker = &self.clients().await.sagemaker;
        let input = TransformInput::builder()
            .data_source(
                TransformDataSource::builder()
                    .s3_data_source(
                        TransformS3DataSource::builder()
                            .s3_data_type(S3DataType::S3Prefix)
                            .s3_uri(&run.input)
                            .build(),
                    )
                    .build(),
            )
            .content_type("application/jsonlines")
            .split_type(SplitType::Line)
            .build();
        let output = TransformOutput::builder()
            .s3_output_path(&run.output)
            .accept("application/jsonlines")
            .assemble_with(AssemblyType::Line)
            .build();
        let resources = TransformResources::builder()
            .instance_type(TransformInstanceType::from(run.instance_type.as_str()))
            .instance_count(run.instance_count as i32)
            .build();
        let created = sagemaker
            .create_transform_job()
            .transform_job_name(&run.transform_job)
            .model_name(&run.model_name)
            .max_concurrent_transforms(run.max_concurrent_transforms as i32)
            .max_payload_in_mb(run.max_payload_mb as i32)
            .batch_strategy(BatchStrategy::MultiRecord)
            .transform_input(input)
            .transform_output(output)
            .transform_resources(resources)
            // The answer comes back beside its input line, reduced to the id and the
            // answer so the output stays small.
            .data_processing(
                DataProcessing::builder()
                    .join_source(JoinSource::Input)
                    .output_filter("$['id','SageMakerOutput']")
                    .build(),
            )
            .send()
            .await;
        if let Err(e) = created {
            let code = e
                .as_service_error()
                .and_then(|s| s.code())
                .unwrap_or("")
                .to_string();
            let message = e
                .as_service_error()
                .and_then(|s| s.message())
                .unwrap_or("")
                .to_string();
            let exists = code == "ResourceInUse" || message.contains("already exists");
            if !exists {
                let why = format!("CreateTransformJob: {}", describe(e));
                return Err(if code.is_empty() || code.contains("Throttl") {
                    Stop::Retry(why)
                } else {
                    Stop::Fail(why)
                });
            }
        }
        tracing::info!(job = row.id, transform = %run.transform_job, "transform job created");
        sqlx::query(
            "UPDATE jobs SET transform_stage = 'follow', error = NULL WHERE id = $1 AND status = 'running'",
        )
        .bind(row.id)
        .execute(&self.db.pool)
        .await?;
        // SageMaker takes minutes to start; look again after the poll interval.
        Ok(false)
    }

    /// `DescribeTransformJob`: how SageMaker's job is doing.
    async fn follow(&self, row: &Row) -> Result<bool, Stop> {
        let mut run = Self::run(row)?;
        let described = self
            .clients()
            .await
            .sagemaker
            .describe_transform_job()
            .transform_job_name(&run.transform_job)
            .send()
            .await
            .map_err(|e| Stop::Retry(format!("DescribeTransformJob: {}", describe(e))))?;
        let status = described.transform_job_status().cloned();
        run.sagemaker_status = status.as_ref().map(|s| s.as_str().to_string());
        let next = match status {
            Some(TransformJobStatus::Completed) => TransformStage::Import,
            Some(TransformJobStatus::Failed) => {
                let reason = described
                    .failure_reason()
                    .unwrap_or("SageMaker gave no reason");
                self.save_run(row.id, &run, None).await?;
                return Err(Stop::Fail(format!(
                    "the SageMaker transform job failed: {reason}"
                )));
            }
            Some(TransformJobStatus::Stopped) | Some(TransformJobStatus::Stopping) => {
                self.save_run(row.id, &run, None).await?;
                sqlx::query(
                    "UPDATE jobs SET status = 'cancelled', finished_at = $1, transform_stage = 'done', \
                     next_step_at = NULL, error = 'the transform job was stopped in SageMaker' \
                     WHERE id = $2",
                )
                .bind(now_ms())
                .bind(row.id)
                .execute(&self.db.pool)
                .await?;
                return Ok(false);
            }
            _ => TransformStage::Follow,
        };
        self.save_run(row.id, &run, Some(next)).await?;
        Ok(next == TransformStage::Import)
    }

    async fn save_run(
        &self,
        id: i64,
        run: &TransformRun,
        stage: Option<TransformStage>,
    ) -> DomainResult<()> {
        sqlx::query(
            "UPDATE jobs SET result = $1, transform_stage = COALESCE($2, transform_stage), \
             error = NULL WHERE id = $3",
        )
        .bind(serde_json::to_string(run).unwrap_or_default())
        .bind(stage)
        .bind(id)
        .execute(&self.db.pool)
        .await?;
        Ok(())
    }

    /// Reads every `.out` object not read yet and stores its predictions.
    async fn import(&self, row: &Row) -> Result<bool, Stop> {
        let run = Self::run(row)?;
        let job = NewJob::from_params(&row.params).map_err(|e| Stop::Fail(e.to_string()))?;
        let model_id = row
            .model_id
            .ok_or_else(|| Stop::Fail("the job names no Triage model".into()))?;
        // The answers are read, not requested: no request is sent with these keys.
        let scorer = active::load(
            &self.db,
            model_id,
            &AwsCredentials::fixed("unused", "unused"),
        )
        .await
        .map_err(|e| Stop::Fail(format!("the job's model cannot be loaded: {e}")))?;
        // Unscored targets keep a prediction that arrived meanwhile; a filter's
        // targets are scored again, as a rescore does.
        let replace = if job.filter == JobFilter::default() && !job.transform.all {
            Replace::IfUnscored
        } else {
            Replace::Always
        };
        let (bucket, prefix) = parse_s3_uri(&run.output).map_err(Stop::Fail)?;
        let read: HashSet<String> =
            sqlx::query_scalar("SELECT object_key FROM transform_outputs WHERE job_id = $1")
                .bind(row.id)
                .fetch_all(&self.db.pool)
                .await?
                .into_iter()
                .collect();
        let s3 = &self.clients().await.s3;
        let keys: Vec<String> = self
            .list(&bucket, &format!("{prefix}/"))
            .await?
            .into_iter()
            .filter(|k| k.ends_with(".out") && !read.contains(k))
            .collect();
        // The next object downloads while this one is stored.
        let download = |key: &String| {
            let (s3, bucket, key) = (s3.clone(), bucket.clone(), key.clone());
            AbortOnDropHandle::new(tokio::spawn(async move {
                read_object(&s3, &bucket, &key).await
            }))
        };
        let mut next = keys.first().map(download);
        for (n, key) in keys.iter().enumerate() {
            let Some(reading) = next.take() else { break };
            let bytes = reading
                .await
                .map_err(|e| Stop::Retry(format!("reading s3://{bucket}/{key}: {e}")))??;
            next = keys.get(n + 1).map(download);
            let text = String::from_utf8_lossy(&bytes);
            let mut tx = self.db.begin_write().await?;
            let out = store_output(&mut tx, &scorer, &text, row.id, replace).await?;
            record_rejections(&mut tx, row.id, key, &out).await?;
            sqlx::query(
                "INSERT INTO transform_outputs (job_id, object_key, stored, rejected, stored_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(row.id)
            .bind(key)
            .bind(out.stored as i64)
            .bind(out.rejected.len() as i64)
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
            sqlx::query("UPDATE jobs SET done = done + $1, failed = failed + $2 WHERE id = $3")
                .bind(out.stored as i64)
                .bind(out.rejected.len() as i64)
                .bind(row.id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            self.hold(row.id).await?;
        }
        // Every input line has its answer, or the job says how many are missing.
        let (done, failed): (i64, i64) =
            sqlx::query_as("SELECT done, failed FROM jobs WHERE id = $1")
                .bind(row.id)
                .fetch_one(&self.db.pool)
                .await?;
        let missing = (row.total - done - failed).max(0);
        let first_rejection: Option<String> = sqlx::query_scalar(
            "SELECT error FROM job_failures WHERE job_id = $1 ORDER BY email_id LIMIT 1",
        )
        .bind(row.id)
        .fetch_optional(&self.db.pool)
        .await?
        .flatten();
        let error = match (missing, failed) {
            (0, 0) => None,
            (0, _) => Some(format!(
                "{failed} answers could not be stored{}",
                first_rejection
                    .map(|e| format!(", e.g. {e}"))
                    .unwrap_or_default()
            )),
            (m, _) => Some(format!(
                "{m} emails got no answer in the transform job's output"
            )),
        };
        sqlx::query(
            "UPDATE jobs SET status = 'succeeded', finished_at = $1, failed = failed + $2, \
             error = $3, transform_stage = 'done', next_step_at = NULL \
             WHERE id = $4 AND status = 'running'",
        )
        .bind(now_ms())
        .bind(missing)
        .bind(error)
        .bind(row.id)
        .execute(&self.db.pool)
        .await?;
        if replace == Replace::IfUnscored {
            let since = row.started_at.unwrap_or(row.created_at);
            if let Err(e) = crate::mailboxes::queue_transform_for_mail_since(&self.db, since).await
            {
                tracing::warn!(job = row.id, error = %e, "no Batch Transform job for the mail that came meanwhile");
            }
        }
        Ok(false)
    }

    /// `StopTransformJob` for a job cancelled in Triage.
    async fn stop(&self, row: &Row) -> Result<bool, Stop> {
        let run = Self::run(row)?;
        let stopped = self
            .clients()
            .await
            .sagemaker
            .stop_transform_job()
            .transform_job_name(&run.transform_job)
            .send()
            .await;
        if let Err(e) = stopped {
            let code = e
                .as_service_error()
                .and_then(|s| s.code())
                .unwrap_or("")
                .to_string();
            // A job SageMaker never got, or one already finished, has nothing to stop.
            if code.is_empty() || code.contains("Throttl") {
                return Err(Stop::Retry(format!("StopTransformJob: {}", describe(e))));
            }
            tracing::info!(job = row.id, error = %describe(e), "nothing to stop");
        }
        sqlx::query("UPDATE jobs SET transform_stage = 'done', next_step_at = NULL WHERE id = $1")
            .bind(row.id)
            .execute(&self.db.pool)
            .await?;
        Ok(false)
    }
}

/// Writes one input object: the JSON Lines of `ids`, in id order.
async fn write_object(
    db: &Db,
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    ids: &[i64],
) -> Result<(), Stop> {
    let mut body = Vec::new();
    for page in ids.chunks(1000) {
        for (id, subject, text) in texts(db, page).await? {
            push_input_line(&mut body, id, &subject, &text);
        }
    }
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .content_type("application/jsonlines")
        .body(ByteStream::from(body))
        // No SHA-256 over tens of megabytes (a tenth of the export's time): the
        // SDK's CRC32 checksum still lets S3 refuse a damaged upload, and TLS
        // guards the rest.
        .customize()
        .disable_payload_signing()
        .send()
        .await
        .map_err(|e| Stop::Retry(format!("writing s3://{bucket}/{key}: {}", describe(e))))?;
    Ok(())
}

/// One object's bytes.
async fn read_object(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Result<Vec<u8>, Stop> {
    let failed = |why: String| Stop::Retry(format!("reading s3://{bucket}/{key}: {why}"));
    let object = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| failed(describe(e)))?;
    Ok(object
        .body
        .collect()
        .await
        .map_err(|e| failed(e.to_string()))?
        .to_vec())
}

/// Records an object's rejected lines as the job's failures (those that name an
/// email) so the Jobs page lists them.
async fn record_rejections(
    conn: &mut sqlx::AnyConnection,
    job_id: i64,
    key: &str,
    out: &StoredOutput,
) -> DomainResult<()> {
    let object = key.rsplit('/').next().unwrap_or(key);
    for (number, id, why) in &out.rejected {
        if let Some(id) = id {
            sqlx::query(
                "INSERT INTO job_failures (job_id, email_id, attempts, error) VALUES ($1, $2, 1, $3) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(job_id)
            .bind(id)
            .bind(format!("{object} line {number}: {why}"))
            .execute(&mut *conn)
            .await?;
        }
    }
    Ok(())
}

/// The ids, subjects and bodies of `ids`, in id order.
async fn texts(db: &Db, ids: &[i64]) -> DomainResult<Vec<(i64, String, String)>> {
    Ok(sqlx::query_as(&format!(
        "SELECT e.id, e.subject, b.body_text FROM emails e \
         JOIN email_bodies b ON b.email_id = e.id WHERE e.id IN ({}) ORDER BY e.id",
        id_list(ids.iter().copied())
    ))
    .fetch_all(&db.pool)
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_input_line_is_the_endpoint_payload_with_the_id_escaped_straight_from_the_text() {
        let subject = "Quote \"urgent\"\t\u{7}";
        let body = "Line one\r\nLine two: ünïcödé, 日本語, emoji 📦, back\\slash";
        let line = input_line(42, subject, body);
        let expected = serde_json::json!({
            "id": "42",
            "inputs": format!("{subject}\n\n{body}"),
            "parameters": {"top_k": null},
        });
        let read: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(read, expected);
        assert!(!line.contains('\n'), "one line: {line}");
        assert!(line.starts_with(r#"{"id":"42","inputs":"#), "{line}");

        let mut object = Vec::new();
        push_input_line(&mut object, 1, "a", "b");
        push_input_line(&mut object, 2, "c", "d");
        let text = String::from_utf8(object).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines, [input_line(1, "a", "b"), input_line(2, "c", "d")]);
        assert!(text.ends_with('\n'));
    }
}
