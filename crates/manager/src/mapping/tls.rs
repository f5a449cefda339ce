//! `kubernetes.io/tls` post-processing (docs/API.md#kubernetesiotls-keys): the private key (`tls.key`) and
//! the certificates (`tls.crt`) out of PEM or PKCS#12 (PFX) provider content, and, beyond upstream (which
//! refuses every other key), the issuing chain (`ca.crt`, the key cert-manager and ingress controllers read
//! for the CA). The rules themselves live in `sse_shape::pem`, which templates call too; this is their
//! key-name dispatch and the mapping's error type.
//!
//! Errors never carry key or certificate bytes; at most a PEM block label (sanitised) is named.

use sse_shape::pem::{self, PemError};
#[cfg(test)]
use sse_tls::gopem;

pub use sse_shape::pem::Pkcs12Problem;

/// Why `tls.key` / `tls.crt` content could not be produced. The `Display` texts are the `<err>` part of
/// `failed to get cert data for <key>: <err>`; none contains secret material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertError {
    /// A TLS-typed SecretSync maps a key other than `tls.key` / `tls.crt` / `ca.crt` (upstream's text, with
    /// `ca.crt` added).
    #[error("key '{key}' is not supported. Only 'tls.key', 'tls.crt' and 'ca.crt' are supported")]
    UnsupportedKey {
        /// The target key.
        key: String,
    },
    /// A PKCS#8 key of an algorithm other than RSA or ECDSA, e.g. Ed25519 (upstream text).
    #[error("{}", PemError::UnknownPrivateKeyType)]
    UnknownPrivateKeyType,
    /// An EC key on a curve Go's `crypto/x509` does not know (upstream silently wrote an empty key).
    #[error("{}", PemError::UnsupportedCurve { curve: curve.clone() })]
    UnsupportedCurve {
        /// The named curve's OID (public information).
        curve: String,
    },
    /// The selected key (last non-`CERTIFICATE` PEM block, or the PKCS#12 key bag) is not an unencrypted
    /// PKCS#1, PKCS#8 or SEC1 private key (upstream silently wrote an empty `PRIVATE KEY` block).
    #[error("{}", PemError::InvalidPrivateKey { origin: origin.clone() })]
    InvalidPrivateKey {
        /// `PEM block "<label>"` or `the PKCS#12 private key`.
        origin: String,
    },
    /// No non-`CERTIFICATE` PEM block, and the rest is not PKCS#12 or holds no key (upstream: a PKCS#12 parse
    /// error, or an empty `PRIVATE KEY` block).
    #[error("{}", PemError::NoPrivateKey)]
    NoPrivateKey,
    /// No `CERTIFICATE` PEM block, and the rest is not PKCS#12 or holds no certificate.
    #[error("{}", PemError::NoCertificate)]
    NoCertificate,
    /// `ca.crt` asked for, but the data holds the leaf certificate alone and it is not self-signed.
    #[error("{}", PemError::NoIssuingChain)]
    NoIssuingChain,
    /// The content looks like PKCS#12 but cannot be read with the empty password.
    #[error("{0}")]
    Pkcs12(Pkcs12Problem),
}

impl From<PemError> for CertError {
    fn from(e: PemError) -> Self {
        match e {
            PemError::UnknownPrivateKeyType => Self::UnknownPrivateKeyType,
            PemError::UnsupportedCurve { curve } => Self::UnsupportedCurve { curve },
            PemError::InvalidPrivateKey { origin } => Self::InvalidPrivateKey { origin },
            PemError::NoPrivateKey => Self::NoPrivateKey,
            PemError::NoCertificate => Self::NoCertificate,
            PemError::NoIssuingChain => Self::NoIssuingChain,
            PemError::Pkcs12(p) => Self::Pkcs12(p),
        }
    }
}

/// The TLS post-processing of one value (docs/API.md#kubernetesiotls-keys): `tls.key` → one
/// `RSA PRIVATE KEY` / `EC PRIVATE KEY` block, `tls.crt` → the certificate blocks, `ca.crt` → the issuing
/// chain; any other key is not supported.
pub(crate) fn cert_part(data: &[u8], key: &str) -> Result<Vec<u8>, CertError> {
    let part = match key {
        "tls.key" => pem::key(data),
        "tls.crt" => pem::certificates(data),
        "ca.crt" => pem::chain(data),
        _ => return Err(CertError::UnsupportedKey { key: key.to_owned() }),
    };
    part.map_err(CertError::from)
}

/// Labels of the blocks of `pem`, for tests and diagnostics (no contents).
#[cfg(test)]
pub(crate) fn labels(pem: &[u8]) -> Vec<String> {
    gopem::decode_all(pem)
        .0
        .iter()
        .map(|b| String::from_utf8_lossy(b.label).into_owned())
        .collect()
}

/// The decoded blocks of `pem` as (label, DER) pairs, for tests.
#[cfg(test)]
pub(crate) fn blocks(pem: &[u8]) -> Vec<(String, Vec<u8>)> {
    gopem::decode_all(pem)
        .0
        .into_iter()
        .map(|b| (String::from_utf8_lossy(b.label).into_owned(), b.bytes))
        .collect()
}
