//! Certificate-backed secrets kept as PFX, and PEM certificate-backed secrets.

use super::*;

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
