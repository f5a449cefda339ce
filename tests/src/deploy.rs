//! Shared harness of the install-manifest tests (`tests/tests/deploy_*.rs`, issue 4).
//!
//! Every installable kustomization (`deploy/default`, `deploy/overlays/*`) is rendered with
//! `kubectl kustomize`; each test file checks one subject of every render through
//! [`check_every_overlay`], and all problems of all renders are reported together.
//!
//! | file | subject |
//! |---|---|
//! | `deploy_manifests.rs` | objects parse into their types, namespaces, CRDs equal the generated ones |
//! | `deploy_tls.rs` | cert-manager objects and the TLS chain the pod mounts |
//! | `deploy_workload.rs` | the Deployment: shape, security context, volumes, probes, resources |
//! | `deploy_flags.rs` | the containers' args and env against the binaries' clap definitions |
//! | `deploy_policies.rs` | admission policies, bindings and their CEL ([`cel`]) |
//! | `deploy_rbac.rs` | the manager's grants are exactly docs/ADMISSION.md#manager-rbac |
//! | `deploy_events.rs` | the vault's events (workload identity or access key) and the outbound proxy reach the containers that use them |
//!
//! `kubectl` must be on PATH: without it the tests fail (they are not skipped).
#![allow(clippy::print_stdout, reason = "one summary line per render")]

pub mod cel;
pub mod units;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use clap::CommandFactory;
use serde::Deserialize;
use serde_json::Value;

/// The namespace everything is installed into.
pub const NAMESPACE: &str = "azure-secret-store";
/// trust-manager's trust namespace and cert-manager's cluster resource namespace in default installs.
pub const TRUST_NAMESPACE: &str = "cert-manager";
/// The manager's container.
pub const MANAGER: &str = "manager";
/// The provider's container.
pub const PROVIDER: &str = "provider-azure-installer";

// ---------------------------------------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------------------------------------

pub fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .join("deploy")
}

fn is_kustomization(dir: &Path) -> bool {
    ["kustomization.yaml", "kustomization.yml", "Kustomization"]
        .iter()
        .any(|f| dir.join(f).is_file())
}

/// `deploy/default` and every `deploy/overlays/*` with a kustomization: what a user can `kubectl apply -k`.
pub fn installable_dirs() -> Vec<PathBuf> {
    let deploy = deploy_dir();
    let mut dirs = vec![deploy.join("default")];
    let mut overlays: Vec<PathBuf> = std::fs::read_dir(deploy.join("overlays"))
        .expect("deploy/overlays")
        .map(|e| e.unwrap().path())
        .filter(|p| is_kustomization(p))
        .collect();
    overlays.sort();
    dirs.extend(overlays);
    for d in &dirs {
        assert!(is_kustomization(d), "{} has no kustomization", d.display());
    }
    dirs
}

fn kubectl_kustomize(dir: &Path) -> String {
    let out = match Command::new("kubectl").arg("kustomize").arg(dir).output() {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "`kubectl` is not on PATH. tests/tests/deploy_*.rs render deploy/ with `kubectl kustomize` and are \
             not skipped without it: install kubectl (CI does)."
        ),
        Err(e) => panic!("could not run `kubectl kustomize {}`: {e}", dir.display()),
    };
    assert!(
        out.status.success(),
        "`kubectl kustomize {}` failed:\n{}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("kustomize output is UTF-8")
}

/// One rendered object, as YAML (for typed parsing with serde_yaml_ng) and as JSON (for inspection).
pub struct Obj {
    pub yaml: serde_yaml_ng::Value,
    pub json: Value,
}

impl Obj {
    pub fn str_at(&self, pointer: &str) -> &str {
        self.json.pointer(pointer).and_then(Value::as_str).unwrap_or("")
    }
    pub fn kind(&self) -> &str {
        self.str_at("/kind")
    }
    pub fn api_version(&self) -> &str {
        self.str_at("/apiVersion")
    }
    pub fn name(&self) -> &str {
        self.str_at("/metadata/name")
    }
    pub fn namespace(&self) -> Option<&str> {
        self.json.pointer("/metadata/namespace").and_then(Value::as_str)
    }
    pub fn id(&self) -> String {
        match self.namespace() {
            Some(ns) => format!("{}/{ns}/{}", self.kind(), self.name()),
            None => format!("{}/{}", self.kind(), self.name()),
        }
    }
}

fn parse_documents(text: &str) -> Vec<Obj> {
    serde_yaml_ng::Deserializer::from_str(text)
        .map(|doc| {
            let yaml = serde_yaml_ng::Value::deserialize(doc).expect("rendered YAML parses");
            let json = serde_json::to_value(&yaml).expect("rendered YAML is JSON-compatible");
            Obj { yaml, json }
        })
        .filter(|o| !o.json.is_null())
        .collect()
}

