//! The install manifests in `deploy/` (issue 4).
//!
//! Every installable kustomization (`deploy/default`, `deploy/overlays/*`) is rendered with
//! `kubectl kustomize`, and the render is checked:
//!
//! * every object parses into its Kubernetes type (k8s-openapi) with no field the type does not know, and
//!   cert-manager / trust-manager objects have their required fields and consistent references;
//! * the Deployment: one pod, containers `manager` and `provider-azure-installer`, restricted security
//!   context, probes on the ports the binaries listen on, manager resources within the original chart's;
//! * the containers' args (and the env the manager reads) parse with the binaries' own clap definitions;
//! * admission policies and bindings name each other, every CEL expression passes a syntax check, and
//!   the ServiceAccount they match is the Deployment's;
//! * the CRDs equal `deploy/crds/*.yaml`, which equal the freshly generated ones;
//! * RBAC: the manager's rules are exactly SPEC §7.4 (Secrets: create/patch, plus list/watch only where
//!   the owned-Secret watch is switched on).
//!
//! `kubectl` must be on PATH: without it the test fails (it is not skipped).
//!
//! CEL is parsed with `cel-parser` and also gets a lexical and structural check
//! here (tokens, brackets, operator/operand order, known root variables, declared `variables.*`, `has()`
//! arguments); type errors and unknown functions are only caught by an API server.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use clap::{CommandFactory, Parser};
use k8s_openapi::api::admissionregistration::v1::{
    ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding,
};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde::Deserialize;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use sse_api::consts;

/// The namespace everything is installed into.
const NAMESPACE: &str = "azure-secret-store";
/// trust-manager's trust namespace and cert-manager's cluster resource namespace in default installs.
const TRUST_NAMESPACE: &str = "cert-manager";
const MANAGER: &str = "manager";
const PROVIDER: &str = "provider-azure-installer";
/// The original chart's manager resources (SPEC §7.2): requests 10m/64Mi, limits 500m/128Mi.
const ORIGINAL_REQUESTS: (u64, u64) = (10, 64 << 20);
const ORIGINAL_LIMITS: (u64, u64) = (500, 128 << 20);
const MI: u64 = 1 << 20;
/// SPEC §7.5 (staging): every policy SSE-rs ships.
const POLICIES: [&str; 5] = [
    "secrets-store-sync-controller-create-update-policy",
    "secrets-store-sync-controller-delete-policy",
    "secrets-store-sync-controller-update-check-oldobject-policy",
    "secrets-store-sync-controller-update-label-policy",
    "secrets-store-sync-controller-validate-token-policy",
];

// ---------------------------------------------------------------------------------------------------------
// Rendering and parsing
// ---------------------------------------------------------------------------------------------------------

