//! The labels export: every current staff and historical label with its email's text,
//! as JSON Lines, CSV or fastText/BlazingText (`__label__category text`), oldest
//! first, so a training set can be rebuilt from it. Undone labels are left out; an
//! email labelled twice appears twice (the trail), and `current` says which one the
//! email carries now.

use std::io::Write;

use sqlx::Row;

use crate::db::Db;
use crate::error::{DomainError, DomainResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Jsonl,
    Csv,
    FastText,
}

impl Format {
    pub fn parse(s: &str) -> DomainResult<Format> {
        match s {
            "" | "jsonl" => Ok(Format::Jsonl),
            "csv" => Ok(Format::Csv),
            "fasttext" | "blazingtext" => Ok(Format::FastText),
            other => Err(DomainError::invalid(
                "format",
                format!("{other:?} is not one of jsonl, csv, fasttext"),
            )),
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Jsonl => "application/x-ndjson",
            Format::Csv => "text/csv; charset=utf-8",
            Format::FastText => "text/plain; charset=utf-8",
        }
    }
}

const PAGE: i64 = 1000;

/// Writes every label; returns how many.
pub async fn export(db: &Db, format: Format, out: &mut impl Write) -> DomainResult<usize> {
    let io = |e: std::io::Error| DomainError::Internal(format!("writing the export: {e}"));
    if format == Format::Csv {
        let header = [
            "label_id",
            "message_id",
            "category",
            "source",
            "user",
            "model_version",
            "seconds_spent",
            "created_at",
            "current",
            "subject",
            "body",
        ];
        out.write_all(&csv_record(header.map(String::from))?)
            .map_err(io)?;
    }
    let mut after = 0i64;
    let mut written = 0;
    loop {
        let rows = sqlx::query(
            "SELECT l.id, e.message_id, c.name, l.source, u.username, l.model_version, l.seconds_spent, \
               l.created_at, CASE WHEN e.label_id = l.id THEN 1 ELSE 0 END AS current, e.subject, e.body_text \
             FROM labels l JOIN emails e ON e.id = l.email_id JOIN categories c ON c.id = l.category_id \
             LEFT JOIN users u ON u.id = l.user_id \
             WHERE l.undone_at IS NULL AND l.id > $1 ORDER BY l.id LIMIT $2",
        )
        .bind(after)
        .bind(PAGE)
        .fetch_all(&db.pool)
        .await?;
        for r in &rows {
            let id: i64 = r.try_get(0)?;
            let message_id: String = r.try_get(1)?;
            let category: String = r.try_get(2)?;
            let source: String = r.try_get(3)?;
            let user: Option<String> = r.try_get(4)?;
            let model: Option<String> = r.try_get(5)?;
            let seconds: Option<f64> = r.try_get(6)?;
            let at: i64 = r.try_get(7)?;
            let current = r.try_get::<i64, _>(8)? == 1;
            let subject: String = r.try_get(9)?;
            let body: String = r.try_get(10)?;
            let when = chrono::DateTime::from_timestamp_millis(at)
                .map(|d| d.to_rfc3339())
                .unwrap_or_default();
            match format {
                Format::Csv => {
                    let record = csv_record([
                        id.to_string(),
                        message_id,
                        category,
                        source,
                        user.unwrap_or_default(),
                        model.unwrap_or_default(),
                        seconds.map(|s| s.to_string()).unwrap_or_default(),
                        when,
                        current.to_string(),
                        subject,
                        body,
                    ])?;
                    out.write_all(&record).map_err(io)?;
                }
                Format::FastText => {
                    // One line per example: the text's line breaks become spaces.
                    let text: String = format!("{subject} {body}")
                        .split_whitespace()
                        .collect::<Vec<_>>()
                        .join(" ");
                    writeln!(out, "__label__{category} {text}").map_err(io)?;
                }
                Format::Jsonl => {
                    let line = serde_json::json!({
                        "label_id": id, "message_id": message_id, "category": category,
                        "source": source, "user": user, "model_version": model,
                        "seconds_spent": seconds, "created_at": when, "current": current,
                        "subject": subject, "body": body,
                    });
                    writeln!(out, "{line}").map_err(io)?;
                }
            }
            after = id;
            written += 1;
        }
        if (rows.len() as i64) < PAGE {
            break;
        }
    }
    out.flush().map_err(io)?;
    Ok(written)
}

/// One CSV record (RFC 4180 quoting, line breaks inside fields kept).
fn csv_record<const N: usize>(fields: [String; N]) -> DomainResult<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(&fields)
        .map_err(|e| DomainError::Internal(format!("writing CSV: {e}")))?;
    w.into_inner()
        .map_err(|e| DomainError::Internal(format!("writing CSV: {e}")))
}
