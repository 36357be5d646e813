//! Stored emails: storing them once, and reading one back. The queue that lists
//! them is `crate::queue`.

use crate::db::Db;
use crate::error::{DomainError, DomainResult};
use crate::time::now_ms;
use crate::wire::{EmailStatus, LabelSource, ThreadEmail};

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
    /// The mailbox it came in on (its reply leaves from there).
    pub mailbox_id: Option<i64>,
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
        mailbox_id: email.mailbox_id,
    }
}

/// Stores an email once: a second email with the same Message-ID is a `Duplicate`
/// that points at the first, and changes nothing.
pub async fn insert(db: &Db, email: &NewEmail) -> DomainResult<Inserted> {
    let mut tx = db.begin_write().await?;
    let inserted = insert_in(&mut tx, email).await?;
    tx.commit().await?;
    Ok(inserted)
}

/// [`insert`] inside a transaction: the email's row and its body are two inserts.
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
           to_addresses, cc_addresses, subject, raw_size, source, received_at, ingested_at, mailbox_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
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
    .bind(raw_size)
    .bind(&email.source)
    .bind(email.received_at)
    .bind(now_ms())
    .bind(email.mailbox_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(id) = created else {
        let id = sqlx::query_scalar("SELECT id FROM emails WHERE message_id = $1")
            .bind(&email.message_id)
            .fetch_one(&mut *conn)
            .await?;
        return Ok(Inserted::Duplicate(id));
    };
    sqlx::query(
        "INSERT INTO email_bodies (email_id, body_text, body_html, attachments, raw) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(id)
    .bind(&email.body_text)
    .bind(&email.body_html)
    .bind(if email.attachments.is_empty() {
        "[]"
    } else {
        email.attachments.as_str()
    })
    .bind(&email.raw)
    .execute(&mut *conn)
    .await?;
    Ok(Inserted::Created(id))
}

/// An email's HTML part as stored (scripts removed at ingest, remote images kept:
/// sanitize again with the reader's choice before showing it);
/// `None` when the email has only text. `NotFound` when there is no such email.
pub async fn html_part(db: &Db, id: i64) -> DomainResult<Option<String>> {
    let row: Option<(Option<String>,)> =
        sqlx::query_as("SELECT body_html FROM email_bodies WHERE email_id = $1")
            .bind(id)
            .fetch_optional(&db.pool)
            .await?;
    row.map(|(html,)| html).ok_or(DomainError::NotFound)
}

/// The message exactly as it arrived, when it was kept (mail, not JSON).
pub async fn raw(db: &Db, id: i64) -> DomainResult<Option<Vec<u8>>> {
    let row: Option<(Option<Vec<u8>>,)> =
        sqlx::query_as("SELECT raw FROM email_bodies WHERE email_id = $1")
            .bind(id)
            .fetch_optional(&db.pool)
            .await?;
    row.map(|(raw,)| raw).ok_or(DomainError::NotFound)
}

pub async fn count(db: &Db) -> DomainResult<i64> {
    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM emails")
        .fetch_one(&db.pool)
        .await?)
}

/// Attaches a historical label (from the team's old tool) and makes it the email's
/// current one.
pub async fn add_imported_label(
    db: &Db,
    email_id: i64,
    category_id: i64,
    at: i64,
) -> DomainResult<i64> {
    let mut tx = db.begin_write().await?;
    let id = add_imported_label_in(&mut tx, email_id, category_id, at).await?;
    tx.commit().await?;
    Ok(id)
}

/// [`add_imported_label`] inside the caller's transaction.
pub async fn add_imported_label_in(
    conn: &mut sqlx::AnyConnection,
    email_id: i64,
    category_id: i64,
    at: i64,
) -> DomainResult<i64> {
    crate::labels::record(
        conn,
        &crate::labels::NewLabel {
            email_id,
            category_id,
            source: LabelSource::Imported,
            user_id: None,
            token_id: None,
            prediction_id: None,
            seconds_spent: None,
            created_at: at,
        },
    )
    .await
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
    pub status: EmailStatus,
    pub prediction: Option<PredictionView>,
    pub label: Option<LabelView>,
    /// The current label's id.
    pub label_id: Option<i64>,
    /// The assignee's display name.
    pub assignee: Option<String>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PredictionView {
    pub category: String,
    pub confidence: f64,
    pub probabilities: serde_json::Value,
    pub model: String,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, sqlx::FromRow)]
