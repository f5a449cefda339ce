//! ExternalSecrets: the data, the target Secret, what is refused, and fields of another type.

use super::*;

#[test]
fn external_secret_with_a_workload_identity_store() {
    let yaml = format!(
        "{STORE_WI}---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: {{name: db, namespace: payments}}
spec:
  refreshInterval: 15m
  secretStoreRef: {{name: kv, kind: SecretStore}}
  target:
    name: db-credentials
    creationPolicy: Owner
    template:
      metadata:
        labels: {{app: billing}}
  data:
    - secretKey: username
      remoteRef: {{key: db-user}}
    - secretKey: password
      remoteRef: {{key: secret/db-password}}
    - secretKey: password-previous
      remoteRef: {{key: db-password, version: 0123abcd}}
    - secretKey: PASSWORD
      remoteRef: {{key: db-password}}
    - secretKey: blob
      remoteRef: {{key: blob, decodingStrategy: Base64}}
"
    );
    let migrations = run_on(&yaml);
    let migration = only(&migrations);
    assert_eq!(migration.source, "ExternalSecret payments/db");
    assert_eq!(migration.notes, Vec::<Note>::new(), "everything carries over");

    let class = class(migration);
    assert_eq!(class.metadata.name.as_deref(), Some("db-credentials"));
    assert_eq!(class.metadata.namespace.as_deref(), Some("payments"));
    assert_eq!(class.spec.provider.as_deref(), Some("azure"));
    assert_eq!(class.spec.secret_objects, None);
    let parameters = parameters(migration);
    assert_eq!(
        parameters.keys().map(String::as_str).collect::<Vec<_>>(),
        ["clientID", "keyvaultName", "objects", "tenantID"],
        "no cloudName in the public cloud"
    );
    assert_eq!(parameters["keyvaultName"], "payments-kv");
    assert_eq!(parameters["tenantID"], "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee");
    assert_eq!(parameters["clientID"], "11111111-2222-3333-4444-555555555555");
    assert_eq!(
        objects(migration),
        [
            object(&[("objectName", "db-user"), ("objectType", "secret")]),
            object(&[("objectName", "db-password"), ("objectType", "secret")]),
            object(&[
                ("objectName", "db-password"),
                ("objectType", "secret"),
                ("objectAlias", "db-password-2"),
                ("objectVersion", "0123abcd"),
            ]),
            object(&[
                ("objectName", "blob"),
                ("objectType", "secret"),
                ("objectEncoding", "base64"),
            ]),
        ]
    );

    let sync = the_sync(migration);
    assert_eq!(sync.metadata.name.as_deref(), Some("db-credentials"));
    assert_eq!(sync.metadata.namespace.as_deref(), Some("payments"));
    assert_eq!(
        sync.metadata.annotations,
        Some(BTreeMap::from([(
            REFRESH_INTERVAL_ANNOTATION.to_string(),
            "15m".to_string()
        )]))
    );
    assert_eq!(sync.spec.secret_provider_class_name, "db-credentials");
    assert_eq!(sync.spec.service_account_name, "eso-reader");
    assert_eq!(sync.spec.secret_object.type_, "Opaque");
    assert_eq!(
        sync.spec.secret_object.labels,
        Some(BTreeMap::from([("app".to_string(), "billing".to_string())]))
    );
    assert_eq!(
        data(sync),
        [
            ("db-user", "username"),
            ("db-password", "password"),
            ("db-password-2", "password-previous"),
            ("db-password", "PASSWORD"),
            ("blob", "blob"),
        ]
    );
}

#[test]
fn cert_and_key_prefixes() {
    let yaml = format!(
        "{STORE_WI}---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: {{name: pki, namespace: payments}}
spec:
  secretStoreRef: {{name: kv}}
  data:
    - secretKey: ca.crt
      remoteRef: {{key: cert/root-ca}}
    - secretKey: signing.pem
      remoteRef: {{key: key/signing}}
    - secretKey: plain
      remoteRef: {{key: secret/root-ca/ignored}}
    - secretKey: odd
      remoteRef: {{key: blob/x}}
"
    );
    let migrations = run_on(&yaml);
    let migration = only(&migrations);
    assert_eq!(
        fields(migration),
        [
            "spec.data[0].remoteRef.key",
            "spec.data[1].remoteRef.key",
            "spec.data[3].remoteRef.key",
        ]
    );
    assert!(reason(migration, "spec.data[3].remoteRef.key").starts_with("blob/x: not secret/NAME"));
    assert_eq!(
        objects(migration),
        [
            object(&[("objectName", "root-ca"), ("objectType", "cert")]),
            object(&[("objectName", "signing"), ("objectType", "key")]),
            object(&[
                ("objectName", "root-ca"),
                ("objectType", "secret"),
                ("objectAlias", "root-ca-2"),
            ]),
        ],
        "the certificate and the secret of one name are two files"
    );
    let sync = the_sync(migration);
    assert_eq!(
        data(sync),
        [
            ("root-ca", "ca.crt"),
            ("signing", "signing.pem"),
            ("root-ca-2", "plain")
        ]
    );
}

