//! The web edge through the router: GraphQL over HTTP (media types, status codes, refusals, error
//! codes), CORS rules and preflights, compression, security and cache headers, GraphiQL's assets, and
//! the record of refused lookups.

use std::io::Read as _;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use entity::enums::Role;
use http_body_util::BodyExt;
use psm_api::app::{AppState, router};
use psm_api::auth::{NewKey, create_key};
use psm_api::config::ApiConfig;
use psm_api::web::cors::{CorsPolicy, Origins};
use psm_api::web::graphiql::ASSETS;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::support::{TestDb, db_test};

/// An answer, read whole.
struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| panic!("not JSON ({}): {}", self.status, String::from_utf8_lossy(&self.body)))
    }

    fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|value| value.to_str().ok()).unwrap_or_default()
    }
}

async fn send(app: &axum::Router, request: Request<Body>) -> Answer {
    let response = app.clone().oneshot(request).await.expect("response");
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.expect("body").to_bytes().to_vec();
    Answer { status, headers, body }
}

async fn app_and_key(db: &TestDb) -> (axum::Router, String) {
    let new = NewKey { role: Role::Staff, organisation: None, volunteer: None, name: "web".into() };
    let key = create_key(&db.db, &new).await.map_err(|e| e.detail()).expect("create key").0;
    (router(AppState::new(db.db.clone(), ApiConfig::default()).await.expect("app state")), key)
}

/// A POST of `body` (raw) with a content type and an Accept header (either may be absent).
fn post(key: &str, content_type: Option<&str>, accept: Option<&str>, body: &str) -> Request<Body> {
    let mut request = Request::post("/graphql").header("authorization", format!("Bearer {key}"));
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    request.body(Body::from(body.to_owned())).expect("request")
}

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";

db_test!(accept_negotiation_picks_the_media_type_of_the_answer, |db| async move {
    let (app, key) = app_and_key(&db).await;
    let query = r#"{"query":"{ __typename }"}"#;
    for (accept, expected) in [
        (None, "application/json"),
        (Some("*/*"), "application/json"),
        (Some("application/*"), "application/json"),
        (Some("application/json"), "application/json"),
        (Some(GRAPHQL_RESPONSE), GRAPHQL_RESPONSE),
        (Some("application/graphql-response+json, application/json;q=0.9"), GRAPHQL_RESPONSE),
        (Some("application/json, application/graphql-response+json;q=0.5"), "application/json"),
        (Some("text/html,application/xhtml+xml,*/*;q=0.8"), "application/json"),
    ] {
        let answer = send(&app, post(&key, Some("application/json"), accept, query)).await;
        assert_eq!(answer.status, StatusCode::OK, "{accept:?}");
        assert_eq!(answer.header("content-type"), format!("{expected}; charset=utf-8"), "{accept:?}");
        assert_eq!(answer.json()["data"], json!({ "__typename": "QueryRoot" }));
    }
    // Accepting neither is 406, answered in JSON.
    let answer = send(&app, post(&key, Some("application/json"), Some("text/html"), query)).await;
    assert_eq!(answer.status, StatusCode::NOT_ACCEPTABLE);
    assert_eq!(answer.json()["errors"][0]["extensions"]["code"], "NOT_ACCEPTABLE");
});

