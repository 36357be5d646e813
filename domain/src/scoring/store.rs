//! Storing a scorer's answers: one `predictions` row per email and answer (the
//! history of every prediction is kept), and the email's current prediction.

use super::{EmailText, ScoreError, Scored, Scorer};
use crate::db::{Db, Dialect, values_placeholders};
use crate::error::{DomainError, DomainResult};
use crate::time::now_ms;

/// An email to score, as read from the database.
pub struct Pending {
    pub email_id: i64,
    pub text: EmailText,
}

/// Up to `limit` emails without a prediction, oldest first, from id `after` on.
pub async fn unscored(db: &Db, after: i64, limit: usize) -> DomainResult<Vec<Pending>> {
    let rows: Vec<(i64, String, String)> = sqlx::query_as(
        "SELECT e.id, e.subject, b.body_text FROM emails e JOIN email_bodies b ON b.email_id = e.id \
         WHERE e.prediction_id IS NULL AND e.id > $1 ORDER BY e.id LIMIT $2",
    )
    .bind(after)
    .bind(limit as i64)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(email_id, subject, body)| Pending {
            email_id,
            text: EmailText { subject, body },
        })
        .collect())
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

/// Whether an answer replaces an email's current prediction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replace {
    /// Only an email without a prediction gets one (scoring what is unscored).
    IfUnscored,
    /// The answer becomes the current prediction (rescoring).
    Always,
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
    // (prediction id, email id) of every answer written.
    let mut predictions: Vec<(i64, i64)> = Vec::with_capacity(rows.len());
    let dialect = Dialect::of(conn);
    for part in rows.chunks(INSERT_ROWS) {
        let mut sql = String::from(
            "INSERT INTO predictions (email_id, model_id, model_version, category_id, confidence, \
             probabilities, latency_ms, job_id, created_at) VALUES ",
        );
        sql.push_str(&values_placeholders(dialect, part.len(), 9));
        sql.push_str(" RETURNING id, email_id");
        let mut insert = sqlx::query_as::<_, (i64, i64)>(&sql);
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
    // The emails point at their new predictions (each row knows its email). With
    // `IfUnscored`, only emails still without one: when two processes score the same
    // email at once, PostgreSQL makes the second wait for the first's row lock and
    // then skip the row, and SQLite has one writer at a time.
    let unscored_only = match replace {
        Replace::IfUnscored => " AND emails.prediction_id IS NULL",
        Replace::Always => "",
    };
    let ids = id_list(predictions.iter().map(|(id, _)| *id));
    // Each updated email comes back with whether it is still new and unlabelled:
    // the emails that auto-accept may label (the rows stay locked, or SQLite's one
    // writer is this transaction, until the commit).
    let updated: Vec<(i64, String, Option<i64>)> = sqlx::query_as(&format!(
        "UPDATE emails SET prediction_id = p.id, predicted_category_id = p.category_id, \
         confidence = p.confidence FROM predictions p \
         WHERE p.id IN ({ids}) AND emails.id = p.email_id{unscored_only} \
         RETURNING emails.id, emails.status, emails.label_id"
    ))
    .persistent(false)
    .fetch_all(&mut *conn)
    .await?;
    let stored: std::collections::HashSet<i64> = updated.iter().map(|(id, _, _)| *id).collect();
    let untriaged: std::collections::HashSet<i64> = updated
        .iter()
        .filter(|(_, status, label)| status == "new" && label.is_none())
        .map(|(id, _, _)| *id)
        .collect();
    let (used, unused): (Vec<(i64, i64)>, Vec<(i64, i64)>) = predictions
        .into_iter()
        .partition(|(_, email_id)| stored.contains(email_id));
    if !unused.is_empty() {
        // Emails someone else scored first keep their prediction; these answers were
        // not used, so they leave no trace in the history either.
        sqlx::query(&format!(
            "DELETE FROM predictions WHERE id IN ({})",
            id_list(unused.iter().map(|(id, _)| *id))
        ))
        .persistent(false)
        .execute(&mut *conn)
        .await?;
    }
    let acceptable: Vec<i64> = used
        .iter()
        .filter(|(_, email_id)| untriaged.contains(email_id))
        .map(|(id, _)| *id)
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
    let accepted: Vec<(i64,)> = sqlx::query_as(&format!(
        "INSERT INTO labels (email_id, category_id, source, prediction_id, model_version, created_at) \
         SELECT p.email_id, p.category_id, 'auto', p.id, p.model_version, $1 \
         FROM predictions p CROSS JOIN categories c \
         WHERE p.id IN ({ids}) AND c.id = p.category_id \
           AND c.retired_at IS NULL AND c.auto_accept_threshold IS NOT NULL \
           AND p.confidence >= c.auto_accept_threshold \
         RETURNING id"
    ))
    .persistent(false)
    .bind(now_ms())
    .fetch_all(&mut *conn)
    .await?;
    if !accepted.is_empty() {
        sqlx::query(&format!(
            "UPDATE emails SET label_id = l.id, label_category_id = l.category_id, status = 'triaged' \
             FROM labels l WHERE l.id IN ({}) AND emails.id = l.email_id",
            id_list(accepted.into_iter().map(|(id,)| id))
        ))
        .persistent(false)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// `1,2,3` for an `IN (…)`: ids are integers, so they are written in, not bound
/// (one statement per batch instead of one per email). Such a statement is run once:
/// `persistent(false)` keeps it out of sqlx's statement cache, where it would push
/// out the statements that are used again.
pub(crate) fn id_list(ids: impl Iterator<Item = i64>) -> String {
    ids.map(|id| id.to_string()).collect::<Vec<_>>().join(",")
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
