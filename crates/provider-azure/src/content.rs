//! Content transformations of the Azure Key Vault provider (docs/PROVIDER.md#content-transformations):
//! turning what Key Vault returns into the bytes of the files a mount produces. Everything here is pure — no
//! I/O, no logging — so the transformations are testable on their own and the fetch code only moves bytes.
//!
//! | Function | Used for | What it does |
//! |---|---|---|
//! | [`plain_secret`] | objectType `secret` whose bundle has no `kid` | `objectEncoding`: utf-8 = value as is, base64 = standard base64 decode, hex = hex decode. |
//! | [`certificate_secret`] | objectType `secret` whose bundle has a `kid` (the secret behind a Key Vault certificate) | By `contentType`: `application/x-pem-file` = value as stored; `application/x-pkcs12` with `objectFormat: pfx` = the base64 PFX text as stored (with `objectEncoding: base64` that becomes the binary PFX); `application/x-pkcs12` otherwise = PFX opened with the empty password and written as PEM, private keys (PKCS#8) first, then certificates, ordered leaf → root with `--construct-pem-chain`. Also returns the `CERTIFICATE` blocks and the other blocks separately for `--write-cert-and-key-in-separate-files` (`<file>.crt`, `<file>.key`). |
//! | [`public_key_pem`] | objectType `key` | The public half of an RSA or EC JSON Web Key as a PKIX `PUBLIC KEY` PEM block (Key Vault never releases private keys). |
//! | [`certificate_pem`] | objectType `cert` | The certificate's DER (`cer`) as one `CERTIFICATE` PEM block (leaf only, no key). |
//!
//! PEM is read and written with Go's `encoding/pem` rules (`\n` line endings, 64-column base64, every block
//! ending in a newline, text outside blocks skipped) so files are byte-identical to the upstream provider's.
//!
//! Error texts are the upstream ones (docs/PROVIDER.md#content-transformations) where upstream has one. No
//! error message and no `Debug` output contains secret material: decode errors carry an offset, never the
//! offending byte.

mod chain;
mod codec;
mod jwk;
mod pfx;

#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod tests;

use sse_tls::gopem;
use std::fmt;

/// `contentType` of a certificate-backed secret holding PEM (key and chain as uploaded).
pub const CONTENT_TYPE_PEM: &str = "application/x-pem-file";
/// `contentType` of a certificate-backed secret holding a base64 PKCS#12 (PFX) archive.
pub const CONTENT_TYPE_PKCS12: &str = "application/x-pkcs12";

/// `objectEncoding`: how the secret value is decoded into file bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Encoding {
    /// `utf-8` (also the default when unset): the value's bytes as they are.
    #[default]
    Utf8,
    /// `base64`: standard-alphabet, padded base64 (`\r` / `\n` ignored).
    Base64,
    /// `hex`: hexadecimal digits, either case.
    Hex,
}

/// `objectFormat`: how a PKCS#12 certificate-backed secret is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Format {
    /// `pem` (also the default when unset): private keys and certificates as PEM.
    #[default]
    Pem,
    /// `pfx`: the PFX as Key Vault stores it (base64 text; binary with [`Encoding::Base64`]).
    Pfx,
}

