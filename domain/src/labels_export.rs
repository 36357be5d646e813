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

use crate::db::Db;
use crate::error::{DomainError, DomainResult};
use crate::sql::Sql;
use crate::wire::LabelSource;

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
    /// Only these sources; all when empty.
    pub sources: Vec<LabelSource>,
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
        let sources = source
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<LabelSource>()
                    .map_err(|e| DomainError::invalid("source", e.to_string()))
            })
            .collect::<DomainResult<Vec<_>>>()?;
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

    /// `select` (which ends in `WHERE`) with the conditions every query of the
    /// export shares, and their values bound.
    fn filtered(&self, select: &str) -> Sql {
        let mut sql = Sql::new(select);
        sql.push(" l.undone_at IS NULL");
        for (column, op, value) in [
            ("l.created_at", ">=", self.from),
            ("l.created_at", "<", self.to),
            ("l.id", "<=", self.as_of),
        ] {
            if let Some(v) = value {
                sql.push(&format!(" AND {column} {op} ")).bind(v);
            }
        }
        for (i, source) in self.sources.iter().enumerate() {
            sql.push(if i == 0 { " AND l.source IN (" } else { ", " })
                .bind(source.as_str());
        }
        if !self.sources.is_empty() {
            sql.push(")");
        }
        sql
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
    // The last label covered, fixed before reading so every page agrees.
    let as_of: Option<i64> = options
        .filtered("SELECT MAX(l.id) FROM labels l WHERE")
        .query_scalar()
        .fetch_one(&db.pool)
        .await?;
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
        #[derive(sqlx::FromRow)]
        struct Thread {
            thread_key: String,
            first: i64,
        }
        let mut sql = options.filtered(
            "SELECT e.thread_key, MIN(l.created_at) AS first FROM labels l \
             JOIN emails e ON e.id = l.email_id WHERE",
        );
        sql.push(" GROUP BY e.thread_key");
        for t in sql.query_as::<Thread>().fetch_all(&db.pool).await? {
            let side = if t.first >= split_at { "test" } else { "train" };
            sides.insert(t.thread_key, side);
        }
    }

    if format == Format::Csv {
        out.write_all(&csv_record(CSV_HEADER)?).map_err(io)?;
    }
    let mut hasher = Sha256::new();
    let mut after = 0i64;
    let mut written = 0;
    loop {
        let mut sql = options.filtered(
            "SELECT l.id, e.message_id, c.name AS category, l.source, u.username AS user, \
               l.model_version AS model, l.seconds_spent AS seconds, l.created_at AS at, \
               CASE WHEN e.label_id = l.id THEN 1 ELSE 0 END AS current, e.subject, \
               b.body_text AS body, e.thread_key \
             FROM labels l JOIN emails e ON e.id = l.email_id \
             JOIN email_bodies b ON b.email_id = l.email_id \
             JOIN categories c ON c.id = l.category_id \
             LEFT JOIN users u ON u.id = l.user_id WHERE",
        );
        sql.push(" AND l.id > ")
            .bind(after)
            .push(" AND l.id <= ")
            .bind(as_of)
            .push(" ORDER BY l.id LIMIT ")
            .bind(PAGE);
        let rows: Vec<ExportRow> = sql.query_as().fetch_all(&db.pool).await?;
        let page_size = rows.len();
        for row in rows {
            let ExportRow {
                id,
                message_id,
                category,
                source,
                user,
                model,
                seconds,
                at,
                current,
                subject,
                body,
                thread_key,
            } = row;
            let current = current == 1;
            after = id;
            let side = sides.get(&thread_key).copied();
            if options.side.is_some() && options.side.as_deref() != side {
                continue;
            }
            hasher.update(format!(
                "{id}\t{message_id}\t{category}\t{}\n",
                side.unwrap_or("")
            ));
            let when = chrono::DateTime::from_timestamp_millis(at)
                .map(|d| d.to_rfc3339())
                .unwrap_or_default();
            match format {
                Format::Csv => {
                    let record = csv_record([
                        id.to_string(),
                        message_id,
                        category,
                        source.to_string(),
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
        if (page_size as i64) < PAGE {
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

/// A label as the export writes it.
#[derive(sqlx::FromRow)]
struct ExportRow {
    id: i64,
    message_id: String,
    category: String,
    source: LabelSource,
    user: Option<String>,
    model: Option<String>,
    seconds: Option<f64>,
    at: i64,
    /// 1 when the email carries this label now.
    current: i64,
    subject: String,
    body: String,
    thread_key: String,
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
