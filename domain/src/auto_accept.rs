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
    let categories: Vec<(i64, String, String, Option<f64>)> = sqlx::query_as(
        "SELECT id, name, color, auto_accept_threshold FROM categories WHERE retired_at IS NULL ORDER BY name",
    )
    .fetch_all(&db.pool)
    .await?;
    // Coverage: current predictions per category and threshold, counted in SQL.
    let sums: Vec<String> = THRESHOLDS
        .iter()
        .map(|t| format!("SUM(CASE WHEN confidence >= {t} THEN 1 ELSE 0 END)"))
        .collect();
    let rows = sqlx::query(&format!(
        "SELECT predicted_category_id, COUNT(*), {} FROM emails \
         WHERE predicted_category_id IS NOT NULL GROUP BY predicted_category_id",
        sums.join(", ")
    ))
    .fetch_all(&db.pool)
    .await?;
    let mut coverage: HashMap<i64, (i64, Vec<i64>)> = HashMap::new();
    for r in &rows {
        use sqlx::Row;
        let id: i64 = r.try_get(0)?;
        let total: i64 = r.try_get(1)?;
        let above = (0..THRESHOLDS.len())
            .map(|i| r.try_get::<Option<i64>, _>(i + 2).map(|v| v.unwrap_or(0)))
            .collect::<Result<Vec<_>, _>>()?;
        coverage.insert(id, (total, above));
    }
    // Precision: staff judgements of the active model's predictions.
    let judged: Vec<(i64, f64, i64)> = sqlx::query_as(
        "SELECT l.predicted_category_id, l.predicted_confidence, \
           CASE WHEN l.category_id = l.predicted_category_id THEN 1 ELSE 0 END \
         FROM labels l JOIN models m ON m.version = l.model_version AND m.status = 'active' \
         WHERE l.source IN ('accepted', 'corrected') AND l.undone_at IS NULL AND l.predicted_category_id IS NOT NULL",
    )
    .fetch_all(&db.pool)
    .await?;
    let mut by_category: HashMap<i64, Vec<(f64, bool)>> = HashMap::new();
    for (category, confidence, agreed) in judged {
        by_category
            .entry(category)
            .or_default()
            .push((confidence, agreed == 1));
    }
    Ok(categories
        .into_iter()
        .map(|(id, name, color, threshold)| {
            let (predicted, above) = coverage
                .remove(&id)
                .unwrap_or_else(|| (0, vec![0; THRESHOLDS.len()]));
            let judgements = by_category.remove(&id).unwrap_or_default();
            let options = THRESHOLDS
                .iter()
                .zip(above)
                .map(|(&t, covered)| {
                    let over: Vec<bool> = judgements
                        .iter()
                        .filter(|(c, _)| *c >= t)
                        .map(|(_, a)| *a)
                        .collect();
                    let agreed = over.iter().filter(|a| **a).count();
                    ThresholdOption {
                        threshold: t,
                        precision: (!over.is_empty()).then(|| agreed as f64 / over.len() as f64),
                        judged: over.len() as i64,
                        covered,
                    }
                })
                .collect();
            AutoAcceptCategory {
                category: name,
                color,
                threshold,
                predicted,
                options,
            }
        })
        .collect())
}

/// Sets (or, with `None`, removes) a category's auto-accept threshold. Audited.
pub async fn set_threshold(
    db: &Db,
    category: &str,
    threshold: Option<f64>,
    actor: Actor,
) -> DomainResult<()> {
    if let Some(t) = threshold {
        if !(0.5..=1.0).contains(&t) {
            return Err(DomainError::invalid(
                "threshold",
                "a confidence between 0.5 and 1 (below half, the model is not even sure of its top answer)",
            ));
        }
    }
    let id = crate::categories::find_id(db, category)
        .await?
        .ok_or_else(|| {
            DomainError::invalid("category", format!("no category named {category:?}"))
        })?;
    sqlx::query(
        "UPDATE categories SET auto_accept_threshold = CAST($1 AS DOUBLE PRECISION) WHERE id = $2",
    )
    .bind(crate::db::nullable_double(threshold))
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
