//! What an ExternalSecret's store gives the SecretProviderClass: the vault (`keyvaultName`, `cloudName`)
//! and the identity the provider authenticates as (`clientID`, `tenantID`, the SecretSync's ServiceAccount).

use provider_proto::contract::WORKLOAD_IDENTITY_AUDIENCE;

use super::EsSource;
use super::api::{AzureKv, ExternalSecret, SecretKeySelector, SecretStore};
use crate::migrate::lenient::Metadata;
use crate::migrate::migration::{Notes, Options, qualified, subject};

/// ServiceAccount annotation of Azure workload identity: the identity's client ID.
const CLIENT_ID_ANNOTATION: &str = "azure.workload.identity/client-id";
/// ServiceAccount annotation of Azure workload identity: the identity's tenant.
const TENANT_ID_ANNOTATION: &str = "azure.workload.identity/tenant-id";
/// Key Vault DNS suffixes and the `cloudName` each needs (`None`: the public cloud, the provider's default).
const VAULT_SUFFIXES: [(&str, Option<&str>); 4] = [
    ("vault.azure.net", None),
    ("vault.azure.cn", Some("AzureChinaCloud")),
    ("vault.usgovcloudapi.net", Some("AzureUSGovernmentCloud")),
    ("vault.microsoftazure.de", Some("AzureGermanCloud")),
];

/// Which ESO store kind a reference names (ESO's default is `SecretStore`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum StoreKind {
    Namespaced,
    Cluster,
}

impl StoreKind {
    pub(super) fn of(kind: Option<&str>) -> Self {
        if kind == Some("ClusterSecretStore") {
            Self::Cluster
        } else {
            Self::Namespaced
        }
    }
}

/// A store reference of an ExternalSecret and, when the inputs have it, the store.
pub(super) struct Store<'a> {
    pub(super) kind: StoreKind,
    pub(super) name: &'a str,
    pub(super) object: Option<&'a SecretStore>,
}

impl Store<'_> {
    /// `SecretStore ns/name` or `ClusterSecretStore name`, for notes.
    pub(super) fn label(&self, namespace: Option<&str>) -> String {
        match self.kind {
            StoreKind::Cluster => format!("ClusterSecretStore {}", self.name),
            StoreKind::Namespaced => format!("SecretStore {}", qualified(namespace, self.name)),
        }
    }
}

/// The ServiceAccount a workload-identity store authenticates as for an ExternalSecret.
pub(super) struct Account {
    pub(super) namespace: Option<String>,
    pub(super) name: String,
    /// Named by the store's `serviceAccountRef` (else `--service-account`: ESO used its own pod's).
    named: bool,
}

/// The ServiceAccount a workload-identity store authenticates as for `es`: for a SecretStore in the store's
/// (= the ExternalSecret's) namespace, for a ClusterSecretStore in `serviceAccountRef.namespace`, else the
/// ExternalSecret's; without `serviceAccountRef`, `--service-account` in the ExternalSecret's namespace.
/// `None` for the other auth types.
pub(super) fn workload_identity_account(
    es: &ExternalSecret,
    store: &Store<'_>,
    azurekv: &AzureKv,
    options: &Options,
) -> Option<Account> {
    if azurekv.auth_type.as_deref() != Some("WorkloadIdentity") {
        return None;
    }
    let es_namespace = es.metadata.namespace.clone();
    let Some(name) = azurekv.service_account_ref.name.as_deref() else {
        return Some(Account {
            namespace: es_namespace,
            name: options.service_account.clone(),
            named: false,
        });
    };
    let namespace = match store.kind {
        StoreKind::Cluster => azurekv.service_account_ref.namespace.clone().or(es_namespace),
        StoreKind::Namespaced => es_namespace,
    };
    Some(Account {
        namespace,
        name: name.to_string(),
        named: true,
    })
}

/// The vault of a SecretProviderClass: `keyvaultName` and, outside the public cloud, `cloudName`.
pub(super) struct Vault {
    pub(super) name: String,
    pub(super) cloud: Option<&'static str>,
}

/// `https://NAME.<vault suffix>/` → NAME and the `cloudName` of that suffix; `None` for any other URL.
fn parse_vault_url(url: &str) -> Option<(&str, Option<&'static str>)> {
    let (name, suffix) = vault_host(url)?.split_once('.')?;
    let (_, cloud) = VAULT_SUFFIXES
        .iter()
        .find(|(known, _)| suffix.eq_ignore_ascii_case(known))?;
    (!name.is_empty()).then_some((name, *cloud))
}

