//! Interop with SageMaker Batch Transform, for backlogs too large to score through a
//! real-time endpoint: `export_input` writes JSON Lines in the endpoint's payload
//! shape, each line carrying the email's id; a transform job run with
//! `JoinSource=Input` writes each input line back with its `SageMakerOutput`; and
//! `import_output` stores those answers as predictions, matched by id, recorded as an
//! `import` job so they show in the job history.

use std::io::Write;

use crate::audit::Actor;
use crate::db::Db;
use crate::error::{DomainError, DomainResult};
use crate::scoring::store::Replace;
use crate::scoring::{AwsCredentials, active};
use crate::time::now_ms;
use crate::wire::JobKind;

use super::transform::{input_line, store_output};

/// Writes one line per email (`--all`, or only the unscored):
/// `{"id": "42", "inputs": "subject\n\nbody", "parameters": {"top_k": null}}`.
pub async fn export_input(db: &Db, all: bool, out: &mut impl Write) -> DomainResult<usize> {
    #[derive(sqlx::FromRow)]
    struct Input {
        id: i64,
        subject: String,
        body_text: String,
    }
    let mut after = 0i64;
    let mut written = 0;
    loop {
        let rows: Vec<Input> = sqlx::query_as(
            "SELECT e.id AS id, e.subject AS subject, b.body_text AS body_text \
             FROM emails e JOIN email_bodies b ON b.email_id = e.id \
             WHERE e.id > $1 AND ($2 = 1 OR e.prediction_id IS NULL) ORDER BY e.id LIMIT 1000",
        )
        .bind(after)
        .bind(if all { 1i64 } else { 0 })
        .fetch_all(&db.pool)
        .await?;
        let Some(last) = rows.last() else {
            return Ok(written);
        };
        after = last.id;
        for row in rows {
            let line = input_line(row.id, &row.subject, &row.body_text);
            writeln!(out, "{line}").map_err(|e| DomainError::Internal(e.to_string()))?;
            written += 1;
        }
    }
}

/// What an import of transform output did.
#[derive(Debug)]
pub struct OutputImport {
    pub job_id: i64,
    pub stored: usize,
    /// Line number and why it was not stored.
    pub rejected: Vec<(usize, String)>,
}

/// Stores the answers of a transform job's output (`.out`, JSON Lines with `id` and
/// `SageMakerOutput`) as predictions of model `version` (an endpoint's, or the
/// built-in model's run as a SageMaker container).
pub async fn import_output(
    db: &Db,
    version: &str,
    text: &str,
    actor: Actor,
) -> DomainResult<OutputImport> {
    let model_id: i64 = sqlx::query_scalar("SELECT id FROM models WHERE version = $1")
        .bind(version)
        .fetch_optional(&db.pool)
        .await?
        .ok_or_else(|| DomainError::invalid("model", format!("there is no model {version:?}")))?;
    // No request is sent: fixed keys keep the AWS chain from looking for real ones.
    let scorer = active::load(db, model_id, &AwsCredentials::fixed("unused", "unused")).await?;
    let job = super::NewJob {
        model: Some(version.to_string()),
        ..super::NewJob::of(JobKind::Import)
    };
    let params = serde_json::to_string(&job).map_err(|e| DomainError::Internal(e.to_string()))?;
    let now = now_ms();
    let job_id: i64 = sqlx::query_scalar(
        "INSERT INTO jobs (kind, status, params, model_id, created_by, created_at, started_at) \
         VALUES ('import', 'running', $1, $2, $3, $4, $4) RETURNING id",
    )
    .bind(&params)
    .bind(model_id)
    .bind(actor.user_id())
    .bind(now)
    .fetch_one(&db.pool)
    .await?;

    let mut tx = db.begin_write().await?;
    let out = store_output(&mut tx, &scorer, text, job_id, Replace::Always).await?;
    tx.commit().await?;
    let stored = out.stored;
    let rejected: Vec<(usize, String)> = out
        .rejected
        .into_iter()
        .map(|(line, _, why)| (line, why))
        .collect();
    sqlx::query(
        "UPDATE jobs SET status = 'succeeded', finished_at = $1, total = $2, done = $3, failed = $4, \
         error = $5 WHERE id = $6",
    )
    .bind(now_ms())
    .bind((stored + rejected.len()) as i64)
    .bind(stored as i64)
    .bind(rejected.len() as i64)
    .bind(rejected.first().map(|(n, e)| format!("line {n}: {e}")))
    .bind(job_id)
    .execute(&db.pool)
    .await?;
    Ok(OutputImport {
        job_id,
        stored,
        rejected,
    })
}
