//! The two-signal shutdown: the first SIGTERM or SIGINT starts a graceful stop, a second one exits at once.

use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio_util::sync::CancellationToken;

/// Exit status after a second signal (128 + SIGINT, as a shell reports an interrupted command).
pub const FORCED_EXIT_STATUS: i32 = 130;

/// A token cancelled on the first SIGTERM or SIGINT, after logging `shutting down: {draining}` (what the
/// process does before it exits, e.g. "draining in-flight requests"). A second signal exits the process at
/// once with [`FORCED_EXIT_STATUS`].
///
/// Call it once, from inside the runtime. The handlers are installed before it returns, so no signal that
/// arrives afterwards is missed; from then on the default action of SIGTERM and SIGINT (terminate) no
/// longer applies to the process.
pub fn on_signals(draining: &'static str) -> CancellationToken {
    let token = CancellationToken::new();
    let mut signals = Signals::install();
    let first = token.clone();
    tokio::spawn(async move {
        signals.recv().await;
        tracing::info!("shutting down: {draining}");
        first.cancel();
        signals.recv().await;
        tracing::warn!("second signal: exiting now");
        std::process::exit(FORCED_EXIT_STATUS);
    });
    token
}

/// SIGTERM and SIGINT, or Ctrl-C alone where the Unix handlers cannot be installed.
enum Signals {
    Unix { term: Signal, int: Signal },
    CtrlC,
}

impl Signals {
    fn install() -> Self {
        match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
            (Ok(term), Ok(int)) => Self::Unix { term, int },
            _ => Self::CtrlC,
        }
    }

    /// Resolve on the next signal.
    async fn recv(&mut self) {
        match self {
            Self::Unix { term, int } => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            Self::CtrlC => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    #[tokio::test]
    async fn the_first_signal_cancels() {
        let token = super::on_signals("testing");
        assert!(!token.is_cancelled());
        let status = std::process::Command::new("kill")
            .args(["-TERM", &std::process::id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        tokio::time::timeout(Duration::from_secs(10), token.cancelled())
            .await
            .expect("cancelled by SIGTERM");
    }
}
