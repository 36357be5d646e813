//! Email categories (the classes the model predicts and staff label).

use sqlx::Row;

use crate::db::Db;
use crate::error::{DomainError, DomainResult};
use crate::time::now_ms;
use crate::wire::CategoryView;

/// A category name: lowercase words joined by `_` (as models and label files spell them).
pub fn normalize_name(s: &str) -> DomainResult<String> {
    let name: String = s
        .trim()
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_whitespace() || c == '-' || c == '/' {
                '_'
            } else {
                c
            }
        })
        .collect();
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(name)
    } else {
        Err(DomainError::invalid(
            "category",
            format!("{s:?} is not a category name (letters, digits and '_', at most 64)"),
        ))
    }
}

/// Active categories, by name.
pub async fn list(db: &Db) -> DomainResult<Vec<CategoryView>> {
    let rows = sqlx::query(
        "SELECT id, name, description, color FROM categories \
         WHERE retired_at IS NULL ORDER BY name",
    )
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(CategoryView {
                id: r.try_get("id")?,
                name: r.try_get("name")?,
                description: r.try_get("description")?,
                color: r.try_get("color")?,
            })
        })
        .collect()
}

/// The id of the active category with this (normalised) name.
pub async fn find_id(db: &Db, name: &str) -> DomainResult<Option<i64>> {
    Ok(
        sqlx::query_scalar("SELECT id FROM categories WHERE name = $1 AND retired_at IS NULL")
            .bind(name)
            .fetch_optional(&db.pool)
            .await?,
    )
}

/// The id of the category with this name, creating it when missing.
pub async fn ensure(db: &Db, name: &str, description: &str, color: &str) -> DomainResult<i64> {
    let name = normalize_name(name)?;
    sqlx::query(
        "INSERT INTO categories (name, description, color, created_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (name) DO NOTHING",
    )
    .bind(&name)
    .bind(description)
    .bind(color)
    .bind(now_ms())
    .execute(&db.pool)
    .await?;
    // A merged or renamed name resolves to the category it lives on as (a model
    // trained before the merge still answers with the old name).
    Ok(
        sqlx::query_scalar("SELECT COALESCE(merged_into_id, id) FROM categories WHERE name = $1")
            .bind(&name)
            .fetch_one(&db.pool)
            .await?,
    )
}

/// A colour as `#rrggbb`.
fn check_color(color: &str) -> DomainResult<()> {
    let ok = color.len() == 7
        && color.starts_with('#')
        && color[1..].chars().all(|c| c.is_ascii_hexdigit());
    if ok {
        Ok(())
    } else {
        Err(DomainError::invalid(
            "color",
            format!("{color:?} is not a colour like #3b82f6"),
        ))
    }
}

/// Adds a category (supervisors). A retired one of the same name comes back.
pub async fn create(
    db: &Db,
    name: &str,
    description: &str,
    color: &str,
    actor: crate::audit::Actor,
) -> DomainResult<i64> {
    let name = normalize_name(name)?;
    check_color(color)?;
    let existing: Option<(i64, Option<i64>)> =
        sqlx::query_as("SELECT id, retired_at FROM categories WHERE name = $1")
            .bind(&name)
            .fetch_optional(&db.pool)
            .await?;
    let id = match existing {
        Some((_, None)) => return Err(DomainError::Conflict(format!("a category named {name:?} exists"))),
        Some((id, Some(_))) => {
            sqlx::query("UPDATE categories SET retired_at = NULL, merged_into_id = NULL, description = $1, color = $2 WHERE id = $3")
                .bind(description.trim())
                .bind(color)
                .bind(id)
                .execute(&db.pool)
                .await?;
            id
        }
        None => sqlx::query_scalar(
            "INSERT INTO categories (name, description, color, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(&name)
        .bind(description.trim())
        .bind(color)
        .bind(now_ms())
        .fetch_one(&db.pool)
        .await?,
    };
    crate::audit::record(
        db,
        actor,
        "category.create",
        "category",
        &id.to_string(),
        serde_json::json!({ "name": name }),
    )
    .await?;
    Ok(id)
}

/// Changes a category's description and colour.
pub async fn update(
    db: &Db,
    id: i64,
    description: &str,
    color: &str,
    actor: crate::audit::Actor,
) -> DomainResult<()> {
    check_color(color)?;
    let done = sqlx::query("UPDATE categories SET description = $1, color = $2 WHERE id = $3")
        .bind(description.trim())
        .bind(color)
        .bind(id)
        .execute(&db.pool)
        .await?;
    if done.rows_affected() == 0 {
        return Err(DomainError::NotFound);
    }
    crate::audit::record(
        db,
        actor,
        "category.update",
        "category",
        &id.to_string(),
        serde_json::json!({ "color": color }),
    )
    .await
}

/// Retires a category: it is no longer offered for labels or predicted by new
/// models; the labels and predictions that name it stay.
pub async fn retire(db: &Db, id: i64, actor: crate::audit::Actor) -> DomainResult<()> {
    crate::sql::stamp_once(db, "categories", "retired_at", id).await?;
    crate::audit::record(
        db,
        actor,
        "category.retire",
        "category",
        &id.to_string(),
        serde_json::json!({}),
    )
    .await
}

/// Renames a category. The old name stays behind as a retired alias of it, so a
/// model or a label file that still says the old name lands on this category.
pub async fn rename(
    db: &Db,
    id: i64,
    new_name: &str,
    actor: crate::audit::Actor,
) -> DomainResult<()> {
    let new_name = normalize_name(new_name)?;
    let mut tx = db.begin_write().await?;
    let old: String =
        sqlx::query_scalar("SELECT name FROM categories WHERE id = $1 AND retired_at IS NULL")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(DomainError::NotFound)?;
    if old == new_name {
        return Ok(());
    }
    let taken: Option<i64> = sqlx::query_scalar("SELECT id FROM categories WHERE name = $1")
        .bind(&new_name)
        .fetch_optional(&mut *tx)
        .await?;
    if taken.is_some() {
        return Err(DomainError::Conflict(format!(
            "a category named {new_name:?} exists (merge into it instead)"
        )));
    }
    let now = now_ms();
    sqlx::query("UPDATE categories SET name = $1 WHERE id = $2")
        .bind(&new_name)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO categories (name, description, color, created_at, retired_at, merged_into_id) \
         VALUES ($1, '', '#8a8f98', $2, $2, $3)",
    )
    .bind(&old)
    .bind(now)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    crate::audit::record(
        db,
        actor,
        "category.rename",
        "category",
        &id.to_string(),
        serde_json::json!({ "from": old, "to": new_name }),
    )
    .await
}

