//! `kubectl sse status [NAME]`: the three times an operator needs ("changed it at 2 PM, still old at
//! 2:15"): when the vault was last checked, when the Secret last changed, when the next check is; and
//! the reason, the message and since when it has been failing. Read from the SecretSync's status; above
//! the table, one line on the stream of the vault's events when the leader notes one on its Lease
//! ([`crate::vault_events`]; said only when the Lease can be read with your rights). With `--cluster`, the
//! ClusterSecretSyncs instead ([`crate::status_cluster`]); with `-A`, their table follows the SecretSyncs' when
//! your rights let you list them.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, Result};
use kube::ResourceExt as _;
use kube::api::{Api, ListParams};
use serde::Serialize;
use sse_api::{SecretSync, Time, conditions};

use crate::cli::{Output, Target};
use crate::doctor::Lookup;
use crate::status_cluster::ClusterRow;
use crate::vault_events::LeaseNote;

/// `kubectl sse status` arguments.
#[derive(clap::Args, Debug)]
pub struct StatusArgs {
    /// One SecretSync (default: every SecretSync in the namespace, or in all of them with -A); with --cluster,
    /// one ClusterSecretSync.
    pub name: Option<String>,
    /// ClusterSecretSyncs instead of SecretSyncs (cluster-scoped: -n and -A do not apply).
    #[arg(long)]
    pub cluster: bool,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t)]
    pub output: Output,
    /// The namespace SSE-rs is installed in (its leader-election Lease notes the vault's events).
    #[arg(long, default_value = "azure-secret-store")]
    pub install_namespace: String,
}

/// What `status` reports about one SecretSync. Times are RFC 3339.
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Row {
    pub namespace: String,
    pub name: String,
    /// The Secret it writes (same name, same namespace).
    pub secret: String,
    /// `True`, `False`, or `Unknown` before the first check.
    pub ready: String,
    pub reason: Option<String>,
    pub message: Option<String>,
    /// When the vault was last checked, whatever the outcome.
    pub last_checked_time: Option<String>,
    /// When the Secret was last written.
    pub last_changed_time: Option<String>,
    pub next_check_time: Option<String>,
    /// Since when checks have been failing (the Secret keeps its last good value meanwhile).
    pub failing_since: Option<String>,
    pub refresh_interval: Option<String>,
    pub late_by: Option<String>,
    pub force_sync_handled: Option<String>,
    /// The soonest Key Vault expiry among the synced objects (when the provider reports dates).
    pub expires: Option<String>,
    /// The synced objects' validity dates and standings (`status.validity`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub validity: Vec<sse_api::ObjectValidity>,
}

impl Row {
    /// The row of one SecretSync.
    pub fn of(sync: &SecretSync) -> Self {
        let status = sync.status.clone().unwrap_or_default();
        let ready = conditions::find_condition(&status.conditions, conditions::READY);
        let time = |t: &Option<Time>| t.as_ref().map(|t| t.0.to_string());
        Self {
            namespace: sync.namespace().unwrap_or_default(),
            name: sync.name_any(),
            secret: sync.name_any(),
            ready: ready.map_or_else(|| "Unknown".into(), |c| c.status.clone()),
            reason: ready.map(|c| c.reason.clone()),
            message: ready.map(|c| c.message.clone()),
            last_checked_time: time(&status.last_checked_time),
            last_changed_time: time(&status.last_successful_sync_time),
            next_check_time: time(&status.next_check_time),
            failing_since: time(&status.failing_since),
            refresh_interval: status.refresh_interval.clone(),
            late_by: status.late_by.clone(),
            force_sync_handled: status.force_sync_handled.clone(),
            expires: status
                .validity
                .iter()
                .filter_map(|v| v.expires_at.as_ref())
                .min()
                .map(|t| t.0.to_string()),
            validity: status.validity.clone(),
        }
    }

    /// Whether the SecretSync's Secret holds the vault's current values.
    pub fn is_ready(&self) -> bool {
        self.ready == conditions::STATUS_TRUE
    }
}

