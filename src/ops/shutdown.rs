//! Running the server until it is told to stop, and stopping it without losing answers.
//!
//! On SIGTERM (what systemd, Docker and Kubernetes send) or SIGINT (Ctrl-C), the server:
//! 1. stops accepting connections at once, and `/readyz` answers 503 `draining` on connections still open;
//! 2. lets the requests in flight finish, for up to `--shutdown-grace-seconds` (idle keep-alive
//!    connections are closed; a connection's next request is not read);
//! 3. past the grace period, or at a second signal, drops whatever is still running (its transactions roll
//!    back; an idempotent retry is safe);
//! 4. tells the sweeper to stop and waits for the sweep it is in, within what is left of the grace
//!    period (every expiry is its own transaction, so a sweep cut short leaves nothing half done);
//! 5. closes the database pool, and exits 0.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sea_orm::DatabaseConnection;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::app::{self, AppState};

static DRAINING: AtomicBool = AtomicBool::new(false);

/// Whether this process was told to stop.
pub fn draining() -> bool {
    DRAINING.load(Ordering::Relaxed)
}

/// Serves on `listener` until a signal, then drains and stops as the module says. Runs the sweeper every
/// `sweep_seconds` meanwhile.
pub async fn run(listener: TcpListener, state: AppState, sweep_seconds: u64, grace: Duration) -> std::io::Result<()> {
    let signals = listen()?;
    let (stop, stopping) = watch::channel(false);
    let mut sweeper = spawn_sweeper(state.db.clone(), sweep_seconds, stopping.clone());
    let upkeep = super::metrics::spawn_upkeep(&state.ops.metrics, stopping);
    let db = state.db.clone();

    let deadline = serve(listener, state, grace, signals).await?;

    let _ = stop.send(true);
    // At least a second for the sweeper, even when draining used the whole grace period.
    let deadline = deadline.max(Instant::now() + Duration::from_secs(1));
    if tokio::time::timeout_at(deadline, &mut sweeper).await.is_err() {
        tracing::warn!("the sweeper did not finish its sweep in time; stopping it");
        sweeper.abort();
    }
    upkeep.abort();
    close(db).await;
    tracing::info!("stopped");
    Ok(())
}

/// Serves until the first signal, then waits for requests in flight until they are done, the grace
/// period is over, or a second signal comes. Returns the end of the grace period.
async fn serve(
    listener: TcpListener,
    state: AppState,
    grace: Duration,
    signals: watch::Receiver<u8>,
) -> std::io::Result<Instant> {
    let first = {
        let mut signals = signals.clone();
        async move {
            let _ = signals.wait_for(|count| *count >= 1).await;
        }
    };
    let serving = app::serve(listener, state, first);
    tokio::pin!(serving);
    let mut watching = signals.clone();
    tokio::select! {
        // Served to the end already (a signal came and nothing was in flight).
        served = &mut serving => {
            served?;
            return Ok(Instant::now() + grace);
        }
        _ = watching.wait_for(|count| *count >= 1) => {}
    }
    // Stop requested: axum has stopped accepting and drains the connections it has.
    let deadline = Instant::now() + grace;
    tracing::info!(
        in_flight = super::access::in_flight(),
        grace_seconds = grace.as_secs(),
        "stopping: no new connections; finishing the requests in flight"
    );
    let mut again = signals;
    tokio::select! {
        served = &mut serving => served?,
        _ = tokio::time::sleep_until(deadline) => {
            tracing::warn!(unanswered = super::access::in_flight(), "grace period over; stopping with requests unanswered");
        }
        _ = again.wait_for(|count| *count >= 2) => {
            tracing::warn!(unanswered = super::access::in_flight(), "second signal; stopping now");
        }
    }
    Ok(deadline)
}

/// Counts SIGTERM and SIGINT: the receiver holds 1 after the first, 2 after the second.
fn listen() -> std::io::Result<watch::Receiver<u8>> {
    let (count, counted) = watch::channel(0u8);
    #[cfg(unix)]
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    #[cfg(unix)]
    let mut interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    tokio::spawn(async move {
        for n in 1..=2u8 {
            #[cfg(unix)]
            let name = tokio::select! {
                _ = terminate.recv() => "SIGTERM",
                _ = interrupt.recv() => "SIGINT",
            };
            #[cfg(not(unix))]
            let name = match tokio::signal::ctrl_c().await {
                Ok(()) => "Ctrl-C",
                Err(_) => std::future::pending().await,
            };
            DRAINING.store(true, Ordering::Relaxed);
            tracing::info!(signal = name, "stop requested");
            let _ = count.send(n);
        }
    });
    Ok(counted)
}

/// Expires overdue referrals and records lapsed consents every `seconds` (so that partner feeds show them
/// even when nobody reads a feed), and compacts the status histories, until `stop`. Every replica may run one: each row is claimed by a
/// conditional update. A sweep in progress when `stop` comes is finished.
pub fn spawn_sweeper(
    db: DatabaseConnection,
    seconds: u64,
    mut stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(seconds.max(1)));
        loop {
            tokio::select! {
                biased;
                _ = stop.wait_for(|stopping| *stopping) => break,
                _ = tick.tick() => {}
            }
            match crate::service::feed::sweep(&db, chrono::Utc::now()).await {
                Ok(swept) => {
                    super::metrics::swept("timer", &swept);
                    if swept != Default::default() {
                        tracing::info!(?swept, "sweep");
                    }
                }
                Err(error) => {
                    super::metrics::sweep_failed("timer");
                    tracing::warn!(error = %error.detail(), "sweep failed; retrying at the next tick");
                }
            }
            // The status histories grow by a few rows with every write; merged here, they stay as
            // small as the days and groups they count.
            if let Err(error) = crate::service::tallies::compact(&db).await {
                tracing::warn!(%error, "compacting the status histories failed; retrying at the next tick");
            }
        }
    })
}

/// Closes the pool. Requests cut off at the end of the grace period may still hold connections (their
/// tasks end when the process does), so the wait for them is bounded.
async fn close(db: DatabaseConnection) {
    match tokio::time::timeout(Duration::from_secs(2), db.close()).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => tracing::warn!(%error, "closing the database pool"),
        Err(_) => tracing::warn!("connections still in use after the grace period; exiting without them"),
    }
}
