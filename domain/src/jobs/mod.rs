//! Durable jobs: scoring what is unscored, rescoring a filter with a chosen model,
//! retraining the built-in model. A job is a row in `jobs`; when a worker starts it,
//! the emails it targets are written once as chunks (`job_chunks`), and workers lease
//! them (see `worker`). Progress, failures and the outcome live in the database, so
//! a job survives crashes and restarts and any process can report on it.

pub mod batch_transform;
pub mod imports;
pub mod schedule;
mod targets;
pub mod transform;
pub mod worker;

use serde::{Deserialize, Serialize};

use crate::audit::{self, Actor};
use crate::db::{Db, Dialect};
use crate::error::{DomainError, DomainResult};
use crate::time::now_ms;
use crate::wire::{EmailStatus, JobFailure, JobKind, JobStatus, JobView, TransformOptions};

/// Which emails a rescore job targets. Empty fields mean "any".
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(default, deny_unknown_fields)]
pub struct JobFilter {
    /// The predicted category's name.
    pub category: Option<String>,
    pub status: Option<EmailStatus>,
    /// The model version of the current prediction.
    pub model: Option<String>,
    /// Received at or after (milliseconds since the epoch).
    pub received_from: Option<i64>,
    /// Received before (milliseconds since the epoch).
    pub received_to: Option<i64>,
    /// The current prediction's confidence band, inclusive.
    pub min_confidence: Option<f64>,
    pub max_confidence: Option<f64>,
}

/// What someone asks for.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewJob {
    /// `score` (every unscored email), `rescore` (the filter), `retrain`, or
    /// `transform` (a SageMaker Batch Transform job: the unscored emails, or the
    /// filter's when one is given).
    pub kind: JobKind,
    #[serde(default)]
    pub filter: JobFilter,
    /// The model version that scores; the active model when empty.
    #[serde(default)]
    pub model: Option<String>,
    /// For `retrain`: make the new model active when training succeeds.
    #[serde(default)]
    pub activate: bool,
    /// For `transform`: the job's knobs over the settings' defaults.
    #[serde(default, skip_serializing_if = "TransformOptions::is_empty")]
    pub transform: TransformOptions,
}

impl NewJob {
    /// A job of `kind` with no filter, on the active model.
    pub fn of(kind: JobKind) -> NewJob {
        NewJob {
            kind,
            filter: JobFilter::default(),
            model: None,
            activate: false,
            transform: TransformOptions::default(),
        }
    }

    /// Reads a stored job's parameters; a job whose parameters cannot be read fails
    /// with this error instead of running as some default job.
    pub fn from_params(params: &str) -> DomainResult<NewJob> {
        serde_json::from_str(params).map_err(|e| {
            DomainError::Internal(format!(
                "the job's parameters cannot be read ({e}): {params:?}"
            ))
        })
    }
}

/// Queues a job. Scoring jobs are pinned to a model now (the active one unless
/// named), so a job that resumes tomorrow still scores with the model it was asked
/// for.
pub async fn create(db: &Db, job: &NewJob, actor: Actor) -> DomainResult<JobView> {
    let id = insert(db, job, actor, Waiting::Allowed).await?;
    let id = id.ok_or_else(|| DomainError::Internal("a job was not queued".into()))?;
    get(db, id).await
}

/// Queues a job unless one of its kind is queued or running already (the schedule's
/// sweeps, the S3 mailbox's transform after a sync): `None` then. Two processes
/// that ask at once queue one job between them.
pub async fn create_unless_waiting(
    db: &Db,
    job: &NewJob,
    actor: Actor,
) -> DomainResult<Option<JobView>> {
    match insert(db, job, actor, Waiting::Refused).await? {
        Some(id) => Ok(Some(get(db, id).await?)),
        None => Ok(None),
    }
}

/// Whether a new job may join one of its kind that is queued or running.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Waiting {
    Allowed,
    Refused,
}

