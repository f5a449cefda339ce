//! Go's `text/template` builtins: `and or not eq ne lt le gt ge len index print printf println`.

use std::cmp::Ordering;

use super::printf::{printf, sprint, sprintln};
use super::{Cx, Fail, Func, Imp, P, fail, pass};
use crate::template::value::Value;

pub(crate) const FUNCS: &[Func] = &[
    Func {
        name: "and",
        params: &[P::Any],
        variadic: Some(P::Any),
        imp: Imp::And,
        fresh: false,
    },
    Func {
        name: "or",
        params: &[P::Any],
        variadic: Some(P::Any),
        imp: Imp::Or,
        fresh: false,
    },
    pass("not", &[P::Any], None, |_, a| Ok(Value::Bool(!a[0].truth()))),
    pass("eq", &[P::Any], Some(P::Any), eq),
    pass("ne", &[P::Any, P::Any], None, |_, a| {
        Ok(Value::Bool(!equal(&a[0], &a[1])?))
    }),
    pass("lt", &[P::Any, P::Any], None, |_, a| {
        Ok(Value::Bool(less(&a[0], &a[1])?))
    }),
    pass("le", &[P::Any, P::Any], None, |_, a| {
        Ok(Value::Bool(less_or_equal(&a[0], &a[1])?))
    }),
    pass("gt", &[P::Any, P::Any], None, |_, a| {
        Ok(Value::Bool(!less_or_equal(&a[0], &a[1])?))
    }),
    pass("ge", &[P::Any, P::Any], None, |_, a| {
        Ok(Value::Bool(!less(&a[0], &a[1])?))
    }),
    pass("len", &[P::Any], None, len),
    pass("index", &[P::Any], Some(P::Any), index),
    super::f("print", &[], Some(P::Any), sprint),
    super::f("printf", &[P::Str], Some(P::Any), printf),
    super::f("println", &[], Some(P::Any), sprintln),
];

/// Go's basic kinds for comparison; lists, maps and nil have none.
#[derive(PartialEq)]
enum Kind {
    Bool,
    Int,
    Float,
    Str,
    None,
}

fn kind(v: &Value) -> Kind {
    match v {
        Value::Bool(_) => Kind::Bool,
        Value::Int(_) => Kind::Int,
        Value::Float(_) => Kind::Float,
        Value::Str(_) => Kind::Str,
        _ => Kind::None,
    }
}

fn eq(_: &mut Cx<'_>, a: Vec<Value>) -> Result<Value, Fail> {
    if a.len() < 2 {
        return fail("missing argument for comparison");
    }
    for other in &a[1..] {
        if equal(&a[0], other)? {
            return Ok(Value::Bool(true));
        }
    }
    Ok(Value::Bool(false))
}

fn equal(a: &Value, b: &Value) -> Result<bool, Fail> {
    let (ka, kb) = (kind(a), kind(b));
    if ka != kb {
        if matches!(a, Value::Nil) || matches!(b, Value::Nil) {
            return Ok(false);
        }
        return fail("incompatible types for comparison");
    }
    Ok(match (a, b) {
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Int(x), Value::Int(y)) => x == y,
        (Value::Float(x), Value::Float(y)) => x == y,
        (Value::Str(x), Value::Str(y)) => x == y,
        (Value::Nil, Value::Nil) => true,
        (Value::Nil, _) | (_, Value::Nil) => false,
        _ => {
            return fail(format!(
                "a {} and a {} cannot be compared",
                a.type_name(),
                b.type_name()
            ));
        }
    })
}

fn less(a: &Value, b: &Value) -> Result<bool, Fail> {
    let o = match (a, b) {
        (Value::Int(x), Value::Int(y)) => x.cmp(y),
        (Value::Float(x), Value::Float(y)) => x.partial_cmp(y).unwrap_or(Ordering::Equal),
        (Value::Str(x), Value::Str(y)) => x.cmp(y),
        _ if matches!(kind(a), Kind::None | Kind::Bool) || matches!(kind(b), Kind::None | Kind::Bool) => {
            return fail("invalid type for comparison");
        }
        _ => return fail("incompatible types for comparison"),
    };
    Ok(o == Ordering::Less)
}

fn less_or_equal(a: &Value, b: &Value) -> Result<bool, Fail> {
    Ok(less(a, b)? || equal(a, b)?)
}

fn len(_: &mut Cx<'_>, a: Vec<Value>) -> Result<Value, Fail> {
    let n = match &a[0] {
        Value::Str(s) => s.len(),
        Value::List(l) => l.len(),
        Value::Map(m) => m.entries.len(),
        v => return fail(format!("len of a {}", v.type_name())),
    };
    Ok(Value::Int(n as i64))
}

fn index(_: &mut Cx<'_>, a: Vec<Value>) -> Result<Value, Fail> {
    let mut it = a.into_iter();
    let mut item = it.next().unwrap_or(Value::Nil);
    if matches!(item, Value::Nil) {
        return fail("index of untyped nil");
    }
    for i in it {
        item = match (&item, &i) {
            (Value::List(_) | Value::Str(_), Value::Int(n)) => {
                let len = match &item {
                    Value::List(l) => l.len(),
                    Value::Str(s) => s.len(),
                    _ => 0,
                };
                let Ok(n) = usize::try_from(*n) else {
                    return fail("index out of range");
                };
                if n >= len {
                    return fail("index out of range");
                }
                match &item {
                    Value::List(l) => l[n].clone(),
                    Value::Str(s) => Value::Int(i64::from(s[n])),
                    _ => Value::Nil,
                }
            }
            (Value::List(_) | Value::Str(_), Value::Nil) => return fail("cannot index a list with nil"),
            (Value::List(_) | Value::Str(_), k) => {
                return fail(format!("cannot index a list with a {}", k.type_name()));
            }
            (Value::Map(m), Value::Str(k)) => match m.entries.get(&k[..]) {
                Some(v) => v.clone(),
                None if m.strings => Value::str(&b""[..]),
                None => Value::Nil,
            },
            (Value::Map(_), k) => return fail(format!("a map's key is a string, not a {}", k.type_name())),
            (v, _) => return fail(format!("can't index a {}", v.type_name())),
        };
    }
    Ok(item)
}
