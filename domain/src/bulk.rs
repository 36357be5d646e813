//! Bulk actions: accept, correct, assign or archive many emails at once (a selection
//! or every email a queue filter selects), as one operation that reports its count
//! and leaves one audit entry.

use crate::audit::{self, Actor};
use crate::db::Db;
use crate::error::{DomainError, DomainResult};
use crate::queue::{self, QueueFilter};
use crate::time::now_ms;

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
    fn name(&self) -> &'static str {
        match self {
            Action::Accept => "accept",
            Action::Correct(_) => "correct",
            Action::Assign(_) => "assign",
            Action::Archive => "archive",
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
        let list = crate::scoring::store::id_list(part.iter().copied());
        changed += match action {
            Action::Accept | Action::Correct(_) => {
                let (category, only_unlabelled) = match category_id {
                    Some(_) => ("$3", ""),
                    None => ("e.predicted_category_id", " AND e.label_id IS NULL AND e.predicted_category_id IS NOT NULL"),
                };
                let source = if category_id.is_some() {
                    "CASE WHEN e.predicted_category_id = $3 THEN 'accepted' ELSE 'corrected' END"
                } else {
                    "'accepted'"
                };
                let sql = format!(
                    "INSERT INTO labels (email_id, category_id, source, user_id, prediction_id, model_version, created_at) \
                     SELECT e.id, {category}, {source}, $1, e.prediction_id, p.model_version, $2 \
                     FROM emails e LEFT JOIN predictions p ON p.id = e.prediction_id \
                     WHERE e.id IN ({list}){only_unlabelled}"
                );
                let mut insert = sqlx::query(&sql).bind(user_id).bind(now);
                if let Some(id) = category_id {
                    insert = insert.bind(id);
                }
                let inserted = insert.execute(&mut *tx).await?.rows_affected();
                // Each email's newest label (the one just written) becomes current.
                sqlx::query(&format!(
                    "UPDATE emails SET \
                       label_id = (SELECT MAX(l.id) FROM labels l WHERE l.email_id = emails.id AND l.undone_at IS NULL), \
                       label_category_id = (SELECT l.category_id FROM labels l WHERE l.email_id = emails.id \
                         AND l.undone_at IS NULL ORDER BY l.id DESC LIMIT 1), \
                       status = CASE WHEN status = 'new' THEN 'triaged' ELSE status END \
                     WHERE id IN ({list}) AND EXISTS \
                       (SELECT 1 FROM labels l WHERE l.email_id = emails.id AND l.undone_at IS NULL)"
                ))
                .execute(&mut *tx)
                .await?;
                inserted as i64
            }
            Action::Assign(who) => sqlx::query(&format!("UPDATE emails SET assignee_id = $1 WHERE id IN ({list})"))
                .bind(*who)
                .execute(&mut *tx)
                .await?
                .rows_affected() as i64,
            Action::Archive => sqlx::query(&format!(
                "UPDATE emails SET status = 'archived' WHERE id IN ({list}) AND status <> 'archived'"
            ))
            .execute(&mut *tx)
            .await?
            .rows_affected() as i64,
        };
    }
    tx.commit().await?;
    let details = serde_json::json!({
        "action": action.name(),
        "targeted": ids.len(),
        "changed": changed,
        "category": match action { Action::Correct(c) => Some(c.clone()), _ => None },
        "assignee": match action { Action::Assign(who) => *who, _ => None },
        "by_filter": matches!(target, Target::Filter(_)),
    });
    audit::record(
        db,
        Actor::User(user_id),
        &format!("bulk.{}", action.name()),
        "emails",
        "",
        details,
    )
    .await?;
    Ok(changed)
}
