//! The next `SecretSync.status`, computed from the current one and the outcome of a sync (no I/O).
//!
//! Conditions use the Arc vocabulary (docs/API.md#status-conditions): `Create` until the first successful
//! sync, then `Update`, and `Ready` mirroring the latest outcome for GitOps health checks. The upstream
//! defects (docs/API.md#what-the-original-did-and-what-sse-rs-does-instead) are fixed: any success sets its
//! condition True (no sticky failure), nothing is True before the write succeeded, and conditions carry the
//! real cause.
//!
//! A status identical to the current one (ignoring `lastCheckedTime`/`nextCheckTime`) is not written, so a
//! poll where nothing changed bumps no resourceVersion.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use sse_api::conditions::{self, CREATE, READY, UPDATE, find_condition, new_condition, set_condition};
use sse_api::{Reason, SecretSyncStatus};

use crate::outcome::{Outcome, Written};

/// An Event worth publishing for this transition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// Warning (true) or Normal.
    pub warning: bool,
    /// Event reason.
    pub reason: Reason,
    /// Event note.
    pub message: String,
}

/// The computed status.
#[derive(Debug, Clone)]
pub struct Next {
    /// The status to write.
    pub status: SecretSyncStatus,
    /// Whether it differs from the current one (beyond the check timestamps).
    pub changed: bool,
    /// Event to publish, if the outcome is news.
    pub notice: Option<Notice>,
    /// Events about objects whose validity standing is news.
    pub expiry_events: Vec<crate::expiry::ExpiryEvent>,
}

impl Next {
    /// The reason the sync ended with (metrics, the schedule report): a failure's own reason, `PartialSync`,
    /// or the `Ready` reason this status records; a quiet check (nothing changed) is "no value change".
    pub fn reason(&self, outcome: &Outcome) -> Reason {
        match outcome {
            Outcome::Failed { reason, .. } => *reason,
            Outcome::Partial { .. } => Reason::PartialSync,
            Outcome::Synced { .. } if !self.changed => Reason::UpdateNoValueChangeSucceeded,
            Outcome::Synced { .. } => find_condition(&self.status.conditions, READY)
                .and_then(|c| c.reason.parse().ok())
                .unwrap_or(Reason::UpdateNoValueChangeSucceeded),
        }
    }
}

/// Success messages (the Arc texts, with the detail of what happened).
pub const CREATED: &str = "Secret created successfully.";
/// Message of a sync that took over an existing Secret marked `sse-rs.io/adoptable`.
pub const ADOPTED: &str =
    "The existing Secret was marked sse-rs.io/adoptable: SSE-rs adopted it and wrote the vault's values.";
/// A value change or `forceSynchronization`.
pub const VALUE_CHANGED: &str =
    "The secret was updated successfully: a value change or a force update was detected.";
/// Nothing changed in the vault; the Secret was already right (recovery from a failure).
pub const NO_VALUE_CHANGE: &str =
    "The secret was updated successfully at the end of the poll interval and no value change was detected.";
/// Message of `UpdateValueChangeOrForceUpdateSucceeded` when new object versions were read but the shaped
/// Secret's bytes came out the same (docs/API.md#shaping): nothing was written, nothing reloads.
pub const SHAPED_UNCHANGED: &str =
    "New object versions were read; the shaped Secret's bytes did not change, so it was not written.";
/// The Secret had been deleted or edited outside SSE-rs and was restored.
pub const RESTORED: &str = "The secret had been deleted or edited outside SSE-rs and was restored; no value change was detected in the vault.";

/// When a check ran, when the next is due, and the interval in effect.
#[derive(Debug, Clone)]
pub struct Check {
    /// This check.
    pub now: Time,
    /// The next check.
    pub next: Time,
    /// The interval in effect (Go duration).
    pub interval: String,
    /// How late this check was, when late enough to report (Go duration).
    pub late_by: Option<String>,
    /// The force-sync request this check answered (a valid annotation value), if any.
    pub force_sync: Option<String>,
    /// The objects' validity dates the provider reported for this check; `None`: not reported (the
    /// status's recorded dates are assessed again).
    pub validity: Option<Vec<crate::expiry::Dates>>,
    /// How long before an object's expiry it stands `Expiring`.
    pub expiry_window: std::time::Duration,
}

