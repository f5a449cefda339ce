//! Refresh driven by Key Vault's own events (docs/EVENTS.md#refresh-driven-by-events): the leader long-polls
//! an Event Grid namespace topic's queue subscription (outbound HTTPS only, so it works behind NAT), turns
//! each `…NewVersionCreated` event into a check, at once, of the SecretSyncs that read that object, and
//! settles the event by how the checks ended.
//!
//! ```text
//! receive ─▶ news::read ─▶ Dispatch (readers index → classes → SecretSyncs; Hints::mark + trigger)
//!         ─▶ wait for the checks (renewing the lock) ─▶ acknowledge │ release (delay) ─▶ receive …
//! ```
//!
//! An event is only a signal: its payload is never trusted for content. The check it asks for reads the
//! object afresh (change detection's `changed` ids), so a duplicate or an out-of-order event finds nothing
//! new and writes nothing. `NearExpiry`/`Expired` ask for a check that reads nothing from the vault: the
//! dates are known, the standing moves with the clock. Events for objects nobody reads are acknowledged and
//! counted. The poll stays the safety net: every SecretSync is still checked on its interval, and while the
//! stream fails ([`health`]) it is all there is.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use futures::StreamExt;
use futures::channel::mpsc;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

pub mod client;
pub mod health;
mod hints;
mod locks;
pub mod news;
mod readers;

pub use self::client::{Credential, PullClient, Settle, StreamError, Subscription};
pub use self::health::{EventMetrics, StreamStatus};
pub use self::hints::{Hint, Hints, Verdict};
pub use self::news::News;
pub use self::readers::Readers;

/// How the stream is read.
pub struct Stream {
    /// The pull client.
    pub client: Arc<PullClient>,
    /// Events per receive (1 to 100).
    pub max_events: u16,
    /// How long one receive waits for an event (10 s to 120 s): the idle cost is one request per this.
    pub max_wait: Duration,
    /// Renew the locks of events whose checks run this often (under the subscription's lock duration).
    pub renew_every: Duration,
    /// Events held locked at once while their checks run; a backlog is received in turns.
    pub max_in_flight: usize,
    /// After a failed check, the event comes again after this many seconds (0, 10, 60, 600 or 3600).
    pub release_delay: u32,
    /// An event whose checks have not ended after this long is released (it comes again).
    pub give_up: Duration,
    /// Where the stream stands (outlives terms of leadership: the Lease annotation reads it).
    pub status: Arc<StreamStatus>,
}

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stream")
            .field("source", &self.client.describe())
            .field("max_events", &self.max_events)
            .field("max_wait", &self.max_wait)
            .finish_non_exhaustive()
    }
}

/// Turns news into checks: the receivers answer when each check the news asked for has ended.
pub type Dispatch = Arc<dyn Fn(&News, SystemTime) -> Vec<oneshot::Receiver<Verdict>> + Send + Sync>;

