//! The Event Grid namespace pull API, as much of it as the manager uses (docs/EVENTS.md#pull-delivery):
//! `:receive` (a long poll), `:acknowledge`, `:release`, `:renewLock`, with Entra workload identity or a
//! SharedAccessKey. Outbound HTTPS only, through the same proxy settings as Key Vault's. Every request is
//! bounded; every failure is a [`StreamError`] with a reason an operator can act on, and never a token.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::{Value, json};

/// The api-version sent: the pull API's current one (the official SDKs' default).
pub const API_VERSION: &str = "2024-06-01";

/// The Entra scope of Event Grid's data plane.
pub const SCOPE: &str = "https://eventgrid.azure.net/.default";

/// A settlement request beyond the long poll takes at most this long.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// How the manager proves who it is to Event Grid.
pub enum Credential {
    /// `Authorization: SharedAccessKey <key>` (the namespace's access key, from a Secret).
    AccessKey(String),
    /// Entra workload identity: the projected ServiceAccount token in `token_file` exchanged for an Event
    /// Grid token of `client_id` in `tenant` (the variables the workload-identity webhook sets).
    WorkloadIdentity {
        /// `AZURE_AUTHORITY_HOST`, e.g. `https://login.microsoftonline.com/`.
        authority: String,
        /// `AZURE_TENANT_ID`.
        tenant: String,
        /// `AZURE_CLIENT_ID`.
        client_id: String,
        /// `AZURE_FEDERATED_TOKEN_FILE`.
        token_file: PathBuf,
    },
}

/// Where the events are read.
pub struct Subscription {
    /// `https://{namespace}.{region}-1.eventgrid.azure.net`.
    pub endpoint: String,
    /// The namespace topic.
    pub topic: String,
    /// The queue subscription on it (CloudEvents schema).
    pub subscription: String,
}

/// A failed request to Event Grid or Entra: a stable reason (an Event's and a metric's) and a message
/// that says what to do.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct StreamError {
    /// `Unauthorized`, `Forbidden`, `NotFound`, `Throttled`, `Unavailable`, `Unreachable`, `Refused`,
    /// `TokenFailed` or `BadAnswer`.
    pub reason: &'static str,
    /// What happened, and what to check.
    pub message: String,
}

/// One event as received, with its lock.
#[derive(Debug, Deserialize)]
pub struct Received {
    /// The lock, and how often the event was delivered.
    #[serde(rename = "brokerProperties")]
    pub broker: Broker,
    /// The CloudEvent.
    pub event: Value,
}

/// `brokerProperties`.
#[derive(Debug, Deserialize)]
pub struct Broker {
    /// Settles this delivery.
    #[serde(rename = "lockToken")]
    pub lock_token: String,
    /// 1 on first delivery.
    #[serde(rename = "deliveryCount", default)]
    pub delivery_count: u32,
}

/// What to do with locked events.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Settle {
    /// Done with it.
    Acknowledge,
    /// Deliver again after this many seconds (0, 10, 60, 600 or 3600).
    Release(u32),
    /// Keep it locked longer.
    RenewLock,
}

impl Settle {
    /// The route's action, also the `action` label of the request counter.
    pub fn action(self) -> &'static str {
        match self {
            Self::Acknowledge => "acknowledge",
            Self::Release(_) => "release",
            Self::RenewLock => "renewLock",
        }
    }
}

/// The lock tokens a settlement could not settle (expired or unknown: the event comes again).
#[derive(Debug, Default, Deserialize)]
pub struct Settled {
    /// Tokens refused, with Event Grid's reason.
    #[serde(rename = "failedLockTokens", default)]
    pub failed: Vec<Value>,
}

/// The client.
pub struct PullClient {
    http: reqwest::Client,
    subscription: Subscription,
    credential: Credential,
    /// An Entra token and when to get a new one.
    token: Mutex<Option<(String, Instant)>>,
}

impl PullClient {
    /// A client through `http` (sse_runtime::outbound).
    pub fn new(http: reqwest::Client, subscription: Subscription, credential: Credential) -> Self {
        Self {
            http,
            subscription,
            credential,
            token: Mutex::new(None),
        }
    }

    fn url(&self, action: &str) -> String {
        format!(
            "{}/topics/{}/eventsubscriptions/{}:{action}?api-version={API_VERSION}",
            self.subscription.endpoint.trim_end_matches('/'),
            self.subscription.topic,
            self.subscription.subscription
        )
    }

