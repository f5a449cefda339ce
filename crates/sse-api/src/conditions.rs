//! Condition vocabulary of `SecretSync.status.conditions` (docs/API.md#status-conditions) and a pure
//! condition-merge helper.
//!
//! Condition types are the Arc ones, [`CREATE`] and [`UPDATE`], plus [`READY`] for GitOps health checks. A
//! condition's `reason` is one of [`Reason`]; its `message` carries the real cause (never a secret value).
//!
//! [`set_condition`] merges with the standard `meta.SetStatusCondition` semantics: `lastTransitionTime` moves only
//! when `status` changes; `reason`, `message` and `observedGeneration` are overwritten in place.

use std::{fmt, str::FromStr};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

/// Condition type recording the outcome of the first creation of the Secret.
pub const CREATE: &str = "Create";
/// Condition type recording the outcome of the latest update of an existing Secret.
pub const UPDATE: &str = "Update";
/// Summary condition: `True` when the Secret holds the last observed values, else `False`; same reason as the
/// phase condition it summarises.
pub const READY: &str = "Ready";

/// Expiry warning: `True` when a synced object has expired, expires within the manager's
/// `--expiry-warning-window`, or is not valid yet (Key Vault `exp`/`nbf`); written only when the provider
/// reports validity dates. It does not affect `Ready`: Key Vault still serves such a secret.
pub const EXPIRING: &str = "Expiring";

/// All condition types SSE-rs writes, in the order they are kept in the status.
pub const CONDITION_TYPES: [&str; 4] = [CREATE, UPDATE, READY, EXPIRING];

/// Reasons of the [`EXPIRING`] condition (and of the Events it fires), worst first.
pub mod expiry_reasons {
    /// An object's `exp` has passed.
    pub const EXPIRED: &str = "ObjectExpired";
    /// An object expires within the warning window.
    pub const EXPIRING: &str = "ObjectExpiring";
    /// An object's `nbf` is still ahead.
    pub const NOT_YET_VALID: &str = "ObjectNotYetValid";
    /// Nothing expires within the warning window (`False`).
    pub const NONE: &str = "NoObjectExpiring";
}

/// Condition `status` value `True`.
pub const STATUS_TRUE: &str = "True";
/// Condition `status` value `False`.
pub const STATUS_FALSE: &str = "False";
/// Condition `status` value `Unknown`.
pub const STATUS_UNKNOWN: &str = "Unknown";

/// Condition reasons (the Arc Secret Store extension vocabulary, docs/API.md#status-reasons).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reason {
    /// The Secret was created.
    CreateSucceeded,
    /// The Secret was checked and already held the current values.
    UpdateNoValueChangeSucceeded,
    /// The Secret was updated because a value changed or `forceSynchronization` changed.
    UpdateValueChangeOrForceUpdateSucceeded,
    /// Some items were written, others failed and keep their last value; the message is a JSON per-item summary.
    PartialSync,
    /// The provider (or the secret store behind it) returned an error.
    ProviderError,
    /// A label reserved for the controller is set in `spec.secretObject.labels`, or the Secret is not ours.
    InvalidClusterSecretLabelError,
    /// An annotation reserved for the controller is set in `spec.secretObject.annotations`.
    InvalidClusterSecretAnnotationError,
    /// The SecretSync (or the data the provider returned for it) is invalid: empty or unknown `sourcePath`, …
    UserInputValidationFailed,
    /// The SecretProviderClass is missing or misconfigured (bad provider name, no provider socket, …).
    /// Arc documentation spelling; upstream wrote `ControllerSPCError` (accepted by [`Reason::from_str`]).
    ControllerSpcError,
    /// An internal error of the controller (e.g. encoding the provider attributes).
    ControllerInternalError,
    /// The API server denied a write because of a ValidatingAdmissionPolicy.
    ValidatingAdmissionPolicyCheckFailed,
    /// The sync failed for another controller-side reason (e.g. a ServiceAccount token could not be minted).
    ControllerSyncFailed,
    /// The cause could not be classified.
    UnknownError,
    /// A `property` or `dataFrom` item could not be read from its object's value: the property is missing, the
    /// value is not JSON, or not an object to spread (beyond upstream; docs/API.md#shaping).
    PropertyError,
    /// A template or whole-file item could not be parsed or rendered: its syntax, a missing name, a function that
    /// is not offered or refused its input, or a render budget (beyond upstream; docs/API.md#shaping).
    TemplateError,
}

