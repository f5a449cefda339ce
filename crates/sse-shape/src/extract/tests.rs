use super::*;

fn path(text: &str) -> Path {
    Path::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn text(entries: Vec<(String, Vec<u8>)>) -> Vec<(String, String)> {
    entries
        .into_iter()
        .map(|(k, v)| (k, String::from_utf8_lossy(&v).into_owned()))
        .collect()
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn a_top_level_object_becomes_one_value_per_key_sorted() {
    let doc =
        br#"{"LOG_LEVEL": "info", "FEATURE_X": "on", "port": 8080, "ratio": 0.50, "on": true, "none": null,
                  "nested": {"a": [1, 2]}, "list": [ "x" ], "esc": "a\nb \u00e9", "dup": "1", "dup": "2"}"#;
    let got = text(extract(doc, None).unwrap_or_else(|e| panic!("{e}")));
    assert_eq!(
        got,
        pairs(&[
            ("FEATURE_X", "on"),
            ("LOG_LEVEL", "info"),
            ("dup", "2"),
            ("esc", "a\nb é"),
            ("list", r#"[ "x" ]"#),
            ("nested", r#"{"a": [1, 2]}"#),
            ("none", "null"),
            ("on", "true"),
            ("port", "8080"),
            ("ratio", "0.50"),
        ])
    );
}

#[test]
fn the_object_at_a_property_is_spread() {
    let doc = br#"{"pool": {"size": 10, "min.idle": "2"}, "json-text": "{\"k\": \"v\"}", "tls.opts": {"min": "1.2"}}"#;
    let got = text(extract(doc, Some(&path("pool"))).unwrap_or_else(|e| panic!("{e}")));
    assert_eq!(got, pairs(&[("min.idle", "2"), ("size", "10")]));
    // ESO writes the property's value as text and reads that text as the object.
    let got = text(extract(doc, Some(&path("json-text"))).unwrap_or_else(|e| panic!("{e}")));
    assert_eq!(got, pairs(&[("k", "v")]));
    // ESO's fallback to one literal key applies too.
    let got = text(extract(doc, Some(&path("tls.opts"))).unwrap_or_else(|e| panic!("{e}")));
    assert_eq!(got, pairs(&[("min", "1.2")]));
    assert_eq!(extract(b"{}", None), Ok(Vec::new()));
}

#[test]
fn errors_name_the_path_and_position_never_a_key_or_value() {
    let doc = br#"{"pool": {"ok": 1, "fine": 2, "bad key": "v"}, "list": [1], "s": "not json", "n": null}"#;
    let cases: &[(&[u8], Option<&str>, &str)] = &[
        (
            doc,
            Some("pool"),
            "property pool: the 3rd key cannot be a Secret key (one to 253 of -._a-zA-Z0-9)",
        ),
        (
            br#"{"a/b": 1}"#,
            None,
            "the 1st key cannot be a Secret key (one to 253 of -._a-zA-Z0-9)",
        ),
        (
            br#"{"": 1}"#,
            None,
            "the 1st key cannot be a Secret key (one to 253 of -._a-zA-Z0-9)",
        ),
        (
            doc,
            Some("list"),
            "property list: not a JSON object (it is an array)",
        ),
        (doc, Some("s"), "property s: not a JSON object (it is a string)"),
        (doc, Some("n"), "property n: not a JSON object (it is null)"),
        (
            doc,
            Some("pool.ok"),
            "property pool.ok: not a JSON object (it is a number)",
        ),
        (
            doc,
            Some("pool.missing"),
            r#"property pool.missing: "pool" has no key "missing""#,
        ),
        (b"[1, 2]", None, "not a JSON object (it is an array)"),
        (b"\"text\"", None, "not a JSON object (it is a string)"),
        (b"user=admin", None, "is not JSON (line 1, column 1)"),
    ];
    for (doc, at, message) in cases {
        let at = at.map(path);
        let error = extract(doc, at.as_ref())
            .err()
            .unwrap_or_else(|| panic!("{message}: extracted"));
        assert_eq!(error.to_string(), *message);
    }
    let long = format!(r#"{{"ok": 1, "{}": 2}}"#, "k".repeat(254));
    let error = extract(long.as_bytes(), None).err().map(|e| e.to_string());
    assert_eq!(
        error.as_deref(),
        Some("the 2nd key cannot be a Secret key (one to 253 of -._a-zA-Z0-9)")
    );
}

#[test]
fn secret_keys() {
    for key in ["a", "A-b_c.d", ".dockerconfigjson", "0", &"k".repeat(253)] {
        assert!(is_secret_key(key), "{key}");
    }
    for key in ["", "a b", "a/b", "é", "a:b", &"k".repeat(254)] {
        assert!(!is_secret_key(key), "{key}");
    }
}
