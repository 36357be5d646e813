//! Job workers. A worker starts queued jobs and scores running ones a chunk at a time.
//! When a job starts, its target emails are written once as numbered chunks
//! (`job_chunks`: `batch_size` emails for an endpoint, one request each;
//! `BUILTIN_CHUNK` for the built-in model). A worker leases a chunk (a lease is a
//! deadline, so a dead worker's chunk returns to the pool by itself), scores it with
//! the job's model, and writes the predictions, the emails that failed
//! (`job_failures`) and the chunk's new state in one transaction. Any number of
//! workers, in one process or many, share a job this way; an email is scored once per
//! job because only the lease holder may mark its chunk done (and a unique index backs
//! that up).
//!
//! Up to `concurrency` chunks are in flight per worker (Batch Transform's
//! MaxConcurrentTransforms); throttling halves that for the rest of the pass over the
//! job, so an endpoint at its limit slows a job down instead of failing it.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

use crate::audit::Actor;
use crate::db::{Db, Dialect};
use crate::error::{DomainError, DomainResult};
use crate::scoring::store::{Replace, store_answers};
use crate::scoring::{AwsCredentials, EmailText, ScoreError, Scored, Scorer, active};
use crate::sql::{id_list, parse_id_list, values_placeholders};
use crate::time::now_ms;
use crate::wire::{JobKind, JobStatus};

use super::transform::{TransformSettings, Transformer};
use super::{NewJob, targets};

/// How a worker works; `triage serve` and `triage worker` read these from settings.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// Chunks in flight at once (MaxConcurrentTransforms).
    pub concurrency: usize,
    /// Emails per chunk, and so per endpoint request.
    pub batch_size: usize,
    /// Largest request body (MaxPayloadInMB, in bytes).
    pub max_payload_bytes: usize,
    /// How long a chunk stays leased to a worker that stopped answering.
    pub lease_ms: i64,
    /// How often an idle worker looks for work.
    pub poll_ms: u64,
    /// Tries per email before it is recorded as failed (throttling does not count).
    pub max_attempts: i64,
    /// How often the worker checks the active model's agreement with staff labels
    /// (the drift alert), so an alert is raised and logged even when nobody opens
    /// the Analytics page.
    pub drift_check_ms: u64,
    /// Batch Transform jobs: their defaults, and where S3 and SageMaker are.
    pub transform: TransformSettings,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        WorkerSettings {
            concurrency: 4,
            batch_size: 32,
            max_payload_bytes: 6 * 1024 * 1024,
            lease_ms: 60_000,
            poll_ms: 1_000,
            max_attempts: 3,
            drift_check_ms: 5 * 60 * 1000,
            transform: TransformSettings::default(),
        }
    }
}

/// A handle on a running worker: wake it when a job is queued.
#[derive(Clone)]
pub struct WorkerHandle {
    wake: Arc<Notify>,
}

impl WorkerHandle {
    /// A handle with no worker behind it, for a server whose jobs run elsewhere
    /// (`triage worker`); those poll the database.
    pub fn detached() -> WorkerHandle {
        WorkerHandle {
            wake: Arc::new(Notify::new()),
        }
    }

    pub fn wake(&self) {
        self.wake.notify_one();
    }
}

pub struct Worker {
    db: Db,
    credentials: AwsCredentials,
    settings: WorkerSettings,
    /// Unique per process and worker, recorded on leased items.
    name: String,
    /// When the next drift check is due (the first is at once).
    next_drift_check: std::sync::Mutex<std::time::Instant>,
    /// Steps transform jobs along.
    transformer: Transformer,
}

