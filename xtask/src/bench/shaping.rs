//! The shaping benchmark: what rendering adds to a sync's CPU time. Two fleets over the same 10 vault objects
//! (small JSON documents): *plain* SecretSyncs map the 10 objects to 10 keys; *shaped* ones take one property of
//! each of the same 10 objects and write 10 keys from one template block (`printf`, `b64enc`, `toJson`,
//! `sha256sum`, `dockerConfigJson`, a `.env` file). Every pass mounts, maps, shapes and runs the content test (change detection is off, so no check is
//! quiet); passes alternate plain, shaped, plain, … so drift in the machine falls on both.
//!
//! The reconciler runs alone on a dedicated single-threaded runtime, and its CPU time is that thread's
//! (`/proc/thread-self/schedstat`, nanoseconds): the emulator and the provider run on other threads. The figure
//! includes the in-memory API double's patch evaluation, the same for both fleets. The render alone
//! (`Plan::parse` + `Plan::shape` over the same values) is timed too.

use std::collections::HashMap;
use std::time::Instant;

use anyhow::{Result, bail};
use sse_api::{FileFormat, MergePolicy, SecretSync, SecretTemplate, TemplateItem};

use super::is_ready;

/// Vault objects each SecretSync reads.
const OBJECTS: usize = 10;
/// Passes of each fleet.
const PASSES: usize = 5;

fn object(i: usize) -> String {
    format!(r#"{{"user":"app-{i}","password":"p@ss-{i}-0123456789","host":"db{i}.internal","port":5432}}"#)
}

fn text(key: &str, text: &str) -> TemplateItem {
    TemplateItem {
        target_key: key.into(),
        text: Some(text.into()),
        ..TemplateItem::default()
    }
}

/// The shaped SecretSync's template: 10 keys over the values `v0` … `v9`.
fn template() -> SecretTemplate {
    SecretTemplate {
        merge_policy: MergePolicy::Replace,
        data: vec![
            text(
                ".dockerconfigjson",
                r#"{{ dockerConfigJson "contoso.azurecr.io" .v0 .v1 }}"#,
            ),
            text(
                "db-url",
                "postgresql://{{ .v0 }}:{{ .v1 }}@{{ .v2 }}:{{ .v3 }}/app",
            ),
            text("auth", "{{ printf \"%s:%s\" .v4 .v5 | b64enc }}"),
            text("hosts.json", "{{ list .v2 .v6 .v7 | toJson }}"),
            text("primary", "{{ .v6 | upper }}"),
            text("replica", "{{ index . \"v7\" | default \"none\" | trim }}"),
            text(
                "pool.yaml",
                "pool:\n{{- range $i, $h := list .v8 .v9 }}\n  - {{ $h }}{{ end }}\n",
            ),
            text("user", "{{ .v4 | quote }}"),
            text("password-sha", "{{ .v5 | sha256sum }}"),
            TemplateItem {
                target_key: "app.env".into(),
                format: Some(FileFormat::Env),
                keys: vec!["v0".into(), "v2".into(), "v3".into()],
                ..TemplateItem::default()
            },
        ],
    }
}

/// Which fleet.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// Each object whole, as upstream.
    Plain,
    /// Shaped, every SecretSync with the same template text (a fleet from one manifest).
    Shared,
    /// Shaped, every SecretSync with a template text of its own.
    Unique,
}

/// The property each shaped item takes of its object.
const PROPERTIES: [&str; 4] = ["user", "password", "host", "port"];

/// `n` SecretSyncs of one flavour, named `{prefix}{i}`, over the class `kv`: the same 10 objects, mapped whole to
/// 10 keys (plain), or each by one property to the values of a 10-key template (shaped).
fn fleet(env: &sse_tests::Env, prefix: &str, n: usize, shape: Shape) -> Vec<SecretSync> {
    let shaped = shape != Shape::Plain;
    let key = if shaped { "v" } else { "key" };
    let items: Vec<(String, String)> = (0..OBJECTS)
        .map(|o| (format!("s{o}"), format!("{key}{o}")))
        .collect();
    let pairs: Vec<(&str, &str)> = items.iter().map(|(s, t)| (s.as_str(), t.as_str())).collect();
    (0..n)
        .map(|i| {
            let mut sync = env.sync(&format!("{prefix}{i}"), "kv", "Opaque", &pairs);
            if shaped {
                for (o, item) in sync.spec.secret_object.data.iter_mut().enumerate() {
                    item.property = Some(PROPERTIES[o % PROPERTIES.len()].into());
                }
                let mut template = template();
                if shape == Shape::Unique {
                    // Every SecretSync's own text: nothing for the template cache to share.
                    for item in &mut template.data {
                        if let Some(text) = &mut item.text {
                            text.insert_str(0, &format!("{{{{/* {prefix}{i} */}}}}"));
                        }
                    }
                }
                sync.spec.secret_object.template = Some(template);
            }
            sync
        })
        .collect()
}

/// CPU time of the calling thread, in nanoseconds (`CLOCK_THREAD_CPUTIME_ID`: exact at every read).
fn thread_cpu_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    u64::try_from(t.tv_sec).unwrap_or(0) * 1_000_000_000 + u64::try_from(t.tv_nsec).unwrap_or(0)
}

