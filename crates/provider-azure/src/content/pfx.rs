//! PKCS#12 (PFX) → PEM, upstream `decodePKCS12`: base64-decode, open with the empty password, write every
//! private key as a PKCS#8 `PRIVATE KEY` block, then every certificate as a `CERTIFICATE` block (optionally
//! ordered leaf → root, see [`super::chain`]).

use der::asn1::{AnyRef, ObjectIdentifier};
use der::{Decode as _, Encode as _, Reader as _, TagNumber};
use p12_keystore::Pkcs12Archive;
use pkcs8::PrivateKeyInfo;
use spki::AlgorithmIdentifierRef;

use sse_tls::gopem;

use super::{ContentError, chain, codec};

pub(crate) const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
pub(crate) const ID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
pub(crate) const SECP224R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.33");
pub(crate) const SECP256R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
pub(crate) const SECP384R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
pub(crate) const SECP521R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.35");

/// The named curves Go's `x509.ParsePKCS8PrivateKey` accepts.
const PRIVATE_KEY_CURVES: [ObjectIdentifier; 4] = [SECP224R1, SECP256R1, SECP384R1, SECP521R1];

/// The base64 PFX text of a certificate-backed secret as PEM: keys first, then certificates.
pub(crate) fn to_pem(value: &str, construct_pem_chain: bool) -> Result<Vec<u8>, ContentError> {
    let der = codec::go_std_base64_decode(value.as_bytes())?;
    let archive = Pkcs12Archive::from_pkcs12(&der, "").map_err(ContentError::from_pkcs12)?;

    let mut out = Vec::new();
    for bag in &archive.keys {
        let pkcs8 = normalise_private_key(bag.key.as_der())?;
        out.extend_from_slice(&gopem::encode(b"PRIVATE KEY", &pkcs8));
    }

    let certs: Vec<&[u8]> = archive.certs.iter().map(|bag| bag.cert.as_der()).collect();
    let certs = if construct_pem_chain {
        chain::order(&certs)?
    } else {
        certs
    };
    for cert in certs {
        out.extend_from_slice(&gopem::encode(b"CERTIFICATE", cert));
    }
    Ok(out)
}

/// Re-encode a PKCS#8 private key the way Go's `x509.ParsePKCS8PrivateKey` + `MarshalPKCS8PrivateKey` round
/// trip does for the key types the upstream decoder supports: RSA (`rsaEncryption`, NULL parameters, the
/// PKCS#1 key must parse) and EC on P-224/P-256/P-384/P-521 (`id-ecPublicKey` with the named curve taken from
/// the algorithm parameters or else from the SEC1 structure). The result is a version-1 PKCS#8 document
/// without attributes or an embedded public key; the inner PKCS#1 / SEC1 bytes are kept as stored. Anything
/// else (Ed25519, X25519, DSA, malformed) fails with `failed to parse key for type pkcs1, pkcs8 or ec`.
pub(crate) fn normalise_private_key(der: &[u8]) -> Result<Vec<u8>, ContentError> {
    let info = PrivateKeyInfo::try_from(der).map_err(|_| ContentError::KeyParse)?;
    let curve;
    let algorithm = if info.algorithm.oid == RSA_ENCRYPTION {
        pkcs1::RsaPrivateKey::try_from(info.private_key).map_err(|_| ContentError::KeyParse)?;
        AlgorithmIdentifierRef {
            oid: RSA_ENCRYPTION,
            parameters: Some(AnyRef::NULL),
        }
    } else if info.algorithm.oid == ID_EC_PUBLIC_KEY {
        let inner_curve = sec1_named_curve(info.private_key).ok_or(ContentError::KeyParse)?;
        let outer_curve = info
            .algorithm
            .parameters
            .and_then(|p| p.decode_as::<ObjectIdentifier>().ok());
        curve = outer_curve
            .or(inner_curve)
            .filter(|c| PRIVATE_KEY_CURVES.contains(c))
            .ok_or(ContentError::KeyParse)?;
        AlgorithmIdentifierRef {
            oid: ID_EC_PUBLIC_KEY,
            parameters: Some(AnyRef::from(&curve)),
        }
    } else {
        return Err(ContentError::KeyParse);
    };
    PrivateKeyInfo {
        algorithm,
        private_key: info.private_key,
        public_key: None,
    }
    .to_der()
    .map_err(|_| ContentError::KeyParse)
}

/// Validate an RFC 5915 `ECPrivateKey` and return its optional named curve:
/// `SEQUENCE { version INTEGER (1), privateKey OCTET STRING, [0] ECParameters OPTIONAL, [1] BIT STRING OPTIONAL }`.
/// `None` when the structure is invalid; `Some(None)` when it is valid but names no curve.
fn sec1_named_curve(der: &[u8]) -> Option<Option<ObjectIdentifier>> {
    let mut reader = der::SliceReader::new(der).ok()?;
    let curve = reader
        .sequence(|r| {
            let version = u8::decode(r)?;
            if version != 1 {
                return Err(der::Tag::Integer.value_error());
            }
            let private_key = der::asn1::OctetStringRef::decode(r)?;
            if private_key.is_empty() {
                return Err(der::Tag::OctetString.value_error());
            }
            let curve = der::asn1::ContextSpecific::<ObjectIdentifier>::decode_explicit(r, TagNumber::N0)?;
            let _public_key =
                der::asn1::ContextSpecific::<der::asn1::BitStringRef<'_>>::decode_explicit(r, TagNumber::N1)?;
            Ok(curve.map(|c| c.value))
        })
        .ok()?;
    reader.finish(curve).ok()
}

