//! HTTP routing and the wire format.
//!
//! Routing is done by hand in one fallback handler because it depends on the host (vault) as much as on
//! the path, and because the SDKs send `/secrets/{name}/` (empty version) for "latest": trailing and
//! doubled slashes are ignored everywhere.
//!
//! * `POST /{tenant}/oauth2/v2.0/token` on any host → Entra ([`crate::entra`]).
//! * Host `{vault}.vault.localhost[:port]` → Key Vault data plane. Each request goes through, in order:
//!   injected failure ([`crate::Faults::fail_next`]), `api-version` check, bearer-token check (401
//!   challenge), throttling (429), then the operation.
//! * Anything else → 404 with a Key Vault style error envelope.
//!
//! Every answer carries `content-type: application/json; charset=utf-8`, a fresh `x-ms-request-id`, and
//! echoes `x-ms-client-request-id` (and Entra's `client-request-id`). Bodies are never logged.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{FromRequest as _, Query, Request, State};
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use http::{HeaderName, HeaderValue, StatusCode, header};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::entra::TokenCheck;
use crate::store::{Attrs, CertData, KeyData, Object, ObjectKind, SecretData, SecretInput, Vault, Version};
use crate::{App, KEYVAULT_RESOURCE, PublicJwk, VAULT_DNS_SUFFIX, unix_now};

/// API versions the data plane accepts: every version the current official SDKs can send.
///
/// * `2016-10-01`, `7.0` to `7.6`, `2025-07-01`, `2026-04-01`: the `ApiVersion` enum of Python
///   `azure-keyvault-secrets` 4.12.0 (`_shared/client_base.py`, whose `DEFAULT_VERSION` is `2026-04-01`, as
///   in `azure-keyvault-certificates` 4.12.0; `azure-keyvault-keys` 4.11.3 defaults to `2025-07-01`), and JS
///   `@azure/keyvault-secrets` 4.12.0 (`LATEST_API_VERSION` = `2026-04-01`).
/// * `2025-07-01` is also the default of Rust `azure_security_keyvault_*` 1.0.1 (`DEFAULT_API_VERSION`), Go
///   `azsecrets` 1.5.0 and .NET `Azure.Security.KeyVault.*` 4.11.0.
/// * `2026-01-01-preview`: .NET `Azure.Security.KeyVault.Keys` 4.11.0-beta.
/// * `2026-03-01-preview`: a preview the emulator accepted before this list was aligned with the SDKs; kept.
pub(crate) const API_VERSIONS: &[&str] = &[
    "2016-10-01",
    "7.0",
    "7.1",
    "7.2",
    "7.3",
    "7.4",
    "7.5",
    "7.6",
    "2025-07-01",
    "2026-01-01-preview",
    "2026-03-01-preview",
    "2026-04-01",
];

/// Page size when `maxresults` is absent (also the maximum).
const DEFAULT_PAGE: usize = 25;

/// Largest accepted request body.
const MAX_BODY: usize = 1024 * 1024;

/// Largest secret value the real service accepts (25 KB).
const MAX_SECRET_VALUE: usize = 25 * 1024;

const NOT_FOUND_SUFFIX: &str = "was not found in this key vault. If you recently deleted this {kind} you may \
                                be able to recover it using the correct recovery command. For help resolving \
                                this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182";

/// The router: a single fallback handler over the shared state.
pub(crate) fn router(app: Arc<App>) -> Router {
    Router::new().fallback(handle).with_state(app)
}

