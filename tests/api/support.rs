//! Test harness: fresh databases on both backends, a statement counter, GraphQL execution, fixtures.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_graphql::{Request, Variables};
use chrono::{DateTime, TimeZone, Utc};
use entity::enums::Role;
use migration::{Migrator, MigratorTrait};
use psm_api::auth::Viewer;
use psm_api::config::ApiConfig;
use psm_api::graphql;
use psm_api::graphql::connection::CursorKey;
use psm_api::seed::{SeedOptions, seed_demo};
use sea_orm::{ConnectionTrait, DatabaseConnection};
use serde_json::Value;
use tokio::sync::OnceCell;

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A fresh, migrated database for one test, with a counter of the SQL statements run on it.
pub struct TestDb {
    pub db: DatabaseConnection,
    /// The database's URL, for tests that open their own pool or start a server on it.
    pub url: String,
    /// The database's cursor key, read before statements are counted.
    cursor_key: CursorKey,
    statements: Arc<AtomicUsize>,
    _file: Option<TempFile>,
}

struct TempFile(std::path::PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.0.display()));
        }
    }
}

/// The migrated template this test run clones; one per run, so that concurrent runs do not collide.
static TEMPLATE: OnceCell<String> = OnceCell::const_new();

fn postgres_url() -> Option<String> {
    std::env::var("TEST_DATABASE_URL").ok().filter(|url| !url.is_empty())
}

fn postgres_required() -> bool {
    std::env::var("PSM_REQUIRE_POSTGRES").is_ok_and(|value| value == "1")
}

/// `url` with its database name replaced.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (url, String::new()),
    };
    let server = match base.rfind('/') {
        Some(slash) if base[..slash].ends_with('/') => base,
        Some(slash) => &base[..slash],
        None => base,
    };
    format!("{}/{name}{query}", server.trim_end_matches('/'))
}

async fn admin_connection(url: &str) -> DatabaseConnection {
    psm_api::db::connect(&with_database(url, "postgres"), 2)
        .await
        .unwrap_or_else(|error| panic!("PostgreSQL at TEST_DATABASE_URL is unreachable: {error}"))
}

/// Milliseconds since the epoch at which a test database was named (its name ends in a UUID v7).
fn created_ms(name: &str) -> Option<i64> {
    let hex = name.rsplit('_').next()?;
    (hex.len() == 32).then(|| i64::from_str_radix(&hex[..12], 16).ok()).flatten()
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Builds the migrated template once per test run (as crates.io's test databases do), after dropping
/// the databases earlier runs left behind (older than an hour; a database still in use refuses to be
/// dropped anyway).
async fn template(url: &str) -> &'static str {
    TEMPLATE
        .get_or_init(|| async {
            let admin = admin_connection(url).await;
            let leftovers = admin
                .query_all_raw(sea_orm::Statement::from_string(
                    sea_orm::DatabaseBackend::Postgres,
                    "SELECT datname FROM pg_database WHERE datname LIKE 'psm_test_%'",
                ))
                .await
                .expect("list test databases");
            for row in leftovers {
                let name: String = row.try_get("", "datname").expect("datname");
                // Only what an earlier run left: a concurrent run's template is not in use between clones,
                // so age (from the UUID v7 in the name) tells them apart. Tests last seconds, runs minutes.
                let keep_ms = if name.starts_with("psm_test_template_") { 3_600_000 } else { 600_000 };
                if created_ms(&name).is_some_and(|ms| now_ms() - ms > keep_ms) {
                    let _ = admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\"")).await;
                }
            }
            let name = format!("psm_test_template_{}", uuid::Uuid::now_v7().simple());
            admin.execute_unprepared(&format!("CREATE DATABASE \"{name}\"")).await.expect("create template");
            let template = psm_api::db::connect(&with_database(url, &name), 2).await.expect("connect template");
            Migrator::up(&template, None).await.expect("migrate template");
            // As the server does at start: the tallies are built (empty) for the city's offset.
            psm_api::service::tallies::ensure(&template, ApiConfig::default().city_offset_hours())
                .await
                .expect("build tallies");
            template.close().await.expect("close template");
            name
        })
        .await
}

