//! SecretProviderClasses with `spec.secretObjects`.

use super::*;

#[test]
fn csi_secret_objects_become_one_secret_sync_each() {
    let migrations = run_on(
        r#"
apiVersion: secrets-store.csi.x-k8s.io/v1
kind: SecretProviderClass
metadata:
  name: app-kv
  namespace: shop
  resourceVersion: "42"
  uid: 0c0ffee0-0000-0000-0000-000000000000
  annotations:
    kubectl.kubernetes.io/last-applied-configuration: "{}"
    team: payments
spec:
  provider: azure
  parameters:
    keyvaultName: shop-kv
    clientID: 99999999-8888-7777-6666-555555555555
    tenantId: tenant
    objects: |
      array:
        - |
          objectName: db-password
          objectType: secret
        - |
          objectName: web-cert
          objectType: secret
  secretObjects:
    - secretName: db
      type: Opaque
      labels: {app: shop}
      data:
        - {objectName: db-password, key: password}
    - secretName: web-tls
      type: kubernetes.io/tls
      data:
        - {objectName: web-cert, key: tls.crt}
        - {objectName: web-cert, key: tls.key}
---
apiVersion: secrets-store.csi.x-k8s.io/v1
kind: SecretProviderClass
metadata: {name: mount-only, namespace: shop}
spec: {provider: azure, parameters: {keyvaultName: shop-kv}}
"#,
    );
    let migration = only(&migrations);
    assert_eq!(migration.source, "SecretProviderClass shop/app-kv");
    assert_eq!(fields(migration), ["serviceAccountName"]);
    let why = reason(migration, "serviceAccountName");
    assert!(
            why.contains("default (--service-account)")
                && why.contains("identity 99999999-8888-7777-6666-555555555555 needs a federated credential for system:serviceaccount:shop:default"),
            "{why}"
        );

    let class = class(migration);
    assert_eq!(class.metadata.name.as_deref(), Some("app-kv"));
    assert_eq!(class.metadata.resource_version, None);
    assert_eq!(class.metadata.uid, None);
    assert_eq!(
        class.metadata.annotations,
        Some(BTreeMap::from([("team".to_string(), "payments".to_string())]))
    );
    assert_eq!(class.spec.secret_objects, None);
    assert_eq!(
        class.spec.parameters.as_ref().map(BTreeMap::len),
        Some(4),
        "unchanged"
    );

    let syncs = syncs(migration);
    assert_eq!(syncs.len(), 2);
    let (db, tls) = (syncs[0], syncs[1]);
    assert_eq!(db.metadata.name.as_deref(), Some("db"));
    assert_eq!(db.metadata.namespace.as_deref(), Some("shop"));
    assert_eq!(db.spec.secret_provider_class_name, "app-kv");
    assert_eq!(db.spec.service_account_name, "default");
    assert_eq!(db.spec.secret_object.type_, "Opaque");
    assert_eq!(
        db.spec.secret_object.labels,
        Some(BTreeMap::from([("app".to_string(), "shop".to_string())]))
    );
    assert_eq!(data(db), [("db-password", "password")]);
    assert_eq!(tls.metadata.name.as_deref(), Some("web-tls"));
    assert_eq!(tls.spec.secret_object.type_, "kubernetes.io/tls");
    assert_eq!(data(tls), [("web-cert", "tls.crt"), ("web-cert", "tls.key")]);
}

#[test]
fn csi_identities_a_secret_sync_cannot_use_are_noted() {
    let migrations = migrate(
        &inputs(
            r"
apiVersion: secrets-store.csi.x-k8s.io/v1
kind: SecretProviderClass
metadata: {name: legacy, namespace: shop}
spec:
  provider: azure
  parameters: {keyvaultName: shop-kv, usePodIdentity: 'true', objects: 'array: []'}
  secretObjects:
    - secretName: legacy
      data: [{objectName: a, key: a}]
",
        ),
        &Options {
            name: Some("legacy".to_string()),
            service_account: "app".to_string(),
        },
    );
    let migration = only(&migrations);
    assert_eq!(
        fields(migration),
        ["spec.parameters.usePodIdentity", "serviceAccountName"]
    );
    assert!(reason(migration, "serviceAccountName").contains("app (--service-account)"));
    let sync = the_sync(migration);
    assert_eq!(sync.spec.service_account_name, "app");
    assert_eq!(sync.spec.secret_object.type_, "Opaque", "the default type");
}

#[test]
fn a_secret_sync_failing_validation_is_noted_and_not_printed() {
    let migrations = run_on(
        r"
apiVersion: secrets-store.csi.x-k8s.io/v1
kind: SecretProviderClass
metadata: {name: p, namespace: shop}
spec:
  provider: azure
  parameters: {keyvaultName: kv, clientID: c, objects: 'array: []'}
  secretObjects:
    - secretName: reserved
      labels: {secrets-store.sync.x-k8s.io/owner: me}
      data: [{objectName: a, key: a}]
    - secretName: empty
      data: [{objectName: a}]
",
    );
    let migration = only(&migrations);
    assert!(
        migration.resources.is_empty(),
        "no SecretSync left, no class: {migration:#?}"
    );
    assert_eq!(
        fields(migration),
        [
            "serviceAccountName",
            "spec.secretObjects[0].labels",
            "spec.secretObjects[1].data[0]",
            "spec.secretObjects[1].data",
        ]
    );
    assert_eq!(
        reason(migration, "spec.secretObjects[0].labels"),
        "SSE-rs would refuse the SecretSync (label secrets-store.sync.x-k8s.io/owner is reserved for use by the Secrets Store Sync Controller): it is not printed"
    );
    assert!(
        reason(migration, "spec.secretObjects[1].data").contains("secretObject.data is empty"),
        "{:#?}",
        migration.notes
    );
}

#[test]
fn a_tls_secret_object_may_map_the_issuing_chain_as_the_manager_does() {
    let migrations = run_on(
        r"
apiVersion: secrets-store.csi.x-k8s.io/v1
kind: SecretProviderClass
metadata: {name: p, namespace: shop}
spec:
  provider: azure
  parameters: {keyvaultName: kv, clientID: c, objects: 'array: []'}
  secretObjects:
    - secretName: web-tls
      type: kubernetes.io/tls
      data:
        - {objectName: web-cert, key: tls.crt}
        - {objectName: web-cert, key: tls.key}
        - {objectName: web-cert, key: ca.crt}
    - secretName: other-tls
      type: kubernetes.io/tls
      data:
        - {objectName: web-cert, key: tls.crt}
        - {objectName: web-cert, key: ca.pem}
",
    );
    let migration = only(&migrations);
    let sync = the_sync(migration);
    assert_eq!(sync.metadata.name.as_deref(), Some("web-tls"));
    assert_eq!(
        data(sync),
        [
            ("web-cert", "tls.crt"),
            ("web-cert", "tls.key"),
            ("web-cert", "ca.crt")
        ]
    );
    assert_eq!(
        fields(migration),
        ["serviceAccountName", "spec.secretObjects[1].data"]
    );
    assert_eq!(
        reason(migration, "spec.secretObjects[1].data"),
        "SSE-rs splits a kubernetes.io/tls object into tls.crt, tls.key and ca.crt and refuses other keys (ca.pem): the SecretSync is not printed"
    );
}
