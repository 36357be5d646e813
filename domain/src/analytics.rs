//! Analytics for supervisors: volumes, backlog, time to triage, staff throughput, the
//! model judged by staff labels (agreement, confusion, calibration), suggestion use,
//! and the drift alert.
//!
//! "Staff labels" are the accepts and corrections people made and did not undo;
//! imported historical labels and automatic accepts are not judgements of the model.
//! Each view counts in SQL (grouped rows, not one row per email or label: carrying
//! 30,000 rows out costs more than counting them; only the drift check reads its
//! window of labels) and folds the counts here, so every figure is computed the same
//! way on SQLite and PostgreSQL.

use std::collections::HashMap;

use crate::audit::{self, Actor};
use crate::db::Db;
use crate::error::{DomainError, DomainResult};
use crate::time::now_ms;
use crate::wire::SuggestionKind;
use crate::wire::analytics::*;

const STAFF: &str = "l.source IN ('accepted', 'corrected') AND l.undone_at IS NULL";

/// The longest period a report covers.
const MAX_DAYS: i64 = 3 * 366;

/// The period of `from..=to` (dates `YYYY-MM-DD`, UTC, both included); the last 30
/// days up to `now` when missing. Ranges longer than 92 days count by week.
pub fn period(from: Option<&str>, to: Option<&str>, now: i64) -> DomainResult<Period> {
    let day = Period::DAY_MS;
    let to_day = match to.filter(|s| !s.trim().is_empty()) {
        Some(s) => crate::time::day_start("to", s)?,
        None => now.div_euclid(day) * day,
    };
    let from_day = match from.filter(|s| !s.trim().is_empty()) {
        Some(s) => crate::time::day_start("from", s)?,
        None => to_day - 29 * day,
    };
    if from_day > to_day {
        return Err(DomainError::invalid(
            "from",
            "the period starts after it ends",
        ));
    }
    let days = (to_day - from_day) / day + 1;
    if days > MAX_DAYS {
        return Err(DomainError::invalid(
            "from",
            format!("a report covers at most {MAX_DAYS} days"),
        ));
    }
    Ok(Period {
        from: from_day,
        to: to_day + day,
        bucket_ms: if days > 92 { 7 * day } else { day },
    })
}

/// Every view of the Analytics page, side by side where the database allows.
pub async fn report(db: &Db, period: Period) -> DomainResult<AnalyticsReport> {
    let now = now_ms();
    // One view at a time on SQLite: side by side, each statement sorted in memory
    // on its own connection at once, and the page took the server from 90 MiB to
    // 130 MiB (114 MiB one at a time, 194 ms instead of 141; bench/workspace.py,
    // issue 34). PostgreSQL runs them all at once.
    let at_once = tokio::sync::Semaphore::new(match db.dialect {
        crate::db::Dialect::Sqlite => 1,
        crate::db::Dialect::Postgres => 7,
    });
    let (volume, backlog, time_to_label, staff, (agreement, calibration), suggestions, drift) = tokio::try_join!(
        in_turn(&at_once, volume(db, period)),
        in_turn(&at_once, backlog(db, now)),
        in_turn(&at_once, time_to_label(db, period)),
        in_turn(&at_once, staff(db, period)),
        in_turn(&at_once, model_quality(db, period)),
        in_turn(&at_once, suggestions(db, period)),
        in_turn(&at_once, drift(db)),
    )?;
    Ok(AnalyticsReport {
        period,
        volume,
        backlog,
        time_to_label,
        staff,
        agreement,
        calibration,
        suggestions,
        drift,
    })
}

/// `view` once `at_once` lets it run.
async fn in_turn<T>(
    at_once: &tokio::sync::Semaphore,
    view: impl std::future::Future<Output = DomainResult<T>>,
) -> DomainResult<T> {
    let _turn = at_once
        .acquire()
        .await
        .map_err(|e| DomainError::Internal(format!("analytics: {e}")))?;
    view.await
}

