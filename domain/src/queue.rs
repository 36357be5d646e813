//! The queue: which emails a filter selects, in which order, a page at a time.
//!
//! The same filter serves the queue page, the review view, `GET /api/v1/emails` and
//! bulk actions ("every email in this view"). Pages use keyset pagination on the sort
//! key and the id, so page 500 costs what page 1 costs.

use crate::db::{Db, Dialect};
use crate::error::{DomainError, DomainResult};
use crate::search_hits::Hits;
use crate::sql::{Sql, Value};
use crate::time::{DAY_MS, day_start};
use crate::wire::{EmailStatus, QueuePage, QueueQuery, QueueRow};

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
    pub status: Option<EmailStatus>,
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
            f.status = Some(
                status
                    .parse()
                    .map_err(|e| DomainError::invalid("status", format!("{e}")))?,
            );
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

/// Appends ` AND …` for every filter that is set (the cursor included when `paged`).
fn push_conditions(sql: &mut Sql, f: &QueueFilter, dialect: Dialect, paged: bool) {
    if let Some(status) = f.status {
        sql.push(" AND e.status = ").bind(status.as_str());
    }
    if let Some(id) = f.category_id {
        // Exactly the expression of the index `emails_category_received_confidence`
        // (migration 0011).
        sql.push(" AND COALESCE(e.label_category_id, e.predicted_category_id) = ")
            .bind(id);
    }
    if !f.words.is_empty() {
        match dialect {
            Dialect::Sqlite => {
                sql.push(" AND e.id IN (SELECT rowid FROM emails_fts WHERE emails_fts MATCH ")
                    .bind(sqlite_match(&f.words))
                    .push(")");
            }
            Dialect::Postgres => {
                sql.push(" AND e.id IN (SELECT email_id FROM email_search WHERE search @@ to_tsquery('simple', ")
                    .bind(postgres_tsquery(&f.words))
                    .push("))");
            }
        }
    }
    if let Some(lo) = f.min_confidence {
        sql.push(" AND e.confidence >= ").bind(lo);
    }
    if let Some(hi) = f.max_confidence {
        sql.push(" AND e.confidence < ").bind(hi);
    }
    if f.sort.by_confidence() {
        sql.push(" AND e.confidence IS NOT NULL");
    }
    if let Some(at) = f.received_from {
        sql.push(" AND e.received_at >= ").bind(at);
    }
    if let Some(at) = f.received_before {
        sql.push(" AND e.received_at < ").bind(at);
    }
    match f.assignee {
        Some(Assignee::Nobody) => {
            sql.push(" AND e.assignee_id IS NULL");
        }
        Some(Assignee::User(id)) => {
            sql.push(" AND e.assignee_id = ").bind(id);
        }
        None => {}
    }
    if let Some(model) = &f.model {
        sql.push(" AND e.prediction_id IN (SELECT id FROM predictions WHERE model_version = ")
            .bind(model.clone())
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
            .bind(id)
            .push("))");
    }
}

/// The FTS5 query for the search words: `"refund" "lat"*`, every word, the last one
/// as a prefix (typing).
fn sqlite_match(words: &[String]) -> String {
    let mut query: Vec<String> = words.iter().map(|w| format!("\"{w}\"")).collect();
    if let Some(last) = query.last_mut() {
        last.push('*');
    }
    query.join(" ")
}

/// The tsquery for the search words: `refund & lat:*`, every word, the last one as
/// a prefix (typing).
fn postgres_tsquery(words: &[String]) -> String {
    let mut query = words.join(" & ");
    query.push_str(":*");
    query
}

/// The column a sort orders by (then by id).
fn sort_column(sort: Sort) -> &'static str {
    if sort.by_confidence() {
        "e.confidence"
    } else {
        "e.received_at"
    }
}

/// ` ORDER BY key, id`, both in the sort's direction.
fn order_on(sort: Sort, key: &str, id: &str) -> String {
    let direction = if sort.ascending() { "ASC" } else { "DESC" };
    format!(" ORDER BY {key} {direction}, {id} {direction}")
}

fn order_by(sort: Sort) -> String {
    order_on(sort, sort_column(sort), "e.id")
}