/// The objects of one render.
pub struct Render {
    pub objects: Vec<Obj>,
}

impl Render {
    pub fn of_kind<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Obj> + 'a {
        self.objects.iter().filter(move |o| o.kind() == kind)
    }
    pub fn find(&self, kind: &str, namespace: Option<&str>, name: &str) -> Option<&Obj> {
        self.objects
            .iter()
            .find(|o| o.kind() == kind && o.namespace() == namespace && o.name() == name)
    }
}

/// Problems found in one render; all are reported together at the end.
pub struct Problems {
    context: String,
    list: Vec<String>,
}

impl Problems {
    pub fn new(context: &str) -> Self {
        Self {
            context: context.to_string(),
            list: Vec::new(),
        }
    }
    pub fn add(&mut self, msg: impl Into<String>) {
        self.list.push(format!("{}: {}", self.context, msg.into()));
    }
    pub fn check(&mut self, ok: bool, msg: impl FnOnce() -> String) {
        if !ok {
            self.add(msg());
        }
    }
}

/// One installable kustomization, rendered, with its single Deployment.
pub struct Overlay {
    /// `default`, `overlays/<name>`.
    pub label: String,
    pub render: Render,
    dep: usize,
}

impl Overlay {
    /// The Deployment (exactly one per render; [`check_every_overlay`] makes sure).
    pub fn dep(&self) -> &Obj {
        &self.render.objects[self.dep]
    }
    /// The Deployment's pod spec.
    pub fn pod(&self) -> &Value {
        &self.dep().json["spec"]["template"]["spec"]
    }
}

/// Renders every installable kustomization (at least `default` and two overlays), checks that each has
/// exactly one Deployment, in [`NAMESPACE`], and runs `check` on it. Prints one line per render with the
/// summary `check` returns and fails with every problem of every render. Returns the printed lines.
pub fn check_every_overlay(mut check: impl FnMut(&Overlay, &mut Problems) -> String) -> Vec<String> {
    let dirs = installable_dirs();
    assert!(dirs.len() >= 3, "expected default + overlays, found {dirs:?}");
    let mut problems = Vec::new();
    let mut lines = Vec::new();
    for dir in &dirs {
        let label = dir
            .strip_prefix(deploy_dir())
            .unwrap_or(dir)
            .display()
            .to_string();
        let mut p = Problems::new(&label);
        let render = Render {
            objects: parse_documents(&kubectl_kustomize(dir)),
        };
        let deps: Vec<usize> = (0..render.objects.len())
            .filter(|&i| render.objects[i].kind() == "Deployment")
            .collect();
        let line = if let [dep] = deps[..] {
            let overlay = Overlay { label, render, dep };
            p.check(overlay.dep().namespace() == Some(NAMESPACE), || {
                format!("the Deployment must be in {NAMESPACE}")
            });
            let summary = check(&overlay, &mut p);
            let status = if p.list.is_empty() { "ok" } else { "FAILED" };
            format!("deploy/{}: {status}: {summary}", overlay.label)
        } else {
            p.add(format!("expected exactly one Deployment, found {}", deps.len()));
            format!("deploy/{label}: FAILED")
        };
        println!("{line}");
        lines.push(line);
        problems.extend(p.list);
    }
    assert!(
        problems.is_empty(),
        "deploy/ problems:\n  {}",
        problems.join("\n  ")
    );
    lines
}

// ---------------------------------------------------------------------------------------------------------
// Reading rendered values
// ---------------------------------------------------------------------------------------------------------

pub fn non_empty_str(v: &Value) -> bool {
    v.as_str().is_some_and(|s| !s.is_empty())
}

/// The elements of a JSON array (none for anything else, a missing field included).
pub fn items(v: &Value) -> impl Iterator<Item = &Value> {
    v.as_array().into_iter().flatten()
}

/// The strings of a JSON array (nothing for anything else).
pub fn strings(v: &Value) -> Vec<String> {
    items(v).filter_map(Value::as_str).map(str::to_string).collect()
}

pub fn volumes(pod: &Value) -> impl Iterator<Item = &Value> {
    items(&pod["volumes"])
}

pub fn container<'a>(pod: &'a Value, name: &str) -> Option<&'a Value> {
    pod["containers"].as_array()?.iter().find(|c| c["name"] == name)
}

