//! Tier 3, measured (issue 22): one ClusterSecretSync fanned out to `$SSE_E2E_FANOUT_NAMESPACES` namespaces
//! (default 20; the figures in ARCHITECTURE.md §7 come from 1,000 with `cargo xtask e2e --release fanout_scale`),
//! beside the same namespaces served by as many SecretSyncs, in the same run, each arm by a manager binary of
//! its own on the real API server: time to converge, the manager's RSS, a rotation reaching every Secret, and
//! what a quiet check writes.

use std::time::{Duration, Instant};

use anyhow::{Result, ensure};
use base64::Engine as _;
use sse_tests::e2e::*;

use super::fanout::{css_status, css_yaml, delete_namespaces, unique, with_fanout};

/// Environment variable: how many namespaces.
const ENV_NAMESPACES: &str = "SSE_E2E_FANOUT_NAMESPACES";

fn b64(v: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(v)
}

/// `(namespace, value of key, resourceVersion)` of every Secret named `name`, in any namespace (one LIST,
/// columns only).
async fn secrets_named(w: &World, name: &str, key: &str) -> Result<Vec<(String, String, String)>> {
    let columns = format!(
        "custom-columns=NS:.metadata.namespace,V:.data.{},RV:.metadata.resourceVersion",
        key.replace('.', "\\.")
    );
    let table =
        w.k.run(
            &[
                "get",
                "secrets",
                "-A",
                "--field-selector",
                &format!("metadata.name={name}"),
                "--no-headers",
                "-o",
                &columns,
            ],
            None,
        )
        .await?;
    Ok(table
        .lines()
        .filter_map(|l| {
            let mut cols = l.split_whitespace();
            Some((
                cols.next()?.to_string(),
                cols.next()?.to_string(),
                cols.next()?.to_string(),
            ))
        })
        .collect())
}

/// Wait until `n` Secrets named `name` hold `value` under their `key`.
async fn all_hold(w: &World, name: &str, value: &str, n: usize, limit: Duration) -> Result<()> {
    eventually(limit, || async {
        let rows = secrets_named(w, name, "key").await?;
        Ok((rows.iter().filter(|r| r.1 == b64(value)).count() == n).then_some(()))
    })
    .await
}

/// Apply `docs` in chunks of 250 documents, four at a time.
async fn apply_all(w: &World, docs: Vec<String>) -> Result<()> {
    use futures::{StreamExt as _, TryStreamExt as _};
    futures::stream::iter(docs.chunks(250).map(|chunk| chunk.join("\n---\n")))
        .map(|yaml| async move { w.k.run(&["apply", "--server-side", "-f", "-"], Some(&yaml)).await })
        .buffer_unordered(4)
        .try_collect::<Vec<_>>()
        .await?;
    Ok(())
}

