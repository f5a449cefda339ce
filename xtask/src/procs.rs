//! The processes xtask starts: one way to launch `provider-azure` with mutual TLS, one way to wait until a
//! child process says it is ready.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use sse_tls::TlsFiles;
use tokio::io::{AsyncBufReadExt, BufReader};

/// What `provider-azure` logs once its socket accepts connections.
pub const PROVIDER_READY: &str = "serving v1alpha1.CSIDriverProvider";

/// `provider-azure` serving mutual TLS on `socket` with `server`'s files, trusting `kv_ca` for Key Vault and
/// Entra (the emulator's CA), HTTP endpoints off. Callers add flags and choose where stderr goes.
pub fn provider_command(
    binary: &Path,
    socket: &Path,
    server: &TlsFiles,
    kv_ca: &Path,
) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(binary);
    cmd.arg(format!("--endpoint=unix://{}", socket.display()))
        .arg(format!("--tls-cert-file={}", server.cert.display()))
        .arg(format!("--tls-key-file={}", server.key.display()))
        .arg(format!("--tls-client-ca-file={}", server.ca.display()))
        .arg(format!("--keyvault-ca-file={}", kv_ca.display()))
        .args(["--health-addr=0", "--metrics-addr=0"])
        .kill_on_drop(true);
    cmd
}

/// Read the child's (piped) stderr until a line contains `needle`; keep draining it afterwards so the child
/// never blocks on a full pipe.
pub async fn wait_for_line(child: &mut tokio::process::Child, needle: &str) -> Result<()> {
    let stderr = child.stderr.take().context("stderr is not piped")?;
    let mut lines = BufReader::new(stderr).lines();
    let found = async {
        while let Some(line) = lines.next_line().await? {
            if line.contains(needle) {
                return Ok::<_, anyhow::Error>(());
            }
            eprintln!("{line}");
        }
        bail!("the process exited before `{needle}`")
    };
    tokio::time::timeout(Duration::from_secs(30), found)
        .await
        .with_context(|| format!("no `{needle}` within 30 s"))??;
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok(())
}
