//! Certificate-backed secrets, PKCS#12 → PEM.

use super::*;

fn assert_key_then_chain(out: &CertificateSecret, chain: &fixtures::Chain) {
    let blocks = blocks(&out.main);
    let labels: Vec<&str> = blocks.iter().map(|(l, _)| l.as_str()).collect();
    assert_eq!(
        labels,
        ["PRIVATE KEY", "CERTIFICATE", "CERTIFICATE", "CERTIFICATE"]
    );

    // The key is PKCS#8 and belongs to the leaf.
    let key = rcgen::KeyPair::try_from(blocks[0].1.as_slice()).expect("PKCS#8 key");
    assert_eq!(key.subject_public_key_info(), spki_of_cert(&chain.leaf));
    pkcs8::PrivateKeyInfo::try_from(blocks[0].1.as_slice()).expect("PKCS#8 structure");

    // Certificates leaf → intermediate → root.
    assert_eq!(blocks[1].1, chain.leaf);
    assert_eq!(blocks[2].1, chain.intermediate);
    assert_eq!(blocks[3].1, chain.root);

    // Byte layout is Go's: no headers, \n endings, 64 columns, keys first.
    let expected_certs = [&chain.leaf, &chain.intermediate, &chain.root]
        .iter()
        .map(|c| go_pem("CERTIFICATE", c))
        .collect::<String>();
    let expected_key = go_pem("PRIVATE KEY", &blocks[0].1);
    assert_eq!(
        String::from_utf8(out.main.clone()).unwrap(),
        format!("{expected_key}{expected_certs}")
    );
    assert_eq!(String::from_utf8(out.cert_pem.clone()).unwrap(), expected_certs);
    assert_eq!(String::from_utf8(out.key_pem.clone()).unwrap(), expected_key);
}

#[test]
fn pkcs12_rsa_key_first_then_chain_leaf_to_root() {
    let chain = fixtures::chain(Alg::Rsa2048);
    let pfx = fixtures::pfx(
        &[&chain.leaf_key],
        &[&chain.intermediate, &chain.root, &chain.leaf],
        Protection::Legacy3Des,
    );
    let out = pkcs12_pem(&fixtures::b64(&pfx), true).unwrap();
    assert_key_then_chain(&out, &chain);
    // RSA keys are written as rsaEncryption PKCS#8 with the key as stored.
    assert_eq!(blocks(&out.main)[0].1, chain.leaf_key);
}

#[test]
fn pkcs12_ec_p256_key_first_then_chain_leaf_to_root() {
    let chain = fixtures::chain(Alg::P256);
    let pfx = fixtures::pfx(
        &[&chain.leaf_key],
        &[&chain.root, &chain.leaf, &chain.intermediate],
        Protection::Legacy3Des,
    );
    assert_key_then_chain(&pkcs12_pem(&fixtures::b64(&pfx), true).unwrap(), &chain);
}

#[test]
fn pkcs12_ec_p384_with_pbes2_protection() {
    let chain = fixtures::chain(Alg::P384);
    let pfx = fixtures::pfx(
        &[&chain.leaf_key],
        &[&chain.root, &chain.intermediate, &chain.leaf],
        Protection::Pbes2Aes,
    );
    assert_key_then_chain(&pkcs12_pem(&fixtures::b64(&pfx), true).unwrap(), &chain);
}

#[test]
fn pkcs12_rc2_protection_is_readable() {
    let chain = fixtures::chain(Alg::P256);
    let pfx = fixtures::pfx(
        &[&chain.leaf_key],
        &[&chain.leaf, &chain.root, &chain.intermediate],
        Protection::LegacyRc2,
    );
    assert_key_then_chain(&pkcs12_pem(&fixtures::b64(&pfx), true).unwrap(), &chain);
}

#[test]
fn pkcs12_chain_is_ordered_from_every_input_order() {
    let chain = fixtures::chain(Alg::P256);
    let (l, i, r) = (
        chain.leaf.as_slice(),
        chain.intermediate.as_slice(),
        chain.root.as_slice(),
    );
    for order in [[l, i, r], [l, r, i], [i, l, r], [i, r, l], [r, l, i], [r, i, l]] {
        let pfx = fixtures::pfx(&[&chain.leaf_key], &order, Protection::Legacy3Des);
        assert_key_then_chain(&pkcs12_pem(&fixtures::b64(&pfx), true).unwrap(), &chain);
    }
}