impl Worker {
    pub fn new(db: Db, credentials: AwsCredentials, settings: WorkerSettings) -> Worker {
        let name = format!(
            "{}-{}-{:08x}",
            hostname(),
            std::process::id(),
            rand::random::<u32>()
        );
        let transformer = Transformer::new(
            db.clone(),
            settings.transform.clone(),
            credentials.clone(),
            settings.lease_ms,
        );
        Worker {
            db,
            credentials,
            settings,
            name,
            transformer,
            next_drift_check: std::sync::Mutex::new(std::time::Instant::now()),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs in the background until the process ends.
    pub fn spawn(self) -> WorkerHandle {
        let wake = Arc::new(Notify::new());
        let handle = WorkerHandle {
            wake: Arc::clone(&wake),
        };
        tokio::spawn(async move {
            loop {
                match self.run_once().await {
                    Ok(true) => continue,
                    Ok(false) => {}
                    Err(e) => tracing::warn!(error = %e, "job worker"),
                }
                let idle = Duration::from_millis(self.settings.poll_ms);
                let _ = tokio::time::timeout(idle, wake.notified()).await;
            }
        });
        handle
    }

    /// Works until no job has anything left for this worker; for `triage score` and tests.
    pub async fn run_until_idle(&self) -> DomainResult<()> {
        while self.run_once().await? {}
        Ok(())
    }

    /// One step: starts the next queued job or works a chunk-by-chunk pass over a
    /// running one. Returns whether there was anything to do.
    pub async fn run_once(&self) -> DomainResult<bool> {
        self.check_drift_when_due().await;
        super::schedule::queue_due(&self.db).await?;
        self.recover_stalled_retrains().await?;
        self.finish_completed().await?;
        if let Some(started) = self.start_next().await? {
            match started {
                Started::Retrain(id, job) => self.retrain(id, *job).await?,
                Started::Scoring(id) => self.work(id).await?,
                Started::Transform => {
                    self.transformer.step_due(&self.name).await?;
                }
                Started::Refused => {}
            }
            return Ok(true);
        }
        if self.transformer.step_due(&self.name).await? {
            return Ok(true);
        }
        match self.next_with_work().await? {
            Some(id) => {
                self.work(id).await?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Checks the drift alert when its interval has passed. `analytics::drift` raises
    /// or clears the alert and logs the change once, whichever process sees it first;
    /// a failure here is logged and never stops the worker.
    async fn check_drift_when_due(&self) {
        {
            let mut next = self
                .next_drift_check
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let now = std::time::Instant::now();
            if now < *next {
                return;
            }
            *next = now + Duration::from_millis(self.settings.drift_check_ms);
        }
        if let Err(e) = crate::analytics::drift(&self.db).await {
            tracing::warn!(error = %e, "drift check");
        }
    }

    /// Moves the oldest queued job to running; for a scoring job, writes its chunks.
    /// Exactly one worker wins the move. A job whose parameters cannot be read fails
    /// at once, with why.
    async fn start_next(&self) -> DomainResult<Option<Started>> {
        #[derive(sqlx::FromRow)]
        struct Queued {
            id: i64,
            kind: JobKind,
            params: String,
        }
        let Some(queued) = sqlx::query_as::<_, Queued>(
            "SELECT id, kind, params FROM jobs WHERE status = 'queued' ORDER BY id LIMIT 1",
        )
        .fetch_optional(&self.db.pool)
        .await?
        else {
            return Ok(None);
        };
        let id = queued.id;
        let now = now_ms();
        let mut tx = self.db.begin_write().await?;
        let won = sqlx::query(
            "UPDATE jobs SET status = 'running', started_at = COALESCE(started_at, $1), \
             worker = $2, heartbeat_at = $1 WHERE id = $3 AND status = 'queued'",
        )
        .bind(now)
        .bind(&self.name)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if won.rows_affected() == 0 {
            return Ok(None); // another worker started it
        }
        let job = match NewJob::from_params(&queued.params) {
            Ok(job) if job.kind == queued.kind => job,
            Ok(job) => {
                let why = format!("its parameters are for a {} job", job.kind);
                return self.refuse(tx, id, &why).await;
            }
            Err(e) => return self.refuse(tx, id, &e.to_string()).await,
        };
        let started = if job.kind.scores() {
            targets::write(&mut tx, id, &job, self.settings.batch_size).await?;
            Started::Scoring(id)
        } else if job.kind == JobKind::Transform {
            sqlx::query(
                "UPDATE jobs SET transform_stage = 'export', next_step_at = $1 WHERE id = $2",
            )
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            Started::Transform
        } else {
            Started::Retrain(id, Box::new(job))
        };
        tx.commit().await?;
        tracing::info!(job = id, kind = %queued.kind, worker = %self.name, "job started");
        Ok(Some(started))
    }

    /// Fails a job this worker just started, with why, instead of running it.
    async fn refuse(
        &self,
        mut tx: sqlx::Transaction<'static, sqlx::Any>,
        id: i64,
        why: &str,
    ) -> DomainResult<Option<Started>> {
        fail(&mut tx, id, why).await?;
        tx.commit().await?;
        tracing::warn!(job = id, error = why, "job refused");
        Ok(Some(Started::Refused))
    }

    /// The oldest running scoring job with a chunk nobody holds.
    async fn next_with_work(&self) -> DomainResult<Option<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT j.id FROM jobs j WHERE j.status = 'running' AND j.kind IN ('score', 'rescore') AND EXISTS \
             (SELECT 1 FROM job_chunks c WHERE c.job_id = j.id AND c.status = 'pending' \
              AND (c.lease_until IS NULL OR c.lease_until < $1)) ORDER BY j.id LIMIT 1",
        )
        .bind(now_ms())
        .fetch_optional(&self.db.pool)
        .await?)
    }

    /// Marks running scoring jobs with nothing pending as finished. This and
    /// `recover_stalled_retrains` run every second, so they write through the writer
    /// connection: on SQLite an UPDATE takes the write lock even when it changes
    /// nothing, and one from the shared pool busy-waited for the writer (slow-statement
    /// warnings of 1–2 s under labelling).
    async fn finish_completed(&self) -> DomainResult<()> {
        let mut tx = self.db.begin_write().await?;
        sqlx::query(
            "UPDATE jobs SET status = 'succeeded', finished_at = $1, \
             error = CASE WHEN failed > 0 THEN 'some emails could not be scored; retry them' ELSE NULL END \
             WHERE status = 'running' AND kind IN ('score', 'rescore') AND NOT EXISTS \
             (SELECT 1 FROM job_chunks c WHERE c.job_id = jobs.id AND c.status = 'pending')",
        )
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// A retrain whose worker went silent goes back to the queue.
    async fn recover_stalled_retrains(&self) -> DomainResult<()> {
        let mut tx = self.db.begin_write().await?;
        sqlx::query(
            "UPDATE jobs SET status = 'queued', worker = NULL \
             WHERE status = 'running' AND kind = 'retrain' AND heartbeat_at < $1",
        )
        .bind(now_ms() - self.settings.lease_ms)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn retrain(&self, id: i64, job: NewJob) -> DomainResult<()> {
        let created_by: Option<i64> =
            sqlx::query_scalar("SELECT created_by FROM jobs WHERE id = $1")
                .bind(id)
                .fetch_one(&self.db.pool)
                .await?;
        let actor = created_by.map(Actor::User).unwrap_or(Actor::System);
        // Training takes seconds; keep the job's heartbeat fresh meanwhile.
        let heartbeat = {
            let (db, every) = (
                self.db.clone(),
                Duration::from_millis((self.settings.lease_ms / 3).max(100) as u64),
            );
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(every).await;
                    let _ = sqlx::query("UPDATE jobs SET heartbeat_at = $1 WHERE id = $2")
                        .bind(now_ms())
                        .bind(id)
                        .execute(&db.pool)
                        .await;
                }
            })
        };
        let outcome = async {
            let model = crate::training::train(&self.db, actor, 42).await?;
            if job.activate {
                crate::training::activate(&self.db, model.id, actor).await?;
            }
            Ok::<_, DomainError>(model)
        }
        .await;
        heartbeat.abort();
        let now = now_ms();
        match outcome {
            Ok(model) => {
                let result = serde_json::json!({
                    "version": model.version,
                    "accuracy": model.evaluation.accuracy,
                    "macro_f1": model.evaluation.macro_f1,
                    "activated": job.activate,
                });
                sqlx::query(
                    "UPDATE jobs SET status = 'succeeded', finished_at = $1, total = 1, done = 1, \
                     model_id = $2, result = $3 WHERE id = $4 AND status = 'running'",
                )
                .bind(now)
                .bind(model.id)
                .bind(result.to_string())
                .bind(id)
                .execute(&self.db.pool)
                .await?;
            }
            Err(e) => {
                sqlx::query(
                    "UPDATE jobs SET status = 'failed', finished_at = $1, total = 1, failed = 1, \
                     error = $2 WHERE id = $3 AND status = 'running'",
                )
                .bind(now)
                .bind(e.to_string())
                .bind(id)
                .execute(&self.db.pool)
                .await?;
            }
        }
        Ok(())
    }

    /// Scores a running job's pending items, `concurrency` chunks at a time, until
    /// none is left to lease or the job stops running.
    async fn work(&self, id: i64) -> DomainResult<()> {
        #[derive(sqlx::FromRow)]
        struct Running {
            kind: JobKind,
            model_id: Option<i64>,
        }
        let Running { kind, model_id } =
            sqlx::query_as("SELECT kind, model_id FROM jobs WHERE id = $1")
                .bind(id)
                .fetch_one(&self.db.pool)
                .await?;
        let scorer = match model_id {
            Some(model) => active::load(&self.db, model, &self.credentials).await,
            None => Err(DomainError::NotFound),
        };
        let scorer = match scorer {
            Ok(s) => self.with_limits(s),
            Err(e) => {
                // The job's model is gone or unreadable: nothing can be scored.
                let mut conn = self.db.pool.acquire().await?;
                let why = format!("the job's model cannot be loaded: {e}");
                return fail(&mut conn, id, &why).await;
            }
        };
        let lanes = match scorer {
            // The built-in model is CPU work: two chunks keep both cores busy.
            Scorer::Builtin(_) => self.settings.concurrency.clamp(1, 2),
            Scorer::Endpoint(_) => self.settings.concurrency.max(1),
        };
        let replace = if kind == JobKind::Rescore {
            Replace::Always
        } else {
            Replace::IfUnscored
        };
        let limit = Arc::new(Adaptive::new(lanes));
        let pass = Arc::new(Pass {
            db: self.db.clone(),
            worker: self.name.clone(),
            job: id,
            scorer,
            replace,
            settings: self.settings.clone(),
        });
        let (turns, waiting) = tokio::sync::mpsc::unbounded_channel();
        let bookkeeper = tokio::spawn(Arc::clone(&pass).keep_books(waiting));
        let mut set = tokio::task::JoinSet::new();
        for lane in 0..lanes {
            let lane_ctx = Lane {
                pass: Arc::clone(&pass),
                limit: Arc::clone(&limit),
                turns: turns.clone(),
            };
            set.spawn(async move { lane_ctx.run(lane).await });
        }
        drop(turns);
        let mut first_error = None;
        while let Some(joined) = set.join_next().await {
            match joined {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    first_error.get_or_insert(e);
                }
                Err(e) => {
                    first_error.get_or_insert(DomainError::Internal(e.to_string()));
                }
            }
        }
        // Every lane has ended, so the bookkeeper's queue is closed and it ends too.
        let _ = bookkeeper.await;
        match first_error {
            Some(e) => Err(e),
            None => self.finish_completed().await,
        }
    }

