//! Process wiring: client, caches, provider clients, leader election, probes, metrics, controller, signals.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use anyhow::Context as _;
use kube::Client;
use sse_api::consts;
use tokio_util::sync::CancellationToken;

use crate::args::{RunArgs, parse_bind_address};
use crate::cluster::KubeCluster;
use crate::context::{Config, Context};
use crate::metrics::Metrics;

/// The overdue sweep runs once per poll interval, but at least every minute and at most every 10 s.
const SWEEP_MIN: Duration = Duration::from_secs(10);
const SWEEP_MAX: Duration = Duration::from_secs(60);

/// Run the controller until SIGTERM/SIGINT, through as many terms of leadership as it takes.
pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    sse_tls::install_crypto_provider();
    let audiences = args.audiences();
    let RunArgs {
        provider,
        token_request_audience: _,
        rotation_poll_interval_in_seconds,
        jitter_seconds,
        enable_partial_secret_sync,
        workers,
        max_concurrent_mounts,
        change_detection,
        min_refresh_interval,
        max_refresh_interval,
        status_heartbeat,
        watch_owned_secrets,
        reload_workloads,
        reload_min_interval,
        expiry_warning_window,
        akvsync,
        cluster_secret_sync,
        reconcile_timeout,
        shutdown_timeout,
        metrics_bind_address,
        health_probe_bind_address,
        debug_bind_address,
        events,
        leader_elect,
        leader_election_namespace,
        pod_name,
        pod_uid,
        pod_namespace,
        log_format: _,
        log_level: _,
    } = args;

    let shutdown = sse_runtime::shutdown::on_signals("finishing in-flight reconciles");

    // In a pod: the ServiceAccount token and CA (kube's own client). Run locally: the kubeconfig, any
    // client certificate kubectl takes included (sse_runtime::kube_client).
    let config = kube::Config::infer()
        .await
        .context("connect to the Kubernetes API")?;
    let client = sse_runtime::kube_client::client(config).context("connect to the Kubernetes API")?;
    let metrics = Metrics::default();
    metrics.set_max_concurrent_reconciles(workers);
    let ready = Arc::new(AtomicBool::new(false));
    // The reconciler exists only once this process leads; until then the schedule report is empty.
    let reconciler: Arc<std::sync::RwLock<Option<Arc<Context>>>> = Arc::default();
    let mut servers = Vec::new();
    if let Some(addr) = parse_bind_address(&health_probe_bind_address).map_err(anyhow::Error::msg)? {
        servers.push(
            crate::admin::serve_probes(addr, ready.clone(), shutdown.clone())
                .await?
                .1,
        );
    }
    if let Some(addr) = parse_bind_address(&debug_bind_address).map_err(anyhow::Error::msg)? {
        let slot = reconciler.clone();
        let report: crate::admin::Report = Arc::new(move || {
            let current = slot
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone();
            let entries = current.map(|ctx| ctx.schedule_report()).unwrap_or_default();
            // Straight to bytes: a `serde_json::Value` of 10,000 entries is a map per entry (~7 MiB).
            serde_json::to_vec(&entries).unwrap_or_default()
        });
        servers.push(crate::admin::serve_debug(addr, report, shutdown.clone()).await?.1);
    }
    if let Some(addr) = parse_bind_address(&metrics_bind_address).map_err(anyhow::Error::msg)? {
        servers.push(
            crate::admin::serve_metrics(addr, metrics.clone(), shutdown.clone())
                .await?
                .1,
        );
    }

    let providers = Arc::new(crate::provider::ProviderClients::from_args(
        &provider,
        max_concurrent_mounts,
    )?);
    providers.spawn_tls_reload(provider.provider_tls_reload_interval, shutdown.clone());
    providers.spawn_recovery_probe(shutdown.clone());

    let lease = leader_elect.then(|| {
        (
            leader_election_namespace
                .clone()
                .unwrap_or_else(|| pod_namespace.clone()),
            format!("{pod_name}_{}", instance_id(&pod_uid)),
        )
    });
    let poll_interval = Duration::from_secs(rotation_poll_interval_in_seconds.max(1));
    let config = Config {
        audiences,
        pod_name: pod_name.clone(),
        pod_uid,
        poll_interval,
        jitter: Duration::from_secs(jitter_seconds),
        partial_sync: enable_partial_secret_sync,
        reconcile_timeout,
        workers: usize::from(workers),
        change_detection,
        min_interval: min_refresh_interval,
        max_interval: max_refresh_interval,
        status_heartbeat: (!status_heartbeat.is_zero()).then_some(status_heartbeat),
        reload_min_interval: reload_workloads.then_some(reload_min_interval),
        expiry_window: expiry_warning_window,
        ..Config::default()
    };
    let stream = events.stream(reconcile_timeout)?.map(Arc::new);
    let settings = crate::controller::Settings {
        workers,
        watch_owned_secrets,
        sweep_interval: poll_interval.clamp(SWEEP_MIN, SWEEP_MAX),
        shutdown_timeout,
        events: stream.clone(),
        deployment: (pod_namespace.clone(), events.deployment_name.clone()),
    };
    // The stream's state rides on the Lease every renewal writes anyway (`kubectl sse status`, doctor).
    let lease_notes: crate::leader::Notes = Arc::new(move || {
        stream
            .as_ref()
            .and_then(|s| s.status.annotation())
            .map(|note| (crate::vault_events::health::ANNOTATION.to_string(), note))
            .into_iter()
            .collect()
    });
    // Terms of leadership, until the stop signal. A lost lease (another holder took it, or renewals failed
    // past their deadline: the API server or etcd away) ends a term, not the process: the manager stops
    // every reconcile, forgets what it held in memory, and campaigns again, like a newly started one. A
    // restart would add nothing but a container restart count that walks a pod into CrashLoopBackOff
    // during an API-server outage. Without leader election there is one term.
    loop {
        let term = Term {
            client: client.clone(),
            providers: providers.clone(),
            config: config.clone(),
            settings: settings.clone(),
            metrics: metrics.clone(),
            ready: ready.clone(),
            reconciler: reconciler.clone(),
            akvsync,
            fanout: cluster_secret_sync.then(|| pod_namespace.clone()),
            instance: Some(pod_name.clone()).filter(|name| !name.is_empty()),
        };
        let lost = match &lease {
            Some((namespace, identity)) => {
                // The Lease through the same port as every other request (no SecretProviderClass cache
                // needed for it).
                let leases: Arc<dyn crate::cluster::Cluster> = Arc::new(KubeCluster::new(
                    client.clone(),
                    Arc::new(crate::classes::Classes::default()),
                    None,
                ));
                let Some(held) = crate::leader::acquire(
                    leases,
                    namespace,
                    consts::LEADER_ELECTION_ID,
                    identity,
                    lease_notes.clone(),
                    shutdown.clone(),
                )
                .await
                else {
                    tracing::info!("stopped before becoming leader");
                    break;
                };
                let stop = shutdown.child_token();
                let lost = held.lost.clone();
                let watch = tokio::spawn({
                    let (lost, stop) = (lost.clone(), stop.clone());
                    async move {
                        lost.cancelled().await;
                        tracing::error!("lost the lease: stepping down");
                        stop.cancel();
                    }
                });
                term.run(stop).await;
                watch.abort();
                let lost = lost.is_cancelled();
                held.release().await;
                lost
            }
            None => {
                term.run(shutdown.clone()).await;
                false
            }
        };
        if !lost || shutdown.is_cancelled() {
            break;
        }
        metrics.lease_lost();
        tracing::warn!("stepped down: campaigning for the lease again");
    }
    shutdown.cancel();
    for server in servers {
        let _ = server.await;
    }
    tracing::info!("stopped");
    Ok(())
}

