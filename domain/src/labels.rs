//! Labels: every accept or correction a person makes, with its context (who, when,
//! the prediction and model version it answered, the seconds spent), undo, and the
//! history of an email's predictions and labels.
//!
//! Nothing is ever overwritten: a second label is a new row, an undone label keeps
//! its row with `undone_at` set, so the trail shows every decision.

use crate::db::Db;
use crate::db::group_commit::{GroupedWrite, WriteFuture};
use crate::email_state;
use crate::error::{DomainError, DomainResult};
use crate::sql::nullable_double;
use crate::time::now_ms;
use crate::wire::{HistoryEntry, HistoryKind, LabelConflict, LabelOutcome, LabelSource};

/// How long after labelling its author may take the label back.
pub const UNDO_WINDOW_MS: i64 = 30_000;

/// A person's decision on one email.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelRequest {
    pub email_id: i64,
    pub category: String,
    /// The person; `None` for an API token (an integration labelling).
    pub user_id: Option<i64>,
    /// The API token that posted the label, when one did.
    pub token_id: Option<i64>,
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
        let before = email_state::start_label(conn, req.email_id, category_id).await?;
        // Without a prediction there was nothing to accept: the person chose alone.
        let source = if before.predicted_category_id == Some(category_id) {
            LabelSource::Accepted
        } else {
            LabelSource::Corrected
        };
        let label = NewLabel {
            email_id: req.email_id,
            category_id,
            source,
            user_id: req.user_id,
            token_id: req.token_id,
            prediction_id: before.prediction_id,
            seconds_spent: self.seconds,
            created_at: now_ms(),
        };
        let label_id = insert(conn, &label).await?;
        email_state::point_at_label(conn, req.email_id, label_id).await?;
        let conflict = match before.label_id {
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
            source,
            conflict,
        })
    }
}

/// A label decided elsewhere (the team's history, the demo's staff), as it is
/// stored.
#[derive(Debug, Clone, PartialEq)]
pub struct NewLabel {
    pub email_id: i64,
    pub category_id: i64,
    pub source: LabelSource,
    /// The person; `None` for a historical label.
    pub user_id: Option<i64>,
    /// The API token that posted it, when one did.
    pub token_id: Option<i64>,
    /// The prediction it answered, if any (its model version is recorded too).
    pub prediction_id: Option<i64>,
    pub seconds_spent: Option<f64>,
    pub created_at: i64,
}

/// Stores a label decided elsewhere and makes it the email's current one, in the
/// caller's transaction. Returns its id.
pub async fn record(conn: &mut sqlx::AnyConnection, label: &NewLabel) -> DomainResult<i64> {
    let id = insert(conn, label).await?;
    email_state::make_labels_current(conn, &[id]).await?;
    Ok(id)
}

/// Writes a label's row, with the model version of the prediction it answered;
/// making it current is the email state's business.
async fn insert(conn: &mut sqlx::AnyConnection, label: &NewLabel) -> DomainResult<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO labels (email_id, category_id, source, user_id, prediction_id, \
           model_version, seconds_spent, created_at, token_id) \
         VALUES ($1, $2, $3, $4, $5, (SELECT model_version FROM predictions WHERE id = $5), \
           CAST($6 AS DOUBLE PRECISION), $7, $8) \
         RETURNING id",
    )
    .bind(label.email_id)
    .bind(label.category_id)
    .bind(label.source)
    .bind(label.user_id)
    .bind(label.prediction_id)
    .bind(nullable_double(label.seconds_spent))
    .bind(label.created_at)
    .bind(label.token_id)
    .fetch_one(&mut *conn)
    .await?)
}

/// The label someone else gave (a person's own earlier label is no conflict).
async fn conflict_with(
    conn: &mut sqlx::AnyConnection,
    label_id: i64,
    me: Option<i64>,
) -> DomainResult<Option<LabelConflict>> {
    let other: Labeller = sqlx::query_as(
        "SELECT l.user_id, u.display_name, t.name AS token_name, c.name AS category, \
           l.created_at, l.source \
         FROM labels l JOIN categories c ON c.id = l.category_id \
         LEFT JOIN users u ON u.id = l.user_id \
         LEFT JOIN api_tokens t ON t.id = l.token_id WHERE l.id = $1",
    )
    .bind(label_id)
    .fetch_one(&mut *conn)
    .await?;
    if other.user_id.is_some() && other.user_id == me {
        return Ok(None);
    }
    Ok(Some(LabelConflict {
        by: other.name(),
        category: other.category,
        at: other.created_at,
    }))
}

