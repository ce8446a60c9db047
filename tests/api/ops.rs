//! What an operator relies on, in process: the probes, request ids in answers and errors, the metrics,
//! time limits, and database faults answered fast and clearly (pool exhaustion, a locked database, a
//! statement timeout, connections killed by PostgreSQL), and a client hanging up.

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::Request;
use entity::enums::Role;
use http_body_util::BodyExt;
use migration::{Migrator, MigratorTrait};
use psm_api::app::{AppState, router};
use psm_api::auth::{NewKey, create_key};
use psm_api::config::{ApiConfig, OpsConfig};
use psm_api::db::{PoolSettings, connect, connect_with};
use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, DatabaseTransaction, TransactionTrait};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::server::{self, eventually, metric_value};
use crate::support::{TestDb, db_test};

/// An answer through the router, without a network.
struct Answer {
    status: u16,
    headers: axum::http::HeaderMap,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }
}

async fn send(app: &axum::Router, request: Request<Body>) -> Answer {
    let response = app.clone().oneshot(request).await.expect("response");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.expect("body").to_bytes();
    Answer { status, headers, body: String::from_utf8_lossy(&body).into_owned() }
}

async fn get(app: &axum::Router, uri: &str, headers: &[(&str, &str)]) -> Answer {
    let mut request = Request::get(uri);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    send(app, request.body(Body::empty()).expect("request")).await
}

async fn post(app: &axum::Router, key: Option<&str>, query: &str, variables: Value) -> Answer {
    let mut request = Request::post("/graphql").header("content-type", "application/json");
    if let Some(key) = key {
        request = request.header("authorization", format!("Bearer {key}"));
    }
    let body = json!({ "query": query, "variables": variables }).to_string();
    send(app, request.body(Body::from(body)).expect("request")).await
}

/// A new STAFF key; its first use writes its `last_used_at`.
pub async fn staff_key(db: &DatabaseConnection) -> String {
    let new = NewKey { role: Role::Staff, organisation: None, volunteer: None, name: "ops test".into() };
    create_key(db, &new).await.map_err(|e| e.detail()).expect("create key").0
}

fn config(ops: OpsConfig) -> ApiConfig {
    ApiConfig { ops, ..ApiConfig::default() }
}

fn backend_name(db: &TestDb) -> &'static str {
    match db.db.get_database_backend() {
        DatabaseBackend::Postgres => "Postgres",
        _ => "Sqlite",
    }
}

fn is_postgres(db: &TestDb) -> bool {
    db.db.get_database_backend() == DatabaseBackend::Postgres
}

/// Blocks writes to `table` until the returned transaction ends. PostgreSQL: `LOCK TABLE` (with `reads`,
/// reads are blocked too); SQLite: the database's write lock (`BEGIN IMMEDIATE`; SQLite in WAL mode
/// never blocks reads).
pub async fn hold_lock(db: &DatabaseConnection, table: &str, reads: bool) -> DatabaseTransaction {
    match db.get_database_backend() {
        DatabaseBackend::Postgres => {
            let txn = db.begin().await.expect("begin");
            let mode = if reads { "ACCESS EXCLUSIVE" } else { "EXCLUSIVE" };
            txn.execute_unprepared(&format!("LOCK TABLE {table} IN {mode} MODE")).await.expect("lock");
            txn
        }
        _ => psm_api::service::write::begin_write(db).await.map_err(|e| e.detail()).expect("BEGIN IMMEDIATE"),
    }
}

