//! Schedules set by supervisors: "score what is unscored every N minutes", "retrain
//! every N minutes". Every worker checks them; one wins each due run.

use crate::audit::{self, Actor};
use crate::db::Db;
use crate::error::{DomainError, DomainResult};
use crate::time::now_ms;
use crate::wire::{JobKind, JobSchedule};

use super::NewJob;

/// The kinds of job a schedule can run.
pub const KINDS: [JobKind; 3] = [JobKind::Score, JobKind::Retrain, JobKind::Transform];

pub async fn list(db: &Db) -> DomainResult<Vec<JobSchedule>> {
    Ok(
        sqlx::query_as("SELECT kind, every_minutes, last_run_at FROM job_schedules ORDER BY kind")
            .fetch_all(&db.pool)
            .await?,
    )
}

/// Sets (or, with `None`, removes) the schedule of `kind`.
pub async fn set(
    db: &Db,
    kind: JobKind,
    every_minutes: Option<i64>,
    actor: Actor,
) -> DomainResult<()> {
    if !KINDS.contains(&kind) {
        return Err(DomainError::invalid(
            "kind",
            "a schedule runs score, retrain or transform jobs",
        ));
    }
    match every_minutes {
        None => {
            sqlx::query("DELETE FROM job_schedules WHERE kind = $1")
                .bind(kind)
                .execute(&db.pool)
                .await?;
        }
        Some(every) => {
            if !(1..=7 * 24 * 60).contains(&every) {
                return Err(DomainError::invalid(
                    "every_minutes",
                    "between 1 minute and 7 days",
                ));
            }
            let user = actor.user_id();
            let updated = sqlx::query(
                "UPDATE job_schedules SET every_minutes = $1, updated_by = $2, updated_at = $3 WHERE kind = $4",
            )
            .bind(every)
            .bind(user)
            .bind(now_ms())
            .bind(kind)
            .execute(&db.pool)
            .await?;
            if updated.rows_affected() == 0 {
                sqlx::query(
                    "INSERT INTO job_schedules (kind, every_minutes, updated_by, updated_at) VALUES ($1, $2, $3, $4)",
                )
                .bind(kind)
                .bind(every)
                .bind(user)
                .bind(now_ms())
                .execute(&db.pool)
                .await?;
            }
        }
    }
    audit::record(
        db,
        actor,
        "job.schedule",
        "job_schedule",
        kind.as_str(),
        serde_json::json!({"every_minutes": every_minutes}),
    )
    .await
}

/// Queues the jobs whose schedule is due. A scheduled scoring (or transform) job is
/// skipped while another of its kind is queued or running, or when nothing is
/// unscored.
pub async fn queue_due(db: &Db) -> DomainResult<()> {
    let now = now_ms();
    let due: Vec<JobSchedule> = sqlx::query_as(
        "SELECT kind, every_minutes, last_run_at FROM job_schedules \
         WHERE last_run_at IS NULL OR last_run_at + every_minutes * 60000 <= $1",
    )
    .bind(now)
    .fetch_all(&db.pool)
    .await?;
    for JobSchedule {
        kind,
        every_minutes: every,
        ..
    } in due
    {
        // Only the worker whose update lands queues the run.
        let won = sqlx::query(
            "UPDATE job_schedules SET last_run_at = $1 WHERE kind = $2 \
             AND (last_run_at IS NULL OR last_run_at + $3 * 60000 <= $1)",
        )
        .bind(now)
        .bind(kind)
        .bind(every)
        .execute(&db.pool)
        .await?;
        if won.rows_affected() == 0 {
            continue;
        }
        let job = NewJob::of(kind);
        let queued = if matches!(kind, JobKind::Score | JobKind::Transform) {
            // A sweep of the unscored: none while one runs, none with nothing to do.
            let unscored: Option<i64> =
                sqlx::query_scalar("SELECT id FROM emails WHERE prediction_id IS NULL LIMIT 1")
                    .fetch_optional(&db.pool)
                    .await?;
            if unscored.is_none() {
                continue;
            }
            super::create_unless_waiting(db, &job, Actor::System)
                .await
                .map(|_| ())
        } else {
            super::create(db, &job, Actor::System).await.map(|_| ())
        };
        if let Err(e) = queued {
            tracing::warn!(%kind, error = %e, "scheduled job not queued");
        }
    }
    Ok(())
}
