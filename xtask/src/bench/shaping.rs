//! The shaping benchmark: what rendering adds to a sync's CPU time. Two fleets over the same 10 vault objects
//! (small JSON documents): *plain* SecretSyncs map the 10 objects to 10 keys; *shaped* ones map the same 10 objects
//! and write 10 keys from one template block (properties, `printf`, `b64enc`, `toJson`, `dockerConfigJson`, a
//! `.env` file). Every pass mounts, maps, shapes and runs the content test (change detection is off, so no check is
//! quiet); passes alternate plain, shaped, plain, … so drift in the machine falls on both.
//!
//! The reconciler runs alone on a dedicated single-threaded runtime, and its CPU time is that thread's
//! (`/proc/thread-self/schedstat`, nanoseconds): the emulator and the provider run on other threads. The figure
//! includes the in-memory API double's patch evaluation, the same for both fleets. The render alone
//! (`Plan::parse` + `Plan::shape` over the same values) is timed too.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use anyhow::{Context as _, Result, bail};
use sse_api::{FileFormat, MergePolicy, SecretSync, SecretTemplate, TemplateItem};

use super::{is_ready, pass};

/// Vault objects each SecretSync reads.
const OBJECTS: usize = 10;
/// Passes of each fleet.
const PASSES: usize = 3;

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

/// The shaped SecretSync's template: 10 keys.
fn template() -> SecretTemplate {
    SecretTemplate {
        merge_policy: MergePolicy::Replace,
        data: vec![
            text(
                ".dockerconfigjson",
                r#"{{ dockerConfigJson "contoso.azurecr.io" .user0 .password0 }}"#,
            ),
            text(
                "db-url",
                "postgresql://{{ .user1 }}:{{ .password1 }}@{{ .host1 }}:{{ .port1 }}/app",
            ),
            text("auth", "{{ printf \"%s:%s\" .user2 .password2 | b64enc }}"),
            text("hosts.json", "{{ list .host3 .host4 .host5 | toJson }}"),
            text("primary", "{{ .host6 | upper }}"),
            text("replica", "{{ index . \"host7\" | default \"none\" | trim }}"),
            text(
                "pool.yaml",
                "pool:\n{{- range $i, $h := list .host8 .host9 }}\n  - {{ $h }}{{ end }}\n",
            ),
            text("user", "{{ .user3 | quote }}"),
            text("password-sha", "{{ .password4 | sha256sum }}"),
            TemplateItem {
                target_key: "app.env".into(),
                format: Some(FileFormat::Env),
                keys: vec!["host0".into(), "user0".into(), "port0".into()],
                ..TemplateItem::default()
            },
        ],
    }
}

/// `n` SecretSyncs of one flavour, named `{prefix}{i}`, over the class `kv`.
fn fleet(env: &sse_tests::Env, prefix: &str, n: usize, shaped: bool) -> Vec<SecretSync> {
    (0..n)
        .map(|i| {
            let mut sync = if shaped {
                // Four values per object: user, password, host and port, by property.
                let items: Vec<(String, String)> = (0..OBJECTS)
                    .flat_map(|o| {
                        ["user", "password", "host", "port"].map(|p| (format!("s{o}"), format!("{p}{o}")))
                    })
                    .collect();
                let pairs: Vec<(&str, &str)> = items.iter().map(|(s, t)| (s.as_str(), t.as_str())).collect();
                let mut sync = env.sync(&format!("{prefix}{i}"), "kv", "Opaque", &pairs);
                for item in &mut sync.spec.secret_object.data {
                    let property = item
                        .target_key
                        .trim_end_matches(|c: char| c.is_ascii_digit())
                        .to_owned();
                    item.property = Some(property);
                }
                sync.spec.secret_object.template = Some(template());
                sync
            } else {
                let items: Vec<(String, String)> = (0..OBJECTS)
                    .map(|o| (format!("s{o}"), format!("key{o}")))
                    .collect();
                let pairs: Vec<(&str, &str)> = items.iter().map(|(s, t)| (s.as_str(), t.as_str())).collect();
                env.sync(&format!("{prefix}{i}"), "kv", "Opaque", &pairs)
            };
            sync.metadata.namespace = Some(sse_tests::NS.into());
            sync
        })
        .collect()
}

