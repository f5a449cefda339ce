//! `manager render`: one sync without a cluster. Reads the SecretProviderClass and SecretSync from YAML,
//! calls the provider exactly as the controller would, and prints the Secret that would be applied (values
//! redacted unless asked for) and the status that would be reported.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use anyhow::{Context as _, bail};
use async_trait::async_trait;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;
use serde::Deserialize as _;
use sse_api::{SecretProviderClass, SecretSync, SecretSyncStatus, consts};

use crate::args::RenderArgs;
use k8s_openapi::api::coordination::v1::Lease;

use crate::clock::to_time;
use crate::cluster::{Cluster, ClusterError, Generated, GeneratedKind, SecretPatch, Token};
use crate::context::{Config, Context};
use crate::provider::ProviderClients;
use crate::status;

/// A cluster with no Secret yet, the given SecretProviderClass and tokens, that records what is written.
struct RenderCluster {
    class: Arc<SecretProviderClass>,
    tokens: BTreeMap<String, String>,
    applied: Mutex<Option<Secret>>,
}

#[async_trait]
impl Cluster for RenderCluster {
    async fn secret_provider_class(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<Arc<SecretProviderClass>>, ClusterError> {
        let matches =
            self.class.name_any() == name && self.class.namespace().unwrap_or_default() == namespace;
        Ok(matches.then(|| self.class.clone()))
    }

    async fn request_token(
        &self,
        _namespace: &str,
        service_account: &str,
        audience: &str,
        expiration_seconds: i64,
    ) -> Result<Token, ClusterError> {
        let token = self.tokens.get(audience).cloned().ok_or_else(|| {
            ClusterError::new(
                404,
                "NotFound",
                &format!("no token for audience {audience:?} of serviceaccount {service_account:?}: pass --token {audience}=FILE"),
            )
        })?;
        let now = k8s_openapi::jiff::Timestamp::now();
        Ok(Token {
            token,
            expiration: Time(
                now.checked_add(k8s_openapi::jiff::SignedDuration::from_secs(expiration_seconds))
                    .unwrap_or(now),
            ),
        })
    }

    async fn patch_secret(&self, _: &str, name: &str, _: &SecretPatch) -> Result<String, ClusterError> {
        // Nothing exists in a render: every Secret is about to be created.
        Err(ClusterError::not_found("secrets", name))
    }

    async fn apply_secret(&self, secret: &Secret) -> Result<String, ClusterError> {
        *self
            .applied
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(secret.clone());
        Ok(String::new())
    }

    async fn write_status(&self, _: &SecretSync, _: &SecretSyncStatus) -> Result<(), ClusterError> {
        Ok(())
    }

    async fn event(&self, _: &SecretSync, _: bool, _: &str, _: &str) {}

    async fn reloadable_workloads(&self, _: &str) -> Result<Vec<crate::workload::Workload>, ClusterError> {
        // A render creates the Secret: nothing that uses it changes value.
        Ok(Vec::new())
    }

    async fn restart_workload(
        &self,
        _: &crate::workload::Workload,
        _: &BTreeMap<String, String>,
    ) -> Result<(), ClusterError> {
        Ok(())
    }

    async fn workload_event(&self, _: &crate::workload::Workload, _: &str, _: &str) {}

    // A render reconciles one SecretSync: no fan-out, no AKVSync, no leader election.
    async fn delete_secret(&self, _: &str, _: &str, _: &str) -> Result<(), ClusterError> {
        Err(no_cluster())
    }

    async fn write_cluster_status(
        &self,
        _: &sse_api::ClusterSecretSync,
        _: &sse_api::ClusterSecretSyncStatus,
    ) -> Result<(), ClusterError> {
        Err(no_cluster())
    }

    async fn patch_cluster_sync(&self, _: &str, _: &json_patch::Patch) -> Result<(), ClusterError> {
        Err(no_cluster())
    }

    async fn cluster_event(&self, _: &sse_api::ClusterSecretSync, _: bool, _: &str, _: &str) {}

    async fn generated_syncs(&self, _: &str, _: &str) -> Result<Vec<SecretSync>, ClusterError> {
        Err(no_cluster())
    }

    async fn generated(&self, _: GeneratedKind, _: &str, _: &str) -> Result<Option<Generated>, ClusterError> {
        Err(no_cluster())
    }

    async fn create_generated(&self, _: &Generated) -> Result<(), ClusterError> {
        Err(no_cluster())
    }

    async fn patch_generated(
        &self,
        _: GeneratedKind,
        _: &str,
        _: &str,
        _: &json_patch::Patch,
    ) -> Result<(), ClusterError> {
        Err(no_cluster())
    }

    async fn delete_generated_sync(&self, _: &str, _: &str, _: &str, _: &str) -> Result<(), ClusterError> {
        Err(no_cluster())
    }

    async fn write_akvsync_status(
        &self,
        _: &sse_api::AKVSync,
        _: &sse_api::AkvSyncStatus,
    ) -> Result<(), ClusterError> {
        Err(no_cluster())
    }

    async fn akvsync_event(&self, _: &sse_api::AKVSync, _: bool, _: &str, _: &str) {}

    async fn manager_event(&self, _: &str, _: &str, _: bool, _: &str, _: &str) {}

    async fn lease(&self, _: &str, _: &str) -> Result<Option<Lease>, ClusterError> {
        Err(no_cluster())
    }

    async fn create_lease(&self, _: &str, _: &Lease) -> Result<(), ClusterError> {
        Err(no_cluster())
    }

    async fn replace_lease(&self, _: &str, _: &Lease) -> Result<(), ClusterError> {
        Err(no_cluster())
    }
}

/// What a render answers to a request it has no use for.
fn no_cluster() -> ClusterError {
    ClusterError::new(0, "NoCluster", "manager render runs without a cluster")
}

/// What `render` produced.
pub struct Rendered {
    /// The Secret that would be applied, if the sync succeeded.
    pub secret: Option<Secret>,
    /// The status that would be reported.
    pub status: SecretSyncStatus,
}

/// Run one sync of the SecretSync in `args.files`.
pub async fn render(args: &RenderArgs) -> anyhow::Result<Rendered> {
    let (class, mut sync) = load(args)?;
    sync.metadata.uid.get_or_insert_with(|| "render".into());
    sync.metadata.generation.get_or_insert(1);
    let mut tokens = BTreeMap::new();
    for (audience, file) in &args.tokens {
        let token =
            std::fs::read_to_string(file).with_context(|| format!("read token file {}", file.display()))?;
        tokens.insert(audience.clone(), token.trim().to_string());
    }
    let cluster = Arc::new(RenderCluster {
        class: Arc::new(class),
        tokens: tokens.clone(),
        applied: Mutex::new(None),
    });
    let ctx = Context::new(
        cluster.clone(),
        Arc::new(ProviderClients::from_args(&args.provider, 16)?),
        Config {
            audiences: tokens.keys().cloned().collect(),
            partial_sync: args.enable_partial_secret_sync,
            // A render shows what a Mount returns.
            change_detection: false,
            ..Config::default()
        },
        crate::metrics::Metrics::default(),
    );
    let outcome = crate::sync::sync_once(&sync, &ctx)
        .await
        .map_or_else(|error| error.outcome(), |done| done.outcome);
    let now = SystemTime::now();
    let next = status::next(
        &SecretSyncStatus::default(),
        sync.metadata.generation,
        &outcome,
        &status::Check {
            now: to_time(now),
            next: to_time(now + ctx.schedule.phase_delay(&sync, now)),
            interval: sse_api::validation::format_duration(ctx.schedule.interval(&sync)),
            late_by: None,
            force_sync: None,
            validity: None,
            expiry_window: crate::expiry::DEFAULT_WINDOW,
        },
    );
    let secret = cluster
        .applied
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take();
    Ok(Rendered {
        secret,
        status: next.status,
    })
}

fn load(args: &RenderArgs) -> anyhow::Result<(SecretProviderClass, SecretSync)> {
    let mut classes = Vec::new();
    let mut syncs = Vec::new();
    for file in &args.files {
        let text = std::fs::read_to_string(file).with_context(|| format!("read {}", file.display()))?;
        for doc in serde_yaml_ng::Deserializer::from_str(&text) {
            let value = serde_yaml_ng::Value::deserialize(doc)
                .with_context(|| format!("parse {}", file.display()))?;
            match value.get("kind").and_then(serde_yaml_ng::Value::as_str) {
                Some(consts::SECRET_PROVIDER_CLASS_KIND) => {
                    classes.push(serde_yaml_ng::from_value::<SecretProviderClass>(value)?)
                }
                Some(consts::SECRET_SYNC_KIND) => syncs.push(serde_yaml_ng::from_value::<SecretSync>(value)?),
                _ => {}
            }
        }
    }
    let default_ns = |ns: Option<String>| ns.unwrap_or_else(|| "default".into());
    for c in &mut classes {
        c.metadata.namespace = Some(default_ns(c.metadata.namespace.take()));
    }
    let sync = match &args.name {
        Some(name) => syncs.into_iter().find(|s| &s.name_any() == name),
        None if syncs.len() == 1 => syncs.pop(),
        None => bail!(
            "the files hold {} SecretSyncs: choose one with --name",
            syncs.len()
        ),
    };
    let Some(mut sync) = sync else {
        bail!("no SecretSync found in the files")
    };
    sync.metadata.namespace = Some(default_ns(sync.metadata.namespace.take()));
    let class = classes
        .into_iter()
        .find(|c| c.name_any() == sync.spec.secret_provider_class_name)
        .with_context(|| {
            format!(
                "no SecretProviderClass {:?} in the files",
                sync.spec.secret_provider_class_name
            )
        })?;
    Ok((class, sync))
}

/// The Secret as YAML, data redacted unless `show_values`.
pub fn secret_yaml(secret: &Secret, show_values: bool) -> String {
    let mut value = serde_json::to_value(secret).unwrap_or_default();
    if !show_values && let Some(data) = value.get_mut("data").and_then(serde_json::Value::as_object_mut) {
        for (key, v) in data.iter_mut() {
            let len = secret
                .data
                .as_ref()
                .and_then(|d| d.get(key))
                .map_or(0, |b| b.0.len());
            *v = serde_json::Value::String(format!("<redacted: {len} bytes; --show-values prints it>"));
        }
    }
    if let Some(obj) = value.as_object_mut() {
        obj.insert("apiVersion".into(), "v1".into());
        obj.insert("kind".into(), "Secret".into());
    }
    serde_yaml_ng::to_string(&value).unwrap_or_default()
}

/// `manager render`: print the Secret and the status.
#[allow(clippy::print_stdout, reason = "render prints its result for the user")]
pub async fn print(args: &RenderArgs) -> anyhow::Result<()> {
    sse_tls::install_crypto_provider();
    let rendered = render(args).await?;
    match &rendered.secret {
        Some(secret) => {
            println!(
                "# Secret that would be applied (server-side apply, field manager {}):",
                consts::FIELD_MANAGER
            );
            print!("{}", secret_yaml(secret, args.show_values));
        }
        None => println!("# No Secret would be written."),
    }
    println!("---\n# SecretSync status that would be reported:");
    print!(
        "{}",
        serde_yaml_ng::to_string(&rendered.status).unwrap_or_default()
    );
    Ok(())
}
