//! The Entra ID side: tenants, clients (app registrations) with federated identity credentials, the v2
//! token endpoint for the `client_credentials` grant with a JWT client assertion, and the access tokens it
//! hands out.
//!
//! A tenant is "known" as soon as one client is registered in it. A token request is checked in this
//! order, each failure answering the AADSTS error real Entra gives for it:
//!
//! | check | error |
//! |---|---|
//! | `grant_type=client_credentials` | 400 `unsupported_grant_type` AADSTS70003 |
//! | `client_id` present | 400 `invalid_request` AADSTS900144 |
//! | tenant known | 400 `invalid_request` AADSTS90002 |
//! | client registered in the tenant | 400 `unauthorized_client` AADSTS700016 |
//! | `client_assertion` present | 401 `invalid_client` AADSTS7000216 |
//! | `client_assertion_type` is jwt-bearer | 400 `invalid_request` AADSTS900144 |
//! | assertion is a decodable JWT with `iss`, `sub`, `aud`, `exp` | 400 `invalid_request` AADSTS50027 |
//! | `exp` not passed, `nbf` not more than 5 min ahead | 400 `invalid_client` AADSTS700024 |
//! | a FIC with the assertion's issuer | 400 `invalid_client` AADSTS700211 |
//! | … and its subject | 400 `invalid_client` AADSTS700213 |
//! | … and one of its audiences | 400 `invalid_client` AADSTS700212 |
//! | `scope` is `https://vault.localhost/.default` or `https://eventgrid.azure.net/.default` | 400 `invalid_scope` AADSTS70011 / `invalid_resource` AADSTS500011 |
//!
//! **The assertion's signature is not verified.** Real Entra fetches the issuer's OIDC discovery document
//! and JWKS and verifies the signature; here the payload is only decoded, so any JWT-shaped token with the
//! right claims passes (see [`mint_assertion`]).
//!
//! Access tokens are opaque random strings, remembered with their tenant, client, resource and expiry;
//! each data plane accepts a bearer token only if it was issued here, for its own resource (Key Vault's
//! or Event Grid's: a token for one is refused by the other, as audiences are), and has not expired.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use rand::RngCore as _;
use serde_json::{Value, json};

use crate::{EVENTGRID_RESOURCE, KEYVAULT_RESOURCE, unix_now};

/// The `client_assertion_type` of a JWT client assertion.
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Clock skew tolerated on the assertion's `nbf`.
const NBF_SKEW_SECS: i64 = 300;

/// A federated identity credential on an app registration: the (issuer, subject, audience) an external
/// token must carry to be exchanged for an access token of that client.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FederatedCredential {
    /// Expected `iss`, e.g. the cluster's OIDC issuer URL. Compared exactly.
    pub issuer: String,
    /// Expected `sub`, e.g. `system:serviceaccount:ns:sa`. Compared exactly (case-sensitive).
    pub subject: String,
    /// Expected `aud`, normally `api://AzureADTokenExchange`.
    pub audience: String,
}

/// What an issued access token stands for.
#[derive(Clone, Debug)]
pub(crate) struct TokenInfo {
    pub(crate) tenant: String,
    pub(crate) client_id: String,
    pub(crate) resource: String,
    pub(crate) expires_at: Instant,
}

/// Outcome of checking a bearer token on the data plane.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum TokenCheck {
    Valid,
    Missing,
    Unknown,
    Expired,
    WrongAudience,
}

/// A refused token request.
#[derive(Debug)]
pub(crate) struct EntraError {
    pub(crate) status: u16,
    pub(crate) error: &'static str,
    pub(crate) code: u32,
    pub(crate) description: String,
}

impl EntraError {
    fn new(status: u16, error: &'static str, code: u32, description: impl Into<String>) -> Self {
        Self {
            status,
            error,
            code,
            description: description.into(),
        }
    }

