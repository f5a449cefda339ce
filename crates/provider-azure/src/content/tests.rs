//! Behaviour of the public transformations, on real material from rcgen and p12-keystore.

use proptest::prelude::*;
use rcgen::PublicKeyData as _;
use x509_parser::prelude::FromDer as _;
use x509_parser::public_key::PublicKey;
use x509_parser::x509::SubjectPublicKeyInfo;

use super::fixtures::{self, Alg, Protection};
use super::*;

/// PEM blocks parsed with the `pem` crate (an independent parser), as (label, DER).
fn blocks(data: &[u8]) -> Vec<(String, Vec<u8>)> {
    let text = std::str::from_utf8(data).expect("PEM output is text");
    pem::parse_many(text)
        .unwrap()
        .into_iter()
        .map(|p| (p.tag().to_owned(), p.into_contents()))
        .collect()
}

/// What Go's `pem.EncodeToMemory` writes, via the `pem` crate configured for `\n`.
fn go_pem(label: &str, der: &[u8]) -> String {
    pem::encode_config(
        &pem::Pem::new(label, der.to_vec()),
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    )
}

fn spki_of_cert(der: &[u8]) -> Vec<u8> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).unwrap();
    cert.public_key().raw.to_vec()
}

fn pkcs12_pem(value: &str, construct_pem_chain: bool) -> Result<CertificateSecret, ContentError> {
    certificate_secret(
        value,
        Some(CONTENT_TYPE_PKCS12),
        Format::Pem,
        Encoding::Utf8,
        construct_pem_chain,
    )
}

fn err_text<T: fmt::Debug>(result: Result<T, ContentError>) -> String {
    result.unwrap_err().to_string()
}

// ---------------------------------------------------------------------------------------------------------
// Plain secrets.

#[test]
fn plain_utf8_is_the_value_verbatim() {
    for value in ["", "s3cr3t", "line1\r\nline2\n", "ünïcødé ✓", "-----BEGIN X-----"] {
        assert_eq!(plain_secret(value, Encoding::Utf8).unwrap(), value.as_bytes());
    }
    assert_eq!(Encoding::default(), Encoding::Utf8);
}

#[test]
fn plain_base64_decodes_standard_padded_base64() {
    assert_eq!(
        plain_secret("aGVsbG8gd29ybGQ=", Encoding::Base64).unwrap(),
        b"hello world"
    );
    assert_eq!(plain_secret("AP8=", Encoding::Base64).unwrap(), [0x00, 0xff]);
    assert_eq!(plain_secret("", Encoding::Base64).unwrap(), b"");
    assert_eq!(plain_secret("aGVs\r\nbG8=", Encoding::Base64).unwrap(), b"hello");
}

#[test]
fn plain_base64_errors_name_the_offset_only() {
    assert_eq!(
        err_text(plain_secret("aGVsbG8", Encoding::Base64)),
        "illegal base64 data at input byte 4"
    );
    assert_eq!(
        err_text(plain_secret("ab$d", Encoding::Base64)),
        "illegal base64 data at input byte 2"
    );
    let err = err_text(plain_secret("aGVsbG8_", Encoding::Base64));
    assert!(err.starts_with("illegal base64 data at input byte"), "{err}");
    assert!(!err.contains('_'));
}

#[test]
fn plain_hex_decodes_and_errors() {
    assert_eq!(
        plain_secret("DEADbeef00", Encoding::Hex).unwrap(),
        [0xde, 0xad, 0xbe, 0xef, 0x00]
    );
    assert_eq!(plain_secret("", Encoding::Hex).unwrap(), b"");
    assert_eq!(
        err_text(plain_secret("abc", Encoding::Hex)),
        "encoding/hex: odd length hex string"
    );
    let err = err_text(plain_secret("00zz", Encoding::Hex));
    assert_eq!(err, "encoding/hex: invalid byte at input byte 2");
    assert!(
        !err.contains('z'),
        "the secret character must not be in the message"
    );
}

// ---------------------------------------------------------------------------------------------------------
// Certificate-backed secrets, PKCS#12 → PEM.

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

// ---------------------------------------------------------------------------------------------------------
// Certificate-backed secrets, PKCS#12 kept as PFX.