impl Reason {
    /// Every reason, in declaration order.
    pub const ALL: [Reason; 15] = [
        Reason::CreateSucceeded,
        Reason::UpdateNoValueChangeSucceeded,
        Reason::UpdateValueChangeOrForceUpdateSucceeded,
        Reason::PartialSync,
        Reason::ProviderError,
        Reason::InvalidClusterSecretLabelError,
        Reason::InvalidClusterSecretAnnotationError,
        Reason::UserInputValidationFailed,
        Reason::ControllerSpcError,
        Reason::ControllerInternalError,
        Reason::ValidatingAdmissionPolicyCheckFailed,
        Reason::ControllerSyncFailed,
        Reason::UnknownError,
        Reason::PropertyError,
        Reason::TemplateError,
    ];

    /// The reason string as written to `status.conditions[].reason` (and used as Event reason / metric label).
    pub const fn as_str(self) -> &'static str {
        match self {
            Reason::CreateSucceeded => "CreateSucceeded",
            Reason::UpdateNoValueChangeSucceeded => "UpdateNoValueChangeSucceeded",
            Reason::UpdateValueChangeOrForceUpdateSucceeded => "UpdateValueChangeOrForceUpdateSucceeded",
            Reason::PartialSync => "PartialSync",
            Reason::ProviderError => "ProviderError",
            Reason::InvalidClusterSecretLabelError => "InvalidClusterSecretLabelError",
            Reason::InvalidClusterSecretAnnotationError => "InvalidClusterSecretAnnotationError",
            Reason::UserInputValidationFailed => "UserInputValidationFailed",
            Reason::ControllerSpcError => "ControllerSpcError",
            Reason::ControllerInternalError => "ControllerInternalError",
            Reason::ValidatingAdmissionPolicyCheckFailed => "ValidatingAdmissionPolicyCheckFailed",
            Reason::ControllerSyncFailed => "ControllerSyncFailed",
            Reason::UnknownError => "UnknownError",
            Reason::PropertyError => "PropertyError",
            Reason::TemplateError => "TemplateError",
        }
    }

    /// True for the healthy outcomes (the Secret holds every last observed value): `CreateSucceeded`,
    /// `UpdateNoValueChangeSucceeded`, `UpdateValueChangeOrForceUpdateSucceeded`. `PartialSync` is not a success:
    /// at least one item is stale.
    pub const fn is_success(self) -> bool {
        matches!(
            self,
            Reason::CreateSucceeded
                | Reason::UpdateNoValueChangeSucceeded
                | Reason::UpdateValueChangeOrForceUpdateSucceeded
        )
    }

    /// Condition `status` that goes with this reason: [`STATUS_TRUE`] for a success, else [`STATUS_FALSE`].
    pub const fn status(self) -> &'static str {
        if self.is_success() {
            STATUS_TRUE
        } else {
            STATUS_FALSE
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error of [`Reason::from_str`]: the string is not a known reason.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown SecretSync condition reason {0:?}")]
pub struct UnknownReason(pub String);

impl FromStr for Reason {
    type Err = UnknownReason;

    /// Parses a reason string; also accepts the upstream spelling `ControllerSPCError`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "ControllerSPCError" {
            return Ok(Reason::ControllerSpcError);
        }
        Reason::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| UnknownReason(s.to_owned()))
    }
}

/// Builds a condition of type `type_` whose status follows `reason` ([`Reason::status`]), with
/// `lastTransitionTime = now`. Merge it with [`set_condition`], which keeps the old transition time when the
/// status did not change.
///
/// The message is cut to fit the CRD ([`fit_message`]): a longer one would make the API server refuse the
/// whole status write.
pub fn new_condition(
    type_: &str,
    reason: Reason,
    message: impl Into<String>,
    observed_generation: Option<i64>,
    now: Time,
) -> Condition {
    Condition {
        type_: type_.to_owned(),
        status: reason.status().to_owned(),
        reason: reason.as_str().to_owned(),
        message: fit_message(message.into()),
        observed_generation,
        last_transition_time: now,
    }
}

/// The schema's `maxLength` of a condition's `message` (metav1.Condition, in every CRD of ours): the API
/// server answers 422 to a status write carrying a longer one, and the status is then not written at all.
pub const MESSAGE_MAX_LENGTH: usize = 32_768;

/// Where [`fit_message`] cuts: below [`MESSAGE_MAX_LENGTH`] with room for the note saying how much was cut.
/// Counted in bytes, which are never fewer than the characters the schema counts.
pub const MESSAGE_BUDGET: usize = MESSAGE_MAX_LENGTH - 256;

