//! Sprig's string functions: `trim trimAll trimPrefix trimSuffix upper lower replace contains hasPrefix
//! hasSuffix quote squote indent nindent nospace repeat substr trunc cat join splitList toString`.

use super::text::{decode, decode_last, go_quote, map_case, push_char, runes};
use super::{Cx, Fail, Func, P, f, fail};
use crate::template::value::Value;

pub(crate) const FUNCS: &[Func] = &[
    f("trim", &[P::Str], None, |_, a| {
        Ok(trim_with(&a[0], char::is_whitespace))
    }),
    f("trimAll", &[P::Str, P::Str], None, |_, a| {
        let cut: std::collections::BTreeSet<char> = runes(s(&a[0])).map(|(c, _)| c).collect();
        Ok(trim_with(&a[1], |c| cut.contains(&c)))
    }),
    f("trimPrefix", &[P::Str, P::Str], None, |_, a| {
        Ok(Value::str(s(&a[1]).strip_prefix(s(&a[0])).unwrap_or(s(&a[1]))))
    }),
    f("trimSuffix", &[P::Str, P::Str], None, |_, a| {
        Ok(Value::str(s(&a[1]).strip_suffix(s(&a[0])).unwrap_or(s(&a[1]))))
    }),
    f("upper", &[P::Str], None, |cx, a| case(cx, &a[0], true)),
    f("lower", &[P::Str], None, |cx, a| case(cx, &a[0], false)),
    f("replace", &[P::Str, P::Str, P::Str], None, replace),
    f("contains", &[P::Str, P::Str], None, |_, a| {
        Ok(Value::Bool(find(s(&a[1]), s(&a[0])).is_some()))
    }),
    f("hasPrefix", &[P::Str, P::Str], None, |_, a| {
        Ok(Value::Bool(s(&a[1]).starts_with(s(&a[0]))))
    }),
    f("hasSuffix", &[P::Str, P::Str], None, |_, a| {
        Ok(Value::Bool(s(&a[1]).ends_with(s(&a[0]))))
    }),
    f("quote", &[], Some(P::Any), |cx, a| {
        each_joined(cx, a, |b| Ok(go_quote(b)))
    }),
    f("squote", &[], Some(P::Any), |cx, a| {
        each_joined(cx, a, |b| Ok([&b"'"[..], b, b"'"].concat()))
    }),
    f("indent", &[P::Int, P::Str], None, |cx, a| {
        indent(cx, &a[0], &a[1], false)
    }),
    f("nindent", &[P::Int, P::Str], None, |cx, a| {
        indent(cx, &a[0], &a[1], true)
    }),
    f("nospace", &[P::Str], None, |_, a| {
        let mut out = Vec::new();
        for (c, _) in runes(s(&a[0])) {
            if !c.is_whitespace() {
                push_char(&mut out, c);
            }
        }
        Ok(Value::str(out))
    }),
    f("repeat", &[P::Int, P::Str], None, |cx, a| {
        let (Value::Int(n), Value::Str(b)) = (&a[0], &a[1]) else {
            return fail("bad arguments");
        };
        let Ok(n) = usize::try_from(*n) else {
            return fail("negative count");
        };
        cx.check(n.saturating_mul(b.len()))?;
        Ok(Value::str(b.repeat(n)))
    }),
    f("substr", &[P::Int, P::Int, P::Str], None, substr),
    f("trunc", &[P::Int, P::Str], None, |_, a| {
        let (Value::Int(c), b) = (&a[0], s(&a[1])) else {
            return fail("bad arguments");
        };
        let len = b.len() as i64;
        Ok(Value::str(if *c < 0 && len + c > 0 {
            &b[(len + c) as usize..]
        } else if *c >= 0 && len > *c {
            &b[..*c as usize]
        } else {
            b
        }))
    }),
    f("cat", &[], Some(P::Any), |cx, a| {
        let a: Vec<Value> = a.into_iter().filter(|v| !matches!(v, Value::Nil)).collect();
        each_joined(cx, a, |b| Ok(b.to_vec()))
    }),
    f("join", &[P::Str, P::Any], None, join),
    f("splitList", &[P::Str, P::Str], None, split_list),
    f("toString", &[P::Any], None, |_, a| {
        Ok(Value::Str(a[0].strval().map_err(|w| Fail::Msg(w.into()))?))
    }),
];

/// The bytes of a string argument (the evaluator has checked the type).
pub(crate) fn s(v: &Value) -> &[u8] {
    match v {
        Value::Str(b) => b,
        _ => &[],
    }
}

fn trim_with(v: &Value, cut: impl Fn(char) -> bool) -> Value {
    let mut b = s(v);
    while let Some((c, w)) = decode(b) {
        if !cut(c) {
            break;
        }
        b = &b[w..];
    }
    while let Some((c, w)) = decode_last(b) {
        if !cut(c) {
            break;
        }
        b = &b[..b.len() - w];
    }
    Value::str(b)
}

fn case(cx: &mut Cx<'_>, v: &Value, upper: bool) -> Result<Value, Fail> {
    cx.check(s(v).len())?;
    Ok(Value::str(map_case(s(v), upper)))
}

/// The first place `needle` occurs in `hay`, in linear time (Knuth-Morris-Pratt past short needles).
pub(crate) fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    if needle.len() <= 8 {
        return hay.windows(needle.len()).position(|w| w == needle);
    }
    let mut fail = vec![0usize; needle.len()];
    let mut k = 0;
    for i in 1..needle.len() {
        while k > 0 && needle[i] != needle[k] {
            k = fail[k - 1];
        }
        if needle[i] == needle[k] {
            k += 1;
        }
        fail[i] = k;
    }
    let mut k = 0;
    for (i, &c) in hay.iter().enumerate() {
        while k > 0 && c != needle[k] {
            k = fail[k - 1];
        }
        if c == needle[k] {
            k += 1;
        }
        if k == needle.len() {
            return Some(i + 1 - k);
        }
    }
    None
}

