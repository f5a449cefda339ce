//! `cargo xtask e2e [FILTER…] [-- TEST-ARGS…]`: the real-cluster suite
//! (docs/TESTING.md#tier-3-real-api-server).
//!
//! Needs `SSE_E2E_KUBECONFIG` (an admin kubeconfig); without it prints
//! `skipped: no cluster (set SSE_E2E_KUBECONFIG)` and exits 0. The scenarios are ordinary tests in
//! `tests/tests/e2e.rs` (ignored unless asked for): this builds `manager` and `provider-azure`, tells the
//! tests where cargo put them and where to keep their files, runs
//! `cargo test -p sse-tests --test e2e -- --ignored FILTER…`, then stops every process the tests started
//! and keeps the files (logs, never the manager's credential) when something failed. A filter selects
//! scenarios by name as libtest does: `cargo xtask e2e foreign`, `cargo xtask e2e -- --exact lease_handover_on_sigterm`.
//! `--release` runs release builds of the binaries (what ships; use it for the figures about them).
//! `kubectl-sse` is built too and put first on the tests' PATH, so `kubectl sse …` finds it as a plugin.
//! The control-plane fault scenarios (`e2e/faults.rs`) stop and restart kube-apiserver and etcd: they read
//! the pid files in `SSE_E2E_CONTROL_PLANE_DIR` (the state directory of `realk8s/start.sh`) and say they
//! were skipped without it.
#![allow(clippy::print_stdout, reason = "the suite reports what it kept")]

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use sse_tests::e2e::{ENV_DEPLOY, ENV_DIR, ENV_KUBECONFIG, ENV_MANAGER_BIN, ENV_PROVIDER_BIN, PIDS_FILE};

/// Scenarios running at once (most of their time is spent waiting for the controller).
const THREADS: &str = "--test-threads=8";

pub fn run(root: &Path, args: &[String]) -> Result<()> {
    let Some(kubeconfig) = std::env::var_os(ENV_KUBECONFIG) else {
        println!("skipped: no cluster (set {ENV_KUBECONFIG})");
        return Ok(());
    };
    let version = std::process::Command::new("kubectl")
        .env("KUBECONFIG", &kubeconfig)
        .args(["version", "-o", "json"])
        .output()
        .context("kubectl version")?;
    let version: serde_json::Value = serde_json::from_slice(&version.stdout).unwrap_or_default();
    println!(
        "cluster: kube-apiserver {}",
        version["serverVersion"]["gitVersion"]
            .as_str()
            .unwrap_or("(no answer)")
    );
    // `--release`: run the binaries as shipped (the figures about them, RSS above all, are then theirs).
    let release = args.iter().any(|a| a == "--release");
    let bins = crate::procs::build_bins(root, &["provider-azure", "manager", "kubectl-sse"], release)?;
    // `kubectl sse` finds its plugin on the PATH, as a user's kubectl does.
    let plugin_dir = crate::procs::bin(&bins, "kubectl-sse")?
        .parent()
        .context("the plugin's directory")?
        .to_path_buf();
    let path = std::env::join_paths(std::iter::once(plugin_dir).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))?;
    let dir = tempfile::Builder::new().prefix("sse-e2e").tempdir_in("/tmp")?;
    // `--show-output`: the scenarios print figures (timings, request counts) worth reading when they pass.
    let mut test_args = vec![
        "--ignored".to_string(),
        "--show-output".to_string(),
        THREADS.to_string(),
    ];
    test_args.extend(args.iter().filter(|a| *a != "--" && *a != "--release").cloned());
    let status = std::process::Command::new(env!("CARGO"))
        .current_dir(root)
        .args(["test", "--locked", "-p", "sse-tests", "--test", "e2e", "--"])
        .args(&test_args)
        .env(ENV_KUBECONFIG, &kubeconfig)
        .env(ENV_DIR, dir.path())
        .env(ENV_MANAGER_BIN, crate::procs::bin(&bins, "manager")?)
        .env(ENV_PROVIDER_BIN, crate::procs::bin(&bins, "provider-azure")?)
        .env(ENV_DEPLOY, root.join("deploy"))
        .env("PATH", path)
        .status()
        .context("cargo test")?;
    stop_all(dir.path());
    // The manager's kubeconfig holds a real ServiceAccount token: never keep it.
    let _ = std::fs::remove_file(dir.path().join("manager.kubeconfig"));
    if !status.success() {
        println!("logs: {} (kept)", dir.path().display());
        let _ = dir.keep();
    }
    ensure!(status.success(), "the real-cluster suite failed");
    Ok(())
}

/// SIGTERM every process the tests recorded, SIGKILL what is left after 10 s.
fn stop_all(dir: &Path) {
    let pids: Vec<String> = std::fs::read_to_string(dir.join(PIDS_FILE))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect();
    let alive = |pid: &String| Path::new("/proc").join(pid).exists();
    let signal = |sig: &str, pid: &String| {
        let _ = std::process::Command::new("kill")
            .args([sig, pid])
            .stderr(std::process::Stdio::null())
            .status();
    };
    pids.iter().filter(|p| alive(p)).for_each(|p| signal("-TERM", p));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while pids.iter().any(alive) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    pids.iter().filter(|p| alive(p)).for_each(|p| signal("-KILL", p));
}
