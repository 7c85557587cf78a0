//! The embedded store: one SQLite database in WAL mode holding the registry, device sessions,
//! meter readings, device values and status changes, and the raw uplink archive.
//!
//! All writes go through one writer thread that commits whatever has queued up as one transaction
//! (group commit), each job inside its own savepoint so a failing job costs no other job its
//! write. A caller learns its result only after the commit is durable. A checkpointer thread
//! copies committed pages from the WAL into the database file. Reads run on a small pool of
//! read connections on tokio's blocking threads; WAL lets them proceed while the writer commits.

mod checkpointer;
mod migrations;
mod packed;
mod writer;

pub mod devices;
pub mod gateways;
pub mod houses;
pub mod meters;
pub mod nbiot;
pub mod queue;
pub mod readings;
pub mod series;
pub mod sessions;
pub mod tokens;
pub mod uplinks;
pub mod users;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;
use rusqlite::{Connection, OpenFlags};

pub use writer::{Completion, Job, StoreMetrics, WRITER_THREAD, Writer, in_savepoint};

/// Prepared statements kept per connection. Storing an uplink alone runs some twenty distinct
/// statements; with fewer kept, each uplink would parse SQL again.
const STATEMENT_CACHE: usize = 128;

/// The writer's page cache, KiB. Small on purpose: when a commit split a B-tree page (nearly
/// every commit of uplinks does), SQLite has moved a page to a temporary number past the end of
/// the database, and ending the transaction then walks the whole cache to drop it, 6 % of the
/// writer's time with 16 MiB. With 4 MiB the writer spent 74–76 µs per uplink instead of 84–86
/// (`meterd bench --rate 8000`, 3 runs each); 2 MiB did no better. Misses are served from the
/// kernel's page cache.
const WRITER_CACHE_KIB: i64 = 4 * 1024;
/// Each read connection's page cache, KiB: reads are served from the kernel's page cache as
/// well, and one connection per concurrent request is kept.
const READER_CACHE_KIB: i64 = 8 * 1024;
/// WAL pages after which the writer checkpoints by itself (SQLite's default is 1 000, 4 MiB):
/// the bound on the WAL's size should the checkpointer thread fall behind. The checkpointer
/// copies pages out every 200 ms and has the WAL started over from 4 096 pages, so this bound
/// is rarely reached.
const WAL_AUTOCHECKPOINT_PAGES: i64 = 16 * 1024;

/// File name of the database inside the data directory.
const DATABASE_FILE: &str = "meterd.sqlite3";

/// Why a store operation failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sqlite(Arc<rusqlite::Error>),
    #[error("cannot create data directory {path}: {message}")]
    DataDir { path: PathBuf, message: String },
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("the store is shutting down")]
    Closed,
    #[error("cannot start the store's writer thread: {0}")]
    Thread(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(error: rusqlite::Error) -> Self {
        StoreError::Sqlite(Arc::new(error))
    }
}

impl StoreError {
    /// Whether the error is a UNIQUE or PRIMARY KEY violation: the object already exists.
    pub fn is_duplicate(&self) -> bool {
        matches!(
            self,
            StoreError::Sqlite(error) if matches!(
                error.sqlite_error_code(),
                Some(rusqlite::ErrorCode::ConstraintViolation)
            ) && error.to_string().contains("UNIQUE")
        )
    }
}

/// Settings of the `[storage]` section the store needs.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    pub data_dir: PathBuf,
    /// Jobs committed together at most.
    pub max_batch: usize,
    /// Jobs waiting for the writer at most; submitters wait beyond it.
    pub queue: usize,
    /// How long the writer gathers jobs after the first before committing them together.
    pub commit_delay: std::time::Duration,
}

/// A handle to the store; cheap to clone.
#[derive(Clone)]
pub struct Store {
    writer: Writer,
    readers: Arc<ReadPool>,
}

