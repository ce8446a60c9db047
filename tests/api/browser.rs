//! Real clients against a real server on a bound port: Debian's headless Chromium (a dashboard page on
//! another origin, GraphiQL with every non-local request blocked) and graphql-http's conformance audit.
//!
//! These need Chromium, Node and the pinned npm packages of `.ci/browser`, which `.ci/install-browser-tools`
//! installs (CI runs it before the tests; a test that finds them missing runs it itself). If they still
//! cannot be had the tests fail; set `PSM_SKIP_BROWSER_TESTS=1`
//! to skip them on a machine that lacks them, with a notice.

use std::path::PathBuf;

use axum::Router;
use axum::response::Html;
use axum::routing::get;
use entity::enums::Role;
use psm_api::app::{self, AppState};
use psm_api::auth::{DemoKey, NewKey, create_key};
use psm_api::config::ApiConfig;
use psm_api::web::cors::{CorsPolicy, Origins};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::support::{TestDb, db_test};

fn browser_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".ci").join("browser")
}

/// What of the browser tools is missing (empty when all are installed).
fn missing_tools(needs_chromium: bool) -> Vec<String> {
    let chromium = std::env::var("PSM_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let mut missing = Vec::new();
    if needs_chromium && !std::path::Path::new(&chromium).exists() {
        missing.push(format!("Chromium ({chromium})"));
    }
    if !browser_dir().join("node_modules").join("playwright-core").exists()
        || !browser_dir().join("node_modules").join("graphql-http").exists()
    {
        missing.push("the npm packages of .ci/browser".into());
    }
    if std::process::Command::new("node").arg("--version").output().is_err() {
        missing.push("node".into());
    }
    missing
}

/// Whether the browser tools are ready. When they are missing, the project's own script installs them
/// (once per test run), so that the README's test command works on a fresh machine; when that fails the
/// test fails, unless `PSM_SKIP_BROWSER_TESTS=1` asks to skip.
fn tools_ready(needs_chromium: bool) -> bool {
    static INSTALL: std::sync::Mutex<bool> = std::sync::Mutex::new(false);
    if missing_tools(needs_chromium).is_empty() {
        return true;
    }
    if std::env::var("PSM_SKIP_BROWSER_TESTS").is_ok_and(|value| value == "1") {
        eprintln!(
            "PSM_SKIP_BROWSER_TESTS=1: skipping a browser test ({} missing)",
            missing_tools(needs_chromium).join(", ")
        );
        return false;
    }
    {
        let mut tried = INSTALL.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if !*tried {
            *tried = true;
            let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".ci").join("install-browser-tools");
            eprintln!("browser tools missing: running {}", script.display());
            let status = std::process::Command::new("bash").arg(&script).status();
            eprintln!("{} finished: {status:?}", script.display());
        }
    }
    let missing = missing_tools(needs_chromium);
    assert!(
        missing.is_empty(),
        "{} missing, and .ci/install-browser-tools could not install them (or set PSM_SKIP_BROWSER_TESTS=1 to skip)",
        missing.join(", ")
    );
    true
}

/// A server on a port of its own, stopped when dropped.
struct Running {
    address: std::net::SocketAddr,
    _stop: oneshot::Sender<()>,
}

impl Running {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }
}

/// psm-api itself, through [`app::serve`], as `main` runs it.
async fn serve(state: AppState) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(app::serve(listener, state, async {
        let _ = stopped.await;
    }));
    Running { address, _stop: stop }
}

/// Runs a Node script of `.ci/browser` with arguments (and environment); returns its stdout's last
/// line as JSON and its exit status.
async fn node(script: &str, args: Vec<String>, env: Vec<(&'static str, String)>) -> (Value, std::process::ExitStatus) {
    let script = browser_dir().join(script);
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new("node").arg(script).args(args).envs(env).output().expect("run node")
    })
    .await
    .expect("node task");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let last = stdout.lines().last().unwrap_or_default();
    let report = serde_json::from_str(last).unwrap_or_else(|_| {
        panic!("no JSON report; stdout:\n{stdout}\nstderr:\n{}", String::from_utf8_lossy(&output.stderr))
    });
    eprintln!("{stdout}");
    (report, output.status)
}

async fn open_page(url: &str, mode: &str) -> Value {
    let spec = json!({ "url": url, "mode": mode });
    node("run-page.mjs", vec![spec.to_string()], vec![]).await.0
}

async fn key_of_role(db: &TestDb, role: Role) -> String {
    let new = NewKey { role, organisation: None, volunteer: None, name: "browser".into() };
    create_key(&db.db, &new).await.map_err(|e| e.detail()).expect("create key").0
}

/// A dashboard page: fetches `/graphql` from `api` with `key` and writes what it got into #result.
fn dashboard_page(api: &str, key: &str) -> String {
    let request = json!({
        "url": format!("{api}/graphql"),
        "key": key,
        "query": "{ viewer { role } regions(filter: { level: [DISTRICT] }) { totalCount } }",
    });
    format!(
        r#"<!doctype html><meta charset="utf-8"><title>dashboard</title><pre id="result"></pre>
<script>
const request = {request};
fetch(request.url, {{
  method: "POST",
  headers: {{ "Authorization": "Bearer " + request.key, "Content-Type": "application/json",
             "Accept": "application/graphql-response+json" }},
  body: JSON.stringify({{ query: request.query }}),
}})
  .then(async (response) => JSON.stringify({{ status: response.status,
      contentType: response.headers.get("content-type"), body: await response.json() }}))
  .catch((error) => "blocked: " + error)
  .then((text) => {{ const out = document.getElementById("result"); out.textContent = text; out.dataset.done = "1"; }});
</script>"#
    )
}

