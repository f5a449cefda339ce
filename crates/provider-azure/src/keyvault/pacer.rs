//! A request budget per vault: requests to one vault are paced to a share of Key Vault's service limit
//! (4,000 GETs per 10 s per vault), so this provider never makes the vault throttle it, and a burst of checks
//! is spread over time instead of dropped.
//!
//! Generic cell rate algorithm: each request to a vault reserves the next free slot of that vault's
//! schedule (one every `period / budget`, with a burst of up to a tenth of the budget at once) and waits for
//! it. A request whose slot would be more than [`MAX_WAIT`] away is refused without reserving anything
//! (`429`-like: the manager backs that SecretSync off and retries), so the schedule never runs further ahead
//! than that, whatever callers gave up waiting. A listing counts as one request whatever its pages.
//!
//! The budget is kept per vault **and identity** (the caller passes both as the key), and spent only by an
//! identity that got a token: SecretProviderClasses with bogus client IDs naming someone else's vault never
//! obtain a token, so they cannot spend that vault's budget for its real users (their requests, serialised by
//! the priming gate, are [`Pacer::charge`]d only once the vault answered them).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The longest a request waits for its vault's budget; beyond it the request is refused.
pub const MAX_WAIT: Duration = Duration::from_secs(30);

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

    /// Count a request to `vault` that has already been made (one that was not paced ahead: the first
    /// request of an identity, before it had a token).
    pub fn charge(&self, vault: &str) {
        let _ = self.reserve_up_to(vault, Duration::MAX);
    }

    /// Reserve the next slot for a request to `vault`: how long to wait for it; `Err(wait)` (nothing
    /// reserved) when that is longer than [`MAX_WAIT`].
    pub fn reserve(&self, vault: &str) -> Result<Duration, Duration> {
        self.reserve_up_to(vault, MAX_WAIT)
    }

    fn reserve_up_to(&self, vault: &str, max_wait: Duration) -> Result<Duration, Duration> {
        if self.interval.is_zero() {
            return Ok(Duration::ZERO);
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
        // Up to `burst` of schedule may be used ahead of time.
        let wait = start.saturating_duration_since(now + self.burst);
        if wait > max_wait {
            return Err(wait);
        }
        *tat = start + self.interval;
        Ok(wait)
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
        let waits: Vec<Duration> = (0..30).map(|_| pacer.reserve("https://a").unwrap()).collect();
        assert!(waits[..10].iter().all(Duration::is_zero), "{waits:?}");
        // Then each request waits one interval more than the one before (spread, not dropped).
        assert!(waits[20] > waits[15] && waits[29] > waits[20], "{waits:?}");
        assert!(
            waits[29] >= Duration::from_millis(185) && waits[29] <= Duration::from_millis(200),
            "{waits:?}"
        );
        assert!(
            pacer.reserve("https://b").unwrap().is_zero(),
            "another vault has its own budget"
        );
    }

    #[test]
    fn a_charge_takes_its_slot_after_the_fact() {
        let pacer = Pacer::new(Budget {
            requests: 10,
            period: Duration::from_secs(10),
        });
        // One per second with a burst of one second: two charged requests use the burst and the next slot.
        pacer.charge("https://a");
        pacer.charge("https://a");
        let wait = pacer.reserve("https://a").unwrap();
        assert!(wait > Duration::from_millis(900), "{wait:?}");
    }

    #[test]
    fn no_budget_no_pacing() {
        let pacer = Pacer::new(Budget {
            requests: 0,
            period: Duration::from_secs(10),
        });
        assert!((0..1000).all(|_| pacer.reserve("https://a").unwrap().is_zero()));
    }

    #[test]
    fn a_slot_further_than_the_longest_wait_is_refused_and_not_reserved() {
        // One per second, a burst of 1: the 33rd request would wait 31 s.
        let pacer = Pacer::new(Budget {
            requests: 1,
            period: Duration::from_secs(1),
        });
        for _ in 0..32 {
            assert!(pacer.reserve("https://a").is_ok());
        }
        assert!(pacer.reserve("https://a").is_err());
        assert!(
            pacer.reserve("https://a").is_err(),
            "the refusal reserved nothing to wait behind"
        );
    }
}
