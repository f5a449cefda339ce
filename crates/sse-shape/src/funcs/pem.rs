//! PEM functions: ours, `pemKey pemCertificates pemLeaf pemChain` (the rules of `kubernetes.io/tls` keys, see
//! [`crate::pem`]), and ESO's, `filterPEM filterCertChain pkcs12key pkcs12keyPass pkcs12cert pkcs12certPass`.

use super::strings::s;
use super::{Cx, Fail, Func, P, f};
use crate::pem::{self, PemError, eso};
use crate::template::value::Value;

pub(crate) const FUNCS: &[Func] = &[
    f("pemKey", &[P::Str], None, |cx, a| {
        run(cx, &a, |a| pem::key(s(&a[0])))
    }),
    f("pemCertificates", &[P::Str], None, |cx, a| {
        run(cx, &a, |a| pem::certificates(s(&a[0])))
    }),
    f("pemLeaf", &[P::Str], None, |cx, a| {
        run(cx, &a, |a| pem::leaf(s(&a[0])))
    }),
    f("pemChain", &[P::Str], None, |cx, a| {
        run(cx, &a, |a| pem::chain(s(&a[0])))
    }),
    f("filterPEM", &[P::Str, P::Str], None, |cx, a| {
        run_eso(cx, &a, |a| {
            eso::filter_pem(s(&a[0]), s(&a[1])).map_err(String::from)
        })
    }),
    f("filterCertChain", &[P::Str, P::Str], None, |cx, a| {
        run_eso(cx, &a, |a| {
            eso::filter_cert_chain(s(&a[0]), s(&a[1])).map_err(String::from)
        })
    }),
    f("pkcs12key", &[P::Str], None, |cx, a| {
        run_eso(cx, &a, |a| eso::pkcs12_key(b"", s(&a[0])))
    }),
    f("pkcs12keyPass", &[P::Str, P::Str], None, |cx, a| {
        run_eso(cx, &a, |a| eso::pkcs12_key(s(&a[0]), s(&a[1])))
    }),
    f("pkcs12cert", &[P::Str], None, |cx, a| {
        run_eso(cx, &a, |a| eso::pkcs12_cert(b"", s(&a[0])))
    }),
    f("pkcs12certPass", &[P::Str, P::Str], None, |cx, a| {
        run_eso(cx, &a, |a| eso::pkcs12_cert(s(&a[0]), s(&a[1])))
    }),
];

/// Results are at most about twice their input (base64 with line breaks): checked before they are made.
fn check(cx: &mut Cx<'_>, a: &[Value]) -> Result<(), Fail> {
    cx.check(a.iter().map(|v| s(v).len()).sum::<usize>() * 2 + 128)
}

fn run(
    cx: &mut Cx<'_>,
    a: &[Value],
    op: impl Fn(&[Value]) -> Result<Vec<u8>, PemError>,
) -> Result<Value, Fail> {
    check(cx, a)?;
    op(a).map(Value::str).map_err(|e| Fail::Msg(e.to_string()))
}

fn run_eso(
    cx: &mut Cx<'_>,
    a: &[Value],
    op: impl Fn(&[Value]) -> Result<Vec<u8>, String>,
) -> Result<Value, Fail> {
    check(cx, a)?;
    op(a).map(Value::str).map_err(Fail::Msg)
}