/// Run `status`.
pub async fn run(target: &Target, args: &StatusArgs) -> Result<u8> {
    if args.cluster {
        return crate::status_cluster::run(&target.client, args).await;
    }
    // The Lease is read beside the SecretSyncs, bounded, and left out when it cannot be read; so are the
    // ClusterSecretSyncs under -A.
    let (rows, lease, clusters) = tokio::join!(
        rows(target, args.name.as_deref()),
        crate::vault_events::read(&target.client, &args.install_namespace),
        async {
            match target.namespace {
                None => crate::status_cluster::appended(&target.client).await,
                Some(_) => Ok(None),
            }
        }
    );
    let rows = rows?;
    let clusters = clusters.unwrap_or_else(|warning| {
        eprintln!("{warning}");
        None
    });
    let lease = match lease {
        Lookup::Found(lease) => Some(lease),
        Lookup::Missing | Lookup::Unreadable(_) => None,
    };
    let events = lease.as_ref();
    if rows.is_empty() && args.output != Output::Json && args.output != Output::Yaml {
        if let Some(line) = events.and_then(LeaseNote::status_line) {
            println!("{line}");
        }
        eprintln!("No SecretSyncs found{}.", in_scope(target));
        if let Some(clusters) = clusters.as_deref().filter(|c| !c.is_empty()) {
            let wide = args.output == Output::Wide;
            print!(
                "{}",
                crate::status_cluster::table(clusters, wide, SystemTime::now())
            );
        }
        return Ok(0);
    }
    print!(
        "{}",
        render_all(
            &rows,
            args.output,
            target.namespace.is_none(),
            SystemTime::now(),
            events,
            clusters.as_deref()
        )?
    );
    Ok(0)
}

/// " in namespace X" or "" for every namespace.
pub fn in_scope(target: &Target) -> String {
    target
        .namespace
        .as_ref()
        .map_or_else(String::new, |ns| format!(" in namespace {ns}"))
}

/// The rows of one SecretSync or of the scope, sorted by namespace and name.
pub async fn rows(target: &Target, name: Option<&str>) -> Result<Vec<Row>> {
    if name.is_some() && target.namespace.is_none() {
        anyhow::bail!("a SecretSync name needs a namespace: use -n, or no name with -A");
    }
    let api: Api<SecretSync> = match &target.namespace {
        Some(ns) => Api::namespaced(target.client.clone(), ns),
        None => Api::all(target.client.clone()),
    };
    let mut rows: Vec<Row> = match name {
        Some(name) => {
            let sync = api
                .get_opt(name)
                .await
                .with_context(|| format!("get secretsync {name}"))?
                .with_context(|| format!("secretsync {name} not found{}", in_scope(target)))?;
            vec![Row::of(&sync)]
        }
        None => api
            .list(&ListParams::default())
            .await
            .context("list secretsyncs")?
            .items
            .iter()
            .map(Row::of)
            .collect(),
    };
    rows.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    Ok(rows)
}

/// The rows in `output` format; tables show times relative to `now`.
pub fn render(rows: &[Row], output: Output, all_namespaces: bool, now: SystemTime) -> Result<String> {
    render_with(rows, output, all_namespaces, now, None)
}

/// [`render`], with the leader's note on the vault's events: one line above the table, `vaultEvents` beside
/// `items` in JSON and YAML (absent while events are off or the Lease cannot be read).
pub fn render_with(
    rows: &[Row],
    output: Output,
    all_namespaces: bool,
    now: SystemTime,
    events: Option<&LeaseNote>,
) -> Result<String> {
    render_all(rows, output, all_namespaces, now, events, None)
}

/// [`render_with`], with the ClusterSecretSyncs `-A` lists when your rights allow: their table after the
/// SecretSyncs' (none while there are none), `clusterSecretSyncs` beside `items` in JSON and YAML (absent
/// when they were not listed).
pub fn render_all(
    rows: &[Row],
    output: Output,
    all_namespaces: bool,
    now: SystemTime,
    events: Option<&LeaseNote>,
    clusters: Option<&[ClusterRow]>,
) -> Result<String> {
    let document = || {
        let mut document = serde_json::json!({ "items": rows });
        if let Some(note) = events.and_then(LeaseNote::to_json) {
            document["vaultEvents"] = note;
        }
        if let Some(clusters) = clusters {
            document["clusterSecretSyncs"] = serde_json::json!(clusters);
        }
        document
    };
    match output {
        Output::Json => Ok(serde_json::to_string_pretty(&document())? + "\n"),
        Output::Yaml => Ok(serde_yaml_ng::to_string(&document())?),
        Output::Table | Output::Wide => {
            let line = events
                .and_then(LeaseNote::status_line)
                .map(|l| l + "\n")
                .unwrap_or_default();
            let wide = output == Output::Wide;
            let clusters = clusters
                .filter(|c| !c.is_empty())
                .map(|c| "\n".to_string() + &crate::status_cluster::table(c, wide, now))
                .unwrap_or_default();
            Ok(line + &table(rows, wide, all_namespaces, now) + &clusters)
        }
    }
}