/// Compute the next status. Its check times are always this check's; `changed` ignores them.
pub fn next(current: &SecretSyncStatus, generation: Option<i64>, outcome: &Outcome, check: &Check) -> Next {
    let now = &check.now;
    let mut status = current.clone();
    status.observed_generation = generation;
    status.refresh_interval = Some(check.interval.clone());
    status.late_by.clone_from(&check.late_by);
    if check.force_sync.is_some() {
        status.force_sync_handled.clone_from(&check.force_sync);
    }
    let phase = if current.sync_hash.is_none() {
        CREATE
    } else {
        UPDATE
    };
    let was_ready = conditions::is_condition_true(&current.conditions, READY);
    let condition = |type_: &str, reason: Reason, message: &str| {
        new_condition(type_, reason, message, generation, now.clone())
    };
    let mut notice = None;

    match outcome {
        Outcome::Synced { written, hash } => {
            let value_changed = current.sync_hash.as_deref() != Some(hash.as_str());
            let (type_, reason, message) = if *written == Written::Adopted {
                let reason = if phase == CREATE {
                    Reason::CreateSucceeded
                } else {
                    Reason::UpdateValueChangeOrForceUpdateSucceeded
                };
                (phase, reason, ADOPTED)
            } else if phase == CREATE {
                (CREATE, Reason::CreateSucceeded, CREATED)
            } else if value_changed {
                let message = if *written == Written::Unchanged {
                    SHAPED_UNCHANGED
                } else {
                    VALUE_CHANGED
                };
                (UPDATE, Reason::UpdateValueChangeOrForceUpdateSucceeded, message)
            } else if *written != Written::Unchanged {
                (UPDATE, Reason::UpdateNoValueChangeSucceeded, RESTORED)
            } else {
                (UPDATE, Reason::UpdateNoValueChangeSucceeded, NO_VALUE_CHANGE)
            };
            let quiet = *written == Written::Unchanged && !value_changed && was_ready;
            if !quiet {
                set_condition(&mut status.conditions, condition(type_, reason, message));
                set_condition(&mut status.conditions, condition(READY, reason, message));
                if !was_ready || *written != Written::Unchanged || value_changed {
                    notice = Some(Notice {
                        warning: false,
                        reason,
                        message: message.to_string(),
                    });
                }
            } else if find_condition(&status.conditions, type_)
                .is_some_and(|c| c.status != conditions::STATUS_TRUE)
            {
                // Defensive: a success never leaves its phase condition False.
                set_condition(&mut status.conditions, condition(type_, reason, message));
            }
            if phase == CREATE {
                // The create succeeded; a failed-create condition from earlier attempts must not linger.
                set_condition(
                    &mut status.conditions,
                    condition(CREATE, Reason::CreateSucceeded, CREATED),
                );
            }
            status.sync_hash = Some(hash.clone());
            if *written != Written::Unchanged {
                status.last_successful_sync_time = Some(now.clone());
            }
            status.failing_since = None;
        }
        Outcome::Partial { written, summary } => {
            set_condition(
                &mut status.conditions,
                condition(phase, Reason::PartialSync, summary),
            );
            set_condition(
                &mut status.conditions,
                condition(READY, Reason::PartialSync, summary),
            );
            if *written != Written::Unchanged {
                status.last_successful_sync_time = Some(now.clone());
            }
            status.failing_since.get_or_insert_with(|| now.clone());
            notice = Some(Notice {
                warning: true,
                reason: Reason::PartialSync,
                message: summary.clone(),
            });
        }
        Outcome::Failed { reason, message } => {
            set_condition(&mut status.conditions, condition(phase, *reason, message));
            set_condition(&mut status.conditions, condition(READY, *reason, message));
            status.failing_since.get_or_insert_with(|| now.clone());
            notice = Some(Notice {
                warning: true,
                reason: *reason,
                message: message.clone(),
            });
        }
    }

    // Validity: this check's dates, else the recorded ones, assessed at this check's time.
    let dates = check
        .validity
        .clone()
        .or_else(|| (!current.validity.is_empty()).then(|| crate::expiry::recorded(&current.validity)));
    let mut expiry_events = Vec::new();
    if let Some(dates) = dates
        && let Some(at) = crate::clock::from_time(now)
    {
        status.validity = crate::expiry::assess(&dates, at, check.expiry_window);
        set_condition(
            &mut status.conditions,
            crate::expiry::condition(&status.validity, check.expiry_window, generation, now.clone()),
        );
        expiry_events = crate::expiry::events(&current.validity, &status.validity);
    }

    let changed = status != *current;
    status.last_checked_time = Some(now.clone());
    status.next_check_time = Some(check.next.clone());
    if !changed {
        notice = None;
    }
    Next {
        status,
        changed,
        notice,
        expiry_events,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::jiff::Timestamp;

    fn t(secs: i64) -> Time {
        Time(Timestamp::from_second(1_800_000_000 + secs).unwrap())
    }

    fn at(now: i64, next: i64) -> Check {
        Check {
            now: t(now),
            next: t(next),
            interval: "1h0m0s".into(),
            late_by: None,
            force_sync: None,
            validity: None,
            expiry_window: crate::expiry::DEFAULT_WINDOW,
        }
    }

    fn cond<'a>(s: &'a SecretSyncStatus, type_: &str) -> (&'a str, &'a str) {
        let c = find_condition(&s.conditions, type_).unwrap();
        (c.status.as_str(), c.reason.as_str())
    }

    fn synced(written: Written, hash: &str) -> Outcome {
        Outcome::Synced {
            written,
            hash: hash.into(),
        }
    }

    fn failed(reason: Reason, message: &str) -> Outcome {
        Outcome::Failed {
            reason,
            message: message.into(),
        }
    }

    #[test]
    fn first_sync_creates() {
        let n = next(
            &SecretSyncStatus::default(),
            Some(1),
            &synced(Written::Created, "v2:a"),
            &at(0, 3600),
        );
        assert!(n.changed);
        assert_eq!(cond(&n.status, CREATE), ("True", "CreateSucceeded"));
        assert_eq!(cond(&n.status, READY), ("True", "CreateSucceeded"));
        assert_eq!(n.status.sync_hash.as_deref(), Some("v2:a"));
        assert_eq!(n.status.last_successful_sync_time, Some(t(0)));
        assert_eq!(n.status.next_check_time, Some(t(3600)));
        assert_eq!(n.notice.unwrap().reason, Reason::CreateSucceeded);
    }

    #[test]
    fn no_change_poll_changes_nothing() {
        let first = next(
            &SecretSyncStatus::default(),
            Some(1),
            &synced(Written::Created, "v2:a"),
            &at(0, 3600),
        )
        .status;
        let poll = next(
            &first,
            Some(1),
            &synced(Written::Unchanged, "v2:a"),
            &at(3600, 7200),
        );
        assert!(!poll.changed);
        assert!(poll.notice.is_none());
        assert_eq!(
            SecretSyncStatus {
                last_checked_time: first.last_checked_time.clone(),
                next_check_time: first.next_check_time.clone(),
                ..poll.status.clone()
            },
            first,
            "only the check times move"
        );
        assert_eq!(poll.status.next_check_time, Some(t(7200)));
    }

    #[test]
    fn a_late_check_is_shown_until_one_is_on_time() {
        let first = next(
            &SecretSyncStatus::default(),
            Some(1),
            &synced(Written::Created, "v2:a"),
            &at(0, 60),
        )
        .status;
        let late = next(
            &first,
            Some(1),
            &synced(Written::Unchanged, "v2:a"),
            &Check {
                late_by: Some("2m5s".into()),
                force_sync: None,
                ..at(185, 245)
            },
        );
        assert!(late.changed, "a late check is written");
        assert_eq!(late.status.late_by.as_deref(), Some("2m5s"));
        let on_time = next(
            &late.status,
            Some(1),
            &synced(Written::Unchanged, "v2:a"),
            &at(245, 305),
        );
        assert!(on_time.changed);
        assert_eq!(on_time.status.late_by, None);
    }

    #[test]
    fn rotation_and_restore() {
        let first = next(
            &SecretSyncStatus::default(),
            Some(1),
            &synced(Written::Created, "v2:a"),
            &at(0, 1),
        )
        .status;
        let rotated = next(&first, Some(1), &synced(Written::Updated, "v2:b"), &at(10, 11));
        assert_eq!(
            cond(&rotated.status, UPDATE),
            ("True", "UpdateValueChangeOrForceUpdateSucceeded")
        );
        assert_eq!(rotated.status.last_successful_sync_time, Some(t(10)));
        let restored = next(
            &rotated.status,
            Some(1),
            &synced(Written::Created, "v2:b"),
            &at(20, 21),
        );
        assert_eq!(
            cond(&restored.status, UPDATE),
            ("True", "UpdateNoValueChangeSucceeded")
        );
        assert_eq!(
            find_condition(&restored.status.conditions, UPDATE)
                .unwrap()
                .message,
            RESTORED
        );
    }

    #[test]
    fn failure_is_not_sticky_and_keeps_the_secret_facts() {
        let first = next(
            &SecretSyncStatus::default(),
            Some(1),
            &synced(Written::Created, "v2:a"),
            &at(0, 1),
        )
        .status;
        let down = next(
            &first,
            Some(1),
            &failed(Reason::ProviderError, "vault unreachable"),
            &at(10, 11),
        );
        assert_eq!(cond(&down.status, UPDATE), ("False", "ProviderError"));
        assert_eq!(cond(&down.status, READY), ("False", "ProviderError"));
        assert_eq!(down.status.failing_since, Some(t(10)));
        assert_eq!(
            down.status.sync_hash.as_deref(),
            Some("v2:a"),
            "the last good state is kept"
        );
        assert_eq!(down.status.last_successful_sync_time, Some(t(0)));
        let still = next(
            &down.status,
            Some(1),
            &failed(Reason::ProviderError, "vault unreachable"),
            &at(20, 21),
        );
        assert!(!still.changed, "the same failure again writes nothing");
        assert_eq!(
            still.status.failing_since,
            Some(t(10)),
            "failing since the first failure"
        );
        let back = next(
            &down.status,
            Some(1),
            &synced(Written::Unchanged, "v2:a"),
            &at(30, 31),
        );
        assert_eq!(
            cond(&back.status, UPDATE),
            ("True", "UpdateNoValueChangeSucceeded")
        );
        assert_eq!(
            cond(&back.status, READY),
            ("True", "UpdateNoValueChangeSucceeded")
        );
        assert_eq!(back.status.failing_since, None);
    }

    #[test]
    fn failed_create_then_success() {
        let failed_create = next(
            &SecretSyncStatus::default(),
            Some(1),
            &failed(Reason::ControllerSpcError, "no spc"),
            &at(0, 1),
        );
        assert_eq!(
            cond(&failed_create.status, CREATE),
            ("False", "ControllerSpcError")
        );
        assert!(
            find_condition(&failed_create.status.conditions, UPDATE).is_none(),
            "no optimistic Update"
        );
        let ok = next(
            &failed_create.status,
            Some(2),
            &synced(Written::Created, "v2:a"),
            &at(5, 6),
        );
        assert_eq!(cond(&ok.status, CREATE), ("True", "CreateSucceeded"));
        assert_eq!(ok.status.observed_generation, Some(2));
    }

    #[test]
    fn partial_sync() {
        let first = next(
            &SecretSyncStatus::default(),
            Some(1),
            &synced(Written::Created, "v2:a"),
            &at(0, 1),
        )
        .status;
        let partial = next(
            &first,
            Some(1),
            &Outcome::Partial {
                written: Written::Updated,
                summary: "{\"items\":[]}".into(),
            },
            &at(10, 11),
        );
        assert_eq!(cond(&partial.status, UPDATE), ("False", "PartialSync"));
        assert_eq!(cond(&partial.status, READY), ("False", "PartialSync"));
        assert_eq!(partial.status.sync_hash.as_deref(), Some("v2:a"));
        assert_eq!(partial.status.last_successful_sync_time, Some(t(10)));
    }
}
