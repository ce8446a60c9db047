//! The HTTP surface: GraphQL over POST and GET, GraphiQL, the SDL, the health check.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use entity::enums::Role;
use http_body_util::BodyExt;
use psm_api::app::{AppState, router};
use psm_api::auth::{NewKey, create_key};
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

db_test!(graphiql_opens_with_the_demo_key_of_the_chosen_role, |db| async move {
    db.seed(20).await;
    let keys = psm_api::auth::create_demo_keys(&db.db).await.map_err(|e| e.detail()).expect("demo keys");
    assert_eq!(keys.len(), 5, "one per role");
    assert_eq!(psm_api::auth::demo_keys(&db.db).await.map_err(|e| e.detail()).expect("present"), keys);
    let app = router(
        AppState::new(db.db.clone(), ApiConfig::default()).await.expect("app state").with_demo_keys(keys.clone()),
    );
    let key_of = |role: Role| keys.iter().find(|(r, _)| *r == role).map(|(_, k)| k.clone()).expect("key");
    let (_, page) = get(&app, "/graphiql").await;
    assert!(page.contains(&format!("Bearer {}", key_of(Role::Staff))), "STAFF by default");
    let (_, page) = get(&app, "/graphiql?role=partner").await;
    assert!(page.contains(&format!("Bearer {}", key_of(Role::Partner))));
    // The demo keys work, each as its role.
    let (status, body) = get_with_key(&app, "/graphql?query=%7Bviewer%7Brole%7D%7D", &key_of(Role::Volunteer)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("VOLUNTEER"), "{body}");
    // Without demo keys (PostgreSQL), the page sends none.
    let plain = router(AppState::new(db.db.clone(), ApiConfig::default()).await.expect("app state"));
    let (_, page) = get(&plain, "/graphiql").await;
    assert!(!page.contains("Bearer"));
});

db_test!(mutations_over_get_are_refused, |db| async move {
    let app = router(AppState::new(db.db.clone(), ApiConfig::default()).await.expect("app state"));
    let key = staff_key(&db).await;
    let uri = "/graphql?query=mutation%7BrevokeConsent(id%3A%22x%22)%7Bconsent%7Bid%7D%7D%7D";
    let (status, body) = get_with_key(&app, uri, &key).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{body}");
    assert!(body.contains("METHOD_NOT_ALLOWED"));
});
