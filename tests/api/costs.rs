//! The cost model, rate limits per key across replicas, persisted queries, and the document cache.

use async_graphql::{Request, Variables};
use axum::http::StatusCode;
use entity::enums::Role;
use psm_api::app::{AppState, router};
use psm_api::auth::Viewer;
use psm_api::config::ApiConfig;
use psm_api::graphql::admission::{Admission, Work};
use psm_api::graphql::{self, cost};
use serde_json::{Value, json};

use crate::limits::{Api, limits};
use crate::support::{TestDb, db_test, error_code};

/// Runs `query` and returns the requested and actual cost from `extensions.cost`, and the data.
async fn costs(db: &TestDb, query: &str, variables: Value) -> (u64, u64, Value) {
    let response = db.run(query, variables).await;
    assert!(response.get("errors").is_none(), "{response:#}");
    let cost = &response["extensions"]["cost"];
    let requested = cost["requestedQueryCost"].as_u64().expect("requested");
    let actual = cost["actualQueryCost"].as_u64().expect("actual");
    assert!(actual <= requested, "{response:#}");
    (requested, actual, response["data"].clone())
}

fn len(value: &Value) -> u64 {
    value.as_array().map_or(0, |items| items.len() as u64)
}

db_test!(connections_multiply_their_children_by_the_page_and_the_actual_cost_counts_what_came, |db| async move {
    db.seed(60).await;
    // 1 for the connection, 7 cases each with its kelurahan.
    let (requested, actual, data) =
        costs(&db, "{ cases(first: 7) { nodes { kelurahan { name } } } }", Value::Null).await;
    assert_eq!(requested, 1 + 7 * 2);
    assert_eq!(actual, 1 + 2 * len(&data["cases"]["nodes"]));
    // Nested connections multiply; totalCount is a counting statement.
    let (requested, actual, data) = costs(
        &db,
        "{ volunteers(first: 3) { nodes { cases(first: 4) { totalCount nodes { referenceNumber } } } } }",
        Value::Null,
    )
    .await;
    assert_eq!(requested, 1 + 3 * (1 + 1 + cost::TOTAL_COUNT + 4));
    let mut expected = 1;
    for volunteer in data["volunteers"]["nodes"].as_array().expect("volunteers") {
        expected += 1 + 1 + cost::TOTAL_COUNT + len(&volunteer["cases"]["nodes"]);
    }
    assert_eq!(actual, expected);
    // The default page size, and an argument's default, and variables with their defaults.
    let (requested, ..) = costs(&db, "{ cases { nodes { id } } }", Value::Null).await;
    assert_eq!(requested, 1 + 20);
    // (STAFF must name an organisation: refused by the resolver, after the cost was computed.)
    let response = db.run("{ referralChanges { changes { kind } } }", Value::Null).await;
    assert_eq!(response["extensions"]["cost"]["requestedQueryCost"], 1 + 100, "{response}");
    let paged = "query($n: Int = 9) { cases(first: $n) { nodes { id } } }";
    assert_eq!(costs(&db, paged, Value::Null).await.0, 10);
    assert_eq!(costs(&db, paged, json!({ "n": 2 })).await.0, 3);
    let (requested, ..) = costs(&db, "{ cases(last: 6) { nodes { id } } }", Value::Null).await;
    assert_eq!(requested, 7);
    // Lists without a page count an estimate each; fragments count where they are spread.
    let (requested, ..) =
        costs(&db, "{ cases(first: 2) { nodes { ...R } } } fragment R on Case { referrals { id } }", Value::Null).await;
    assert_eq!(requested, 1 + 2 * (1 + cost::LIST_ESTIMATE));
    // Statistics: the statement, the groups (5 kecamatan), the total.
    let (requested, actual, data) =
        costs(&db, "{ caseStats(groupBy: [DISTRICT]) { groups { count { value } } } }", Value::Null).await;
    assert_eq!(requested, cost::STATS_BASE + 5 + 1);
    assert_eq!(actual, cost::STATS_BASE + len(&data["caseStats"]["groups"]) + 1);
    let (requested, ..) = costs(&db, "{ caseStats { total { p90DaysToClose } } }", Value::Null).await;
    assert_eq!(requested, cost::STATS_BASE + cost::PERCENTILE + 2);
    let (requested, ..) = costs(
        &db,
        r#"{ referralStats(asOf: "2026-06-30T16:00:00Z") { total { medianHoursToRespond } } }"#,
        Value::Null,
    )
    .await;
    assert_eq!(requested, cost::STATS_BASE + cost::PERCENTILE + cost::AS_OF + 2);
    // A mutation costs its write besides its payload (refused here for its id, after the cost was known).
    let response = db.run("mutation { revokeConsent(id: \"x\") { consent { id } } }", Value::Null).await;
    assert_eq!(response["extensions"]["cost"]["requestedQueryCost"], cost::MUTATION + 2, "{response}");
    // Introspection is answered from memory: a flat cost.
    assert_eq!(costs(&db, "{ __schema { types { name fields { name } } } }", Value::Null).await.0, cost::INTROSPECTION);
});

