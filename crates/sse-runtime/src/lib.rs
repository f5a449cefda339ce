//! Process plumbing shared by `manager` and `provider-azure`, so each exists once:
//!
//! * [`init_logging`]: one way to set up logs;
//! * [`shutdown::on_signals`]: the two-signal shutdown (the first SIGTERM/SIGINT drains, the second exits);
//! * [`admin::serve`]: the HTTP server behind the health, readiness, debug and metrics endpoints;
//! * [`metrics`]: the `/metrics` route and its Prometheus text encoding.

pub mod admin;
pub mod metrics;
pub mod shutdown;

use tracing_subscriber::EnvFilter;

/// Log output format (`--log-format`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Plain,
    /// One JSON object per line.
    Json,
}

/// Install the global `tracing` subscriber writing to stderr; an invalid filter falls back to `info`.
/// Colours only when stderr is a terminal (`kubectl logs` and log shippers get plain text).
/// Calling it twice keeps the first one.
pub fn init_logging(format: LogFormat, filter: &str) {
    use std::io::IsTerminal;
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Plain => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}