/// The host of an `https://host[:443][/]` URL.
fn vault_host(url: &str) -> Option<&str> {
    let rest = url.strip_prefix("https://")?;
    let host = rest.strip_suffix('/').unwrap_or(rest);
    let host = host.strip_suffix(":443").unwrap_or(host);
    (!host.is_empty() && !host.contains(['/', ':', '?', '#', '@'])).then_some(host)
}

/// The store's vault, from `vaultUrl` (and `environmentType`); `None`, with a note, when there is none.
pub(super) fn vault_of(src: &EsSource<'_>, notes: &mut Notes) -> Option<Vault> {
    let Some(url) = src.azurekv.vault_url.as_deref() else {
        notes.add(
            src.store_field("vaultUrl"),
            "no vault URL: the SecretProviderClass needs keyvaultName",
        );
        return None;
    };
    if src.azurekv.environment_type.as_deref() == Some("AzureStackCloud") {
        if let Some((name, _)) = vault_host(url).and_then(|host| host.split_once('.'))
            && !name.is_empty()
        {
            notes.add(
                src.store_field("environmentType"),
                "Azure Stack: cloudName AzureStackCloud also needs cloudEnvFileName, the environment file mounted into the provider container (ESO's customCloudConfig does not carry over)",
            );
            return Some(Vault {
                name: name.to_string(),
                cloud: Some("AzureStackCloud"),
            });
        }
    } else if let Some((name, cloud)) = parse_vault_url(url) {
        return Some(Vault {
            name: name.to_string(),
            cloud,
        });
    }
    notes.add(
        src.store_field("vaultUrl"),
        format!("{url} is not a Key Vault URL (https://NAME.vault.azure.net/, or a sovereign cloud's vault suffix; a Managed HSM is not read by the Azure provider): the SecretProviderClass needs keyvaultName"),
    );
    None
}

/// Who the provider authenticates as.
pub(super) struct Identity {
    pub(super) service_account: String,
    pub(super) tenant_id: String,
    pub(super) client_id: String,
}

/// The identity of a workload-identity store (else [`other_identity`]), with placeholders and notes for what
/// migrate cannot know.
pub(super) fn identity_of(src: &EsSource<'_>, options: &Options, notes: &mut Notes) -> Identity {
    let Some(account) = workload_identity_account(src.es, &src.store, src.azurekv, options) else {
        return other_identity(src, options, notes);
    };
    let es_namespace = src.namespace.as_deref();
    let named = account.named;
    let service_account = account.name;
    let account_namespace = account.namespace;
    if !account.named {
        notes.add(
            src.store_field("serviceAccountRef"),
            format!(
                "none: ESO used its own pod's ServiceAccount; a SecretSync names one of its namespace: {service_account} (--service-account) is used, give the identity a federated credential for {}",
                subject(es_namespace, &service_account)
            ),
        );
    }
    if account_namespace != src.namespace {
        notes.add(
            src.store_field("serviceAccountRef.namespace"),
            format!(
                "ServiceAccount {} is in another namespace; a SecretSync uses a ServiceAccount of its own: create {service_account} in {} (with the same {CLIENT_ID_ANNOTATION} annotation) and give the identity a federated credential for {}",
                qualified(account_namespace.as_deref(), &service_account),
                es_namespace.unwrap_or("its namespace"),
                subject(es_namespace, &service_account)
            ),
        );
    }
    let audiences = &src.azurekv.service_account_ref.audiences;
    if audiences.iter().any(|a| a != WORKLOAD_IDENTITY_AUDIENCE) {
        notes.add(
            src.store_field("serviceAccountRef.audiences"),
            format!(
                "{}: SSE-rs requests the tokens for the audiences the manager is configured with (--token-request-audience; {WORKLOAD_IDENTITY_AUDIENCE} for workload identity)",
                audiences.join(", ")
            ),
        );
    }

    let account = src
        .eso
        .service_account(account_namespace.as_deref(), &service_account);
    // With workload identity and no serviceAccountRef, ESO takes the identity from its own environment and
    // ignores authSecretRef.
    let auth_secret_client = src.azurekv.auth_secret_ref.client_id.as_ref().filter(|_| named);
    let client_id = if let Some(secret) = auth_secret_client {
        let described = secret_key_ref(secret);
        notes.add(
            src.store_field("authSecretRef.clientId"),
            format!("the client ID is kept in {described}; migrate never reads Secret values: replace the placeholder in clientID"),
        );
        format!("<client-id from {described}>")
    } else if let Some(id) = account.and_then(|a| a.annotation(CLIENT_ID_ANNOTATION)) {
        id
    } else {
        let qualified_account = qualified(account_namespace.as_deref(), &service_account);
        let why = match account {
            Some(_) => format!("ServiceAccount {qualified_account} has no {CLIENT_ID_ANNOTATION} annotation"),
            None => format!(
                "ServiceAccount {qualified_account} is not {}",
                src.eso.inputs.origin.place()
            ),
        };
        notes.add(
            src.store_field("serviceAccountRef"),
            format!("{why}: replace the placeholder in clientID with the identity's client ID"),
        );
        format!("<client-id of ServiceAccount {service_account}>")
    };
    Identity {
        tenant_id: tenant_of(src, account, notes),
        service_account,
        client_id,
    }
}