#[test]
fn an_external_secret_with_nothing_left_to_map_is_not_printed() {
    let yaml = format!(
        "{STORE_WI}---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: {{name: all, namespace: payments}}
spec:
  secretStoreRef: {{name: kv}}
  dataFrom: [{{find: {{tags: {{team: a}}}}}}]
"
    );
    let migrations = run_on(&yaml);
    let migration = only(&migrations);
    assert!(migration.resources.is_empty());
    assert_eq!(fields(migration), ["spec.dataFrom[0].find", "spec.data"]);
}

#[test]
fn secret_types_the_admission_policy_refuses() {
    let external_secret = |name: &str, secret_type: &str| {
        format!(
            "---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: {{name: {name}, namespace: payments}}
spec:
  secretStoreRef: {{name: kv}}
  target: {{template: {{type: {secret_type}}}}}
  data: [{{secretKey: token, remoteRef: {{key: token}}}}]
"
        )
    };
    let yaml = format!(
        "{STORE_WI}{}{}",
        external_secret("sa", "kubernetes.io/service-account-token"),
        external_secret("custom", "example.com/api-credentials")
    ) + &external_secret("boot", "bootstrap.kubernetes.io/token");
    let migrations = run_on(&yaml);
    assert_eq!(migrations.len(), 3);
    assert!(migrations[0].resources.is_empty());
    assert_eq!(fields(&migrations[0]), ["spec.target.template.type"]);
    assert!(
        migrations[2].resources.is_empty(),
        "a bootstrap token is an API credential too"
    );
    assert_eq!(fields(&migrations[2]), ["spec.target.template.type"]);
    assert_eq!(
        migrations[1].resources.len(),
        2,
        "printed: an administrator may allow the type"
    );
    assert_eq!(fields(&migrations[1]), ["spec.target.template.type"]);
    assert!(
        migrations[1].notes[0]
            .reason
            .contains("not in the admission policy's allowed Secret types")
    );
}

#[test]
fn an_existing_class_of_the_same_name_is_not_replaced_and_checks_do_not_fail_the_run() {
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
      serviceAccountRef: {name: reader}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: reader, namespace: apps, annotations: {azure.workload.identity/client-id: c-1}}
---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: {name: db, namespace: apps}
spec:
  secretStoreRef: {name: kv, kind: SecretStore}
  data:
    - {secretKey: password, remoteRef: {key: db-password}}
---
apiVersion: secrets-store.csi.x-k8s.io/v1
kind: SecretProviderClass
metadata: {name: db, namespace: apps}
spec: {provider: azure, parameters: {keyvaultName: other}}
"#;
    let migrations = run_on(yaml);
    let migration = migrations
        .iter()
        .find(|m| m.source == "ExternalSecret apps/db")
        .unwrap_or_else(|| panic!("{migrations:#?}"));
    assert_eq!(class(migration).metadata.name.as_deref(), Some("db-sse"));
    assert_eq!(the_sync(migration).spec.secret_provider_class_name, "db-sse");
    assert_eq!(the_sync(migration).metadata.name.as_deref(), Some("db"));
    assert!(
        migration.notes.iter().all(|n| n.check),
        "only a note to check: {:#?}",
        migration.notes
    );
    assert_eq!(exit_code(std::slice::from_ref(migration)), 0);
    let yaml_out = render_yaml(std::slice::from_ref(migration)).unwrap_or_default();
    assert!(
        yaml_out.contains("# check: metadata.name (a SecretProviderClass db exists already"),
        "{yaml_out}"
    );
}

