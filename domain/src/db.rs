//! One data-access layer for both databases: sqlx's `AnyPool`, with one migration
//! folder per dialect. See docs/architecture.md for the rules every query follows
//! (`$n` placeholders, `BIGINT` milliseconds, no native booleans or timestamps).

use sqlx::any::AnyPoolOptions;
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Executor};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/postgres");

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    pub fn of_url(url: &str) -> Option<Dialect> {
        if url.starts_with("sqlite:") {
            Some(Dialect::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Dialect::Postgres)
        } else {
            None
        }
    }

    /// The dialect of a connection from either pool.
    pub fn of(conn: &sqlx::AnyConnection) -> Dialect {
        if conn.backend_name() == "PostgreSQL" {
            Dialect::Postgres
        } else {
            Dialect::Sqlite
        }
    }
}

/// The placeholders of a multi-row `VALUES`: `rows` groups of `width`, numbered
/// on PostgreSQL (`($1,$2),($3,$4)`) and plain on SQLite (`(?,?),(?,?)`). sqlx-sqlite
/// looks every numbered parameter's name up in a list, a cost that grows with the
/// square of their count (a ninth of a scoring job's database time with 900 per
/// statement); plain `?` are bound in order.
pub fn values_placeholders(dialect: Dialect, rows: usize, width: usize) -> String {
    let mut sql = String::with_capacity(rows * width * 5);
    for row in 0..rows {
        sql.push_str(if row == 0 { "(" } else { ",(" });
        for column in 0..width {
            if column > 0 {
                sql.push(',');
            }
            match dialect {
                Dialect::Sqlite => sql.push('?'),
                Dialect::Postgres => {
                    sql.push('$');
                    sql.push_str(&(row * width + column + 1).to_string());
                }
            }
        }
        sql.push(')');
    }
    sql
}

