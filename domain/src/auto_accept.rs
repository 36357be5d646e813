//! Auto-accept thresholds: per category, the confidence at or above which a new
//! prediction is accepted without a person (`scoring::store` applies it). To choose
//! one, supervisors see for each candidate threshold the precision staff labels gave
//! the active model's predictions above it, and how many emails it would cover.

use std::collections::HashMap;

use crate::audit::{self, Actor};
use crate::db::Db;
use crate::error::{DomainError, DomainResult};
use crate::wire::analytics::{AutoAcceptCategory, ThresholdOption};

/// The thresholds offered.
pub const THRESHOLDS: [f64; 7] = [0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99];

/// Every active category with its threshold and what each offered one would give.
pub async fn overview(db: &Db) -> DomainResult<Vec<AutoAcceptCategory>> {
    #[derive(sqlx::FromRow)]
    struct Category {
        id: i64,
        name: String,
        color: String,
        auto_accept_threshold: Option<f64>,
    }
    let categories: Vec<Category> = sqlx::query_as(
        "SELECT id, name, color, auto_accept_threshold FROM categories WHERE retired_at IS NULL ORDER BY name",
    )
    .fetch_all(&db.pool)
    .await?;
    // Per category and threshold, counted in SQL: current predictions at or above it
    // (coverage), and staff judgements of the active model's predictions at or above
    // it, with how many agreed (precision).
    // Named `s0`, `s1`, … from `first` on.
    let above = |column: &str, extra: &str, first: usize| -> String {
        THRESHOLDS
            .iter()
            .enumerate()
            .map(|(i, t)| {
                format!(
                    "SUM(CASE WHEN {column} >= {t}{extra} THEN 1 ELSE 0 END) AS s{}",
                    first + i
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let coverage = counts_by_category(
        db,
        &format!(
            "SELECT predicted_category_id AS category_id, COUNT(*) AS n, {} FROM emails \
             WHERE predicted_category_id IS NOT NULL GROUP BY predicted_category_id",
            above("confidence", "", 0)
        ),
        THRESHOLDS.len(),
    )
    .await?;
    let judged = counts_by_category(
        db,
        &format!(
            "SELECT l.predicted_category_id AS category_id, COUNT(*) AS n, {}, {} FROM labels l \
             JOIN models m ON m.version = l.model_version AND m.status = 'active' \
             WHERE l.source IN ('accepted', 'corrected') AND l.undone_at IS NULL \
               AND l.predicted_category_id IS NOT NULL \
             GROUP BY l.predicted_category_id",
            above("l.predicted_confidence", "", 0),
            above(
                "l.predicted_confidence",
                " AND l.category_id = l.predicted_category_id",
                THRESHOLDS.len()
            )
        ),
        2 * THRESHOLDS.len(),
    )
    .await?;
    let n = THRESHOLDS.len();
    Ok(categories
        .into_iter()
        .map(|c| {
            let (predicted, covered) = coverage.get(&c.id).cloned().unwrap_or((0, vec![0; n]));
            let judged = judged
                .get(&c.id)
                .map(|(_, c)| c.clone())
                .unwrap_or(vec![0; 2 * n]);
            let options = THRESHOLDS
                .iter()
                .enumerate()
                .map(|(i, &t)| ThresholdOption {
                    threshold: t,
                    precision: (judged[i] > 0).then(|| judged[n + i] as f64 / judged[i] as f64),
                    judged: judged[i],
                    covered: covered[i],
                })
                .collect();
            AutoAcceptCategory {
                category: c.name,
                color: c.color,
                threshold: c.auto_accept_threshold,
                predicted,
                options,
            }
        })
        .collect())
}

/// Rows of `category_id`, a count `n` and `sums` more counts (`s0`, `s1`, …), by
/// category id. The number of sums depends on the thresholds offered, so they are
/// read by name, not as a struct's fields.
async fn counts_by_category(
    db: &Db,
    sql: &str,
    sums: usize,
) -> DomainResult<HashMap<i64, (i64, Vec<i64>)>> {
    use sqlx::Row;
    let mut out = HashMap::new();
    for r in sqlx::query(sql).fetch_all(&db.pool).await? {
        let counts = (0..sums)
            .map(|i| {
                r.try_get::<Option<i64>, _>(format!("s{i}").as_str())
                    .map(|v| v.unwrap_or(0))
            })
            .collect::<Result<Vec<_>, _>>()?;
        out.insert(r.try_get("category_id")?, (r.try_get("n")?, counts));
    }
    Ok(out)
}

/// Sets (or, with `None`, removes) a category's auto-accept threshold. Audited.
pub async fn set_threshold(
    db: &Db,
    category: &str,
    threshold: Option<f64>,
    actor: Actor,
) -> DomainResult<()> {
    if let Some(t) = threshold
        && !(0.5..=1.0).contains(&t)
    {
        return Err(DomainError::invalid(
            "threshold",
            "a confidence between 0.5 and 1 (below half, the model is not even sure of its top answer)",
        ));
    }
    let id = crate::categories::find_id(db, category)
        .await?
        .ok_or_else(|| {
            DomainError::invalid("category", format!("no category named {category:?}"))
        })?;
    sqlx::query(
        "UPDATE categories SET auto_accept_threshold = CAST($1 AS DOUBLE PRECISION) WHERE id = $2",
    )
    .bind(crate::sql::nullable_double(threshold))
    .bind(id)
    .execute(&db.pool)
    .await?;
    audit::record(
        db,
        actor,
        "category.auto_accept",
        "category",
        &id.to_string(),
        serde_json::json!({ "category": category, "threshold": threshold }),
    )
    .await
}
