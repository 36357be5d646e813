//! Scoring on arrival: after an email is stored, the active built-in model scores it
//! in the background. Ingest never waits for it; an email the scorer misses (no
//! active model, an error, a crash) simply stays unscored until the next run.

use std::sync::Arc;

use domain::db::Db;
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
            loop {
                waiting.notified().await;
                match domain::training::score_unscored(&db).await {
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
