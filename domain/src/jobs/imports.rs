//! Imports of mail (`triage import`, the Import page) recorded as `import` jobs, so
//! they show in the job history beside scoring with live progress, their outcome and
//! every rejected email with why. Parsing and storing stay in the importer; this is
//! the record.

use crate::audit::Actor;
use crate::db::Db;
use crate::error::DomainResult;
use crate::time::now_ms;
use crate::wire::{JobFailure, JobKind, JobStatus};

/// Rejections kept on the job (the importer's own report has all of them).
const KEPT_REJECTIONS: usize = 1_000;

/// A running import's job.
pub struct ImportJob {
    db: Db,
    pub id: i64,
}

/// Records an import of `source` (file names, or "upload") as a running job.
pub async fn start(db: &Db, source: &str, actor: Actor) -> DomainResult<ImportJob> {
    let params = serde_json::json!({"kind": JobKind::Import, "source": source}).to_string();
    let now = now_ms();
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO jobs (kind, status, params, created_by, token_id, created_at, started_at, worker, heartbeat_at) \
         VALUES ('import', 'running', $1, $2, $3, $4, $4, $5, $4) RETURNING id",
    )
    .bind(params)
    .bind(actor.user_id())
    .bind(actor.token_id())
    .bind(now)
    .bind(format!("import-{}", std::process::id()))
    .fetch_one(&db.pool)
    .await?;
    Ok(ImportJob { db: db.clone(), id })
}

impl ImportJob {
    /// Progress so far: emails stored or found duplicate, and emails rejected.
    pub async fn progress(&self, done: usize, failed: usize) -> DomainResult<()> {
        sqlx::query(
            "UPDATE jobs SET done = $1, failed = $2, total = $3, heartbeat_at = $4 WHERE id = $5",
        )
        .bind(done as i64)
        .bind(failed as i64)
        .bind((done + failed) as i64)
        .bind(now_ms())
        .bind(self.id)
        .execute(&self.db.pool)
        .await?;
        Ok(())
    }

    /// The end: `rejections` are `where: why`; `error` is set when the import
    /// stopped before the end (the emails stored until then stay stored).
    pub async fn finish(
        &self,
        done: usize,
        rejections: &[String],
        summary: &str,
        error: Option<String>,
    ) -> DomainResult<()> {
        let result = serde_json::json!({
            "summary": summary,
            "rejections": rejections.iter().take(KEPT_REJECTIONS).collect::<Vec<_>>(),
        });
        let (status, error) = match error {
            Some(e) => (JobStatus::Failed, Some(e)),
            None if !rejections.is_empty() => (
                JobStatus::Succeeded,
                Some(format!("{} emails were rejected", rejections.len())),
            ),
            None => (JobStatus::Succeeded, None),
        };
        let failed = rejections.len();
        sqlx::query(
            "UPDATE jobs SET status = $1, finished_at = $2, done = $3, failed = $4, total = $5, \
             error = $6, result = $7 WHERE id = $8",
        )
        .bind(status)
        .bind(now_ms())
        .bind(done as i64)
        .bind(failed as i64)
        .bind((done + failed) as i64)
        .bind(error)
        .bind(result.to_string())
        .bind(self.id)
        .execute(&self.db.pool)
        .await?;
        Ok(())
    }
}

/// An import job's rejected emails, from its record.
pub(super) fn failures(result: Option<&str>, limit: usize) -> Vec<JobFailure> {
    let result: serde_json::Value = result
        .and_then(|r| serde_json::from_str(r).ok())
        .unwrap_or_default();
    result["rejections"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(|r| r.as_str())
        .take(limit)
        .map(|line| {
            // `where: why`; where holds no ": " (file names and line numbers).
            let (place, why) = line.split_once(": ").unwrap_or((line, ""));
            JobFailure {
                email_id: None,
                subject: place.to_string(),
                attempts: 1,
                error: why.to_string(),
            }
        })
        .collect()
}