/// The process's connections, and which database it talks to.
#[derive(Clone, Debug)]
pub struct Db {
    /// For reads, and for single-statement writes.
    pub pool: AnyPool,
    pub dialect: Dialect,
    /// SQLite only: the one connection that write transactions use (see
    /// [`Db::begin_write`]).
    writer: Option<AnyPool>,
    /// SQLite only: the connection that copies the write-ahead log into the database
    /// file, in the background (see [`keep_checkpointing`]).
    checkpointer: Option<AnyPool>,
    /// SQLite only: which emails recent searches matched (see [`crate::search_hits`]).
    pub search_hits: Arc<crate::search_hits::SearchHits>,
    /// SQLite only: writes waiting to be done together (see [`crate::group_commit`]).
    pub(crate) write_queue: Arc<crate::group_commit::WriteQueue>,
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("DATABASE_URL must start with sqlite: or postgres:// (got {0:?})")]
    UnsupportedUrl(String),
    #[error("cannot create the data folder {path}: {source}")]
    DataFolder {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot connect to the database: {0}")]
    Connect(sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl Db {
    /// Connects (creating a SQLite file and its folder when missing).
    pub async fn connect(url: &str, max_connections: u32) -> Result<Db, DbError> {
        sqlx::any::install_default_drivers();
        let dialect = Dialect::of_url(url).ok_or_else(|| DbError::UnsupportedUrl(redact(url)))?;
        let url = match dialect {
            Dialect::Sqlite => prepare_sqlite_url(url)?,
            Dialect::Postgres => url.to_string(),
        };
        let options = AnyPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(10));
        let (pool, writer, checkpointer) = match dialect {
            Dialect::Sqlite => {
                let pool = sqlite_options(options, READER_CACHE_KIB, BUSY_MS)
                    .connect(&url)
                    .await
                    .map_err(DbError::Connect)?;
                // Writers wait their turn for this connection as they waited for
                // SQLite's lock (BUSY_MS), a little longer.
                let writer = AnyPoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(Duration::from_secs(30));
                let writer = sqlite_options(writer, WRITER_CACHE_KIB, BUSY_MS)
                    .connect(&url)
                    .await
                    .map_err(DbError::Connect)?;
                let checkpointer = sqlite_options(
                    AnyPoolOptions::new().max_connections(1),
                    CHECKPOINTER_CACHE_KIB,
                    CHECKPOINTER_BUSY_MS,
                )
                .connect(&url)
                .await
                .map_err(DbError::Connect)?;
                tokio::spawn(keep_checkpointing(
                    checkpointer.clone(),
                    writer.clone(),
                    FileSync::new(sqlite_path(&url)),
                ));
                (pool, Some(writer), Some(checkpointer))
            }
            Dialect::Postgres => (
                options.connect(&url).await.map_err(DbError::Connect)?,
                None,
                None,
            ),
        };
        Ok(Db {
            pool,
            dialect,
            writer,
            checkpointer,
            search_hits: Arc::default(),
            write_queue: Arc::default(),
        })
    }

    /// Brings the schema up to date. Called at start-up and by `triage migrate`; an
    /// error stops the program rather than letting it run on a half-migrated schema.
    pub async fn migrate(&self) -> Result<(), DbError> {
        let migrator = match self.dialect {
            Dialect::Sqlite => &SQLITE_MIGRATIONS,
            Dialect::Postgres => &POSTGRES_MIGRATIONS,
        };
        let moves_bodies = self.dialect == Dialect::Sqlite
            && self.has_table("emails").await?
            && !self.has_table("email_bodies").await?;
        migrator.run(&self.pool).await?;
        if moves_bodies {
            // Moving the bodies out (0008) left each email alone on its old page;
            // VACUUM packs the narrow rows together (it cannot run in a migration's
            // transaction). A database created by this version never needs it.
            sqlx::query("VACUUM")
                .execute(&self.pool)
                .await
                .map_err(sqlx::migrate::MigrateError::Execute)?;
        }
        Ok(())
    }

    /// Whether a table exists (SQLite only).
    async fn has_table(&self, name: &str) -> Result<bool, sqlx::migrate::MigrateError> {
        let found: Option<i64> =
            sqlx::query_scalar("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = $1")
                .bind(name)
                .fetch_optional(&self.pool)
                .await
                .map_err(sqlx::migrate::MigrateError::Execute)?;
        Ok(found.is_some())
    }

    /// A transaction that will write. On SQLite it runs on the one writer
    /// connection and takes the write lock at once (`BEGIN IMMEDIATE`).
    ///
    /// Why one writer: SQLite lets one connection write at a time anyway, and
    /// - a writer that finds the lock taken sleeps in growing steps (1, 2, 5, 10,
    ///   15 ms…) before it looks again, so with many writers (a job's lanes, agents
    ///   labelling at once) much of the time went to sleeping past the moment the
    ///   lock came free; waiting for the connection hands it over at once, in order;
    /// - a connection drops its page cache whenever another connection has written,
    ///   so transactions spread over the pool read their pages from the file again
    ///   and again; the writer keeps its cache because only it writes in transactions;
    /// - a transaction that first reads and then writes fails with "database is
    ///   locked" when another writer committed in between (`BEGIN IMMEDIATE` avoids
    ///   that; preparing an insert into `emails` reads the full-text index's settings
    ///   before writing).
    pub async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
        match &self.writer {
            Some(writer) => writer.begin_with("BEGIN IMMEDIATE").await,
            None => self.pool.begin().await,
        }
    }

    /// SQLite only: the one writer connection's pool.
    pub(crate) fn writer_pool(&self) -> Option<&AnyPool> {
        self.writer.as_ref()
    }

    /// Closes every connection (before a SQLite file is removed, or at exit).
    pub async fn close(&self) {
        self.pool.close().await;
        for pool in [&self.writer, &self.checkpointer].into_iter().flatten() {
            pool.close().await;
        }
    }

    /// True when the database answers a trivial query.
    pub async fn is_ready(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }
}

