//! Certificates: get (with a minimal read-only policy), and the bundle and list-item shapes.

use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};

use super::keys::unsigned;
use super::paging::Listing;
use super::responses::{attributes, b64url, insert_tags, ok};
use super::{Ctx, read};
use crate::PublicJwk;
use crate::store::{CertData, Object, ObjectKind, Vault, Version};

/// A disabled certificate is still readable (its attributes say `enabled: false`); its secret and key are not.
pub(super) fn get_certificate(vault: &Vault, ctx: &Ctx, name: &str, version: Option<&str>) -> Response {
    read(
        &vault.certificates,
        ObjectKind::Certificate,
        name,
        version,
        |o, v| {
            let base = &ctx.base;
            let mut m = certificate_fields(v);
            m.insert(
                "id".into(),
                json!(format!("{base}/certificates/{}/{}", o.name, v.id)),
            );
            m.insert("kid".into(), json!(format!("{base}/keys/{}/{}", o.name, v.id)));
            m.insert("sid".into(), json!(format!("{base}/secrets/{}/{}", o.name, v.id)));
            m.insert("cer".into(), json!(STANDARD.encode(&v.data.der)));
            m.insert("policy".into(), policy(base, o, v));
            ok(Value::Object(m))
        },
    )
}

fn policy(base: &str, o: &Object<CertData>, v: &Version<CertData>) -> Value {
    let key_props = match &v.data.key {
        PublicJwk::Rsa { n, .. } => json!({
            "exportable": true, "kty": "RSA", "key_size": unsigned(n).len() * 8, "reuse_key": false,
        }),
        PublicJwk::Ec { crv, .. } => json!({
            "exportable": true, "kty": "EC", "crv": crv, "reuse_key": false,
        }),
        PublicJwk::Oct => json!({"exportable": true, "reuse_key": false}),
    };
    let validity_months = match (v.attrs.nbf, v.attrs.exp) {
        (Some(nbf), Some(exp)) if exp > nbf => ((exp - nbf) / (30 * 86_400)).max(1),
        _ => 12,
    };
    json!({
        "id": format!("{base}/certificates/{}/policy", o.name),
        "key_props": key_props,
        "secret_props": {"contentType": v.data.secret_content_type},
        "x509_props": {
            "subject": v.data.subject.clone().unwrap_or_default(),
            "ekus": [],
            "key_usage": [],
            "validity_months": validity_months,
        },
        "lifetime_actions": [{"trigger": {"lifetime_percentage": 80}, "action": {"action_type": "AutoRenew"}}],
        "issuer": {"name": "Unknown"},
        "attributes": {"enabled": true, "created": v.attrs.created, "updated": v.attrs.updated},
    })
}

/// How certificates list.
pub(super) const CERTIFICATES: Listing<CertData> = Listing::new("certificates", "id", certificate_fields);

/// What a certificate's bundle and its list item share: `x5t`, `attributes`, `tags`.
fn certificate_fields(v: &Version<CertData>) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("x5t".into(), json!(b64url(&v.data.x5t)));
    m.insert("attributes".into(), attributes(&v.attrs, None));
    insert_tags(&mut m, v);
    m
}
