//! The command line: which subcommand, over the shared flags of [`crate::cli`].

use crate::cli::TargetArgs;

/// `kubectl sse`: SecretSync status, on-demand checks and migration to SSE-rs.
#[derive(clap::Parser, Debug)]
#[command(name = "kubectl-sse", bin_name = "kubectl sse", version)]
pub struct Cli {
    /// Which cluster and namespace.
    #[command(flatten)]
    pub target: TargetArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// When each SecretSync's vault was last checked, when its Secret last changed, the next check, why
    /// (--cluster: each ClusterSecretSync's, with its namespaces counted and the failing ones).
    Status(crate::status::StatusArgs),
    /// Check the vault now (sets the sse-rs.io/force-sync annotation) and wait for the manager's answer.
    Sync(crate::sync::SyncArgs),
    /// Hand a Secret marked sse-rs.io/adoptable=true over to the SecretSync of the same name, then check.
    Adopt(crate::adopt::AdoptArgs),
    /// Run the troubleshooting checklist on one SecretSync: each check's verdict and the command that fixes it.
    Doctor(crate::doctor::DoctorArgs),
    /// Print the SecretProviderClass + SecretSync equivalent to ESO ExternalSecrets (azurekv) or CSI
    /// secretObjects, and what cannot be carried over.
    ///
    /// Reads the cluster (ExternalSecrets with their SecretStores and ClusterSecretStores, SecretProviderClasses
    /// with spec.secretObjects) or -f files; never a Secret. Each source's manifests are preceded by comments
    /// saying what was not carried over and why. Exit code 0: everything carried over; 2: something was not;
    /// 1: an error.
    Migrate(crate::migrate::MigrateArgs),
    /// Render a SecretSync's Secret from sample values in a file, without a vault: test a property path or a
    /// template before it reaches a cluster. Exit code 2: the shape failed (the message says where).
    Render(crate::render::RenderArgs),
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use clap::Parser as _;

    use super::*;
    use crate::cli::Output;

    #[test]
    fn kubectl_flags_go_anywhere() {
        let cli = Cli::try_parse_from(["kubectl-sse", "status", "-n", "apps", "web", "-o", "wide"])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(cli.target.namespace.as_deref(), Some("apps"));
        let Command::Status(args) = cli.command else {
            panic!("status")
        };
        assert_eq!(args.name.as_deref(), Some("web"));
        assert_eq!(args.output, Output::Wide);
        let cli = Cli::try_parse_from([
            "kubectl-sse",
            "-A",
            "--context",
            "prod",
            "sync",
            "--all",
            "--timeout",
            "5m",
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(cli.target.all_namespaces);
        assert_eq!(cli.target.context.as_deref(), Some("prod"));
        let Command::Sync(args) = cli.command else {
            panic!("sync")
        };
        assert!(args.all);
        assert_eq!(args.timeout, Duration::from_secs(300));
    }
}
