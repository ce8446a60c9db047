//! Cross-origin access for browser dashboards: which origins may call the API, with which headers.
//!
//! API keys travel in the `Authorization` header, never in cookies, so an allowed origin gets no
//! ambient authority: its page still needs a key. The allow-list exists so that a key pasted into one
//! page cannot be used from any page on the web, and so that operators decide which dashboards exist.

use std::time::Duration;

use axum::http::{HeaderName, HeaderValue, Method, header, request::Parts};
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::config::CorsArgs;

/// Response headers a page may read besides the CORS-safelisted ones: the request id, rate limits
/// (GitHub's `x-ratelimit-*` names) and `Retry-After`. A header listed here that an answer does not
/// carry costs nothing.
pub const EXPOSED_HEADERS: &[&str] = &[
    "retry-after",
    "x-request-id",
    "x-ratelimit-limit",
    "x-ratelimit-remaining",
    "x-ratelimit-reset",
    "x-ratelimit-used",
    "x-ratelimit-resource",
];

/// Request headers a page may send: the key, the JSON body's type, and content negotiation.
pub const ALLOWED_HEADERS: &[HeaderName] = &[header::AUTHORIZATION, header::CONTENT_TYPE, header::ACCEPT];

/// Which origins may call the API from a browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origins {
    /// Exactly these (`scheme://host[:port]`, lowercase, no trailing slash). Empty: none.
    List(Vec<String>),
    /// Any `http://localhost:<port>` and `http://127.0.0.1:<port>`: the embedded demo database's
    /// default, so that a dashboard under development on the same machine works at once.
    Local,
}

/// The CORS rules of one server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorsPolicy {
    pub origins: Origins,
    /// How long a browser may reuse a preflight answer.
    pub max_age: Duration,
}

impl Default for CorsPolicy {
    /// Nothing allowed: the safe default of a real database.
    fn default() -> Self {
        CorsPolicy { origins: Origins::List(Vec::new()), max_age: Duration::from_secs(7200) }
    }
}

impl CorsPolicy {
    /// The policy the command line asks for. Without `--cors-origins`, the embedded demo database
    /// (`demo`) allows local origins and any other database none.
    pub fn from_args(args: &CorsArgs, demo: bool) -> Result<Self, String> {
        let origins = match &args.cors_origins {
            Some(list) => Origins::List(
                list.iter()
                    .map(|origin| origin.trim())
                    .filter(|origin| !origin.is_empty())
                    .map(parse_origin)
                    .collect::<Result<_, _>>()?,
            ),
            None if demo => Origins::Local,
            None => Origins::List(Vec::new()),
        };
        Ok(CorsPolicy { origins, max_age: Duration::from_secs(args.cors_max_age) })
    }

    /// Whether a page served from `origin` may call the API.
    pub fn allows(&self, origin: &str) -> bool {
        match &self.origins {
            Origins::List(list) => list.iter().any(|allowed| allowed.eq_ignore_ascii_case(origin)),
            Origins::Local => is_local(origin),
        }
    }

    /// The tower-http layer enforcing this policy. Preflights (`OPTIONS`) are answered by the layer
    /// itself; see [`super::preflight_no_content`] for their status.
    pub fn layer(&self) -> CorsLayer {
        let policy = self.clone();
        let allow = AllowOrigin::predicate(move |origin: &HeaderValue, _: &Parts| {
            origin.to_str().is_ok_and(|origin| policy.allows(origin))
        });
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([Method::GET, Method::POST])
            .allow_headers(ALLOWED_HEADERS.to_vec())
            .expose_headers(EXPOSED_HEADERS.iter().map(|name| HeaderName::from_static(name)).collect::<Vec<_>>())
            .max_age(self.max_age)
    }
}

/// Checks one configured origin: `http` or `https`, a host, an optional port, nothing else.
fn parse_origin(origin: &str) -> Result<String, String> {
    let refuse = |why: &str| {
        Err(format!("--cors-origins: `{origin}` is not an origin ({why}); write e.g. https://dashboard.example.org"))
    };
    let Some((scheme, rest)) = origin.split_once("://") else { return refuse("no scheme") };
    if scheme != "http" && scheme != "https" {
        return refuse("the scheme must be http or https");
    }
    if rest.is_empty() || rest.contains(['/', '?', '#', '@', ' ', '*']) {
        return refuse("only scheme, host and port; no path, no trailing slash, no wildcard");
    }
    Ok(origin.to_ascii_lowercase())
}

/// `http://localhost[:port]` or `http://127.0.0.1[:port]`.
fn is_local(origin: &str) -> bool {
    let Some(rest) = origin.strip_prefix("http://") else { return false };
    let (host, port) = match rest.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (rest, None),
    };
    (host == "localhost" || host == "127.0.0.1")
        && port.is_none_or(|port| !port.is_empty() && port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit()))
}
