//! Expiry awareness: the Key Vault validity dates (`nbf`, `exp`) of a SecretSync's objects, where they stand,
//! the `Expiring` condition that summarises them and the Events that announce a change of standing (no I/O).
//!
//! The dates come with the provider's change-detection answer ([`crate::provider::Fingerprint`]), from the
//! same vault metadata as the fingerprints, so they cost no request of their own; a provider without the
//! service reports none and the status shows none. Key Vault still serves a secret outside its dates
//! (docs/KEYVAULT.md#enabled-and-validity-dates): an expired object keeps syncing and `Ready` is not
//! affected; this is a warning. The dates are those of the metadata the check relied on, so like a value
//! change they show within one interval; an object whose version is pinned reports none (the latest version's
//! dates are not its own).
//!
//! An object stands `Expired` once `exp` has passed, `Expiring` when `exp` falls within the warning window
//! (`--expiry-warning-window`), `NotYetValid` while `nbf` is ahead, else `Valid`. An Event fires when an
//! object reaches a standing other than `Valid` that the status did not already show for the same dates, so
//! once per object and window, also across restarts (the status remembers). Messages carry absolute times
//! only, so a status does not change (and is not rewritten) merely because time passed.

use std::time::{Duration, SystemTime};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use sse_api::ObjectValidity;
use sse_api::conditions::{EXPIRING, STATUS_FALSE, STATUS_TRUE, expiry_reasons};

use crate::clock::{from_time, to_time};

/// The default warning window: 30 days, as Key Vault's own `NearExpiry` Event Grid events.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(30 * 24 * 3600);

/// One object's validity dates, as the provider reported them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dates {
    /// `<objectType>/<objectName>`.
    pub object: String,
    /// Not valid before.
    pub not_before: Option<SystemTime>,
    /// Expires at.
    pub expires: Option<SystemTime>,
}

const EXPIRED: &str = ObjectValidity::EXPIRED;
const EXPIRING_SOON: &str = ObjectValidity::EXPIRING;
const NOT_YET_VALID: &str = ObjectValidity::NOT_YET_VALID;
const VALID: &str = ObjectValidity::VALID;

/// Most objects the `Expiring` condition's message names (the condition message is limited to 32 KiB).
const MAX_NAMED: usize = 20;

/// An Event to publish about one object's standing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpiryEvent {
    /// Event reason ([`expiry_reasons`]).
    pub reason: &'static str,
    /// Event note.
    pub message: String,
}

/// What this process already announced per SecretSync (`namespace/name` → the described standings), so an
/// Event is not fired twice when a reconcile sees a status older than its own last write (the informer's
/// copy lags) or an object's dates go missing for a check and come back.
#[derive(Default)]
pub struct Announced(std::sync::Mutex<std::collections::HashMap<String, std::collections::HashSet<String>>>);

impl Announced {
    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, std::collections::HashSet<String>>> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Drop from `events` what was already announced for `key`.
    pub fn unannounced(&self, key: &str, mut events: Vec<ExpiryEvent>) -> Vec<ExpiryEvent> {
        if let Some(done) = self.lock().get(key) {
            events.retain(|e| !done.contains(&e.message));
        }
        events
    }

    /// `key`'s standings as now announced (its status shows them).
    pub fn announced(&self, key: &str, validity: &[ObjectValidity]) {
        let described: std::collections::HashSet<String> = validity
            .iter()
            .filter(|v| v.state != VALID)
            .map(ObjectValidity::describe)
            .collect();
        let mut map = self.lock();
        if described.is_empty() {
            map.remove(key);
        } else {
            map.insert(key.to_string(), described);
        }
    }

    /// Forget SecretSyncs that no longer exist.
    pub fn retain(&self, exists: impl Fn(&str) -> bool) {
        self.lock().retain(|k, _| exists(k));
    }
}

