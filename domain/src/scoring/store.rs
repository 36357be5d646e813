//! Storing a scorer's answers: one `predictions` row per email and answer (the
//! history of every prediction is kept), and the email's current prediction.

use super::{EmailText, ScoreError, Scored, Scorer};
use crate::db::Db;
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
        "SELECT id, subject, body_text FROM emails WHERE prediction_id IS NULL AND id > $1 \
         ORDER BY id LIMIT $2",
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
    let mut tx = db.pool.begin().await?;
    let mut stored = 0;
    for (email_id, answer) in email_ids.iter().zip(answers) {
        if store_answer(
            &mut tx,
            scorer,
            *email_id,
            answer,
            job_id,
            Replace::IfUnscored,
        )
        .await?
        {
            stored += 1;
        }
    }
    tx.commit().await?;
    Ok(stored)
}

/// Whether an answer replaces an email's current prediction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replace {
    /// Only an email without a prediction gets one (scoring what is unscored).
    IfUnscored,
    /// The answer becomes the current prediction (rescoring).
    Always,
}

/// Stores one answer as a prediction (kept in the history) and, per `replace`, as
/// the email's current prediction. Returns false when `IfUnscored` found the email
/// already scored, and then stores nothing.
pub async fn store_answer(
    conn: &mut sqlx::AnyConnection,
    scorer: &Scorer,
    email_id: i64,
    answer: &Scored,
    job_id: Option<i64>,
    replace: Replace,
) -> DomainResult<bool> {
    let category_id = *scorer.category_ids().get(&answer.category).ok_or_else(|| {
        DomainError::from(ScoreError::UnknownLabel {
            label: answer.category.clone(),
        })
    })?;
    if replace == Replace::IfUnscored {
        // Claim the email first: when two processes score at once, the second waits
        // for the first's row lock, then finds it scored and moves on.
        let claimed = sqlx::query(
            "UPDATE emails SET predicted_category_id = $1, confidence = $2 \
             WHERE id = $3 AND prediction_id IS NULL",
        )
        .bind(category_id)
        .bind(answer.confidence)
        .bind(email_id)
        .execute(&mut *conn)
        .await?;
        if claimed.rows_affected() == 0 {
            return Ok(false);
        }
    }
    let prediction_id: i64 = sqlx::query_scalar(
        "INSERT INTO predictions (email_id, model_id, model_version, category_id, confidence, probabilities, latency_ms, job_id, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
    )
    .bind(email_id)
    .bind(scorer.model_id())
    .bind(scorer.version())
    .bind(category_id)
    .bind(answer.confidence)
    .bind(probabilities_json(answer))
    .bind(answer.latency_ms)
    .bind(job_id)
    .bind(now_ms())
    .fetch_one(&mut *conn)
    .await?;
    sqlx::query(
        "UPDATE emails SET prediction_id = $1, predicted_category_id = $2, confidence = $3 WHERE id = $4",
    )
    .bind(prediction_id)
    .bind(category_id)
    .bind(answer.confidence)
    .bind(email_id)
    .execute(&mut *conn)
    .await?;
    Ok(true)
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
