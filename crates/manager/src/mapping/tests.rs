//! Unit tests of SPEC §5.5 with real keys and certificates (rcgen) and PKCS#12 archives (p12-keystore).

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
            })
            .collect(),
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

// ---------------------------------------------------------------------------------------------------------------
// Generic rules
// ---------------------------------------------------------------------------------------------------------------

#[test]
fn opaque_and_other_types_pass_bytes_through() {
    let raw: &[u8] = b"\x00\xffnot pem\r\n";
    for type_ in [
        "Opaque",
        "kubernetes.io/basic-auth",
        "kubernetes.io/dockerconfigjson",
        "kubernetes.io/TLS", // exact match only
        "",
    ] {
        let object = object(type_, &[("a", "tls.key"), ("b", "anything")]);
        let data = build_secret_data(&object, &files(&[("a", raw), ("b", b"v")])).unwrap();
        assert_eq!(data.0.get("tls.key").map(Vec::as_slice), Some(raw), "{type_}");
        assert_eq!(data.0.get("anything").map(Vec::as_slice), Some(&b"v"[..]));
    }
}

#[test]
fn paths_and_keys_are_trimmed() {
    let object = object("Opaque", &[("  db-password\t", " password \n")]);
    let outcome = map_items(&object, &files(&[("db-password", b"s3cr3t")]));
    assert_eq!(outcome.len(), 1);
    assert_eq!(outcome[0].source_path, "db-password");
    assert_eq!(outcome[0].target_key, "password");
    assert_eq!(outcome[0].result, Ok(b"s3cr3t".to_vec()));
}

#[test]
fn empty_source_path_and_target_key_are_errors() {
    let files = files(&[("a", b"x")]);
    let err = build_secret_data(&object("Opaque", &[(" ", "k")]), &files).unwrap_err();
    assert_eq!(err, MappingError::EmptySourcePath);
    assert_eq!(err.to_string(), "source path in secretObject.data is empty");
    let err = build_secret_data(&object("Opaque", &[("a", "\t")]), &files).unwrap_err();
    assert_eq!(err, MappingError::EmptyTargetKey);
    assert_eq!(err.to_string(), "target key in secretObject.data is empty");
    // The source path is checked first.
    let err = build_secret_data(&object("Opaque", &[("", "")]), &files).unwrap_err();
    assert_eq!(err, MappingError::EmptySourcePath);
}

#[test]
fn missing_file_and_case_sensitive_lookup() {
    let files = files(&[("DB-Password", b"x")]);
    let err = build_secret_data(&object("Opaque", &[(" db-password ", "k")]), &files).unwrap_err();
    assert_eq!(
        err.to_string(),
        "file matching sourcePath db-password not found in the pod"
    );
    assert_eq!(
        err,
        MappingError::FileNotFound {
            source_path: "db-password".to_owned()
        }
    );
}

