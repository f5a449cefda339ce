//! Fault injection and throttling.
//!
//! * **Latency** is added to every request (Key Vault and Entra) before it is handled.
//! * **Injected errors** (`fail_next`) answer the next *n* Key Vault data-plane requests with a 5xx and a
//!   JSON error envelope, before authentication, so a client's very first (challenge) request can fail too.
//! * **Outage** closes every open connection and, while on, closes each new TCP connection right after
//!   accepting it: no TLS handshake completes, as with a vault that is down behind a load balancer.
//! * **Throttling** is a sliding window per vault: at most `limit` admitted requests within `window`. Only
//!   admitted requests count against the window (429 answers do not, as on the real service).

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicU16, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::Throttle;

struct ThrottleState {
    config: Throttle,
    windows: HashMap<String, VecDeque<Instant>>,
}

struct Inner {
    latency_micros: AtomicU64,
    /// Requests arrived and being held by the latency fault right now.
    delayed: AtomicU64,
    fail_remaining: AtomicU32,
    fail_status: AtomicU16,
    outage: watch::Sender<bool>,
    throttle: Mutex<ThrottleState>,
    /// Vaults whose data plane refuses every authenticated request as an RBAC vault does without a role.
    denied: Mutex<std::collections::HashSet<String>>,
}

/// Fault injection handle. Cheap to clone (shared state).
#[derive(Clone)]
pub struct Faults {
    inner: Arc<Inner>,
}

impl fmt::Debug for Faults {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Faults")
            .field("latency", &self.latency())
            .field(
                "fail_remaining",
                &self.inner.fail_remaining.load(Ordering::Relaxed),
            )
            .field("outage", &self.outage())
            .field("throttle", &self.lock_throttle().config)
            .finish()
    }
}

impl Faults {
    pub(crate) fn new(throttle: Throttle) -> Self {
        let (outage, _) = watch::channel(false);
        Self {
            inner: Arc::new(Inner {
                latency_micros: AtomicU64::new(0),
                delayed: AtomicU64::new(0),
                fail_remaining: AtomicU32::new(0),
                fail_status: AtomicU16::new(503),
                outage,
                denied: Mutex::new(std::collections::HashSet::new()),
                throttle: Mutex::new(ThrottleState {
                    config: throttle,
                    windows: HashMap::new(),
                }),
            }),
        }
    }

    fn lock_throttle(&self) -> MutexGuard<'_, ThrottleState> {
        self.inner
            .throttle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Delay every Key Vault and Entra request by `d` (zero turns it off); Event Grid requests are not delayed.
    pub fn set_latency(&self, d: Duration) {
        let micros = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.inner.latency_micros.store(micros, Ordering::Relaxed);
    }

    /// Answer the next `n` Key Vault data-plane requests with `status` (e.g. 500, 502, 503) and a JSON error
    /// envelope. Replaces any count still pending; `n = 0` cancels.
    pub fn fail_next(&self, n: u32, status: u16) {
        self.inner.fail_status.store(status, Ordering::Relaxed);
        self.inner.fail_remaining.store(n, Ordering::SeqCst);
    }

    /// Turn a full outage on or off. On: open connections are dropped and new TCP connections are closed
    /// immediately after accept.
    pub fn set_outage(&self, on: bool) {
        self.inner.outage.send_replace(on);
    }

    /// Deny (or allow again) every authenticated data-plane request to `vault` with 403 `Forbidden` /
    /// `ForbiddenByRbac`, as an Azure RBAC vault answers a caller without a role assignment.
    pub fn deny_by_rbac(&self, vault: &str, denied: bool) {
        let mut set = self
            .inner
            .denied
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if denied {
            set.insert(vault.to_ascii_lowercase());
        } else {
            set.remove(&vault.to_ascii_lowercase());
        }
    }

    pub(crate) fn denied(&self, vault: &str) -> bool {
        self.inner
            .denied
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains(&vault.to_ascii_lowercase())
    }

    /// Replace the throttling configuration (and forget the requests counted so far).
    pub fn set_throttle(&self, t: Throttle) {
        let mut state = self.lock_throttle();
        state.config = t;
        state.windows.clear();
    }

    /// How many requests have arrived and are being held by the latency fault right now: the signal that
    /// a client is waiting on the emulator (requests are counted only once they are answered).
    pub fn delayed(&self) -> u64 {
        self.inner.delayed.load(Ordering::SeqCst)
    }

    /// Hold a request for the configured latency, counted in [`Faults::delayed`] meanwhile.
    pub(crate) async fn delay(&self) {
        let latency = Duration::from_micros(self.inner.latency_micros.load(Ordering::Relaxed));
        if latency.is_zero() {
            return;
        }
        self.inner.delayed.fetch_add(1, Ordering::SeqCst);
        // Decremented even when the request is dropped mid-wait (client gone, shutdown).
        struct Held<'a>(&'a AtomicU64);
        impl Drop for Held<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::SeqCst);
            }
        }
        let _held = Held(&self.inner.delayed);
        tokio::time::sleep(latency).await;
    }

    pub(crate) fn latency(&self) -> Duration {
        Duration::from_micros(self.inner.latency_micros.load(Ordering::Relaxed))
    }

    pub(crate) fn outage(&self) -> bool {
        *self.inner.outage.borrow()
    }

    pub(crate) fn watch_outage(&self) -> watch::Receiver<bool> {
        self.inner.outage.subscribe()
    }

    /// Consume one injected failure, if any is pending; returns its status.
    pub(crate) fn take_failure(&self) -> Option<u16> {
        self.inner
            .fail_remaining
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .ok()
            .map(|_| self.inner.fail_status.load(Ordering::Relaxed))
    }

    /// Admit one request to `vault`, or refuse it with the configured `Retry-After`.
    pub(crate) fn admit(&self, vault: &str) -> Result<(), Option<Duration>> {
        let now = Instant::now();
        let mut state = self.lock_throttle();
        let Throttle {
            limit,
            window,
            retry_after,
        } = state.config.clone();
        let log = state.windows.entry(vault.to_string()).or_default();
        while log.front().is_some_and(|t| now.duration_since(*t) >= window) {
            log.pop_front();
        }
        if log.len() >= limit as usize {
            return Err(retry_after);
        }
        log.push_back(now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fail_next_counts_down() {
        let f = Faults::new(Throttle::default());
        assert_eq!(f.take_failure(), None);
        f.fail_next(2, 502);
        assert_eq!(f.take_failure(), Some(502));
        assert_eq!(f.take_failure(), Some(502));
        assert_eq!(f.take_failure(), None);
    }

    #[test]
    fn throttle_is_per_vault() {
        let f = Faults::new(Throttle {
            limit: 2,
            window: Duration::from_secs(60),
            retry_after: None,
        });
        assert!(f.admit("a").is_ok());
        assert!(f.admit("a").is_ok());
        assert_eq!(f.admit("a"), Err(None));
        assert!(f.admit("b").is_ok());
        f.set_throttle(Throttle {
            limit: 1,
            window: Duration::from_secs(60),
            retry_after: Some(Duration::from_secs(3)),
        });
        assert!(f.admit("a").is_ok());
        assert_eq!(f.admit("a"), Err(Some(Duration::from_secs(3))));
    }
}
