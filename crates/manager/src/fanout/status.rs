//! A ClusterSecretSync's status, computed from one reconcile (pure, no I/O): counts, the first failures, and
//! the conditions `Fetched` and `Ready`. Its size is bounded whatever the number of namespaces.

use std::collections::BTreeSet;
use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use sse_api::ClusterSecretSyncStatus;
use sse_api::cluster_secret_sync::{MAX_FAILURES, NamespaceCounts, NamespaceFailure};
use sse_api::conditions::{STATUS_FALSE, STATUS_TRUE, set_condition};

use super::state::Tracked;
use crate::clock::to_time;
use crate::error::SyncError;

pub use sse_api::cluster_secret_sync::FETCHED;
/// Condition type: every selected namespace holds the current values.
pub const READY: &str = "Ready";
/// `Ready` reasons of the fan-out (the fetch's own reasons are the SecretSync's).
pub const ALL_SYNCED: &str = "AllNamespacesSynced";
/// See [`ALL_SYNCED`].
pub const NONE_SELECTED: &str = "NoNamespaceSelected";
/// See [`ALL_SYNCED`].
pub const FAILING: &str = "NamespacesFailing";
/// See [`ALL_SYNCED`].
pub const PENDING: &str = "NamespacesPending";

/// What one reconcile knows.
pub struct Check<'a> {
    /// The resource's generation.
    pub generation: Option<i64>,
    /// The selected namespaces.
    pub selected: &'a [Arc<str>],
    /// The fetch: the hash of what was written and whether a new value was, or why it failed; `None` when
    /// no fetch ran (only namespaces left).
    pub fetch: Option<Result<(String, bool), &'a SyncError>>,
    /// Now.
    pub now: std::time::SystemTime,
    /// The next check.
    pub next: std::time::SystemTime,
    /// The force-sync request this check answered, when it answered one.
    pub force_sync: Option<String>,
}

/// The status after `check`, from `current` and the record.
pub fn next(
    current: &ClusterSecretSyncStatus,
    tracked: &Tracked,
    check: &Check<'_>,
) -> ClusterSecretSyncStatus {
    let mut status = current.clone();
    let now = to_time(check.now);
    status.observed_generation = check.generation;
    status.next_check_time = Some(to_time(check.next));
    if let Some(token) = &check.force_sync {
        status.force_sync_handled = Some(token.clone());
    }
    let condition = |type_: &str, ok: bool, reason: &str, message: String| Condition {
        type_: type_.to_string(),
        status: if ok { STATUS_TRUE } else { STATUS_FALSE }.to_string(),
        reason: reason.to_string(),
        message: sse_api::conditions::fit_message(message),
        observed_generation: check.generation,
        last_transition_time: now.clone(),
    };
    let mut fetch_failed = None;
    match &check.fetch {
        Some(Ok((hash, changed))) => {
            status.last_checked_time = Some(now.clone());
            if *changed || status.sync_hash.as_deref() != Some(hash.as_str()) {
                status.last_successful_sync_time = Some(now.clone());
            }
            status.sync_hash = Some(hash.clone());
            set_condition(
                &mut status.conditions,
                condition(FETCHED, true, "Fetched", "the vault was read".into()),
            );
        }
        Some(Err(error)) => {
            status.last_checked_time = Some(now.clone());
            let reason = error.reason();
            fetch_failed = Some(reason);
            set_condition(
                &mut status.conditions,
                condition(FETCHED, false, reason.as_str(), error.to_string()),
            );
        }
        None => {}
    }
    let selected: BTreeSet<&str> = check.selected.iter().map(|n| &**n).collect();
    let synced = tracked
        .written
        .keys()
        .filter(|n| selected.contains(&***n))
        .count();
    let mut failing: Vec<(&Arc<str>, &super::state::Failure)> = tracked
        .failing
        .iter()
        .filter(|(n, _)| selected.contains(&***n))
        .collect();
    failing.sort_by(|a, b| a.1.since.cmp(&b.1.since).then_with(|| a.0.cmp(b.0)));
    let counts = NamespaceCounts {
        selected: count(selected.len()),
        synced: count(synced),
        failed: count(failing.len()),
        pending: count(selected.len().saturating_sub(synced + failing.len())),
    };
    status.namespaces = counts;
    status.failures = failing
        .iter()
        .take(MAX_FAILURES)
        .map(|(ns, f)| NamespaceFailure {
            namespace: ns.to_string(),
            reason: f.reason.clone(),
            since: Some(to_time(f.since)),
            message: f.message.clone(),
        })
        .collect();
    status.omitted_failures = count(failing.len().saturating_sub(MAX_FAILURES));
    let ready = match fetch_failed {
        Some(reason) => condition(
            READY,
            false,
            reason.as_str(),
            "the vault could not be read: every namespace keeps its last value".into(),
        ),
        None if counts.selected == 0 => {
            condition(READY, true, NONE_SELECTED, "no namespace is selected".into())
        }
        None if counts.failed > 0 => condition(
            READY,
            false,
            FAILING,
            format!(
                "{} of {} namespaces failed, {} pending",
                counts.failed, counts.selected, counts.pending
            ),
        ),
        None if counts.pending > 0 => condition(
            READY,
            false,
            PENDING,
            format!("{} of {} namespaces pending", counts.pending, counts.selected),
        ),
        None => condition(
            READY,
            true,
            ALL_SYNCED,
            format!("{} namespaces hold the current value", counts.selected),
        ),
    };
    set_condition(&mut status.conditions, ready);
    status
}

