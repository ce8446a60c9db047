//! The HTTP surface: GraphQL over POST and GET, GraphiQL, the SDL, the health check.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use entity::enums::Role;
use http_body_util::BodyExt;
use psm_api::app::{AppState, router};
use psm_api::auth::{DemoKey, NewKey, create_key};
use psm_api::config::ApiConfig;
use serde_json::Value;
use tower::ServiceExt;

use crate::support::db_test;

async fn get(app: &axum::Router, uri: &str) -> (StatusCode, String) {
    let response =
        app.clone().oneshot(Request::get(uri).body(Body::empty()).expect("request")).await.expect("response");
    let status = response.status();
    let body = response.into_body().collect().await.expect("body").to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

async fn get_with_key(app: &axum::Router, uri: &str, key: &str) -> (StatusCode, String) {
    let request =
        Request::get(uri).header("authorization", format!("Bearer {key}")).body(Body::empty()).expect("request");
    let response = app.clone().oneshot(request).await.expect("response");
    let status = response.status();
    let body = response.into_body().collect().await.expect("body").to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

async fn staff_key(db: &crate::support::TestDb) -> String {
    let new = NewKey { role: Role::Staff, organisation: None, volunteer: None, name: "test".into() };
    create_key(&db.db, &new).await.map_err(|e| e.detail()).expect("create key").0
}

db_test!(http_routes_serve_graphql_graphiql_sdl_and_health, |db| async move {
    let app = router(AppState::new(db.db.clone(), ApiConfig::default()).await.expect("app state"));
    let key = staff_key(&db).await;
    let (status, body) = get(&app, "/healthz").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = get(&app, "/graphiql").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("graphiql"), "GraphiQL page expected");
    let (status, body) = get(&app, "/schema.graphql").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, psm_api::graphql::sdl());

    let (status, body) = get_with_key(
        &app,
        "/graphql?query=%7B%20regions(filter%3A%7Blevel%3A%5BDISTRICT%5D%7D)%20%7B%20totalCount%20%7D%20%7D",
        &key,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let json: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(json["data"]["regions"]["totalCount"], 5, "{body}");

    let request = Request::post("/graphql")
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {key}"))
        .body(Body::from(r#"{"query":"{ region(code: \"63.71.01\") { name children { code } } }"}"#))
        .expect("request");
    let response = app.clone().oneshot(request).await.expect("response");
    assert_eq!(response.status(), StatusCode::OK);
    let body = response.into_body().collect().await.expect("body").to_bytes();
    let json: Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(json["data"]["region"]["name"], "Banjarmasin Selatan", "{json}");
    assert_eq!(json["data"]["region"]["children"].as_array().map(Vec::len), Some(12), "{json}");
});

/// Real keys of STAFF, DASHBOARD and ADMIN, handed to the GraphiQL page as if they were demo keys, so that
/// the page's rules are tested on both databases (demo keys themselves exist only in SQLite).
async fn page_keys(db: &crate::support::TestDb) -> Vec<DemoKey> {
    let mut keys = Vec::new();
    for role in [Role::Staff, Role::Dashboard, Role::Admin] {
        let new = NewKey { role, organisation: None, volunteer: None, name: "page".into() };
        let key = create_key(&db.db, &new).await.map_err(|e| e.detail()).expect("create key").0;
        keys.push(DemoKey { role, key, expires_at: chrono::Utc::now() + chrono::Duration::days(30) });
    }
    keys
}

fn key_of(keys: &[DemoKey], role: Role) -> String {
    keys.iter().find(|key| key.role == role).map(|key| key.key.clone()).expect("key of role")
}

db_test!(graphiql_opens_with_the_demo_key_of_the_chosen_role, |db| async move {
    let keys = page_keys(&db).await;
    let state = AppState::new(db.db.clone(), ApiConfig::default()).await.expect("app state");
    let app = router(state.clone().with_demo_keys(keys.clone()));
    let (status, page) = get(&app, "/graphiql").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains(&format!("Bearer {}", key_of(&keys, Role::Staff))), "STAFF by default");
    assert!(page.contains("demo STAFF key"), "the title names the role");
    let (_, page) = get(&app, "/graphiql?role=DashBoard").await;
    assert!(page.contains(&format!("Bearer {}", key_of(&keys, Role::Dashboard))));
    assert!(page.contains("demo DASHBOARD key"));
    // The key the page sends works, as its role.
    let (status, body) =
        get_with_key(&app, "/graphql?query=%7Bviewer%7Brole%7D%7D", &key_of(&keys, Role::Dashboard)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("DASHBOARD"), "{body}");
    // Without demo keys (PostgreSQL), the page sends none.
    let (_, page) = get(&router(state), "/graphiql").await;
    assert!(!page.contains("Bearer psm_"));
});

db_test!(graphiql_never_hands_out_the_admin_key, |db| async move {
    let keys = page_keys(&db).await;
    let admin = key_of(&keys, Role::Admin);
    let app = router(AppState::new(db.db.clone(), ApiConfig::default()).await.expect("app state").with_demo_keys(keys));
    for uri in ["/graphiql?role=admin", "/graphiql?role=ADMIN", "/graphiql?role=%20admin%20"] {
        let (status, page) = get(&app, uri).await;
        assert_eq!(status, StatusCode::OK, "{uri}");
        assert!(!page.contains(&admin), "{uri} handed out the ADMIN key");
        assert!(!page.contains(&admin[..12]), "{uri} shows the ADMIN key's prefix");
        assert!(!page.contains("Bearer psm_"), "{uri} sends a key");
        assert!(page.contains("printed on the server console"), "{uri}: the title says where the key is");
    }
});

db_test!(graphiql_refuses_a_role_that_does_not_exist, |db| async move {
    let keys = page_keys(&db).await;
    let app = router(
        AppState::new(db.db.clone(), ApiConfig::default()).await.expect("app state").with_demo_keys(keys.clone()),
    );
    for uri in ["/graphiql?role=root", "/graphiql?role=", "/graphiql?role=staff%27%3E"] {
        let (status, body) = get(&app, uri).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {body}");
        assert!(!body.contains("Bearer") && !body.contains(&key_of(&keys, Role::Staff)), "{uri} sent a key");
        let json: Value = serde_json::from_str(&body).expect("json");
        let roles: Vec<&str> = json["roles"].as_array().expect("roles").iter().filter_map(Value::as_str).collect();
        let every: Vec<String> = Role::ALL.iter().map(|role| role.as_str().to_lowercase()).collect();
        assert_eq!(roles, every, "{uri}: the valid roles are listed");
    }
});

db_test!(demo_keys_are_random_per_database_expire_and_exist_only_in_sqlite, |db| async move {
    use chrono::{Duration, Utc};
    use psm_api::auth::{create_demo_keys, demo_keys};
    db.seed(20).await;
    if db.db.get_database_backend() != sea_orm::DatabaseBackend::Sqlite {
        assert!(create_demo_keys(&db.db, Duration::days(30)).await.is_err(), "demo keys made outside SQLite");
        assert!(demo_keys(&db.db).await.map_err(|e| e.detail()).expect("demo keys").is_empty());
        return;
    }
    let before = Utc::now();
    let keys = create_demo_keys(&db.db, Duration::days(30)).await.map_err(|e| e.detail()).expect("demo keys");
    assert_eq!(keys.len(), Role::ALL.len(), "one per role");
    assert_eq!(demo_keys(&db.db).await.map_err(|e| e.detail()).expect("present"), keys, "kept to be printed");
    for key in &keys {
        let lifetime = key.expires_at - before;
        assert!(
            lifetime > Duration::days(30) - Duration::minutes(1)
                && lifetime <= Duration::days(30) + Duration::minutes(1)
        );
    }
    let app = router(AppState::new(db.db.clone(), ApiConfig::default()).await.expect("app state"));
    let viewer = "/graphql?query=%7Bviewer%7Brole%7D%7D";
    for key in &keys {
        let (status, body) = get_with_key(&app, viewer, &key.key).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body.contains(key.role.as_str()), "{body}");
    }
    // The keys of another demo database are other keys.
    let other = crate::support::TestDb::new(crate::support::Backend::Sqlite).await.expect("SQLite");
    other.seed(20).await;
    let others = create_demo_keys(&other.db, Duration::days(30)).await.map_err(|e| e.detail()).expect("demo keys");
    for key in &others {
        assert!(keys.iter().all(|mine| mine.key != key.key), "two demo databases share a key");
        let (status, _) = get_with_key(&app, viewer, &key.key).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "another database's demo key was accepted");
    }
    // The keys once derived from a public phrase are nothing.
    for role in Role::ALL {
        use base64::Engine as _;
        use sha2::Digest as _;
        let digest = sha2::Sha256::digest(format!("psm-api public demo key for {}", role.as_str()).as_bytes());
        let old = format!("psm_{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest));
        let (status, _) = get_with_key(&app, viewer, &old).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "the public-phrase {} key works", role.as_str());
    }
    // Once expired, every demo key is refused, and the GraphiQL page no longer sends one.
    let past = Utc::now() - Duration::seconds(1);
    let expire = sea_orm::sea_query::Query::update().table("demo_keys").value("expires_at", past).take();
    sea_orm::ConnectionTrait::execute(&db.db, &expire).await.expect("expire demo keys");
    // A server may accept a key it checked for the key cache's lifetime, never longer.
    let lifetime = psm_api::config::LimitConfig::default().key_cache_ms;
    tokio::time::sleep(std::time::Duration::from_millis(lifetime + 50)).await;
    for key in &keys {
        let (status, body) = get_with_key(&app, viewer, &key.key).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "expired {} key accepted: {body}", key.role.as_str());
        assert!(body.contains("expired"), "{body}");
    }
    let expired = demo_keys(&db.db).await.map_err(|e| e.detail()).expect("present");
    assert!(expired.iter().all(|key| !key.is_live(Utc::now())));
    let page_app =
        router(AppState::new(db.db.clone(), ApiConfig::default()).await.expect("app state").with_demo_keys(expired));
    let (_, page) = get(&page_app, "/graphiql").await;
    assert!(!page.contains("Bearer psm_"), "an expired key is offered");
});

db_test!(mutations_over_get_are_refused, |db| async move {
    let app = router(AppState::new(db.db.clone(), ApiConfig::default()).await.expect("app state"));
    let key = staff_key(&db).await;
    let uri = "/graphql?query=mutation%7BrevokeConsent(id%3A%22x%22)%7Bconsent%7Bid%7D%7D%7D";
    let (status, body) = get_with_key(&app, uri, &key).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{body}");
    assert!(body.contains("METHOD_NOT_ALLOWED"));
});
