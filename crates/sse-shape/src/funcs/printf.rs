//! `printf`, `print` and `println`: Go's `fmt` for the verbs `%s %d %v %q %x %%`, with the flags `-`, `+`,
//! space and `0`, a width and a precision. Anything else is refused by name rather than printed as Go's
//! `%!verb(…)` (which would carry the value).

use super::text::{go_quote, runes};
use super::{Cx, Fail, fail};
use crate::template::value::{Value, go_float};

/// Go caps widths and precisions at a million (`%!(BADWIDTH)`); so do we, by refusing.
const MAX_WIDTH: usize = 1_000_000;

#[derive(Default)]
struct Spec {
    minus: bool,
    plus: bool,
    space: bool,
    zero: bool,
    width: Option<usize>,
    prec: Option<usize>,
}

fn v_bytes(v: &Value) -> Result<Vec<u8>, Fail> {
    let mut out = Vec::new();
    v.write_v(&mut out).map_err(|w| Fail::Msg(w.into()))?;
    Ok(out)
}

/// Go's `fmt.Sprint`: operands joined with a space when neither side is a string.
pub(crate) fn sprint(cx: &mut Cx<'_>, args: Vec<Value>) -> Result<Value, Fail> {
    let mut out = Vec::new();
    for (i, a) in args.iter().enumerate() {
        let is_str = |v: &Value| matches!(v, Value::Str(_));
        if i > 0 && !is_str(a) && !is_str(&args[i - 1]) {
            out.push(b' ');
        }
        cx.check(out.len() + a.weight())?;
        out.extend_from_slice(&v_bytes(a)?);
    }
    Ok(Value::str(out))
}

/// Go's `fmt.Sprintln`: operands joined with a space, and a newline.
pub(crate) fn sprintln(cx: &mut Cx<'_>, args: Vec<Value>) -> Result<Value, Fail> {
    let mut out = Vec::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        cx.check(out.len() + a.weight())?;
        out.extend_from_slice(&v_bytes(a)?);
    }
    out.push(b'\n');
    Ok(Value::str(out))
}

pub(crate) fn printf(cx: &mut Cx<'_>, args: Vec<Value>) -> Result<Value, Fail> {
    let mut it = args.into_iter();
    let Some(Value::Str(format)) = it.next() else {
        return fail("the format must be a string");
    };
    let args: Vec<Value> = it.collect();
    let mut next = args.iter();
    let f = &format[..];
    let mut out = Vec::new();
    let mut i = 0;
    while i < f.len() {
        let Some(p) = f[i..].iter().position(|&b| b == b'%') else {
            cx.check(out.len() + f.len() - i)?;
            out.extend_from_slice(&f[i..]);
            break;
        };
        cx.check(out.len() + p)?;
        out.extend_from_slice(&f[i..i + p]);
        i += p + 1;
        let mut spec = Spec::default();
        while let Some(&c) = f.get(i) {
            match c {
                b'-' => spec.minus = true,
                b'+' => spec.plus = true,
                b' ' => spec.space = true,
                b'0' => spec.zero = true,
                b'#' => return fail("the # flag is not offered"),
                _ => break,
            }
            i += 1;
        }
        spec.width = number(f, &mut i)?;
        if f.get(i) == Some(&b'.') {
            i += 1;
            spec.prec = Some(number(f, &mut i)?.unwrap_or(0));
        }
        let Some(&verb) = f.get(i) else {
            return fail("the format ends inside a verb");
        };
        i += 1;
        if verb == b'%' {
            out.push(b'%');
            continue;
        }
        if matches!(verb, b'*' | b'[') {
            return fail("argument widths and indexes are not offered");
        }
        let Some(arg) = next.next() else {
            return fail(format!("missing argument for %{}", verb as char));
        };
        verb_into(cx, &mut out, verb, &spec, arg)?;
    }
    if next.next().is_some() {
        return fail("more arguments than verbs");
    }
    Ok(Value::str(out))
}