fn deploy_dir() -> PathBuf {
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
fn installable_dirs() -> Vec<PathBuf> {
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
            "`kubectl` is not on PATH. tests/tests/deploy.rs renders deploy/ with `kubectl kustomize` and is \
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
struct Obj {
    yaml: serde_yaml_ng::Value,
    json: Value,
}

impl Obj {
    fn str_at(&self, pointer: &str) -> &str {
        self.json.pointer(pointer).and_then(Value::as_str).unwrap_or("")
    }
    fn kind(&self) -> &str {
        self.str_at("/kind")
    }
    fn api_version(&self) -> &str {
        self.str_at("/apiVersion")
    }
    fn name(&self) -> &str {
        self.str_at("/metadata/name")
    }
    fn namespace(&self) -> Option<&str> {
        self.json.pointer("/metadata/namespace").and_then(Value::as_str)
    }
    fn id(&self) -> String {
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

struct Render {
    objects: Vec<Obj>,
}

impl Render {
    fn of_kind<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Obj> + 'a {
        self.objects.iter().filter(move |o| o.kind() == kind)
    }
    fn find(&self, kind: &str, namespace: Option<&str>, name: &str) -> Option<&Obj> {
        self.objects
            .iter()
            .find(|o| o.kind() == kind && o.namespace() == namespace && o.name() == name)
    }
}

/// Problems found in one render; all are reported together at the end.
struct Problems {
    context: String,
    list: Vec<String>,
}

impl Problems {
    fn new(context: &str) -> Self {
        Self {
            context: context.to_string(),
            list: Vec::new(),
        }
    }
    fn add(&mut self, msg: impl Into<String>) {
        self.list.push(format!("{}: {}", self.context, msg.into()));
    }
    fn check(&mut self, ok: bool, msg: impl FnOnce() -> String) {
        if !ok {
            self.add(msg());
        }
    }
}

/// Every key path of `original` that is missing from `round_trip` (a field the typed parse dropped).
fn dropped_keys(original: &Value, round_trip: &Value, path: &str, out: &mut Vec<String>) {
    match (original, round_trip) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in a {
                let p = format!("{path}.{k}");
                match b.get(k) {
                    Some(w) => dropped_keys(v, w, &p, out),
                    None => out.push(p),
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            if a.len() != b.len() {
                out.push(format!("{path} (length {} became {})", a.len(), b.len()));
            }
            for (i, (v, w)) in a.iter().zip(b).enumerate() {
                dropped_keys(v, w, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// Parse into the k8s-openapi type with serde_yaml_ng, then serialise again: a field that does not
/// survive the round trip is one the type does not have (a typo, or a field of another API version).
fn validate<T: DeserializeOwned + Serialize>(o: &Obj, p: &mut Problems) {
    match serde_yaml_ng::from_value::<T>(o.yaml.clone()) {
        Ok(t) => {
            let back = serde_json::to_value(&t).unwrap();
            let mut dropped = Vec::new();
            dropped_keys(&o.json, &back, "", &mut dropped);
            p.check(dropped.is_empty(), || {
                format!(
                    "{}: fields unknown to {}: {}",
                    o.id(),
                    std::any::type_name::<T>(),
                    dropped.join(", ")
                )
            });
        }
        Err(e) => p.add(format!(
            "{} does not parse as {}: {e}",
            o.id(),
            std::any::type_name::<T>()
        )),
    }
}

const CLUSTER_SCOPED: [&str; 8] = [
    "Namespace",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleBinding",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
    "ClusterIssuer",
    "Bundle",
];

/// (a) Every object parses into its type; namespaces are where they belong.
fn check_objects(r: &Render, p: &mut Problems) {
    let mut seen = BTreeSet::new();
    for o in &r.objects {
        p.check(seen.insert(o.id()), || format!("{} appears twice", o.id()));
        p.check(!o.name().is_empty(), || {
            format!("an object of kind {} has no name", o.kind())
        });
        match (o.api_version(), o.kind()) {
            ("v1", "Namespace") => validate::<Namespace>(o, p),
            ("v1", "ServiceAccount") => validate::<ServiceAccount>(o, p),
            ("v1", "ConfigMap") => validate::<ConfigMap>(o, p),
            ("apps/v1", "Deployment") => validate::<Deployment>(o, p),
            ("rbac.authorization.k8s.io/v1", "ClusterRole") => validate::<ClusterRole>(o, p),
            ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding") => validate::<ClusterRoleBinding>(o, p),
            ("rbac.authorization.k8s.io/v1", "Role") => validate::<Role>(o, p),
            ("rbac.authorization.k8s.io/v1", "RoleBinding") => validate::<RoleBinding>(o, p),
            ("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicy") => {
                validate::<ValidatingAdmissionPolicy>(o, p);
            }
            ("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicyBinding") => {
                validate::<ValidatingAdmissionPolicyBinding>(o, p);
            }
            ("apiextensions.k8s.io/v1", "CustomResourceDefinition") => {
                validate::<CustomResourceDefinition>(o, p);
            }
            ("cert-manager.io/v1", "Certificate") => check_certificate(o, p),
            ("cert-manager.io/v1", "Issuer" | "ClusterIssuer") => check_issuer(o, p),
            ("trust.cert-manager.io/v1alpha1", "Bundle") => check_bundle(o, p),
            (api, kind) => p.add(format!(
                "{}: unexpected {api} {kind}: teach tests/tests/deploy.rs to check it",
                o.id()
            )),
        }
        if CLUSTER_SCOPED.contains(&o.kind()) {
            p.check(o.namespace().is_none(), || {
                format!("{} is cluster-scoped but has a namespace", o.id())
            });
        } else {
            let ns = o.namespace().unwrap_or("");
            let ok =
                ns == NAMESPACE || (ns == TRUST_NAMESPACE && matches!(o.kind(), "Issuer" | "Certificate"));
            p.check(ok, || {
                format!("{} is in namespace {ns:?}, expected {NAMESPACE}", o.id())
            });
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// cert-manager and trust-manager (no Rust types: required fields and known values checked by hand)
// ---------------------------------------------------------------------------------------------------------

fn keys_within(o: &Obj, at: &str, v: &Value, allowed: &[&str], p: &mut Problems) {
    if let Some(map) = v.as_object() {
        for k in map.keys() {
            p.check(allowed.contains(&k.as_str()), || {
                format!("{}: unknown field {at}.{k}", o.id())
            });
        }
    } else {
        p.add(format!("{}: {at} is not an object", o.id()));
    }
}

fn non_empty_str(v: &Value) -> bool {
    v.as_str().is_some_and(|s| !s.is_empty())
}

/// A Go `time.ParseDuration` value made of h/m/s parts (what cert-manager accepts), in seconds.
fn go_duration_secs(s: &str) -> Option<f64> {
    let mut total = 0.0;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let n: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let factor = match &rest[..unit_len] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 0.001,
            _ => return None,
        };
        total += n * factor;
        rest = &rest[unit_len..];
    }
    Some(total)
}

const CERT_USAGES: [&str; 20] = [
    "signing",
    "digital signature",
    "content commitment",
    "key encipherment",
    "key agreement",
    "data encipherment",
    "cert sign",
    "crl sign",
    "encipher only",
    "decipher only",
    "any",
    "server auth",
    "client auth",
    "code signing",
    "email protection",
    "s/mime",
    "ipsec end system",
    "ipsec tunnel",
    "ipsec user",
    "timestamping",
];

fn check_certificate(o: &Obj, p: &mut Problems) {
    keys_within(o, "", &o.json, &["apiVersion", "kind", "metadata", "spec"], p);
    let spec = &o.json["spec"];
    keys_within(
        o,
        ".spec",
        spec,
        &[
            "secretName",
            "issuerRef",
            "commonName",
            "dnsNames",
            "uris",
            "ipAddresses",
            "emailAddresses",
            "otherNames",
            "literalSubject",
            "subject",
            "usages",
            "duration",
            "renewBefore",
            "renewBeforePercentage",
            "privateKey",
            "isCA",
            "secretTemplate",
            "keystores",
            "revisionHistoryLimit",
            "additionalOutputFormats",
            "encodeUsagesInRequest",
            "nameConstraints",
            "signatureAlgorithm",
        ],
        p,
    );
    p.check(non_empty_str(&spec["secretName"]), || {
        format!("{}: spec.secretName is required", o.id())
    });
    keys_within(
        o,
        ".spec.issuerRef",
        &spec["issuerRef"],
        &["name", "kind", "group"],
        p,
    );
    p.check(non_empty_str(&spec["issuerRef"]["name"]), || {
        format!("{}: spec.issuerRef.name is required", o.id())
    });
    p.check(
        matches!(
            spec["issuerRef"]["kind"].as_str(),
            None | Some("Issuer" | "ClusterIssuer")
        ),
        || format!("{}: spec.issuerRef.kind must be Issuer or ClusterIssuer", o.id()),
    );
    p.check(
        matches!(
            spec["issuerRef"]["group"].as_str(),
            None | Some("cert-manager.io")
        ),
        || format!("{}: spec.issuerRef.group must be cert-manager.io", o.id()),
    );
    let has_identity = [
        "commonName",
        "dnsNames",
        "uris",
        "ipAddresses",
        "emailAddresses",
        "otherNames",
        "literalSubject",
    ]
    .iter()
    .any(|k| spec.get(*k).is_some());
    p.check(has_identity, || {
        format!(
            "{}: needs one of commonName, dnsNames, uris, ipAddresses, emailAddresses",
            o.id()
        )
    });
    let duration = spec["duration"].as_str().map(go_duration_secs);
    let renew = spec["renewBefore"].as_str().map(go_duration_secs);
    p.check(!matches!(duration, Some(None)), || {
        format!("{}: spec.duration is not a Go duration", o.id())
    });
    p.check(!matches!(renew, Some(None)), || {
        format!("{}: spec.renewBefore is not a Go duration", o.id())
    });
    if let (Some(Some(d)), Some(Some(r))) = (duration, renew) {
        p.check(d >= 3600.0, || {
            format!("{}: spec.duration must be at least 1h", o.id())
        });
        p.check(r < d, || {
            format!("{}: spec.renewBefore must be shorter than spec.duration", o.id())
        });
    }
    if let Some(usages) = spec.get("usages") {
        for u in usages.as_array().into_iter().flatten() {
            p.check(u.as_str().is_some_and(|u| CERT_USAGES.contains(&u)), || {
                format!("{}: unknown usage {u}", o.id())
            });
        }
    }
    if let Some(pk) = spec.get("privateKey") {
        keys_within(
            o,
            ".spec.privateKey",
            pk,
            &["algorithm", "encoding", "rotationPolicy", "size"],
            p,
        );
        p.check(
            matches!(pk["algorithm"].as_str(), None | Some("RSA" | "ECDSA" | "Ed25519")),
            || format!("{}: privateKey.algorithm must be RSA, ECDSA or Ed25519", o.id()),
        );
        p.check(
            matches!(pk["encoding"].as_str(), None | Some("PKCS1" | "PKCS8")),
            || format!("{}: privateKey.encoding must be PKCS1 or PKCS8", o.id()),
        );
        p.check(
            matches!(pk["rotationPolicy"].as_str(), None | Some("Never" | "Always")),
            || format!("{}: privateKey.rotationPolicy must be Never or Always", o.id()),
        );
        if pk["algorithm"] == "ECDSA" {
            p.check(
                matches!(pk["size"].as_u64(), None | Some(256 | 384 | 521)),
                || format!("{}: ECDSA size must be 256, 384 or 521", o.id()),
            );
        }
    }
}

fn check_issuer(o: &Obj, p: &mut Problems) {
    keys_within(o, "", &o.json, &["apiVersion", "kind", "metadata", "spec"], p);
    let spec = &o.json["spec"];
    let kinds = ["selfSigned", "ca", "acme", "vault", "venafi"];
    let set: Vec<&str> = kinds.iter().copied().filter(|k| spec.get(*k).is_some()).collect();
    p.check(set.len() == 1, || {
        format!("{}: needs exactly one of {kinds:?}, has {set:?}", o.id())
    });
    keys_within(o, ".spec", spec, &kinds, p);
    if let Some(ca) = spec.get("ca") {
        keys_within(
            o,
            ".spec.ca",
            ca,
            &[
                "secretName",
                "crlDistributionPoints",
                "issuingCertificateURLs",
                "ocspServers",
            ],
            p,
        );
        p.check(non_empty_str(&ca["secretName"]), || {
            format!("{}: spec.ca.secretName is required", o.id())
        });
    }
}

fn check_bundle(o: &Obj, p: &mut Problems) {
    keys_within(o, "", &o.json, &["apiVersion", "kind", "metadata", "spec"], p);
    let spec = &o.json["spec"];
    keys_within(o, ".spec", spec, &["sources", "target"], p);
    let sources = spec["sources"].as_array().cloned().unwrap_or_default();
    p.check(!sources.is_empty(), || {
        format!("{}: spec.sources must not be empty", o.id())
    });
    for (i, s) in sources.iter().enumerate() {
        let kinds = ["configMap", "secret", "inLine", "useDefaultCAs"];
        let set: Vec<&str> = kinds.iter().copied().filter(|k| s.get(*k).is_some()).collect();
        p.check(set.len() == 1, || {
            format!("{}: spec.sources[{i}] needs exactly one of {kinds:?}", o.id())
        });
        keys_within(o, &format!(".spec.sources[{i}]"), s, &kinds, p);
        for k in ["configMap", "secret"] {
            if let Some(r) = s.get(k) {
                keys_within(
                    o,
                    &format!(".spec.sources[{i}].{k}"),
                    r,
                    &["name", "key", "selector", "includeAllKeys"],
                    p,
                );
                p.check(non_empty_str(&r["name"]) && non_empty_str(&r["key"]), || {
                    format!("{}: spec.sources[{i}].{k} needs name and key", o.id())
                });
            }
        }
    }
    let target = &spec["target"];
    keys_within(
        o,
        ".spec.target",
        target,
        &["configMap", "secret", "namespaceSelector", "additionalFormats"],
        p,
    );
    p.check(
        non_empty_str(&target["configMap"]["key"]) || non_empty_str(&target["secret"]["key"]),
        || format!("{}: spec.target needs configMap.key or secret.key", o.id()),
    );
    if let Some(sel) = target.get("namespaceSelector") {
        keys_within(
            o,
            ".spec.target.namespaceSelector",
            sel,
            &["matchLabels", "matchExpressions"],
            p,
        );
    }
}

/// The cert-manager chain hangs together: issuers exist, the CA Secret a ClusterIssuer or Bundle reads is
/// in the namespace they read from, and the Deployment's TLS mounts are what the chain produces.
fn check_tls_chain(r: &Render, dep: &Obj, p: &mut Problems) -> String {
    let pod = &dep.json["spec"]["template"]["spec"];
    let certs: Vec<&Obj> = r.of_kind("Certificate").collect();
    let cert_by_secret = |ns: &str, secret: &str| {
        certs
            .iter()
            .copied()
            .find(|c| c.namespace() == Some(ns) && c.str_at("/spec/secretName") == secret)
    };

    if certs.is_empty() {
        // Bring-your-own TLS: the Secrets the pod mounts must not come from this render (the user makes them).
        let secrets: BTreeSet<&str> = volumes(pod)
            .filter_map(|v| v.pointer("/secret/secretName").and_then(Value::as_str))
            .collect();
        p.check(r.of_kind("Secret").next().is_none(), || {
            "the render must not contain Secrets (TLS material is user-supplied)".to_string()
        });
        p.check(r.of_kind("Bundle").next().is_none(), || {
            "a Bundle without cert-manager".to_string()
        });
        return format!(
            "expects user Secrets {}",
            secrets.into_iter().collect::<Vec<_>>().join(", ")
        );
    }

    for c in &certs {
        let ns = c.namespace().unwrap_or("");
        let issuer = c.str_at("/spec/issuerRef/name");
        let (kind, found) = match c.str_at("/spec/issuerRef/kind") {
            "ClusterIssuer" => ("ClusterIssuer", r.find("ClusterIssuer", None, issuer)),
            _ => ("Issuer", r.find("Issuer", Some(ns), issuer)),
        };
        p.check(found.is_some(), || {
            format!("{}: its {kind} {issuer} is not in the render", c.id())
        });
    }
    // CA issuers sign with a CA Certificate's Secret, read from their own namespace (Issuer) or from the
    // cluster resource namespace (ClusterIssuer).
    for iss in r.of_kind("Issuer").chain(r.of_kind("ClusterIssuer")) {
        let Some(secret) = iss.json.pointer("/spec/ca/secretName").and_then(Value::as_str) else {
            continue;
        };
        let ns = iss.namespace().unwrap_or(TRUST_NAMESPACE);
        let ca = cert_by_secret(ns, secret);
        p.check(ca.is_some_and(|ca| ca.json["spec"]["isCA"] == true), || {
            format!("{}: no isCA Certificate writes Secret {ns}/{secret}", iss.id())
        });
    }
    // trust-manager reads Bundle sources from its trust namespace.
    for b in r.of_kind("Bundle") {
        for s in b.json["spec"]["sources"].as_array().into_iter().flatten() {
            if let Some(name) = s.pointer("/secret/name").and_then(Value::as_str) {
                p.check(cert_by_secret(TRUST_NAMESPACE, name).is_some(), || {
                    format!(
                        "{}: source Secret {name} is not written by a Certificate in trust namespace {TRUST_NAMESPACE}",
                        b.id()
                    )
                });
            }
        }
    }

    // The pod's mounts: /tls/ca from the Bundle's target in our namespace, each container's own cert
    // from a Certificate, with the usages and names the binaries verify.
    for v in volumes(pod) {
        if let Some(cm) = v.get("configMap") {
            let name = cm["name"].as_str().unwrap_or("");
            let bundle = r.find("Bundle", None, name);
            p.check(bundle.is_some(), || {
                format!("ConfigMap volume {name} is not a Bundle target")
            });
            if let Some(b) = bundle {
                let key = b.str_at("/spec/target/configMap/key");
                let items_ok = cm["items"]
                    .as_array()
                    .is_none_or(|items| items.iter().all(|i| i["key"] == key));
                p.check(items_ok, || {
                    format!("volume {name} reads keys the Bundle does not write ({key})")
                });
                let selected = b
                    .json
                    .pointer("/spec/target/namespaceSelector/matchLabels/kubernetes.io~1metadata.name")
                    .and_then(Value::as_str);
                p.check(matches!(selected, None | Some(NAMESPACE)), || {
                    format!("{}: its namespaceSelector does not select {NAMESPACE}", b.id())
                });
            }
        }
    }
    let mut leaf = |container: &str, file_flag_dir: &str, usage: &str| {
        let Some(vol) = volume_mounted_at(pod, container, file_flag_dir) else {
            p.add(format!("{container}: nothing mounted at {file_flag_dir}"));
            return;
        };
        let secret = vol
            .pointer("/secret/secretName")
            .and_then(Value::as_str)
            .unwrap_or("");
        let Some(cert) = cert_by_secret(NAMESPACE, secret) else {
            p.add(format!(
                "{container}: Secret {secret} at {file_flag_dir} is not written by a Certificate"
            ));
            return;
        };
        let usages: Vec<&str> = cert.json["spec"]["usages"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        p.check(usages.contains(&usage), || {
            format!("{}: needs usage {usage:?}", cert.id())
        });
        let d = go_duration_secs(cert.str_at("/spec/duration")).unwrap_or(f64::MAX);
        p.check(d <= 7.0 * 24.0 * 3600.0, || {
            format!(
                "{}: a leaf certificate should be short-lived (≤ 7 days)",
                cert.id()
            )
        });
        p.check(cert.json.pointer("/spec/renewBefore").is_some(), || {
            format!("{}: set renewBefore", cert.id())
        });
        if usage == "server auth" {
            let names: Vec<&str> = cert.json["spec"]["dnsNames"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            p.check(names.contains(&sse_tls::SERVER_NAME), || {
                format!(
                    "{}: the manager verifies the provider as {:?}, which must be a DNS name of the certificate",
                    cert.id(),
                    sse_tls::SERVER_NAME
                )
            });
        }
    };
    leaf(PROVIDER, "/tls/server", "server auth");
    leaf(MANAGER, "/tls/client", "client auth");
    format!("{} Certificates", certs.len())
}

// ---------------------------------------------------------------------------------------------------------
// Deployment
// ---------------------------------------------------------------------------------------------------------

fn volumes(pod: &Value) -> impl Iterator<Item = &Value> {
    pod["volumes"].as_array().into_iter().flatten()
}

fn container<'a>(pod: &'a Value, name: &str) -> Option<&'a Value> {
    pod["containers"].as_array()?.iter().find(|c| c["name"] == name)
}

/// The volume mounted (without subPath) at exactly `dir` in `container`.
fn volume_mounted_at<'a>(pod: &'a Value, container_name: &str, dir: &str) -> Option<&'a Value> {
    let c = container(pod, container_name)?;
    let mount = c["volumeMounts"]
        .as_array()?
        .iter()
        .find(|m| m["mountPath"] == dir)?;
    volumes(pod).find(|v| v["name"] == mount["name"])
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect()
}

fn cpu_millis(q: &str) -> Option<u64> {
    match q.strip_suffix('m') {
        Some(m) => m.parse().ok(),
        None => q.parse::<f64>().ok().map(|c| (c * 1000.0).round() as u64),
    }
}

fn memory_bytes(q: &str) -> Option<u64> {
    let units = [
        ("Ki", 1u64 << 10),
        ("Mi", 1 << 20),
        ("Gi", 1 << 30),
        ("Ti", 1 << 40),
        ("k", 1_000),
        ("M", 1_000_000),
        ("G", 1_000_000_000),
        ("T", 1_000_000_000_000),
    ];
    for (suffix, factor) in units {
        if let Some(n) = q.strip_suffix(suffix) {
            return n.parse::<u64>().ok().map(|n| n * factor);
        }
    }
    q.parse().ok()
}

fn quantity(c: &Value, which: &str, resource: &str) -> Option<u64> {
    let q = c["resources"][which][resource]
        .as_str()
        .map(str::to_string)
        .or_else(|| {
            // a bare number in YAML (cpu: 1)
            c["resources"][which][resource].as_f64().map(|n| n.to_string())
        })?;
    if resource == "cpu" {
        cpu_millis(&q)
    } else {
        memory_bytes(&q)
    }
}

/// Port of an HTTP probe (numeric, or a named container port).
fn probe_port(c: &Value, probe: &str) -> Option<u64> {
    let port = &c[probe]["httpGet"]["port"];
    port.as_u64().or_else(|| {
        let name = port.as_str()?;
        c["ports"].as_array()?.iter().find(|p| p["name"] == name)?["containerPort"].as_u64()
    })
}

/// (b) Shape and security of the Deployment. Returns the pod spec for the later checks.
fn check_deployment<'a>(r: &Render, dep: &'a Obj, p: &mut Problems) -> &'a Value {
    let spec = &dep.json["spec"];
    p.check(spec["replicas"].as_u64() == Some(1), || {
        "Deployment: replicas must be 1".to_string()
    });
    // The manager is ready only while it holds the Lease: a surge pod could never become ready.
    p.check(spec["strategy"]["type"] == "Recreate", || {
        "Deployment: strategy must be Recreate (readiness needs the Lease the old pod holds)".to_string()
    });
    let tpl = &spec["template"];
    let pod = &tpl["spec"];

    // Selector matches the template's labels.
    if let Some(sel) = spec.pointer("/selector/matchLabels").and_then(Value::as_object) {
        for (k, v) in sel {
            p.check(tpl["metadata"]["labels"][k] == *v, || {
                format!("Deployment: selector label {k}={v} is not on the pod template")
            });
        }
    }
    p.check(
        tpl.pointer("/metadata/annotations/kubectl.kubernetes.io~1default-container")
            == Some(&Value::from(MANAGER)),
        || "pod annotation kubectl.kubernetes.io/default-container must be `manager`".to_string(),
    );

    let names: Vec<String> = pod["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| c["name"].as_str().unwrap_or("").to_string())
        .collect();
    p.check(names == [MANAGER, PROVIDER], || {
        format!("containers must be exactly [{MANAGER}, {PROVIDER}] in this order, found {names:?}")
    });
    p.check(pod.get("initContainers").is_none(), || {
        "no init containers expected".to_string()
    });
    p.check(
        pod["hostNetwork"] != true && pod["hostPID"] != true && pod["hostIPC"] != true,
        || "the pod must not share host namespaces".to_string(),
    );

    // Pod security context.
    let psc = &pod["securityContext"];
    p.check(psc["runAsNonRoot"] == true, || {
        "pod: runAsNonRoot must be true".to_string()
    });
    for k in ["runAsUser", "runAsGroup", "fsGroup"] {
        p.check(psc[k].as_u64() == Some(65532), || {
            format!("pod: {k} must be 65532")
        });
    }
    p.check(
        psc.pointer("/seccompProfile/type") == Some(&Value::from("RuntimeDefault")),
        || "pod: seccompProfile.type must be RuntimeDefault".to_string(),
    );

    // ServiceAccount: exists, token only in the manager.
    let sa = pod["serviceAccountName"].as_str().unwrap_or("");
    p.check(r.find("ServiceAccount", dep.namespace(), sa).is_some(), || {
        format!("serviceAccountName {sa} is not a ServiceAccount in the render")
    });
    p.check(pod["automountServiceAccountToken"] == false, || {
        "pod: automountServiceAccountToken must be false (the token is projected into `manager` only)"
            .to_string()
    });
    let token_volumes: BTreeSet<&str> = volumes(pod)
        .filter(|v| {
            v.pointer("/projected/sources")
                .and_then(Value::as_array)
                .is_some_and(|s| s.iter().any(|s| s.get("serviceAccountToken").is_some()))
        })
        .filter_map(|v| v["name"].as_str())
        .collect();

    // Every volume is used, and every ConfigMap it reads exists: in the render, as a trust-manager Bundle
    // target, or as the API server's kube-root-ca.crt. (A missing one keeps the pod in ContainerCreating.)
    let mounted: BTreeSet<&str> = pod["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|c| c["volumeMounts"].as_array().into_iter().flatten())
        .filter_map(|m| m["name"].as_str())
        .collect();
    for v in volumes(pod) {
        let name = v["name"].as_str().unwrap_or("");
        p.check(mounted.contains(name), || {
            format!("volume {name} is mounted by no container")
        });
        let config_maps = v.pointer("/configMap/name").into_iter().chain(
            v.pointer("/projected/sources")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|s| s.pointer("/configMap/name")),
        );
        for cm in config_maps.filter_map(Value::as_str) {
            let known = cm == "kube-root-ca.crt"
                || r.find("ConfigMap", dep.namespace(), cm).is_some()
                || r.find("Bundle", None, cm).is_some();
            p.check(known, || {
                format!("volume {name} reads ConfigMap {cm}, which nothing provides")
            });
        }
    }
    // Every volume has exactly one source.
    for v in volumes(pod) {
        let sources = v
            .as_object()
            .map_or(0, |m| m.keys().filter(|k| *k != "name").count());
        p.check(sources == 1, || {
            format!("volume {} must have exactly one source", v["name"])
        });
    }
    // The socket directory: an emptyDir mounted at the same path in both containers.
    let providervol = volumes(pod).find(|v| v["name"] == "providervol");
    p.check(providervol.is_some_and(|v| v.get("emptyDir").is_some()), || {
        "volume providervol must be an emptyDir".to_string()
    });

    for c in pod["containers"].as_array().into_iter().flatten() {
        let name = c["name"].as_str().unwrap_or("?");
        let sc = &c["securityContext"];
        p.check(sc["allowPrivilegeEscalation"] == false, || {
            format!("{name}: allowPrivilegeEscalation must be false")
        });
        p.check(sc["readOnlyRootFilesystem"] == true, || {
            format!("{name}: readOnlyRootFilesystem must be true")
        });
        p.check(strings(&sc["capabilities"]["drop"]) == ["ALL"], || {
            format!("{name}: capabilities.drop must be [ALL]")
        });
        p.check(sc["capabilities"].get("add").is_none(), || {
            format!("{name}: no capabilities added")
        });
        p.check(sc["privileged"] != true, || {
            format!("{name}: must not be privileged")
        });
        p.check(
            sc["runAsNonRoot"] != false && sc["runAsUser"].as_u64() != Some(0),
            || format!("{name}: must not run as root"),
        );
        p.check(c["livenessProbe"]["httpGet"].is_object(), || {
            format!("{name}: needs an HTTP liveness probe")
        });
        for which in ["requests", "limits"] {
            for res in ["cpu", "memory"] {
                p.check(quantity(c, which, res).is_some(), || {
                    format!("{name}: resources.{which}.{res} must be set (and parse)")
                });
            }
        }
        for res in ["cpu", "memory"] {
            if let (Some(req), Some(lim)) = (quantity(c, "requests", res), quantity(c, "limits", res)) {
                p.check(req <= lim, || format!("{name}: {res} request exceeds its limit"));
            }
        }
        let image = c["image"].as_str().unwrap_or("");
        p.check(
            image.rsplit_once(':').is_some_and(|(_, tag)| !tag.contains('/')),
            || format!("{name}: image {image:?} has no tag (set it with kustomize `images:`)"),
        );
        let mounts: Vec<&Value> = c["volumeMounts"].as_array().into_iter().flatten().collect();
        p.check(
            mounts
                .iter()
                .any(|m| m["name"] == "providervol" && m["mountPath"] == "/provider"),
            || format!("{name}: must mount providervol at /provider"),
        );
        for m in &mounts {
            p.check(
                m.get("subPath").is_none() && m.get("subPathExpr").is_none(),
                || {
                    format!(
                        "{name}: mount {} uses subPath, which stops Secret/ConfigMap updates",
                        m["mountPath"]
                    )
                },
            );
            let is_token = m["name"].as_str().is_some_and(|n| token_volumes.contains(n));
            p.check(!is_token || name == MANAGER, || {
                format!(
                    "{name}: must not mount the ServiceAccount token (only `manager` talks to the API server)"
                )
            });
        }
    }
    if let Some(m) = container(pod, MANAGER) {
        let mounts_token = m["volumeMounts"].as_array().into_iter().flatten().any(|v| {
            v["mountPath"] == "/var/run/secrets/kubernetes.io/serviceaccount"
                && v["name"].as_str().is_some_and(|n| token_volumes.contains(n))
        });
        p.check(mounts_token, || {
            "manager: must get the projected ServiceAccount token at /var/run/secrets/kubernetes.io/serviceaccount"
                .to_string()
        });
        let (rc, rm) = (quantity(m, "requests", "cpu"), quantity(m, "requests", "memory"));
        let (lc, lm) = (quantity(m, "limits", "cpu"), quantity(m, "limits", "memory"));
        p.check(rc.is_some_and(|v| v <= ORIGINAL_REQUESTS.0), || {
            "manager: cpu request > 10m".to_string()
        });
        p.check(rm.is_some_and(|v| v <= ORIGINAL_REQUESTS.1), || {
            "manager: memory request > 64Mi".to_string()
        });
        p.check(lc.is_some_and(|v| v <= ORIGINAL_LIMITS.0), || {
            "manager: cpu limit > 500m".to_string()
        });
        p.check(lm.is_some_and(|v| v <= ORIGINAL_LIMITS.1), || {
            "manager: memory limit > 128Mi".to_string()
        });
        p.check(m["readinessProbe"]["httpGet"]["path"] == "/readyz", || {
            "manager: readiness probe must GET /readyz".to_string()
        });
        p.check(m["livenessProbe"]["httpGet"]["path"] == "/healthz", || {
            "manager: liveness probe must GET /healthz".to_string()
        });
    }
    if let Some(c) = container(pod, PROVIDER) {
        p.check(
            quantity(c, "limits", "memory").is_some_and(|v| v <= 128 * MI),
            || "provider: memory limit above 128Mi".to_string(),
        );
        p.check(c["livenessProbe"]["httpGet"]["path"] == "/healthz", || {
            "provider: liveness probe must GET /healthz".to_string()
        });
    }
    pod
}

// ---------------------------------------------------------------------------------------------------------
// (c) Container args and env against the binaries' clap definitions
// ---------------------------------------------------------------------------------------------------------

fn config_map_value<'a>(r: &'a Render, ns: Option<&str>, name: &str, key: &str) -> Option<&'a str> {
    r.find("ConfigMap", ns, name)?.json["data"][key].as_str()
}

/// The manager's args plus `--flag=value` for every env var it gets (literal or from a ConfigMap in the
/// render), parsed by `manager::args::Cli`.
fn check_manager_args(r: &Render, dep: &Obj, pod: &Value, p: &mut Problems) -> Option<manager::args::Cli> {
    let c = container(pod, MANAGER)?;
    let ns = dep.namespace();
    let cmd = manager::args::Cli::command();
    let env_to_long: BTreeMap<String, String> = cmd
        .get_arguments()
        .filter_map(|a| Some((a.get_env()?.to_str()?.to_string(), a.get_long()?.to_string())))
        .collect();
    let mut argv = vec!["manager".to_string()];
    argv.extend(strings(&c["args"]));
    p.check(c.get("command").is_none(), || {
        "manager: keep the image's entrypoint (no command)".to_string()
    });

    let downward = [
        consts::ENV_POD_NAME,
        consts::ENV_POD_UID,
        consts::ENV_POD_NAMESPACE,
    ];
    let mut env_flags = Vec::new();
    for e in c["env"].as_array().into_iter().flatten() {
        let name = e["name"].as_str().unwrap_or("");
        let Some(long) = env_to_long.get(name) else {
            p.add(format!("manager: env {name} is not read by any manager flag"));
            continue;
        };
        if let Some(v) = e["value"].as_str() {
            env_flags.push(format!("--{long}={v}"));
        } else if let Some(field) = e.pointer("/valueFrom/fieldRef/fieldPath").and_then(Value::as_str) {
            p.check(downward.contains(&name), || {
                format!("manager: unexpected downward-API env {name}")
            });
            let want = match name {
                n if n == consts::ENV_POD_NAME => "metadata.name",
                n if n == consts::ENV_POD_UID => "metadata.uid",
                _ => "metadata.namespace",
            };
            p.check(field == want, || {
                format!("manager: env {name} must come from {want}")
            });
        } else if let Some(sel) = e.pointer("/valueFrom/configMapKeyRef") {
            let (cm, key) = (
                sel["name"].as_str().unwrap_or(""),
                sel["key"].as_str().unwrap_or(""),
            );
            match config_map_value(r, ns, cm, key) {
                Some(v) => env_flags.push(format!("--{long}={v}")),
                None => p.add(format!(
                    "manager: env {name} reads ConfigMap {cm} key {key}, not in the render"
                )),
            }
        } else {
            p.add(format!("manager: env {name} has an unexpected source"));
        }
    }
    for d in downward {
        p.check(
            c["env"].as_array().into_iter().flatten().any(|e| e["name"] == d),
            || format!("manager: env {d} (downward API) is missing"),
        );
    }
    for from in c["envFrom"].as_array().into_iter().flatten() {
        let Some(cm_name) = from.pointer("/configMapRef/name").and_then(Value::as_str) else {
            p.add("manager: envFrom must be a configMapRef");
            continue;
        };
        let Some(cm) = r.find("ConfigMap", ns, cm_name) else {
            p.add(format!(
                "manager: envFrom ConfigMap {cm_name} is not in the render"
            ));
            continue;
        };
        for (key, value) in cm.json["data"].as_object().into_iter().flatten() {
            match env_to_long.get(key) {
                Some(long) => env_flags.push(format!("--{long}={}", value.as_str().unwrap_or(""))),
                None => p.add(format!(
                    "ConfigMap {cm_name}: key {key} is not an env name any manager flag reads"
                )),
            }
        }
    }

    // The args alone (what the flags say) and the args with the env-derived values both parse.
    if let Err(e) = manager::args::Cli::try_parse_from(&argv) {
        p.add(format!("manager args do not parse: {e}"));
        return None;
    }
    argv.extend(env_flags);
    let cli = match manager::args::Cli::try_parse_from(&argv) {
        Ok(cli) => cli,
        Err(e) => {
            p.add(format!("manager args + env do not parse: {e}"));
            return None;
        }
    };
    let run = &cli.run;
    p.check(cli.command.is_none(), || {
        "manager: args must run the controller, not a subcommand".to_string()
    });
    p.check(run.leader_elect, || {
        "manager: --leader-elect=true expected".to_string()
    });
    let tls = &run.provider;
    p.check(
        tls.provider_tls_cert_file.is_some()
            && tls.provider_tls_key_file.is_some()
            && tls.provider_tls_ca_file.is_some(),
        || "manager: mutual TLS to the provider needs cert, key and CA files".to_string(),
    );
    p.check(tls.plaintext_providers.is_empty(), || {
        "manager: no plaintext providers by default".to_string()
    });
    for f in [
        &tls.provider_tls_cert_file,
        &tls.provider_tls_key_file,
        &tls.provider_tls_ca_file,
    ]
    .into_iter()
    .flatten()
    {
        let dir = f.parent().and_then(Path::to_str).unwrap_or("");
        p.check(volume_mounted_at(pod, MANAGER, dir).is_some(), || {
            format!("manager: {} is not inside a mounted volume", f.display())
        });
    }
    let vol = tls.provider_volume.to_str().unwrap_or("");
    p.check(
        volume_mounted_at(pod, MANAGER, vol).is_some_and(|v| v["name"] == "providervol"),
        || format!("manager: --provider-volume={vol} is not the providervol mount"),
    );
    p.check(!run.audiences().is_empty(), || {
        "manager: no token audience configured".to_string()
    });
    let health = manager::args::parse_bind_address(&run.health_probe_bind_address);
    match health {
        Ok(Some(addr)) => {
            for probe in ["livenessProbe", "readinessProbe"] {
                p.check(probe_port(c, probe) == Some(u64::from(addr.port())), || {
                    format!("manager: {probe} port is not --health-probe-bind-address ({addr})")
                });
            }
        }
        _ => p.add("manager: --health-probe-bind-address must be an address (the probes need it)"),
    }
    match manager::args::parse_bind_address(&run.metrics_bind_address) {
        Ok(Some(addr)) => p.check(
            c["ports"].as_array().into_iter().flatten().any(|port| {
                port["name"] == "metrics" && port["containerPort"].as_u64() == Some(u64::from(addr.port()))
            }),
            || format!("manager: container port `metrics` is not --metrics-bind-address ({addr})"),
        ),
        other => p.add(format!(
            "manager: --metrics-bind-address does not parse: {other:?}"
        )),
    }
    Some(cli)
}

fn check_provider_args(pod: &Value, manager: Option<&manager::args::Cli>, p: &mut Problems) {
    let Some(c) = container(pod, PROVIDER) else {
        return;
    };
    p.check(c.get("env").is_none() && c.get("envFrom").is_none(), || {
        "provider: configured by args only".to_string()
    });
    p.check(c.get("command").is_none(), || {
        "provider: keep the image's entrypoint (no command)".to_string()
    });
    let argv = std::iter::once("provider-azure".to_string()).chain(strings(&c["args"]));
    let args = match provider_azure::Args::try_parse_from(argv) {
        Ok(a) => a,
        Err(e) => {
            p.add(format!("provider args do not parse: {e}"));
            return;
        }
    };
    p.check(!args.plaintext, || {
        "provider: must not serve plaintext".to_string()
    });
    for f in [&args.tls_cert_file, &args.tls_key_file, &args.tls_client_ca_file] {
        match f {
            Some(f) => {
                let dir = f.parent().and_then(Path::to_str).unwrap_or("");
                p.check(volume_mounted_at(pod, PROVIDER, dir).is_some(), || {
                    format!("provider: {} is not inside a mounted volume", f.display())
                });
            }
            None => p.add("provider: mutual TLS needs --tls-cert-file, --tls-key-file, --tls-client-ca-file"),
        }
    }
    // The socket is <provider volume>/azure.sock, where the manager looks for provider `azure`.
    match args.endpoint.strip_prefix("unix://") {
        Some(path) => {
            let path = Path::new(path);
            let dir = path.parent().and_then(Path::to_str).unwrap_or("");
            p.check(
                volume_mounted_at(pod, PROVIDER, dir).is_some_and(|v| v["name"] == "providervol"),
                || {
                    format!(
                        "provider: socket {} is not in the providervol mount",
                        path.display()
                    )
                },
            );
            p.check(path.file_name() == Some("azure.sock".as_ref()), || {
                "provider: the socket must be azure.sock (SecretProviderClass `provider: azure`)".to_string()
            });
            if let Some(m) = manager {
                let mgr_dir = &m.run.provider.provider_volume;
                let mgr_vol = volume_mounted_at(pod, MANAGER, mgr_dir.to_str().unwrap_or(""));
                let prov_vol = volume_mounted_at(pod, PROVIDER, dir);
                p.check(mgr_vol.is_some() && mgr_vol == prov_vol, || {
                    "manager --provider-volume and the provider's socket directory are not the same volume"
                        .to_string()
                });
            }
        }
        None => p.add(format!(
            "provider: --endpoint must be a unix socket, is {}",
            args.endpoint
        )),
    }
    match args.health_addr.0 {
        Some(addr) => p.check(
            probe_port(c, "livenessProbe") == Some(u64::from(addr.port())),
            || format!("provider: liveness probe port is not --health-addr ({addr})"),
        ),
        None => p.add("provider: --health-addr is disabled but the liveness probe needs it"),
    }
}

// ---------------------------------------------------------------------------------------------------------
// (d) (f) Admission policies
// ---------------------------------------------------------------------------------------------------------

/// The manager ServiceAccount named in a matchCondition: `(namespace, name)`.
fn username_in(expr: &str) -> Option<(String, String)> {
    let start = expr.find("system:serviceaccount:")? + "system:serviceaccount:".len();
    let rest = &expr[start..];
    let end = rest.find(['\'', '"'])?;
    let (ns, name) = rest[..end].split_once(':')?;
    Some((ns.to_string(), name.to_string()))
}

fn check_policies(r: &Render, dep: &Obj, pod: &Value, p: &mut Problems) -> usize {
    let policies: BTreeMap<&str, &Obj> = r
        .of_kind("ValidatingAdmissionPolicy")
        .map(|o| (o.name(), o))
        .collect();
    let bindings: Vec<&Obj> = r.of_kind("ValidatingAdmissionPolicyBinding").collect();
    let names: BTreeSet<&str> = policies.keys().copied().collect();
    p.check(names == POLICIES.into_iter().collect::<BTreeSet<_>>(), || {
        format!("policies must be exactly {POLICIES:?}, found {names:?}")
    });
    let sa = (
        dep.namespace().unwrap_or("").to_string(),
        pod["serviceAccountName"].as_str().unwrap_or("").to_string(),
    );
    let mut cel_count = 0;

    for b in &bindings {
        let policy_name = b.str_at("/spec/policyName");
        let Some(policy) = policies.get(policy_name) else {
            p.add(format!(
                "{}: policyName {policy_name} is not a policy in the render",
                b.id()
            ));
            continue;
        };
        p.check(b.name() == format!("{policy_name}-binding"), || {
            format!("{}: must be named {policy_name}-binding", b.id())
        });
        p.check(strings(&b.json["spec"]["validationActions"]) == ["Deny"], || {
            format!("{}: validationActions must be [Deny]", b.id())
        });
        match (
            policy.json["spec"].get("paramKind"),
            b.json["spec"].get("paramRef"),
        ) {
            (Some(kind), Some(pref)) => {
                p.check(kind["apiVersion"] == "v1" && kind["kind"] == "ConfigMap", || {
                    format!("{}: only ConfigMap params are expected", policy.id())
                });
                let (name, ns) = (pref["name"].as_str().unwrap_or(""), pref["namespace"].as_str());
                p.check(ns.is_some(), || {
                    format!(
                        "{}: paramRef needs an explicit namespace (else the request's is used)",
                        b.id()
                    )
                });
                p.check(pref["parameterNotFoundAction"] == "Deny", || {
                    format!("{}: parameterNotFoundAction must be Deny", b.id())
                });
                p.check(r.find("ConfigMap", ns, name).is_some(), || {
                    format!(
                        "{}: paramRef ConfigMap {ns:?}/{name} is not in the render",
                        b.id()
                    )
                });
            }
            (None, None) => {}
            _ => p.add(format!("{}: paramKind and paramRef must come together", b.id())),
        }
    }
    for (name, policy) in &policies {
        p.check(
            bindings.iter().any(|b| b.str_at("/spec/policyName") == *name),
            || format!("{}: has no binding", policy.id()),
        );
        let spec = &policy.json["spec"];
        p.check(spec["failurePolicy"] == "Fail", || {
            format!("{}: failurePolicy must be Fail", policy.id())
        });

        // (f) Secret and token policies constrain exactly the manager's ServiceAccount.
        let resources: BTreeSet<String> = spec["matchConstraints"]["resourceRules"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|rule| strings(&rule["resources"]))
            .collect();
        if resources
            .iter()
            .any(|r| r == "secrets" || r == "serviceaccounts/token")
        {
            let conds: Vec<&Value> = spec["matchConditions"].as_array().into_iter().flatten().collect();
            let users: Vec<Option<(String, String)>> = conds
                .iter()
                .map(|c| username_in(c["expression"].as_str().unwrap_or("")))
                .collect();
            p.check(users.len() == 1 && users[0].as_ref() == Some(&sa), || {
                format!(
                    "{}: must match only system:serviceaccount:{}:{} (the Deployment's), found {users:?}",
                    policy.id(),
                    sa.0,
                    sa.1
                )
            });
        }

        // CEL: matchConditions, variables (each may use earlier ones), validations, audit annotations.
        let has_params = spec.get("paramKind").is_some();
        let mut full_roots = vec![
            "object",
            "oldObject",
            "request",
            "authorizer",
            "namespaceObject",
            "variables",
        ];
        if has_params {
            full_roots.push("params");
        }
        let mut exprs: Vec<(String, &str, Vec<&str>, BTreeSet<String>)> = Vec::new();
        for (i, c) in spec["matchConditions"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            let e = c["expression"].as_str().unwrap_or("");
            exprs.push((
                format!("matchConditions[{i}]"),
                e,
                vec!["object", "oldObject", "request", "authorizer"],
                BTreeSet::new(),
            ));
        }
        let mut declared = BTreeSet::new();
        for (i, v) in spec["variables"].as_array().into_iter().flatten().enumerate() {
            let e = v["expression"].as_str().unwrap_or("");
            exprs.push((format!("variables[{i}]"), e, full_roots.clone(), declared.clone()));
            declared.insert(v["name"].as_str().unwrap_or("").to_string());
        }
        let vals: Vec<&Value> = spec["validations"].as_array().into_iter().flatten().collect();
        p.check(!vals.is_empty(), || {
            format!("{}: has no validations", policy.id())
        });
        for (i, v) in vals.iter().enumerate() {
            exprs.push((
                format!("validations[{i}].expression"),
                v["expression"].as_str().unwrap_or(""),
                full_roots.clone(),
                declared.clone(),
            ));
            if let Some(m) = v["messageExpression"].as_str() {
                exprs.push((
                    format!("validations[{i}].messageExpression"),
                    m,
                    full_roots.clone(),
                    declared.clone(),
                ));
            }
            p.check(
                non_empty_str(&v["message"]) || non_empty_str(&v["messageExpression"]),
                || format!("{}: validations[{i}] needs a message", policy.id()),
            );
            p.check(
                matches!(
                    v["reason"].as_str(),
                    None | Some("Unauthorized" | "Forbidden" | "Invalid" | "RequestEntityTooLarge")
                ),
                || format!("{}: validations[{i}].reason is not a valid reason", policy.id()),
            );
        }
        for (i, a) in spec["auditAnnotations"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            exprs.push((
                format!("auditAnnotations[{i}]"),
                a["valueExpression"].as_str().unwrap_or(""),
                full_roots.clone(),
                declared.clone(),
            ));
        }
        for (at, expr, roots, vars) in &exprs {
            cel_count += 1;
            if let Err(e) = check_cel(expr, roots, vars) {
                p.add(format!("{}: {at}: CEL {e}: {expr}", policy.id()));
            }
            if let Err(e) = parse_cel(expr) {
                p.add(format!("{}: {at}: CEL parser: {e}: {expr}", policy.id()));
            }
        }
    }

    // Interface constants the policies must agree with (sse-api).
    let text = |name: &str| policies.get(name).map(|o| o.json.to_string()).unwrap_or_default();
    let token = text(POLICIES[4]);
    p.check(
        token.contains(&format!("== {}", consts::TOKEN_EXPIRATION_SECONDS)),
        || {
            format!(
                "validate-token policy must pin expirationSeconds to {}",
                consts::TOKEN_EXPIRATION_SECONDS
            )
        },
    );
    p.check(
        text(POLICIES[3]).contains(&format!("'{}'", consts::CONTROLLER_LABEL_KEY)),
        || {
            format!(
                "update-label policy must check label {}",
                consts::CONTROLLER_LABEL_KEY
            )
        },
    );
    for name in [POLICIES[0], POLICIES[2]] {
        let t = text(name);
        p.check(
            t.contains(&format!("'{}'", consts::SECRET_SYNC_KIND))
                && t.contains(&format!("'{}/'", consts::SECRET_SYNC_GROUP)),
            || {
                format!(
                    "{name} must check owner kind {} and group {}",
                    consts::SECRET_SYNC_KIND,
                    consts::SECRET_SYNC_GROUP
                )
            },
        );
    }

    // The audience is configured once: the manager's TOKEN_REQUEST_AUDIENCE and the token policy's param
    // are the same ConfigMap key.
    let env_ref = container(pod, MANAGER).and_then(|c| {
        c["env"]
            .as_array()?
            .iter()
            .find(|e| e["name"] == "TOKEN_REQUEST_AUDIENCE")?
            .pointer("/valueFrom/configMapKeyRef")
            .cloned()
    });
    let param_ref = bindings
        .iter()
        .find(|b| b.str_at("/spec/policyName") == POLICIES[4])
        .and_then(|b| b.json["spec"].get("paramRef").cloned());
    match (env_ref, param_ref) {
        (Some(env), Some(param)) => {
            p.check(
                env["name"] == param["name"] && param["namespace"].as_str() == dep.namespace(),
                || "TOKEN_REQUEST_AUDIENCE and the token policy's paramRef must name the same ConfigMap".to_string(),
            );
            let key = env["key"].as_str().unwrap_or("");
            p.check(token.contains(&format!("'{key}'")), || {
                format!("the token policy must read the key {key} that TOKEN_REQUEST_AUDIENCE reads")
            });
        }
        _ => p.add("the token audience must come from one ConfigMap: TOKEN_REQUEST_AUDIENCE via configMapKeyRef and the token policy via paramRef"),
    }
    cel_count
}

// ---------------------------------------------------------------------------------------------------------
// CEL: a lexical and structural check (no CEL parser crate in the workspace)
// ---------------------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Lit,
    Op(&'static str),
    Open(char),
    Close(char),
    Dot,
    Comma,
}

fn lex(s: &str) -> Result<Vec<Tok>, String> {
    let c: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < c.len() {
        let ch = c[i];
        if ch.is_whitespace() {
            i += 1;
            continue;
        }
        // String and bytes literals, with r/b prefixes and triple quotes.
        let mut j = i;
        let mut raw = false;
        while j < c.len() && j - i < 2 && matches!(c[j], 'r' | 'R' | 'b' | 'B') {
            raw |= matches!(c[j], 'r' | 'R');
            j += 1;
        }
        if j < c.len() && (c[j] == '\'' || c[j] == '"') {
            let q = c[j];
            let triple = c.get(j + 1) == Some(&q) && c.get(j + 2) == Some(&q);
            let mut k = if triple { j + 3 } else { j + 1 };
            loop {
                match c.get(k) {
                    None => return Err("has an unterminated string literal".into()),
                    Some('\\') if !raw => k += 2,
                    Some('\n') if !triple => return Err("has a newline inside a string literal".into()),
                    Some(&x) if x == q => {
                        if !triple {
                            k += 1;
                            break;
                        }
                        if c.get(k + 1) == Some(&q) && c.get(k + 2) == Some(&q) {
                            k += 3;
                            break;
                        }
                        k += 1;
                    }
                    Some(_) => k += 1,
                }
            }
            out.push(Tok::Lit);
            i = k;
            continue;
        }
        if ch.is_ascii_digit() || (ch == '.' && c.get(i + 1).is_some_and(char::is_ascii_digit)) {
            let hex = ch == '0' && matches!(c.get(i + 1), Some('x' | 'X'));
            let mut k = i + 1;
            while k < c.len()
                && (c[k].is_ascii_alphanumeric()
                    || (c[k] == '.' && c.get(k + 1).is_some_and(char::is_ascii_digit))
                    || (!hex && matches!(c[k], '+' | '-') && matches!(c[k - 1], 'e' | 'E')))
            {
                k += 1;
            }
            out.push(Tok::Lit);
            i = k;
            continue;
        }
        if ch.is_alphabetic() || ch == '_' {
            let mut k = i;
            while k < c.len() && (c[k].is_alphanumeric() || c[k] == '_') {
                k += 1;
            }
            let word: String = c[i..k].iter().collect();
            out.push(match word.as_str() {
                "true" | "false" | "null" => Tok::Lit,
                "in" => Tok::Op("in"),
                _ => Tok::Ident(word),
            });
            i = k;
            continue;
        }
        let two: String = c[i..(i + 2).min(c.len())].iter().collect();
        let op2 = ["==", "!=", "<=", ">=", "&&", "||"]
            .into_iter()
            .find(|o| *o == two);
        if let Some(op) = op2 {
            out.push(Tok::Op(op));
            i += 2;
            continue;
        }
        out.push(match ch {
            '<' => Tok::Op("<"),
            '>' => Tok::Op(">"),
            '+' => Tok::Op("+"),
            '-' => Tok::Op("-"),
            '*' => Tok::Op("*"),
            '/' => Tok::Op("/"),
            '%' => Tok::Op("%"),
            '!' => Tok::Op("!"),
            '?' => Tok::Op("?"),
            ':' => Tok::Op(":"),
            '(' | '[' | '{' => Tok::Open(ch),
            ')' | ']' | '}' => Tok::Close(ch),
            '.' => Tok::Dot,
            ',' => Tok::Comma,
            '=' => return Err("has a single `=` (comparison is `==`)".into()),
            '&' => return Err("has a single `&` (logical and is `&&`)".into()),
            '|' => return Err("has a single `|` (logical or is `||`)".into()),
            other => return Err(format!("has an unexpected character {other:?}")),
        });
        i += 1;
    }
    Ok(out)
}

const MACROS: [&str; 5] = ["all", "exists", "exists_one", "map", "filter"];

/// Parse one expression with a real CEL parser. `cel-parser` panics on some malformed inputs instead of
/// returning an error, so a panic counts as a parse failure.
fn parse_cel(expr: &str) -> Result<(), String> {
    let owned = expr.to_string();
    match std::panic::catch_unwind(move || {
        cel_parser::Parser::new()
            .parse(&owned)
            .map(|_| ())
            .map_err(|e| format!("{e:?}"))
    }) {
        Ok(result) => result,
        Err(_) => Err("the parser panicked (malformed expression)".into()),
    }
}

/// Syntax-level check of one CEL expression: tokens, bracket balance, operand/operator order, root
/// identifiers limited to `roots` (plus macro-bound names), `variables.X` limited to `variables`, and
/// `has()` applied to a field selection.
fn check_cel(expr: &str, roots: &[&str], variables: &BTreeSet<String>) -> Result<(), String> {
    if expr.trim().is_empty() {
        return Err("is empty".into());
    }
    let toks = lex(expr)?;

    // Operand/operator order and brackets.
    let closing = |open: char| match open {
        '(' => ')',
        '[' => ']',
        _ => '}',
    };
    let mut stack: Vec<char> = Vec::new();
    let mut want_operand = true;
    for (i, t) in toks.iter().enumerate() {
        let prev = i.checked_sub(1).map(|k| &toks[k]);
        if want_operand {
            match t {
                Tok::Lit | Tok::Ident(_) => want_operand = false,
                Tok::Op("!" | "-") => {}
                Tok::Open(o) => stack.push(*o),
                Tok::Close(c) if matches!(prev, Some(Tok::Open(_) | Tok::Comma)) => {
                    if stack.pop().map(closing) != Some(*c) {
                        return Err(format!("has an unbalanced `{c}`"));
                    }
                    if matches!(prev, Some(Tok::Comma)) && *c == ')' {
                        return Err("has a trailing comma in a call".into());
                    }
                    want_operand = false;
                }
                other => return Err(format!("expects an operand at token {i}, found {other:?}")),
            }
        } else {
            match t {
                Tok::Op("!") => return Err(format!("has `!` after an operand at token {i}")),
                Tok::Op(_) => want_operand = true,
                Tok::Dot => {
                    if !matches!(toks.get(i + 1), Some(Tok::Ident(_))) {
                        return Err(format!("has `.` not followed by a name at token {i}"));
                    }
                    want_operand = true;
                }
                Tok::Open('(') => {
                    if !matches!(prev, Some(Tok::Ident(_))) {
                        return Err(format!("calls something that is not a name at token {i}"));
                    }
                    stack.push('(');
                    want_operand = true;
                }
                Tok::Open(o) => {
                    stack.push(*o);
                    want_operand = true;
                }
                Tok::Close(c) => {
                    if stack.pop().map(closing) != Some(*c) {
                        return Err(format!("has an unbalanced `{c}`"));
                    }
                }
                Tok::Comma => {
                    if stack.is_empty() {
                        return Err(format!("has a `,` outside brackets at token {i}"));
                    }
                    want_operand = true;
                }
                other => return Err(format!("expects an operator at token {i}, found {other:?}")),
            }
        }
    }
    if !stack.is_empty() {
        return Err(format!("has unclosed {stack:?}"));
    }
    if want_operand {
        return Err("ends where an operand is expected".into());
    }

    // Names bound by macros: `.all(x, ...)`.
    let mut bound = BTreeSet::new();
    for w in toks.windows(5) {
        if let [Tok::Dot, Tok::Ident(m), Tok::Open('('), Tok::Ident(v), Tok::Comma] = w
            && MACROS.contains(&m.as_str())
        {
            bound.insert(v.clone());
        }
    }
    for (i, t) in toks.iter().enumerate() {
        let Tok::Ident(name) = t else { continue };
        let after_dot = i > 0 && toks[i - 1] == Tok::Dot;
        let is_call = toks.get(i + 1) == Some(&Tok::Open('('));
        if after_dot || is_call {
            continue;
        }
        if !(roots.contains(&name.as_str()) || bound.contains(name)) {
            return Err(format!(
                "uses unknown identifier `{name}` (known here: {roots:?})"
            ));
        }
        if name == "variables" {
            match toks.get(i + 2) {
                Some(Tok::Ident(v)) if toks.get(i + 1) == Some(&Tok::Dot) && variables.contains(v) => {}
                Some(Tok::Ident(v)) => return Err(format!("uses undeclared variables.{v}")),
                _ => return Err("uses `variables` without a member".into()),
            }
        }
    }
    // has() takes a field selection: has(a.b.c).
    for (i, t) in toks.iter().enumerate() {
        if *t == Tok::Ident("has".into())
            && toks.get(i + 1) == Some(&Tok::Open('('))
            && (i == 0 || toks[i - 1] != Tok::Dot)
        {
            let end = toks[i + 2..]
                .iter()
                .position(|t| *t == Tok::Close(')'))
                .map(|k| i + 2 + k);
            let arg = end.map(|e| &toks[i + 2..e]).unwrap_or_default();
            let selection = arg.len() >= 3
                && arg.iter().enumerate().all(|(k, t)| {
                    if k % 2 == 0 {
                        matches!(t, Tok::Ident(_))
                    } else {
                        *t == Tok::Dot
                    }
                })
                && !arg.len().is_multiple_of(2);
            if !selection {
                return Err("has() must be applied to a field selection like has(a.b)".into());
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------------------
// (g) RBAC
// ---------------------------------------------------------------------------------------------------------

/// (scope, apiGroup, resource, resourceNames) -> verbs, for every rule bound to the ServiceAccount.
type Grants = BTreeMap<(String, String, String, String), BTreeSet<String>>;

fn grants_of(r: &Render, sa_ns: &str, sa_name: &str, p: &mut Problems) -> Grants {
    let mut grants = Grants::new();
    let is_sa = |b: &Obj| {
        b.json["subjects"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|s| s["kind"] == "ServiceAccount" && s["name"] == sa_name && s["namespace"] == sa_ns)
    };
    let mut add = |scope: &str, role: &Obj| {
        for rule in role.json["rules"].as_array().into_iter().flatten() {
            let names = strings(&rule["resourceNames"]).join(",");
            for g in strings(&rule["apiGroups"]) {
                for res in strings(&rule["resources"]) {
                    let e = grants
                        .entry((scope.to_string(), g.clone(), res.clone(), names.clone()))
                        .or_default();
                    e.extend(strings(&rule["verbs"]));
                }
            }
        }
    };
    for b in r.of_kind("ClusterRoleBinding").filter(|b| is_sa(b)) {
        let role = b.str_at("/roleRef/name");
        match r.find("ClusterRole", None, role) {
            Some(cr) => add("cluster", cr),
            None => p.add(format!("{}: ClusterRole {role} is not in the render", b.id())),
        }
    }
    for b in r.of_kind("RoleBinding").filter(|b| is_sa(b)) {
        let role = b.str_at("/roleRef/name");
        let ns = b.namespace().unwrap_or("");
        let found = match b.str_at("/roleRef/kind") {
            "ClusterRole" => r.find("ClusterRole", None, role),
            _ => r.find("Role", b.namespace(), role),
        };
        match found {
            Some(role) => add(ns, role),
            None => p.add(format!("{}: role {role} is not in the render", b.id())),
        }
    }
    grants
}

/// Every binding's roleRef resolves, and the manager's grants are exactly SPEC §7.4.
fn check_rbac(r: &Render, dep: &Obj, pod: &Value, watch: bool, p: &mut Problems) -> String {
    for b in r.of_kind("ClusterRoleBinding").chain(r.of_kind("RoleBinding")) {
        p.check(
            b.str_at("/roleRef/apiGroup") == "rbac.authorization.k8s.io",
            || format!("{}: roleRef.apiGroup", b.id()),
        );
    }
    let ns = dep.namespace().unwrap_or("");
    let sa = pod["serviceAccountName"].as_str().unwrap_or("");
    let grants = grants_of(r, ns, sa, p);

    let set = |v: &[&str]| v.iter().map(|s| (*s).to_string()).collect::<BTreeSet<String>>();
    let key = |scope: &str, g: &str, res: &str, names: &str| {
        (
            scope.to_string(),
            g.to_string(),
            res.to_string(),
            names.to_string(),
        )
    };
    let secrets: &[&str] = if watch {
        &["create", "patch", "list", "watch"]
    } else {
        &["create", "patch"]
    };
    let expected: Grants = [
        (key("cluster", "", "secrets", ""), set(secrets)),
        (key("cluster", "", "serviceaccounts/token", ""), set(&["create"])),
        (
            key(
                "cluster",
                "secrets-store.csi.x-k8s.io",
                "secretproviderclasses",
                "",
            ),
            set(&["get", "list", "watch"]),
        ),
        (
            key("cluster", "secret-sync.x-k8s.io", "secretsyncs", ""),
            set(&["get", "list", "watch"]),
        ),
        (
            key("cluster", "secret-sync.x-k8s.io", "secretsyncs/status", ""),
            set(&["get", "patch", "update"]),
        ),
        (key("cluster", "", "events", ""), set(&["create", "patch"])),
        (
            key("cluster", "events.k8s.io", "events", ""),
            set(&["create", "patch"]),
        ),
        (key(ns, "coordination.k8s.io", "leases", ""), set(&["create"])),
        (
            key(ns, "coordination.k8s.io", "leases", consts::LEADER_ELECTION_ID),
            set(&["get", "update"]),
        ),
    ]
    .into_iter()
    .collect();

    // (g) the Secret verbs, stated on their own so a failure reads plainly.
    let secret_verbs: BTreeSet<String> = grants
        .iter()
        .filter(|((_, g, res, _), _)| (g.is_empty() || g == "*") && (res == "secrets" || res == "*"))
        .flat_map(|(_, v)| v.iter().cloned())
        .collect();
    p.check(secret_verbs == set(secrets), || {
        format!("the manager's verbs on Secrets must be exactly {secrets:?}, are {secret_verbs:?}")
    });
    if grants != expected {
        let extra: Vec<_> = grants
            .iter()
            .filter(|(k, v)| expected.get(*k) != Some(*v))
            .collect();
        let missing: Vec<_> = expected
            .iter()
            .filter(|(k, v)| grants.get(*k) != Some(*v))
            .collect();
        p.add(format!(
            "the manager's RBAC differs from SPEC §7.4: granted but not expected {extra:?}; expected but not granted {missing:?}"
        ));
    }
    format!(
        "Secrets {{{}}}",
        secret_verbs.into_iter().collect::<Vec<_>>().join(",")
    )
}

// ---------------------------------------------------------------------------------------------------------
// (e) CRDs
// ---------------------------------------------------------------------------------------------------------

/// `deploy/crds/*.yaml`, by CRD name, as parsed values.
fn crd_files() -> BTreeMap<String, Value> {
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(deploy_dir().join("crds")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let v: Value = serde_yaml_ng::from_str(&std::fs::read_to_string(&path).unwrap())
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let name = v["metadata"]["name"].as_str().unwrap().to_string();
            assert_eq!(
                path.file_name().unwrap().to_str().unwrap(),
                format!("{name}.yaml"),
                "CRD file name must be <crd name>.yaml"
            );
            files.insert(name, v);
        }
    }
    files
}

/// Equal as parsed YAML: numbers compare by value (kustomize re-serialises `0.0` as `0`).
fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same_value(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same_value(v, w)))
        }
        _ => a == b,
    }
}

fn check_crds(r: &Render, p: &mut Problems) -> usize {
    let files = crd_files();
    let rendered: BTreeMap<&str, &Value> = r
        .of_kind("CustomResourceDefinition")
        .map(|o| (o.name(), &o.json))
        .collect();
    let names: BTreeSet<&str> = rendered.keys().copied().collect();
    let file_names: BTreeSet<&str> = files.keys().map(String::as_str).collect();
    p.check(names == file_names, || {
        format!("rendered CRDs {names:?} differ from deploy/crds/*.yaml {file_names:?} (update deploy/crds/Kustomization)")
    });
    for (name, v) in &rendered {
        if let Some(f) = files.get(*name) {
            p.check(same_value(v, f), || {
                format!("rendered CRD {name} differs from deploy/crds/{name}.yaml")
            });
        }
    }
    rendered.len()
}

// ---------------------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------------------

fn check_overlay(dir: &Path) -> (String, Vec<String>) {
    let label = dir
        .strip_prefix(deploy_dir())
        .unwrap_or(dir)
        .display()
        .to_string();
    let mut p = Problems::new(&label);
    let r = Render {
        objects: parse_documents(&kubectl_kustomize(dir)),
    };
    check_objects(&r, &mut p);
    let crds = check_crds(&r, &mut p);

    let deps: Vec<&Obj> = r.of_kind("Deployment").collect();
    if deps.len() != 1 {
        p.add(format!("expected exactly one Deployment, found {}", deps.len()));
        return (format!("deploy/{label}: FAILED"), p.list);
    }
    let dep = deps[0];
    p.check(dep.namespace() == Some(NAMESPACE), || {
        format!("the Deployment must be in {NAMESPACE}")
    });
    let pod = check_deployment(&r, dep, &mut p);
    let cli = check_manager_args(&r, dep, pod, &mut p);
    check_provider_args(pod, cli.as_ref(), &mut p);
    // Whether the manager watches owned Secrets decides which Secret verbs it must have. If its args did not
    // parse (already reported), fall back to the literal flag so the RBAC report stays meaningful.
    let watch = match &cli {
        Some(c) => c.run.watch_owned_secrets,
        None => container(pod, MANAGER).is_some_and(|c| {
            strings(&c["args"])
                .iter()
                .any(|a| a == "--watch-owned-secrets=true")
        }),
    };
    let rbac = check_rbac(&r, dep, pod, watch, &mut p);
    let cel = check_policies(&r, dep, pod, &mut p);
    let tls = check_tls_chain(&r, dep, &mut p);

    let status = if p.list.is_empty() { "ok" } else { "FAILED" };
    let line = format!(
        "deploy/{label}: {status}: {} objects, {crds} CRDs, {} policies, {cel} CEL expressions (parsed by cel-parser \
         and structurally checked), RBAC {rbac}, watch-owned-secrets={watch}, TLS: {tls}",
        r.objects.len(),
        r.of_kind("ValidatingAdmissionPolicy").count(),
    );
    (line, p.list)
}

#[test]
fn every_installable_kustomization_renders_and_is_consistent() {
    let dirs = installable_dirs();
    assert!(dirs.len() >= 3, "expected default + overlays, found {dirs:?}");
    let mut problems = Vec::new();
    let mut watch_seen = false;
    for dir in &dirs {
        let (line, list) = check_overlay(dir);
        println!("{line}");
        watch_seen |= line.contains("watch-owned-secrets=true");
        problems.extend(list);
    }
    assert!(
        problems.is_empty(),
        "deploy/ problems:\n  {}",
        problems.join("\n  ")
    );
    assert!(watch_seen, "no overlay switches the owned-Secret watch on");
}

#[test]
fn crd_files_equal_the_generated_crds() {
    let files = crd_files();
    let generated = sse_api::generated_crds().expect("CRD versions merge");
    let names: BTreeSet<String> = generated
        .iter()
        .map(|g| g.crd.metadata.name.clone().unwrap())
        .collect();
    assert_eq!(
        names,
        files.keys().cloned().collect::<BTreeSet<_>>(),
        "deploy/crds/*.yaml and sse_api::generated_crds() list different CRDs: run `cargo xtask crdgen`"
    );
    for g in generated {
        let want = serde_json::to_value(&g.crd).unwrap();
        let name = g.crd.metadata.name.clone().unwrap();
        assert_eq!(
            files[&name], want,
            "deploy/crds/{} is stale: run `cargo xtask crdgen`",
            g.file_name
        );
    }
}

#[test]
fn cel_check_accepts_the_policy_idioms_and_rejects_common_mistakes() {
    let roots = ["object", "oldObject", "request", "params", "variables"];
    let vars: BTreeSet<String> = ["allowed".to_string()].into();
    let good = [
        "request.userInfo.username == 'system:serviceaccount:ns:sa'",
        "has(object.metadata.ownerReferences) && size(object.metadata.ownerReferences) == 1 && \
         object.metadata.ownerReferences.all(o, o.kind == 'SecretSync' && o.apiVersion.startsWith('x/'))",
        "has(params.data) && 'k' in params.data ? params.data['k'].split(',').map(a, a.trim()).filter(a, a != '') : []",
        "variables.allowed && !(object.type in ['Opaque', \"kubernetes.io/tls\"])",
        "'a ' + request.operation + ' b' + string(object.spec.expirationSeconds)",
        "object.spec.audiences[0] in ['x'] && -1 < 2 && {'k': 1}['k'] == 1 && r'\\d' != b\"x\"",
    ];
    for e in good {
        assert_eq!(check_cel(e, &roots, &vars), Ok(()), "{e}");
    }
    let bad = [
        ("", "empty"),
        ("object.type = 'Opaque'", "single `=`"),
        ("object.type == 'Opaque", "unterminated"),
        ("size(object.data == 1", "unclosed"),
        ("object.type == 'a')", "unbalanced"),
        ("objet.type == 'Opaque'", "unknown identifier"),
        ("variables.nope", "undeclared"),
        ("object.type 'Opaque'", "operator"),
        ("object.type ==", "ends where an operand"),
        ("has(object['x'])", "has()"),
        ("object.type == 'a' & true", "single `&`"),
    ];
    for (e, want) in bad {
        let err = check_cel(e, &["object", "variables", "a"], &vars).expect_err(e);
        assert!(
            err.contains(want),
            "{e:?}: expected an error about {want:?}, got {err:?}"
        );
    }
}

#[test]
fn installable_dirs_are_discovered() {
    let dirs: Vec<String> = installable_dirs()
        .iter()
        .map(|d| d.strip_prefix(deploy_dir()).unwrap().display().to_string())
        .collect();
    for want in [
        "default",
        "overlays/no-cert-manager",
        "overlays/watch-owned-secrets",
    ] {
        assert!(dirs.iter().any(|d| d == want), "{want} missing from {dirs:?}");
    }
}

#[test]
fn the_cel_parser_accepts_policy_idioms_and_rejects_malformed_expressions() {
    for ok in [
        "has(object.metadata.ownerReferences) && size(object.metadata.ownerReferences) == 1",
        "object.type in ['Opaque', 'kubernetes.io/tls']",
        "request.userInfo.username == 'system:serviceaccount:azure-secret-store:secrets-store-sync-controller-manager'",
    ] {
        assert_eq!(parse_cel(ok), Ok(()), "{ok}");
    }
    for bad in ["a ==", "'x", "object.type in [", "(a && b"] {
        assert!(parse_cel(bad).is_err(), "{bad} should not parse");
    }
}
