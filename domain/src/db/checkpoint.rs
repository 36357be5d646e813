//! SQLite's write-ahead log, copied into the database file in the background by a
//! connection of its own, so that no writer pays for it (see [`checkpoint`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;

use super::{sqlite_options, sqlite_path};

/// The checkpointer never lets SQLite wait for it (`busy_timeout = 0`): SQLite's
/// wait sleeps 1, 2, 5, 10 ms… between looks, and the restart holds every writer
/// while it waits for readers. [`restart_log`] looks again itself, at once.
const CHECKPOINTER_BUSY_MS: i64 = 0;
/// How long a restart may keep writers waiting for readers of older snapshots
/// (a long export, say) before it gives up until the next checkpoint.
const RESTART_PATIENCE: Duration = Duration::from_millis(20);
/// The checkpointer copies pages from the log to the file; it needs little cache.
const CHECKPOINTER_CACHE_KIB: i64 = 500;
/// The size of the write-ahead log (4 KiB pages) past which a checkpoint makes it
/// start again from the top. Each restart holds the writer ~6–8 ms; with 4,000 pages
/// labelling at ~2,500/s restarted it twice a second, and the writes held there were
/// the labels' p99 (23 ms). With 16,000 (a log of up to ~64 MB on disk): p99 19 ms,
/// 2,785 labels/s (workspace_bench, same hour).
const RESTART_LOG_FRAMES: i64 = 16_000;
/// How often the write-ahead log is copied into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(200);

/// Connects the checkpointer to the database at `url` (whose one writer is
/// `writer`) and starts it; it stops when its pool is closed.
pub(super) async fn start(url: &str, writer: &AnyPool) -> Result<AnyPool, sqlx::Error> {
    let checkpointer = sqlite_options(
        AnyPoolOptions::new().max_connections(1),
        CHECKPOINTER_CACHE_KIB,
        CHECKPOINTER_BUSY_MS,
    )
    .connect(url)
    .await?;
    tokio::spawn(keep_checkpointing(
        checkpointer.clone(),
        writer.clone(),
        FileSync::new(sqlite_path(url)),
    ));
    Ok(checkpointer)
}

/// Copies the write-ahead log into the database file every [`CHECKPOINT_EVERY`],
/// on its own connection, until the pool is closed.
async fn keep_checkpointing(checkpointer: AnyPool, writer: AnyPool, mut files: FileSync) {
    let mut restarted = 0;
    loop {
        tokio::time::sleep(CHECKPOINT_EVERY).await;
        if checkpointer.is_closed() {
            return;
        }
        if let Err(e) = checkpoint(&checkpointer, &writer, &mut files, &mut restarted).await {
            if checkpointer.is_closed() {
                return;
            }
            tracing::warn!(error = %e, "write-ahead log checkpoint failed");
        }
    }
}

/// One checkpoint, in two steps.
/// 1. A passive checkpoint copies what it can while writers go on appending to the
///    log and readers go on reading: nobody waits for it, nor it for anybody. Then
///    the pages it copied are flushed to the disk ([`FileSync`]), still while
///    nobody waits.
/// 2. The log starts again from the top only once all of it was copied and no
///    reader still reads from it, which never happens by itself while writers keep
///    writing (under the labels benchmark the log grew by ~90 MB/s). So once the log
///    holds more than [`RESTART_LOG_FRAMES`], a second passive round copies what
///    arrived during the first, and [`restart_log`] copies the last few
///    milliseconds' worth while writers wait.
///
/// `restarted` is the size of the log at the last restart: the log keeps its size
/// until the next write, and an idle database needs no second restart.
async fn checkpoint(
    checkpointer: &AnyPool,
    writer: &AnyPool,
    files: &mut FileSync,
    restarted: &mut i64,
) -> Result<(), sqlx::Error> {
    let log = copy_log_passively(checkpointer, files).await?;
    if log > RESTART_LOG_FRAMES && log != *restarted {
        copy_log_passively(checkpointer, files).await?;
        if let Some(log) = restart_log(checkpointer, writer).await? {
            *restarted = log;
        }
    }
    Ok(())
}

/// A passive checkpoint, then the copied pages flushed to the disk. The log's size
/// in pages.
async fn copy_log_passively(
    checkpointer: &AnyPool,
    files: &mut FileSync,
) -> Result<i64, sqlx::Error> {
    let (_busy, log, copied): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
        .fetch_one(checkpointer)
        .await?;
    files.sync((log, copied)).await;
    Ok(log)
}

/// Takes the writer connection, so that writers queue, copies what was written
/// since the passive step, and starts the log again from the top as soon as the
/// readers of older snapshots are done (readers that begin now read the file, not
/// the log). SQLite does not wait here (`busy_timeout = 0`): this loop asks again
/// at once, for at most [`RESTART_PATIENCE`]. The log's size in pages when it
/// restarted, `None` when readers kept it busy.
async fn restart_log(checkpointer: &AnyPool, writer: &AnyPool) -> Result<Option<i64>, sqlx::Error> {
    let _no_writes = writer.acquire().await?;
    let mut connection = checkpointer.acquire().await?;
    let started = std::time::Instant::now();
    let mut tries = 0;
    loop {
        tries += 1;
        let (busy, log, copied): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(RESTART)")
            .fetch_one(&mut *connection)
            .await?;
        if busy == 0 {
            let ms = started.elapsed().as_secs_f64() * 1000.0;
            tracing::debug!(log, copied, tries, ms, "write-ahead log restarted");
            return Ok(Some(log));
        }
        if started.elapsed() > RESTART_PATIENCE {
            return Ok(None);
        }
        tokio::task::yield_now().await;
    }
}

