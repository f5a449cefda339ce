//! The flags every subcommand shares, with kubectl's conventions: `--kubeconfig`, `--context`, `-n`, `-A`,
//! `-o`, `--request-timeout`; and the connection they make.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use kube::config::{KubeConfigOptions, Kubeconfig};

/// kubectl's cluster and namespace flags.
#[derive(clap::Args, Debug)]
pub struct TargetArgs {
    /// Path to the kubeconfig file (default: $KUBECONFIG, else ~/.kube/config).
    #[arg(long, global = true)]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use.
    #[arg(long, global = true)]
    pub context: Option<String>,
    /// The namespace (default: the context's).
    #[arg(short, long, global = true)]
    pub namespace: Option<String>,
    /// Every namespace.
    #[arg(short = 'A', long, global = true)]
    pub all_namespaces: bool,
    /// Longest wait for one API request.
    #[arg(long, global = true, default_value = "30s", value_parser = parse_duration)]
    pub request_timeout: Duration,
    /// Act as this user (impersonation, as kubectl's --as).
    #[arg(long = "as", global = true, value_name = "USER")]
    pub as_user: Option<String>,
    /// Act as a member of this group (repeatable; needs --as, as kubectl's --as-group).
    #[arg(long = "as-group", global = true, value_name = "GROUP", requires = "as_user")]
    pub as_groups: Vec<String>,
}

/// Output format, as kubectl's `-o`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Output {
    /// A table.
    #[default]
    Table,
    /// A table with more columns.
    Wide,
    /// JSON, for machines.
    Json,
    /// YAML.
    Yaml,
}

/// A connected client and the namespace scope.
pub struct Target {
    /// The API server.
    pub client: kube::Client,
    /// `None`: every namespace (`-A`).
    pub namespace: Option<String>,
}

impl TargetArgs {
    /// Read the kubeconfig and connect.
    pub async fn connect(&self) -> Result<Target> {
        let options = KubeConfigOptions {
            context: self.context.clone(),
            cluster: None,
            user: None,
        };
        let mut config = match &self.kubeconfig {
            Some(path) => {
                let kubeconfig = Kubeconfig::read_from(path)
                    .with_context(|| format!("read kubeconfig {}", path.display()))?;
                kube::Config::from_custom_kubeconfig(kubeconfig, &options).await?
            }
            None => kube::Config::from_kubeconfig(&options)
                .await
                .context("read kubeconfig ($KUBECONFIG or ~/.kube/config)")?,
        };
        sse_runtime::kube_client::trim_token_file(&mut config.auth_info);
        if let Some(user) = &self.as_user {
            config.auth_info.impersonate = Some(user.clone());
            config.auth_info.impersonate_groups =
                (!self.as_groups.is_empty()).then(|| self.as_groups.clone());
        }
        config.connect_timeout = Some(self.request_timeout);
        config.read_timeout = Some(self.request_timeout);
        config.write_timeout = Some(self.request_timeout);
        let namespace = if self.all_namespaces {
            if self.namespace.is_some() {
                bail!("-n and -A exclude each other");
            }
            None
        } else {
            Some(
                self.namespace
                    .clone()
                    .unwrap_or_else(|| config.default_namespace.clone()),
            )
        };
        Ok(Target {
            client: sse_runtime::kube_client::client(config)?,
            namespace,
        })
    }
}

/// A duration as kubectl writes it: a Go duration (`30s`, `2m`, `1h30m`, [`sse_api::duration::parse`]) or
/// plain seconds.
pub fn parse_duration(value: &str) -> Result<Duration, String> {
    match value.trim().parse::<u64>() {
        Ok(seconds) => Ok(Duration::from_secs(seconds)),
        Err(_) => sse_api::duration::parse(value).map_err(|e| e.to_string()),
    }
}

/// `error` and its causes on one line, each said once: kube and hyper put their source's text into their own
/// message and then report the source again, so a plain `{:#}` says "client error (Connect): client error
/// (Connect): …".
pub fn one_line(error: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {

    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("45"), Ok(Duration::from_secs(45)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5d").is_err());
        assert!(
            parse_duration("99999999999999999h").is_err(),
            "overflow is an error, not a panic"
        );
    }

    #[test]
    fn each_cause_is_said_once() {
        #[derive(Debug)]
        struct Wrap(&'static str, Option<Box<Wrap>>);
        impl std::fmt::Display for Wrap {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.0)
            }
        }
        impl std::error::Error for Wrap {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                self.1.as_deref().map(|e| e as _)
            }
        }
        // As kube reports a refused connection: its message repeats its source's.
        let inner = Wrap("tcp connect error: Connection refused", None);
        let hyper = Wrap("client error (Connect)", Some(Box::new(inner)));
        let hyper_again = Wrap("client error (Connect)", Some(Box::new(hyper)));
        let kube = Wrap(
            "ServiceError: client error (Connect)",
            Some(Box::new(hyper_again)),
        );
        let error = anyhow::Error::new(kube).context("list secretsyncs");
        assert_eq!(
            one_line(&error),
            "list secretsyncs: ServiceError: client error (Connect): tcp connect error: Connection refused"
        );
    }
}
