//! Storing a scorer's answers: one `predictions` row per email and answer (the
//! history of every prediction is kept), and the email's current prediction.

use std::collections::HashSet;

use super::{EmailText, ScoreError, Scored, Scorer};
use crate::db::{Db, Dialect};
use crate::email_state;
use crate::error::{DomainError, DomainResult};
use crate::sql::{id_list, values_placeholders};
use crate::time::now_ms;
use crate::wire::LabelSource;

pub use crate::email_state::Replace;

/// An email to score, as read from the database.
#[derive(sqlx::FromRow)]
pub struct Pending {
    pub email_id: i64,
    #[sqlx(flatten)]
    pub text: EmailText,
}

/// Up to `limit` emails without a prediction, oldest first, from id `after` on.
pub async fn unscored(db: &Db, after: i64, limit: usize) -> DomainResult<Vec<Pending>> {
    Ok(sqlx::query_as(
        "SELECT e.id AS email_id, e.subject, b.body_text AS body FROM emails e \
         JOIN email_bodies b ON b.email_id = e.id \
         WHERE e.prediction_id IS NULL AND e.id > $1 ORDER BY e.id LIMIT $2",
    )
    .bind(after)
    .bind(limit as i64)
    .fetch_all(&db.pool)
    .await?)
}

/// Scores every email that has no prediction yet, a batch at a time, each batch
/// written in one transaction. A failed batch stops the run with its error and its
/// emails stay unscored for the next run. Returns how many were scored.
pub async fn score_unscored(db: &Db, scorer: &Scorer) -> DomainResult<usize> {
    let mut scored = 0;
    let mut after = 0;
    loop {
        let pending = unscored(db, after, scorer.batch_size()).await?;
        let Some(last) = pending.last() else {
            return Ok(scored);
        };
        after = last.email_id;
        let texts: Vec<EmailText> = pending.iter().map(|p| p.text.clone()).collect();
        let answers = scorer.score(&texts).await.map_err(DomainError::from)?;
        let ids: Vec<i64> = pending.iter().map(|p| p.email_id).collect();
        scored += store_unscored(db, scorer, &ids, &answers, None).await?;
    }
}

/// Stores the answers for emails that are still unscored; an email another scorer
/// got to first is left as it is. Returns how many were stored.
pub async fn store_unscored(
    db: &Db,
    scorer: &Scorer,
    email_ids: &[i64],
    answers: &[Scored],
    job_id: Option<i64>,
) -> DomainResult<usize> {
    let batch: Vec<(i64, &Scored)> = email_ids.iter().copied().zip(answers).collect();
    let mut tx = db.begin_write().await?;
    let stored = store_answers(&mut tx, scorer, &batch, job_id, Replace::IfUnscored).await?;
    tx.commit().await?;
    Ok(stored.len())
}

/// Stores one answer; see [`store_answers`]. Returns false when `IfUnscored` found
/// the email already scored.
pub async fn store_answer(
    conn: &mut sqlx::AnyConnection,
    scorer: &Scorer,
    email_id: i64,
    answer: &Scored,
    job_id: Option<i64>,
    replace: Replace,
) -> DomainResult<bool> {
    let stored = store_answers(conn, scorer, &[(email_id, answer)], job_id, replace).await?;
    Ok(!stored.is_empty())
}

/// Rows per `INSERT` (9 values each): a built-in job's whole chunk in one statement.
const INSERT_ROWS: usize = 500;