db_test!(probes_say_live_and_ready_and_readiness_notices_a_pending_migration, |db| async move {
    let app = router(AppState::new(db.db.clone(), ApiConfig::default()).await.expect("state"));
    let live = get(&app, "/healthz", &[]).await;
    assert_eq!((live.status, live.json()), (200, json!({ "status": "live" })));
    let ready = get(&app, "/readyz", &[]).await;
    assert_eq!(ready.status, 200, "{}", ready.body);
    assert_eq!(ready.json()["status"], "ready");

    // The schema one migration behind this binary: not ready, and the answer names the migration.
    let last = Migrator::migrations().last().map(|m| m.name().to_owned()).expect("a migration");
    Migrator::down(&db.db, Some(1)).await.expect("down");
    let ready = get(&app, "/readyz", &[]).await;
    assert_eq!(ready.status, 503, "{}", ready.body);
    assert_eq!(ready.json(), json!({ "status": "migrations pending", "pending": [last] }));
    assert_eq!(get(&app, "/healthz", &[]).await.status, 200, "liveness does not depend on the schema");
    Migrator::up(&db.db, None).await.expect("up");
    assert_eq!(get(&app, "/readyz", &[]).await.status, 200);

    // A schema newer than the binary (a newer version migrated it during a rolling upgrade): ready.
    let future = "m29991231_000001_added_by_a_newer_version";
    db.db
        .execute_unprepared(&format!("INSERT INTO seaql_migrations (version, applied_at) VALUES ('{future}', 0)"))
        .await
        .expect("a newer migration");
    let ready = get(&app, "/readyz", &[]).await;
    assert_eq!((ready.status, ready.json()), (200, json!({ "status": "ready", "unknownMigrations": [future] })));

    // A database that does not answer: not ready, fast; still live.
    let gone = connect(&db.url, 1).await.expect("connect");
    let app = router(AppState::new(gone.clone(), ApiConfig::default()).await.expect("state"));
    gone.close_by_ref().await.expect("close");
    let started = Instant::now();
    let ready = get(&app, "/readyz", &[]).await;
    assert_eq!((ready.status, ready.json()), (503, json!({ "status": "database unavailable" })));
    assert!(started.elapsed() < Duration::from_secs(6), "readiness answered in {:?}", started.elapsed());
    assert_eq!(get(&app, "/healthz", &[]).await.status, 200);
});

db_test!(request_ids_are_taken_when_safe_generated_otherwise_and_in_every_error, |db| async move {
    let app = router(AppState::new(db.db.clone(), ApiConfig::default()).await.expect("state"));
    let key = staff_key(&db.db).await;

    let given = get(&app, "/healthz", &[("x-request-id", "trace-42.a:b_C")]).await;
    assert_eq!(given.header("x-request-id"), Some("trace-42.a:b_C"));
    for unsafe_id in ["<script>alert(1)</script>", "a b", &"x".repeat(65), ""] {
        let answer = get(&app, "/healthz", &[("x-request-id", unsafe_id)]).await;
        let id = answer.header("x-request-id").expect("an id");
        assert_ne!(id, unsafe_id);
        assert!(uuid::Uuid::parse_str(id).is_ok(), "{unsafe_id:?} replaced by a generated id, got {id}");
    }
    let first = get(&app, "/healthz", &[]).await;
    let second = get(&app, "/healthz", &[]).await;
    assert_ne!(first.header("x-request-id"), second.header("x-request-id"));

    // Errors answered before execution (401), refused by method (405), and GraphQL errors (200).
    let unauthenticated = post(&app, None, "{ viewer { role } }", json!({})).await;
    assert_eq!(unauthenticated.status, 401);
    let id = unauthenticated.header("x-request-id").expect("id").to_owned();
    assert_eq!(
        unauthenticated.json()["errors"][0]["extensions"],
        json!({ "code": "UNAUTHENTICATED", "requestId": id })
    );

    let mutation = "/graphql?query=mutation%20%7B%20revokeApiKey(prefix%3A%22x%22)%20%7B%20apiKey%20%7B%20prefix%20%7D%20%7D%20%7D";
    let refused =
        get(&app, mutation, &[("authorization", &format!("Bearer {key}")), ("x-request-id", "get-mutation-1")]).await;
    assert_eq!(refused.status, 405, "{}", refused.body);
    assert_eq!(refused.json()["errors"][0]["extensions"]["requestId"], "get-mutation-1");

    let invalid = post(&app, Some(&key), "{ viewer { role } nope }", json!({})).await;
    assert_eq!(invalid.status, 200);
    let id = invalid.header("x-request-id").expect("id");
    let errors = invalid.json()["errors"].clone();
    assert!(!errors.as_array().expect("errors").is_empty(), "{errors}");
    for error in errors.as_array().expect("errors") {
        assert_eq!(error["extensions"]["requestId"], id, "{error}");
        assert_eq!(error["extensions"]["code"], "GRAPHQL_VALIDATION_FAILED", "{error}");
    }
});