async fn handle(State(app): State<Arc<App>>, req: Request) -> Response {
    let latency = app.faults.latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let client_request_id = req.headers().get("x-ms-client-request-id").cloned();
    let entra_request_id = req.headers().get("client-request-id").cloned();
    let method = req.method().clone();
    let path = req.uri().path().to_string();

    let (op, mut resp) = dispatch(&app, req).await;

    let request_id = uuid::Uuid::new_v4().to_string();
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    headers.insert(header::EXPIRES, HeaderValue::from_static("-1"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        headers.insert(HeaderName::from_static("x-ms-request-id"), v);
    }
    if let Some(v) = client_request_id {
        headers.insert(HeaderName::from_static("x-ms-client-request-id"), v);
    }
    if let Some(v) = entra_request_id {
        headers.insert(HeaderName::from_static("client-request-id"), v);
    }
    if op != "entra.token" {
        headers.insert(
            HeaderName::from_static("x-ms-keyvault-service-version"),
            HeaderValue::from_static("1.9.0.0"),
        );
        headers.insert(
            HeaderName::from_static("x-ms-keyvault-region"),
            HeaderValue::from_static("emulator"),
        );
    }
    tracing::debug!(%method, path, op, status = resp.status().as_u16(), request_id, "request");
    resp
}

/// Route one request; returns the operation name it was counted under and the response.
async fn dispatch(app: &App, req: Request) -> (&'static str, Response) {
    let path = req.uri().path().to_string();
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();

    if let [tenant, "oauth2", "v2.0", "token"] = segs.as_slice()
        && req.method() == http::Method::POST
    {
        app.counters.incr("entra.token");
        return ("entra.token", entra_token(app, tenant, req).await);
    }

    let host = request_host(&req);
    let Some(vault) = vault_name(&host) else {
        app.counters.incr("unknown");
        let msg = format!(
            "No vault at host '{host}': vaults live at https://{{vault}}.{VAULT_DNS_SUFFIX}:PORT/, the Entra \
             token endpoint at /{{tenant}}/oauth2/v2.0/token."
        );
        return ("unknown", kv_error(StatusCode::NOT_FOUND, "NotFound", &msg, None));
    };
    let route = parse_route(req.method().as_str(), &segs);
    let op = route.as_ref().map_or("unknown", |r| r.op);
    app.counters.incr(op);

    if let Some(status) = app.faults.take_failure() {
        app.counters.incr("fault");
        return (op, injected_failure(status));
    }

    let query = match Query::<Vec<(String, String)>>::try_from_uri(req.uri()) {
        Ok(Query(q)) => q,
        Err(err) => {
            let msg = format!("The request query string is malformed: {err}");
            return (op, bad_parameter(&msg));
        }
    };
    let query = Params(query);
    let api_version = match query.get("api-version") {
        None => {
            return (
                op,
                bad_parameter("The request URI must contain an 'api-version' query parameter."),
            );
        }
        Some(v) if !API_VERSIONS.contains(&v) => {
            let msg = format!(
                "The specified version ({v}) is not recognized. Consider using the latest supported version \
                 (2025-07-01)."
            );
            return (op, bad_parameter(&msg));
        }
        Some(v) => v.to_string(),
    };

    let authorization = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let check = app.entra.check_bearer(authorization);
    if check != TokenCheck::Valid {
        app.counters.incr("challenge");
        return (op, challenge(app, &check));
    }

    if let Err(retry_after) = app.faults.admit(&vault) {
        app.counters.incr("throttled");
        return (op, throttled(retry_after));
    }

    let Some(route) = route else {
        let msg = format!(
            "The operation {} {path} is not supported by the emulator.",
            req.method()
        );
        return (op, kv_error(StatusCode::BAD_REQUEST, "BadParameter", &msg, None));
    };

    let body = if route.action.has_body() {
        match axum::body::to_bytes(req.into_body(), MAX_BODY).await {
            Ok(b) => b,
            Err(err) => {
                let msg = format!("The request body could not be read: {err}");
                return (op, bad_parameter(&msg));
            }
        }
    } else {
        Default::default()
    };

    let ctx = Ctx {
        base: format!("https://{host}"),
        api_version,
        query,
    };
    let resp = app
        .store
        .with_vault(&vault, |v| data_plane(v, &ctx, &route, &body));
    (op, resp)
}

/// The request's host (with port), lowercased: the URI authority (HTTP/2) or the `Host` header (HTTP/1.1).
fn request_host(req: &Request) -> String {
    req.uri()
        .authority()
        .map(|a| a.as_str().to_string())
        .or_else(|| {
            req.headers()
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .map(str::to_string)
        })
        .unwrap_or_default()
        .to_ascii_lowercase()
}

/// `myvault.vault.localhost:8443` → `myvault`.
fn vault_name(host: &str) -> Option<String> {
    let without_port = match host.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
        _ => host,
    };
    let vault = without_port.strip_suffix(VAULT_DNS_SUFFIX)?.strip_suffix('.')?;
    (!vault.is_empty() && !vault.contains('.')).then(|| vault.to_string())
}