/// CPU time of the calling thread, in nanoseconds.
fn thread_cpu_ns() -> Result<u64> {
    let text =
        std::fs::read_to_string("/proc/thread-self/schedstat").context("read /proc/thread-self/schedstat")?;
    text.split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .context("parse /proc/thread-self/schedstat")
}

/// Reconcile every SecretSync of `syncs` once, on this thread's own runtime; its CPU time.
fn timed_pass(env: &sse_tests::Env, syncs: &mut [SecretSync]) -> Result<u64> {
    tokio::task::block_in_place(|| timed_pass_here(env, syncs))
}

fn timed_pass_here(env: &sse_tests::Env, syncs: &mut [SecretSync]) -> Result<u64> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let before = thread_cpu_ns()?;
                runtime.block_on(pass(env, &env.ctx, syncs, true));
                Ok(thread_cpu_ns()? - before)
            })
            .join()
            .unwrap_or_else(|_| bail!("the reconciler thread panicked"))
    })
}

/// µs of one render alone: the shaped SecretSync's plan parsed and applied to the values a sync maps.
fn render_alone(sync: &SecretSync, rounds: u32) -> Result<f64> {
    let so = &sync.spec.secret_object;
    let files: HashMap<String, Vec<u8>> = (0..OBJECTS)
        .map(|o| (format!("s{o}"), object(o).into_bytes()))
        .collect();
    let started = Instant::now();
    for _ in 0..rounds {
        let mut items = BTreeMap::new();
        for (index, item) in so.data.iter().enumerate() {
            let value = sse_shape::plan::item_value(index, item, &files[&item.source_path])?;
            items.insert(item.target_key.clone(), value);
        }
        let plan = sse_shape::plan::Plan::parse(so)?.context("a shaped plan")?;
        std::hint::black_box(plan.shape(items, &files)?);
    }
    Ok(started.elapsed().as_secs_f64() * 1e6 / f64::from(rounds))
}

/// Both fleets, `n` SecretSyncs each: CPU per sync, the ratio, and the render alone.
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
    let mut plain = fleet(&env, "plain", n, false);
    let mut shaped = fleet(&env, "shaped", n, true);
    // The first pass creates the Secrets (not measured).
    timed_pass(&env, &mut plain)?;
    timed_pass(&env, &mut shaped)?;
    let ready = plain.iter().chain(&shaped).filter(|s| is_ready(s)).count();
    if ready != 2 * n {
        bail!("{} of {} SecretSyncs are not Ready", 2 * n - ready, 2 * n);
    }
    let (mut plain_ns, mut shaped_ns) = (0u64, 0u64);
    for _ in 0..PASSES {
        plain_ns += timed_pass(&env, &mut plain)?;
        shaped_ns += timed_pass(&env, &mut shaped)?;
    }
    let per_sync = |ns: u64| ns as f64 / 1e3 / (PASSES * n) as f64;
    let (plain_us, shaped_us) = (per_sync(plain_ns), per_sync(shaped_ns));
    let render_us = render_alone(&shaped[0], 2_000)?;
    let keys = env.secret_data(&format!("shaped{}", n - 1)).len();
    println!(
        "shaping benchmark: reconciler on its own thread + in-memory API double + provider-azure (mTLS) + Key Vault emulator"
    );
    println!(
        "{n} plain and {n} shaped SecretSyncs, {OBJECTS} objects each (the shaped Secret has {keys} keys from one template block), {PASSES} forced passes each, alternating"
    );
    println!("   reconciler CPU per sync, plain:  {plain_us:>8.1} µs");
    println!("   reconciler CPU per sync, shaped: {shaped_us:>8.1} µs");
    println!(
        "   ratio shaped / plain: {:.3} (goal < 1.05)",
        shaped_us / plain_us
    );
    println!(
        "   render alone (40 properties + 10 keys, parse included): {render_us:.1} µs = {:.1} % of a plain sync's CPU",
        render_us / plain_us * 100.0
    );
    env.emulator.shutdown().await;
    Ok(())
}