/// Where each dated object stands at `now`; objects without dates are left out.
pub fn assess(dates: &[Dates], now: SystemTime, window: Duration) -> Vec<ObjectValidity> {
    dates
        .iter()
        .filter(|d| d.not_before.is_some() || d.expires.is_some())
        // The status's limit (far above what one SecretProviderClass names).
        .take(sse_api::secret_sync::MAX_VALIDITY_ENTRIES as usize)
        .map(|d| {
            let state = match (d.not_before, d.expires) {
                (_, Some(exp)) if exp <= now => EXPIRED,
                (_, Some(exp)) if exp.duration_since(now).unwrap_or_default() <= window => EXPIRING_SOON,
                (Some(nbf), _) if nbf > now => NOT_YET_VALID,
                _ => VALID,
            };
            ObjectValidity {
                object: d.object.clone(),
                not_before: d.not_before.map(to_time),
                expires_at: d.expires.map(to_time),
                state: state.to_string(),
            }
        })
        .collect()
}

/// The dates a status recorded (to assess them again when the provider reported none this time).
pub fn recorded(validity: &[ObjectValidity]) -> Vec<Dates> {
    validity
        .iter()
        .map(|v| Dates {
            object: v.object.clone(),
            not_before: v.not_before.as_ref().and_then(from_time),
            expires: v.expires_at.as_ref().and_then(from_time),
        })
        .collect()
}

/// The `Expiring` condition for `validity`: `True` with the worst standing's reason and every object that is
/// not `Valid`, else `False`.
pub fn condition(
    validity: &[ObjectValidity],
    window: Duration,
    generation: Option<i64>,
    now: Time,
) -> Condition {
    let worst = [EXPIRED, EXPIRING_SOON, NOT_YET_VALID]
        .into_iter()
        .find(|state| validity.iter().any(|v| v.state == *state));
    let (status, reason, message) = match worst {
        Some(state) => (STATUS_TRUE, reason_of(state), {
            let concerned: Vec<String> = validity
                .iter()
                .filter(|v| v.state != VALID)
                .map(ObjectValidity::describe)
                .collect();
            let mut message = concerned
                .iter()
                .take(MAX_NAMED)
                .cloned()
                .collect::<Vec<_>>()
                .join("; ");
            if concerned.len() > MAX_NAMED {
                message.push_str(&format!(
                    "; and {} more (status.validity)",
                    concerned.len() - MAX_NAMED
                ));
            }
            message
        }),
        None if validity.is_empty() => (
            STATUS_FALSE,
            expiry_reasons::NONE,
            "No synced object has an expiry date in the vault.".to_string(),
        ),
        None => (
            STATUS_FALSE,
            expiry_reasons::NONE,
            format!(
                "No synced object expires within {} (--expiry-warning-window).",
                sse_api::validation::format_duration(window)
            ),
        ),
    };
    Condition {
        type_: EXPIRING.to_string(),
        status: status.to_string(),
        reason: reason.to_string(),
        message,
        observed_generation: generation,
        last_transition_time: now,
    }
}

/// Events for the objects whose standing is news: not `Valid`, and not shown with the same dates and
/// standing in `previous`.
pub fn events(previous: &[ObjectValidity], current: &[ObjectValidity]) -> Vec<ExpiryEvent> {
    current
        .iter()
        .filter(|v| v.state != VALID && !previous.contains(v))
        .map(|v| ExpiryEvent {
            reason: reason_of(&v.state),
            message: v.describe(),
        })
        .collect()
}

