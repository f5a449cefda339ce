//! Test material: real certificate chains from rcgen and PFX archives from p12-keystore.

use p12_keystore::{
    Certificate, EncryptionAlgorithm, KeyStore, KeyStoreEntry, MacAlgorithm, PrivateKey, PrivateKeyChain,
};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose,
    SignatureAlgorithm,
};

/// Key algorithms the tests cover.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Alg {
    Rsa2048,
    P256,
    P384,
}

pub(crate) fn key_pair(alg: Alg) -> KeyPair {
    match alg {
        Alg::Rsa2048 => KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048).unwrap(),
        Alg::P256 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap(),
        Alg::P384 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap(),
    }
}

/// root CA → intermediate CA → leaf, every certificate with SubjectKeyIdentifier (CAs) and
/// AuthorityKeyIdentifier, as rcgen and real CAs produce them.
pub(crate) struct Chain {
    pub(crate) root: Vec<u8>,
    pub(crate) intermediate: Vec<u8>,
    pub(crate) leaf: Vec<u8>,
    /// The leaf's private key, PKCS#8 DER.
    pub(crate) leaf_key: Vec<u8>,
}

fn ca_params(cn: &str, constraints: BasicConstraints) -> CertificateParams {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, cn);
    params.is_ca = IsCa::Ca(constraints);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.use_authority_key_identifier_extension = true;
    params
}

pub(crate) fn chain(alg: Alg) -> Chain {
    let root_key = key_pair(alg);
    let root_params = ca_params("Test Root CA", BasicConstraints::Unconstrained);
    let root = root_params.self_signed(&root_key).unwrap();
    let root_issuer = Issuer::new(root_params, root_key);

    let int_key = key_pair(alg);
    let int_params = ca_params("Test Intermediate CA", BasicConstraints::Constrained(0));
    let intermediate = int_params.signed_by(&int_key, &root_issuer).unwrap();
    let int_issuer = Issuer::new(int_params, int_key);

    let leaf_key = key_pair(alg);
    let mut leaf_params = CertificateParams::new(vec!["app.example.com".to_owned()]).unwrap();
    leaf_params
        .distinguished_name
        .push(DnType::CommonName, "app.example.com");
    leaf_params.use_authority_key_identifier_extension = true;
    let leaf = leaf_params.signed_by(&leaf_key, &int_issuer).unwrap();

    Chain {
        root: root.der().to_vec(),
        intermediate: intermediate.der().to_vec(),
        leaf: leaf.der().to_vec(),
        leaf_key: leaf_key.serialize_der(),
    }
}

/// A certificate with chosen key identifiers (`ski` only on CA certificates; `aki` from a fake issuer).
/// Signatures are meaningless: chain construction does not verify them.
pub(crate) fn cert_with_ids(cn: &str, ski: Option<&[u8]>, aki: Option<&[u8]>) -> Vec<u8> {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, cn);
    if let Some(ski) = ski {
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_identifier_method = KeyIdMethod::PreSpecified(ski.to_vec());
    }
    match aki {
        Some(aki) => {
            params.use_authority_key_identifier_extension = true;
            let mut issuer_params = CertificateParams::new(Vec::<String>::new()).unwrap();
            issuer_params
                .distinguished_name
                .push(DnType::CommonName, "fake issuer");
            issuer_params.key_identifier_method = KeyIdMethod::PreSpecified(aki.to_vec());
            let issuer_key = KeyPair::generate().unwrap();
            let issuer = Issuer::new(issuer_params, issuer_key);
            params.signed_by(&key, &issuer).unwrap().der().to_vec()
        }
        None => params.self_signed(&key).unwrap().der().to_vec(),
    }
}

/// How the PFX is protected.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Protection {
    /// What Key Vault and Windows export: PBE-SHA1-3DES with an HMAC-SHA1 MAC.
    Legacy3Des,
    /// OpenSSL's and Windows' older default: PBE-SHA1-RC2-40 with an HMAC-SHA1 MAC.
    LegacyRc2,
    /// What modern OpenSSL / Java write: PBES2 (PBKDF2-SHA256, AES-256-CBC) with an HMAC-SHA256 MAC.
    Pbes2Aes,
}

/// A PFX protected with `password` holding `keys` (PKCS#8 DER, one keychain each, the first also carrying
/// `certs` in the given order) — or, with no keys, just `certs` as trusted certificates.
pub(crate) fn pfx_with_password(
    keys: &[&[u8]],
    certs: &[&[u8]],
    protection: Protection,
    password: &str,
) -> Vec<u8> {
    let mut store = KeyStore::new();
    let certs: Vec<Certificate> = certs
        .iter()
        .map(|der| Certificate::from_der(der).unwrap())
        .collect();
    let mut certs = Some(certs);
    if keys.is_empty() {
        for (i, cert) in certs.take().unwrap_or_default().into_iter().enumerate() {
            // Aliases sort in insertion order, so the writer keeps the given order.
            store.add_entry(&format!("cert{i:02}"), KeyStoreEntry::Certificate(cert));
        }
    }
    for (i, key) in keys.iter().enumerate() {
        let chain = PrivateKeyChain::new(
            format!("key{i}").as_str(),
            PrivateKey::from_der(key).unwrap(),
            certs.take().unwrap_or_default(),
        );
        store.add_entry(&format!("key{i:02}"), KeyStoreEntry::PrivateKeyChain(chain));
    }
    let writer = store
        .writer(password)
        .encryption_iterations(64)
        .mac_iterations(64);
    let writer = match protection {
        Protection::Legacy3Des => writer
            .encryption_algorithm(EncryptionAlgorithm::PbeWithShaAnd3KeyTripleDesCbc)
            .mac_algorithm(MacAlgorithm::HmacSha1),
        Protection::LegacyRc2 => writer
            .encryption_algorithm(EncryptionAlgorithm::PbeWithShaAnd40BitRc4Cbc)
            .mac_algorithm(MacAlgorithm::HmacSha1),
        Protection::Pbes2Aes => writer
            .encryption_algorithm(EncryptionAlgorithm::PbeWithHmacSha256AndAes256)
            .mac_algorithm(MacAlgorithm::HmacSha256),
    };
    writer.write().unwrap()
}

/// [`pfx_with_password`] with the empty password Key Vault uses.
pub(crate) fn pfx(keys: &[&[u8]], certs: &[&[u8]], protection: Protection) -> Vec<u8> {
    pfx_with_password(keys, certs, protection, "")
}

pub(crate) fn b64(data: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// A PKCS#8 key rcgen can produce but the provider must reject (Ed25519).
pub(crate) fn ed25519_key() -> Vec<u8> {
    let alg: &'static SignatureAlgorithm = &rcgen::PKCS_ED25519;
    KeyPair::generate_for(alg).unwrap().serialize_der()
}