#[cfg(test)]
mod tests {
    use der::Encode as _;

    use super::*;
    use crate::content::fixtures::{self, Alg};

    const SECP256K1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.10");

    /// A hand-assembled RFC 5915 ECPrivateKey: version 1, a 32-byte scalar, optional [0] curve, no public key.
    fn sec1(curve: Option<ObjectIdentifier>) -> Vec<u8> {
        let mut body = vec![0x02, 0x01, 0x01, 0x04, 0x20];
        body.extend_from_slice(&[0x11; 32]);
        if let Some(curve) = curve {
            let oid = curve.to_der().unwrap();
            body.push(0xa0);
            body.push(u8::try_from(oid.len()).unwrap());
            body.extend_from_slice(&oid);
        }
        let mut out = vec![0x30, u8::try_from(body.len()).unwrap()];
        out.extend_from_slice(&body);
        out
    }

    fn pkcs8(
        oid: ObjectIdentifier,
        params: Option<AnyRef<'_>>,
        key: &[u8],
        public_key: Option<&[u8]>,
    ) -> Vec<u8> {
        PrivateKeyInfo {
            algorithm: AlgorithmIdentifierRef {
                oid,
                parameters: params,
            },
            private_key: key,
            public_key,
        }
        .to_der()
        .unwrap()
    }

    fn algorithm_of(der: &[u8]) -> (ObjectIdentifier, Option<ObjectIdentifier>) {
        let info = PrivateKeyInfo::try_from(der).unwrap();
        (
            info.algorithm.oid,
            info.algorithm
                .parameters
                .map(|p| p.decode_as::<ObjectIdentifier>().unwrap()),
        )
    }

    #[test]
    fn rsa_and_ec_keys_stay_as_they_are_when_already_canonical() {
        for alg in [Alg::Rsa2048, Alg::P256, Alg::P384] {
            let key = fixtures::key_pair(alg).serialize_der();
            let out = normalise_private_key(&key).unwrap();
            let info = PrivateKeyInfo::try_from(out.as_slice()).unwrap();
            let original = PrivateKeyInfo::try_from(key.as_slice()).unwrap();
            assert_eq!(
                info.private_key, original.private_key,
                "{alg:?}: inner key kept as stored"
            );
            assert_eq!(info.algorithm.oid, original.algorithm.oid);
            assert!(info.public_key.is_none(), "{alg:?}: PKCS#8 v1");
        }
    }

    #[test]
    fn pkcs8_v2_public_key_is_dropped() {
        let inner = sec1(None);
        let with_public = pkcs8(
            ID_EC_PUBLIC_KEY,
            Some(AnyRef::from(&SECP256R1)),
            &inner,
            Some(&[4, 1, 2]),
        );
        let out = normalise_private_key(&with_public).unwrap();
        assert_eq!(
            out,
            pkcs8(ID_EC_PUBLIC_KEY, Some(AnyRef::from(&SECP256R1)), &inner, None)
        );
    }

    #[test]
    fn ec_curve_comes_from_the_algorithm_or_the_sec1_structure() {
        // Only the SEC1 structure names the curve: Go takes it from there and writes it to the algorithm.
        let inner = sec1(Some(SECP384R1));
        let out = normalise_private_key(&pkcs8(ID_EC_PUBLIC_KEY, None, &inner, None)).unwrap();
        assert_eq!(algorithm_of(&out), (ID_EC_PUBLIC_KEY, Some(SECP384R1)));
        // The algorithm parameters win over the SEC1 curve.
        let out = normalise_private_key(&pkcs8(
            ID_EC_PUBLIC_KEY,
            Some(AnyRef::from(&SECP521R1)),
            &inner,
            None,
        ));
        assert_eq!(algorithm_of(&out.unwrap()), (ID_EC_PUBLIC_KEY, Some(SECP521R1)));
        // P-224 is accepted (Go's x509 knows it), secp256k1 is not, and no curve at all is an error.
        let p224 = pkcs8(
            ID_EC_PUBLIC_KEY,
            Some(AnyRef::from(&SECP224R1)),
            &sec1(None),
            None,
        );
        assert!(normalise_private_key(&p224).is_ok());
        let k1 = pkcs8(
            ID_EC_PUBLIC_KEY,
            Some(AnyRef::from(&SECP256K1)),
            &sec1(Some(SECP256R1)),
            None,
        );
        assert!(matches!(normalise_private_key(&k1), Err(ContentError::KeyParse)));
        let none = pkcs8(ID_EC_PUBLIC_KEY, None, &sec1(None), None);
        assert!(matches!(
            normalise_private_key(&none),
            Err(ContentError::KeyParse)
        ));
    }

    #[test]
    fn malformed_and_unsupported_keys_fail_to_parse() {
        let bad = [
            b"garbage".to_vec(),
            fixtures::ed25519_key(),
            pkcs8(RSA_ENCRYPTION, Some(AnyRef::NULL), b"\x30\x00", None),
            pkcs8(
                ID_EC_PUBLIC_KEY,
                Some(AnyRef::from(&SECP256R1)),
                b"\x30\x03\x02\x01\x02",
                None,
            ),
            pkcs8(
                ObjectIdentifier::new_unwrap("1.2.840.10040.4.1"),
                None,
                b"\x02\x01\x01",
                None,
            ),
        ];
        for key in bad {
            let err = normalise_private_key(&key).unwrap_err();
            assert_eq!(err.to_string(), "failed to parse key for type pkcs1, pkcs8 or ec");
        }
    }
}