/// One view's table (for its CSV export), computing only that view.
pub async fn table(db: &Db, view: &str, period: Period) -> DomainResult<Table> {
    Ok(match view {
        "volume" => volume(db, period).await?.table(),
        "backlog" => backlog(db, now_ms()).await?.table(),
        "time-to-label" => time_to_label(db, period).await?.table(),
        "staff" => staff(db, period).await?.table(),
        "agreement" => model_quality(db, period).await?.0.table(),
        "confusion" => model_quality(db, period).await?.0.confusion_table(),
        "calibration" => model_quality(db, period).await?.1.table(),
        "suggestions" => suggestions(db, period).await?.table(),
        other => {
            return Err(DomainError::invalid(
                "view",
                format!("{other:?} is not one of {}", VIEWS.join(", ")),
            ));
        }
    })
}

/// Category names and colours by id, retired ones included (old mail carries them).
async fn category_names(db: &Db) -> DomainResult<HashMap<i64, (String, String)>> {
    #[derive(sqlx::FromRow)]
    struct Category {
        id: i64,
        name: String,
        color: String,
    }
    let rows: Vec<Category> = sqlx::query_as("SELECT id, name, color FROM categories")
        .fetch_all(&db.pool)
        .await?;
    Ok(rows
        .into_iter()
        .map(|c| (c.id, (c.name, c.color)))
        .collect())
}

/// Emails received per bucket and category.
pub async fn volume(db: &Db, period: Period) -> DomainResult<Volume> {
    #[derive(sqlx::FromRow)]
    struct Received {
        bucket: i64,
        category: Option<i64>,
        received: i64,
    }
    let rows: Vec<Received> = sqlx::query_as(
        "SELECT (received_at - $1) / $3 AS bucket, COALESCE(label_category_id, predicted_category_id) AS category, \
           COUNT(*) AS received FROM emails WHERE received_at >= $1 AND received_at < $2 \
         GROUP BY (received_at - $1) / $3, COALESCE(label_category_id, predicted_category_id)",
    )
    .bind(period.from)
    .bind(period.to)
    .bind(period.bucket_ms)
    .fetch_all(&db.pool)
    .await?;
    let names = category_names(db).await?;
    let mut by_name: HashMap<(String, String), Vec<i64>> = HashMap::new();
    for row in rows {
        let key = row
            .category
            .and_then(|id| names.get(&id).cloned())
            .unwrap_or_else(|| ("unscored".to_string(), "#8a8f98".to_string()));
        let series = by_name
            .entry(key)
            .or_insert_with(|| vec![0; period.buckets()]);
        if let Some(slot) = series.get_mut(row.bucket as usize) {
            *slot += row.received;
        }
    }
    // Largest series first, so the stacked chart has its big bands at the bottom.
    let mut series: Vec<((String, String), Vec<i64>)> = by_name.into_iter().collect();
    series.sort_by(|a, b| {
        let (ta, tb): (i64, i64) = (a.1.iter().sum(), b.1.iter().sum());
        tb.cmp(&ta).then_with(|| a.0.0.cmp(&b.0.0))
    });
    let (categories, counts) = series.into_iter().unzip();
    Ok(Volume {
        period,
        categories,
        counts,
    })
}