/// `message` as it fits a condition: unchanged when short enough, else cut at a character boundary at most
/// [`MESSAGE_BUDGET`] bytes in, followed by how many bytes were left out.
pub fn fit_message(message: String) -> String {
    if message.len() <= MESSAGE_BUDGET {
        return message;
    }
    let end = message.floor_char_boundary(MESSAGE_BUDGET);
    let omitted = message.len() - end;
    format!("{}… ({omitted} more bytes omitted)", &message[..end])
}

/// The condition of type `type_`, if present.
pub fn find_condition<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// True when the condition of type `type_` is present with status `True`.
pub fn is_condition_true(conditions: &[Condition], type_: &str) -> bool {
    find_condition(conditions, type_).is_some_and(|c| c.status == STATUS_TRUE)
}

/// Merges `new` into `conditions` with `meta.SetStatusCondition` semantics and returns whether anything changed.
///
/// * No condition of that type yet: `new` is appended as is (its `lastTransitionTime` is the transition time).
/// * Same type present: `status`, `reason`, `message` and `observedGeneration` are overwritten;
///   `lastTransitionTime` is set to `new.lastTransitionTime` only when `status` changed, otherwise kept.
pub fn set_condition(conditions: &mut Vec<Condition>, new: Condition) -> bool {
    let Some(existing) = conditions.iter_mut().find(|c| c.type_ == new.type_) else {
        conditions.push(new);
        return true;
    };
    let mut changed = false;
    if existing.status != new.status {
        existing.status = new.status;
        existing.last_transition_time = new.last_transition_time;
        changed = true;
    }
    if existing.reason != new.reason {
        existing.reason = new.reason;
        changed = true;
    }
    if existing.message != new.message {
        existing.message = new.message;
        changed = true;
    }
    if existing.observed_generation != new.observed_generation {
        existing.observed_generation = new.observed_generation;
        changed = true;
    }
    changed
}

/// Removes the condition of type `type_`; returns whether one was removed.
pub fn remove_condition(conditions: &mut Vec<Condition>, type_: &str) -> bool {
    let before = conditions.len();
    conditions.retain(|c| c.type_ != type_);
    conditions.len() != before
}

#[cfg(test)]
mod tests {
    use k8s_openapi::jiff::Timestamp;

    use super::*;

    fn t(secs: i64) -> Time {
        Time(Timestamp::from_second(secs).expect("valid timestamp"))
    }

    #[test]
    fn a_long_message_is_cut_to_fit_the_schema_at_a_character_boundary() {
        let short = "no such SPC".to_string();
        assert_eq!(fit_message(short.clone()), short);
        // 'é' is two bytes: the cut falls inside one unless it moves back to a boundary.
        let long = "é".repeat(MESSAGE_MAX_LENGTH);
        let fitted = new_condition(READY, Reason::ControllerSyncFailed, long.clone(), None, t(0)).message;
        assert!(fitted.chars().count() <= MESSAGE_MAX_LENGTH, "{}", fitted.len());
        assert!(fitted.len() <= MESSAGE_MAX_LENGTH);
        assert!(long.starts_with(fitted.trim_end_matches(|c: char| c != 'é')));
        let omitted = long.len() - MESSAGE_BUDGET;
        assert!(
            fitted.ends_with(&format!("… ({omitted} more bytes omitted)")),
            "{}",
            &fitted[fitted.len() - 60..]
        );
    }

    #[test]
    fn reason_strings_are_the_arc_vocabulary() {
        let want = [
            "CreateSucceeded",
            "UpdateNoValueChangeSucceeded",
            "UpdateValueChangeOrForceUpdateSucceeded",
            "PartialSync",
            "ProviderError",
            "InvalidClusterSecretLabelError",
            "InvalidClusterSecretAnnotationError",
            "UserInputValidationFailed",
            "ControllerSpcError",
            "ControllerInternalError",
            "ValidatingAdmissionPolicyCheckFailed",
            "ControllerSyncFailed",
            "UnknownError",
            "PropertyError",
            "TemplateError",
        ];
        let got: Vec<_> = Reason::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(got, want);
        for r in Reason::ALL {
            assert_eq!(r.to_string(), r.as_str());
            assert_eq!(r.as_str().parse::<Reason>(), Ok(r));
            // Condition reason schema: ^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$, 1..=1024 chars.
            assert!(r.as_str().bytes().all(|b| b.is_ascii_alphanumeric()));
        }
        assert_eq!(
            "ControllerSPCError".parse::<Reason>(),
            Ok(Reason::ControllerSpcError)
        );
        assert_eq!("Nope".parse::<Reason>(), Err(UnknownReason("Nope".into())));
    }

