//! `kubectl sse render`: a SecretSync's Secret, shaped (docs/API.md#shaping) from sample values in a file
//! instead of the vault, so a property path or a template is tested before it reaches a cluster. It runs the
//! manager's own shaping code (`sse_shape::plan`); nothing is fetched from a vault and nothing is written.
//!
//! Samples are the provider's files by `sourcePath`, in YAML:
//!
//! ```yaml
//! acr-user: contoso                 # the text itself
//! acr-token: {base64: dDBrZW4=}     # bytes, as base64
//! db-config: {file: ./db.json}      # a file's content (relative to the samples file)
//! ```
//!
//! Limits: provider conversions (a PFX turned into PEM, `objectEncoding`) are not simulated, and the
//! `kubernetes.io/tls` post-processing of an untemplated Secret is not applied: the samples are what the
//! provider would have written. Values are printed as `<N bytes>` unless `--show-values`. Exit code 0: the
//! Secret rendered; 2: the shape failed (the message names the field, template, line and name, never a value);
//! 1: an error (a file, a missing sample).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use base64::Engine as _;
use sse_api::SecretSync;
use sse_shape::plan::{Plan, ShapeError};

use crate::cli::TargetArgs;

/// `kubectl sse render` arguments.
#[derive(clap::Args, Debug)]
pub struct RenderArgs {
    /// The SecretSync to read from the cluster (with your rights), or to pick among -f's documents.
    pub name: Option<String>,
    /// Read the SecretSync from this file instead of the cluster (`-`: standard input).
    #[arg(short = 'f', long = "filename")]
    pub filename: Option<PathBuf>,
    /// The sample values: a YAML map of sourcePath to text, `{base64: …}` or `{file: …}`.
    #[arg(long = "values")]
    pub values: PathBuf,
    /// Print the values themselves instead of their sizes.
    #[arg(long)]
    pub show_values: bool,
}

/// Run `render`.
pub async fn run(target: &TargetArgs, args: &RenderArgs) -> Result<u8> {
    let sync = match &args.filename {
        Some(file) => from_file(file, args.name.as_deref())?,
        None => {
            let Some(name) = &args.name else {
                bail!("name a SecretSync, or give its manifest with -f");
            };
            let target = target.connect().await?;
            let Some(namespace) = target.namespace.as_deref() else {
                bail!("render reads one SecretSync: give -n, not -A");
            };
            let api: kube::Api<SecretSync> = kube::Api::namespaced(target.client.clone(), namespace);
            api.get(name)
                .await
                .with_context(|| format!("read SecretSync {name} in namespace {namespace}"))?
        }
    };
    let samples = samples(&args.values)?;
    match render(&sync, &samples) {
        Ok(data) => {
            print!("{}", secret_yaml(&sync, &data, args.show_values)?);
            Ok(0)
        }
        Err(Failure::Shape(error)) => {
            let reason = if error.is_property() {
                "PropertyError"
            } else {
                "TemplateError"
            };
            eprintln!("{reason}: {error}");
            Ok(crate::EXIT_NOT_READY)
        }
        Err(Failure::Other(error)) => Err(error),
    }
}

/// Why a render failed: the shape (what the manager would report) or the inputs.
#[derive(Debug)]
pub enum Failure {
    /// The manager would report this, with `PropertyError` or `TemplateError`.
    Shape(ShapeError),
    /// A sample is missing or the spec is invalid.
    Other(anyhow::Error),
}

/// The Secret data `sync` would get from the provider files `samples`: each data item (its property taken),
/// then the shape, exactly as the manager runs them.
pub fn render(
    sync: &SecretSync,
    samples: &HashMap<String, Vec<u8>>,
) -> Result<BTreeMap<String, Vec<u8>>, Failure> {
    let so = &sync.spec.secret_object;
    sse_api::validation::validate_spec(&sync.spec).map_err(|e| Failure::Other(e.into()))?;
    let plan = Plan::parse(so).map_err(Failure::Shape)?;
    let mut items = BTreeMap::new();
    for (index, item) in so.data.iter().enumerate() {
        let source = item.source_path.trim();
        let contents = samples
            .get(source)
            .ok_or_else(|| Failure::Other(anyhow::anyhow!("no sample value for sourcePath {source}")))?;
        let value = sse_shape::plan::item_value(index, item, contents).map_err(Failure::Shape)?;
        items.insert(item.target_key.trim().to_owned(), value);
    }
    for source in Plan::sources(so) {
        if !samples.contains_key(source) {
            return Err(Failure::Other(anyhow::anyhow!(
                "no sample value for dataFrom sourcePath {source}"
            )));
        }
    }
    match plan {
        Some(plan) => plan.shape(items, samples).map_err(Failure::Shape),
        None => Ok(items),
    }
}

