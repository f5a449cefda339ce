//! Tier 2: fan-out (issue 22, docs/API.md#clustersecretsync). One ClusterSecretSync, its Secret fetched once
//! with the real provider over mTLS and the Key Vault emulator, written to every selected namespace of the
//! in-memory API double: selection by label and by name, a namespace joining and leaving, a foreign Secret
//! left alone and reported, a rotation reaching every namespace with one vault read, a quiet check writing
//! nothing, a failed fetch keeping every last value, the bounded status, both deletion policies, and the
//! sweep of a new term.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::sync::Arc;

use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use manager::context::Context;
use manager::fake::Call;
use manager::fanout::namespaces::FixedNamespaces;
use manager::fanout::{Fanout, Reconciled, reconcile};
use sse_api::cluster_secret_sync::{LABEL, NamespaceSelection, OPT_OUT_LABEL};
use sse_api::{ClusterSecretSync, ClusterSecretSyncSpec, DeletionPolicy, SecretObject, SecretObjectData};
use sse_tests::*;

const NAME: &str = "registry";

/// The fan-out over the tier-2 world: the install namespace is the suite's (its ServiceAccount federates to
/// the emulator's Entra).
struct Fan {
    env: Env,
    namespaces: FixedNamespaces,
    fan: Fanout,
}

impl Fan {
    async fn start() -> Self {
        let env = Env::start().await;
        env.emulator.store().set_secret(VAULT, "dockerconfig", "v1");
        env.put_class("acr", "azure", &["objectName: dockerconfig\nobjectType: secret"]);
        let namespaces = FixedNamespaces::default();
        let fan = Fanout::new(context(&env), Arc::new(namespaces.clone()), NS);
        Self { env, namespaces, fan }
    }

    /// A manager restart: a new fan-out over the same cluster, provider and namespaces.
    fn restart(&mut self) {
        self.fan = Fanout::new(context(&self.env), Arc::new(self.namespaces.clone()), NS);
    }

    /// Store a ClusterSecretSync as an administrator would.
    fn put(&self, namespaces: serde_json::Value, policy: DeletionPolicy) -> ClusterSecretSync {
        let mut css = ClusterSecretSync::new(
            NAME,
            ClusterSecretSyncSpec {
                secret_provider_class_name: "acr".into(),
                service_account_name: SA.into(),
                secret_object: SecretObject {
                    data: vec![SecretObjectData {
                        source_path: "dockerconfig".into(),
                        target_key: "config".into(),
                        property: None,
                    }],
                    ..SecretObject::default()
                },
                namespaces: serde_json::from_value::<NamespaceSelection>(namespaces).unwrap(),
                deletion_policy: policy,
                force_synchronization: None,
            },
        );
        css.metadata.name = Some(NAME.into());
        self.env.cluster.put_cluster_sync(css)
    }

    /// Reconcile the resource as stored now (its status included), as the controller would.
    async fn reconcile(&self) -> Reconciled {
        let css = self.env.cluster.cluster_sync(NAME).unwrap();
        reconcile(&css, &self.fan).await.unwrap()
    }

    /// Reach the next scheduled check, then reconcile.
    async fn poll(&self) -> Reconciled {
        self.fan.ctx.expire(&format!("{NS}/{NAME}"));
        self.reconcile().await
    }

    fn secret(&self, ns: &str) -> Option<Secret> {
        self.env.cluster.secret(ns, NAME)
    }

    fn value(&self, ns: &str) -> Option<String> {
        let data = self.secret(ns)?.data?;
        Some(String::from_utf8_lossy(&data.get("config")?.0).into_owned())
    }

    fn status(&self) -> sse_api::ClusterSecretSyncStatus {
        self.env
            .cluster
            .cluster_sync(NAME)
            .and_then(|c| c.status)
            .unwrap_or_default()
    }

    fn gets(&self) -> u64 {
        self.env
            .emulator
            .counters()
            .get("secrets.get")
            .copied()
            .unwrap_or(0)
    }

    /// The writes the API server persisted or could have (everything but test-only patches answered 200,
    /// 404 or 422, and Events).
    fn writes(&self) -> Vec<Call> {
        self.env
            .cluster
            .calls()
            .into_iter()
            .filter(|c| {
                !matches!(
                    c,
                    Call::PatchSecret(_, 200 | 404 | 422) | Call::Event(..) | Call::RequestToken(_)
                )
            })
            .collect()
    }
}

fn context(env: &Env) -> Context {
    Context::new(
        Arc::new(env.cluster.clone()),
        env.ctx.providers.clone(),
        env.ctx.config.clone(),
        manager::metrics::Metrics::default(),
    )
}

fn ready(status: &sse_api::ClusterSecretSyncStatus) -> (String, String) {
    let c = sse_api::conditions::find_condition(&status.conditions, "Ready").unwrap();
    (c.status.clone(), c.reason.clone())
}

