//! A scoring job's targets: which emails it scores, written once when it starts as
//! numbered chunks (`job_chunks`) that workers lease (see `worker`).

use crate::error::DomainResult;
use crate::sql::{Sql, id_list};
use crate::wire::{JobKind, ModelKind};

use super::NewJob;

/// Emails per chunk of a built-in job (at least): one transaction stores a chunk.
/// The built-in model is so quick that the database's one writer sets the pace, and
/// each commit rewrites the index pages its chunk touched (the emails' current
/// prediction is in four indexes; the two keyed by confidence take a chunk's emails
/// at random places). On 100,000 demo emails with SQLite (bench/jobs.py, medians of
/// 3), chunks of 500 took 3.7 s a job and chunks of 5,000 took 2.8 s (PostgreSQL:
/// 10.0 s and 8.1 s); their commits went from 0.3–1.0 s to 0.1–0.25 s a job. The
/// price: a chunk of real mail (about 2 KB a text) is some 10 MB in memory, up to
/// four per lane, and a chunk holds SQLite's write lock for about 0.1 s.
const BUILTIN_CHUNK: usize = 5_000;

/// Writes the targets of job `id` (just moved to running, in the caller's
/// transaction) as its chunks, and counts them into its total. `batch_size` is the
/// emails an endpoint takes per request (the workers' setting).
pub(super) async fn write(
    conn: &mut sqlx::AnyConnection,
    id: i64,
    job: &NewJob,
    batch_size: usize,
) -> DomainResult<()> {
    let ids: Vec<i64> = select(job).query_scalar().fetch_all(&mut *conn).await?;
    let size = chunk_size(conn, id, batch_size).await?;
    add_chunks(conn, id, 1, &ids, size).await?;
    sqlx::query("UPDATE jobs SET total = total + $1 WHERE id = $2")
        .bind(ids.len() as i64)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The `SELECT` of the ids of a job's emails, in id order: the unscored ones for a
/// score job or a transform job without a filter, else the filter's.
pub(super) fn select(job: &NewJob) -> Sql {
    let mut sql = Sql::new(
        "SELECT e.id FROM emails e \
         LEFT JOIN predictions p ON p.id = e.prediction_id \
         LEFT JOIN categories c ON c.id = e.predicted_category_id WHERE 1 = 1",
    );
    let unscored = job.kind == JobKind::Score
        || (job.kind == JobKind::Transform
            && job.filter == super::JobFilter::default()
            && !job.transform.all);
    if unscored {
        sql.push(" AND e.prediction_id IS NULL");
    } else {
        let f = &job.filter;
        if let Some(c) = &f.category {
            sql.push(" AND c.name = ").bind(c.as_str());
        }
        if let Some(s) = f.status {
            sql.push(" AND e.status = ").bind(s.as_str());
        }
        if let Some(m) = &f.model {
            sql.push(" AND p.model_version = ").bind(m.as_str());
        }
        if let Some(from) = f.received_from {
            sql.push(" AND e.received_at >= ").bind(from);
        }
        if let Some(to) = f.received_to {
            sql.push(" AND e.received_at < ").bind(to);
        }
        if let Some(lo) = f.min_confidence {
            sql.push(" AND e.confidence >= ").bind(lo);
        }
        if let Some(hi) = f.max_confidence {
            sql.push(" AND e.confidence <= ").bind(hi);
        }
    }
    sql.push(" ORDER BY e.id");
    sql
}

/// Emails per chunk of job `id`: the configured batch for an endpoint (one request
/// each); more for the built-in model, where a chunk is bounded by the transaction,
/// not a request.
async fn chunk_size(
    conn: &mut sqlx::AnyConnection,
    id: i64,
    batch_size: usize,
) -> DomainResult<usize> {
    let kind: Option<ModelKind> = sqlx::query_scalar(
        "SELECT m.kind FROM jobs j JOIN models m ON m.id = j.model_id WHERE j.id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(match kind {
        Some(ModelKind::Builtin) => batch_size.max(BUILTIN_CHUNK),
        _ => batch_size.max(1),
    })
}

/// Writes `ids` (in order) as the job's chunks of `size`, numbered from `first_seq`.
pub(super) async fn add_chunks(
    conn: &mut sqlx::AnyConnection,
    job: i64,
    first_seq: i64,
    ids: &[i64],
    size: usize,
) -> DomainResult<()> {
    let chunks: Vec<&[i64]> = ids.chunks(size.max(1)).collect();
    let mut seq = first_seq;
    for part in chunks.chunks(100) {
        let values = (0..part.len())
            .map(|i| format!("({job}, {}, ${}, {})", seq + i as i64, i + 1, part[i].len()))
            .collect::<Vec<_>>()
            .join(",");
        let sql = format!("INSERT INTO job_chunks (job_id, seq, email_ids, size) VALUES {values}");
        let mut insert = sqlx::query(&sql);
        for chunk in part {
            insert = insert.bind(id_list(chunk.iter().copied()));
        }
        insert.execute(&mut *conn).await?;
        seq += part.len() as i64;
    }
    Ok(())
}

/// The emails a job would target now, for tests of the filter.
#[cfg(test)]
pub(super) async fn preview(db: &crate::db::Db, job: &NewJob) -> DomainResult<Vec<i64>> {
    Ok(select(job).query_scalar().fetch_all(&db.pool).await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::JobFilter;
    use crate::wire::EmailStatus;

    #[test]
    fn a_rescore_selects_only_the_filters_that_are_set() {
        let job = NewJob {
            filter: JobFilter {
                status: Some(EmailStatus::New),
                max_confidence: Some(0.6),
                ..Default::default()
            },
            ..NewJob::of(JobKind::Rescore)
        };
        assert!(
            select(&job)
                .text()
                .ends_with("WHERE 1 = 1 AND e.status = $1 AND e.confidence <= $2 ORDER BY e.id")
        );
        assert!(
            select(&NewJob::of(JobKind::Score))
                .text()
                .ends_with("WHERE 1 = 1 AND e.prediction_id IS NULL ORDER BY e.id")
        );
    }

    #[tokio::test]
    async fn the_targets_are_the_emails_the_filter_selects() {
        let (db, dir) = crate::demo::demo_database("targets").await;
        let job = NewJob {
            filter: JobFilter {
                status: Some(EmailStatus::Triaged),
                ..Default::default()
            },
            ..NewJob::of(JobKind::Rescore)
        };
        let targets = preview(&db, &job).await.unwrap();
        let triaged: Vec<i64> =
            sqlx::query_scalar("SELECT id FROM emails WHERE status = 'triaged' ORDER BY id")
                .fetch_all(&db.pool)
                .await
                .unwrap();
        assert!(!triaged.is_empty());
        assert_eq!(targets, triaged);
        db.close().await;
        std::fs::remove_dir_all(dir).unwrap();
    }
}
