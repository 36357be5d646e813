//! Stored emails and the queue that lists them.

use sqlx::Row;

use crate::db::Db;
use crate::error::{DomainError, DomainResult};
use crate::time::now_ms;
use crate::wire::{QueuePage, QueueRow};

/// An email ready to store: already parsed, with the raw message when there is one.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewEmail {
    pub message_id: String,
    pub in_reply_to: Option<String>,
    /// The Message-ID of the thread's first message (the email's own when it starts one).
    pub thread_key: String,
    pub from_name: String,
    pub from_address: String,
    pub to_addresses: String,
    pub cc_addresses: String,
    pub subject: String,
    pub body_text: String,
    pub body_html: Option<String>,
    /// JSON list of `ingest::parse::Attachment`.
    pub attachments: String,
    pub raw: Option<Vec<u8>>,
    pub source: String,
    pub received_at: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    Created(i64),
    /// An email with this Message-ID was already stored: nothing changed.
    Duplicate(i64),
}

impl Inserted {
    pub fn id(self) -> i64 {
        match self {
            Inserted::Created(id) | Inserted::Duplicate(id) => id,
        }
    }
}

fn has_nul(e: &NewEmail) -> bool {
    [
        &e.message_id,
        &e.thread_key,
        &e.from_name,
        &e.from_address,
        &e.to_addresses,
        &e.cc_addresses,
        &e.subject,
        &e.body_text,
        &e.attachments,
    ]
    .iter()
    .any(|s| s.contains('\0'))
        || e.in_reply_to.as_deref().is_some_and(|s| s.contains('\0'))
        || e.body_html.as_deref().is_some_and(|s| s.contains('\0'))
}

fn without_nul(email: &NewEmail) -> NewEmail {
    let clean = |s: &str| {
        if s.contains('\0') {
            s.replace('\0', "")
        } else {
            s.to_string()
        }
    };
    NewEmail {
        message_id: clean(&email.message_id),
        in_reply_to: email.in_reply_to.as_deref().map(clean),
        thread_key: clean(&email.thread_key),
        from_name: clean(&email.from_name),
        from_address: clean(&email.from_address),
        to_addresses: clean(&email.to_addresses),
        cc_addresses: clean(&email.cc_addresses),
        subject: clean(&email.subject),
        body_text: clean(&email.body_text),
        body_html: email.body_html.as_deref().map(clean),
        attachments: clean(&email.attachments),
        raw: email.raw.clone(),
        source: email.source.clone(),
        received_at: email.received_at,
    }
}

/// Stores an email once: a second email with the same Message-ID is a `Duplicate`
/// that points at the first, and changes nothing.
pub async fn insert(db: &Db, email: &NewEmail) -> DomainResult<Inserted> {
    let mut conn = db.pool.acquire().await?;
    insert_in(&mut conn, email).await
}

/// [`insert`] on a connection or inside a transaction.
pub async fn insert_in(conn: &mut sqlx::AnyConnection, email: &NewEmail) -> DomainResult<Inserted> {
    if email.message_id.trim().is_empty() {
        return Err(DomainError::invalid("message_id", "must not be empty"));
    }
    let raw_size = email.raw.as_ref().map_or(0, |r| r.len() as i64);
    // PostgreSQL text cannot hold NUL characters (SQLite can); drop them from the
    // readable fields on both, so the same mail stores the same way everywhere. The
    // raw message keeps every byte.
    let cleaned;
    let email = if has_nul(email) {
        cleaned = without_nul(email);
        &cleaned
    } else {
        email
    };
    let created: Option<i64> = sqlx::query_scalar(
        "INSERT INTO emails (message_id, in_reply_to, thread_key, from_name, from_address, \
           to_addresses, cc_addresses, subject, body_text, body_html, attachments, raw, raw_size, \
           source, received_at, ingested_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) \
         ON CONFLICT (message_id) DO NOTHING RETURNING id",
    )
    .bind(&email.message_id)
    .bind(&email.in_reply_to)
    .bind(&email.thread_key)
    .bind(&email.from_name)
    .bind(&email.from_address)
    .bind(&email.to_addresses)
    .bind(&email.cc_addresses)
    .bind(&email.subject)
    .bind(&email.body_text)
    .bind(&email.body_html)
    .bind(if email.attachments.is_empty() {
        "[]"
    } else {
        email.attachments.as_str()
    })
    .bind(&email.raw)
    .bind(raw_size)
    .bind(&email.source)
    .bind(email.received_at)
    .bind(now_ms())
    .fetch_optional(&mut *conn)
    .await?;
    match created {
        Some(id) => Ok(Inserted::Created(id)),
        None => {
            let id = sqlx::query_scalar("SELECT id FROM emails WHERE message_id = $1")
                .bind(&email.message_id)
                .fetch_one(&mut *conn)
                .await?;
            Ok(Inserted::Duplicate(id))
        }
    }
}