/// How many rows a merge moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Merged {
    pub labels: u64,
    pub predictions: u64,
    pub emails: u64,
}

/// Merges category `from` into `into`: every label, prediction, email and reply
/// template that named `from` names `into`, and `from` is retired as an alias of
/// `into`. One transaction: a failure leaves both as they were.
pub async fn merge(
    db: &Db,
    from: i64,
    into: i64,
    actor: crate::audit::Actor,
) -> DomainResult<Merged> {
    if from == into {
        return Err(DomainError::invalid(
            "into",
            "a category cannot be merged into itself",
        ));
    }
    let mut tx = db.begin_write().await?;
    #[derive(sqlx::FromRow)]
    struct Named {
        id: i64,
        name: String,
    }
    let names: Vec<Named> = sqlx::query_as(
        "SELECT id, name FROM categories WHERE id IN ($1, $2) AND retired_at IS NULL",
    )
    .bind(from)
    .bind(into)
    .fetch_all(&mut *tx)
    .await?;
    if names.len() != 2 {
        return Err(DomainError::NotFound);
    }
    let mut merged = Merged::default();
    for (sql, count) in [
        (
            "UPDATE labels SET category_id = $1 WHERE category_id = $2",
            Some(&mut merged.labels),
        ),
        (
            "UPDATE predictions SET category_id = $1 WHERE category_id = $2",
            Some(&mut merged.predictions),
        ),
        (
            "UPDATE labels SET predicted_category_id = $1 WHERE predicted_category_id = $2",
            None,
        ),
        (
            "UPDATE reply_templates SET category_id = $1 WHERE category_id = $2",
            None,
        ),
        // Aliases of `from` (earlier merges and renames) follow it.
        (
            "UPDATE categories SET merged_into_id = $1 WHERE merged_into_id = $2",
            None,
        ),
    ] {
        let done = sqlx::query(sql)
            .bind(into)
            .bind(from)
            .execute(&mut *tx)
            .await?;
        if let Some(count) = count {
            *count = done.rows_affected();
        }
    }
    merged.emails = crate::email_state::move_category(&mut tx, from, into).await?;
    sqlx::query("UPDATE categories SET retired_at = $1, merged_into_id = $2, auto_accept_threshold = NULL WHERE id = $3")
        .bind(now_ms())
        .bind(into)
        .bind(from)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    let name = |id: i64| names.iter().find(|n| n.id == id).map(|n| n.name.clone());
    crate::audit::record(
        db,
        actor,
        "category.merge",
        "category",
        &from.to_string(),
        serde_json::json!({
            "from": name(from), "into": name(into),
            "labels": merged.labels, "predictions": merged.predictions, "emails": merged.emails,
        }),
    )
    .await?;
    Ok(merged)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn category_names_are_normalised() {
        assert_eq!(
            normalize_name(" Invoice Billing ").unwrap(),
            "invoice_billing"
        );
        assert_eq!(normalize_name("order-status").unwrap(), "order_status");
        assert!(normalize_name("").is_err());
        assert!(normalize_name("drop table;").is_err());
        assert!(check_color("#3b82f6").is_ok());
        assert!(check_color("red").is_err());
        assert!(check_color("#3b82fg").is_err());
    }
}
