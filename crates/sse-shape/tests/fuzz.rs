//! Random templates: parsing and rendering never panic, every error is bounded in length, and no error text
//! ever carries a value.

use proptest::prelude::*;
use sse_shape::{Budget, Template, Values};

const SENTINEL_A: &str = "SENTINELaaa";
const SENTINEL_B: &str = "SENTINELbbb";

fn values() -> Values {
    [
        ("a", SENTINEL_A.to_string()),
        ("b", format!("{{\"k\":\"{SENTINEL_B}\",\"n\":[1,2]}}")),
        ("c", format!("- {SENTINEL_A}\n")),
        ("d", "U0VOVElORUxjY2M=".to_string()), // base64 of SENTINELccc
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.into_bytes()))
    .collect()
}

const TOKENS: &[&str] = &[
    "{{",
    "}}",
    "{{-",
    " -}}",
    " ",
    "\n",
    ".",
    ".a",
    ".b",
    ".c",
    ".d",
    ".zz",
    ".a.x",
    "$",
    "$x",
    "$x :=",
    "$x =",
    ":=",
    "=",
    "|",
    "(",
    ")",
    ",",
    "if",
    "else",
    "end",
    "with",
    "range",
    "break",
    "continue",
    "define",
    "template",
    "nil",
    "true",
    "1",
    "-1",
    "0x1f",
    "1.5",
    "'a'",
    "\"s\"",
    "`r`",
    "\"%s\"",
    "\"%d\"",
    "\"%q\"",
    "\"%x\"",
    "\"%v\"",
    "index",
    "len",
    "printf",
    "print",
    "eq",
    "lt",
    "and",
    "or",
    "not",
    "default",
    "fromJson",
    "toJson",
    "fromYaml",
    "toYaml",
    "b64dec",
    "b64enc",
    "upper",
    "quote",
    "list",
    "dict",
    "get",
    "keys",
    "first",
    "append",
    "repeat",
    "replace",
    "substr",
    "join",
    "splitList",
    "dockerConfigJson",
    "ternary",
    "coalesce",
    "now",
    "nope",
    "{{/*",
    "*/}}",
    "x",
    "\"k\"",
    "\"\"",
];

fn soup() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(TOKENS), 0..40).prop_map(|t| t.concat())
}

/// Templates that read the sentinels and fail in many ways.
fn shaped() -> impl Strategy<Value = String> {
    let expr = prop::sample::select(
        &[
            ".a",
            ".b",
            ".c",
            ".d",
            "(index . \"a\")",
            "(fromJson .b)",
            "(fromJson .a)",
            "(fromYaml .c)",
            "(b64dec .d)",
            "(b64dec .a)",
            "(splitList \"E\" .a)",
            "(dict .a .b)",
            "(list .a 1)",
            "(fromJson .b).k",
            "(fromJson .b).n",
        ][..],
    );
    let func = prop::sample::select(
        &[
            "len",
            "upper",
            "toJson",
            "printf \"%d\"",
            "printf \"%s %s\"",
            "index",
            "eq 1",
            "lt .a",
            "first",
            "get",
            "keys",
            "repeat .a",
            "substr 1",
            "fromJson",
            "toYaml",
            "fromYaml",
            "b64dec",
            "pemKey",
            "pemChain",
            "pkcs12key",
            "pkcs12certPass .a",
            "filterPEM \"X\"",
            "filterCertChain \"leaf\"",
            "not",
            "quote",
            "append",
        ][..],
    );
    (expr, func, prop::bool::ANY).prop_map(|(e, f, pipe)| {
        if pipe {
            format!("{{{{ {e} | {f} }}}}")
        } else {
            format!("{{{{ {f} {e} }}}}")
        }
    })
}

fn check(text: &str) -> Result<(), TestCaseError> {
    let vals = values();
    let result = Template::parse("key", text).and_then(|t| t.render(&vals, &mut Budget::new(2_000, 1 << 16)));
    if let Err(e) = result {
        let shown = e.to_string();
        prop_assert!(shown.len() <= 512, "{} bytes: {shown}", shown.len());
        for s in [SENTINEL_A, SENTINEL_B, "SENTINELccc", "SENTINEL"] {
            prop_assert!(!shown.contains(s), "{text:?} -> {shown}");
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn token_soup_never_panics_nor_leaks(text in soup()) {
        check(&text)?;
    }

    #[test]
    fn failing_functions_never_leak(text in shaped()) {
        check(&text)?;
    }

    #[test]
    fn arbitrary_text_never_panics(text in ".{0,200}") {
        check(&text)?;
    }
}

#[test]
fn long_names_are_cut() {
    let name = "n".repeat(500);
    let e = Template::parse(&name, &format!("{{{{ .{name} }}}}"))
        .and_then(|t| t.render(&values(), &mut Budget::default()))
        .err()
        .unwrap_or_else(|| panic!("rendered"));
    assert!(e.to_string().len() <= 512, "{e}");
}
