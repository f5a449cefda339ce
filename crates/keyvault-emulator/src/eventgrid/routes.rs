//! The namespace's HTTP routes (`docs/EVENTGRID.md#the-routes`):
//! `POST /topics/{topic}/eventsubscriptions/{subscription}:{receive|acknowledge|release|reject|renewLock}`.
//!
//! Each request goes through, in order: the injected status ([`super::EventGrid::fail_requests`]), the
//! route, `api-version`, authentication (401) and the role (403), the namespace, topic and subscription
//! (404), the query parameters and body (400), then the operation. Errors answer
//! `{"error": {"code", "message"}}`. Counted in [`crate::Emulator::counters`] as `eventgrid.receive`,
//! `eventgrid.acknowledge`, `eventgrid.release`, `eventgrid.reject`, `eventgrid.renew_lock` or
//! `eventgrid.unknown`, plus `eventgrid.fault`, `eventgrid.unauthorized` and `eventgrid.forbidden` for those
//! answers.

use std::ops::RangeInclusive;

use axum::body::Body;
use axum::extract::{Query, Request};
use axum::response::Response;
use http::{HeaderMap, Method, StatusCode, header};
use serde::Deserialize;
use serde_json::{Value, json};

use super::EVENTGRID_RESOURCE;
use super::queue::{Outcome, Settle};
use crate::App;
use crate::entra::TokenCheck;

/// Accepted `api-version`s: the pull API's GA version and the current SDKs' default (azure-eventgrid
/// 4.22.1 for Python sends `2024-06-01`, its `DEFAULT_STANDARD_API_VERSION`).
pub(crate) const API_VERSIONS: &[&str] = &["2023-11-01", "2024-06-01"];

/// `releaseDelayInSeconds` values the service knows (the `ReleaseDelay` enum of the 2024-06-01 spec).
const RELEASE_DELAYS: &[u64] = &[0, 10, 60, 600, 3600];

/// Largest accepted request body.
const MAX_BODY: usize = 1024 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Action {
    Receive,
    Acknowledge,
    Release,
    Reject,
    RenewLock,
}

impl Action {
    fn parse(action: &str) -> Option<Self> {
        Some(match action {
            "receive" => Action::Receive,
            "acknowledge" => Action::Acknowledge,
            "release" => Action::Release,
            "reject" => Action::Reject,
            "renewLock" => Action::RenewLock,
            _ => return None,
        })
    }

    fn op(self) -> &'static str {
        match self {
            Action::Receive => "eventgrid.receive",
            Action::Acknowledge => "eventgrid.acknowledge",
            Action::Release => "eventgrid.release",
            Action::Reject => "eventgrid.reject",
            Action::RenewLock => "eventgrid.renew_lock",
        }
    }
}

/// `(topic, subscription, action)` of a request.
type Route = (String, String, Action);

/// Route one request to `namespace`; returns the operation it was counted under and the answer.
pub(crate) async fn dispatch(app: &App, namespace: &str, req: Request) -> (&'static str, Response) {
    let segs: Vec<&str> = req.uri().path().split('/').filter(|s| !s.is_empty()).collect();
    let route: Option<Route> = match segs.as_slice() {
        ["topics", topic, "eventsubscriptions", last] if req.method() == Method::POST => last
            .rsplit_once(':')
            .and_then(|(sub, action)| Some((topic.to_string(), sub.to_string(), Action::parse(action)?))),
        _ => None,
    };
    let op = route.as_ref().map_or("eventgrid.unknown", |(.., a)| a.op());
    app.counters.incr(op);
    let resp = handle(app, namespace, route, req).await;
    (op, resp.unwrap_or_else(Refusal::into_response))
}

async fn handle(app: &App, namespace: &str, route: Option<Route>, req: Request) -> Result<Response, Refusal> {
    let grid = &app.eventgrid;
    if let Some(status) = grid.fail_status() {
        app.counters.incr("eventgrid.fault");
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let code = status.canonical_reason().unwrap_or("Error").replace(' ', "");
        return Err(Refusal::new(
            status,
            &code,
            "Injected failure (keyvault-emulator).",
        ));
    }
    let Some((topic, subscription, action)) = route else {
        let msg = format!(
            "The operation {} {} is not supported.",
            req.method(),
            req.uri().path()
        );
        return Err(Refusal::new(StatusCode::NOT_FOUND, "NotFound", &msg));
    };
    let query = match Query::<Vec<(String, String)>>::try_from_uri(req.uri()) {
        Ok(Query(q)) => q,
        Err(err) => {
            return Err(bad_request(&format!(
                "The request query string is malformed: {err}"
            )));
        }
    };
    let param = |name: &str| query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    match param("api-version") {
        None => {
            return Err(bad_request(
                "The request URI must contain an 'api-version' query parameter.",
            ));
        }
        Some(v) if !API_VERSIONS.contains(&v) => {
            let msg = format!(
                "The api-version '{v}' is not supported. Supported: {}.",
                API_VERSIONS.join(", ")
            );
            return Err(bad_request(&msg));
        }
        Some(_) => {}
    }
    authorize(app, namespace, req.headers())?;
    if let Some(what) = grid.missing(namespace, &topic, &subscription) {
        let msg = format!("The {what} of '{namespace}/{topic}/{subscription}' does not exist.");
        return Err(Refusal::new(StatusCode::NOT_FOUND, "NotFound", &msg));
    }
    let gone = || Refusal::new(StatusCode::NOT_FOUND, "NotFound", "The subscription was deleted.");
    let how = match action {
        Action::Receive => {
            let max = int_param(param("maxEvents"), "maxEvents", 1, 1..=100)?;
            let wait = int_param(param("maxWaitTime"), "maxWaitTime", 60, 10..=120)?;
            let max = usize::try_from(max).unwrap_or(1);
            let value = grid
                .receive(namespace, &topic, &subscription, max, grid.wire(wait))
                .await;
            return Ok(ok(&json!({ "value": value.ok_or_else(gone)? })));
        }
        Action::Acknowledge => Settle::Acknowledge,
        Action::Reject => Settle::Reject,
        Action::RenewLock => Settle::RenewLock,
        Action::Release => match param("releaseDelayInSeconds") {
            None => Settle::Release(grid.wire(0)),
            Some(v) => match v.parse::<u64>() {
                Ok(d) if RELEASE_DELAYS.contains(&d) => Settle::Release(grid.wire(d)),
                _ => {
                    let msg = format!("releaseDelayInSeconds '{v}' is not one of 0, 10, 60, 600, 3600.");
                    return Err(bad_request(&msg));
                }
            },
        },
    };
    let tokens = lock_tokens(req).await?;
    let outcome = grid.settle(namespace, &topic, &subscription, &tokens, how);
    Ok(ok(&outcome_json(&outcome.ok_or_else(gone)?)))
}

