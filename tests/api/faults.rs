//! The fault suite: the real server under load while its PostgreSQL (a throwaway cluster of its own,
//! see [`crate::cluster`]) crashes and comes back. Load is a few client loops at the loopback address,
//! bounded in count and time.
//!
//! What it proves: during the outage every answer is a fast 503 `DATABASE_UNAVAILABLE` (never a hang,
//! never a 200 with an error, whether the fault hit the key check or execution); the probes tell
//! liveness from readiness; service resumes within 5 s of PostgreSQL returning; every write a client
//! was told succeeded is still there after the crash, and a write retried with its idempotency key
//! never happens twice.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use migration::{Migrator, MigratorTrait};
use psm_api::db::connect;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::json;

use crate::cluster::Cluster;
use crate::ops::staff_key;
use crate::server::{self, Server, eventually};

const REPORT: &str = "mutation($input: ReportCaseInput!, $key: String) {
    reportCase(input: $input, idempotencyKey: $key) { case { id } } }";
const READ: &str = "{ cases(first: 5) { totalCount nodes { id status } } }";

/// Longest a client waits for any answer: an answer later than this is a hang.
const HANG: Duration = Duration::from_secs(10);

/// What one request of the load got.
#[derive(Debug, Clone)]
struct Outcome {
    /// For a write: its idempotency key (which is also its summary).
    write: Option<String>,
    started: Instant,
    finished: Instant,
    /// `None`: no answer within [`HANG`], or the connection failed.
    status: Option<u16>,
    code: Option<String>,
    retry_after: Option<String>,
    /// A write's case id, or a read's total, when it succeeded.
    ok: bool,
    body: String,
}

fn report_input(key: &str) -> serde_json::Value {
    let kelurahan = "63.71.02.1001";
    json!({
        "newPerson": { "fullName": "Rahmat Hidayat", "birthDate": "1950-01-01", "sex": "MALE",
                       "address": "Jl. Sungai Andai No. 12", "kelurahanCode": kelurahan },
        "kelurahanCode": kelurahan, "categories": ["POOR"], "urgency": "NORMAL", "source": "PSM_VISIT",
        "summary": key
    })
}

async fn attempt(addr: std::net::SocketAddr, key: &str, write: Option<String>) -> Outcome {
    let started = Instant::now();
    let (query, variables) = match &write {
        Some(idempotency) => (REPORT, json!({ "input": report_input(idempotency), "key": idempotency })),
        None => (READ, json!({})),
    };
    let reply = tokio::time::timeout(HANG, server::graphql(addr, Some(key), query, variables)).await;
    let finished = Instant::now();
    match reply {
        Ok(Ok(reply)) => {
            let json: serde_json::Value = serde_json::from_str(&reply.body).unwrap_or_default();
            let no_errors = json.get("errors").is_none_or(|errors| errors.as_array().is_none_or(Vec::is_empty));
            let ok = reply.status == 200
                && no_errors
                && match &write {
                    Some(_) => json["data"]["reportCase"]["case"]["id"].is_string(),
                    None => json["data"]["cases"]["totalCount"].is_number(),
                };
            Outcome {
                write,
                started,
                finished,
                status: Some(reply.status),
                code: reply.code(),
                retry_after: reply.header("retry-after").map(str::to_owned),
                ok,
                body: reply.body,
            }
        }
        Ok(Err(error)) => {
            Outcome { write, started, finished, status: None, code: None, retry_after: None, ok: false, body: error }
        }
        Err(_) => Outcome {
            write,
            started,
            finished,
            status: None,
            code: None,
            retry_after: None,
            ok: false,
            body: "no answer: hung".into(),
        },
    }
}

