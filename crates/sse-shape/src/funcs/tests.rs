//! Every function, through a template.

use crate::Template;
use crate::limits::Budget;
use crate::template::tests::{run, values};

const V: &[(&str, &str)] = &[
    ("a", "  x y  "),
    ("j", r#"{"b":{"c":[1,"two",true,null]},"n":1.5}"#),
    ("u", "bob"),
];

fn ok(text: &str) -> String {
    run(text, V).unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn err(text: &str) -> String {
    match run(text, V) {
        Ok(out) => panic!("{text}: rendered {out:?}"),
        Err(e) => e,
    }
}

#[test]
fn comparisons_and_len_and_index() {
    assert_eq!(
        ok(
            "{{ eq 1 1 }} {{ eq 1 2 3 1 }} {{ ne \"a\" \"b\" }} {{ lt 1 2 }} {{ le 2 2 }} {{ gt \"b\" \"a\" }} {{ ge 1.5 2.5 }}"
        ),
        "true true true true true true false"
    );
    assert_eq!(err("{{ eq 1 1.0 }}"), "eq: incompatible types for comparison");
    assert_eq!(ok("{{ eq nil nil }} {{ eq .u nil }}"), "true false");
    assert_eq!(err("{{ lt true false }}"), "lt: invalid type for comparison");
    assert_eq!(ok("{{ len .u }} {{ len (list 1 2) }} {{ len (dict) }}"), "3 2 0");
    assert_eq!(err("{{ len 3 }}"), "len: len of a int");
    assert_eq!(
        ok("{{ index (list 1 2) 1 }} {{ index .u 0 }} {{ index (list (list 5)) 0 0 }}"),
        "2 98 5"
    );
    assert_eq!(err("{{ index (list 1) 1 }}"), "index: index out of range");
    assert_eq!(err("{{ index nil 1 }}"), "index: index of untyped nil");
}

#[test]
fn printing() {
    assert_eq!(ok("{{ print 1 2 \"a\" \"b\" 3 }}"), "1 2ab3");
    assert_eq!(ok("{{ println 1 \"a\" }}"), "1 a\n");
    assert_eq!(
        ok(
            r#"{{ printf "%s|%5s|%-5s|%.2s|%d|%05d|%+d|%x|%x|%q|%v|%v|%%" .u .u .u .u 42 -42 7 255 "hi" "a\"b" 1.5 true }}"#
        ),
        "bob|  bob|bob  |bo|42|-0042|+7|ff|6869|\"a\\\"b\"|1.5|true|%"
    );
    assert_eq!(
        err(r#"{{ printf "%s" 1 }}"#),
        "printf: %s is not offered for a int"
    );
    assert_eq!(
        err(r#"{{ printf "%e" 1.5 }}"#),
        "printf: the verb %e is not offered"
    );
    assert_eq!(
        err(r#"{{ printf "%s %s" "a" }}"#),
        "printf: missing argument for %s"
    );
    assert_eq!(
        err(r#"{{ printf "%s" "a" "b" }}"#),
        "printf: more arguments than verbs"
    );
}

#[test]
fn strings() {
    assert_eq!(
        ok("[{{ trim .a }}] [{{ trimAll \"x \" .a }}] {{ trimPrefix \"b\" .u }} {{ trimSuffix \"b\" .u }}"),
        "[x y] [y] ob bo"
    );
    assert_eq!(
        ok("{{ upper .u }} {{ lower \"ÀB\" }} {{ replace \"o\" \"0\" .u }} {{ replace \"\" \"-\" \"ab\" }}"),
        "BOB àb b0b -a-b-"
    );
    assert_eq!(
        ok("{{ contains \"o\" .u }} {{ hasPrefix \"b\" .u }} {{ hasSuffix \"x\" .u }}"),
        "true true false"
    );
    assert_eq!(
        ok("{{ quote .u 1 nil }} {{ squote .u }} {{ cat .u nil 1 }}"),
        "\"bob\" \"1\" 'bob' bob 1"
    );
    assert_eq!(
        ok("{{ indent 2 \"a\\nb\" }}|{{ nindent 1 \"a\" }}|{{ nospace .a }}"),
        "  a\n  b|\n a|xy"
    );
    assert_eq!(
        ok(
            "{{ repeat 3 \"ab\" }} {{ substr 1 2 .u }} {{ substr -1 2 .u }} {{ substr 1 9 .u }} {{ trunc 2 .u }} {{ trunc -2 .u }}"
        ),
        "ababab o bo ob bo ob"
    );
    assert_eq!(err("{{ repeat -1 \"a\" }}"), "repeat: negative count");
    assert_eq!(err("{{ substr 2 1 .u }}"), "substr: slice bounds out of range");
    assert_eq!(
        ok(
            "{{ join \",\" (list 1 \"a\" nil) }} {{ join \",\" .u }} {{ splitList \",\" \"a,b\" | join \"+\" }} {{ toString 1.5 }}"
        ),
        "1,a bob a+b 1.5"
    );
    assert_eq!(err("{{ upper 1 }}"), "expected string; found a number");
    assert_eq!(
        err("{{ len .u | upper }}"),
        "wrong type for value; expected string; got int"
    );
    assert_eq!(
        err("{{ repeat \"2\" .u }}"),
        "expected int; found a string constant"
    );
}

#[test]
fn logic_and_data() {
    assert_eq!(
        ok("{{ default \"d\" \"\" }} {{ default \"d\" .u }} {{ \"\" | default \"p\" }} {{ default \"d\" }}"),
        "d bob p d"
    );
    assert_eq!(
        ok("{{ empty \"\" }} {{ empty 0 }} {{ empty (list) }} {{ empty .u }} {{ coalesce \"\" 0 .u }}"),
        "true true true false bob"
    );
    assert_eq!(
        ok("{{ ternary \"y\" \"n\" true }} {{ true | ternary 1 2 }}"),
        "y 1"
    );
    assert_eq!(
        ok("{{ get (dict \"k\" 1) \"k\" }} [{{ get (dict) \"k\" }}] {{ hasKey (dict \"k\" 1) \"k\" }}"),
        "1 [] true"
    );
    assert_eq!(
        ok(
            "{{ keys (dict \"b\" 1 \"a\" 2) | join \",\" }} {{ append (list 1) 2 | toJson }} {{ first (list 1 2) }} {{ last (list 1 2) }} {{ first (list) }}"
        ),
        "a,b [1,2] 1 2 <no value>"
    );
    assert_eq!(
        err("{{ hasKey . \"u\" }}"),
        "wrong type for value; expected map; got the root values (use index)"
    );
    assert_eq!(err("{{ append .u 1 }}"), "append: cannot append to a string");
    assert_eq!(ok("{{ (dict \"k\") | toJson }}"), r#"{"k":""}"#);
}

#[test]
fn encodings() {
    assert_eq!(
        ok("{{ b64enc .u }} {{ b64enc .u | b64dec }} {{ sha256sum \"\" }}"),
        "Ym9i bob e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    assert_eq!(
        err("{{ b64dec \"Ym9!\" }}"),
        "b64dec: input is not valid base64 (byte 3)"
    );
    assert_eq!(
        ok("{{ (fromJson .j).b.c | toJson }} {{ (fromJson .j).n }}"),
        r#"[1,"two",true,null] 1.5"#
    );
    assert_eq!(
        ok("{{ list \"<a&b>\" | toJson }} {{ list \"<a&b>\" | toRawJson }}"),
        r#"["\u003ca\u0026b\u003e"] ["<a&b>"]"#
    );
    assert_eq!(
        ok("{{ dict \"a\" (list 1) | toPrettyJson }}"),
        "{\n  \"a\": [\n    1\n  ]\n}"
    );
    assert_eq!(
        err("{{ fromJson \"{\" }}"),
        "fromJson: input is not valid JSON (line 1, column 1)"
    );
    assert_eq!(
        ok("{{ (fromYaml \"a: 1\\nb: [x]\").b | toJson }} {{ fromYaml \"a: 1\" | toYaml }}"),
        r#"["x"] a: 1"#
    );
    assert_eq!(
        err("{{ fromYaml \"- 1\" }}"),
        "fromYaml: input is not a YAML mapping"
    );
    assert_eq!(
        ok(r#"{{ dockerConfigJson "r.io" .u "p\"w" }}"#),
        r#"{"auths":{"r.io":{"username":"bob","password":"p\"w","auth":"Ym9iOnAidw=="}}}"#
    );
    assert_eq!(
        err(r#"{{ dockerConfigJson "r.io" .u }}"#),
        "wrong number of arguments for dockerConfigJson: want at least 3, got 2"
    );
}

#[test]
fn the_byte_budget_stops_doubling_before_allocating_past_it() {
    let t = Template::parse("t", r#"{{ $s := "aaaaaaaa" }}{{ range $i := list 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 }}{{ $s = printf "%s%s" $s $s }}{{ end }}"#)
        .unwrap_or_else(|e| panic!("{e}"));
    let mut budget = Budget::default();
    let e = t
        .render(&values(&[]), &mut budget)
        .err()
        .unwrap_or_else(|| panic!("rendered"));
    assert_eq!(e.what, "rendering produces more than 4194304 bytes");
    assert!(budget.bytes_left() < 4 << 20);
    let t = Template::parse("t", r#"{{ repeat 5000000 "a" }}"#).unwrap_or_else(|e| panic!("{e}"));
    let mut budget = Budget::default();
    assert!(t.render(&values(&[]), &mut budget).is_err());
    assert_eq!(
        budget.bytes_left(),
        4 << 20,
        "nothing was taken for the refused repeat"
    );
}

#[test]
fn the_step_budget_stops_a_million_iterations() {
    let t = Template::parse("t", "{{ range 1000000 }}{{ end }}").unwrap_or_else(|e| panic!("{e}"));
    let e = t
        .render(&values(&[]), &mut Budget::default())
        .err()
        .unwrap_or_else(|| panic!("rendered"));
    assert_eq!(e.what, "rendering needs more than 100000 steps");
    let t = Template::parse(
        "t",
        r#"{{ $l := splitList "" (repeat 1000 "a") }}{{ range $l }}{{ range $l }}{{ end }}{{ end }}"#,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(t.render(&values(&[]), &mut Budget::default()).is_err());
}

#[test]
fn output_is_bounded_per_template() {
    let t = Template::parse("t", r#"{{ repeat 600000 "a" }}{{ repeat 600000 "a" }}"#)
        .unwrap_or_else(|e| panic!("{e}"));
    let e = t
        .render(&values(&[]), &mut Budget::default())
        .err()
        .unwrap_or_else(|| panic!("rendered"));
    assert_eq!(e.what, "the output is larger than 1048576 bytes");
}

#[test]
fn values_nest_at_most_64_deep() {
    let t = Template::parse(
        "t",
        r#"{{ $l := list }}{{ range 70 }}{{ $l = list $l }}{{ end }}"#,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let e = t
        .render(&values(&[]), &mut Budget::default())
        .err()
        .unwrap_or_else(|| panic!("rendered"));
    assert_eq!(e.what, "list: values nest deeper than 64");
}

#[test]
fn a_yaml_alias_bomb_is_refused_or_bounded() {
    let mut bomb = String::from("a: &a [\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\"]\n");
    for i in 0..9 {
        let prev = (b'a' + i) as char;
        let next = (b'a' + i + 1) as char;
        bomb.push_str(&format!("{next}: &{next} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]\n"));
    }
    let started = std::time::Instant::now();
    let t = Template::parse("t", "{{ fromYaml .y | toJson | len }}").unwrap_or_else(|e| panic!("{e}"));
    let r = t.render(&values(&[("y", &bomb)]), &mut Budget::default());
    assert!(r.is_err(), "a billion laughs rendered");
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}
