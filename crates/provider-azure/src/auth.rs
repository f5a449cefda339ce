//! Entra ID credentials, one per identity, reused across Mounts.
//!
//! Upstream builds a new credential for every Mount, so every Mount pays a token exchange. Here a
//! credential is cached per [`IdentityKey`]: the cloud authority, the tenant, the client ID and, for
//! workload identity, the issuer and subject of the service-account token. Two service accounts that map
//! to the same client ID therefore never share an Entra token: each must pass Entra's federated-credential
//! check on its own. The credentials are the official `azure_identity` ones, whose cache keeps an access
//! token until shortly before it expires and serialises concurrent refreshes.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use azure_core::credentials::{Secret, TokenCredential};
use azure_core::http::{ClientMethodOptions, ClientOptions};
use azure_identity::{
    ClientAssertion, ClientAssertionCredential, ClientAssertionCredentialOptions, ClientSecretCredential,
    ClientSecretCredentialOptions, ManagedIdentityCredential, ManagedIdentityCredentialOptions,
    UserAssignedId,
};
use base64::Engine;
use sha2::{Digest, Sha256};

use crate::cloud::Cloud;
use crate::params::Identity;

/// Who is asking: the cache key for credentials, clients and coalesced fetches.
#[derive(Clone, Hash, PartialEq, Eq, Debug)]
pub struct IdentityKey {
    kind: &'static str,
    authority: String,
    tenant: String,
    client_id: String,
    /// `iss` + `sub` of a workload-identity assertion, or a digest of the client secret: never the secret.
    subject: String,
}

/// The service-account token most recently presented for one identity; the credential reads it whenever
/// it needs a new Entra token, so a refreshed token is used without rebuilding the credential.
struct AssertionSlot(RwLock<String>);

impl fmt::Debug for AssertionSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AssertionSlot(<redacted>)")
    }
}

#[async_trait::async_trait]
impl ClientAssertion for AssertionSlot {
    async fn secret(&self, _options: Option<ClientMethodOptions<'_>>) -> azure_core::Result<String> {
        Ok(self
            .0
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone())
    }
}

struct Entry {
    credential: Arc<dyn TokenCredential>,
    assertion: Option<Arc<AssertionSlot>>,
    last_used: Instant,
}

/// A bounded cache of credentials keyed by identity.
pub struct Credentials {
    client_options: ClientOptions,
    max_entries: usize,
    entries: Mutex<HashMap<IdentityKey, Entry>>,
}

impl Credentials {
    /// `client_options` carries the HTTP transport (trust roots, resolver) and the retry policy.
    pub fn new(client_options: ClientOptions, max_entries: usize) -> Self {
        Self {
            client_options,
            max_entries: max_entries.max(1),
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The credential for `identity` in `cloud`/`tenant`, creating it on first use.
    pub fn get(
        &self,
        cloud: &Cloud,
        tenant: &str,
        identity: &Identity,
    ) -> azure_core::Result<(IdentityKey, Arc<dyn TokenCredential>)> {
        let key = identity_key(cloud, tenant, identity);
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(entry) = entries.get_mut(&key) {
            entry.last_used = Instant::now();
            if let (Some(slot), Identity::Workload { assertion, .. }) = (&entry.assertion, identity) {
                *slot.0.write().unwrap_or_else(std::sync::PoisonError::into_inner) = assertion.clone();
            }
            return Ok((key, entry.credential.clone()));
        }
        let (credential, assertion) = self.build(cloud, tenant, identity)?;
        if entries.len() >= self.max_entries
            && let Some(oldest) = entries
                .iter()
                .min_by_key(|(_, e)| e.last_used)
                .map(|(k, _)| k.clone())
        {
            entries.remove(&oldest);
        }
        entries.insert(
            key.clone(),
            Entry {
                credential: credential.clone(),
                assertion,
                last_used: Instant::now(),
            },
        );
        Ok((key, credential))
    }

    /// Number of cached identities.
    pub fn len(&self) -> usize {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
    }

    /// Whether no identity is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    #[allow(clippy::type_complexity)]
    fn build(
        &self,
        cloud: &Cloud,
        tenant: &str,
        identity: &Identity,
    ) -> azure_core::Result<(Arc<dyn TokenCredential>, Option<Arc<AssertionSlot>>)> {
        let mut client_options = self.client_options.clone();
        let mut custom = azure_core::cloud::CustomConfiguration::default();
        custom.authority_host = cloud.authority_host.clone();
        client_options.cloud = Some(Arc::new(custom.into()));
        Ok(match identity {
            Identity::Workload { client_id, assertion } => {
                let slot = Arc::new(AssertionSlot(RwLock::new(assertion.clone())));
                let credential = ClientAssertionCredential::new(
                    tenant.to_string(),
                    client_id.clone(),
                    SharedSlot(slot.clone()),
                    Some(ClientAssertionCredentialOptions { client_options }),
                )?;
                (credential as Arc<dyn TokenCredential>, Some(slot))
            }
            Identity::VmManagedIdentity { user_assigned_id } => {
                let credential = ManagedIdentityCredential::new(Some(ManagedIdentityCredentialOptions {
                    user_assigned_id: user_assigned_id.clone().map(UserAssignedId::ClientId),
                    client_options,
                }))?;
                (credential as Arc<dyn TokenCredential>, None)
            }
            Identity::ServicePrincipal {
                client_id,
                client_secret,
            } => {
                let credential = ClientSecretCredential::new(
                    tenant,
                    client_id.clone(),
                    Secret::new(client_secret.clone()),
                    Some(ClientSecretCredentialOptions { client_options }),
                )?;
                (credential as Arc<dyn TokenCredential>, None)
            }
        })
    }
}

/// `ClientAssertion` is implemented for the slot behind an `Arc`, so the cache can keep updating it.
#[derive(Debug)]
struct SharedSlot(Arc<AssertionSlot>);

#[async_trait::async_trait]
impl ClientAssertion for SharedSlot {
    async fn secret(&self, _options: Option<ClientMethodOptions<'_>>) -> azure_core::Result<String> {
        Ok(self
            .0
            .0
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone())
    }
}

fn identity_key(cloud: &Cloud, tenant: &str, identity: &Identity) -> IdentityKey {
    let (kind, client_id, subject) = match identity {
        Identity::Workload { client_id, assertion } => {
            ("workload", client_id.clone(), assertion_subject(assertion))
        }
        Identity::VmManagedIdentity { user_assigned_id } => {
            ("vm", user_assigned_id.clone().unwrap_or_default(), String::new())
        }
        Identity::ServicePrincipal {
            client_id,
            client_secret,
        } => ("sp", client_id.clone(), digest(client_secret)),
    };
    IdentityKey {
        kind,
        authority: cloud.authority_host.clone(),
        tenant: tenant.to_string(),
        client_id,
        subject,
    }
}

/// `iss` and `sub` of a JWT, read without verifying it (Entra verifies it). A token that cannot be read is
/// keyed by its digest, so it is never confused with another identity.
fn assertion_subject(jwt: &str) -> String {
    #[derive(serde::Deserialize)]
    struct Claims {
        #[serde(default)]
        iss: String,
        #[serde(default)]
        sub: String,
    }
    let claims = jwt
        .split('.')
        .nth(1)
        .and_then(|payload| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload.trim_end_matches('='))
                .ok()
        })
        .and_then(|bytes| serde_json::from_slice::<Claims>(&bytes).ok())
        .filter(|c| !c.sub.is_empty());
    match claims {
        Some(c) => format!("{} {}", c.iss, c.sub),
        None => digest(jwt),
    }
}

fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(iss: &str, sub: &str) -> String {
        let enc =
            |v: serde_json::Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        format!(
            "{}.{}.sig",
            enc(serde_json::json!({"alg":"RS256"})),
            enc(serde_json::json!({"iss": iss, "sub": sub, "aud": ["api://AzureADTokenExchange"]}))
        )
    }

    fn cloud() -> Cloud {
        Cloud::resolve("AzurePublicCloud", "").unwrap()
    }

    fn workload(client: &str, token: String) -> Identity {
        Identity::Workload {
            client_id: client.into(),
            assertion: token,
        }
    }

    #[test]
    fn identities_differ_by_service_account_not_by_token_rotation() {
        let a1 = identity_key(
            &cloud(),
            "t",
            &workload("c", jwt("iss", "system:serviceaccount:a:sa")),
        );
        let a2 = identity_key(
            &cloud(),
            "t",
            &workload("c", jwt("iss", "system:serviceaccount:a:sa")),
        );
        let b = identity_key(
            &cloud(),
            "t",
            &workload("c", jwt("iss", "system:serviceaccount:b:sa")),
        );
        let other_issuer = identity_key(
            &cloud(),
            "t",
            &workload("c", jwt("iss2", "system:serviceaccount:a:sa")),
        );
        assert_eq!(a1, a2);
        assert_ne!(a1, b);
        assert_ne!(a1, other_issuer);
        assert_ne!(
            a1,
            identity_key(
                &cloud(),
                "t2",
                &workload("c", jwt("iss", "system:serviceaccount:a:sa"))
            )
        );
    }

    #[test]
    fn unreadable_tokens_are_never_shared() {
        let a = identity_key(&cloud(), "t", &workload("c", "opaque-1".into()));
        let b = identity_key(&cloud(), "t", &workload("c", "opaque-2".into()));
        assert_ne!(a, b);
        assert!(!format!("{a:?}").contains("opaque-1"));
    }

    #[test]
    fn cache_reuses_and_bounds() {
        let creds = Credentials::new(ClientOptions::default(), 2);
        let id = workload("c", jwt("iss", "s1"));
        let (k1, c1) = creds.get(&cloud(), "tenant", &id).unwrap();
        let (k2, c2) = creds.get(&cloud(), "tenant", &id).unwrap();
        assert_eq!(k1, k2);
        assert!(Arc::ptr_eq(&c1, &c2));
        creds
            .get(&cloud(), "tenant", &workload("c", jwt("iss", "s2")))
            .unwrap();
        creds
            .get(&cloud(), "tenant", &workload("c", jwt("iss", "s3")))
            .unwrap();
        assert_eq!(creds.len(), 2);
    }
}