async fn insert(
    db: &Db,
    job: &NewJob,
    actor: Actor,
    waiting: Waiting,
) -> DomainResult<Option<i64>> {
    if !JobKind::REQUESTABLE.contains(&job.kind) {
        return Err(DomainError::invalid(
            "kind",
            format!(
                "{:?}: a job is score, rescore, retrain or transform",
                job.kind.as_str()
            ),
        ));
    }
    validate_filter(&job.filter)?;
    let model_id: Option<i64> = match (job.kind, job.model.as_deref()) {
        (JobKind::Retrain, _) => None,
        (_, Some(version)) if !version.is_empty() => Some(
            sqlx::query_scalar("SELECT id FROM models WHERE version = $1")
                .bind(version)
                .fetch_optional(&db.pool)
                .await?
                .ok_or_else(|| {
                    DomainError::invalid("model", format!("there is no model {version:?}"))
                })?,
        ),
        _ => Some(
            sqlx::query_scalar("SELECT id FROM models WHERE status = 'active'")
                .fetch_optional(&db.pool)
                .await?
                .ok_or_else(|| {
                    DomainError::invalid(
                        "model",
                        "no model is active: train one or connect an endpoint first",
                    )
                })?,
        ),
    };
    let params = serde_json::to_string(job).map_err(|e| DomainError::Internal(e.to_string()))?;
    let (user, token) = (actor.user_id(), actor.token_id());
    let unless_waiting = match waiting {
        Waiting::Allowed => "",
        Waiting::Refused => {
            " WHERE NOT EXISTS (SELECT 1 FROM jobs WHERE kind = $1 AND status IN ('queued', 'running'))"
        }
    };
    let sql = format!(
        "INSERT INTO jobs (kind, params, model_id, created_by, token_id, created_at) \
         SELECT $1, $2, $3, $4, $5, $6{unless_waiting} RETURNING id"
    );
    let insert = sqlx::query_scalar::<_, i64>(&sql)
        .bind(job.kind)
        .bind(&params)
        .bind(model_id)
        .bind(user)
        .bind(token)
        .bind(now_ms());
    // One statement is atomic on SQLite (one writer). PostgreSQL's statements see
    // what was committed when they start, so there the askers queue up on a lock
    // first and the second sees the first's job.
    let id = if waiting == Waiting::Refused && db.dialect == Dialect::Postgres {
        let mut tx = db.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext('triage.jobs.' || $1))")
            .bind(job.kind)
            .execute(&mut *tx)
            .await?;
        let id = insert.fetch_optional(&mut *tx).await?;
        tx.commit().await?;
        id
    } else {
        insert.fetch_optional(&db.pool).await?
    };
    let Some(id) = id else {
        return Ok(None);
    };
    audit::record(
        db,
        actor,
        "job.create",
        "job",
        &id.to_string(),
        serde_json::json!({"kind": job.kind}),
    )
    .await?;
    Ok(Some(id))
}

fn validate_filter(filter: &JobFilter) -> DomainResult<()> {
    for (field, value) in [
        ("filter.min_confidence", filter.min_confidence),
        ("filter.max_confidence", filter.max_confidence),
    ] {
        if let Some(v) = value
            && !(0.0..=1.0).contains(&v)
        {
            return Err(DomainError::invalid(
                field,
                "a confidence is between 0 and 1",
            ));
        }
    }
    if let (Some(from), Some(to)) = (filter.received_from, filter.received_to)
        && from >= to
    {
        return Err(DomainError::invalid(
            "filter.received_to",
            "the end of the date range comes after its start",
        ));
    }
    Ok(())
}

const VIEW: &str = "SELECT j.id, j.kind, j.status, j.params, m.version AS model, \
    u.display_name AS created_by, j.created_at, j.started_at, j.finished_at, j.total, j.done, \
    j.failed, j.error, j.result \
    FROM jobs j LEFT JOIN models m ON m.id = j.model_id LEFT JOIN users u ON u.id = j.created_by";

/// A job's row as [`VIEW`] reads it.
#[derive(sqlx::FromRow)]
struct ViewRow {
    id: i64,
    kind: JobKind,
    status: JobStatus,
    params: String,
    model: Option<String>,
    created_by: Option<String>,
    created_at: i64,
    started_at: Option<i64>,
    finished_at: Option<i64>,
    total: i64,
    done: i64,
    failed: i64,
    error: Option<String>,
    result: Option<String>,
}

