//! The PEM rules and ESO's functions over a real chain (rcgen) and PKCS#12 archives (p12-keystore). The
//! `kubernetes.io/tls` rules are tested in depth by the manager's `mapping/tests`, through its wrapper.

use std::sync::OnceLock;

use p12_keystore::{Certificate, KeyStore, KeyStoreEntry, PrivateKey, PrivateKeyChain};
use pkcs8::der::Decode as _;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};

use super::eso::{filter_cert_chain, filter_pem, pkcs12_cert, pkcs12_key};
use super::*;

struct Chain {
    root: Vec<u8>,
    intermediate: Vec<u8>,
    leaf: Vec<u8>,
    leaf_key: Vec<u8>,
}

fn params(cn: &str, ca: bool) -> CertificateParams {
    let mut p = CertificateParams::new(Vec::<String>::new()).expect("params");
    p.distinguished_name.push(DnType::CommonName, cn);
    p.use_authority_key_identifier_extension = true;
    if ca {
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![KeyUsagePurpose::KeyCertSign];
    }
    p
}

fn chain() -> &'static Chain {
    static CHAIN: OnceLock<Chain> = OnceLock::new();
    CHAIN.get_or_init(|| {
        let root_key = KeyPair::generate().expect("key");
        let root_params = params("Root", true);
        let root = root_params.self_signed(&root_key).expect("root");
        let root_issuer = Issuer::new(root_params, root_key);
        let int_key = KeyPair::generate().expect("key");
        let int_params = params("Intermediate", true);
        let intermediate = int_params
            .signed_by(&int_key, &root_issuer)
            .expect("intermediate");
        let int_issuer = Issuer::new(int_params, int_key);
        let leaf_key = KeyPair::generate().expect("key");
        let leaf = params("leaf", false)
            .signed_by(&leaf_key, &int_issuer)
            .expect("leaf");
        Chain {
            root: root.der().to_vec(),
            intermediate: intermediate.der().to_vec(),
            leaf: leaf.der().to_vec(),
            leaf_key: leaf_key.serialize_der(),
        }
    })
}

fn cert(der: &[u8]) -> Vec<u8> {
    gopem::encode(CERTIFICATE, der)
}

fn pfx(password: &str) -> Vec<u8> {
    let c = chain();
    let mut store = KeyStore::new();
    let certs = [&c.leaf, &c.intermediate, &c.root].map(|d| Certificate::from_der(d).expect("cert"));
    let key = PrivateKey::from_der(&c.leaf_key).expect("key");
    store.add_entry(
        "k",
        KeyStoreEntry::PrivateKeyChain(PrivateKeyChain::new("k", key, certs.to_vec())),
    );
    store
        .writer(password)
        .encryption_iterations(16)
        .mac_iterations(16)
        .write()
        .expect("pfx")
}

fn labels(pem: &[u8]) -> Vec<String> {
    gopem::decode_all(pem)
        .0
        .iter()
        .map(|b| String::from_utf8_lossy(b.label).into_owned())
        .collect()
}

#[test]
fn tls_rules_on_pem() {
    let c = chain();
    let data = [
        gopem::encode(b"PRIVATE KEY", &c.leaf_key),
        cert(&c.leaf),
        cert(&c.intermediate),
        cert(&c.root),
    ]
    .concat();
    assert_eq!(labels(&key(&data).expect("key")), ["EC PRIVATE KEY"]);
    assert_eq!(
        certificates(&data).expect("crt"),
        [cert(&c.leaf), cert(&c.intermediate), cert(&c.root)].concat()
    );
    assert_eq!(chain_of(&data), [cert(&c.intermediate), cert(&c.root)].concat());
    // The leaf is found whatever the order.
    let shuffled = [cert(&c.root), cert(&c.leaf), cert(&c.intermediate)].concat();
    assert_eq!(leaf(&shuffled).expect("leaf"), cert(&c.leaf));
    assert_eq!(key(&cert(&c.leaf)), Err(PemError::NoPrivateKey));
    assert_eq!(certificates(b"junk"), Err(PemError::NoCertificate));
}

fn chain_of(data: &[u8]) -> Vec<u8> {
    super::chain(data).expect("chain")
}

#[test]
fn filter_pem_is_esos() {
    let c = chain();
    let data = [
        b"junk before\n".to_vec(),
        gopem::encode(b"PRIVATE KEY", &c.leaf_key),
        cert(&c.leaf),
    ]
    .concat();
    assert_eq!(filter_pem(b"certificate", &data), Ok(cert(&c.leaf)));
    assert_eq!(
        filter_pem(b"PRIVATE KEY", &data),
        Ok(gopem::encode(b"PRIVATE KEY", &c.leaf_key))
    );
    assert_eq!(filter_pem(b"OTHER", &data), Ok(Vec::new()));
    assert_eq!(filter_pem(b"CERTIFICATE", b"not pem"), Err("found junk"));
}

