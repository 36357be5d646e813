//! One owner for an email's state: its current prediction, current label, status and
//! assignee (the columns `prediction_id`, `predicted_category_id`, `confidence`,
//! `label_id`, `label_category_id`, `status` and `assignee_id` of `emails`). Every
//! feature that changes them (labelling, bulk actions, auto-accept, scoring, imported
//! history, replies, archiving, category merges, the demo) calls this module, so the
//! rules are written once:
//!
//! - an email's current label is its newest label that was not undone;
//! - a label moves a `new` email to `triaged` and leaves any other status alone
//!   ([`EmailStatus::after_label`]); when an undo leaves an email without a label, a
//!   `triaged` email goes back to `new` ([`EmailStatus::after_last_label_undone`]);
//! - its current prediction is the newest answer of a scoring that may replace it
//!   ([`Replace`]);
//! - auto-accept may label only an email that is `new` and has no label.
//!
//! docs/architecture.md draws the same rules as a table of states and who moves an
//! email between them. The SQL below is built from the Rust rules, so the two cannot
//! drift apart. Statements reach emails by primary key (or through the rows just
//! written), never by scanning on status: these run in the label, bulk and job hot
//! paths.

use std::sync::LazyLock;

use crate::db::Db;
use crate::error::{DomainError, DomainResult};
use crate::sql::id_list;
use crate::wire::EmailStatus;

/// Whether a scoring's answer replaces an email's current prediction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replace {
    /// Only an email without a prediction gets one (scoring what is unscored).
    IfUnscored,
    /// The answer becomes the current prediction (rescoring).
    Always,
}

/// `CASE emails.status WHEN 'new' THEN 'triaged' … END`: a status rule as SQL.
fn status_case(rule: impl Fn(EmailStatus) -> EmailStatus) -> String {
    let mut sql = String::from("CASE emails.status");
    for &status in EmailStatus::ALL {
        let after = rule(status);
        if after != status {
            sql.push_str(&format!(" WHEN '{status}' THEN '{after}'"));
        }
    }
    sql.push_str(" ELSE emails.status END");
    sql
}

static STATUS_AFTER_LABEL: LazyLock<String> =
    LazyLock::new(|| status_case(EmailStatus::after_label));
static STATUS_AFTER_LAST_UNDO: LazyLock<String> =
    LazyLock::new(|| status_case(EmailStatus::after_last_label_undone));

/// What an email held when a person's label took its row.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct BeforeLabel {
    /// The label that was current (someone else's, when it is not the one the
    /// person saw).
    pub label_id: Option<i64>,
    pub predicted_category_id: Option<i64>,
    /// The prediction the person answered.
    pub prediction_id: Option<i64>,
}

/// A person's label, first step: takes the email's row (PostgreSQL's row lock, or
/// SQLite's one writer, so two people labelling one email take turns and the second
/// sees the first's label here), sets the new category and the status that follows,
/// and says what the email held before. Then the caller writes the label row and
/// calls [`point_at_label`]. `NotFound` when there is no such email.
pub async fn start_label(
    conn: &mut sqlx::AnyConnection,
    email_id: i64,
    category_id: i64,
) -> DomainResult<BeforeLabel> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "UPDATE emails SET label_category_id = $1, status = {} WHERE id = $2 \
             RETURNING label_id, predicted_category_id, prediction_id",
            *STATUS_AFTER_LABEL
        )
    });
    sqlx::query_as(&SQL)
        .bind(category_id)
        .bind(email_id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(DomainError::NotFound)
}

/// A person's label, second step: the label written after [`start_label`] is the
/// email's current one.
pub async fn point_at_label(
    conn: &mut sqlx::AnyConnection,
    email_id: i64,
    label_id: i64,
) -> DomainResult<()> {
    sqlx::query("UPDATE emails SET label_id = $1 WHERE id = $2")
        .bind(label_id)
        .bind(email_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Makes labels just written (at most one per email) their emails' current labels,
/// with the status that follows. Returns how many emails changed.
pub async fn make_labels_current(
    conn: &mut sqlx::AnyConnection,
    label_ids: &[i64],
) -> DomainResult<u64> {
    if label_ids.is_empty() {
        return Ok(0);
    }
    Ok(sqlx::query(&format!(
        "UPDATE emails SET label_id = l.id, label_category_id = l.category_id, status = {} \
         FROM labels l WHERE l.id IN ({}) AND emails.id = l.email_id",
        *STATUS_AFTER_LABEL,
        id_list(label_ids.iter().copied())
    ))
    .persistent(false)
    .execute(&mut *conn)
    .await?
    .rows_affected())
}

/// After `undone` was undone: when it was the email's current label, the newest label
/// left becomes current, or none, and then a `triaged` email is `new` again. A later
/// label by someone else stays current.
pub async fn label_undone(
    conn: &mut sqlx::AnyConnection,
    email_id: i64,
    undone: i64,
) -> DomainResult<()> {
    #[derive(sqlx::FromRow)]
    struct Left {
        id: i64,
        category_id: i64,
    }
    let left: Option<Left> = sqlx::query_as(
        "SELECT id, category_id FROM labels WHERE email_id = $1 AND undone_at IS NULL \
         ORDER BY id DESC LIMIT 1",
    )
    .bind(email_id)
    .fetch_optional(&mut *conn)
    .await?;
    static WITH_LABEL: &str =
        "UPDATE emails SET label_id = $1, label_category_id = $2 WHERE id = $3 AND label_id = $4";
    static WITHOUT_LABEL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "UPDATE emails SET label_id = NULL, label_category_id = NULL, status = {} \
             WHERE id = $1 AND label_id = $2",
            *STATUS_AFTER_LAST_UNDO
        )
    });
    match left {
        Some(left) => {
            sqlx::query(WITH_LABEL)
                .bind(left.id)
                .bind(left.category_id)
                .bind(email_id)
                .bind(undone)
                .execute(&mut *conn)
                .await?
        }
        None => {
            sqlx::query(&WITHOUT_LABEL)
                .bind(email_id)
                .bind(undone)
                .execute(&mut *conn)
                .await?
        }
    };
    Ok(())
}

