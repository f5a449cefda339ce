//! The API server's answers that were not success, as the manager tells them apart.

/// An API-server answer that was not success: code, reason and message as the server sent them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ClusterError {
    /// HTTP status (0 when no answer came back).
    pub code: u16,
    /// Machine reason, e.g. `Forbidden`, `Invalid`, `NotFound`.
    pub reason: String,
    /// The server's message (never contains secret values: Secret data is not echoed in errors).
    pub message: String,
    /// Whether the answer's `details` named an object, a kind or causes (validation errors do; the generic
    /// answer to an inapplicable patch does not).
    pub has_details: bool,
}

/// The message of kube-apiserver's answer to a JSON patch that cannot be applied to the stored object.
///
/// Observed on kube-apiserver v1.32.13 for `PATCH application/json-patch+json` on a Secret: a `test` whose
/// value differs, a `test` or `add` whose path is missing — every one answers **422, reason `Invalid`,
/// this message, `details: {}`**. The patch library's own text ("testing value … failed") is dropped:
/// `endpoints/handlers/patch.go` wraps it in apimachinery's `NewGenericServerResponse(422, …)`.
pub const PATCH_NOT_APPLICABLE: &str = "the server rejected our request due to an error in our request";

impl ClusterError {
    /// An error with these parts (and no details).
    pub fn new(code: u16, reason: &str, message: &str) -> Self {
        Self {
            code,
            reason: reason.to_string(),
            message: message.to_string(),
            has_details: false,
        }
    }

    /// What kube-apiserver answers for a JSON patch it cannot apply (see [`PATCH_NOT_APPLICABLE`]).
    pub fn patch_not_applicable() -> Self {
        Self::new(422, "Invalid", PATCH_NOT_APPLICABLE)
    }

    /// kube-apiserver's 404 for a missing object: `secrets "db" not found`, details naming it.
    pub fn not_found(resource: &str, name: &str) -> Self {
        Self {
            has_details: true,
            ..Self::new(404, "NotFound", &format!("{resource} {name:?} not found"))
        }
    }

    /// kube-apiserver's 409 for a stale `metadata.resourceVersion` precondition.
    pub fn conflict(resource: &str, name: &str) -> Self {
        Self {
            has_details: true,
            ..Self::new(
                409,
                "Conflict",
                &format!(
                    "Operation cannot be fulfilled on {resource} {name:?}: the object has been modified; please \
                     apply your changes to the latest version and try again"
                ),
            )
        }
    }

    /// kube-apiserver's 409 for a create of an object that exists: `secretsyncs.secret-sync.x-k8s.io "x" already
    /// exists`, details naming it.
    pub fn already_exists(resource: &str, name: &str) -> Self {
        Self {
            has_details: true,
            ..Self::new(
                409,
                "AlreadyExists",
                &format!("{resource} {name:?} already exists"),
            )
        }
    }

    /// 404.
    pub fn is_not_found(&self) -> bool {
        self.code == 404
    }

    /// 422 (validation, or an inapplicable patch).
    pub fn is_invalid(&self) -> bool {
        self.code == 422
    }

    /// The JSON patch could not be applied to the stored object (a `test` did not hold, or a path is
    /// missing) — as opposed to a real validation error such as a Secret over 1 MiB, which names the object
    /// and its causes. For a patch made only of `test` operations this means exactly "a test failed".
    pub fn is_patch_not_applicable(&self) -> bool {
        self.code == 422
            && self.reason == "Invalid"
            && self.message == PATCH_NOT_APPLICABLE
            && !self.has_details
    }

    /// Refused by a ValidatingAdmissionPolicy or an admission webhook.
    pub fn is_admission_denial(&self) -> bool {
        let m = self.message.to_ascii_lowercase();
        (self.code == 403 || self.code == 422 || self.code == 400)
            && (m.contains("validatingadmissionpolicy") || m.contains("admission webhook"))
    }

    /// Worth retrying soon: no answer, throttled, conflict or a server-side failure.
    pub fn is_transient(&self) -> bool {
        self.code == 0 || self.code == 409 || self.code == 429 || self.code >= 500
    }
}

impl From<kube::Error> for ClusterError {
    fn from(error: kube::Error) -> Self {
        match error {
            kube::Error::Api(status) => Self {
                code: status.code,
                reason: status.reason.clone(),
                message: status.message.clone(),
                has_details: status.details.as_ref().is_some_and(|d| {
                    !d.name.is_empty() || !d.kind.is_empty() || !d.group.is_empty() || !d.causes.is_empty()
                }),
            },
            other => Self {
                code: 0,
                reason: "ClientError".into(),
                message: other.to_string(),
                has_details: false,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The answers as kube-apiserver v1.32.13 sent them (status JSON decoded by kube-rs).
    fn from_status(json: serde_json::Value) -> ClusterError {
        let status: kube::core::Status = serde_json::from_value(json).unwrap();
        ClusterError::from(kube::Error::Api(Box::new(status)))
    }

    #[test]
    fn an_inapplicable_patch_is_told_from_a_validation_error() {
        let failed_test = from_status(serde_json::json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "the server rejected our request due to an error in our request",
            "reason": "Invalid", "details": {}, "code": 422
        }));
        assert!(failed_test.is_patch_not_applicable());
        assert_eq!(failed_test, ClusterError::patch_not_applicable());
        let too_large = from_status(serde_json::json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "Secret \"s\" is invalid: data: Too long: may not be more than 1048576 bytes",
            "reason": "Invalid",
            "details": {"name": "s", "kind": "Secret", "causes": [
                {"reason": "FieldValueTooLong", "message": "Too long: may not be more than 1048576 bytes", "field": "data"}
            ]},
            "code": 422
        }));
        assert!(!too_large.is_patch_not_applicable() && too_large.is_invalid());
        let absent = from_status(serde_json::json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "secrets \"s\" not found", "reason": "NotFound",
            "details": {"name": "s", "kind": "secrets"}, "code": 404
        }));
        assert_eq!(absent, ClusterError::not_found("secrets", "s"));
        let stale = from_status(serde_json::json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "Operation cannot be fulfilled on secrets \"s\": the object has been modified; please apply your changes to the latest version and try again",
            "reason": "Conflict", "details": {"name": "s", "kind": "secrets"}, "code": 409
        }));
        assert_eq!(stale, ClusterError::conflict("secrets", "s"));
        assert!(stale.is_transient());
    }

    #[test]
    fn error_classification() {
        let vap = ClusterError::new(
            403,
            "Forbidden",
            "secrets \"x\" is forbidden: ValidatingAdmissionPolicy 'p' with binding 'p-binding' denied request: no",
        );
        assert!(vap.is_admission_denial() && !vap.is_transient());
        let rbac = ClusterError::new(403, "Forbidden", "secrets \"x\" is forbidden: User cannot patch");
        assert!(!rbac.is_admission_denial());
        assert!(ClusterError::new(503, "ServiceUnavailable", "x").is_transient());
        assert!(ClusterError::new(0, "ClientError", "connection refused").is_transient());
        assert!(!ClusterError::new(422, "Invalid", "x").is_transient());
    }
}
