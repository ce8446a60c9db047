//! Every setting of psm-api, documented, read from the command line or the environment.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

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
    /// Log format: `text` (for people; coloured only on a terminal) or `json` (one object per line).
    #[arg(long, env = "PSM_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
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
    /// Milliseconds a request waits for a database connection (a free one, or a new one while the
    /// database does not answer) before it is answered `DATABASE_UNAVAILABLE` (HTTP 503).
    #[arg(long, env = "PSM_DB_ACQUIRE_TIMEOUT_MS", default_value_t = 2000, global = true)]
    pub db_acquire_timeout_ms: u64,
    /// PostgreSQL: seconds one statement of the server may run before PostgreSQL cancels it
    /// (`statement_timeout`; answered `TIMEOUT`, HTTP 504); 0 for no limit. Applies to `serve` only:
    /// migrations, seeds and key commands are not limited.
    #[arg(long, env = "PSM_DB_STATEMENT_TIMEOUT_SECONDS", default_value_t = 15, global = true)]
    pub db_statement_timeout_seconds: u64,
    /// SQLite: milliseconds a statement waits for a lock another connection holds before it gives up
    /// (answered `DATABASE_BUSY`, HTTP 503).
    #[arg(long, env = "PSM_SQLITE_BUSY_TIMEOUT_MS", default_value_t = 5000, global = true)]
    pub sqlite_busy_timeout_ms: u64,
}

impl DatabaseArgs {
    /// The pool settings these arguments give; `serving` adds the statement timeout of `serve`.
    pub fn pool(&self, serving: bool) -> crate::db::PoolSettings {
        crate::db::PoolSettings {
            max_connections: self.db_max_connections,
            acquire_timeout: Duration::from_millis(self.db_acquire_timeout_ms.max(1)),
            statement_timeout: (serving && self.db_statement_timeout_seconds > 0)
                .then(|| Duration::from_secs(self.db_statement_timeout_seconds)),
            sqlite_busy_timeout: Duration::from_millis(self.sqlite_busy_timeout_ms),
        }
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One line per event for people to read; ANSI colour only when standard error is a terminal.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
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
    /// Rebuild or check the statistics tallies (case counts the database keeps current).
    Tallies {
        #[command(subcommand)]
        action: TalliesAction,
    },
}

/// Statistics tally actions.
#[derive(Debug, Clone, Copy, Subcommand)]
pub enum TalliesAction {
    /// Recompute every tally from the cases, for the configured `--utc-offset-hours` (the server also
    /// does this at start when the offset changed or the tallies were never built).
    Rebuild,
    /// Compare every tally with the cases; exits with failure when any row differs.
    Check,
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
    /// Seconds in-flight requests may take to finish after SIGTERM or SIGINT (the server stops accepting
    /// at once); then the server stops anyway. A second signal stops it at once.
    #[arg(long, env = "PSM_SHUTDOWN_GRACE_SECONDS", default_value_t = 25, global = true)]
    pub shutdown_grace_seconds: u64,
    #[command(flatten)]
    pub api: ApiConfig,
    #[command(flatten)]
    pub cors: CorsArgs,
}

/// Which web pages on other origins (browser dashboards) may call the API.
#[derive(Debug, Clone, Default, Args)]
pub struct CorsArgs {
    /// Origins allowed to call the API from a browser, comma-separated, each `scheme://host[:port]`
    /// exactly as the browser sends it (e.g. `https://dashboard.banjarmasinkota.go.id`). Unset: none on
    /// a real database; on the embedded demo database, any `http://localhost:*` and `http://127.0.0.1:*`.
    /// An empty value allows none, demo included.
    #[arg(long, env = "PSM_CORS_ORIGINS", value_delimiter = ',', num_args = 0.., global = true)]
    pub cors_origins: Option<Vec<String>>,
    /// Seconds a browser may cache a preflight answer (Chromium caps this at 7200).
    #[arg(long, env = "PSM_CORS_MAX_AGE", default_value_t = 7200, global = true)]
    pub cors_max_age: u64,
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
    /// Whether statistics read the case tallies the database keeps (see `psm-api tallies`) when they
    /// hold what a request asks; `false` counts the cases every time (same figures, slower).
    #[arg(long, env = "PSM_STATS_TALLIES", default_value_t = true, action = clap::ArgAction::Set, global = true)]
    pub stats_tallies: bool,
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
    #[command(flatten)]
    pub ops: OpsConfig,
    #[command(flatten)]
    pub limits: LimitConfig,
}

/// Time limits and metrics of the HTTP server (see [`crate::ops`]).
#[derive(Debug, Clone, Args)]
pub struct OpsConfig {
    /// Seconds one request may take, everything included, before it is stopped and answered `TIMEOUT`
    /// (HTTP 504).
    #[arg(long, env = "PSM_REQUEST_TIMEOUT_SECONDS", default_value_t = 30, global = true)]
    pub request_timeout_seconds: u64,
    /// When set, `GET /metrics` answers only `Authorization: Bearer <this token>`.
    #[arg(long, env = "PSM_METRICS_TOKEN", hide_env_values = true, global = true)]
    pub metrics_token: Option<String>,
    /// Most distinct GraphQL operation names the metrics label; later names are counted as `other`, so
    /// that clients cannot grow the metrics without bound.
    #[arg(long, env = "PSM_METRICS_MAX_OPERATIONS", default_value_t = 100, global = true)]
    pub metrics_max_operations: usize,
}

impl Default for OpsConfig {
    fn default() -> Self {
        OpsConfig { request_timeout_seconds: 30, metrics_token: None, metrics_max_operations: 100 }
    }
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
            stats_tallies: true,
            max_complexity: 2000,
            utc_offset_hours: 8,
            max_feed_page: 1000,
            sweep_seconds: 60,
            ops: OpsConfig::default(),
            limits: LimitConfig::default(),
        }
    }
}

