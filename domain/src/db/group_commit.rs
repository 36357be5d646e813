//! Group commit on SQLite: short writes that queue for the one writer connection
//! (see [`Db::begin_write`]; callers use [`Db::write_grouped`]) are done together, in one transaction, by whichever of
//! them gets the connection first.
//!
//! Why: a label is three small statements, but alone it also paid for `BEGIN
//! IMMEDIATE`, `COMMIT` and a hand-over of the connection, and each commit wrote
//! the pages it touched (the indexes of `emails` and `labels`, ~13 of them) to the
//! log again. With agents labelling at once the writer was the queue everyone
//! waited in. Done together, a group of labels shares one commit and writes each
//! shared page once, and the busier the writer, the larger the groups.
//!
//! A write that fails makes the group roll back; its writes are then done one by
//! one, each in its own transaction, so each gets its own answer and one bad
//! request never takes the others with it. A caller is answered only after its
//! write was committed (or failed). PostgreSQL writes in parallel on their own
//! connections, so there each write simply has its own transaction.
//!
//! [`Db::begin_write`]: crate::db::Db::begin_write
//! [`Db::write_grouped`]: crate::db::Db::write_grouped

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use sqlx::{AnyConnection, AnyPool, Connection};
use tokio::sync::oneshot;

use crate::error::{DomainError, DomainResult};

/// What a grouped write returns: a future borrowing the write and the connection.
pub type WriteFuture<'c, T> = Pin<Box<dyn Future<Output = DomainResult<T>> + Send + 'c>>;

/// A write that can share its transaction with others.
pub trait GroupedWrite: Send + 'static {
    type Output: Send + 'static;
    /// Does the write inside the transaction it is given. It may run a second
    /// time, alone, when another write of its group failed.
    fn write<'c>(&'c self, conn: &'c mut AnyConnection) -> WriteFuture<'c, Self::Output>;
}

/// Writes waiting for the SQLite writer, oldest first.
#[derive(Default)]
pub struct WriteQueue {
    next_ticket: AtomicU64,
    waiting: Mutex<Vec<Box<dyn Queued>>>,
}

impl std::fmt::Debug for WriteQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let waiting = self.waiting.lock().map(|w| w.len()).unwrap_or(0);
        f.debug_struct("WriteQueue")
            .field("waiting", &waiting)
            .finish()
    }
}

impl WriteQueue {
    fn push(&self, queued: Box<dyn Queued>) {
        self.waiting.lock().expect("write queue").push(queued);
    }

    fn take_all(&self) -> Vec<Box<dyn Queued>> {
        std::mem::take(&mut *self.waiting.lock().expect("write queue"))
    }

    /// Takes a write back out of the queue; false when a group already took it.
    fn withdraw(&self, ticket: u64) -> bool {
        let mut waiting = self.waiting.lock().expect("write queue");
        let before = waiting.len();
        waiting.retain(|q| q.ticket() != ticket);
        waiting.len() != before
    }
}

impl WriteQueue {
    /// Does `write` in a transaction on `writer` (SQLite's one writer connection),
    /// together with the writes waiting for it at the same time.
    pub(super) async fn write<W: GroupedWrite>(
        &self,
        writer: &AnyPool,
        write: W,
    ) -> DomainResult<W::Output> {
        let ticket = self.next_ticket.fetch_add(1, Ordering::Relaxed);
        let (reply, mut answer) = oneshot::channel();
        self.push(Box::new(Waiting {
            ticket,
            write,
            outcome: None,
            reply,
        }));
        tokio::select! {
            biased;
            done = &mut answer => return done.unwrap_or_else(|_| Err(dropped())),
            conn = writer.acquire() => match conn {
                Ok(conn) => {
                    let group = self.take_all();
                    // Empty: a group that just ended took this write with it.
                    if !group.is_empty() {
                        // Its own task: a caller that goes away (a closed request)
                        // must not stop a group that holds other callers' writes.
                        tokio::spawn(write_group(conn, group));
                    }
                }
                Err(e) => {
                    if self.withdraw(ticket) {
                        return Err(e.into());
                    }
                }
            },
        }
        answer.await.unwrap_or_else(|_| Err(dropped()))
    }

    #[cfg(test)]
    fn waiting(&self) -> usize {
        self.waiting.lock().map(|w| w.len()).unwrap_or(0)
    }
}

fn dropped() -> DomainError {
    DomainError::Internal("the write stopped before it was saved".into())
}

async fn write_group(
    mut conn: sqlx::pool::PoolConnection<sqlx::Any>,
    mut group: Vec<Box<dyn Queued>>,
) {
    if group.len() > 1 && write_together(&mut conn, &mut group).await {
        for queued in group {
            queued.reply();
        }
        return;
    }
    for mut queued in group {
        write_alone(&mut conn, &mut *queued).await;
        queued.reply();
    }
}

/// True when every write succeeded and the group was committed.
async fn write_together(conn: &mut AnyConnection, group: &mut [Box<dyn Queued>]) -> bool {
    let Ok(mut tx) = conn.begin_with("BEGIN IMMEDIATE").await else {
        return false;
    };
    for queued in group.iter_mut() {
        if !queued.run(&mut tx).await {
            let _ = tx.rollback().await;
            return false;
        }
    }
    tx.commit().await.is_ok()
}

