//! ExternalSecrets: the stores they read, the vault and the identity.

use super::*;

#[test]
fn cluster_secret_store_in_a_sovereign_cloud_with_the_account_elsewhere() {
    let migrations = run_on(
        r"
apiVersion: external-secrets.io/v1
kind: ClusterSecretStore
metadata: {name: shared}
spec:
  provider:
    azurekv:
      authType: WorkloadIdentity
      vaultUrl: https://shared-kv.vault.azure.cn
      serviceAccountRef: {name: eso, namespace: external-secrets}
---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: {name: api, namespace: web}
spec:
  secretStoreRef: {name: shared, kind: ClusterSecretStore}
  data:
    - secretKey: token
      remoteRef: {key: api-token}
",
    );
    let migration = only(&migrations);
    assert_eq!(
        fields(migration),
        [
            "ClusterSecretStore shared: spec.provider.azurekv.serviceAccountRef.namespace",
            "ClusterSecretStore shared: spec.provider.azurekv.serviceAccountRef",
            "ClusterSecretStore shared: spec.provider.azurekv.tenantId",
        ]
    );
    let moved = reason(
        migration,
        "ClusterSecretStore shared: spec.provider.azurekv.serviceAccountRef.namespace",
    );
    assert!(
        moved.contains("external-secrets/eso") && moved.contains("system:serviceaccount:web:eso"),
        "{moved}"
    );
    assert!(
        reason(
            migration,
            "ClusterSecretStore shared: spec.provider.azurekv.serviceAccountRef"
        )
        .contains("ServiceAccount external-secrets/eso is not among the files given"),
    );
    let parameters = parameters(migration);
    assert_eq!(parameters["keyvaultName"], "shared-kv");
    assert_eq!(parameters["cloudName"], "AzureChinaCloud");
    assert_eq!(parameters["clientID"], "<client-id of ServiceAccount eso>");
    assert_eq!(parameters["tenantID"], "<tenant-id>");
    let sync = the_sync(migration);
    assert_eq!(
        sync.metadata.name.as_deref(),
        Some("api"),
        "the ExternalSecret's name without target.name"
    );
    assert_eq!(sync.spec.service_account_name, "eso");
    assert_eq!(
        sync.metadata.annotations, None,
        "no refreshInterval: the manager's interval"
    );
    assert_eq!(data(sync), [("api-token", "token")]);
}

#[test]
fn the_client_id_comes_from_the_service_account_annotation_when_the_cluster_has_it() {
    let mut inputs = inputs(
        r"
apiVersion: external-secrets.io/v1
kind: ClusterSecretStore
metadata: {name: shared}
spec:
  provider:
    azurekv:
      authType: WorkloadIdentity
      vaultUrl: https://shared-kv.vault.azure.net
      serviceAccountRef: {name: reader}
---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: {name: api, namespace: web}
spec:
  secretStoreRef: {name: shared, kind: ClusterSecretStore}
  data:
    - {secretKey: token, remoteRef: {key: api-token}}
",
    );
    inputs.origin = Origin::Cluster;
    assert_eq!(
        service_accounts_to_read(&inputs, &options()),
        BTreeSet::from([("web".to_string(), "reader".to_string())]),
        "a ClusterSecretStore's account without a namespace is the ExternalSecret's"
    );
    let missing = migrate(&inputs, &options());
    assert!(
        reason(
            only(&missing),
            "ClusterSecretStore shared: spec.provider.azurekv.serviceAccountRef"
        )
        .contains("ServiceAccount web/reader is not in the cluster")
    );
    inputs.service_accounts.push(serde_json::json!({
        "metadata": {"name": "reader", "namespace": "web", "annotations": {
            "azure.workload.identity/client-id": "cid", "azure.workload.identity/tenant-id": "tid"}}
    }));
    let migrations = migrate(&inputs, &options());
    let migration = only(&migrations);
    assert_eq!(migration.notes, Vec::<Note>::new());
    assert_eq!(parameters(migration)["clientID"], "cid");
    assert_eq!(parameters(migration)["tenantID"], "tid");
}

