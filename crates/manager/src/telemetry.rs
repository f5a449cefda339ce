//! Logging setup: `tracing` with plain or JSON lines on stderr.

use tracing_subscriber::EnvFilter;

use crate::args::LogFormat;

/// Install the global subscriber. Calling it twice keeps the first one.
pub fn init(format: LogFormat, filter: &str) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Plain => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}