db_test!(every_answer_carries_its_cost_and_the_keys_budget, |db| async move {
    db.seed(20).await;
    let api = Api::new(&db, ApiConfig::default(), Role::Dashboard).await;
    let answer = api.post(&json!({ "query": "{ regions(first: 10) { nodes { code } } }" })).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let cost = &answer.body["extensions"]["cost"];
    assert_eq!(cost["requestedQueryCost"], 11, "{}", answer.body);
    assert_eq!(cost["actualQueryCost"], 11);
    assert_eq!(cost["throttleStatus"]["maximumAvailable"], 100_000);
    assert_eq!(cost["throttleStatus"]["restoreRate"], 1000);
    let available = cost["throttleStatus"]["currentlyAvailable"].as_u64().expect("available");
    assert!((99_989..=100_000).contains(&available), "{available}");
    assert_eq!(answer.header("x-ratelimit-limit"), Some("100000"));
    let remaining: u64 = answer.header("x-ratelimit-remaining").expect("remaining").parse().expect("number");
    assert!((99_989..=100_000).contains(&remaining));
    let reset: i64 = answer.header("x-ratelimit-reset").expect("reset").parse().expect("epoch seconds");
    assert!((reset - chrono::Utc::now().timestamp()).abs() <= 2, "{reset}");
    // GitHub's rateLimit field: after this query's charge.
    let answer = api.post(&json!({ "query": "{ rateLimit { limit cost remaining restoreRate resetAt } }" })).await;
    let rate = &answer.body["data"]["rateLimit"];
    assert_eq!(rate["limit"], 100_000, "{}", answer.body);
    assert_eq!(rate["cost"], 1);
    assert_eq!(rate["restoreRate"], 1000);
    assert!(rate["remaining"].as_u64().expect("remaining") >= 99_988);
    assert!(rate["resetAt"].is_string());
    // Through the schema alone (no key, no HTTP) there is no budget to report.
    let data = db.data("{ rateLimit { limit } }", Value::Null).await;
    assert!(data["rateLimit"].is_null());
});

/// 30 points, requested and actual: a connection and 29 regions (the migration loads 57).
const THIRTY: &str = "{ regions(first: 29) { nodes { code } } }";

db_test!(a_key_over_its_budget_is_throttled_on_every_replica, |db| async move {
    let config = limits(|limits| {
        limits.rate_limit_points = 100;
        limits.rate_limit_restore = 1;
    });
    let first = Api::new(&db, config.clone(), Role::Staff).await;
    let second = first.replica(router(AppState::new(db.db.clone(), config.clone()).await.expect("replica")));
    for (n, api) in [&first, &second, &first].into_iter().enumerate() {
        let answer = api.post(&json!({ "query": THIRTY })).await;
        assert_eq!(answer.status, StatusCode::OK, "request {n}: {}", answer.body);
        assert_eq!(answer.body["extensions"]["cost"]["actualQueryCost"], 30);
    }
    let answer = second.post(&json!({ "query": THIRTY })).await;
    assert_eq!(answer.status, StatusCode::TOO_MANY_REQUESTS, "{}", answer.body);
    assert_eq!(answer.code(), Some("THROTTLED"));
    assert!(answer.body["data"].is_null());
    let retry: u64 = answer.header("retry-after").expect("Retry-After").parse().expect("seconds");
    assert!((15..=21).contains(&retry), "retry after {retry} s");
    let remaining: u64 = answer.header("x-ratelimit-remaining").expect("remaining").parse().expect("number");
    assert!(remaining < 30, "{remaining}");
    // Another key has its own bucket.
    let other = Api::new(&db, config.clone(), Role::Staff).await;
    assert_eq!(other.post(&json!({ "query": THIRTY })).await.status, StatusCode::OK);
    // A query that could never fit is refused for its cost, not throttled.
    let answer = other.post(&json!({ "query": "{ regions(first: 100) { nodes { code } } }" })).await;
    assert_eq!(answer.code(), Some("MAX_COST_EXCEEDED"), "{}", answer.body);
});

