//! `kubernetes.io/tls` post-processing (docs/API.md#kubernetesiotls-keys): the private key (`tls.key`) and
//! the certificates (`tls.crt`) out of PEM or PKCS#12 (PFX) provider content, and, beyond upstream (which
//! refuses every other key), the issuing chain (`ca.crt`, the key cert-manager and ingress controllers read
//! for the CA).
//!
//! Errors never carry key or certificate bytes; at most a PEM block label (sanitised) is named.

use p12_keystore::Pkcs12Archive;
use pkcs8::ObjectIdentifier;
use pkcs8::der::{Decode as _, Encode as _, Reader as _, Tagged as _};

use sse_tls::gopem;

/// Label of certificate PEM blocks.
const CERTIFICATE: &[u8] = b"CERTIFICATE";
/// Label of the PKCS#1 RSA key block written for `tls.key`.
const RSA_PRIVATE_KEY: &[u8] = b"RSA PRIVATE KEY";
/// Label of the SEC1 EC key block written for `tls.key`.
const EC_PRIVATE_KEY: &[u8] = b"EC PRIVATE KEY";

const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const ID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const SECP224R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.33");
const SECP256R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const SECP384R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const SECP521R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.35");

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
    #[error("unknown private key type found while getting key. Only rsa and ecdsa are supported")]
    UnknownPrivateKeyType,
    /// An EC key on a curve Go's `crypto/x509` does not know (upstream silently wrote an empty key).
    #[error("unsupported elliptic curve {curve}. Only P-224, P-256, P-384 and P-521 are supported")]
    UnsupportedCurve {
        /// The named curve's OID (public information).
        curve: String,
    },
    /// The selected key (last non-`CERTIFICATE` PEM block, or the PKCS#12 key bag) is not an unencrypted
    /// PKCS#1, PKCS#8 or SEC1 private key (upstream silently wrote an empty `PRIVATE KEY` block).
    #[error("{origin} is not a valid PKCS#1, PKCS#8 or SEC1 private key")]
    InvalidPrivateKey {
        /// `PEM block "<label>"` or `the PKCS#12 private key`.
        origin: String,
    },
    /// No non-`CERTIFICATE` PEM block, and the rest is not PKCS#12 or holds no key (upstream: a PKCS#12 parse
    /// error, or an empty `PRIVATE KEY` block).
    #[error("no private key found in PEM or PKCS#12 data")]
    NoPrivateKey,
    /// No `CERTIFICATE` PEM block, and the rest is not PKCS#12 or holds no certificate.
    #[error("no certificate found in PEM or PKCS#12 data")]
    NoCertificate,
    /// `ca.crt` asked for, but the data holds the leaf certificate alone and it is not self-signed.
    #[error(
        "no issuing chain in the certificate data (only the leaf certificate): ca.crt needs the chain in Key Vault"
    )]
    NoIssuingChain,
    /// The content looks like PKCS#12 but cannot be read with the empty password.
    #[error("{0}")]
    Pkcs12(Pkcs12Problem),
}

/// Why data that looks like PKCS#12 could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Pkcs12Problem {
    /// The MAC does not verify with the empty password.
    #[error("the PKCS#12 MAC does not verify with the empty password (is it password-protected?)")]
    WrongPassword,
    /// The encrypted bags do not decrypt with the empty password.
    #[error("the PKCS#12 contents do not decrypt with the empty password (is it password-protected?)")]
    DecryptionFailed,
    /// An encryption scheme, MAC algorithm, content or certificate type p12-keystore does not support.
    #[error("the PKCS#12 data uses an unsupported algorithm, content type or certificate type")]
    Unsupported,
    /// Anything else: truncated or malformed structure, certificate that does not parse.
    #[error("the PKCS#12 data is malformed")]
    Malformed,
}

impl Pkcs12Problem {
    fn from_error(err: &p12_keystore::error::Error) -> Self {
        use p12_keystore::error::Error as E;
        match err {
            E::MacError(_) => Self::WrongPassword,
            E::UnpadError | E::Pkcs5Error(_) => Self::DecryptionFailed,
            E::UnsupportedContentType
            | E::UnsupportedCertificateType
            | E::UnsupportedEncryptionScheme
            | E::UnsupportedMacAlgorithm => Self::Unsupported,
            _ => Self::Malformed,
        }
    }
}

