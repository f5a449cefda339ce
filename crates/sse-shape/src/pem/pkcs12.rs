//! PKCS#12 (PFX) archives: whether bytes are one, opening one, and its certificates leaf first.

use p12_keystore::Pkcs12Archive;
use pkcs8::der::{Decode as _, Reader as _, Tagged as _};

use super::{PemError, sole_leaf};

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
    pub(crate) fn from_error(err: &p12_keystore::error::Error) -> Self {
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

/// `Ok(None)` when `data` does not look like PKCS#12 at all (so the caller reports "nothing found"),
/// `Err` when it looks like PKCS#12 but cannot be read with the empty password.
pub(crate) fn open_pkcs12(data: &[u8], password: &str) -> Result<Option<Pkcs12Archive>, PemError> {
    if !looks_like_pkcs12(data) {
        return Ok(None);
    }
    Pkcs12Archive::from_pkcs12(data, password)
        .map(Some)
        .map_err(|e| PemError::Pkcs12(Pkcs12Problem::from_error(&e)))
}

/// `PFX ::= SEQUENCE { version INTEGER (3), authSafe ContentInfo (a SEQUENCE), macData OPTIONAL }`: the first
/// two elements are checked, so cert-only PEM leftovers or random text are "not PKCS#12" rather than
/// "malformed PKCS#12".
pub(crate) fn looks_like_pkcs12(data: &[u8]) -> bool {
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
pub(crate) fn pkcs12_certificates_leaf_first(archive: &Pkcs12Archive) -> Vec<&[u8]> {
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