/// An email that a scoring pointed at its new prediction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct Rescored {
    pub email_id: i64,
    /// 1 when the email is `new` and unlabelled: the only emails auto-accept may
    /// label.
    awaits_decision: i64,
}

impl Rescored {
    pub fn awaits_decision(&self) -> bool {
        self.awaits_decision == 1
    }
}

/// Makes predictions just written (at most one per email, `prediction_ids` as an
/// `IN` list) their emails' current ones; with [`Replace::IfUnscored`] only for
/// emails still without one. When two processes score the same email at once,
/// PostgreSQL makes the second wait for the first's row lock and then skip the row,
/// and SQLite has one writer at a time. The rows stay locked (or SQLite's one writer
/// is this transaction) until the commit, so what comes back holds until then.
pub async fn make_predictions_current(
    conn: &mut sqlx::AnyConnection,
    prediction_ids: &str,
    replace: Replace,
) -> DomainResult<Vec<Rescored>> {
    let unscored_only = match replace {
        Replace::IfUnscored => " AND emails.prediction_id IS NULL",
        Replace::Always => "",
    };
    Ok(sqlx::query_as(&format!(
        "UPDATE emails SET prediction_id = p.id, predicted_category_id = p.category_id, \
         confidence = p.confidence FROM predictions p \
         WHERE p.id IN ({prediction_ids}) AND emails.id = p.email_id{unscored_only} \
         RETURNING emails.id AS email_id, \
           CASE WHEN emails.status = '{}' AND emails.label_id IS NULL THEN 1 ELSE 0 END \
             AS awaits_decision",
        EmailStatus::New
    ))
    .persistent(false)
    .fetch_all(&mut *conn)
    .await?)
}

/// Sets one email's status (archive it, put it back in the queue, mark it replied).
pub async fn set_status(db: &Db, email_id: i64, status: EmailStatus) -> DomainResult<()> {
    let changed = {
        let mut conn = db.pool.acquire().await?;
        set_statuses(&mut conn, &[email_id], status).await?
    };
    // Unchanged: already in that status, or no such email.
    if changed == 0 && !exists(db, email_id).await? {
        return Err(DomainError::NotFound);
    }
    Ok(())
}

async fn exists(db: &Db, email_id: i64) -> DomainResult<bool> {
    let found: Option<i64> = sqlx::query_scalar("SELECT id FROM emails WHERE id = $1")
        .bind(email_id)
        .fetch_optional(&db.pool)
        .await?;
    Ok(found.is_some())
}

/// Sets the status of several emails; returns how many changed (an email already in
/// that status does not count).
pub async fn set_statuses(
    conn: &mut sqlx::AnyConnection,
    email_ids: &[i64],
    status: EmailStatus,
) -> DomainResult<u64> {
    if email_ids.is_empty() {
        return Ok(0);
    }
    Ok(sqlx::query(&format!(
        "UPDATE emails SET status = $1 WHERE id IN ({}) AND status <> $1",
        id_list(email_ids.iter().copied())
    ))
    .persistent(false)
    .bind(status)
    .execute(&mut *conn)
    .await?
    .rows_affected())
}

/// Assigns emails to a person, or to nobody; returns how many were found.
pub async fn assign(
    conn: &mut sqlx::AnyConnection,
    email_ids: &[i64],
    assignee: Option<i64>,
) -> DomainResult<u64> {
    if email_ids.is_empty() {
        return Ok(0);
    }
    Ok(sqlx::query(&format!(
        "UPDATE emails SET assignee_id = $1 WHERE id IN ({})",
        id_list(email_ids.iter().copied())
    ))
    .persistent(false)
    .bind(assignee)
    .execute(&mut *conn)
    .await?
    .rows_affected())
}

