//! Why a sync failed, and what that means: the status reason (docs/API.md#status-reasons), the message (the
//! real cause, never a secret value), and whether retrying soon can help.
//!
//! Every variant maps to its reason and class by an exhaustive `match`, so a new failure cannot be added
//! without deciding how it is reported and retried.

use sse_api::Reason;
use sse_api::validation::ValidationError;

use crate::cluster::ClusterError;
use crate::mapping::MappingError;
use crate::provider::ProviderError;

/// Whether retrying soon can help.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// Network, provider, vault or API-server trouble: retry with backoff.
    Transient,
    /// The user must change something: retried only slowly (a spec change retriggers at once).
    Permanent,
}

/// A failed sync.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The SecretSync spec is invalid.
    #[error("{0}")]
    InvalidSpec(#[from] ValidationError),
    /// The SecretProviderClass does not exist in the SecretSync's namespace.
    #[error(
        "failed to get SecretProviderClass {name:?}: SecretProviderClass.secrets-store.csi.x-k8s.io {name:?} not found"
    )]
    ProviderClassNotFound {
        /// Its name.
        name: String,
    },
    /// The provider could not be reached, or it failed.
    #[error("fetching secrets from the provider failed: {0}")]
    Provider(#[from] ProviderError),
    /// A service-account token could not be minted.
    #[error("fetching secrets from the provider failed: failed to fetch token: {0}")]
    Token(ClusterError),
    /// The provider's files do not fit the SecretSync's data mapping.
    #[error("fetching secrets from the provider failed: {0}")]
    Mapping(MappingError),
    /// The values could not be shaped (docs/API.md#shaping): a property, an extraction, a template or a file.
    #[error("{0}")]
    Shape(#[from] sse_shape::plan::ShapeError),
    /// A Secret of that name exists and is not ours: it is left untouched.
    #[error(
        "secret {namespace}/{name} already exists and is not managed by this SecretSync (it lacks the label secrets-store.sync.x-k8s.io=\"\" or the owner reference to SecretSync {name}); it was left untouched: delete or rename that secret, rename the SecretSync, or let SSE-rs take it over in place with kubectl annotate secret {name} -n {namespace} sse-rs.io/adoptable=true"
    )]
    ForeignSecret {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
    },
    /// A Secret marked adoptable that the API server did not let SSE-rs take over: with the
    /// OwnerReferencesPermissionEnforcement admission plugin, setting an owner reference on an existing
    /// object needs `delete` on it, which the manager does not have (docs/ADMISSION.md#manager-rbac). The
    /// person who marked it hands it over instead. The Secret is left as it was.
    #[error(
        "secret {namespace}/{name} is marked sse-rs.io/adoptable, but the API server refused to let SSE-rs set its owner reference ({message}); it was left as it was: hand it over with kubectl sse adopt {name} -n {namespace}"
    )]
    AdoptionRefused {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
        /// The server's answer.
        message: String,
    },
    /// Writing the Secret failed.
    #[error("failed to patch secret {name:?}: {source}")]
    Apply {
        /// Secret name.
        name: String,
        /// The API server's answer.
        source: ClusterError,
    },
    /// The sync took longer than `--reconcile-timeout` and was abandoned.
    #[error("the sync did not finish within {0:?}; it was abandoned and will be retried")]
    TimedOut(std::time::Duration),
    /// A bug or an impossible state.
    #[error("internal error: {0}")]
    Internal(String),
}

/// A mapping failure; a data item's `property` that could not be read is a shaping failure (`PropertyError`).
impl From<MappingError> for SyncError {
    fn from(error: MappingError) -> Self {
        match error {
            MappingError::Property(e) => Self::Shape(e),
            other => Self::Mapping(other),
        }
    }
}

impl SyncError {
    /// The condition reason (also the Event reason and the metric label).
    pub fn reason(&self) -> Reason {
        match self {
            Self::InvalidSpec(e) => e.reason(),
            Self::ProviderClassNotFound { .. } => Reason::ControllerSpcError,
            Self::Provider(e) if e.is_configuration() => Reason::ControllerSpcError,
            Self::Provider(_) => Reason::ProviderError,
            Self::Token(e) | Self::Apply { source: e, .. } if e.is_admission_denial() => {
                Reason::ValidatingAdmissionPolicyCheckFailed
            }
            Self::Token(_) => Reason::ControllerSyncFailed,
            Self::Mapping(_) => Reason::UserInputValidationFailed,
            Self::Shape(e) if e.is_property() => Reason::PropertyError,
            Self::Shape(_) => Reason::TemplateError,
            Self::ForeignSecret { .. } | Self::AdoptionRefused { .. } => {
                Reason::InvalidClusterSecretLabelError
            }
            Self::Apply { source, .. } if source.is_invalid() => Reason::UserInputValidationFailed,
            Self::Apply { source, .. } if source.is_transient() => Reason::ControllerSyncFailed,
            Self::Apply { .. } => Reason::UnknownError,
            Self::TimedOut(_) => Reason::ControllerSyncFailed,
            Self::Internal(_) => Reason::ControllerInternalError,
        }
    }

