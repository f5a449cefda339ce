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
