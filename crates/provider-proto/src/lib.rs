//! The Secrets Store CSI provider contract, `v1alpha1.CSIDriverProvider`, as tonic/prost code.
//!
//! The code under `src/gen` is generated from `proto/v1alpha1/service.proto` by `cargo xtask gen-proto`
//! (pure Rust: `protox` parses the proto, `tonic-prost-build` writes the code), so no `protoc` is needed
//! to build or test. CI regenerates it and fails on any difference.

/// Package `v1alpha1`: the provider service, its client and its messages.
#[allow(clippy::all, clippy::pedantic, missing_docs, rust_2018_idioms)]
pub mod v1alpha1 {
    include!("gen/v1alpha1.rs");
}

/// Package `ssers.v1alpha1`: SSE-rs's optional change-detection service, served beside the provider
/// service on the same socket (see `proto/ssers/v1alpha1/changes.proto`).
#[allow(clippy::all, clippy::pedantic, missing_docs, rust_2018_idioms)]
pub mod ssers {
    include!("gen/ssers.v1alpha1.rs");
}

pub mod contract;

/// Fully-qualified gRPC service name.
pub const SERVICE_NAME: &str = "v1alpha1.CSIDriverProvider";

/// The API version both sides speak.
pub const API_VERSION: &str = "v1alpha1";

// Hand-written `Debug` for the messages that carry secrets: tokens travel in `attributes` and `secrets`,
// secret values in `File::contents`. Only sizes and non-secret fields are shown.
/// What `Debug` shows of a field that carries a token or a secret value: its length only.
struct Redacted(usize);

impl std::fmt::Debug for Redacted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<{} bytes redacted>", self.0)
    }
}

impl std::fmt::Debug for v1alpha1::MountRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MountRequest")
            .field("attributes", &Redacted(self.attributes.len()))
            .field("secrets", &Redacted(self.secrets.len()))
            .field("target_path", &self.target_path)
            .field("permission", &self.permission)
            .field("current_object_version", &self.current_object_version)
            .finish()
    }
}

impl std::fmt::Debug for ssers::FingerprintsRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FingerprintsRequest")
            .field("attributes", &Redacted(self.attributes.len()))
            .field("secrets", &Redacted(self.secrets.len()))
            .field("not_before_unix_millis", &self.not_before_unix_millis)
            .finish()
    }
}

impl std::fmt::Debug for v1alpha1::MountResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MountResponse")
            .field("object_version", &self.object_version)
            .field("error", &self.error)
            .field("files", &self.files)
            .finish()
    }
}

impl std::fmt::Debug for v1alpha1::File {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("File")
            .field("path", &self.path)
            .field("mode", &self.mode)
            .field("contents", &Redacted(self.contents.len()))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::v1alpha1::{File, MountRequest, MountResponse};

    #[test]
    fn debug_output_redacts_tokens_and_contents() {
        let request = MountRequest {
            attributes: r#"{"csi.storage.k8s.io/serviceAccount.tokens":"SECRET-JWT"}"#.into(),
            secrets: r#"{"clientsecret":"SECRET-CS"}"#.into(),
            ..MountRequest::default()
        };
        let response = MountResponse {
            files: vec![File {
                path: "db".into(),
                mode: 420,
                contents: b"SECRET-VALUE".to_vec(),
            }],
            ..MountResponse::default()
        };
        let text = format!("{request:?} {response:?}");
        assert!(!text.contains("SECRET"), "{text}");
        assert!(text.contains("\"db\""), "{text}");
    }
}
