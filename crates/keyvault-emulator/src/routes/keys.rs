//! Keys: get, and the bundle and list-item shapes (public JWK members only).

use axum::response::Response;
use serde_json::{Map, Value, json};

use super::paging::Listing;
use super::responses::{attributes, b64url, insert_tags, ok};
use super::{Ctx, read};
use crate::PublicJwk;
use crate::store::{KeyData, ObjectKind, Vault, Version};

pub(super) fn get_key(vault: &Vault, ctx: &Ctx, name: &str, version: Option<&str>) -> Response {
    read(&vault.keys, ObjectKind::Key, name, version, |o, v| {
        let kid = format!("{}/keys/{}/{}", ctx.base, o.name, v.id);
        let mut m = key_fields(v);
        m.insert("key".into(), jwk(&kid, &v.data.jwk));
        ok(Value::Object(m))
    })
}

/// How keys list.
pub(super) const KEYS: Listing<KeyData> = Listing::new("keys", "kid", key_fields);

/// What a key's bundle and its list item share: `attributes`, `tags`, `managed`.
fn key_fields(v: &Version<KeyData>) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert(
        "attributes".into(),
        attributes(&v.attrs, Some(("exportable", json!(false)))),
    );
    insert_tags(&mut m, v);
    if v.data.managed {
        m.insert("managed".into(), json!(true));
    }
    m
}

/// Big-endian unsigned integer without leading zero bytes (JWK `n`, `e`).
pub(super) fn unsigned(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| *b != 0)
        .unwrap_or(bytes.len().saturating_sub(1));
    &bytes[start..]
}

fn jwk(kid: &str, key: &PublicJwk) -> Value {
    match key {
        PublicJwk::Rsa { n, e } => json!({
            "kid": kid,
            "kty": "RSA",
            "key_ops": ["encrypt", "decrypt", "sign", "verify", "wrapKey", "unwrapKey"],
            "n": b64url(unsigned(n)),
            "e": b64url(unsigned(e)),
        }),
        PublicJwk::Ec { crv, x, y } => json!({
            "kid": kid,
            "kty": "EC",
            "key_ops": ["sign", "verify"],
            "crv": crv,
            "x": b64url(x),
            "y": b64url(y),
        }),
        PublicJwk::Oct => json!({
            "kid": kid,
            "kty": "oct",
            "key_ops": ["encrypt", "decrypt", "wrapKey", "unwrapKey"],
        }),
    }
}
