//! `kubectl sse doctor NAME`: the troubleshooting table and runbook of the original's documentation, run as
//! checks against one SecretSync, each with a verdict and the exact command that fixes it.
//!
//! The doctor reads (never writes) what a person would look at: the SecretSync and its status, its
//! SecretProviderClass, its ServiceAccount, the cluster's token issuer, the token audience the admission
//! policy allows, the SSE-rs pod, a same-named Secret's *metadata* (who owns it, never what it holds) and the
//! SecretSync's Events. What it cannot read with the caller's rights is a `skip`, not a failure. The
//! provider's last Key Vault error, as the manager recorded it in the `Ready` condition, is classified
//! (DNS, firewall or private link, Entra, missing role or access policy, not found, disabled) and an
//! object's expiry comes from `status.validity`.
//!
//! Gathering ([`gather`]) is the only I/O; [`diagnose`] is a pure function of the [`Facts`], so each check
//! is tested on the statuses the manager really writes (tier 2, against the emulator's faults).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use anyhow::Result;
use k8s_openapi::api::core::v1::{ConfigMap, Event, Pod, Secret, ServiceAccount};
use kube::ResourceExt as _;
use kube::api::{Api, ListParams};
use serde::Serialize;
use sse_api::conditions::{self, READY};
use sse_api::consts::{ADOPTABLE_ANNOTATION, CONTROLLER_LABEL_KEY, CONTROLLER_LABEL_VALUE};
use sse_api::{Reason, SecretProviderClass, SecretSync};

use crate::cli::{Output, Target};

/// The audience Azure workload identity federation needs in the ServiceAccount token.
const AZURE_AUDIENCE: &str = provider_proto::contract::WORKLOAD_IDENTITY_AUDIENCE;
/// The ConfigMap both the manager and the token admission policy read the allowed audiences from.
const AUDIENCE_CONFIGMAP: &str = "secrets-store-sync-controller-token-audience";
/// The SSE-rs pod's label.
const POD_SELECTOR: &str = "app=secrets-store-sync-controller";
/// The provider's container.
const PROVIDER_CONTAINER: &str = "provider-azure-installer";

/// `kubectl sse doctor` arguments.
#[derive(clap::Args, Debug)]
pub struct DoctorArgs {
    /// The SecretSync.
    pub name: String,
    /// The namespace SSE-rs is installed in (its pod and its token-audience ConfigMap).
    #[arg(long, default_value = "azure-secret-store")]
    pub install_namespace: String,
    /// Output format: the checklist (table, wide), or json / yaml for machines.
    #[arg(short, long, value_enum, default_value_t)]
    pub output: Output,
}

/// The result of reading one thing: there, absent, or not readable with the caller's rights.
#[derive(Debug, Clone)]
pub enum Lookup<T> {
    /// Read.
    Found(T),
    /// The API server answered 404.
    Missing,
    /// Not readable: why (usually 403 for the caller).
    Unreadable(String),
}

impl<T> Lookup<T> {
    fn from_result(result: kube::Result<Option<T>>) -> Self {
        match result {
            Ok(Some(value)) => Self::Found(value),
            Ok(None) => Self::Missing,
            Err(error) => Self::Unreadable(short_error(&error)),
        }
    }
}

/// One container of the SSE-rs pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerFacts {
    /// Pod name.
    pub pod: String,
    /// Container name.
    pub name: String,
    /// Its image (the version).
    pub image: String,
    /// Whether it is ready.
    pub ready: bool,
    /// Restarts.
    pub restarts: i32,
}

/// One Event about the SecretSync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventFacts {
    /// `Normal` or `Warning`.
    pub type_: String,
    /// Reason.
    pub reason: String,
    /// Note.
    pub message: String,
    /// How many times.
    pub count: i32,
}

/// Everything the doctor read.
#[derive(Debug, Clone)]
pub struct Facts {
    /// The SecretSync's namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// The SecretSync.
    pub sync: Lookup<SecretSync>,
    /// Its SecretProviderClass.
    pub class: Lookup<SecretProviderClass>,
    /// Its ServiceAccount (exists or not).
    pub service_account: Lookup<()>,
    /// The cluster's ServiceAccount token issuer (`/.well-known/openid-configuration`).
    pub issuer: Lookup<String>,
    /// The audiences the token admission policy allows (the shared ConfigMap's value).
    pub allowed_audiences: Lookup<Vec<String>>,
    /// The same-named Secret's metadata.
    pub secret: Lookup<kube::api::ObjectMeta>,
    /// The SSE-rs pod's containers.
    pub containers: Lookup<Vec<ContainerFacts>>,
    /// Events about the SecretSync, latest last.
    pub events: Lookup<Vec<EventFacts>>,
}

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Fine.
    Ok,
    /// Not broken, but worth acting on.
    Warn,
    /// Broken: this is why the Secret is stale or missing.
    Fail,
    /// Not checked (not readable with your rights, or not applicable).
    Skip,
}

impl Verdict {
    fn mark(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Warn => "warn",
            Self::Fail => "FAIL",
            Self::Skip => "skip",
        }
    }
}

/// One check's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// What was checked.
    pub check: &'static str,
    /// How it came out.
    pub verdict: Verdict,
    /// What was found, in one line.
    pub summary: String,
    /// The command (or step) that fixes it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

fn check(name: &'static str, verdict: Verdict, summary: impl Into<String>, fix: Option<String>) -> Check {
    Check {
        check: name,
        verdict,
        summary: summary.into(),
        fix,
    }
}