/// What a queue row shows. The snippet is looked up per row shown (the bodies are a
/// table of their own, so lists and sorts read narrow rows).
const ROW_COLUMNS: &str = "SELECT e.id, e.received_at, e.from_name, e.from_address, e.subject, \
       COALESCE((SELECT SUBSTR(b.body_text, 1, 160) FROM email_bodies b WHERE b.email_id = e.id), '') \
         AS snippet, \
       e.status, e.confidence, e.label_id, \
       p.name AS predicted, l.name AS label, COALESCE(l.color, p.color) AS color, \
       a.display_name AS assignee \
     FROM emails e \
     LEFT JOIN categories p ON p.id = e.predicted_category_id \
     LEFT JOIN categories l ON l.id = e.label_category_id \
     LEFT JOIN users a ON a.id = e.assignee_id \
     WHERE 1 = 1";

/// A search on SQLite is walked through the filter's own order (see
/// [`crate::search_hits`]) when at least this share of all emails match: a page then
/// needs about `limit / share` rows of the walk. Rarer words are cheaper for SQLite
/// to look up in its index, as the whole query does. Measured on 100,000 real emails
/// once the walk read only indexes (migration 0009): 2,000 walked rows 0.4-0.9 ms;
/// the whole query for a word in 3.5 % of the mail 6-9 ms, for one in 1.2 % 3-4 ms
/// in SQLite and 10 ms for the page. (It was 5 % when a walk with a confidence band
/// read every email's row; bench/workspace.py's search views improved at 2 % and
/// again at 1 %.)
const WALK_MIN_SHARE: f64 = 0.01;
/// The walk gives up (and the whole query runs) past this many rows, when the filter
/// and the search rarely meet.
const WALK_MAX_ROWS: i64 = 20_000;

/// A search on PostgreSQL that matches at most this many emails takes them all from
/// the full-text index first, then keeps those the filter selects, in page order;
/// a commoner one walks the filter's order and tests each email's vector, which
/// the planner chooses by itself. Its cost model prefers the walk even where the
/// search and the filter rarely meet ("razor" in the medium confidence band walked
/// 11,937 emails for 51: 41 ms; from the index, 4 ms). A word in N emails costs
/// about N lookups first, against 50 × 100,000 / N for a walk with no filter: even
/// near √(50 × 100,000) ≈ 2,200, and filters make walks longer. (SQLite decides
/// with the matches it holds in memory, [`WALK_MIN_SHARE`]; taking them first there
/// too, up to 5,000 matches, made its search views slower: issue 34's note.)
const INDEX_FIRST_MAX_HITS: i64 = 3_000;

/// One page of the queue and the cursor of the next.
pub async fn page(db: &Db, f: &QueueFilter) -> DomainResult<QueuePage> {
    if db.dialect == Dialect::Postgres && !f.words.is_empty() {
        let tsquery = postgres_tsquery(&f.words);
        if db.search_counts.get(&db.pool, &tsquery).await? <= INDEX_FIRST_MAX_HITS {
            let mut rest = f.clone();
            rest.words.clear();
            let mut sql = Sql::default();
            // MATERIALIZED: the matches are taken once, before the filter, not
            // tested email by email.
            sql.push("WITH hits AS MATERIALIZED (SELECT email_id FROM email_search WHERE search @@ to_tsquery('simple', ")
                .bind(tsquery)
                .push(")) ")
                .push(ROW_COLUMNS)
                .push(" AND e.id IN (SELECT email_id FROM hits)");
            push_page_tail(&mut sql, &rest, db.dialect, f.limit + 1);
            return page_of(&sql, db, f).await;
        }
    }
    if db.dialect == Dialect::Sqlite && !f.words.is_empty() {
        let hits = db
            .search_hits
            .get(&db.pool, &sqlite_match(&f.words))
            .await?;
        if hits.share() >= WALK_MIN_SHARE
            && let Some(ids) = walk(db, f, &hits).await?
        {
            let mut sql = Sql::default();
            sql.push(ROW_COLUMNS).push(" AND e.id IN (");
            for (i, id) in ids.iter().enumerate() {
                if i > 0 {
                    sql.push(", ");
                }
                sql.bind(*id);
            }
            sql.push(")").push(&order_by(f.sort));
            return page_of(&sql, db, f).await;
        }
    }
    let mut sql = Sql::default();
    sql.push(ROW_COLUMNS);
    push_page_tail(&mut sql, f, db.dialect, f.limit + 1);
    page_of(&sql, db, f).await
}