pub async fn count(db: &Db) -> DomainResult<i64> {
    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM emails")
        .fetch_one(&db.pool)
        .await?)
}

/// What the queue shows. Empty fields mean "any".
#[derive(Debug, Clone, Default)]
pub struct QueueFilter {
    pub status: Option<String>,
    /// A category name matched against the label, else the prediction.
    pub category: Option<String>,
    pub cursor: Option<String>,
    pub limit: i64,
}

pub const STATUSES: [&str; 4] = ["new", "triaged", "replied", "archived"];

/// Newest first, `limit` rows after the cursor. Keyset pagination on
/// `(received_at, id)` keeps deep pages as fast as the first one.
pub async fn queue(db: &Db, filter: &QueueFilter) -> DomainResult<QueuePage> {
    let limit = filter.limit.clamp(1, 200);
    if let Some(status) = &filter.status
        && !STATUSES.contains(&status.as_str())
    {
        return Err(DomainError::invalid(
            "status",
            format!("unknown status {status:?}"),
        ));
    }
    let (before_at, before_id) = match &filter.cursor {
        Some(c) => parse_cursor(c)?,
        None => (i64::MAX, i64::MAX),
    };
    // One statement, always bound with the same types (PostgreSQL caches the plan).
    let rows = sqlx::query(
        "SELECT e.id, e.received_at, e.from_name, e.from_address, e.subject, \
           SUBSTR(e.body_text, 1, 160) AS snippet, e.status, e.confidence, \
           p.name AS predicted, l.name AS label, COALESCE(l.color, p.color) AS color \
         FROM emails e \
         LEFT JOIN categories p ON p.id = e.predicted_category_id \
         LEFT JOIN categories l ON l.id = e.label_category_id \
         WHERE (e.received_at < $1 OR (e.received_at = $1 AND e.id < $2)) \
           AND ($3 = '' OR e.status = $3) \
           AND ($4 = '' OR COALESCE(l.name, p.name) = $4) \
         ORDER BY e.received_at DESC, e.id DESC LIMIT $5",
    )
    .bind(before_at)
    .bind(before_id)
    .bind(filter.status.clone().unwrap_or_default())
    .bind(filter.category.clone().unwrap_or_default())
    .bind(limit + 1)
    .fetch_all(&db.pool)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows.iter().take(limit as usize) {
        let snippet: String = r.try_get("snippet")?;
        out.push(QueueRow {
            id: r.try_get("id")?,
            received_at: r.try_get("received_at")?,
            from_name: r.try_get("from_name")?,
            from_address: r.try_get("from_address")?,
            subject: r.try_get("subject")?,
            snippet: snippet.split_whitespace().collect::<Vec<_>>().join(" "),
            status: r.try_get("status")?,
            predicted: r.try_get("predicted")?,
            confidence: r.try_get("confidence")?,
            label: r.try_get("label")?,
            color: r.try_get("color")?,
        });
    }
    let next_cursor = if rows.len() as i64 > limit {
        out.last()
            .map(|last| format!("{}.{}", last.received_at, last.id))
    } else {
        None
    };
    Ok(QueuePage {
        rows: out,
        next_cursor,
    })
}

fn parse_cursor(c: &str) -> DomainResult<(i64, i64)> {
    let bad = || DomainError::invalid("cursor", "not a cursor this server gave out");
    let (at, id) = c.split_once('.').ok_or_else(bad)?;
    Ok((
        at.parse().map_err(|_| bad())?,
        id.parse().map_err(|_| bad())?,
    ))
}

/// Attaches a label (a historical one when `user_id` is `None`) and keeps the
/// email's current label in step.
pub async fn add_label(
    db: &Db,
    email_id: i64,
    category_id: i64,
    source: &str,
    user_id: Option<i64>,
    at: i64,
) -> DomainResult<i64> {
    let mut tx = db.pool.begin().await?;
    let id = add_label_in(&mut tx, email_id, category_id, source, user_id, at).await?;
    tx.commit().await?;
    Ok(id)
}

