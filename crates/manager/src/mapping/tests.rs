//! Unit tests of the data mapping (docs/API.md#data-mapping) with real keys and certificates (rcgen) and
//! PKCS#12 archives (p12-keystore). The fixtures and the robustness properties live here; the rules, by
//! subject, in `tests/`.

use std::collections::HashMap;
use std::sync::OnceLock;

use p12_keystore::{
    Certificate, EncryptionAlgorithm, KeyStore, KeyStoreEntry, MacAlgorithm, PrivateKey, PrivateKeyChain,
};
use pkcs8::ObjectIdentifier;
use pkcs8::der::{Decode as _, Encode as _};
use proptest::prelude::*;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose, SignatureAlgorithm,
};
use sse_api::{SecretObject, SecretObjectData};
use sse_tls::gopem;

use super::*;

mod generic;
mod pkcs12;
mod tls_crt;
mod tls_key;

const SECP256R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const SECP384R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const SECP256K1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.10");
const ID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");

// ---------------------------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------------------------

fn pem(label: &str, der: &[u8]) -> Vec<u8> {
    gopem::encode(label.as_bytes(), der)
}

fn pem_str(label: &str, der: &[u8]) -> String {
    String::from_utf8(pem(label, der)).unwrap()
}

/// PKCS#8 DER of a fresh key.
fn pkcs8_key(alg: &'static SignatureAlgorithm) -> Vec<u8> {
    KeyPair::generate_for(alg).unwrap().serialize_der()
}

/// One RSA-2048 key pair for the whole test run (generation is slow in debug builds).
fn rsa_key() -> &'static KeyPair {
    static KEY: OnceLock<KeyPair> = OnceLock::new();
    KEY.get_or_init(|| KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048).unwrap())
}

/// root CA → intermediate CA → leaf (P-256), DER, with the leaf's PKCS#8 key.
struct Chain {
    root: Vec<u8>,
    intermediate: Vec<u8>,
    leaf: Vec<u8>,
    leaf_key: Vec<u8>,
}

fn ca_params(cn: &str) -> CertificateParams {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, cn);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params
}

fn chain() -> &'static Chain {
    static CHAIN: OnceLock<Chain> = OnceLock::new();
    CHAIN.get_or_init(|| {
        let root_key = KeyPair::generate().unwrap();
        let root_params = ca_params("Test Root CA");
        let root = root_params.self_signed(&root_key).unwrap();
        let root_issuer = Issuer::new(root_params, root_key);

        let int_key = KeyPair::generate().unwrap();
        let int_params = ca_params("Test Intermediate CA");
        let intermediate = int_params.signed_by(&int_key, &root_issuer).unwrap();
        let int_issuer = Issuer::new(int_params, int_key);

        let leaf_key = KeyPair::generate().unwrap();
        let mut leaf_params = CertificateParams::new(vec!["app.example.com".to_owned()]).unwrap();
        leaf_params
            .distinguished_name
            .push(DnType::CommonName, "app.example.com");
        let leaf = leaf_params.signed_by(&leaf_key, &int_issuer).unwrap();
        Chain {
            root: root.der().to_vec(),
            intermediate: intermediate.der().to_vec(),
            leaf: leaf.der().to_vec(),
            leaf_key: leaf_key.serialize_der(),
        }
    })
}

/// A self-signed certificate for the RSA key.
fn rsa_cert() -> Vec<u8> {
    let params = CertificateParams::new(vec!["rsa.example.com".to_owned()]).unwrap();
    params.self_signed(rsa_key()).unwrap().der().to_vec()
}

/// A PKCS#12 archive like Key Vault exports: `trusted` certificates first (stored in the given order), then
/// `key` with its `chain` (the first chain certificate carries the key's localKeyId).
fn pfx(key: Option<&[u8]>, chain: &[&[u8]], trusted: &[&[u8]], password: &str, legacy: bool) -> Vec<u8> {
    let mut store = KeyStore::new();
    for (i, der) in trusted.iter().enumerate() {
        store.add_entry(
            &format!("cert{i:02}"),
            KeyStoreEntry::Certificate(Certificate::from_der(der).unwrap()),
        );
    }
    if let Some(key) = key {
        let certs = chain.iter().map(|der| Certificate::from_der(der).unwrap());
        let entry = PrivateKeyChain::new(
            "key0",
            PrivateKey::from_der(key).unwrap(),
            certs.collect::<Vec<_>>(),
        );
        store.add_entry("key0", KeyStoreEntry::PrivateKeyChain(entry));
    }
    let writer = store
        .writer(password)
        .encryption_iterations(16)
        .mac_iterations(16);
    let writer = if legacy {
        writer
            .encryption_algorithm(EncryptionAlgorithm::PbeWithShaAnd3KeyTripleDesCbc)
            .mac_algorithm(MacAlgorithm::HmacSha1)
    } else {
        writer
            .encryption_algorithm(EncryptionAlgorithm::PbeWithHmacSha256AndAes256)
            .mac_algorithm(MacAlgorithm::HmacSha256)
    };
    writer.write().unwrap()
}