/// Appends the filter's conditions (its cursor included), its order and
/// ` LIMIT rows`.
fn push_page_tail(sql: &mut Sql, f: &QueueFilter, dialect: Dialect, rows: i64) {
    push_conditions(sql, f, dialect, true);
    sql.push(&order_by(f.sort)).push(" LIMIT ").bind(rows);
}

/// The ids of the page's rows (and one more, when there is a next page): the
/// filter without its search words walked in page order, keeping the emails the
/// search matched. `None` when the walk passed [`WALK_MAX_ROWS`].
async fn walk(db: &Db, f: &QueueFilter, hits: &Hits) -> DomainResult<Option<Vec<i64>>> {
    let mut rest = f.clone();
    rest.words.clear();
    let wanted = f.limit as usize + 1;
    // Enough rows to fill the page at the search's average share, and a half more.
    // Up to 8,000: a walk reads only an index (2,000 rows took 0.4-0.9 ms; 8,000 were
    // not timed alone), and each step costs a statement of its own, so a word in 1 %
    // of the mail takes one step instead of four.
    let step = ((wanted as f64 / hits.share()) * 1.5).clamp(64.0, 8_000.0) as i64;
    let mut ids = Vec::with_capacity(wanted);
    let mut walked = 0;
    loop {
        // One row, the walked ids in order, not one row per id: each row crosses
        // from the driver's thread on its own. Only columns of the sort's index,
        // so the walk never reads an email's row.
        let mut sql = Sql::default();
        sql.push(&format!(
            "SELECT group_concat(w.id, ','{}) FROM (SELECT e.id, {} AS k FROM emails e WHERE 1 = 1",
            order_on(f.sort, "w.k", "w.id"),
            sort_column(f.sort)
        ));
        push_page_tail(&mut sql, &rest, db.dialect, step);
        sql.push(") w");
        let walked_ids: Option<String> = sql.query_scalar().fetch_one(&db.pool).await?;
        let mut last = None;
        let mut rows = 0;
        for id in walked_ids
            .as_deref()
            .unwrap_or_default()
            .split(',')
            .filter(|id| !id.is_empty())
        {
            let id: i64 = id
                .parse()
                .map_err(|_| DomainError::Internal(format!("walk: {id:?} is not an id")))?;
            rows += 1;
            last = Some(id);
            if hits.contains(id) {
                ids.push(id);
                if ids.len() == wanted {
                    return Ok(Some(ids));
                }
            }
        }
        walked += rows;
        let Some(last) = last.filter(|_| rows == step) else {
            return Ok(Some(ids));
        };
        if walked > WALK_MAX_ROWS {
            return Ok(None);
        }
        let sql = format!(
            "SELECT {} FROM emails e WHERE e.id = $1",
            sort_column(f.sort)
        );
        let key = if f.sort.by_confidence() {
            Key::Confidence(
                sqlx::query_scalar(&sql)
                    .bind(last)
                    .fetch_one(&db.pool)
                    .await?,
            )
        } else {
            Key::Time(
                sqlx::query_scalar(&sql)
                    .bind(last)
                    .fetch_one(&db.pool)
                    .await?,
            )
        };
        rest.after = Some((key, last));
    }
}

/// Whether a filter's statement is kept prepared. Not on PostgreSQL: after five runs
/// of a prepared statement it may switch to one plan for any values (a generic
/// plan), and for the queue's filters that plan guesses a search word matches 500
/// emails, whatever the word. Forced (`plan_cache_mode = force_generic_plan`) on
/// 100,000 emails, it read every match of a common word: 110–170 ms a page instead
/// of 2 ms. An unnamed statement is planned for its values each time. (A hazard
/// shown with `EXPLAIN`; the queue's measured slow pages came from parallel plans,
/// see [`page_rows`].)
fn cache_plan(db: &Db) -> bool {
    db.dialect == Dialect::Sqlite
}