/// The one SecretSync of a file (or the one named).
fn from_file(file: &Path, name: Option<&str>) -> Result<SecretSync> {
    let text = if file == Path::new("-") {
        std::io::read_to_string(std::io::stdin()).context("read standard input")?
    } else {
        std::fs::read_to_string(file).with_context(|| format!("read {}", file.display()))?
    };
    let mut found = Vec::new();
    for document in serde_yaml_ng::Deserializer::from_str(&text) {
        let value: serde_json::Value = serde::Deserialize::deserialize(document)
            .with_context(|| format!("{} is not YAML", file.display()))?;
        if value["kind"] == "SecretSync" {
            let sync: SecretSync = serde_json::from_value(value)
                .with_context(|| format!("a SecretSync in {} does not match the CRD", file.display()))?;
            found.push(sync);
        }
    }
    let names = || {
        found
            .iter()
            .map(kube::ResourceExt::name_any)
            .collect::<Vec<_>>()
            .join(", ")
    };
    match name {
        Some(name) => {
            let all = names();
            found
                .into_iter()
                .find(|s| kube::ResourceExt::name_any(s) == name)
                .with_context(|| format!("no SecretSync named {name} in {} (found: {all})", file.display()))
        }
        None if found.len() == 1 => Ok(found.remove(0)),
        None if found.is_empty() => bail!("no SecretSync in {}", file.display()),
        None => bail!(
            "{} holds several SecretSyncs ({}): name one",
            file.display(),
            names()
        ),
    }
}

/// The samples file: sourcePath → bytes.
pub fn samples(file: &Path) -> Result<HashMap<String, Vec<u8>>> {
    let text = std::fs::read_to_string(file).with_context(|| format!("read {}", file.display()))?;
    let map: BTreeMap<String, serde_yaml_ng::Value> = serde_yaml_ng::from_str(&text)
        .with_context(|| format!("{} is not a YAML map of sourcePaths", file.display()))?;
    let dir = file.parent().unwrap_or(Path::new("."));
    map.into_iter()
        .map(|(source, value)| {
            let bytes =
                sample(dir, &value).with_context(|| format!("sample {source} in {}", file.display()))?;
            Ok((source, bytes))
        })
        .collect()
}

fn sample(dir: &Path, value: &serde_yaml_ng::Value) -> Result<Vec<u8>> {
    use serde_yaml_ng::Value;
    match value {
        Value::String(text) => Ok(text.clone().into_bytes()),
        Value::Number(n) => Ok(n.to_string().into_bytes()),
        Value::Bool(b) => Ok(b.to_string().into_bytes()),
        Value::Mapping(map) => match (map.get("base64"), map.get("file")) {
            (Some(Value::String(b64)), None) => base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .context("base64 is not valid base64"),
            (None, Some(Value::String(path))) => {
                let path = dir.join(path);
                std::fs::read(&path).with_context(|| format!("read {}", path.display()))
            }
            _ => bail!("a sample is text, {{base64: …}} or {{file: …}}"),
        },
        _ => bail!("a sample is text, {{base64: …}} or {{file: …}}"),
    }
}

/// The Secret as YAML, values shown or replaced by their size.
fn secret_yaml(sync: &SecretSync, data: &BTreeMap<String, Vec<u8>>, show_values: bool) -> Result<String> {
    let data: BTreeMap<&str, String> = data
        .iter()
        .map(|(key, value)| {
            let shown = if show_values {
                String::from_utf8(value.clone()).unwrap_or_else(|_| {
                    format!(
                        "base64:{}",
                        base64::engine::general_purpose::STANDARD.encode(value)
                    )
                })
            } else {
                format!("<{} bytes>", value.len())
            };
            (key.as_str(), shown)
        })
        .collect();
    let secret = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": kube::ResourceExt::name_any(sync), "namespace": sync.metadata.namespace},
        "type": sync.spec.secret_object.type_,
        "stringData": data,
    });
    Ok(serde_yaml_ng::to_string(&secret)?)
}

#[cfg(test)]
mod tests;
