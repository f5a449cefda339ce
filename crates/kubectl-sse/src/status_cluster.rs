//! `kubectl sse status --cluster [NAME]`: the ClusterSecretSyncs, one line each with their namespaces counted
//! (selected, synced, failed, pending) and the three times of `status`; under each, the failing namespaces its
//! status lists (at most 8) and where the rest are told: the manager's Warning Events `NamespaceFailed`, in
//! namespace [`EVENT_NAMESPACE`]. Read from the resources' status, never from a Secret.
//!
//! `kubectl sse status -A` appends the same table after the SecretSyncs' ([`appended`]); a caller who may
//! not list ClusterSecretSyncs (403), or a cluster without their CRD (404), gets the SecretSyncs alone, as
//! the vault's events line is left out when the Lease cannot be read.

use std::time::{Duration, SystemTime};

use anyhow::{Context as _, Result};
use kube::ResourceExt as _;
use kube::api::{Api, ListParams};
use serde::Serialize;
use sse_api::cluster_secret_sync::{NamespaceCounts, NamespaceFailure};
use sse_api::{ClusterSecretSync, Time, conditions};

use crate::cli::Output;
use crate::status::{StatusArgs, columns, human, next_check, relative};

use sse_api::cluster_secret_sync::{EVENT_NAMESPACE, FETCHED};
/// Longest wait for the list `status -A` appends: it is an extra, as the Lease is.
const APPEND_TIMEOUT: Duration = Duration::from_secs(5);

/// What `status --cluster` reports about one ClusterSecretSync. Times are RFC 3339.
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ClusterRow {
    pub name: String,
    /// The Secret it writes in every selected namespace (same name).
    pub secret: String,
    /// `True`, `False`, or `Unknown` before the first check.
    pub ready: String,
    pub reason: Option<String>,
    pub message: Option<String>,
    /// The `Fetched` condition's status: whether the last read of the vault worked.
    pub fetched: Option<String>,
    /// The namespaces, counted.
    pub namespaces: NamespaceCounts,
    /// The first failing namespaces (at most 8: the longest failing first).
    pub failures: Vec<NamespaceFailure>,
    /// How many failing namespaces `failures` leaves out.
    pub omitted_failures: u32,
    /// When the vault was last checked, whatever the outcome.
    pub last_checked_time: Option<String>,
    /// When a new value was last written.
    pub last_changed_time: Option<String>,
    pub next_check_time: Option<String>,
    /// The generation the status was computed for (behind `metadata.generation` until the manager has
    /// seen the last change).
    pub observed_generation: Option<i64>,
    pub generation: Option<i64>,
}

impl ClusterRow {
    /// The row of one ClusterSecretSync.
    pub fn of(sync: &ClusterSecretSync) -> Self {
        let status = sync.status.clone().unwrap_or_default();
        let ready = conditions::find_condition(&status.conditions, conditions::READY);
        let fetched = conditions::find_condition(&status.conditions, FETCHED);
        let time = |t: &Option<Time>| t.as_ref().map(|t| t.0.to_string());
        Self {
            name: sync.name_any(),
            secret: sync.name_any(),
            ready: ready.map_or_else(|| "Unknown".into(), |c| c.status.clone()),
            reason: ready.map(|c| c.reason.clone()),
            message: ready.map(|c| c.message.clone()),
            fetched: fetched.map(|c| c.status.clone()),
            namespaces: status.namespaces,
            failures: status.failures.clone(),
            omitted_failures: status.omitted_failures,
            last_checked_time: time(&status.last_checked_time),
            last_changed_time: time(&status.last_successful_sync_time),
            next_check_time: time(&status.next_check_time),
            observed_generation: status.observed_generation,
            generation: sync.metadata.generation,
        }
    }

    /// Whether every selected namespace holds the vault's current value.
    pub fn is_ready(&self) -> bool {
        self.ready == conditions::STATUS_TRUE
    }

    /// How many namespaces fail: the count, or the failures listed and left out when the status says more.
    pub fn failing(&self) -> u32 {
        let listed = u32::try_from(self.failures.len()).unwrap_or(u32::MAX);
        self.namespaces
            .failed
            .max(listed.saturating_add(self.omitted_failures))
    }
}

/// Run `status --cluster [NAME]`.
pub async fn run(client: &kube::Client, args: &StatusArgs) -> Result<u8> {
    let rows = rows(client, args.name.as_deref()).await?;
    if rows.is_empty() && args.output != Output::Json && args.output != Output::Yaml {
        eprintln!("No ClusterSecretSyncs found.");
        return Ok(0);
    }
    print!("{}", render(&rows, args.output, SystemTime::now())?);
    Ok(0)
}

/// The rows of one ClusterSecretSync or of all, sorted by name.
pub async fn rows(client: &kube::Client, name: Option<&str>) -> Result<Vec<ClusterRow>> {
    let api: Api<ClusterSecretSync> = Api::all(client.clone());
    let mut rows: Vec<ClusterRow> = match name {
        Some(name) => {
            let sync = api
                .get_opt(name)
                .await
                .with_context(|| format!("get clustersecretsync {name}"))?
                .with_context(|| format!("clustersecretsync {name} not found"))?;
            vec![ClusterRow::of(&sync)]
        }
        None => {
            let list = api.list(&ListParams::default()).await.map_err(|e| {
                let hint = is_absent(&e).then_some(" (is the ClusterSecretSync CRD installed?)");
                anyhow::Error::new(e).context(format!("list clustersecretsyncs{}", hint.unwrap_or_default()))
            })?;
            list.items.iter().map(ClusterRow::of).collect()
        }
    };
    rows.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(rows)
}