/// [`add_label`] inside the caller's transaction.
pub async fn add_label_in(
    conn: &mut sqlx::AnyConnection,
    email_id: i64,
    category_id: i64,
    source: &str,
    user_id: Option<i64>,
    at: i64,
) -> DomainResult<i64> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO labels (email_id, category_id, source, user_id, created_at) \
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(email_id)
    .bind(category_id)
    .bind(source)
    .bind(user_id)
    .bind(at)
    .fetch_one(&mut *conn)
    .await?;
    sqlx::query(
        "UPDATE emails SET label_category_id = $1, \
           status = CASE WHEN status = 'new' THEN 'triaged' ELSE status END WHERE id = $2",
    )
    .bind(category_id)
    .bind(email_id)
    .execute(&mut *conn)
    .await?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        assert_eq!(
            parse_cursor("1700000000000.42").unwrap(),
            (1_700_000_000_000, 42)
        );
        assert!(parse_cursor("42").is_err());
        assert!(parse_cursor("a.b").is_err());
    }
}

/// One email with its current prediction and label, for the API and the email view.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct EmailDetail {
    pub id: i64,
    pub message_id: String,
    pub thread_key: String,
    pub in_reply_to: Option<String>,
    pub from_name: String,
    pub from_address: String,
    pub to: String,
    pub cc: String,
    pub subject: String,
    pub body_text: String,
    pub body_html: Option<String>,
    pub attachments: serde_json::Value,
    pub received_at: i64,
    pub status: String,
    pub prediction: Option<PredictionView>,
    pub label: Option<LabelView>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PredictionView {
    pub category: String,
    pub confidence: f64,
    pub probabilities: serde_json::Value,
    pub model: String,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LabelView {
    pub category: String,
    /// The user's name; `None` for historical (imported) labels.
    pub user: Option<String>,
    pub source: String,
    pub at: i64,
}

pub async fn detail(db: &Db, id: i64) -> DomainResult<EmailDetail> {
    let row = sqlx::query(
        "SELECT e.id, e.message_id, e.thread_key, e.in_reply_to, e.from_name, e.from_address, \
           e.to_addresses, e.cc_addresses, e.subject, e.body_text, e.body_html, e.attachments, \
           e.received_at, e.status, pc.name AS p_category, p.confidence AS p_confidence, \
           p.probabilities AS p_probabilities, p.model_version AS p_model \
         FROM emails e \
         LEFT JOIN predictions p ON p.id = e.prediction_id \
         LEFT JOIN categories pc ON pc.id = p.category_id \
         WHERE e.id = $1",
    )
    .bind(id)
    .fetch_optional(&db.pool)
    .await?
    .ok_or(DomainError::NotFound)?;
    let label = sqlx::query(
        "SELECT c.name, u.display_name, l.source, l.created_at FROM labels l \
         JOIN categories c ON c.id = l.category_id LEFT JOIN users u ON u.id = l.user_id \
         WHERE l.email_id = $1 AND l.undone_at IS NULL ORDER BY l.created_at DESC, l.id DESC LIMIT 1",
    )
    .bind(id)
    .fetch_optional(&db.pool)
    .await?
    .map(|r| -> Result<LabelView, sqlx::Error> {
        Ok(LabelView { category: r.try_get(0)?, user: r.try_get(1)?, source: r.try_get(2)?, at: r.try_get(3)? })
    })
    .transpose()?;
    let prediction = match row.try_get::<Option<String>, _>("p_category")? {
        Some(category) => Some(PredictionView {
            category,
            confidence: row.try_get("p_confidence")?,
            probabilities: serde_json::from_str(&row.try_get::<String, _>("p_probabilities")?)
                .unwrap_or_default(),
            model: row.try_get("p_model")?,
        }),
        None => None,
    };
    Ok(EmailDetail {
        id: row.try_get("id")?,
        message_id: row.try_get("message_id")?,
        thread_key: row.try_get("thread_key")?,
        in_reply_to: row.try_get("in_reply_to")?,
        from_name: row.try_get("from_name")?,
        from_address: row.try_get("from_address")?,
        to: row.try_get("to_addresses")?,
        cc: row.try_get("cc_addresses")?,
        subject: row.try_get("subject")?,
        body_text: row.try_get("body_text")?,
        body_html: row.try_get("body_html")?,
        attachments: serde_json::from_str(&row.try_get::<String, _>("attachments")?)
            .unwrap_or_default(),
        received_at: row.try_get("received_at")?,
        status: row.try_get("status")?,
        prediction,
        label,
    })
}
