//! The few JSON facts shaping needs, over serde_json's `RawValue` so that objects and arrays keep their exact
//! text: a value's kind, an object's members in order, an array's items, and gjson's `Result.String()`.

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

/// The kind of a JSON value, from its first byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Object,
    Array,
    String,
    Number,
    Boolean,
    Null,
}

impl Kind {
    /// "an object", "a string", …: for messages.
    pub(crate) fn article(self) -> &'static str {
        match self {
            Kind::Object => "an object",
            Kind::Array => "an array",
            Kind::String => "a string",
            Kind::Number => "a number",
            Kind::Boolean => "a boolean",
            Kind::Null => "null",
        }
    }
}

/// The kind of a raw value (serde_json trims the whitespace around it).
pub(crate) fn kind(value: &RawValue) -> Kind {
    match value.get().as_bytes().first() {
        Some(b'{') => Kind::Object,
        Some(b'[') => Kind::Array,
        Some(b'"') => Kind::String,
        Some(b't' | b'f') => Kind::Boolean,
        Some(b'n') => Kind::Null,
        _ => Kind::Number,
    }
}

/// An object's members in the document's order, duplicates kept.
pub(crate) fn members(object: &RawValue) -> Result<Vec<(String, &RawValue)>, serde_json::Error> {
    serde_json::from_str::<Members<'_>>(object.get()).map(|m| m.0)
}

/// An array's items.
pub(crate) fn elements(array: &RawValue) -> Result<Vec<&RawValue>, serde_json::Error> {
    serde_json::from_str::<Items<'_>>(array.get()).map(|items| items.0)
}

/// An object's members, in order, borrowing the values.
struct Members<'a>(Vec<(String, &'a RawValue)>);

impl<'de> Deserialize<'de> for Members<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Members<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
                let mut members = Vec::new();
                while let Some(member) = map.next_entry::<String, &'de RawValue>()? {
                    members.push(member);
                }
                Ok(Members(members))
            }
        }
        deserializer.deserialize_map(V)
    }
}

/// An array's items, borrowed.
struct Items<'a>(Vec<&'a RawValue>);

impl<'de> Deserialize<'de> for Items<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Items<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array")
            }
            fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Self::Value, S::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<&'de RawValue>()? {
                    items.push(item);
                }
                Ok(Items(items))
            }
        }
        deserializer.deserialize_seq(V)
    }
}

/// A value written as gjson's `Result.String()`.
pub(crate) fn written(value: &RawValue) -> String {
    let raw = value.get();
    match kind(value) {
        Kind::String => unquote(raw),
        Kind::Null => String::new(),
        Kind::Number => number(raw),
        Kind::Object | Kind::Array | Kind::Boolean => raw.to_owned(),
    }
}

/// A JSON number as gjson writes it: an integer as its text, anything else as Go's
/// `strconv.FormatFloat(f, 'f', -1, 64)` (the shortest decimal that reads back, never an exponent).
fn number(raw: &str) -> String {
    let digits = raw.strip_prefix('-').unwrap_or(raw);
    if digits.bytes().all(|b| b.is_ascii_digit()) {
        return raw.to_owned();
    }
    match raw.parse::<f64>() {
        Ok(f) if f == f64::INFINITY => "+Inf".to_owned(),
        Ok(f) if f == f64::NEG_INFINITY => "-Inf".to_owned(),
        // Rust's Display of an f64 is the shortest round-trip decimal without an exponent, as Go's 'f', -1.
        Ok(f) => f.to_string(),
        Err(_) => raw.to_owned(),
    }
}

/// The text of a JSON string that already parsed (so every escape is well formed). A `\u` escape that is not a
/// valid scalar (a lone surrogate) becomes U+FFFD, as in Go.
pub(crate) fn unquote(raw: &str) -> String {
    let inner = raw
        .strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .unwrap_or(raw);
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('b') => out.push('\u{8}'),
            Some('f') => out.push('\u{c}'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('t') => out.push('\t'),
            Some('u') => {
                let high = hex4(&mut chars);
                if (0xD800..0xDC00).contains(&high) {
                    let mut ahead = chars.clone();
                    if ahead.next() == Some('\\') && ahead.next() == Some('u') {
                        let low = hex4(&mut ahead);
                        if (0xDC00..0xE000).contains(&low) {
                            chars = ahead;
                            let scalar = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00);
                            out.push(char::from_u32(scalar).unwrap_or('\u{FFFD}'));
                            continue;
                        }
                    }
                }
                out.push(char::from_u32(high).unwrap_or('\u{FFFD}'));
            }
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

/// Four hex digits of a `\u` escape (0xFFFF_FFFF when they are not: a lone surrogate's replacement follows).
fn hex4(chars: &mut std::str::Chars<'_>) -> u32 {
    let text: String = chars.by_ref().take(4).collect();
    u32::from_str_radix(&text, 16).unwrap_or(u32::MAX)
}
