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
use crate::scoring::store::{Replace, store_answer};
use crate::scoring::{AwsCredentials, Scorer, active};
use crate::time::now_ms;
use crate::wire::{JobKind, ModelKind};

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
            let line = serde_json::json!({
                "id": row.id.to_string(),
                "inputs": format!("{}\n\n{}", row.subject, row.body_text),
                "parameters": {"top_k": null},
            });
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
/// `SageMakerOutput`) as predictions of the endpoint model `version`.
pub async fn import_output(
    db: &Db,
    version: &str,
    text: &str,
    actor: Actor,
) -> DomainResult<OutputImport> {
    #[derive(sqlx::FromRow)]
    struct Model {
        id: i64,
        kind: ModelKind,
    }
    let model: Model = sqlx::query_as("SELECT id, kind FROM models WHERE version = $1")
        .bind(version)
        .fetch_optional(&db.pool)
        .await?
        .ok_or_else(|| DomainError::invalid("model", format!("there is no model {version:?}")))?;
    let model_id = model.id;
    if model.kind != ModelKind::Endpoint {
        return Err(DomainError::invalid(
            "model",
            format!("{version} is not an endpoint model; Batch Transform output belongs to one"),
        ));
    }
    // No request is sent: fixed keys keep the AWS chain from looking for real ones.
    let scorer = active::load(db, model_id, &AwsCredentials::fixed("unused", "unused")).await?;
    let Scorer::Endpoint(endpoint) = &scorer else {
        return Err(DomainError::Internal(
            "an endpoint model loaded as built-in".into(),
        ));
    };
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

    let mut stored = 0;
    let mut rejected = Vec::new();
    let mut tx = db.begin_write().await?;
    for (number, line) in text.lines().enumerate().map(|(i, l)| (i + 1, l.trim())) {
        if line.is_empty() {
            continue;
        }
        let outcome: Result<(), String> = async {
            let value: serde_json::Value =
                serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
            let id: i64 = match &value["id"] {
                serde_json::Value::String(s) => s
                    .parse()
                    .map_err(|_| format!("id {s:?} is not an email id"))?,
                serde_json::Value::Number(n) => n.as_i64().ok_or("id is not an email id")?,
                _ => {
                    return Err(
                        "no id: run the transform job with --data-processing JoinSource=Input"
                            .into(),
                    );
                }
            };
            let answer = value.get("SageMakerOutput").ok_or(
                "no SageMakerOutput: run the transform job with --data-processing JoinSource=Input",
            )?;
            let scored = endpoint.read_answer(answer).map_err(|e| e.to_string())?;
            let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM emails WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(|e| e.to_string())?;
            if exists.is_none() {
                return Err(format!("there is no email {id}"));
            }
            store_answer(&mut tx, &scorer, id, &scored, Some(job_id), Replace::Always)
                .await
                .map_err(|e| e.to_string())?;
            Ok(())
        }
        .await;
        match outcome {
            Ok(()) => stored += 1,
            Err(e) => rejected.push((number, e)),
        }
    }
    tx.commit().await?;
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
