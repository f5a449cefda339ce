//! Behaviour of the public transformations, on real material from rcgen and p12-keystore.

use proptest::prelude::*;
use rcgen::PublicKeyData as _;
use x509_parser::prelude::FromDer as _;
use x509_parser::public_key::PublicKey;
use x509_parser::x509::SubjectPublicKeyInfo;

use super::fixtures::{self, Alg, Protection};
use super::*;

mod keys;
mod pfx_pem;
mod pkcs12;

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

fn pem_to_spki(pem_out: &[u8]) -> Vec<u8> {
    let blocks = blocks(pem_out);
    assert_eq!(blocks.len(), 1);
    assert_eq!(blocks[0].0, "PUBLIC KEY");
    let text = String::from_utf8(pem_out.to_vec()).unwrap();
    assert_eq!(text, go_pem("PUBLIC KEY", &blocks[0].1), "Go layout");
    blocks[0].1.clone()
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
// Error texts (docs/PROVIDER.md#content-transformations).

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