/// What waits for a first decision now.
pub async fn backlog(db: &Db, now: i64) -> DomainResult<Backlog> {
    const HOUR: i64 = 3_600_000;
    #[derive(sqlx::FromRow)]
    struct Waiting {
        untriaged: i64,
        oldest_received_at: Option<i64>,
        under_hour: Option<i64>,
        under_day: Option<i64>,
        under_week: Option<i64>,
    }
    let waiting: Waiting = sqlx::query_as(
        "SELECT COUNT(*) AS untriaged, MIN(received_at) AS oldest_received_at, \
           SUM(CASE WHEN received_at >= $1 THEN 1 ELSE 0 END) AS under_hour, \
           SUM(CASE WHEN received_at < $1 AND received_at >= $2 THEN 1 ELSE 0 END) AS under_day, \
           SUM(CASE WHEN received_at < $2 AND received_at >= $3 THEN 1 ELSE 0 END) AS under_week \
         FROM emails WHERE status = 'new'",
    )
    .bind(now - HOUR)
    .bind(now - 24 * HOUR)
    .bind(now - 7 * 24 * HOUR)
    .fetch_one(&db.pool)
    .await?;
    let untriaged = waiting.untriaged;
    let (hour, day, week) = (
        waiting.under_hour.unwrap_or(0),
        waiting.under_day.unwrap_or(0),
        waiting.under_week.unwrap_or(0),
    );
    let by_age = [hour, day, week, untriaged - hour - day - week];
    #[derive(sqlx::FromRow)]
    struct InCategory {
        category_id: Option<i64>,
        untriaged: i64,
    }
    let rows: Vec<InCategory> = sqlx::query_as(
        "SELECT COALESCE(label_category_id, predicted_category_id) AS category_id, \
           COUNT(*) AS untriaged FROM emails \
         WHERE status = 'new' GROUP BY COALESCE(label_category_id, predicted_category_id)",
    )
    .fetch_all(&db.pool)
    .await?;
    let names = category_names(db).await?;
    let mut by_category: Vec<(String, i64)> = rows
        .into_iter()
        .map(|row| {
            let name = row
                .category_id
                .and_then(|id| names.get(&id))
                .map(|(n, _)| n.clone());
            (
                name.unwrap_or_else(|| "unscored".to_string()),
                row.untriaged,
            )
        })
        .collect();
    by_category.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let oldest_received_at = waiting.oldest_received_at;
    Ok(Backlog {
        untriaged,
        oldest_received_at,
        oldest_age_ms: oldest_received_at.map(|at| (now - at).max(0)),
        by_age,
        by_category,
    })
}

/// From arrival to the first staff label, for emails received in the period.
/// Counted in SQL as a histogram whose bins are a minute under an hour, five minutes
/// under a day and an hour beyond: the percentiles are the bins' starts, and 30,000
/// waits cost more to carry out than to count.
pub async fn time_to_label(db: &Db, period: Period) -> DomainResult<TimeToLabel> {
    let waited = "(f.first_at - e.received_at)";
    let bin = format!(
        "CASE WHEN {waited} < 0 THEN 0 \
              WHEN {waited} < 3600000 THEN {waited} / 60000 * 60000 \
              WHEN {waited} < 86400000 THEN {waited} / 300000 * 300000 \
              ELSE {waited} / 3600000 * 3600000 END"
    );
    #[derive(sqlx::FromRow)]
    struct Waited {
        bucket: i64,
        waited_ms: i64,
        labelled: i64,
    }
    let rows: Vec<Waited> = sqlx::query_as(&format!(
        // Each email's first staff label (fewer labels than emails), then its email:
        // CROSS JOIN keeps that order on SQLite; PostgreSQL plans it as any join.
        "SELECT (e.received_at - $1) / $3 AS bucket, {bin} AS waited_ms, COUNT(*) AS labelled \
         FROM (SELECT l.email_id AS email_id, MIN(l.created_at) AS first_at FROM labels l \
               WHERE {STAFF} GROUP BY l.email_id) f \
         CROSS JOIN emails e \
         WHERE e.id = f.email_id AND e.received_at >= $1 AND e.received_at < $2 \
         GROUP BY (e.received_at - $1) / $3, {bin}"
    ))
    .bind(period.from)
    .bind(period.to)
    .bind(period.bucket_ms)
    .fetch_all(&db.pool)
    .await?;
    let mut all: HashMap<i64, i64> = HashMap::new();
    let mut by_bucket: Vec<Vec<(f64, i64)>> = vec![Vec::new(); period.buckets()];
    for row in rows {
        *all.entry(row.waited_ms).or_default() += row.labelled;
        if let Some(b) = by_bucket.get_mut(row.bucket as usize) {
            b.push((row.waited_ms as f64, row.labelled));
        }
    }
    let mut all: Vec<(f64, i64)> = all.into_iter().map(|(w, n)| (w as f64, n)).collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    let ms = |v: Option<f64>| v.map(|v| v as i64);
    Ok(TimeToLabel {
        labelled: all.iter().map(|(_, n)| n).sum(),
        median_ms: ms(percentile_of_counts(&all, 0.5)),
        p90_ms: ms(percentile_of_counts(&all, 0.9)),
        median_by_bucket: by_bucket
            .into_iter()
            .map(|mut v| {
                v.sort_by(|a, b| a.0.total_cmp(&b.0));
                ms(percentile_of_counts(&v, 0.5))
            })
            .collect(),
        period,
    })
}