/// `SharedAccessKey {key}` for the namespace's key, or `Bearer {token}` issued for Event Grid.
fn authorize(app: &App, namespace: &str, headers: &HeaderMap) -> Result<(), Refusal> {
    let unauthorized = |message: &str| {
        app.counters.incr("eventgrid.unauthorized");
        Refusal::new(StatusCode::UNAUTHORIZED, "Unauthorized", message)
    };
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::trim);
    let Some(value) = value else {
        return Err(unauthorized(
            "The request has no Authorization header: send 'SharedAccessKey <key>' or 'Bearer <token>'.",
        ));
    };
    let (scheme, credential) = value.split_once(' ').unwrap_or((value, ""));
    if scheme.eq_ignore_ascii_case("SharedAccessKey") {
        return if app.eventgrid.access_key_matches(namespace, credential.trim()) {
            Ok(())
        } else {
            Err(unauthorized(
                "The shared access key is not valid for this namespace.",
            ))
        };
    }
    if !scheme.eq_ignore_ascii_case("Bearer") {
        return Err(unauthorized(&format!(
            "The authorization scheme '{scheme}' is not supported."
        )));
    }
    match app.entra.check_bearer(Some(value), EVENTGRID_RESOURCE) {
        TokenCheck::Valid if app.eventgrid.denied(namespace) => {
            app.counters.incr("eventgrid.forbidden");
            let msg = format!(
                "The principal does not have the EventGrid Data Receiver role on namespace '{namespace}'."
            );
            Err(Refusal::new(StatusCode::FORBIDDEN, "Forbidden", &msg))
        }
        TokenCheck::Valid => Ok(()),
        TokenCheck::Expired => Err(unauthorized("The access token has expired.")),
        TokenCheck::WrongAudience => Err(unauthorized(&format!(
            "The access token's audience is not {EVENTGRID_RESOURCE}."
        ))),
        TokenCheck::Missing | TokenCheck::Unknown => Err(unauthorized(
            "The access token was not issued by this emulator's Entra endpoint.",
        )),
    }
}

/// An integer query parameter within `range`, `default` when absent.
fn int_param(
    value: Option<&str>,
    name: &str,
    default: u64,
    range: RangeInclusive<u64>,
) -> Result<u64, Refusal> {
    let Some(value) = value else {
        return Ok(default);
    };
    match value.parse::<u64>() {
        Ok(n) if range.contains(&n) => Ok(n),
        _ => Err(bad_request(&format!(
            "{name} '{value}' is not an integer from {} to {}.",
            range.start(),
            range.end()
        ))),
    }
}

#[derive(Deserialize)]
struct LockTokens {
    #[serde(rename = "lockTokens")]
    lock_tokens: Vec<String>,
}

/// The `lockTokens` of a settlement body (at least one).
async fn lock_tokens(req: Request) -> Result<Vec<String>, Refusal> {
    let body = axum::body::to_bytes(req.into_body(), MAX_BODY)
        .await
        .map_err(|err| bad_request(&format!("The request body could not be read: {err}")))?;
    let parsed: LockTokens = serde_json::from_slice(&body).map_err(|err| {
        bad_request(&format!(
            "The request body is not {{\"lockTokens\": [...]}}: {err}"
        ))
    })?;
    if parsed.lock_tokens.is_empty() {
        return Err(bad_request("lockTokens must hold at least one lock token."));
    }
    Ok(parsed.lock_tokens)
}

fn outcome_json(outcome: &Outcome) -> Value {
    let failed: Vec<Value> = outcome
        .failed
        .iter()
        .map(
            |(token, code, message)| json!({"lockToken": token, "error": {"code": code, "message": message}}),
        )
        .collect();
    json!({"failedLockTokens": failed, "succeededLockTokens": outcome.succeeded})
}

fn ok(body: &Value) -> Response {
    let mut resp = Response::new(Body::from(body.to_string()));
    *resp.status_mut() = StatusCode::OK;
    resp
}

fn bad_request(message: &str) -> Refusal {
    Refusal::new(StatusCode::BAD_REQUEST, "BadRequest", message)
}

/// An error answer: `{"error": {"code", "message"}}` with its status.
struct Refusal {
    status: StatusCode,
    code: String,
    message: String,
}

impl Refusal {
    fn new(status: StatusCode, code: &str, message: &str) -> Self {
        Self {
            status,
            code: code.to_string(),
            message: message.to_string(),
        }
    }

    fn into_response(self) -> Response {
        let body = json!({"error": {"code": self.code, "message": self.message}});
        let mut resp = Response::new(Body::from(body.to_string()));
        *resp.status_mut() = self.status;
        resp
    }
}
