//! GraphiQL, served whole by the binary: the page at `/graphiql` and its scripts and styles at
//! `/graphiql/assets/<file>`, compiled in from `assets/graphiql/` (production builds at pinned
//! versions, fetched and checked against committed SHA-256 sums by `.ci/fetch-graphiql-assets`).
//! The page loads nothing from anywhere else, so it works offline and behind a firewall; its
//! Content-Security-Policy forbids it to.
//!
//! On the embedded demo database the page sends a demo key (STAFF unless `?role=` names another),
//! shows it in GraphiQL's Headers tab and names the role in a banner and in the title, and opens with
//! an example query ready to run. It never hands out the ADMIN key; a role that does not exist is
//! refused with HTTP 400 rather than quietly opening as STAFF.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use entity::enums::Role;
use serde::Deserialize;
use serde_json::json;

use crate::app::AppState;
use crate::error::code;
use crate::web::protocol::{MediaType, refusal};

/// One file of the page.
pub struct Asset {
    /// Its name under `/graphiql/assets/`; vendored files carry their version in it.
    pub name: &'static str,
    pub content_type: &'static str,
    pub bytes: &'static [u8],
    /// Vendored at a pinned version (its name changes with the version, so browsers may keep it for a
    /// year); `false` for psm-api's own start-up script, which browsers revalidate.
    pub pinned: bool,
}

macro_rules! asset {
    ($name:literal, $content_type:literal, $pinned:literal) => {
        Asset {
            name: $name,
            content_type: $content_type,
            bytes: include_bytes!(concat!("../../assets/graphiql/", $name)),
            pinned: $pinned,
        }
    };
}

/// Every file the page loads.
pub const ASSETS: &[Asset] = &[
    asset!("graphiql-4.1.2.min.css", "text/css; charset=utf-8", true),
    asset!("react-18.3.1.production.min.js", "text/javascript; charset=utf-8", true),
    asset!("react-dom-18.3.1.production.min.js", "text/javascript; charset=utf-8", true),
    asset!("graphiql-4.1.2.min.js", "text/javascript; charset=utf-8", true),
    asset!("psm-graphiql.js", "text/javascript; charset=utf-8", false),
];

/// The page's policy: its own files only, requests only to its own server. GraphiQL sets inline styles,
/// and its CSS inlines its fonts and icons as `data:` URLs.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     font-src 'self' data:; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'";

/// The query the page opens with: who the key is, and the five kecamatan (districts), which every
/// role may read.
const EXAMPLE_QUERY: &str = "# psm-api GraphiQL. Run this with the \u{25B6} button (or Ctrl-Enter).
# The Headers tab below holds the key this page sends; the Docs panel (top left) has the schema.
{
  viewer {
    role
    keyPrefix
  }
  regions(filter: { level: [DISTRICT] }) {
    totalCount
    nodes {
      code
      name
    }
  }
}
";

/// `GET /graphiql/assets/<file>`.
pub async fn asset(Path(name): Path<String>) -> Response {
    let Some(asset) = ASSETS.iter().find(|asset| asset.name == name) else {
        return refusal(MediaType::Json, StatusCode::NOT_FOUND, code::NOT_FOUND, "no such GraphiQL asset");
    };
    let cache = if asset.pinned { "public, max-age=31536000, immutable" } else { "no-cache" };
    ([(header::CONTENT_TYPE, asset.content_type), (header::CACHE_CONTROL, cache)], asset.bytes).into_response()
}

/// Which demo key the GraphiQL page opens with.
#[derive(Deserialize)]
pub struct PageParams {
    /// A role name, any case (`?role=partner`); STAFF when absent.
    role: Option<String>,
}

