//! The processes xtask starts: one way to build them and find where cargo put them, one way to launch
//! `provider-azure` with mutual TLS, one way to wait until a child process says it is ready.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use sse_tls::TlsFiles;
use tokio::io::{AsyncBufReadExt, BufReader};

/// Build the binaries of `packages` (`release` or dev profile) and return each executable's path as cargo
/// reports it — wherever `CARGO_TARGET_DIR`, `--target-dir` in a config or the profile put it.
pub fn build_bins(root: &Path, packages: &[&str], release: bool) -> Result<BTreeMap<String, PathBuf>> {
    let mut cmd = std::process::Command::new(env!("CARGO"));
    cmd.current_dir(root)
        .args([
            "build",
            "--locked",
            "--bins",
            "--message-format=json-render-diagnostics",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if release {
        cmd.arg("--release");
    }
    for package in packages {
        cmd.args(["-p", package]);
    }
    let out = cmd.output().context("cargo build")?;
    ensure!(out.status.success(), "cargo build failed");
    let mut bins = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(message) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if let (Some(name), Some(path)) = (message["target"]["name"].as_str(), message["executable"].as_str())
        {
            bins.insert(name.to_string(), PathBuf::from(path));
        }
    }
    Ok(bins)
}

/// The path of binary `name` in what [`build_bins`] returned.
pub fn bin(bins: &BTreeMap<String, PathBuf>, name: &str) -> Result<PathBuf> {
    bins.get(name)
        .cloned()
        .with_context(|| format!("cargo built no binary named {name}"))
}

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