/// Publishes an Event about the manager (warning, reason, message), best effort.
pub type Report = Arc<dyn Fn(bool, &'static str, String) + Send + Sync>;

/// First wait after a failed request; it doubles up to [`BACKOFF_MAX`].
const BACKOFF_BASE: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(60);

/// Read the stream until `stop` (the end of this term of leadership).
pub async fn run(
    stream: Arc<Stream>,
    dispatch: Dispatch,
    metrics: EventMetrics,
    report: Report,
    stop: CancellationToken,
) {
    let client = stream.client.clone();
    stream.status.starting(client.describe(), SystemTime::now());
    tracing::info!(source = %client.describe(), "reading the vault's events");
    let settle = spawn_settler(client.clone(), metrics.clone(), stop.clone());
    let locks = locks::Locks::new(stream.max_in_flight);
    locks::spawn_renewer(locks.clone(), settle.clone(), stream.renew_every, stop.clone());
    let mut failures: u32 = 0;
    loop {
        // Never more events locked than there is room for: a backlog comes in turns.
        let room = tokio::select! {
            () = stop.cancelled() => break,
            room = locks.room() => room,
        };
        let max_events = stream
            .max_events
            .min(u16::try_from(room).unwrap_or(u16::MAX))
            .max(1);
        let received = tokio::select! {
            () = stop.cancelled() => break,
            received = client.receive(max_events, stream.max_wait) => received,
        };
        metrics.request("receive");
        let now = SystemTime::now();
        match received {
            Ok(batch) => {
                failures = 0;
                metrics.up(true);
                let lags: Vec<Duration> = batch.iter().map(|r| lag(&r.event, now)).collect();
                for lag in &lags {
                    metrics.delivered(*lag);
                }
                if stream.status.receiving(now, &lags) {
                    tracing::info!(source = %client.describe(), "the event stream is back");
                    report(
                        false,
                        "EventStreamRecovered",
                        format!("receiving the vault's events from {} again", client.describe()),
                    );
                }
                for received in batch {
                    handle(&stream, &dispatch, &metrics, &settle, &locks, received, &stop);
                }
            }
            Err(error) => {
                metrics.up(false);
                metrics.failed(error.reason);
                failures = failures.saturating_add(1);
                if stream.status.failing(&error, now) {
                    tracing::warn!(reason = error.reason, %error, "the event stream failed: SecretSyncs keep their polling interval meanwhile");
                    report(
                        true,
                        "EventStreamFailed",
                        format!("{error}; SecretSyncs are still checked on their polling interval meanwhile"),
                    );
                }
                let delay = backoff(failures);
                tokio::select! {
                    () = stop.cancelled() => break,
                    () = tokio::time::sleep(delay) => {}
                }
            }
        }
    }
    metrics.up(false);
}

/// One received event: routed to its checks (held, its lock renewed, until they end), or settled at once
/// when nobody reads its object.
fn handle(
    stream: &Arc<Stream>,
    dispatch: &Dispatch,
    metrics: &EventMetrics,
    settle: &mpsc::UnboundedSender<(Settle, String)>,
    locks: &Arc<locks::Locks>,
    received: client::Received,
    stop: &CancellationToken,
) {
    let kind = news::type_label(&received.event);
    let token = received.broker.lock_token;
    let news = match news::read(&received.event) {
        Ok(news) => news,
        Err(unroutable) => {
            metrics.event(kind, unroutable.label());
            let _ = settle.unbounded_send((Settle::Acknowledge, token));
            return;
        }
    };
    let arrived = Instant::now();
    let waits = dispatch(&news, SystemTime::now());
    if waits.is_empty() {
        tracing::debug!(%news, "no SecretSync reads this object: acknowledged");
        metrics.event(kind, "unread");
        let _ = settle.unbounded_send((Settle::Acknowledge, token));
        return;
    }
    tracing::debug!(%news, checks = waits.len(), delivery = received.broker.delivery_count, "checking at once");
    let held = locks.hold(&token);
    let (stream, metrics, settle, stop) = (stream.clone(), metrics.clone(), settle.clone(), stop.clone());
    tokio::spawn(async move {
        let verdicts = tokio::select! {
            verdicts = futures::future::join_all(waits) => verdicts,
            () = tokio::time::sleep(stream.give_up) => {
                metrics.event(kind, "unanswered");
                let _ = settle.unbounded_send((Settle::Release(0), token));
                return;
            }
            // The next leader gets the event once its lock expires.
            () = stop.cancelled() => return,
        };
        let checked = verdicts.iter().all(|v| *v == Ok(Verdict::Checked));
        metrics.refreshed(arrived.elapsed());
        if checked {
            metrics.event(kind, "checked");
            let _ = settle.unbounded_send((Settle::Acknowledge, token));
        } else {
            metrics.event(kind, "retried");
            let _ = settle.unbounded_send((Settle::Release(stream.release_delay), token));
        }
        drop(held);
    });
}

/// Settlements (lock renewals too), sent in batches: whatever is queued when a request can go (up to 100
/// tokens per action).
fn spawn_settler(
    client: Arc<PullClient>,
    metrics: EventMetrics,
    stop: CancellationToken,
) -> mpsc::UnboundedSender<(Settle, String)> {
    let (tx, mut rx) = mpsc::unbounded::<(Settle, String)>();
    tokio::spawn(async move {
        loop {
            let first = tokio::select! {
                () = stop.cancelled() => return,
                next = rx.next() => match next { Some(next) => next, None => return },
            };
            let mut batch = vec![first];
            while batch.len() < locks::PER_REQUEST {
                match rx.try_recv() {
                    Ok(next) => batch.push(next),
                    _ => break,
                }
            }
            let mut by_action: Vec<(Settle, Vec<String>)> = Vec::new();
            for (how, token) in batch {
                match by_action.iter_mut().find(|(h, _)| *h == how) {
                    Some((_, tokens)) => tokens.push(token),
                    None => by_action.push((how, vec![token])),
                }
            }
            for (how, tokens) in by_action {
                metrics.request(how.action());
                let settled = tokio::select! {
                    () = stop.cancelled() => return,
                    settled = client.settle(how, &tokens) => settled,
                };
                match settled {
                    Ok(settled) if !settled.failed.is_empty() => tracing::debug!(
                        failed = settled.failed.len(),
                        "some events could not be settled (their lock expired): they come again"
                    ),
                    Ok(_) => {}
                    Err(error) => {
                        tracing::warn!(%error, "could not settle events: they come again once their lock expires")
                    }
                }
            }
        }
    });
    tx
}

/// From the event's `time` to `now`; zero when it has none or it is in the future.
fn lag(event: &serde_json::Value, now: SystemTime) -> Duration {
    event
        .get("time")
        .and_then(serde_json::Value::as_str)
        .and_then(|t| t.parse::<k8s_openapi::jiff::Timestamp>().ok())
        .map(SystemTime::from)
        .and_then(|t| now.duration_since(t).ok())
        .unwrap_or_default()
}

/// 1 s doubling to a minute, ±20 %.
fn backoff(failures: u32) -> Duration {
    let base = BACKOFF_BASE
        .saturating_mul(1 << failures.saturating_sub(1).min(6))
        .min(BACKOFF_MAX);
    let jitter = rand::random_range(0.8..1.2);
    base.mul_f64(jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_doubles_to_a_minute() {
        let around = |n: u32, secs: f64| {
            let d = backoff(n).as_secs_f64();
            d >= secs * 0.8 && d <= secs * 1.2
        };
        assert!(around(1, 1.0));
        assert!(around(3, 4.0));
        assert!(around(7, 60.0));
        assert!(around(50, 60.0));
    }

    #[test]
    fn lag_from_the_event_time() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_010);
        let event = serde_json::json!({"time": "2023-11-14T22:13:28.5Z"});
        assert_eq!(lag(&event, now), Duration::from_millis(1_500));
        assert_eq!(lag(&serde_json::json!({}), now), Duration::ZERO);
    }
}