async fn write_alone(conn: &mut AnyConnection, queued: &mut dyn Queued) {
    let mut tx = match conn.begin_with("BEGIN IMMEDIATE").await {
        Ok(tx) => tx,
        Err(e) => return queued.fail(e.into()),
    };
    if !queued.run(&mut tx).await {
        let _ = tx.rollback().await;
    } else if let Err(e) = tx.commit().await {
        queued.fail(e.into());
    }
}

/// A waiting write, whatever its type.
trait Queued: Send {
    fn ticket(&self) -> u64;
    /// Does the write and keeps its outcome; false when it failed.
    fn run<'c>(
        &'c mut self,
        conn: &'c mut AnyConnection,
    ) -> Pin<Box<dyn Future<Output = bool> + Send + 'c>>;
    fn fail(&mut self, error: DomainError);
    /// Answers the caller with the kept outcome.
    fn reply(self: Box<Self>);
}

struct Waiting<W: GroupedWrite> {
    ticket: u64,
    write: W,
    outcome: Option<DomainResult<W::Output>>,
    reply: oneshot::Sender<DomainResult<W::Output>>,
}

impl<W: GroupedWrite> Queued for Waiting<W> {
    fn ticket(&self) -> u64 {
        self.ticket
    }

    fn run<'c>(
        &'c mut self,
        conn: &'c mut AnyConnection,
    ) -> Pin<Box<dyn Future<Output = bool> + Send + 'c>> {
        Box::pin(async move {
            let outcome = self.write.write(conn).await;
            let written = outcome.is_ok();
            self.outcome = Some(outcome);
            written
        })
    }

    fn fail(&mut self, error: DomainError) {
        self.outcome = Some(Err(error));
    }

    fn reply(self: Box<Self>) {
        let outcome = self.outcome.unwrap_or_else(|| Err(dropped()));
        let _ = self.reply.send(outcome);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Db;
    use std::time::Duration;

    /// Inserts a row, then fails when asked to: what it wrote must not be kept.
    struct Insert {
        value: String,
        fail: bool,
    }

    impl GroupedWrite for Insert {
        type Output = String;

        fn write<'c>(&'c self, conn: &'c mut AnyConnection) -> WriteFuture<'c, String> {
            Box::pin(async move {
                sqlx::query("INSERT INTO t (v) VALUES ($1)")
                    .bind(&self.value)
                    .execute(&mut *conn)
                    .await?;
                if self.fail {
                    return Err(DomainError::Conflict(format!("{} refused", self.value)));
                }
                Ok(self.value.clone())
            })
        }
    }

    /// Pages in the write-ahead log, all copied into the database file by this
    /// checkpoint.
    async fn log_frames(db: &Db) -> i64 {
        let (_, frames, _): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(&db.pool)
            .await
            .unwrap();
        frames
    }

    fn waiting(db: &Db) -> usize {
        db.write_queue().waiting()
    }

    #[tokio::test]
    async fn writes_that_wait_together_are_done_together_and_one_failure_costs_only_its_own() {
        let (db, dir) = crate::db::scratch_database("group", "TEXT NOT NULL").await;

        // Hold the writer so that every write below queues for it.
        let held = db.begin_write().await.unwrap();
        let mut writes = Vec::new();
        for i in 0..30 {
            let db = db.clone();
            writes.push(tokio::spawn(async move {
                db.write_grouped(Insert {
                    value: format!("row {i}"),
                    fail: i == 17,
                })
                .await
            }));
        }
        while waiting(&db) < 30 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        held.rollback().await.unwrap();

        for (i, write) in writes.into_iter().enumerate() {
            match write.await.unwrap() {
                Ok(value) => assert_eq!(value, format!("row {i}")),
                Err(DomainError::Conflict(message)) => {
                    assert_eq!(i, 17, "only the failing write fails");
                    assert_eq!(message, "row 17 refused");
                }
                Err(e) => panic!("write {i}: {e}"),
            }
        }
        let kept: Vec<String> = sqlx::query_scalar("SELECT v FROM t ORDER BY id")
            .fetch_all(&db.pool)
            .await
            .unwrap();
        assert_eq!(kept.len(), 29, "every other write was kept, once");
        assert!(
            !kept.contains(&"row 17".to_string()),
            "the failed write left nothing"
        );
        assert_eq!(waiting(&db), 0);

        // Without a failure they share one commit: the log holds the few pages of
        // one transaction, not a page or more per write. (Once a checkpoint copied
        // the whole log, the next transaction writes it again from the top.)
        log_frames(&db).await;
        let held = db.begin_write().await.unwrap();
        let together: Vec<_> = (0..20)
            .map(|i| {
                let db = db.clone();
                tokio::spawn(async move {
                    db.write_grouped(Insert {
                        value: format!("more {i}"),
                        fail: false,
                    })
                    .await
                })
            })
            .collect();
        while waiting(&db) < 20 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        held.rollback().await.unwrap();
        for (i, write) in together.into_iter().enumerate() {
            assert_eq!(write.await.unwrap().unwrap(), format!("more {i}"));
        }
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM t")
            .fetch_one(&db.pool)
            .await
            .unwrap();
        assert_eq!(count, 49);
        let frames = log_frames(&db).await;
        assert!(frames < 10, "20 writes added {frames} pages to the log");
        db.close().await;
        std::fs::remove_dir_all(dir).unwrap();
    }
}