/// Whether `next` differs from `current` in anything but the times every check moves.
pub fn changed(current: &ClusterSecretSyncStatus, next: &ClusterSecretSyncStatus) -> bool {
    let strip = |s: &ClusterSecretSyncStatus| ClusterSecretSyncStatus {
        last_checked_time: None,
        next_check_time: None,
        ..s.clone()
    };
    strip(current) != strip(next)
}

/// Whether the status is `every` old or older (a quiet check then writes it anyway, so its times do not
/// mislead).
pub fn heartbeat_due(
    current: &ClusterSecretSyncStatus,
    every: Option<std::time::Duration>,
    now: std::time::SystemTime,
) -> bool {
    every.is_some_and(|every| {
        current
            .last_checked_time
            .as_ref()
            .and_then(crate::clock::from_time)
            .is_none_or(|last: std::time::SystemTime| now.duration_since(last).unwrap_or_default() >= every)
    })
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The reason the in-memory SecretSync's `Ready` shows: its fetch's (so a quiet check may end without a
/// Mount only while the last fetch succeeded for this generation).
pub fn fetched(status: &ClusterSecretSyncStatus) -> Option<&Condition> {
    sse_api::conditions::find_condition(&status.conditions, FETCHED)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fanout::state::Failure;

    fn tracked(written: &[&str], failing: &[(&str, u64)]) -> Tracked {
        let mut t = Tracked::default();
        for ns in written {
            t.written.insert((*ns).into(), "1".into());
        }
        for (ns, at) in failing {
            t.failing.insert(
                (*ns).into(),
                Failure {
                    reason: "ForeignSecret".into(),
                    message: format!("namespace {ns}: left untouched"),
                    since: std::time::UNIX_EPOCH + std::time::Duration::from_secs(*at),
                    evented: false,
                    transient: false,
                },
            );
        }
        t
    }

    fn names(n: usize) -> Vec<Arc<str>> {
        (0..n).map(|i| Arc::from(format!("ns-{i:04}"))).collect()
    }

    #[test]
    fn counts_and_bounded_failures_oldest_first() {
        let selected = names(1000);
        let failing: Vec<(String, u64)> = (0..20).map(|i| (format!("ns-{i:04}"), 100 - i)).collect();
        let failing_refs: Vec<(&str, u64)> = failing.iter().map(|(n, t)| (n.as_str(), *t)).collect();
        let written: Vec<String> = (20..990).map(|i| format!("ns-{i:04}")).collect();
        let written_refs: Vec<&str> = written.iter().map(String::as_str).collect();
        let mut t = tracked(&written_refs, &failing_refs);
        t.written.insert("gone".into(), "1".into());
        let now = std::time::SystemTime::now();
        let status = next(
            &ClusterSecretSyncStatus::default(),
            &t,
            &Check {
                generation: Some(2),
                selected: &selected,
                fetch: Some(Ok(("v2:h".into(), true))),
                now,
                next: now,
                force_sync: None,
            },
        );
        assert_eq!(
            status.namespaces,
            NamespaceCounts {
                selected: 1000,
                synced: 970,
                failed: 20,
                pending: 10
            }
        );
        assert_eq!(status.failures.len(), 8);
        assert_eq!(status.omitted_failures, 12);
        assert_eq!(
            status.failures[0].namespace, "ns-0019",
            "the longest failing first"
        );
        let ready = sse_api::conditions::find_condition(&status.conditions, READY).unwrap();
        assert_eq!((ready.status.as_str(), ready.reason.as_str()), ("False", FAILING));
        assert_eq!(ready.message, "20 of 1000 namespaces failed, 10 pending");
        assert!(
            serde_json::to_string(&status).unwrap().len() < 8 * 1024,
            "bounded"
        );
    }

    #[test]
    fn a_failed_fetch_keeps_the_hash_and_says_why() {
        let selected = names(2);
        let t = tracked(&["ns-0000", "ns-0001"], &[]);
        let current = ClusterSecretSyncStatus {
            sync_hash: Some("v2:old".into()),
            ..ClusterSecretSyncStatus::default()
        };
        let error = SyncError::Internal("boom".into());
        let now = std::time::SystemTime::now();
        let status = next(
            &current,
            &t,
            &Check {
                generation: Some(1),
                selected: &selected,
                fetch: Some(Err(&error)),
                now,
                next: now,
                force_sync: None,
            },
        );
        assert_eq!(status.sync_hash.as_deref(), Some("v2:old"));
        assert!(!sse_api::conditions::is_condition_true(
            &status.conditions,
            FETCHED
        ));
        assert!(!sse_api::conditions::is_condition_true(&status.conditions, READY));
        assert!(changed(&current, &status));
        let again = next(
            &status,
            &t,
            &Check {
                generation: Some(1),
                selected: &selected,
                fetch: Some(Err(&error)),
                now: now + std::time::Duration::from_secs(60),
                next: now,
                force_sync: None,
            },
        );
        assert!(!changed(&status, &again), "only the check times moved");
    }

    #[test]
    fn nothing_selected_is_ready() {
        let now = std::time::SystemTime::now();
        let status = next(
            &ClusterSecretSyncStatus::default(),
            &Tracked::default(),
            &Check {
                generation: Some(1),
                selected: &[],
                fetch: None,
                now,
                next: now,
                force_sync: None,
            },
        );
        let ready = sse_api::conditions::find_condition(&status.conditions, READY).unwrap();
        assert_eq!(
            (ready.status.as_str(), ready.reason.as_str()),
            ("True", NONE_SELECTED)
        );
    }
}
