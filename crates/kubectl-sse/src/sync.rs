//! `kubectl sse sync NAME|--all`: check the vault now and wait for the answer.
//!
//! It sets the SecretSync's `sse-rs.io/force-sync` annotation to the current time (a merge patch of that
//! one annotation: no spec edit, nothing to delete and recreate) and waits until the manager records
//! that value in `status.forceSyncHandled`, which it writes together with that check's conditions. Then
//! it prints the SecretSyncs' status, as `kubectl sse status` does.

use std::io::{IsTerminal as _, Write as _};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context as _, Result, bail};
use kube::ResourceExt as _;
use kube::api::{Api, ListParams, Patch, PatchParams};
use sse_api::SecretSync;
use sse_api::consts::FORCE_SYNC_ANNOTATION;

use crate::cli::{Output, Target, parse_duration};
use crate::status::{self, Row};

/// `kubectl sse sync` arguments.
#[derive(clap::Args, Debug)]
pub struct SyncArgs {
    /// The SecretSync to check now.
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub name: Option<String>,
    /// Every SecretSync in the namespace (or in every namespace with -A).
    #[arg(long)]
    pub all: bool,
    /// Longest wait for the manager's answer.
    #[arg(long, default_value = "2m", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Wait for the answer (`--wait=false`: ask and return).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub wait: bool,
    /// Output format of the result.
    #[arg(short, long, value_enum, default_value_t)]
    pub output: Output,
}

/// One SecretSync asked to check.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Asked {
    namespace: String,
    name: String,
}

/// Run `sync`.
pub async fn run(target: &Target, args: &SyncArgs) -> Result<u8> {
    if args.name.is_some() && target.namespace.is_none() {
        bail!("a SecretSync name needs a namespace: use -n, or --all with -A");
    }
    let token = token(SystemTime::now());
    let asked = ask(target, args.name.as_deref(), &token).await?;
    if asked.is_empty() {
        eprintln!("No SecretSyncs found{}.", status::in_scope(target));
        return Ok(0);
    }
    if !args.wait {
        for a in &asked {
            println!(
                "secretsync {}/{} asked to check now ({FORCE_SYNC_ANNOTATION}={token})",
                a.namespace, a.name
            );
        }
        return Ok(0);
    }
    let rows = wait(target, &asked, &token, args.timeout).await?;
    print!(
        "{}",
        status::render(&rows, args.output, target.namespace.is_none(), SystemTime::now())?
    );
    Ok(if rows.iter().all(Row::is_ready) {
        0
    } else {
        crate::EXIT_NOT_READY
    })
}

/// The force-sync value: the time, to the nanosecond (two requests in one second stay distinct).
fn token(now: SystemTime) -> String {
    let t = now.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    k8s_openapi::jiff::Timestamp::new(
        i64::try_from(t.as_secs()).unwrap_or_default(),
        i32::try_from(t.subsec_nanos()).unwrap_or_default(),
    )
    .map(|t| t.to_string())
    .unwrap_or_else(|_| t.as_nanos().to_string())
}

/// The merge patch setting the force-sync annotation (and nothing else).
fn patch(token: &str) -> serde_json::Value {
    serde_json::json!({ "metadata": { "annotations": { FORCE_SYNC_ANNOTATION: token } } })
}

async fn ask(target: &Target, name: Option<&str>, token: &str) -> Result<Vec<Asked>> {
    let targets: Vec<Asked> = match (name, &target.namespace) {
        (Some(name), Some(ns)) => vec![Asked {
            namespace: ns.clone(),
            name: name.to_string(),
        }],
        _ => {
            let api: Api<SecretSync> = match &target.namespace {
                Some(ns) => Api::namespaced(target.client.clone(), ns),
                None => Api::all(target.client.clone()),
            };
            api.list(&ListParams::default())
                .await
                .context("list secretsyncs")?
                .items
                .iter()
                .map(|s| Asked {
                    namespace: s.namespace().unwrap_or_default(),
                    name: s.name_any(),
                })
                .collect()
        }
    };
    for (done, a) in targets.iter().enumerate() {
        let api: Api<SecretSync> = Api::namespaced(target.client.clone(), &a.namespace);
        api.patch(&a.name, &PatchParams::default(), &Patch::Merge(patch(token)))
            .await
            .map_err(|e| {
                let error = match e {
                    kube::Error::Api(s) if s.code == 404 => {
                        anyhow::anyhow!("secretsync {} not found in namespace {}", a.name, a.namespace)
                    }
                    other => anyhow::Error::new(other)
                        .context(format!("annotate secretsync {}/{}", a.namespace, a.name)),
                };
                if done > 0 {
                    error.context(format!(
                        "{done} of {} SecretSyncs were already asked to check now",
                        targets.len()
                    ))
                } else {
                    error
                }
            })?;
    }
    Ok(targets)
}