impl ApiConfig {
    /// The city's time zone as a fixed offset (WITA has no daylight saving).
    pub fn city_offset(&self) -> FixedOffset {
        FixedOffset::east_opt(self.utc_offset_hours.clamp(-14, 14) * 3600).unwrap_or_else(|| Utc.fix())
    }

    /// The city's offset from UTC in whole hours, as [`city_offset`](Self::city_offset) applies it.
    pub fn city_offset_hours(&self) -> i32 {
        self.city_offset().local_minus_utc() / 3600
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

/// What one request may cost before any work is done for it, and what each API key may spend over
/// time. Each refusal has its own `extensions.code` (see [`crate::limits`]); the defaults follow
/// GraphQL Armor's and Shopify's, scaled as the README's "Limits and costs" explains.
#[derive(Debug, Clone, Args)]
pub struct LimitConfig {
    /// Largest request body in bytes; a larger one is refused (HTTP 413, `PAYLOAD_TOO_LARGE`) before it
    /// is read.
    #[arg(long, env = "PSM_MAX_BODY_BYTES", default_value_t = 1_048_576, global = true)]
    pub max_body_bytes: usize,
    /// Most lexical tokens a query document may have (`TOO_MANY_TOKENS`), counted before it is parsed.
    #[arg(long, env = "PSM_MAX_TOKENS", default_value_t = 1000, global = true)]
    pub max_tokens: usize,
    /// Most aliases an operation may use, fragments expanded (`TOO_MANY_ALIASES`).
    #[arg(long, env = "PSM_MAX_ALIASES", default_value_t = 15, global = true)]
    pub max_aliases: usize,
    /// Most directives an operation may carry, fragments expanded (`TOO_MANY_DIRECTIVES`).
    #[arg(long, env = "PSM_MAX_DIRECTIVES", default_value_t = 50, global = true)]
    pub max_directives: usize,
    /// Most directives on one field, fragment spread or inline fragment (`TOO_MANY_DIRECTIVES`).
    #[arg(long, env = "PSM_MAX_FIELD_DIRECTIVES", default_value_t = 3, global = true)]
    pub max_field_directives: usize,
    /// Most points one query may cost (`MAX_COST_EXCEEDED`); see the README's cost model.
    #[arg(long, env = "PSM_MAX_QUERY_COST", default_value_t = 50_000, global = true)]
    pub max_query_cost: u64,
    /// Most groups one statistics field may return, as estimated from its `groupBy` and `period`
    /// before any SQL runs (`TOO_MANY_GROUPS`).
    #[arg(long, env = "PSM_MAX_STATS_GROUPS", default_value_t = 20_000, global = true)]
    pub max_stats_groups: u64,
    /// Largest answer in bytes (`RESPONSE_TOO_LARGE`: the data is withheld).
    #[arg(long, env = "PSM_MAX_RESPONSE_BYTES", default_value_t = 10_000_000, global = true)]
    pub max_response_bytes: usize,
    /// Points each API key's bucket holds (`THROTTLED`, HTTP 429, when a query costs more than is
    /// left); 0 turns rate limiting off.
    #[arg(long, env = "PSM_RATE_LIMIT_POINTS", default_value_t = 100_000, global = true)]
    pub rate_limit_points: u64,
    /// Points per second each key's bucket regains.
    #[arg(long, env = "PSM_RATE_LIMIT_RESTORE", default_value_t = 1000, global = true)]
    pub rate_limit_restore: u64,
    /// Parsed query documents kept in memory, least recently used dropped first; 0 keeps none.
    #[arg(long, env = "PSM_DOCUMENT_CACHE_SIZE", default_value_t = 1000, global = true)]
    pub document_cache_size: usize,
    /// How long, in milliseconds, a server may accept a key it has already checked without reading it
    /// again: a revoked key is refused by every replica at most this long after the revocation. 0 reads
    /// the key on every request.
    #[arg(long, env = "PSM_KEY_CACHE_MS", default_value_t = 1000, global = true)]
    pub key_cache_ms: u64,
}

impl Default for LimitConfig {
    fn default() -> Self {
        LimitConfig {
            max_body_bytes: 1_048_576,
            max_tokens: 1000,
            max_aliases: 15,
            max_directives: 50,
            max_field_directives: 3,
            max_query_cost: 50_000,
            max_stats_groups: 20_000,
            max_response_bytes: 10_000_000,
            rate_limit_points: 100_000,
            rate_limit_restore: 1000,
            document_cache_size: 1000,
            key_cache_ms: 1000,
        }
    }
}
