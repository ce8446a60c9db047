//! The real server's logs: one access-log line per request, every line of a request carrying its id,
//! JSON when asked for, no colour codes when written to a file or a pipe, and nothing a client sent as
//! data (variables, keys) in any line.

use std::time::Duration;

use serde_json::{Value, json};

use crate::ops::{hold_lock, staff_key};
use crate::server::{self, Server};
use crate::support::db_test;

/// The access-log lines of the request with id `id`.
fn access_lines<'a>(lines: &'a [Value], id: &str) -> Vec<&'a Value> {
    lines
        .iter()
        .filter(|line| line["target"] == "psm_api::access" && line["span"]["id"] == id && line["message"] == "request")
        .collect()
}

db_test!(every_request_has_one_access_line_and_its_id_on_every_line, |db| async move {
    db.seed(20).await;
    let key = staff_key(&db.db).await;
    let slow_key = staff_key(&db.db).await;
    let mut server = Server::start(&db.url, &["--request-timeout-seconds", "1", "--sweep-seconds", "3600"]);
    let addr = server.addr;
    let secret = "Siti Aminah 6371010203040506";

    let query = "query LogProbe($code: String!) { regions(filter: { parentCodes: [$code] }) { totalCount } }";
    let bearer = format!("Bearer {key}");
    let body = json!({ "query": query, "variables": { "code": secret } }).to_string();
    let headers =
        [("content-type", "application/json"), ("authorization", bearer.as_str()), ("x-request-id", "log-probe-1")];
    let reply = server::request(addr, "POST", "/graphql", &headers, Some(body)).await.expect("reply");
    assert_eq!(reply.status, 200, "{}", reply.body);
    let headers = [("content-type", "application/json"), ("x-request-id", "log-probe-2")];
    let reply = server::request(addr, "POST", "/graphql", &headers, Some(r#"{"query":"{ viewer { role } }"}"#.into()))
        .await
        .expect("reply");
    assert_eq!(reply.status, 401);
    // A request stopped at its time limit: its warning carries its id too.
    let lock = hold_lock(&db.db, "api_keys", false).await;
    let bearer = format!("Bearer {slow_key}");
    let headers =
        [("content-type", "application/json"), ("authorization", bearer.as_str()), ("x-request-id", "log-probe-3")];
    let reply = server::request(addr, "POST", "/graphql", &headers, Some(r#"{"query":"{ viewer { role } }"}"#.into()))
        .await
        .expect("reply");
    lock.rollback().await.expect("release");
    assert_eq!(reply.status, 504, "{}", reply.body);
    // Probes are not logged at the default level.
    let reply =
        server::request(addr, "GET", "/healthz", &[("x-request-id", "log-probe-4")], None).await.expect("reply");
    assert_eq!(reply.status, 200);

    server.signal("TERM");
    let status = server.exited_within(Duration::from_secs(10)).await;
    assert!(status.is_some_and(|status| status.success()), "{status:?}: {:#?}", server.lines());
    let raw = server.lines();
    let lines = server.json_lines();
    assert_eq!(lines.len(), raw.len(), "every line is JSON: {raw:#?}");

    let probe = access_lines(&lines, "log-probe-1");
    assert_eq!(probe.len(), 1, "one access line per request: {probe:#?}");
    let probe = probe[0];
    assert_eq!(probe["level"], "INFO");
    assert_eq!(probe["method"], "POST");
    assert_eq!(probe["path"], "/graphql");
    assert_eq!(probe["operation"], "LogProbe");
    assert_eq!(probe["operation_type"], "query");
    assert_eq!(probe["status"], 200);
    assert_eq!(probe["key"], key[..12]);
    assert!(probe["statements"].as_u64().is_some_and(|n| n >= 2), "{probe}");
    assert!(probe["duration_ms"].as_f64().is_some(), "{probe}");
    assert!(probe["complexity"].as_u64().is_some(), "{probe}");

    let refused = access_lines(&lines, "log-probe-2");
    assert_eq!(refused.len(), 1);
    assert_eq!((refused[0]["status"].as_u64(), refused[0]["code"].as_str()), (Some(401), Some("UNAUTHENTICATED")));

    let slow = access_lines(&lines, "log-probe-3");
    assert_eq!(slow.len(), 1);
    assert_eq!((slow[0]["status"].as_u64(), slow[0]["code"].as_str()), (Some(504), Some("TIMEOUT")));
    let warned = lines.iter().any(|line| line["level"] == "WARN" && line["span"]["id"] == "log-probe-3");
    assert!(warned, "the timeout's warning carries the request id: {raw:#?}");

    assert!(access_lines(&lines, "log-probe-4").is_empty(), "probes log at DEBUG");
    let all = raw.join("\n");
    assert!(!all.contains("Siti") && !all.contains("6371010203040506"), "a variable reached the logs");
    assert!(!all.contains(&key) && !all.contains(&slow_key), "a whole key reached the logs");

    // Text for people: no colour codes when the output is not a terminal.
    let mut server = Server::start(&db.url, &["--log-format", "text", "--sweep-seconds", "3600"]);
    let reply = server::graphql(server.addr, Some(&key), "{ viewer { role } }", json!({})).await.expect("reply");
    assert_eq!(reply.status, 200);
    let id = reply.header("x-request-id").expect("id").to_owned();
    server.signal("TERM");
    assert!(server.exited_within(Duration::from_secs(10)).await.is_some());
    let text = server.lines().join("\n");
    assert!(!text.contains('\u{1b}'), "ANSI escape codes in a pipe: {text}");
    assert!(text.contains(&format!("request{{id={id}}}")), "the text line names the request: {text}");
});
