//! JSON as Go's `encoding/json` writes it (`toJson`, `toPrettyJson`, `toRawJson`, `dockerConfigJson`) and
//! reads it (`fromJson`: numbers become float64, as in Go).

use std::collections::BTreeMap;

use super::text::{decode, push_char};
use super::{Cx, Fail, fail};
use crate::template::value::{Value, json_float};

/// How to write.
#[derive(Clone, Copy)]
pub(crate) struct Style {
    /// Escape `<`, `>` and `&` (Go's default; `toRawJson` does not).
    pub(crate) html: bool,
    /// Indent by two spaces (`json.MarshalIndent(v, "", "  ")`).
    pub(crate) pretty: bool,
}

/// A JSON string of `b`, escaped as Go escapes it; invalid UTF-8 becomes U+FFFD.
pub(crate) fn string(out: &mut Vec<u8>, b: &[u8], html: bool) {
    out.push(b'"');
    let mut i = 0;
    while let Some((c, w)) = decode(&b[i..]) {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            '\x08' => out.extend_from_slice(b"\\b"),
            '\x0c' => out.extend_from_slice(b"\\f"),
            '<' | '>' | '&' if html => out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes()),
            '\u{2028}' | '\u{2029}' => out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes()),
            c if (c as u32) < 0x20 => out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes()),
            '\u{fffd}' if w == 1 => out.extend_from_slice(b"\\ufffd"),
            c => push_char(out, c),
        }
        i += w;
    }
    out.push(b'"');
}

/// Writes `v`, checking the budget as the text grows.
pub(crate) fn write(
    cx: &Cx<'_>,
    out: &mut Vec<u8>,
    v: &Value,
    style: Style,
    level: usize,
) -> Result<(), Fail> {
    cx.check(out.len() + v.weight() * 6 + 2 * level + 8)?;
    let newline = |out: &mut Vec<u8>, level: usize| {
        if style.pretty {
            out.push(b'\n');
            out.extend(std::iter::repeat_n(b' ', 2 * level));
        }
    };
    match v {
        Value::Nil => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Int(i) => out.extend_from_slice(i.to_string().as_bytes()),
        Value::Float(f) => match json_float(*f) {
            Some(s) => out.extend_from_slice(s.as_bytes()),
            None => return fail("a NaN or infinite number has no JSON form"),
        },
        Value::Str(s) => string(out, s, style.html),
        Value::List(l) => {
            out.push(b'[');
            for (i, x) in l.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                newline(out, level + 1);
                write(cx, out, x, style, level + 1)?;
            }
            if !l.is_empty() {
                newline(out, level);
            }
            out.push(b']');
        }
        Value::Map(m) => {
            out.push(b'{');
            for (i, (k, x)) in m.entries.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                newline(out, level + 1);
                string(out, k, style.html);
                out.push(b':');
                if style.pretty {
                    out.push(b' ');
                }
                write(cx, out, x, style, level + 1)?;
            }
            if !m.entries.is_empty() {
                newline(out, level);
            }
            out.push(b'}');
        }
    }
    Ok(())
}

/// A JSON value read into template values: objects become maps, numbers float64. What it builds beside the
/// top level is charged here.
pub(crate) fn read(cx: &mut Cx<'_>, text: &[u8]) -> Result<Value, Fail> {
    let v: serde_json::Value = match serde_json::from_slice(text) {
        Ok(v) => v,
        Err(e) => {
            return fail(format!(
                "input is not valid JSON (line {}, column {})",
                e.line(),
                e.column()
            ));
        }
    };
    from_serde(cx, v)
}

pub(crate) fn from_serde(cx: &mut Cx<'_>, v: serde_json::Value) -> Result<Value, Fail> {
    Ok(match v {
        serde_json::Value::Null => Value::Nil,
        serde_json::Value::Bool(b) => Value::Bool(b),
        serde_json::Value::Number(n) => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        serde_json::Value::String(s) => {
            cx.charge(s.len())?;
            Value::string(s)
        }
        serde_json::Value::Array(a) => {
            cx.charge(a.len() * crate::limits::ENTRY_COST as usize)?;
            let items = a
                .into_iter()
                .map(|x| from_serde(cx, x))
                .collect::<Result<Vec<_>, _>>()?;
            Value::list(items)
        }
        serde_json::Value::Object(o) => {
            let mut m = BTreeMap::new();
            for (k, x) in o {
                cx.charge(k.len() + crate::limits::ENTRY_COST as usize)?;
                m.insert(k.into_bytes(), from_serde(cx, x)?);
            }
            Value::map(m)
        }
    })
}
