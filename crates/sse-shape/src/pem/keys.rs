//! Private keys re-encoded as Go's `crypto/x509` writes them.

use pkcs8::ObjectIdentifier;
use pkcs8::der::{Decode as _, Encode as _};

use super::PemError;

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

/// A re-encoded private key: its PEM label and DER.
pub(crate) struct ReencodedKey {
    pub(crate) label: &'static [u8],
    pub(crate) der: Vec<u8>,
}

/// Re-encode a private key the way upstream's Go does: PKCS#1 RSA and PKCS#8 RSA → PKCS#1; PKCS#8 EC and SEC1
/// EC → SEC1 with the named curve. `Ok(None)` when the DER is none of these structures; an error for a PKCS#8
/// key of another algorithm or an EC key on an unknown curve.
pub(crate) fn reencode_private_key(der: &[u8]) -> Result<Option<ReencodedKey>, PemError> {
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
        return Err(PemError::UnknownPrivateKeyType);
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
fn reencode_sec1(der: &[u8], outer_curve: Option<ObjectIdentifier>) -> Result<Option<Vec<u8>>, PemError> {
    let Ok(key) = sec1::EcPrivateKey::from_der(der) else {
        return Ok(None);
    };
    let inner_curve = key.parameters.map(|sec1::EcParameters::NamedCurve(c)| c);
    let Some(curve) = outer_curve.or(inner_curve) else {
        return Ok(None);
    };
    let Some(len) = curve_scalar_len(curve) else {
        return Err(PemError::UnsupportedCurve {
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

/// The key as Go's `MarshalPKCS8PrivateKey` writes it (ESO's `pkcs12key`): RSA as PKCS#1 inside PKCS#8 with
/// NULL parameters; EC as SEC1 without its curve (the PKCS#8 algorithm names it). Go recomputes an EC public key;
/// the stored one is kept here, and omitted when absent.
pub(crate) fn pkcs8_of(der: &[u8]) -> Result<Vec<u8>, PemError> {
    use pkcs8::der::asn1::AnyRef;
    let invalid = || PemError::InvalidPrivateKey {
        origin: "the PKCS#12 private key".into(),
    };
    let key = reencode_private_key(der)?.ok_or_else(invalid)?;
    let (oid, params_der, inner) = if key.label == RSA_PRIVATE_KEY {
        (RSA_ENCRYPTION, vec![0x05, 0x00], key.der)
    } else {
        let sec1 = sec1::EcPrivateKey::from_der(&key.der).map_err(|_| invalid())?;
        let Some(sec1::EcParameters::NamedCurve(curve)) = sec1.parameters else {
            return Err(invalid());
        };
        let bare = sec1::EcPrivateKey {
            parameters: None,
            ..sec1
        };
        (
            ID_EC_PUBLIC_KEY,
            curve.to_der().map_err(|_| invalid())?,
            bare.to_der().map_err(|_| invalid())?,
        )
    };
    let parameters = AnyRef::from_der(&params_der).map_err(|_| invalid())?;
    let info = pkcs8::PrivateKeyInfo {
        algorithm: pkcs8::AlgorithmIdentifierRef {
            oid,
            parameters: Some(parameters),
        },
        private_key: &inner,
        public_key: None,
    };
    info.to_der().map_err(|_| invalid())
}
