//! Failing fast against a vault that is down, per vault.
//!
//! When requests to one vault fail for a reason that is the vault's and not the object's or the caller's —
//! it cannot be reached, or it answers 5xx — `threshold` times in a row, its breaker opens: for a cool-down
//! every request to that vault fails at once with the last cause, instead of holding a caller while the
//! SDK's retry policy retries a refused connection. Then one request goes through (the others still fail
//! fast); its success closes the breaker, its failure opens it again for twice as long (up to a maximum).
//! Other vaults are not affected. An answer from the vault that is about the request (401, 403, 404, 429…)
//! is not a vault failure: it resets the count.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::KeyVaultError;

/// How long a probe may stay unanswered before another request may probe.
const PROBE_TIMEOUT: Duration = Duration::from_secs(30);

/// Most vaults with a breaker kept at once. A vault's entry lives while it fails (a success removes it), and
/// anyone who may create a SecretProviderClass can name vaults that never answer: past this many, entries
/// idle for longer than the longest cool-down go first, then the longest idle. Forgetting a breaker only
/// costs the fail-fast of that vault until it fails `threshold` times again.
const MAX_VAULTS: usize = 1024;

/// Settings of the per-vault breakers.
#[derive(Clone, Debug)]
pub struct BreakerConfig {
    /// Vault failures in a row that open the breaker; 0: never.
    pub threshold: u32,
    /// First cool-down; doubles at each failed probe.
    pub cooldown: Duration,
    /// Longest cool-down.
    pub max_cooldown: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            threshold: 3,
            cooldown: Duration::from_secs(5),
            max_cooldown: Duration::from_secs(300),
        }
    }
}

#[derive(Default)]
struct State {
    failures: u32,
    open_until: Option<Instant>,
    cooldown: Duration,
    /// When the one request of a half-open breaker went out (a probe whose caller gave up never reports:
    /// after [`PROBE_TIMEOUT`] another may go).
    probing: Option<Instant>,
    last: String,
    /// When its last failure was recorded.
    last_at: Option<Instant>,
}

/// The breakers of every vault this process talked to.
pub struct Breakers {
    config: BreakerConfig,
    vaults: Mutex<HashMap<String, State>>,
}