/// The nearest-rank percentile `p` (0–1] of values given as (value, how many times),
/// sorted by value.
fn percentile_of_counts<T: Copy>(sorted: &[(T, i64)], p: f64) -> Option<T> {
    let total: i64 = sorted.iter().map(|(_, n)| n).sum();
    if total == 0 {
        return None;
    }
    let rank = ((p * total as f64).ceil() as i64).clamp(1, total);
    let mut seen = 0;
    sorted
        .iter()
        .find(|(_, n)| {
            seen += n;
            seen >= rank
        })
        .map(|(v, _)| *v)
}

/// Labels per person (with corrections and time spent) and per bucket. Counted in
/// SQL: 30,000 label rows would cost more to carry out than to count. Time spent is
/// counted in whole seconds.
pub async fn staff(db: &Db, period: Period) -> DomainResult<Staff> {
    let filter = format!("l.created_at >= $1 AND l.created_at < $2 AND {STAFF}");
    #[derive(sqlx::FromRow)]
    struct PerPerson {
        user_id: Option<i64>,
        labels: i64,
        corrections: i64,
    }
    let per_person: Vec<PerPerson> = sqlx::query_as(&format!(
        "SELECT l.user_id AS user_id, COUNT(*) AS labels, \
           SUM(CASE WHEN l.source = 'corrected' THEN 1 ELSE 0 END) AS corrections \
         FROM labels l WHERE {filter} GROUP BY l.user_id"
    ))
    .bind(period.from)
    .bind(period.to)
    .fetch_all(&db.pool)
    .await?;
    #[derive(sqlx::FromRow)]
    struct Spent {
        user_id: Option<i64>,
        seconds: f64,
        labels: i64,
    }
    let seconds: Vec<Spent> = sqlx::query_as(&format!(
        "SELECT l.user_id AS user_id, ROUND(l.seconds_spent) AS seconds, COUNT(*) AS labels \
         FROM labels l \
         WHERE {filter} AND l.seconds_spent IS NOT NULL GROUP BY l.user_id, ROUND(l.seconds_spent)"
    ))
    .bind(period.from)
    .bind(period.to)
    .fetch_all(&db.pool)
    .await?;
    #[derive(sqlx::FromRow)]
    struct PerBucket {
        bucket: i64,
        labels: i64,
    }
    let by_bucket: Vec<PerBucket> = sqlx::query_as(&format!(
        "SELECT (l.created_at - $1) / $3 AS bucket, COUNT(*) AS labels FROM labels l \
         WHERE {filter} GROUP BY (l.created_at - $1) / $3"
    ))
    .bind(period.from)
    .bind(period.to)
    .bind(period.bucket_ms)
    .fetch_all(&db.pool)
    .await?;
    #[derive(sqlx::FromRow)]
    struct User {
        id: i64,
        display_name: String,
    }
    let names: HashMap<i64, String> =
        sqlx::query_as::<_, User>("SELECT id, display_name FROM users")
            .fetch_all(&db.pool)
            .await?
            .into_iter()
            .map(|u| (u.id, u.display_name))
            .collect();

    let mut histograms: HashMap<Option<i64>, Vec<(f64, i64)>> = HashMap::new();
    for row in seconds {
        histograms
            .entry(row.user_id)
            .or_default()
            .push((row.seconds, row.labels));
    }
    let mut people: Vec<StaffRow> = per_person
        .into_iter()
        .map(|row| {
            let mut histogram = histograms.remove(&row.user_id).unwrap_or_default();
            histogram.sort_by(|a, b| a.0.total_cmp(&b.0));
            StaffRow {
                user: row
                    .user_id
                    .and_then(|id| names.get(&id).cloned())
                    .unwrap_or_else(|| "API token".to_string()),
                labels: row.labels,
                corrections: row.corrections,
                median_seconds: percentile_of_counts(&histogram, 0.5),
            }
        })
        .collect();
    people.sort_by(|a, b| b.labels.cmp(&a.labels).then_with(|| a.user.cmp(&b.user)));
    let mut labels_by_bucket = vec![0; period.buckets()];
    for row in by_bucket {
        if let Some(slot) = labels_by_bucket.get_mut(row.bucket as usize) {
            *slot += row.labels;
        }
    }
    Ok(Staff {
        period,
        people,
        labels_by_bucket,
    })
}