    /// The failed outcome this error records in status.
    pub fn outcome(&self) -> crate::outcome::Outcome {
        crate::outcome::Outcome::Failed {
            reason: self.reason(),
            message: self.to_string(),
        }
    }

    /// Whether retrying soon can help.
    pub fn class(&self) -> Class {
        match self {
            Self::InvalidSpec(_) | Self::Mapping(_) | Self::Shape(_) | Self::ProviderClassNotFound { .. } => {
                Class::Permanent
            }
            // Usually a user's Secret; but also our own Secret of a deleted-and-recreated SecretSync that
            // garbage collection has not removed yet, which clears by itself: retry with backoff.
            Self::ForeignSecret { .. } => Class::Transient,
            // Until someone hands it over (kubectl sse adopt), which changes the Secret and is then seen
            // at the next check.
            Self::AdoptionRefused { .. } => Class::Permanent,
            Self::Provider(e) if e.is_configuration() || e.is_rejected() => Class::Permanent,
            Self::Provider(_) | Self::Internal(_) | Self::TimedOut(_) => Class::Transient,
            Self::Token(e) | Self::Apply { source: e, .. } => {
                if e.is_transient() {
                    Class::Transient
                } else {
                    Class::Permanent
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_and_classes() {
        let spc = SyncError::ProviderClassNotFound { name: "kv".into() };
        assert_eq!(spc.reason(), Reason::ControllerSpcError);
        assert_eq!(
            spc.to_string(),
            "failed to get SecretProviderClass \"kv\": SecretProviderClass.secrets-store.csi.x-k8s.io \"kv\" not found"
        );
        let missing = SyncError::Provider(ProviderError::NotFound("nosuch".into()));
        assert_eq!(missing.reason(), Reason::ControllerSpcError);
        assert_eq!(missing.class(), Class::Permanent);
        assert_eq!(
            missing.to_string(),
            "fetching secrets from the provider failed: provider not found: provider \"nosuch\""
        );
        let down = SyncError::Provider(ProviderError::Rpc {
            code: tonic::Code::Unavailable,
            message: "x".into(),
        });
        assert_eq!(
            (down.reason(), down.class()),
            (Reason::ProviderError, Class::Transient)
        );
        let rejected = SyncError::Provider(ProviderError::Rpc {
            code: tonic::Code::InvalidArgument,
            message: "failed to mount objects, error: objects is not set".into(),
        });
        assert_eq!(
            (rejected.reason(), rejected.class()),
            (Reason::ProviderError, Class::Permanent),
            "a request the provider rejects is not retried with backoff"
        );
        let denied = SyncError::Apply {
            name: "s".into(),
            source: ClusterError::new(
                403,
                "Forbidden",
                "secrets \"s\" is forbidden: ValidatingAdmissionPolicy 'p' with binding 'b' denied request: no",
            ),
        };
        assert_eq!(denied.reason(), Reason::ValidatingAdmissionPolicyCheckFailed);
        assert_eq!(denied.class(), Class::Permanent);
        let invalid = SyncError::Apply {
            name: "s".into(),
            source: ClusterError::new(422, "Invalid", "Secret \"s\" is invalid"),
        };
        assert_eq!(invalid.reason(), Reason::UserInputValidationFailed);
        let flaky = SyncError::Apply {
            name: "s".into(),
            source: ClusterError::new(503, "ServiceUnavailable", "etcd"),
        };
        assert_eq!(
            (flaky.reason(), flaky.class()),
            (Reason::ControllerSyncFailed, Class::Transient)
        );
        let foreign = SyncError::ForeignSecret {
            namespace: "app".into(),
            name: "db".into(),
        };
        assert_eq!(foreign.reason(), Reason::InvalidClusterSecretLabelError);
        assert_eq!(
            foreign.class(),
            Class::Transient,
            "recovers once garbage collection removed a stale Secret"
        );
        assert!(foreign.to_string().contains("left untouched"));
    }
}