    fn with_limits(&self, scorer: Scorer) -> Scorer {
        match scorer {
            Scorer::Endpoint(e) => Scorer::Endpoint(Arc::new(
                e.with_limits(self.settings.batch_size, self.settings.max_payload_bytes),
            )),
            builtin => builtin,
        }
    }
}

/// How many lanes may take chunks: throttling halves it for the rest of the pass
/// (lanes above it end); the next pass over the job starts at the full count.
struct Adaptive {
    current: AtomicUsize,
}

impl Adaptive {
    fn new(lanes: usize) -> Adaptive {
        Adaptive {
            current: AtomicUsize::new(lanes),
        }
    }

    fn allows(&self, lane: usize) -> bool {
        lane < self.current.load(Ordering::Relaxed)
    }

    fn throttled(&self) {
        let _ = self
            .current
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |c| {
                Some((c / 2).max(1))
            });
    }
}

/// One pass of a worker over a job: what its lanes and its bookkeeper share.
struct Pass {
    db: Db,
    worker: String,
    job: i64,
    scorer: Scorer,
    replace: Replace,
    settings: WorkerSettings,
}

/// One chunk-at-a-time loop of a pass.
struct Lane {
    pass: Arc<Pass>,
    limit: Arc<Adaptive>,
    turns: tokio::sync::mpsc::UnboundedSender<Turn>,
}