#[test]
fn pkcs12_without_construct_pem_chain_keeps_stored_order() {
    let chain = fixtures::chain(Alg::P256);
    let stored = [
        chain.intermediate.as_slice(),
        chain.root.as_slice(),
        chain.leaf.as_slice(),
    ];
    let pfx = fixtures::pfx(&[&chain.leaf_key], &stored, Protection::Legacy3Des);
    let out = pkcs12_pem(&fixtures::b64(&pfx), false).unwrap();
    let certs: Vec<Vec<u8>> = blocks(&out.main)
        .into_iter()
        .skip(1)
        .map(|(_, der)| der)
        .collect();
    assert_eq!(certs, stored);
}

#[test]
fn pkcs12_incomplete_chain_keeps_stored_order() {
    let chain = fixtures::chain(Alg::P256);
    // Intermediate missing: the leaf does not link to the root.
    for stored in [
        [chain.root.as_slice(), chain.leaf.as_slice()],
        [chain.leaf.as_slice(), chain.root.as_slice()],
    ] {
        let pfx = fixtures::pfx(&[&chain.leaf_key], &stored, Protection::Legacy3Des);
        let out = pkcs12_pem(&fixtures::b64(&pfx), true).unwrap();
        let certs: Vec<Vec<u8>> = blocks(&out.main)
            .into_iter()
            .skip(1)
            .map(|(_, der)| der)
            .collect();
        assert_eq!(certs, stored);
    }
    // An unrelated extra certificate also makes the chain incomplete.
    let other = fixtures::chain(Alg::P256);
    let stored = [
        chain.root.as_slice(),
        other.root.as_slice(),
        chain.leaf.as_slice(),
        chain.intermediate.as_slice(),
    ];
    let pfx = fixtures::pfx(&[&chain.leaf_key], &stored, Protection::Legacy3Des);
    let out = pkcs12_pem(&fixtures::b64(&pfx), true).unwrap();
    let certs: Vec<Vec<u8>> = blocks(&out.main)
        .into_iter()
        .skip(1)
        .map(|(_, der)| der)
        .collect();
    assert_eq!(certs, stored);
}

#[test]
fn pkcs12_leaf_only_is_a_complete_chain() {
    let chain = fixtures::chain(Alg::P256);
    let pfx = fixtures::pfx(&[&chain.leaf_key], &[&chain.leaf], Protection::Legacy3Des);
    let out = pkcs12_pem(&fixtures::b64(&pfx), true).unwrap();
    let labels: Vec<String> = blocks(&out.main).into_iter().map(|(l, _)| l).collect();
    assert_eq!(labels, ["PRIVATE KEY", "CERTIFICATE"]);
}

#[test]
fn pkcs12_certificates_only() {
    let chain = fixtures::chain(Alg::P256);
    let pfx = fixtures::pfx(
        &[],
        &[&chain.root, &chain.leaf, &chain.intermediate],
        Protection::Legacy3Des,
    );
    let out = pkcs12_pem(&fixtures::b64(&pfx), true).unwrap();
    let certs: Vec<Vec<u8>> = blocks(&out.main).into_iter().map(|(_, der)| der).collect();
    assert_eq!(
        certs,
        [chain.leaf.clone(), chain.intermediate.clone(), chain.root.clone()]
    );
    assert!(out.key_pem.is_empty());
    assert_eq!(out.cert_pem, out.main);
}

#[test]
fn pkcs12_several_keys_all_come_first() {
    let a = fixtures::chain(Alg::P256);
    let b = fixtures::chain(Alg::Rsa2048);
    let pfx = fixtures::pfx(&[&a.leaf_key, &b.leaf_key], &[&a.leaf], Protection::Legacy3Des);
    let out = pkcs12_pem(&fixtures::b64(&pfx), true).unwrap();
    let labels: Vec<String> = blocks(&out.main).into_iter().map(|(l, _)| l).collect();
    assert_eq!(labels, ["PRIVATE KEY", "PRIVATE KEY", "CERTIFICATE"]);
    assert_eq!(blocks(&out.key_pem).len(), 2);
}

#[test]
fn pkcs12_without_certificates_has_no_leaf() {
    let chain = fixtures::chain(Alg::P256);
    let pfx = fixtures::pfx(&[&chain.leaf_key], &[], Protection::Legacy3Des);
    assert_eq!(err_text(pkcs12_pem(&fixtures::b64(&pfx), true)), "no leaf found");
    // Without chain construction the key alone is written.
    let out = pkcs12_pem(&fixtures::b64(&pfx), false).unwrap();
    assert_eq!(blocks(&out.main).len(), 1);
}

