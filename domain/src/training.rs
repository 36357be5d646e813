//! Training the built-in model from the labels in the database, storing it as a
//! versioned artifact with its held-out metrics, and loading it to score (`scoring`).

use sha2::{Digest, Sha256};

use crate::audit::{self, Actor};
use crate::db::Db;
use crate::error::{DomainError, DomainResult};
use crate::model::classifier::{Classifier, TrainOptions};
use crate::model::features::vectorize;
use crate::model::metrics::{Evaluation, evaluate};
use crate::time::now_ms;

/// A trained model as stored.
#[derive(Debug, Clone)]
pub struct TrainedModel {
    pub id: i64,
    pub version: String,
    pub training_size: usize,
    pub calibration_size: usize,
    pub test_size: usize,
    pub dataset_hash: String,
    pub evaluation: Evaluation,
}

/// Which side of the split a thread falls on, by a hash of its key: the emails of a
/// thread always stay together, so a reply cannot leak its thread's label into the
/// test set. 70% train, 10% calibration, 20% test.
fn split_of(thread_key: &str) -> u8 {
    let digest = Sha256::digest(thread_key.as_bytes());
    digest[0] % 10
}

/// Whether a thread is in the test split: no built-in model trains on it, so every
/// model can be judged on it (`evaluation`).
pub fn is_held_out(thread_key: &str) -> bool {
    matches!(split_of(thread_key), 0 | 1)
}

/// A labelled email as training and evaluation read it.
#[derive(sqlx::FromRow)]
pub(crate) struct Example {
    pub email_id: i64,
    pub thread_key: String,
    pub subject: String,
    pub body: String,
    /// Its current label's category.
    pub category: String,
}

/// Every email whose current label a person gave (or an import brought), oldest
/// first. Automatic accepts are left out: they are the model's own answers, not what
/// people decided.
pub(crate) async fn labelled_examples(db: &Db) -> DomainResult<Vec<Example>> {
    Ok(sqlx::query_as(
        "SELECT e.id AS email_id, e.thread_key, e.subject, b.body_text AS body, \
           c.name AS category FROM emails e \
         JOIN email_bodies b ON b.email_id = e.id JOIN categories c ON c.id = e.label_category_id \
         LEFT JOIN labels l ON l.id = e.label_id \
         WHERE c.retired_at IS NULL AND (l.source IS NULL OR l.source <> 'auto') ORDER BY e.id",
    )
    .fetch_all(&db.pool)
    .await?)
}

/// Trains a candidate on every email's current label ([`labelled_examples`]) and
/// stores it.
pub async fn train(db: &Db, actor: Actor, seed: u64) -> DomainResult<TrainedModel> {
    let examples = labelled_examples(db).await?;
    let mut classes: Vec<String> = examples.iter().map(|e| e.category.clone()).collect();
    classes.sort();
    classes.dedup();
    if classes.len() < 2 || examples.len() < 10 {
        return Err(DomainError::invalid(
            "labels",
            format!(
                "training needs at least 10 labelled emails in 2 categories (found {} in {})",
                examples.len(),
                classes.len()
            ),
        ));
    }
    let mut hasher = Sha256::new();
    for e in &examples {
        hasher.update(format!("{}:{}\n", e.email_id, e.category));
    }
    let dataset_hash = hex::encode(hasher.finalize());

    let (mut train, mut calibration, mut test) = (Vec::new(), Vec::new(), Vec::new());
    for e in &examples {
        let y = classes.binary_search(&e.category).unwrap_or(0);
        let x = vectorize(&e.subject, &e.body);
        if is_held_out(&e.thread_key) {
            test.push((x, y));
        } else if split_of(&e.thread_key) == 2 {
            calibration.push((x, y));
        } else {
            train.push((x, y));
        }
    }
    // The final fit uses the calibration emails too (see `train_calibrated`).
    let (training_size, calibration_size, test_size) = (
        train.len() + calibration.len(),
        calibration.len(),
        test.len(),
    );
    let options = TrainOptions {
        seed,
        ..TrainOptions::default()
    };
    let classes_for_training = classes.clone();
    let (model, evaluation) = tokio::task::spawn_blocking(move || {
        let model = Classifier::train_calibrated(train, calibration, classes_for_training, options);
        let predictions: Vec<(usize, usize, f64)> = test
            .iter()
            .map(|(x, y)| {
                let (best, confidence) = top(&model.probabilities(x));
                (*y, best, confidence)
            })
            .collect();
        let evaluation = evaluate(&model.classes, &predictions);
        (model, evaluation)
    })
    .await
    .map_err(|e| DomainError::Internal(e.to_string()))?;

    let created_at = now_ms();
    let version = format!(
        "builtin-{}-{}",
        chrono::DateTime::from_timestamp_millis(created_at)
            .map(|d| d.format("%Y%m%d-%H%M%S%.3f").to_string().replace('.', ""))
            .unwrap_or_default(),
        &dataset_hash[..8]
    );
    let created_by = actor.user_id();
    let metrics =
        serde_json::to_string(&evaluation).map_err(|e| DomainError::Internal(e.to_string()))?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO models (version, kind, status, created_at, created_by, training_size, dataset_hash, metrics, artifact) \
         VALUES ($1, 'builtin', 'candidate', $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(&version)
    .bind(created_at)
    .bind(created_by)
    .bind(training_size as i64)
    .bind(&dataset_hash)
    .bind(metrics)
    .bind(model.to_bytes())
    .fetch_one(&db.pool)
    .await?;
    audit::record(
        db,
        actor,
        "model.train",
        "model",
        &id.to_string(),
        serde_json::json!({"version": version, "macro_f1": evaluation.macro_f1}),
    )
    .await?;
    Ok(TrainedModel {
        id,
        version,
        training_size,
        calibration_size,
        test_size,
        dataset_hash,
        evaluation,
    })
}

/// Makes a model the one that scores new mail (promotes it); the previous one is
/// retired. The audit entry names both, so every promotion can be traced and undone.
pub async fn activate(db: &Db, model_id: i64, actor: Actor) -> DomainResult<()> {
    let mut tx = db.begin_write().await?;
    let previous: Option<i64> = sqlx::query_scalar("SELECT id FROM models WHERE status = 'active'")
        .fetch_optional(&mut *tx)
        .await?;
    sqlx::query("UPDATE models SET status = 'retired' WHERE status = 'active'")
        .execute(&mut *tx)
        .await?;
    let done = sqlx::query("UPDATE models SET status = 'active', activated_at = $1 WHERE id = $2")
        .bind(now_ms())
        .bind(model_id)
        .execute(&mut *tx)
        .await?;
    if done.rows_affected() == 0 {
        return Err(DomainError::NotFound);
    }
    tx.commit().await?;
    audit::record(
        db,
        actor,
        "model.activate",
        "model",
        &model_id.to_string(),
        serde_json::json!({ "previous": previous }),
    )
    .await
}

/// A model by id and version.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ModelRef {
    pub id: i64,
    pub version: String,
}

