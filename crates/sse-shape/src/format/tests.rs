use super::*;

fn written(format: Format, entries: &[(&str, &str)]) -> String {
    let bytes: Vec<(&str, &[u8])> = entries.iter().map(|(k, v)| (*k, v.as_bytes())).collect();
    let out = write(format, &bytes).unwrap_or_else(|e| panic!("{format}: {e}"));
    String::from_utf8(out).unwrap_or_else(|e| panic!("{format}: {e}"))
}

#[test]
fn names_round_trip() {
    for format in Format::ALL {
        assert_eq!(format.as_str().parse::<Format>(), Ok(format));
        assert_eq!(format.to_string(), format.as_str());
    }
    let error = "toml".parse::<Format>().err().map(|e| e.to_string());
    assert_eq!(
        error.as_deref(),
        Some("unknown format \"toml\" (one of env, properties, json, yaml)")
    );
    assert!("ENV".parse::<Format>().is_err());
}

#[test]
fn env_values_are_bare_when_plain_and_quoted_otherwise() {
    let cases = [
        ("db1", "db1"),
        ("5432", "5432"),
        ("", ""),
        (
            "postgresql://u@h:5432/app?x=1,y",
            "\"postgresql://u@h:5432/app?x=1,y\"",
        ),
        ("a-b_c.d/e:f@g+h=i,j", "a-b_c.d/e:f@g+h=i,j"),
        ("two words", "\"two words\""),
        ("say \"hi\"", "\"say \\\"hi\\\"\""),
        ("back\\slash", "\"back\\\\slash\""),
        ("line\nbreak", "\"line\\nbreak\""),
        ("$HOME and `id`", "\"\\$HOME and \\`id\\`\""),
        ("it's", "\"it's\""),
        ("tab\there", "\"tab\there\""),
        ("é", "\"é\""),
    ];
    for (value, line) in cases {
        assert_eq!(
            written(Format::Env, &[("NAME", value)]),
            format!("NAME={line}\n"),
            "{value:?}"
        );
    }
    assert_eq!(
        written(Format::Env, &[("DB_HOST", "db1"), ("DB_PORT", "5432")]),
        "DB_HOST=db1\nDB_PORT=5432\n"
    );
    assert_eq!(written(Format::Env, &[]), "");
}

#[test]
fn env_names_are_checked() {
    for name in ["A", "_", "a_1", "DB_HOST", "_9"] {
        assert!(is_env_name(name), "{name}");
    }
    for name in ["", "1A", "tls.crt", "a-b", "é", "A B"] {
        assert!(!is_env_name(name), "{name}");
        let error = write(Format::Env, &[(name, b"v")]).err().map(|e| e.to_string());
        assert_eq!(
            error,
            Some(format!(
                "env: {name:?} is not a valid name (names match [A-Za-z_][A-Za-z0-9_]*)"
            )),
            "{name}"
        );
    }
}

#[test]
fn properties_escape_as_java_properties_store() {
    let cases = [
        ("k", "v", "k=v"),
        ("a key", "a value", "a\\ key=a value"),
        ("k", " leading", "k=\\ leading"),
        ("k", "a=b:c#d!e", "k=a\\=b\\:c\\#d\\!e"),
        ("k=1", "v", "k\\=1=v"),
        ("k", "back\\slash", "k=back\\\\slash"),
        ("k", "t\tn\nr\rf\u{c}", "k=t\\tn\\nr\\rf\\f"),
        ("k", "é€", "k=\\u00E9\\u20AC"),
        ("k", "😀", "k=\\uD83D\\uDE00"),
        ("k", "\u{1}\u{7f}", "k=\\u0001\\u007F"),
        (
            "jdbc.url",
            "jdbc:postgresql://db1:5432/app",
            "jdbc.url=jdbc\\:postgresql\\://db1\\:5432/app",
        ),
    ];
    for (key, value, line) in cases {
        assert_eq!(
            written(Format::Properties, &[(key, value)]),
            format!("{line}\n"),
            "{key:?} {value:?}"
        );
    }
}

#[test]
fn json_is_a_compact_object_in_the_given_order() {
    let entries = [("b", "2"), ("a", "say \"hi\"\n"), ("c", "é")];
    assert_eq!(
        written(Format::Json, &entries),
        r#"{"b":"2","a":"say \"hi\"\n","c":"é"}"#
    );
    assert_eq!(written(Format::Json, &[]), "{}");
}

#[test]
fn yaml_is_a_mapping_of_strings() {
    let entries = [
        ("port", "5432"),
        ("flag", "true"),
        ("text", "plain"),
        ("multi", "a\nb"),
        ("empty", ""),
    ];
    let yaml = written(Format::Yaml, &entries);
    let read: Vec<(String, String)> = serde_yaml_ng::from_str::<serde_yaml_ng::Mapping>(&yaml)
        .unwrap_or_else(|e| panic!("{e}: {yaml}"))
        .into_iter()
        .map(|(k, v)| match (k, v) {
            (serde_yaml_ng::Value::String(k), serde_yaml_ng::Value::String(v)) => (k, v),
            other => panic!("not strings: {other:?} in {yaml}"),
        })
        .collect();
    let expected: Vec<(String, String)> = entries
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    assert_eq!(read, expected);
    assert!(
        yaml.starts_with("port: '5432'\nflag: 'true'\ntext: plain\n"),
        "{yaml}"
    );
}

#[test]
fn values_that_are_not_utf8_and_duplicates_are_errors_naming_the_key() {
    for format in Format::ALL {
        let error = write(format, &[("OK", b"fine"), ("BIN", b"\xff\x00secret")])
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            error,
            Some(format!("{format}: the value of \"BIN\" is not UTF-8 text"))
        );
        let error = write(format, &[("K", b"1"), ("K", b"2")])
            .err()
            .map(|e| e.to_string());
        assert_eq!(error, Some(format!("{format}: \"K\" is given twice")));
    }
}