#[tokio::test]
async fn fanout_selects_by_label_and_by_name_with_one_vault_read() {
    let f = Fan::start().await;
    f.namespaces.put("team-a", &[("registry", "yes")]);
    f.namespaces
        .put("team-b", &[("registry", "yes"), ("env", "prod")]);
    f.namespaces.put("team-c", &[("registry", "yes"), ("env", "dev")]);
    f.namespaces.put("other", &[]);
    f.namespaces.put("listed", &[]);
    f.namespaces
        .put("opted", &[("registry", "yes"), (OPT_OUT_LABEL, "true")]);
    f.namespaces.put("kube-public", &[("registry", "yes")]);
    f.namespaces.put("kube-system", &[]);
    f.namespaces.put(NS, &[("registry", "yes")]);
    f.put(
        serde_json::json!({
            "names": ["listed", "opted", "kube-system"],
            "selector": {"matchLabels": {"registry": "yes"},
                         "matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["dev"]}]}
        }),
        DeletionPolicy::Delete,
    );
    let done = f.reconcile().await;
    assert!(done.fetched);
    for ns in ["team-a", "team-b", "listed", "kube-system"] {
        assert_eq!(f.value(ns).as_deref(), Some("v1"), "{ns}");
        let secret = f.secret(ns).unwrap();
        assert_eq!(secret.labels()[LABEL], NAME);
        let owner = &secret.owner_references()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.controller),
            ("ClusterSecretSync", Some(true))
        );
    }
    for ns in ["team-c", "other", "opted", "kube-public", NS] {
        assert!(f.secret(ns).is_none(), "{ns} is not selected");
    }
    assert_eq!(f.gets(), 1, "one vault read for four namespaces");
    let status = f.status();
    assert_eq!((status.namespaces.selected, status.namespaces.synced), (4, 4));
    assert_eq!(ready(&status), ("True".into(), "AllNamespacesSynced".into()));
}

#[tokio::test]
async fn fanout_namespace_joining_gets_its_secret_and_one_leaving_loses_ours_only() {
    let f = Fan::start().await;
    f.namespaces.put("team-a", &[("registry", "yes")]);
    f.namespaces.put("team-b", &[("registry", "yes")]);
    f.put(
        serde_json::json!({"selector": {"matchLabels": {"registry": "yes"}}}),
        DeletionPolicy::Delete,
    );
    f.reconcile().await;
    let before = f.secret("team-a").unwrap().metadata.resource_version;

    // A namespace created with the label: its Secret at the next reconcile (the namespace watch triggers it),
    // not at the next poll; the others are not rewritten.
    f.env.cluster.clear_calls();
    f.namespaces.put("team-new", &[("registry", "yes")]);
    let done = f.reconcile().await;
    assert!(done.fetched);
    assert_eq!(f.value("team-new").as_deref(), Some("v1"));
    assert_eq!(f.secret("team-a").unwrap().metadata.resource_version, before);
    let applies: Vec<Call> = f
        .writes()
        .into_iter()
        .filter(|c| matches!(c, Call::ApplySecret(_)))
        .collect();
    assert_eq!(applies, [Call::ApplySecret(format!("team-new/{NAME}"))]);

    // Relabelled out: its Secret is deleted; a namespace whose same-named Secret is a user's keeps it.
    f.namespaces.put("team-a", &[]);
    f.env.cluster.clear_calls();
    let done = f.reconcile().await;
    assert_eq!(done.left, 1);
    assert!(f.secret("team-a").is_none());
    assert!(
        f.env
            .cluster
            .calls()
            .contains(&Call::DeleteSecret(format!("team-a/{NAME}"), 200))
    );
    assert_eq!(f.value("team-b").as_deref(), Some("v1"));
    let status = f.status();
    assert_eq!((status.namespaces.selected, status.namespaces.synced), (2, 2));

    // Opting out removes it as well.
    f.namespaces
        .put("team-b", &[("registry", "yes"), (OPT_OUT_LABEL, "true")]);
    f.reconcile().await;
    assert!(f.secret("team-b").is_none());
}

