//! Tier 3: fan-out (issue 22) on the real API server, with the manager binary started with
//! `--cluster-secret-sync=true` and the rights of `deploy/components/cluster-secret-sync`, under the admission
//! policies as installed: selection by label and the namespace watch (a namespace joining and leaving within
//! seconds), a foreign Secret left alone and reported, a rotation reaching twenty namespaces while a quiet
//! check writes nothing, both deletion policies with the real garbage collector.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use serde_json::Value;
use sse_tests::e2e::*;

use super::fanout_leave::component_rbac;

/// Run `body` with a fan-out manager (the shared one stopped), the component's rights, and the fan-out's
/// SecretProviderClass `fanout-<tag>` and ServiceAccount in the install namespace, federated to Entra; `body`
/// gets the class's name. The namespaces `body` creates are its to delete.
pub(crate) async fn with_fanout<'a, F, Fut>(
    w: &'a World,
    tag: &'a str,
    object: &'a str,
    body: F,
) -> Result<()>
where
    F: FnOnce(String, Option<u32>) -> Fut,
    Fut: std::future::Future<Output = Result<()>> + 'a,
{
    let rbac = component_rbac(w).await?;
    w.k.apply(&rbac).await?;
    let class = format!("fanout-{tag}");
    let sa = format!("fanout-{tag}");
    w.k.run(&["create", "serviceaccount", &sa, "-n", SYSTEM_NS], None)
        .await?;
    w.emulator.entra().add_federated_credential(
        TENANT,
        CLIENT_ID,
        keyvault_emulator::FederatedCredential {
            issuer: w.issuer.clone(),
            subject: format!("system:serviceaccount:{SYSTEM_NS}:{sa}"),
            audience: AUDIENCE.into(),
        },
    );
    w.k.apply(&w.spc(
        SYSTEM_NS,
        &class,
        "azure",
        &[&format!("objectName: {object}\nobjectType: secret")],
    ))
    .await?;
    let outcome = crate::lifecycle::without_shared_manager(w, || async {
        let mut manager = w
            .start_manager(
                &format!("manager-fanout-{tag}"),
                &[
                    "--cluster-secret-sync=true".into(),
                    "--rotation-poll-interval-in-seconds=3600".into(),
                ],
            )
            .await?;
        let result = body(class.clone(), manager.child.id()).await;
        manager.terminate(Duration::from_secs(15)).await?;
        result.with_context(|| format!("log: {}", manager.log.display()))
    })
    .await;
    let _ =
        w.k.run(&["delete", "secretproviderclass", &class, "-n", SYSTEM_NS], None)
            .await;
    let _ =
        w.k.run(&["delete", "serviceaccount", &sa, "-n", SYSTEM_NS], None)
            .await;
    let _ = w.k.run(&["delete", "-f", "-"], Some(&rbac)).await;
    outcome
}

/// A ClusterSecretSync named `name` reading `object` into key `key` through `class` and its ServiceAccount.
pub(crate) fn css_yaml(name: &str, class: &str, namespaces: &str, policy: &str, annotations: &str) -> String {
    format!(
        "apiVersion: sync.sse-rs.io/v1alpha1\nkind: ClusterSecretSync\nmetadata: {{name: {name}{annotations}}}\nspec:\n  secretProviderClassName: {class}\n  serviceAccountName: {class}\n  deletionPolicy: {policy}\n  secretObject:\n    data: [{{sourcePath: obj, targetKey: key}}]\n  namespaces: {namespaces}\n"
    )
}

/// Create namespaces with these labels (`k=v`).
pub(crate) async fn namespaces(w: &World, names: &[String], labels: &[&str]) -> Result<()> {
    for ns in names {
        w.k.run(&["create", "namespace", ns], None).await?;
        if !labels.is_empty() {
            let mut args = vec!["label", "namespace", ns.as_str(), "--overwrite"];
            args.extend(labels.iter().copied());
            w.k.run(&args, None).await?;
        }
    }
    Ok(())
}

pub(crate) async fn delete_namespaces(w: &World, names: &[String]) {
    for ns in names {
        let _ = w.k.run(&["delete", "namespace", ns, "--wait=false"], None).await;
    }
}