    /// Where events come from, for messages: `namespace-host/topic/subscription`.
    pub fn describe(&self) -> String {
        let host = self
            .subscription
            .endpoint
            .trim_start_matches("https://")
            .trim_end_matches('/');
        format!(
            "{host}/{}/{}",
            self.subscription.topic, self.subscription.subscription
        )
    }

    /// Wait up to `max_wait` (10 s to 120 s) for up to `max_events` events (1 to 100); it returns as soon as
    /// one is there.
    pub async fn receive(&self, max_events: u16, max_wait: Duration) -> Result<Vec<Received>, StreamError> {
        #[derive(Deserialize)]
        struct Batch {
            #[serde(default)]
            value: Vec<Received>,
        }
        let url = format!(
            "{}&maxEvents={max_events}&maxWaitTime={}",
            self.url("receive"),
            max_wait.as_secs()
        );
        let answer = self.post(&url, None, max_wait + REQUEST_TIMEOUT).await?;
        serde_json::from_slice::<Batch>(&answer)
            .map(|b| b.value)
            .map_err(|e| bad_answer("receive", &e))
    }

    /// Settle `tokens` (at most 100 at once, as Event Grid takes them).
    pub async fn settle(&self, how: Settle, tokens: &[String]) -> Result<Settled, StreamError> {
        let mut url = self.url(how.action());
        if let Settle::Release(delay) = how {
            url.push_str(&format!("&releaseDelayInSeconds={delay}"));
        }
        let body = json!({ "lockTokens": tokens });
        let answer = self.post(&url, Some(&body), REQUEST_TIMEOUT).await?;
        serde_json::from_slice(&answer).map_err(|e| bad_answer(how.action(), &e))
    }

    async fn post(&self, url: &str, body: Option<&Value>, timeout: Duration) -> Result<Vec<u8>, StreamError> {
        let authorization = self.authorization().await?;
        let mut request = self
            .http
            .post(url)
            .timeout(timeout)
            .header(http::header::AUTHORIZATION, authorization);
        request = match body {
            Some(body) => request.json(body),
            None => request.header(http::header::CONTENT_LENGTH, "0"),
        };
        let response = request
            .send()
            .await
            .map_err(|e| unreachable(&self.describe(), &e))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| unreachable(&self.describe(), &e))?;
        if status.is_success() {
            return Ok(bytes.to_vec());
        }
        if status.as_u16() == 401 {
            // A cached token the service no longer takes: the next request gets a new one.
            *lock(&self.token) = None;
        }
        Err(refused(status.as_u16(), &bytes, &self.describe()))
    }

    async fn authorization(&self) -> Result<String, StreamError> {
        match &self.credential {
            Credential::AccessKey(key) => Ok(format!("SharedAccessKey {key}")),
            Credential::WorkloadIdentity {
                authority,
                tenant,
                client_id,
                token_file,
            } => {
                if let Some((token, until)) = lock(&self.token).as_ref()
                    && Instant::now() < *until
                {
                    return Ok(format!("Bearer {token}"));
                }
                let (token, lifetime) = self.entra_token(authority, tenant, client_id, token_file).await?;
                // Renewed at half its life (at most an hour), well before it expires.
                let until = Instant::now() + (lifetime / 2).min(Duration::from_secs(3600));
                *lock(&self.token) = Some((token.clone(), until));
                Ok(format!("Bearer {token}"))
            }
        }
    }

    /// The client-credentials grant with the federated ServiceAccount token as the client assertion.
    async fn entra_token(
        &self,
        authority: &str,
        tenant: &str,
        client_id: &str,
        token_file: &PathBuf,
    ) -> Result<(String, Duration), StreamError> {
        #[derive(Deserialize)]
        struct Token {
            access_token: String,
            #[serde(default)]
            expires_in: Value,
        }
        let assertion = tokio::fs::read_to_string(token_file).await.map_err(|e| StreamError {
            reason: "TokenFailed",
            message: format!(
                "cannot read the federated token file {}: {e} (is the projected ServiceAccount token mounted?)",
                token_file.display()
            ),
        })?;
        let url = format!("{}/{tenant}/oauth2/v2.0/token", authority.trim_end_matches('/'));
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("scope", SCOPE),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", assertion.trim()),
        ];
        let body = serde_urlencoded_form(&form);
        let response = self
            .http
            .post(&url)
            .timeout(REQUEST_TIMEOUT)
            .header(http::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .map_err(|e| unreachable(&url, &e))?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| unreachable(&url, &e))?;
        if !status.is_success() {
            let answer: Value = serde_json::from_slice(&bytes).unwrap_or_default();
            let description = answer
                .get("error_description")
                .and_then(Value::as_str)
                .and_then(|d| d.lines().next())
                .unwrap_or("no description");
            return Err(StreamError {
                reason: "TokenFailed",
                message: format!(
                    "Entra ID refused a token for Event Grid to client {client_id} (HTTP {status}): {description}"
                ),
            });
        }
        let token: Token = serde_json::from_slice(&bytes).map_err(|e| bad_answer("token", &e))?;
        let seconds = match &token.expires_in {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.parse().ok(),
            _ => None,
        }
        .unwrap_or(3600);
        Ok((token.access_token, Duration::from_secs(seconds)))
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// `application/x-www-form-urlencoded` of `pairs`.
fn serde_urlencoded_form(pairs: &[(&str, &str)]) -> String {
    fn encode(s: &str) -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                b' ' => "+".to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect()
    }
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn unreachable(what: &str, error: &reqwest::Error) -> StreamError {
    // reqwest's chain names the cause (DNS, connection refused, TLS, timeout); the URL holds no secret.
    let mut message = format!("cannot reach {what}: {error}");
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        message.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    StreamError {
        reason: "Unreachable",
        message,
    }
}

