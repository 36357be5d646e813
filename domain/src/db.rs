//! One data-access layer for both databases: sqlx's `AnyPool`, with one migration
//! folder per dialect. See docs/architecture.md for the rules every query follows
//! (`$n` placeholders, `BIGINT` milliseconds, no native booleans or timestamps).

use sqlx::any::AnyPoolOptions;
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Executor};
use std::path::Path;
use std::sync::Arc;
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

/// The one pool of the process, and which database it talks to.
#[derive(Clone, Debug)]
pub struct Db {
    pub pool: AnyPool,
    pub dialect: Dialect,
    /// SQLite only: whose turn it is to write (see [`Db::begin_write`]).
    write_turn: Option<Arc<tokio::sync::Mutex<()>>>,
}

/// A write transaction from [`Db::begin_write`]. Use it like sqlx's (`&mut *tx` is
/// the connection); on SQLite it holds the process's turn at writing until it is
/// committed or dropped.
pub struct WriteTx {
    tx: sqlx::Transaction<'static, sqlx::Any>,
    _turn: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl WriteTx {
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await
    }

    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        self.tx.rollback().await
    }
}

impl std::ops::Deref for WriteTx {
    type Target = sqlx::AnyConnection;
    fn deref(&self) -> &sqlx::AnyConnection {
        &self.tx
    }
}

impl std::ops::DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut sqlx::AnyConnection {
        &mut self.tx
    }
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
        let options = match dialect {
            // WAL lets readers work while one writer writes; the busy timeout makes a
            // second writer wait instead of failing with "database is locked".
            Dialect::Sqlite => options.after_connect(|conn, _meta| {
                Box::pin(async move {
                    conn.execute(
                        "PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 10000; \
                         PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;",
                    )
                    .await?;
                    Ok(())
                })
            }),
            Dialect::Postgres => options,
        };
        let pool = options.connect(&url).await.map_err(DbError::Connect)?;
        let write_turn = match dialect {
            Dialect::Sqlite => Some(Arc::new(tokio::sync::Mutex::new(()))),
            Dialect::Postgres => None,
        };
        Ok(Db {
            pool,
            dialect,
            write_turn,
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

    /// A transaction that will write. On SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`): a transaction that first reads and then writes fails with
    /// "database is locked" when another writer committed in between, and preparing
    /// an insert into `emails` reads the full-text index's settings before writing.
    ///
    /// SQLite has one writer at a time, and a writer that finds the lock taken sleeps
    /// in growing steps (1, 2, 5, 10, 15 ms…) before it looks again, so with many
    /// writers most of the time went to sleeping past the moment the lock came free
    /// (a job's lanes, 16 agents labelling at once). Writers of this process take
    /// turns in order here instead, and only wait on SQLite's lock for other processes.
    pub async fn begin_write(&self) -> Result<WriteTx, sqlx::Error> {
        let turn = match &self.write_turn {
            Some(turn) => Some(Arc::clone(turn).lock_owned().await),
            None => None,
        };
        let tx = match self.dialect {
            Dialect::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Dialect::Postgres => self.pool.begin().await?,
        };
        Ok(WriteTx { tx, _turn: turn })
    }

    /// True when the database answers a trivial query.
    pub async fn is_ready(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }
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