#[test]
fn pfx_format_returns_the_stored_text_or_binary() {
    let chain = fixtures::chain(Alg::P256);
    let pfx = fixtures::pfx(
        &[&chain.leaf_key],
        &[&chain.leaf, &chain.intermediate],
        Protection::Legacy3Des,
    );
    let text = fixtures::b64(&pfx);

    let utf8 = certificate_secret(
        &text,
        Some(CONTENT_TYPE_PKCS12),
        Format::Pfx,
        Encoding::Utf8,
        true,
    )
    .unwrap();
    assert_eq!(utf8.main, text.as_bytes());
    assert!(utf8.cert_pem.is_empty() && utf8.key_pem.is_empty());

    let binary = certificate_secret(
        &text,
        Some(CONTENT_TYPE_PKCS12),
        Format::Pfx,
        Encoding::Base64,
        true,
    )
    .unwrap();
    assert_eq!(binary.main, pfx);
    assert!(binary.cert_pem.is_empty() && binary.key_pem.is_empty());
    // The binary output is a PFX that still opens with the empty password.
    p12_keystore::KeyStore::from_pkcs12(&binary.main, "", p12_keystore::Pkcs12ImportPolicy::Relaxed).unwrap();

    let hex = certificate_secret(&text, Some(CONTENT_TYPE_PKCS12), Format::Pfx, Encoding::Hex, true);
    assert!(err_text(hex).starts_with("encoding/hex: invalid byte at input byte"));
}

#[test]
fn pfx_format_does_not_parse_the_archive() {
    let out = certificate_secret(
        "bm90IGEgcGZ4",
        Some(CONTENT_TYPE_PKCS12),
        Format::Pfx,
        Encoding::Utf8,
        true,
    )
    .unwrap();
    assert_eq!(out.main, b"bm90IGEgcGZ4");
    let out = certificate_secret(
        "bm90IGEgcGZ4",
        Some(CONTENT_TYPE_PKCS12),
        Format::Pfx,
        Encoding::Base64,
        true,
    )
    .unwrap();
    assert_eq!(out.main, b"not a pfx");
}

// ---------------------------------------------------------------------------------------------------------
// Certificate-backed secrets, PEM.

#[test]
fn pem_content_is_passed_through_and_split() {
    let chain = fixtures::chain(Alg::P256);
    let key = go_pem("PRIVATE KEY", &chain.leaf_key);
    // Upload order root, key, leaf, with CRLF endings and text between blocks, as users upload them.
    let value = format!(
        "Bag Attributes\r\n{}\r\nsubject=CN = x\r\n{}{}",
        go_pem("CERTIFICATE", &chain.root).replace('\n', "\r\n"),
        key,
        go_pem("CERTIFICATE", &chain.leaf),
    );
    for format in [Format::Pem, Format::Pfx] {
        for construct in [true, false] {
            let out = certificate_secret(&value, Some(CONTENT_TYPE_PEM), format, Encoding::Utf8, construct)
                .unwrap();
            assert_eq!(out.main, value.as_bytes(), "stored value, unchanged");
            assert_eq!(
                String::from_utf8(out.cert_pem).unwrap(),
                format!(
                    "{}{}",
                    go_pem("CERTIFICATE", &chain.root),
                    go_pem("CERTIFICATE", &chain.leaf)
                ),
                "certificates in stored order, normalised to \\n"
            );
            assert_eq!(String::from_utf8(out.key_pem).unwrap(), key);
        }
    }
}

#[test]
fn pem_split_keeps_block_headers_and_non_certificate_blocks() {
    let value = "-----BEGIN RSA PRIVATE KEY-----\nDEK-Info: AES-128-CBC,00\nProc-Type: 4,ENCRYPTED\n\nAQID\n-----END RSA PRIVATE KEY-----\n-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n";
    let out = certificate_secret(value, Some(CONTENT_TYPE_PEM), Format::Pem, Encoding::Utf8, true).unwrap();
    assert!(out.cert_pem.is_empty());
    assert_eq!(
        String::from_utf8(out.key_pem).unwrap(),
        "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\nAQID\n-----END RSA PRIVATE KEY-----\n-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n"
    );
}