/// The model judged by the staff labels given in the period that answered a
/// prediction: agreement (over time, by model, by category), the confusion matrix
/// and the calibration. Counted in SQL by (day, model, label, prediction) and by
/// confidence band, then folded here; the labels carry what the prediction said.
pub async fn model_quality(db: &Db, period: Period) -> DomainResult<(Agreement, Calibration)> {
    let filter = format!("l.created_at >= $1 AND l.created_at < $2 AND {STAFF}");
    #[derive(sqlx::FromRow)]
    struct Cell {
        bucket: i64,
        model_version: Option<String>,
        category_id: i64,
        predicted_category_id: i64,
        labels: i64,
    }
    let cells: Vec<Cell> = sqlx::query_as(&format!(
        "SELECT (l.created_at - $1) / $3 AS bucket, l.model_version AS model_version, \
           l.category_id AS category_id, l.predicted_category_id AS predicted_category_id, \
           COUNT(*) AS labels \
         FROM labels l WHERE {filter} AND l.predicted_category_id IS NOT NULL \
         GROUP BY (l.created_at - $1) / $3, l.model_version, l.category_id, l.predicted_category_id"
    ))
    .bind(period.from)
    .bind(period.to)
    .bind(period.bucket_ms)
    .fetch_all(&db.pool)
    .await?;
    // Confidence bands as a CASE: a cast to integer truncates on SQLite and rounds
    // on PostgreSQL.
    let band = (1..10)
        .rev()
        .map(|b| {
            format!(
                "WHEN l.predicted_confidence >= {} THEN {b}",
                b as f64 / 10.0
            )
        })
        .collect::<Vec<_>>()
        .join(" ");
    #[derive(sqlx::FromRow)]
    struct Band {
        band: i64,
        labels: i64,
        sum_confidence: f64,
        agreed: i64,
    }
    let bands: Vec<Band> = sqlx::query_as(&format!(
        "SELECT CASE {band} ELSE 0 END AS band, COUNT(*) AS labels, \
           SUM(l.predicted_confidence) AS sum_confidence, \
           SUM(CASE WHEN l.category_id = l.predicted_category_id THEN 1 ELSE 0 END) AS agreed \
         FROM labels l WHERE {filter} AND l.predicted_category_id IS NOT NULL \
         GROUP BY CASE {band} ELSE 0 END"
    ))
    .bind(period.from)
    .bind(period.to)
    .fetch_all(&db.pool)
    .await?;
    let names = category_names(db).await?;
    let name = |id: i64| {
        names
            .get(&id)
            .map(|(n, _)| n.clone())
            .unwrap_or_else(|| format!("#{id}"))
    };

    let mut overall = Agreed::default();
    let mut by_bucket = vec![Agreed::default(); period.buckets()];
    let mut by_model: HashMap<String, Agreed> = HashMap::new();
    let mut by_category: HashMap<i64, Agreed> = HashMap::new();
    let mut confusion_cells: HashMap<(i64, i64), i64> = HashMap::new();
    for cell in cells {
        let (label, predicted, count) = (cell.category_id, cell.predicted_category_id, cell.labels);
        let agreed = if label == predicted { count } else { 0 };
        for a in [
            Some(&mut overall),
            by_bucket.get_mut(cell.bucket as usize),
            Some(
                by_model
                    .entry(cell.model_version.unwrap_or_default())
                    .or_default(),
            ),
            Some(by_category.entry(label).or_default()),
        ]
        .into_iter()
        .flatten()
        {
            a.labels += count;
            a.agreed += agreed;
        }
        *confusion_cells.entry((label, predicted)).or_default() += count;
    }

    let mut class_ids: Vec<i64> = confusion_cells.keys().flat_map(|&(l, p)| [l, p]).collect();
    class_ids.sort_by_key(|&id| name(id));
    class_ids.dedup();
    let index: HashMap<i64, usize> = class_ids
        .iter()
        .enumerate()
        .map(|(i, &id)| (id, i))
        .collect();
    let mut confusion = vec![vec![0; class_ids.len()]; class_ids.len()];
    for ((label, predicted), n) in confusion_cells {
        confusion[index[&label]][index[&predicted]] = n;
    }
    let mut by_model: Vec<(String, Agreed)> = by_model.into_iter().collect();
    by_model.sort_by(|a, b| a.0.cmp(&b.0));
    let mut by_category: Vec<(String, Agreed)> = by_category
        .into_iter()
        .map(|(id, a)| (name(id), a))
        .collect();
    by_category.sort_by(|a, b| a.0.cmp(&b.0));

    let mut bins: Vec<CalibrationBin> = (0..10)
        .map(|i| CalibrationBin {
            lower: i as f64 / 10.0,
            ..CalibrationBin::default()
        })
        .collect();
    let ece = (overall.labels > 0).then(|| {
        crate::model::metrics::expected_calibration_error(
            bands
                .iter()
                .map(|b| (b.labels as f64, b.sum_confidence, b.agreed as f64)),
        )
    });
    for b in bands {
        if let Some(bin) = bins.get_mut(b.band as usize) {
            let count = b.labels;
            bin.count = count;
            bin.mean_confidence = (count > 0).then(|| b.sum_confidence / count as f64);
            bin.accuracy = (count > 0).then(|| b.agreed as f64 / count as f64);
        }
    }
    Ok((
        Agreement {
            period,
            overall,
            by_bucket,
            by_model,
            by_category,
            classes: class_ids.into_iter().map(name).collect(),
            confusion,
        },
        Calibration { bins, ece },
    ))
}