/// A lane's request to the bookkeeper: store this worked chunk (if any) and lease
/// the lane its next chunk (if it may go on).
struct Turn {
    worked: Option<Worked>,
    wants_next: bool,
    reply: tokio::sync::oneshot::Sender<DomainResult<Option<Leased>>>,
}

/// A chunk leased to a lane: which emails it holds.
struct Leased {
    seq: i64,
    /// Tries so far, this one included.
    attempts: i64,
    ids: Vec<i64>,
}

/// A leased chunk: its emails' ids and texts, in the same order.
struct Chunk {
    seq: i64,
    /// Tries so far, this one included.
    attempts: i64,
    ids: Vec<i64>,
    texts: Vec<EmailText>,
}

/// A chunk worked to the end: the answers for the emails that were scored and the
/// errors of those that could not be.
struct Worked {
    seq: i64,
    attempts: i64,
    answered: Vec<(i64, Scored)>,
    failed: Vec<(i64, String)>,
}

/// Chunks a lane asks for ahead of the one it scores. With one, a lane waited for
/// the bookkeeper whenever a turn took longer than a request (a checkpoint, a large
/// group): against a 20 ms endpoint, 8 lanes made 84% of their limit. With two, the
/// next chunk is usually in hand when a request ends.
const CHUNKS_AHEAD: usize = 2;

