//! Authentication answers: the Key Vault bearer challenge and the Entra token endpoint.

use axum::extract::{FromRequest as _, Request};
use axum::response::Response;
use http::{HeaderValue, StatusCode, header};

use super::responses::{json_response, kv_error, ok};
use crate::entra::TokenCheck;
use crate::{App, KEYVAULT_RESOURCE};

/// 401 with the `WWW-Authenticate` challenge that names this emulator's Entra authority.
pub(super) fn challenge(app: &App, check: &TokenCheck) -> Response {
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

pub(super) async fn entra_token(app: &App, tenant: &str, req: Request) -> Response {
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