#[tokio::test]
async fn fanout_foreign_secret_left_untouched_and_reported() {
    let f = Fan::start().await;
    for ns in ["team-a", "team-b"] {
        f.namespaces.put(ns, &[("registry", "yes")]);
    }
    let mut foreign = Secret::default();
    foreign.metadata.name = Some(NAME.into());
    foreign.metadata.namespace = Some("team-b".into());
    // Even marked adoptable: fan-out never adopts.
    foreign.metadata.annotations = Some([("sse-rs.io/adoptable".to_string(), "true".to_string())].into());
    foreign.data = Some([("config".to_string(), k8s_openapi::ByteString(b"mine".to_vec()))].into());
    f.env.cluster.put_foreign_secret(foreign.clone());
    f.put(
        serde_json::json!({"selector": {"matchLabels": {"registry": "yes"}}}),
        DeletionPolicy::Delete,
    );
    f.reconcile().await;
    assert_eq!(f.value("team-a").as_deref(), Some("v1"));
    assert_eq!(f.value("team-b").as_deref(), Some("mine"), "left untouched");
    assert!(f.secret("team-b").unwrap().owner_references().is_empty());
    let status = f.status();
    assert_eq!((status.namespaces.synced, status.namespaces.failed), (1, 1));
    assert_eq!(status.failures[0].namespace, "team-b");
    assert_eq!(status.failures[0].reason, "ForeignSecret");
    assert_eq!(ready(&status), ("False".into(), "NamespacesFailing".into()));
    assert!(f.env.cluster.calls().contains(&Call::Event(
        format!("default/{NAME}/team-b"),
        "NamespaceFailed".into()
    )));
    // Relabelled out, the user's Secret is still theirs: the ownership tests fail, nothing is deleted.
    f.namespaces.put("team-b", &[]);
    f.reconcile().await;
    assert_eq!(f.value("team-b").as_deref(), Some("mine"));
    assert!(
        !f.env
            .cluster
            .calls()
            .iter()
            .any(|c| matches!(c, Call::DeleteSecret(..)))
    );
}

#[tokio::test]
async fn fanout_rotation_reaches_every_namespace_and_a_quiet_check_writes_nothing() {
    let f = Fan::start().await;
    let names: Vec<String> = (0..20).map(|i| format!("team-{i:02}")).collect();
    for ns in &names {
        f.namespaces.put(ns, &[("registry", "yes")]);
    }
    f.put(
        serde_json::json!({"selector": {"matchLabels": {"registry": "yes"}}}),
        DeletionPolicy::Delete,
    );
    f.reconcile().await;
    assert!(names.iter().all(|ns| f.value(ns).as_deref() == Some("v1")));

    f.env.emulator.store().set_secret(VAULT, "dockerconfig", "v2");
    let gets = f.gets();
    f.env.cluster.clear_calls();
    let done = f.poll().await;
    assert!(done.fetched);
    assert!(
        names.iter().all(|ns| f.value(ns).as_deref() == Some("v2")),
        "every namespace rotated"
    );
    assert_eq!(f.gets() - gets, 1, "one vault read for twenty namespaces");
    assert!(
        f.env
            .cluster
            .calls()
            .contains(&Call::Event(format!("default/{NAME}"), "ValueChanged".into()))
    );

    // Quiet: change detection finds nothing new, every Secret is as left: no Mount, no write of any kind.
    let gets = f.gets();
    f.env.cluster.clear_calls();
    let done = f.poll().await;
    assert!(done.fetched && !done.status_written);
    assert_eq!(f.gets(), gets, "no Mount");
    assert_eq!(f.writes(), Vec::<Call>::new(), "no apply, delete or status write");

    // A Secret edited in one namespace is repaired by the next check (one Mount for all).
    f.env
        .cluster
        .edit_secret_data("team-07", NAME, "config", b"tampered");
    f.poll().await;
    assert_eq!(f.value("team-07").as_deref(), Some("v2"));
}

#[tokio::test]
async fn fanout_fetch_failure_keeps_every_last_value() {
    let f = Fan::start().await;
    f.namespaces.put("team-a", &[("registry", "yes")]);
    f.put(
        serde_json::json!({"selector": {"matchLabels": {"registry": "yes"}}}),
        DeletionPolicy::Delete,
    );
    f.reconcile().await;
    f.env
        .emulator
        .store()
        .delete(VAULT, keyvault_emulator::ObjectKind::Secret, "dockerconfig");
    f.env.cluster.clear_calls();
    f.poll().await;
    assert_eq!(
        f.value("team-a").as_deref(),
        Some("v1"),
        "the last good value stays"
    );
    let status = f.status();
    let fetched = sse_api::conditions::find_condition(&status.conditions, "Fetched").unwrap();
    assert_eq!(
        (fetched.status.as_str(), fetched.reason.as_str()),
        ("False", "ProviderError")
    );
    assert_eq!(ready(&status).0, "False");
    assert!(
        !f.writes()
            .iter()
            .any(|c| matches!(c, Call::ApplySecret(_) | Call::DeleteSecret(..)))
    );
}

