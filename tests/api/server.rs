//! Servers for tests that need a real process or a real port: the `psm-api` binary started as a child
//! process (signals, exit codes, logs), or the router served on a loopback port in this process (clients
//! that hang up); and a small HTTP/1.1 client. Only loopback addresses, only bounded loops.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::header::HeaderMap;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

/// The `psm-api` binary, serving on a free loopback port, logging JSON lines that the test can read.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// Starts `psm-api serve` on the database `url` with the extra `args` (JSON logs unless they choose),
    /// and waits until it listens.
    pub fn start(url: &str, args: &[&str]) -> Server {
        let format = if args.contains(&"--log-format") { &[][..] } else { &["--log-format", "json"][..] };
        let mut child = Command::new(env!("CARGO_BIN_EXE_psm-api"))
            .args(["--database-url", url, "--listen", "127.0.0.1:0"])
            .args(format)
            .args(args)
            .env("RUST_LOG", "info,sqlx=warn,sea_orm=warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start psm-api");
        let stderr = child.stderr.take().expect("stderr");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (address, listening) = std::sync::mpsc::channel();
        let kept = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(addr) =
                    line.split("serving GraphQL at http://").nth(1).and_then(|rest| rest.split('/').next())
                {
                    let _ = address.send(addr.to_owned());
                }
                kept.lock().expect("lines").push(line);
            }
        });
        let addr = match listening.recv_timeout(Duration::from_secs(120)) {
            Ok(addr) => addr.parse().expect("address"),
            Err(_) => {
                let _ = child.kill();
                panic!("psm-api did not start: {:#?}", lines.lock().expect("lines"));
            }
        };
        Server { child, addr, lines }
    }

    /// Sends `signal` (`TERM`, `INT`, `KILL`) to the server.
    pub fn signal(&self, signal: &str) {
        let status =
            Command::new("kill").arg(format!("-{signal}")).arg(self.child.id().to_string()).status().expect("run kill");
        assert!(status.success(), "kill -{signal} failed");
    }

    /// Waits up to `limit` for the server to exit.
    pub async fn exited_within(&mut self, limit: Duration) -> Option<ExitStatus> {
        let started = Instant::now();
        while started.elapsed() < limit {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    }

    /// The log lines written so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().expect("lines").clone()
    }

    /// The log lines written so far, parsed.
    pub fn json_lines(&self) -> Vec<Value> {
        self.lines().iter().filter_map(|line| serde_json::from_str(line).ok()).collect()
    }

    /// The value of a metric line (`name{labels}` as rendered), if present.
    pub async fn metric(&self, series: &str) -> Option<f64> {
        metric(self.addr, series).await
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The router of `state` served on a free loopback port in this process, until the test ends.
pub async fn serve_in_process(state: psm_api::app::AppState) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(psm_api::app::serve(listener, state, std::future::pending()));
    addr
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|error| panic!("not JSON ({error}): {}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }

    /// The `extensions.code` of the first error.
    pub fn code(&self) -> Option<String> {
        serde_json::from_str::<Value>(&self.body).ok()?["errors"][0]["extensions"]["code"].as_str().map(str::to_owned)
    }
}

/// Sends one request on a new connection (closed after the answer).
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<String>,
) -> Result<Reply, String> {
    let stream = tokio::net::TcpStream::connect(addr).await.map_err(|e| format!("connect: {e}"))?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| format!("handshake: {e}"))?;
    tokio::spawn(connection);
    let mut builder = hyper::Request::builder().method(method).uri(path).header("host", addr.to_string());
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let request = builder.body(Full::new(Bytes::from(body.unwrap_or_default()))).map_err(|e| e.to_string())?;
    let response = sender.send_request(request).await.map_err(|e| format!("send: {e}"))?;
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.map_err(|e| format!("body: {e}"))?.to_bytes();
    Ok(Reply { status: parts.status.as_u16(), headers: parts.headers, body: String::from_utf8_lossy(&bytes).into() })
}

/// POSTs a GraphQL request, with `key` as the bearer key when given.
pub async fn graphql(addr: SocketAddr, key: Option<&str>, query: &str, variables: Value) -> Result<Reply, String> {
    let bearer = key.map(|key| format!("Bearer {key}"));
    let mut headers = vec![("content-type", "application/json")];
    if let Some(bearer) = &bearer {
        headers.push(("authorization", bearer.as_str()));
    }
    let body = json!({ "query": query, "variables": variables }).to_string();
    request(addr, "POST", "/graphql", &headers, Some(body)).await
}

/// The value of a metric line (`name{labels}` exactly as rendered) at `addr`, if present.
pub async fn metric(addr: SocketAddr, series: &str) -> Option<f64> {
    let reply = request(addr, "GET", "/metrics", &[], None).await.ok()?;
    metric_value(&reply.body, series)
}

/// The value of the line `series value` in a rendered metrics text.
pub fn metric_value(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.trim().parse().ok())
}

/// Polls `check` every 50 ms until it holds or `limit` passes; returns whether it held.
pub async fn eventually<F, Fut>(limit: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let started = Instant::now();
    while started.elapsed() < limit {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}
