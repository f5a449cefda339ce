//! Parsing and rendering, construct by construct.

use super::*;
use crate::limits::Budget;

pub(crate) fn values(pairs: &[(&str, &str)]) -> Values {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
        .collect()
}

/// Renders `text` over `pairs`: the output, or the error's `what`.
pub(crate) fn run(text: &str, pairs: &[(&str, &str)]) -> Result<String, String> {
    let t = Template::parse("t", text).map_err(|e| e.what)?;
    let out = t
        .render(&values(pairs), &mut Budget::default())
        .map_err(|e| e.what)?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

fn ok(text: &str, pairs: &[(&str, &str)]) -> String {
    run(text, pairs).unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn err(text: &str, pairs: &[(&str, &str)]) -> String {
    match run(text, pairs) {
        Ok(out) => panic!("{text}: rendered {out:?}"),
        Err(e) => e,
    }
}

const V: &[(&str, &str)] = &[("token", "s3cr3t"), ("user", "bob"), ("empty", "")];

#[test]
fn text_actions_and_trim_markers() {
    assert_eq!(ok("a {{ .user }} b", V), "a bob b");
    assert_eq!(ok("a  {{- .user -}}  \n b", V), "abobb");
    assert_eq!(ok("a {{- /* c */ -}} b", V), "ab");
    assert_eq!(ok("a {{/* c */}} b", V), "a  b");
    assert_eq!(ok("{{-3}}", V), "-3");
    assert_eq!(ok("{{ 3 -}} x", V), "3x");
}

#[test]
fn literals() {
    assert_eq!(ok(r#"{{ "a\tb\x41\u00e9" }}"#, V), "a\tbAé");
    assert_eq!(ok("{{ `raw\\n` }}", V), "raw\\n");
    assert_eq!(
        ok(
            "{{ 'a' }} {{ 0x10 }} {{ 0o17 }} {{ 017 }} {{ 1_000 }} {{ 1.5 }} {{ 1e3 }} {{ 1.0 }}",
            V
        ),
        "97 16 15 15 1000 1.5 1000 1"
    );
    assert_eq!(ok("{{ true }} {{ false }}", V), "true false");
    assert_eq!(err("{{ nil }}", V), "nil is not a command");
}

#[test]
fn missing_key_is_an_error_but_index_gives_empty() {
    assert_eq!(
        err("{{ .tokn }}", V),
        r#"no value named "tokn" (values: empty, token, user)"#
    );
    assert_eq!(ok(r#"{{ index . "tokn" }}|"#, V), "|");
    assert_eq!(ok(r#"{{ index . "tokn" | default "y" }}"#, V), "y");
    assert_eq!(ok(r#"{{ (dict "a" 1).a }}"#, V), "1");
    assert_eq!(
        err(r#"{{ (dict "a" 1).b }}"#, V),
        r#"map has no entry for key "b""#
    );
    assert_eq!(ok(r#"{{ index (dict "a" 1) "b" }}"#, V), "<no value>");
    assert_eq!(
        err("{{ .user.x }}", V),
        r#"can't evaluate field "x" in type string"#
    );
}

#[test]
fn variables_and_scopes() {
    assert_eq!(ok("{{ $x := .user }}{{ $x }}{{ $x = 1 }}{{ $x }}", V), "bob1");
    assert_eq!(
        ok("{{ $.user }}{{ with .token }}{{ $.user }}{{ . }}{{ end }}", V),
        "bobbobs3cr3t"
    );
    assert_eq!(ok("{{ if true }}{{ $x := 1 }}{{ $x }}{{ end }}", V), "1");
    assert_eq!(
        err("{{ if true }}{{ $x := 1 }}{{ end }}{{ $x }}", V),
        r#"undefined variable "$x""#
    );
}

#[test]
fn conditionals() {
    assert_eq!(
        ok("{{ if .empty }}a{{ else if .user }}b{{ else }}c{{ end }}", V),
        "b"
    );
    assert_eq!(
        ok("{{ with .empty }}a{{ else with .user }}{{ . }}{{ end }}", V),
        "bob"
    );
    assert_eq!(ok("{{ if and .user .empty }}a{{ else }}b{{ end }}", V), "b");
    assert_eq!(ok("{{ or .empty .user }}", V), "bob");
    assert_eq!(ok("{{ and .user .token }}", V), "s3cr3t");
    assert_eq!(ok("{{ not .empty }}", V), "true");
}

#[test]
fn range_orders_maps_and_breaks() {
    assert_eq!(
        ok("{{ range $k, $v := . }}{{ $k }}={{ $v }};{{ end }}", V),
        "empty=;token=s3cr3t;user=bob;"
    );
    assert_eq!(
        ok(
            "{{ range list 1 2 3 }}{{ if eq . 2 }}{{ continue }}{{ end }}{{ . }}{{ end }}",
            V
        ),
        "13"
    );
    assert_eq!(
        ok(
            "{{ range $i, $e := list 1 2 3 }}{{ if eq $i 2 }}{{ break }}{{ end }}{{ $e }}{{ end }}",
            V
        ),
        "12"
    );
    assert_eq!(ok("{{ range list }}x{{ else }}none{{ end }}", V), "none");
    assert_eq!(ok("{{ range 3 }}{{ . }}{{ end }}", V), "012");
    assert_eq!(
        err("{{ range .user }}{{ end }}", V),
        "range can't iterate over a string"
    );
}

#[test]
fn printing_a_list_or_map_is_refused() {
    assert_eq!(err("{{ list 1 }}", V), "a list cannot be printed; use toJson");
    assert_eq!(
        err(r#"{{ dict "a" 1 }}"#, V),
        "a map cannot be printed; use toJson"
    );
}

#[test]
fn refusals_are_named_when_parsing() {
    let refused = |text: &str| match Template::parse("t", text) {
        Ok(_) => panic!("{text}: parsed"),
        Err(e) => e.what,
    };
    assert_eq!(
        refused(r#"{{ define "x" }}{{ end }}"#),
        "{{define}} is not available: a template cannot define or call other templates"
    );
    assert_eq!(
        refused(r#"{{ template "x" }}"#),
        "{{template}} is not available: a template cannot define or call other templates"
    );
    assert_eq!(
        refused(r#"{{ block "x" . }}{{ end }}"#),
        "{{block}} is not available: a template cannot define or call other templates"
    );
    assert_eq!(
        refused("{{ now }}"),
        r#"function "now" is not available: its output changes on every render"#
    );
    assert_eq!(
        refused("{{ env \"HOME\" }}"),
        r#"function "env" is not available: it reads the environment"#
    );
    assert_eq!(
        refused("{{ call .x }}"),
        r#"function "call" is not available: function values and methods do not exist here"#
    );
    assert_eq!(refused("{{ nope }}"), r#"function "nope" not defined"#);
    assert_eq!(
        refused("{{ .user.Method 1 }}"),
        r#"method calls are not available: "Method" is given arguments"#
    );
    assert_eq!(refused("{{ break }}"), "{{break}} outside {{range}}");
    assert_eq!(
        refused("{{ if true }}"),
        "unexpected end of template: {{if}} is not closed"
    );
    assert_eq!(refused("{{ end }}"), "unexpected {{end}}");
    assert_eq!(refused("{{ .a"), "unclosed action");
    assert_eq!(refused("{{ \"a }}"), "unterminated quoted string");
    assert_eq!(refused("{{ /* a */ }}"), "unexpected '/' in command");
    assert_eq!(refused("{{ \u{7f} }}"), "unrecognized character in action");
    assert_eq!(refused("{{/* a "), "unclosed comment");
    assert_eq!(
        refused("{{ 1 | 2 }}"),
        "non executable command in pipeline stage 2"
    );
    assert_eq!(refused("{{ $x }}"), r#"undefined variable "$x""#);
    assert_eq!(refused("{{ (1 }}"), "unclosed left paren");
}

#[test]
fn errors_carry_position_and_never_values() {
    let t = Template::parse("key", "line one\n  {{ .tokn }}").unwrap_or_else(|e| panic!("{e}"));
    let e = t
        .render(&values(V), &mut Budget::default())
        .err()
        .unwrap_or_else(|| panic!("rendered"));
    assert_eq!(
        e.to_string(),
        r#"template key: line 2, column 6: no value named "tokn" (values: empty, token, user)"#
    );
    assert!(!e.to_string().contains("s3cr3t"));
    let e = Template::parse("k", "a\n{{ if }}")
        .err()
        .unwrap_or_else(|| panic!("parsed"));
    assert_eq!((e.line, e.column, e.kind), (2, 7, ErrorKind::Syntax));
}

#[test]
fn inputs_are_known_when_parsing() {
    let inputs = |text: &str| {
        Template::parse("t", text)
            .map(|t| t.inputs())
            .unwrap_or_else(|e| panic!("{e}"))
    };
    let named = |names: &[&str]| Inputs::Named(names.iter().map(|s| s.to_string()).collect());
    assert_eq!(
        inputs(r#"{{ .a }}{{ index . "b" }}{{ $.c.d }}{{ with .e }}{{ .f }}{{ end }}"#),
        named(&["a", "b", "c", "e"])
    );
    assert_eq!(inputs("{{ range . }}{{ end }}"), Inputs::All);
    assert_eq!(inputs("{{ toJson . }}"), Inputs::All);
    assert_eq!(inputs("{{ $ }}"), Inputs::All);
    assert_eq!(inputs(r#"{{ $k := "a" }}{{ index . $k }}"#), Inputs::All);
    assert_eq!(inputs("{{ range .list }}{{ . }}{{ end }}"), named(&["list"]));
}

#[test]
fn limits_are_refused_when_parsing() {
    let deep = format!("{}{}", "{{ if true }}".repeat(65), "{{ end }}".repeat(65));
    assert_eq!(
        Template::parse("t", &deep).err().map(|e| e.what),
        Some("nesting is deeper than 64".into())
    );
    let ok64 = format!("{}{}", "{{ if true }}".repeat(64), "{{ end }}".repeat(64));
    assert!(Template::parse("t", &ok64).is_ok());
    let parens = format!("{{{{ {}1{} }}}}", "(".repeat(65), ")".repeat(65));
    assert!(Template::parse("t", &parens).is_err());
    let long = "x".repeat(32 * 1024 + 1);
    assert_eq!(
        Template::parse("t", &long).err().map(|e| e.kind),
        Some(ErrorKind::Refused)
    );
    assert!(Template::parse("t", &"x".repeat(32 * 1024)).is_ok());
}

#[test]
fn a_missing_name_lists_only_the_listed_names() {
    let t = Template::parse("t", "{{ .tokn }}").unwrap_or_else(|e| panic!("{e}"));
    let listed: BTreeSet<String> = ["token".to_string()].into();
    let e = t
        .render_listing(&values(V), &listed, &mut Budget::default())
        .err()
        .unwrap_or_else(|| panic!("rendered"));
    assert_eq!(e.what, r#"no value named "tokn" (values: token, 2 extracted)"#);
}

#[test]
fn parse_errors_say_what_kind_they_are() {
    let kind = |text: &str| Template::parse("t", text).err().map(|e| e.kind);
    assert_eq!(kind("{{ now }}"), Some(ErrorKind::Refused));
    assert_eq!(kind("{{ nope }}"), Some(ErrorKind::Refused));
    assert_eq!(kind(r#"{{ define "x" }}{{ end }}"#), Some(ErrorKind::Refused));
    assert_eq!(kind("{{ 1i }}"), Some(ErrorKind::Refused));
    assert_eq!(kind("{{ if }}{{ end }}"), Some(ErrorKind::Syntax));
    assert_eq!(kind(&"{{ (".repeat(65)), Some(ErrorKind::Syntax));
    assert_eq!(
        kind(&format!("{{{{ {}1{} }}}}", "(".repeat(65), ")".repeat(65))),
        Some(ErrorKind::Limit)
    );
}

#[test]
fn templates_can_cross_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Template>();
    send_sync::<TemplateError>();
}

#[test]
fn one_budget_serves_every_template_of_a_render() {
    let a = Template::parse("a", r#"{{ repeat 3000000 "a" }}"#).unwrap_or_else(|e| panic!("{e}"));
    let b = Template::parse("b", r#"{{ repeat 2000000 "b" }}"#).unwrap_or_else(|e| panic!("{e}"));
    let mut budget = Budget::default();
    let vals = values(&[]);
    assert!(
        a.render(&vals, &mut budget).is_err(),
        "3 MB of output is over the 1 MiB output bound"
    );
    assert!(
        b.render(&vals, &mut budget).is_err(),
        "the first template's 3 MB were charged when created"
    );
    let mut fresh = Budget::default();
    assert!(b.render(&vals, &mut fresh).is_err());
    let c = Template::parse("c", r#"{{ repeat 500000 "c" }}"#).unwrap_or_else(|e| panic!("{e}"));
    let mut budget = Budget::default();
    for _ in 0..4 {
        assert!(c.render(&vals, &mut budget).is_ok());
    }
    assert!(
        c.render(&vals, &mut budget).is_err(),
        "4 renders of 1 MB (result and output) exhaust 4 MiB"
    );
}
