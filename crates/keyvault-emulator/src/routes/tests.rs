use super::paging::{decode_skiptoken, encode_skiptoken};
use super::responses::valid_name;
use super::*;

#[test]
fn vault_names() {
    assert_eq!(
        vault_name("myvault.vault.localhost:8443").as_deref(),
        Some("myvault")
    );
    assert_eq!(vault_name("myvault.vault.localhost").as_deref(), Some("myvault"));
    assert_eq!(vault_name("vault.localhost:1"), None);
    assert_eq!(vault_name("a.b.vault.localhost:1"), None);
    assert_eq!(vault_name("127.0.0.1:8443"), None);
    assert_eq!(vault_name("myvaultvault.localhost"), None);
}

#[test]
fn routes() {
    let r = |m, p: &'static str| {
        let segs: Vec<&str> = p.split('/').filter(|s| !s.is_empty()).collect();
        parse_route(m, &segs).map(|r| r.op)
    };
    assert_eq!(r("GET", "/secrets/a/"), Some("secrets.get"));
    assert_eq!(r("GET", "/secrets/a"), Some("secrets.get"));
    assert_eq!(r("GET", "/secrets/a/0123"), Some("secrets.get"));
    assert_eq!(r("GET", "/secrets/a/versions/"), Some("secrets.list_versions"));
    assert_eq!(r("GET", "/secrets"), Some("secrets.list"));
    assert_eq!(r("PUT", "/secrets/a"), Some("secrets.set"));
    assert_eq!(r("PATCH", "/secrets/a/"), Some("secrets.update"));
    assert_eq!(r("GET", "/keys/a/"), Some("keys.get"));
    assert_eq!(
        r("GET", "/certificates/a/versions"),
        Some("certificates.list_versions")
    );
    assert_eq!(r("PUT", "/keys/a"), None);
    assert_eq!(r("GET", "/deletedsecrets"), None);
}

#[test]
fn skiptokens_round_trip() {
    assert_eq!(decode_skiptoken(&encode_skiptoken(42)), Some(42));
    assert_eq!(decode_skiptoken("garbage"), None);
}

#[test]
fn names() {
    assert!(valid_name("abc-DEF-123"));
    assert!(!valid_name("a_b"));
    assert!(!valid_name(""));
    assert!(!valid_name(&"a".repeat(128)));
}
