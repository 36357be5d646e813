//! Which emails a full-text search matches, kept in memory between queue pages
//! (SQLite).
//!
//! On SQLite a queue page with a search term asked the full-text index for every
//! matching email and built a temporary index of them, for every page: ~5 ms for a
//! common word among 100,000 emails, most of the page's cost. The set only changes
//! when emails are added, removed or edited, and the `search_generation` counter
//! moves exactly then (the triggers that keep the index in step bump it). So the set
//! is kept here, as a bitmap of email ids, until the counter moves; the queue walks
//! its filter's index in page order and keeps the rows whose id is in the set
//! (`queue::page`). PostgreSQL's index answers the whole query fast enough by itself.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use sqlx::AnyPool;

use crate::error::DomainResult;

/// How many searches are kept (the most recent ones). With 100,000 emails each
/// takes 12.5 KB.
const KEEP: usize = 32;

/// Ids up to here fit a bitmap (8 MiB each); past it, searches are not kept and every
/// page runs the whole query.
const MAX_ID_KEPT: i64 = 1 << 26;

/// The emails one search matches.
#[derive(Debug)]
pub struct Hits {
    bits: Vec<u64>,
    count: usize,
    /// The highest email id when the set was taken: how many emails there were,
    /// about (ids are handed out in order).
    max_id: i64,
}

impl Hits {
    pub(crate) fn new(ids: impl Iterator<Item = i64>, max_id: i64) -> Hits {
        let mut bits = vec![0u64; (max_id.max(0) as usize) / 64 + 1];
        let mut count = 0;
        for id in ids.filter(|id| (0..=max_id).contains(id)) {
            bits[id as usize / 64] |= 1 << (id % 64);
            count += 1;
        }
        Hits {
            bits,
            count,
            max_id,
        }
    }

    pub fn contains(&self, id: i64) -> bool {
        id >= 0
            && self
                .bits
                .get(id as usize / 64)
                .is_some_and(|word| word & (1 << (id % 64)) != 0)
    }

    /// The share of all emails the search matches, from 0 to 1.
    pub fn share(&self) -> f64 {
        self.count as f64 / self.max_id.max(1) as f64
    }
}

/// The most recent searches and what was found for each, newest first; the two
/// caches below keep theirs here.
#[derive(Debug)]
struct Recent<T> {
    entries: Mutex<VecDeque<(String, T)>>,
}

impl<T> Default for Recent<T> {
    fn default() -> Self {
        Recent {
            entries: Mutex::default(),
        }
    }
}

impl<T: Clone> Recent<T> {
    /// What was kept for `query`, when `fresh` says it still holds.
    fn find(&self, query: &str, fresh: impl Fn(&T) -> bool) -> Option<T> {
        let entries = self.entries.lock().expect("recent searches lock");
        entries
            .iter()
            .find(|(q, kept)| q == query && fresh(kept))
            .map(|(_, kept)| kept.clone())
    }

    /// Keeps `value` for `query` in place of what was kept for it, dropping the
    /// oldest search past [`KEEP`].
    fn keep(&self, query: &str, value: T) {
        let mut entries = self.entries.lock().expect("recent searches lock");
        entries.retain(|(q, _)| q != query);
        if entries.len() == KEEP {
            entries.pop_back();
        }
        entries.push_front((query.to_string(), value));
    }
}

/// The most recent searches and their hits, per database.
#[derive(Debug, Default)]
pub struct SearchHits {
    /// The hits and the index's counter when they were taken.
    recent: Recent<(i64, Arc<Hits>)>,
}

impl SearchHits {
    /// The emails an FTS5 `MATCH` query selects, from memory while the index is
    /// unchanged. The counter is read before the index: an email added in between
    /// makes the next page read the index again, never a page miss it for good.
    pub async fn get(&self, pool: &AnyPool, match_query: &str) -> DomainResult<Arc<Hits>> {
        #[derive(sqlx::FromRow)]
        struct Index {
            generation: i64,
            max_id: Option<i64>,
        }
        let Index { generation, max_id } = sqlx::query_as(
            "SELECT n AS generation, (SELECT MAX(id) FROM emails) AS max_id FROM search_generation",
        )
        .fetch_one(pool)
        .await?;
        if let Some((_, hits)) = self.recent.find(match_query, |(g, _)| *g == generation) {
            return Ok(hits);
        }
        let max_id = max_id.unwrap_or(0);
        if max_id > MAX_ID_KEPT {
            return Ok(Arc::new(Hits::new(std::iter::empty(), 0)));
        }
        // One row, not one per email: each row crosses from the driver's thread on
        // its own.
        let ids: Option<String> = sqlx::query_scalar(
            "SELECT group_concat(rowid) FROM emails_fts WHERE emails_fts MATCH $1",
        )
        .bind(match_query)
        .fetch_one(pool)
        .await?;
        let ids = ids.unwrap_or_default();
        let hits = Arc::new(Hits::new(
            ids.split(',').filter_map(|id| id.parse().ok()),
            max_id,
        ));
        self.recent.keep(match_query, (generation, hits.clone()));
        Ok(hits)
    }
}

/// PostgreSQL: how many emails recent searches matched, to choose how a queue page
/// finds its rows (`queue::page`). Only a choice of plan rests on it, never which
/// rows a page shows, so a count may be a minute old.
#[derive(Debug, Default)]
pub struct SearchCounts {
    /// The count and when it was taken.
    recent: Recent<(std::time::Instant, i64)>,
}

/// How long a count is used before it is taken again.
const COUNT_FOR: std::time::Duration = std::time::Duration::from_secs(60);

impl SearchCounts {
    /// How many emails the `to_tsquery('simple', …)` query matches.
    pub async fn get(&self, pool: &AnyPool, tsquery: &str) -> DomainResult<i64> {
        if let Some((_, count)) = self
            .recent
            .find(tsquery, |(at, _)| at.elapsed() < COUNT_FOR)
        {
            return Ok(count);
        }
        let count: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM email_search WHERE search @@ to_tsquery('simple', $1)",
        )
        .bind(tsquery)
        .fetch_one(pool)
        .await?;
        self.recent
            .keep(tsquery, (std::time::Instant::now(), count));
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recent_searches_keep_the_newest_value_of_each_and_drop_the_oldest() {
        let recent: Recent<i64> = Recent::default();
        recent.keep("a", 1);
        recent.keep("a", 2);
        assert_eq!(recent.find("a", |_| true), Some(2));
        assert_eq!(recent.find("a", |v| *v == 1), None, "stale");
        for i in 0..KEEP {
            recent.keep(&format!("q{i}"), i as i64);
        }
        assert_eq!(recent.find("a", |_| true), None, "the oldest went");
        assert_eq!(recent.find("q0", |_| true), Some(0));
    }

    #[test]
    fn a_bitmap_holds_exactly_the_ids_it_was_given() {
        let hits = Hits::new([1, 64, 65, 200, 999].into_iter(), 300);
        for id in [1, 64, 65, 200] {
            assert!(hits.contains(id), "{id}");
        }
        for id in [-1, 0, 2, 63, 66, 199, 201, 300, 999, 10_000] {
            assert!(!hits.contains(id), "{id}");
        }
        // 4 of 300: the id past the highest is left out.
        assert!((hits.share() - 4.0 / 300.0).abs() < 1e-12);
    }
}