fn bad_answer(what: &str, error: &serde_json::Error) -> StreamError {
    StreamError {
        reason: "BadAnswer",
        message: format!("Event Grid's answer to {what} could not be read: {error}"),
    }
}

/// Event Grid's refusal, from its error envelope `{"error":{"code","message"}}`.
fn refused(status: u16, body: &[u8], source: &str) -> StreamError {
    let envelope: Value = serde_json::from_slice(body).unwrap_or_default();
    let code = envelope
        .pointer("/error/code")
        .and_then(Value::as_str)
        .unwrap_or("");
    let said = envelope
        .pointer("/error/message")
        .and_then(Value::as_str)
        .and_then(|m| m.lines().next())
        .unwrap_or("");
    let (reason, hint) = match status {
        401 => (
            "Unauthorized",
            "the credential was not accepted: check the access key or the workload identity's federated credential",
        ),
        403 => (
            "Forbidden",
            "the manager's identity needs the EventGrid Data Receiver role on the namespace topic",
        ),
        404 => (
            "NotFound",
            "no such namespace, topic or event subscription: check --events-endpoint, --events-topic and --events-subscription",
        ),
        429 => ("Throttled", "Event Grid throttled the manager; it backs off"),
        500..=599 => ("Unavailable", "Event Grid is unavailable; the manager retries"),
        _ => ("Refused", "Event Grid refused the request"),
    };
    let detail = match (code.is_empty(), said.is_empty()) {
        (true, true) => String::new(),
        (false, true) => format!(" ({code})"),
        (_, false) => format!(" ({code}: {said})"),
    };
    StreamError {
        reason,
        message: format!("{source} answered HTTP {status}{detail}: {hint}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_names_what_to_fix() {
        let body = br#"{"error":{"code":"Unauthorized","message":"The principal does not have the required role.\nmore"}}"#;
        let error = refused(403, body, "ns.westeurope-1.eventgrid.azure.net/t/s");
        assert_eq!(error.reason, "Forbidden");
        assert_eq!(
            error.message,
            "ns.westeurope-1.eventgrid.azure.net/t/s answered HTTP 403 (Unauthorized: The principal does not \
             have the required role.): the manager's identity needs the EventGrid Data Receiver role on the \
             namespace topic"
        );
        assert_eq!(refused(404, b"not json", "x").reason, "NotFound");
        assert_eq!(refused(503, b"", "x").reason, "Unavailable");
    }

    #[test]
    fn the_form_is_url_encoded() {
        assert_eq!(
            serde_urlencoded_form(&[("scope", SCOPE), ("a b", "c&d=e")]),
            "scope=https%3A%2F%2Feventgrid.azure.net%2F.default&a+b=c%26d%3De"
        );
    }
}