fn object(type_: &str, items: &[(&str, &str)]) -> SecretObject {
    SecretObject {
        type_: type_.to_owned(),
        data: items
            .iter()
            .map(|(source_path, target_key)| SecretObjectData {
                source_path: (*source_path).to_owned(),
                target_key: (*target_key).to_owned(),
                property: None,
            })
            .collect(),
        data_from: Vec::new(),
        template: None,
        labels: None,
        annotations: None,
    }
}

fn files(entries: &[(&str, &[u8])]) -> HashMap<String, Vec<u8>> {
    entries
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.to_vec()))
        .collect()
}

/// Map one file under the TLS type to `key`.
fn tls(key: &str, content: &[u8]) -> Result<Vec<u8>, MappingError> {
    let object = object(TLS_SECRET_TYPE, &[("obj", key)]);
    build_secret_data(&object, &files(&[("obj", content)])).map(|mut d| d.0.remove(key).unwrap())
}

fn tls_err(key: &str, content: &[u8]) -> String {
    tls(key, content).unwrap_err().to_string()
}

/// The single block of `pem` as (label, DER).
fn single_block(pem: &[u8]) -> (String, Vec<u8>) {
    let mut blocks = tls::blocks(pem);
    assert_eq!(blocks.len(), 1, "expected one PEM block");
    blocks.remove(0)
}

fn rsa_modulus_of_pkcs8(pkcs8_der: &[u8]) -> Vec<u8> {
    let info = pkcs8::PrivateKeyInfo::try_from(pkcs8_der).unwrap();
    let key = pkcs1::RsaPrivateKey::from_der(info.private_key).unwrap();
    key.modulus.as_bytes().to_vec()
}

fn ec_scalar_of_pkcs8(pkcs8_der: &[u8]) -> Vec<u8> {
    let info = pkcs8::PrivateKeyInfo::try_from(pkcs8_der).unwrap();
    sec1::EcPrivateKey::from_der(info.private_key)
        .unwrap()
        .private_key
        .to_vec()
}

const NO_KEY: &str = "failed to get cert data for tls.key: no private key found in PEM or PKCS#12 data";
const NO_CERT: &str = "failed to get cert data for tls.crt: no certificate found in PEM or PKCS#12 data";
const UNKNOWN_TYPE: &str = "failed to get cert data for tls.key: unknown private key type found while getting key. Only rsa and ecdsa are supported";

const CERT: &str = "CERTIFICATE";

// ---------------------------------------------------------------------------------------------------------------
// Robustness
// ---------------------------------------------------------------------------------------------------------------

fn pem_like() -> impl Strategy<Value = Vec<u8>> {
    let label = prop_oneof![
        Just("CERTIFICATE"),
        Just("PRIVATE KEY"),
        Just("RSA PRIVATE KEY"),
        Just("EC PRIVATE KEY"),
        Just("EC PARAMETERS"),
        Just("OTHER"),
    ];
    proptest::collection::vec((label, proptest::collection::vec(any::<u8>(), 0..200)), 0..4)
        .prop_map(|blocks| blocks.iter().flat_map(|(label, body)| pem(label, body)).collect())
}

/// Real key and certificate DER with one byte changed and a random truncation, inside PEM or bare.
fn mutated_real() -> impl Strategy<Value = Vec<u8>> {
    let c = chain();
    let sources = vec![
        c.leaf_key.clone(),
        pkcs8::PrivateKeyInfo::try_from(c.leaf_key.as_slice())
            .unwrap()
            .private_key
            .to_vec(),
        c.leaf.clone(),
        pfx(Some(&c.leaf_key), &[&c.leaf], &[], "", false),
    ];
    (
        proptest::sample::select(sources),
        any::<prop::sample::Index>(),
        any::<u8>(),
        any::<prop::sample::Index>(),
        prop_oneof![
            Just(None),
            Just(Some("PRIVATE KEY")),
            Just(Some("EC PRIVATE KEY"))
        ],
    )
        .prop_map(|(mut der, at, byte, cut, label)| {
            let i = at.index(der.len());
            der[i] ^= byte;
            let keep = cut.index(der.len() + 1);
            if keep > 0 {
                der.truncate(keep.max(der.len() / 2));
            }
            match label {
                Some(label) => pem(label, &der),
                None => der,
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..512)) {
        for key in ["tls.key", "tls.crt"] {
            let _ = tls(key, &data);
        }
    }

    #[test]
    fn pem_shaped_input_never_panics(data in pem_like()) {
        for key in ["tls.key", "tls.crt"] {
            let _ = tls(key, &data);
        }
    }

    #[test]
    fn mutated_real_material_never_panics(data in mutated_real()) {
        for key in ["tls.key", "tls.crt"] {
            let _ = tls(key, &data);
        }
    }

    #[test]
    fn non_tls_values_are_passed_through(data in proptest::collection::vec(any::<u8>(), 0..64)) {
        let object = object("Opaque", &[("a", "tls.key")]);
        let out = build_secret_data(&object, &files(&[("a", &data)])).unwrap();
        prop_assert_eq!(&out.0["tls.key"], &data);
    }
}
