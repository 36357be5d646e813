//! The queue: which emails a filter selects, in which order, a page at a time.
//!
//! The same filter serves the queue page, the review view, `GET /api/v1/emails` and
//! bulk actions ("every email in this view"). Pages use keyset pagination on the sort
//! key and the id, so page 500 costs what page 1 costs.

use sqlx::Row;
use sqlx::any::AnyArguments;
use sqlx::query::Query;

use crate::db::{Db, Dialect};
use crate::error::{DomainError, DomainResult};
use crate::time::{DAY_MS, day_start};
use crate::wire::{QueuePage, QueueQuery, QueueRow};

pub const STATUSES: [&str; 4] = ["new", "triaged", "replied", "archived"];

/// The order of the queue.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Sort {
    #[default]
    Newest,
    Oldest,
    /// The review order: the model's least sure predictions first.
    LeastConfident,
    MostConfident,
}

impl Sort {
    fn parse(s: &str) -> DomainResult<Sort> {
        match s {
            "newest" => Ok(Sort::Newest),
            "oldest" => Ok(Sort::Oldest),
            "least_confident" => Ok(Sort::LeastConfident),
            "most_confident" => Ok(Sort::MostConfident),
            _ => Err(DomainError::invalid(
                "sort",
                format!("{s:?} is not one of newest, oldest, least_confident, most_confident"),
            )),
        }
    }

    fn by_confidence(self) -> bool {
        matches!(self, Sort::LeastConfident | Sort::MostConfident)
    }

    fn ascending(self) -> bool {
        matches!(self, Sort::Oldest | Sort::LeastConfident)
    }
}

/// Who the emails are assigned to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Assignee {
    Nobody,
    User(i64),
}

/// A checked filter: every field of a [`QueueQuery`] parsed and resolved.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct QueueFilter {
    pub status: Option<String>,
    pub category_id: Option<i64>,
    /// FTS terms, lowercased letters and digits only (safe to put in a match query).
    pub words: Vec<String>,
    pub min_confidence: Option<f64>,
    pub max_confidence: Option<f64>,
    /// Received at or after, before (Unix milliseconds).
    pub received_from: Option<i64>,
    pub received_before: Option<i64>,
    pub assignee: Option<Assignee>,
    pub model: Option<String>,
    pub sort: Sort,
    /// Where the previous page stopped: the sort key and the id.
    pub after: Option<(Key, i64)>,
    pub limit: i64,
}

/// A sort key value in a cursor.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Key {
    Time(i64),
    Confidence(f64),
}

impl QueueFilter {
    /// Checks a query from a URL or the API. `me` is the caller, for `assignee=me`.
    /// A category or user that does not exist is an error naming the field.
    pub async fn parse(db: &Db, q: &QueueQuery, me: Option<i64>, limit: i64) -> DomainResult<Self> {
        let mut f = QueueFilter {
            limit: limit.clamp(1, 200),
            ..Default::default()
        };
        if let Some(status) = text(&q.status) {
            if !STATUSES.contains(&status) {
                return Err(DomainError::invalid(
                    "status",
                    format!("unknown status {status:?}"),
                ));
            }
            f.status = Some(status.to_string());
        }
        if let Some(name) = text(&q.category) {
            let id = crate::categories::find_id(db, name).await?;
            f.category_id = Some(id.ok_or_else(|| {
                DomainError::invalid("category", format!("no category named {name:?}"))
            })?);
        }
        if let Some(words) = text(&q.q) {
            f.words = search_words(words);
        }
        if let Some(band) = text(&q.confidence) {
            let (lo, hi) = match band {
                "low" => (0.0, 0.5),
                "medium" => (0.5, 0.8),
                "high" => (0.8, 1.01),
                _ => {
                    return Err(DomainError::invalid(
                        "confidence",
                        format!("{band:?} is not one of low, medium, high"),
                    ));
                }
            };
            f.min_confidence = Some(lo);
            f.max_confidence = Some(hi);
        }
        let fraction = |field: &str, v: &str| -> DomainResult<f64> {
            v.parse::<f64>()
                .ok()
                .filter(|p| (0.0..=1.0).contains(p))
                .ok_or_else(|| {
                    DomainError::invalid(field, format!("{v:?} is not a number from 0 to 1"))
                })
        };
        if let Some(v) = text(&q.min_confidence) {
            f.min_confidence = Some(fraction("min_confidence", v)?);
        }
        if let Some(v) = text(&q.max_confidence) {
            // Inclusive for people ("at most 0.6"), exclusive inside.
            f.max_confidence = Some(fraction("max_confidence", v)? + 1e-9);
        }
        if let Some(v) = text(&q.from) {
            f.received_from = Some(day_start("from", v)?);
        }
        if let Some(v) = text(&q.to) {
            f.received_before = Some(day_start("to", v)? + DAY_MS);
        }
        if let Some(who) = text(&q.assignee) {
            f.assignee = Some(match who {
                "none" => Assignee::Nobody,
                "me" => Assignee::User(me.ok_or_else(|| {
                    DomainError::invalid("assignee", "\"me\" needs a signed-in user")
                })?),
                name => {
                    let id: Option<i64> =
                        sqlx::query_scalar("SELECT id FROM users WHERE username = $1")
                            .bind(name)
                            .fetch_optional(&db.pool)
                            .await?;
                    Assignee::User(id.ok_or_else(|| {
                        DomainError::invalid("assignee", format!("no user named {name:?}"))
                    })?)
                }
            });
        }
        f.model = text(&q.model).map(str::to_string);
        if let Some(sort) = text(&q.sort) {
            f.sort = Sort::parse(sort)?;
        }
        if let Some(cursor) = text(&q.cursor) {
            f.after = Some(parse_cursor(cursor, f.sort)?);
        }
        Ok(f)
    }
}

