//! Encodings: `b64enc b64dec sha256sum` (sprig), `toJson toPrettyJson toRawJson fromJson` (sprig),
//! `toYaml fromYaml` (ESO's, after Helm's: `sigs.k8s.io/yaml`), and ours, `dockerConfigJson`.
//! Where sprig or ESO would turn a bad input into output (`b64dec` prints Go's error text, `fromJson` gives
//! nil, `fromYaml` a map with an "Error" key), these fail instead, naming only where the input went wrong.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use sha2::{Digest, Sha256};

use super::json::{self, Style};
use super::strings::s;
use super::{Cx, Fail, Func, P, f, fail};
use crate::template::value::Value;

pub(crate) const FUNCS: &[Func] = &[
    f("b64enc", &[P::Str], None, |cx, a| {
        cx.check(s(&a[0]).len() / 3 * 4 + 4)?;
        Ok(Value::string(STANDARD.encode(s(&a[0]))))
    }),
    f("b64dec", &[P::Str], None, |_, a| b64dec(s(&a[0])).map(Value::str)),
    f("sha256sum", &[P::Str], None, |_, a| {
        Ok(Value::string(hex(&Sha256::digest(s(&a[0])))))
    }),
    f("toJson", &[P::Any], None, |cx, a| {
        to_json(
            cx,
            &a[0],
            Style {
                html: true,
                pretty: false,
            },
        )
    }),
    f("toPrettyJson", &[P::Any], None, |cx, a| {
        to_json(
            cx,
            &a[0],
            Style {
                html: true,
                pretty: true,
            },
        )
    }),
    f("toRawJson", &[P::Any], None, |cx, a| {
        to_json(
            cx,
            &a[0],
            Style {
                html: false,
                pretty: false,
            },
        )
    }),
    f("fromJson", &[P::Str], None, |cx, a| json::read(cx, s(&a[0]))),
    f("toYaml", &[P::Any], None, to_yaml),
    f("fromYaml", &[P::Str], None, from_yaml),
    f(
        "dockerConfigJson",
        &[P::Str, P::Str, P::Str],
        Some(P::Str),
        docker_config_json,
    ),
];

/// Go's `base64.StdEncoding`: padding required, `\r` and `\n` ignored, stray trailing bits allowed.
const GO_STD: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::RequireCanonical),
);

