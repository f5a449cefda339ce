//! The processes the suite starts: `provider-azure` and `manager`, each logging to a file and recorded for
//! `cargo xtask e2e` to stop.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use sse_tls::TlsFiles;

use super::{PIDS_FILE, eventually};

/// A `manager` process the tests started.
pub struct Manager {
    pub child: tokio::process::Child,
    pub log: PathBuf,
}

impl Manager {
    /// SIGTERM, then wait up to `limit` for the exit; how long it took (SIGKILL and an error past `limit`).
    pub async fn terminate(&mut self, limit: Duration) -> Result<Duration> {
        let started = Instant::now();
        if let Some(pid) = self.child.id() {
            let _ = tokio::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()
                .await;
        }
        match tokio::time::timeout(limit, self.child.wait()).await {
            Ok(status) => {
                status?;
                Ok(started.elapsed())
            }
            Err(_) => {
                let _ = self.child.start_kill();
                let _ = self.child.wait().await;
                bail!("the manager did not exit within {limit:?} of SIGTERM (killed)")
            }
        }
    }

    /// Resident memory now and at its peak, in MiB (Linux `/proc`).
    pub fn rss_mib(&self) -> Option<(f64, f64)> {
        rss_mib(self.child.id()?)
    }

    /// The log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// Resident memory of process `pid` now and at its peak, in MiB (Linux `/proc`).
pub fn rss_mib(pid: u32) -> Option<(f64, f64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib = |field: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
    };
    Some((kib("VmRSS:")? / 1024.0, kib("VmHWM:")? / 1024.0))
}

/// Start `provider-azure` serving `<providers>/<name>.sock` with mutual TLS, as in the pod, logging to
/// `<dir>/<log>.log`; returns once it accepts connections (a stale socket file of a killed one does not).
pub(super) async fn spawn_provider(
    bin: &Path,
    dir: &Path,
    server: &TlsFiles,
    providers: &Path,
    name: &str,
    log: &str,
) -> Result<tokio::process::Child> {
    let socket = providers.join(format!("{name}.sock"));
    let provider = tokio::process::Command::new(bin)
        .arg(format!("--endpoint=unix://{}", socket.display()))
        .arg(format!("--tls-cert-file={}", server.cert.display()))
        .arg(format!("--tls-key-file={}", server.key.display()))
        .arg(format!("--tls-client-ca-file={}", server.ca.display()))
        .arg(format!("--keyvault-ca-file={}", dir.join("kv-ca.pem").display()))
        // The emulator is the default cloud: what an AKVSync generates names no cloud.
        .arg("--cloud-name=AzureStackCloud")
        .arg(format!("--cloud-env-file={}", dir.join("cloud.json").display()))
        .args(["--health-addr=0", "--metrics-addr=0"])
        .stderr(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.join(format!("{log}.log")))?,
        )
        .kill_on_drop(true)
        .spawn()?;
    record_pid(dir, &provider);
    eventually(Duration::from_secs(30), || async {
        Ok(tokio::net::UnixStream::connect(&socket).await.ok().map(drop))
    })
    .await
    .context("provider-azure did not listen on its socket")?;
    Ok(provider)
}

/// Add `child` to [`PIDS_FILE`] in `dir`, for `cargo xtask e2e` to stop when the run ends.
pub(super) fn record_pid(dir: &Path, child: &tokio::process::Child) {
    if let Some(pid) = child.id()
        && let Ok(mut file) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join(PIDS_FILE))
    {
        let _ = writeln!(file, "{pid}");
    }
}
