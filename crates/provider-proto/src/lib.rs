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

/// Fully-qualified gRPC service name.
pub const SERVICE_NAME: &str = "v1alpha1.CSIDriverProvider";

/// The API version both sides speak.
pub const API_VERSION: &str = "v1alpha1";
