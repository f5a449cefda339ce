//! Secrets: get, set, update, and the bundle and list-item shapes.

use std::collections::BTreeMap;

use axum::response::Response;
use http::StatusCode;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::paging::Listing;
use super::responses::{attributes, bad_parameter, insert_tags, kv_error, not_found, ok, valid_name};
use super::{Ctx, find, lower, read};
use crate::store::{Object, ObjectKind, SecretData, SecretInput, Vault, Version};
use crate::unix_now;

/// Largest secret value the real service accepts (25 KB).
const MAX_SECRET_VALUE: usize = 25 * 1024;

pub(super) fn get_secret(vault: &Vault, ctx: &Ctx, name: &str, version: Option<&str>) -> Response {
    read(&vault.secrets, ObjectKind::Secret, name, version, |object, v| {
        ok(secret_bundle(&ctx.base, object, v, true))
    })
}

#[derive(Deserialize, Default)]
struct AttributesBody {
    enabled: Option<bool>,
    nbf: Option<i64>,
    exp: Option<i64>,
}

#[derive(Deserialize)]
struct SetSecretBody {
    value: Option<String>,
    #[serde(rename = "contentType")]
    content_type: Option<String>,
    attributes: Option<AttributesBody>,
    tags: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize)]
struct UpdateSecretBody {
    #[serde(rename = "contentType")]
    content_type: Option<String>,
    attributes: Option<AttributesBody>,
    tags: Option<BTreeMap<String, String>>,
}

pub(super) fn set_secret(vault: &mut Vault, ctx: &Ctx, name: &str, body: &[u8]) -> Response {
    if !valid_name(name) {
        return bad_parameter(&format!("The request URI contains an invalid name: {name}"));
    }
    let body: SetSecretBody = match serde_json::from_slice(body) {
        Ok(b) => b,
        Err(err) => return bad_parameter(&format!("The request body is not valid: {err}")),
    };
    let Some(value) = body.value else {
        return bad_parameter("Property 'value' is required.");
    };
    if value.len() > MAX_SECRET_VALUE {
        return bad_parameter("The secret value exceeds the maximum size of 25 KB.");
    }
    let attributes = body.attributes.unwrap_or_default();
    let input = SecretInput {
        value,
        content_type: body.content_type,
        enabled: attributes.enabled.unwrap_or(true),
        not_before: attributes.nbf,
        expires: attributes.exp,
        tags: body.tags.unwrap_or_default(),
    };
    let id = vault.put_secret(name, input).id.clone();
    match find(&vault.secrets, name, Some(&id)) {
        Some((object, v)) => ok(secret_bundle(&ctx.base, object, v, true)),
        None => kv_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerError",
            "The new secret version disappeared.",
            None,
        ),
    }
}

pub(super) fn update_secret(
    vault: &mut Vault,
    ctx: &Ctx,
    name: &str,
    version: Option<&str>,
    body: &[u8],
) -> Response {
    let body: UpdateSecretBody = match serde_json::from_slice(body) {
        Ok(b) => b,
        Err(err) => return bad_parameter(&format!("The request body is not valid: {err}")),
    };
    let Some(object) = vault.secrets.get_mut(&lower(name)) else {
        return not_found(ObjectKind::Secret, name, version);
    };
    let Some(v) = object.find_mut(version) else {
        return not_found(ObjectKind::Secret, name, version);
    };
    if let Some(ct) = body.content_type {
        v.data.content_type = Some(ct);
    }
    if let Some(a) = body.attributes {
        if let Some(enabled) = a.enabled {
            v.attrs.enabled = enabled;
        }
        if a.nbf.is_some() {
            v.attrs.nbf = a.nbf;
        }
        if a.exp.is_some() {
            v.attrs.exp = a.exp;
        }
    }
    if let Some(tags) = body.tags {
        v.tags = tags;
    }
    v.attrs.updated = unix_now().max(v.attrs.created);
    let v = v.clone();
    ok(secret_bundle(&ctx.base, object, &v, false))
}

fn secret_bundle(base: &str, o: &Object<SecretData>, v: &Version<SecretData>, with_value: bool) -> Value {
    let mut m = secret_fields(v);
    if with_value {
        m.insert("value".into(), json!(v.data.value));
    }
    m.insert("id".into(), json!(format!("{base}/secrets/{}/{}", o.name, v.id)));
    if v.data.managed {
        m.insert("kid".into(), json!(format!("{base}/keys/{}/{}", o.name, v.id)));
    }
    Value::Object(m)
}

/// How secrets list.
pub(super) const SECRETS: Listing<SecretData> = Listing::new("secrets", "id", secret_fields);

/// What a secret's bundle and its list item share: `contentType`, `attributes`, `tags`, `managed`.
fn secret_fields(v: &Version<SecretData>) -> Map<String, Value> {
    let mut m = Map::new();
    if let Some(ct) = &v.data.content_type {
        m.insert("contentType".into(), json!(ct));
    }
    m.insert("attributes".into(), attributes(&v.attrs, None));
    insert_tags(&mut m, v);
    if v.data.managed {
        m.insert("managed".into(), json!(true));
    }
    m
}
