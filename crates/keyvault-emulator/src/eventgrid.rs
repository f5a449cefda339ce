//! Event Grid namespaces with pull delivery, fed by the vaults' writes (`docs/EVENTGRID.md`).
//!
//! Namespace `ns` lives at `https://ns.eventgrid.localhost:PORT` on the vaults' listener. A namespace, its
//! topics and its queue subscriptions exist once [`EventGrid::add_subscription`] named them. A vault's
//! "system topic" delivers to the namespace topics [`EventGrid::route_vault`] names, and every queue
//! subscription of a topic gets its own copy of each event. The wire (the five routes, their errors and
//! authentication) is in `routes`; one subscription's locks and redelivery in `queue`; the Key Vault
//! CloudEvents in `events`; publish faults and their knobs in `faults`; held receives and the tests' waits
//! in `waiting`.
//!
//! A receive that finds nothing parks until the subscription changes (a `watch` channel bumped by every
//! publish, settlement, receive and parked receiver), until a lock or release delay it waits on runs out (a
//! timer for that instant), or until `maxWaitTime`: no polling.

mod events;
mod faults;
mod queue;
pub(crate) mod routes;
mod waiting;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, SystemTime};

use serde_json::Value;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use self::events::{Happened, expiry_due, key_vault_event};
use self::faults::{Bound, PublishFaults};
use self::queue::{Outcome, Queue, Settle};
use crate::store::NewVersion;
use crate::{Store, VAULT_DNS_SUFFIX};

/// The Event Grid resource (token audience): the one the official SDKs ask a token for
/// (`https://eventgrid.azure.net/.default`).
pub const EVENTGRID_RESOURCE: &str = "https://eventgrid.azure.net";

/// The DNS suffix of namespace hosts, without port.
pub const EVENTGRID_DNS_SUFFIX: &str = "eventgrid.localhost";

/// A queue subscription's settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubscriptionOptions {
    /// How long a received event stays locked (`receiveLockDurationInSeconds`; the real service allows
    /// 60–300 s, the emulator any length, so tests can let locks run out quickly). Default 60 s.
    pub lock_duration: Duration,
    /// Deliveries before an event whose lock ran out or that was released is dead-lettered (the real
    /// service allows 1–10). Default 10.
    pub max_delivery_count: u32,
}

impl Default for SubscriptionOptions {
    fn default() -> Self {
        Self {
            lock_duration: Duration::from_secs(60),
            max_delivery_count: 10,
        }
    }
}

/// What happened on one subscription since it was added.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SubscriptionStats {
    /// Events enqueued (duplicates count twice).
    pub queued: u64,
    /// Deliveries by receive (redeliveries count again).
    pub delivered: u64,
    /// Lock tokens acknowledged.
    pub acknowledged: u64,
    /// Lock tokens released.
    pub released: u64,
    /// Lock tokens rejected.
    pub rejected: u64,
    /// Locks renewed.
    pub lock_renewals: u64,
    /// Events dropped after `max_delivery_count` deliveries.
    pub dead_lettered: u64,
    /// Events the drop fault kept from this subscription.
    pub dropped: u64,
}

/// A subscription's address: lowercase `(namespace, topic, subscription)`.
type SubKey = (String, String, String);

fn key(namespace: &str, topic: &str, subscription: &str) -> SubKey {
    let lower = str::to_ascii_lowercase;
    (lower(namespace), lower(topic), lower(subscription))
}

#[derive(Default)]
struct State {
    queues: BTreeMap<SubKey, Queue>,
    /// `(vault, namespace, topic)`; vault `None` routes every vault.
    routes: Vec<(Option<String>, String, String)>,
    keys: HashMap<String, String>,
    denied: HashSet<String>,
    faults: PublishFaults,
    fail_status: Option<u16>,
    /// `(what, object id)` of the expiry events already published.
    expiry_sent: HashSet<(Happened, String)>,
    wire_second: Option<Duration>,
}

struct Inner {
    state: Mutex<State>,
    changed: watch::Sender<u64>,
    closed: CancellationToken,
    store: Store,
    port: u16,
}

/// Event Grid namespaces, topics and queue subscriptions, and their faults. Cheap to clone (shared state).
#[derive(Clone)]
pub struct EventGrid {
    inner: Arc<Inner>,
}

impl fmt::Debug for EventGrid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.lock();
        f.debug_struct("EventGrid")
            .field("subscriptions", &state.queues.keys().collect::<Vec<_>>())
            .field("routes", &state.routes)
            .finish_non_exhaustive()
    }
}

