//! Service-account tokens for providers (docs/PROVIDER.md#service-account-tokens): one TokenRequest per
//! audience, 600 s, reused until 80 % of their life has passed, then refreshed. A failed refresh keeps using
//! a still-valid token.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sse_api::consts;

use crate::cluster::{Cluster, ClusterError, Token};

struct Cached {
    token: Token,
    refresh_at: Instant,
    expires_at: Instant,
}

/// Cache keyed by namespace, service account and audience (none of which is secret).
#[derive(Default)]
pub struct Tokens {
    cache: Mutex<HashMap<(String, String, String), Cached>>,
}

impl Tokens {
    /// The `csi.storage.k8s.io/serviceAccount.tokens` attribute for `audiences` (`None` when there are none).
    pub async fn attribute(
        &self,
        cluster: &dyn Cluster,
        namespace: &str,
        service_account: &str,
        audiences: &[String],
    ) -> Result<Option<String>, ClusterError> {
        if audiences.is_empty() {
            return Ok(None);
        }
        let mut map = serde_json::Map::new();
        for audience in audiences {
            let token = self.token(cluster, namespace, service_account, audience).await?;
            map.insert(
                audience.clone(),
                serde_json::json!({ "token": token.token, "expirationTimestamp": token.expiration }),
            );
        }
        Ok(Some(serde_json::Value::Object(map).to_string()))
    }

    async fn token(
        &self,
        cluster: &dyn Cluster,
        namespace: &str,
        service_account: &str,
        audience: &str,
    ) -> Result<Token, ClusterError> {
        let key = (
            namespace.to_string(),
            service_account.to_string(),
            audience.to_string(),
        );
        let now = Instant::now();
        let cached = {
            let cache = self
                .cache
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            cache
                .get(&key)
                .map(|c| (c.token.clone(), c.refresh_at, c.expires_at))
        };
        if let Some((token, refresh_at, _)) = &cached
            && now < *refresh_at
        {
            return Ok(token.clone());
        }
        let lifetime = consts::TOKEN_EXPIRATION_SECONDS;
        match cluster
            .request_token(namespace, service_account, audience, lifetime)
            .await
        {
            Ok(token) => {
                let ttl = Duration::from_secs(u64::try_from(lifetime).unwrap_or(600));
                let mut cache = self
                    .cache
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                cache.retain(|_, c| c.expires_at > now);
                cache.insert(
                    key,
                    Cached {
                        token: token.clone(),
                        refresh_at: now + ttl.mul_f64(0.8),
                        expires_at: now + ttl,
                    },
                );
                Ok(token)
            }
            Err(error) => match cached {
                Some((token, _, expires_at)) if now < expires_at => {
                    tracing::warn!(namespace, service_account, %error, "Couldn't update token; using the cached one");
                    Ok(token)
                }
                _ => Err(error),
            },
        }
    }

    /// Tokens cached (for tests and metrics).
    pub fn len(&self) -> usize {
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
