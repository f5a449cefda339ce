//! Sprig's logic and data functions: `default empty coalesce ternary list dict get hasKey keys append first
//! last`. `keys` sorts (sprig's follows Go's random map order).

use std::collections::BTreeMap;

use super::{Cx, Fail, Func, P, f, fail, pass};
use crate::template::value::Value;

pub(crate) const FUNCS: &[Func] = &[
    pass("default", &[P::Any], Some(P::Any), |_, a| {
        let mut it = a.into_iter();
        let d = it.next().unwrap_or(Value::Nil);
        Ok(match it.next() {
            Some(given) if !empty(&given) => given,
            _ => d,
        })
    }),
    pass("empty", &[P::Any], None, |_, a| Ok(Value::Bool(empty(&a[0])))),
    pass("coalesce", &[], Some(P::Any), |_, a| {
        Ok(a.into_iter().find(|v| !empty(v)).unwrap_or(Value::Nil))
    }),
    pass("ternary", &[P::Any, P::Any, P::Bool], None, |_, a| {
        let mut it = a.into_iter();
        let (t, e) = (it.next().unwrap_or(Value::Nil), it.next().unwrap_or(Value::Nil));
        Ok(if matches!(it.next(), Some(Value::Bool(true))) {
            t
        } else {
            e
        })
    }),
    f("list", &[], Some(P::Any), |_, a| Ok(Value::list(a))),
    f("dict", &[], Some(P::Any), dict),
    pass("get", &[P::Map, P::Str], None, |_, a| {
        let (Value::Map(m), Value::Str(k)) = (&a[0], &a[1]) else {
            return fail("bad arguments");
        };
        Ok(m.entries
            .get(&k[..])
            .cloned()
            .unwrap_or_else(|| Value::str(&b""[..])))
    }),
    pass("hasKey", &[P::Map, P::Str], None, |_, a| {
        let (Value::Map(m), Value::Str(k)) = (&a[0], &a[1]) else {
            return fail("bad arguments");
        };
        Ok(Value::Bool(m.entries.contains_key(&k[..])))
    }),
    f("keys", &[], Some(P::Map), |cx, a| {
        let mut keys: Vec<Vec<u8>> = a
            .iter()
            .filter_map(|m| if let Value::Map(m) = m { Some(m) } else { None })
            .flat_map(|m| m.entries.keys().cloned())
            .collect();
        keys.sort();
        cx.check(keys.iter().map(Vec::len).sum::<usize>())?;
        Ok(Value::list(keys.into_iter().map(Value::str).collect()))
    }),
    f("append", &[P::Any, P::Any], None, |cx, a| {
        let Value::List(l) = &a[0] else {
            return fail(format!("cannot append to a {}", a[0].type_name()));
        };
        cx.check((l.len() + 1).saturating_mul(crate::limits::ENTRY_COST as usize))?;
        let mut items = l.items.clone();
        items.push(a[1].clone());
        Ok(Value::list(items))
    }),
    pass("first", &[P::Any], None, |_, a| match &a[0] {
        Value::List(l) => Ok(l.first().cloned().unwrap_or(Value::Nil)),
        v => fail(format!("cannot find the first element of a {}", v.type_name())),
    }),
    pass("last", &[P::Any], None, |_, a| match &a[0] {
        Value::List(l) => Ok(l.last().cloned().unwrap_or(Value::Nil)),
        v => fail(format!("cannot find the last element of a {}", v.type_name())),
    }),
];

/// Sprig's `empty`: nil, false, zero, or of length zero.
pub(crate) fn empty(v: &Value) -> bool {
    !v.truth()
}

fn dict(_: &mut Cx<'_>, a: Vec<Value>) -> Result<Value, Fail> {
    let mut m = BTreeMap::new();
    let mut it = a.into_iter();
    while let Some(k) = it.next() {
        let k = k.strval().map_err(|w| Fail::Msg(w.into()))?;
        m.insert(k.to_vec(), it.next().unwrap_or_else(|| Value::str(&b""[..])));
    }
    Ok(Value::map(m))
}
