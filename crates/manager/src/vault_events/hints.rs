//! The checks an event asked for, per SecretSync, until a reconcile takes them: which objects to read
//! afresh, and who waits to hear how the check ended (to settle the event: acknowledge or release).
//!
//! A reconcile takes the hint when it is admitted ([`Hints::take`]), so a check already running when the
//! event came cannot answer for it: the event's own check runs next. Memory is per pending event only.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::SystemTime;

use tokio::sync::oneshot;

use crate::provider::Changed;

/// How a check an event asked for ended, for the event's settlement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Recorded (synced, unchanged, or failed for a reason a retry cannot fix, which the status reports):
    /// acknowledge.
    Checked,
    /// Failed in a way a retry can fix, or the status could not be written: release, to come back.
    Retry,
}

/// One SecretSync's pending hint.
#[derive(Debug)]
pub struct Hint {
    /// What to ask for afresh.
    pub changed: Changed,
    waiters: Vec<oneshot::Sender<Verdict>>,
}

impl Hint {
    /// Tell everyone waiting on this check how it ended.
    pub fn finish(self, verdict: Verdict) {
        for waiter in self.waiters {
            let _ = waiter.send(verdict);
        }
    }
}

/// Pending hints by SecretSync (`namespace/name`).
#[derive(Default)]
pub struct Hints(Mutex<HashMap<String, Hint>>);

impl Hints {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Hint>> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Ask for a check of `key` reading `ids` from metadata newer than `after`; the answer says how it
    /// ended (dropped unanswered when the check never ran: the term ended first).
    pub fn mark(&self, key: &str, ids: &[String], after: SystemTime) -> oneshot::Receiver<Verdict> {
        let (tx, rx) = oneshot::channel();
        let mut hints = self.lock();
        let hint = hints.entry(key.to_string()).or_insert_with(|| Hint {
            changed: Changed {
                ids: Vec::new(),
                after,
            },
            waiters: Vec::new(),
        });
        for id in ids {
            if !hint.changed.ids.contains(id) {
                hint.changed.ids.push(id.clone());
            }
        }
        hint.changed.after = hint.changed.after.max(after);
        hint.waiters.push(tx);
        rx
    }

    /// Whether a check of `key` is asked for.
    pub fn marked(&self, key: &str) -> bool {
        self.lock().contains_key(key)
    }

    /// The hint of `key`, taken by the check that answers it.
    pub fn take(&self, key: &str) -> Option<Hint> {
        self.lock().remove(key)
    }

    /// Hints waiting for their check.
    pub fn pending(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn two_events_before_the_check_share_it_and_both_hear_the_verdict() {
        let hints = Hints::default();
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(100);
        let first = hints.mark("ns/a", &["secret/x".into()], t0);
        let second = hints.mark(
            "ns/a",
            &["secret/x".into(), "cert/y".into()],
            t0 + Duration::from_secs(1),
        );
        assert!(hints.marked("ns/a"));
        let hint = hints.take("ns/a").unwrap_or_else(|| panic!("marked"));
        assert_eq!(
            hint.changed.ids,
            vec!["secret/x".to_string(), "cert/y".to_string()]
        );
        assert_eq!(hint.changed.after, t0 + Duration::from_secs(1), "the later news");
        assert!(!hints.marked("ns/a"), "taken by the check");
        hint.finish(Verdict::Retry);
        assert_eq!(first.await.ok(), Some(Verdict::Retry));
        assert_eq!(second.await.ok(), Some(Verdict::Retry));
    }

    #[tokio::test]
    async fn a_check_that_never_ran_answers_nothing() {
        let hints = Hints::default();
        let waiting = hints.mark("ns/a", &[], SystemTime::now());
        drop(hints);
        assert!(
            waiting.await.is_err(),
            "the waiter learns the check will not come"
        );
    }
}