    /// The JSON body Entra sends, with `AADSTS{code}: ` prefixed and trace/correlation ids appended.
    pub(crate) fn body(&self, correlation_id: &str) -> Value {
        let trace_id = uuid::Uuid::new_v4().to_string();
        let timestamp = format_timestamp(unix_now());
        json!({
            "error": self.error,
            "error_description": format!(
                "AADSTS{}: {} Trace ID: {trace_id} Correlation ID: {correlation_id} Timestamp: {timestamp}",
                self.code, self.description
            ),
            "error_codes": [self.code],
            "timestamp": timestamp,
            "trace_id": trace_id,
            "correlation_id": correlation_id,
            "error_uri": format!("https://login.microsoftonline.com/error?code={}", self.code),
        })
    }
}

struct Inner {
    token_lifetime: Duration,
    /// (lowercase tenant, lowercase client id) → federated credentials.
    clients: Mutex<HashMap<(String, String), Vec<FederatedCredential>>>,
    tokens: Mutex<HashMap<String, TokenInfo>>,
}

/// Entra tenants, clients and federated credentials. Cheap to clone (shared state).
#[derive(Clone)]
pub struct Entra {
    inner: Arc<Inner>,
}

impl fmt::Debug for Entra {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entra")
            .field("token_lifetime", &self.inner.token_lifetime)
            .field("clients", &lock(&self.inner.clients).len())
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Entra {
    pub(crate) fn new(token_lifetime: Duration) -> Self {
        Self {
            inner: Arc::new(Inner {
                token_lifetime,
                clients: Mutex::new(HashMap::new()),
                tokens: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// Register `client_id` in `tenant` (if new) and add a federated credential to it.
    pub fn add_federated_credential(&self, tenant: &str, client_id: &str, fic: FederatedCredential) {
        let mut clients = lock(&self.inner.clients);
        let fics = clients.entry(client_key(tenant, client_id)).or_default();
        if !fics.contains(&fic) {
            fics.push(fic);
        }
    }

    /// Register `client_id` in `tenant` without any federated credential (every assertion is refused with
    /// AADSTS700211).
    pub fn add_client(&self, tenant: &str, client_id: &str) {
        lock(&self.inner.clients)
            .entry(client_key(tenant, client_id))
            .or_default();
    }

    fn tenant_known(&self, tenant: &str) -> bool {
        let tenant = tenant.to_ascii_lowercase();
        lock(&self.inner.clients).keys().any(|(t, _)| *t == tenant)
    }

    /// Handle a token request (form fields, first occurrence wins). Returns the success body.
    pub(crate) fn token(&self, tenant: &str, form: &[(String, String)]) -> Result<Value, EntraError> {
        let field = |name: &str| {
            form.iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
                .filter(|v| !v.is_empty())
        };
        let missing = |name: &str| {
            EntraError::new(
                400,
                "invalid_request",
                900144,
                format!("The request body must contain the following parameter: '{name}'."),
            )
        };

        let grant_type = field("grant_type").ok_or_else(|| missing("grant_type"))?;
        if grant_type != "client_credentials" {
            return Err(EntraError::new(
                400,
                "unsupported_grant_type",
                70003,
                format!("The app requested an unsupported grant type '{grant_type}'."),
            ));
        }
        let client_id = field("client_id").ok_or_else(|| missing("client_id"))?;
        if !self.tenant_known(tenant) {
            return Err(EntraError::new(
                400,
                "invalid_request",
                90002,
                format!(
                    "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are \
                     signing into the correct cloud. Check with your subscription administrator, this may \
                     happen if there are no active subscriptions for the tenant."
                ),
            ));
        }
        let fics = lock(&self.inner.clients)
            .get(&client_key(tenant, client_id))
            .cloned()
            .ok_or_else(|| {
                EntraError::new(
                    400,
                    "unauthorized_client",
                    700016,
                    format!(
                        "Application with identifier '{client_id}' was not found in the directory '{tenant}'. \
                         This can happen if the application has not been installed by the administrator of \
                         the tenant or consented to by any user in the tenant. You may have sent your \
                         authentication request to the wrong tenant."
                    ),
                )
            })?;
        let assertion = field("client_assertion").ok_or_else(|| {
            EntraError::new(
                401,
                "invalid_client",
                7000216,
                "'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' \
                 grant type.",
            )
        })?;
        if field("client_assertion_type") != Some(JWT_BEARER) {
            return Err(missing("client_assertion_type"));
        }
        let claims = decode_assertion(assertion).ok_or_else(|| {
            EntraError::new(
                400,
                "invalid_request",
                50027,
                "JWT token is invalid or malformed.",
            )
        })?;

        let now = unix_now();
        if claims.exp <= now || claims.nbf.is_some_and(|nbf| nbf > now + NBF_SKEW_SECS) {
            return Err(EntraError::new(
                400,
                "invalid_client",
                700024,
                format!(
                    "Client assertion is not within its valid time range. Current time: {}, assertion valid \
                     from {}, expiry time of assertion {}. Review the documentation at \
                     https://learn.microsoft.com/entra/identity-platform/certificate-credentials .",
                    format_timestamp(now),
                    claims.nbf.map_or_else(|| "(none)".to_string(), format_timestamp),
                    format_timestamp(claims.exp),
                ),
            ));
        }
        let mismatch = |code: u32, what: &str, value: &str| {
            EntraError::new(
                400,
                "invalid_client",
                code,
                format!(
                    "No matching federated identity record found for presented assertion {what} '{value}'. \
                     Please check your federated identity credential Subject, Audience and Issuer against \
                     the presented assertion. \
                     https://learn.microsoft.com/entra/workload-id/workload-identity-federation"
                ),
            )
        };
        let by_issuer: Vec<_> = fics.iter().filter(|f| f.issuer == claims.iss).collect();
        if by_issuer.is_empty() {
            return Err(mismatch(700211, "issuer", &claims.iss));
        }
        let by_subject: Vec<_> = by_issuer
            .into_iter()
            .filter(|f| f.subject == claims.sub)
            .collect();
        if by_subject.is_empty() {
            return Err(mismatch(700213, "subject", &claims.sub));
        }
        if !by_subject.iter().any(|f| claims.aud.contains(&f.audience)) {
            return Err(mismatch(700212, "audience", &claims.aud.join(",")));
        }

        let scope = field("scope").ok_or_else(|| missing("scope"))?;
        let resource = scope_resource(scope).ok_or_else(|| {
            EntraError::new(
                400,
                "invalid_scope",
                70011,
                format!(
                    "The provided request must include a 'scope' input parameter. The provided value for the \
                     input parameter 'scope' is not valid. The scope {scope} is not valid."
                ),
            )
        })?;
        if resource != KEYVAULT_RESOURCE && resource != EVENTGRID_RESOURCE {
            return Err(EntraError::new(
                400,
                "invalid_resource",
                500011,
                format!(
                    "The resource principal named {resource} was not found in the tenant named {tenant}. This \
                     can happen if the application has not been installed by the administrator of the tenant \
                     or consented to by any user in the tenant. You might have sent your authentication \
                     request to the wrong tenant."
                ),
            ));
        }

        let mut raw = [0u8; 48];
        rand::rng().fill_bytes(&mut raw);
        let access_token = URL_SAFE_NO_PAD.encode(raw);
        let now = Instant::now();
        let lifetime = self.inner.token_lifetime;
        {
            let mut tokens = lock(&self.inner.tokens);
            tokens.retain(|_, t| t.expires_at > now);
            tokens.insert(
                access_token.clone(),
                TokenInfo {
                    tenant: tenant.to_string(),
                    client_id: client_id.to_string(),
                    resource: resource.to_string(),
                    expires_at: now + lifetime,
                },
            );
        }
        tracing::debug!(tenant, client_id, "issued access token");
        let secs = lifetime.as_secs();
        Ok(json!({
            "token_type": "Bearer",
            "expires_in": secs,
            "ext_expires_in": secs,
            "access_token": access_token,
        }))
    }

    /// Check an `Authorization` header value from a data-plane request to `resource`.
    pub(crate) fn check_bearer(&self, authorization: Option<&str>, resource: &str) -> TokenCheck {
        let Some(token) = authorization.and_then(|h| {
            let (scheme, token) = h.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        }) else {
            return TokenCheck::Missing;
        };
        let Some(info) = lock(&self.inner.tokens).get(token).cloned() else {
            return TokenCheck::Unknown;
        };
        if info.expires_at <= Instant::now() {
            TokenCheck::Expired
        } else if info.resource != resource {
            TokenCheck::WrongAudience
        } else {
            tracing::trace!(
                tenant = info.tenant,
                client_id = info.client_id,
                "bearer token accepted"
            );
            TokenCheck::Valid
        }
    }
}

fn client_key(tenant: &str, client_id: &str) -> (String, String) {
    (tenant.to_ascii_lowercase(), client_id.to_ascii_lowercase())
}

/// `https://vault.localhost/.default` → `https://vault.localhost`. Other scopes in a space-separated list
/// (e.g. `offline_access`) are ignored.
fn scope_resource(scope: &str) -> Option<&str> {
    scope
        .split_whitespace()
        .find_map(|s| s.strip_suffix("/.default"))
        .map(|r| r.trim_end_matches('/'))
}

/// The claims of a client assertion that matter here.
struct Claims {
    iss: String,
    sub: String,
    aud: Vec<String>,
    exp: i64,
    nbf: Option<i64>,
}

/// Decode (without verifying) a JWT's payload.
fn decode_assertion(jwt: &str) -> Option<Claims> {
    let mut parts = jwt.trim().split('.');
    let (_header, payload, _signature) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .or_else(|_| URL_SAFE.decode(payload))
        .ok()?;
    let claims: Value = serde_json::from_slice(&bytes).ok()?;
    let number = |v: &Value| v.as_i64().or_else(|| v.as_f64().map(|f| f as i64));
    let aud = match claims.get("aud")? {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect(),
        _ => return None,
    };
    Some(Claims {
        iss: claims.get("iss")?.as_str()?.to_string(),
        sub: claims.get("sub")?.as_str()?.to_string(),
        aud,
        exp: number(claims.get("exp")?)?,
        nbf: claims.get("nbf").and_then(number),
    })
}

/// A JWT-shaped service-account token (`header.payload.signature`, base64url without padding) with claims
/// `iss`, `sub`, `aud`, `iat`, `nbf` (now) and `exp` (now + `lifetime`). The signature is random bytes: the
/// emulator's Entra does not verify it.
pub fn mint_assertion(issuer: &str, subject: &str, audience: &str, lifetime: Duration) -> String {
    let now = unix_now();
    let lifetime = i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX / 2);
    let header = json!({"alg": "RS256", "kid": "keyvault-emulator", "typ": "JWT"});
    let payload = json!({
        "aud": [audience],
        "exp": now.saturating_add(lifetime),
        "iat": now,
        "iss": issuer,
        "jti": uuid::Uuid::new_v4().to_string(),
        "nbf": now,
        "sub": subject,
    });
    let mut signature = [0u8; 64];
    rand::rng().fill_bytes(&mut signature);
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(payload.to_string()),
        URL_SAFE_NO_PAD.encode(signature)
    )
}

/// `2024-03-01 07:41:07Z`, the format Entra uses in error bodies.
fn format_timestamp(unix: i64) -> String {
    let (year, month, day, hour, minute, second) = crate::timefmt::civil(unix);
    format!("{year:04}-{month:02}-{day:02} {hour:02}:{minute:02}:{second:02}Z")
}

#[cfg(test)]
mod tests;
