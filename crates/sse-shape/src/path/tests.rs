use super::*;

fn path(text: &str) -> Path {
    Path::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

/// (text, accepted): the schema pattern and the parser agree on each.
const SYNTAX: &[(&str, bool)] = &[
    ("a", true),
    ("primary.host", true),
    ("replicas.0.host", true),
    (r"tls\.min", true),
    (r"a\\b", true),
    (r"a\*", true),
    (r"\#", true),
    (r"\.", true),
    ("0", true),
    ("with space.and-dash_under", true),
    ("ünïcode.キー", true),
    ("a/b:c,d;e'f\"g", true),
    ("", false),
    (".", false),
    (".a", false),
    ("a.", false),
    ("a..b", false),
    ("a\\", false),
    ("a\\\nb", false),
    ("a.*", false),
    ("a?", false),
    ("items.#", false),
    ("items.#.name", false),
    ("a.@reverse", false),
    ("a|b", false),
    ("!true", false),
    ("a.#(b==1)", false),
    ("a.#(b>1)", false),
    ("a<b", false),
    ("a%b", false),
    ("[a,b]", false),
    ("{a,b}", false),
    ("a)", false),
];

#[test]
fn the_schema_pattern_and_the_parser_agree() {
    let pattern = regex::Regex::new(PATH_PATTERN).unwrap_or_else(|e| panic!("pattern: {e}"));
    for (text, accepted) in SYNTAX {
        assert_eq!(pattern.is_match(text), *accepted, "pattern on {text:?}");
        assert_eq!(Path::parse(text).is_ok(), *accepted, "parse on {text:?}");
    }
}

#[test]
fn segments_are_split_on_unescaped_dots_and_unescaped() {
    let cases: &[(&str, &[&str])] = &[
        ("a", &["a"]),
        ("a.b.0", &["a", "b", "0"]),
        (r"tls\.min", &["tls.min"]),
        (r"a\\.b", &["a\\", "b"]),
        (r"a\*b.c", &["a*b", "c"]),
        (r"\x\y", &["xy"]),
    ];
    for (text, keys) in cases {
        let parsed = path(text);
        let got: Vec<&str> = parsed.segments.iter().map(|s| s.key.as_str()).collect();
        assert_eq!(&got, keys, "{text}");
        assert_eq!(parsed.as_str(), *text);
        assert_eq!(parsed.to_string(), *text);
    }
}

#[test]
fn syntax_errors_name_the_path_column_and_reason() {
    let cases = [
        ("", "property is empty"),
        (
            "a..b",
            "property a..b: empty segment at column 3 (a leading, trailing or doubled \".\")",
        ),
        (
            "a.",
            "property a.: empty segment at column 3 (a leading, trailing or doubled \".\")",
        ),
        (
            ".a",
            "property .a: empty segment at column 1 (a leading, trailing or doubled \".\")",
        ),
        (
            "a\\",
            "property a\\: the \\ at column 2 escapes nothing (it ends the path or precedes a line break)",
        ),
        (
            "items.#.name",
            "property items.#.name: '#' at column 7 is gjson an array count or query, which is not supported \
             (write \\# for a literal '#')",
        ),
        (
            "a.*",
            "property a.*: '*' at column 3 is gjson a wildcard, which is not supported (write \\* for a literal '*')",
        ),
        (
            "a|@this",
            "property a|@this: '|' at column 2 is gjson a pipe, which is not supported (write \\| for a literal '|')",
        ),
    ];
    for (text, message) in cases {
        let error = Path::parse(text)
            .err()
            .unwrap_or_else(|| panic!("{text:?} parsed"));
        assert_eq!(error.to_string(), message);
    }
    let long = "a".repeat(MAX_LEN + 1);
    assert_eq!(Path::parse(&long), Err(PathError::TooLong { len: MAX_LEN + 1 }));
    assert!(Path::parse(&"a".repeat(MAX_LEN)).is_ok());
}

const DOC: &str = r#"{
  "primary": {"host": "db1", "port": 5432, "tls": true, "opts": null},
  "replicas": [{"host": "db2"}, {"host": "db3"}],
  "tls.min": "1.2",
  "tls": {"max": "1.3"},
  "ratio": 0.5, "big": 1e3, "tiny": 1.5e-7, "neg": -12, "huge": 123456789012345678901234567890, "frac": 2.50,
  "pool": { "size" : 10,  "names": ["a", "b"] },
  "0": "zero", "esc": "line\nbreak \"q\" \u00e9 \ud83d\ude00 \ud800x", "a*b": "star", "dup": 1, "dup": 2,
  "empty": "", "list": [ 1, [2, 3] ]
}"#;