/// A turn on its way: the bookkeeper's answer, the next chunk read.
type InFlight = tokio::task::JoinHandle<DomainResult<Option<Chunk>>>;

impl Lane {
    /// Works chunks until none is left. Pipelined: while a chunk is being scored,
    /// the previous chunk's answers are stored and chunks ahead are leased and read
    /// (`CHUNKS_AHEAD`), so the database's time hides behind the model's instead of
    /// adding to it.
    async fn run(&self, lane: usize) -> DomainResult<()> {
        let pass = &*self.pass;
        let mut pause = Duration::from_millis(50);
        let mut ready: VecDeque<Chunk> = VecDeque::new();
        let mut in_flight: VecDeque<InFlight> = VecDeque::new();
        for _ in 0..CHUNKS_AHEAD {
            in_flight.push_back(self.send_turn(lane, None));
        }
        let mut worked: Option<Worked> = None;
        loop {
            // Turns answer in order; take what has come, and wait only when no
            // chunk is in hand.
            while in_flight.front().is_some_and(|t| t.is_finished()) || ready.is_empty() {
                let Some(turn) = in_flight.pop_front() else {
                    break;
                };
                let next = turn
                    .await
                    .map_err(|e| DomainError::Internal(format!("a job turn stopped: {e}")))??;
                ready.extend(next);
            }
            let Some(chunk) = ready.pop_front() else {
                break; // nothing left to lease, the job stopped, or throttled down
            };
            if !self.limit.allows(lane) {
                // Throttled down: this lane gives back what it holds and ends its
                // pass; the next pass over the job starts with every lane again.
                pass.release(chunk.seq, true).await?;
                continue;
            }
            // Stores the previous chunk's answers and leases one more.
            in_flight.push_back(self.send_turn(lane, worked.take()));
            let outcome = pass.scorer.score(&chunk.texts).await;
            let Chunk {
                seq,
                attempts,
                ids,
                texts,
            } = chunk;
            let finished = |answered, failed| Worked {
                seq,
                attempts,
                answered,
                failed,
            };
            match outcome {
                Ok(answers) => {
                    worked = Some(finished(ids.into_iter().zip(answers).collect(), vec![]));
                    pause = Duration::from_millis(50);
                }
                Err(ScoreError::Throttled { .. }) => {
                    // Not the emails' fault: give the chunk back and slow down.
                    pass.release(seq, true).await?;
                    self.limit.throttled();
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(5));
                }
                Err(e @ (ScoreError::Timeout { .. } | ScoreError::Unavailable { .. })) => {
                    // The endpoint is unwell: try these again later, up to the limit.
                    if attempts >= pass.settings.max_attempts {
                        worked = Some(finished(vec![], all_failed(ids, &e)));
                    } else {
                        pass.release(seq, false).await?;
                    }
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(5));
                }
                Err(e) if ids.len() > 1 => {
                    // One bad email fails a whole request: score them one by one to
                    // find it, so the rest still get their predictions.
                    tracing::debug!(job = pass.job, error = %e, "isolating a failing chunk");
                    let (mut answered, mut failed) = (Vec::new(), Vec::new());
                    for (id, text) in ids.into_iter().zip(texts) {
                        match pass.scorer.score(std::slice::from_ref(&text)).await {
                            Ok(mut answer) if answer.len() == 1 => {
                                answered.push((id, answer.remove(0)));
                            }
                            Ok(_) => failed.push((id, "the model gave no answer".to_string())),
                            Err(e) => failed.push((id, e.to_string())),
                        }
                    }
                    worked = Some(finished(answered, failed));
                }
                Err(e) => worked = Some(finished(vec![], all_failed(ids, &e))),
            }
        }
        if let Some(worked) = worked {
            let mut tx = pass.db.begin_write().await?;
            pass.store_in(&mut tx, vec![worked]).await?;
            tx.commit().await?;
        }
        Ok(())
    }

    /// Sends the bookkeeper a turn: store a worked chunk (if any) and lease this lane
    /// a chunk (if it may go on). The turn is on its way when this returns; the task
    /// ends with the leased chunk's emails read, or `None` when the lane is throttled
    /// down, the job stopped running (cancelled) or nothing is left to lease.
    fn send_turn(&self, lane: usize, worked: Option<Worked>) -> InFlight {
        let wants_next = self.limit.allows(lane);
        let stopped = || DomainError::Internal("the job's bookkeeper stopped".into());
        let answer = if !wants_next && worked.is_none() {
            None
        } else {
            let (reply, answer) = tokio::sync::oneshot::channel();
            let turn = Turn {
                worked,
                wants_next,
                reply,
            };
            Some(
                self.turns
                    .send(turn)
                    .map(|()| answer)
                    .map_err(|_| stopped()),
            )
        };
        let pass = Arc::clone(&self.pass);
        tokio::spawn(async move {
            let Some(answer) = answer else {
                return Ok(None);
            };
            match answer?.await.map_err(|_| stopped())?? {
                Some(leased) => Ok(Some(pass.read(leased).await?)),
                None => Ok(None),
            }
        })
    }
}

