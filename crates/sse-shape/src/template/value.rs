//! Values as Go's `text/template` sees them: strings are bytes (a vault value need not be UTF-8), numbers are
//! Go's `int` and `float64`, maps have string keys and iterate in key order.

use std::collections::BTreeMap;
use std::sync::Arc;

/// A map with string keys. `strings` marks the root `.` (Go's `map[string]string`: a missing key indexes to
/// `""`, and sprig's map functions refuse it); every other map is Go's `map[string]interface{}`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Map {
    pub(crate) entries: BTreeMap<Vec<u8>, Value>,
    pub(crate) strings: bool,
    /// 1 + the deepest nesting of its values (values nest at most [`crate::limits::MAX_DEPTH`] deep).
    pub(crate) depth: u8,
}

/// A list, and how deep it nests.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct List {
    pub(crate) items: Vec<Value>,
    pub(crate) depth: u8,
}

impl std::ops::Deref for List {
    type Target = [Value];
    fn deref(&self) -> &[Value] {
        &self.items
    }
}

/// One value. Clones are cheap: strings, lists and maps are shared.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    /// Go's untyped nil (and a missing `index` entry of a `map[string]interface{}`); prints as `<no value>`.
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Arc<[u8]>),
    List(Arc<List>),
    Map(Arc<Map>),
}

impl Value {
    pub(crate) fn str(b: impl Into<Arc<[u8]>>) -> Value {
        Value::Str(b.into())
    }

    pub(crate) fn string(s: String) -> Value {
        Value::Str(s.into_bytes().into())
    }

    pub(crate) fn map(entries: BTreeMap<Vec<u8>, Value>) -> Value {
        let depth = entries
            .values()
            .map(Value::depth)
            .max()
            .unwrap_or(0)
            .saturating_add(1);
        Value::Map(Arc::new(Map {
            entries,
            strings: false,
            depth,
        }))
    }

    pub(crate) fn list(items: Vec<Value>) -> Value {
        let depth = items
            .iter()
            .map(Value::depth)
            .max()
            .unwrap_or(0)
            .saturating_add(1);
        Value::List(Arc::new(List { items, depth }))
    }

    /// How deep lists and maps nest in it (0 for anything else).
    pub(crate) fn depth(&self) -> u8 {
        match self {
            Value::List(l) => l.depth,
            Value::Map(m) => m.depth,
            _ => 0,
        }
    }

    /// Go's type name, for messages (never the value itself).
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Value::Nil => "nil",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float64",
            Value::Str(_) => "string",
            Value::List(_) => "list",
            Value::Map(_) => "map",
        }
    }

    /// Go's `text/template` truth: non-zero, non-empty, non-nil.
    pub(crate) fn truth(&self) -> bool {
        match self {
            Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::Str(s) => !s.is_empty(),
            Value::List(l) => !l.is_empty(),
            Value::Map(m) => !m.entries.is_empty(),
        }
    }

    /// Appends Go's `fmt` `%v` form (`nil` is `<nil>`, as fmt prints it). Lists and maps are refused.
    pub(crate) fn write_v(&self, out: &mut Vec<u8>) -> Result<(), &'static str> {
        match self {
            Value::Nil => out.extend_from_slice(b"<nil>"),
            Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
            Value::Int(i) => out.extend_from_slice(i.to_string().as_bytes()),
            Value::Float(f) => out.extend_from_slice(go_float(*f).as_bytes()),
            Value::Str(s) => out.extend_from_slice(s),
            Value::List(_) => return Err("a list cannot be printed; use toJson"),
            Value::Map(_) => return Err("a map cannot be printed; use toJson"),
        }
        Ok(())
    }

    /// The bytes of sprig's `strval` (a string as is, anything else as `%v`).
    pub(crate) fn strval(&self) -> Result<Arc<[u8]>, &'static str> {
        if let Value::Str(s) = self {
            return Ok(s.clone());
        }
        let mut out = Vec::new();
        self.write_v(&mut out)?;
        Ok(out.into())
    }

    /// The bytes this value's strings hold, for charging a copy.
    pub(crate) fn weight(&self) -> usize {
        match self {
            Value::Str(s) => s.len(),
            _ => 8,
        }
    }
}

/// Go's `%v` of a float64: the shortest representation, in `%e` form when the exponent is below -4 or 21 and above.
pub(crate) fn go_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    if f == 0.0 {
        return if f.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let e = format!("{f:e}");
    let (mantissa, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    } else {
        format!("{f}")
    }
}

/// Go's `encoding/json` form of a float64 (`f` form unless below 1e-6 or from 1e21 on).
pub(crate) fn json_float(f: f64) -> Option<String> {
    if !f.is_finite() {
        return None;
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let e = format!("{f:e}");
        let (mantissa, exp) = e.split_once('e').unwrap_or((&e, "0"));
        let exp: i32 = exp.parse().unwrap_or(0);
        let sign = if exp < 0 { '-' } else { '+' };
        return Some(format!("{mantissa}e{sign}{}", exp.abs()));
    }
    if f == 0.0 && f.is_sign_negative() {
        return Some("-0".into());
    }
    Some(format!("{f}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_as_go_prints_them() {
        for (f, want) in [
            (1.5, "1.5"),
            (1e6, "1e+06"),
            (123456.0, "123456"),
            (1234567.0, "1.234567e+06"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.0, "1"),
            (-2.5e-10, "-2.5e-10"),
            (1e100, "1e+100"),
        ] {
            assert_eq!(go_float(f), want, "{f}");
        }
        assert_eq!(json_float(1e21).as_deref(), Some("1e+21"));
        assert_eq!(json_float(1.5e-7).as_deref(), Some("1.5e-7"));
        assert_eq!(
            json_float(12345678901234567890.0).as_deref(),
            Some("12345678901234567000")
        );
        assert_eq!(json_float(3.0).as_deref(), Some("3"));
    }

    #[test]
    fn truth_is_go_truth() {
        assert!(!Value::Nil.truth());
        assert!(!Value::str(&b""[..]).truth());
        assert!(Value::str(&b"0"[..]).truth());
        assert!(!Value::Int(0).truth());
        assert!(!Value::list(vec![]).truth());
        assert!(Value::list(vec![Value::Nil]).truth());
        assert!(!Value::map(BTreeMap::new()).truth());
    }
}