/// Percent-decoded query parameters; the first occurrence of a key wins.
struct Params(Vec<(String, String)>);

impl Params {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

/// What a data-plane handler needs besides the vault.
struct Ctx {
    /// `https://{host}`: prefix of every id and nextLink.
    base: String,
    api_version: String,
    query: Params,
}

enum Action<'a> {
    Get(&'a str, Option<&'a str>),
    Versions(&'a str),
    List,
    Set(&'a str),
    Update(&'a str, Option<&'a str>),
}

impl Action<'_> {
    fn has_body(&self) -> bool {
        matches!(self, Action::Set(_) | Action::Update(..))
    }
}

struct Route<'a> {
    op: &'static str,
    kind: ObjectKind,
    action: Action<'a>,
}

fn parse_route<'a>(method: &str, segs: &[&'a str]) -> Option<Route<'a>> {
    let (first, rest) = segs.split_first()?;
    let kind = match *first {
        "secrets" => ObjectKind::Secret,
        "keys" => ObjectKind::Key,
        "certificates" => ObjectKind::Certificate,
        _ => return None,
    };
    let secret = kind == ObjectKind::Secret;
    let action = match (method, rest) {
        ("GET", []) => Action::List,
        ("GET", [name]) => Action::Get(name, None),
        ("GET", [name, "versions"]) => Action::Versions(name),
        ("GET", [name, version]) => Action::Get(name, Some(version)),
        ("PUT", [name]) if secret => Action::Set(name),
        ("PATCH", [name]) if secret => Action::Update(name, None),
        ("PATCH", [name, version]) if secret => Action::Update(name, Some(version)),
        _ => return None,
    };
    let op = match (kind, &action) {
        (ObjectKind::Secret, Action::Get(..)) => "secrets.get",
        (ObjectKind::Secret, Action::Versions(_)) => "secrets.list_versions",
        (ObjectKind::Secret, Action::List) => "secrets.list",
        (ObjectKind::Secret, Action::Set(_)) => "secrets.set",
        (ObjectKind::Secret, Action::Update(..)) => "secrets.update",
        (ObjectKind::Key, Action::Get(..)) => "keys.get",
        (ObjectKind::Key, Action::Versions(_)) => "keys.list_versions",
        (ObjectKind::Key, Action::List) => "keys.list",
        (ObjectKind::Certificate, Action::Get(..)) => "certificates.get",
        (ObjectKind::Certificate, Action::Versions(_)) => "certificates.list_versions",
        (ObjectKind::Certificate, Action::List) => "certificates.list",
        _ => "unknown",
    };
    Some(Route { op, kind, action })
}

fn data_plane(vault: &mut Vault, ctx: &Ctx, route: &Route<'_>, body: &[u8]) -> Response {
    match (route.kind, &route.action) {
        (ObjectKind::Secret, Action::Get(name, version)) => get_secret(vault, ctx, name, *version),
        (ObjectKind::Secret, Action::Versions(name)) => {
            list_versions(ctx, vault.secrets.get(&lower(name)), "secrets", secret_item)
        }
        (ObjectKind::Secret, Action::List) => list(ctx, &vault.secrets, "secrets", secret_item),
        (ObjectKind::Secret, Action::Set(name)) => set_secret(vault, ctx, name, body),
        (ObjectKind::Secret, Action::Update(name, version)) => {
            update_secret(vault, ctx, name, *version, body)
        }
        (ObjectKind::Key, Action::Get(name, version)) => get_key(vault, ctx, name, *version),
        (ObjectKind::Key, Action::Versions(name)) => {
            list_versions(ctx, vault.keys.get(&lower(name)), "keys", key_item)
        }
        (ObjectKind::Key, Action::List) => list(ctx, &vault.keys, "keys", key_item),
        (ObjectKind::Certificate, Action::Get(name, version)) => get_certificate(vault, ctx, name, *version),
        (ObjectKind::Certificate, Action::Versions(name)) => list_versions(
            ctx,
            vault.certificates.get(&lower(name)),
            "certificates",
            certificate_item,
        ),
        (ObjectKind::Certificate, Action::List) => {
            list(ctx, &vault.certificates, "certificates", certificate_item)
        }
        _ => bad_parameter("The operation is not supported by the emulator."),
    }
}