db_test!(metrics_count_requests_by_operation_and_code_and_never_show_values, |db| async move {
    let name = backend_name(&db);
    // The server's own pool, with every statement counted as `main` counts them.
    let mut pool = connect(&db.url, 4).await.expect("connect");
    psm_api::ops::metrics::instrument(&mut pool);
    let app = router(AppState::new(pool, ApiConfig::default()).await.expect("state"));
    let key = staff_key(&db.db).await;

    let secret = "Siti Aminah 6371010203040506";
    let probe = format!(
        "query OpsProbe{name}($code: String!) {{ regions(filter: {{ parentCodes: [$code] }}) {{ totalCount }} }}"
    );
    let answer = post(&app, Some(&key), &probe, json!({ "code": secret })).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let bad = format!("query OpsBad{name} {{ nope }}");
    assert_eq!(post(&app, Some(&key), &bad, json!({})).await.status, 200);
    // A real refusal: more aliases than the limit allows, refused before execution.
    let aliases: String = (0..40).map(|i| format!("a{i}: viewer {{ role }} ")).collect();
    let refused = post(&app, Some(&key), &format!("{{ {aliases} }}"), json!({})).await;
    assert!(refused.body.contains("TOO_MANY_ALIASES"), "{}", refused.body);

    let text = get(&app, "/metrics", &[]).await;
    assert_eq!(text.status, 200);
    assert!(text.header("content-type").is_some_and(|t| t.starts_with("text/plain")), "{:?}", text.headers);
    let body = text.body;
    let value = |series: String| metric_value(&body, &series);
    assert_eq!(
        value(format!(
            r#"psm_graphql_requests_total{{operation="OpsProbe{name}",type="query",outcome="success",code="OK"}}"#
        )),
        Some(1.0),
        "{body}"
    );
    assert_eq!(
        value(format!(
            r#"psm_graphql_requests_total{{operation="OpsBad{name}",type="query",outcome="error",code="GRAPHQL_VALIDATION_FAILED"}}"#
        )),
        Some(1.0)
    );
    let statements = value(format!(r#"psm_graphql_request_statements_sum{{operation="OpsProbe{name}",type="query"}}"#));
    assert!(statements.is_some_and(|n| n >= 2.0), "key check and the query's statements are counted: {statements:?}");
    assert_eq!(
        value(format!(r#"psm_graphql_request_duration_seconds_count{{operation="OpsProbe{name}",type="query"}}"#)),
        Some(1.0)
    );
    for series in [
        "psm_db_pool_max_connections",
        r#"psm_db_pool_connections{state="idle"}"#,
        r#"psm_db_pool_connections{state="in_use"}"#,
        r#"psm_refusals_total{code="TOO_MANY_ALIASES"}"#,
        r#"psm_http_requests_total{path="/graphql",method="POST",status="200"}"#,
    ] {
        assert!(value(series.to_owned()).is_some(), "{series} missing:\n{body}");
    }
    assert!(value(r#"psm_db_statements_total{outcome="ok"}"#.into()).is_some_and(|n| n >= 2.0));
    // Names, codes and counts only: never a variable's value, never a key.
    assert!(!body.contains("Siti") && !body.contains("6371010203040506"), "a variable leaked into the metrics");
    assert!(!body.contains(&key[..12]), "a key prefix leaked into the metrics");
});

db_test!(metrics_name_a_bounded_set_of_operations_and_can_require_a_token, |db| async move {
    let name = backend_name(&db);
    let ops =
        OpsConfig { metrics_max_operations: 2, metrics_token: Some("scrape-token".into()), ..OpsConfig::default() };
    let app = router(AppState::new(db.db.clone(), config(ops)).await.expect("state"));
    let key = staff_key(&db.db).await;
    for label in ["A", "B", "C", "D"] {
        let query = format!("query OpsCap{label}{name} {{ viewer {{ role }} }}");
        assert_eq!(post(&app, Some(&key), &query, json!({})).await.status, 200);
    }
    assert_eq!(get(&app, "/metrics", &[]).await.status, 401);
    assert_eq!(get(&app, "/metrics", &[("authorization", "Bearer wrong")]).await.status, 401);
    let text = get(&app, "/metrics", &[("authorization", "Bearer scrape-token")]).await;
    assert_eq!(text.status, 200);
    let body = text.body;
    assert!(body.contains(&format!("OpsCapA{name}")) && body.contains(&format!("OpsCapB{name}")));
    assert!(!body.contains(&format!("OpsCapC{name}")) && !body.contains(&format!("OpsCapD{name}")), "{body}");
    assert!(body.contains(r#"psm_graphql_requests_total{operation="other",type="query",outcome="success",code="OK"}"#));
});

db_test!(a_request_past_its_time_limit_is_answered_timeout_with_504, |db| async move {
    let ops = OpsConfig { request_timeout_seconds: 1, ..OpsConfig::default() };
    let app = router(AppState::new(db.db.clone(), config(ops)).await.expect("state"));
    let key = staff_key(&db.db).await;
    // The key's first use writes to api_keys, which stays locked past the time limit.
    let lock = hold_lock(&db.db, "api_keys", false).await;
    let started = Instant::now();
    let answer = post(&app, Some(&key), "{ viewer { role } }", json!({})).await;
    let took = started.elapsed();
    assert_eq!(answer.status, 504, "{}", answer.body);
    let error = &answer.json()["errors"][0];
    assert_eq!(error["extensions"]["code"], "TIMEOUT");
    assert_eq!(error["extensions"]["requestId"].as_str(), answer.header("x-request-id"));
    assert!(error["message"].as_str().is_some_and(|m| m.contains("1 s")), "{error}");
    assert!(took >= Duration::from_secs(1) && took < Duration::from_secs(3), "answered after {took:?}");
    lock.rollback().await.expect("release");
    let answer = post(&app, Some(&key), "{ viewer { role } }", json!({})).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
});

db_test!(a_locked_database_is_waited_for_briefly_then_answered_clearly, |db| async move {
    // A short busy timeout (SQLite) and statement timeout (PostgreSQL) on the server's pool.
    let settings = PoolSettings {
        statement_timeout: Some(Duration::from_millis(400)),
        sqlite_busy_timeout: Duration::from_millis(400),
        ..PoolSettings::new(4)
    };
    let pool = connect_with(&db.url, &settings).await.expect("connect");
    let app = router(AppState::new(pool, ApiConfig::default()).await.expect("state"));

    let (first, second) = (staff_key(&db.db).await, staff_key(&db.db).await);
    // Held briefly: waited for, and answered.
    let lock = hold_lock(&db.db, "api_keys", false).await;
    let release = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(150)).await;
        lock.rollback().await.expect("release");
    });
    let answer = post(&app, Some(&first), "{ viewer { role } }", json!({})).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    release.await.expect("released");

    // Held too long: a clear, fast refusal. SQLite gives up at its busy timeout (DATABASE_BUSY, 503);
    // PostgreSQL cancels the waiting statement at its statement timeout (TIMEOUT, 504).
    let lock = hold_lock(&db.db, "api_keys", false).await;
    let started = Instant::now();
    let answer = post(&app, Some(&second), "{ viewer { role } }", json!({})).await;
    let took = started.elapsed();
    lock.rollback().await.expect("release");
    let (status, code) = if is_postgres(&db) { (504, "TIMEOUT") } else { (503, "DATABASE_BUSY") };
    assert_eq!(
        (answer.status, answer.json()["errors"][0]["extensions"]["code"].as_str()),
        (status, Some(code)),
        "{}",
        answer.body
    );
    if status == 503 {
        assert_eq!(answer.header("retry-after"), Some("1"));
    }
    assert!(took >= Duration::from_millis(300) && took < Duration::from_secs(3), "answered after {took:?}");
});

db_test!(pool_exhaustion_is_a_timely_database_unavailable, |db| async move {
    let settings = PoolSettings { acquire_timeout: Duration::from_millis(500), ..PoolSettings::new(1) };
    let pool = connect_with(&db.url, &settings).await.expect("connect");
    let app = router(AppState::new(pool.clone(), ApiConfig::default()).await.expect("state"));
    let key = staff_key(&db.db).await;
    let before = metric_value(&get(&app, "/metrics", &[]).await.body, "psm_db_pool_timeouts_total").unwrap_or(0.0);

    // The pool's one connection is taken by a transaction that stays open.
    let held = pool.begin().await.expect("begin");
    let started = Instant::now();
    let answer = post(&app, Some(&key), "{ viewer { role } }", json!({})).await;
    let took = started.elapsed();
    assert_eq!(answer.status, 503, "{}", answer.body);
    assert_eq!(answer.json()["errors"][0]["extensions"]["code"], "DATABASE_UNAVAILABLE");
    assert_eq!(answer.header("retry-after"), Some("1"));
    assert!(took < Duration::from_secs(2), "answered after {took:?}, not at the acquire timeout");
    let after = metric_value(&get(&app, "/metrics", &[]).await.body, "psm_db_pool_timeouts_total").unwrap_or(0.0);
    assert!(after > before, "pool timeouts counted: {before} -> {after}");

    held.rollback().await.expect("release");
    assert_eq!(post(&app, Some(&key), "{ viewer { role } }", json!({})).await.status, 200);
});

db_test!(statement_timeout_stops_a_slow_statement_during_execution, |db| async move {
    if !is_postgres(&db) {
        eprintln!("statement_timeout is PostgreSQL's; SQLite is covered by the busy timeout");
        return;
    }
    let settings = PoolSettings { statement_timeout: Some(Duration::from_millis(500)), ..PoolSettings::new(4) };
    let pool = connect_with(&db.url, &settings).await.expect("connect");
    let app = router(AppState::new(pool, ApiConfig::default()).await.expect("state"));
    let key = staff_key(&db.db).await;
    assert_eq!(post(&app, Some(&key), "{ viewer { role } }", json!({})).await.status, 200);
    // The key check passes; the query waits on a locked table until PostgreSQL cancels it.
    let lock = hold_lock(&db.db, "cases", true).await;
    let started = Instant::now();
    let answer = post(&app, Some(&key), "{ cases(first: 1) { totalCount } }", json!({})).await;
    let took = started.elapsed();
    lock.rollback().await.expect("release");
    assert_eq!(answer.status, 504, "{}", answer.body);
    assert_eq!(answer.json()["errors"][0]["extensions"]["code"], "TIMEOUT");
    assert!(took < Duration::from_secs(3), "answered after {took:?}: the request limit is 30 s, the statement's 0.5 s");
});

/// The backend of this database that waits on a lock, once there is one.
async fn waiting_backend(admin: &DatabaseConnection) -> i32 {
    for _ in 0..100 {
        let row = admin
            .query_one_raw(sea_orm::Statement::from_string(
                DatabaseBackend::Postgres,
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' \
                 AND pid <> pg_backend_pid() LIMIT 1",
            ))
            .await
            .expect("pg_stat_activity");
        if let Some(row) = row {
            return row.try_get("", "pid").expect("pid");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no backend waits on the lock");
}

async fn terminate(admin: &DatabaseConnection, condition: &str) {
    admin
        .execute_unprepared(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() \
             AND pid <> pg_backend_pid() AND {condition}"
        ))
        .await
        .expect("terminate");
}

db_test!(connections_postgres_terminates_are_answered_unavailable_then_replaced, |db| async move {
    if !is_postgres(&db) {
        eprintln!("pg_terminate_backend is PostgreSQL's");
        return;
    }
    db.seed(20).await;
    let pool = connect(&db.url, 4).await.expect("connect");
    let app = router(AppState::new(pool, ApiConfig::default()).await.expect("state"));
    let key = staff_key(&db.db).await;
    assert_eq!(post(&app, Some(&key), "{ viewer { role } }", json!({})).await.status, 200);

    // The fault hits the key check, then execution (a root field, then a relation followed through a
    // DataLoader): the same code and status every time.
    let faults = [
        ("api_keys", "{ viewer { role } }"),
        ("cases", "{ cases(first: 1) { totalCount } }"),
        ("persons", "{ cases(first: 1) { nodes { person { ageBand } } } }"),
    ];
    for (table, query) in faults {
        let admin = connect(&db.url, 1).await.expect("admin");
        let lock = hold_lock(&admin, table, true).await;
        let request = tokio::spawn({
            let (app, key) = (app.clone(), key.clone());
            async move { post(&app, Some(&key), query, json!({})).await }
        });
        let pid = waiting_backend(&db.db).await;
        terminate(&db.db, &format!("pid = {pid}")).await;
        let answer = request.await.expect("answered");
        lock.rollback().await.expect("release");
        assert_eq!(answer.status, 503, "{table}: {}", answer.body);
        assert_eq!(answer.json()["errors"][0]["extensions"]["code"], "DATABASE_UNAVAILABLE", "{table}");
        assert_eq!(answer.header("retry-after"), Some("1"));
    }

    // Every connection of the server's pool killed while idle: the next requests get new ones.
    terminate(&db.db, "backend_type = 'client backend'").await;
    for n in 0..10 {
        let answer = post(&app, Some(&key), "{ cases(first: 1) { totalCount } }", json!({})).await;
        assert_eq!(answer.status, 200, "request {n} after the terminations: {}", answer.body);
    }
});

db_test!(a_client_that_hangs_up_has_its_request_dropped, |db| async move {
    let pool = connect(&db.url, 4).await.expect("connect");
    let addr = server::serve_in_process(AppState::new(pool, ApiConfig::default()).await.expect("state")).await;
    let key = staff_key(&db.db).await;
    assert_eq!(server::graphql(addr, Some(&key), "{ viewer { role } }", json!({})).await.expect("reply").status, 200);
    let cancelled = r#"psm_http_requests_cancelled_total{path="/graphql"}"#;
    let before = server::metric(addr, cancelled).await.unwrap_or(0.0);

    // A report that waits on a locked table, and a client that gives up on it.
    let kelurahan = "63.71.02.1001";
    let summary = format!("hung up {}", uuid::Uuid::now_v7());
    let report = "mutation($input: ReportCaseInput!) { reportCase(input: $input) { case { id } } }";
    let person = json!({ "fullName": "Rahmat Hidayat", "birthDate": "1950-01-01", "sex": "MALE",
                         "address": "Jl. Sungai Andai No. 12", "kelurahanCode": kelurahan });
    let input = json!({ "input": { "newPerson": person, "kelurahanCode": kelurahan, "categories": ["POOR"],
                                    "urgency": "NORMAL", "source": "PSM_VISIT", "summary": summary } });
    let lock = hold_lock(&db.db, "cases", false).await;
    let client = tokio::spawn({
        let key = key.clone();
        async move { server::graphql(addr, Some(&key), report, input).await }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    if client.is_finished() {
        panic!("the report should be waiting on the lock: {:?}", client.await);
    }
    client.abort();
    let dropped =
        eventually(Duration::from_secs(3), || async { server::metric(addr, cancelled).await.unwrap_or(0.0) > before })
            .await;
    lock.rollback().await.expect("release");
    assert!(dropped, "the server did not notice the client hanging up");

    // Its work was dropped with it: nothing was reported, and the server serves on.
    tokio::time::sleep(Duration::from_millis(500)).await;
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
    let reported = entity::case::Entity::find().filter(entity::case::Column::Summary.eq(summary)).count(&db.db).await;
    assert_eq!(reported.expect("count"), 0, "the dropped request's case was written");
    assert_eq!(server::graphql(addr, Some(&key), "{ viewer { role } }", json!({})).await.expect("reply").status, 200);
});

db_test!(waits_for_a_pool_connection_are_measured, |db| async move {
    db.seed(20).await;
    let (first, second) = (staff_key(&db.db).await, staff_key(&db.db).await);
    let server = server::Server::start(
        &db.url,
        &["--db-max-connections", "1", "--db-acquire-timeout-ms", "10000", "--sqlite-busy-timeout-ms", "10000"],
    );
    crate::shutdown::swept_once(&server).await;
    let addr = server.addr;
    let waits = "psm_db_pool_waits_total";
    let before = server.metric(waits).await.unwrap_or(0.0);
    // The first request holds the pool's one connection while it waits on a lock; the second waits for
    // that connection until the lock is released.
    let lock = hold_lock(&db.db, "api_keys", false).await;
    let holder =
        tokio::spawn(async move { server::graphql(addr, Some(&first), "{ viewer { role } }", json!({})).await });
    assert!(
        eventually(Duration::from_secs(10), || async {
            server.metric("psm_http_requests_in_flight").await == Some(2.0)
        })
        .await
    );
    let waiter =
        tokio::spawn(async move { server::graphql(addr, Some(&second), "{ viewer { role } }", json!({})).await });
    tokio::time::sleep(Duration::from_millis(400)).await;
    lock.rollback().await.expect("release");
    for request in [holder, waiter] {
        assert_eq!(request.await.expect("task").expect("reply").status, 200);
    }
    let after = server.metric(waits).await.unwrap_or(0.0);
    assert!(after > before, "the wait was counted: {before} -> {after}");
    let slow = server.metric(r#"psm_db_pool_acquire_duration_seconds_bucket{le="0.1"}"#).await;
    let all = server.metric("psm_db_pool_acquire_duration_seconds_count").await;
    assert!(slow.zip(all).is_some_and(|(slow, all)| slow < all), "an acquisition over 0.1 s: {slow:?} of {all:?}");
});
