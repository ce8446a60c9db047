//! Every setting of psm-api, documented, read from the command line or the environment.

use std::net::SocketAddr;
use std::sync::Arc;

use chrono::{FixedOffset, Offset, Utc};
use clap::{Args, Parser, Subcommand};

use crate::service::perturbation::PTable;

/// The default embedded database: a SQLite file next to where the server runs (git-ignored).
pub const DEFAULT_DATABASE_URL: &str = "sqlite://psm.db?mode=rwc";

/// psm-api: the GraphQL data backend of Banjarmasin's community social workers (PSM) programme.
#[derive(Debug, Parser)]
#[command(name = "psm-api", version, about)]
pub struct Cli {
    #[command(flatten)]
    pub database: DatabaseArgs,
    #[command(flatten)]
    pub serve: ServeArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Where the data lives.
#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// Database URL: `sqlite://FILE?mode=rwc` (the embedded default) or `postgres://USER@HOST/DB`.
    #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL, global = true)]
    pub database_url: String,
    /// Largest number of pooled database connections.
    #[arg(long, env = "PSM_DB_MAX_CONNECTIONS", default_value_t = 10, global = true)]
    pub db_max_connections: u32,
}

/// What to do.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Migrate the database and serve the GraphQL API (the default).
    Serve,
    /// Apply, revert or list migrations.
    Migrate {
        #[command(subcommand)]
        action: Option<MigrateAction>,
    },
    /// Load data into the database.
    Seed(SeedArgs),
    /// Print the GraphQL schema (SDL), as committed in `schema.graphql`.
    Schema,
    /// Print the p-table that perturbs published counts (`--ptable`, or the built-in one) as CSV, with
    /// each row's mean and variance.
    Ptable,
    /// Create, list and revoke API keys.
    Key {
        #[command(subcommand)]
        action: KeyAction,
    },
}

/// API key actions.
#[derive(Debug, Clone, Subcommand)]
pub enum KeyAction {
    /// Create a key and print it. It is shown only this once: only its hash is stored.
    Create {
        /// ADMIN, STAFF, VOLUNTEER, PARTNER or DASHBOARD.
        #[arg(long, value_parser = parse_role)]
        role: entity::enums::Role,
        /// The organisation code a PARTNER key speaks for, e.g. `LKS-ANNISA`.
        #[arg(long)]
        organisation: Option<String>,
        /// The volunteer id (UUID) a VOLUNTEER key belongs to.
        #[arg(long)]
        volunteer: Option<uuid::Uuid>,
        /// What the key is for, shown in lists and in the audit trail.
        #[arg(long, default_value = "")]
        name: String,
    },
    /// List every key (prefix, role, owner, name, created, last used, revoked).
    List,
    /// Revoke the key with this prefix (the first 12 characters, `psm_` included); it stops working at once.
    Revoke {
        /// The key's prefix, as `key list` shows it.
        prefix: String,
    },
}

fn parse_role(value: &str) -> Result<entity::enums::Role, String> {
    entity::enums::Role::parse(&value.to_uppercase())
        .ok_or_else(|| format!("`{value}` is not a role: use ADMIN, STAFF, VOLUNTEER, PARTNER or DASHBOARD"))
}

/// Migration actions.
#[derive(Debug, Clone, Copy, Subcommand)]
pub enum MigrateAction {
    /// Apply every pending migration (the default).
    Up,
    /// Revert the last migration.
    Down,
    /// List migrations and whether each is applied.
    Status,
}

/// Options of `seed`.
#[derive(Debug, Clone, Args)]
pub struct SeedArgs {
    /// Load the deterministic Banjarmasin demo data set.
    #[arg(long, required = true)]
    pub demo: bool,
    /// Number of cases; volunteers, persons, referrals and outcomes scale with it.
    #[arg(long, default_value_t = 10_000)]
    pub cases: u64,
    /// Seed of the random generator (the same seed gives the same data).
    #[arg(long, default_value_t = 6371)]
    pub seed: u64,
}

/// Options of `serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "PSM_LISTEN", default_value = "127.0.0.1:8080", global = true)]
    pub listen: SocketAddr,
    /// Days the demo keys of a new embedded demo database stay valid (fixed when they are made).
    #[arg(long, env = "PSM_DEMO_KEY_DAYS", default_value_t = 30, global = true)]
    pub demo_key_days: u32,
    #[command(flatten)]
    pub api: ApiConfig,
}