/// The value under `key` of Secret `name` in `ns`, when it exists.
async fn value(w: &World, ns: &str, name: &str) -> Result<Option<String>> {
    let got =
        w.k.run(
            &[
                "get",
                "secret",
                name,
                "-n",
                ns,
                "-o",
                "json",
                "--ignore-not-found",
            ],
            None,
        )
        .await?;
    if got.trim().is_empty() {
        return Ok(None);
    }
    let secret: Value = serde_json::from_str(&got)?;
    Ok(secret["data"]["key"].as_str().map(|v| {
        use base64::Engine as _;
        String::from_utf8_lossy(
            &base64::engine::general_purpose::STANDARD
                .decode(v)
                .unwrap_or_default(),
        )
        .into_owned()
    }))
}

pub(crate) async fn css_status(w: &World, name: &str) -> Result<Value> {
    Ok(w.k.json(&["get", "clustersecretsync", name]).await?["status"].clone())
}

pub(crate) fn unique(base: &str, i: usize) -> String {
    format!("{base}-{}-{i}", std::process::id() % 100_000)
}

/// Selection by label (and not the unlabelled, nor kube-public), then the namespace watch: a labelled namespace
/// created gets its Secret, one relabelled out loses it, each within 10 s, the rest untouched.
pub async fn fanout_selects_by_label_and_follows_namespaces(w: &World, _ns: &str) -> Result<()> {
    let label = format!("e2e-fanout-{}", std::process::id() % 100_000);
    let name = unique("fanout-sel", 0);
    let selected: Vec<String> = (0..3).map(|i| unique("fanout-sel-in", i)).collect();
    let other = vec![unique("fanout-sel-out", 0)];
    let joining = vec![unique("fanout-sel-join", 0)];
    w.emulator.store().set_secret(VAULT, "obj", "v1");
    let label_kv = format!("{label}=yes");
    namespaces(w, &selected, &[&label_kv]).await?;
    namespaces(w, &other, &[]).await?;
    w.k.run(
        &["label", "namespace", "kube-public", &label_kv, "--overwrite"],
        None,
    )
    .await?;
    let (name, label, selected, other, joining) = (&name, &label, &selected, &other, &joining);
    let outcome = with_fanout(w, "sel", "obj", |class, _| async move {
        let selector = format!("{{selector: {{matchLabels: {{{label}: \"yes\"}}}}}}");
        w.k.apply(&css_yaml(name, &class, &selector, "Delete", ""))
            .await?;
        for ns in selected {
            let got = eventually(Duration::from_secs(60), || async { value(w, ns, name).await }).await?;
            ensure!(got == "v1", "{ns}: {got}");
        }
        ensure!(
            value(w, &other[0], name).await?.is_none(),
            "an unlabelled namespace gets nothing"
        );
        ensure!(
            value(w, "kube-public", name).await?.is_none(),
            "kube-public is reached only by name"
        );
        let status = eventually(Duration::from_secs(30), || async {
            let s = css_status(w, name).await?;
            Ok((s["namespaces"]["synced"] == 3).then_some(s))
        })
        .await?;
        ensure!(status["namespaces"]["selected"] == 3, "{status}");
        let before =
            w.k.json(&["get", "secret", name, "-n", &selected[0]]).await?["metadata"]["resourceVersion"]
                .clone();

        let started = Instant::now();
        namespaces(w, joining, &[&label_kv]).await?;
        eventually(Duration::from_secs(10), || async {
            value(w, &joining[0], name).await
        })
        .await?;
        let joined = started.elapsed();
        let started = Instant::now();
        w.k.run(&["label", "namespace", &selected[1], &format!("{label}-")], None)
            .await?;
        eventually(Duration::from_secs(10), || async {
            Ok(value(w, &selected[1], name).await?.is_none().then_some(()))
        })
        .await?;
        let left = started.elapsed();
        let after =
            w.k.json(&["get", "secret", name, "-n", &selected[0]]).await?["metadata"]["resourceVersion"]
                .clone();
        ensure!(before == after, "the namespaces that stayed were not rewritten");
        println!(
            "fan-out: a namespace joined in {:.1} s, one left in {:.1} s",
            joined.as_secs_f64(),
            left.as_secs_f64()
        );
        w.k.run(&["delete", "clustersecretsync", name], None).await?;
        Ok(())
    })
    .await;
    let _ =
        w.k.run(&["label", "namespace", "kube-public", &format!("{label}-")], None)
            .await;
    delete_namespaces(
        w,
        &[selected.as_slice(), other.as_slice(), joining.as_slice()].concat(),
    )
    .await;
    outcome
}

