//! One data-access layer for both databases: sqlx's `AnyPool`, with one migration
//! folder per dialect, and SQLite's one writer. See docs/architecture.md for the
//! rules every query follows (`$n` placeholders, `BIGINT` milliseconds, no native
//! booleans or timestamps); `crate::sql` has the helpers for writing them.
//!
//! SQLite's writer has two helpers of its own: [`group_commit`] (short writes that
//! wait for the writer share a transaction) and [`checkpoint`] (the write-ahead log
//! is copied into the file in the background).

mod checkpoint;
pub mod group_commit;

use sqlx::any::AnyPoolOptions;
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Executor};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::error::DomainResult;
use group_commit::{GroupedWrite, WriteQueue};

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
    /// file, in the background (see [`checkpoint`]).
    checkpointer: Option<AnyPool>,
    /// SQLite only: which emails recent searches matched (see [`crate::search_hits`]).
    pub search_hits: Arc<crate::search_hits::SearchHits>,
    /// PostgreSQL only: how many emails recent searches matched (see
    /// [`crate::search_hits::SearchCounts`]).
    pub search_counts: Arc<crate::search_hits::SearchCounts>,
    /// SQLite only: writes waiting to be done together (see [`group_commit`]).
    write_queue: Arc<WriteQueue>,
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
                let checkpointer = checkpoint::start(&url, &writer)
                    .await
                    .map_err(DbError::Connect)?;
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
            search_counts: Arc::default(),
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

    /// Does `write` in a transaction, on SQLite together with the writes that are
    /// waiting for the writer at the same time (see [`group_commit`]).
    pub async fn write_grouped<W: GroupedWrite>(&self, write: W) -> DomainResult<W::Output> {
        match &self.writer {
            Some(writer) => self.write_queue.write(writer, write).await,
            None => {
                let mut tx = self.begin_write().await?;
                let out = write.write(&mut tx).await?;
                tx.commit().await?;
                Ok(out)
            }
        }
    }

    #[cfg(test)]
    pub(crate) fn write_queue(&self) -> &WriteQueue {
        &self.write_queue
    }

    /// Closes every connection (before a SQLite file is removed, or at exit).
    pub async fn close(&self) {
        self.pool.close().await;
        for pool in [&self.writer, &self.checkpointer].into_iter().flatten() {
            pool.close().await;
        }
    }

    /// True when the database answers a trivial query.
    /// A consistent copy of a SQLite database into a new file, taken while Triage
    /// runs: `VACUUM INTO` reads one snapshot (a transaction), so labels written
    /// meanwhile are either wholly in the copy or wholly after it. PostgreSQL has its
    /// own tool for this (`pg_dump`), named in the error.
    pub async fn backup_to(&self, path: &std::path::Path) -> crate::error::DomainResult<()> {
        use crate::error::DomainError;
        if self.dialect == Dialect::Postgres {
            return Err(DomainError::invalid(
                "database",
                "back up PostgreSQL with its own tool: pg_dump --format=custom \
                 --file=triage.dump \"$DATABASE_URL\" (restore with pg_restore)",
            ));
        }
        if path.exists() {
            return Err(DomainError::invalid(
                "file",
                format!("{} exists already; choose a new file", path.display()),
            ));
        }
        sqlx::query("VACUUM INTO $1")
            .bind(path.to_string_lossy().into_owned())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn is_ready(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }
}

/// Page cache of each reading connection. A connection drops its cache whenever
/// another one has written, so a big one would mostly be refilled, and the pool has
/// many connections; the operating system's file cache holds the file anyway.
/// (A memory map of the file read no faster, ~4% slower queue pages without one, and
/// counted the mapped file in the process's resident memory once per connection.)
///
/// 1 MB, not 2: with real mail's long bodies the server peaked at 118 MiB. This and
/// the walk's covering index (migration 0009) came in one build, which peaked at
/// 92 MiB; the two were not measured apart.
const READER_CACHE_KIB: i64 = 1_000;
/// Page cache of the one writer, which keeps it: the index pages a job or a label
/// touches stay in memory from one transaction to the next. Measured with 100,000
/// emails (workspace_bench): 32 MB filled up under labelling and took the server past
/// its 100 MiB; with 8 MB (and 4 allocator arenas, server/src/main.rs) it peaked at
/// 93 MiB, with ~10% fewer labels/s (2,231 instead of 2,509; still 4× the target).
const WRITER_CACHE_KIB: i64 = 8_000;
/// How long a statement waits for another process's lock before "database is
/// locked".
const BUSY_MS: i64 = 10_000;
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
pub(crate) async fn scratch_database(name: &str, value_type: &str) -> (Db, std::path::PathBuf) {
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
