//! What an operator pages on, counted for `/metrics`: emails by status, the age of the
//! oldest untriaged email, and jobs by status.

use crate::db::Db;
use crate::error::DomainResult;
use crate::time::now_ms;

#[derive(Debug, Clone, PartialEq)]
pub struct Backlog {
    /// `(status, emails)` for every status.
    pub emails_by_status: Vec<(String, i64)>,
    /// Seconds since the oldest untriaged email arrived (0 when there is none).
    pub oldest_untriaged_seconds: f64,
    /// `(status, jobs)` for every status.
    pub jobs_by_status: Vec<(String, i64)>,
}

/// Every status, so that one that empties reads 0 rather than its last count.
const EMAIL_STATUSES: [&str; 4] = ["new", "triaged", "replied", "archived"];
const JOB_STATUSES: [&str; 5] = ["queued", "running", "succeeded", "failed", "cancelled"];

fn every_status(known: &[&str], counted: Vec<(String, i64)>) -> Vec<(String, i64)> {
    known
        .iter()
        .map(|status| {
            let count = counted
                .iter()
                .find(|(s, _)| s == status)
                .map_or(0, |(_, n)| *n);
            (status.to_string(), count)
        })
        .collect()
}

pub async fn backlog(db: &Db) -> DomainResult<Backlog> {
    let emails_by_status =
        sqlx::query_as("SELECT status, COUNT(*) FROM emails GROUP BY status ORDER BY status")
            .fetch_all(&db.pool)
            .await?;
    // The status index gives the oldest new email at once.
    let oldest: Option<i64> =
        sqlx::query_scalar("SELECT MIN(received_at) FROM emails WHERE status = 'new'")
            .fetch_one(&db.pool)
            .await?;
    let jobs_by_status =
        sqlx::query_as("SELECT status, COUNT(*) FROM jobs GROUP BY status ORDER BY status")
            .fetch_all(&db.pool)
            .await?;
    Ok(Backlog {
        emails_by_status: every_status(&EMAIL_STATUSES, emails_by_status),
        oldest_untriaged_seconds: oldest.map_or(0.0, |at| ((now_ms() - at).max(0)) as f64 / 1000.0),
        jobs_by_status: every_status(&JOB_STATUSES, jobs_by_status),
    })
}
