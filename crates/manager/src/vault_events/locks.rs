//! The events this leader holds locked while their checks run. At most `limit` at once: a backlog (after an
//! outage, a mass rotation) is taken in turns, never locked whole, so its memory and its renewals stay
//! bounded. Their locks are renewed together with the other settlements, up to 100 tokens per request, not
//! one request per event.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures::channel::mpsc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use super::client::Settle;

/// Lock tokens per settlement request (what Event Grid takes at once).
pub const PER_REQUEST: usize = 100;

/// The held events.
pub struct Locks {
    held: Mutex<HashSet<String>>,
    room: Arc<Semaphore>,
}

/// One held event: released from [`Locks`] when dropped (after its settlement is queued).
pub struct Held {
    locks: Arc<Locks>,
    token: String,
    _permit: Option<OwnedSemaphorePermit>,
}

impl Drop for Held {
    fn drop(&mut self) {
        self.locks.lock().remove(&self.token);
    }
}

impl Locks {
    /// Room for `limit` events at once (at least one).
    pub fn new(limit: usize) -> Arc<Self> {
        Arc::new(Self {
            held: Mutex::new(HashSet::new()),
            room: Arc::new(Semaphore::new(limit.max(1))),
        })
    }

    fn lock(&self) -> MutexGuard<'_, HashSet<String>> {
        self.held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Wait until at least one more event may be held; how many may be now.
    pub async fn room(&self) -> usize {
        if let Ok(permit) = self.room.acquire().await {
            drop(permit);
        }
        self.room.available_permits()
    }

    /// Hold the event locked by `token` (the caller asked [`Locks::room`] first).
    pub fn hold(self: &Arc<Self>, token: &str) -> Held {
        self.lock().insert(token.to_string());
        Held {
            locks: self.clone(),
            token: token.to_string(),
            _permit: self.room.clone().try_acquire_owned().ok(),
        }
    }

    fn tokens(&self) -> Vec<String> {
        self.lock().iter().cloned().collect()
    }
}

/// Renew every held lock each `every`, until `stop`: the renewals join the settlements, which go out in
/// batches of [`PER_REQUEST`].
pub fn spawn_renewer(
    locks: Arc<Locks>,
    settle: mpsc::UnboundedSender<(Settle, String)>,
    every: Duration,
    stop: CancellationToken,
) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            for token in locks.tokens() {
                let _ = settle.unbounded_send((Settle::RenewLock, token));
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn room_is_what_is_not_held_and_a_dropped_hold_gives_it_back() {
        let locks = Locks::new(2);
        assert_eq!(locks.room().await, 2);
        let a = locks.hold("a");
        let b = locks.hold("b");
        assert_eq!((locks.tokens().len(), locks.room.available_permits()), (2, 0));
        let waiting = tokio::spawn({
            let locks = locks.clone();
            async move { locks.room().await }
        });
        drop(a);
        assert_eq!(waiting.await.ok(), Some(1), "room again once one is released");
        assert_eq!(locks.tokens(), vec!["b".to_string()]);
        drop(b);
        assert!(locks.tokens().is_empty());
    }
}