impl TestDb {
    /// A fresh database on `backend`; `None` when PostgreSQL is not configured and not required.
    pub async fn new(backend: Backend) -> Option<TestDb> {
        match backend {
            Backend::Sqlite => {
                let path = std::env::temp_dir().join(format!("psm-test-{}.db", uuid::Uuid::now_v7()));
                let url = format!("sqlite://{}?mode=rwc", path.display());
                let file = TempFile(path);
                let mut db = psm_api::db::connect(&url, 4).await.expect("open SQLite");
                Migrator::up(&db, None).await.expect("migrate SQLite");
                psm_api::service::tallies::ensure(&db, ApiConfig::default().city_offset_hours())
                    .await
                    .expect("build tallies");
                let cursor_key = cursor_key(&db).await;
                let statements = count_statements(&mut db);
                Some(TestDb { db, url, cursor_key, statements, _file: Some(file) })
            }
            Backend::Postgres => {
                let Some(url) = postgres_url() else {
                    assert!(!postgres_required(), "PSM_REQUIRE_POSTGRES=1 but TEST_DATABASE_URL is not set");
                    eprintln!("TEST_DATABASE_URL not set: skipping the PostgreSQL half of this test");
                    return None;
                };
                let template = template(&url).await;
                let name = format!("psm_test_{}", uuid::Uuid::now_v7().simple());
                let admin = admin_connection(&url).await;
                admin
                    .execute_unprepared(&format!("CREATE DATABASE \"{name}\" TEMPLATE \"{template}\""))
                    .await
                    .expect("clone template");
                admin.close().await.expect("close admin connection");
                let url = with_database(&url, &name);
                let mut db = psm_api::db::connect(&url, 4).await.expect("connect test database");
                let cursor_key = cursor_key(&db).await;
                let statements = count_statements(&mut db);
                Some(TestDb { db, url, cursor_key, statements, _file: None })
            }
        }
    }

    /// Statements run on this database so far.
    pub fn statements(&self) -> usize {
        self.statements.load(Ordering::SeqCst)
    }

    /// Loads the demo data set with `cases` cases, at a fixed "now".
    pub async fn seed(&self, cases: u64) {
        let options = SeedOptions { cases, progress: false, now: fixed_now(), seed: 42, tallies_for: None };
        seed_demo(&self.db, &options).await.expect("seed demo data");
    }

    /// Runs a GraphQL query as STAFF; returns the whole response as JSON (`data` and `errors`).
    pub async fn run(&self, query: &str, variables: Value) -> Value {
        self.run_with(ApiConfig::default(), query, variables).await
    }

    /// Runs a GraphQL query as STAFF against a schema with the given configuration.
    pub async fn run_with(&self, config: ApiConfig, query: &str, variables: Value) -> Value {
        self.run_as_with(&Viewer::with_role(Role::Staff), config, query, variables).await
    }

    /// Runs a GraphQL query as `viewer`.
    pub async fn run_as(&self, viewer: &Viewer, query: &str, variables: Value) -> Value {
        self.run_as_with(viewer, ApiConfig::default(), query, variables).await
    }

    /// Runs a GraphQL query as `viewer` against a schema with the given configuration. Each call builds
    /// its own schema, as another replica of the server would.
    pub async fn run_as_with(&self, viewer: &Viewer, config: ApiConfig, query: &str, variables: Value) -> Value {
        let schema = graphql::schema(config, self.cursor_key);
        let request = Request::new(query).variables(Variables::from_json(variables));
        let response = graphql::execute(&schema, request, &self.db, viewer, &Default::default()).await;
        serde_json::to_value(&response).expect("serialise response")
    }

