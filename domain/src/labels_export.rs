//! The labels export: every current staff and historical label with its email's text,
//! as JSON Lines, CSV or fastText/BlazingText (`__label__category text`), oldest
//! first, so a training set can be rebuilt from it. Undone labels are left out; an
//! email labelled twice appears twice (the trail), and `current` says which one the
//! email carries now. Filters (period, source), a time-based train/test split that
//! keeps threads whole, and a dataset hash with the last label id (`as_of`) let a
//! training set be rebuilt exactly.

use std::collections::HashMap;
use std::io::Write;

use sha2::{Digest, Sha256};
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

/// Which labels an export holds, and how it splits them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExportOptions {
    /// Labels given at or after this time (Unix ms).
    pub from: Option<i64>,
    /// Labels given before this time.
    pub to: Option<i64>,
    /// Only these sources (accepted, corrected, imported, auto); all when empty.
    pub sources: Vec<String>,
    /// A time-based train/test split: a thread whose first exported label was given
    /// at or after this time is test, the rest train. Whole threads stay on one side,
    /// so a reply cannot carry its thread's label across.
    pub split_at: Option<i64>,
    /// Only one side of the split (`train` or `test`), e.g. for fastText files.
    pub side: Option<String>,
    /// Only labels with an id up to this one: the export as it was then, so a
    /// training set can be rebuilt exactly (its hash says whether it was).
    pub as_of: Option<i64>,
}

impl ExportOptions {
    /// From the API's and the command line's text: dates `YYYY-MM-DD` (UTC; `to` is
    /// included), sources comma-separated.
    pub fn parse(
        from: Option<&str>,
        to: Option<&str>,
        source: Option<&str>,
        split_at: Option<&str>,
        side: Option<&str>,
        as_of: Option<i64>,
    ) -> DomainResult<ExportOptions> {
        let day = |field: &str, value: Option<&str>| {
            value
                .filter(|v| !v.trim().is_empty())
                .map(|v| crate::time::day_start(field, v))
                .transpose()
        };
        let sources: Vec<String> = source
            .unwrap_or("")
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        if let Some(bad) = sources
            .iter()
            .find(|s| !["accepted", "corrected", "imported", "auto"].contains(&s.as_str()))
        {
            return Err(DomainError::invalid(
                "source",
                format!("{bad:?} is not one of accepted, corrected, imported, auto"),
            ));
        }
        let side = side
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string);
        let split_at = day("split_at", split_at)?;
        if let Some(s) = &side {
            if s != "train" && s != "test" {
                return Err(DomainError::invalid("side", "train or test"));
            }
            if split_at.is_none() {
                return Err(DomainError::invalid(
                    "side",
                    "needs split_at, the day the test side starts",
                ));
            }
        }
        Ok(ExportOptions {
            from: day("from", from)?,
            to: day("to", to)?.map(|t| t + crate::time::DAY_MS),
            sources,
            split_at,
            side,
            as_of,
        })
    }

    /// The WHERE clause every query of the export shares, and its bound values
    /// (numbered from `$1`).
    fn filter(&self) -> (String, Vec<i64>, Vec<String>) {
        let mut sql = String::from("l.undone_at IS NULL");
        let mut numbers = Vec::new();
        for (column, op, value) in [
            ("l.created_at", ">=", self.from),
            ("l.created_at", "<", self.to),
            ("l.id", "<=", self.as_of),
        ] {
            if let Some(v) = value {
                numbers.push(v);
                sql.push_str(&format!(" AND {column} {op} ${}", numbers.len()));
            }
        }
        let texts = self.sources.clone();
        if !texts.is_empty() {
            let first = numbers.len() + 1;
            let list: Vec<String> = (0..texts.len())
                .map(|i| format!("${}", first + i))
                .collect();
            sql.push_str(&format!(" AND l.source IN ({})", list.join(", ")));
        }
        (sql, numbers, texts)
    }
}

/// What an export wrote: how many labels, the hash of its rows and the last label
/// id it covers (`as_of` rebuilds the same set).
#[derive(Debug, Clone, PartialEq)]
pub struct ExportSummary {
    pub written: usize,
    /// SHA-256 over each row's label id, Message-ID, category and side, in order:
    /// the same whatever the format.
    pub dataset_hash: String,
    pub as_of: Option<i64>,
}

