//! Lexer tests: tokens, positions, trim markers and comments.

use super::*;

fn toks(s: &str) -> Vec<(Tok, usize)> {
    lex(s)
        .unwrap_or_else(|e| panic!("{s}: {}", e.what))
        .into_iter()
        .map(|t| (t.tok, t.pos))
        .collect()
}

#[test]
fn positions_are_byte_offsets() {
    assert_eq!(
        toks("ab{{ .x }}"),
        vec![
            (Tok::Text("ab".into()), 0),
            (Tok::LeftDelim, 2),
            (Tok::Space, 4),
            (Tok::Field("x".into()), 5),
            (Tok::Space, 7),
            (Tok::RightDelim, 8),
            (Tok::Eof, 10)
        ]
    );
}

#[test]
fn trim_markers_take_the_whitespace_around() {
    assert_eq!(toks(" a \n{{- 1 -}}\n b ")[0].0, Tok::Text(" a".into()));
    assert_eq!(toks(" a \n{{- 1 -}}\n b ")[4].0, Tok::Text("b ".into()));
    // `{{-1}}` is the number -1, not a trim marker.
    assert_eq!(toks("x {{-1}}")[0].0, Tok::Text("x ".into()));
    assert_eq!(toks("{{-1}}")[1].0, Tok::Number("-1".into()));
}

#[test]
fn comments_vanish_with_their_trim() {
    assert_eq!(
        toks("a {{- /* c */ -}} b"),
        vec![
            (Tok::Text("a".into()), 0),
            (Tok::Text("b".into()), 18),
            (Tok::Eof, 19)
        ]
    );
    assert_eq!(
        lex("{{/* c */ }}").err().map(|e| e.what),
        Some("comment ends before closing delimiter".into())
    );
}

#[test]
fn constants() {
    assert_eq!(toks(r#"{{"a\"b"}}"#)[1].0, Tok::Str(b"a\"b".to_vec()));
    assert_eq!(toks("{{`a\r\nb`}}")[1].0, Tok::Str(b"a\nb".to_vec()));
    assert_eq!(toks(r"{{'\n'}}")[1].0, Tok::Char(10));
    assert_eq!(toks(r#"{{"\377"}}"#)[1].0, Tok::Str(vec![0xff]));
    assert_eq!(
        lex(r#"{{"\q"}}"#).err().map(|e| e.what),
        Some("invalid escape in quoted string".into())
    );
    assert_eq!(
        lex("{{'ab'}}").err().map(|e| e.what),
        Some("malformed character constant".into())
    );
    assert_eq!(
        lex("{{ 1x }}").err().map(|e| e.what),
        Some("bad number syntax".into())
    );
    assert_eq!(toks("{{ $x.y }}")[2].0, Tok::Var("$x".into()));
    assert_eq!(toks("{{ $x.y }}")[3].0, Tok::Field("y".into()));
}

#[test]
fn unclosed_things() {
    assert_eq!(
        lex("{{ ( }}").err().map(|e| e.what),
        Some("unclosed left paren".into())
    );
    assert_eq!(
        lex("{{ ) }}").err().map(|e| e.what),
        Some("unexpected right paren".into())
    );
    assert_eq!(lex("{{ x").err().map(|e| e.what), Some("unclosed action".into()));
}