    /// Runs a query as `viewer` that must succeed; returns its `data`.
    pub async fn data_as(&self, viewer: &Viewer, query: &str, variables: Value) -> Value {
        let response = self.run_as(viewer, query, variables).await;
        assert!(
            response.get("errors").is_none_or(|errors| errors.as_array().is_none_or(Vec::is_empty)),
            "query failed: {response:#}"
        );
        response["data"].clone()
    }

    /// Runs a query that must succeed; returns its `data`.
    pub async fn data(&self, query: &str, variables: Value) -> Value {
        let response = self.run(query, variables).await;
        assert!(
            response.get("errors").is_none_or(|errors| errors.as_array().is_none_or(Vec::is_empty)),
            "query failed: {response:#}"
        );
        response["data"].clone()
    }
}

async fn cursor_key(db: &DatabaseConnection) -> CursorKey {
    psm_api::secret::cursor_key(db).await.map_err(|e| e.detail()).expect("server secret")
}

fn count_statements(db: &mut DatabaseConnection) -> Arc<AtomicUsize> {
    let counter = Arc::new(AtomicUsize::new(0));
    let inner = counter.clone();
    let print = std::env::var("PSM_PRINT_SQL").is_ok();
    db.set_metric_callback(move |info| {
        if print {
            eprintln!("SQL: {}", info.statement.sql);
        }
        inner.fetch_add(1, Ordering::SeqCst);
    });
    counter
}

/// The "now" demo data in tests is relative to, so data is the same whatever day tests run.
pub fn fixed_now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).single().expect("valid instant")
}

/// The organisations that received referrals, most referrals first (ties by id).
pub async fn partners_by_referrals(db: &TestDb) -> Vec<uuid::Uuid> {
    use sea_orm::{ColumnTrait, EntityTrait, QuerySelect};
    let mut receivers: Vec<(uuid::Uuid, i64)> = entity::referral::Entity::find()
        .select_only()
        .column(entity::referral::Column::ToOrganisationId)
        .column_as(entity::referral::Column::Id.count(), "n")
        .group_by(entity::referral::Column::ToOrganisationId)
        .into_tuple()
        .all(&db.db)
        .await
        .expect("receivers");
    receivers.sort_by_key(|(id, n)| (-n, *id));
    receivers.into_iter().map(|(id, _)| id).collect()
}

/// The referrals `organisation` holds according to its feed, worked out from the feed entries alone
/// (not from the flag the API keeps): those whose latest entry is an `UPSERT`.
pub async fn held_referrals(db: &TestDb, organisation: uuid::Uuid) -> Vec<entity::referral::Model> {
    use entity::{enums::ChangeKind, referral, referral_change};
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
    let changes = referral_change::Entity::find()
        .filter(referral_change::Column::OrganisationId.eq(organisation))
        .order_by_asc(referral_change::Column::Position)
        .all(&db.db)
        .await
        .expect("changes");
    let mut latest = std::collections::HashMap::new();
    for change in changes {
        latest.insert(change.referral_id, change.kind);
    }
    let mut held: Vec<referral::Model> = referral::Entity::find()
        .filter(referral::Column::ToOrganisationId.eq(organisation))
        .all(&db.db)
        .await
        .expect("referrals")
        .into_iter()
        .filter(|r| latest.get(&r.id) == Some(&ChangeKind::Upsert))
        .collect();
    held.sort_by_key(|r| r.id);
    held
}

/// The `code` extension of the first error of a response.
pub fn error_code(response: &Value) -> Option<&str> {
    response["errors"][0]["extensions"]["code"].as_str()
}

/// Declares a test that runs on SQLite and on PostgreSQL: `db_test!(name, |db| async move { ... })`.
macro_rules! db_test {
    ($name:ident, |$db:ident| $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn body($db: $crate::support::TestDb) {
                $body.await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let db = $crate::support::TestDb::new($crate::support::Backend::Sqlite)
                    .await
                    .expect("SQLite is always available");
                body(db).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(db) = $crate::support::TestDb::new($crate::support::Backend::Postgres).await {
                    body(db).await;
                }
            }
        }
    };
}

pub(crate) use db_test;