/// A page's rows. On PostgreSQL, in a transaction of its own that plans without
/// parallel workers: for a rare search with a status (`replied` and `refund` among
/// 100,000 emails) PostgreSQL chose a parallel walk of the status index, 16 ms for a
/// page that takes 4 ms in one process, and with 16 clients on 2 cores the workers'
/// start-up and their competition for the cores made it 100–125 ms, the queue's p99
/// (bench/workspace.py). A page of 50 rows is never worth parallel workers.
async fn page_rows(sql: &Sql, db: &Db) -> DomainResult<Vec<QueueRow>> {
    match db.dialect {
        Dialect::Sqlite => Ok(sql.query_as().fetch_all(&db.pool).await?),
        Dialect::Postgres => {
            let mut tx = db.pool.begin().await?;
            sqlx::query("SET LOCAL max_parallel_workers_per_gather = 0")
                .execute(&mut *tx)
                .await?;
            // Unnamed, as every filter statement on PostgreSQL (see `cache_plan`).
            let rows = sql.query_as().persistent(false).fetch_all(&mut *tx).await?;
            tx.commit().await?;
            Ok(rows)
        }
    }
}

/// Runs a page's query (at most `limit + 1` rows) and makes the page.
async fn page_of(sql: &Sql, db: &Db, f: &QueueFilter) -> DomainResult<QueuePage> {
    let mut out = page_rows(sql, db).await?;
    let more = out.len() as i64 > f.limit;
    out.truncate(f.limit as usize);
    for row in &mut out {
        row.snippet = row.snippet.split_whitespace().collect::<Vec<_>>().join(" ");
    }
    let next_cursor = match out.last() {
        Some(last) if more => Some(cursor_of(last, f.sort)),
        _ => None,
    };
    Ok(QueuePage {
        rows: out,
        next_cursor,
    })
}

/// Appends ` AND …` for every condition of the filter but its cursor, for a query over
/// `emails e` of another module (the predictions export).
pub(crate) fn push_filter_conditions(sql: &mut Sql, f: &QueueFilter, dialect: Dialect) {
    push_conditions(sql, f, dialect, false);
}

/// Every email the filter selects (ignoring the cursor and the page size), oldest id
/// first, at most `cap` of them: the targets of a bulk action on a whole view.
pub async fn matching_ids(db: &Db, f: &QueueFilter, cap: i64) -> DomainResult<Vec<i64>> {
    let mut sql = Sql::default();
    sql.push("SELECT e.id FROM emails e WHERE 1 = 1");
    push_conditions(&mut sql, f, db.dialect, false);
    sql.push(" ORDER BY e.id LIMIT ").bind(cap);
    Ok(sql
        .query_scalar()
        .persistent(cache_plan(db))
        .fetch_all(&db.pool)
        .await?)
}