pub struct LabelView {
    pub category: String,
    /// The user's name; `None` for historical (imported) labels.
    pub user: Option<String>,
    pub source: LabelSource,
    pub at: i64,
}

/// An email's row as [`detail`] reads it.
#[derive(sqlx::FromRow)]
struct DetailRow {
    id: i64,
    message_id: String,
    thread_key: String,
    in_reply_to: Option<String>,
    from_name: String,
    from_address: String,
    to_addresses: String,
    cc_addresses: String,
    subject: String,
    body_text: String,
    body_html: Option<String>,
    attachments: String,
    received_at: i64,
    status: EmailStatus,
    label_id: Option<i64>,
    assignee: Option<String>,
    p_category: Option<String>,
    p_confidence: Option<f64>,
    p_probabilities: Option<String>,
    p_model: Option<String>,
}

pub async fn detail(db: &Db, id: i64) -> DomainResult<EmailDetail> {
    let row: DetailRow = sqlx::query_as(
        "SELECT e.id, e.message_id, e.thread_key, e.in_reply_to, e.from_name, e.from_address, \
           e.to_addresses, e.cc_addresses, e.subject, b.body_text, b.body_html, b.attachments, \
           e.received_at, e.status, pc.name AS p_category, p.confidence AS p_confidence, \
           p.probabilities AS p_probabilities, p.model_version AS p_model, e.label_id, \
           a.display_name AS assignee \
         FROM emails e JOIN email_bodies b ON b.email_id = e.id \
         LEFT JOIN predictions p ON p.id = e.prediction_id \
         LEFT JOIN users a ON a.id = e.assignee_id \
         LEFT JOIN categories pc ON pc.id = p.category_id \
         WHERE e.id = $1",
    )
    .bind(id)
    .fetch_optional(&db.pool)
    .await?
    .ok_or(DomainError::NotFound)?;
    let label: Option<LabelView> = sqlx::query_as(
        "SELECT c.name AS category, u.display_name AS user, l.source, l.created_at AS at \
         FROM labels l JOIN categories c ON c.id = l.category_id \
         LEFT JOIN users u ON u.id = l.user_id \
         WHERE l.email_id = $1 AND l.undone_at IS NULL ORDER BY l.id DESC LIMIT 1",
    )
    .bind(id)
    .fetch_optional(&db.pool)
    .await?;
    let prediction = match (row.p_category, row.p_confidence, row.p_model) {
        (Some(category), Some(confidence), Some(model)) => Some(PredictionView {
            category,
            confidence,
            probabilities: serde_json::from_str(row.p_probabilities.as_deref().unwrap_or("{}"))
                .unwrap_or_default(),
            model,
        }),
        _ => None,
    };
    Ok(EmailDetail {
        id: row.id,
        message_id: row.message_id,
        thread_key: row.thread_key,
        in_reply_to: row.in_reply_to,
        from_name: row.from_name,
        from_address: row.from_address,
        to: row.to_addresses,
        cc: row.cc_addresses,
        subject: row.subject,
        body_text: row.body_text,
        body_html: row.body_html,
        attachments: serde_json::from_str(&row.attachments).unwrap_or_default(),
        received_at: row.received_at,
        status: row.status,
        prediction,
        label,
        label_id: row.label_id,
        assignee: row.assignee,
    })
}

/// The other emails of a thread, oldest first (at most 50).
pub async fn thread(db: &Db, id: i64, thread_key: &str) -> DomainResult<Vec<ThreadEmail>> {
    #[derive(sqlx::FromRow)]
    struct Other {
        id: i64,
        received_at: i64,
        from_name: String,
        from_address: String,
        subject: String,
        status: EmailStatus,
    }
    let rows: Vec<Other> = sqlx::query_as(
        "SELECT id, received_at, from_name, from_address, subject, status FROM emails \
         WHERE thread_key = $1 AND id <> $2 ORDER BY received_at, id LIMIT 50",
    )
    .bind(thread_key)
    .bind(id)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| ThreadEmail {
            id: r.id,
            received_at: r.received_at,
            from: if r.from_name.is_empty() {
                r.from_address
            } else {
                r.from_name
            },
            subject: r.subject,
            status: r.status,
        })
        .collect())
}
