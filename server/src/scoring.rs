//! Scoring on arrival: after an email is stored, the active built-in model scores it
//! in the background. Ingest never waits for it; an email the scorer misses (no
//! active model, an error, a crash) simply stays unscored until the next run.

use std::sync::Arc;

use domain::db::Db;
use domain::error::DomainResult;
use domain::training::{self, LoadedModel};
use tokio::sync::Notify;

/// A handle to poke the scorer; cheap to clone.
#[derive(Clone)]
pub struct ArrivalScorer {
    wake: Arc<Notify>,
}

impl ArrivalScorer {
    /// Starts the background scorer of this process.
    pub fn start(db: Db) -> ArrivalScorer {
        let wake = Arc::new(Notify::new());
        let waiting = Arc::clone(&wake);
        tokio::spawn(async move {
            // The model stays loaded between runs (the artifact is ~10 MB); only a
            // change of active model reads it again.
            let mut loaded: Option<LoadedModel> = None;
            loop {
                waiting.notified().await;
                match score_new_mail(&db, &mut loaded).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(scored = n, "scored new mail"),
                    Err(e) => {
                        tracing::warn!(error = ?e, "scoring new mail failed; it stays unscored")
                    }
                }
            }
        });
        ArrivalScorer { wake }
    }

    /// Says new mail is in. Several calls while a run is under way lead to one more run.
    pub fn new_mail(&self) {
        self.wake.notify_one();
    }
}

async fn score_new_mail(db: &Db, loaded: &mut Option<LoadedModel>) -> DomainResult<usize> {
    let active = training::active_model_id(db).await?;
    if loaded.as_ref().map(|m| m.id) != active {
        *loaded = match active {
            Some(_) => training::load_model(db, None).await?,
            None => None,
        };
    }
    match loaded {
        Some(model) => training::score_unscored_with(db, model).await,
        None => Ok(0),
    }
}