/// The model that was active before the current one, if any.
pub async fn previous_active(db: &Db) -> DomainResult<Option<ModelRef>> {
    Ok(sqlx::query_as(
        "SELECT id, version FROM models WHERE status = 'retired' AND activated_at IS NOT NULL \
         ORDER BY activated_at DESC, id DESC LIMIT 1",
    )
    .fetch_optional(&db.pool)
    .await?)
}

/// Rolls back the last promotion: the model active before the current one scores
/// new mail again. Returns its id.
pub async fn rollback(db: &Db, actor: Actor) -> DomainResult<i64> {
    let ModelRef { id, version } = previous_active(db)
        .await?
        .ok_or_else(|| DomainError::Conflict("no earlier active model to roll back to".into()))?;
    activate(db, id, actor).await?;
    audit::record(
        db,
        actor,
        "model.rollback",
        "model",
        &id.to_string(),
        serde_json::json!({ "version": version }),
    )
    .await?;
    Ok(id)
}

/// A stored built-in model, read and ready to score.
pub struct LoadedModel {
    pub id: i64,
    pub version: String,
    pub model: Classifier,
    /// The category id of each of the model's classes, by name.
    pub category_ids: std::collections::HashMap<String, i64>,
}

/// Reads a built-in model: the one with `version`, or the active one.
pub async fn load_model(db: &Db, version: Option<&str>) -> DomainResult<Option<LoadedModel>> {
    #[derive(sqlx::FromRow)]
    struct Stored {
        id: i64,
        version: String,
        artifact: Vec<u8>,
    }
    let row: Option<Stored> = match version {
        Some(v) => {
            sqlx::query_as(
                "SELECT id, version, artifact FROM models WHERE version = $1 AND kind = 'builtin'",
            )
            .bind(v)
            .fetch_optional(&db.pool)
            .await?
        }
        None => sqlx::query_as(
            "SELECT id, version, artifact FROM models WHERE status = 'active' AND kind = 'builtin'",
        )
        .fetch_optional(&db.pool)
        .await?,
    };
    let Some(Stored {
        id,
        version,
        artifact,
    }) = row
    else {
        return Ok(None);
    };
    let model = Classifier::from_bytes(&artifact)
        .map_err(|e| DomainError::Internal(format!("model {version} is unreadable: {e}")))?;
    let mut category_ids = std::collections::HashMap::new();
    for class in &model.classes {
        let id = crate::categories::ensure(db, class, "", "#8a8f98").await?;
        category_ids.insert(class.clone(), id);
    }
    Ok(Some(LoadedModel {
        id,
        version,
        model,
        category_ids,
    }))
}

fn top(probabilities: &[f32]) -> (usize, f64) {
    probabilities
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map(|(i, p)| (i, *p as f64))
        .unwrap_or((0, 0.0))
}
