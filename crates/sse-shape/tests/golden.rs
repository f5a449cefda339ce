//! The engine against real Go: `golden/cases.json` holds what Go's `text/template` with slim-sprig produced for
//! each case of `golden/inputs.json` (written by `golden/gen/main.go`; CI needs no Go). An output must match byte
//! for byte; where Go failed, so must we. `golden/ours.json` holds hand-written expectations for what Go and
//! slim-sprig lack (ESO's toYaml/fromYaml, our dockerConfigJson, sprig's nospace) and for where this engine
//! refuses on purpose, each citing its source.

use sse_shape::{Budget, Template, Values};

fn values(v: &serde_json::Value) -> Values {
    v.as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().as_bytes().to_vec()))
                .collect()
        })
        .unwrap_or_default()
}

/// Checks every case of one file; returns how many, and the mismatches.
fn check(file: &str) -> (usize, Vec<String>) {
    let path = format!("{}/tests/golden/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    let defaults = values(&doc["values"]);
    let cases = doc["cases"]
        .as_array()
        .unwrap_or_else(|| panic!("{path}: no cases"));
    let mut bad = Vec::new();
    for case in cases {
        let name = case["name"].as_str().unwrap_or("?");
        let text = case["template"]
            .as_str()
            .unwrap_or_else(|| panic!("{name}: no template"));
        let vals = if case["values"].is_object() {
            values(&case["values"])
        } else {
            defaults.clone()
        };
        let got = Template::parse(name, text).and_then(|t| t.render(&vals, &mut Budget::default()));
        match (&got, case["output"].as_str()) {
            (Ok(out), Some(want)) if out.as_slice() == want.as_bytes() => {}
            (Err(_), None) if case["error"].as_bool() == Some(true) => {}
            (Ok(out), want) => bad.push(format!(
                "{name}: got {:?}, want {want:?}",
                String::from_utf8_lossy(out)
            )),
            (Err(e), want) => bad.push(format!("{name}: got error {e}, want {want:?}")),
        }
    }
    (cases.len(), bad)
}

#[test]
fn renders_as_go_text_template_with_sprig() {
    let (n, bad) = check("cases.json");
    assert!(n >= 100, "only {n} cases");
    assert!(
        bad.is_empty(),
        "{} of {n} cases differ from Go:\n{}",
        bad.len(),
        bad.join("\n")
    );
}

#[test]
fn renders_the_hand_written_cases() {
    let (n, bad) = check("ours.json");
    assert!(
        bad.is_empty(),
        "{} of {n} cases differ:\n{}",
        bad.len(),
        bad.join("\n")
    );
}