/// Replies marked sent in the period, by the suggestion they started from, counted
/// in SQL by kind and edit distance.
pub async fn suggestions(db: &Db, period: Period) -> DomainResult<Suggestions> {
    #[derive(sqlx::FromRow)]
    struct Used {
        suggestion_kind: SuggestionKind,
        edit_distance: i64,
        replies: i64,
    }
    let rows: Vec<Used> = sqlx::query_as(
        "SELECT suggestion_kind, edit_distance, COUNT(*) AS replies FROM replies \
         WHERE created_at >= $1 AND created_at < $2 GROUP BY suggestion_kind, edit_distance",
    )
    .bind(period.from)
    .bind(period.to)
    .fetch_all(&db.pool)
    .await?;
    let mut by_kind: HashMap<SuggestionKind, Vec<(i64, i64)>> = HashMap::new();
    for row in rows {
        by_kind
            .entry(row.suggestion_kind)
            .or_default()
            .push((row.edit_distance, row.replies));
    }
    let mut kinds: Vec<SuggestionKindUse> = SuggestionKind::ALL
        .iter()
        .map(|&kind| {
            let mut distances = by_kind.remove(&kind).unwrap_or_default();
            distances.sort_unstable();
            SuggestionKindUse {
                kind,
                replies: distances.iter().map(|(_, n)| n).sum(),
                median_edit_distance: percentile_of_counts(&distances, 0.5),
                // A reply written from scratch has nothing to leave unedited.
                unedited: if kind == SuggestionKind::Unassisted {
                    0
                } else {
                    distances
                        .iter()
                        .filter(|(d, _)| *d == 0)
                        .map(|(_, n)| n)
                        .sum()
                },
            }
        })
        .collect();
    kinds.retain(|k| k.replies > 0 || k.kind != SuggestionKind::Generated);
    Ok(Suggestions {
        replies: kinds.iter().map(|k| k.replies).sum(),
        by_kind: kinds,
    })
}

/// The drift alert's settings: alert below `threshold` agreement over the last
/// `window` staff labels that answered the active model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DriftSettings {
    pub threshold: f64,
    pub window: i64,
}

impl Default for DriftSettings {
    fn default() -> Self {
        DriftSettings {
            threshold: 0.8,
            window: 200,
        }
    }
}

