//! What callers write into the store: a secret version, a key's public part, a certificate to import.

use std::collections::BTreeMap;
use std::fmt;

/// A secret version to write with [`Store::set_secret_with`].
#[derive(Clone)]
pub struct SecretInput {
    /// The secret value.
    pub value: String,
    /// `contentType`, free text.
    pub content_type: Option<String>,
    /// `attributes.enabled`.
    pub enabled: bool,
    /// `attributes.nbf`, Unix seconds.
    pub not_before: Option<i64>,
    /// `attributes.exp`, Unix seconds.
    pub expires: Option<i64>,
    /// Tags.
    pub tags: BTreeMap<String, String>,
}

impl Default for SecretInput {
    fn default() -> Self {
        Self {
            value: String::new(),
            content_type: None,
            enabled: true,
            not_before: None,
            expires: None,
            tags: BTreeMap::new(),
        }
    }
}

impl fmt::Debug for SecretInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretInput")
            .field("value", &"<redacted>")
            .field("content_type", &self.content_type)
            .field("enabled", &self.enabled)
            .field("not_before", &self.not_before)
            .field("expires", &self.expires)
            .field("tags", &self.tags)
            .finish()
    }
}

/// Public part of a key, as a JSON Web Key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PublicJwk {
    /// `kty: RSA`; big-endian modulus and exponent.
    Rsa {
        /// Modulus.
        n: Vec<u8>,
        /// Public exponent.
        e: Vec<u8>,
    },
    /// `kty: EC`; curve name (`P-256`, `P-384`, `P-521`, `P-256K`) and coordinates.
    Ec {
        /// Curve name.
        crv: String,
        /// X coordinate.
        x: Vec<u8>,
        /// Y coordinate.
        y: Vec<u8>,
    },
    /// `kty: oct` (symmetric; no public material is ever returned).
    Oct,
}

/// A certificate to import with [`Store::import_certificate`].
#[derive(Clone)]
pub struct CertificateInput {
    /// DER of the leaf certificate (`cer`).
    pub leaf_der: Vec<u8>,
    /// Value of the certificate's managed secret: standard base64 of a PFX (empty password) for
    /// `application/x-pkcs12`, or PEM text (key + chain) for `application/x-pem-file`.
    pub secret_value: String,
    /// `application/x-pkcs12` or `application/x-pem-file`.
    pub content_type: String,
    /// The certificate's public key, served as the managed key.
    pub public_key: PublicJwk,
}

impl fmt::Debug for CertificateInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertificateInput")
            .field("leaf_der", &format_args!("<{} bytes>", self.leaf_der.len()))
            .field("secret_value", &"<redacted>")
            .field("content_type", &self.content_type)
            .field("public_key", &self.public_key)
            .finish()
    }
}