/// A query field's value, trimmed; `None` when absent or blank.
fn text(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// The words of a search box, as the full-text index splits them.
fn search_words(q: &str) -> Vec<String> {
    q.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(16)
        .map(str::to_lowercase)
        .collect()
}

/// A SQL statement built from the filters that are set, with its values in order.
/// Only present filters appear in the text, so each database plans each shape once
/// with the indexes that shape can use.
#[derive(Default)]
struct Sql {
    text: String,
    values: Vec<Value>,
}

#[derive(Clone)]
enum Value {
    Int(i64),
    Real(f64),
    Text(String),
}

impl Sql {
    fn push(&mut self, s: &str) -> &mut Self {
        self.text.push_str(s);
        self
    }

    fn bind(&mut self, v: Value) -> &mut Self {
        self.values.push(v);
        self.text.push_str(&format!("${}", self.values.len()));
        self
    }

    fn query(&self) -> Query<'_, sqlx::Any, AnyArguments<'_>> {
        let mut q = sqlx::query(&self.text);
        for v in &self.values {
            q = match v {
                Value::Int(i) => q.bind(*i),
                Value::Real(f) => q.bind(*f),
                Value::Text(s) => q.bind(s.as_str()),
            };
        }
        q
    }
}

/// Appends ` AND …` for every filter that is set (the cursor included when `paged`).
fn push_conditions(sql: &mut Sql, f: &QueueFilter, dialect: Dialect, paged: bool) {
    if let Some(status) = &f.status {
        sql.push(" AND e.status = ")
            .bind(Value::Text(status.clone()));
    }
    if let Some(id) = f.category_id {
        sql.push(" AND COALESCE(e.label_category_id, e.predicted_category_id) = ")
            .bind(Value::Int(id));
    }
    if !f.words.is_empty() {
        match dialect {
            Dialect::Sqlite => {
                // "refund" "lat"*: every word, the last one as a prefix (typing).
                let mut query: Vec<String> = f.words.iter().map(|w| format!("\"{w}\"")).collect();
                if let Some(last) = query.last_mut() {
                    last.push('*');
                }
                sql.push(" AND e.id IN (SELECT rowid FROM emails_fts WHERE emails_fts MATCH ")
                    .bind(Value::Text(query.join(" ")))
                    .push(")");
            }
            Dialect::Postgres => {
                let mut query = f.words.join(" & ");
                query.push_str(":*");
                sql.push(" AND e.search @@ to_tsquery('simple', ")
                    .bind(Value::Text(query))
                    .push(")");
            }
        }
    }
    if let Some(lo) = f.min_confidence {
        sql.push(" AND e.confidence >= ").bind(Value::Real(lo));
    }
    if let Some(hi) = f.max_confidence {
        sql.push(" AND e.confidence < ").bind(Value::Real(hi));
    }
    if f.sort.by_confidence() {
        sql.push(" AND e.confidence IS NOT NULL");
    }
    if let Some(at) = f.received_from {
        sql.push(" AND e.received_at >= ").bind(Value::Int(at));
    }
    if let Some(at) = f.received_before {
        sql.push(" AND e.received_at < ").bind(Value::Int(at));
    }
    match f.assignee {
        Some(Assignee::Nobody) => {
            sql.push(" AND e.assignee_id IS NULL");
        }
        Some(Assignee::User(id)) => {
            sql.push(" AND e.assignee_id = ").bind(Value::Int(id));
        }
        None => {}
    }
    if let Some(model) = &f.model {
        sql.push(" AND e.prediction_id IN (SELECT id FROM predictions WHERE model_version = ")
            .bind(Value::Text(model.clone()))
            .push(")");
    }
    if paged && let Some((key, id)) = f.after {
        let (column, key) = match key {
            Key::Time(t) => ("e.received_at", Value::Int(t)),
            Key::Confidence(c) => ("e.confidence", Value::Real(c)),
        };
        let op = if f.sort.ascending() { ">" } else { "<" };
        sql.push(&format!(" AND ({column} {op} "))
            .bind(key.clone())
            .push(&format!(" OR ({column} = "))
            .bind(key)
            .push(&format!(" AND e.id {op} "))
            .bind(Value::Int(id))
            .push("))");
    }
}

fn order_by(sort: Sort) -> &'static str {
    match sort {
        Sort::Newest => " ORDER BY e.received_at DESC, e.id DESC",
        Sort::Oldest => " ORDER BY e.received_at ASC, e.id ASC",
        Sort::LeastConfident => " ORDER BY e.confidence ASC, e.id ASC",
        Sort::MostConfident => " ORDER BY e.confidence DESC, e.id DESC",
    }
}