/// `ns.eventgrid.localhost:8443` → `ns`.
pub(crate) fn namespace_of_host(host: &str) -> Option<String> {
    crate::routes::host_label(host, EVENTGRID_DNS_SUFFIX)
}

impl EventGrid {
    /// The namespaces of an emulator on `port`, publishing what is written to `store`.
    pub(crate) fn new(store: Store, port: u16) -> Self {
        let inner = Arc::new(Inner {
            state: Mutex::new(State::default()),
            changed: watch::channel(0).0,
            closed: CancellationToken::new(),
            store: store.clone(),
            port,
        });
        let weak: Weak<Inner> = Arc::downgrade(&inner);
        store.set_listener(Arc::new(move |vault: &str, record: &NewVersion| {
            if let Some(inner) = weak.upgrade() {
                let grid = EventGrid { inner };
                grid.vault_event(vault, record, Happened::NewVersionCreated, SystemTime::now());
            }
        }));
        Self { inner }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.inner
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Wake every parked receive (something changed).
    fn bump(&self) {
        self.inner.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Create (or change the options of) a queue subscription on `namespace`/`topic`, creating both.
    pub fn add_subscription(
        &self,
        namespace: &str,
        topic: &str,
        subscription: &str,
        options: SubscriptionOptions,
    ) {
        let mut state = self.lock();
        let entry = state.queues.entry(key(namespace, topic, subscription));
        let queue = entry.or_insert_with(|| Queue::new(options.clone()));
        queue.options = options;
        drop(state);
        self.bump();
    }

    /// Deliver the events of `vault` (its system topic) to `namespace`/`topic`. Routes add up: a vault may
    /// deliver to several topics.
    pub fn route_vault(&self, vault: &str, namespace: &str, topic: &str) {
        let route = (
            Some(vault.to_ascii_lowercase()),
            namespace.to_ascii_lowercase(),
            topic.to_ascii_lowercase(),
        );
        self.lock().routes.push(route);
    }

    /// Deliver the events of every vault to `namespace`/`topic`.
    pub fn route_all_vaults(&self, namespace: &str, topic: &str) {
        let route = (None, namespace.to_ascii_lowercase(), topic.to_ascii_lowercase());
        self.lock().routes.push(route);
    }

    /// Publish a CloudEvent to `namespace`/`topic` through the publish faults; returns how many
    /// subscription copies were enqueued (0 for an unknown topic or a dropped or held-back event).
    pub fn publish(&self, namespace: &str, topic: &str, cloud_event: Value) -> usize {
        let (namespace, topic) = (namespace.to_ascii_lowercase(), topic.to_ascii_lowercase());
        let mut state = self.lock();
        let applied = state.faults.apply(&namespace, &topic, cloud_event);
        if applied.dropped {
            for queue in topic_queues(&mut state.queues, &namespace, &topic) {
                queue.stats.dropped += 1;
            }
        }
        let copies = enqueue(&mut state.queues, applied.deliver);
        drop(state);
        self.bump();
        copies
    }

    /// Accept `Authorization: SharedAccessKey {key}` on `namespace` (replacing any previous key).
    pub fn set_access_key(&self, namespace: &str, key: &str) {
        self.lock()
            .keys
            .insert(namespace.to_ascii_lowercase(), key.to_string());
    }

    /// Events of a subscription not yet settled: available (now or after a release delay) plus locked.
    pub fn pending(&self, namespace: &str, topic: &str, subscription: &str) -> usize {
        let mut state = self.lock();
        let Some(queue) = state.queues.get_mut(&key(namespace, topic, subscription)) else {
            return 0;
        };
        queue.refresh(Instant::now());
        queue.pending()
    }

    /// What happened on a subscription so far (`None` if it does not exist).
    pub fn stats(&self, namespace: &str, topic: &str, subscription: &str) -> Option<SubscriptionStats> {
        let mut state = self.lock();
        let queue = state.queues.get_mut(&key(namespace, topic, subscription))?;
        queue.refresh(Instant::now());
        Some(queue.stats.clone())
    }

    /// Receive requests parked on a subscription right now (found nothing, waiting for an event).
    pub fn waiting(&self, namespace: &str, topic: &str, subscription: &str) -> usize {
        let state = self.lock();
        state
            .queues
            .get(&key(namespace, topic, subscription))
            .map_or(0, |q| q.waiting)
    }

    /// Publish `NearExpiry` (30 days before `exp`) and `Expired` for the current version of every object
    /// of every routed vault whose time has come at `now`, each once per version; returns how many events
    /// were published. Nothing runs this by itself: tests call it with the time they want, the binary on a
    /// timer.
    pub fn expiry_pass(&self, now: SystemTime) -> usize {
        let unix = crate::timefmt::unix_secs(now);
        let mut published = 0;
        for (vault, record) in self.inner.store.current_versions() {
            for what in expiry_due(record.exp, unix) {
                let id = format!("{vault}/{:?}/{}/{}", record.kind, record.name, record.version);
                if self.lock().expiry_sent.insert((what, id)) {
                    published += self.vault_event(&vault, &record, what, now);
                }
            }
        }
        published
    }

    /// One wire second (`maxWaitTime`, `releaseDelayInSeconds`) lasts `d` (default 1 s): tests shorten the
    /// waits without changing what the client sends.
    pub fn set_wire_second(&self, d: Duration) {
        self.lock().wire_second = Some(d);
    }

    /// Publish the event of `what` for `record` to every topic `vault` is routed to; the copies enqueued.
    fn vault_event(&self, vault: &str, record: &NewVersion, what: Happened, now: SystemTime) -> usize {
        let targets: Vec<(String, String)> = {
            let state = self.lock();
            let routed = state
                .routes
                .iter()
                .filter(|(v, ..)| v.as_deref().is_none_or(|v| v == vault));
            let mut targets: Vec<_> = routed.map(|(_, ns, topic)| (ns.clone(), topic.clone())).collect();
            targets.sort();
            targets.dedup();
            targets
        };
        if targets.is_empty() {
            return 0;
        }
        let base = format!("https://{vault}.{VAULT_DNS_SUFFIX}:{}", self.inner.port);
        let event = key_vault_event(vault, &base, record, what, now);
        targets
            .iter()
            .map(|(ns, topic)| self.publish(ns, topic, event.clone()))
            .sum()
    }

    /// Wire seconds to a wait.
    pub(crate) fn wire(&self, secs: u64) -> Duration {
        let second = self.lock().wire_second.unwrap_or(Duration::from_secs(1));
        second.saturating_mul(u32::try_from(secs).unwrap_or(u32::MAX))
    }

    pub(crate) fn fail_status(&self) -> Option<u16> {
        self.lock().fail_status
    }

    pub(crate) fn access_key_matches(&self, namespace: &str, key: &str) -> bool {
        self.lock().keys.get(namespace).is_some_and(|k| k == key)
    }

    pub(crate) fn denied(&self, namespace: &str) -> bool {
        self.lock().denied.contains(namespace)
    }

    /// Which of namespace, topic and subscription is missing, if any.
    pub(crate) fn missing(&self, namespace: &str, topic: &str, subscription: &str) -> Option<&'static str> {
        let state = self.lock();
        let key = key(namespace, topic, subscription);
        let (ns, t, _) = &key;
        if !state.queues.keys().any(|(n, ..)| n == ns) {
            Some("namespace")
        } else if !state.queues.keys().any(|(n, tt, _)| n == ns && tt == t) {
            Some("topic")
        } else if !state.queues.contains_key(&key) {
            Some("subscription")
        } else {
            None
        }
    }

    /// Settle lock tokens on a subscription. `None`: no such subscription.
    pub(crate) fn settle(
        &self,
        namespace: &str,
        topic: &str,
        subscription: &str,
        tokens: &[String],
        how: Settle,
    ) -> Option<Outcome> {
        let outcome = {
            let mut state = self.lock();
            let queue = state.queues.get_mut(&key(namespace, topic, subscription))?;
            let now = Instant::now();
            queue.refresh(now);
            queue.settle(now, tokens, how)
        };
        self.bump();
        Some(outcome)
    }

    /// End every parked receive (the emulator is stopping).
    pub(crate) fn close(&self) {
        self.inner.closed.cancel();
    }
}

/// The subscriptions of one topic.
fn topic_queues<'a>(
    queues: &'a mut BTreeMap<SubKey, Queue>,
    namespace: &str,
    topic: &str,
) -> impl Iterator<Item = &'a mut Queue> {
    let (namespace, topic) = (namespace.to_string(), topic.to_string());
    queues
        .iter_mut()
        .filter(move |((n, t, _), _)| *n == namespace && *t == topic)
        .map(|(_, q)| q)
}

/// Enqueue each event on every subscription of its topic; the copies enqueued.
fn enqueue(queues: &mut BTreeMap<SubKey, Queue>, events: Vec<Bound>) -> usize {
    let now = Instant::now();
    let mut copies = 0;
    for (namespace, topic, event) in events {
        for queue in topic_queues(queues, &namespace, &topic) {
            queue.push(event.clone(), now);
            copies += 1;
        }
    }
    copies
}
