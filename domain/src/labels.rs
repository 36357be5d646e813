//! Labels: every accept or correction a person makes, with its context (who, when,
//! the prediction and model version it answered, the seconds spent), undo, and the
//! history of an email's predictions and labels.
//!
//! Nothing is ever overwritten: a second label is a new row, an undone label keeps
//! its row with `undone_at` set, so the trail shows every decision.

use sqlx::Row;

use crate::db::Db;
use crate::error::{DomainError, DomainResult};
use crate::group_commit::{GroupedWrite, WriteFuture};
use crate::time::now_ms;
use crate::wire::{HistoryEntry, LabelConflict, LabelOutcome};

/// How long after labelling its author may take the label back.
pub const UNDO_WINDOW_MS: i64 = 30_000;

/// A person's decision on one email.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelRequest {
    pub email_id: i64,
    pub category: String,
    /// The person; `None` for an API token (an integration labelling).
    pub user_id: Option<i64>,
    /// The label the person saw when they decided (`None`: the email had none). When
    /// someone else labelled the email since, the outcome says so.
    pub seen_label_id: Option<i64>,
    pub seconds_spent: Option<f64>,
}

/// Records a label and makes it the email's current one.
pub async fn label(db: &Db, req: &LabelRequest) -> DomainResult<LabelOutcome> {
    let category_id = crate::categories::find_id(db, &req.category)
        .await?
        .ok_or_else(|| {
            DomainError::invalid("category", format!("no category named {:?}", req.category))
        })?;
    let seconds = match req.seconds_spent {
        Some(s) if !s.is_finite() || s < 0.0 => {
            return Err(DomainError::invalid(
                "seconds_spent",
                "must be a number of seconds, 0 or more",
            ));
        }
        // An email left open overnight is not a day of work.
        other => other.map(|s| s.min(3_600.0)),
    };
    db.write_grouped(Labelling {
        req: req.clone(),
        category_id,
        seconds,
    })
    .await
}

/// A validated label, ready to write; labels arriving together share a commit
/// (see [`crate::group_commit`]).
struct Labelling {
    req: LabelRequest,
    category_id: i64,
    seconds: Option<f64>,
}

impl GroupedWrite for Labelling {
    type Output = LabelOutcome;

    fn write<'c>(&'c self, conn: &'c mut sqlx::AnyConnection) -> WriteFuture<'c, LabelOutcome> {
        Box::pin(self.write_in(conn))
    }
}