/// Wait until the manager has handled `token` on every asked SecretSync; their rows then. One GET per poll
/// for one SecretSync, one LIST of the scope for several; the whole wait is bounded by `timeout`.
async fn wait(target: &Target, asked: &[Asked], token: &str, timeout: Duration) -> Result<Vec<Row>> {
    let names = || {
        asked
            .iter()
            .map(|a| format!("{}/{}", a.namespace, a.name))
            .collect::<Vec<_>>()
            .join(", ")
    };
    tokio::time::timeout(timeout, poll(target, asked, token, timeout))
        .await
        .unwrap_or_else(|_| {
            bail!(
                "no answer from the manager within {} for {} (is it running? kubectl -n azure-secret-store get deployment,lease)",
                status::human(timeout),
                names()
            )
        })
}

/// The current state of the asked SecretSyncs (`None`: deleted).
async fn current(target: &Target, asked: &[Asked]) -> Result<Vec<Option<SecretSync>>> {
    if let [a] = asked {
        let api: Api<SecretSync> = Api::namespaced(target.client.clone(), &a.namespace);
        let sync = api
            .get_opt(&a.name)
            .await
            .with_context(|| format!("get secretsync {}/{}", a.namespace, a.name))?;
        return Ok(vec![sync]);
    }
    let api: Api<SecretSync> = match &target.namespace {
        Some(ns) => Api::namespaced(target.client.clone(), ns),
        None => Api::all(target.client.clone()),
    };
    let mut by_name: std::collections::HashMap<(String, String), SecretSync> = api
        .list(&ListParams::default())
        .await
        .context("list secretsyncs")?
        .items
        .into_iter()
        .map(|s| ((s.namespace().unwrap_or_default(), s.name_any()), s))
        .collect();
    Ok(asked
        .iter()
        .map(|a| by_name.remove(&(a.namespace.clone(), a.name.clone())))
        .collect())
}

async fn poll(target: &Target, asked: &[Asked], token: &str, timeout: Duration) -> Result<Vec<Row>> {
    let started = Instant::now();
    let progress = Progress::new();
    loop {
        let mut done = Vec::new();
        let mut pending = Vec::new();
        for (a, sync) in asked.iter().zip(current(target, asked).await?) {
            match sync {
                Some(sync) if handled(&sync, token) => done.push(Row::of(&sync)),
                Some(_) => pending.push(a),
                None => bail!("secretsync {}/{} was deleted while waiting", a.namespace, a.name),
            }
        }
        if pending.is_empty() {
            progress.finish();
            return Ok(done);
        }
        let waited = started.elapsed();
        if waited >= timeout {
            progress.finish();
            let names: Vec<String> = pending
                .iter()
                .map(|a| format!("{}/{}", a.namespace, a.name))
                .collect();
            bail!(
                "no answer from the manager within {} for {} (is it running? kubectl -n azure-secret-store get deployment,lease)",
                status::human(timeout),
                names.join(", ")
            );
        }
        progress.show(&format!(
            "waiting for the manager to check the vault: {} of {} done ({})",
            done.len(),
            asked.len(),
            status::human(waited)
        ));
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Whether the manager recorded `token` as handled.
fn handled(sync: &SecretSync, token: &str) -> bool {
    sync.status.as_ref().and_then(|s| s.force_sync_handled.as_deref()) == Some(token)
}

/// The progress line on stderr: rewritten in place on a terminal, a line every ten seconds otherwise.
struct Progress {
    terminal: bool,
    last: std::cell::Cell<Option<Instant>>,
}

impl Progress {
    fn new() -> Self {
        Self {
            terminal: std::io::stderr().is_terminal(),
            last: std::cell::Cell::new(None),
        }
    }

    fn show(&self, line: &str) {
        let mut err = std::io::stderr();
        if self.terminal {
            let _ = write!(err, "\r\x1b[2K{line}");
        } else if self
            .last
            .get()
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(10))
        {
            let _ = writeln!(err, "{line}");
            self.last.set(Some(Instant::now()));
        }
        let _ = err.flush();
    }

    fn finish(&self) {
        if self.terminal {
            let _ = write!(std::io::stderr(), "\r\x1b[2K");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_a_valid_force_sync_value_and_changes_every_time() {
        let now = SystemTime::UNIX_EPOCH + Duration::new(1_796_556_000, 123_456_789);
        let t = token(now);
        assert_eq!(t, "2026-12-06T11:20:00.123456789Z");
        let annotations = std::collections::BTreeMap::from([(FORCE_SYNC_ANNOTATION.to_string(), t.clone())]);
        assert_eq!(
            sse_api::validation::force_sync(&annotations).ok().flatten(),
            Some(t.as_str())
        );
        assert_ne!(token(now + Duration::from_nanos(1)), t);
    }

    #[test]
    fn the_patch_touches_one_annotation_only() {
        assert_eq!(
            patch("t"),
            serde_json::json!({"metadata": {"annotations": {"sse-rs.io/force-sync": "t"}}})
        );
    }

    #[test]
    fn handled_means_the_status_shows_this_token() {
        let mut sync = SecretSync::new("db", sse_api::SecretSyncSpec::default());
        assert!(!handled(&sync, "t"));
        sync.status = Some(sse_api::SecretSyncStatus {
            force_sync_handled: Some("earlier".into()),
            ..Default::default()
        });
        assert!(!handled(&sync, "t"));
        sync.status = Some(sse_api::SecretSyncStatus {
            force_sync_handled: Some("t".into()),
            ..Default::default()
        });
        assert!(handled(&sync, "t"));
    }
}