impl Pass {
    /// Takes the lanes' turns until every lane has ended. Turns that arrive while a
    /// transaction runs are served together by the next one (group commit): one
    /// commit, and a few statements, for all of them. The busier the database, the
    /// larger the groups, so the bookkeeping keeps up with many lanes.
    async fn keep_books(self: Arc<Self>, mut waiting: tokio::sync::mpsc::UnboundedReceiver<Turn>) {
        while let Some(first) = waiting.recv().await {
            let mut turns = vec![first];
            while let Ok(next) = waiting.try_recv() {
                turns.push(next);
            }
            match self.take_turns(&mut turns).await {
                Ok(chunks) => {
                    for (turn, chunk) in turns.into_iter().zip(chunks) {
                        let _ = turn.reply.send(Ok(chunk));
                    }
                }
                Err(e) => {
                    let message = e.to_string();
                    for turn in turns {
                        let _ = turn.reply.send(Err(DomainError::Internal(message.clone())));
                    }
                }
            }
        }
    }

    /// Stores the turns' worked chunks and leases a chunk for each turn that wants
    /// one, in one transaction; returns the chunks in the order of the turns.
    async fn take_turns(&self, turns: &mut [Turn]) -> DomainResult<Vec<Option<Leased>>> {
        let worked: Vec<Worked> = turns.iter_mut().filter_map(|t| t.worked.take()).collect();
        let wanted = turns.iter().filter(|t| t.wants_next).count();
        let mut tx = self.db.begin_write().await?;
        self.store_in(&mut tx, worked).await?;
        let chunks = if wanted > 0 {
            self.lease(&mut tx, wanted).await?
        } else {
            Vec::new()
        };
        tx.commit().await?;
        // Dealt out in order, a chunk per turn that wants one, while they last.
        let mut chunks = chunks.into_iter();
        Ok(turns
            .iter()
            .map(|turn| turn.wants_next.then(|| chunks.next()).flatten())
            .collect())
    }

    /// Leases up to `count` pending chunks nobody holds, lowest first; none once the
    /// job stopped running (cancelled).
    async fn lease(
        &self,
        conn: &mut sqlx::AnyConnection,
        count: usize,
    ) -> DomainResult<Vec<Leased>> {
        let now = now_ms();
        // PostgreSQL: concurrent workers skip each other's locked rows instead of
        // queueing behind them. SQLite has one writer at a time, which is the lock.
        let lock = match self.db.dialect {
            Dialect::Postgres => " FOR UPDATE SKIP LOCKED",
            Dialect::Sqlite => "",
        };
        #[derive(sqlx::FromRow)]
        struct Row {
            seq: i64,
            email_ids: String,
            attempts: i64,
        }
        let mut leased: Vec<Row> = sqlx::query_as(&format!(
            "UPDATE job_chunks SET worker = $1, lease_until = $2, attempts = attempts + 1 \
             WHERE job_id = $3 AND seq IN (SELECT seq FROM job_chunks \
               WHERE job_id = $3 AND status = 'pending' AND (lease_until IS NULL OR lease_until < $4) \
                 AND EXISTS (SELECT 1 FROM jobs WHERE id = $3 AND status = 'running') \
               ORDER BY seq LIMIT $5{lock}) \
             RETURNING seq, email_ids, attempts"
        ))
        .bind(&self.worker)
        .bind(now + self.settings.lease_ms)
        .bind(self.job)
        .bind(now)
        .bind(count as i64)
        .fetch_all(&mut *conn)
        .await?;
        leased.sort_by_key(|row| row.seq);
        Ok(leased
            .into_iter()
            .map(|row| Leased {
                seq: row.seq,
                attempts: row.attempts,
                ids: parse_id_list(&row.email_ids).collect(),
            })
            .collect())
    }

