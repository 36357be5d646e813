//! Writes an ingested email, and its historical label when it has one, in one
//! transaction: a crash in between leaves neither.

use std::collections::HashMap;

use super::{Outcome, Rejection, json};
use crate::categories;
use crate::db::Db;
use crate::emails::{self, Inserted, NewEmail};
use crate::error::DomainResult;

/// What to do with a historical category nobody has created yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnknownCategories {
    Create,
    Reject,
}

/// Resolves historical category names to ids during one ingest, asking the database
/// once per distinct name (a 100,000-line import names the same few categories).
pub struct CategoryResolver {
    unknown: UnknownCategories,
    known: HashMap<String, Result<i64, Rejection>>,
}

impl CategoryResolver {
    pub fn new(unknown: UnknownCategories) -> CategoryResolver {
        CategoryResolver {
            unknown,
            known: HashMap::new(),
        }
    }

    /// The category's id, creating it when allowed, or why the name is refused.
    pub async fn resolve(&mut self, db: &Db, name: &str) -> DomainResult<Result<i64, Rejection>> {
        if let Some(known) = self.known.get(name) {
            return Ok(known.clone());
        }
        let resolved = match categories::normalize_name(name) {
            Err(_) => Err(Rejection::invalid(
                "category",
                format!("{name:?} is not a category name"),
            )),
            Ok(normal) => match (categories::find_id(db, &normal).await?, self.unknown) {
                (Some(id), _) => Ok(id),
                (None, UnknownCategories::Create) => {
                    Ok(categories::ensure(db, &normal, "", "#8a8f98").await?)
                }
                (None, UnknownCategories::Reject) => Err(Rejection::invalid(
                    "category",
                    format!("unknown category {normal:?}"),
                )),
            },
        };
        self.known.insert(name.to_string(), resolved.clone());
        Ok(resolved)
    }
}

/// A JSON email (the API's shape) checked and its historical category resolved:
/// ready to store, or the rejection to report. Shared by the API and `triage import`.
pub async fn prepare_json(
    db: &Db,
    value: serde_json::Value,
    now: i64,
    max_bytes: usize,
    source: &str,
    categories: &mut CategoryResolver,
) -> DomainResult<Result<(NewEmail, Option<i64>), Outcome>> {
    let given_id = value
        .get("message_id")
        .and_then(|v| v.as_str())
        .map(str::to_string);
    let checked = match json::from_value(value, now, max_bytes) {
        Ok(c) => c,
        Err(reason) => return Ok(Err(Outcome::rejected(given_id, &reason))),
    };
    let mut email = checked.email;
    email.source = source.to_string();
    let category_id = match &checked.category {
        None => None,
        Some(name) => match categories.resolve(db, name).await? {
            Ok(id) => Some(id),
            Err(reason) => return Ok(Err(Outcome::rejected(Some(email.message_id), &reason))),
        },
    };
    Ok(Ok((email, category_id)))
}

/// Stores the email once (a second time is a `Duplicate` that changes nothing) and
/// attaches the historical label `category_id`, unless the email already carries it.
pub async fn store(db: &Db, email: &NewEmail, category_id: Option<i64>) -> DomainResult<Outcome> {
    let mut outcomes = store_many(db, &[(email.clone(), category_id)]).await?;
    Ok(outcomes.remove(0))
}

/// [`store`] for many emails in one transaction: all of them are stored or, if the
/// database fails midway, none (a re-run then stores them). One commit for many
/// emails is what makes bulk import fast on PostgreSQL, where each commit waits for
/// the disk.
pub async fn store_many(db: &Db, emails: &[(NewEmail, Option<i64>)]) -> DomainResult<Vec<Outcome>> {
    let mut tx = db.begin_write().await?;
    let outcomes = store_many_in(&mut tx, emails).await?;
    tx.commit().await?;
    Ok(outcomes)
}

/// [`store_many`] inside the caller's write transaction, so that what the caller
/// records beside the emails (e.g. the S3 objects they came from) is written with
/// them or not at all.
pub async fn store_many_in(
    tx: &mut sqlx::AnyConnection,
    emails: &[(NewEmail, Option<i64>)],
) -> DomainResult<Vec<Outcome>> {
    let mut outcomes = Vec::with_capacity(emails.len());
    for (email, category_id) in emails {
        let inserted = emails::insert_in(&mut *tx, email).await?;
        if let Some(category_id) = category_id {
            attach_historical_label(&mut *tx, inserted.id(), *category_id, email.received_at)
                .await?;
        }
        let message_id = email.message_id.clone();
        outcomes.push(match inserted {
            Inserted::Created(id) => Outcome::Created { id, message_id },
            Inserted::Duplicate(id) => Outcome::Duplicate { id, message_id },
        });
    }
    Ok(outcomes)
}

/// Attaches a historical (imported) label by Message-ID; `Ok(false)` when no email
/// has that id. Attaching the same label twice changes nothing.
pub async fn label_by_message_id(
    db: &Db,
    message_id: &str,
    category_id: i64,
) -> DomainResult<bool> {
    let Some(message_id) = super::parse::normalize_message_id(message_id) else {
        return Ok(false);
    };
    let mut tx = db.begin_write().await?;
    let email: Option<(i64, i64)> =
        sqlx::query_as("SELECT id, received_at FROM emails WHERE message_id = $1")
            .bind(&message_id)
            .fetch_optional(&mut *tx)
            .await?;
    let Some((email_id, received_at)) = email else {
        return Ok(false);
    };
    attach_historical_label(&mut tx, email_id, category_id, received_at).await?;
    tx.commit().await?;
    Ok(true)
}

async fn attach_historical_label(
    conn: &mut sqlx::AnyConnection,
    email_id: i64,
    category_id: i64,
    at: i64,
) -> DomainResult<()> {
    let already: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM labels WHERE email_id = $1 AND category_id = $2 AND source = 'imported'",
    )
    .bind(email_id)
    .bind(category_id)
    .fetch_one(&mut *conn)
    .await?;
    if already == 0 {
        emails::add_imported_label_in(conn, email_id, category_id, at).await?;
    }
    Ok(())
}
