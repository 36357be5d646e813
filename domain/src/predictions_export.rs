//! Every current prediction of the emails a queue filter selects, as JSON Lines or
//! CSV: message id, category, confidence, model (its version) and when it was made. The
//! same filter as the queue page and `GET /api/v1/emails` (`domain::queue`), so what a
//! person sees in a view is what they export. Emails without a prediction are left
//! out.

use std::io::Write;

use crate::db::Db;
use crate::error::{DomainError, DomainResult};
use crate::labels_export::{Format, csv_record};
use crate::queue::QueueFilter;
use crate::sql::Sql;

/// Rows read per query: the export streams through the emails by id.
const PAGE: i64 = 1000;

const CSV_HEADER: [&str; 6] = [
    "email_id",
    "message_id",
    "category",
    "confidence",
    "model",
    "predicted_at",
];

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    message_id: String,
    category: String,
    confidence: f64,
    model_version: String,
    at: i64,
}

/// JSON Lines or CSV (fastText is for labels only).
pub fn parse_format(s: &str) -> DomainResult<Format> {
    match Format::parse(s)? {
        Format::FastText => Err(DomainError::invalid(
            "format",
            "predictions export as jsonl or csv",
        )),
        format => Ok(format),
    }
}

/// Writes the predictions to `out`; returns how many.
pub async fn export(
    db: &Db,
    filter: &QueueFilter,
    format: Format,
    out: &mut impl Write,
) -> DomainResult<usize> {
    let io = |e: std::io::Error| DomainError::Internal(format!("writing the export: {e}"));
    if format == Format::Csv {
        out.write_all(&csv_record(CSV_HEADER)?).map_err(io)?;
    }
    let mut written = 0;
    let mut after = 0i64;
    loop {
        let mut sql = Sql::default();
        sql.push(
            "SELECT e.id, e.message_id, c.name AS category, p.confidence, p.model_version, \
               p.created_at AS at \
             FROM emails e JOIN predictions p ON p.id = e.prediction_id \
             JOIN categories c ON c.id = p.category_id WHERE e.id > ",
        )
        .bind(after);
        crate::queue::push_filter_conditions(&mut sql, filter, db.dialect);
        sql.push(" ORDER BY e.id LIMIT ").bind(PAGE);
        let rows: Vec<Row> = sql.query_as().fetch_all(&db.pool).await?;
        let fetched = rows.len() as i64;
        for row in rows {
            after = row.id;
            let when = chrono::DateTime::from_timestamp_millis(row.at)
                .map(|d| d.to_rfc3339())
                .unwrap_or_default();
            match format {
                Format::Csv => {
                    let record = csv_record([
                        row.id.to_string(),
                        row.message_id,
                        row.category,
                        row.confidence.to_string(),
                        row.model_version,
                        when,
                    ])?;
                    out.write_all(&record).map_err(io)?;
                }
                _ => {
                    let line = serde_json::json!({
                        "email_id": row.id, "message_id": row.message_id,
                        "category": row.category, "confidence": row.confidence,
                        "model": row.model_version, "predicted_at": when,
                    });
                    writeln!(out, "{line}").map_err(io)?;
                }
            }
            written += 1;
        }
        if fetched < PAGE {
            break;
        }
    }
    out.flush().map_err(io)?;
    Ok(written)
}
