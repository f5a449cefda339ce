//! Faults on the way into a topic (`docs/EVENTGRID.md#faults`): what [`super::EventGrid::publish`] does to
//! the next events before they reach the subscriptions.

use serde_json::Value;

use super::{EventGrid, enqueue};

/// The fault knobs (`docs/EVENTGRID.md#faults`).
impl EventGrid {
    /// Duplicate each of the next `n` events (same id, two deliveries).
    pub fn duplicate_next(&self, n: u32) {
        self.lock().faults.duplicate = n;
    }

    /// Drop the next `n` events: never delivered (counted in [`super::SubscriptionStats::dropped`]).
    pub fn drop_next(&self, n: u32) {
        self.lock().faults.drop = n;
    }

    /// Hold the next `n` events back and deliver them right after the event that follows them, so an
    /// older version arrives after a newer one.
    pub fn reorder_next(&self, n: u32) {
        self.lock().faults.reorder = n;
    }

    /// camelCase `data` keys (`id`, `vaultName`, `nbf`…) instead of Key Vault's PascalCase, from now on.
    pub fn camel_case_data(&self, on: bool) {
        self.lock().faults.camel_case = on;
    }

    /// Answer every Event Grid request with `status` (401, 403, 500, 503…) and its error envelope, until
    /// `None`.
    pub fn fail_requests(&self, status: Option<u16>) {
        self.lock().fail_status = status;
    }

    /// Refuse (or allow again) every Entra identity on `namespace` with 403, as without the EventGrid Data
    /// Receiver role. A shared access key keeps working.
    pub fn deny_role(&self, namespace: &str, denied: bool) {
        let mut state = self.lock();
        let namespace = namespace.to_ascii_lowercase();
        if denied {
            state.denied.insert(namespace);
        } else {
            state.denied.remove(&namespace);
        }
    }

    /// Clear every fault; events held back by [`EventGrid::reorder_next`] are delivered now.
    pub fn clear_faults(&self) {
        let mut state = self.lock();
        let held = state.faults.clear();
        state.fail_status = None;
        state.denied.clear();
        enqueue(&mut state.queues, held);
        drop(state);
        self.bump();
    }
}

/// One event bound for a topic: `(namespace, topic, event)`.
pub(super) type Bound = (String, String, Value);

/// Pending publish faults, each counting down one event at a time.
#[derive(Debug, Default)]
pub(super) struct PublishFaults {
    pub(super) duplicate: u32,
    pub(super) drop: u32,
    pub(super) reorder: u32,
    pub(super) camel_case: bool,
    /// Events held back by `reorder`, delivered after the next event that is not held.
    pub(super) held: Vec<Bound>,
}

/// What to do with one published event.
#[derive(Debug, Default)]
pub(super) struct Applied {
    /// Events to enqueue now, in order (none, the event, twice the event, and any held events after it).
    pub(super) deliver: Vec<Bound>,
    /// The event was dropped by the fault.
    pub(super) dropped: bool,
}

impl PublishFaults {
    /// Apply the pending faults to `event`, consuming one count of each that acts on it. Order: drop (the
    /// event is gone), camelCase `data` keys, hold back for reordering, duplicate.
    pub(super) fn apply(&mut self, namespace: &str, topic: &str, mut event: Value) -> Applied {
        if self.drop > 0 {
            self.drop -= 1;
            return Applied {
                deliver: Vec::new(),
                dropped: true,
            };
        }
        if self.camel_case {
            camel_case_data(&mut event);
        }
        let bound = (namespace.to_string(), topic.to_string(), event);
        if self.reorder > 0 {
            self.reorder -= 1;
            self.held.push(bound);
            return Applied::default();
        }
        let mut deliver = Vec::new();
        if self.duplicate > 0 {
            self.duplicate -= 1;
            deliver.push(bound.clone());
        }
        deliver.push(bound);
        deliver.append(&mut self.held);
        Applied {
            deliver,
            dropped: false,
        }
    }

    /// Forget every pending fault; the held events are returned, to be delivered now.
    pub(super) fn clear(&mut self) -> Vec<Bound> {
        std::mem::take(self).held
    }
}

/// `{"Id", "VaultName", "NBF"}` → `{"id", "vaultName", "nbf"}`: a key of capitals only is lower-cased
/// whole, any other gets a lower-case first letter.
pub(super) fn camel_case_data(event: &mut Value) {
    let Some(Value::Object(data)) = event.get_mut("data") else {
        return;
    };
    let pascal = std::mem::take(data);
    for (key, value) in pascal {
        let camel = if key.chars().all(|c| !c.is_lowercase()) {
            key.to_lowercase()
        } else {
            let mut chars = key.chars();
            chars
                .next()
                .map_or_else(String::new, |first| first.to_lowercase().chain(chars).collect())
        };
        data.insert(camel, value);
    }
}
