//! TLS plumbing shared by the manager and the provider.
//!
//! Between the two containers SSE-rs speaks **mutual TLS over a Unix socket**. The certificate, key and CA
//! bundle are files mounted from cert-manager Secrets, which rotate underneath a running process. [`ServerTls`] and [`ClientTls`] therefore hold the current `rustls` config behind a lock
//! and rebuild it when the files change ([`Reloader`]); every new connection uses the config current at
//! accept/connect time, so a rotated certificate is served without a restart.
//!
//! With the `test-pki` feature, [`pki`] mints a CA and leaf certificates the way cert-manager would, for
//! tests, benchmarks and the demo.

mod channel;
mod config;
pub mod gopem;
mod reload;

#[cfg(feature = "test-pki")]
pub mod pki;

pub use channel::{SERVER_NAME, unix_channel};
pub use config::{ClientTls, ServerTls, TlsFiles};
pub use reload::Reloader;

/// The identity of the manager's client certificate (a DNS subject alternative name, as cert-manager
/// issues it in deploy/tls): what the provider accepts by default.
pub const MANAGER_IDENTITY: &str = "secrets-store-sync-controller-manager";

/// Errors while loading TLS material.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read.
    #[error("failed to read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A PEM file held no usable item of the expected kind.
    #[error("{path}: {what}")]
    Pem {
        /// The file.
        path: String,
        /// What was wrong.
        what: String,
    },
    /// rustls refused the material.
    #[error("invalid TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    /// The client-certificate verifier could not be built.
    #[error("invalid client CA bundle: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
}

/// Install the process-wide rustls crypto provider (aws-lc-rs), once. Every binary and test harness calls
/// this first: a second provider compiled into the graph would otherwise make rustls refuse to choose.
pub fn install_crypto_provider() {
    // Err only means a provider is already installed, which is what we want.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}