#[test]
fn pkcs12_mutual_issuers_have_no_leaf() {
    let a = fixtures::cert_with_ids("A", Some(b"a"), Some(b"b"));
    let b = fixtures::cert_with_ids("B", Some(b"b"), Some(b"a"));
    let pfx = fixtures::pfx(&[], &[&a, &b], Protection::Legacy3Des);
    assert_eq!(err_text(pkcs12_pem(&fixtures::b64(&pfx), true)), "no leaf found");
}

#[test]
fn pkcs12_issuer_cycle_is_an_error() {
    let leaf = fixtures::cert_with_ids("L", None, Some(b"a"));
    let a = fixtures::cert_with_ids("A", Some(b"a"), Some(b"b"));
    let b = fixtures::cert_with_ids("B", Some(b"b"), Some(b"a"));
    let pfx = fixtures::pfx(&[], &[&leaf, &a, &b], Protection::Legacy3Des);
    assert_eq!(
        err_text(pkcs12_pem(&fixtures::b64(&pfx), true)),
        "constructing chain resulted in cycle"
    );
    // Not an error when the chain is not constructed.
    assert_eq!(
        blocks(&pkcs12_pem(&fixtures::b64(&pfx), false).unwrap().main).len(),
        3
    );
}

#[test]
fn pkcs12_certificates_without_key_ids_do_not_link() {
    // Neither certificate has AKI or SKI: two leaves, nothing links, order kept.
    let x = fixtures::cert_with_ids("X", None, None);
    let y = fixtures::cert_with_ids("Y", None, None);
    let pfx = fixtures::pfx(&[], &[&y, &x], Protection::Legacy3Des);
    let certs: Vec<Vec<u8>> = blocks(&pkcs12_pem(&fixtures::b64(&pfx), true).unwrap().main)
        .into_iter()
        .map(|(_, d)| d)
        .collect();
    assert_eq!(certs, [y, x]);
}

#[test]
fn pkcs12_unsupported_key_type_fails_to_parse() {
    let chain = fixtures::chain(Alg::P256);
    let ed = fixtures::ed25519_key();
    let pfx = fixtures::pfx(&[&ed], &[&chain.leaf], Protection::Legacy3Des);
    assert_eq!(
        err_text(pkcs12_pem(&fixtures::b64(&pfx), true)),
        "failed to parse key for type pkcs1, pkcs8 or ec"
    );
}

#[test]
fn pkcs12_requires_the_empty_password() {
    let chain = fixtures::chain(Alg::P256);
    let pfx = fixtures::pfx_with_password(
        &[&chain.leaf_key],
        &[&chain.leaf],
        Protection::Legacy3Des,
        "hunter2",
    );
    let err = err_text(pkcs12_pem(&fixtures::b64(&pfx), true));
    assert_eq!(err, "pkcs12: decryption password incorrect");
}

#[test]
fn pkcs12_invalid_base64_and_garbage() {
    assert_eq!(
        err_text(pkcs12_pem("not base64!", true)),
        "illegal base64 data at input byte 3"
    );
    let err = err_text(pkcs12_pem(&fixtures::b64(b"definitely not DER"), true));
    assert!(err.starts_with("pkcs12: "), "{err}");
    assert!(!err.contains("definitely"), "{err}");
    let err = err_text(pkcs12_pem("", true));
    assert!(err.starts_with("pkcs12: "), "{err}");
}

#[test]
fn pkcs12_base64_with_line_breaks_is_accepted() {
    let chain = fixtures::chain(Alg::P256);
    let pfx = fixtures::pfx(
        &[&chain.leaf_key],
        &[&chain.leaf, &chain.root, &chain.intermediate],
        Protection::Legacy3Des,
    );
    let wrapped: String = fixtures::b64(&pfx)
        .as_bytes()
        .chunks(76)
        .map(|c| format!("{}\r\n", std::str::from_utf8(c).unwrap()))
        .collect();
    assert_key_then_chain(&pkcs12_pem(&wrapped, true).unwrap(), &chain);
}

#[test]
fn pkcs12_pem_output_with_binary_encoding_fails_like_upstream() {
    let chain = fixtures::chain(Alg::P256);
    let pfx = fixtures::b64(&fixtures::pfx(
        &[&chain.leaf_key],
        &[&chain.leaf],
        Protection::Legacy3Des,
    ));
    let b64 = certificate_secret(
        &pfx,
        Some(CONTENT_TYPE_PKCS12),
        Format::Pem,
        Encoding::Base64,
        true,
    );
    assert_eq!(err_text(b64), "illegal base64 data at input byte 0");
    let hex = certificate_secret(&pfx, Some(CONTENT_TYPE_PKCS12), Format::Pem, Encoding::Hex, true);
    assert_eq!(err_text(hex), "encoding/hex: invalid byte at input byte 0");
}