/// The volume mounted (without subPath) at exactly `dir` in `container`.
pub fn volume_mounted_at<'a>(pod: &'a Value, container_name: &str, dir: &str) -> Option<&'a Value> {
    let c = container(pod, container_name)?;
    let mount = c["volumeMounts"]
        .as_array()?
        .iter()
        .find(|m| m["mountPath"] == dir)?;
    volumes(pod).find(|v| v["name"] == mount["name"])
}

/// Env vars the manager container sets for the C runtime rather than for a flag: glibc's allocator
/// settings (see deploy/base/deployment.yaml).
const C_RUNTIME_ENV: &[&str] = &["MALLOC_MMAP_THRESHOLD_"];

/// The keys and values of a ConfigMap's `data`, or a Secret's `stringData` and (decoded) `data`.
pub fn source_entries(o: &Obj) -> Vec<(String, String)> {
    use base64::Engine as _;
    let entries = |field: &str| o.json[field].as_object().into_iter().flatten();
    let mut out: Vec<(String, String)> = Vec::new();
    if o.kind() == "Secret" {
        for (k, v) in entries("data") {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(v.as_str().unwrap_or(""))
                .ok()
                .and_then(|b| String::from_utf8(b).ok());
            out.push((k.clone(), decoded.unwrap_or_default()));
        }
        for (k, v) in entries("stringData") {
            out.push((k.clone(), v.as_str().unwrap_or("").to_string()));
        }
    } else {
        for (k, v) in entries("data") {
            out.push((k.clone(), v.as_str().unwrap_or("").to_string()));
        }
    }
    out
}

/// The manager container's command line as the pod runs it: its args (starting with the program name),
/// and `--flag=value` for every env var it gets literally, from a ConfigMap key in the render, or from a
/// ConfigMap or Secret in `envFrom`. Downward-API env vars are skipped (they carry the pod's identity); env
/// vars no manager flag reads, and ConfigMaps or Secrets missing from the render, are problems.
pub fn manager_command_line(
    r: &Render,
    ns: Option<&str>,
    c: &Value,
    p: &mut Problems,
) -> (Vec<String>, Vec<String>) {
    let cmd = manager::args::Cli::command();
    let env_to_long: BTreeMap<String, String> = cmd
        .get_arguments()
        .filter_map(|a| Some((a.get_env()?.to_str()?.to_string(), a.get_long()?.to_string())))
        .collect();
    let mut argv = vec!["manager".to_string()];
    argv.extend(strings(&c["args"]));

    let config_map_value = |name: &str, key: &str| r.find("ConfigMap", ns, name)?.json["data"][key].as_str();
    let mut env_flags = Vec::new();
    for e in items(&c["env"]) {
        let name = e["name"].as_str().unwrap_or("");
        if C_RUNTIME_ENV.contains(&name) {
            continue;
        }
        let Some(long) = env_to_long.get(name) else {
            p.add(format!("manager: env {name} is not read by any manager flag"));
            continue;
        };
        if let Some(v) = e["value"].as_str() {
            env_flags.push(format!("--{long}={v}"));
        } else if e
            .pointer("/valueFrom/fieldRef/fieldPath")
            .is_some_and(Value::is_string)
        {
            // The downward API: checked by deploy_flags.rs.
        } else if let Some(sel) = e.pointer("/valueFrom/configMapKeyRef") {
            let (cm, key) = (
                sel["name"].as_str().unwrap_or(""),
                sel["key"].as_str().unwrap_or(""),
            );
            match config_map_value(cm, key) {
                Some(v) => env_flags.push(format!("--{long}={v}")),
                None => p.add(format!(
                    "manager: env {name} reads ConfigMap {cm} key {key}, not in the render"
                )),
            }
        } else {
            p.add(format!("manager: env {name} has an unexpected source"));
        }
    }
    for from in items(&c["envFrom"]) {
        let (kind, name) = match (
            from.pointer("/configMapRef/name").and_then(Value::as_str),
            from.pointer("/secretRef/name").and_then(Value::as_str),
        ) {
            (Some(name), _) => ("ConfigMap", name),
            (None, Some(name)) => ("Secret", name),
            (None, None) => {
                p.add("manager: envFrom must be a configMapRef or a secretRef");
                continue;
            }
        };
        let Some(source) = r.find(kind, ns, name) else {
            p.add(format!("manager: envFrom {kind} {name} is not in the render"));
            continue;
        };
        for (key, value) in source_entries(source) {
            match env_to_long.get(&key) {
                Some(long) => env_flags.push(format!("--{long}={value}")),
                None => p.add(format!(
                    "{kind} {name}: key {key} is not an env name any manager flag reads"
                )),
            }
        }
    }
    (argv, env_flags)
}