impl Store {
    /// Opens (creating if needed) the database, runs pending migrations and starts the writer.
    pub fn open(options: &StoreOptions) -> Result<Self, StoreError> {
        std::fs::create_dir_all(&options.data_dir).map_err(|error| StoreError::DataDir {
            path: options.data_dir.clone(),
            message: error.to_string(),
        })?;
        let path = options.data_dir.join(DATABASE_FILE);
        let mut connection = open_connection(&path, OpenFlags::default(), WRITER_CACHE_KIB)?;
        connection.pragma_update(None, "wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES)?;
        migrations::run(&mut connection)?;
        let checkpointer = checkpointer::Checkpointer::start(&path)?;
        Ok(Store {
            writer: Writer::start(connection, checkpointer, options)?,
            readers: Arc::new(ReadPool {
                path,
                idle: Mutex::new(Vec::new()),
            }),
        })
    }

    /// The writer, for jobs that change the database.
    pub fn writer(&self) -> &Writer {
        &self.writer
    }

    /// Runs `read` on a read connection, off the async threads.
    pub async fn read<T, F>(&self, read: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let readers = Arc::clone(&self.readers);
        tokio::task::spawn_blocking(move || readers.with(read))
            .await
            .map_err(|_| StoreError::Closed)?
    }

    /// Runs `read` on a read connection on the calling thread (start-up and blocking contexts).
    pub fn read_blocking<T>(
        &self,
        read: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.readers.with(read)
    }

    /// Stops the writer once every other handle is dropped and every job submitted through any
    /// of them is committed; returns when it has stopped. Drop the other handles first.
    pub async fn close(self) {
        self.writer.close().await;
    }
}

/// Idle read connections, opened on demand.
struct ReadPool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl ReadPool {
    fn with<T>(
        &self,
        read: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let pooled = self.idle.lock().pop();
        let connection = match pooled {
            Some(connection) => connection,
            None => {
                let connection = open_connection(
                    &self.path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY,
                    READER_CACHE_KIB,
                )?;
                connection.pragma_update(None, "query_only", true)?;
                connection
            }
        };
        let result = read(&connection);
        self.idle.lock().push(connection);
        result
    }
}

/// Opens a connection with the settings every connection shares.
fn open_connection(
    path: &Path,
    flags: OpenFlags,
    cache_kib: i64,
) -> Result<Connection, StoreError> {
    let flags = flags | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
    let connection = Connection::open_with_flags(path, flags)?;
    connection.busy_timeout(std::time::Duration::from_secs(5))?;
    connection.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    // Plans that do not depend on bound values: without this, the bundled SQLite (built with
    // STAT4) prepares "… time < ?2 ORDER BY time DESC LIMIT 1" again on every execution, which
    // made the nearest-reading lookup 10× slower.
    connection.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    // Savepoints keep the pages they change in a sub-journal; in memory, not a temporary file.
    connection.pragma_update(None, "temp_store", "MEMORY")?;
    // The page cache (negative: KiB).
    connection.pragma_update(None, "cache_size", -cache_kib)?;
    connection.pragma_update(None, "foreign_keys", true)?;
    Ok(connection)
}

/// Parses a stored text column; a value that does not parse means the database is corrupt.
/// `row` names the row in that error, and is formatted only then.
pub fn parse_column<T>(row: impl std::fmt::Display, text: &str) -> Result<T, StoreError>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    text.parse()
        .map_err(|error| StoreError::Corrupt(format!("{row}: {text:?}: {error}")))
}

/// A row count as SQLite returns it (never negative).
pub fn count(
    connection: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<u64, StoreError> {
    let count: i64 = connection
        .prepare_cached(sql)?
        .query_row(params, |row| row.get(0))?;
    Ok(count.unsigned_abs())
}

/// An API offset as SQLite takes it.
pub fn sql_offset(offset: u64) -> i64 {
    i64::try_from(offset).unwrap_or(i64::MAX)
}

/// The current time at the store's precision, so what an answer shows equals what is stored.
pub fn now() -> jiff::Timestamp {
    jiff::Timestamp::now()
        .round(jiff::Unit::Millisecond)
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
}

/// Milliseconds since the Unix epoch, the unit of every stored time.
pub fn to_millis(time: jiff::Timestamp) -> i64 {
    time.as_millisecond()
}

/// `time` as the store keeps it (truncated to milliseconds like [`to_millis`]), so what is
/// published after a commit shows the instant a read gives back.
pub fn at_store_precision(time: jiff::Timestamp) -> jiff::Timestamp {
    jiff::Timestamp::from_millisecond(to_millis(time)).unwrap_or(time)
}

/// The inverse of [`to_millis`].
pub fn from_millis(millis: i64) -> Result<jiff::Timestamp, StoreError> {
    jiff::Timestamp::from_millisecond(millis).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// What still refers to an object, as "2 houses, 1 user", or none when nothing does. Each check
/// is a noun and a `SELECT count(*)` taking the object's key as its parameters.
pub fn referenced_by(
    connection: &Connection,
    checks: &[(&str, &str)],
    key: impl rusqlite::Params + Copy,
) -> Result<Option<String>, StoreError> {
    let mut found = Vec::new();
    for (noun, sql) in checks {
        let n = count(connection, sql, key)?;
        if n > 0 {
            found.push(format!("{n} {noun}{}", if n == 1 { "" } else { "s" }));
        }
    }
    Ok((!found.is_empty()).then(|| found.join(", ")))
}

/// The `WHERE` clause of a listing built from the filters that are present: a query names only
/// the columns it constrains, so SQLite plans it with their indexes (an `(?1 IS NULL OR col =
/// ?1)` form is planned once for all bindings and scans the table).
#[derive(Default)]
pub struct Filters {
    clauses: Vec<String>,
    values: Vec<Box<dyn rusqlite::ToSql>>,
}

impl Filters {
    /// Adds `clause`, in which `?` stands for `value`, when there is a value.
    pub fn with<T: rusqlite::ToSql + 'static>(mut self, clause: &str, value: Option<T>) -> Self {
        if let Some(value) = value {
            self.values.push(Box::new(value));
            self.clauses
                .push(clause.replace('?', &format!("?{}", self.values.len())));
        }
        self
    }

    /// Adds a `clause` without parameters when `on`.
    pub fn when(mut self, clause: &str, on: bool) -> Self {
        if on {
            self.clauses.push(clause.to_owned());
        }
        self
    }

    /// `WHERE …`, or nothing without filters.
    pub fn sql(&self) -> String {
        match self.clauses.is_empty() {
            true => String::new(),
            false => format!("WHERE {}", self.clauses.join(" AND ")),
        }
    }

    /// The filters' values, in their placeholders' order.
    pub fn params(&self) -> Vec<&dyn rusqlite::ToSql> {
        self.values.iter().map(|value| value.as_ref()).collect()
    }

    /// The placeholders of `LIMIT` and `OFFSET`, numbered after the filters'.
    pub fn page(&self) -> String {
        let n = self.values.len();
        format!("LIMIT ?{} OFFSET ?{}", n + 1, n + 2)
    }
}