db_test!(what_a_query_did_not_use_is_given_back, |db| async move {
    let config = limits(|limits| {
        limits.rate_limit_points = 100;
        limits.rate_limit_restore = 1;
    });
    let api = Api::new(&db, config, Role::Staff).await;
    // Asks for 50 regions, gets the 5 kecamatan: charged 51, then 45 given back.
    let answer =
        api.post(&json!({ "query": "{ regions(first: 50, filter: {level: [DISTRICT]}) { nodes { code } } }" })).await;
    let cost = &answer.body["extensions"]["cost"];
    assert_eq!(cost["requestedQueryCost"], 51, "{}", answer.body);
    assert_eq!(cost["actualQueryCost"], 6);
    let available = cost["throttleStatus"]["currentlyAvailable"].as_u64().expect("available");
    assert!(available >= 94, "{available} left: the unused points were not given back");
    // A query that fails validation is given back whole.
    let answer = api.post(&json!({ "query": "{ regions(first: 40) { nodes { nosuchfield } } }" })).await;
    assert!(answer.body["errors"].is_array());
    let available =
        answer.body["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"].as_u64().expect("available");
    assert!(available >= 94, "{available}");
});

db_test!(concurrent_requests_on_two_replicas_never_spend_more_than_the_budget, |db| async move {
    let config = limits(|limits| {
        limits.rate_limit_points = 100;
        limits.rate_limit_restore = 1;
    });
    let first = Api::new(&db, config.clone(), Role::Staff).await;
    let second = first.replica(router(AppState::new(db.db.clone(), config).await.expect("replica")));
    let body = json!({ "query": THIRTY });
    let requests = (0..10).map(|n| {
        let api = if n % 2 == 0 { &first } else { &second };
        api.post(&body)
    });
    let answers = futures_util::future::join_all(requests).await;
    let served = answers.iter().filter(|answer| answer.status == StatusCode::OK).count();
    let throttled = answers.iter().filter(|answer| answer.status == StatusCode::TOO_MANY_REQUESTS).count();
    assert_eq!((served, throttled), (3, 7), "{:?}", answers.iter().map(|a| a.body.to_string()).collect::<Vec<_>>());
});

fn sha256(text: &str) -> String {
    psm_api::auth::sha256_hex(text)
}

fn persisted(hash: &str) -> Value {
    json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } })
}

async fn stored_queries(db: &TestDb) -> i64 {
    use sea_orm::ConnectionTrait;
    let select = sea_orm::sea_query::Query::select()
        .expr(sea_orm::sea_query::Expr::cust("COUNT(*)"))
        .from("persisted_queries")
        .take();
    let row = db.db.query_one(&select).await.expect("count").expect("row");
    row.try_get_by_index::<i64>(0).expect("count")
}

