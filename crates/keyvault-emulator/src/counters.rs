//! Request counters, per operation name.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

/// Requests per operation (see [`crate::Emulator::counters`] for the names).
#[derive(Default)]
pub(crate) struct Counters(Mutex<BTreeMap<&'static str, u64>>);

impl Counters {
    fn lock(&self) -> MutexGuard<'_, BTreeMap<&'static str, u64>> {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Add one to `op`.
    pub(crate) fn incr(&self, op: &'static str) {
        *self.lock().entry(op).or_insert(0) += 1;
    }

    /// A copy of all counters.
    pub(crate) fn snapshot(&self) -> BTreeMap<String, u64> {
        self.lock().iter().map(|(k, v)| ((*k).to_string(), *v)).collect()
    }

    /// Zero everything.
    pub(crate) fn reset(&self) {
        self.lock().clear();
    }
}