db_test!(a_dashboard_on_an_allowed_origin_reads_the_api_in_chromium_and_another_origin_is_blocked, |db| async move {
    if !tools_ready(true) {
        return;
    }
    db.seed(20).await;
    let key = key_of_role(&db, Role::Dashboard).await;
    // Two pages on two origins; the API allows only the first.
    let (allowed_listener, other_listener) =
        (TcpListener::bind("127.0.0.1:0").await.expect("bind"), TcpListener::bind("127.0.0.1:0").await.expect("bind"));
    let allowed_origin = format!("http://{}", allowed_listener.local_addr().expect("address"));
    let cors = CorsPolicy { origins: Origins::List(vec![allowed_origin.clone()]), ..CorsPolicy::default() };
    let state = AppState::new(db.db.clone(), ApiConfig::default()).await.expect("app state").with_cors(cors);
    let api = serve(state).await;
    let page = dashboard_page(&api.url(""), &key);
    let pages = Router::new().route("/", get(move || async move { Html(page) }));
    let (allowed, other) = (serve_on(allowed_listener, pages.clone()), serve_on(other_listener, pages));
    let (allowed, other) = (allowed.await, other.await);

    let report = open_page(&allowed.url("/"), "fetch").await;
    assert_eq!(report["ok"], true, "{report}");
    let result: Value = serde_json::from_str(report["result"].as_str().expect("result"))
        .unwrap_or_else(|_| panic!("the allowed origin was blocked: {report}"));
    assert_eq!(result["status"], 200, "{result}");
    assert_eq!(result["body"]["data"]["viewer"]["role"], "DASHBOARD", "{result}");
    assert_eq!(result["body"]["data"]["regions"]["totalCount"], 5, "{result}");
    assert!(result["contentType"].as_str().is_some_and(|t| t.starts_with("application/graphql-response+json")));

    // The other origin's preflight is refused: its page sees a network error, and its POST never reaches
    // the API (not one statement runs, not even the key's lookup).
    let statements = db.statements();
    let report = open_page(&other.url("/"), "fetch").await;
    assert_eq!(report["ok"], true, "{report}");
    let result = report["result"].as_str().expect("result");
    assert!(result.starts_with("blocked: TypeError"), "another origin read the API: {report}");
    assert_eq!(db.statements(), statements, "the blocked origin's request reached the API");
});

async fn serve_on(listener: TcpListener, router: Router) -> Running {
    let address = listener.local_addr().expect("address");
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await;
    });
    Running { address, _stop: stop }
}

db_test!(graphiql_renders_and_runs_its_example_query_in_chromium_with_every_outside_request_blocked, |db| async move {
    if !tools_ready(true) {
        return;
    }
    db.seed(20).await;
    let mut keys = Vec::new();
    for role in [Role::Staff, Role::Dashboard] {
        let key = key_of_role(&db, role).await;
        keys.push(DemoKey { role, key, expires_at: chrono::Utc::now() + chrono::Duration::days(1) });
    }
    let state =
        AppState::new(db.db.clone(), ApiConfig::default()).await.expect("app state").with_demo_keys(keys.clone());
    let api = serve(state).await;
    for (uri, demo) in [("/graphiql", &keys[0]), ("/graphiql?role=dashboard", &keys[1])] {
        let report = open_page(&api.url(uri), "graphiql").await;
        let role = demo.role.as_str();
        assert_eq!(report["ok"], true, "{uri}: {report}");
        // Nothing outside the server was even asked for, and nothing failed.
        assert_eq!(report["blocked"], json!([]), "{uri}: {report}");
        assert_eq!(report["consoleErrors"], json!([]), "{uri}: {report}");
        // The role is named; the key is in the visible Headers tab; the example query is ready and ran.
        assert_eq!(report["title"], format!("psm-api GraphiQL (demo {role} key)"), "{report}");
        assert!(report["banner"].as_str().is_some_and(|b| b.contains(&format!("Runs as {role}"))), "{report}");
        assert_eq!(report["headersTabVisible"], true, "{report}");
        let headers: Value = serde_json::from_str(report["headers"].as_str().expect("headers")).expect("headers JSON");
        assert_eq!(headers["Authorization"], format!("Bearer {}", demo.key), "{report}");
        assert!(report["query"].as_str().is_some_and(|q| q.contains("viewer")), "{report}");
        let result: Value = serde_json::from_str(report["result"].as_str().expect("result")).expect("result JSON");
        assert_eq!(result["data"]["viewer"]["role"], role, "{result}");
        assert_eq!(result["data"]["regions"]["totalCount"], 5, "{result}");
        assert!(report["docs"].as_str().is_some_and(|d| d.contains("QueryRoot")), "no schema in Docs: {report}");
    }
});

db_test!(graphql_over_http_audit_passes_without_warnings_or_errors, |db| async move {
    if !tools_ready(false) {
        return;
    }
    let key = key_of_role(&db, Role::Staff).await;
    let api = serve(AppState::new(db.db.clone(), ApiConfig::default()).await.expect("app state")).await;
    let (counts, status) =
        node("graphql-http-audit.mjs", vec![api.url("/graphql")], vec![("PSM_KEY", key.clone())]).await;
    assert_eq!(counts["warn"], 0, "{counts}");
    assert_eq!(counts["error"], 0, "{counts}");
    assert!(counts["ok"].as_u64().is_some_and(|ok| ok >= 61), "{counts}");
    assert!(status.success(), "the audit script failed: {counts}");
    // The script does fail when the server misbehaves: without a valid key every audit fails.
    let (counts, status) =
        node("graphql-http-audit.mjs", vec![api.url("/graphql")], vec![("PSM_KEY", "psm_not_a_key".into())]).await;
    assert!(!status.success() && counts["error"].as_u64().is_some_and(|errors| errors > 0), "{counts}");
});