fn number(f: &[u8], i: &mut usize) -> Result<Option<usize>, Fail> {
    let start = *i;
    while f.get(*i).is_some_and(u8::is_ascii_digit) {
        *i += 1;
    }
    if start == *i {
        return Ok(None);
    }
    match std::str::from_utf8(&f[start..*i])
        .ok()
        .and_then(|s| s.parse::<usize>().ok())
    {
        Some(n) if n <= MAX_WIDTH => Ok(Some(n)),
        _ => fail("a width or precision above 1000000"),
    }
}

fn verb_into(cx: &mut Cx<'_>, out: &mut Vec<u8>, verb: u8, spec: &Spec, arg: &Value) -> Result<(), Fail> {
    let name = verb as char;
    let numeric = match (verb, arg) {
        (b'd', Value::Int(_)) | (b'v', Value::Int(_)) | (b'x', Value::Int(_)) => true,
        (b'v', Value::Float(_)) => {
            if spec.prec.is_some() {
                return fail("a precision with %v of a float is not offered");
            }
            true
        }
        (b's' | b'v' | b'q' | b'x', Value::Str(_)) | (b'v', Value::Bool(_) | Value::Nil) => false,
        (b's' | b'd' | b'v' | b'q' | b'x', v) => {
            return fail(format!("%{name} is not offered for a {}", v.type_name()));
        }
        _ => return fail(format!("the verb %{name} is not offered")),
    };
    if !numeric && (spec.zero || spec.plus || spec.space) {
        return fail(format!(
            "the flags 0, + and space are offered only for numbers (%{name})"
        ));
    }
    cx.check(out.len() + arg.weight().saturating_mul(4) + spec.width.unwrap_or(0) + 24)?;
    let body: Vec<u8> = match arg {
        Value::Int(n) => {
            let digits = if verb == b'x' {
                format!("{:x}", n.unsigned_abs())
            } else {
                n.unsigned_abs().to_string()
            };
            let digits = match spec.prec {
                Some(p) if digits.len() < p => format!("{}{digits}", "0".repeat(p - digits.len())),
                Some(0) if *n == 0 => String::new(),
                _ => digits,
            };
            return number_into(out, spec, *n < 0, digits.as_bytes());
        }
        Value::Float(x) => {
            let s = go_float(*x);
            let (neg, digits) = match s.strip_prefix('-') {
                Some(d) => (true, d.to_owned()),
                None => (false, s.trim_start_matches('+').to_owned()),
            };
            return number_into(out, spec, neg, digits.as_bytes());
        }
        Value::Str(s) => {
            let s: &[u8] = match spec.prec {
                Some(p) if verb == b'x' => &s[..p.min(s.len())],
                Some(p) => {
                    let end: usize = runes(s).take(p).map(|(_, w)| w).sum();
                    &s[..end]
                }
                None => s,
            };
            match verb {
                b'q' => go_quote(s),
                b'x' => s.iter().flat_map(|b| format!("{b:02x}").into_bytes()).collect(),
                _ => s.to_vec(),
            }
        }
        other => v_bytes(other)?,
    };
    pad_into(out, spec, &body, b' ');
    Ok(())
}

fn number_into(out: &mut Vec<u8>, spec: &Spec, neg: bool, digits: &[u8]) -> Result<(), Fail> {
    let sign: &[u8] = if neg {
        b"-"
    } else if spec.plus {
        b"+"
    } else if spec.space {
        b" "
    } else {
        b""
    };
    let width = spec.width.unwrap_or(0);
    if spec.zero && !spec.minus && spec.prec.is_none() {
        out.extend_from_slice(sign);
        let len = sign.len() + digits.len();
        out.extend(std::iter::repeat_n(b'0', width.saturating_sub(len)));
        out.extend_from_slice(digits);
    } else {
        let mut body = sign.to_vec();
        body.extend_from_slice(digits);
        pad_into(out, spec, &body, b' ');
    }
    Ok(())
}

/// Pads to the width in runes, as fmt does.
fn pad_into(out: &mut Vec<u8>, spec: &Spec, body: &[u8], pad: u8) {
    let n = runes(body).count();
    let fill = spec.width.unwrap_or(0).saturating_sub(n);
    if spec.minus {
        out.extend_from_slice(body);
        out.extend(std::iter::repeat_n(pad, fill));
    } else {
        out.extend(std::iter::repeat_n(pad, fill));
        out.extend_from_slice(body);
    }
}