/// A label with who gave it.
#[derive(sqlx::FromRow)]
struct Labeller {
    user_id: Option<i64>,
    display_name: Option<String>,
    token_name: Option<String>,
    category: String,
    created_at: i64,
    source: LabelSource,
}

impl Labeller {
    /// Who gave the label, in words: the person, or what stood in for one.
    fn name(&self) -> String {
        match (&self.display_name, self.source) {
            (Some(person), _) => person.clone(),
            (None, LabelSource::Auto) => "auto-accept".into(),
            (None, LabelSource::Imported) => "historical".into(),
            (None, _) => match &self.token_name {
                Some(token) => format!("API token “{token}”"),
                None => "API token".into(),
            },
        }
    }
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
        #[derive(sqlx::FromRow)]
        struct Refused {
            user_id: Option<i64>,
            undone_at: Option<i64>,
        }
        let refused: Refused =
            sqlx::query_as("SELECT user_id, undone_at FROM labels WHERE id = $1")
                .bind(label_id)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or(DomainError::NotFound)?;
        let message = if refused.user_id != Some(user_id) {
            "only the person who gave a label can undo it"
        } else if refused.undone_at.is_some() {
            "this label was already undone"
        } else {
            "too late to undo: a label can be undone for 30 seconds"
        };
        return Err(DomainError::Conflict(message.into()));
    };
    email_state::label_undone(&mut tx, email_id, label_id).await?;
    tx.commit().await?;
    Ok(())
}

/// Every prediction and label of an email, newest first (at most 100 of each).
pub async fn history(db: &Db, email_id: i64) -> DomainResult<Vec<HistoryEntry>> {
    #[derive(sqlx::FromRow)]
    struct Predicted {
        created_at: i64,
        category: String,
        model_version: String,
        confidence: f64,
    }
    #[derive(sqlx::FromRow)]
    struct Labelled {
        #[sqlx(flatten)]
        by: Labeller,
        seconds_spent: Option<f64>,
        undone_at: Option<i64>,
    }
    let predictions: Vec<Predicted> = sqlx::query_as(
        "SELECT p.created_at, c.name AS category, p.model_version, p.confidence \
         FROM predictions p JOIN categories c ON c.id = p.category_id WHERE p.email_id = $1 \
         ORDER BY p.created_at DESC, p.id DESC LIMIT 100",
    )
    .bind(email_id)
    .fetch_all(&db.pool)
    .await?;
    let labels: Vec<Labelled> = sqlx::query_as(
        "SELECT l.user_id, u.display_name, t.name AS token_name, c.name AS category, \
           l.created_at, l.source, \
           l.seconds_spent, l.undone_at \
         FROM labels l JOIN categories c ON c.id = l.category_id \
         LEFT JOIN users u ON u.id = l.user_id \
         LEFT JOIN api_tokens t ON t.id = l.token_id WHERE l.email_id = $1 \
         ORDER BY l.created_at DESC, l.id DESC LIMIT 100",
    )
    .bind(email_id)
    .fetch_all(&db.pool)
    .await?;
    let mut out = Vec::with_capacity(predictions.len() + labels.len());
    for p in predictions {
        out.push(HistoryEntry {
            at: p.created_at,
            kind: HistoryKind::Prediction,
            category: p.category,
            by: p.model_version,
            confidence: Some(p.confidence),
            seconds_spent: None,
            undone: false,
        });
    }
    for l in labels {
        out.push(HistoryEntry {
            at: l.by.created_at,
            kind: HistoryKind::Label(l.by.source),
            by: l.by.name(),
            category: l.by.category,
            confidence: None,
            seconds_spent: l.seconds_spent,
            undone: l.undone_at.is_some(),
        });
    }
    // Labels after predictions at the same millisecond: the answer follows the question.
    out.sort_by(|a, b| {
        b.at.cmp(&a.at).then_with(|| {
            (a.kind == HistoryKind::Prediction).cmp(&(b.kind == HistoryKind::Prediction))
        })
    });
    Ok(out)
}