/// The TLS post-processing of one value (docs/API.md#kubernetesiotls-keys): `tls.key` → one
/// `RSA PRIVATE KEY` / `EC PRIVATE KEY` block, `tls.crt` → the certificate blocks, `ca.crt` → the issuing
/// chain; any other key is not supported.
pub(crate) fn cert_part(data: &[u8], key: &str) -> Result<Vec<u8>, CertError> {
    match key {
        "tls.key" => private_key(data),
        "tls.crt" => certificates(data),
        "ca.crt" => issuing_chain(data),
        _ => Err(CertError::UnsupportedKey { key: key.to_owned() }),
    }
}

/// `tls.key`: the last non-`CERTIFICATE` PEM block, else the PKCS#12 key of the bytes after the last PEM
/// block (the whole input without PEM), re-encoded as PKCS#1 (RSA) or SEC1 (EC).
fn private_key(data: &[u8]) -> Result<Vec<u8>, CertError> {
    let (blocks, leftover) = gopem::decode_all(data);
    let (der, origin) = match blocks.iter().rev().find(|b| b.label != CERTIFICATE) {
        Some(block) => (
            block.bytes.clone(),
            format!("PEM block \"{}\"", printable_label(block.label)),
        ),
        None => {
            let archive = open_pkcs12(leftover)?.ok_or(CertError::NoPrivateKey)?;
            let bag = archive.keys.last().ok_or(CertError::NoPrivateKey)?;
            (bag.key.as_der().to_vec(), "the PKCS#12 private key".to_owned())
        }
    };
    match reencode_private_key(&der)? {
        Some(key) => Ok(gopem::encode(key.label, &key.der)),
        None => Err(CertError::InvalidPrivateKey { origin }),
    }
}

/// `tls.crt`: every `CERTIFICATE` PEM block in input order (headers kept), else the PKCS#12 certificates of the
/// bytes after the last PEM block, leaf first when the leaf can be identified.
fn certificates(data: &[u8]) -> Result<Vec<u8>, CertError> {
    let (blocks, leftover) = gopem::decode_all(data);
    let mut out = reencoded(blocks.iter().filter(|b| b.label == CERTIFICATE));
    if !out.is_empty() {
        return Ok(out);
    }
    let archive = open_pkcs12(leftover)?.ok_or(CertError::NoCertificate)?;
    if archive.certs.is_empty() {
        return Err(CertError::NoCertificate);
    }
    for der in pkcs12_certificates_leaf_first(&archive) {
        out.extend_from_slice(&gopem::encode(CERTIFICATE, der));
    }
    Ok(out)
}

/// `blocks` written back as PEM, headers kept, in order.
fn reencoded<'a, 'b: 'a>(blocks: impl Iterator<Item = &'a gopem::Block<'b>>) -> Vec<u8> {
    let mut out = Vec::new();
    for block in blocks {
        out.extend_from_slice(&gopem::encode_with_headers(
            block.label,
            &block.headers,
            &block.bytes,
        ));
    }
    out
}

/// `ca.crt`: the certificates of `tls.crt` but the leaf. The leaf is the one certificate that issued none of
/// the others (so a PEM with its chain first still gives the right set); when that is not a single one,
/// the first, as Key Vault orders PEM (key, leaf, chain) and PKCS#12 is read leaf first. A self-signed leaf
/// alone is its own CA and is written as such, as cert-manager does; a leaf alone that some CA issued is an
/// error rather than a `ca.crt` that cannot verify it.
fn issuing_chain(data: &[u8]) -> Result<Vec<u8>, CertError> {
    let pem = certificates(data)?;
    let (blocks, _) = gopem::decode_all(&pem);
    let certs: Vec<_> = blocks.iter().filter(|b| b.label == CERTIFICATE).collect();
    let parsed: Vec<Option<p12_keystore::Certificate>> = certs
        .iter()
        .map(|b| p12_keystore::Certificate::from_der(&b.bytes).ok())
        .collect();
    let names: Vec<Option<(&str, &str)>> = parsed
        .iter()
        .map(|c| c.as_ref().map(|c| (c.subject(), c.issuer())))
        .collect();
    let leaf = sole_leaf(&names).unwrap_or(0);
    let Some(leaf_block) = certs.get(leaf) else {
        return Err(CertError::NoCertificate);
    };
    let out = reencoded(
        certs
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != leaf)
            .map(|(_, block)| *block),
    );
    if !out.is_empty() {
        return Ok(out);
    }
    let self_signed = parsed[leaf].as_ref().is_some_and(|c| c.subject() == c.issuer());
    if self_signed {
        Ok(gopem::encode_with_headers(
            leaf_block.label,
            &leaf_block.headers,
            &leaf_block.bytes,
        ))
    } else {
        Err(CertError::NoIssuingChain)
    }
}

