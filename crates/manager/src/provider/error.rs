//! Why a provider call failed, as conditions say it.

/// Why a provider call failed. `Display` is the text recorded in conditions (never secret values).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// The SecretProviderClass names a provider that is not a valid socket name.
    #[error("invalid provider: provider {0:?}")]
    InvalidName(String),
    /// No socket for that provider.
    #[error("provider not found: provider {0:?}")]
    NotFound(String),
    /// The provider requires mutual TLS and no client certificate is configured.
    #[error(
        "provider {0:?} requires mutual TLS but the manager has no client certificate (set --provider-tls-cert-file, or list it in --plaintext-providers)"
    )]
    NoClientCertificate(String),
    /// No answer came from the provider: the connection could not be made or broke (nothing listening on
    /// a stale socket, a refused TLS handshake), or a probe went unanswered. Said as gRPC-Go says a
    /// transport failure, so the condition reads as the original's.
    #[error("rpc error: code = {} desc = {message}", provider_proto::contract::grpc_go::name(*code))]
    Unreachable {
        /// The gRPC status code the client library gave the failure (mostly `Unavailable`).
        code: tonic::Code,
        /// What failed.
        message: String,
    },
    /// The provider answered the call with a gRPC error (`UNAVAILABLE` included: a Key Vault that cannot
    /// be reached or answers 5xx is the provider's answer, not the provider being away).
    #[error("rpc error: code = {} desc = {message}", provider_proto::contract::grpc_go::name(*code))]
    Rpc {
        /// gRPC status code.
        code: tonic::Code,
        /// The provider's message.
        message: String,
    },
    /// The provider answered with `error.code`.
    #[error("mount request failed with provider error code {0}")]
    ErrorCode(String),
    /// The provider answered without object versions.
    #[error("missing object versions")]
    MissingObjectVersions,
}

impl ProviderError {
    /// The provider refused the request as it stands (gRPC `INVALID_ARGUMENT`: bad parameters;
    /// `FAILED_PRECONDITION`: the stored value does not fit the format asked for): the SecretProviderClass
    /// or the vault must change, so retrying soon cannot help.
    pub fn is_rejected(&self) -> bool {
        matches!(
            self,
            Self::Rpc {
                code: tonic::Code::InvalidArgument | tonic::Code::FailedPrecondition,
                ..
            }
        )
    }

    /// Whether the SecretProviderClass is at fault (as opposed to the provider or the backend).
    pub fn is_configuration(&self) -> bool {
        matches!(
            self,
            Self::InvalidName(_) | Self::NotFound(_) | Self::NoClientCertificate(_)
        )
    }
}

impl From<tonic::Status> for ProviderError {
    /// The provider's gRPC answer, as it sent it; or, when the status was made on this side from a
    /// transport error (tonic keeps that error as the status's source; a status decoded from the
    /// provider's trailers has none), [`ProviderError::Unreachable`].
    fn from(status: tonic::Status) -> Self {
        let (code, message) = (status.code(), status.message().to_string());
        if std::error::Error::source(&status).is_some() {
            Self::Unreachable { code, message }
        } else {
            Self::Rpc { code, message }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_texts() {
        assert_eq!(
            ProviderError::NotFound("nosuch".into()).to_string(),
            "provider not found: provider \"nosuch\""
        );
        assert_eq!(
            ProviderError::Rpc {
                code: tonic::Code::Unknown,
                message: "failed to mount objects, error: x".into()
            }
            .to_string(),
            "rpc error: code = Unknown desc = failed to mount objects, error: x"
        );
    }

    #[test]
    fn a_transport_failure_is_unreachable_and_an_answer_is_an_answer() {
        let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused");
        let local = tonic::Status::from_error(Box::new(refused));
        assert!(matches!(
            ProviderError::from(local),
            ProviderError::Unreachable { .. }
        ));
        // What the provider answers when Key Vault is away: its answer, not its absence.
        let answered = tonic::Status::unavailable("failed to mount objects, error: 503");
        let error = ProviderError::from(answered);
        assert_eq!(
            error,
            ProviderError::Rpc {
                code: tonic::Code::Unavailable,
                message: "failed to mount objects, error: 503".into()
            }
        );
        assert_eq!(
            error.to_string(),
            "rpc error: code = Unavailable desc = failed to mount objects, error: 503"
        );
    }
}
