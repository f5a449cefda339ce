//! A request budget per vault: requests to one vault are paced to a share of Key Vault's service limit
//! (4,000 GETs per 10 s per vault), so this provider never makes the vault throttle it, and a burst of checks
//! is spread over time instead of dropped.
//!
//! Generic cell rate algorithm: each request to a vault reserves the next free slot of that vault's
//! schedule (one every `period / budget`, with a burst of up to a tenth of the budget at once) and waits for
//! it. The wait is the caller's only cost; the caller's own deadline bounds it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Requests per period, per vault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// Requests allowed per `period`.
    pub requests: u32,
    /// The period.
    pub period: Duration,
}

impl Default for Budget {
    /// Half of Key Vault's limit for secrets, keys and certificates GETs (4,000 per 10 s per vault): room
    /// for everything else that uses the vault.
    fn default() -> Self {
        Self {
            requests: 2_000,
            period: Duration::from_secs(10),
        }
    }
}

/// The pacing of every vault.
pub struct Pacer {
    interval: Duration,
    burst: Duration,
    /// Per vault: the theoretical arrival time of the next request.
    vaults: Mutex<HashMap<String, Instant>>,
}

impl Pacer {
    /// Pacing per `budget`; a budget of 0 requests turns pacing off.
    pub fn new(budget: Budget) -> Self {
        let interval = if budget.requests == 0 {
            Duration::ZERO
        } else {
            budget.period / budget.requests
        };
        Self {
            interval,
            burst: interval * (budget.requests / 10).max(1),
            vaults: Mutex::new(HashMap::new()),
        }
    }

    /// Reserve the next slot for a request to `vault`: how long to wait for it.
    pub fn reserve(&self, vault: &str) -> Duration {
        if self.interval.is_zero() {
            return Duration::ZERO;
        }
        let now = Instant::now();
        let mut vaults = self
            .vaults
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if vaults.len() > 4096 {
            vaults.retain(|_, tat| *tat > now);
        }
        let tat = vaults.entry(vault.to_string()).or_insert(now);
        let start = (*tat).max(now);
        *tat = start + self.interval;
        // Up to `burst` of schedule may be used ahead of time.
        start.saturating_duration_since(now + self.burst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_one_request_per_interval() {
        // 100 per second: an interval of 10 ms, a burst of 10.
        let pacer = Pacer::new(Budget {
            requests: 100,
            period: Duration::from_secs(1),
        });
        let waits: Vec<Duration> = (0..30).map(|_| pacer.reserve("https://a")).collect();
        assert!(waits[..10].iter().all(Duration::is_zero), "{waits:?}");
        // Then each request waits one interval more than the one before (spread, not dropped).
        assert!(waits[20] > waits[15] && waits[29] > waits[20], "{waits:?}");
        assert!(
            waits[29] >= Duration::from_millis(185) && waits[29] <= Duration::from_millis(200),
            "{waits:?}"
        );
        assert!(
            pacer.reserve("https://b").is_zero(),
            "another vault has its own budget"
        );
    }

    #[test]
    fn no_budget_no_pacing() {
        let pacer = Pacer::new(Budget {
            requests: 0,
            period: Duration::from_secs(10),
        });
        assert!((0..1000).all(|_| pacer.reserve("https://a").is_zero()));
    }
}