impl Breakers {
    /// Breakers per `config`.
    pub fn new(config: BreakerConfig) -> Self {
        Self {
            config,
            vaults: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, State>> {
        self.vaults
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// May a request to `vault` go out now? An error (failing fast, with the last cause) when its breaker is
    /// open, or half-open with its one probe already out.
    pub fn admit(&self, vault: &str) -> Result<(), KeyVaultError> {
        let mut vaults = self.lock();
        let Some(state) = vaults.get_mut(vault) else {
            return Ok(());
        };
        let Some(open_until) = state.open_until else {
            return Ok(());
        };
        let now = Instant::now();
        if now >= open_until
            && state
                .probing
                .is_none_or(|at| now.duration_since(at) >= PROBE_TIMEOUT)
        {
            state.probing = Some(now);
            return Ok(());
        }
        let wait = open_until.saturating_duration_since(now);
        Err(KeyVaultError::Unreachable {
            message: format!(
                "failing fast: {vault} failed {} times in a row, next attempt in {}s; last failure: {}",
                state.failures,
                (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1),
                state.last
            ),
        })
    }

    /// Record what a request to `vault` got. Only the vault's own answers count: a failure of the vault
    /// (unreachable, 5xx) or an answer from it (success or a 4xx about the request); an Entra refusal or a
    /// local error says nothing about the vault.
    pub fn record<T>(&self, vault: &str, result: &Result<T, KeyVaultError>) {
        if self.config.threshold == 0 {
            return;
        }
        let failure = match result {
            Ok(_) | Err(KeyVaultError::Status { status: ..500, .. }) => None,
            Err(KeyVaultError::Unreachable { message } | KeyVaultError::Status { message, .. }) => {
                Some(message)
            }
            Err(
                KeyVaultError::Credential { .. } | KeyVaultError::Other { .. } | KeyVaultError::ShuttingDown,
            ) => {
                return;
            }
        };
        let mut vaults = self.lock();
        let Some(message) = failure else {
            vaults.remove(vault);
            return;
        };
        let now = Instant::now();
        if vaults.len() >= MAX_VAULTS && !vaults.contains_key(vault) {
            self.prune(&mut vaults, now);
        }
        let state = vaults.entry(vault.to_string()).or_default();
        state.failures = state.failures.saturating_add(1);
        state.last.clone_from(message);
        state.last_at = Some(now);
        // While open, failures of requests sent before it opened change nothing: only the probe's failure
        // (after the cool-down) opens it again, for twice as long.
        if state.open_until.is_some_and(|until| now < until) {
            return;
        }
        if state.failures >= self.config.threshold {
            state.cooldown = if state.open_until.is_some() {
                (state.cooldown * 2).min(self.config.max_cooldown)
            } else {
                self.config.cooldown
            };
            state.open_until = Some(now + state.cooldown);
            state.probing = None;
            if state.failures == self.config.threshold {
                tracing::warn!(vault, failures = state.failures, cooldown = ?state.cooldown, "vault failing: failing fast");
            }
        }
    }
}

impl Breakers {
    /// Make room for one more vault: drop the entries idle for longer than the longest cool-down, and when
    /// that is not enough, the longest idle one.
    fn prune(&self, vaults: &mut HashMap<String, State>, now: Instant) {
        let idle = |s: &State| {
            s.last_at
                .map_or(Duration::MAX, |at| now.saturating_duration_since(at))
        };
        vaults.retain(|_, s| idle(s) <= self.config.max_cooldown);
        while vaults.len() >= MAX_VAULTS {
            let Some(oldest) = vaults.iter().max_by_key(|(_, s)| idle(s)).map(|(k, _)| k.clone()) else {
                break;
            };
            vaults.remove(&oldest);
        }
    }

    /// Vaults with a breaker kept.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn down() -> Result<(), KeyVaultError> {
        Err(KeyVaultError::Unreachable {
            message: "GET https://a/secrets/x: connection refused".into(),
        })
    }

    fn breakers(cooldown: Duration) -> Breakers {
        Breakers::new(BreakerConfig {
            threshold: 3,
            cooldown,
            max_cooldown: Duration::from_secs(300),
        })
    }

    #[test]
    fn opens_after_the_threshold_and_fails_fast_with_the_cause() {
        let b = breakers(Duration::from_secs(60));
        for _ in 0..2 {
            assert!(b.admit("https://a").is_ok());
            b.record("https://a", &down());
        }
        assert!(b.admit("https://a").is_ok(), "two failures: still closed");
        b.record("https://a", &down());
        let err = b.admit("https://a").unwrap_err().to_string();
        assert!(
            err.starts_with("failing fast: https://a failed 3 times in a row"),
            "{err}"
        );
        assert!(err.contains("connection refused"), "{err}");
        assert!(b.admit("https://b").is_ok(), "another vault is not affected");
    }

    #[test]
    fn vaults_that_never_answer_cannot_grow_the_map_without_bound() {
        let b = breakers(Duration::from_secs(60));
        for _ in 0..3 {
            b.record("https://victim", &down());
        }
        for i in 0..(MAX_VAULTS * 3) {
            b.record(&format!("https://bogus-{i}"), &down());
        }
        assert!(b.len() <= MAX_VAULTS, "{} breakers kept", b.len());
        assert!(
            b.admit(&format!("https://bogus-{}", MAX_VAULTS * 3 - 1)).is_ok(),
            "one failure opens nothing"
        );
    }

    #[test]
    fn answers_about_the_request_are_not_vault_failures() {
        let b = breakers(Duration::from_secs(60));
        for status in [401, 403, 404, 429] {
            b.record(
                "https://a",
                &Err::<(), _>(KeyVaultError::Status {
                    status,
                    message: String::new(),
                }),
            );
        }
        b.record("https://a", &down());
        b.record("https://a", &down());
        b.record("https://a", &Ok(()));
        b.record("https://a", &down());
        assert!(b.admit("https://a").is_ok(), "a success reset the count");
    }

    #[test]
    fn one_probe_after_the_cooldown_then_closed_or_open_longer() {
        let b = breakers(Duration::ZERO);
        for _ in 0..3 {
            b.record("https://a", &down());
        }
        assert!(b.admit("https://a").is_ok(), "cool-down over: one probe");
        assert!(b.admit("https://a").is_err(), "only one probe at a time");
        b.record("https://a", &Ok(()));
        assert!(
            b.admit("https://a").is_ok() && b.admit("https://a").is_ok(),
            "closed"
        );

        let b = breakers(Duration::from_secs(10));
        for _ in 0..6 {
            b.record("https://a", &down());
        }
        let err = b.admit("https://a").unwrap_err().to_string();
        assert!(
            err.contains("next attempt in 10s"),
            "failures of requests already out do not stretch the cool-down: {err}"
        );
        b.record(
            "https://a",
            &Err::<(), _>(KeyVaultError::Credential {
                message: "AADSTS70021".into(),
            }),
        );
        assert!(
            b.admit("https://a").is_err(),
            "an Entra refusal does not close the vault's breaker"
        );
    }
}
