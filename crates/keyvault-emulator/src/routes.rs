//! HTTP routing and the wire format.
//!
//! Routing is done by hand in one fallback handler because it depends on the host (vault) as much as on
//! the path, and because the SDKs send `/secrets/{name}/` (empty version) for "latest": trailing and
//! doubled slashes are ignored everywhere.
//!
//! * `POST /{tenant}/oauth2/v2.0/token` on any host → Entra ([`crate::entra`]).
//! * Host `{namespace}.eventgrid.localhost[:port]` → Event Grid namespace ([`crate::eventgrid`]).
//! * Host `{vault}.vault.localhost[:port]` → Key Vault data plane. Each request goes through, in order:
//!   injected failure ([`crate::Faults::fail_next`]), `api-version` check, bearer-token check (401
//!   challenge), throttling (429), then the operation.
//! * Anything else → 404 with a Key Vault style error envelope.
//!
//! Every answer carries `content-type: application/json; charset=utf-8`, a fresh `x-ms-request-id`, and
//! echoes `x-ms-client-request-id` (and Entra's `client-request-id`). Bodies are never logged.
//!
//! This module routes; the operations live by collection in `secrets`, `keys` and `certificates`, lists in
//! `paging`, error envelopes and shared JSON pieces in `responses`, the bearer challenge and the token
//! endpoint in `auth`.

mod auth;
mod certificates;
mod keys;
mod paging;
mod responses;
mod secrets;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, Request, State};
use axum::response::Response;
use http::{HeaderName, HeaderValue, StatusCode, header};

use crate::entra::TokenCheck;
use crate::store::{Object, ObjectKind, Vault, Version};
use crate::{App, KEYVAULT_RESOURCE, VAULT_DNS_SUFFIX};

use self::auth::{challenge, entra_token};
use self::certificates::{CERTIFICATES, get_certificate};
use self::keys::{KEYS, get_key};
use self::paging::{list, list_versions};
use self::responses::{bad_parameter, disabled, injected_failure, kv_error, not_found, throttled};
use self::secrets::{SECRETS, get_secret, set_secret, update_secret};

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

/// Largest accepted request body.
const MAX_BODY: usize = 1024 * 1024;

/// The router: a single fallback handler over the shared state.
pub(crate) fn router(app: Arc<App>) -> Router {
    Router::new().fallback(handle).with_state(app)
}

async fn handle(State(app): State<Arc<App>>, req: Request) -> Response {
    // The latency fault is Key Vault's and Entra's: Event Grid has faults of its own.
    if crate::eventgrid::namespace_of_host(&request_host(&req)).is_none() {
        app.faults.delay().await;
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
    if op != "entra.token" && !op.starts_with("eventgrid.") {
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
    if let Some(namespace) = crate::eventgrid::namespace_of_host(&host) {
        return crate::eventgrid::routes::dispatch(app, &namespace, req).await;
    }
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
    let check = app.entra.check_bearer(authorization, KEYVAULT_RESOURCE);
    if check != TokenCheck::Valid {
        app.counters.incr("challenge");
        return (op, challenge(app, &check));
    }

    if let Err(retry_after) = app.faults.admit(&vault) {
        app.counters.incr("throttled");
        return (op, throttled(retry_after));
    }

    if app.faults.denied(&vault) {
        app.counters.incr("forbidden");
        return (op, responses::forbidden_by_rbac(&vault, op));
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
    host_label(host, VAULT_DNS_SUFFIX)
}

/// The one label before `.{suffix}` in a host (port ignored): `("a.vault.localhost:1", "vault.localhost")`
/// → `a`.
pub(crate) fn host_label(host: &str, suffix: &str) -> Option<String> {
    let without_port = match host.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
        _ => host,
    };
    let label = without_port.strip_suffix(suffix)?.strip_suffix('.')?;
    (!label.is_empty() && !label.contains('.')).then(|| label.to_string())
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
            list_versions(ctx, vault.secrets.get(&lower(name)), &SECRETS)
        }
        (ObjectKind::Secret, Action::List) => list(ctx, &vault.secrets, &SECRETS),
        (ObjectKind::Secret, Action::Set(name)) => set_secret(vault, ctx, name, body),
        (ObjectKind::Secret, Action::Update(name, version)) => {
            update_secret(vault, ctx, name, *version, body)
        }
        (ObjectKind::Key, Action::Get(name, version)) => get_key(vault, ctx, name, *version),
        (ObjectKind::Key, Action::Versions(name)) => list_versions(ctx, vault.keys.get(&lower(name)), &KEYS),
        (ObjectKind::Key, Action::List) => list(ctx, &vault.keys, &KEYS),
        (ObjectKind::Certificate, Action::Get(name, version)) => get_certificate(vault, ctx, name, *version),
        (ObjectKind::Certificate, Action::Versions(name)) => {
            list_versions(ctx, vault.certificates.get(&lower(name)), &CERTIFICATES)
        }
        (ObjectKind::Certificate, Action::List) => list(ctx, &vault.certificates, &CERTIFICATES),
        _ => bad_parameter("The operation is not supported by the emulator."),
    }
}

fn lower(name: &str) -> String {
    name.to_ascii_lowercase()
}

/// The object `name` (case-insensitively) and its version (`None` = latest).
fn find<'a, T>(
    objects: &'a BTreeMap<String, Object<T>>,
    name: &str,
    version: Option<&str>,
) -> Option<(&'a Object<T>, &'a Version<T>)> {
    objects
        .get(&lower(name))
        .and_then(|o| o.find(version).map(|v| (o, v)))
}

/// Answer a GET of one version: 404 when the object or version does not exist, 403 when the version is
/// disabled (except a certificate, which stays readable; its secret and key do not), else `answer`.
fn read<T>(
    objects: &BTreeMap<String, Object<T>>,
    kind: ObjectKind,
    name: &str,
    version: Option<&str>,
    answer: impl FnOnce(&Object<T>, &Version<T>) -> Response,
) -> Response {
    let Some((object, v)) = find(objects, name, version) else {
        return not_found(kind, name, version);
    };
    if !v.attrs.enabled && kind != ObjectKind::Certificate {
        return disabled(kind);
    }
    answer(object, v)
}