/// `GET /graphiql`: the page.
pub async fn page(State(state): State<AppState>, Query(params): Query<PageParams>) -> Response {
    let wanted = match params.role.as_deref() {
        None => Role::Staff,
        Some(text) => match Role::parse(&text.trim().to_uppercase()) {
            Some(role) => role,
            None => {
                let roles: Vec<String> = Role::ALL.iter().map(|role| role.as_str().to_lowercase()).collect();
                let body = json!({
                    "error": format!("`{text}` is not a role; use ?role= with one of the roles listed"),
                    "roles": roles,
                    "admin": "opens without a key: paste the ADMIN key printed on the server console",
                    "errors": [{ "message": format!("`{text}` is not a role"), "extensions": { "code": code::BAD_USER_INPUT } }],
                });
                return (StatusCode::BAD_REQUEST, axum::Json(body)).into_response();
            }
        },
    };
    let now = chrono::Utc::now();
    let key = state.demo_keys.iter().find(|key| key.role == wanted && key.role != Role::Admin && key.is_live(now));
    let role = wanted.as_str();
    let (title, banner) = match (key, wanted) {
        (Some(key), _) => (
            format!("psm-api GraphiQL (demo {role} key)"),
            format!(
                "Runs as <strong>{role}</strong> with the demo key <code>{}…</code> (valid until {}), sent in \
                 the Headers tab. Other roles: {}.",
                escape(key.key.get(..12).unwrap_or_default()),
                key.expires_at.format("%Y-%m-%d %H:%M UTC"),
                role_links(&state, wanted)
            ),
        ),
        (None, Role::Admin) => (
            "psm-api GraphiQL (ADMIN: paste the key printed on the server console)".to_owned(),
            "Runs as <strong>ADMIN</strong> only with the ADMIN key, which this page never hands out: paste the \
             key printed on the server console into the Headers tab as <code>{\"Authorization\": \"Bearer \
             &lt;key&gt;\"}</code>."
                .to_owned(),
        ),
        (None, _) => (
            "psm-api GraphiQL (no key: add an Authorization header)".to_owned(),
            "Sends <strong>no key</strong>: put yours in the Headers tab as <code>{\"Authorization\": \"Bearer \
             &lt;key&gt;\"}</code>; the key decides the role."
                .to_owned(),
        ),
    };
    let headers = match key {
        Some(key) => serde_json::to_string_pretty(&json!({ "Authorization": format!("Bearer {}", key.key) })),
        None => Ok("{\n  \"Authorization\": \"Bearer \"\n}".to_owned()),
    }
    .unwrap_or_default();
    let config = json!({
        "endpoint": "graphql",
        "storageNamespace": role.to_lowercase(),
        "headers": headers,
        "exampleQuery": EXAMPLE_QUERY,
    });
    let html = PAGE
        .replace("{title}", &escape(&title))
        .replace("{banner}", &banner)
        .replace("{config}", &script_json(&config))
        .replace("{css}", ASSETS[0].name)
        .replace("{react}", ASSETS[1].name)
        .replace("{react_dom}", ASSETS[2].name)
        .replace("{graphiql}", ASSETS[3].name)
        .replace("{start}", ASSETS[4].name);
    let mut response = (StatusCode::OK, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response();
    response.headers_mut().insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    response
}

/// Links to the page as each other role that has a live demo key.
fn role_links(state: &AppState, current: Role) -> String {
    let now = chrono::Utc::now();
    let links: Vec<String> = state
        .demo_keys
        .iter()
        .filter(|key| key.role != current && key.role != Role::Admin && key.is_live(now))
        .map(|key| {
            let role = key.role.as_str();
            format!("<a href=\"?role={}\">{role}</a>", role.to_lowercase())
        })
        .collect();
    if links.is_empty() { "none".to_owned() } else { links.join(" · ") }
}

/// Text safe inside HTML.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

/// JSON safe inside a `<script type="application/json">` element: nothing in it can close the element.
fn script_json(value: &serde_json::Value) -> String {
    value.to_string().replace('<', "\\u003c").replace('>', "\\u003e").replace('&', "\\u0026")
}

const PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="graphiql/assets/{css}">
<style>
  html, body { height: 100%; margin: 0; }
  body { display: flex; flex-direction: column; font-family: system-ui, sans-serif; }
  #psm-role { padding: 6px 12px; background: #0b3d62; color: #fff; font-size: 14px; }
  #psm-role code { background: rgba(255,255,255,.15); padding: 0 4px; border-radius: 3px; }
  #psm-role a { color: #cfe8ff; }
  #graphiql { flex: 1; min-height: 0; }
</style>
</head>
<body>
<header id="psm-role">{banner}</header>
<div id="graphiql">Loading GraphiQL…</div>
<script id="psm-graphiql-config" type="application/json">{config}</script>
<script src="graphiql/assets/{react}"></script>
<script src="graphiql/assets/{react_dom}"></script>
<script src="graphiql/assets/{graphiql}"></script>
<script src="graphiql/assets/{start}"></script>
</body>
</html>
"#;