/// A same-named Secret of a namespace's user is left as it is, reported in the status and by an Event; the
/// other namespaces are synced.
pub async fn fanout_foreign_secret_left_alone(w: &World, _ns: &str) -> Result<()> {
    let name = unique("fanout-foreign", 0);
    let nss: Vec<String> = (0..2).map(|i| unique("fanout-foreign-ns", i)).collect();
    w.emulator.store().set_secret(VAULT, "obj", "v1");
    namespaces(w, &nss, &[]).await?;
    w.k.run(
        &[
            "create",
            "secret",
            "generic",
            &name,
            "-n",
            &nss[1],
            "--from-literal=key=mine",
        ],
        None,
    )
    .await?;
    let (name, nss) = (&name, &nss);
    let outcome = with_fanout(w, "foreign", "obj", |class, _| async move {
        let names = format!("{{names: [{}, {}]}}", nss[0], nss[1]);
        w.k.apply(&css_yaml(name, &class, &names, "Delete", "")).await?;
        eventually(Duration::from_secs(60), || async {
            value(w, &nss[0], name).await
        })
        .await?;
        let status = eventually(Duration::from_secs(30), || async {
            let s = css_status(w, name).await?;
            Ok((s["namespaces"]["failed"] == 1).then_some(s))
        })
        .await?;
        ensure!(status["failures"][0]["namespace"] == nss[1].as_str(), "{status}");
        ensure!(status["failures"][0]["reason"] == "ForeignSecret", "{status}");
        ensure!(
            value(w, &nss[1], name).await?.as_deref() == Some("mine"),
            "left untouched"
        );
        let events =
            w.k.json(&["get", "events.events.k8s.io", "-n", "default"])
                .await?;
        ensure!(
            events["items"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|e| e["reason"] == "NamespaceFailed"
                    && e["regarding"]["name"] == name.as_str()
                    && e["note"].as_str().is_some_and(|n| n.contains(nss[1].as_str()))),
            "a NamespaceFailed Event about the resource, naming the namespace"
        );
        w.k.run(&["delete", "clustersecretsync", name], None).await?;
        Ok(())
    })
    .await;
    delete_namespaces(w, nss).await;
    outcome
}