db_test!(request_errors_are_400_without_data_for_graphql_response_json_and_200_for_json, |db| async move {
    let (app, key) = app_and_key(&db).await;
    let cases = [
        (json!({ "query": "{" }), "GRAPHQL_PARSE_FAILED"),
        (json!({ "query": "{ noSuchField }" }), "GRAPHQL_VALIDATION_FAILED"),
        (json!({ "query": "{ cases(first: 5) }" }), "GRAPHQL_VALIDATION_FAILED"),
        (json!({ "query": "query($id: ID!) { case(id: $id) { id } }" }), "BAD_USER_INPUT"),
        (json!({ "query": "query($id: ID!) { case(id: $id) { id } }", "variables": { "id": null } }), "BAD_USER_INPUT"),
        (
            json!({ "query": "query($n: Int) { cases(first: $n) { totalCount } }", "variables": { "n": "ten" } }),
            "BAD_USER_INPUT",
        ),
        (
            json!({ "query": "query CoerceFailure($id: ID!) { __typename }", "variables": { "id": null } }),
            "BAD_USER_INPUT",
        ),
        (json!({ "query": "query A { __typename } query B { __typename }" }), "OPERATION_RESOLUTION_FAILURE"),
        (json!({ "query": "query A { __typename }", "operationName": "B" }), "OPERATION_RESOLUTION_FAILURE"),
        (
            json!({ "extensions": { "persistedQuery": { "version": 1, "sha256Hash": "00" } } }),
            "PERSISTED_QUERY_NOT_FOUND",
        ),
    ];
    for (body, code) in cases {
        for (accept, status) in [(GRAPHQL_RESPONSE, StatusCode::BAD_REQUEST), ("application/json", StatusCode::OK)] {
            let answer = send(&app, post(&key, Some("application/json"), Some(accept), &body.to_string())).await;
            let json = answer.json();
            assert_eq!(answer.status, status, "{body} as {accept}: {json}");
            assert!(answer.header("content-type").starts_with(accept), "{body}");
            assert_eq!(json["errors"][0]["extensions"]["code"], code, "{body}: {json}");
            assert!(json.get("data").is_none(), "a request error has no data entry: {body}: {json}");
            for location in json["errors"][0]["locations"].as_array().into_iter().flatten() {
                assert!(location["line"].as_u64() > Some(0) && location["column"].as_u64() > Some(0), "{json}");
            }
        }
    }
    // A field error is not a request error: data stays, and the status is 200 for both types.
    let body = json!({ "query": "{ cases(first: 1000) { totalCount } viewer { role } }" });
    let answer = send(&app, post(&key, Some("application/json"), Some(GRAPHQL_RESPONSE), &body.to_string())).await;
    assert_eq!(answer.status, StatusCode::OK);
    let json = answer.json();
    assert_eq!(json["data"]["viewer"]["role"], "STAFF", "{json}");
    assert_eq!(json["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{json}");
});

db_test!(malformed_http_requests_get_json_refusals_with_their_status, |db| async move {
    let (app, key) = app_and_key(&db).await;
    let query = r#"{"query":"{ __typename }"}"#;
    let cases: Vec<(Request<Body>, StatusCode, &str)> = vec![
        (post(&key, None, None, query), StatusCode::UNSUPPORTED_MEDIA_TYPE, "UNSUPPORTED_MEDIA_TYPE"),
        (post(&key, Some("text/plain"), None, query), StatusCode::UNSUPPORTED_MEDIA_TYPE, "UNSUPPORTED_MEDIA_TYPE"),
        (
            post(&key, Some("application/x-www-form-urlencoded"), None, "query=%7B__typename%7D"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
        ),
        (
            post(&key, Some("application/json; charset=latin1"), None, query),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
        ),
        (
            post(&key, Some("application/json"), None, r#"[{"query":"{ __typename }"}]"#),
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
        ),
        (post(&key, Some("application/json"), None, r#"{ "not JSON"#), StatusCode::BAD_REQUEST, "BAD_REQUEST"),
        (post(&key, Some("application/json"), None, ""), StatusCode::BAD_REQUEST, "BAD_REQUEST"),
        (
            post(&key, Some("application/json"), None, r#"{"qeury":"{ __typename }"}"#),
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
        ),
        (post(&key, Some("application/json"), None, r#"{"query":{"a":1}}"#), StatusCode::BAD_REQUEST, "BAD_REQUEST"),
        (
            post(&key, Some("application/json"), None, r#"{"query":"{ __typename }","variables":"{}"}"#),
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
        ),
        (
            post(&key, Some("application/json"), None, r#"{"query":"{ __typename }","operationName":1}"#),
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
        ),
        (
            post(&key, Some("application/json"), None, r#"{"query":"{ __typename }","extensions":[]}"#),
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
        ),
        (
            Request::get("/graphql?query=%7B__typename%7D&variables=%7Bnot")
                .header("authorization", format!("Bearer {key}"))
                .body(Body::empty())
                .expect("request"),
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
        ),
        (
            Request::get("/graphql?query=mutation%7BrevokeConsent(id%3A%22x%22)%7Bconsent%7Bid%7D%7D%7D")
                .header("authorization", format!("Bearer {key}"))
                .body(Body::empty())
                .expect("request"),
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
        ),
        (
            Request::put("/graphql").body(Body::empty()).expect("request"),
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
        ),
        (Request::get("/nowhere").body(Body::empty()).expect("request"), StatusCode::NOT_FOUND, "NOT_FOUND"),
        (
            Request::get("/graphiql/assets/nothing.js").body(Body::empty()).expect("request"),
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
        ),
        (
            Request::get("/graphiql?role=a&role=b").body(Body::empty()).expect("request"),
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
        ),
        (
            Request::post("/graphql")
                .header("content-type", "application/json")
                .body(Body::from(query))
                .expect("request"),
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
        ),
    ];
    for (request, status, code) in cases {
        let described = format!("{} {}", request.method(), request.uri());
        let answer = send(&app, request).await;
        assert_eq!(answer.status, status, "{described}: {}", String::from_utf8_lossy(&answer.body));
        assert!(answer.header("content-type").starts_with("application/json"), "{described}: {:?}", answer.headers);
        let json = answer.json();
        assert_eq!(json["errors"][0]["extensions"]["code"], code, "{described}: {json}");
        assert!(json["errors"][0]["message"].as_str().is_some_and(|m| !m.is_empty()), "{described}: {json}");
    }
    // GET runs queries: with URL-encoded variables, as GraphQL over HTTP allows.
    let request = Request::get("/graphql?query=query(%24c%3AString!)%7Bregion(code%3A%24c)%7Bcode%7D%7D&variables=%7B%22c%22%3A%2263.71.01%22%7D")
        .header("authorization", format!("Bearer {key}"))
        .body(Body::empty())
        .expect("request");
    let answer = send(&app, request).await;
    assert_eq!(answer.json()["data"], json!({ "region": { "code": "63.71.01" } }));
});

db_test!(an_internal_error_shows_no_location_and_is_http_500, |db| async move {
    let internal = || {
        let mut error =
            async_graphql::ServerError::new("internal error (reference x)", Some(async_graphql::Pos::default()));
        error.extensions.get_or_insert_with(Default::default).set("code", "INTERNAL");
        async_graphql::Response::from_errors(vec![error])
    };
    for media in [psm_api::web::protocol::MediaType::Json, psm_api::web::protocol::MediaType::GraphqlResponse] {
        let answer = psm_api::web::protocol::encode(media, internal());
        assert_eq!(answer.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = answer.into_body().collect().await.expect("body").to_bytes();
        let json: Value = serde_json::from_slice(&body).expect("json");
        assert!(json["errors"][0].get("locations").is_none(), "{json}");
        assert!(json.get("data").is_none(), "{json}");
    }
    // Through the executor: the record of personal reads cannot be written (the audit table is gone),
    // so the answer is withheld, with an INTERNAL error that points at no place in the document.
    db.seed(5).await;
    sea_orm::ConnectionTrait::execute_unprepared(&db.db, "DROP TABLE audit_events").await.expect("drop");
    let response = db.run("{ persons(first: 1) { nodes { fullName } } }", Value::Null).await;
    assert_eq!(response["errors"][0]["extensions"]["code"], "INTERNAL", "{response}");
    assert!(response["errors"][0].get("locations").is_none(), "{response}");
});

db_test!(api_answers_are_not_stored_nor_sniffed_and_assets_are_cached_for_a_year, |db| async move {
    let (app, key) = app_and_key(&db).await;
    let requests = [
        post(&key, Some("application/json"), None, r#"{"query":"{ __typename }"}"#),
        post(&key, Some("application/json"), Some(GRAPHQL_RESPONSE), r#"{"query":"{"}"#),
        post("psm_wrong", Some("application/json"), None, r#"{"query":"{ __typename }"}"#),
        Request::get("/schema.graphql").body(Body::empty()).expect("request"),
        Request::get("/healthz").body(Body::empty()).expect("request"),
        Request::get("/graphiql").body(Body::empty()).expect("request"),
        Request::get("/nowhere").body(Body::empty()).expect("request"),
    ];
    for request in requests {
        let described = format!("{} {}", request.method(), request.uri());
        let answer = send(&app, request).await;
        assert_eq!(answer.header("cache-control"), "no-store", "{described}");
        assert_eq!(answer.header("x-content-type-options"), "nosniff", "{described}");
    }
    for asset in ASSETS {
        let answer =
            send(&app, Request::get(format!("/graphiql/assets/{}", asset.name)).body(Body::empty()).expect("request"))
                .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", asset.name);
        assert_eq!(answer.body, asset.bytes, "{}", asset.name);
        assert_eq!(answer.header("x-content-type-options"), "nosniff");
        assert_eq!(answer.header("content-type"), asset.content_type);
        let cache = if asset.pinned { "public, max-age=31536000, immutable" } else { "no-cache" };
        assert_eq!(answer.header("cache-control"), cache, "{}", asset.name);
    }
});

db_test!(answers_are_compressed_with_gzip_or_brotli_as_negotiated, |db| async move {
    db.seed(300).await;
    let (app, key) = app_and_key(&db).await;
    let query =
        r#"{"query":"{ cases(first: 100) { nodes { id referenceNumber status urgency openedAt categories } } }"}"#;
    let with = |encoding: Option<&str>| {
        let mut request = post(&key, Some("application/json"), None, query);
        if let Some(encoding) = encoding {
            request.headers_mut().insert(header::ACCEPT_ENCODING, encoding.parse().expect("header"));
        }
        request
    };
    let plain = send(&app, with(None)).await;
    assert_eq!(plain.header("content-encoding"), "");
    let cases = plain.json();
    assert_eq!(cases["data"]["cases"]["nodes"].as_array().map(Vec::len), Some(100));
    let gzip = send(&app, with(Some("gzip"))).await;
    assert_eq!(gzip.header("content-encoding"), "gzip");
    let mut unzipped = Vec::new();
    flate2::read::GzDecoder::new(gzip.body.as_slice()).read_to_end(&mut unzipped).expect("gunzip");
    let data = |bytes: &[u8]| serde_json::from_slice::<Value>(bytes).expect("json")["data"].clone();
    assert_eq!(data(&unzipped), cases["data"]);
    let brotli = send(&app, with(Some("br;q=1.0, gzip;q=0.5"))).await;
    assert_eq!(brotli.header("content-encoding"), "br");
    let mut unbrotlied = Vec::new();
    brotli::Decompressor::new(brotli.body.as_slice(), 4096).read_to_end(&mut unbrotlied).expect("unbrotli");
    assert_eq!(data(&unbrotlied), cases["data"]);
    eprintln!("100 cases: {} bytes plain, {} gzip, {} brotli", plain.body.len(), gzip.body.len(), brotli.body.len());
    assert!(gzip.body.len() * 3 < plain.body.len() && brotli.body.len() * 3 < plain.body.len());
    // A client that refuses both gets the plain body.
    let identity = send(&app, with(Some("identity"))).await;
    assert_eq!(identity.header("content-encoding"), "");
    assert_eq!(data(&identity.body), cases["data"]);
});

fn preflight(origin: &str) -> Request<Body> {
    Request::options("/graphql")
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "authorization, content-type")
        .body(Body::empty())
        .expect("request")
}

db_test!(cors_answers_preflights_for_allowed_origins_only, |db| async move {
    let (_, key) = app_and_key(&db).await;
    let state = AppState::new(db.db.clone(), ApiConfig::default()).await.expect("app state");
    let policy =
        CorsPolicy { origins: Origins::List(vec!["https://dashboard.example.org".into()]), ..CorsPolicy::default() };
    let app = router(state.clone().with_cors(policy));
    let answer = send(&app, preflight("https://dashboard.example.org")).await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT);
    assert_eq!(answer.header("access-control-allow-origin"), "https://dashboard.example.org");
    let allowed = answer.header("access-control-allow-headers").to_lowercase();
    assert!(allowed.contains("authorization") && allowed.contains("content-type"), "{allowed}");
    assert!(answer.header("access-control-allow-methods").contains("POST"));
    assert_eq!(answer.header("access-control-max-age"), "7200");
    assert!(answer.body.is_empty());
    // The answer itself names the origin and exposes the rate-limit headers; a 401 does too, so that
    // the page can read why it was refused.
    for key in [key.as_str(), "psm_wrong"] {
        let mut request = post(key, Some("application/json"), None, r#"{"query":"{ __typename }"}"#);
        request.headers_mut().insert("origin", "https://dashboard.example.org".parse().expect("origin"));
        let answer = send(&app, request).await;
        assert_eq!(answer.header("access-control-allow-origin"), "https://dashboard.example.org");
        assert!(answer.header("access-control-expose-headers").contains("x-ratelimit-remaining"));
        assert!(answer.header("access-control-expose-headers").contains("retry-after"));
    }
    // Any other origin (a lookalike, another scheme, a subdomain) gets no CORS header.
    for origin in
        ["https://evil.example.org", "http://dashboard.example.org", "https://dashboard.example.org.evil", "null"]
    {
        let answer = send(&app, preflight(origin)).await;
        assert_eq!(answer.header("access-control-allow-origin"), "", "{origin}");
    }
    // Nothing is allowed by default, local origins included.
    let answer = send(&router(state.clone()), preflight("http://localhost:3000")).await;
    assert_eq!(answer.header("access-control-allow-origin"), "");
    // The demo's local origins: any port of localhost and 127.0.0.1 over http, nothing else.
    let app = router(state.with_cors(CorsPolicy { origins: Origins::Local, ..CorsPolicy::default() }));
    for (origin, allowed) in [
        ("http://localhost:3000", true),
        ("http://127.0.0.1:5173", true),
        ("http://localhost", true),
        ("https://localhost:3000", false),
        ("http://localhost.evil.org:3000", false),
        ("http://127.0.0.1.evil.org", false),
        ("http://192.168.1.10:3000", false),
    ] {
        let answer = send(&app, preflight(origin)).await;
        let expected = if allowed { origin } else { "" };
        assert_eq!(answer.header("access-control-allow-origin"), expected, "{origin}");
    }
});

#[test]
fn cors_origins_come_from_the_command_line_with_the_demo_default() {
    use clap::Parser;
    let parse = |args: &[&str]| psm_api::config::Cli::try_parse_from([&["psm-api"], args].concat());
    let cors = |args: &[&str], demo: bool| {
        let cli = parse(args).expect("arguments");
        CorsPolicy::from_args(&cli.serve.cors, demo)
    };
    assert_eq!(cors(&[], true).expect("policy").origins, Origins::Local);
    assert_eq!(cors(&[], false).expect("policy").origins, Origins::List(vec![]));
    let list = cors(&["--cors-origins", "https://a.example.org,http://b.example.org:8080"], false).expect("policy");
    assert_eq!(list.origins, Origins::List(vec!["https://a.example.org".into(), "http://b.example.org:8080".into()]));
    // A list given on the demo replaces its default; an empty one allows nothing.
    assert_eq!(
        cors(&["--cors-origins", "https://a.example.org"], true).expect("policy").origins,
        Origins::List(vec!["https://a.example.org".into()])
    );
    assert_eq!(cors(&["--cors-origins", ""], true).expect("policy").origins, Origins::List(vec![]));
    assert_eq!(cors(&["--cors-max-age", "60"], false).expect("policy").max_age, std::time::Duration::from_secs(60));
    for bad in [
        "https://a.example.org/",
        "a.example.org",
        "ftp://a.example.org",
        "https://*.example.org",
        "https://a.example.org/path",
    ] {
        assert!(cors(&["--cors-origins", bad], false).is_err(), "{bad} accepted");
    }
}

#[test]
fn graphiql_assets_match_their_pinned_checksums() {
    use sha2::Digest as _;
    let sums = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/graphiql/SHA256SUMS"))
        .expect("SHA256SUMS");
    let pinned: Vec<_> = ASSETS.iter().filter(|asset| asset.pinned).collect();
    assert_eq!(sums.lines().count(), pinned.len(), "every vendored asset has one sum");
    for asset in pinned {
        let line = sums.lines().find(|line| line.ends_with(&format!("  {}", asset.name))).expect("a sum for the asset");
        let digest: String = sha2::Sha256::digest(asset.bytes).iter().map(|byte| format!("{byte:02x}")).collect();
        assert_eq!(line.split_whitespace().next(), Some(digest.as_str()), "{} differs from its pinned sum", asset.name);
    }
}

db_test!(graphiql_loads_only_its_own_assets, |db| async move {
    let (app, _) = app_and_key(&db).await;
    let answer = send(&app, Request::get("/graphiql").body(Body::empty()).expect("request")).await;
    let page = String::from_utf8_lossy(&answer.body).into_owned();
    assert!(!page.contains("http://") && !page.contains("https://") && !page.contains("//unpkg"), "{page}");
    let policy = answer.header("content-security-policy");
    assert!(
        policy.contains("default-src 'none'")
            && policy.contains("script-src 'self'")
            && policy.contains("connect-src 'self'")
    );
    for asset in ASSETS {
        assert!(
            page.contains(&format!("src=\"graphiql/assets/{}\"", asset.name))
                || page.contains(&format!("href=\"graphiql/assets/{}\"", asset.name)),
            "{} not loaded",
            asset.name
        );
    }
    // The settings cannot break out of their element, whatever a key or role holds.
    assert!(!page.contains("</script><script>"));
});

db_test!(probing_unknown_ids_is_recorded_in_the_audit_trail, |db| async move {
    use entity::audit_event;
    use entity::enums::AuditAction;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    db.seed(20).await;
    let missing = psm_api::graphql::ids::encode(psm_api::graphql::ids::NodeType::Referral, uuid::Uuid::now_v7()).0;
    let partner = psm_api::auth::Viewer::partner(uuid::Uuid::now_v7());
    let response = db
        .run_as(
            &partner,
            "query($id: ID!) { referral(id: $id) { id } node(id: $id) { id } nodes(ids: [$id, $id]) { id } }",
            json!({ "id": missing }),
        )
        .await;
    assert_eq!(response["data"], json!({ "referral": null, "node": null, "nodes": [null, null] }), "{response}");
    let denied = audit_event::Entity::find()
        .filter(audit_event::Column::Action.eq(AuditAction::Denied))
        .all(&db.db)
        .await
        .expect("audit");
    let fields: Vec<String> = denied.iter().filter_map(|event| event.fields.clone()).collect();
    let recorded = fields.join(",");
    for probe in ["NOT_FOUND referral", "NOT_FOUND node", "NOT_FOUND nodes"] {
        assert!(recorded.contains(probe), "{probe} not recorded: {recorded}");
    }
});