/// How many emails the filter selects (ignoring the cursor).
pub async fn count(db: &Db, f: &QueueFilter) -> DomainResult<i64> {
    let mut sql = Sql::default();
    sql.push("SELECT COUNT(*) FROM emails e WHERE 1 = 1");
    push_conditions(&mut sql, f, db.dialect, false);
    Ok(sql
        .query_scalar()
        .persistent(cache_plan(db))
        .fetch_one(&db.pool)
        .await?)
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

    async fn every_page(db: &Db, mut f: QueueFilter) -> Vec<QueueRow> {
        let mut rows = Vec::new();
        loop {
            let p = page(db, &f).await.unwrap();
            assert!(p.rows.len() as i64 <= f.limit);
            rows.extend(p.rows);
            match p.next_cursor {
                Some(c) => f.after = Some(parse_cursor(&c, f.sort).unwrap()),
                None => return rows,
            }
        }
    }

    /// A common word is walked through the filter's order (search_hits); the pages
    /// must hold exactly what the whole query selects, in page order, each once.
    #[tokio::test]
    async fn a_walked_search_pages_exactly_the_emails_the_index_matches() {
        let (db, dir) = crate::demo::demo_database("walk").await;
        // Confidences with many ties, so pages also break ties by id.
        sqlx::query("UPDATE emails SET confidence = (id * 37 % 10) / 10.0")
            .execute(&db.pool)
            .await
            .unwrap();
        let word = "the".to_string();
        let hits = db
            .search_hits
            .get(&db.pool, &sqlite_match(std::slice::from_ref(&word)))
            .await
            .unwrap();
        assert!(
            hits.share() >= WALK_MIN_SHARE,
            "the demo word is common enough to walk"
        );
        for (status, sort) in [
            (None, Sort::Newest),
            (Some(EmailStatus::New), Sort::Oldest),
            (Some(EmailStatus::New), Sort::LeastConfident),
            (None, Sort::MostConfident),
        ] {
            let f = QueueFilter {
                status,
                words: vec![word.clone()],
                sort,
                limit: 7,
                ..Default::default()
            };
            let rows = every_page(&db, f.clone()).await;
            let mut walked: Vec<i64> = rows.iter().map(|r| r.id).collect();
            let keys: Vec<(f64, i64)> = rows
                .iter()
                .map(|r| {
                    let key = if sort.by_confidence() {
                        r.confidence.unwrap()
                    } else {
                        r.received_at as f64
                    };
                    (key, r.id)
                })
                .collect();
            let in_order = keys.windows(2).all(|w| {
                if sort.ascending() {
                    w[0] < w[1]
                } else {
                    w[0] > w[1]
                }
            });
            assert!(in_order, "{status:?} {sort:?}: pages in sort order");
            walked.sort();
            let whole = matching_ids(&db, &f, 100_000).await.unwrap();
            assert!(whole.len() > 14, "{status:?} {sort:?}: several pages");
            assert_eq!(
                walked, whole,
                "{status:?} {sort:?}: every matching email once"
            );
        }
        db.close().await;
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// Matches bunched at the far end of the walk: the walk goes on chunk after
    /// chunk, from where the last one stopped, and still finds them in order.
    #[tokio::test]
    async fn a_walk_goes_on_past_chunks_without_matches() {
        let (db, dir) = crate::demo::demo_database("walk-far").await;
        let oldest_first: Vec<i64> =
            sqlx::query_scalar("SELECT id FROM emails ORDER BY received_at, id")
                .fetch_all(&db.pool)
                .await
                .unwrap();
        let max_id = *oldest_first.iter().max().unwrap();
        let far = &oldest_first[..oldest_first.len() * 3 / 10];
        assert!(
            oldest_first.len() - far.len() > 2 * 64,
            "two chunks without a match"
        );
        let hits = Hits::new(far.iter().copied(), max_id);
        let f = QueueFilter {
            words: vec!["unused".into()],
            limit: 7,
            ..Default::default()
        };
        let ids = walk(&db, &f, &hits).await.unwrap().unwrap();
        let newest_of_far: Vec<i64> = far.iter().rev().take(8).copied().collect();
        assert_eq!(ids, newest_of_far);
        db.close().await;
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// New mail changes the index's counter, so a remembered search is read again.
    #[tokio::test]
    async fn a_new_email_shows_in_a_remembered_search() {
        let (db, dir) = crate::demo::demo_database("walk-new").await;
        let f = QueueFilter {
            words: vec!["the".into()],
            limit: 5,
            ..Default::default()
        };
        let before = page(&db, &f).await.unwrap();
        let id = crate::emails::insert(
            &db,
            &crate::emails::NewEmail {
                message_id: "<new@test>".into(),
                thread_key: "new".into(),
                from_address: "a@example.com".into(),
                subject: "Where is the parcel".into(),
                body_text: "Hello".into(),
                source: "test".into(),
                received_at: crate::time::now_ms() + 60_000,
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .id();
        let after = page(&db, &f).await.unwrap();
        assert_ne!(before.rows[0].id, id);
        assert_eq!(
            after.rows[0].id, id,
            "the newest email, matched by the search"
        );
        db.close().await;
        std::fs::remove_dir_all(dir).unwrap();
    }

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