    #[test]
    fn success_reasons() {
        let ok: Vec<_> = Reason::ALL.into_iter().filter(|r| r.is_success()).collect();
        assert_eq!(
            ok,
            [
                Reason::CreateSucceeded,
                Reason::UpdateNoValueChangeSucceeded,
                Reason::UpdateValueChangeOrForceUpdateSucceeded
            ]
        );
        assert_eq!(Reason::CreateSucceeded.status(), STATUS_TRUE);
        assert_eq!(Reason::PartialSync.status(), STATUS_FALSE);
        assert_eq!(Reason::ProviderError.status(), STATUS_FALSE);
    }

    #[test]
    fn set_condition_appends_new_type() {
        let mut conds = Vec::new();
        assert!(set_condition(
            &mut conds,
            new_condition(READY, Reason::CreateSucceeded, "ok", Some(1), t(10))
        ));
        assert_eq!(conds.len(), 1);
        assert_eq!(conds[0].type_, READY);
        assert_eq!(conds[0].status, STATUS_TRUE);
        assert_eq!(conds[0].reason, "CreateSucceeded");
        assert_eq!(conds[0].last_transition_time, t(10));
        assert!(set_condition(
            &mut conds,
            new_condition(CREATE, Reason::CreateSucceeded, "ok", Some(1), t(10))
        ));
        assert_eq!(conds.len(), 2);
    }

    #[test]
    fn set_condition_keeps_transition_time_when_status_unchanged() {
        let mut conds = vec![new_condition(
            UPDATE,
            Reason::ProviderError,
            "vault down",
            Some(1),
            t(10),
        )];
        let changed = set_condition(
            &mut conds,
            new_condition(UPDATE, Reason::ControllerSpcError, "no such SPC", Some(2), t(20)),
        );
        assert!(changed);
        assert_eq!(conds.len(), 1);
        let c = &conds[0];
        assert_eq!(c.status, STATUS_FALSE);
        assert_eq!(c.reason, "ControllerSpcError");
        assert_eq!(c.message, "no such SPC");
        assert_eq!(c.observed_generation, Some(2));
        assert_eq!(
            c.last_transition_time,
            t(10),
            "status unchanged: transition time kept"
        );
    }

    #[test]
    fn set_condition_moves_transition_time_when_status_changes() {
        let mut conds = vec![new_condition(
            READY,
            Reason::ProviderError,
            "vault down",
            Some(1),
            t(10),
        )];
        assert!(set_condition(
            &mut conds,
            new_condition(
                READY,
                Reason::UpdateValueChangeOrForceUpdateSucceeded,
                "",
                Some(1),
                t(30)
            ),
        ));
        assert_eq!(conds[0].status, STATUS_TRUE);
        assert_eq!(conds[0].last_transition_time, t(30));
        assert_eq!(conds[0].message, "");
    }

    #[test]
    fn set_condition_reports_no_change() {
        let mut conds = vec![new_condition(
            READY,
            Reason::UpdateNoValueChangeSucceeded,
            "m",
            Some(3),
            t(10),
        )];
        let before = conds.clone();
        // Same content, later "now": nothing changes, not even the transition time.
        assert!(!set_condition(
            &mut conds,
            new_condition(READY, Reason::UpdateNoValueChangeSucceeded, "m", Some(3), t(99)),
        ));
        assert_eq!(conds, before);
    }

    #[test]
    fn set_condition_leaves_other_types_alone() {
        let mut conds = vec![
            new_condition(CREATE, Reason::CreateSucceeded, "created", Some(1), t(1)),
            new_condition(
                UPDATE,
                Reason::UpdateNoValueChangeSucceeded,
                "same",
                Some(1),
                t(2),
            ),
        ];
        set_condition(
            &mut conds,
            new_condition(UPDATE, Reason::ProviderError, "boom", Some(1), t(3)),
        );
        assert_eq!(
            conds[0],
            new_condition(CREATE, Reason::CreateSucceeded, "created", Some(1), t(1))
        );
        assert_eq!(conds[1].reason, "ProviderError");
        assert_eq!(conds[1].last_transition_time, t(3));
    }

    #[test]
    fn find_and_remove() {
        let mut conds = vec![
            new_condition(CREATE, Reason::CreateSucceeded, "", None, t(1)),
            new_condition(READY, Reason::ProviderError, "", None, t(1)),
        ];
        assert!(is_condition_true(&conds, CREATE));
        assert!(!is_condition_true(&conds, READY));
        assert!(!is_condition_true(&conds, UPDATE));
        assert_eq!(
            find_condition(&conds, READY).map(|c| c.reason.as_str()),
            Some("ProviderError")
        );
        assert!(remove_condition(&mut conds, CREATE));
        assert!(!remove_condition(&mut conds, CREATE));
        assert_eq!(conds.len(), 1);
    }
}