#[tokio::test]
async fn fanout_status_is_bounded() {
    let f = Fan::start().await;
    for i in 0..30 {
        let ns = format!("team-{i:02}");
        f.namespaces.put(&ns, &[("registry", "yes")]);
        let mut foreign = Secret::default();
        foreign.metadata.name = Some(NAME.into());
        foreign.metadata.namespace = Some(ns);
        f.env.cluster.put_foreign_secret(foreign);
    }
    f.namespaces.put("ok", &[("registry", "yes")]);
    f.put(
        serde_json::json!({"selector": {"matchLabels": {"registry": "yes"}}}),
        DeletionPolicy::Delete,
    );
    f.reconcile().await;
    let status = f.status();
    assert_eq!((status.namespaces.selected, status.namespaces.failed), (31, 30));
    assert_eq!((status.failures.len(), status.omitted_failures), (8, 22));
    assert!(serde_json::to_string(&status).unwrap().len() < 8192);
}

#[tokio::test]
async fn fanout_keep_policy_releases_and_delete_policy_leaves_it_to_garbage_collection() {
    let f = Fan::start().await;
    f.namespaces.put("team-a", &[("registry", "yes")]);
    f.put(serde_json::json!({"names": ["team-a"]}), DeletionPolicy::Keep);
    // The finalizer goes on before anything is written.
    f.reconcile().await;
    assert!(f.secret("team-a").is_none());
    let css = f.env.cluster.cluster_sync(NAME).unwrap();
    assert_eq!(css.finalizers(), ["sse-rs.io/keep-secrets"]);
    f.reconcile().await;
    assert_eq!(f.value("team-a").as_deref(), Some("v1"));

    f.env.cluster.delete_cluster_sync(NAME);
    f.reconcile().await;
    assert!(
        f.env.cluster.cluster_sync(NAME).is_none(),
        "the finalizer went: the resource is gone"
    );
    assert_eq!(
        f.env.cluster.collect_garbage(),
        0,
        "a released Secret has no owner to follow"
    );
    let kept = f.secret("team-a").unwrap();
    assert_eq!(f.value("team-a").as_deref(), Some("v1"));
    assert!(kept.owner_references().is_empty());
    assert!(!kept.labels().contains_key(LABEL) && !kept.labels().contains_key("secrets-store.sync.x-k8s.io"));
    assert_eq!(
        kept.annotations()["sse-rs.io/released-from"],
        format!("{NAME}/css-uid-{NAME}")
    );

    // Delete (the default): no finalizer; the garbage collector removes the Secret through its owner.
    f.env.cluster.delete_secret("team-a", NAME);
    f.put(serde_json::json!({"names": ["team-a"]}), DeletionPolicy::Delete);
    f.reconcile().await;
    assert_eq!(f.value("team-a").as_deref(), Some("v1"));
    assert!(f.env.cluster.cluster_sync(NAME).unwrap().finalizers().is_empty());
    f.env.cluster.delete_cluster_sync(NAME);
    assert_eq!(f.env.cluster.collect_garbage(), 1);
    assert!(f.secret("team-a").is_none());
}

#[tokio::test]
async fn fanout_sweep_after_restart_finds_a_namespace_that_left_meanwhile() {
    let mut f = Fan::start().await;
    f.namespaces.put("team-a", &[("registry", "yes")]);
    f.namespaces.put("team-b", &[("registry", "yes")]);
    f.put(
        serde_json::json!({"selector": {"matchLabels": {"registry": "yes"}}}),
        DeletionPolicy::Delete,
    );
    f.reconcile().await;
    // The manager is down while team-a is relabelled; a fresh term knows nothing of what it wrote.
    f.namespaces.put("team-a", &[]);
    f.restart();
    f.env.cluster.clear_calls();
    f.reconcile().await;
    assert!(f.secret("team-a").is_none(), "the sweep found and removed it");
    assert_eq!(f.value("team-b").as_deref(), Some("v1"));
    assert!(
        !f.writes().iter().any(|c| matches!(c, Call::ApplySecret(_))),
        "team-b was only checked"
    );
}

#[tokio::test]
async fn fanout_force_sync_is_answered_in_the_status() {
    let f = Fan::start().await;
    f.namespaces.put("team-a", &[("registry", "yes")]);
    f.put(serde_json::json!({"names": ["team-a"]}), DeletionPolicy::Delete);
    f.reconcile().await;
    let gets = f.gets();
    let mut css = f.env.cluster.cluster_sync(NAME).unwrap();
    css.metadata.annotations = Some([("sse-rs.io/force-sync".to_string(), "now-1".to_string())].into());
    f.env.cluster.put_cluster_sync(css);
    // Not due, nothing joined: only the request makes this check read the vault.
    let done = f.reconcile().await;
    assert!(done.fetched && done.status_written);
    assert_eq!(f.gets() - gets, 1, "the forced check read the vault");
    assert_eq!(f.status().force_sync_handled.as_deref(), Some("now-1"));
    let done = f.reconcile().await;
    assert!(!done.fetched, "answered once");
}
