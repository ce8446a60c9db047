//! Stopping the real server process with signals, as systemd, Docker and Kubernetes do: requests in
//! flight are answered, new connections are refused, the process exits 0; past the grace period, or at
//! a second signal, it stops anyway.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::ops::{hold_lock, staff_key};
use crate::server::{self, Server, eventually};
use crate::support::db_test;

/// Server flags that let twenty requests wait on one lock for a while: enough connections, and waits
/// longer than the test.
const PATIENT: [&str; 10] = [
    "--db-max-connections",
    "24",
    "--db-acquire-timeout-ms",
    "30000",
    "--sqlite-busy-timeout-ms",
    "30000",
    "--sweep-seconds",
    "3600",
    "--request-timeout-seconds",
    "60",
];

/// Waits until the server's first sweep (it runs at start, and writes) is over, so that it does not
/// wait on the test's lock.
pub async fn swept_once(server: &Server) {
    let swept = eventually(Duration::from_secs(30), || async {
        server.metric(r#"psm_sweeps_total{trigger="timer",outcome="ok"}"#).await.is_some()
    })
    .await;
    assert!(swept, "the first sweep did not finish: {:#?}", server.lines());
}

/// Waits until `n` requests are in flight (the scrape that asks counts itself).
async fn in_flight(server: &Server, n: usize) -> bool {
    let wanted = (n + 1) as f64;
    eventually(Duration::from_secs(20), || async { server.metric("psm_http_requests_in_flight").await == Some(wanted) })
        .await
}

db_test!(sigterm_lets_twenty_requests_in_flight_finish, |db| async move {
    db.seed(20).await;
    let mut keys = Vec::new();
    for _ in 0..20 {
        keys.push(staff_key(&db.db).await);
    }
    let mut server = Server::start(&db.url, &[&PATIENT[..], &["--shutdown-grace-seconds", "30"]].concat());
    swept_once(&server).await;
    let addr = server.addr;

    // Each key's first use writes to api_keys; the test holds them all back with a lock.
    let lock = hold_lock(&db.db, "api_keys", false).await;
    let requests: Vec<_> = keys
        .iter()
        .map(|key| {
            let key = key.clone();
            tokio::spawn(async move { server::graphql(addr, Some(&key), "{ viewer { role } }", json!({})).await })
        })
        .collect();
    assert!(in_flight(&server, 20).await, "20 requests never were in flight: {:#?}", server.lines());

    server.signal("TERM");
    let refused =
        eventually(Duration::from_secs(5), || async { tokio::net::TcpStream::connect(addr).await.is_err() }).await;
    assert!(refused, "the server still accepts connections after SIGTERM");
    assert!(requests.iter().all(|request| !request.is_finished()), "a request ended before the lock was released");
    lock.rollback().await.expect("release");

    for (n, request) in requests.into_iter().enumerate() {
        let reply = request.await.expect("task").unwrap_or_else(|e| panic!("request {n} got no answer: {e}"));
        assert_eq!(reply.status, 200, "request {n}: {}", reply.body);
        assert_eq!(reply.json()["data"]["viewer"]["role"], "STAFF", "request {n}: {}", reply.body);
    }
    let status = server.exited_within(Duration::from_secs(15)).await.expect("the server did not exit");
    assert!(status.success(), "exit status {status}");
    let lines = server.lines().join("\n");
    assert!(lines.contains("SIGTERM") && lines.contains("\"stopped\""), "{lines}");
});

db_test!(past_the_grace_period_the_server_stops_anyway, |db| async move {
    db.seed(20).await;
    let keys = [staff_key(&db.db).await, staff_key(&db.db).await];
    let mut server = Server::start(&db.url, &[&PATIENT[..], &["--shutdown-grace-seconds", "1"]].concat());
    swept_once(&server).await;
    let addr = server.addr;
    let lock = hold_lock(&db.db, "api_keys", false).await;
    let requests: Vec<_> = keys
        .iter()
        .map(|key| {
            let key = key.clone();
            tokio::spawn(async move { server::graphql(addr, Some(&key), "{ viewer { role } }", json!({})).await })
        })
        .collect();
    assert!(in_flight(&server, 2).await);

    let started = Instant::now();
    server.signal("TERM");
    let status = server.exited_within(Duration::from_secs(10)).await.expect("the server did not exit");
    let took = started.elapsed();
    lock.rollback().await.expect("release");
    assert!(status.success(), "exit status {status}");
    assert!(took >= Duration::from_millis(900) && took < Duration::from_secs(5), "stopped after {took:?}");
    for request in requests {
        assert!(
            request.await.expect("task").is_err(),
            "a request cut off at the end of the grace period got an answer"
        );
    }
    let lines = server.lines().join("\n");
    assert!(lines.contains("grace period over"), "{lines}");
});

db_test!(a_second_signal_stops_the_server_at_once, |db| async move {
    db.seed(20).await;
    let key = staff_key(&db.db).await;
    let mut server = Server::start(&db.url, &[&PATIENT[..], &["--shutdown-grace-seconds", "60"]].concat());
    swept_once(&server).await;
    let addr = server.addr;
    let lock = hold_lock(&db.db, "api_keys", false).await;
    let request =
        tokio::spawn(async move { server::graphql(addr, Some(&key), "{ viewer { role } }", json!({})).await });
    assert!(in_flight(&server, 1).await);
    server.signal("INT");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(server.exited_within(Duration::from_millis(100)).await.is_none(), "the first signal drains");
    let started = Instant::now();
    server.signal("INT");
    let status = server.exited_within(Duration::from_secs(10)).await.expect("the server did not exit");
    lock.rollback().await.expect("release");
    assert!(status.success() && started.elapsed() < Duration::from_secs(3), "{status} after {:?}", started.elapsed());
    assert!(request.await.expect("task").is_err());
});