fn view(row: ViewRow, now: i64) -> JobView {
    let description = match row.kind {
        // Imports record where the mail came from, not a NewJob.
        JobKind::Import => match serde_json::from_str::<serde_json::Value>(&row.params)
            .ok()
            .and_then(|p| p["source"].as_str().map(str::to_string))
        {
            Some(source) => format!("mail from {source}"),
            None => "Batch Transform output".into(),
        },
        _ => match NewJob::from_params(&row.params) {
            Ok(job) => describe(&job),
            Err(_) => "parameters that cannot be read".into(),
        },
    };
    // Rate over the job's life so far; time left at that rate.
    let elapsed_ms = row.started_at.map(|s| row.finished_at.unwrap_or(now) - s);
    let processed = row.done + row.failed;
    let rate = elapsed_ms
        .filter(|ms| *ms > 0 && processed > 0)
        .map(|ms| processed as f64 * 1000.0 / ms as f64);
    let remaining = (row.total - processed).max(0);
    let eta_seconds = match (row.status, rate) {
        (JobStatus::Running, Some(r)) if r > 0.0 => Some(remaining as f64 / r),
        _ => None,
    };
    let transform = (row.kind == JobKind::Transform)
        .then(|| {
            row.result
                .as_deref()
                .and_then(|r| serde_json::from_str(r).ok())
        })
        .flatten();
    JobView {
        id: row.id,
        kind: row.kind,
        status: row.status,
        description,
        model: row.model,
        created_by: row.created_by,
        created_at: row.created_at,
        started_at: row.started_at,
        finished_at: row.finished_at,
        total: row.total,
        done: row.done,
        failed: row.failed,
        error: row.error,
        result: row.result,
        rate_per_second: rate,
        eta_seconds,
        transform,
    }
}

/// A job's parameters in words, for lists.
fn describe(job: &NewJob) -> String {
    let f = &job.filter;
    match job.kind {
        JobKind::Score => "every unscored email".into(),
        JobKind::Retrain if job.activate => "train on the labels, then activate".into(),
        JobKind::Retrain => "train on the labels".into(),
        JobKind::Transform if *f == JobFilter::default() => format!(
            "every {}email, by Batch Transform{}",
            if job.transform.all { "" } else { "unscored " },
            job.transform
                .model_name
                .as_deref()
                .map(|m| format!(" with {m}"))
                .unwrap_or_default()
        ),
        JobKind::Rescore | JobKind::Import | JobKind::Transform => {
            let mut parts = Vec::new();
            if let Some(c) = &f.category {
                parts.push(format!("predicted {c}"));
            }
            if let Some(s) = &f.status {
                parts.push(format!("status {s}"));
            }
            if let Some(m) = &f.model {
                parts.push(format!("scored by {m}"));
            }
            if f.min_confidence.is_some() || f.max_confidence.is_some() {
                parts.push(format!(
                    "confidence {:.0}–{:.0}%",
                    f.min_confidence.unwrap_or(0.0) * 100.0,
                    f.max_confidence.unwrap_or(1.0) * 100.0
                ));
            }
            if f.received_from.is_some() || f.received_to.is_some() {
                parts.push("in a date range".into());
            }
            if parts.is_empty() {
                "every email".into()
            } else {
                parts.join(", ")
            }
        }
    }
}

pub async fn get(db: &Db, id: i64) -> DomainResult<JobView> {
    let row: ViewRow = sqlx::query_as(&format!("{VIEW} WHERE j.id = $1"))
        .bind(id)
        .fetch_optional(&db.pool)
        .await?
        .ok_or(DomainError::NotFound)?;
    Ok(view(row, now_ms()))
}

/// The newest jobs first.
pub async fn list(db: &Db, limit: i64) -> DomainResult<Vec<JobView>> {
    let rows: Vec<ViewRow> = sqlx::query_as(&format!("{VIEW} ORDER BY j.id DESC LIMIT $1"))
        .bind(limit.clamp(1, 500))
        .fetch_all(&db.pool)
        .await?;
    let now = now_ms();
    Ok(rows.into_iter().map(|r| view(r, now)).collect())
}

