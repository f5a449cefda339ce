//! PKCS#12 archives: key and chain, leaf first, unknown key types, passwords, PKCS#12 after PEM.

use super::*;

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