/// Stores answers (one per email; email ids unique) as predictions, kept in the
/// history, and, per `replace`, as the emails' current predictions. With
/// `IfUnscored`, emails already scored are skipped. Returns the ids of the emails
/// stored. A few statements per batch, not per email: this is the job hot path.
pub async fn store_answers(
    conn: &mut sqlx::AnyConnection,
    scorer: &Scorer,
    answers: &[(i64, &Scored)],
    job_id: Option<i64>,
    replace: Replace,
) -> DomainResult<Vec<i64>> {
    let categories = scorer.category_ids();
    let mut rows = Vec::with_capacity(answers.len());
    for (email_id, answer) in answers {
        let category_id = *categories.get(&answer.category).ok_or_else(|| {
            DomainError::from(ScoreError::UnknownLabel {
                label: answer.category.clone(),
            })
        })?;
        rows.push((*email_id, category_id, *answer));
    }
    let now = now_ms();
    let mut predictions: Vec<Written> = Vec::with_capacity(rows.len());
    let dialect = Dialect::of(conn);
    for part in rows.chunks(INSERT_ROWS) {
        let mut sql = String::from(
            "INSERT INTO predictions (email_id, model_id, model_version, category_id, confidence, \
             probabilities, latency_ms, job_id, created_at) VALUES ",
        );
        sql.push_str(&values_placeholders(dialect, part.len(), 9));
        sql.push_str(" RETURNING id, email_id");
        let mut insert = sqlx::query_as::<_, Written>(&sql);
        for (email_id, category_id, answer) in part {
            insert = insert
                .bind(*email_id)
                .bind(scorer.model_id())
                .bind(scorer.version().to_string())
                .bind(*category_id)
                .bind(answer.confidence)
                .bind(probabilities_json(answer))
                .bind(answer.latency_ms)
                .bind(job_id)
                .bind(now);
        }
        predictions.extend(insert.fetch_all(&mut *conn).await?);
    }
    if predictions.is_empty() {
        return Ok(Vec::new());
    }
    // The emails point at their new predictions; those still new and unlabelled
    // come back marked, for auto-accept.
    let ids = id_list(predictions.iter().map(|p| p.id));
    let updated = email_state::make_predictions_current(conn, &ids, replace).await?;
    let stored: HashSet<i64> = updated.iter().map(|u| u.email_id).collect();
    let undecided: HashSet<i64> = updated
        .iter()
        .filter(|u| u.awaits_decision())
        .map(|u| u.email_id)
        .collect();
    let (used, unused): (Vec<Written>, Vec<Written>) = predictions
        .into_iter()
        .partition(|p| stored.contains(&p.email_id));
    if !unused.is_empty() {
        // Emails someone else scored first keep their prediction; these answers were
        // not used, so they leave no trace in the history either.
        sqlx::query(&format!(
            "DELETE FROM predictions WHERE id IN ({})",
            id_list(unused.iter().map(|p| p.id))
        ))
        .persistent(false)
        .execute(&mut *conn)
        .await?;
    }
    let acceptable: Vec<i64> = used
        .iter()
        .filter(|p| undecided.contains(&p.email_id))
        .map(|p| p.id)
        .collect();
    if !acceptable.is_empty() {
        auto_accept(conn, &id_list(acceptable.into_iter())).await?;
    }
    Ok(rows
        .into_iter()
        .map(|(id, _, _)| id)
        .filter(|id| stored.contains(id))
        .collect())
}

/// A prediction just written.
#[derive(sqlx::FromRow)]
struct Written {
    id: i64,
    email_id: i64,
}

/// Accepts, without a person, new predictions (`ids`, of emails just pointed at them
/// that are untriaged and unlabelled) whose confidence reaches their category's
/// auto-accept threshold: a label with source `auto` (no user), and the email leaves
/// the queue as triaged. Staff analytics and training never count these labels as
/// human judgements. Without thresholds the insert finds nothing and the update does
/// not run.
///
/// Neither statement filters `emails` by status: the caller already knows which
/// emails qualify, so both reach rows by primary key alone. A filter on `status`
/// let PostgreSQL start from the emails, and with statistics older than a large
/// import it walked every new email for each chunk (1.1–1.4 s a chunk of 500 at
/// 66,000 new emails). `CROSS JOIN` keeps SQLite reading the batch's predictions
/// first, not every prediction of the few categories.
async fn auto_accept(conn: &mut sqlx::AnyConnection, ids: &str) -> DomainResult<()> {
    let accepted: Vec<i64> = sqlx::query_scalar(&format!(
        "INSERT INTO labels (email_id, category_id, source, prediction_id, model_version, created_at) \
         SELECT p.email_id, p.category_id, '{}', p.id, p.model_version, $1 \
         FROM predictions p CROSS JOIN categories c \
         WHERE p.id IN ({ids}) AND c.id = p.category_id \
           AND c.retired_at IS NULL AND c.auto_accept_threshold IS NOT NULL \
           AND p.confidence >= c.auto_accept_threshold \
         RETURNING id",
        LabelSource::Auto
    ))
    .persistent(false)
    .bind(now_ms())
    .fetch_all(&mut *conn)
    .await?;
    email_state::make_labels_current(conn, &accepted).await?;
    Ok(())
}

/// `{"category": probability, …}`, rounded to 4 decimals (plenty for display and
/// calibration, and a third of the size).
fn probabilities_json(answer: &Scored) -> String {
    let map: serde_json::Map<String, serde_json::Value> = answer
        .probabilities
        .iter()
        .map(|(c, p)| {
            (
                c.clone(),
                serde_json::json!((p * 10_000.0).round() / 10_000.0),
            )
        })
        .collect();
    serde_json::Value::Object(map).to_string()
}