impl Labelling {
    async fn write_in(&self, conn: &mut sqlx::AnyConnection) -> DomainResult<LabelOutcome> {
        let (req, category_id) = (&self.req, self.category_id);
        // Written first: the row lock (PostgreSQL) or write lock (SQLite) makes two
        // people labelling one email take turns, and the second sees the first's
        // label here.
        let row = sqlx::query(
            "UPDATE emails SET label_category_id = $1, \
               status = CASE WHEN status = 'new' THEN 'triaged' ELSE status END \
             WHERE id = $2 RETURNING label_id, predicted_category_id, prediction_id",
        )
        .bind(category_id)
        .bind(req.email_id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(DomainError::NotFound)?;
        let previous: Option<i64> = row.try_get("label_id")?;
        let predicted: Option<i64> = row.try_get("predicted_category_id")?;
        let prediction_id: Option<i64> = row.try_get("prediction_id")?;
        // Without a prediction there was nothing to accept: the person chose alone.
        let source = if predicted == Some(category_id) {
            "accepted"
        } else {
            "corrected"
        };
        let label_id: i64 = sqlx::query_scalar(
            "INSERT INTO labels (email_id, category_id, source, user_id, prediction_id, \
               model_version, seconds_spent, created_at) \
             VALUES ($1, $2, $3, $4, $5, (SELECT model_version FROM predictions WHERE id = $5), \
               CAST($6 AS DOUBLE PRECISION), $7) \
             RETURNING id",
        )
        .bind(req.email_id)
        .bind(category_id)
        .bind(source)
        .bind(req.user_id)
        .bind(prediction_id)
        .bind(crate::db::nullable_double(self.seconds))
        .bind(now_ms())
        .fetch_one(&mut *conn)
        .await?;
        sqlx::query("UPDATE emails SET label_id = $1 WHERE id = $2")
            .bind(label_id)
            .bind(req.email_id)
            .execute(&mut *conn)
            .await?;
        let conflict = match previous {
            Some(prev) if Some(prev) != req.seen_label_id => {
                conflict_with(conn, prev, req.user_id).await?
            }
            _ => None,
        };
        Ok(LabelOutcome {
            label_id,
            email_id: req.email_id,
            // find_id matched the stored name exactly: it is already the canonical one.
            category: req.category.clone(),
            source: source.to_string(),
            conflict,
        })
    }
}

/// The label someone else gave (a person's own earlier label is no conflict).
async fn conflict_with(
    conn: &mut sqlx::AnyConnection,
    label_id: i64,
    me: Option<i64>,
) -> DomainResult<Option<LabelConflict>> {
    let row = sqlx::query(
        "SELECT l.user_id, u.display_name, c.name, l.created_at, l.source FROM labels l \
         JOIN categories c ON c.id = l.category_id LEFT JOIN users u ON u.id = l.user_id \
         WHERE l.id = $1",
    )
    .bind(label_id)
    .fetch_one(&mut *conn)
    .await?;
    let by: Option<i64> = row.try_get(0)?;
    if by.is_some() && by == me {
        return Ok(None);
    }
    Ok(Some(LabelConflict {
        by: labeller(row.try_get(1)?, &row.try_get::<String, _>(4)?),
        category: row.try_get(2)?,
        at: row.try_get(3)?,
    }))
}

/// Who gave a label, in words: the person, or what stood in for one.
fn labeller(person: Option<String>, source: &str) -> String {
    person.unwrap_or_else(|| {
        match source {
            "auto" => "auto-accept",
            "imported" => "historical",
            _ => "API token",
        }
        .into()
    })
}

/// Takes back a label its author gave less than [`UNDO_WINDOW_MS`] ago. The email
/// goes back to the label before it (or to none, and to `new` when it was only
/// triaged); a later label by someone else stays current.
pub async fn undo(db: &Db, label_id: i64, user_id: i64) -> DomainResult<()> {
    let now = now_ms();
    let mut tx = db.begin_write().await?;
    let email_id: Option<i64> = sqlx::query_scalar(
        "UPDATE labels SET undone_at = $1 \
         WHERE id = $2 AND user_id = $3 AND undone_at IS NULL AND created_at >= $4 \
         RETURNING email_id",
    )
    .bind(now)
    .bind(label_id)
    .bind(user_id)
    .bind(now - UNDO_WINDOW_MS)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(email_id) = email_id else {
        let row = sqlx::query("SELECT user_id, undone_at FROM labels WHERE id = $1")
            .bind(label_id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(DomainError::NotFound)?;
        let message = if row.try_get::<Option<i64>, _>(0)? != Some(user_id) {
            "only the person who gave a label can undo it"
        } else if row.try_get::<Option<i64>, _>(1)?.is_some() {
            "this label was already undone"
        } else {
            "too late to undo: a label can be undone for 30 seconds"
        };
        return Err(DomainError::Conflict(message.into()));
    };
    let before = sqlx::query(
        "SELECT id, category_id FROM labels WHERE email_id = $1 AND undone_at IS NULL \
         ORDER BY id DESC LIMIT 1",
    )
    .bind(email_id)
    .fetch_optional(&mut *tx)
    .await?;
    let (before_id, before_category) = match &before {
        Some(r) => (Some(r.try_get::<i64, _>(0)?), Some(r.try_get::<i64, _>(1)?)),
        None => (None, None),
    };
    sqlx::query(
        "UPDATE emails SET label_id = $1, label_category_id = $2, \
           status = CASE WHEN $3 = 0 AND status = 'triaged' THEN 'new' ELSE status END \
         WHERE id = $4 AND label_id = $5",
    )
    .bind(before_id)
    .bind(before_category)
    .bind(i64::from(before_id.is_some()))
    .bind(email_id)
    .bind(label_id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Every prediction and label of an email, newest first (at most 100 of each).
pub async fn history(db: &Db, email_id: i64) -> DomainResult<Vec<HistoryEntry>> {
    let predictions = sqlx::query(
        "SELECT p.created_at, c.name, p.model_version, p.confidence FROM predictions p \
         JOIN categories c ON c.id = p.category_id WHERE p.email_id = $1 \
         ORDER BY p.created_at DESC, p.id DESC LIMIT 100",
    )
    .bind(email_id)
    .fetch_all(&db.pool)
    .await?;
    let labels = sqlx::query(
        "SELECT l.created_at, c.name, l.source, u.display_name, l.seconds_spent, l.undone_at \
         FROM labels l JOIN categories c ON c.id = l.category_id \
         LEFT JOIN users u ON u.id = l.user_id WHERE l.email_id = $1 \
         ORDER BY l.created_at DESC, l.id DESC LIMIT 100",
    )
    .bind(email_id)
    .fetch_all(&db.pool)
    .await?;
    let mut out = Vec::with_capacity(predictions.len() + labels.len());
    for r in &predictions {
        out.push(HistoryEntry {
            at: r.try_get(0)?,
            kind: "prediction".into(),
            category: r.try_get(1)?,
            by: r.try_get(2)?,
            confidence: r.try_get(3)?,
            seconds_spent: None,
            undone: false,
        });
    }
    for r in &labels {
        let source: String = r.try_get(2)?;
        out.push(HistoryEntry {
            at: r.try_get(0)?,
            by: labeller(r.try_get(3)?, &source),
            kind: source,
            category: r.try_get(1)?,
            confidence: None,
            seconds_spent: r.try_get(4)?,
            undone: r.try_get::<Option<i64>, _>(5)?.is_some(),
        });
    }
    // Labels after predictions at the same millisecond: the answer follows the question.
    out.sort_by(|a, b| {
        b.at.cmp(&a.at)
            .then_with(|| (a.kind == "prediction").cmp(&(b.kind == "prediction")))
    });
    Ok(out)
}
