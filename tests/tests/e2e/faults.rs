//! Tier 3: faults, with nothing lost. The provider SIGKILLed with its socket left behind and restarted; the
//! API server stopped for 30 s and etcd restarted (the manager steps down and campaigns again instead of
//! exiting); the manager SIGKILLed mid-burst. The control-plane faults need to stop and start the API
//! server and etcd: they run only when the environment says where their pid files are
//! (`SSE_E2E_CONTROL_PLANE_DIR`, the state directory of `realk8s/start.sh`), and say that they were
//! skipped otherwise.

use super::*;

/// A provider of its own (a SecretProviderClass with `provider: azure-fault` reaches it), so that killing
/// it disturbs no other scenario.
const FAULTY: &str = "azure-fault";

/// The provider dies as a SIGKILL leaves it: its socket file stays, nothing answers on it. The Secrets keep
/// their values, a SecretSync created meanwhile and a rotation asked for meanwhile say `ProviderError`;
/// once the provider's container restarts the manager uses it again within 5 s (it probes a provider it
/// cannot reach rather than waiting for each SecretSync's backoff), and both complete.
pub async fn provider_killed_with_a_stale_socket_is_used_again_within_5s(w: &World, ns: &str) -> Result<()> {
    let mut provider = w.start_provider(FAULTY, &format!("{ns}-provider")).await?;
    let object = format!("{ns}-pw");
    w.emulator.store().set_secret(VAULT, &object, "one");
    w.k.apply(&w.spc(
        ns,
        "spc",
        FAULTY,
        &[&format!("objectName: {object}\nobjectType: secret")],
    ))
    .await?;
    let names: Vec<String> = (0..5).map(|i| format!("app{i}")).collect();
    for name in &names {
        w.k.apply(&sync_yaml(ns, name, "spc", "Opaque", &[(&object, "key")], ""))
            .await?;
    }
    for name in &names {
        wait_reason(w, ns, name, "Create", "CreateSucceeded").await?;
    }

    provider.kill().await?; // SIGKILL, then reaped
    ensure!(
        w.provider_socket(FAULTY).exists(),
        "a killed provider leaves its socket file behind"
    );
    w.emulator.store().set_secret(VAULT, &object, "two");
    w.k.apply(&sync_yaml(ns, "late", "spc", "Opaque", &[(&object, "key")], ""))
        .await?;
    w.k.run(
        &[
            "annotate",
            "secretsync",
            "app0",
            "-n",
            ns,
            "--overwrite",
            "sse-rs.io/force-sync=during-outage",
        ],
        None,
    )
    .await?;
    let (_, message) = wait_reason(w, ns, "late", "Create", "ProviderError").await?;
    ensure!(!message.is_empty(), "the status says why");
    wait_reason(w, ns, "app0", "Ready", "ProviderError").await?;
    for name in &names {
        ensure!(
            secret_data(w, ns, name).await?["key"] == "one",
            "Secret {name} kept its value through the outage"
        );
    }

    let restarted = Instant::now();
    let _provider = w.start_provider(FAULTY, &format!("{ns}-provider")).await?;
    eventually(scaled(Duration::from_secs(60)), || async {
        let late = secret_data(w, ns, "late").await.ok().map(|d| d["key"] == "two");
        let app0 = secret_data(w, ns, "app0").await?["key"] == "two";
        Ok((late == Some(true) && app0).then_some(()))
    })
    .await
    .context("the SecretSyncs that failed on the provider did not complete")?;
    let took = restarted.elapsed();
    println!(
        "figure: provider SIGKILLed with a stale socket, restarted: SecretSyncs complete {:.1} s after the restart (polled every 1 s)",
        took.as_secs_f64()
    );
    ensure!(
        took < Duration::from_secs(5),
        "the provider was used again only after {took:?}"
    );
    // The others get the new value at their next check; none is left without one meanwhile.
    for name in &names {
        let value = secret_data(w, ns, name).await?["key"].clone();
        ensure!(value == "one" || value == "two", "Secret {name}: {value}");
    }
    Ok(())
}

/// Every Secret of `ns`'s pairs `ss0..ssN` holds `value`: none lost, none wrong.
async fn all_secrets_hold(w: &World, ns: &str, n: usize, value: &str) -> Result<()> {
    let column = r#"custom-columns=NAME:.metadata.name,VALUE:.data.k"#;
    let table =
        w.k.run(&["get", "secrets", "-n", ns, "--no-headers", "-o", column], None)
            .await?;
    use base64::Engine as _;
    let expected = base64::engine::general_purpose::STANDARD.encode(value);
    let right = table
        .lines()
        .filter(|l| l.split_whitespace().nth(1) == Some(expected.as_str()))
        .count();
    ensure!(right == n, "{right} of {n} Secrets hold the value:\n{table}");
    Ok(())
}

/// How to stop and start the real control plane, from the environment: the directory where
/// `realk8s/start.sh` writes `etcd.pid` and `kube-apiserver.pid`. A process is started again exactly as it
/// ran (its command line and working directory, read from `/proc` before it is stopped), and its pid file
/// rewritten, so the cluster is left as it was found.
struct ControlPlane {
    dir: std::path::PathBuf,
}

