//! Connecting to the database (creating the embedded SQLite file when needed) and migrating it.
//!
//! The SQLite file holds personal data, so when psm-api creates it, it is created readable and writable by
//! its owner only (mode 0600 on unix). SQLite gives the `-wal` and `-shm` files it adds the permissions
//! of the database file, so they are private too.

use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr};

/// Opens a connection pool to `url`. Every SQLite connection gets foreign keys enforced, a busy timeout
/// and write-ahead logging, because SQLite has none of them by default. A SQLite file that `url` allows
/// to be created (`mode=rwc`) and that does not exist yet is created first, private to its owner.
pub async fn connect(url: &str, max_connections: u32) -> Result<DatabaseConnection, DbErr> {
    if url.starts_with("sqlite:") {
        create_private_sqlite_file(url)?;
    }
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(max_connections.max(1))
        .min_connections(1)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false);
    if url.starts_with("sqlite:") {
        options.map_sqlx_sqlite_opts(|opts| {
            opts.foreign_keys(true)
                .busy_timeout(Duration::from_secs(10))
                .journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
        });
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
