//! What the manager remembers of each SecretSync's last full sync, so a check can be answered from the
//! provider's change detection (`ssers.v1alpha1.ChangeDetection`, [`crate::provider::Fingerprint`]) without a
//! Mount.
//!
//! A check is **quiet** — no Mount, no value read, nothing written — when all of these hold:
//! * the provider's fingerprint of the SecretSync's objects is known and equals the one taken just before
//!   its last successful full sync (so the vault has not changed since);
//! * the SecretSync's generation and its SecretProviderClass (uid, generation) are those of that sync;
//! * the Secret is still the very object that sync left (its resourceVersion, checked by one test-only
//!   patch: any edit, deletion or recreation by anyone fails it, and the check becomes a full sync that
//!   repairs it), and the status still records that sync (its `syncHash`);
//! * that sync is less than [`FULL_CHECK_EVERY`] old. Fingerprints follow each object's *latest* version:
//!   what they cannot see — an older version disabled under `objectVersionHistory`, a pinned
//!   `objectVersion` disabled, `get` permission lost while `list` remains — is seen by the next full sync.
//!
//! Anything else runs the full sync. Nothing here is secret: a digest of fingerprints (which are built from
//! version ids and timestamps), a resourceVersion and times.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

/// The longest a SecretSync goes without a full sync (a Mount), however quiet its checks.
pub const FULL_CHECK_EVERY: Duration = Duration::from_secs(6 * 3600);

/// The baseline of one SecretSync.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Baseline {
    /// Digest of what the full sync was made from (SecretSync generation, class uid and generation).
    pub inputs: u64,
    /// The fingerprint digest taken before that sync.
    pub digest: [u8; 16],
    /// The Secret's resourceVersion after it.
    pub secret_version: String,
    /// The `syncHash` it computed.
    pub hash: String,
    /// When it ran.
    pub synced_at: SystemTime,
}

#[derive(Default)]
struct Entry {
    /// When the metadata of the last answer was read: the next question asks for newer metadata.
    observed_at: Option<SystemTime>,
    baseline: Option<Baseline>,
}

/// Baselines of every SecretSync this process synced.
#[derive(Default)]
pub struct Baselines(Mutex<HashMap<String, Entry>>);

impl Baselines {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// When the metadata of `key`'s last answer was read.
    pub fn observed_at(&self, key: &str) -> Option<SystemTime> {
        self.lock().get(key).and_then(|e| e.observed_at)
    }

    /// The baseline of `key`.
    pub fn baseline(&self, key: &str) -> Option<Baseline> {
        self.lock().get(key).and_then(|e| e.baseline.clone())
    }

    /// A fingerprint answer for `key` read its metadata at `at`.
    pub fn observed(&self, key: &str, at: SystemTime) {
        self.lock().entry(key.to_string()).or_default().observed_at = Some(at);
    }

    /// A full sync of `key` starts: its baseline no longer holds until it succeeds.
    pub fn invalidate(&self, key: &str) {
        if let Some(entry) = self.lock().get_mut(key) {
            entry.baseline = None;
        }
    }

    /// A full sync of `key` succeeded from `baseline`.
    pub fn synced(&self, key: &str, baseline: Baseline) {
        self.lock().entry(key.to_string()).or_default().baseline = Some(baseline);
    }

    /// Forget SecretSyncs that no longer exist.
    pub fn retain(&self, exists: impl Fn(&str) -> bool) {
        self.lock().retain(|k, _| exists(k));
    }
}

/// The digest of what a sync is made from besides the vault: the SecretSync's generation, its
/// SecretProviderClass (uid, generation) and its tag mappings ([`crate::schedule::tag_config`]).
pub fn inputs(
    generation: Option<i64>,
    class_uid: &str,
    class_generation: Option<i64>,
    tag_config: u64,
) -> u64 {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    hasher.update(generation.unwrap_or(-1).to_be_bytes());
    hasher.update(class_uid.as_bytes());
    hasher.update(class_generation.unwrap_or(-1).to_be_bytes());
    hasher.update(tag_config.to_be_bytes());
    let digest = hasher.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_baseline_lasts_until_invalidated_or_forgotten() {
        let b = Baselines::default();
        let baseline = Baseline {
            inputs: inputs(Some(1), "uid", Some(1), 0),
            digest: [1; 16],
            secret_version: "7".into(),
            hash: "v2:x".into(),
            synced_at: SystemTime::now(),
        };
        b.synced("ns/a", baseline.clone());
        assert_eq!(b.baseline("ns/a"), Some(baseline.clone()));
        b.invalidate("ns/a");
        assert_eq!(b.baseline("ns/a"), None);
        b.synced("ns/a", baseline);
        b.retain(|k| k != "ns/a");
        assert_eq!(b.baseline("ns/a"), None);
    }

    #[test]
    fn inputs_change_with_each_part() {
        let base = inputs(Some(1), "uid", Some(1), 0);
        assert_ne!(base, inputs(Some(2), "uid", Some(1), 0));
        assert_ne!(base, inputs(Some(1), "other", Some(1), 0));
        assert_ne!(base, inputs(Some(1), "uid", Some(2), 0));
    }
}