#[test]
fn pem_content_without_blocks_has_empty_split() {
    let out = certificate_secret(
        "not pem",
        Some(CONTENT_TYPE_PEM),
        Format::Pem,
        Encoding::Utf8,
        true,
    )
    .unwrap();
    assert_eq!(out.main, b"not pem");
    assert!(out.cert_pem.is_empty() && out.key_pem.is_empty());
}

#[test]
fn pem_content_with_binary_encoding_fails_like_upstream() {
    let value = go_pem("CERTIFICATE", b"\x30\x00");
    let out = certificate_secret(
        &value,
        Some(CONTENT_TYPE_PEM),
        Format::Pem,
        Encoding::Base64,
        true,
    );
    assert_eq!(err_text(out), "illegal base64 data at input byte 0");
}

#[test]
fn unknown_content_type_is_an_error() {
    let err = |ct: Option<&str>| err_text(certificate_secret("x", ct, Format::Pem, Encoding::Utf8, true));
    assert_eq!(
        err(Some("application/json")),
        "failed to get certificate. unknown content type 'application/json'"
    );
    assert_eq!(err(None), "failed to get certificate. unknown content type ''");
    assert_eq!(
        err(Some("")),
        "failed to get certificate. unknown content type ''"
    );
    // Matching is exact, as upstream's switch.
    assert_eq!(
        err(Some("Application/X-PEM-File")),
        "failed to get certificate. unknown content type 'Application/X-PEM-File'"
    );
    let pfx = certificate_secret(
        "x",
        Some("application/x-pkcs12 "),
        Format::Pfx,
        Encoding::Utf8,
        true,
    );
    assert_eq!(
        err_text(pfx),
        "failed to get certificate. unknown content type 'application/x-pkcs12 '"
    );
}

#[test]
fn certificate_secret_debug_is_redacted() {
    let out = certificate_secret(
        "TOPSECRET",
        Some(CONTENT_TYPE_PEM),
        Format::Pem,
        Encoding::Utf8,
        true,
    )
    .unwrap();
    let debug = format!("{out:?}");
    assert!(!debug.contains("TOPSECRET"), "{debug}");
    assert!(debug.contains("9 bytes"), "{debug}");
}

// ---------------------------------------------------------------------------------------------------------
// Keys (objectType key).

fn pem_to_spki(pem_out: &[u8]) -> Vec<u8> {
    let blocks = blocks(pem_out);
    assert_eq!(blocks.len(), 1);
    assert_eq!(blocks[0].0, "PUBLIC KEY");
    let text = String::from_utf8(pem_out.to_vec()).unwrap();
    assert_eq!(text, go_pem("PUBLIC KEY", &blocks[0].1), "Go layout");
    blocks[0].1.clone()
}

#[test]
fn rsa_public_key_round_trips() {
    let key = fixtures::key_pair(Alg::Rsa2048);
    let spki = key.subject_public_key_info();
    let (_, parsed) = SubjectPublicKeyInfo::from_der(&spki).unwrap();
    let PublicKey::RSA(rsa) = parsed.parsed().unwrap() else {
        panic!("RSA key expected")
    };
    let (n, e) = (rsa.modulus.to_vec(), rsa.exponent.to_vec());

    for kty in ["RSA", "RSA-HSM"] {
        let out = public_key_pem(kty, None, Some(&n), Some(&e), None, None).unwrap();
        let der = pem_to_spki(&out);
        assert_eq!(der, spki, "identical to the SPKI rcgen/aws-lc writes");

        let (_, back) = SubjectPublicKeyInfo::from_der(&der).unwrap();
        let PublicKey::RSA(back) = back.parsed().unwrap() else {
            panic!("RSA key expected")
        };
        assert_eq!(back.exponent, [1, 0, 1]);
        assert_eq!(back.key_size(), 2048);
        assert_eq!(strip(back.modulus), strip(&n));
    }

    // Key Vault sends n without a sign byte; a redundant leading zero changes nothing.
    let n_stripped = strip(&n).to_vec();
    let mut n_padded = vec![0, 0];
    n_padded.extend_from_slice(&n_stripped);
    let a = public_key_pem("RSA", None, Some(&n_stripped), Some(&[1, 0, 1]), None, None).unwrap();
    let b = public_key_pem("RSA", None, Some(&n_padded), Some(&[0, 1, 0, 1]), None, None).unwrap();
    assert_eq!(a, b);
    assert_eq!(pem_to_spki(&a), spki);
}