#[test]
fn a_store_of_another_provider_generates_nothing() {
    let migrations = run_on(
        r"
apiVersion: external-secrets.io/v1
kind: SecretStore
metadata: {name: vault, namespace: apps}
spec:
  provider:
    vault: {server: 'https://vault.example.com'}
---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: {name: a, namespace: apps}
spec:
  secretStoreRef: {name: vault}
  data: [{secretKey: k, remoteRef: {key: x}}]
---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: {name: b, namespace: apps}
spec:
  secretStoreRef: {name: gone}
  data: [{secretKey: k, remoteRef: {key: x}}]
",
    );
    assert_eq!(migrations.len(), 2);
    for migration in &migrations {
        assert!(migration.resources.is_empty(), "{migration:#?}");
        assert_eq!(fields(migration), ["spec.secretStoreRef"]);
    }
    assert_eq!(
        migrations[0].notes[0].reason,
        "SecretStore apps/vault uses provider vault: SSE-rs syncs from Azure Key Vault (provider azurekv) only"
    );
    assert_eq!(migrations[1].notes[0].source, "ExternalSecret apps/b");
    assert!(
        migrations[1].notes[0]
            .reason
            .starts_with("SecretStore apps/gone is not among the files given"),
        "{:?}",
        migrations[1].notes
    );
}

#[test]
fn other_auth_types_become_workload_identity_with_a_note() {
    let migrations = run_on(
        r"
apiVersion: external-secrets.io/v1
kind: SecretStore
metadata: {name: mi, namespace: ops}
spec:
  provider:
    azurekv:
      authType: ManagedIdentity
      identityId: 12345678-0000-0000-0000-000000000000
      vaultUrl: https://ops-kv.vault.usgovcloudapi.net/
      tenantId: t
---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: {name: a, namespace: ops}
spec:
  secretStoreRef: {name: mi}
  refreshInterval: '0'
  target: {creationPolicy: Merge, deletionPolicy: Delete}
  data: [{secretKey: k, remoteRef: {key: x}}]
",
    );
    let migration = only(&migrations);
    assert_eq!(
        fields(migration),
        [
            "SecretStore ops/mi: spec.provider.azurekv.authType",
            "spec.target.creationPolicy",
            "spec.target.deletionPolicy",
            "spec.refreshInterval",
        ]
    );
    assert!(
        reason(migration, "SecretStore ops/mi: spec.provider.azurekv.authType")
            .contains("system:serviceaccount:ops:default"),
    );
    assert!(reason(migration, "spec.refreshInterval").contains("ESO fetches once"));
    let parameters = parameters(migration);
    assert_eq!(parameters["clientID"], "12345678-0000-0000-0000-000000000000");
    assert_eq!(parameters["cloudName"], "AzureUSGovernmentCloud");
    let sync = the_sync(migration);
    assert_eq!(sync.spec.service_account_name, "default");
    assert_eq!(sync.metadata.annotations, None);
}

#[test]
fn workload_identity_without_a_service_account_ignores_auth_secret_ref_as_eso_does() {
    let yaml = r#"
apiVersion: external-secrets.io/v1
kind: SecretStore
metadata: {name: kv, namespace: apps}
spec:
  provider:
    azurekv:
      authType: WorkloadIdentity
      vaultUrl: https://contoso-kv.vault.azure.net
      tenantId: t-1
      authSecretRef:
        clientId: {name: creds, key: client-id}
---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: {name: db, namespace: apps}
spec:
  secretStoreRef: {name: kv, kind: SecretStore}
  data:
    - {secretKey: password, remoteRef: {key: db-password}}
"#;
    let migrations = run_on(yaml);
    let migration = only(&migrations);
    assert_eq!(
        parameters(migration)["clientID"],
        "<client-id of ServiceAccount default>",
        "not the authSecretRef's: ESO ignores it here"
    );
    assert!(
        migration
            .notes
            .iter()
            .all(|n| !n.field.contains("authSecretRef.clientId")),
        "{:#?}",
        migration.notes
    );
}
