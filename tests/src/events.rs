//! The vault's events in tier 2 and the benchmark: the emulator's Event Grid namespace topic, the manager's
//! real stream reader (`manager::vault_events::run`), and a stand-in for the controller's part (what
//! `controller/triggers.rs` `dispatcher` does with kube-runtime): the readers index over the classes, each
//! routed event marking a hint, making the SecretSync due and reconciling it through the [`Env`]'s context.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::channel::mpsc;
use keyvault_emulator::{EventGrid, SubscriptionOptions};
use kube::ResourceExt;
use kube::runtime::watcher;
use manager::vault_events::{self, Credential, PullClient, Readers, Stream, StreamStatus, Subscription};
use sse_api::{SecretProviderClass, SecretSync};
use tokio_util::sync::CancellationToken;

use crate::{Env, NS, VAULT};

/// The namespace, topic and queue subscription the vault delivers to.
pub const NAMESPACE: &str = "sse-events";
pub const TOPIC: &str = "keyvault";
pub const SUBSCRIPTION: &str = "cluster";
/// The namespace's access key.
pub const ACCESS_KEY: &str = "test-access-key";

/// The emulator's Event Grid with the suite's subscription, fed by the suite's vault, keyed by
/// [`ACCESS_KEY`]; locks last `lock`.
pub fn subscribe(env: &Env, lock: Duration) -> EventGrid {
    let grid = env.emulator.event_grid();
    grid.add_subscription(
        NAMESPACE,
        TOPIC,
        SUBSCRIPTION,
        SubscriptionOptions {
            lock_duration: lock,
            ..SubscriptionOptions::default()
        },
    );
    grid.route_vault(VAULT, NAMESPACE, TOPIC);
    grid.set_access_key(NAMESPACE, ACCESS_KEY);
    grid
}

/// How the manager reads it: `credential`, the emulator's CA, short waits.
pub fn stream(env: &Env, credential: Credential, max_wait: Duration) -> Arc<Stream> {
    Arc::new(settings(env, credential, max_wait))
}

/// [`stream`]'s settings, for a test to change one before it starts reading.
pub fn settings(env: &Env, credential: Credential, max_wait: Duration) -> Stream {
    let http = sse_runtime::outbound::client("sse-tests", Some(env.emulator.ca_pem().as_bytes()), None)
        .unwrap_or_else(|e| panic!("client: {e}"));
    let client = PullClient::new(
        http,
        Subscription {
            endpoint: env.emulator.eventgrid_url(NAMESPACE),
            topic: TOPIC.into(),
            subscription: SUBSCRIPTION.into(),
        },
        credential,
    );
    Stream {
        client: Arc::new(client),
        max_events: 100,
        max_wait,
        renew_every: Duration::from_secs(30),
        max_in_flight: 1000,
        release_delay: 0,
        give_up: Duration::from_secs(120),
        status: Arc::new(StreamStatus::default()),
    }
}

/// The stream running, with the controller's part played here.
pub struct Running {
    /// SecretSyncs by name, their status kept as the API double has it.
    pub syncs: Arc<Mutex<HashMap<String, SecretSync>>>,
    /// Events about the manager: (warning, reason, message).
    pub reports: mpsc::UnboundedReceiver<(bool, &'static str, String)>,
    /// Checks the dispatcher started, by SecretSync name, as they end.
    pub checked: mpsc::UnboundedReceiver<String>,
    stop: CancellationToken,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Start reading `stream` for `classes` and `syncs` (all in [`NS`]).
pub fn start(
    env: &Env,
    stream: Arc<Stream>,
    classes: &[SecretProviderClass],
    syncs: Vec<SecretSync>,
) -> Running {
    let readers = Arc::new(Readers::default());
    for class in classes {
        readers.apply(&watcher::Event::Apply(class.clone()));
    }
    let by_class: HashMap<String, Vec<String>> = syncs.iter().fold(HashMap::new(), |mut map, sync| {
        let class = format!("{NS}/{}", sync.spec.secret_provider_class_name);
        map.entry(class).or_default().push(sync.name_any());
        map
    });
    let syncs: Arc<Mutex<HashMap<String, SecretSync>>> =
        Arc::new(Mutex::new(syncs.into_iter().map(|s| (s.name_any(), s)).collect()));
    let (checked_tx, checked) = mpsc::unbounded();
    let dispatch: vault_events::Dispatch = {
        let (ctx, cluster, syncs) = (env.ctx.clone(), env.cluster.clone(), syncs.clone());
        Arc::new(move |news, arrived| {
            let mut waits = Vec::new();
            for (class, ids) in readers.of(news) {
                let ids = if news.kind == vault_events::news::Kind::NewVersion {
                    ids
                } else {
                    Vec::new()
                };
                for name in by_class.get(&*class).into_iter().flatten() {
                    let key = format!("{NS}/{name}");
                    waits.push(ctx.hints.mark(&key, &ids, arrived));
                    ctx.force(&key);
                    let (ctx, cluster, syncs, name) =
                        (ctx.clone(), cluster.clone(), syncs.clone(), name.clone());
                    let checked = checked_tx.clone();
                    tokio::spawn(async move {
                        let Some(mut sync) = syncs
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .get(&name)
                            .cloned()
                        else {
                            return;
                        };
                        crate::reconcile(&sync, &ctx).await;
                        sync.status = cluster.status(NS, &name);
                        syncs
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .insert(name.clone(), sync);
                        let _ = checked.unbounded_send(name);
                    });
                }
            }
            waits
        })
    };
    let (report_tx, reports) = mpsc::unbounded();
    let report: vault_events::Report = Arc::new(move |warning, reason, message| {
        let _ = report_tx.unbounded_send((warning, reason, message));
    });
    let stop = CancellationToken::new();
    tokio::spawn(vault_events::run(
        stream,
        dispatch,
        env.ctx.metrics.events().clone(),
        report,
        stop.clone(),
    ));
    Running {
        syncs,
        reports,
        checked,
        stop,
    }
}