pub(crate) fn b64dec(b: &[u8]) -> Result<Vec<u8>, Fail> {
    let clean: Vec<u8> = b.iter().copied().filter(|&c| c != b'\r' && c != b'\n').collect();
    GO_STD.decode(&clean).map_err(|e| {
        Fail::Msg(match e {
            base64::DecodeError::InvalidByte(at, _) | base64::DecodeError::InvalidLastSymbol(at, _) => {
                format!("input is not valid base64 (byte {at})")
            }
            base64::DecodeError::InvalidLength(_) | base64::DecodeError::InvalidPadding => {
                "input is not valid base64 (its length or padding)".into()
            }
        })
    })
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn to_json(cx: &mut Cx<'_>, v: &Value, style: Style) -> Result<Value, Fail> {
    let mut out = Vec::new();
    json::write(cx, &mut out, v, style, 0)?;
    Ok(Value::str(out))
}

fn to_serde_yaml(v: &Value) -> serde_yaml_ng::Value {
    use serde_yaml_ng::Value as Y;
    match v {
        Value::Nil => Y::Null,
        Value::Bool(b) => Y::Bool(*b),
        Value::Int(i) => Y::Number((*i).into()),
        Value::Float(x) if x.fract() == 0.0 && x.abs() < 9.0e15 => Y::Number((*x as i64).into()),
        Value::Float(x) => Y::Number((*x).into()),
        Value::Str(b) => Y::String(String::from_utf8_lossy(b).into_owned()),
        Value::List(l) => Y::Sequence(l.iter().map(to_serde_yaml).collect()),
        Value::Map(m) => Y::Mapping(
            m.entries
                .iter()
                .map(|(k, x)| {
                    (
                        Y::String(String::from_utf8_lossy(k).into_owned()),
                        to_serde_yaml(x),
                    )
                })
                .collect(),
        ),
    }
}

/// ESO's `toYaml`: the value as YAML (after a JSON round trip, so numbers are JSON's), without the final newline.
fn to_yaml(cx: &mut Cx<'_>, a: Vec<Value>) -> Result<Value, Fail> {
    let mut probe = Vec::new();
    json::write(
        cx,
        &mut probe,
        &a[0],
        Style {
            html: false,
            pretty: false,
        },
        0,
    )?;
    cx.check(probe.len() * 2)?;
    match serde_yaml_ng::to_string(&to_serde_yaml(&a[0])) {
        Ok(y) => Ok(Value::string(
            y.strip_suffix('\n').map(str::to_owned).unwrap_or(y),
        )),
        Err(_) => fail("the value has no YAML form"),
    }
}

/// ESO's `fromYaml`: a YAML mapping as a map (an empty document is an empty map), numbers as float64.
fn from_yaml(cx: &mut Cx<'_>, a: Vec<Value>) -> Result<Value, Fail> {
    let y: serde_yaml_ng::Value = match serde_yaml_ng::from_slice(s(&a[0])) {
        Ok(y) => y,
        Err(e) => {
            return fail(match e.location() {
                Some(l) => format!(
                    "input is not valid YAML (line {}, column {})",
                    l.line(),
                    l.column()
                ),
                None => "input is not valid YAML".into(),
            });
        }
    };
    let j = match yaml_to_json(y, 0) {
        Some(serde_json::Value::Object(o)) => serde_json::Value::Object(o),
        Some(serde_json::Value::Null) => return Ok(Value::map(BTreeMap::new())),
        Some(_) => return fail("input is not a YAML mapping"),
        None => return fail("input nests deeper than 64 or has a key that is not a string, number or bool"),
    };
    json::from_serde(cx, j)
}

fn yaml_to_json(y: serde_yaml_ng::Value, depth: usize) -> Option<serde_json::Value> {
    use serde_json::Value as J;
    use serde_yaml_ng::Value as Y;
    if depth > crate::limits::MAX_DEPTH {
        return None;
    }
    Some(match y {
        Y::Null => J::Null,
        Y::Bool(b) => J::Bool(b),
        Y::Number(n) => J::from(n.as_f64().unwrap_or(0.0)),
        Y::String(s) => J::String(s),
        Y::Sequence(items) => J::Array(
            items
                .into_iter()
                .map(|x| yaml_to_json(x, depth + 1))
                .collect::<Option<_>>()?,
        ),
        Y::Mapping(m) => {
            let mut o = serde_json::Map::new();
            for (k, v) in m {
                let key = match k {
                    Y::String(s) => s,
                    Y::Bool(b) => b.to_string(),
                    Y::Number(n) => n.to_string(),
                    _ => return None,
                };
                o.insert(key, yaml_to_json(v, depth + 1)?);
            }
            J::Object(o)
        }
        Y::Tagged(t) => yaml_to_json(t.value, depth + 1)?,
    })
}

/// Ours: `{"auths":{"<server>":{"username":…,"password":…,"auth":base64(user:password)}}}`, compact, for each
/// (server, user, password) triple in order.
fn docker_config_json(cx: &mut Cx<'_>, a: Vec<Value>) -> Result<Value, Fail> {
    if !a.len().is_multiple_of(3) {
        return fail("takes a server, a user and a password, and more of them in threes");
    }
    let size: usize = a.iter().map(|v| s(v).len()).sum();
    cx.check(size * 8 + 64 * a.len())?;
    let mut out = b"{\"auths\":{".to_vec();
    let mut seen: Vec<&[u8]> = Vec::new();
    for (i, t) in a.chunks(3).enumerate() {
        let (server, user, password) = (s(&t[0]), s(&t[1]), s(&t[2]));
        if seen.contains(&server) {
            return fail(format!("server {} is the same as an earlier one", i + 1));
        }
        seen.push(server);
        if i > 0 {
            out.push(b',');
        }
        json::string(&mut out, server, false);
        out.extend_from_slice(b":{\"username\":");
        json::string(&mut out, user, false);
        out.extend_from_slice(b",\"password\":");
        json::string(&mut out, password, false);
        out.extend_from_slice(b",\"auth\":\"");
        out.extend_from_slice(STANDARD.encode([user, b":", password].concat()).as_bytes());
        out.extend_from_slice(b"\"}");
    }
    out.extend_from_slice(b"}}");
    Ok(Value::str(out))
}