/// Page cache of each reading connection. A connection drops its cache whenever
/// another one has written, so a big one would mostly be refilled, and the pool has
/// many connections; the operating system's file cache holds the file anyway.
/// (A memory map of the file read no faster, ~4% slower queue pages without one, and
/// counted the mapped file in the process's resident memory once per connection.)
const READER_CACHE_KIB: i64 = 2_000;
/// Page cache of the one writer, which keeps it: the index pages a job or a label
/// touches stay in memory from one transaction to the next. Measured with 100,000
/// emails (workspace_bench): 32 MB filled up under labelling and took the server past
/// its 100 MiB; with 8 MB (and 4 allocator arenas, server/src/main.rs) it peaked at
/// 93 MiB, with ~10% fewer labels/s (2,231 instead of 2,509; still 4× the target).
const WRITER_CACHE_KIB: i64 = 8_000;
/// How long a statement waits for another process's lock before "database is
/// locked".
const BUSY_MS: i64 = 10_000;
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

/// WAL lets readers work while one writer writes; the busy timeout makes a writer
/// of another process wait instead of failing with "database is locked".
///
/// No connection copies the log into the database file when it commits
/// (`wal_autocheckpoint = 0`): the commit that crossed SQLite's threshold did the
/// copying, and its file sync, while every other writer waited (labels: p99 58 ms
/// instead of 17 ms). [`keep_checkpointing`] does it beside them instead.
///
/// Temporary files stay in memory (`temp_store`): a statement that writes many rows
/// keeps a journal of its own to undo just itself, and past 64 KiB SQLite moved it
/// to a file it created and deleted again, statement after statement (a job's
/// database thread spent ~2% of its time in the kernel's file deletion).
fn sqlite_options(options: AnyPoolOptions, cache_kib: i64, busy_ms: i64) -> AnyPoolOptions {
    options.after_connect(move |conn, _meta| {
        Box::pin(async move {
            conn.execute(
                format!(
                    "PRAGMA journal_mode = WAL; PRAGMA busy_timeout = {busy_ms}; \
                     PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL; \
                     PRAGMA cache_size = -{cache_kib}; PRAGMA wal_autocheckpoint = 0; \
                     PRAGMA temp_store = MEMORY;"
                )
                .as_str(),
            )
            .await?;
            Ok(())
        })
    })
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
    open: Option<(PathBuf, Arc<[std::fs::File; 2]>)>,
    /// The log's size and copied pages at the last flush: an idle database needs
    /// no flush every checkpoint.
    flushed: (i64, i64),
}

/// The files every [`FileSync`] of this process has open, per database, with how
/// many use them. Closing any descriptor of a file drops every POSIX lock the process
/// holds on it, SQLite's included; so a file is closed only when no checkpointer of
/// the process uses it any more, which is after its connections were closed
/// ([`Db::close`] closes the checkpointer's pool last).
static OPEN_FILES: Mutex<BTreeMap<PathBuf, (Arc<[std::fs::File; 2]>, usize)>> =
    Mutex::new(BTreeMap::new());

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
fn share_open_files(database: &Path) -> Option<(PathBuf, Arc<[std::fs::File; 2]>)> {
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

/// The database file a SQLite URL names; `None` for an in-memory database.
fn sqlite_path(url: &str) -> Option<&Path> {
    let rest = url.trim_start_matches("sqlite:").trim_start_matches("//");
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && path != ":memory:" && !url.contains("mode=memory"))
        .then(|| Path::new(path))
}

/// Makes sure SQLite creates the file (`mode=rwc`) and that its folder exists.
fn prepare_sqlite_url(url: &str) -> Result<String, DbError> {
    if let Some(path) = sqlite_path(url)
        && let Some(parent) = path.parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent).map_err(|source| DbError::DataFolder {
            path: parent.display().to_string(),
            source,
        })?;
    }
    if url.contains("mode=") {
        Ok(url.to_string())
    } else if url.contains('?') {
        Ok(format!("{url}&mode=rwc"))
    } else {
        Ok(format!("{url}?mode=rwc"))
    }
}