db_test!(persisted_queries_follow_apollos_protocol_on_every_replica, |db| async move {
    let api = Api::new(&db, ApiConfig::default(), Role::Staff).await;
    let query = "{ viewer { role } }";
    let hash = sha256(query);
    // Unknown hash: Apollo Client's cue to send the query.
    let answer = api.post(&json!({ "extensions": persisted(&hash) })).await;
    assert_eq!(answer.code(), Some("PERSISTED_QUERY_NOT_FOUND"), "{}", answer.body);
    assert_eq!(answer.body["errors"][0]["message"], "PersistedQueryNotFound");
    // A query that does not match its hash is refused and not stored.
    let answer = api.post(&json!({ "query": "{ viewer { keyPrefix } }", "extensions": persisted(&hash) })).await;
    assert_eq!(answer.code(), Some("PERSISTED_QUERY_HASH_MISMATCH"), "{}", answer.body);
    assert_eq!(stored_queries(&db).await, 0);
    // Registration: the query with its hash runs and is stored.
    let answer = api.post(&json!({ "query": query, "extensions": persisted(&hash) })).await;
    assert_eq!(answer.body["data"]["viewer"]["role"], "STAFF", "{}", answer.body);
    assert_eq!(stored_queries(&db).await, 1);
    // Another replica (empty memory) serves it by hash alone, over GET and POST.
    let replica = api.replica(router(AppState::new(db.db.clone(), ApiConfig::default()).await.expect("replica")));
    let extensions = persisted(&hash).to_string();
    let answer = replica.get(&[("extensions", &extensions)]).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.body["data"]["viewer"]["role"], "STAFF", "{}", answer.body);
    let answer = replica.post(&json!({ "extensions": persisted(&hash.to_uppercase()) })).await;
    assert_eq!(answer.body["data"]["viewer"]["role"], "STAFF", "{}", answer.body);
    // A query refused by a limit is not stored, even with the right hash.
    let wide: String = (0..20).map(|n| format!("v{n}: viewer {{ role }} ")).collect();
    let wide = format!("{{ {wide}}}");
    let answer = api.post(&json!({ "query": wide, "extensions": persisted(&sha256(&wide)) })).await;
    assert_eq!(answer.code(), Some("TOO_MANY_ALIASES"), "{}", answer.body);
    assert_eq!(stored_queries(&db).await, 1);
    // Only version 1 and well-formed hashes.
    let answer = api.post(&json!({ "extensions": { "persistedQuery": { "version": 2, "sha256Hash": hash } } })).await;
    assert_eq!(answer.code(), Some("BAD_USER_INPUT"), "{}", answer.body);
    let before = db.statements();
    let answer = api.post(&json!({ "extensions": persisted("'; DROP TABLE persisted_queries; --") })).await;
    assert_eq!(answer.code(), Some("PERSISTED_QUERY_NOT_FOUND"), "{}", answer.body);
    assert_eq!(db.statements() - before, api.auth_statements, "a malformed hash was looked up");
    let answer = api.post(&json!({ "query": query, "extensions": persisted("00") })).await;
    assert_eq!(answer.code(), Some("PERSISTED_QUERY_HASH_MISMATCH"), "{}", answer.body);
    // A persisted mutation is never run over GET.
    let mutation = "mutation { revokeConsent(id: \"Q29uc2VudDox\") { consent { id } } }";
    let mutation_hash = sha256(mutation);
    api.post(&json!({ "query": mutation, "extensions": persisted(&mutation_hash) })).await;
    assert_eq!(stored_queries(&db).await, 2);
    let extensions = persisted(&mutation_hash).to_string();
    let answer = api.get(&[("extensions", &extensions)]).await;
    assert_eq!(answer.status, StatusCode::METHOD_NOT_ALLOWED, "{}", answer.body);
    assert_eq!(answer.code(), Some("METHOD_NOT_ALLOWED"));
    assert_eq!(answer.header("allow"), Some("POST"));
});

async fn run(db: &TestDb, schema: &graphql::PsmSchema, query: &str, variables: Value) -> Value {
    let request = Request::new(query).variables(Variables::from_json(variables));
    let response =
        graphql::execute(schema, request, &db.db, &Viewer::with_role(Role::Staff), &Default::default()).await;
    serde_json::to_value(&response).expect("json")
}

db_test!(a_repeated_query_is_parsed_once, |db| async move {
    let cursor_key = psm_api::secret::cursor_key(&db.db).await.map_err(|e| e.detail()).expect("cursor key");
    let admission = Admission::new(ApiConfig::default());
    let schema = graphql::schema_with_admission(ApiConfig::default(), cursor_key, &admission);
    let query = "query($level: [RegionLevel!]) { regions(filter: {level: $level}) { totalCount } }";
    let districts = json!({ "level": ["DISTRICT"] });
    assert_eq!(run(&db, &schema, query, districts.clone()).await["data"]["regions"]["totalCount"], 5);
    assert_eq!(admission.work(), Work { parsed: 1 });
    assert_eq!(run(&db, &schema, query, districts.clone()).await["data"]["regions"]["totalCount"], 5);
    assert_eq!(admission.work(), Work { parsed: 1 }, "the repeated query was parsed again");
    // Other variables: not parsed again, and validated with them.
    let response = run(&db, &schema, query, json!({ "level": ["SUBDISTRICT"] })).await;
    assert_eq!(response["data"]["regions"]["totalCount"], 52);
    assert_eq!(admission.work(), Work { parsed: 1 });
    // Invalid variables are still refused on a cached document.
    let response = run(&db, &schema, query, json!({ "level": ["NOWHERE"] })).await;
    assert_eq!(error_code(&response), Some("BAD_USER_INPUT"), "{response}");
    // A cached document that fails validation fails it every time, with its code.
    for _ in 0..2 {
        let response = run(&db, &schema, "{ regions { nosuchfield } }", Value::Null).await;
        assert_eq!(error_code(&response), Some("GRAPHQL_VALIDATION_FAILED"), "{response}");
    }
    assert_eq!(admission.work(), Work { parsed: 2 });
    // Without a cache, every request pays again.
    let config = limits(|limits| limits.document_cache_size = 0);
    let admission = Admission::new(config.clone());
    let schema = graphql::schema_with_admission(config, cursor_key, &admission);
    run(&db, &schema, query, districts.clone()).await;
    run(&db, &schema, query, districts).await;
    assert_eq!(admission.work(), Work { parsed: 2 });
});