/// Why a transformation failed. `Display` is the upstream provider's text where it has one.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ContentError {
    /// The value is not valid standard base64 (objectEncoding `base64`, or a PFX).
    #[error("illegal base64 data at input byte {offset}")]
    InvalidBase64 {
        /// Byte offset in the value where decoding failed.
        offset: usize,
    },
    /// The value contains a character that is not a hex digit (objectEncoding `hex`). Go also prints the
    /// character; we do not, because it is part of the secret.
    #[error("encoding/hex: invalid byte at input byte {offset}")]
    InvalidHex {
        /// Byte offset of the offending character.
        offset: usize,
    },
    /// The value has an odd number of hex digits (objectEncoding `hex`).
    #[error("encoding/hex: odd length hex string")]
    OddLengthHex,
    /// A certificate-backed secret whose `contentType` is neither PEM nor PKCS#12 (`''` when absent).
    #[error("failed to get certificate. unknown content type '{0}'")]
    UnknownContentType(String),
    /// The PFX MAC or decryption did not verify with the empty password.
    #[error("pkcs12: decryption password incorrect")]
    Pkcs12IncorrectPassword,
    /// The PFX could not be read (malformed, unsupported algorithm, …).
    #[error("pkcs12: {0}")]
    Pkcs12(String),
    /// A private key inside the PFX is not an RSA or EC (P-224/256/384/521) PKCS#8 key.
    #[error("failed to parse key for type pkcs1, pkcs8 or ec")]
    KeyParse,
    /// A certificate inside the PFX does not parse as X.509 (only checked when constructing the chain).
    #[error("x509: {0}")]
    Certificate(String),
    /// Constructing the chain: every certificate is the issuer of another one (or there is none).
    #[error("no leaf found")]
    NoLeafFound,
    /// Constructing the chain: following issuers from the leaf revisits a certificate.
    #[error("constructing chain resulted in cycle")]
    ChainCycle,
    /// A key whose `kty` is neither RSA nor EC (e.g. `oct`).
    #[error("failed to get key. key type '{0}' currently not supported")]
    KeyTypeNotSupported(String),
    /// An EC key on a curve other than P-256, P-384, P-521.
    #[error("curve {0} is not supported")]
    CurveNotSupported(String),
    /// A key without the members its `kty` needs (`n`/`e`, or `crv`/`x`/`y`).
    #[error("key value is nil")]
    KeyValueNil,
    /// An EC key whose coordinates are not field elements of its curve.
    #[error("x509: invalid elliptic curve public key")]
    InvalidEcPublicKey,
    /// DER encoding of the public key failed (not expected for well-formed input).
    #[error("x509: failed to marshal public key: {0}")]
    Encode(String),
}

impl ContentError {
    fn from_pkcs12(err: p12_keystore::error::Error) -> Self {
        use p12_keystore::error::Error as E;
        match err {
            // Go's ErrIncorrectPassword covers both a MAC mismatch and undecryptable (bad padding) content.
            E::MacError(_) | E::UnpadError => Self::Pkcs12IncorrectPassword,
            // The library's messages describe structure and algorithms, never content.
            other => Self::Pkcs12(other.to_string()),
        }
    }

    fn from_der(err: der::Error) -> Self {
        Self::Encode(err.to_string())
    }
}

/// The files a certificate-backed secret produces.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct CertificateSecret {
    /// Content of the object's file (after `objectEncoding` is applied).
    pub main: Vec<u8>,
    /// Every `CERTIFICATE` PEM block of the content, for `<file>.crt`. Empty for PFX-format output.
    pub cert_pem: Vec<u8>,
    /// Every other PEM block of the content (the private key), for `<file>.key`. Empty for PFX-format output.
    pub key_pem: Vec<u8>,
}

impl fmt::Debug for CertificateSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Redacted(usize);
        impl fmt::Debug for Redacted {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "<{} bytes redacted>", self.0)
            }
        }
        f.debug_struct("CertificateSecret")
            .field("main", &Redacted(self.main.len()))
            .field("cert_pem", &Redacted(self.cert_pem.len()))
            .field("key_pem", &Redacted(self.key_pem.len()))
            .finish()
    }
}

/// A plain secret (bundle without `kid`): `value` decoded per `objectEncoding`.
///
/// utf-8 = the bytes as they are; base64 = standard base64 decode; hex = hex decode.
///
/// # Errors
///
/// [`ContentError::InvalidBase64`], [`ContentError::InvalidHex`], [`ContentError::OddLengthHex`]: they name
/// the offset, not the content.
pub fn plain_secret(value: &str, encoding: Encoding) -> Result<Vec<u8>, ContentError> {
    match encoding {
        Encoding::Utf8 => Ok(value.as_bytes().to_vec()),
        Encoding::Base64 => codec::go_std_base64_decode(value.as_bytes()),
        Encoding::Hex => codec::go_hex_decode(value.as_bytes()),
    }
}

