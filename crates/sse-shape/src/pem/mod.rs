//! Keys and certificates out of PEM or PKCS#12 (PFX) bytes, by the rules of `kubernetes.io/tls` Secrets
//! (docs/API.md#kubernetesiotls-keys): [`key`] (`tls.key`), [`certificates`] (`tls.crt`), [`chain`] (`ca.crt`)
//! and [`leaf`]. The manager applies them to untemplated TLS SecretSyncs; templates call them as `pemKey`,
//! `pemCertificates`, `pemChain` and `pemLeaf`. `eso` holds ESO's template functions of the same subject.
//!
//! Errors never carry key or certificate bytes; at most a PEM block label (sanitised) is named.

pub(crate) mod eso;
mod keys;
mod pkcs12;

use sse_tls::gopem;

use keys::reencode_private_key;
pub use pkcs12::Pkcs12Problem;
use pkcs12::{open_pkcs12, pkcs12_certificates_leaf_first};

/// Label of certificate PEM blocks.
const CERTIFICATE: &[u8] = b"CERTIFICATE";

/// Why a key or certificates could not be produced. No text contains key or certificate bytes; at most a PEM
/// block label (sanitised) is named.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PemError {
    /// A PKCS#8 key of an algorithm other than RSA or ECDSA, e.g. Ed25519.
    #[error("unknown private key type found while getting key. Only rsa and ecdsa are supported")]
    UnknownPrivateKeyType,
    /// An EC key on a curve Go's `crypto/x509` does not know.
    #[error("unsupported elliptic curve {curve}. Only P-224, P-256, P-384 and P-521 are supported")]
    UnsupportedCurve {
        /// The named curve's OID (public information).
        curve: String,
    },
    /// The selected key (last non-`CERTIFICATE` PEM block, or the PKCS#12 key bag) is not an unencrypted
    /// PKCS#1, PKCS#8 or SEC1 private key.
    #[error("{origin} is not a valid PKCS#1, PKCS#8 or SEC1 private key")]
    InvalidPrivateKey {
        /// `PEM block "<label>"` or `the PKCS#12 private key`.
        origin: String,
    },
    /// No non-`CERTIFICATE` PEM block, and the rest is not PKCS#12 or holds no key.
    #[error("no private key found in PEM or PKCS#12 data")]
    NoPrivateKey,
    /// No `CERTIFICATE` PEM block, and the rest is not PKCS#12 or holds no certificate.
    #[error("no certificate found in PEM or PKCS#12 data")]
    NoCertificate,
    /// The issuing chain asked for, but the data holds the leaf certificate alone and it is not self-signed.
    #[error(
        "no issuing chain in the certificate data (only the leaf certificate): ca.crt needs the chain in Key Vault"
    )]
    NoIssuingChain,
    /// The content looks like PKCS#12 but cannot be read with the password.
    #[error("{0}")]
    Pkcs12(Pkcs12Problem),
}

/// `tls.key`: the last non-`CERTIFICATE` PEM block, else the PKCS#12 key of the bytes after the last PEM
/// block (the whole input without PEM), re-encoded as PKCS#1 (RSA) or SEC1 (EC).
pub fn key(data: &[u8]) -> Result<Vec<u8>, PemError> {
    let (blocks, leftover) = gopem::decode_all(data);
    let (der, origin) = match blocks.iter().rev().find(|b| b.label != CERTIFICATE) {
        Some(block) => (
            block.bytes.clone(),
            format!("PEM block \"{}\"", printable_label(block.label)),
        ),
        None => {
            let archive = open_pkcs12(leftover, "")?.ok_or(PemError::NoPrivateKey)?;
            let bag = archive.keys.last().ok_or(PemError::NoPrivateKey)?;
            (bag.key.as_der().to_vec(), "the PKCS#12 private key".to_owned())
        }
    };
    match reencode_private_key(&der)? {
        Some(key) => Ok(gopem::encode(key.label, &key.der)),
        None => Err(PemError::InvalidPrivateKey { origin }),
    }
}

/// `tls.crt`: every `CERTIFICATE` PEM block in input order (headers kept), else the PKCS#12 certificates of the
/// bytes after the last PEM block, leaf first when the leaf can be identified.
pub fn certificates(data: &[u8]) -> Result<Vec<u8>, PemError> {
    let (blocks, leftover) = gopem::decode_all(data);
    let mut out = reencoded(blocks.iter().filter(|b| b.label == CERTIFICATE));
    if !out.is_empty() {
        return Ok(out);
    }
    let archive = open_pkcs12(leftover, "")?.ok_or(PemError::NoCertificate)?;
    if archive.certs.is_empty() {
        return Err(PemError::NoCertificate);
    }
    for der in pkcs12_certificates_leaf_first(&archive) {
        out.extend_from_slice(&gopem::encode(CERTIFICATE, der));
    }
    Ok(out)
}

/// `blocks` written back as PEM, headers kept, in order.
pub(crate) fn reencoded<'a, 'b: 'a>(blocks: impl Iterator<Item = &'a gopem::Block<'b>>) -> Vec<u8> {
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
pub fn chain(data: &[u8]) -> Result<Vec<u8>, PemError> {
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
        return Err(PemError::NoCertificate);
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
        Err(PemError::NoIssuingChain)
    }
}

/// The one certificate, of `(subject, issuer)` names (`None`: unparseable), that issued none of the others
/// (self-signed ones issue nothing here); `None` when that is not exactly one.
pub(crate) fn sole_leaf(names: &[Option<(&str, &str)>]) -> Option<usize> {
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

/// A PEM label fit for an error message: printable ASCII up to 40 characters, else a placeholder.
fn printable_label(label: &[u8]) -> String {
    match std::str::from_utf8(label) {
        Ok(s) if s.len() <= 40 && s.bytes().all(|b| b == b' ' || b.is_ascii_graphic()) => s.to_owned(),
        _ => "<unprintable label>".to_owned(),
    }
}

/// The leaf of [`certificates`]: the one certificate that issued none of the others, else the first.
pub fn leaf(data: &[u8]) -> Result<Vec<u8>, PemError> {
    let pem = certificates(data)?;
    let (blocks, _) = gopem::decode_all(&pem);
    let certs: Vec<_> = blocks.iter().filter(|b| b.label == CERTIFICATE).collect();
    let names: Vec<Option<(String, String)>> = certs
        .iter()
        .map(|b| {
            p12_keystore::Certificate::from_der(&b.bytes)
                .ok()
                .map(|c| (c.subject().to_owned(), c.issuer().to_owned()))
        })
        .collect();
    let refs: Vec<Option<(&str, &str)>> = names
        .iter()
        .map(|n| n.as_ref().map(|(s, i)| (s.as_str(), i.as_str())))
        .collect();
    let leaf = sole_leaf(&refs).unwrap_or(0);
    let block = certs.get(leaf).ok_or(PemError::NoCertificate)?;
    Ok(gopem::encode_with_headers(
        block.label,
        &block.headers,
        &block.bytes,
    ))
}

#[cfg(test)]
mod tests;