    /// Reads a leased chunk's emails, outside the bookkeeper's transaction: the
    /// texts are the bulk of what a job reads, and the one writer connection is
    /// the job's narrowest point, so a lane reads them from the shared pool while
    /// the model scores its previous chunk.
    async fn read(&self, leased: Leased) -> DomainResult<Chunk> {
        let rows: Vec<crate::scoring::store::Pending> = sqlx::query_as(&format!(
            "SELECT b.email_id, e.subject, b.body_text AS body FROM email_bodies b \
             JOIN emails e ON e.id = b.email_id WHERE b.email_id IN ({})",
            id_list(leased.ids.iter().copied())
        ))
        .persistent(false)
        .fetch_all(&self.db.pool)
        .await?;
        let mut texts: std::collections::HashMap<i64, EmailText> =
            rows.into_iter().map(|p| (p.email_id, p.text)).collect();
        // Emails are never deleted, so every id has its text.
        let (ids, texts) = leased
            .ids
            .into_iter()
            .filter_map(|id| texts.remove(&id).map(|text| (id, text)))
            .unzip();
        Ok(Chunk {
            seq: leased.seq,
            attempts: leased.attempts,
            ids,
            texts,
        })
    }

    /// Writes worked chunks' answers and failures and marks the chunks done, in the
    /// caller's transaction. Only chunks this worker still holds are written: if a
    /// lease ran out and another worker took the chunk over, its answers win and
    /// these are dropped.
    async fn store_in(
        &self,
        tx: &mut sqlx::AnyConnection,
        worked: Vec<Worked>,
    ) -> DomainResult<()> {
        if worked.is_empty() {
            return Ok(());
        }
        let held: Vec<i64> = sqlx::query_scalar(&format!(
            "UPDATE job_chunks SET status = 'done', lease_until = NULL \
             WHERE job_id = $1 AND worker = $2 AND status = 'pending' AND seq IN ({}) \
             RETURNING seq",
            id_list(worked.iter().map(|w| w.seq))
        ))
        .persistent(false)
        .bind(self.job)
        .bind(&self.worker)
        .fetch_all(&mut *tx)
        .await?;
        let held: std::collections::HashSet<i64> = held.into_iter().collect();
        let worked: Vec<Worked> = worked
            .into_iter()
            .filter(|w| held.contains(&w.seq))
            .collect();
        let answers: Vec<(i64, &Scored)> = worked
            .iter()
            .flat_map(|w| w.answered.iter().map(|(id, answer)| (*id, answer)))
            .collect();
        store_answers(tx, &self.scorer, &answers, Some(self.job), self.replace).await?;
        let failed: Vec<(i64, i64, &str)> = worked
            .iter()
            .flat_map(|w| w.failed.iter().map(|(id, e)| (*id, w.attempts, e.as_str())))
            .collect();
        for part in failed.chunks(500) {
            let sql = format!(
                "INSERT INTO job_failures (job_id, email_id, attempts, error) VALUES {} \
                 ON CONFLICT (job_id, email_id) DO UPDATE SET attempts = excluded.attempts, \
                 error = excluded.error",
                values_placeholders(Dialect::of(tx), part.len(), 4)
            );
            let mut insert = sqlx::query(&sql);
            for (id, attempts, error) in part {
                insert = insert.bind(self.job).bind(*id).bind(*attempts).bind(*error);
            }
            insert.execute(&mut *tx).await?;
        }
        sqlx::query("UPDATE jobs SET done = done + $1, failed = failed + $2 WHERE id = $3")
            .bind(answers.len() as i64)
            .bind(failed.len() as i64)
            .bind(self.job)
            .execute(&mut *tx)
            .await?;
        Ok(())
    }