/// Limits and conventions of the GraphQL API.
#[derive(Debug, Clone, Args)]
pub struct ApiConfig {
    /// Largest page a connection returns; a larger `first` or `last` is rejected.
    #[arg(long, env = "PSM_MAX_PAGE_SIZE", default_value_t = 100, global = true)]
    pub max_page_size: u32,
    /// Size of a page when neither `first` nor `last` is given.
    #[arg(long, env = "PSM_DEFAULT_PAGE_SIZE", default_value_t = 20, global = true)]
    pub default_page_size: u32,
    /// Largest number of ids `nodes(ids:)` accepts.
    #[arg(long, env = "PSM_MAX_NODES", default_value_t = 100, global = true)]
    pub max_nodes: u32,
    /// Deepest nesting of fields a query may have.
    #[arg(long, env = "PSM_MAX_DEPTH", default_value_t = 15, global = true)]
    pub max_depth: usize,
    /// Largest complexity (number of fields, counted by async-graphql) a query may have.
    #[arg(long, env = "PSM_MAX_COMPLEXITY", default_value_t = 2000, global = true)]
    pub max_complexity: usize,
    /// k: published (perturbed) aggregate counts from 1 to k-1 are suppressed.
    #[arg(long, env = "PSM_MIN_CELL_SIZE", default_value_t = 5, global = true)]
    pub minimum_cell_size: u32,
    /// The p-table that perturbs published counts: a CSV file with the columns `i,j,p` (true count,
    /// published count, probability); the built-in table when not given (print it with `psm-api ptable`).
    #[arg(long = "ptable", env = "PSM_PTABLE", value_parser = load_ptable, global = true)]
    pub ptable: Option<Arc<PTable>>,
    /// Medians and percentiles are published (rounded) only for groups whose published count is at
    /// least this.
    #[arg(long, env = "PSM_PERCENTILE_MINIMUM_COUNT", default_value_t = 20, global = true)]
    pub percentile_minimum_count: u32,
    /// Statistics cells (published counts) each non-STAFF key may receive per day (city time).
    #[arg(long, env = "PSM_STATS_BUDGET_CELLS", default_value_t = 50_000, global = true)]
    pub stats_budget_cells: u64,
    /// What one statistics field costs at least, in cells, however few it publishes.
    #[arg(long, env = "PSM_STATS_REQUEST_MINIMUM_CELLS", default_value_t = 100, global = true)]
    pub stats_request_minimum_cells: u64,
    /// Most time buckets one statistics request may return.
    #[arg(long, env = "PSM_MAX_BUCKETS", default_value_t = 1000, global = true)]
    pub max_buckets: u32,
    /// The city's offset from UTC in hours (Banjarmasin: WITA, UTC+8), for days and ages.
    #[arg(long, env = "PSM_UTC_OFFSET_HOURS", default_value_t = 8, global = true)]
    pub utc_offset_hours: i32,
    /// Most changes one `referralChanges` page returns.
    #[arg(long, env = "PSM_MAX_FEED_PAGE", default_value_t = 1000, global = true)]
    pub max_feed_page: u32,
    /// Seconds between the server's sweeps that expire overdue referrals and lapsed consents (each
    /// feed read also sweeps first). Safe on several replicas at once.
    #[arg(long, env = "PSM_SWEEP_SECONDS", default_value_t = 60, global = true)]
    pub sweep_seconds: u64,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            max_page_size: 100,
            default_page_size: 20,
            max_nodes: 100,
            max_depth: 15,
            minimum_cell_size: 5,
            ptable: None,
            percentile_minimum_count: 20,
            stats_budget_cells: 50_000,
            stats_request_minimum_cells: 100,
            max_buckets: 1000,
            max_complexity: 2000,
            utc_offset_hours: 8,
            max_feed_page: 1000,
            sweep_seconds: 60,
        }
    }
}

impl ApiConfig {
    /// The city's time zone as a fixed offset (WITA has no daylight saving).
    pub fn city_offset(&self) -> FixedOffset {
        FixedOffset::east_opt(self.utc_offset_hours.clamp(-14, 14) * 3600).unwrap_or_else(|| Utc.fix())
    }

    /// The p-table in use: the `--ptable` file, or the built-in table.
    pub fn ptable(&self) -> Arc<PTable> {
        self.ptable.clone().unwrap_or_else(PTable::shared_built_in)
    }
}

/// Reads `--ptable` when the command line is parsed, so that a bad file stops the server at startup.
fn load_ptable(path: &str) -> Result<Arc<PTable>, String> {
    PTable::load(path).map(Arc::new)
}
