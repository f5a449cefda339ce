//! The identity the provider reads the vault with: the SecretSync's ServiceAccount, the federated credential
//! Entra needs to trust its token, and the token audience the admission policy lets the manager request.

use sse_api::SecretSync;

use super::class::CheckedClass;
use super::{Check, Verdict, check};
use crate::doctor::facts::{Facts, Lookup};
use crate::doctor::failure::Failure;
use crate::doctor::{AUDIENCE_CONFIGMAP, AZURE_AUDIENCE};

pub(super) fn service_account(facts: &Facts, sync: &SecretSync) -> Check {
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
pub(super) fn federation(
    facts: &Facts,
    sync: &SecretSync,
    class: &CheckedClass,
    failure: Option<&Failure<'_>>,
) -> Check {
    if !class.is_azure() {
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
    let aadsts = failure.and_then(Failure::aadsts);
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

pub(super) fn audience(facts: &Facts, class: &CheckedClass) -> Check {
    if !class.is_azure() {
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
