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
    /// Every labelled email: the model that scores mail learnt from all of them.
    pub training_size: usize,
    /// The held-out emails its figures were measured on (by its twin, fitted the same
    /// way without them).
    pub test_size: usize,
    pub dataset_hash: String,
    pub evaluation: Evaluation,
}

/// Whether a thread is in the test split (20 % of threads, by a hash of its key, so
/// the emails of a thread stay together and a reply cannot leak its thread's label).
/// A model's figures are measured there by its twin, fitted without those threads;
/// comparisons (`evaluation`) judge every model's twin there.
pub fn is_held_out(thread_key: &str) -> bool {
    Sha256::digest(thread_key.as_bytes())[0] % 10 < 2
}

/// Folds for choosing the temperature on out-of-fold decisions
/// ([`Classifier::train_cross_fitted`]): each fold is scored by a model fitted on the
/// other. Each fold costs a fit (training 10,000 emails: 1.9 s with two, 2.5 s with
/// three, measured before the body was cut at 2,000 words), and two calibrate well
/// enough: mean ECE 0.024 over bench/scoring.py's 15 splits (three: 0.022).
pub const CROSS_FIT_FOLDS: usize = 2;

/// A thread's cross-fitting fold, by a hash of its key (other bytes of the digest
/// than [`is_held_out`] reads, so folds cut across the test split evenly).
pub fn cross_fit_fold(thread_key: &str, folds: usize) -> usize {
    let digest = Sha256::digest(thread_key.as_bytes());
    (u64::from_be_bytes(digest[1..9].try_into().expect("8 bytes")) % folds.max(1) as u64) as usize
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

    // Every email trains the model that scores mail; its twin, fitted the same way
    // without the held-out threads, measures the procedure on them. One vector of
    // examples, the twin's first and the held-out ones after, so neither copies it.
    let (mut all, mut test) = (Vec::new(), Vec::new());
    let mut learn_folds = Vec::new();
    for e in &examples {
        let example = (
            vectorize(&e.subject, &e.body),
            classes.binary_search(&e.category).unwrap_or(0),
        );
        if is_held_out(&e.thread_key) {
            test.push(example);
        } else {
            all.push(example);
            learn_folds.push(cross_fit_fold(&e.thread_key, CROSS_FIT_FOLDS));
        }
    }
    let learnt = all.len();
    all.append(&mut test);
    let (training_size, test_size) = (all.len(), all.len() - learnt);
    let mut labels_per_class = vec![0usize; classes.len()];
    all.iter().for_each(|(_, y)| labels_per_class[*y] += 1);
    let options = TrainOptions {
        seed,
        ..TrainOptions::default()
    };
    let classes_for_training = classes.clone();
    let (model, twin, evaluation) = tokio::task::spawn_blocking(move || {
        let (learn, test) = all.split_at(learnt);
        let twin = Classifier::train_cross_fitted(
            learn,
            &learn_folds,
            classes_for_training.clone(),
            options,
        );
        let predictions: Vec<(usize, usize, f64)> = test
            .iter()
            .map(|(x, y)| {
                let (best, confidence) = top(&twin.probabilities(x));
                (*y, best, confidence)
            })
            .collect();
        let mut evaluation = evaluate(&twin.classes, &predictions);
        for (class, labels) in evaluation.per_class.iter_mut().zip(&labels_per_class) {
            class.labels = *labels;
        }
        // The temperature chosen for the twin (on its own out-of-fold decisions)
        // serves the model fitted on everything: one fit fewer than cross-fitting
        // again, and the two differ by a fifth of the labels.
        let mut model = Classifier::train(&all, classes_for_training, options);
        model.temperature = twin.temperature;
        (model, twin, evaluation)
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
        "INSERT INTO models (version, kind, status, created_at, created_by, training_size, dataset_hash, metrics, artifact, held_out_artifact) \
         VALUES ($1, 'builtin', 'candidate', $2, $3, $4, $5, $6, $7, $8) RETURNING id",
    )
    .bind(&version)
    .bind(created_at)
    .bind(created_by)
    .bind(training_size as i64)
    .bind(&dataset_hash)
    .bind(metrics)
    .bind(model.to_bytes())
    .bind(twin.to_bytes())
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

/// Which of a built-in model's two fits to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Artifact {
    /// The model that scores mail, fitted on every label.
    Scoring,
    /// Its twin, fitted without the held-out threads, to judge it there
    /// (`evaluation`); models trained before twins existed are their own twin.
    HeldOutTwin,
}

/// Reads a built-in model to score with: the one with `version`, or the active one.
pub async fn load_model(db: &Db, version: Option<&str>) -> DomainResult<Option<LoadedModel>> {
    load_artifact(db, version, Artifact::Scoring).await
}

/// Reads one of a built-in model's fits: the one with `version`, or the active one.
pub async fn load_artifact(
    db: &Db,
    version: Option<&str>,
    which: Artifact,
) -> DomainResult<Option<LoadedModel>> {
    #[derive(sqlx::FromRow)]
    struct Stored {
        id: i64,
        version: String,
        artifact: Vec<u8>,
    }
    let column = match which {
        Artifact::Scoring => "artifact",
        Artifact::HeldOutTwin => "COALESCE(held_out_artifact, artifact) AS artifact",
    };
    let row: Option<Stored> = match version {
        Some(v) => {
            sqlx::query_as(&format!(
                "SELECT id, version, {column} FROM models WHERE version = $1 AND kind = 'builtin'"
            ))
            .bind(v)
            .fetch_optional(&db.pool)
            .await?
        }
        None => sqlx::query_as(&format!(
            "SELECT id, version, {column} FROM models WHERE status = 'active' AND kind = 'builtin'"
        ))
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
