//! `kubectl sse migrate [NAME]`: the SecretProviderClass and SecretSync manifests equivalent to what
//! External Secrets Operator (an `ExternalSecret` with its `SecretStore`/`ClusterSecretStore`, provider
//! `azurekv`) or the Secrets Store CSI driver (`SecretProviderClass.spec.secretObjects`) does today, and
//! what cannot be carried over, and why.
//!
//! Input is files (`-f`, repeatable, `-` for stdin: YAML or JSON, several documents, `kind: List`) or the
//! cluster: ExternalSecrets (`external-secrets.io/v1`, else `v1beta1`) with the stores they use, and
//! SecretProviderClasses with `spec.secretObjects`. The only other thing read is the metadata of the
//! ServiceAccounts a workload-identity store names (their `azure.workload.identity/client-id`
//! annotation). No Secret is read: values are never read or printed.
//!
//! Output is the manifests (`---` separated), each source's preceded by a comment listing what was not
//! carried over; `-o json` gives `{"resources": [...], "notes": [{"source", "field", "reason"}]}`. Exit code 0
//! when everything was carried over, [`crate::EXIT_PARTIAL`] when something was not, 1 on an error.
//!
//! Translation is pure ([`migrate`] over the objects as JSON); [`run`] only reads and prints. A generated
//! SecretSync that SSE-rs would refuse ([`sse_api::validation::validate_spec`], the admission policy's Secret
//! types) is not printed: its note says why.
//!
//! Here is the command (arguments, [`run`], exit codes). `input` reads files and the cluster; `eso` and `csi`
//! translate ExternalSecrets and SecretProviderClasses, each SecretSync checked by `admission`; `migration`
//! holds the results and keeps one source per generated object; `render` prints them. `lenient` reads JSON
//! into typed partial objects as a JSON pointer would: a field of another type is absent.

mod admission;
mod csi;
mod eso;
mod input;
mod lenient;
mod migration;
mod render;
#[cfg(test)]
mod tests;

use std::path::PathBuf;

use anyhow::{Result, bail};

pub use self::admission::ALLOWED_SECRET_TYPES;
pub use self::eso::service_accounts_to_read;
pub use self::input::{Inputs, Origin, parse_documents};
pub use self::migration::{Migration, Note, Options, Resource, migrate};
pub use self::render::{render_json, render_yaml};
use crate::cli::TargetArgs;

/// `kubectl sse migrate` arguments.
#[derive(clap::Args, Debug)]
pub struct MigrateArgs {
    /// One ExternalSecret or SecretProviderClass (default: every one in the namespace, or in every namespace
    /// with -A).
    pub name: Option<String>,
    /// Read the objects from this file instead of the cluster (`-`: standard input); YAML or JSON, several
    /// documents or a `kind: List`. Repeatable. Objects without a namespace get -n's.
    #[arg(short = 'f', long = "filename")]
    pub filenames: Vec<PathBuf>,
    /// ServiceAccount for SecretSyncs whose source names none (a CSI SecretProviderClass: each pod brought its
    /// own; an ESO store without serviceAccountRef, or not on workload identity).
    #[arg(long, default_value = "default")]
    pub service_account: String,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t)]
    pub output: Format,
}

/// What `migrate` prints.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    /// The manifests, `---` separated, each source's notes as comments.
    #[default]
    Yaml,
    /// `{"resources": [...], "notes": [...]}`.
    Json,
}

/// Run `migrate`: from files without connecting, else from the cluster.
pub async fn run(target: &TargetArgs, args: &MigrateArgs) -> Result<u8> {
    let options = Options {
        name: args.name.clone(),
        service_account: args.service_account.clone(),
    };
    let (inputs, scope) = if args.filenames.is_empty() {
        let target = target.connect().await?;
        let inputs = input::read_cluster(&target, &options).await?;
        (inputs, crate::status::in_scope(&target))
    } else {
        (
            input::read_files(&args.filenames, target.namespace.as_deref())?,
            String::new(),
        )
    };
    let migrations = migrate(&inputs, &options);
    if migrations.is_empty() {
        if let Some(name) = &args.name {
            bail!(
                "no ExternalSecret, and no SecretProviderClass with spec.secretObjects, named {name}{scope}"
            );
        }
        if args.output == Format::Yaml {
            eprintln!(
                "Nothing to migrate{scope}: no ExternalSecrets, no SecretProviderClasses with spec.secretObjects."
            );
            return Ok(0);
        }
    }
    let text = match args.output {
        Format::Yaml => render_yaml(&migrations)?,
        Format::Json => render_json(&migrations)?,
    };
    print!("{text}");
    Ok(exit_code(&migrations))
}

/// 0 when everything was carried over (notes to check aside), [`crate::EXIT_PARTIAL`] otherwise.
pub fn exit_code(migrations: &[Migration]) -> u8 {
    if migrations.iter().flat_map(|m| &m.notes).any(|n| !n.check) {
        crate::EXIT_PARTIAL
    } else {
        0
    }
}