/// Run `doctor`: exit 0 when nothing failed, [`crate::EXIT_NOT_READY`] when a check failed.
pub async fn run(target: &Target, args: &DoctorArgs) -> Result<u8> {
    let Some(namespace) = &target.namespace else {
        anyhow::bail!("doctor needs a namespace: use -n");
    };
    let facts = gather(&target.client, namespace, &args.name, &args.install_namespace).await;
    let checks = diagnose(&facts);
    print!("{}", render(&facts, &checks, args.output)?);
    let failed = checks.iter().any(|c| c.verdict == Verdict::Fail);
    Ok(if failed { crate::EXIT_NOT_READY } else { 0 })
}

/// Read what the checks need; every read is bounded by the client's timeouts and none is fatal.
pub async fn gather(client: &kube::Client, namespace: &str, name: &str, install_namespace: &str) -> Facts {
    let sync = Lookup::from_result(
        Api::<SecretSync>::namespaced(client.clone(), namespace)
            .get_opt(name)
            .await,
    );
    let (class, service_account) = match &sync {
        Lookup::Found(sync) => {
            let class = Lookup::from_result(
                Api::<SecretProviderClass>::namespaced(client.clone(), namespace)
                    .get_opt(&sync.spec.secret_provider_class_name)
                    .await,
            );
            let service_account = match Api::<ServiceAccount>::namespaced(client.clone(), namespace)
                .get_metadata_opt(&sync.spec.service_account_name)
                .await
            {
                Ok(Some(_)) => Lookup::Found(()),
                Ok(None) => Lookup::Missing,
                Err(error) => Lookup::Unreadable(short_error(&error)),
            };
            (class, service_account)
        }
        _ => (Lookup::Missing, Lookup::Missing),
    };
    let issuer = match openid_issuer(client).await {
        Ok(issuer) => Lookup::Found(issuer),
        Err(error) => Lookup::Unreadable(error),
    };
    let allowed_audiences = match Lookup::from_result(
        Api::<ConfigMap>::namespaced(client.clone(), install_namespace)
            .get_opt(AUDIENCE_CONFIGMAP)
            .await,
    ) {
        Lookup::Found(map) => Lookup::Found(
            map.data
                .unwrap_or_default()
                .get("tokenRequestAudience")
                .map(|v| {
                    v.split(',')
                        .map(str::trim)
                        .filter(|a| !a.is_empty())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
        ),
        Lookup::Missing => Lookup::Missing,
        Lookup::Unreadable(why) => Lookup::Unreadable(why),
    };
    let secret = Lookup::from_result(
        Api::<Secret>::namespaced(client.clone(), namespace)
            .get_metadata_opt(name)
            .await
            .map(|m| m.map(|m| m.metadata)),
    );
    let containers = match Api::<Pod>::namespaced(client.clone(), install_namespace)
        .list(&ListParams::default().labels(POD_SELECTOR))
        .await
    {
        Ok(pods) => Lookup::Found(pods.items.iter().flat_map(containers_of).collect()),
        Err(error) => Lookup::Unreadable(short_error(&error)),
    };
    let events = match Api::<Event>::namespaced(client.clone(), namespace)
        .list(&ListParams::default().fields(&format!(
            "involvedObject.kind=SecretSync,involvedObject.name={name}"
        )))
        .await
    {
        Ok(list) => {
            let mut items = list.items;
            items.sort_by_key(|e| {
                e.last_timestamp.clone().or_else(|| {
                    e.event_time
                        .clone()
                        .map(|t| k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(t.0))
                })
            });
            Lookup::Found(
                items
                    .into_iter()
                    .map(|e| EventFacts {
                        type_: e.type_.unwrap_or_default(),
                        reason: e.reason.unwrap_or_default(),
                        message: e.message.unwrap_or_default(),
                        count: e.count.unwrap_or(1),
                    })
                    .collect(),
            )
        }
        Err(error) => Lookup::Unreadable(short_error(&error)),
    };
    Facts {
        namespace: namespace.to_string(),
        name: name.to_string(),
        sync,
        class,
        service_account,
        issuer,
        allowed_audiences,
        secret,
        containers,
        events,
    }
}

fn containers_of(pod: &Pod) -> Vec<ContainerFacts> {
    pod.status
        .as_ref()
        .and_then(|s| s.container_statuses.clone())
        .unwrap_or_default()
        .into_iter()
        .map(|c| ContainerFacts {
            pod: pod.name_any(),
            name: c.name,
            image: c.image,
            ready: c.ready,
            restarts: c.restart_count,
        })
        .collect()
}

/// The cluster's ServiceAccount token issuer, from its OIDC discovery document.
async fn openid_issuer(client: &kube::Client) -> std::result::Result<String, String> {
    let request = http::Request::get("/.well-known/openid-configuration")
        .body(Vec::new())
        .map_err(|e| e.to_string())?;
    let document: serde_json::Value = client.request(request).await.map_err(|e| short_error(&e))?;
    document["issuer"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| "the discovery document has no issuer".to_string())
}

fn short_error(error: &kube::Error) -> String {
    match error {
        kube::Error::Api(status) => format!("{} ({})", status.message, status.code),
        other => other.to_string(),
    }
}

/// Every check, in the order a person would go through them.
pub fn diagnose(facts: &Facts) -> Vec<Check> {
    let (ns, name) = (&facts.namespace, &facts.name);
    let sync = match &facts.sync {
        Lookup::Found(sync) => sync,
        Lookup::Missing => {
            return vec![check(
                "secretsync",
                Verdict::Fail,
                format!("no SecretSync {name} in namespace {ns}"),
                Some(format!("kubectl get secretsyncs -n {ns}")),
            )];
        }
        Lookup::Unreadable(why) => {
            return vec![check(
                "secretsync",
                Verdict::Fail,
                format!("cannot read SecretSync {name}: {why}"),
                Some(format!("kubectl auth can-i get secretsyncs -n {ns}")),
            )];
        }
    };
    let ready = sync
        .status
        .as_ref()
        .and_then(|s| conditions::find_condition(&s.conditions, READY));
    let failure = ready
        .filter(|c| c.status != conditions::STATUS_TRUE)
        .map(|c| (c.reason.parse::<Reason>().ok(), c.message.as_str()));
    let class = class_facts(facts, sync);
    let mut checks = vec![secretsync_check(sync, ready)];
    checks.push(class.check.clone());
    checks.push(service_account_check(facts, sync));
    checks.push(federation_check(facts, sync, &class, failure));
    checks.push(audience_check(facts, &class));
    checks.push(provider_check(facts, failure));
    checks.push(keyvault_check(facts, sync, &class, failure));
    checks.push(expiry_check(sync, &class));
    checks.push(secret_check(facts, sync));
    checks.push(admission_check(failure, facts));
    checks.push(events_check(facts));
    checks
}

fn secretsync_check(sync: &SecretSync, ready: Option<&sse_api::Condition>) -> Check {
    let status = sync.status.clone().unwrap_or_default();
    match ready {
        None => check(
            "secretsync",
            Verdict::Warn,
            "not checked yet: no Ready condition (is the manager running?)",
            Some(format!(
                "kubectl -n <install namespace> logs deploy/secrets-store-sync-controller-manager -c manager   # SecretSync in {}",
                sync.namespace().unwrap_or_default()
            )),
        ),
        Some(c) if c.status == conditions::STATUS_TRUE => {
            let stale = status.observed_generation != sync.metadata.generation;
            check(
                "secretsync",
                if stale { Verdict::Warn } else { Verdict::Ok },
                format!(
                    "Ready ({}){}",
                    c.reason,
                    if stale {
                        "; the manager has not caught up with the latest spec edit yet"
                    } else {
                        ""
                    }
                ),
                None,
            )
        }
        Some(c) => check(
            "secretsync",
            Verdict::Fail,
            format!(
                "not Ready: {}{}",
                c.reason,
                status
                    .failing_since
                    .as_ref()
                    .map(|t| format!(", failing since {}", t.0))
                    .unwrap_or_default()
            ),
            None,
        ),
    }
}

/// What the class says, and its check.
#[derive(Debug, Clone, Default)]
struct ClassFacts {
    provider: String,
    vault: String,
    client_id: String,
    tenant_id: String,
    /// Object entries: (type, name, alias).
    objects: Vec<(String, String, String)>,
}

fn class_facts(facts: &Facts, sync: &SecretSync) -> ClassFactsChecked {
    let ns = &facts.namespace;
    let class_name = &sync.spec.secret_provider_class_name;
    let spc = match &facts.class {
        Lookup::Found(spc) => spc,
        Lookup::Missing => {
            return ClassFactsChecked::failed(check(
                "secretproviderclass",
                Verdict::Fail,
                format!(
                    "no SecretProviderClass {class_name} in namespace {ns} (it must be in the SecretSync's namespace)"
                ),
                Some(format!(
                    "kubectl get secretproviderclasses -A | grep {class_name}   # then apply it in namespace {ns}"
                )),
            ));
        }
        Lookup::Unreadable(why) => {
            return ClassFactsChecked::failed(check(
                "secretproviderclass",
                Verdict::Skip,
                format!("cannot read SecretProviderClass {class_name}: {why}"),
                None,
            ));
        }
    };
    let parameters: BTreeMap<String, String> = spc
        .spec
        .parameters
        .clone()
        .unwrap_or_default()
        .into_iter()
        .collect();
    let get = |key: &str| {
        parameters
            .get(key)
            .map(|v| v.trim().to_string())
            .unwrap_or_default()
    };
    let mut facts = ClassFacts {
        provider: spc.spec.provider.clone().unwrap_or_default(),
        vault: get("keyvaultName"),
        client_id: get("clientID"),
        tenant_id: if get("tenantID").is_empty() {
            get("tenantId")
        } else {
            get("tenantID")
        },
        ..ClassFacts::default()
    };
    let mut problems = Vec::new();
    if facts.provider.is_empty() {
        problems.push("spec.provider is empty".to_string());
    }
    match provider_proto::contract::Objects::parse(&get(provider_proto::contract::attributes::OBJECTS)) {
        Ok(objects) => {
            for entry in &objects.array {
                match serde_yaml_ng::from_str::<BTreeMap<String, serde_yaml_ng::Value>>(entry) {
                    Ok(fields) => {
                        let field = |k: &str| {
                            fields
                                .get(k)
                                .and_then(serde_yaml_ng::Value::as_str)
                                .unwrap_or_default()
                                .trim()
                                .to_string()
                        };
                        facts
                            .objects
                            .push((field("objectType"), field("objectName"), field("objectAlias")));
                    }
                    Err(error) => problems.push(format!("an objects entry does not parse: {error}")),
                }
            }
        }
        Err(error) => problems.push(format!("parameters.objects does not parse: {error}")),
    }
    if facts.provider == "azure" {
        for (key, value) in [
            ("keyvaultName", &facts.vault),
            ("tenantId", &facts.tenant_id),
            ("clientID", &facts.client_id),
        ] {
            if value.is_empty() {
                problems.push(format!("parameters.{key} is missing"));
            }
        }
    }
    // Every data entry must name an object (its alias, else its name).
    let paths: Vec<&str> = facts
        .objects
        .iter()
        .map(|(_, name, alias)| {
            if alias.is_empty() {
                name.as_str()
            } else {
                alias.as_str()
            }
        })
        .collect();
    for data in &sync.spec.secret_object.data {
        let source = data.source_path.as_str();
        if !paths
            .iter()
            .any(|p| *p == source || source.starts_with(&format!("{p}/")))
        {
            problems.push(format!(
                "secretObject.data sourcePath {source:?} names no object of the class (objects: {})",
                paths.join(", ")
            ));
        }
    }
    let check = if problems.is_empty() {
        check(
            "secretproviderclass",
            Verdict::Ok,
            format!(
                "{class_name}: provider {}, vault {}, {} object(s)",
                facts.provider,
                if facts.vault.is_empty() { "-" } else { &facts.vault },
                facts.objects.len()
            ),
            None,
        )
    } else {
        check(
            "secretproviderclass",
            Verdict::Fail,
            format!("{class_name}: {}", problems.join("; ")),
            Some(format!("kubectl edit secretproviderclass {class_name} -n {ns}")),
        )
    };
    ClassFactsChecked { facts, check }
}

/// The class's facts and its check.
#[derive(Debug, Clone)]
struct ClassFactsChecked {
    facts: ClassFacts,
    check: Check,
}

impl ClassFactsChecked {
    /// Why an Azure-only check is skipped.
    fn not_azure(&self) -> &'static str {
        if self.facts.provider.is_empty() && self.check.verdict != Verdict::Ok {
            "the SecretProviderClass could not be read"
        } else {
            "not an Azure SecretProviderClass"
        }
    }

    fn failed(check: Check) -> Self {
        Self {
            facts: ClassFacts::default(),
            check,
        }
    }
}

fn service_account_check(facts: &Facts, sync: &SecretSync) -> Check {
    let sa = &sync.spec.service_account_name;
    let ns = &facts.namespace;
    match &facts.service_account {
        Lookup::Found(()) => check("serviceaccount", Verdict::Ok, format!("{sa} exists"), None),
        Lookup::Missing => check(
            "serviceaccount",
            Verdict::Fail,
            format!("no ServiceAccount {sa} in namespace {ns}: no token can be minted for it"),
            Some(format!("kubectl create serviceaccount {sa} -n {ns}")),
        ),
        Lookup::Unreadable(why) => check(
            "serviceaccount",
            Verdict::Skip,
            format!("cannot read ServiceAccount {sa}: {why}"),
            None,
        ),
    }
}

/// The federated credential the identity needs, and whether Entra refused the exchange.
fn federation_check(
    facts: &Facts,
    sync: &SecretSync,
    class: &ClassFactsChecked,
    failure: Option<(Option<Reason>, &str)>,
) -> Check {
    if class.facts.provider != "azure" {
        return check("federation", Verdict::Skip, class.not_azure(), None);
    }
    let subject = format!(
        "system:serviceaccount:{}:{}",
        facts.namespace, sync.spec.service_account_name
    );
    let issuer = match &facts.issuer {
        Lookup::Found(issuer) => issuer.clone(),
        _ => "<the cluster's OIDC issuer: az aks show -n CLUSTER -g RG --query oidcIssuerProfile.issuerUrl -o tsv>".into(),
    };
    let create = format!(
        "az identity federated-credential create --name sse-rs-{}-{} --identity-name <identity of client {}> \
         --resource-group <its resource group> --issuer {issuer} --subject {subject} --audiences {AZURE_AUDIENCE}",
        facts.namespace, sync.spec.service_account_name, class.facts.client_id
    );
    let message = failure.map(|(_, m)| m).unwrap_or_default();
    let aadsts = aadsts_code(message);
    let (verdict, summary, fix) = match aadsts.as_deref() {
        Some("AADSTS70021" | "AADSTS700211" | "AADSTS700212" | "AADSTS700213" | "AADSTS70025") => (
            Verdict::Fail,
            format!(
                "Entra found no federated credential of client {} matching issuer {issuer}, subject {subject}, \
                 audience {AZURE_AUDIENCE} ({})",
                class.facts.client_id,
                aadsts.as_deref().unwrap_or_default()
            ),
            Some(create),
        ),
        Some("AADSTS700016") => (
            Verdict::Fail,
            format!(
                "Entra has no application {} in tenant {} (AADSTS700016): clientID or tenantId is wrong",
                class.facts.client_id, class.facts.tenant_id
            ),
            Some(format!(
                "az identity list --query \"[?clientId=='{}'].{{name:name, tenantId:tenantId}}\"",
                class.facts.client_id
            )),
        ),
        Some("AADSTS90002" | "AADSTS900023") => (
            Verdict::Fail,
            format!(
                "Entra does not know tenant {} ({})",
                class.facts.tenant_id,
                aadsts.as_deref().unwrap_or_default()
            ),
            Some(
                "az account show --query tenantId -o tsv   # the tenantId to put in the SecretProviderClass"
                    .into(),
            ),
        ),
        Some("AADSTS700024" | "AADSTS50013") => (
            Verdict::Fail,
            format!(
                "Entra refused the ServiceAccount token as expired or not yet valid ({}): check the clocks",
                aadsts.as_deref().unwrap_or_default()
            ),
            None,
        ),
        Some(other) => (
            Verdict::Fail,
            format!("Entra refused the token exchange ({other})"),
            Some(format!(
                "https://login.microsoftonline.com/error?code={}",
                &other[6..]
            )),
        ),
        None => (
            Verdict::Ok,
            format!(
                "client {} must trust issuer {issuer}, subject {subject}, audience {AZURE_AUDIENCE}",
                class.facts.client_id
            ),
            Some(create),
        ),
    };
    check("federation", verdict, summary, fix)
}

fn aadsts_code(message: &str) -> Option<String> {
    let at = message.find("AADSTS")?;
    let code: String = message[at..]
        .chars()
        .take_while(char::is_ascii_alphanumeric)
        .collect();
    (code.len() > 6).then_some(code)
}

fn audience_check(facts: &Facts, class: &ClassFactsChecked) -> Check {
    if class.facts.provider != "azure" {
        return check("token-audience", Verdict::Skip, class.not_azure(), None);
    }
    match &facts.allowed_audiences {
        Lookup::Found(audiences) if audiences.iter().any(|a| a == AZURE_AUDIENCE) => check(
            "token-audience",
            Verdict::Ok,
            format!(
                "the manager requests and the admission policy allows {}",
                audiences.join(",")
            ),
            None,
        ),
        Lookup::Found(audiences) => check(
            "token-audience",
            Verdict::Fail,
            format!(
                "the allowed token audiences [{}] lack {AZURE_AUDIENCE}, which workload identity federation needs",
                audiences.join(",")
            ),
            Some(format!(
                "kubectl -n NS patch configmap {AUDIENCE_CONFIGMAP} --type merge -p '{{\"data\":{{\"tokenRequestAudience\":\"{AZURE_AUDIENCE}\"}}}}'   # then restart the manager"
            )),
        ),
        Lookup::Missing => check(
            "token-audience",
            Verdict::Fail,
            format!(
                "ConfigMap {AUDIENCE_CONFIGMAP} is missing: the admission policy denies every token request"
            ),
            Some("kubectl apply -k deploy/default".into()),
        ),
        Lookup::Unreadable(why) => check(
            "token-audience",
            Verdict::Skip,
            format!("cannot read ConfigMap {AUDIENCE_CONFIGMAP}: {why}"),
            None,
        ),
    }
}

/// The provider: its container, and whether the manager could reach it.
/// The last failure's message when it says the manager could not use the provider itself (no socket, no
/// connection, mTLS refused), as opposed to an error the provider answered with.
fn provider_unreachable(failure: Option<(Option<Reason>, &str)>) -> Option<&str> {
    let (_, message) = failure?;
    // The provider's own answers carry "failed to mount objects"; anything else on the way is transport.
    let answered = message.contains("failed to mount objects");
    let transport = message.contains("provider not found")
        || message.contains("failed to connect")
        || message.contains("handshake")
        || message.contains("invalid peer certificate")
        || message.contains("certificate verify")
        || (message.contains("code = Unavailable") && !answered);
    (transport && !answered).then_some(message)
}

fn provider_check(facts: &Facts, failure: Option<(Option<Reason>, &str)>) -> Check {
    let unreachable = provider_unreachable(failure);
    let container = match &facts.containers {
        Lookup::Found(containers) => containers.iter().find(|c| c.name == PROVIDER_CONTAINER).cloned(),
        _ => None,
    };
    let logs = format!(
        "kubectl -n <install namespace> logs deploy/secrets-store-sync-controller-manager -c {PROVIDER_CONTAINER}"
    );
    match (unreachable, &container) {
        (Some(message), _) => check(
            "provider",
            Verdict::Fail,
            format!("the manager could not use the provider: {}", first_line(message)),
            Some(logs),
        ),
        (None, Some(c)) if !c.ready => check(
            "provider",
            Verdict::Fail,
            format!(
                "container {} of pod {} is not ready ({} restarts), image {}",
                c.name, c.pod, c.restarts, c.image
            ),
            Some(logs),
        ),
        (None, Some(c)) => check(
            "provider",
            Verdict::Ok,
            format!(
                "{} ready in pod {}, image {} ({} restarts)",
                c.name, c.pod, c.image, c.restarts
            ),
            None,
        ),
        (None, None) => check(
            "provider",
            Verdict::Skip,
            match &facts.containers {
                Lookup::Unreadable(why) => format!("cannot read the SSE-rs pod: {why}"),
                _ => "no SSE-rs pod found (--install-namespace)".into(),
            },
            None,
        ),
    }
}

/// The provider's Key Vault error, classified, with the fix for its class.
fn keyvault_check(
    facts: &Facts,
    sync: &SecretSync,
    class: &ClassFactsChecked,
    failure: Option<(Option<Reason>, &str)>,
) -> Check {
    let vault = if class.facts.vault.is_empty() {
        "<vault>".to_string()
    } else {
        class.facts.vault.clone()
    };
    let Some((Some(Reason::ProviderError | Reason::PartialSync), message)) = failure else {
        return match failure {
            None if sync.status.is_some() => check(
                "keyvault",
                Verdict::Ok,
                format!("vault {vault} answered the last check"),
                None,
            ),
            _ => check("keyvault", Verdict::Skip, "no Key Vault error recorded", None),
        };
    };
    if provider_unreachable(failure).is_some() {
        return check(
            "keyvault",
            Verdict::Skip,
            "the provider could not be used, so Key Vault was not asked (see the provider check)",
            None,
        );
    }
    let object = failed_object(message);
    let (object_type, object_name) = object
        .clone()
        .unwrap_or_else(|| ("secret".into(), "<name>".into()));
    let cli = match object_type.as_str() {
        "key" => "key",
        "cert" => "certificate",
        _ => "secret",
    };
    let client = if class.facts.client_id.is_empty() {
        "<clientID>".to_string()
    } else {
        class.facts.client_id.clone()
    };
    let scope = format!("$(az keyvault show --name {vault} --query id -o tsv)");
    let has = |needle: &str| message.contains(needle);
    let dns = has("dns error")
        || has("failed to lookup address")
        || has("no such host")
        || has("Name or service not known");
    let network = dns || has("Connection refused") || has("timed out") || has("connection reset");
    // Entra first: its failures carry the network error of their own request, which is not the vault's.
    let entra = has("AADSTS") || has("ClientAssertionCredential");
    let (summary, fix) = if entra && network && !has("AADSTS") {
        (
            "Entra ID (login.microsoftonline.com) cannot be reached from the provider: DNS, firewall or egress proxy".to_string(),
            "kubectl run entracheck -it --rm --restart=Never --image=busybox -- nslookup login.microsoftonline.com   # allow egress to login.microsoftonline.com:443 (HTTPS_PROXY: README \"Outbound proxy\")".to_string(),
        )
    } else if entra {
        (
            "Entra refused to exchange the ServiceAccount token (see the federation check)".to_string(),
            "see the federation check's fix".to_string(),
        )
    } else if dns {
        (
            format!(
                "{vault}'s host name does not resolve from the provider (DNS): a wrong keyvaultName, or a private endpoint whose private DNS zone is not linked to the cluster's network"
            ),
            format!(
                "kubectl run dnscheck -it --rm --restart=Never --image=busybox -- nslookup {vault}.vault.azure.net   # a private endpoint needs zone privatelink.vaultcore.azure.net linked to the VNet"
            ),
        )
    } else if has("ForbiddenByFirewall") || network {
        (
            format!("{vault} cannot be reached or refuses the cluster's address (firewall, private link)"),
            format!(
                "az keyvault show --name {vault} --query properties.networkAcls   # then: az keyvault network-rule add --name {vault} --ip-address <cluster egress IP>"
            ),
        )
    } else if has("ForbiddenByRbac") {
        let role = match cli {
            "key" => "Key Vault Crypto User",
            "certificate" => "Key Vault Certificate User",
            _ => "Key Vault Secrets User",
        };
        (
            format!(
                "client {client} has no role on {vault} that allows reading {object_type} {object_name} (403 ForbiddenByRbac)"
            ),
            format!("az role assignment create --role \"{role}\" --assignee {client} --scope {scope}"),
        )
    } else if has("AccessDenied") || (has("HTTP 403") && has("does not have")) {
        (
            format!(
                "{vault} uses access policies and client {client} lacks get on {cli}s (403 AccessDenied)"
            ),
            format!("az keyvault set-policy --name {vault} --spn {client} --{cli}-permissions get"),
        )
    } else if has("Disabled)") || has("is not allowed on a disabled") {
        (
            format!("{object_type} {object_name} is disabled in {vault} (403)"),
            format!(
                "az keyvault {cli} set-attributes --vault-name {vault} --name {object_name} --enabled true"
            ),
        )
    } else if has("NotFound") || has("HTTP 404") {
        (
            format!(
                "{object_type} {object_name} does not exist in {vault} (404): a wrong objectName, or deleted"
            ),
            format!(
                "az keyvault {cli} list --vault-name {vault} --query \"[].name\" -o tsv; az keyvault {cli} list-deleted --vault-name {vault} --query \"[].name\" -o tsv"
            ),
        )
    } else if has("HTTP 401") {
        (
            format!(
                "{vault} refused the token (401): tenantId {} must be the vault's tenant",
                class.facts.tenant_id
            ),
            format!("az keyvault show --name {vault} --query properties.tenantId -o tsv"),
        )
    } else if has("HTTP 429") || has("Throttled") {
        (
            format!("{vault} throttles the requests (429)"),
            "lengthen refresh intervals (sse-rs.io/refresh-interval) or lower --vault-requests-per-10s"
                .to_string(),
        )
    } else {
        (
            format!("the provider failed: {}", first_line(message)),
            format!("kubectl sse status {} -n {} -o wide", facts.name, facts.namespace),
        )
    };
    check("keyvault", Verdict::Fail, summary, Some(fix))
}

/// `(objectType, objectName)` of the object a provider error names (`objectType:secret, objectName:db`).
fn failed_object(message: &str) -> Option<(String, String)> {
    let field = |key: &str| {
        let at = message.find(key)? + key.len();
        Some(
            message[at..]
                .chars()
                .take_while(|c| *c != ',' && !c.is_whitespace())
                .collect::<String>(),
        )
    };
    Some((field("objectType:")?, field("objectName:")?))
}

fn expiry_check(sync: &SecretSync, class: &ClassFactsChecked) -> Check {
    let validity = sync
        .status
        .as_ref()
        .map(|s| s.validity.clone())
        .unwrap_or_default();
    let vault = if class.facts.vault.is_empty() {
        "<vault>"
    } else {
        &class.facts.vault
    };
    let concerned: Vec<&sse_api::ObjectValidity> = validity
        .iter()
        .filter(|v| v.state != sse_api::ObjectValidity::VALID)
        .collect();
    if validity.is_empty() {
        return check(
            "expiry",
            Verdict::Skip,
            "no validity dates reported for its objects",
            None,
        );
    }
    let Some(worst) = concerned
        .iter()
        .find(|v| v.state == sse_api::ObjectValidity::EXPIRED)
        .or_else(|| concerned.first())
    else {
        return check(
            "expiry",
            Verdict::Ok,
            format!(
                "{} dated object(s), none inside the warning window",
                validity.len()
            ),
            None,
        );
    };
    let (kind, name) = worst
        .object
        .split_once('/')
        .unwrap_or(("secret", worst.object.as_str()));
    // A rotation for what has expired or expires soon; an object not valid yet only needs waiting.
    let fix = (worst.state != sse_api::ObjectValidity::NOT_YET_VALID).then(|| match kind {
        // Renewed under its own policy (its issuer, subject, lifetime), never the CLI's self-signed default.
        "cert" => format!(
            "az keyvault certificate create --vault-name {vault} --name {name} --policy \"$(az keyvault certificate show --vault-name {vault} --name {name} --query policy -o json)\"   # or import the renewed certificate"
        ),
        "key" => format!("az keyvault key rotate --vault-name {vault} --name {name}"),
        _ => format!(
            "az keyvault secret set --vault-name {vault} --name {name} --file <new value> --expires <new date>"
        ),
    });
    check(
        "expiry",
        Verdict::Warn,
        concerned
            .iter()
            .map(|v| v.describe())
            .collect::<Vec<_>>()
            .join("; "),
        fix,
    )
}

/// The same-named Secret: ours, absent, or someone else's (who, never what it holds).
fn secret_check(facts: &Facts, sync: &SecretSync) -> Check {
    let (ns, name) = (&facts.namespace, &facts.name);
    match &facts.secret {
        Lookup::Found(meta) => {
            let owner = sync.secret_owner();
            let labelled = meta
                .labels
                .as_ref()
                .and_then(|l| l.get(CONTROLLER_LABEL_KEY))
                .is_some_and(|v| v == CONTROLLER_LABEL_VALUE);
            let owners = meta.owner_references.clone().unwrap_or_default();
            if labelled && owners.iter().any(|o| o.uid == owner.uid) {
                return check("secret", Verdict::Ok, format!("Secret {name} is SSE-rs's"), None);
            }
            let who = if owners.is_empty() {
                let managers: Vec<String> = meta
                    .managed_fields
                    .clone()
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|m| m.manager)
                    .collect();
                if managers.is_empty() {
                    "no owner".to_string()
                } else {
                    format!("no owner, written by {}", managers.join(", "))
                }
            } else {
                format!(
                    "owned by {}",
                    owners
                        .iter()
                        .map(|o| format!("{}/{}", o.kind, o.name))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            let marked = meta
                .annotations
                .as_ref()
                .and_then(|a| a.get(ADOPTABLE_ANNOTATION))
                .is_some_and(|v| v == "true");
            check(
                "secret",
                Verdict::Fail,
                format!(
                    "Secret {name} exists and is not SSE-rs's ({who}){}: it is left untouched",
                    if marked { "; it is marked adoptable" } else { "" }
                ),
                Some(if marked {
                    format!("kubectl sse adopt {name} -n {ns}")
                } else {
                    format!(
                        "kubectl annotate secret {name} -n {ns} {ADOPTABLE_ANNOTATION}=true && kubectl sse adopt {name} -n {ns}   # only if SSE-rs should take it over; else rename the SecretSync"
                    )
                }),
            )
        }
        Lookup::Missing => {
            let ready = sync
                .status
                .as_ref()
                .is_some_and(|s| conditions::is_condition_true(&s.conditions, READY));
            check(
                "secret",
                if ready { Verdict::Warn } else { Verdict::Skip },
                if ready {
                    format!(
                        "Secret {name} is missing though the last check was Ready: it is recreated at the next check"
                    )
                } else {
                    format!("Secret {name} does not exist yet")
                },
                ready.then(|| format!("kubectl sse sync {name} -n {ns}")),
            )
        }
        Lookup::Unreadable(why) => check(
            "secret",
            Verdict::Skip,
            format!("cannot read Secret {name}'s metadata: {why}"),
            None,
        ),
    }
}

fn admission_check(failure: Option<(Option<Reason>, &str)>, facts: &Facts) -> Check {
    match failure {
        Some((Some(Reason::ValidatingAdmissionPolicyCheckFailed), message)) => check(
            "admission",
            Verdict::Fail,
            format!("an admission policy denied the write: {}", first_line(message)),
            Some(format!(
                "kubectl get validatingadmissionpolicies | grep secrets-store-sync-controller   # README \"Troubleshooting by status reason\"; SecretSync {} in {}",
                facts.name, facts.namespace
            )),
        ),
        _ => check("admission", Verdict::Ok, "no admission denial recorded", None),
    }
}

fn events_check(facts: &Facts) -> Check {
    match &facts.events {
        Lookup::Found(events) => {
            let warnings: Vec<&EventFacts> = events.iter().filter(|e| e.type_ == "Warning").collect();
            match warnings.last() {
                None => check(
                    "events",
                    Verdict::Ok,
                    format!("{} Event(s), no warning", events.len()),
                    None,
                ),
                Some(last) => check(
                    "events",
                    Verdict::Warn,
                    format!(
                        "{} warning(s); latest: {} ({}x): {}",
                        warnings.len(),
                        last.reason,
                        last.count,
                        first_line(&last.message)
                    ),
                    Some(format!(
                        "kubectl get events -n {} --field-selector involvedObject.name={}",
                        facts.namespace, facts.name
                    )),
                ),
            }
        }
        Lookup::Missing => check("events", Verdict::Ok, "no Events", None),
        Lookup::Unreadable(why) => check(
            "events",
            Verdict::Skip,
            format!("cannot list Events: {why}"),
            None,
        ),
    }
}

fn first_line(message: &str) -> String {
    const MAX: usize = 300;
    let line = message.lines().next().unwrap_or_default();
    if line.chars().count() > MAX {
        format!("{}…", line.chars().take(MAX).collect::<String>())
    } else {
        line.to_string()
    }
}

/// The checklist (table/wide) or the checks as JSON / YAML.
pub fn render(facts: &Facts, checks: &[Check], output: Output) -> Result<String> {
    let document = serde_json::json!({
        "secretSync": format!("{}/{}", facts.namespace, facts.name),
        "checks": checks,
    });
    match output {
        Output::Json => Ok(serde_json::to_string_pretty(&document)? + "\n"),
        Output::Yaml => Ok(serde_yaml_ng::to_string(&document)?),
        Output::Table | Output::Wide => {
            let mut out = format!("SecretSync {}/{}\n", facts.namespace, facts.name);
            let width = checks.iter().map(|c| c.check.len()).max().unwrap_or(0);
            for c in checks {
                let _ = writeln!(
                    out,
                    "  [{:<4}] {:<width$}  {}",
                    c.verdict.mark(),
                    c.check,
                    c.summary
                );
                if let Some(fix) = &c.fix
                    && (c.verdict != Verdict::Ok || output == Output::Wide)
                {
                    let _ = writeln!(out, "         {:<width$}  fix: {fix}", "");
                }
            }
            let failed = checks.iter().filter(|c| c.verdict == Verdict::Fail).count();
            let _ = writeln!(
                out,
                "{}",
                if failed == 0 {
                    "No check failed.".to_string()
                } else {
                    format!("{failed} check(s) failed.")
                }
            );
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A SecretSync whose last check failed with `reason` and `message`, and the facts around it.
    fn failing(reason: &str, message: &str) -> Facts {
        let sync: SecretSync = serde_json::from_value(serde_json::json!({
            "apiVersion": "secret-sync.x-k8s.io/v1alpha1",
            "kind": "SecretSync",
            "metadata": {"name": "db", "namespace": "apps", "uid": "u1"},
            "spec": {"serviceAccountName": "sa", "secretProviderClassName": "kv",
                     "secretObject": {"type": "Opaque", "data": [{"sourcePath": "db", "targetKey": "pw"}]}},
            "status": {"conditions": [{"type": "Ready", "status": "False", "reason": reason, "message": message,
                                       "lastTransitionTime": "2026-12-06T14:02:00Z"}]},
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        let class: SecretProviderClass = serde_json::from_value(serde_json::json!({
            "apiVersion": "secrets-store.csi.x-k8s.io/v1",
            "kind": "SecretProviderClass",
            "metadata": {"name": "kv", "namespace": "apps"},
            "spec": {"provider": "azure", "parameters": {
                "keyvaultName": "contoso-kv", "tenantId": "t", "clientID": "c",
                "objects": "array:\n  - |\n    objectName: db\n    objectType: secret\n"}},
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        Facts {
            namespace: "apps".into(),
            name: "db".into(),
            sync: Lookup::Found(sync),
            class: Lookup::Found(class),
            service_account: Lookup::Found(()),
            issuer: Lookup::Found("https://issuer.example".into()),
            allowed_audiences: Lookup::Found(vec![AZURE_AUDIENCE.into()]),
            secret: Lookup::Missing,
            containers: Lookup::Unreadable("forbidden".into()),
            events: Lookup::Missing,
        }
    }

    fn verdict(checks: &[Check], name: &str) -> (Verdict, String) {
        checks
            .iter()
            .find(|c| c.check == name)
            .map(|c| (c.verdict, c.summary.clone()))
            .unwrap_or_else(|| panic!("no {name}"))
    }

    #[test]
    fn an_unreachable_entra_is_not_blamed_on_the_vault() {
        let checks = diagnose(&failing(
            "ProviderError",
            "fetching secrets from the provider failed: rpc error: code = Unauthenticated desc = failed to mount objects, \
             error: failed to get objectType:secret, objectName:db, objectVersion:: GET https://contoso-kv.vault.azure.net/secrets/db/: \
             ClientAssertionCredential authentication failed: error sending request: dns error: failed to lookup address information",
        ));
        let (v, summary) = verdict(&checks, "keyvault");
        assert_eq!(v, Verdict::Fail);
        assert!(
            summary.starts_with("Entra ID (login.microsoftonline.com) cannot be reached"),
            "{summary}"
        );
    }

    #[test]
    fn a_dead_provider_socket_is_the_provider_not_a_vault_firewall() {
        let checks = diagnose(&failing(
            "ProviderError",
            "fetching secrets from the provider failed: rpc error: code = Unavailable desc = failed to connect: \
             transport error: Connection refused (os error 111)",
        ));
        assert_eq!(verdict(&checks, "provider").0, Verdict::Fail);
        assert_eq!(verdict(&checks, "keyvault").0, Verdict::Skip);
    }

    #[test]
    fn a_missing_certificate_is_a_vault_answer_not_a_provider_outage() {
        let checks = diagnose(&failing(
            "ProviderError",
            "fetching secrets from the provider failed: rpc error: code = NotFound desc = failed to mount objects, error: \
             failed to get objectType:cert, objectName:web, objectVersion:: GET https://contoso-kv.vault.azure.net/certificates/web/: \
             HTTP 404 CertificateNotFound: A certificate with (name/id) web was not found in this key vault.",
        ));
        assert_ne!(verdict(&checks, "provider").0, Verdict::Fail);
        let (v, summary) = verdict(&checks, "keyvault");
        assert_eq!(v, Verdict::Fail);
        assert!(
            summary.starts_with("cert web does not exist in contoso-kv (404)"),
            "{summary}"
        );
    }

    #[test]
    fn a_missing_class_is_not_a_provider_failure() {
        let mut facts = failing(
            "ControllerSpcError",
            "failed to get SecretProviderClass \"kv\": secretproviderclasses.secrets-store.csi.x-k8s.io \"kv\" not found",
        );
        facts.class = Lookup::Missing;
        let checks = diagnose(&facts);
        assert_eq!(verdict(&checks, "secretproviderclass").0, Verdict::Fail);
        assert_ne!(verdict(&checks, "provider").0, Verdict::Fail);
    }
}
