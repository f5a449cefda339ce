//! Keys (objectType key) and certificates (objectType cert).

use super::*;

// ---------------------------------------------------------------------------------------------------------
// Keys (objectType key).

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