/// What one term of leadership needs: a fresh reconciler each time (nothing a previous term learned is
/// trusted after another holder may have acted).
struct Term {
    client: Client,
    providers: Arc<crate::provider::ProviderClients>,
    config: Config,
    settings: crate::controller::Settings,
    metrics: Metrics,
    ready: Arc<AtomicBool>,
    reconciler: Arc<std::sync::RwLock<Option<Arc<Context>>>>,
    akvsync: bool,
    /// Fan-out on, with the install namespace.
    fanout: Option<String>,
    instance: Option<String>,
}

impl Term {
    /// Reconcile until `stop`; in-flight reconciles get the shutdown timeout.
    async fn run(self, stop: CancellationToken) {
        let classes = Arc::new(crate::classes::Classes::default());
        let cluster = Arc::new(KubeCluster::new(
            self.client.clone(),
            classes.clone(),
            self.instance,
        ));
        let ctx = Arc::new(Context::new(
            cluster.clone(),
            self.providers,
            self.config,
            self.metrics,
        ));
        *self
            .reconciler
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(ctx.clone());
        let akvsyncs = self.akvsync.then(|| {
            tokio::spawn(crate::akvsync::run(
                self.client.clone(),
                cluster.clone(),
                stop.clone(),
            ))
        });
        let fanout = self.fanout.map(|install_namespace| {
            let fan_ctx = Context::new(
                cluster.clone(),
                ctx.providers.clone(),
                ctx.config.clone(),
                ctx.metrics.clone(),
            );
            tokio::spawn(crate::fanout::run(
                self.client.clone(),
                fan_ctx,
                classes.clone(),
                install_namespace,
                stop.clone(),
            ))
        });
        let shutdown_timeout = self.settings.shutdown_timeout;
        crate::controller::run(
            self.client,
            ctx,
            classes,
            self.settings,
            self.ready.clone(),
            stop.clone(),
        )
        .await;
        stop.cancel();
        self.ready.store(false, std::sync::atomic::Ordering::Release);
        *self
            .reconciler
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
        if let Some(fanout) = fanout {
            // A fan-out reconcile is bounded by --reconcile-timeout and its requests by theirs.
            let _ = tokio::time::timeout(shutdown_timeout, fanout).await;
        }
        if let Some(akvsyncs) = akvsyncs {
            // In-flight AKVSync reconciles are a few API calls, each bounded by the client's timeouts.
            let _ = tokio::time::timeout(shutdown_timeout, akvsyncs).await;
        }
    }
}

/// A holder identity unique to this process: the pod UID, or the process id outside a pod.
fn instance_id(uid: &str) -> String {
    if uid.is_empty() {
        std::process::id().to_string()
    } else {
        uid.to_string()
    }
}
