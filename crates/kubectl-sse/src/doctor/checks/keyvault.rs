//! The provider's Key Vault error, classified ([`Failure::key_vault`]), with the fix for its class.

use sse_api::{Reason, SecretSync};

use super::class::CheckedClass;
use super::{Check, Verdict, check, first_line};
use crate::doctor::facts::Facts;
use crate::doctor::failure::{Failure, KeyVaultFailure};

pub(super) fn keyvault(
    facts: &Facts,
    sync: &SecretSync,
    class: &CheckedClass,
    failure: Option<&Failure<'_>>,
) -> Check {
    let vault = class.facts.vault_or_placeholder();
    let Some(failure) =
        failure.filter(|f| matches!(f.reason, Some(Reason::ProviderError | Reason::PartialSync)))
    else {
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
    if failure.provider_unreachable() {
        return check(
            "keyvault",
            Verdict::Skip,
            "the provider could not be used, so Key Vault was not asked (see the provider check)",
            None,
        );
    }
    let (object_type, object_name) = failure
        .object()
        .unwrap_or_else(|| ("secret".into(), "<name>".into()));
    let cli = match object_type.as_str() {
        "key" => "key",
        "cert" => "certificate",
        _ => "secret",
    };
    let client = if class.facts.client_id.is_empty() {
        "<clientID>"
    } else {
        &class.facts.client_id
    };
    let scope = format!("$(az keyvault show --name {vault} --query id -o tsv)");
    let (summary, fix) = match failure.key_vault() {
        KeyVaultFailure::EntraUnreachable => (
            "Entra ID (login.microsoftonline.com) cannot be reached from the provider: DNS, firewall or egress proxy".to_string(),
            "kubectl run entracheck -it --rm --restart=Never --image=busybox -- nslookup login.microsoftonline.com   # allow egress to login.microsoftonline.com:443 (HTTPS_PROXY: README \"Outbound proxy\")".to_string(),
        ),
        KeyVaultFailure::EntraRefused => (
            "Entra refused to exchange the ServiceAccount token (see the federation check)".to_string(),
            "see the federation check's fix".to_string(),
        ),
        KeyVaultFailure::Dns => (
            format!(
                "{vault}'s host name does not resolve from the provider (DNS): a wrong keyvaultName, or a private endpoint whose private DNS zone is not linked to the cluster's network"
            ),
            format!(
                "kubectl run dnscheck -it --rm --restart=Never --image=busybox -- nslookup {vault}.vault.azure.net   # a private endpoint needs zone privatelink.vaultcore.azure.net linked to the VNet"
            ),
        ),
        KeyVaultFailure::Unreachable => (
            format!("{vault} cannot be reached or refuses the cluster's address (firewall, private link)"),
            format!(
                "az keyvault show --name {vault} --query properties.networkAcls   # then: az keyvault network-rule add --name {vault} --ip-address <cluster egress IP>"
            ),
        ),
        KeyVaultFailure::NoRole => {
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
        }
        KeyVaultFailure::NoAccessPolicy => (
            format!(
                "{vault} uses access policies and client {client} lacks get on {cli}s (403 AccessDenied)"
            ),
            format!("az keyvault set-policy --name {vault} --spn {client} --{cli}-permissions get"),
        ),
        KeyVaultFailure::Disabled => (
            format!("{object_type} {object_name} is disabled in {vault} (403)"),
            format!(
                "az keyvault {cli} set-attributes --vault-name {vault} --name {object_name} --enabled true"
            ),
        ),
        KeyVaultFailure::NotFound => (
            format!(
                "{object_type} {object_name} does not exist in {vault} (404): a wrong objectName, or deleted"
            ),
            format!(
                "az keyvault {cli} list --vault-name {vault} --query \"[].name\" -o tsv; az keyvault {cli} list-deleted --vault-name {vault} --query \"[].name\" -o tsv"
            ),
        ),
        KeyVaultFailure::TokenRefused => (
            format!(
                "{vault} refused the token (401): tenantId {} must be the vault's tenant",
                class.facts.tenant_id
            ),
            format!("az keyvault show --name {vault} --query properties.tenantId -o tsv"),
        ),
        KeyVaultFailure::Throttled => (
            format!("{vault} throttles the requests (429)"),
            "lengthen refresh intervals (sse-rs.io/refresh-interval) or lower --vault-requests-per-10s"
                .to_string(),
        ),
        KeyVaultFailure::Other => (
            format!("the provider failed: {}", first_line(failure.message)),
            format!("kubectl sse status {} -n {} -o wide", facts.name, facts.namespace),
        ),
    };
    check("keyvault", Verdict::Fail, summary, Some(fix))
}