/// Twenty namespaces; a rotation asked for by the force-sync annotation reaches all of them, then a quiet
/// check (another force-sync, nothing new in the vault) leaves every Secret's resourceVersion as it was.
pub async fn fanout_rotation_reaches_every_namespace(w: &World, _ns: &str) -> Result<()> {
    let label = format!("e2e-fanout-rot-{}", std::process::id() % 100_000);
    let name = unique("fanout-rot", 0);
    let nss: Vec<String> = (0..20).map(|i| unique("fanout-rot-ns", i)).collect();
    w.emulator.store().set_secret(VAULT, "rot", "v1");
    let label_kv = format!("{label}=yes");
    namespaces(w, &nss, &[&label_kv]).await?;
    let (name, label, nss) = (&name, &label, &nss);
    let outcome = with_fanout(w, "rot", "rot", |class, _| async move {
        let selector = format!("{{selector: {{matchLabels: {{{label}: \"yes\"}}}}}}");
        let css = |token: &str| {
            let yaml = css_yaml(
                name,
                &class,
                &selector,
                "Delete",
                &format!(", annotations: {{sse-rs.io/force-sync: \"{token}\"}}"),
            );
            yaml.replace("sourcePath: obj", "sourcePath: rot")
        };
        w.k.apply(&css("t0")).await?;
        let all_hold = |v: &'static str| async move {
            for ns in nss.iter() {
                if value(w, ns, name).await?.as_deref() != Some(v) {
                    return Ok(None);
                }
            }
            Ok(Some(()))
        };
        eventually(Duration::from_secs(60), || all_hold("v1")).await?;
        w.emulator.store().set_secret(VAULT, "rot", "v2");
        let started = Instant::now();
        w.k.apply(&css("t1")).await?;
        eventually(Duration::from_secs(30), || all_hold("v2")).await?;
        let rotated = started.elapsed();
        let versions = |_: ()| async {
            let mut rv = Vec::new();
            for ns in nss.iter() {
                rv.push(
                    w.k.json(&["get", "secret", name, "-n", ns]).await?["metadata"]["resourceVersion"]
                        .clone(),
                );
            }
            Ok::<_, anyhow::Error>(rv)
        };
        let before = versions(()).await?;
        w.k.apply(&css("t2")).await?;
        // The check the annotation asks for has run once the status shows its value.
        eventually(Duration::from_secs(30), || async {
            let s = css_status(w, name).await?;
            Ok((s["forceSyncHandled"] == "t2").then_some(()))
        })
        .await?;
        ensure!(versions(()).await? == before, "a quiet check rewrote a Secret");
        println!(
            "fan-out: a rotation reached 20 namespaces in {:.1} s; the quiet check wrote none",
            rotated.as_secs_f64()
        );
        w.k.run(&["delete", "clustersecretsync", name], None).await?;
        Ok(())
    })
    .await;
    delete_namespaces(w, nss).await;
    outcome
}

/// `Keep`: deleting the resource leaves its Secret, released (no owner, no marks, the release noted);
/// `Delete`: the garbage collector removes the Secret with the resource.
pub async fn fanout_deletion_policies(w: &World, _ns: &str) -> Result<()> {
    let kept = unique("fanout-keep", 0);
    let gone = unique("fanout-gc", 0);
    let nss = vec![unique("fanout-del-ns", 0)];
    w.emulator.store().set_secret(VAULT, "obj", "v1");
    namespaces(w, &nss, &[]).await?;
    let (kept, gone, nss) = (&kept, &gone, &nss);
    let outcome = with_fanout(w, "del", "obj", |class, _| async move {
        let names = format!("{{names: [{}]}}", nss[0]);
        w.k.apply(&css_yaml(kept, &class, &names, "Keep", "")).await?;
        w.k.apply(&css_yaml(gone, &class, &names, "Delete", "")).await?;
        for name in [&kept, &gone] {
            eventually(Duration::from_secs(60), || async {
                value(w, &nss[0], name).await
            })
            .await?;
        }
        let css = w.k.json(&["get", "clustersecretsync", kept]).await?;
        ensure!(
            css["metadata"]["finalizers"] == serde_json::json!(["sse-rs.io/keep-secrets"]),
            "{}",
            css["metadata"]
        );
        let uid = css["metadata"]["uid"].as_str().unwrap_or_default().to_string();
        w.k.run(
            &[
                "delete",
                "clustersecretsync",
                kept,
                "--wait=true",
                "--timeout=60s",
            ],
            None,
        )
        .await?;
        let secret = w.k.json(&["get", "secret", kept, "-n", &nss[0]]).await?;
        let meta = &secret["metadata"];
        ensure!(meta["ownerReferences"].is_null(), "released: no owner {meta}");
        ensure!(
            meta["labels"]["sse-rs.io/cluster-secret-sync"].is_null(),
            "released: no mark {meta}"
        );
        ensure!(
            meta["annotations"]["sse-rs.io/released-from"] == format!("{kept}/{uid}").as_str(),
            "{meta}"
        );
        ensure!(
            value(w, &nss[0], kept).await?.as_deref() == Some("v1"),
            "its data kept"
        );

        w.k.run(&["delete", "clustersecretsync", gone], None).await?;
        eventually(Duration::from_secs(60), || async {
            Ok(value(w, &nss[0], gone).await?.is_none().then_some(()))
        })
        .await
        .context("garbage collection of a Delete resource's Secret")?;
        Ok(())
    })
    .await;
    delete_namespaces(w, nss).await;
    outcome
}