#[test]
fn values_are_written_as_gjson_string() {
    let cases: &[(&str, &str)] = &[
        ("primary.host", "db1"),
        ("primary.port", "5432"),
        ("primary.tls", "true"),
        ("primary.opts", ""),
        ("replicas.0.host", "db2"),
        ("replicas.1", r#"{"host": "db3"}"#),
        ("replicas", r#"[{"host": "db2"}, {"host": "db3"}]"#),
        (r"tls\.min", "1.2"),
        ("tls.max", "1.3"),
        ("ratio", "0.5"),
        ("big", "1000"),
        ("tiny", "0.00000015"),
        ("neg", "-12"),
        ("huge", "123456789012345678901234567890"),
        ("frac", "2.5"),
        ("pool", r#"{ "size" : 10,  "names": ["a", "b"] }"#),
        ("pool.names.1", "b"),
        ("0", "zero"),
        ("esc", "line\nbreak \"q\" é 😀 \u{FFFD}x"),
        (r"a\*b", "star"),
        ("dup", "1"),
        ("empty", ""),
        ("list.1", "[2, 3]"),
        ("list.1.0", "2"),
    ];
    for (text, value) in cases {
        let got = path(text)
            .lookup(DOC.as_bytes())
            .unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(String::from_utf8_lossy(&got), *value, "{text}");
    }
}

#[test]
fn a_dotted_path_that_does_not_resolve_is_tried_as_one_top_level_key() {
    assert_eq!(path("tls.min").lookup(DOC.as_bytes()), Ok(b"1.2".to_vec()));
    // The fallback is the top level only, and only when the path proper fails.
    let doc = br#"{"a": {"b.c": "deep"}, "a.b": {"c": "path"}, "a.b.c": "key"}"#;
    assert_eq!(path("a.b.c").lookup(doc), Ok(b"key".to_vec()));
    let doc = br#"{"a": {"b": {"c": "path"}}, "a.b.c": "key"}"#;
    assert_eq!(path("a.b.c").lookup(doc), Ok(b"path".to_vec()));
    // The fallback joins the keys as unescaped.
    let doc = br#"{"x*y.z": "key"}"#;
    assert_eq!(path(r"x\*y.z").lookup(doc), Ok(b"key".to_vec()));
}

#[test]
fn a_top_level_array_and_scalars_are_documents_too() {
    assert_eq!(path("1").lookup(b" [\"a\", \"b\"] "), Ok(b"b".to_vec()));
    let e = path("x").lookup(b"\"text\"").err().map(|e| e.to_string());
    assert_eq!(
        e.as_deref(),
        Some("property x: the top level is a string, not an object or an array")
    );
}

#[test]
fn misses_name_the_path_and_the_shape_never_a_value() {
    let cases = [
        (
            "primary.hots",
            r#"property primary.hots: "primary" has no key "hots""#,
        ),
        (
            "primray.host",
            r#"property primray.host: the top level has no key "primray""#,
        ),
        ("replicas.5", r#"property replicas.5: "replicas" has 2 items"#),
        (
            "replicas.5.host",
            r#"property replicas.5.host: "replicas" has 2 items"#,
        ),
        (
            "pool.names.9",
            r#"property pool.names.9: "pool.names" has 2 items"#,
        ),
        (
            "replicas.first",
            r#"property replicas.first: "replicas" is an array, and "first" is not an index"#,
        ),
        (
            "primary.host.x",
            r#"property primary.host.x: "primary.host" is a string, not an object or an array"#,
        ),
        (
            "primary.port.x",
            r#"property primary.port.x: "primary.port" is a number, not an object or an array"#,
        ),
        (
            "primary.opts.x",
            r#"property primary.opts.x: "primary.opts" is null, not an object or an array"#,
        ),
        (
            r"tls\.min.x",
            r#"property tls\.min.x: "tls\.min" is a string, not an object or an array"#,
        ),
        (
            "list.99999999999999999999999",
            r#"property list.99999999999999999999999: "list" has 2 items"#,
        ),
    ];
    for (text, message) in cases {
        let error = path(text)
            .lookup(DOC.as_bytes())
            .err()
            .unwrap_or_else(|| panic!("{text} resolved"));
        assert_eq!(error.to_string(), message);
    }
    let single = br#"{"a": [1]}"#;
    let error = path("a.3").lookup(single).err().map(|e| e.to_string());
    assert_eq!(error.as_deref(), Some(r#"property a.3: "a" has 1 item"#));
}

#[test]
fn a_file_that_is_not_json_gives_only_a_position() {
    let cases: &[(&[u8], &str)] = &[
        (b"db1", "is not JSON (line 1, column 1)"),
        (b"", "is not JSON (line 1, column 0)"),
        (b"{\"a\": \"secret-value\"", "is not JSON (line 1, column 20)"),
        (b"{\"a\":\n tru}", "is not JSON (line 2, column 5)"),
        (b"{\"a\": 1} trailing", "is not JSON (line 1, column 10)"),
        (b"\xff\xfe", "is not JSON (line 1, column 1)"),
    ];
    for (doc, message) in cases {
        let error = path("a")
            .lookup(doc)
            .err()
            .unwrap_or_else(|| panic!("{doc:?} parsed"));
        assert_eq!(error.to_string(), *message, "{doc:?}");
    }
}

#[test]
fn ordinals() {
    let cases = [
        (1, "1st"),
        (2, "2nd"),
        (3, "3rd"),
        (4, "4th"),
        (11, "11th"),
        (12, "12th"),
        (13, "13th"),
    ];
    for (n, text) in cases {
        assert_eq!(Ordinal(n).to_string(), text);
    }
    for (n, text) in [
        (21, "21st"),
        (22, "22nd"),
        (23, "23rd"),
        (101, "101st"),
        (111, "111th"),
    ] {
        assert_eq!(Ordinal(n).to_string(), text);
    }
}