/// Go's `strings.Replace(s, old, new, -1)`; an empty `old` matches before every rune and at the end.
fn replace(cx: &mut Cx<'_>, a: Vec<Value>) -> Result<Value, Fail> {
    let (old, new, src) = (s(&a[0]), s(&a[1]), s(&a[2]));
    let mut cuts = Vec::new();
    if old.is_empty() {
        let mut i = 0;
        cuts.push(0);
        for (_, w) in runes(src) {
            i += w;
            cuts.push(i);
        }
    } else {
        let mut i = 0;
        while let Some(p) = find(&src[i..], old) {
            cuts.push(i + p);
            i += p + old.len();
        }
    }
    let size = (src.len() - cuts.len() * old.len()).saturating_add(cuts.len().saturating_mul(new.len()));
    cx.check(size)?;
    let mut out = Vec::with_capacity(size);
    let mut last = 0;
    for c in cuts {
        out.extend_from_slice(&src[last..c]);
        out.extend_from_slice(new);
        last = c + old.len();
    }
    out.extend_from_slice(&src[last.min(src.len())..]);
    Ok(Value::str(out))
}

/// `strval` of each argument, through `each`, joined by spaces (sprig's `quote`, `squote` and `cat`; nil skipped).
fn each_joined(
    cx: &mut Cx<'_>,
    a: Vec<Value>,
    each: impl Fn(&[u8]) -> Result<Vec<u8>, Fail>,
) -> Result<Value, Fail> {
    let mut out = Vec::new();
    let mut first = true;
    for v in a.iter().filter(|v| !matches!(v, Value::Nil)) {
        let b = v.strval().map_err(|w| Fail::Msg(w.into()))?;
        cx.check(out.len() + b.len() * 4 + 3)?;
        if !first {
            out.push(b' ');
        }
        first = false;
        out.extend_from_slice(&each(&b)?);
    }
    Ok(Value::str(out))
}

fn indent(cx: &mut Cx<'_>, n: &Value, v: &Value, newline: bool) -> Result<Value, Fail> {
    let Value::Int(n) = n else {
        return fail("bad arguments");
    };
    let Ok(n) = usize::try_from(*n) else {
        return fail("negative count");
    };
    let b = s(v);
    let lines = b.iter().filter(|&&c| c == b'\n').count() + 1;
    cx.check(lines.saturating_mul(n).saturating_add(b.len() + 1))?;
    let pad = vec![b' '; n];
    let mut out = Vec::new();
    if newline {
        out.push(b'\n');
    }
    out.extend_from_slice(&pad);
    for &c in b {
        out.push(c);
        if c == b'\n' {
            out.extend_from_slice(&pad);
        }
    }
    Ok(Value::str(out))
}

fn substr(_: &mut Cx<'_>, a: Vec<Value>) -> Result<Value, Fail> {
    let (Value::Int(start), Value::Int(end), b) = (&a[0], &a[1], s(&a[2])) else {
        return fail("bad arguments");
    };
    let len = b.len() as i64;
    let (from, to) = if *start < 0 {
        (0, *end)
    } else if *end < 0 || *end > len {
        (*start, len)
    } else {
        (*start, *end)
    };
    if from < 0 || to < 0 || to > len || from > to {
        return fail("slice bounds out of range");
    }
    Ok(Value::str(&b[from as usize..to as usize]))
}

/// Sprig's `strslice`: a list's non-nil elements (or one value) as strings.
pub(crate) fn strings_of(v: &Value) -> Result<Vec<std::sync::Arc<[u8]>>, Fail> {
    let items: Vec<&Value> = match v {
        Value::List(l) => l.iter().filter(|v| !matches!(v, Value::Nil)).collect(),
        Value::Nil => Vec::new(),
        v => vec![v],
    };
    items
        .into_iter()
        .map(|v| v.strval().map_err(|w| Fail::Msg(w.into())))
        .collect()
}

fn join(cx: &mut Cx<'_>, a: Vec<Value>) -> Result<Value, Fail> {
    let sep = s(&a[0]);
    let parts = strings_of(&a[1])?;
    let size = parts.iter().map(|p| p.len()).sum::<usize>() + sep.len().saturating_mul(parts.len());
    cx.check(size)?;
    Ok(Value::str(parts.join(sep)))
}

/// Go's `strings.Split(orig, sep)`: an empty `sep` splits after each rune.
fn split_list(cx: &mut Cx<'_>, a: Vec<Value>) -> Result<Value, Fail> {
    let (sep, src) = (s(&a[0]), s(&a[1]));
    let mut parts: Vec<&[u8]> = Vec::new();
    if sep.is_empty() {
        let mut i = 0;
        for (_, w) in runes(src) {
            parts.push(&src[i..i + w]);
            i += w;
        }
    } else {
        let mut i = 0;
        while let Some(p) = find(&src[i..], sep) {
            parts.push(&src[i..i + p]);
            i += p + sep.len();
        }
        parts.push(&src[i..]);
    }
    cx.check(
        parts
            .len()
            .saturating_mul(crate::limits::ENTRY_COST as usize)
            .saturating_add(src.len()),
    )?;
    Ok(Value::list(parts.into_iter().map(Value::str).collect()))
}
