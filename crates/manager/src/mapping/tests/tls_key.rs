//! `tls.key`: PKCS#8 to PKCS#1/SEC1, curves, bundles, the last non-certificate block, errors without secret bytes.

use super::*;

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