#[test]
fn map_items_reports_every_item_in_spec_order() {
    let object = object(
        TLS_SECRET_TYPE,
        &[
            ("cert", "tls.crt"),
            ("missing", "tls.key"),
            ("cert", "ca.crt"),
            ("", "x"),
            ("key", "tls.key"),
        ],
    );
    let c = chain();
    let files = files(&[
        ("cert", &pem(CERT, &c.leaf)),
        ("key", &pem("PRIVATE KEY", &c.leaf_key)),
    ]);
    let outcomes = map_items(&object, &files);
    let summary: Vec<(&str, &str, Result<(), String>)> = outcomes
        .iter()
        .map(|o| {
            (
                o.source_path.as_str(),
                o.target_key.as_str(),
                o.result.as_ref().map(|_| ()).map_err(ToString::to_string),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("cert", "tls.crt", Ok(())),
            (
                "missing",
                "tls.key",
                Err("file matching sourcePath missing not found in the pod".to_owned())
            ),
            (
                "cert",
                "ca.crt",
                Err("failed to get cert data for ca.crt: key 'ca.crt' is not supported. Only 'tls.key' and 'tls.crt' are supported".to_owned())
            ),
            ("", "x", Err("source path in secretObject.data is empty".to_owned())),
            ("key", "tls.key", Ok(())),
        ]
    );
    // All-or-nothing: the first failing item's error.
    let err = build_secret_data(&object, &files).unwrap_err();
    assert_eq!(
        err,
        MappingError::FileNotFound {
            source_path: "missing".to_owned()
        }
    );
}

#[test]
fn build_secret_data_collects_all_items_and_later_duplicates_win() {
    let object = object("Opaque", &[("a", "k1"), ("b", "k2"), ("c", "k1")]);
    let data = build_secret_data(&object, &files(&[("a", b"1"), ("b", b"2"), ("c", b"3")])).unwrap();
    assert_eq!(data.0.len(), 2);
    assert_eq!(data.0["k1"], b"3");
    assert_eq!(data.0["k2"], b"2");
}

#[test]
fn debug_never_shows_values() {
    let secret = b"hunter2-very-secret".to_vec();
    let data = SecretData([("password".to_owned(), secret.clone())].into());
    let debug = format!("{data:?}");
    assert_eq!(debug, r#"{"password": <19 bytes>}"#);
    let outcome = ItemOutcome {
        source_path: "p".to_owned(),
        target_key: "k".to_owned(),
        result: Ok(secret),
    };
    let debug = format!("{outcome:?}");
    assert!(!debug.contains("hunter2"), "{debug}");
    assert!(debug.contains("<19 bytes>"), "{debug}");
    assert!(!format!("{:#?}", outcome).contains("104")); // no byte list either
}

// ---------------------------------------------------------------------------------------------------------------
// tls.key
// ---------------------------------------------------------------------------------------------------------------

const CERT: &str = "CERTIFICATE";

#[test]
fn rsa_pkcs8_becomes_pkcs1_with_the_same_modulus() {
    let pkcs8_der = rsa_key().serialize_der();
    let out = tls("tls.key", &pem("PRIVATE KEY", &pkcs8_der)).unwrap();
    let (label, der) = single_block(&out);
    assert_eq!(label, "RSA PRIVATE KEY");
    let pkcs1_key = pkcs1::RsaPrivateKey::from_der(&der).unwrap();
    assert_eq!(pkcs1_key.modulus.as_bytes(), rsa_modulus_of_pkcs8(&pkcs8_der));
    // The inner PKCS#1 document is already canonical DER, so it is kept byte for byte.
    let info = pkcs8::PrivateKeyInfo::try_from(pkcs8_der.as_slice()).unwrap();
    assert_eq!(der, info.private_key);
    // Output layout: LF line endings, 64-column base64.
    let text = String::from_utf8(out).unwrap();
    assert!(!text.contains('\r'));
    assert!(text.lines().all(|l| l.len() <= 64));
    assert!(text.starts_with("-----BEGIN RSA PRIVATE KEY-----\n"));
    assert!(text.ends_with("-----END RSA PRIVATE KEY-----\n"));
}

#[test]
fn rsa_pkcs1_input_stays_pkcs1() {
    let info_der = rsa_key().serialize_der();
    let info = pkcs8::PrivateKeyInfo::try_from(info_der.as_slice()).unwrap();
    let input = pem("RSA PRIVATE KEY", info.private_key);
    assert_eq!(tls("tls.key", &input).unwrap(), input);
}

#[test]
fn ec_pkcs8_becomes_sec1_with_the_named_curve() {
    for (alg, curve, len) in [
        (&rcgen::PKCS_ECDSA_P256_SHA256, SECP256R1, 32),
        (&rcgen::PKCS_ECDSA_P384_SHA384, SECP384R1, 48),
    ] {
        let pkcs8_der = pkcs8_key(alg);
        let out = tls("tls.key", &pem("PRIVATE KEY", &pkcs8_der)).unwrap();
        let (label, der) = single_block(&out);
        assert_eq!(label, "EC PRIVATE KEY");
        let key = sec1::EcPrivateKey::from_der(&der).unwrap();
        assert_eq!(key.parameters, Some(sec1::EcParameters::NamedCurve(curve)));
        assert_eq!(key.private_key.len(), len);
        assert_eq!(key.private_key, ec_scalar_of_pkcs8(&pkcs8_der));
        assert!(key.public_key.is_some(), "public key kept");
        // SEC1 input is re-emitted unchanged.
        assert_eq!(tls("tls.key", &out).unwrap(), out);
    }
}

/// An RFC 5915 ECPrivateKey with a short scalar, an optional curve and no public key.
fn short_sec1(curve: Option<ObjectIdentifier>) -> Vec<u8> {
    sec1::EcPrivateKey {
        private_key: &[0x11; 31],
        parameters: curve.map(sec1::EcParameters::NamedCurve),
        public_key: None,
    }
    .to_der()
    .unwrap()
}

fn pkcs8_doc(curve: Option<ObjectIdentifier>, inner: &[u8]) -> Vec<u8> {
    let params = curve.as_ref().map(pkcs8::der::asn1::AnyRef::from);
    pkcs8::PrivateKeyInfo {
        algorithm: pkcs8::AlgorithmIdentifierRef {
            oid: ID_EC_PUBLIC_KEY,
            parameters: params,
        },
        private_key: inner,
        public_key: None,
    }
    .to_der()
    .unwrap()
}

#[test]
fn ec_curve_comes_from_pkcs8_params_or_sec1_and_scalar_is_padded() {
    // Curve only inside the SEC1 structure.
    let out = tls(
        "tls.key",
        &pem("PRIVATE KEY", &pkcs8_doc(None, &short_sec1(Some(SECP256R1)))),
    )
    .unwrap();
    let (_, der) = single_block(&out);
    let key = sec1::EcPrivateKey::from_der(&der).unwrap();
    assert_eq!(key.parameters, Some(sec1::EcParameters::NamedCurve(SECP256R1)));
    let mut expected = vec![0u8];
    expected.extend_from_slice(&[0x11; 31]);
    assert_eq!(key.private_key, expected, "left-padded to 32 bytes");
    assert!(key.public_key.is_none());
    // Curve only in the PKCS#8 algorithm parameters.
    let out = tls(
        "tls.key",
        &pem("PRIVATE KEY", &pkcs8_doc(Some(SECP384R1), &short_sec1(None))),
    )
    .unwrap();
    let key_der = single_block(&out).1;
    let key = sec1::EcPrivateKey::from_der(&key_der).unwrap();
    assert_eq!(key.parameters, Some(sec1::EcParameters::NamedCurve(SECP384R1)));
    assert_eq!(key.private_key.len(), 48);
    // Bare SEC1 without a curve cannot be interpreted.
    assert_eq!(
        tls_err("tls.key", &pem("EC PRIVATE KEY", &short_sec1(None))),
        "failed to get cert data for tls.key: PEM block \"EC PRIVATE KEY\" is not a valid PKCS#1, PKCS#8 or SEC1 private key"
    );
}

#[test]
fn unsupported_curve_is_an_error() {
    let err = tls_err("tls.key", &pem("EC PRIVATE KEY", &short_sec1(Some(SECP256K1))));
    assert_eq!(
        err,
        "failed to get cert data for tls.key: unsupported elliptic curve 1.3.132.0.10. Only P-224, P-256, P-384 and P-521 are supported"
    );
}

#[test]
fn ed25519_is_an_unknown_key_type() {
    let der = pkcs8_key(&rcgen::PKCS_ED25519);
    assert_eq!(tls_err("tls.key", &pem("PRIVATE KEY", &der)), UNKNOWN_TYPE);
    let err = tls("tls.key", &pem("PRIVATE KEY", &der)).unwrap_err();
    assert_eq!(
        err,
        MappingError::CertData {
            key: "tls.key".to_owned(),
            reason: CertError::UnknownPrivateKeyType
        }
    );
}

#[test]
fn key_and_cert_bundle() {
    let c = chain();
    let bundle = [
        "subject=CN = app.example.com\n".to_owned(),
        pem_str(CERT, &c.leaf),
        pem_str("PRIVATE KEY", &c.leaf_key),
        "\n# intermediate\n".to_owned(),
        pem_str(CERT, &c.intermediate),
    ]
    .concat();
    let key = tls("tls.key", bundle.as_bytes()).unwrap();
    let (label, der) = single_block(&key);
    assert_eq!(label, "EC PRIVATE KEY");
    assert_eq!(
        sec1::EcPrivateKey::from_der(&der).unwrap().private_key,
        ec_scalar_of_pkcs8(&c.leaf_key)
    );
    let crt = tls("tls.crt", bundle.as_bytes()).unwrap();
    assert_eq!(crt, [pem(CERT, &c.leaf), pem(CERT, &c.intermediate)].concat());
}

#[test]
fn cert_manager_shaped_files_from_sse_tls_test_ca() {
    let ca = sse_tls::pki::TestCa::new("test ca").unwrap();
    let leaf = ca
        .issue(
            &["manager.example"],
            sse_tls::pki::Usage::Client,
            std::time::Duration::from_secs(3600),
        )
        .unwrap();
    let bundle = format!("{}{}{}", leaf.key_pem, leaf.cert_pem, ca.cert_pem());
    let key = tls("tls.key", bundle.as_bytes()).unwrap();
    assert_eq!(tls::labels(&key), ["EC PRIVATE KEY"]);
    let crt = tls("tls.crt", bundle.as_bytes()).unwrap();
    assert_eq!(tls::labels(&crt), [CERT, CERT]);
}

#[test]
fn the_last_non_certificate_block_is_the_key() {
    let first = pkcs8_key(&rcgen::PKCS_ECDSA_P256_SHA256);
    let second = pkcs8_key(&rcgen::PKCS_ECDSA_P256_SHA256);
    let input = [pem("PRIVATE KEY", &first), pem("PRIVATE KEY", &second)].concat();
    let (_, der) = single_block(&tls("tls.key", &input).unwrap());
    assert_eq!(
        sec1::EcPrivateKey::from_der(&der).unwrap().private_key,
        ec_scalar_of_pkcs8(&second)
    );
    // `openssl ecparam -genkey` output: EC PARAMETERS, then the key.
    let params = SECP256R1.to_der().unwrap();
    let (_, sec1_with_curve) = single_block(&tls("tls.key", &pem("PRIVATE KEY", &first)).unwrap());
    let input = [
        pem("EC PARAMETERS", &params),
        pem("EC PRIVATE KEY", &sec1_with_curve),
    ]
    .concat();
    assert_eq!(
        tls("tls.key", &input).unwrap(),
        pem("EC PRIVATE KEY", &sec1_with_curve)
    );
    // ... but a trailing non-key block is still "the last non-certificate block", as upstream.
    let input = [pem("PRIVATE KEY", &first), pem("X509 CRL", b"\x30\x00")].concat();
    assert_eq!(
        tls_err("tls.key", &input),
        "failed to get cert data for tls.key: PEM block \"X509 CRL\" is not a valid PKCS#1, PKCS#8 or SEC1 private key"
    );
}

#[test]
fn cert_only_pem_has_no_key() {
    let c = chain();
    let input = [pem(CERT, &c.leaf), pem(CERT, &c.root)].concat();
    assert_eq!(tls_err("tls.key", &input), NO_KEY);
    assert_eq!(
        tls("tls.key", &input).unwrap_err(),
        MappingError::CertData {
            key: "tls.key".to_owned(),
            reason: CertError::NoPrivateKey
        }
    );
}

#[test]
fn key_only_pem_has_no_certificate() {
    let input = pem("PRIVATE KEY", &chain().leaf_key);
    assert_eq!(tls_err("tls.crt", &input), NO_CERT);
}

#[test]
fn garbage_and_empty_input() {
    for input in [
        &b""[..],
        b"hello",
        b"\x30\x03\x02\x01\x01",
        b"-----BEGIN PRIVATE KEY-----\n",
    ] {
        assert_eq!(tls_err("tls.key", input), NO_KEY);
        assert_eq!(tls_err("tls.crt", input), NO_CERT);
    }
}

#[test]
fn unparseable_key_blocks_are_errors_not_empty_keys() {
    // Upstream emits an empty "PRIVATE KEY" block here; we fail.
    for (label, body) in [
        ("PRIVATE KEY", &b"\x30\x00"[..]),
        ("ENCRYPTED PRIVATE KEY", b"\x30\x03\x02\x01\x00"),
        ("PUBLIC KEY", b""),
    ] {
        let err = tls_err("tls.key", &pem(label, body));
        assert_eq!(
            err,
            format!(
                "failed to get cert data for tls.key: PEM block \"{label}\" is not a valid PKCS#1, PKCS#8 or SEC1 private key"
            )
        );
    }
    // Legacy encrypted PEM: the body is ciphertext.
    let encrypted = "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00112233445566778899AABBCCDDEEFF\n\nAAECAwQFBgcICQoLDA0ODw==\n-----END RSA PRIVATE KEY-----\n";
    assert!(tls_err("tls.key", encrypted.as_bytes()).contains("RSA PRIVATE KEY"));
    // A non-printable label is not echoed.
    let err = tls_err("tls.key", &pem("K\u{7f}Y", b"\x30\x00"));
    assert!(err.contains("<unprintable label>"), "{err}");
}

#[test]
fn errors_never_contain_secret_bytes() {
    let secret = b"TOP-SECRET-VALUE-42";
    for key in ["tls.key", "tls.crt", "other"] {
        let err = tls_err(key, secret);
        assert!(!err.contains("TOP-SECRET"), "{err}");
        let err = tls(key, &pem("PRIVATE KEY", secret)).unwrap_err();
        assert!(!format!("{err} {err:?}").contains("TOP-SECRET"));
    }
}

// ---------------------------------------------------------------------------------------------------------------
// tls.crt
// ---------------------------------------------------------------------------------------------------------------

#[test]
fn certificates_keep_input_order_and_headers_and_are_normalised() {
    let c = chain();
    // CRLF line endings, 76-column body, a header and surrounding text on input.
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(&c.root);
    let wide: Vec<&str> = b64
        .as_bytes()
        .chunks(76)
        .map(|l| std::str::from_utf8(l).unwrap())
        .collect();
    let root_crlf = format!(
        "-----BEGIN CERTIFICATE-----\r\nComment: root\r\n\r\n{}\r\n-----END CERTIFICATE-----\r\n",
        wide.join("\r\n")
    );
    let input = [
        pem_str(CERT, &c.leaf),
        "garbage between\n".to_owned(),
        pem_str("PRIVATE KEY", &c.leaf_key),
        root_crlf,
        pem_str(CERT, &c.intermediate),
    ]
    .concat();
    let crt = String::from_utf8(tls("tls.crt", input.as_bytes()).unwrap()).unwrap();
    let mut headers = std::collections::BTreeMap::new();
    headers.insert(&b"Comment"[..], &b"root"[..]);
    let root_lf = String::from_utf8(gopem::encode_with_headers(b"CERTIFICATE", &headers, &c.root)).unwrap();
    assert_eq!(
        crt,
        [pem_str(CERT, &c.leaf), root_lf, pem_str(CERT, &c.intermediate)].concat()
    );
    assert!(!crt.contains('\r'));
    assert!(crt.lines().all(|l| l.len() <= 64));
}

// ---------------------------------------------------------------------------------------------------------------
// PKCS#12
// ---------------------------------------------------------------------------------------------------------------

#[test]
fn pkcs12_key_and_certificates() {
    let c = chain();
    for legacy in [true, false] {
        let archive = pfx(
            Some(&c.leaf_key),
            &[&c.leaf, &c.intermediate, &c.root],
            &[],
            "",
            legacy,
        );
        let key = tls("tls.key", &archive).unwrap();
        let (label, der) = single_block(&key);
        assert_eq!(label, "EC PRIVATE KEY");
        assert_eq!(
            sec1::EcPrivateKey::from_der(&der).unwrap().private_key,
            ec_scalar_of_pkcs8(&c.leaf_key)
        );
        let crt = tls("tls.crt", &archive).unwrap();
        assert_eq!(
            crt,
            [pem(CERT, &c.leaf), pem(CERT, &c.intermediate), pem(CERT, &c.root)].concat()
        );
    }
}

#[test]
fn pkcs12_rsa_key() {
    let pkcs8_der = rsa_key().serialize_der();
    let cert = rsa_cert();
    let archive = pfx(Some(&pkcs8_der), &[&cert], &[], "", true);
    let (label, der) = single_block(&tls("tls.key", &archive).unwrap());
    assert_eq!(label, "RSA PRIVATE KEY");
    assert_eq!(
        pkcs1::RsaPrivateKey::from_der(&der).unwrap().modulus.as_bytes(),
        rsa_modulus_of_pkcs8(&pkcs8_der)
    );
    assert_eq!(tls("tls.crt", &archive).unwrap(), pem(CERT, &cert));
}

#[test]
fn pkcs12_leaf_comes_first_whatever_the_stored_order() {
    let c = chain();
    // Stored order: root, intermediate (trusted bags written first), then the leaf carrying the localKeyId.
    let archive = pfx(
        Some(&c.leaf_key),
        &[&c.leaf],
        &[&c.root, &c.intermediate],
        "",
        false,
    );
    let stored = p12_keystore::Pkcs12Archive::from_pkcs12(&archive, "").unwrap();
    let stored: Vec<&[u8]> = stored.certs.iter().map(|b| b.cert.as_der()).collect();
    assert_eq!(stored, [&c.root[..], &c.intermediate[..], &c.leaf[..]]);
    assert_eq!(
        tls("tls.crt", &archive).unwrap(),
        [pem(CERT, &c.leaf), pem(CERT, &c.intermediate), pem(CERT, &c.root)].concat()
    );
    // Without a key, the leaf is found by names: the one certificate that issued none of the others.
    let truststore = pfx(None, &[], &[&c.intermediate, &c.root, &c.leaf], "", false);
    assert_eq!(
        tls("tls.crt", &truststore).unwrap(),
        [pem(CERT, &c.leaf), pem(CERT, &c.intermediate), pem(CERT, &c.root)].concat()
    );
    assert_eq!(tls_err("tls.key", &truststore), NO_KEY);
    // Unrelated certificates: no single leaf, stored order.
    let other = rsa_cert();
    let unrelated = pfx(None, &[], &[&c.root, &other], "", false);
    assert_eq!(
        tls("tls.crt", &unrelated).unwrap(),
        [pem(CERT, &c.root), pem(CERT, &other)].concat()
    );
}

#[test]
fn pkcs12_with_ed25519_key_is_an_unknown_key_type() {
    let key = pkcs8_key(&rcgen::PKCS_ED25519);
    let archive = pfx(Some(&key), &[], &[], "", false);
    assert_eq!(tls_err("tls.key", &archive), UNKNOWN_TYPE);
}

#[test]
fn pkcs12_with_a_password_is_reported() {
    let c = chain();
    let archive = pfx(Some(&c.leaf_key), &[&c.leaf], &[], "s3cret", true);
    let err = tls("tls.key", &archive).unwrap_err();
    assert_eq!(
        err,
        MappingError::CertData {
            key: "tls.key".to_owned(),
            reason: CertError::Pkcs12(Pkcs12Problem::WrongPassword)
        }
    );
    assert_eq!(
        err.to_string(),
        "failed to get cert data for tls.key: the PKCS#12 MAC does not verify with the empty password (is it password-protected?)"
    );
    assert_eq!(
        tls_err("tls.crt", &archive),
        "failed to get cert data for tls.crt: the PKCS#12 MAC does not verify with the empty password (is it password-protected?)"
    );
    // Truncation breaks the outer DER, so it no longer looks like PKCS#12 at all.
    let truncated = &archive[..archive.len() / 2];
    assert_eq!(tls_err("tls.key", truncated), NO_KEY);
    // PFX-shaped (version 3, a ContentInfo SEQUENCE) but empty inside: malformed PKCS#12.
    let hollow = b"\x30\x05\x02\x01\x03\x30\x00";
    assert_eq!(
        tls_err("tls.crt", hollow),
        "failed to get cert data for tls.crt: the PKCS#12 data is malformed"
    );
}

#[test]
fn pkcs12_after_pem_certificates_is_used_for_the_key() {
    // Upstream parses the bytes after the last PEM block as PKCS#12 when no key block was found.
    let c = chain();
    let archive = pfx(Some(&c.leaf_key), &[&c.leaf], &[], "", false);
    let mut input = pem(CERT, &c.root);
    input.extend_from_slice(&archive);
    let (label, _) = single_block(&tls("tls.key", &input).unwrap());
    assert_eq!(label, "EC PRIVATE KEY");
    // tls.crt found a PEM certificate, so the PKCS#12 is not consulted.
    assert_eq!(tls("tls.crt", &input).unwrap(), pem(CERT, &c.root));
}

#[test]
fn unsupported_key_under_tls_type() {
    let object = object(TLS_SECRET_TYPE, &[("obj", " ca.crt ")]);
    let err = build_secret_data(&object, &files(&[("obj", b"x")])).unwrap_err();
    assert_eq!(
        err,
        MappingError::CertData {
            key: "ca.crt".to_owned(),
            reason: CertError::UnsupportedKey {
                key: "ca.crt".to_owned()
            }
        }
    );
    assert_eq!(
        err.to_string(),
        "failed to get cert data for ca.crt: key 'ca.crt' is not supported. Only 'tls.key' and 'tls.crt' are supported"
    );
    assert_eq!(
        CertError::UnsupportedKey {
            key: "ca.crt".to_owned()
        }
        .to_string(),
        "key 'ca.crt' is not supported. Only 'tls.key' and 'tls.crt' are supported"
    );
}

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