fn reason_of(state: &str) -> &'static str {
    match state {
        EXPIRED => expiry_reasons::EXPIRED,
        EXPIRING_SOON => expiry_reasons::EXPIRING,
        _ => expiry_reasons::NOT_YET_VALID,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Duration = Duration::from_secs(86_400);

    fn now() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
    }

    fn dates(object: &str, not_before: Option<SystemTime>, expires: Option<SystemTime>) -> Dates {
        Dates {
            object: object.into(),
            not_before,
            expires,
        }
    }

    fn states(validity: &[ObjectValidity]) -> Vec<(&str, &str)> {
        validity
            .iter()
            .map(|v| (v.object.as_str(), v.state.as_str()))
            .collect()
    }

    #[test]
    fn each_object_stands_where_its_dates_put_it() {
        let now = now();
        let validity = assess(
            &[
                dates("secret/old", None, Some(now - DAY)),
                dates("secret/soon", None, Some(now + 10 * DAY)),
                dates("secret/later", Some(now - DAY), Some(now + 90 * DAY)),
                dates("secret/future", Some(now + DAY), Some(now + 90 * DAY)),
                dates("secret/undated", None, None),
                dates("cert/edge", None, Some(now + 30 * DAY)),
            ],
            now,
            30 * DAY,
        );
        assert_eq!(
            states(&validity),
            [
                ("secret/old", "Expired"),
                ("secret/soon", "Expiring"),
                ("secret/later", "Valid"),
                ("secret/future", "NotYetValid"),
                ("cert/edge", "Expiring"),
            ],
            "an undated object is left out; the window's edge is inside"
        );
        assert_eq!(
            validity[1].expires_at,
            Some(to_time(now + 10 * DAY)),
            "the date itself is kept"
        );
        assert_eq!(
            recorded(&validity)[1],
            dates("secret/soon", None, Some(now + 10 * DAY))
        );
    }

    #[test]
    fn the_condition_names_the_worst_standing_and_every_object_concerned() {
        let now = now();
        let validity = assess(
            &[
                dates("secret/soon", None, Some(now + DAY)),
                dates("secret/old", None, Some(now - DAY)),
                dates("secret/fine", None, Some(now + 90 * DAY)),
            ],
            now,
            30 * DAY,
        );
        let c = condition(&validity, 30 * DAY, Some(3), to_time(now));
        assert_eq!((c.type_.as_str(), c.status.as_str()), ("Expiring", "True"));
        assert_eq!(c.reason, "ObjectExpired");
        assert_eq!(
            c.message,
            "secret/soon expires at 2027-01-16T08:00:00Z; secret/old expired at 2027-01-14T08:00:00Z"
        );
        assert_eq!(c.observed_generation, Some(3));

        let fine = assess(&[dates("secret/fine", None, Some(now + 90 * DAY))], now, 30 * DAY);
        let c = condition(&fine, 30 * DAY, Some(3), to_time(now));
        assert_eq!(
            (c.status.as_str(), c.reason.as_str()),
            ("False", "NoObjectExpiring")
        );
        assert_eq!(
            c.message,
            "No synced object expires within 720h0m0s (--expiry-warning-window)."
        );
        let c = condition(&[], 30 * DAY, None, to_time(now));
        assert_eq!(c.message, "No synced object has an expiry date in the vault.");
    }

    #[test]
    fn an_event_fires_once_per_object_and_standing() {
        let now = now();
        let soon = [dates("secret/a", None, Some(now + 10 * DAY))];
        let first = assess(&soon, now, 30 * DAY);
        let fired = events(&[], &first);
        assert_eq!(
            fired,
            [ExpiryEvent {
                reason: "ObjectExpiring",
                message: "secret/a expires at 2027-01-25T08:00:00Z".into()
            }]
        );
        let later = assess(&soon, now + DAY, 30 * DAY);
        assert!(
            events(&first, &later).is_empty(),
            "same dates, same standing: no news"
        );
        let expired = assess(&soon, now + 11 * DAY, 30 * DAY);
        assert_eq!(events(&later, &expired)[0].reason, "ObjectExpired");
        // Rotated: a new expiry date in the window is news again.
        let rotated = assess(
            &[dates("secret/a", None, Some(now + 20 * DAY))],
            now + 11 * DAY,
            30 * DAY,
        );
        assert_eq!(events(&expired, &rotated)[0].reason, "ObjectExpiring");
        // A valid object never fires.
        let valid = assess(&[dates("secret/a", None, Some(now + 90 * DAY))], now, 30 * DAY);
        assert!(events(&[], &valid).is_empty());
    }
}
