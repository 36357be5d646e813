//! Bulk actions: accept, correct, assign or archive many emails at once (a selection
//! or every email a queue filter selects), as one operation that reports its count
//! and leaves one audit entry.

use crate::audit::{self, Actor};
use crate::db::Db;
use crate::email_state;
use crate::error::{DomainError, DomainResult};
use crate::queue::{self, QueueFilter};
use crate::sql::id_list;
use crate::time::now_ms;
use crate::wire::{BulkAction, EmailStatus, LabelSource};

/// At most this many emails change in one bulk action.
pub const MAX_EMAILS: i64 = 20_000;

/// Which emails.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    Ids(Vec<i64>),
    Filter(QueueFilter),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// The model's category becomes the label, for emails nobody has labelled yet
    /// (a person's earlier decision is never overruled by a bulk accept).
    Accept,
    /// This category becomes the label of every email.
    Correct(String),
    /// Assign to a user, or to nobody.
    Assign(Option<i64>),
    Archive,
}

impl Action {
    pub fn kind(&self) -> BulkAction {
        match self {
            Action::Accept => BulkAction::Accept,
            Action::Correct(_) => BulkAction::Correct,
            Action::Assign(_) => BulkAction::Assign,
            Action::Archive => BulkAction::Archive,
        }
    }
}

/// The emails a target covers, checked to exist.
pub async fn resolve(db: &Db, target: &Target) -> DomainResult<Vec<i64>> {
    match target {
        Target::Filter(f) => queue::matching_ids(db, f, MAX_EMAILS + 1).await,
        Target::Ids(ids) => {
            let mut ids = ids.clone();
            ids.sort_unstable();
            ids.dedup();
            Ok(ids)
        }
    }
}

/// Applies the action and returns how many emails changed.
pub async fn apply(db: &Db, target: &Target, action: &Action, user_id: i64) -> DomainResult<i64> {
    let ids = resolve(db, target).await?;
    if ids.len() as i64 > MAX_EMAILS {
        return Err(DomainError::invalid(
            "target",
            format!("a bulk action changes at most {MAX_EMAILS} emails; narrow the filter"),
        ));
    }
    let category_id = match action {
        Action::Correct(name) => {
            Some(crate::categories::find_id(db, name).await?.ok_or_else(|| {
                DomainError::invalid("category", format!("no category named {name:?}"))
            })?)
        }
        _ => None,
    };
    let now = now_ms();
    let mut changed = 0;
    let mut tx = db.begin_write().await?;
    for part in ids.chunks(500) {
        changed += match action {
            Action::Accept | Action::Correct(_) => {
                let labels = insert_labels(&mut tx, part, category_id, user_id, now).await?;
                email_state::make_labels_current(&mut tx, &labels).await?;
                labels.len() as u64
            }
            Action::Assign(who) => email_state::assign(&mut tx, part, *who).await?,
            Action::Archive => {
                email_state::set_statuses(&mut tx, part, EmailStatus::Archived).await?
            }
        };
    }
    tx.commit().await?;
    let details = serde_json::json!({
        "action": action.kind(),
        "targeted": ids.len(),
        "changed": changed,
        "category": match action { Action::Correct(c) => Some(c.clone()), _ => None },
        "assignee": match action { Action::Assign(who) => *who, _ => None },
        "by_filter": matches!(target, Target::Filter(_)),
    });
    audit::record(
        db,
        Actor::User(user_id),
        &format!("bulk.{}", action.kind()),
        "emails",
        "",
        details,
    )
    .await?;
    Ok(changed as i64)
}

/// Labels `ids` with `category` (the model's category when `None`, and then only the
/// emails nobody labelled that have a prediction); returns the new labels' ids.
async fn insert_labels(
    conn: &mut sqlx::AnyConnection,
    ids: &[i64],
    category: Option<i64>,
    user_id: i64,
    now: i64,
) -> DomainResult<Vec<i64>> {
    let (accepted, corrected) = (LabelSource::Accepted, LabelSource::Corrected);
    let (category_sql, source_sql, only_unlabelled) = match category {
        Some(_) => (
            "$3",
            format!(
                "CASE WHEN e.predicted_category_id = $3 THEN '{accepted}' ELSE '{corrected}' END"
            ),
            "",
        ),
        None => (
            "e.predicted_category_id",
            format!("'{accepted}'"),
            " AND e.label_id IS NULL AND e.predicted_category_id IS NOT NULL",
        ),
    };
    let sql = format!(
        "INSERT INTO labels (email_id, category_id, source, user_id, prediction_id, model_version, created_at) \
         SELECT e.id, {category_sql}, {source_sql}, $1, e.prediction_id, p.model_version, $2 \
         FROM emails e LEFT JOIN predictions p ON p.id = e.prediction_id \
         WHERE e.id IN ({}){only_unlabelled} RETURNING id",
        id_list(ids.iter().copied())
    );
    let mut insert = sqlx::query_scalar(&sql)
        .persistent(false)
        .bind(user_id)
        .bind(now);
    if let Some(id) = category {
        insert = insert.bind(id);
    }
    Ok(insert.fetch_all(&mut *conn).await?)
}
