//! Process plumbing shared by `manager` and `provider-azure`, so each exists once:
//!
//! * [`init_logging`]: one way to set up logs;
//! * [`shutdown::on_signals`]: the two-signal shutdown (the first SIGTERM/SIGINT drains, the second exits);
//! * [`admin::serve`]: the HTTP server behind the health, readiness, debug and metrics endpoints;
//! * [`metrics`]: the `/metrics` route and its Prometheus text encoding;
//! * [`outbound`]: the HTTPS client to Azure (extra roots, an outbound proxy, `*.localhost` on loopback);
//! * [`positive_duration`]: the parser of duration flags that drive a timer.

pub mod admin;
pub mod kube_client;
pub mod metrics;
pub mod outbound;
pub mod shutdown;

use std::time::Duration;

use tracing_subscriber::EnvFilter;

/// A duration flag (`60s`, `5m`, `1h30m`, `500ms`): a Go duration, as the original's flags are
/// ([`sse_api::duration::parse`]).
pub fn duration(s: &str) -> Result<Duration, String> {
    sse_api::duration::parse(s).map_err(|e| e.to_string())
}

/// A duration flag that drives a periodic timer (`10s`, `1m`): zero is refused at start-up, where a timer
/// with a zero period would panic its task later (and the work it does, such as reloading rotated
/// certificates, would stop without a word).
pub fn positive_duration(s: &str) -> Result<Duration, String> {
    let d = duration(s)?;
    if d.is_zero() {
        return Err("must be greater than zero".into());
    }
    Ok(d)
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timer_period_must_be_positive() {
        assert_eq!(positive_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(positive_duration("0s"), Err("must be greater than zero".into()));
        assert!(positive_duration("soon").is_err());
    }
}