fn strip(mut v: &[u8]) -> &[u8] {
    while let [0, rest @ ..] = v {
        v = rest;
    }
    v
}

#[test]
fn ec_public_keys_round_trip() {
    let cases: [(&str, &'static rcgen::SignatureAlgorithm, usize); 3] = [
        ("P-256", &rcgen::PKCS_ECDSA_P256_SHA256, 32),
        ("P-384", &rcgen::PKCS_ECDSA_P384_SHA384, 48),
        ("P-521", &rcgen::PKCS_ECDSA_P521_SHA512, 66),
    ];
    for (crv, alg, len) in cases {
        let key = rcgen::KeyPair::generate_for(alg).unwrap();
        let spki = key.subject_public_key_info();
        let point = key.der_bytes();
        assert_eq!(point.len(), 1 + 2 * len);
        let (x, y) = point[1..].split_at(len);
        for kty in ["EC", "EC-HSM"] {
            let out = public_key_pem(kty, Some(crv), None, None, Some(x), Some(y)).unwrap();
            let der = pem_to_spki(&out);
            assert_eq!(der, spki, "{crv}: identical to the SPKI rcgen/aws-lc writes");
            let (_, back) = SubjectPublicKeyInfo::from_der(&der).unwrap();
            let PublicKey::EC(back) = back.parsed().unwrap() else {
                panic!("EC key expected")
            };
            assert_eq!(back.data(), point);
        }
    }
}

#[test]
fn ec_coordinates_are_padded_to_the_field_size() {
    let out = public_key_pem("EC", Some("P-256"), None, None, Some(&[1]), Some(&[0, 0, 2])).unwrap();
    let der = pem_to_spki(&out);
    let (_, spki) = SubjectPublicKeyInfo::from_der(&der).unwrap();
    let PublicKey::EC(point) = spki.parsed().unwrap() else {
        panic!("EC key expected")
    };
    let mut expected = vec![4u8];
    expected.extend_from_slice(&[0; 31]);
    expected.push(1);
    expected.extend_from_slice(&[0; 31]);
    expected.push(2);
    assert_eq!(point.data(), expected);
    assert_eq!(
        spki.algorithm
            .parameters
            .as_ref()
            .unwrap()
            .as_oid()
            .unwrap()
            .to_id_string(),
        "1.2.840.10045.3.1.7"
    );
}

#[test]
fn ec_coordinates_must_be_field_elements() {
    let primes = [
        (
            "P-256",
            "ffffffff00000001000000000000000000000000ffffffffffffffffffffffff",
        ),
        (
            "P-384",
            "fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffeffffffff0000000000000000ffffffff",
        ),
        (
            "P-521",
            "01ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
        ),
    ];
    for (crv, p_hex) in primes {
        let p = hex::decode(p_hex).unwrap();
        let mut p_minus_1 = p.clone();
        *p_minus_1.last_mut().unwrap() -= 1;
        public_key_pem("EC", Some(crv), None, None, Some(&p_minus_1), Some(&[1])).unwrap();
        let invalid = "x509: invalid elliptic curve public key";
        assert_eq!(
            err_text(public_key_pem("EC", Some(crv), None, None, Some(&p), Some(&[1]))),
            invalid
        );
        assert_eq!(
            err_text(public_key_pem("EC", Some(crv), None, None, Some(&[1]), Some(&p))),
            invalid
        );
        let mut too_long = vec![1u8];
        too_long.extend_from_slice(&p_minus_1);
        assert_eq!(
            err_text(public_key_pem(
                "EC",
                Some(crv),
                None,
                None,
                Some(&too_long),
                Some(&[1])
            )),
            invalid
        );
    }
}

#[test]
fn unsupported_keys_and_curves() {
    let b = Some(&[1u8][..]);
    assert_eq!(
        err_text(public_key_pem("EC", Some("P-256K"), None, None, b, b)),
        "curve P-256K is not supported"
    );
    assert_eq!(
        err_text(public_key_pem("EC-HSM", Some("p-256"), None, None, b, b)),
        "curve p-256 is not supported"
    );
    for kty in ["oct", "oct-HSM", "rsa", "OKP", ""] {
        assert_eq!(
            err_text(public_key_pem(kty, None, b, b, b, b)),
            format!("failed to get key. key type '{kty}' currently not supported")
        );
    }
}

#[test]
fn missing_key_members_are_nil() {
    let b = Some(&[1u8][..]);
    let empty = Some(&[][..]);
    let nil = "key value is nil";
    assert_eq!(err_text(public_key_pem("RSA", None, None, b, None, None)), nil);
    assert_eq!(err_text(public_key_pem("RSA", None, b, None, None, None)), nil);
    assert_eq!(
        err_text(public_key_pem("RSA-HSM", None, empty, b, None, None)),
        nil
    );
    assert_eq!(err_text(public_key_pem("EC", None, None, None, b, b)), nil);
    assert_eq!(
        err_text(public_key_pem("EC", Some("P-256"), None, None, None, b)),
        nil
    );
    assert_eq!(
        err_text(public_key_pem("EC", Some("P-256"), None, None, b, None)),
        nil
    );
    assert_eq!(
        err_text(public_key_pem("EC", Some("P-384"), None, None, b, empty)),
        nil
    );
}

// ---------------------------------------------------------------------------------------------------------
// Certificates (objectType cert).

#[test]
fn certificate_pem_is_one_go_style_block() {
    let chain = fixtures::chain(Alg::P256);
    let out = certificate_pem(&chain.leaf);
    assert_eq!(
        String::from_utf8(out.clone()).unwrap(),
        go_pem("CERTIFICATE", &chain.leaf)
    );
    let blocks = blocks(&out);
    assert_eq!(blocks.len(), 1);
    x509_parser::parse_x509_certificate(&blocks[0].1).unwrap();
    assert_eq!(
        certificate_pem(b""),
        b"-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n"
    );
}

// ---------------------------------------------------------------------------------------------------------
// Error texts (SPEC §8.9).

#[test]
fn error_texts_are_upstreams() {
    assert_eq!(ContentError::NoLeafFound.to_string(), "no leaf found");
    assert_eq!(
        ContentError::ChainCycle.to_string(),
        "constructing chain resulted in cycle"
    );
    assert_eq!(
        ContentError::KeyParse.to_string(),
        "failed to parse key for type pkcs1, pkcs8 or ec"
    );
    assert_eq!(ContentError::KeyValueNil.to_string(), "key value is nil");
    assert_eq!(
        ContentError::CurveNotSupported("P-192".into()).to_string(),
        "curve P-192 is not supported"
    );
    assert_eq!(
        ContentError::KeyTypeNotSupported("oct".into()).to_string(),
        "failed to get key. key type 'oct' currently not supported"
    );
    assert_eq!(
        ContentError::UnknownContentType("text/plain".into()).to_string(),
        "failed to get certificate. unknown content type 'text/plain'"
    );
    assert_eq!(
        ContentError::Pkcs12IncorrectPassword.to_string(),
        "pkcs12: decryption password incorrect"
    );
}

// ---------------------------------------------------------------------------------------------------------
// Robustness: nothing panics on arbitrary input.

fn valid_pfx() -> &'static [u8] {
    static PFX: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    PFX.get_or_init(|| {
        let chain = fixtures::chain(Alg::P256);
        fixtures::pfx(
            &[&chain.leaf_key],
            &[&chain.root, &chain.leaf, &chain.intermediate],
            Protection::Legacy3Des,
        )
    })
}