/// `Ok(None)` when `data` does not look like PKCS#12 at all (so the caller reports "nothing found"),
/// `Err` when it looks like PKCS#12 but cannot be read with the empty password.
fn open_pkcs12(data: &[u8]) -> Result<Option<Pkcs12Archive>, CertError> {
    if !looks_like_pkcs12(data) {
        return Ok(None);
    }
    Pkcs12Archive::from_pkcs12(data, "")
        .map(Some)
        .map_err(|e| CertError::Pkcs12(Pkcs12Problem::from_error(&e)))
}

/// `PFX ::= SEQUENCE { version INTEGER (3), authSafe ContentInfo (a SEQUENCE), macData OPTIONAL }`: the first
/// two elements are checked, so cert-only PEM leftovers or random text are "not PKCS#12" rather than
/// "malformed PKCS#12".
fn looks_like_pkcs12(data: &[u8]) -> bool {
    let Ok(mut reader) = pkcs8::der::SliceReader::new(data) else {
        return false;
    };
    reader
        .sequence(|r| {
            let version = u8::decode(r)?;
            let content_info = pkcs8::der::asn1::AnyRef::decode(r)?;
            // Skip whatever follows (macData) without interpreting it.
            while !r.is_finished() {
                pkcs8::der::asn1::AnyRef::decode(r)?;
            }
            Ok(version == 3 && content_info.tag() == pkcs8::der::Tag::Sequence)
        })
        .unwrap_or(false)
}

/// The archive's certificates: the leaf (the certificate sharing the chosen key's localKeyId, else the only
/// certificate that issued none of the others) first, then its issuers by subject/issuer name, then the rest in
/// stored order. Without an identifiable leaf, stored order.
fn pkcs12_certificates_leaf_first(archive: &Pkcs12Archive) -> Vec<&[u8]> {
    let certs = &archive.certs;
    let key_id = archive
        .keys
        .last()
        .and_then(|k| k.local_key_id.as_ref())
        .map(|id| id.as_ref());
    let by_key_id = key_id.and_then(|id| certs.iter().position(|c| c.local_key_id.as_deref() == Some(id)));
    let leaf = by_key_id.or_else(|| {
        let names: Vec<Option<(&str, &str)>> = certs
            .iter()
            .map(|c| Some((c.cert.subject(), c.cert.issuer())))
            .collect();
        sole_leaf(&names)
    });
    let Some(leaf) = leaf else {
        return certs.iter().map(|c| c.cert.as_der()).collect();
    };

    let mut used = vec![false; certs.len()];
    let mut order = Vec::with_capacity(certs.len());
    let mut current = leaf;
    loop {
        used[current] = true;
        order.push(current);
        let cert = &certs[current].cert;
        if cert.subject() == cert.issuer() {
            break;
        }
        match (0..certs.len()).find(|&j| !used[j] && certs[j].cert.subject() == cert.issuer()) {
            Some(next) => current = next,
            None => break,
        }
    }
    order.extend((0..certs.len()).filter(|&j| !used[j]));
    order.into_iter().map(|i| certs[i].cert.as_der()).collect()
}

/// The one certificate, of `(subject, issuer)` names (`None`: unparseable), that issued none of the others
/// (self-signed ones issue nothing here); `None` when that is not exactly one.
fn sole_leaf(names: &[Option<(&str, &str)>]) -> Option<usize> {
    let issues_another = |i: usize| {
        let Some((subject, _)) = names[i] else {
            return false;
        };
        names.iter().enumerate().any(|(j, other)| {
            j != i
                && other.is_some_and(|(other_subject, other_issuer)| {
                    other_issuer == subject && other_subject != other_issuer
                })
        })
    };
    let mut leaves = (0..names.len()).filter(|&i| !issues_another(i));
    match (leaves.next(), leaves.next()) {
        (Some(only), None) => Some(only),
        _ => None,
    }
}

/// A re-encoded private key: its PEM label and DER.
struct ReencodedKey {
    label: &'static [u8],
    der: Vec<u8>,
}