    /// Gives a chunk back to the pool; `forgive` takes back the try (throttling).
    async fn release(&self, seq: i64, forgive: bool) -> DomainResult<()> {
        let mut tx = self.db.begin_write().await?;
        sqlx::query(
            "UPDATE job_chunks SET lease_until = NULL, attempts = attempts - $1 \
             WHERE job_id = $2 AND worker = $3 AND status = 'pending' AND seq = $4",
        )
        .bind(if forgive { 1i64 } else { 0 })
        .bind(self.job)
        .bind(&self.worker)
        .bind(seq)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Every email of a chunk, failed with the same error.
fn all_failed(ids: Vec<i64>, error: &ScoreError) -> Vec<(i64, String)> {
    let error = error.to_string();
    ids.into_iter().map(|id| (id, error.clone())).collect()
}

/// What [`Worker::start_next`] started.
enum Started {
    Scoring(i64),
    Retrain(i64, Box<NewJob>),
    /// A transform job, whose first step is due now.
    Transform,
    /// A job that could not start (it failed, with why).
    Refused,
}

/// Marks a running job failed, with why.
async fn fail(conn: &mut sqlx::AnyConnection, id: i64, why: &str) -> DomainResult<()> {
    sqlx::query(
        "UPDATE jobs SET status = $1, finished_at = $2, error = $3 WHERE id = $4 AND status = $5",
    )
    .bind(JobStatus::Failed)
    .bind(now_ms())
    .bind(why)
    .bind(id)
    .bind(JobStatus::Running)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "triage".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The upkeep changes what it should and nothing else: a silent retrain goes back
    /// to the queue, a live one keeps running; a scoring job with nothing pending
    /// succeeds, one with work left keeps running.
    #[tokio::test]
    async fn the_upkeep_requeues_silent_retrains_and_finishes_scoring_jobs_with_nothing_left() {
        let (db, dir) = crate::demo::demo_database("upkeep").await;
        let email: i64 = sqlx::query_scalar("SELECT MIN(id) FROM emails")
            .fetch_one(&db.pool)
            .await
            .unwrap();
        let worker = Worker::new(
            db.clone(),
            AwsCredentials::default(),
            WorkerSettings::default(),
        );
        let now = now_ms();
        let lease = worker.settings.lease_ms;
        let mut jobs = Vec::new();
        for (kind, heartbeat) in [
            ("retrain", now - 10 * lease),
            ("retrain", now),
            ("score", now),
            ("score", now),
        ] {
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO jobs (kind, status, created_at, heartbeat_at) \
                 VALUES ($1, 'running', $2, $3) RETURNING id",
            )
            .bind(kind)
            .bind(now)
            .bind(heartbeat)
            .fetch_one(&db.pool)
            .await
            .unwrap();
            jobs.push(id);
        }
        // The last scoring job still has an email to score.
        sqlx::query("INSERT INTO job_chunks (job_id, seq, email_ids, size) VALUES ($1, 1, $2, 1)")
            .bind(jobs[3])
            .bind(email.to_string())
            .execute(&db.pool)
            .await
            .unwrap();

        // Twice: the second round finds nothing to do and changes nothing.
        for _ in 0..2 {
            worker.recover_stalled_retrains().await.unwrap();
            worker.finish_completed().await.unwrap();
            let mut statuses = Vec::new();
            for id in &jobs {
                let status: String = sqlx::query_scalar("SELECT status FROM jobs WHERE id = $1")
                    .bind(id)
                    .fetch_one(&db.pool)
                    .await
                    .unwrap();
                statuses.push(status);
            }
            assert_eq!(statuses, ["queued", "running", "succeeded", "running"]);
        }
        db.close().await;
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// A job whose stored parameters cannot be read (a bad edit, a version that
    /// wrote them differently) fails with why; it never runs as some default job.
    #[tokio::test]
    async fn a_job_with_unreadable_parameters_fails_with_why_instead_of_running() {
        let (db, dir) = crate::demo::demo_database("corrupt-job").await;
        let worker = Worker::new(
            db.clone(),
            AwsCredentials::default(),
            WorkerSettings::default(),
        );
        let mut jobs = Vec::new();
        for (kind, params) in [
            (
                "rescore",
                "{\"kind\": \"rescore\", \"filter\": {\"status\": \"lost\"}}",
            ),
            ("retrain", "not json at all"),
            ("score", "{\"kind\": \"retrain\"}"),
        ] {
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO jobs (kind, status, params, created_at) \
                 VALUES ($1, 'queued', $2, $3) RETURNING id",
            )
            .bind(kind)
            .bind(params)
            .bind(now_ms())
            .fetch_one(&db.pool)
            .await
            .unwrap();
            jobs.push(id);
        }
        worker.run_until_idle().await.unwrap();
        for (id, says) in jobs.into_iter().zip([
            "unknown variant `lost`",
            "expected ident",
            "its parameters are for a retrain job",
        ]) {
            let job = super::super::get(&db, id).await.unwrap();
            assert_eq!(job.status, JobStatus::Failed, "job {id}");
            let error = job.error.unwrap_or_default();
            assert!(error.contains(says), "job {id}: {error}");
            assert_eq!(job.total, 0, "job {id} targeted nothing");
        }
        let models: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM models")
            .fetch_one(&db.pool)
            .await
            .unwrap();
        assert_eq!(models, 0, "no retrain ran");
        db.close().await;
        std::fs::remove_dir_all(dir).unwrap();
    }
}