/// What it takes to start a stopped process again.
struct Stopped {
    what: String,
    cwd: std::path::PathBuf,
    argv: Vec<String>,
}

impl ControlPlane {
    const DIR: &str = "SSE_E2E_CONTROL_PLANE_DIR";

    /// `None`, after saying so, when the environment does not say how.
    fn from_env(scenario: &str) -> Option<Self> {
        let Some(dir) = std::env::var_os(Self::DIR) else {
            println!(
                "skipped: {scenario} stops and starts the API server or etcd; set {} to the directory holding their pid files (the state directory of realk8s/start.sh)",
                Self::DIR
            );
            return None;
        };
        Some(Self { dir: dir.into() })
    }

    /// Send `signal` to `what` (`kube-apiserver`, `etcd`) and wait until it has exited.
    async fn stop(&self, what: &str, signal: &str) -> Result<Stopped> {
        let pid = std::fs::read_to_string(self.dir.join(format!("{what}.pid")))?
            .trim()
            .to_string();
        let proc = std::path::PathBuf::from(format!("/proc/{pid}"));
        let argv: Vec<String> = std::fs::read(proc.join("cmdline"))
            .with_context(|| format!("{what} ({pid}) is not running"))?
            .split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let cwd = std::fs::read_link(proc.join("cwd"))?;
        tokio::process::Command::new("kill")
            .args([signal, &pid])
            .status()
            .await?;
        // kube-apiserver's graceful shutdown drains long-running requests first: up to a minute or more.
        eventually(Duration::from_secs(180), || async {
            Ok((!proc.exists()).then_some(()))
        })
        .await
        .with_context(|| format!("{what} ({pid}) did not exit"))?;
        Ok(Stopped {
            what: what.to_string(),
            cwd,
            argv,
        })
    }

    /// Start `stopped` again, detached (it outlives the suite), and wait until the API server is ready.
    async fn start(&self, w: &World, stopped: &Stopped) -> Result<()> {
        let quote = |a: &str| format!("'{}'", a.replace('\'', r"'\''"));
        let command: Vec<String> = stopped.argv.iter().map(|a| quote(a)).collect();
        let log = self.dir.join("logs").join(format!("{}.log", stopped.what));
        let pid_file = self.dir.join(format!("{}.pid", stopped.what));
        // `cd` on its own: with `cd … && nohup … &` the whole list would run in a subshell, and `$!` be its pid.
        let script = format!(
            "cd {} || exit 1; nohup {} >> {} 2>&1 & echo $! > {}",
            quote(&stopped.cwd.display().to_string()),
            command.join(" "),
            quote(&log.display().to_string()),
            quote(&pid_file.display().to_string()),
        );
        let status = tokio::process::Command::new("bash")
            .args(["-c", &script])
            .status()
            .await?;
        ensure!(
            status.success(),
            "could not start {} again: {status}",
            stopped.what
        );
        eventually(Duration::from_secs(120), || async {
            Ok(w.k.run(&["get", "--raw", "/readyz"], None).await.ok().map(drop))
        })
        .await
    }
}

/// A control-plane outage with a manager leading over 20 SecretSyncs: `fault` takes the control plane
/// away for `outage` and brings it back. The manager must lose its lease (it cannot renew), step down
/// without exiting, campaign again and lead within `bound` of the API server's return; every Secret is
/// still there and right, and a rotation made during the outage arrives.
async fn control_plane_outage(
    w: &World,
    ns: &str,
    what: &str,
    signal: &str,
    outage: Duration,
    bound: Duration,
) -> Result<()> {
    let Some(cp) = ControlPlane::from_env(&format!("{what} outage")) else {
        return Ok(());
    };
    let n = 20;
    let object = format!("{ns}-outage");
    w.emulator.store().set_secret(VAULT, &object, "before");
    crate::lifecycle::without_shared_manager(w, || async {
        let mut manager = w.start_manager(&format!("manager-{what}"), &[]).await?;
        let result = async {
            crate::lifecycle::apply_pairs(w, ns, n, &object).await?;
            crate::lifecycle::all_ready(w, ns, n, scaled(Duration::from_secs(120))).await?;
            let stopped = cp.stop(what, signal).await?;
            w.emulator.store().set_secret(VAULT, &object, "during");
            // The outage itself: long enough for the lease to lapse (renewals stop after 10 s).
            tokio::time::sleep(outage).await;
            cp.start(w, &stopped).await?;
            let back = Instant::now();
            ensure!(
                manager.child.try_wait()?.is_none(),
                "the manager exited:\n{}",
                manager.log_text()
            );
            // A check asked for by every SecretSync's force-sync is answered only by a leader.
            for i in 0..n {
                w.k.run(
                    &["annotate", "secretsync", &format!("ss{i}"), "-n", ns, "--overwrite", "sse-rs.io/force-sync=after-outage"],
                    None,
                )
                .await?;
            }
            eventually(scaled(Duration::from_secs(120)), || async {
                Ok(all_secrets_hold(w, ns, n, "during").await.ok())
            })
            .await?;
            let took = back.elapsed();
            let log = manager.log_text();
            println!(
                "figure: {what} away for {:.0} s: the manager stepped down, led again and synced the rotation {:.1} s after it was back (still the same process)",
                outage.as_secs_f64(),
                took.as_secs_f64()
            );
            ensure!(log.contains("stepping down"), "the manager never stepped down:\n{log}");
            ensure!(log.matches("became leader").count() >= 2, "it never led again:\n{log}");
            ensure!(manager.child.try_wait()?.is_none(), "the manager exited");
            ensure!(took < bound, "{took:?} to recover, bound {bound:?}");
            crate::lifecycle::all_ready(w, ns, n, scaled(Duration::from_secs(60))).await?;
            // The scenarios after this one rely on kube-controller-manager's garbage collector, whose
            // watches come back on their own schedule: wait until it collects again.
            let gc = garbage_collector_works(w, ns).await?;
            println!("figure: after the {what} outage, garbage collection worked again {:.1} s after it was back", (took + gc).as_secs_f64());
            Ok(())
        }
        .await;
        manager.terminate(Duration::from_secs(15)).await?;
        result.with_context(|| format!("log: {}", manager.log.display()))
    })
    .await
}

