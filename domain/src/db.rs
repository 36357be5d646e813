//! One data-access layer for both databases: sqlx's `AnyPool`, with one migration
//! folder per dialect. See docs/architecture.md for the rules every query follows
//! (`$n` placeholders, `BIGINT` milliseconds, no native booleans or timestamps).

use sqlx::any::AnyPoolOptions;
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Executor};
use std::path::Path;
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
        let (pool, writer) = match dialect {
            Dialect::Sqlite => {
                let pool = sqlite_options(options, READER_CACHE_KIB)
                    .connect(&url)
                    .await
                    .map_err(DbError::Connect)?;
                // Writers wait their turn for this connection as they waited for
                // SQLite's lock (its busy timeout is 10 s), a little longer.
                let writer = AnyPoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(Duration::from_secs(30));
                let writer = sqlite_options(writer, WRITER_CACHE_KIB)
                    .connect(&url)
                    .await
                    .map_err(DbError::Connect)?;
                (pool, Some(writer))
            }
            Dialect::Postgres => (options.connect(&url).await.map_err(DbError::Connect)?, None),
        };
        Ok(Db {
            pool,
            dialect,
            writer,
        })
    }

    /// Brings the schema up to date. Called at start-up and by `triage migrate`; an
    /// error stops the program rather than letting it run on a half-migrated schema.
    pub async fn migrate(&self) -> Result<(), DbError> {
        let migrator = match self.dialect {
            Dialect::Sqlite => &SQLITE_MIGRATIONS,
            Dialect::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator.run(&self.pool).await?;
        Ok(())
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

    /// Closes every connection (before a SQLite file is removed, or at exit).
    pub async fn close(&self) {
        self.pool.close().await;
        if let Some(writer) = &self.writer {
            writer.close().await;
        }
    }

    /// True when the database answers a trivial query.
    pub async fn is_ready(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }
}

/// Page cache of each reading connection. A connection drops its cache whenever
/// another one has written, so a big one would mostly be refilled, and the pool has
/// many connections; the memory map serves their reads from the operating system's
/// file cache without a copy.
const READER_CACHE_KIB: i64 = 2_000;
/// Page cache of the one writer, which keeps it: the index pages a job or a label
/// touches stay in memory from one transaction to the next.
const WRITER_CACHE_KIB: i64 = 32_000;
/// Memory map of the database file, for every connection: address space, not memory
/// of the process (the pages are the operating system's file cache).
const MMAP_BYTES: i64 = 1 << 30;
/// Pages in the write-ahead log before a commit copies them into the database file
/// (SQLite's default is 1,000). A busy writer rewrites the same index pages again and
/// again; a longer log copies each of them once, with fewer file syncs.
const CHECKPOINT_PAGES: i64 = 10_000;

/// WAL lets readers work while one writer writes; the busy timeout makes a writer
/// of another process wait instead of failing with "database is locked".
fn sqlite_options(options: AnyPoolOptions, cache_kib: i64) -> AnyPoolOptions {
    options.after_connect(move |conn, _meta| {
        Box::pin(async move {
            conn.execute(
                format!(
                    "PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 10000; \
                     PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL; \
                     PRAGMA cache_size = -{cache_kib}; PRAGMA mmap_size = {MMAP_BYTES}; PRAGMA wal_autocheckpoint = {CHECKPOINT_PAGES};"
                )
                .as_str(),
            )
            .await?;
            Ok(())
        })
    })
}

/// Makes sure SQLite creates the file (`mode=rwc`) and that its folder exists.
fn prepare_sqlite_url(url: &str) -> Result<String, DbError> {
    let rest = url.trim_start_matches("sqlite:").trim_start_matches("//");
    let path = rest.split('?').next().unwrap_or_default();
    if !path.is_empty()
        && path != ":memory:"
        && let Some(parent) = Path::new(path).parent()
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