fn table(rows: &[Row], wide: bool, all_namespaces: bool, now: SystemTime) -> String {
    let mut header = vec![
        "NAME",
        "READY",
        "REASON",
        "LAST CHECKED",
        "LAST CHANGED",
        "NEXT CHECK",
        "FAILING SINCE",
    ];
    if all_namespaces {
        header.insert(0, "NAMESPACE");
    }
    if wide {
        header.extend(["INTERVAL", "LATE BY", "EXPIRES", "MESSAGE"]);
    }
    let dash = || "-".to_string();
    let mut lines: Vec<Vec<String>> = vec![header.iter().map(ToString::to_string).collect()];
    for row in rows {
        let interval = row
            .refresh_interval
            .as_deref()
            .and_then(sse_api::validation::parse_duration);
        let mut line = vec![
            row.name.clone(),
            row.ready.clone(),
            row.reason.clone().unwrap_or_else(dash),
            relative(row.last_checked_time.as_deref(), now),
            relative(row.last_changed_time.as_deref(), now),
            next_check(row.next_check_time.as_deref(), interval, now),
            relative(row.failing_since.as_deref(), now),
        ];
        if all_namespaces {
            line.insert(0, row.namespace.clone());
        }
        if wide {
            line.extend([
                row.refresh_interval.clone().unwrap_or_else(dash),
                row.late_by.clone().unwrap_or_else(dash),
                relative(row.expires.as_deref(), now),
                row.message.clone().unwrap_or_else(dash),
            ]);
        }
        lines.push(line);
    }
    columns(&lines)
}

/// Left-aligned columns three spaces apart, as kubectl prints them; the last column is not padded.
pub(crate) fn columns(lines: &[Vec<String>]) -> String {
    let n = lines.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..n)
        .map(|i| {
            lines
                .iter()
                .filter_map(|l| l.get(i))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for line in lines {
        let last = line.len().saturating_sub(1);
        for (i, cell) in line.iter().enumerate() {
            out.push_str(cell);
            if i < last {
                out.push_str(&" ".repeat(widths[i] - cell.chars().count() + 3));
            }
        }
        out.push('\n');
    }
    out
}

/// An RFC 3339 time as a `SystemTime` (whole seconds).
pub fn parse_time(value: &str) -> Option<SystemTime> {
    let t: k8s_openapi::jiff::Timestamp = value.parse().ok()?;
    let secs = u64::try_from(t.as_second()).ok()?;
    Some(UNIX_EPOCH + Duration::from_secs(secs))
}

/// `5m ago`, `in 3h`, or `-`.
pub(crate) fn relative(value: Option<&str>, now: SystemTime) -> String {
    let Some(t) = value.and_then(parse_time) else {
        return "-".into();
    };
    match now.duration_since(t) {
        Ok(ago) => format!("{} ago", human(ago)),
        Err(ahead) => format!("in {}", human(ahead.duration())),
    }
}

/// The next check, relative. The status records it when it is written, and a quiet check writes the
/// status only every few minutes, so a next check in the past means due (checked quietly since, or about
/// to be); it is overdue only when later than one interval and the five-minute heartbeat allow.
pub(crate) fn next_check(value: Option<&str>, interval: Option<Duration>, now: SystemTime) -> String {
    let Some(t) = value.and_then(parse_time) else {
        return "-".into();
    };
    match now.duration_since(t) {
        Err(ahead) => format!("in {}", human(ahead.duration())),
        Ok(past) => {
            let slack = interval.unwrap_or_default().max(Duration::from_secs(300)) + Duration::from_secs(60);
            if past > slack {
                format!("overdue {}", human(past))
            } else {
                "due".into()
            }
        }
    }
}

/// A duration as kubectl's AGE column shows it: `45s`, `5m10s`, `47m`, `5h3m`, `30h`, `12d`.
pub fn human(d: Duration) -> String {
    let s = d.as_secs();
    let (m, h, days) = (s / 60, s / 3600, s / 86_400);
    if s < 120 {
        format!("{s}s")
    } else if m < 10 {
        if s.is_multiple_of(60) {
            format!("{m}m")
        } else {
            format!("{m}m{}s", s % 60)
        }
    } else if h < 3 {
        format!("{m}m")
    } else if h < 8 {
        if m.is_multiple_of(60) {
            format!("{h}h")
        } else {
            format!("{h}h{}m", m % 60)
        }
    } else if h < 48 {
        format!("{h}h")
    } else {
        format!("{days}d")
    }
}

#[cfg(test)]
mod tests;