/// What `status -A` appends: the ClusterSecretSyncs (possibly none), or `None` when they are left out silently.
/// An error is the one line to print on standard error. Never longer than [`APPEND_TIMEOUT`].
pub async fn appended(client: &kube::Client) -> Result<Option<Vec<ClusterRow>>, String> {
    let api: Api<ClusterSecretSync> = Api::all(client.clone());
    match tokio::time::timeout(APPEND_TIMEOUT, api.list(&ListParams::default())).await {
        Err(_) => Err(format!(
            "ClusterSecretSyncs left out: no answer within {}s",
            APPEND_TIMEOUT.as_secs()
        )),
        Ok(listed) => appendable(listed.map(|l| l.items)),
    }
}

/// [`appended`]'s answer to a list: the rows, sorted by name; `None` for a 403 (your rights do not reach
/// them) or a 404 (their CRD is not installed); else the line to warn with.
pub fn appendable(
    listed: Result<Vec<ClusterSecretSync>, kube::Error>,
) -> Result<Option<Vec<ClusterRow>>, String> {
    match listed {
        Ok(items) => {
            let mut rows: Vec<ClusterRow> = items.iter().map(ClusterRow::of).collect();
            rows.sort_by(|a, b| a.name.cmp(&b.name));
            Ok(Some(rows))
        }
        Err(kube::Error::Api(status)) if status.code == 403 || status.code == 404 => Ok(None),
        Err(kube::Error::Api(status)) => Err(format!(
            "ClusterSecretSyncs left out: {} ({})",
            status.message, status.code
        )),
        Err(error) => Err(format!("ClusterSecretSyncs left out: {error}")),
    }
}

/// Whether the API server answered 404 (for a list: the resource type is not served).
fn is_absent(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(status) if status.code == 404)
}

/// The rows in `output` format; tables show times relative to `now`. JSON and YAML: `{"items": [...]}`, as
/// `status` prints SecretSyncs.
pub fn render(rows: &[ClusterRow], output: Output, now: SystemTime) -> Result<String> {
    let document = serde_json::json!({ "items": rows });
    match output {
        Output::Json => Ok(serde_json::to_string_pretty(&document)? + "\n"),
        Output::Yaml => Ok(serde_yaml_ng::to_string(&document)?),
        Output::Table | Output::Wide => Ok(table(rows, output == Output::Wide, now)),
    }
}

/// The table: one line per ClusterSecretSync (`-o wide` adds the message), each followed by its failing
/// namespaces as listed, indented, and, when any namespace fails, how many are shown and the command that
/// shows the Events about the others.
pub fn table(rows: &[ClusterRow], wide: bool, now: SystemTime) -> String {
    let mut header = vec![
        "NAME",
        "READY",
        "REASON",
        "SELECTED",
        "SYNCED",
        "FAILED",
        "PENDING",
        "LAST CHECKED",
        "LAST CHANGED",
        "NEXT CHECK",
    ];
    if wide {
        header.push("MESSAGE");
    }
    let dash = || "-".to_string();
    let mut lines: Vec<Vec<String>> = vec![header.iter().map(ToString::to_string).collect()];
    for row in rows {
        let counts = row.namespaces;
        let mut line = vec![
            row.name.clone(),
            row.ready.clone(),
            row.reason.clone().unwrap_or_else(dash),
            counts.selected.to_string(),
            counts.synced.to_string(),
            counts.failed.to_string(),
            counts.pending.to_string(),
            relative(row.last_checked_time.as_deref(), now),
            relative(row.last_changed_time.as_deref(), now),
            next_check(row.next_check_time.as_deref(), None, now),
        ];
        if wide {
            line.push(
                row.message
                    .as_deref()
                    .map(crate::doctor::first_line)
                    .unwrap_or_else(dash),
            );
        }
        lines.push(line);
    }
    let table = columns(&lines);
    let mut out = String::new();
    for (i, line) in table.lines().enumerate() {
        out.push_str(line);
        out.push('\n');
        if let Some(row) = i.checked_sub(1).and_then(|i| rows.get(i)) {
            out.push_str(&failures(row, now));
        }
    }
    out
}

/// The failing namespaces under a row, two spaces in, and the note on how many are shown; empty when none
/// fails.
pub fn failures(row: &ClusterRow, now: SystemTime) -> String {
    let failing = row.failing();
    if failing == 0 {
        return String::new();
    }
    let lines: Vec<Vec<String>> = row
        .failures
        .iter()
        .map(|f| {
            vec![
                f.namespace.clone(),
                f.reason.clone(),
                since(f.since.as_ref(), now),
                crate::doctor::first_line(&f.message),
            ]
        })
        .collect();
    let mut out: String = columns(&lines).lines().map(|l| format!("  {l}\n")).collect();
    out.push_str(&format!(
        "  ({} of {failing} failing shown; kubectl events -n {EVENT_NAMESPACE} --for clustersecretsync/{})\n",
        row.failures.len(),
        row.name
    ));
    out
}

/// `since 2h` (how long a namespace has been failing), or `since -` when the status does not say.
fn since(time: Option<&Time>, now: SystemTime) -> String {
    match time {
        Some(t) => format!(
            "since {}",
            human(now.duration_since(SystemTime::from(t.0)).unwrap_or_default())
        ),
        None => "since -".into(),
    }
}

#[cfg(test)]
mod tests;