/// A store on ServicePrincipal (ESO's default) or ManagedIdentity: SSE-rs authenticates with workload
/// identity federation, as `--service-account`.
fn other_identity(src: &EsSource<'_>, options: &Options, notes: &mut Notes) -> Identity {
    let auth_type = src.azurekv.auth_type.as_deref().unwrap_or("ServicePrincipal");
    let service_account = options.service_account.clone();
    let subject = subject(src.namespace.as_deref(), &service_account);
    let identity_id = src
        .azurekv
        .identity_id
        .as_deref()
        .filter(|_| auth_type == "ManagedIdentity");
    let (client_id, how) = match identity_id {
        Some(id) => (
            id.to_string(),
            format!("clientID is the store's identityId {id}: give that identity a federated credential"),
        ),
        None => (
            format!("<client-id of ServiceAccount {service_account}>"),
            "set clientID to an identity with Key Vault access and give it a federated credential"
                .to_string(),
        ),
    };
    notes.add(
        src.store_field("authType"),
        format!(
            "ESO authenticated with {auth_type}; SSE-rs authenticates each SecretSync with workload identity federation: {how} for {subject} (--service-account)"
        ),
    );
    Identity {
        tenant_id: tenant_of(src, None, notes),
        service_account,
        client_id,
    }
}

/// The tenant: the store's `tenantId`, else (placeholder) the Secret it names, else the ServiceAccount's
/// annotation, else a placeholder.
fn tenant_of(src: &EsSource<'_>, account: Option<&Metadata>, notes: &mut Notes) -> String {
    let secret = src.azurekv.auth_secret_ref.tenant_id.as_ref();
    if let Some(tenant) = src.azurekv.tenant_id.as_deref() {
        if let Some(secret) = secret {
            notes.check(
                src.store_field("authSecretRef.tenantId"),
                format!(
                    "ESO prefers the tenant ID in {} over tenantId {tenant}; tenantID here is {tenant}: check they match",
                    secret_key_ref(secret)
                ),
            );
        }
        return tenant.to_string();
    }
    if let Some(secret) = secret {
        let described = secret_key_ref(secret);
        notes.add(
            src.store_field("authSecretRef.tenantId"),
            format!("the tenant ID is kept in {described}; migrate never reads Secret values: replace the placeholder in tenantID"),
        );
        return format!("<tenant-id from {described}>");
    }
    if let Some(tenant) = account.and_then(|a| a.annotation(TENANT_ID_ANNOTATION)) {
        return tenant;
    }
    notes.add(
        src.store_field("tenantId"),
        "none in the store (ESO took the tenant from its own environment): replace the placeholder in tenantID",
    );
    "<tenant-id>".to_string()
}

/// `Secret ns/name key K` of an ESO secret key selector.
fn secret_key_ref(selector: &SecretKeySelector) -> String {
    format!(
        "Secret {} key {}",
        qualified(
            selector.namespace.as_deref(),
            selector.name.as_deref().unwrap_or("?")
        ),
        selector.key.as_deref().unwrap_or("?")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vault_urls() {
        assert_eq!(
            parse_vault_url("https://my-kv.vault.azure.net/"),
            Some(("my-kv", None))
        );
        assert_eq!(
            parse_vault_url("https://my-kv.vault.azure.net"),
            Some(("my-kv", None))
        );
        assert_eq!(
            parse_vault_url("https://my-kv.Vault.Azure.Net:443/"),
            Some(("my-kv", None))
        );
        assert_eq!(
            parse_vault_url("https://gov.vault.usgovcloudapi.net/"),
            Some(("gov", Some("AzureUSGovernmentCloud")))
        );
        assert_eq!(
            parse_vault_url("https://cn.vault.azure.cn"),
            Some(("cn", Some("AzureChinaCloud")))
        );
        for bad in [
            "http://my-kv.vault.azure.net/",
            "https://my-kv.managedhsm.azure.net/",
            "https://vault.azure.net/",
            "https://my-kv.vault.azure.net/secrets/x",
            "https://my-kv.vault.azure.net:8443/",
            "my-kv",
        ] {
            assert_eq!(parse_vault_url(bad), None, "{bad}");
        }
    }
}