/// Flushes the database file and its log to the disk from the checkpointer's side.
///
/// SQLite flushes the database file only when a checkpoint reaches the end of the
/// log, which under steady writing is only the restart, while writers wait: it then
/// flushed every page the passive checkpoints had copied since the last restart
/// (~28 ms). Flushing after each passive checkpoint leaves the restart only its own
/// few pages.
struct FileSync {
    database: Option<PathBuf>,
    /// The files, under the database's full path (one file, however it is named).
    open: Option<(PathBuf, SharedFiles)>,
    /// The log's size and copied pages at the last flush: an idle database needs
    /// no flush every checkpoint.
    flushed: (i64, i64),
}

/// The files every [`FileSync`] of this process has open, per database, with how
/// many use them. Closing any descriptor of a file drops every POSIX lock the process
/// holds on it, SQLite's included; so a file is closed only when no checkpointer of
/// the process uses it any more, which is after its connections were closed
/// ([`Db::close`] closes the checkpointer's pool last).
static OPEN_FILES: Mutex<BTreeMap<PathBuf, (SharedFiles, usize)>> = Mutex::new(BTreeMap::new());

/// A database file and its log, open once for every checkpointer of the process.
type SharedFiles = Arc<[std::fs::File; 2]>;

impl FileSync {
    fn new(database: Option<&Path>) -> FileSync {
        FileSync {
            database: database.map(Path::to_path_buf),
            open: None,
            flushed: (0, 0),
        }
    }

    /// Flushes unless `checkpointed` (the log's size and copied pages) is what it
    /// was at the last flush. Best effort: SQLite still flushes what the restart
    /// copies, so a failure here costs time, never data.
    async fn sync(&mut self, checkpointed: (i64, i64)) {
        if checkpointed == self.flushed {
            return;
        }
        self.flushed = checkpointed;
        if self.open.is_none()
            && let Some(database) = &self.database
        {
            self.open = share_open_files(database);
        }
        if let Some((_, files)) = self.open.clone() {
            let _ = tokio::task::spawn_blocking(move || {
                for f in files.iter() {
                    let _ = f.sync_data();
                }
            })
            .await;
        }
    }
}

/// The database file and its log, opened once per process (`None` until the log
/// exists).
fn share_open_files(database: &Path) -> Option<(PathBuf, SharedFiles)> {
    let database = std::fs::canonicalize(database).ok()?;
    let mut open = OPEN_FILES.lock().expect("open files lock");
    if let Some((files, users)) = open.get_mut(&database) {
        *users += 1;
        return Some((database, files.clone()));
    }
    let mut log = database.as_os_str().to_owned();
    log.push("-wal");
    let files = Arc::new([
        std::fs::File::open(&database).ok()?,
        std::fs::File::open(log).ok()?,
    ]);
    open.insert(database.clone(), (files.clone(), 1));
    Some((database, files))
}

impl Drop for FileSync {
    fn drop(&mut self) {
        if let Some((database, _)) = self.open.take() {
            let mut open = OPEN_FILES.lock().expect("open files lock");
            if let Some((_, users)) = open.get_mut(&database) {
                *users -= 1;
                if *users == 0 {
                    open.remove(&database);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::scratch_database;

    /// No commit copies the log (`wal_autocheckpoint = 0`), so without the background
    /// checkpointer the log would only grow: here to 3 × RESTART_LOG_FRAMES pages.
    #[tokio::test]
    async fn the_write_ahead_log_is_copied_and_started_again_in_the_background() {
        let (db, dir) = scratch_database("wal", "BLOB").await;
        // Rows of about 4 pages, in 24 bursts with a checkpoint's interval between.
        let rows_per_burst = RESTART_LOG_FRAMES / 32;
        for _ in 0..24 {
            for _ in 0..rows_per_burst {
                let mut tx = db.begin_write().await.unwrap();
                sqlx::query("INSERT INTO t (v) VALUES (zeroblob(16000))")
                    .execute(&mut *tx)
                    .await
                    .unwrap();
                tx.commit().await.unwrap();
            }
            tokio::time::sleep(CHECKPOINT_EVERY).await;
        }
        let log_bytes = std::fs::metadata(dir.join("wal.db-wal")).unwrap().len();
        assert!(
            log_bytes < (RESTART_LOG_FRAMES * 2 * 4096) as u64,
            "the log grew to {log_bytes} bytes"
        );
        let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM t")
            .fetch_one(&db.pool)
            .await
            .unwrap();
        assert_eq!(rows, 24 * rows_per_burst, "every write is kept");
        db.close().await;
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// One database file, however its path is spelled, is opened once per process
    /// and closed only when its last user is gone (closing drops SQLite's locks).
    #[test]
    fn flushing_checkpointers_share_one_open_file_until_the_last_is_dropped() {
        let dir = std::env::temp_dir().join(format!("triage-share-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let database = dir.join("s.db");
        std::fs::write(&database, b"").unwrap();
        let other_spelling = dir.join(".").join("s.db");
        let full = std::fs::canonicalize(&database).unwrap();
        let users = || OPEN_FILES.lock().unwrap().get(&full).map(|(_, n)| *n);

        let mut first = FileSync::new(Some(&database));
        first.open = share_open_files(&database);
        assert!(first.open.is_none(), "no log yet: nothing opened");
        std::fs::write(dir.join("s.db-wal"), b"").unwrap();
        first.open = share_open_files(&database);
        let mut second = FileSync::new(Some(&other_spelling));
        second.open = share_open_files(&other_spelling);
        assert_eq!(users(), Some(2));
        assert!(Arc::ptr_eq(
            &first.open.as_ref().unwrap().1,
            &second.open.as_ref().unwrap().1
        ));
        drop(first);
        assert_eq!(users(), Some(1), "still open for the second");
        drop(second);
        assert_eq!(users(), None, "closed with the last");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