/// One page of the queue and the cursor of the next.
pub async fn page(db: &Db, f: &QueueFilter) -> DomainResult<QueuePage> {
    let mut sql = Sql::default();
    sql.push(
        "SELECT e.id, e.received_at, e.from_name, e.from_address, e.subject, \
           SUBSTR(e.body_text, 1, 160) AS snippet, e.status, e.confidence, e.label_id, \
           p.name AS predicted, l.name AS label, COALESCE(l.color, p.color) AS color, \
           a.display_name AS assignee \
         FROM emails e \
         LEFT JOIN categories p ON p.id = e.predicted_category_id \
         LEFT JOIN categories l ON l.id = e.label_category_id \
         LEFT JOIN users a ON a.id = e.assignee_id \
         WHERE 1 = 1",
    );
    push_conditions(&mut sql, f, db.dialect, true);
    sql.push(order_by(f.sort))
        .push(" LIMIT ")
        .bind(Value::Int(f.limit + 1));
    let rows = sql.query().fetch_all(&db.pool).await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows.iter().take(f.limit as usize) {
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
            label_id: r.try_get("label_id")?,
            assignee: r.try_get("assignee")?,
        });
    }
    let next_cursor = match out.last() {
        Some(last) if rows.len() as i64 > f.limit => Some(cursor_of(last, f.sort)),
        _ => None,
    };
    Ok(QueuePage {
        rows: out,
        next_cursor,
    })
}

/// Every email the filter selects (ignoring the cursor and the page size), oldest id
/// first, at most `cap` of them: the targets of a bulk action on a whole view.
pub async fn matching_ids(db: &Db, f: &QueueFilter, cap: i64) -> DomainResult<Vec<i64>> {
    let mut sql = Sql::default();
    sql.push("SELECT e.id FROM emails e WHERE 1 = 1");
    push_conditions(&mut sql, f, db.dialect, false);
    sql.push(" ORDER BY e.id LIMIT ").bind(Value::Int(cap));
    let rows = sql.query().fetch_all(&db.pool).await?;
    rows.iter()
        .map(|r| r.try_get::<i64, _>(0).map_err(Into::into))
        .collect()
}

/// How many emails the filter selects (ignoring the cursor).
pub async fn count(db: &Db, f: &QueueFilter) -> DomainResult<i64> {
    let mut sql = Sql::default();
    sql.push("SELECT COUNT(*) FROM emails e WHERE 1 = 1");
    push_conditions(&mut sql, f, db.dialect, false);
    Ok(sql.query().fetch_one(&db.pool).await?.try_get(0)?)
}

fn cursor_of(row: &QueueRow, sort: Sort) -> String {
    if sort.by_confidence() {
        // Rust prints the shortest text that reads back as the same f64.
        format!("{}_{}", row.confidence.unwrap_or(0.0), row.id)
    } else {
        format!("{}_{}", row.received_at, row.id)
    }
}

fn parse_cursor(c: &str, sort: Sort) -> DomainResult<(Key, i64)> {
    let bad = || DomainError::invalid("cursor", "not a cursor this server gave out for this sort");
    // `_` separates; `.` is accepted for cursors handed out before confidence sorts.
    let (key, id) = c
        .rsplit_once('_')
        .or_else(|| {
            if sort.by_confidence() {
                None
            } else {
                c.split_once('.')
            }
        })
        .ok_or_else(bad)?;
    let id: i64 = id.parse().map_err(|_| bad())?;
    let key = if sort.by_confidence() {
        Key::Confidence(
            key.parse::<f64>()
                .ok()
                .filter(|k| k.is_finite())
                .ok_or_else(bad)?,
        )
    } else {
        Key::Time(key.parse().map_err(|_| bad())?)
    };
    Ok((key, id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        assert_eq!(
            parse_cursor("1700000000000_42", Sort::Newest).unwrap(),
            (Key::Time(1_700_000_000_000), 42)
        );
        assert_eq!(
            parse_cursor("1700000000000.42", Sort::Newest).unwrap(),
            (Key::Time(1_700_000_000_000), 42)
        );
        assert_eq!(
            parse_cursor("0.1234567890123_7", Sort::LeastConfident).unwrap(),
            (Key::Confidence(0.1234567890123), 7)
        );
        assert!(parse_cursor("42", Sort::Newest).is_err());
        assert!(parse_cursor("a_b", Sort::Newest).is_err());
        assert!(parse_cursor("NaN_3", Sort::LeastConfident).is_err());
    }

    #[test]
    fn search_words_are_safe_to_quote() {
        assert_eq!(
            search_words("Late  \"order\" #123*"),
            ["late", "order", "123"]
        );
        assert_eq!(search_words("Rückerstattung!"), ["rückerstattung"]);
        assert!(
            search_words("\" OR 1=1 --")
                .iter()
                .all(|w| w.chars().all(char::is_alphanumeric))
        );
    }
}