/// The emails a job could not score (or, for an import, could not store), with why.
pub async fn failures(db: &Db, id: i64, limit: i64) -> DomainResult<Vec<JobFailure>> {
    #[derive(sqlx::FromRow)]
    struct Job {
        kind: JobKind,
        result: Option<String>,
    }
    #[derive(sqlx::FromRow)]
    struct Failed {
        email_id: i64,
        subject: String,
        attempts: i64,
        error: Option<String>,
    }
    let job: Job = sqlx::query_as("SELECT kind, result FROM jobs WHERE id = $1")
        .bind(id)
        .fetch_optional(&db.pool)
        .await?
        .ok_or(DomainError::NotFound)?;
    let limit = limit.clamp(1, 1000);
    if job.kind == JobKind::Import && job.result.is_some() {
        return Ok(imports::failures(job.result.as_deref(), limit as usize));
    }
    let rows: Vec<Failed> = sqlx::query_as(
        "SELECT f.email_id, e.subject, f.attempts, f.error FROM job_failures f \
         JOIN emails e ON e.id = f.email_id \
         WHERE f.job_id = $1 ORDER BY f.email_id LIMIT $2",
    )
    .bind(id)
    .bind(limit)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|f| JobFailure {
            email_id: Some(f.email_id),
            subject: f.subject,
            attempts: f.attempts,
            error: f.error.unwrap_or_default(),
        })
        .collect())
}

/// Stops a queued or running job. Chunks already being scored finish and are kept;
/// no new chunk starts.
pub async fn cancel(db: &Db, id: i64, actor: Actor) -> DomainResult<JobView> {
    let done = sqlx::query(
        "UPDATE jobs SET status = 'cancelled', finished_at = $1, \
         next_step_at = CASE WHEN next_step_at IS NULL THEN NULL ELSE $1 END \
         WHERE id = $2 AND status IN ('queued', 'running')",
    )
    .bind(now_ms())
    .bind(id)
    .execute(&db.pool)
    .await?;
    let job = get(db, id).await?;
    if done.rows_affected() == 0 {
        return Err(DomainError::Conflict(format!(
            "job {id} is {} and cannot be cancelled",
            job.status
        )));
    }
    audit::record(
        db,
        actor,
        "job.cancel",
        "job",
        &id.to_string(),
        serde_json::json!({}),
    )
    .await?;
    Ok(job)
}

/// Runs a finished job again for just its failed emails (and, for a cancelled job,
/// the ones it had not reached).
pub async fn retry(db: &Db, id: i64, actor: Actor) -> DomainResult<JobView> {
    let job = get(db, id).await?;
    if !job.status.is_finished() {
        return Err(DomainError::Conflict(format!(
            "job {id} is {}; only a finished job can be retried",
            job.status
        )));
    }
    if job.kind == JobKind::Import {
        return Err(DomainError::Conflict(
            "an import cannot be retried from here: import the files again \
             (emails already stored are recognised and skipped)"
                .into(),
        ));
    }
    if job.kind == JobKind::Transform {
        return Err(DomainError::Conflict(
            "a transform job cannot be retried: queue a new one, which sends the emails \
             still unscored"
                .into(),
        ));
    }
    let mut tx = db.begin_write().await?;
    // The failed emails become new chunks of the job, the size of its others.
    let failed: Vec<i64> =
        sqlx::query_scalar("SELECT email_id FROM job_failures WHERE job_id = $1 ORDER BY email_id")
            .bind(id)
            .fetch_all(&mut *tx)
            .await?;
    #[derive(sqlx::FromRow)]
    struct Chunks {
        last_seq: Option<i64>,
        size: Option<i64>,
    }
    let Chunks { last_seq, size } = sqlx::query_as(
        "SELECT MAX(seq) AS last_seq, MAX(size) AS size FROM job_chunks WHERE job_id = $1",
    )
    .bind(id)
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM job_failures WHERE job_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    let size = size.unwrap_or(32) as usize;
    targets::add_chunks(&mut tx, id, last_seq.unwrap_or(0) + 1, &failed, size).await?;
    let retried = failed.len() as u64;
    // A job that never started (or a retrain) goes back to the queue; a scoring job
    // goes on with its failed emails.
    let next = if job.started_at.is_some() && job.kind.scores() {
        JobStatus::Running
    } else {
        JobStatus::Queued
    };
    sqlx::query(
        "UPDATE jobs SET status = $1, failed = failed - $2, finished_at = NULL, error = NULL \
         WHERE id = $3",
    )
    .bind(next)
    .bind(retried as i64)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    audit::record(
        db,
        actor,
        "job.retry",
        "job",
        &id.to_string(),
        serde_json::json!({"emails": retried}),
    )
    .await?;
    get(db, id).await
}
