//! Connecting to the database (creating the embedded SQLite file when needed) and migrating it.
//!
//! The SQLite file holds personal data, so when psm-api creates it, it is created readable and writable by
//! its owner only (mode 0600 on unix). SQLite gives the `-wal` and `-shm` files it adds the permissions
//! of the database file, so they are private too.

use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr};

/// How the connection pool behaves: its size and its time limits (see [`crate::config::DatabaseArgs`]).
#[derive(Debug, Clone, Copy)]
pub struct PoolSettings {
    pub max_connections: u32,
    /// How long a request waits for a connection. With the database down, the pool keeps trying to
    /// connect until then, so this is also how fast an outage is answered.
    pub acquire_timeout: Duration,
    /// PostgreSQL's `statement_timeout` on every connection of the pool; `None` for no limit.
    pub statement_timeout: Option<Duration>,
    /// How long a SQLite statement waits for another connection's lock.
    pub sqlite_busy_timeout: Duration,
}

impl PoolSettings {
    /// `max_connections` connections, waits of 10 s, no statement timeout: for the command line and tests.
    pub fn new(max_connections: u32) -> Self {
        PoolSettings {
            max_connections,
            acquire_timeout: Duration::from_secs(10),
            statement_timeout: None,
            sqlite_busy_timeout: Duration::from_secs(10),
        }
    }
}

/// Opens a connection pool to `url` of `max_connections`, as [`PoolSettings::new`] describes.
pub async fn connect(url: &str, max_connections: u32) -> Result<DatabaseConnection, DbErr> {
    connect_with(url, &PoolSettings::new(max_connections)).await
}

/// Opens a connection pool to `url`. Every SQLite connection gets foreign keys enforced, a busy timeout
/// and write-ahead logging, because SQLite has none of them by default. A SQLite file that `url` allows
/// to be created (`mode=rwc`) and that does not exist yet is created first, private to its owner.
///
/// Every connection is tested before a request gets it, so that connections a PostgreSQL restart or
/// `pg_terminate_backend` broke are replaced instead of failing a request. The time each request waits
/// for a connection is logged (target `sqlx::pool::acquire`, level TRACE) for the pool metrics of
/// [`crate::ops::metrics`].
pub async fn connect_with(url: &str, settings: &PoolSettings) -> Result<DatabaseConnection, DbErr> {
    if url.starts_with("sqlite:") {
        create_private_sqlite_file(url)?;
    }
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(settings.max_connections.max(1))
        .min_connections(1)
        .connect_timeout(settings.acquire_timeout)
        .acquire_timeout(settings.acquire_timeout)
        .test_before_acquire(true)
        .sqlx_logging(false)
        .record_stmt_in_spans(false);
    if let Some(timeout) = settings.statement_timeout {
        options.statement_timeout(timeout);
    }
    let busy = settings.sqlite_busy_timeout;
    if url.starts_with("sqlite:") {
        options.map_sqlx_sqlite_opts(move |opts| {
            opts.foreign_keys(true).busy_timeout(busy).journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
        });
        options.map_sqlx_sqlite_pool_opts(|pool| pool.acquire_time_level(log::LevelFilter::Trace));
    } else {
        options.map_sqlx_postgres_pool_opts(|pool| pool.acquire_time_level(log::LevelFilter::Trace));
    }
    Database::connect(options).await
}

/// Creates the file of a SQLite `url` with mode 0600 (on unix) when the URL asks for creation and the
/// file is missing. Left to SQLite, the file would get the process's umask, usually world-readable.
fn create_private_sqlite_file(url: &str) -> Result<(), DbErr> {
    use sea_orm::sqlx::ConnectOptions as _;
    use sea_orm::sqlx::sqlite::SqliteConnectOptions;
    let options: SqliteConnectOptions =
        url.parse().map_err(|e| DbErr::Custom(format!("not a SQLite database URL: {e}")))?;
    let creates = options.to_url_lossy().query_pairs().any(|(name, value)| name == "mode" && value == "rwc");
    let path = options.get_filename();
    if !creates || path.as_os_str().is_empty() || path.exists() {
        return Ok(());
    }
    let mut file = std::fs::OpenOptions::new();
    file.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut file, 0o600);
    match file.open(path) {
        // Another process created it first: it owns the file's permissions.
        Ok(_) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(error) => Err(DbErr::Custom(format!("cannot create the SQLite file {}: {error}", path.display()))),
    }
}

/// Applies every pending migration.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    Migrator::up(db, None).await
}
