//! ExternalSecrets whose JSON properties, extracts and templates carry over as SecretSync shaping.

use super::*;

#[test]
fn data_from_and_properties_carry_over_as_shaping() {
    let yaml = format!(
        "{STORE_WI}---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: {{name: config, namespace: payments}}
spec:
  secretStoreRef: {{name: kv}}
  data:
    - secretKey: host
      remoteRef: {{key: db-config, property: host}}
    - secretKey: user
      remoteRef: {{key: db-user}}
    - secretKey: owner
      remoteRef: {{key: db-user, metadataPolicy: Fetch, property: owner}}
    - secretKey: any
      remoteRef: {{key: db-config, property: 'replicas.#.host'}}
  dataFrom:
    - find: {{name: {{regexp: '^db-'}}}}
    - extract: {{key: db-json}}
"
    );
    let migrations = run_on(&yaml);
    let migration = only(&migrations);
    assert_eq!(
        fields(migration),
        [
            "spec.data[2].remoteRef.metadataPolicy",
            "spec.data[3].remoteRef.property",
            "spec.dataFrom[0].find",
        ]
    );
    assert_eq!(reason(migration, "spec.dataFrom[0].find"), FIND_REASON);
    assert!(
        reason(migration, "spec.data[3].remoteRef.property")
            .starts_with("property replicas.#.host: '#' at column 10 is gjson an array count or query")
    );
    assert_eq!(
        objects(migration),
        [
            object(&[("objectName", "db-config"), ("objectType", "secret")]),
            object(&[("objectName", "db-user"), ("objectType", "secret")]),
            object(&[("objectName", "db-json"), ("objectType", "secret")]),
        ]
    );
    let sync = the_sync(migration);
    assert_eq!(data(sync), [("db-config", "host"), ("db-user", "user")]);
    let properties: Vec<Option<&str>> = sync
        .spec
        .secret_object
        .data
        .iter()
        .map(|d| d.property.as_deref())
        .collect();
    assert_eq!(properties, [Some("host"), None]);
    let data_from: Vec<(&str, Option<&str>)> = sync
        .spec
        .secret_object
        .data_from
        .iter()
        .map(|d| (d.source_path.as_str(), d.property.as_deref()))
        .collect();
    assert_eq!(data_from, [("db-json", None)]);
}

#[test]
fn a_tls_template_over_a_pfx_is_carried_and_reads_the_pfx() {
    let yaml = format!(
        "{STORE_WI}---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: {{name: web, namespace: payments}}
spec:
  secretStoreRef: {{name: kv}}
  target:
    name: web-tls
    template:
      type: kubernetes.io/tls
      data:
        tls.crt: '{{{{ .cert | pkcs12cert }}}}'
        tls.key: '{{{{ .cert | pkcs12key }}}}'
  data:
    - secretKey: cert
      remoteRef: {{key: secret/web-cert}}
"
    );
    let migrations = run_on(&yaml);
    let migration = only(&migrations);
    if !super::eso_docs::pem_offered() {
        assert_eq!(fields(migration), super::eso_docs::PEM_NOT_YET);
        assert_eq!(
            data(the_sync(migration)),
            [("web-cert", "tls.crt"), ("web-cert", "tls.key")]
        );
        return;
    }
    assert_eq!(migration.notes, Vec::<Note>::new(), "everything carries over");
    let sync = the_sync(migration);
    assert_eq!(sync.spec.secret_object.type_, "kubernetes.io/tls");
    assert_eq!(data(sync), [("web-cert", "cert")]);
    let template = sync
        .spec
        .secret_object
        .template
        .as_ref()
        .unwrap_or_else(|| panic!("no template"));
    let texts: Vec<(&str, Option<&str>)> = template
        .data
        .iter()
        .map(|t| (t.target_key.as_str(), t.text.as_deref()))
        .collect();
    assert_eq!(
        texts,
        [
            ("tls.crt", Some("{{ .cert | pkcs12cert }}")),
            ("tls.key", Some("{{ .cert | pkcs12key }}"))
        ]
    );
    assert_eq!(
        objects(migration),
        [object(&[
            ("objectName", "web-cert"),
            ("objectType", "secret"),
            ("objectFormat", "pfx")
        ])],
        "the template reads the base64 PFX Key Vault stores, as ESO's does"
    );
}