fn lower(name: &str) -> String {
    name.to_ascii_lowercase()
}

// ---------------------------------------------------------------------------------------------------
// Secrets

fn get_secret(vault: &Vault, ctx: &Ctx, name: &str, version: Option<&str>) -> Response {
    let found = vault
        .secrets
        .get(&lower(name))
        .and_then(|o| o.find(version).map(|v| (o, v)));
    let Some((object, v)) = found else {
        return not_found("Secret", "secret", name, version);
    };
    if !v.attrs.enabled {
        return disabled("secret", "SecretDisabled");
    }
    ok(secret_bundle(&ctx.base, object, v, true))
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

fn set_secret(vault: &mut Vault, ctx: &Ctx, name: &str, body: &[u8]) -> Response {
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
    match vault
        .secrets
        .get(&lower(name))
        .and_then(|o| o.find(Some(&id)).map(|v| (o, v)))
    {
        Some((object, v)) => ok(secret_bundle(&ctx.base, object, v, true)),
        None => kv_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerError",
            "The new secret version disappeared.",
            None,
        ),
    }
}

fn update_secret(vault: &mut Vault, ctx: &Ctx, name: &str, version: Option<&str>, body: &[u8]) -> Response {
    let body: UpdateSecretBody = match serde_json::from_slice(body) {
        Ok(b) => b,
        Err(err) => return bad_parameter(&format!("The request body is not valid: {err}")),
    };
    let Some(object) = vault.secrets.get_mut(&lower(name)) else {
        return not_found("Secret", "secret", name, version);
    };
    let Some(v) = object.find_mut(version) else {
        return not_found("Secret", "secret", name, version);
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
    let mut m = Map::new();
    if with_value {
        m.insert("value".into(), json!(v.data.value));
    }
    m.insert("id".into(), json!(format!("{base}/secrets/{}/{}", o.name, v.id)));
    if let Some(ct) = &v.data.content_type {
        m.insert("contentType".into(), json!(ct));
    }
    m.insert("attributes".into(), attributes(&v.attrs, None));
    if !v.tags.is_empty() {
        m.insert("tags".into(), json!(v.tags));
    }
    if v.data.managed {
        m.insert("kid".into(), json!(format!("{base}/keys/{}/{}", o.name, v.id)));
        m.insert("managed".into(), json!(true));
    }
    Value::Object(m)
}

fn secret_item(base: &str, o: &Object<SecretData>, v: &Version<SecretData>, versioned: bool) -> Value {
    let mut m = Map::new();
    m.insert(
        "id".into(),
        json!(object_id(base, "secrets", &o.name, versioned.then_some(&v.id))),
    );
    m.insert("attributes".into(), attributes(&v.attrs, None));
    if let Some(ct) = &v.data.content_type {
        m.insert("contentType".into(), json!(ct));
    }
    if !v.tags.is_empty() {
        m.insert("tags".into(), json!(v.tags));
    }
    if v.data.managed {
        m.insert("managed".into(), json!(true));
    }
    Value::Object(m)
}

// ---------------------------------------------------------------------------------------------------
// Keys

fn get_key(vault: &Vault, ctx: &Ctx, name: &str, version: Option<&str>) -> Response {
    let found = vault
        .keys
        .get(&lower(name))
        .and_then(|o| o.find(version).map(|v| (o, v)));
    let Some((o, v)) = found else {
        return not_found("Key", "key", name, version);
    };
    if !v.attrs.enabled {
        return disabled("key", "KeyDisabled");
    }
    let kid = format!("{}/keys/{}/{}", ctx.base, o.name, v.id);
    let mut m = Map::new();
    m.insert("key".into(), jwk(&kid, &v.data.jwk));
    m.insert(
        "attributes".into(),
        attributes(&v.attrs, Some(("exportable", json!(false)))),
    );
    if !v.tags.is_empty() {
        m.insert("tags".into(), json!(v.tags));
    }
    if v.data.managed {
        m.insert("managed".into(), json!(true));
    }
    ok(Value::Object(m))
}

fn key_item(base: &str, o: &Object<KeyData>, v: &Version<KeyData>, versioned: bool) -> Value {
    let mut m = Map::new();
    m.insert(
        "kid".into(),
        json!(object_id(base, "keys", &o.name, versioned.then_some(&v.id))),
    );
    m.insert(
        "attributes".into(),
        attributes(&v.attrs, Some(("exportable", json!(false)))),
    );
    if !v.tags.is_empty() {
        m.insert("tags".into(), json!(v.tags));
    }
    if v.data.managed {
        m.insert("managed".into(), json!(true));
    }
    Value::Object(m)
}

/// Big-endian unsigned integer without leading zero bytes (JWK `n`, `e`).
fn unsigned(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| *b != 0)
        .unwrap_or(bytes.len().saturating_sub(1));
    &bytes[start..]
}

fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
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

// ---------------------------------------------------------------------------------------------------
// Certificates

/// A disabled certificate is still readable (its attributes say `enabled: false`); its secret and key are not.
fn get_certificate(vault: &Vault, ctx: &Ctx, name: &str, version: Option<&str>) -> Response {
    let found = vault
        .certificates
        .get(&lower(name))
        .and_then(|o| o.find(version).map(|v| (o, v)));
    let Some((o, v)) = found else {
        return not_found("Certificate", "certificate", name, version);
    };
    let base = &ctx.base;
    let mut m = Map::new();
    m.insert(
        "id".into(),
        json!(format!("{base}/certificates/{}/{}", o.name, v.id)),
    );
    m.insert("kid".into(), json!(format!("{base}/keys/{}/{}", o.name, v.id)));
    m.insert("sid".into(), json!(format!("{base}/secrets/{}/{}", o.name, v.id)));
    m.insert("x5t".into(), json!(b64url(&v.data.x5t)));
    m.insert("cer".into(), json!(STANDARD.encode(&v.data.der)));
    m.insert("attributes".into(), attributes(&v.attrs, None));
    m.insert("policy".into(), policy(base, o, v));
    if !v.tags.is_empty() {
        m.insert("tags".into(), json!(v.tags));
    }
    ok(Value::Object(m))
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

fn certificate_item(base: &str, o: &Object<CertData>, v: &Version<CertData>, versioned: bool) -> Value {
    let mut m = Map::new();
    m.insert(
        "id".into(),
        json!(object_id(
            base,
            "certificates",
            &o.name,
            versioned.then_some(&v.id)
        )),
    );
    m.insert("x5t".into(), json!(b64url(&v.data.x5t)));
    m.insert("attributes".into(), attributes(&v.attrs, None));
    if !v.tags.is_empty() {
        m.insert("tags".into(), json!(v.tags));
    }
    Value::Object(m)
}

// ---------------------------------------------------------------------------------------------------
// Lists and paging

type ItemFn<T> = fn(&str, &Object<T>, &Version<T>, bool) -> Value;

/// All versions of one object, newest first. An unknown name lists nothing (200, empty `value`).
fn list_versions<T>(ctx: &Ctx, object: Option<&Object<T>>, collection: &str, item: ItemFn<T>) -> Response {
    let items: Vec<Value> = object
        .map(|o| {
            o.versions
                .iter()
                .rev()
                .map(|v| item(&ctx.base, o, v, true))
                .collect()
        })
        .unwrap_or_default();
    let path = match object {
        Some(o) => format!("/{collection}/{}/versions", o.name),
        None => format!("/{collection}/unknown/versions"),
    };
    page(ctx, items, &path)
}

/// One entry per object (its latest version), by name.
fn list<T>(ctx: &Ctx, objects: &BTreeMap<String, Object<T>>, collection: &str, item: ItemFn<T>) -> Response {
    let items: Vec<Value> = objects
        .values()
        .filter_map(|o| o.versions.last().map(|v| item(&ctx.base, o, v, false)))
        .collect();
    page(ctx, items, &format!("/{collection}"))
}

/// Slice `items` by `maxresults` / `$skiptoken` and add an absolute `nextLink` when more remain.
fn page(ctx: &Ctx, items: Vec<Value>, path: &str) -> Response {
    let max = match ctx.query.get("maxresults") {
        None => DEFAULT_PAGE,
        Some(s) => match s.parse::<usize>() {
            Ok(n) if (1..=DEFAULT_PAGE).contains(&n) => n,
            _ => {
                return bad_parameter(&format!(
                    "Invalid value '{s}' for 'maxresults'. Valid values are 1 - {DEFAULT_PAGE}."
                ));
            }
        },
    };
    let offset = match ctx.query.get("$skiptoken") {
        None => 0,
        Some(token) => match decode_skiptoken(token) {
            Some(n) => n,
            None => return bad_parameter("The $skiptoken is invalid."),
        },
    };
    let end = offset.saturating_add(max).min(items.len());
    let next_link = (end < items.len()).then(|| {
        format!(
            "{}{path}?api-version={}&$skiptoken={}&maxresults={max}",
            ctx.base,
            ctx.api_version,
            encode_skiptoken(end)
        )
    });
    let value: Vec<Value> = items.into_iter().skip(offset).take(max).collect();
    ok(json!({"value": value, "nextLink": next_link}))
}

/// Opaque like the real service's: base64url of a small JSON document.
fn encode_skiptoken(offset: usize) -> String {
    b64url(
        json!({"NextMarker": format!("emu!{offset}")})
            .to_string()
            .as_bytes(),
    )
}

fn decode_skiptoken(token: &str) -> Option<usize> {
    let bytes = URL_SAFE_NO_PAD.decode(token.trim_end_matches('=')).ok()?;
    let doc: Value = serde_json::from_slice(&bytes).ok()?;
    doc.get("NextMarker")?
        .as_str()?
        .strip_prefix("emu!")?
        .parse()
        .ok()
}

// ---------------------------------------------------------------------------------------------------
// Shared JSON pieces

fn object_id(base: &str, collection: &str, name: &str, version: Option<&String>) -> String {
    match version {
        Some(v) => format!("{base}/{collection}/{name}/{v}"),
        None => format!("{base}/{collection}/{name}"),
    }
}

fn attributes(a: &Attrs, extra: Option<(&str, Value)>) -> Value {
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

/// `^[0-9a-zA-Z-]{1,127}$`.
fn valid_name(name: &str) -> bool {
    (1..=127).contains(&name.len()) && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

// ---------------------------------------------------------------------------------------------------
// Responses

fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut resp = Response::new(Body::from(body.to_string()));
    *resp.status_mut() = status;
    resp
}

fn ok(body: Value) -> Response {
    json_response(StatusCode::OK, &body)
}

fn kv_error(status: StatusCode, code: &str, message: &str, inner: Option<&str>) -> Response {
    let mut error = json!({"code": code, "message": message});
    if let Some(inner) = inner {
        error["innererror"] = json!({"code": inner});
    }
    json_response(status, &json!({"error": error}))
}

fn bad_parameter(message: &str) -> Response {
    kv_error(StatusCode::BAD_REQUEST, "BadParameter", message, None)
}

fn not_found(code_prefix: &str, kind: &str, name: &str, version: Option<&str>) -> Response {
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

fn disabled(kind: &str, inner: &str) -> Response {
    kv_error(
        StatusCode::FORBIDDEN,
        "Forbidden",
        &format!("Operation get is not allowed on a disabled {kind}."),
        Some(inner),
    )
}

fn challenge(app: &App, check: &TokenCheck) -> Response {
    let message = match check {
        TokenCheck::Missing => "AKV10000: Request is missing a Bearer or PoP token.",
        TokenCheck::Expired => "AKV10013: Token expired.",
        TokenCheck::WrongAudience => "AKV10022: Invalid audience.",
        TokenCheck::Unknown | TokenCheck::Valid => {
            "AKV10032: Invalid issuer. The token was not issued by this emulator's Entra endpoint."
        }
    };
    let mut resp = kv_error(StatusCode::UNAUTHORIZED, "Unauthorized", message, None);
    let value = format!(
        "Bearer authorization=\"{}{}\", resource=\"{KEYVAULT_RESOURCE}\"",
        app.authority_host, app.default_tenant
    );
    if let Ok(v) = HeaderValue::from_str(&value) {
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    resp
}

fn throttled(retry_after: Option<std::time::Duration>) -> Response {
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

fn injected_failure(status: u16) -> Response {
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

// ---------------------------------------------------------------------------------------------------
// Entra

async fn entra_token(app: &App, tenant: &str, req: Request) -> Response {
    let correlation_id = req
        .headers()
        .get("client-request-id")
        .and_then(|v| v.to_str().ok())
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_string);
    let result = match axum::Form::<Vec<(String, String)>>::from_request(req, &()).await {
        Ok(axum::Form(form)) => app.entra.token(tenant, &form),
        Err(rejection) => {
            tracing::debug!(%rejection, "token request body is not a form");
            app.entra.token(tenant, &[])
        }
    };
    match result {
        Ok(body) => ok(body),
        Err(err) => {
            app.counters.incr("entra.error");
            tracing::info!(
                tenant,
                code = err.code,
                error = err.error,
                "token request refused"
            );
            let status = StatusCode::from_u16(err.status).unwrap_or(StatusCode::BAD_REQUEST);
            json_response(status, &err.body(&correlation_id))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vault_names() {
        assert_eq!(
            vault_name("myvault.vault.localhost:8443").as_deref(),
            Some("myvault")
        );
        assert_eq!(vault_name("myvault.vault.localhost").as_deref(), Some("myvault"));
        assert_eq!(vault_name("vault.localhost:1"), None);
        assert_eq!(vault_name("a.b.vault.localhost:1"), None);
        assert_eq!(vault_name("127.0.0.1:8443"), None);
        assert_eq!(vault_name("myvaultvault.localhost"), None);
    }

    #[test]
    fn routes() {
        let r = |m, p: &'static str| {
            let segs: Vec<&str> = p.split('/').filter(|s| !s.is_empty()).collect();
            parse_route(m, &segs).map(|r| r.op)
        };
        assert_eq!(r("GET", "/secrets/a/"), Some("secrets.get"));
        assert_eq!(r("GET", "/secrets/a"), Some("secrets.get"));
        assert_eq!(r("GET", "/secrets/a/0123"), Some("secrets.get"));
        assert_eq!(r("GET", "/secrets/a/versions/"), Some("secrets.list_versions"));
        assert_eq!(r("GET", "/secrets"), Some("secrets.list"));
        assert_eq!(r("PUT", "/secrets/a"), Some("secrets.set"));
        assert_eq!(r("PATCH", "/secrets/a/"), Some("secrets.update"));
        assert_eq!(r("GET", "/keys/a/"), Some("keys.get"));
        assert_eq!(
            r("GET", "/certificates/a/versions"),
            Some("certificates.list_versions")
        );
        assert_eq!(r("PUT", "/keys/a"), None);
        assert_eq!(r("GET", "/deletedsecrets"), None);
    }

    #[test]
    fn skiptokens_round_trip() {
        assert_eq!(decode_skiptoken(&encode_skiptoken(42)), Some(42));
        assert_eq!(decode_skiptoken("garbage"), None);
    }

    #[test]
    fn names() {
        assert!(valid_name("abc-DEF-123"));
        assert!(!valid_name("a_b"));
        assert!(!valid_name(""));
        assert!(!valid_name(&"a".repeat(128)));
    }
}