/// Re-encode a private key the way upstream's Go does: PKCS#1 RSA and PKCS#8 RSA → PKCS#1; PKCS#8 EC and SEC1
/// EC → SEC1 with the named curve. `Ok(None)` when the DER is none of these structures; an error for a PKCS#8
/// key of another algorithm or an EC key on an unknown curve.
fn reencode_private_key(der: &[u8]) -> Result<Option<ReencodedKey>, CertError> {
    let rsa = |der| ReencodedKey {
        label: RSA_PRIVATE_KEY,
        der,
    };
    let ec = |der| ReencodedKey {
        label: EC_PRIVATE_KEY,
        der,
    };
    if let Some(pkcs1) = reencode_pkcs1(der) {
        return Ok(Some(rsa(pkcs1)));
    }
    if let Ok(info) = pkcs8::PrivateKeyInfo::try_from(der) {
        if info.algorithm.oid == RSA_ENCRYPTION {
            return Ok(reencode_pkcs1(info.private_key).map(rsa));
        }
        if info.algorithm.oid == ID_EC_PUBLIC_KEY {
            let outer_curve = info
                .algorithm
                .parameters
                .and_then(|p| p.decode_as::<ObjectIdentifier>().ok());
            return Ok(reencode_sec1(info.private_key, outer_curve)?.map(ec));
        }
        return Err(CertError::UnknownPrivateKeyType);
    }
    Ok(reencode_sec1(der, None)?.map(ec))
}

/// A PKCS#1 `RSAPrivateKey` re-encoded canonically, if `der` is one with non-zero modulus, exponents and primes.
fn reencode_pkcs1(der: &[u8]) -> Option<Vec<u8>> {
    let key = pkcs1::RsaPrivateKey::from_der(der).ok()?;
    let is_zero = |u: pkcs1::UintRef<'_>| u.as_bytes().iter().all(|&b| b == 0);
    if [
        key.modulus,
        key.public_exponent,
        key.private_exponent,
        key.prime1,
        key.prime2,
    ]
    .into_iter()
    .any(is_zero)
    {
        return None;
    }
    key.to_der().ok()
}

/// Byte length of a private scalar on the curves Go's `crypto/x509` supports.
fn curve_scalar_len(curve: ObjectIdentifier) -> Option<usize> {
    match curve {
        c if c == SECP224R1 => Some(28),
        c if c == SECP256R1 => Some(32),
        c if c == SECP384R1 => Some(48),
        c if c == SECP521R1 => Some(66),
        _ => None,
    }
}

/// An RFC 5915 `ECPrivateKey` re-encoded as Go's `MarshalECPrivateKey` writes it: version 1, the scalar
/// left-padded to the curve size, the named curve (the PKCS#8 algorithm's curve wins over the SEC1 one), and the
/// stored public key when it is an uncompressed point of the right size (Go recomputes it; we cannot without
/// EC arithmetic, and it is optional in RFC 5915).
fn reencode_sec1(der: &[u8], outer_curve: Option<ObjectIdentifier>) -> Result<Option<Vec<u8>>, CertError> {
    let Ok(key) = sec1::EcPrivateKey::from_der(der) else {
        return Ok(None);
    };
    let inner_curve = key.parameters.map(|sec1::EcParameters::NamedCurve(c)| c);
    let Some(curve) = outer_curve.or(inner_curve) else {
        return Ok(None);
    };
    let Some(len) = curve_scalar_len(curve) else {
        return Err(CertError::UnsupportedCurve {
            curve: curve.to_string(),
        });
    };
    let scalar = key.private_key;
    if scalar.len() > len || scalar.iter().all(|&b| b == 0) {
        return Ok(None);
    }
    let mut padded = vec![0u8; len - scalar.len()];
    padded.extend_from_slice(scalar);
    let public_key = key
        .public_key
        .filter(|p| p.len() == 1 + 2 * len && p.first() == Some(&4));
    let out = sec1::EcPrivateKey {
        private_key: &padded,
        parameters: Some(sec1::EcParameters::NamedCurve(curve)),
        public_key,
    };
    Ok(out.to_der().ok())
}

/// A PEM label fit for an error message: printable ASCII up to 40 characters, else a placeholder.
fn printable_label(label: &[u8]) -> String {
    match std::str::from_utf8(label) {
        Ok(s) if s.len() <= 40 && s.bytes().all(|b| b == b' ' || b.is_ascii_graphic()) => s.to_owned(),
        _ => "<unprintable label>".to_owned(),
    }
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
