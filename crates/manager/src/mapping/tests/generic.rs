//! Generic rules: every Secret type, path and key trimming, missing files, all-or-nothing, no values in Debug;
//! and the keys the TLS type accepts.

use super::*;

#[test]
fn opaque_and_other_types_pass_bytes_through() {
    let raw: &[u8] = b"\x00\xffnot pem\r\n";
    for type_ in [
        "Opaque",
        "kubernetes.io/basic-auth",
        "kubernetes.io/dockerconfigjson",
        "kubernetes.io/TLS", // exact match only
        "",
    ] {
        let object = object(type_, &[("a", "tls.key"), ("b", "anything")]);
        let data = build_secret_data(&object, &files(&[("a", raw), ("b", b"v")])).unwrap();
        assert_eq!(data.0.get("tls.key").map(Vec::as_slice), Some(raw), "{type_}");
        assert_eq!(data.0.get("anything").map(Vec::as_slice), Some(&b"v"[..]));
    }
}

#[test]
fn paths_and_keys_are_trimmed() {
    let object = object("Opaque", &[("  db-password\t", " password \n")]);
    let outcome = map_items(&object, &files(&[("db-password", b"s3cr3t")]));
    assert_eq!(outcome.len(), 1);
    assert_eq!(outcome[0].source_path, "db-password");
    assert_eq!(outcome[0].target_key, "password");
    assert_eq!(outcome[0].result, Ok(b"s3cr3t".to_vec()));
}

#[test]
fn empty_source_path_and_target_key_are_errors() {
    let files = files(&[("a", b"x")]);
    let err = build_secret_data(&object("Opaque", &[(" ", "k")]), &files).unwrap_err();
    assert_eq!(err, MappingError::EmptySourcePath);
    assert_eq!(err.to_string(), "source path in secretObject.data is empty");
    let err = build_secret_data(&object("Opaque", &[("a", "\t")]), &files).unwrap_err();
    assert_eq!(err, MappingError::EmptyTargetKey);
    assert_eq!(err.to_string(), "target key in secretObject.data is empty");
    // The source path is checked first.
    let err = build_secret_data(&object("Opaque", &[("", "")]), &files).unwrap_err();
    assert_eq!(err, MappingError::EmptySourcePath);
}

#[test]
fn missing_file_and_case_sensitive_lookup() {
    let files = files(&[("DB-Password", b"x")]);
    let err = build_secret_data(&object("Opaque", &[(" db-password ", "k")]), &files).unwrap_err();
    assert_eq!(
        err.to_string(),
        "file matching sourcePath db-password not found in the pod"
    );
    assert_eq!(
        err,
        MappingError::FileNotFound {
            source_path: "db-password".to_owned()
        }
    );
}

#[test]
fn map_items_reports_every_item_in_spec_order() {
    let object = object(
        TLS_SECRET_TYPE,
        &[
            ("cert", "tls.crt"),
            ("missing", "tls.key"),
            ("cert", "ca.pem"),
            ("", "x"),
            ("key", "tls.key"),
        ],
    );
    let c = chain();
    let files = files(&[
        ("cert", &pem(CERT, &c.leaf)),
        ("key", &pem("PRIVATE KEY", &c.leaf_key)),
    ]);
    let outcomes = map_items(&object, &files);
    let summary: Vec<(&str, &str, Result<(), String>)> = outcomes
        .iter()
        .map(|o| {
            (
                o.source_path.as_str(),
                o.target_key.as_str(),
                o.result.as_ref().map(|_| ()).map_err(ToString::to_string),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("cert", "tls.crt", Ok(())),
            (
                "missing",
                "tls.key",
                Err("file matching sourcePath missing not found in the pod".to_owned())
            ),
            (
                "cert",
                "ca.pem",
                Err("failed to get cert data for ca.pem: key 'ca.pem' is not supported. Only 'tls.key', 'tls.crt' and 'ca.crt' are supported".to_owned())
            ),
            ("", "x", Err("source path in secretObject.data is empty".to_owned())),
            ("key", "tls.key", Ok(())),
        ]
    );
    // All-or-nothing: the first failing item's error.
    let err = build_secret_data(&object, &files).unwrap_err();
    assert_eq!(
        err,
        MappingError::FileNotFound {
            source_path: "missing".to_owned()
        }
    );
}

#[test]
fn build_secret_data_collects_all_items_and_later_duplicates_win() {
    let object = object("Opaque", &[("a", "k1"), ("b", "k2"), ("c", "k1")]);
    let data = build_secret_data(&object, &files(&[("a", b"1"), ("b", b"2"), ("c", b"3")])).unwrap();
    assert_eq!(data.0.len(), 2);
    assert_eq!(data.0["k1"], b"3");
    assert_eq!(data.0["k2"], b"2");
}

#[test]
fn debug_never_shows_values() {
    let secret = b"hunter2-very-secret".to_vec();
    let data = SecretData([("password".to_owned(), secret.clone())].into());
    let debug = format!("{data:?}");
    assert_eq!(debug, r#"{"password": <19 bytes>}"#);
    let outcome = ItemOutcome {
        source_path: "p".to_owned(),
        target_key: "k".to_owned(),
        result: Ok(secret),
    };
    let debug = format!("{outcome:?}");
    assert!(!debug.contains("hunter2"), "{debug}");
    assert!(debug.contains("<19 bytes>"), "{debug}");
    assert!(!format!("{:#?}", outcome).contains("104")); // no byte list either
}

#[test]
fn unsupported_key_under_tls_type() {
    let object = object(TLS_SECRET_TYPE, &[("obj", " ca.pem ")]);
    let err = build_secret_data(&object, &files(&[("obj", b"x")])).unwrap_err();
    assert_eq!(
        err,
        MappingError::CertData {
            key: "ca.pem".to_owned(),
            reason: CertError::UnsupportedKey {
                key: "ca.pem".to_owned()
            }
        }
    );
    assert_eq!(
        err.to_string(),
        "failed to get cert data for ca.pem: key 'ca.pem' is not supported. Only 'tls.key', 'tls.crt' and 'ca.crt' are supported"
    );
    assert_eq!(
        CertError::UnsupportedKey {
            key: "ca.pem".to_owned()
        }
        .to_string(),
        "key 'ca.pem' is not supported. Only 'tls.key', 'tls.crt' and 'ca.crt' are supported"
    );
}
