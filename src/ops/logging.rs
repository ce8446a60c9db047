//! The log subscriber: every line to standard error, as text for people or as one JSON object per line
//! (`--log-format json`) for log collectors. Text is coloured only when standard error is a terminal
//! and `NO_COLOR` is not set, so that files and journals get no escape codes. What is logged is chosen
//! with `RUST_LOG` (default `info,sqlx=warn,sea_orm=warn`).
//!
//! Every line written while a request is served carries the request's span, `request{id=...}` in text and
//! `"span":{"id":...,"name":"request"}` in JSON, so that all lines of one request can be found by its id.
//!
//! Besides writing lines, the subscriber feeds the pool-acquisition metrics
//! ([`super::metrics::PoolAcquireLayer`]) from the pool's own TRACE events, whatever `RUST_LOG` says.

use std::io::IsTerminal;

use tracing_subscriber::filter::{EnvFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, fmt};

use super::metrics::PoolAcquireLayer;
use crate::config::LogFormat;

/// The filter when `RUST_LOG` is not set.
pub const DEFAULT_FILTER: &str = "info,sqlx=warn,sea_orm=warn";

/// Installs the process's subscriber. Call once, first thing.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let lines = match format {
        LogFormat::Text => fmt::layer().with_writer(std::io::stderr).with_ansi(colour()).with_filter(filter).boxed(),
        LogFormat::Json => fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .with_writer(std::io::stderr)
            .with_filter(filter)
            .boxed(),
    };
    let pool = PoolAcquireLayer.with_filter(Targets::new().with_target("sqlx::pool::acquire", tracing::Level::TRACE));
    let _ = tracing_subscriber::registry().with(lines).with(pool).try_init();
}

/// Whether text lines get ANSI colours: only on a terminal, and never with `NO_COLOR` set.
fn colour() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty())
}
