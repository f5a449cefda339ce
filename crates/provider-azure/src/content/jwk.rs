//! Key Vault JSON Web Key → PKIX `SubjectPublicKeyInfo` (Go's `x509.MarshalPKIXPublicKey`).

use der::Encode as _;
use der::asn1::{AnyRef, BitStringRef, ObjectIdentifier, UintRef};
use spki::{AlgorithmIdentifierRef, SubjectPublicKeyInfoRef};

use super::ContentError;
use super::pfx::{ID_EC_PUBLIC_KEY, RSA_ENCRYPTION, SECP256R1, SECP384R1, SECP521R1};

/// A curve Key Vault keys may use for object type `key`.
struct Curve {
    oid: ObjectIdentifier,
    /// Field prime, big-endian, `byte_len` bytes.
    prime: &'static [u8],
}

const P256_PRIME: [u8; 32] = {
    let mut p = [0xff; 32];
    // p = 2^256 - 2^224 + 2^192 + 2^96 - 1 = ffffffff 00000001 00000000 00000000 00000000 ffffffff ffffffff ffffffff
    let mut i = 4;
    while i < 12 {
        p[i] = 0;
        i += 1;
    }
    p[7] = 1;
    let mut i = 12;
    while i < 20 {
        p[i] = 0;
        i += 1;
    }
    p
};

const P384_PRIME: [u8; 48] = {
    // p = 2^384 - 2^128 - 2^96 + 2^32 - 1
    //   = ff…ff (31 bytes) fe ffffffff 00000000 00000000 ffffffff
    let mut p = [0xff; 48];
    p[31] = 0xfe;
    let mut i = 36;
    while i < 44 {
        p[i] = 0;
        i += 1;
    }
    p
};

const P521_PRIME: [u8; 66] = {
    // p = 2^521 - 1
    let mut p = [0xff; 66];
    p[0] = 0x01;
    p
};

fn curve(crv: &str) -> Option<Curve> {
    match crv {
        "P-256" => Some(Curve {
            oid: SECP256R1,
            prime: &P256_PRIME,
        }),
        "P-384" => Some(Curve {
            oid: SECP384R1,
            prime: &P384_PRIME,
        }),
        "P-521" => Some(Curve {
            oid: SECP521R1,
            prime: &P521_PRIME,
        }),
        _ => None,
    }
}

fn present(value: Option<&[u8]>) -> Result<&[u8], ContentError> {
    match value {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(ContentError::KeyValueNil),
    }
}

fn strip_leading_zeros(mut v: &[u8]) -> &[u8] {
    while let [0, rest @ ..] = v {
        v = rest;
    }
    v
}

/// `coordinate` as exactly `prime.len()` big-endian bytes, or `None` when it is not below the field prime.
fn field_element(coordinate: &[u8], prime: &[u8]) -> Option<Vec<u8>> {
    let digits = strip_leading_zeros(coordinate);
    if digits.len() > prime.len() {
        return None;
    }
    let mut padded = vec![0u8; prime.len() - digits.len()];
    padded.extend_from_slice(digits);
    // Big-endian byte strings of equal length compare like the numbers they encode.
    (padded.as_slice() < prime).then_some(padded)
}

fn spki_der(algorithm: AlgorithmIdentifierRef<'_>, key: &[u8]) -> Result<Vec<u8>, ContentError> {
    let subject_public_key = BitStringRef::from_bytes(key).map_err(ContentError::from_der)?;
    SubjectPublicKeyInfoRef {
        algorithm,
        subject_public_key,
    }
    .to_der()
    .map_err(ContentError::from_der)
}

pub(crate) fn rsa_spki(n: Option<&[u8]>, e: Option<&[u8]>) -> Result<Vec<u8>, ContentError> {
    let modulus = UintRef::new(present(n)?).map_err(ContentError::from_der)?;
    let public_exponent = UintRef::new(present(e)?).map_err(ContentError::from_der)?;
    let key = pkcs1::RsaPublicKey {
        modulus,
        public_exponent,
    }
    .to_der()
    .map_err(ContentError::from_der)?;
    spki_der(
        AlgorithmIdentifierRef {
            oid: RSA_ENCRYPTION,
            parameters: Some(AnyRef::NULL),
        },
        &key,
    )
}

pub(crate) fn ec_spki(
    crv: Option<&str>,
    x: Option<&[u8]>,
    y: Option<&[u8]>,
) -> Result<Vec<u8>, ContentError> {
    let crv = crv.ok_or(ContentError::KeyValueNil)?;
    let curve = curve(crv).ok_or_else(|| ContentError::CurveNotSupported(crv.to_owned()))?;
    let x = field_element(present(x)?, curve.prime).ok_or(ContentError::InvalidEcPublicKey)?;
    let y = field_element(present(y)?, curve.prime).ok_or(ContentError::InvalidEcPublicKey)?;
    // SEC1 uncompressed point, as Go's elliptic.Marshal writes it.
    let mut point = Vec::with_capacity(1 + x.len() + y.len());
    point.push(0x04);
    point.extend_from_slice(&x);
    point.extend_from_slice(&y);
    spki_der(
        AlgorithmIdentifierRef {
            oid: ID_EC_PUBLIC_KEY,
            parameters: Some(AnyRef::from(&curve.oid)),
        },
        &point,
    )
}