/// Fewer labels than this (overall, or for one category) do not raise an alert: a
/// handful of corrections is not drift.
const DRIFT_MIN_LABELS: i64 = 30;

async fn setting(db: &Db, key: &str) -> DomainResult<Option<String>> {
    Ok(
        sqlx::query_scalar("SELECT value FROM app_settings WHERE key = $1")
            .bind(key)
            .fetch_optional(&db.pool)
            .await?,
    )
}

/// Sets a setting; whether its value changed. Concurrent callers that set the same
/// value see one change between them.
async fn put_setting(db: &Db, key: &str, value: &str, actor: Actor) -> DomainResult<bool> {
    let done = sqlx::query(
        "INSERT INTO app_settings (key, value, updated_by, updated_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_by = excluded.updated_by, \
           updated_at = excluded.updated_at WHERE app_settings.value <> excluded.value",
    )
    .bind(key)
    .bind(value)
    .bind(actor.user_id())
    .bind(now_ms())
    .execute(&db.pool)
    .await?;
    Ok(done.rows_affected() > 0)
}

pub async fn drift_settings(db: &Db) -> DomainResult<DriftSettings> {
    let default = DriftSettings::default();
    Ok(DriftSettings {
        threshold: setting(db, "drift.threshold")
            .await?
            .and_then(|v| v.parse().ok())
            .unwrap_or(default.threshold),
        window: setting(db, "drift.window")
            .await?
            .and_then(|v| v.parse().ok())
            .unwrap_or(default.window),
    })
}

/// Sets the drift alert's level (0–1) and window (labels), audited.
pub async fn set_drift_settings(
    db: &Db,
    settings: DriftSettings,
    actor: Actor,
) -> DomainResult<()> {
    if !(0.0..=1.0).contains(&settings.threshold) || !settings.threshold.is_finite() {
        return Err(DomainError::invalid(
            "threshold",
            "an agreement rate between 0 and 1",
        ));
    }
    if !(DRIFT_MIN_LABELS..=100_000).contains(&settings.window) {
        return Err(DomainError::invalid(
            "window",
            format!("between {DRIFT_MIN_LABELS} and 100000 labels"),
        ));
    }
    put_setting(
        db,
        "drift.threshold",
        &settings.threshold.to_string(),
        actor,
    )
    .await?;
    put_setting(db, "drift.window", &settings.window.to_string(), actor).await?;
    audit::record(
        db,
        actor,
        "drift.settings",
        "app_settings",
        "drift",
        serde_json::json!({"threshold": settings.threshold, "window": settings.window}),
    )
    .await
}

/// Whether the drift alert is raised, as the last check left it (for `/metrics`:
/// one read, no computing).
pub async fn drift_alert_raised(db: &Db) -> DomainResult<bool> {
    Ok(setting(db, "drift.state").await?.as_deref() == Some("alert"))
}

