//! No message of a property, extract or file format carries a value: documents and values hold a sentinel, and no
//! error's text may contain it.

use proptest::prelude::*;
use sse_shape::extract::extract;
use sse_shape::format::{Format, write};
use sse_shape::path::Path;

const SENTINEL: &str = "S3NT1NEL";

/// A JSON value that holds the sentinel somewhere: in strings, numbers-as-text, keys.
fn value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::String(SENTINEL.to_owned())),
        "[a-z ]{0,8}".prop_map(|s| serde_json::Value::String(format!("{s}{SENTINEL}{s}"))),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<bool>().prop_map(serde_json::Value::from),
        Just(serde_json::Value::Null),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
            prop::collection::vec(
                (prop_oneof![Just(SENTINEL.to_owned()), "[a-z]{1,3}"], inner),
                0..4
            )
            .prop_map(|members| {
                serde_json::Value::Object(
                    members
                        .into_iter()
                        .map(|(k, v)| (format!("{k} {SENTINEL}"), v))
                        .collect(),
                )
            }),
        ]
    })
}

/// Paths made of short keys, indexes and escapes (never the sentinel: a path is spec text).
fn path() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof!["[a-z]{1,3}", "[0-9]{1,2}", Just(r"a\.b".to_owned())],
        1..4,
    )
    .prop_map(|segments| segments.join("."))
}

proptest! {
    #[test]
    fn property_errors_never_hold_a_value(doc in value(), text in path(), cut in 0usize..64) {
        let json = serde_json::to_vec(&doc).unwrap_or_else(|e| panic!("{e}"));
        let parsed = Path::parse(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
        // Whole documents, and documents cut short (not JSON).
        let truncated = &json[..json.len().min(cut)];
        for bytes in [&json[..], truncated] {
            if let Err(e) = parsed.lookup(bytes) {
                prop_assert!(!e.to_string().contains(SENTINEL), "{e}");
            }
            for at in [None, Some(&parsed)] {
                if let Err(e) = extract(bytes, at) {
                    prop_assert!(!e.to_string().contains(SENTINEL), "{e}");
                }
            }
        }
    }

    #[test]
    fn format_errors_never_hold_a_value(
        values in prop::collection::vec(prop_oneof![
            Just(SENTINEL.as_bytes().to_vec()),
            Just([SENTINEL.as_bytes(), b"\xff"].concat()),
            ".{0,8}".prop_map(|s| format!("{s}{SENTINEL}").into_bytes()),
        ], 1..5),
        names in prop::collection::vec(prop_oneof![Just("K"), Just("bad name"), Just("A_1"), Just("tls.crt")], 5),
    ) {
        let entries: Vec<(&str, &[u8])> = values.iter().zip(&names).map(|(v, k)| (*k, v.as_slice())).collect();
        for format in Format::ALL {
            if let Err(e) = write(format, &entries) {
                prop_assert!(!e.to_string().contains(SENTINEL), "{e}");
            }
        }
    }
}
