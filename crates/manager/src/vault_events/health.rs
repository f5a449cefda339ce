//! Where the event stream stands, for an operator: metrics (bounded labels), the Lease annotation that
//! `kubectl sse status` and `doctor` read, and the transitions worth an Event.

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use sse_api::event_stream::{FAILING, RECEIVING, STARTING, StreamNote};

use super::client::StreamError;

/// The annotation of the leader-election Lease that carries [`StreamStatus::note`].
pub const ANNOTATION: &str = sse_api::consts::EVENT_STREAM_ANNOTATION;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EventLabel {
    r#type: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ActionLabel {
    action: &'static str,
}

/// The event stream's metrics, registered with the manager's (all zero when events are off).
#[derive(Clone)]
pub struct EventMetrics {
    events: Family<EventLabel, Counter>,
    up: Gauge,
    failures: Family<ReasonLabel, Counter>,
    requests: Family<ActionLabel, Counter>,
    delivery: Histogram,
    refresh: Histogram,
}

impl EventMetrics {
    /// Register under `registry` (the `secretsync_` prefix).
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self {
            events: Family::default(),
            up: Gauge::default(),
            failures: Family::default(),
            requests: Family::default(),
            delivery: Histogram::new([0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0]),
            refresh: Histogram::new([0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 120.0]),
        };
        registry.register(
            "vault_events",
            "Key Vault events received, by type and what was done (checked, retried, unread, ignored, malformed, unanswered)",
            metrics.events.clone(),
        );
        registry.register(
            "event_stream_up",
            "1 while the last request for the vault's events succeeded; 0 while it fails or events are off",
            metrics.up.clone(),
        );
        registry.register(
            "event_stream_failures",
            "Failed requests for the vault's events, by reason",
            metrics.failures.clone(),
        );
        registry.register(
            "event_stream_requests",
            "Requests to Event Grid, by action (receive, acknowledge, release, renewLock)",
            metrics.requests.clone(),
        );
        registry.register(
            "event_delivery_seconds",
            "From an event's time to its receipt by the manager",
            metrics.delivery.clone(),
        );
        registry.register(
            "event_refresh_seconds",
            "From an event's receipt to the end of the checks it asked for",
            metrics.refresh.clone(),
        );
        metrics
    }

    /// One event, of `kind` (a bounded label), and what was done with it.
    pub fn event(&self, kind: &'static str, outcome: &'static str) {
        self.events
            .get_or_create(&EventLabel {
                r#type: kind,
                outcome,
            })
            .inc();
    }

    /// One request to Event Grid.
    pub fn request(&self, action: &'static str) {
        self.requests.get_or_create(&ActionLabel { action }).inc();
    }

    pub(super) fn up(&self, up: bool) {
        self.up.set(i64::from(up));
    }

    pub(super) fn failed(&self, reason: &'static str) {
        self.failures.get_or_create(&ReasonLabel { reason }).inc();
    }

    pub(super) fn delivered(&self, lag: Duration) {
        self.delivery.observe(lag.as_secs_f64());
    }

    pub(super) fn refreshed(&self, took: Duration) {
        self.refresh.observe(took.as_secs_f64());
    }
}

/// The stream's state, shared by the loop that reads it and whoever reports it.
#[derive(Default)]
pub struct StreamStatus(Mutex<StreamNote>);

impl StreamStatus {
    fn lock(&self) -> std::sync::MutexGuard<'_, StreamNote> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A term starts reading from `source`.
    pub fn starting(&self, source: String, now: SystemTime) {
        *self.lock() = StreamNote {
            state: STARTING.into(),
            source,
            since: Some(rfc3339(now)),
            ..StreamNote::default()
        };
    }

    /// A request succeeded, with `events` received (their lag each). `true` when the stream was failing.
    pub fn receiving(&self, now: SystemTime, lags: &[Duration]) -> bool {
        let mut note = self.lock();
        let recovered = note.state == FAILING;
        if note.state != RECEIVING {
            note.state = RECEIVING.into();
            note.since = Some(rfc3339(now));
            note.reason = None;
            note.message = None;
        }
        if let Some(lag) = lags.last() {
            note.last_event_time = Some(rfc3339(now));
            note.lag_seconds = Some((lag.as_secs_f64() * 1000.0).round() / 1000.0);
        }
        note.received += lags.len() as u64;
        recovered
    }

    /// A request failed. `true` when that is news: the stream was not failing, or fails for another reason.
    pub fn failing(&self, error: &StreamError, now: SystemTime) -> bool {
        let mut note = self.lock();
        let news = note.state != FAILING || note.reason.as_deref() != Some(error.reason);
        if news {
            note.state = FAILING.into();
            note.since = Some(rfc3339(now));
        }
        note.reason = Some(error.reason.into());
        note.message = Some(error.message.clone());
        news
    }

    /// The note as the Lease annotation's value; `None` before any term started.
    pub fn annotation(&self) -> Option<String> {
        let note = self.lock();
        (!note.state.is_empty()).then(|| serde_json::to_string(&*note).unwrap_or_default())
    }

    /// The note.
    pub fn note(&self) -> StreamNote {
        self.lock().clone()
    }
}

fn rfc3339(at: SystemTime) -> String {
    crate::clock::to_time(at).0.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_is_news_once_per_reason_and_recovery_says_so() {
        let status = StreamStatus::default();
        assert_eq!(status.annotation(), None);
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        status.starting("ns/t/s".into(), t);
        let forbidden = StreamError {
            reason: "Forbidden",
            message: "needs the role".into(),
        };
        assert!(status.failing(&forbidden, t));
        assert!(
            !status.failing(&forbidden, t + Duration::from_secs(5)),
            "the same failure again"
        );
        let gone = StreamError {
            reason: "NotFound",
            message: "no such subscription".into(),
        };
        assert!(status.failing(&gone, t), "another reason");
        assert!(status.receiving(t + Duration::from_secs(9), &[Duration::from_millis(1500)]));
        assert!(!status.receiving(t + Duration::from_secs(10), &[]));
        let note = status.note();
        assert_eq!(
            (note.state.as_str(), note.reason, note.received),
            (RECEIVING, None, 1)
        );
        assert_eq!(note.lag_seconds, Some(1.5));
        let json: serde_json::Value =
            serde_json::from_str(&status.annotation().unwrap_or_default()).unwrap_or_default();
        assert_eq!(json["state"], "Receiving");
        assert_eq!(json["source"], "ns/t/s");
        assert!(json.get("message").is_none());
    }
}