/// ESO objects are read as JSON pointers read them: a field of another type than the one read is absent,
/// a list where an object is read holds no fields, an item of a list that is not an object is an empty
/// item (and keeps its index), and a field set to `null` is there.
#[test]
fn fields_of_another_type_read_as_absent() {
    let migrations = run_on(
        r"
apiVersion: external-secrets.io/v1
kind: SecretStore
metadata: {name: kv, namespace: apps}
spec:
  provider:
    azurekv:
      authType: WorkloadIdentity
      vaultUrl: https://apps-kv.vault.azure.net
      tenantId: 7
      serviceAccountRef: [reader, apps]
      authSecretRef: {clientId: null, tenantId: x}
---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: {name: db, namespace: apps}
spec:
  secretStoreRef: {name: kv}
  refreshInterval: 5
  target:
    name: 12
    immutable: 'true'
    template: {type: true, metadata: {labels: {app: db, replicas: 3}}, data: ' '}
  data:
    - not an object
    - {secretKey: a, remoteRef: {key: 9}}
    - {secretKey: b, sourceRef: {generatorRef: null}, remoteRef: {key: b}}
    - {secretKey: c, sourceRef: {storeRef: [other, SecretStore]}, remoteRef: {key: c, version: 3}}
  dataFrom:
    - {find: null}
    - 5
",
    );
    let migration = only(&migrations);
    assert_eq!(
        fields(migration),
        [
            "SecretStore apps/kv: spec.provider.azurekv.serviceAccountRef",
            "SecretStore apps/kv: spec.provider.azurekv.serviceAccountRef",
            "SecretStore apps/kv: spec.provider.azurekv.authSecretRef.tenantId",
            "spec.data[0].secretKey",
            "spec.data[1].remoteRef.key",
            "spec.data[2].sourceRef.generatorRef",
            "spec.dataFrom[0].find",
            "spec.dataFrom[1]",
        ]
    );
    assert!(
        migration.notes[0]
            .reason
            .contains("default (--service-account) is used"),
        "a serviceAccountRef that is a list names none: {:#?}",
        migration.notes
    );
    let parameters = parameters(migration);
    assert_eq!(
        parameters["tenantID"], "<tenant-id from Secret ? key ?>",
        "tenantId 7 is none; authSecretRef.tenantId is there, naming no Secret"
    );
    assert_eq!(parameters["clientID"], "<client-id of ServiceAccount default>");
    assert_eq!(
        objects(migration),
        [object(&[("objectName", "c"), ("objectType", "secret")])],
        "a storeRef that is a list names no store; version 3 is none"
    );
    let sync = the_sync(migration);
    assert_eq!(
        sync.metadata.name.as_deref(),
        Some("db"),
        "target.name 12 is none"
    );
    assert_eq!(sync.metadata.annotations, None, "refreshInterval 5 is none");
    assert_eq!(sync.spec.secret_object.type_, "Opaque");
    assert_eq!(
        sync.spec.secret_object.labels,
        Some(BTreeMap::from([("app".to_string(), "db".to_string())]))
    );
    assert_eq!(data(sync), [("c", "c")]);
}

/// A store's `azurekv` that is there is used whatever it holds; `spec.provider` that is not an object names
/// no provider.
#[test]
fn a_store_is_read_whatever_its_fields_hold() {
    let migrations = run_on(
        r"
apiVersion: external-secrets.io/v1
kind: SecretStore
metadata: {name: empty, namespace: apps}
spec:
  provider:
    azurekv:
---
apiVersion: external-secrets.io/v1
kind: SecretStore
metadata: {name: listed, namespace: apps}
spec:
  provider: [azurekv]
---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: {name: a, namespace: apps}
spec:
  secretStoreRef: {name: empty}
---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: {name: b, namespace: apps}
spec:
  secretStoreRef: {name: listed}
---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: {name: c, namespace: apps}
spec:
  secretStoreRef: [empty, SecretStore]
",
    );
    assert_eq!(migrations.len(), 3);
    assert_eq!(
        (
            migrations[0].notes[0].field.as_str(),
            migrations[0].notes[0].reason.as_str()
        ),
        (
            "SecretStore apps/empty: spec.provider.azurekv.vaultUrl",
            "no vault URL: the SecretProviderClass needs keyvaultName"
        )
    );
    assert_eq!(
        migrations[1].notes[0].reason,
        "SecretStore apps/listed uses provider none: SSE-rs syncs from Azure Key Vault (provider azurekv) only"
    );
    assert!(
        migrations[2].notes[0].reason.starts_with("no store reference"),
        "{:#?}",
        migrations[2].notes
    );
}