fn content_type() -> impl Strategy<Value = Option<&'static str>> {
    prop::sample::select(vec![
        Some(CONTENT_TYPE_PKCS12),
        Some(CONTENT_TYPE_PEM),
        Some("application/octet-stream"),
        None,
    ])
}

fn format() -> impl Strategy<Value = Format> {
    prop::sample::select(vec![Format::Pem, Format::Pfx])
}

fn encoding() -> impl Strategy<Value = Encoding> {
    prop::sample::select(vec![Encoding::Utf8, Encoding::Base64, Encoding::Hex])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn certificate_secret_never_panics_on_strings(
        value in any::<String>(),
        ct in content_type(),
        format in format(),
        encoding in encoding(),
        construct in any::<bool>(),
    ) {
        let _ = certificate_secret(&value, ct, format, encoding, construct);
    }

    #[test]
    fn certificate_secret_never_panics_on_pem_like_strings(
        value in r"(-----(BEGIN|END) [A-Z ]{0,12}-----|[A-Za-z0-9+/=]{0,70}|[:\r\n \t]|Proc-Type: 4)*",
        construct in any::<bool>(),
    ) {
        let out = certificate_secret(&value, Some(CONTENT_TYPE_PEM), Format::Pem, Encoding::Utf8, construct).unwrap();
        prop_assert_eq!(out.main, value.as_bytes());
        // Whatever was split out re-parses to the same blocks.
        let again = certificate_secret(
            std::str::from_utf8(&out.cert_pem).unwrap(), Some(CONTENT_TYPE_PEM), Format::Pem, Encoding::Utf8, true,
        ).unwrap();
        prop_assert_eq!(again.cert_pem, out.cert_pem);
    }

    #[test]
    fn certificate_secret_never_panics_on_base64_of_random_bytes(
        bytes in prop::collection::vec(any::<u8>(), 0..2048),
        construct in any::<bool>(),
    ) {
        let value = fixtures::b64(&bytes);
        let _ = certificate_secret(&value, Some(CONTENT_TYPE_PKCS12), Format::Pem, Encoding::Utf8, construct);
        let pfx = certificate_secret(&value, Some(CONTENT_TYPE_PKCS12), Format::Pfx, Encoding::Base64, construct);
        prop_assert_eq!(pfx.unwrap().main, bytes);
    }

    #[test]
    fn certificate_secret_never_panics_on_corrupted_pfx(
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        truncate in any::<Option<prop::sample::Index>>(),
    ) {
        let mut pfx = valid_pfx().to_vec();
        for (index, byte) in flips {
            let i = index.index(pfx.len());
            pfx[i] = byte;
        }
        if let Some(t) = truncate {
            pfx.truncate(t.index(pfx.len()));
        }
        let _ = certificate_secret(&fixtures::b64(&pfx), Some(CONTENT_TYPE_PKCS12), Format::Pem, Encoding::Utf8, true);
    }

    #[test]
    fn public_key_pem_never_panics(
        kty in prop::sample::select(vec!["RSA", "RSA-HSM", "EC", "EC-HSM", "oct"]),
        crv in prop::option::of(prop::sample::select(vec!["P-256", "P-384", "P-521", "P-256K", ""])),
        n in prop::option::of(prop::collection::vec(any::<u8>(), 0..600)),
        e in prop::option::of(prop::collection::vec(any::<u8>(), 0..8)),
        x in prop::option::of(prop::collection::vec(any::<u8>(), 0..80)),
        y in prop::option::of(prop::collection::vec(any::<u8>(), 0..80)),
    ) {
        if let Ok(out) = public_key_pem(kty, crv, n.as_deref(), e.as_deref(), x.as_deref(), y.as_deref()) {
            // Whatever is produced is a well-formed SubjectPublicKeyInfo.
            let der = pem_to_spki(&out);
            let (rest, _) = SubjectPublicKeyInfo::from_der(&der).unwrap();
            prop_assert!(rest.is_empty());
        }
    }

    #[test]
    fn plain_secret_round_trips(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        prop_assert_eq!(plain_secret(&fixtures::b64(&bytes), Encoding::Base64).unwrap(), bytes.clone());
        prop_assert_eq!(plain_secret(&hex::encode(&bytes), Encoding::Hex).unwrap(), bytes.clone());
        prop_assert_eq!(plain_secret(&hex::encode_upper(&bytes), Encoding::Hex).unwrap(), bytes);
    }

    #[test]
    fn plain_secret_never_panics(value in any::<String>(), encoding in encoding()) {
        let _ = plain_secret(&value, encoding);
    }
}