/// Reconcile each SecretSync of `syncs` once, one at a time, on `runtime` (the reconciler's own,
/// single-threaded: its connections to the provider live on it), driven from a thread of its own; the CPU
/// time of each reconcile. With `measure` false, only reconcile.
fn timed_pass(
    env: &sse_tests::Env,
    runtime: &tokio::runtime::Runtime,
    syncs: &mut [&mut SecretSync],
) -> Result<Vec<u64>> {
    tokio::task::block_in_place(|| {
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    runtime.block_on(async {
                        let mut spent = Vec::with_capacity(syncs.len());
                        for sync in syncs.iter_mut() {
                            let before = thread_cpu_ns();
                            env.ctx.force(&manager::reconcile::key(sync));
                            sse_tests::reconcile(sync, &env.ctx).await;
                            spent.push(thread_cpu_ns() - before);
                            let name = sync.metadata.name.clone().unwrap_or_default();
                            if let Some(status) = env.cluster.status(sse_tests::NS, &name) {
                                sync.status = Some(status);
                            }
                        }
                        spent
                    })
                })
                .join()
                .map_err(|_| anyhow::anyhow!("the reconciler thread panicked"))
        })
    })
}

/// The median of `values`, in µs.
fn median_us(values: &mut [u64]) -> f64 {
    values.sort_unstable();
    values.get(values.len() / 2).copied().unwrap_or(0) as f64 / 1e3
}

/// µs of one render alone: the shaped SecretSync's plan parsed and applied to the provider's files, as
/// `kubectl sse render` does it (the manager's code, without the Mount or the cache).
fn render_alone(sync: &SecretSync, rounds: u32) -> Result<f64> {
    let files: HashMap<String, Vec<u8>> = (0..OBJECTS)
        .map(|o| (format!("s{o}"), object(o).into_bytes()))
        .collect();
    let started = Instant::now();
    for _ in 0..rounds {
        let data = kubectl_sse::render::render(sync, &files)
            .map_err(|failure| anyhow::anyhow!("the shaped SecretSync does not render: {failure:?}"))?;
        std::hint::black_box(data);
    }
    Ok(started.elapsed().as_secs_f64() * 1e6 / f64::from(rounds))
}

/// Both fleets, `n` SecretSyncs each, reconciled one at a time, plain and shaped interleaved (so drift in the
/// machine falls on both alike): the median CPU of a sync of each, the ratio, and the render alone.
pub(super) async fn measure(n: usize) -> Result<()> {
    let env = sse_tests::Env::start_with(manager::reconcile::Config {
        change_detection: false,
        ..sse_tests::default_config()
    })
    .await;
    for o in 0..OBJECTS {
        env.emulator
            .store()
            .set_secret(sse_tests::VAULT, &format!("s{o}"), &object(o));
    }
    let entries: Vec<String> = (0..OBJECTS)
        .map(|o| format!("objectName: s{o}\nobjectType: secret"))
        .collect();
    let entries: Vec<&str> = entries.iter().map(String::as_str).collect();
    env.put_class("kv", "azure", &entries);
    let mut fleets = [
        fleet(&env, "plain", n, Shape::Plain),
        fleet(&env, "shared", n, Shape::Shared),
        fleet(&env, "unique", n, Shape::Unique),
    ];
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut spent: [Vec<u64>; 3] = Default::default();
    // The first pass creates the Secrets (not counted).
    for pass in 0..=PASSES {
        let [plain, shared, unique] = &mut fleets;
        let mut all: Vec<&mut SecretSync> = plain
            .iter_mut()
            .zip(shared.iter_mut())
            .zip(unique.iter_mut())
            .flat_map(|((p, s), u)| [p, s, u])
            .collect();
        let times = timed_pass(&env, &runtime, &mut all)?;
        if pass > 0 {
            for (i, ns) in times.into_iter().enumerate() {
                spent[i % 3].push(ns);
            }
        }
    }
    let all = || fleets.iter().flatten();
    if let Some(failing) = all().find(|s| !is_ready(s)) {
        let why = failing
            .status
            .as_ref()
            .map(|s| format!("{:?}", s.conditions))
            .unwrap_or_default();
        bail!(
            "{} of {} SecretSyncs are not Ready; the first: {why}",
            all().filter(|s| !is_ready(s)).count(),
            3 * n
        );
    }
    let mean = |v: &[u64]| v.iter().sum::<u64>() as f64 / 1e3 / v.len().max(1) as f64;
    let means = spent.each_ref().map(|v| mean(v));
    let medians = spent.each_mut().map(|v| median_us(v));
    let render_us = render_alone(&fleets[1][0], 2_000)?;
    let keys = env.secret_data(&format!("shared{}", n - 1)).len();
    println!(
        "shaping benchmark: reconciler on its own thread + in-memory API double + provider-azure (mTLS) + Key Vault emulator"
    );
    println!(
        "{n} SecretSyncs of each kind, {OBJECTS} objects each (a shaped Secret has {keys} keys from one template block), {PASSES} forced passes, one sync at a time, the kinds interleaved"
    );
    for (i, what) in [
        "plain",
        "shaped, one template text for all",
        "shaped, a template text each",
    ]
    .into_iter()
    .enumerate()
    {
        println!(
            "   reconciler CPU per sync, {what:<34} median {:>7.1} µs (mean {:.1})",
            medians[i], means[i]
        );
    }
    for (i, what) in [(1, "one text for all"), (2, "a text each")] {
        println!(
            "   ratio shaped ({what}) / plain: {:.3} of the medians, {:.3} of the means (goal < 1.05)",
            medians[i] / medians[0],
            means[i] / means[0]
        );
    }
    println!(
        "   render alone (10 properties + 10 keys, parse included): {render_us:.1} µs = {:.1} % of a plain sync's CPU",
        render_us / medians[0] * 100.0
    );
    tokio::task::block_in_place(|| drop(runtime));
    env.emulator.shutdown().await;
    Ok(())
}