/// Both arms on the same namespaces.
pub async fn fanout_scale(w: &World, _ns: &str) -> Result<()> {
    let n: usize = std::env::var(ENV_NAMESPACES)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let run = std::process::id() % 100_000;
    let label = format!("e2e-fanout-scale-{run}");
    let nss: Vec<String> = (0..n).map(|i| unique("fanout-scale", i)).collect();
    let limit = Duration::from_secs(60 + 2 * n as u64);
    w.emulator.store().set_secret(VAULT, "scale", "v1");
    let started = Instant::now();
    apply_all(
        w,
        nss.iter()
            .map(|ns| {
                format!(
                    "apiVersion: v1\nkind: Namespace\nmetadata: {{name: {ns}, labels: {{{label}: \"yes\"}}}}"
                )
            })
            .collect(),
    )
    .await?;
    println!(
        "fan-out scale: {n} namespaces created in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let name = unique("fanout-scale", 0);
    let (name, label, nss_ref) = (&name, &label, &nss);
    let outcome = async {
        with_fanout(w, "scale", "scale", |class, pid| async move {
            let selector = format!("{{selector: {{matchLabels: {{{label}: \"yes\"}}}}}}");
            let css = |token: &str| {
                css_yaml(name, &class, &selector, "Delete", &format!(", annotations: {{sse-rs.io/force-sync: \"{token}\"}}"))
                    .replace("sourcePath: obj", "sourcePath: scale")
            };
            let started = Instant::now();
            w.k.apply(&css("t0")).await?;
            eventually(limit, || async {
                let s = css_status(w, name).await?;
                Ok((s["namespaces"]["synced"] == n).then_some(()))
            })
            .await?;
            let converged = started.elapsed();
            let rss_converged = pid.and_then(rss_mib);

            w.emulator.store().set_secret(VAULT, "scale", "v2");
            let started = Instant::now();
            w.k.apply(&css("t1")).await?;
            all_hold(w, name, "v2", n, limit).await?;
            let rotated = started.elapsed();

            let before = secrets_named(w, name, "key").await?;
            w.k.apply(&css("t2")).await?;
            eventually(limit, || async {
                let s = css_status(w, name).await?;
                Ok((s["forceSyncHandled"] == "t2").then_some(()))
            })
            .await?;
            let after = secrets_named(w, name, "key").await?;
            let rewritten = after.iter().filter(|r| !before.contains(r)).count();
            let rss_end = pid.and_then(rss_mib);
            ensure!(rewritten == 0, "a quiet check rewrote {rewritten} Secrets");
            println!(
                "fan-out scale A (1 ClusterSecretSync): {n} namespaces synced in {:.1} s; rotation to all {n} in {:.1} s; quiet check: {rewritten} Secrets written; manager RSS {:.1} MiB after converging, {:.1} MiB at the end (peak {:.1})",
                converged.as_secs_f64(),
                rotated.as_secs_f64(),
                rss_converged.map_or(0.0, |r| r.0),
                rss_end.map_or(0.0, |r| r.0),
                rss_end.map_or(0.0, |r| r.1),
            );
            w.k.run(&["delete", "clustersecretsync", name, "--wait=false"], None).await?;
            Ok(())
        })
        .await?;
        arm_b(w, nss_ref, label, n, limit).await
    }
    .await;
    delete_namespaces(w, &nss).await;
    outcome
}

/// The same namespaces, each with a SecretSync of its own (its ServiceAccount, federated, and its class).
async fn arm_b(w: &World, nss: &[String], label: &str, n: usize, limit: Duration) -> Result<()> {
    // The ServiceAccounts first: a SecretSync applied before its ServiceAccount fails its first check for a
    // missing account, and waits for its next.
    let (mut accounts, mut docs) = (Vec::new(), Vec::new());
    for ns in nss {
        w.emulator.entra().add_federated_credential(
            TENANT,
            CLIENT_ID,
            keyvault_emulator::FederatedCredential {
                issuer: w.issuer.clone(),
                subject: format!("system:serviceaccount:{ns}:{SA}"),
                audience: AUDIENCE.into(),
            },
        );
        accounts.push(format!(
            "apiVersion: v1\nkind: ServiceAccount\nmetadata: {{name: {SA}, namespace: {ns}}}"
        ));
        docs.push(w.spc(ns, "spc", "azure", &["objectName: scale\nobjectType: secret"]));
        let sync = sync_yaml(ns, "scale-b", "spc", "Opaque", &[("scale", "key")], "");
        docs.push(sync.replacen(
            "metadata: {",
            &format!("metadata: {{labels: {{{label}: \"yes\"}}, "),
            1,
        ));
    }
    crate::lifecycle::without_shared_manager(w, || async {
        let mut manager = w
            .start_manager("manager-scale-b", &["--rotation-poll-interval-in-seconds=3600".into()])
            .await?;
        let result = async {
            apply_all(w, accounts).await?;
            let started = Instant::now();
            apply_all(w, docs).await?;
            eventually(limit, || async {
                let column = r#"custom-columns=READY:.status.conditions[?(@.type=="Ready")].status"#;
                let table = w
                    .k
                    .run(&["get", "secretsyncs", "-A", "-l", label, "--no-headers", "-o", column], None)
                    .await?;
                let ready = table.lines().filter(|l| l.trim() == "True").count();
                Ok((ready == n).then_some(()))
            })
            .await?;
            let converged = started.elapsed();
            let rss_converged = manager.rss_mib();
            w.emulator.store().set_secret(VAULT, "scale", "v3");
            let started = Instant::now();
            w.k.run(
                &["annotate", "secretsyncs", "-A", "-l", label, "sse-rs.io/force-sync=t1", "--overwrite"],
                None,
            )
            .await?;
            all_hold(w, "scale-b", "v3", n, limit).await?;
            let rotated = started.elapsed();
            let rss_end = manager.rss_mib();
            println!(
                "fan-out scale B ({n} SecretSyncs): all Ready {:.1} s after the apply began; rotation to all {n} in {:.1} s (force-sync on each); manager RSS {:.1} MiB after converging, {:.1} MiB at the end (peak {:.1})",
                converged.as_secs_f64(),
                rotated.as_secs_f64(),
                rss_converged.map_or(0.0, |r| r.0),
                rss_end.map_or(0.0, |r| r.0),
                rss_end.map_or(0.0, |r| r.1),
            );
            Ok(())
        }
        .await;
        manager.terminate(Duration::from_secs(30)).await?;
        result
    })
    .await
}
