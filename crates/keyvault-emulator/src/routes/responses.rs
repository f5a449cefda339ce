//! Shared JSON pieces and the answers every handler gives: the Key Vault error envelope, 404, 403, 429 and
//! injected failures.

use axum::body::Body;
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{HeaderValue, StatusCode, header};
use serde_json::{Map, Value, json};

use crate::store::{Attrs, ObjectKind, Version};

const NOT_FOUND_SUFFIX: &str = "was not found in this key vault. If you recently deleted this {kind} you may \
                                be able to recover it using the correct recovery command. For help resolving \
                                this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182";

pub(super) fn object_id(base: &str, collection: &str, name: &str, version: Option<&String>) -> String {
    match version {
        Some(v) => format!("{base}/{collection}/{name}/{v}"),
        None => format!("{base}/{collection}/{name}"),
    }
}

pub(super) fn attributes(a: &Attrs, extra: Option<(&str, Value)>) -> Value {
    let mut m = Map::new();
    m.insert("enabled".into(), json!(a.enabled));
    if let Some(nbf) = a.nbf {
        m.insert("nbf".into(), json!(nbf));
    }
    if let Some(exp) = a.exp {
        m.insert("exp".into(), json!(exp));
    }
    m.insert("created".into(), json!(a.created));
    m.insert("updated".into(), json!(a.updated));
    m.insert("recoveryLevel".into(), json!("Recoverable+Purgeable"));
    m.insert("recoverableDays".into(), json!(90));
    if let Some((k, v)) = extra {
        m.insert(k.into(), v);
    }
    Value::Object(m)
}

/// `tags`, unless there are none.
pub(super) fn insert_tags<T>(m: &mut Map<String, Value>, v: &Version<T>) {
    if !v.tags.is_empty() {
        m.insert("tags".into(), json!(v.tags));
    }
}

pub(super) fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// `^[0-9a-zA-Z-]{1,127}$`.
pub(super) fn valid_name(name: &str) -> bool {
    (1..=127).contains(&name.len()) && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

pub(super) fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut resp = Response::new(Body::from(body.to_string()));
    *resp.status_mut() = status;
    resp
}

pub(super) fn ok(body: Value) -> Response {
    json_response(StatusCode::OK, &body)
}

pub(super) fn kv_error(status: StatusCode, code: &str, message: &str, inner: Option<&str>) -> Response {
    let mut error = json!({"code": code, "message": message});
    if let Some(inner) = inner {
        error["innererror"] = json!({"code": inner});
    }
    json_response(status, &json!({"error": error}))
}

pub(super) fn bad_parameter(message: &str) -> Response {
    kv_error(StatusCode::BAD_REQUEST, "BadParameter", message, None)
}

/// `(error code prefix, noun)` of a collection, as the service words its errors.
fn names(kind: ObjectKind) -> (&'static str, &'static str) {
    match kind {
        ObjectKind::Secret => ("Secret", "secret"),
        ObjectKind::Key => ("Key", "key"),
        ObjectKind::Certificate => ("Certificate", "certificate"),
    }
}

pub(super) fn not_found(kind: ObjectKind, name: &str, version: Option<&str>) -> Response {
    let (code_prefix, kind) = names(kind);
    let id = match version {
        Some(v) => format!("{name}/{v}"),
        None => name.to_string(),
    };
    let article = if kind.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "An"
    } else {
        "A"
    };
    let message = format!(
        "{article} {kind} with (name/id) {id} {}",
        NOT_FOUND_SUFFIX.replace("{kind}", kind)
    );
    kv_error(
        StatusCode::NOT_FOUND,
        &format!("{code_prefix}NotFound"),
        &message,
        None,
    )
}

/// 403 `ForbiddenByRbac`: an RBAC vault and a caller without a role assignment (the message shape of
/// docs/KEYVAULT.md#errors, from real responses). `op` is the emulator's operation name, e.g. `secrets.get`.
pub(crate) fn forbidden_by_rbac(vault: &str, op: &str) -> Response {
    let (collection, verb) = op.split_once('.').unwrap_or(("secrets", "get"));
    let action = match (collection, verb) {
        ("secrets", "get") => "secrets/getSecret/action",
        ("keys", "get") => "keys/read",
        ("certificates", "get") => "certificates/read",
        (_, "list" | "list_versions") => "secrets/readMetadata/action",
        _ => "secrets/setSecret/action",
    };
    kv_error(
        StatusCode::FORBIDDEN,
        "Forbidden",
        &format!(
            "Caller is not authorized to perform action on resource.\r\nIf role assignments, deny assignments or role \
             definitions were changed recently, please observe propagation time.\r\nCaller: \
             appid=00000000-0000-0000-0000-00000000e0e0;oid=00000000-0000-0000-0000-00000000e0e1;\
             iss=https://sts.windows.net/00000000-0000-0000-0000-000000000001/\r\nAction: \
             'Microsoft.KeyVault/vaults/{action}'\r\nResource: '/subscriptions/00000000-0000-0000-0000-000000000000/\
             resourcegroups/emulator/providers/microsoft.keyvault/vaults/{vault}'\r\nAssignment: (not found)\r\n\
             DenyAssignmentId: null\r\nDecisionReason: 'DeniedWithNoValidRBAC' \r\nVault: {vault};location=local\r\n"
        ),
        Some("ForbiddenByRbac"),
    )
}

/// 403 for a disabled version (`innererror.code` `SecretDisabled`, `KeyDisabled`).
pub(super) fn disabled(kind: ObjectKind) -> Response {
    let (code_prefix, kind) = names(kind);
    kv_error(
        StatusCode::FORBIDDEN,
        "Forbidden",
        &format!("Operation get is not allowed on a disabled {kind}."),
        Some(format!("{code_prefix}Disabled").as_str()),
    )
}

pub(super) fn throttled(retry_after: Option<std::time::Duration>) -> Response {
    let mut resp = kv_error(
        StatusCode::TOO_MANY_REQUESTS,
        "Throttled",
        "Request was not processed because too many requests were received. Reason: \
         VaultRequestTypeLimitReached",
        None,
    );
    if let Some(d) = retry_after {
        let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    resp
}

pub(super) fn injected_failure(status: u16) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let code = match status.as_u16() {
        500 => "InternalServerError",
        502 => "BadGateway",
        503 => "ServiceUnavailable",
        504 => "GatewayTimeout",
        _ => "InjectedFault",
    };
    kv_error(
        status,
        code,
        "The service encountered an internal error (injected by keyvault-emulator). Please try again.",
        None,
    )
}
