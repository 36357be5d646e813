//! Scoring on arrival: after an email is stored, the active scorer (the built-in
//! model or an endpoint) scores it in the background. Ingest never waits for it; an
//! email the scorer misses (no active model, an endpoint error, a crash) simply stays
//! unscored, visible as such, until the next run or batch job.

use std::sync::Arc;

use tokio::sync::Notify;

use super::{AwsCredentials, Scorer, active, store};
use crate::db::Db;
use crate::error::DomainResult;

/// A handle to poke the scorer; cheap to clone.
#[derive(Clone)]
pub struct ArrivalScorer {
    wake: Arc<Notify>,
}

/// The scorer in use and the activation it was loaded for.
type Loaded = Option<(active::ActiveMarker, Scorer)>;

impl ArrivalScorer {
    /// Starts the background scorer of this process.
    pub fn start(db: Db, credentials: AwsCredentials) -> ArrivalScorer {
        let wake = Arc::new(Notify::new());
        let waiting = Arc::clone(&wake);
        tokio::spawn(async move {
            // The scorer stays loaded between runs (a built-in artifact is ~10 MB, an
            // endpoint client holds its connections); a new activation loads again.
            let mut loaded: Loaded = None;
            loop {
                waiting.notified().await;
                match score_new_mail(&db, &credentials, &mut loaded).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(scored = n, "scored new mail"),
                    Err(e) => {
                        tracing::warn!(error = %e, "scoring new mail failed; it stays unscored")
                    }
                }
            }
        });
        ArrivalScorer { wake }
    }

    /// Says new mail is in, or another model became active. Several calls while a run
    /// is under way lead to one more run.
    pub fn new_mail(&self) {
        self.wake.notify_one();
    }
}

async fn score_new_mail(
    db: &Db,
    credentials: &AwsCredentials,
    loaded: &mut Loaded,
) -> DomainResult<usize> {
    let marker = active::active_marker(db).await?;
    if loaded.as_ref().map(|(m, _)| *m) != marker {
        *loaded = match marker {
            Some(m) => Some((m, active::load(db, m.id, credentials).await?)),
            None => None,
        };
    }
    match loaded {
        Some((_, scorer)) => store::score_unscored(db, scorer).await,
        None => Ok(0),
    }
}