/// kube-apiserver stopped for 30 s.
pub async fn api_server_stopped_for_30s_the_manager_steps_down_and_recovers(
    w: &World,
    ns: &str,
) -> Result<()> {
    control_plane_outage(
        w,
        ns,
        "kube-apiserver",
        "-TERM",
        Duration::from_secs(30),
        Duration::from_secs(30),
    )
    .await
}

/// etcd SIGKILLed and restarted after 15 s.
pub async fn etcd_killed_and_restarted_the_manager_steps_down_and_recovers(
    w: &World,
    ns: &str,
) -> Result<()> {
    control_plane_outage(
        w,
        ns,
        "etcd",
        "-KILL",
        Duration::from_secs(15),
        Duration::from_secs(45),
    )
    .await
}

/// The manager SIGKILLed in the middle of a burst of 500 new SecretSyncs (as soon as the first is Ready,
/// while the rest are still being created): a new one takes over once the dead leader's lease expires
/// (15 s), and every SecretSync becomes Ready with its Secret right.
pub async fn manager_killed_mid_burst_loses_nothing(w: &World, ns: &str) -> Result<()> {
    let n = 500;
    let object = format!("{ns}-burst");
    w.emulator.store().set_secret(VAULT, &object, "v");
    crate::lifecycle::without_shared_manager(w, || async {
        let mut first = w.start_manager("manager-killed", &[]).await?;
        let kill_mid_burst = async {
            eventually(scaled(Duration::from_secs(60)), || async {
                Ok((!ready_syncs(w, ns).await?.is_empty()).then_some(()))
            })
            .await?;
            let ready = ready_syncs(w, ns).await?.len();
            first.child.kill().await?;
            anyhow::Ok(ready)
        };
        let (applied, ready_before) = tokio::join!(crate::lifecycle::apply_pairs(w, ns, n, &object), kill_mid_burst);
        applied?;
        let ready_before = ready_before?;
        ensure!(ready_before < n, "the burst was over before the kill ({ready_before}/{n})");
        let killed = Instant::now();
        let mut second = w.start_manager("manager-after-kill", &[]).await?;
        let result = async {
            crate::lifecycle::all_ready(w, ns, n, scaled(Duration::from_secs(120))).await?;
            let took = killed.elapsed();
            all_secrets_hold(w, ns, n, "v").await?;
            println!(
                "figure: manager SIGKILLed with {ready_before}/{n} SecretSyncs Ready: all {n} Ready {:.1} s later (the dead leader's lease expires first)",
                took.as_secs_f64()
            );
            ensure!(took < scaled(Duration::from_secs(60)), "{took:?}");
            Ok(())
        }
        .await;
        second.terminate(Duration::from_secs(15)).await?;
        result
    })
    .await
}

/// Create a ConfigMap owned by another, delete the owner, and wait for the garbage collector to delete the
/// dependent; how long it took.
async fn garbage_collector_works(w: &World, ns: &str) -> Result<Duration> {
    let started = Instant::now();
    w.k.apply(&format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: gc-owner, namespace: {ns}}}\n"
    ))
    .await?;
    let uid = w.k.json(&["get", "configmap", "gc-owner", "-n", ns]).await?["metadata"]["uid"]
        .as_str()
        .context("uid")?
        .to_string();
    w.k.apply(&format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: gc-dependent\n  namespace: {ns}\n  ownerReferences: [{{apiVersion: v1, kind: ConfigMap, name: gc-owner, uid: {uid}}}]\n"
    ))
    .await?;
    w.k.run(&["delete", "configmap", "gc-owner", "-n", ns], None)
        .await?;
    eventually(Duration::from_secs(300), || async {
        Ok((!w.k.exists("configmap", ns, "gc-dependent").await).then_some(()))
    })
    .await
    .context("the garbage collector did not come back")?;
    Ok(started.elapsed())
}