/// One client: writes (each with a new idempotency key) or reads, until `stop` or 2,000 requests.
fn client(
    addr: std::net::SocketAddr,
    key: String,
    name: String,
    writes: bool,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<Vec<Outcome>> {
    tokio::spawn(async move {
        let mut outcomes = Vec::new();
        for n in 0..2_000 {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let write = writes.then(|| format!("fault-{name}-{n}"));
            let outcome = attempt(addr, &key, write).await;
            let failed = !outcome.ok;
            outcomes.push(outcome);
            // Clients back off a little after a failure, as real ones do (and the log stays readable).
            tokio::time::sleep(Duration::from_millis(if failed { 50 } else { 5 })).await;
        }
        outcomes
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_crashing_under_load_is_answered_fast_and_resumed_without_losing_acknowledged_writes() {
    let Some(cluster) = Cluster::start() else { return };
    let url = cluster.url();
    let admin = connect(&url, 2).await.expect("connect to the throwaway cluster");
    Migrator::up(&admin, None).await.expect("migrate");
    let key = staff_key(&admin).await;
    let server = Server::start(
        &url,
        &["--db-acquire-timeout-ms", "1000", "--db-max-connections", "6", "--sweep-seconds", "3600"],
    );
    let addr = server.addr;
    assert_eq!(server::graphql(addr, Some(&key), READ, json!({})).await.expect("reply").status, 200);

    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..5).map(|n| client(addr, key.clone(), format!("c{n}"), n < 3, stop.clone())).collect();
    tokio::time::sleep(Duration::from_millis(1500)).await;

    // Crash.
    cluster.stop_server("immediate");
    let down = Instant::now();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let live = server::request(addr, "GET", "/healthz", &[], None).await.expect("healthz");
    let ready = server::request(addr, "GET", "/readyz", &[], None).await.expect("readyz");
    assert_eq!(live.status, 200, "liveness does not depend on the database");
    assert_eq!((ready.status, ready.json()["status"].as_str()), (503, Some("database unavailable")));
    tokio::time::sleep(Duration::from_millis(1300)).await;

    // Back.
    cluster.start_server();
    let up = Instant::now();
    let resumed = eventually(Duration::from_secs(8), || async {
        server::graphql(addr, Some(&key), READ, json!({})).await.is_ok_and(|reply| reply.status == 200)
    })
    .await;
    let resumed_after = up.elapsed();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    stop.store(true, Ordering::Relaxed);
    let mut outcomes = Vec::new();
    for client in clients {
        outcomes.extend(client.await.expect("client"));
    }
    assert!(resumed, "no request succeeded within 8 s of PostgreSQL's return");
    assert!(resumed_after <= Duration::from_secs(5), "service resumed {resumed_after:?} after PostgreSQL returned");

    // Every answer was a success or a fast, clear 503: never a hang, never a 200 with an error.
    let count = |f: &dyn Fn(&Outcome) -> bool| outcomes.iter().filter(|o| f(o)).count();
    for outcome in &outcomes {
        assert!(outcome.status.is_some(), "no answer: {outcome:?}");
        if !outcome.ok {
            assert_eq!(outcome.status, Some(503), "{}: {outcome:?}", outcome.body);
            assert_eq!(outcome.code.as_deref(), Some("DATABASE_UNAVAILABLE"), "{outcome:?}");
            assert_eq!(outcome.retry_after.as_deref(), Some("1"), "{outcome:?}");
        }
    }
    let during = |o: &Outcome| o.started > down + Duration::from_millis(200) && o.finished < up;
    let slowest = outcomes.iter().filter(|o| during(o)).map(|o| o.finished - o.started).max().unwrap_or_default();
    assert!(slowest < Duration::from_secs(3), "an answer during the outage took {slowest:?}");
    let (before, refused, after) =
        (count(&|o| o.ok && o.finished < down), count(&|o| !o.ok && during(o)), count(&|o| o.ok && o.started > up));
    assert!(before > 0 && refused > 0 && after > 0, "load before {before}, refused during {refused}, after {after}");
    let writes = outcomes.iter().filter(|o| o.write.is_some());
    let acknowledged: Vec<&Outcome> = writes.clone().filter(|o| o.ok).collect();
    let failed: Vec<&Outcome> = writes.filter(|o| !o.ok).collect();

    // No acknowledged write lost; no write done twice, even when retried with its idempotency key.
    let cases = |summary: String| {
        let admin = admin.clone();
        async move {
            entity::case::Entity::find()
                .filter(entity::case::Column::Summary.eq(summary))
                .count(&admin)
                .await
                .expect("count cases")
        }
    };
    for outcome in &acknowledged {
        let summary = outcome.write.clone().expect("a write");
        assert_eq!(cases(summary.clone()).await, 1, "acknowledged write {summary} lost across the crash");
    }
    let (mut replayed, mut in_progress) = (0, 0);
    for outcome in &failed {
        let summary = outcome.write.clone().expect("a write");
        let retry = attempt(addr, &key, Some(summary.clone())).await;
        if retry.ok {
            replayed += 1;
        } else {
            // The crash took the claim's release with it: the key stays "in progress" until it is
            // abandoned (service::write::ABANDONED_AFTER), and the retry is refused, not repeated.
            assert_eq!(retry.code.as_deref(), Some("CONFLICT"), "retry of {summary}: {retry:?}");
            in_progress += 1;
        }
        assert!(cases(summary.clone()).await <= 1, "write {summary} done twice");
    }
    let lines = server.json_lines();
    let faults = lines.iter().filter(|line| line["message"] == "database fault while serving a request").count();
    assert!(faults > 0, "the faults were logged as warnings");
    eprintln!(
        "fault suite: {} requests; {before} succeeded before the crash, {refused} refused with 503 during it \
         (slowest {slowest:?}), {after} succeeded after; resumed {resumed_after:?} after PostgreSQL returned; \
         {} writes acknowledged and all found; {} failed writes retried: {replayed} succeeded, {in_progress} \
         still claimed",
        outcomes.len(),
        acknowledged.len(),
        failed.len()
    );
}