/// The URL without its password, for messages and logs.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{}{}:***{}", &url[..scheme_end + 3], user, &url[at..])
        }
        _ => url.to_string(),
    }
}

/// A new SQLite database in a folder of its own, with one table
/// `t (id INTEGER PRIMARY KEY, v <value_type>)`; the caller removes the folder.
#[cfg(test)]
pub(crate) async fn scratch_database(name: &str, value_type: &str) -> (Db, PathBuf) {
    let dir = std::env::temp_dir().join(format!("triage-{name}-{}", std::process::id()));
    let db = Db::connect(&format!("sqlite://{}/{name}.db", dir.display()), 2)
        .await
        .unwrap();
    sqlx::query(&format!(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, v {value_type})"
    ))
    .execute(&db.pool)
    .await
    .unwrap();
    (db, dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(
            redact("postgres://triage:s3cret@db:5432/triage"),
            "postgres://triage:***@db:5432/triage"
        );
        assert_eq!(redact("sqlite://data/triage.db"), "sqlite://data/triage.db");
    }

    #[test]
    fn sqlite_urls_create_their_file() {
        let dir = std::env::temp_dir().join(format!("triage-url-{}", std::process::id()));
        let url = format!("sqlite://{}/x.db", dir.display());
        assert_eq!(prepare_sqlite_url(&url).unwrap(), format!("{url}?mode=rwc"));
        assert!(dir.exists());
        std::fs::remove_dir_all(dir).unwrap();
    }

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

    #[test]
    fn multi_row_placeholders_are_numbered_on_postgres_and_plain_on_sqlite() {
        assert_eq!(
            values_placeholders(Dialect::Postgres, 2, 3),
            "($1,$2,$3),($4,$5,$6)"
        );
        assert_eq!(
            values_placeholders(Dialect::Sqlite, 2, 3),
            "(?,?,?),(?,?,?)"
        );
        assert_eq!(values_placeholders(Dialect::Sqlite, 0, 3), "");
    }

    #[test]
    fn only_sqlite_and_postgres_urls_are_accepted() {
        assert_eq!(Dialect::of_url("sqlite:x.db"), Some(Dialect::Sqlite));
        assert_eq!(
            Dialect::of_url("postgresql://h/db"),
            Some(Dialect::Postgres)
        );
        assert_eq!(Dialect::of_url("mysql://h/db"), None);
    }
}

/// A nullable double as a query parameter: text, for the SQL to cast with
/// `CAST($n AS DOUBLE PRECISION)`. sqlx 0.8.6's Any driver sends a NULL double to
/// PostgreSQL as a `real` (it swaps the two kinds), and the statement it prepared
/// then refuses a later non-NULL double on the same connection ("incorrect binary
/// data format in bind parameter"). Text is text either way; Rust writes a double's
/// shortest exact form, so nothing is lost.
pub fn nullable_double(value: Option<f64>) -> Option<String> {
    value.map(|v| v.to_string())
}

/// Sets a row's nullable timestamp flag (`retired_at`, `revoked_at`) to now, once.
/// `NotFound` when no row with this id has the flag unset. `table` and `column` come
/// from the code, never from a request.
pub async fn stamp_once(
    db: &Db,
    table: &'static str,
    column: &'static str,
    id: i64,
) -> crate::error::DomainResult<()> {
    let done = sqlx::query(&format!(
        "UPDATE {table} SET {column} = $1 WHERE id = $2 AND {column} IS NULL"
    ))
    .bind(crate::time::now_ms())
    .bind(id)
    .execute(&db.pool)
    .await?;
    if done.rows_affected() == 0 {
        return Err(crate::error::DomainError::NotFound);
    }
    Ok(())
}