/// The active model's rolling agreement with staff labels. When it crosses below the
/// level (or back above it) the change is written to the audit log, once.
pub async fn drift(db: &Db) -> DomainResult<Drift> {
    let settings = drift_settings(db).await?;
    let model: Option<String> =
        sqlx::query_scalar("SELECT version FROM models WHERE status = 'active'")
            .fetch_optional(&db.pool)
            .await?;
    let mut overall = Agreed::default();
    let mut by_category: HashMap<i64, Agreed> = HashMap::new();
    if let Some(model) = &model {
        #[derive(sqlx::FromRow)]
        struct Judged {
            category_id: i64,
            predicted_category_id: i64,
        }
        let rows: Vec<Judged> = sqlx::query_as(&format!(
            "SELECT l.category_id AS category_id, l.predicted_category_id AS predicted_category_id \
             FROM labels l \
             WHERE l.model_version = $1 AND l.predicted_category_id IS NOT NULL AND {STAFF} \
             ORDER BY l.created_at DESC, l.id DESC LIMIT $2"
        ))
        .bind(model)
        .bind(settings.window)
        .fetch_all(&db.pool)
        .await?;
        for row in rows {
            let (label, predicted) = (row.category_id, row.predicted_category_id);
            overall.add(label == predicted);
            by_category
                .entry(label)
                .or_default()
                .add(label == predicted);
        }
    }
    let below = |a: &Agreed| {
        a.labels >= DRIFT_MIN_LABELS && a.rate().is_some_and(|r| r < settings.threshold)
    };
    let names = category_names(db).await?;
    let mut low_categories: Vec<(String, Agreed)> = by_category
        .into_iter()
        .filter(|(_, a)| below(a))
        .map(|(id, a)| {
            (
                names.get(&id).map(|(n, _)| n.clone()).unwrap_or_default(),
                a,
            )
        })
        .collect();
    low_categories.sort_by(|a, b| a.0.cmp(&b.0));
    let alert = below(&overall) || !low_categories.is_empty();

    let state = if alert { "alert" } else { "ok" };
    // Read first, so that looking at the dashboard does not write; the write itself
    // only succeeds for one of several concurrent readers.
    let changed = setting(db, "drift.state").await?.as_deref().unwrap_or("ok") != state
        && put_setting(db, "drift.state", state, Actor::System).await?;
    if changed {
        if alert {
            tracing::warn!(
                model = model.as_deref().unwrap_or(""),
                agreement = overall.rate(),
                labels = overall.labels,
                "drift alert: the active model agrees with staff less than the level set"
            );
        } else {
            tracing::info!(
                model = model.as_deref().unwrap_or(""),
                "drift alert cleared"
            );
        }
        audit::record(
            db,
            Actor::System,
            if alert {
                "model.drift_alert"
            } else {
                "model.drift_cleared"
            },
            "model",
            model.as_deref().unwrap_or(""),
            serde_json::json!({
                "agreement": overall.rate(),
                "labels": overall.labels,
                "threshold": settings.threshold,
                "categories": low_categories.iter().map(|(c, _)| c).collect::<Vec<_>>(),
            }),
        )
        .await?;
    }
    Ok(Drift {
        model,
        threshold: settings.threshold,
        window: settings.window,
        overall,
        low_categories,
        alert,
    })
}

/// A view's table as CSV.
pub fn csv(table: &Table) -> DomainResult<Vec<u8>> {
    let mut out = crate::labels_export::csv_record(&table.columns)?;
    for row in &table.rows {
        out.extend(crate::labels_export::csv_record(row)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_a_histogram_are_nearest_rank() {
        // 1, 1, 2, 3 as (value, count): median the 2nd value, p90 the 4th.
        let h = [(1.0, 2), (2.0, 1), (3.0, 1)];
        assert_eq!(percentile_of_counts(&h, 0.5), Some(1.0));
        assert_eq!(percentile_of_counts(&h, 0.9), Some(3.0));
        assert_eq!(percentile_of_counts::<f64>(&[], 0.5), None);
        // Ten values once each: median the 5th, p90 the 9th.
        let ten: Vec<(i64, i64)> = (1..=10).map(|v| (v, 1)).collect();
        assert_eq!(percentile_of_counts(&ten, 0.5), Some(5));
        assert_eq!(percentile_of_counts(&ten, 0.9), Some(9));
    }

    #[test]
    fn a_period_is_whole_utc_days_and_long_ones_count_by_week() {
        let p = period(Some("2026-01-01"), Some("2026-01-03"), 0).unwrap();
        assert_eq!(p.to - p.from, 3 * Period::DAY_MS);
        assert_eq!(p.bucket_ms, Period::DAY_MS);
        assert_eq!(p.bucket_date(2), "2026-01-03");
        let long = period(Some("2026-01-01"), Some("2026-12-31"), 0).unwrap();
        assert_eq!(long.bucket_ms, 7 * Period::DAY_MS);
        assert_eq!(long.buckets(), 53);
        assert!(period(Some("2026-02-01"), Some("2026-01-01"), 0).is_err());
        assert!(period(Some("yesterday"), None, 0).is_err());
        // Default: the 30 days up to today.
        let now = 1_767_225_600_000 + 5 * 3_600_000; // 2026-01-01 05:00 UTC
        let d = period(None, None, now).unwrap();
        assert_eq!(d.buckets(), 30);
        assert_eq!(d.bucket_date(29), "2026-01-01");
    }
}
