//! `tls.crt`: certificates in input order, headers kept, layout normalised.

use super::*;

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

#[test]
fn ca_crt_is_the_issuing_chain_without_the_leaf() {
    let c = chain();
    // Key Vault's PEM: key, leaf, then the chain.
    let input = [
        pem_str("PRIVATE KEY", &c.leaf_key),
        pem_str(CERT, &c.leaf),
        pem_str(CERT, &c.intermediate),
        pem_str(CERT, &c.root),
    ]
    .concat();
    let ca = String::from_utf8(tls("ca.crt", input.as_bytes()).unwrap()).unwrap();
    assert_eq!(
        ca,
        [pem_str(CERT, &c.intermediate), pem_str(CERT, &c.root)].concat()
    );
    // The chain first: the leaf is still the certificate that issued no other.
    let chain_first = [
        pem_str(CERT, &c.root),
        pem_str(CERT, &c.intermediate),
        pem_str(CERT, &c.leaf),
        pem_str("PRIVATE KEY", &c.leaf_key),
    ]
    .concat();
    let ca = String::from_utf8(tls("ca.crt", chain_first.as_bytes()).unwrap()).unwrap();
    assert_eq!(
        ca,
        [pem_str(CERT, &c.root), pem_str(CERT, &c.intermediate)].concat()
    );
    // tls.crt keeps the whole chain, as upstream.
    let crt = String::from_utf8(tls("tls.crt", input.as_bytes()).unwrap()).unwrap();
    assert!(crt.starts_with(&pem_str(CERT, &c.leaf)) && crt.ends_with(&pem_str(CERT, &c.root)));
}

#[test]
fn ca_crt_of_a_lone_leaf_is_itself_when_self_signed_and_an_error_otherwise() {
    let c = chain();
    // The root is self-signed: its own CA.
    let root = pem_str(CERT, &c.root);
    assert_eq!(tls("ca.crt", root.as_bytes()).unwrap(), root.as_bytes());
    // A leaf some CA issued, alone: no ca.crt that could verify it.
    let leaf = pem_str(CERT, &c.leaf);
    assert_eq!(
        tls_err("ca.crt", leaf.as_bytes()),
        "failed to get cert data for ca.crt: no issuing chain in the certificate data (only the leaf \
         certificate): ca.crt needs the chain in Key Vault"
    );
}
