//! `kubectl sse adopt NAME`: hand an existing Secret over to the SecretSync of the same name, with the
//! rights of whoever runs it.
//!
//! The Secret must carry the mark `sse-rs.io/adoptable: "true"` (the explicit consent; without it SSE-rs
//! never touches a Secret it did not create). The manager adopts a marked Secret by itself where it may;
//! where the API server runs the OwnerReferencesPermissionEnforcement admission plugin, setting an owner
//! reference on an existing object needs `delete` on it, which the manager deliberately lacks, and the
//! SecretSync reports that with this command as the way out. This command makes the one patch the manager
//! would have made (the SSE-rs label, the SecretSync as the only owner, the mark removed, pinned to the
//! Secret's resourceVersion and to `spec.secretObject.type`), then checks the vault at once as
//! `kubectl sse sync` does. It reads the Secret's metadata only.

use anyhow::{Context as _, Result, bail};
use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt as _;
use kube::api::{Api, Patch, PatchParams};
use sse_api::SecretSync;
use sse_api::consts::{ADOPTABLE_ANNOTATION, CONTROLLER_LABEL_KEY, CONTROLLER_LABEL_VALUE};

use crate::cli::{Output, Target, parse_duration};

/// `kubectl sse adopt` arguments.
#[derive(clap::Args, Debug)]
pub struct AdoptArgs {
    /// The Secret (and the SecretSync of the same name that takes it over).
    pub name: String,
    /// Longest wait for the manager's first check after the hand-over.
    #[arg(long, default_value = "2m", value_parser = parse_duration)]
    pub timeout: std::time::Duration,
    /// Output format of the result.
    #[arg(short, long, value_enum, default_value_t)]
    pub output: Output,
}

/// Run `adopt`.
pub async fn run(target: &Target, args: &AdoptArgs) -> Result<u8> {
    let Some(namespace) = &target.namespace else {
        bail!("adopt needs a namespace: use -n");
    };
    let name = &args.name;
    let syncs: Api<SecretSync> = Api::namespaced(target.client.clone(), namespace);
    let sync = syncs
        .get_opt(name)
        .await
        .with_context(|| format!("get secretsync {name}"))?
        .with_context(|| {
            format!("no secretsync {name} in namespace {namespace}: create it first, then adopt")
        })?;
    let secrets: Api<Secret> = Api::namespaced(target.client.clone(), namespace);
    let meta = secrets
        .get_metadata_opt(name)
        .await
        .with_context(|| format!("get secret {name}"))?
        .with_context(|| format!("no secret {name} in namespace {namespace}: nothing to adopt"))?;
    let owner = sync.secret_owner();
    let already = meta
        .labels()
        .get(CONTROLLER_LABEL_KEY)
        .is_some_and(|v| v == CONTROLLER_LABEL_VALUE)
        && meta.owner_references() == [owner.clone()];
    if !already {
        if meta.annotations().get(ADOPTABLE_ANNOTATION).map(String::as_str) != Some("true") {
            bail!(
                "secret {name} is not marked for adoption: its editor marks it first with kubectl annotate secret {name} -n {namespace} {ADOPTABLE_ANNOTATION}=true"
            );
        }
        let resource_version = meta.resource_version().unwrap_or_default();
        let patch = sync.adoption_patch(&resource_version, &sync.spec.secret_object.type_);
        secrets
            .patch(name, &PatchParams::default(), &Patch::Merge(patch))
            .await
            .map_err(|e| match e {
                kube::Error::Api(s) if s.code == 409 => anyhow::anyhow!("secret {name} changed while adopting it: run the command again"),
                kube::Error::Api(s) if s.code == 422 => anyhow::anyhow!(
                    "secret {name} cannot be adopted as it is: {} (a Secret's type cannot change; the SecretSync wants {})",
                    s.message,
                    sync.spec.secret_object.type_
                ),
                other => anyhow::Error::new(other).context(format!("adopt secret {name}")),
            })?;
        eprintln!("secret {namespace}/{name} handed over to secretsync {name}");
    }
    crate::sync::run(
        target,
        &crate::sync::SyncArgs {
            name: Some(name.clone()),
            all: false,
            timeout: args.timeout,
            wait: true,
            output: args.output,
        },
    )
    .await
}
