//! Everything that waits for a subscription to change: a receive parked until an event is available, and
//! the tests' waits for parked receivers and for counts. Each wakes on the `watch` channel every publish,
//! settlement, receive and parked receiver bumps, or at the instant the next lock or release delay runs out
//! (a timer for that instant, no polling), or at its deadline.

use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

use super::queue::Queue;
use super::{EventGrid, SubKey, SubscriptionStats, key};

impl EventGrid {
    /// Wait (at most `within`) until at least `n` receive requests are parked on a subscription; whether
    /// they are.
    pub async fn wait_for_receivers(
        &self,
        namespace: &str,
        topic: &str,
        subscription: &str,
        n: usize,
        within: Duration,
    ) -> bool {
        let key = key(namespace, topic, subscription);
        self.wait_until(&key, within, |q| q.waiting >= n).await
    }

    /// Wait (at most `within`) until a subscription's [`SubscriptionStats`] satisfy `done`; whether they
    /// do. Woken by every change, and when a lock runs out (a dead-letter is seen then).
    pub async fn wait_for_stats(
        &self,
        namespace: &str,
        topic: &str,
        subscription: &str,
        done: impl Fn(&SubscriptionStats) -> bool,
        within: Duration,
    ) -> bool {
        let key = key(namespace, topic, subscription);
        self.wait_until(&key, within, |q| done(&q.stats)).await
    }

    /// Wait until `holds` of the (refreshed) queue `key`, at most `within`.
    async fn wait_until(&self, key: &SubKey, within: Duration, holds: impl Fn(&Queue) -> bool) -> bool {
        let deadline = Instant::now() + within;
        let mut changed = self.inner.changed.subscribe();
        loop {
            changed.borrow_and_update();
            let now = Instant::now();
            let wake = {
                let mut state = self.lock();
                let Some(queue) = state.queues.get_mut(key) else {
                    return false;
                };
                queue.refresh(now);
                if holds(queue) {
                    return true;
                }
                queue.next_change(now)
            };
            if now >= deadline {
                return false;
            }
            let until = wake.map_or(deadline, |w| w.min(deadline));
            tokio::select! {
                r = changed.changed() => if r.is_err() { return false },
                () = tokio::time::sleep_until(until) => {}
            }
        }
    }

    /// Receive up to `max` events, parking up to `wait` while there are none. `None`: no such subscription.
    pub(crate) async fn receive(
        &self,
        namespace: &str,
        topic: &str,
        subscription: &str,
        max: usize,
        wait: Duration,
    ) -> Option<Vec<Value>> {
        let key = key(namespace, topic, subscription);
        let deadline = Instant::now() + wait;
        let mut changed = self.inner.changed.subscribe();
        let mut parked: Option<Parked> = None;
        loop {
            changed.borrow_and_update();
            let now = Instant::now();
            let (items, wake) = {
                let mut state = self.lock();
                let queue = state.queues.get_mut(&key)?;
                queue.refresh(now);
                (queue.take(now, max), queue.next_change(now))
            };
            if !items.is_empty() {
                self.bump();
                return Some(items);
            }
            if now >= deadline || self.inner.closed.is_cancelled() {
                return Some(items);
            }
            if parked.is_none() {
                parked = Some(Parked::enter(self, &key));
            }
            let until = wake.map_or(deadline, |w| w.min(deadline));
            tokio::select! {
                r = changed.changed() => if r.is_err() { return Some(Vec::new()) },
                () = tokio::time::sleep_until(until) => {}
                () = self.inner.closed.cancelled() => return Some(Vec::new()),
            }
        }
    }
}

/// A receive counted in its queue's `waiting` while it is parked (also when the request is dropped).
struct Parked {
    grid: EventGrid,
    key: SubKey,
}

impl Parked {
    fn enter(grid: &EventGrid, key: &SubKey) -> Self {
        if let Some(queue) = grid.lock().queues.get_mut(key) {
            queue.waiting += 1;
        }
        grid.bump();
        Self {
            grid: grid.clone(),
            key: key.clone(),
        }
    }
}

impl Drop for Parked {
    fn drop(&mut self) {
        if let Some(queue) = self.grid.lock().queues.get_mut(&self.key) {
            queue.waiting = queue.waiting.saturating_sub(1);
        }
        self.grid.bump();
    }
}
