//! The fetch's source: a ClusterSecretSync seen as the SecretSync the fetch stages of [`crate::sync`] read (its
//! class, identity, objects and shape), in the install namespace, in memory only. It is never written
//! anywhere: its status is made from the resource's, so that a quiet check may end without a Mount only
//! while the last fetch succeeded for this generation.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::ResourceExt;
use sse_api::conditions::{READY, find_condition};
use sse_api::{ClusterSecretSync, SecretSync, SecretSyncSpec, SecretSyncStatus, consts};

use super::status::FETCHED;

/// `css` as the SecretSync whose fetch it shares, in `install_namespace`.
pub fn as_sync(css: &ClusterSecretSync, install_namespace: &str) -> SecretSync {
    // Only the manager's own annotations (refresh interval, force-sync, tag mappings) carry over.
    let annotations = css
        .metadata
        .annotations
        .as_ref()
        .map(|a| {
            a.iter()
                .filter(|(k, _)| k.starts_with(consts::ANNOTATION_PREFIX))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .filter(|a: &std::collections::BTreeMap<String, String>| !a.is_empty());
    let status = css.status.as_ref().map(|s| SecretSyncStatus {
        sync_hash: s.sync_hash.clone(),
        last_checked_time: s.last_checked_time.clone(),
        last_successful_sync_time: s.last_successful_sync_time.clone(),
        observed_generation: s.observed_generation,
        force_sync_handled: s.force_sync_handled.clone(),
        conditions: find_condition(&s.conditions, FETCHED)
            .map(|fetched| {
                let mut ready = fetched.clone();
                READY.clone_into(&mut ready.type_);
                vec![ready]
            })
            .unwrap_or_default(),
        ..SecretSyncStatus::default()
    });
    SecretSync {
        metadata: ObjectMeta {
            name: Some(css.name_any()),
            namespace: Some(install_namespace.to_string()),
            uid: css.uid(),
            generation: css.metadata.generation,
            annotations,
            ..ObjectMeta::default()
        },
        spec: SecretSyncSpec {
            secret_provider_class_name: css.spec.secret_provider_class_name.clone(),
            service_account_name: css.spec.service_account_name.clone(),
            secret_object: css.spec.secret_object.clone(),
            force_synchronization: css.spec.force_synchronization.clone(),
            ..SecretSyncSpec::default()
        },
        status,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_source_is_in_the_install_namespace_with_the_fetch_as_its_readiness() {
        let mut css = ClusterSecretSync::new("registry", sse_api::ClusterSecretSyncSpec::default());
        css.spec.secret_provider_class_name = "acr".into();
        css.spec.service_account_name = "puller".into();
        css.metadata.generation = Some(3);
        css.metadata.annotations = Some(
            [
                ("sse-rs.io/refresh-interval".to_string(), "10m".to_string()),
                ("team".to_string(), "x".to_string()),
            ]
            .into(),
        );
        let fetched = sse_api::conditions::new_condition(
            FETCHED,
            sse_api::Reason::CreateSucceeded,
            "",
            Some(3),
            crate::clock::to_time(std::time::SystemTime::now()),
        );
        css.status = Some(sse_api::ClusterSecretSyncStatus {
            sync_hash: Some("v2:x".into()),
            observed_generation: Some(3),
            conditions: vec![fetched],
            ..Default::default()
        });
        let sync = as_sync(&css, "azure-secret-store");
        assert_eq!(sync.namespace().as_deref(), Some("azure-secret-store"));
        assert_eq!(sync.spec.secret_provider_class_name, "acr");
        assert_eq!(sync.spec.service_account_name, "puller");
        assert_eq!(sync.annotations().len(), 1, "only sse-rs.io/ annotations");
        let status = sync.status.unwrap_or_default();
        assert!(sse_api::conditions::is_condition_true(&status.conditions, READY));
        assert_eq!(status.sync_hash.as_deref(), Some("v2:x"));
    }
}
