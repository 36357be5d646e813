//! The model registry as people see it: every version with its figures, and the
//! reasons behind a built-in model's prediction.

use std::sync::{Arc, OnceLock};

use crate::db::Db;
use crate::error::DomainResult;
use crate::model::metrics::ClassMetrics;
use crate::training::{self, LoadedModel};
use crate::wire::{
    AttachmentView, ClassFigures, CurrentLabel, EmailView, ModelKind, ModelStatus, ModelSummary,
    PredictionExplained,
};

/// Every model, active first, then newest first.
pub async fn list(db: &Db) -> DomainResult<Vec<ModelSummary>> {
    #[derive(sqlx::FromRow)]
    struct Row {
        id: i64,
        version: String,
        kind: ModelKind,
        status: ModelStatus,
        created_at: i64,
        training_size: Option<i64>,
        metrics: Option<String>,
        config: Option<String>,
        created_by: Option<String>,
        dataset_hash: Option<String>,
    }
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT m.id, m.version, m.kind, m.status, m.created_at, m.training_size, m.metrics, \
           m.config, u.display_name AS created_by, m.dataset_hash \
         FROM models m LEFT JOIN users u ON u.id = m.created_by \
         ORDER BY CASE m.status WHEN 'active' THEN 0 ELSE 1 END, m.created_at DESC, m.id DESC",
    )
    .fetch_all(&db.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let metrics: serde_json::Value = row
                .metrics
                .and_then(|m| serde_json::from_str(&m).ok())
                .unwrap_or_default();
            let config: serde_json::Value = row
                .config
                .and_then(|c| serde_json::from_str(&c).ok())
                .unwrap_or_default();
            let endpoint =
                config["endpoint_name"].as_str().map(|name| {
                    match config["endpoint_url"].as_str() {
                        Some(url) => format!("{name} at {url}"),
                        None => name.to_string(),
                    }
                });
            ModelSummary {
                id: row.id,
                version: row.version,
                kind: row.kind,
                status: row.status,
                created_at: row.created_at,
                training_size: row.training_size,
                accuracy: metrics["accuracy"].as_f64(),
                macro_f1: metrics["macro_f1"].as_f64(),
                ece: metrics["ece"].as_f64(),
                endpoint,
                created_by: row.created_by,
                dataset_hash: row.dataset_hash,
                per_category: per_category(&metrics),
            }
        })
        .collect())
}

/// A built-in model's stored per-category figures (`Evaluation::per_class`).
fn per_category(metrics: &serde_json::Value) -> Vec<ClassFigures> {
    let classes: Vec<ClassMetrics> =
        serde_json::from_value(metrics["per_class"].clone()).unwrap_or_default();
    classes
        .into_iter()
        .map(|c| ClassFigures {
            category: c.class,
            precision: c.precision,
            recall: c.recall,
            support: c.support as i64,
            // 0: trained before the count was kept
            labels: (c.labels > 0).then_some(c.labels as i64),
        })
        .collect()
}

/// The last model version asked for explanations, with its built-in model (`None`
/// for an endpoint's version), kept so that opening emails one after another does
/// not read the ~10 MB artifact each time. The lock is held while a version loads:
/// emails opened at the same moment wait for one read instead of each reading and
/// decoding the artifact (16 at once held ~360 MB).
type Explainer = Option<(String, Option<Arc<LoadedModel>>)>;

fn explainer_cache() -> &'static tokio::sync::Mutex<Explainer> {
    static CACHE: OnceLock<tokio::sync::Mutex<Explainer>> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

async fn builtin_model(db: &Db, version: &str) -> DomainResult<Option<Arc<LoadedModel>>> {
    let mut cached = explainer_cache().lock().await;
    if let Some((v, model)) = cached.as_ref()
        && v == version
    {
        return Ok(model.clone());
    }
    // One model at a time: the active one, almost always.
    let loaded = training::load_model(db, Some(version)).await?.map(Arc::new);
    *cached = Some((version.to_string(), loaded.clone()));
    Ok(loaded)
}

/// How an email's HTML part is shown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HtmlChoice {
    /// Show the HTML part (sanitized) instead of the plain text.
    pub html: bool,
    /// Let remote images load (they can tell the sender the mail was read).
    pub remote_images: bool,
}

/// An email for its page, with the prediction's probabilities and reasons, the thread
/// and the history of predictions and labels.
pub async fn email_view(db: &Db, id: i64, show: HtmlChoice) -> DomainResult<EmailView> {
    let detail = crate::emails::detail(db, id).await?;
    let prediction = match detail.prediction {
        Some(p) => {
            let mut probabilities: Vec<(String, f64)> = p
                .probabilities
                .as_object()
                .map(|m| {
                    m.iter()
                        .map(|(c, v)| (c.clone(), v.as_f64().unwrap_or(0.0)))
                        .collect()
                })
                .unwrap_or_default();
            probabilities.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            let reasons = match builtin_model(db, &p.model).await? {
                Some(loaded) => match loaded.model.classes.iter().position(|c| *c == p.category) {
                    Some(class) => loaded
                        .model
                        .explain(&detail.subject, &detail.body_text, class, 8)
                        .into_iter()
                        .map(|(w, s)| (w, f64::from(s)))
                        .collect(),
                    None => Vec::new(),
                },
                None => Vec::new(),
            };
            Some(PredictionExplained {
                category: p.category,
                confidence: p.confidence,
                model: p.model,
                probabilities,
                reasons,
            })
        }
        None => None,
    };
    // Sanitized only to count what it blocks: the frame serves the HTML itself.
    let (html_shown, blocked_images) = match (&detail.body_html, show.html) {
        (Some(html), true) => {
            let clean = crate::ingest::sanitize::sanitize_html(html, show.remote_images);
            (true, clean.blocked_images)
        }
        _ => (false, 0),
    };
    let attachments = detail
        .attachments
        .as_array()
        .map(|list| {
            list.iter()
                .map(|a| AttachmentView {
                    name: a["name"].as_str().unwrap_or("(unnamed)").to_string(),
                    content_type: a["content_type"].as_str().unwrap_or_default().to_string(),
                    size: a["size"].as_u64().unwrap_or(0),
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(EmailView {
        id: detail.id,
        received_at: detail.received_at,
        from_name: detail.from_name,
        from_address: detail.from_address,
        to: detail.to,
        cc: detail.cc,
        subject: detail.subject,
        body_text: detail.body_text,
        has_html: detail.body_html.is_some(),
        html_shown,
        blocked_images,
        remote_images: show.remote_images,
        attachments,
        status: detail.status,
        assignee: detail.assignee,
        prediction,
        label: detail.label.map(|l| CurrentLabel {
            category: l.category,
            by: l.user,
        }),
        label_id: detail.label_id,
        thread: crate::emails::thread(db, id, &detail.thread_key).await?,
        history: crate::labels::history(db, id).await?,
        reply: crate::replies::latest(db, id).await?,
    })
}