#[test]
fn filter_cert_chain_is_esos() {
    let c = chain();
    let shuffled = [cert(&c.root), cert(&c.leaf), cert(&c.intermediate)].concat();
    assert_eq!(filter_cert_chain(b"leaf", &shuffled), Ok(cert(&c.leaf)));
    assert_eq!(
        filter_cert_chain(b"intermediate", &shuffled),
        Ok(cert(&c.intermediate))
    );
    assert_eq!(filter_cert_chain(b"root", &shuffled), Ok(cert(&c.root)));
    assert_eq!(filter_cert_chain(b"other", &shuffled), Ok(Vec::new()));
    let two_leaves = [cert(&c.leaf), cert(&c.leaf)].concat();
    assert!(filter_cert_chain(b"leaf", &two_leaves).is_err());
    assert_eq!(filter_cert_chain(b"root", &cert(&c.root)), Ok(cert(&c.root)));
    assert_eq!(filter_cert_chain(b"leaf", &cert(&c.root)), Ok(Vec::new()));
    assert_eq!(
        filter_cert_chain(
            b"leaf",
            b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
        ),
        Err("a PEM block is not a certificate")
    );
}

#[test]
fn pkcs12_functions_are_esos() {
    let c = chain();
    let archive = pfx("");
    let key_pem = pkcs12_key(b"", &archive).expect("key");
    let (blocks, _) = gopem::decode_all(&key_pem);
    assert_eq!(labels(&key_pem), ["PRIVATE KEY"]);
    let info = pkcs8::PrivateKeyInfo::from_der(&blocks[0].bytes).expect("pkcs8");
    let want = pkcs8::PrivateKeyInfo::from_der(&c.leaf_key).expect("pkcs8");
    assert_eq!(info.algorithm.oid, want.algorithm.oid);
    let scalar = |i: &pkcs8::PrivateKeyInfo<'_>| {
        sec1::EcPrivateKey::from_der(i.private_key)
            .expect("sec1")
            .private_key
            .to_vec()
    };
    assert_eq!(scalar(&info), scalar(&want));
    assert_eq!(
        pkcs12_cert(b"", &archive),
        Ok([cert(&c.leaf), cert(&c.intermediate), cert(&c.root)].concat())
    );
    let locked = pfx("1234");
    assert!(pkcs12_key(b"1234", &locked).is_ok());
    let wrong = pkcs12_key(b"nope", &locked).expect_err("wrong password");
    assert_eq!(wrong, "the PKCS#12 MAC does not verify with the given password");
}

#[test]
fn template_functions_reach_them() {
    use crate::{Budget, Template, Values};
    let c = chain();
    let pem = [
        gopem::encode(b"PRIVATE KEY", &c.leaf_key),
        cert(&c.leaf),
        cert(&c.intermediate),
    ]
    .concat();
    let values: Values = [("pem".to_string(), pem), ("pfx".to_string(), pfx(""))]
        .into_iter()
        .collect();
    let render = |text: &str| {
        Template::parse("t", text)
            .and_then(|t| t.render(&values, &mut Budget::default()))
            .unwrap_or_else(|e| panic!("{text}: {e}"))
    };
    assert_eq!(labels(&render("{{ .pem | pemKey }}")), ["EC PRIVATE KEY"]);
    assert_eq!(
        render("{{ .pem | pemCertificates }}"),
        [cert(&c.leaf), cert(&c.intermediate)].concat()
    );
    assert_eq!(render("{{ .pem | pemLeaf }}"), cert(&c.leaf));
    assert_eq!(render("{{ .pem | pemChain }}"), cert(&c.intermediate));
    assert_eq!(
        render("{{ .pem | filterPEM \"CERTIFICATE\" }}"),
        [cert(&c.leaf), cert(&c.intermediate)].concat()
    );
    assert_eq!(
        render("{{ .pem | filterPEM \"CERTIFICATE\" | filterCertChain \"leaf\" }}"),
        cert(&c.leaf)
    );
    assert_eq!(labels(&render("{{ .pfx | pkcs12key }}")), ["PRIVATE KEY"]);
    assert_eq!(
        render("{{ .pfx | pkcs12certPass \"\" }}"),
        [cert(&c.leaf), cert(&c.intermediate), cert(&c.root)].concat()
    );
    let e = Template::parse("t", "{{ .pfx | pkcs12keyPass \"x\" }}")
        .and_then(|t| t.render(&values, &mut Budget::default()));
    assert_eq!(
        e.err().map(|e| e.what),
        Some("pkcs12keyPass: the PKCS#12 MAC does not verify with the given password".into())
    );
}