/// Writes the labels `options` selects, oldest first.
pub async fn export(
    db: &Db,
    format: Format,
    options: &ExportOptions,
    out: &mut impl Write,
) -> DomainResult<ExportSummary> {
    let io = |e: std::io::Error| DomainError::Internal(format!("writing the export: {e}"));
    let (filter, numbers, texts) = options.filter();
    // The last label covered, fixed before reading so every page agrees.
    let as_of: Option<i64> = bound(
        &format!("SELECT MAX(l.id) FROM labels l WHERE {filter}"),
        &numbers,
        &texts,
    )
    .fetch_one(&db.pool)
    .await?
    .try_get(0)?;
    let Some(as_of) = as_of else {
        if format == Format::Csv {
            out.write_all(&csv_record(CSV_HEADER)?).map_err(io)?;
        }
        return Ok(ExportSummary {
            written: 0,
            dataset_hash: hex::encode(Sha256::digest(b"")),
            as_of: options.as_of,
        });
    };
    // Each thread's side: by the time of its first label in the export.
    let mut sides: HashMap<String, &'static str> = HashMap::new();
    if let Some(split_at) = options.split_at {
        let rows = bound(&format!(
            "SELECT e.thread_key, MIN(l.created_at) FROM labels l JOIN emails e ON e.id = l.email_id \
             WHERE {filter} GROUP BY e.thread_key"
        ), &numbers, &texts)
        .fetch_all(&db.pool)
        .await?;
        for r in rows {
            let first: i64 = r.try_get(1)?;
            sides.insert(
                r.try_get(0)?,
                if first >= split_at { "test" } else { "train" },
            );
        }
    }

    if format == Format::Csv {
        out.write_all(&csv_record(CSV_HEADER)?).map_err(io)?;
    }
    let mut hasher = Sha256::new();
    let mut after = 0i64;
    let mut written = 0;
    let page_from = numbers.len() + texts.len() + 1;
    loop {
        let sql = format!(
            "SELECT l.id, e.message_id, c.name, l.source, u.username, l.model_version, l.seconds_spent, \
               l.created_at, CASE WHEN e.label_id = l.id THEN 1 ELSE 0 END AS current, e.subject, b.body_text, e.thread_key \
             FROM labels l JOIN emails e ON e.id = l.email_id JOIN email_bodies b ON b.email_id = l.email_id \
             JOIN categories c ON c.id = l.category_id \
             LEFT JOIN users u ON u.id = l.user_id \
             WHERE {filter} AND l.id > ${} AND l.id <= ${} ORDER BY l.id LIMIT ${}",
            page_from,
            page_from + 1,
            page_from + 2
        );
        let rows = bound(&sql, &numbers, &texts)
            .bind(after)
            .bind(as_of)
            .bind(PAGE)
            .fetch_all(&db.pool)
            .await?;
        for r in &rows {
            let id: i64 = r.try_get(0)?;
            after = id;
            let thread: String = r.try_get(11)?;
            let side = sides.get(&thread).copied();
            if options.side.is_some() && options.side.as_deref() != side {
                continue;
            }
            let message_id: String = r.try_get(1)?;
            let category: String = r.try_get(2)?;
            hasher.update(format!(
                "{id}\t{message_id}\t{category}\t{}\n",
                side.unwrap_or("")
            ));
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
                        side.unwrap_or_default().to_string(),
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
                        "split": side, "subject": subject, "body": body,
                    });
                    writeln!(out, "{line}").map_err(io)?;
                }
            }
            written += 1;
        }
        if (rows.len() as i64) < PAGE {
            break;
        }
    }
    out.flush().map_err(io)?;
    Ok(ExportSummary {
        written,
        dataset_hash: hex::encode(hasher.finalize()),
        as_of: Some(as_of),
    })
}

/// A query of the export with the filter's values bound, in order.
fn bound<'q>(
    sql: &'q str,
    numbers: &[i64],
    texts: &[String],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    let mut q = sqlx::query(sql);
    for n in numbers {
        q = q.bind(*n);
    }
    for t in texts {
        q = q.bind(t.clone());
    }
    q
}

const CSV_HEADER: [&str; 12] = [
    "label_id",
    "message_id",
    "category",
    "source",
    "user",
    "model_version",
    "seconds_spent",
    "created_at",
    "current",
    "split",
    "subject",
    "body",
];

/// One CSV record (RFC 4180 quoting, line breaks inside fields kept); also the
/// analytics views' CSV.
pub(crate) fn csv_record<T: AsRef<[u8]>>(
    fields: impl IntoIterator<Item = T>,
) -> DomainResult<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(fields)
        .map_err(|e| DomainError::Internal(format!("writing CSV: {e}")))?;
    w.into_inner()
        .map_err(|e| DomainError::Internal(format!("writing CSV: {e}")))
}