/// A merged category's emails follow it into the category it was merged into, in
/// their current label and prediction alike; returns how many labels moved.
pub async fn move_category(
    conn: &mut sqlx::AnyConnection,
    from: i64,
    into: i64,
) -> DomainResult<u64> {
    let labelled =
        sqlx::query("UPDATE emails SET label_category_id = $1 WHERE label_category_id = $2")
            .bind(into)
            .bind(from)
            .execute(&mut *conn)
            .await?
            .rows_affected();
    sqlx::query("UPDATE emails SET predicted_category_id = $1 WHERE predicted_category_id = $2")
        .bind(into)
        .bind(from)
        .execute(&mut *conn)
        .await?;
    Ok(labelled)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::{self, LabelRequest, NewLabel};
    use crate::wire::LabelSource;

    async fn state(db: &Db, id: i64) -> (EmailStatus, Option<i64>) {
        #[derive(sqlx::FromRow)]
        struct Row {
            status: EmailStatus,
            label_id: Option<i64>,
        }
        let row: Row = sqlx::query_as("SELECT status, label_id FROM emails WHERE id = $1")
            .bind(id)
            .fetch_one(&db.pool)
            .await
            .unwrap();
        (row.status, row.label_id)
    }

    fn by(user: i64, email: i64, category: &str) -> LabelRequest {
        LabelRequest {
            email_id: email,
            category: category.into(),
            user_id: Some(user),
            token_id: None,
            seen_label_id: None,
            seconds_spent: None,
        }
    }

    /// The rules of the module's notes, through the functions every feature calls.
    #[tokio::test]
    async fn labels_undo_replies_and_archive_move_an_email_as_the_rules_say() {
        let (db, dir) = crate::demo::demo_database("email-state").await;
        let user: i64 = sqlx::query_scalar("SELECT id FROM users WHERE username = 'alex'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT id FROM emails WHERE status = 'new' AND label_id IS NULL ORDER BY id LIMIT 2",
        )
        .fetch_all(&db.pool)
        .await
        .unwrap();
        let (a, b) = (ids[0], ids[1]);

        // A label moves a new email to triaged and is its current label.
        let first = labels::label(&db, &by(user, a, "complaint")).await.unwrap();
        assert_eq!(
            state(&db, a).await,
            (EmailStatus::Triaged, Some(first.label_id))
        );
        // A second label becomes current; undoing it brings the first back.
        let second = labels::label(&db, &by(user, a, "spam")).await.unwrap();
        assert_eq!(state(&db, a).await.1, Some(second.label_id));
        labels::undo(&db, second.label_id, user).await.unwrap();
        assert_eq!(
            state(&db, a).await,
            (EmailStatus::Triaged, Some(first.label_id))
        );
        // Undoing the only label puts the email back in the queue.
        labels::undo(&db, first.label_id, user).await.unwrap();
        assert_eq!(state(&db, a).await, (EmailStatus::New, None));

        // A replied email stays replied when it gets a label, and a label given
        // elsewhere (imported history) is current like any other.
        let mut tx = db.begin_write().await.unwrap();
        set_statuses(&mut tx, &[b], EmailStatus::Replied)
            .await
            .unwrap();
        let category: i64 = sqlx::query_scalar("SELECT id FROM categories WHERE name = 'spam'")
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        let imported = NewLabel {
            email_id: b,
            category_id: category,
            source: LabelSource::Imported,
            user_id: None,
            token_id: None,
            prediction_id: None,
            seconds_spent: None,
            created_at: 1,
        };
        let label = labels::record(&mut tx, &imported).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(state(&db, b).await, (EmailStatus::Replied, Some(label)));

        // Archiving, and putting back; an email that does not exist is not found.
        set_status(&db, b, EmailStatus::Archived).await.unwrap();
        assert_eq!(state(&db, b).await.0, EmailStatus::Archived);
        set_status(&db, b, EmailStatus::Archived).await.unwrap();
        set_status(&db, b, EmailStatus::New).await.unwrap();
        assert_eq!(state(&db, b).await.0, EmailStatus::New);
        assert!(matches!(
            set_status(&db, i64::MAX, EmailStatus::Archived).await,
            Err(DomainError::NotFound)
        ));
        db.close().await;
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn the_sql_says_what_the_rules_say() {
        assert_eq!(
            *STATUS_AFTER_LABEL,
            "CASE emails.status WHEN 'new' THEN 'triaged' ELSE emails.status END"
        );
        assert_eq!(
            *STATUS_AFTER_LAST_UNDO,
            "CASE emails.status WHEN 'triaged' THEN 'new' ELSE emails.status END"
        );
    }
}
