//! Work slots shared fairly between namespaces.
//!
//! A reconcile that must sync takes one of `--workers` slots for the token, the provider's Mount and the
//! writes. Taken first come, first served, a namespace with thousands of slow or failing SecretSyncs would
//! fill the queue and every other namespace would wait behind all of them. Here waiters queue per
//! namespace and a freed slot goes to the namespaces in turn (round robin): a namespace's first sync waits
//! for one slot to free, however many SecretSyncs another namespace has queued. And a namespace may have
//! at most `waiting_cap` reconciles waiting: beyond that [`FairSlots::acquire`] says so at once, and the
//! caller puts the check off instead of holding one of the controller's reconciles (which are bounded, and
//! which other namespaces need to reach this queue at all).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use tokio::sync::oneshot;

/// `slots` work slots, handed out in turn to the namespaces waiting for one.
pub struct FairSlots {
    state: Mutex<State>,
    waiting_cap: usize,
}

#[derive(Default)]
struct State {
    free: usize,
    /// Per namespace, its waiters in arrival order.
    waiting: HashMap<String, VecDeque<oneshot::Sender<()>>>,
    /// Namespaces with waiters, in the order they get their next turn.
    turns: VecDeque<String>,
}

/// A slot: held until dropped, then handed to the next namespace in turn.
pub struct Slot<'a> {
    slots: &'a FairSlots,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.slots.release();
    }
}

/// A waiter's half; dropped before it got its slot (the reconcile was cancelled), it gives back a slot
/// that was handed to it meanwhile.
struct Waiting<'a> {
    rx: Option<oneshot::Receiver<()>>,
    slots: &'a FairSlots,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if let Some(mut rx) = self.rx.take() {
            rx.close();
            if rx.try_recv().is_ok() {
                self.slots.release();
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl FairSlots {
    /// `slots` slots (at least one); at most `waiting_cap` waiters per namespace (at least one).
    pub fn new(slots: usize, waiting_cap: usize) -> Self {
        Self {
            state: Mutex::new(State {
                free: slots.max(1),
                ..State::default()
            }),
            waiting_cap: waiting_cap.max(1),
        }
    }

    /// A slot for a reconcile in `namespace`, once its turn comes; `None` at once when the namespace
    /// already has `waiting_cap` reconciles waiting.
    pub async fn acquire(&self, namespace: &str) -> Option<Slot<'_>> {
        let rx = {
            let mut state = lock(&self.state);
            if state.free > 0 && state.turns.is_empty() {
                state.free -= 1;
                return Some(Slot { slots: self });
            }
            let queue = state.waiting.entry(namespace.to_string()).or_default();
            queue.retain(|tx| !tx.is_closed());
            if queue.len() >= self.waiting_cap {
                return None;
            }
            let (tx, rx) = oneshot::channel();
            queue.push_back(tx);
            if !state.turns.iter().any(|n| n == namespace) {
                state.turns.push_back(namespace.to_string());
            }
            rx
        };
        let mut waiting = Waiting {
            rx: Some(rx),
            slots: self,
        };
        let rx = waiting.rx.as_mut()?;
        // The sender is dropped only by `release`, after sending or with a closed receiver: an error here
        // cannot happen while we wait, but is a slot not granted rather than a panic.
        let granted = rx.await.is_ok();
        waiting.rx = None;
        granted.then_some(Slot { slots: self })
    }

    /// Reconciles waiting in `namespace`.
    pub fn waiting(&self, namespace: &str) -> usize {
        lock(&self.state)
            .waiting
            .get(namespace)
            .map_or(0, |q| q.iter().filter(|tx| !tx.is_closed()).count())
    }

    /// Hand a freed slot to the next namespace in turn, or keep it free.
    fn release(&self) {
        let mut state = lock(&self.state);
        while let Some(namespace) = state.turns.pop_front() {
            let Some(queue) = state.waiting.get_mut(&namespace) else {
                continue;
            };
            let next = queue.pop_front();
            if queue.is_empty() {
                state.waiting.remove(&namespace);
            } else {
                state.turns.push_back(namespace);
            }
            if let Some(tx) = next
                && tx.send(()).is_ok()
            {
                return;
            }
        }
        state.free += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// One slot, a namespace with many waiters, then another namespace's first: it is next, not last.
    #[tokio::test]
    async fn a_namespace_waits_one_slot_not_behind_another_namespaces_queue() {
        let slots = Arc::new(FairSlots::new(1, 100));
        let held = slots.acquire("noisy").await;
        assert!(held.is_some());
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for i in 0..10 {
            let (slots, order) = (slots.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                let _slot = slots.acquire("noisy").await;
                lock(&order).push(format!("noisy{i}"));
            }));
        }
        while slots.waiting("noisy") < 10 {
            tokio::task::yield_now().await;
        }
        let (victim_slots, victim_order) = (slots.clone(), order.clone());
        let victim = tokio::spawn(async move {
            let _slot = victim_slots.acquire("victim").await;
            lock(&victim_order).push("victim".to_string());
        });
        while slots.waiting("victim") < 1 {
            tokio::task::yield_now().await;
        }
        drop(held);
        victim.await.unwrap_or_default();
        for task in tasks {
            task.await.unwrap_or_default();
        }
        let order = lock(&order).clone();
        let victim_at = order.iter().position(|o| o == "victim");
        assert!(victim_at.is_some_and(|at| at <= 1), "round robin: {order:?}");
        assert_eq!(order.len(), 11);
    }

    #[tokio::test]
    async fn a_namespace_over_its_waiting_cap_is_told_at_once() {
        let slots = Arc::new(FairSlots::new(1, 2));
        let held = slots.acquire("a").await;
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let slots = slots.clone();
                tokio::spawn(async move { slots.acquire("a").await.is_some() })
            })
            .collect();
        while slots.waiting("a") < 2 {
            tokio::task::yield_now().await;
        }
        assert!(slots.acquire("a").await.is_none(), "a third waiter is refused");
        drop(held);
        for waiter in waiters {
            assert!(waiter.await.unwrap_or_default());
        }
    }

    #[tokio::test]
    async fn a_cancelled_waiter_does_not_lose_the_slot() {
        let slots = FairSlots::new(1, 10);
        let held = slots.acquire("a").await;
        {
            let waiter = slots.acquire("a");
            let mut waiter = std::pin::pin!(waiter);
            // Poll once so that it queues, then drop it.
            assert!(futures::poll!(waiter.as_mut()).is_pending());
        }
        drop(held);
        assert!(slots.acquire("b").await.is_some(), "the slot came back");
    }
}