/// A certificate-backed secret (bundle with `kid`): the main file plus the split `.crt` / `.key` contents.
///
/// * `application/x-pem-file`: the value as stored (key and chain in upload order); `format` is ignored.
/// * `application/x-pkcs12` with [`Format::Pfx`]: the base64 PFX text as stored.
/// * `application/x-pkcs12` with [`Format::Pem`]: the PFX decoded with the empty password, every private key
///   as a PKCS#8 `PRIVATE KEY` block, then every certificate as a `CERTIFICATE` block; with
///   `construct_pem_chain` the certificates are ordered leaf → intermediates → root by matching
///   AuthorityKeyIdentifier to SubjectKeyIdentifier (input order kept when the chain is incomplete).
/// * anything else, including no content type: `failed to get certificate. unknown content type '<ct>'`.
///
/// `encoding` is then applied to the main content exactly as for a plain secret (so PFX + base64 gives the
/// binary PFX, and PEM content with base64/hex fails like upstream). `cert_pem` / `key_pem` are the PEM blocks
/// of the content before decoding (nothing for PFX text).
///
/// # Errors
///
/// Unknown content type; for PKCS#12 → PEM: invalid base64, an unreadable PFX or one not protected by the empty
/// password, a key that is not RSA/EC, `no leaf found` / `constructing chain resulted in cycle`; then the
/// decode errors of `encoding`.
pub fn certificate_secret(
    value: &str,
    content_type: Option<&str>,
    format: Format,
    encoding: Encoding,
    construct_pem_chain: bool,
) -> Result<CertificateSecret, ContentError> {
    let converted;
    let content: &[u8] = match (content_type, format) {
        (Some(CONTENT_TYPE_PEM), _) | (Some(CONTENT_TYPE_PKCS12), Format::Pfx) => value.as_bytes(),
        (Some(CONTENT_TYPE_PKCS12), Format::Pem) => {
            converted = pfx::to_pem(value, construct_pem_chain)?;
            &converted
        }
        (other, _) => {
            return Err(ContentError::UnknownContentType(
                other.unwrap_or_default().to_owned(),
            ));
        }
    };

    let (cert_pem, key_pem) = split_cert_and_key(content);
    let main = match encoding {
        Encoding::Utf8 => content.to_vec(),
        Encoding::Base64 => codec::go_std_base64_decode(content)?,
        Encoding::Hex => codec::go_hex_decode(content)?,
    };
    Ok(CertificateSecret {
        main,
        cert_pem,
        key_pem,
    })
}

/// Upstream `splitCertAndKey`: every decodable PEM block re-encoded (headers kept), `CERTIFICATE` blocks into
/// the first result, all others into the second.
fn split_cert_and_key(content: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let mut certs = Vec::new();
    let mut keys = Vec::new();
    for block in gopem::decode_all(content).0 {
        let target = if block.label == b"CERTIFICATE" {
            &mut certs
        } else {
            &mut keys
        };
        target.extend_from_slice(&gopem::encode_with_headers(
            block.label,
            &block.headers,
            &block.bytes,
        ));
    }
    (certs, keys)
}

/// The public key of a Key Vault key (objectType `key`) as a PEM `PUBLIC KEY` block (PKIX SubjectPublicKeyInfo).
///
/// `kty` `RSA` / `RSA-HSM` use `n` and `e` (big-endian unsigned); `EC` / `EC-HSM` use `crv` (`P-256`, `P-384`,
/// `P-521`) and the coordinates `x`, `y`, written as an uncompressed point with `id-ecPublicKey` and the
/// named-curve OID. Other key types fail with `failed to get key. key type '<kty>' currently not supported`,
/// other curves with `curve <crv> is not supported`, absent or empty members with `key value is nil`.
///
/// # Errors
///
/// As listed above, plus `x509: invalid elliptic curve public key` for coordinates outside the curve's field.
pub fn public_key_pem(
    kty: &str,
    crv: Option<&str>,
    n: Option<&[u8]>,
    e: Option<&[u8]>,
    x: Option<&[u8]>,
    y: Option<&[u8]>,
) -> Result<Vec<u8>, ContentError> {
    let der = match kty {
        "RSA" | "RSA-HSM" => jwk::rsa_spki(n, e)?,
        "EC" | "EC-HSM" => jwk::ec_spki(crv, x, y)?,
        other => return Err(ContentError::KeyTypeNotSupported(other.to_owned())),
    };
    Ok(gopem::encode(b"PUBLIC KEY", &der))
}

/// A certificate's DER (`cer` of a certificate bundle, objectType `cert`) as one PEM `CERTIFICATE` block.
#[must_use]
pub fn certificate_pem(der: &[u8]) -> Vec<u8> {
    gopem::encode(b"CERTIFICATE", der)
}
