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

#[test]
fn what_shaping_does_not_carry_is_noted() {
    let yaml = format!(
        "{STORE_WI}---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: {{name: app, namespace: payments}}
spec:
  secretStoreRef: {{name: kv}}
  target:
    template:
      engineVersion: v1
      metadata:
        labels: {{app: billing, user: '{{{{ .user }}}}'}}
      data: {{conn: '{{{{ .user | upper }}}}'}}
  data:
    - secretKey: user
      remoteRef: {{key: db-user}}
    - secretKey: cert
      remoteRef: {{key: cert/web, property: subject}}
  dataFrom:
    - extract: {{key: key/signing}}
    - extract: {{key: db-json, property: pool, version: 0123abcd}}
    - extract: {{key: db-json, property: 'a|b'}}
    - extract: {{key: db-json, conversionStrategy: Unicode}}
---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: {{name: other, namespace: payments}}
spec:
  secretStoreRef: {{name: kv}}
  target:
    template:
      templateFrom:
        - secret: {{name: tpl, items: [{{key: a}}]}}
        - target: Labels
          configMap: {{name: tpl, items: [{{key: b}}]}}
        - configMap: {{name: tpl, items: [{{key: c}}]}}
  data:
    - secretKey: user
      remoteRef: {{key: db-user}}
---
apiVersion: v1
kind: ConfigMap
metadata: {{name: tpl, namespace: payments}}
data:
  c: '{{{{ now }}}}'
"
    );
    let migrations = run_on(&yaml);
    assert_eq!(migrations.len(), 2);
    let app = &migrations[0];
    assert_eq!(
        fields(app),
        [
            "spec.data[1].remoteRef.property",
            "spec.dataFrom[0].extract.key",
            "spec.dataFrom[2].extract.property",
            "spec.dataFrom[3].extract.conversionStrategy",
            "spec.target.template.metadata.labels.user",
            "spec.target.template.engineVersion",
            "spec.target.template",
        ]
    );
    assert!(
        reason(app, "spec.dataFrom[0].extract.key")
            .starts_with("key/signing: ESO extracts from secrets only")
    );
    let sync = the_sync(app);
    assert_eq!(sync.spec.secret_object.template, None);
    assert_eq!(
        sync.spec.secret_object.labels,
        Some(BTreeMap::from([("app".to_string(), "billing".to_string())]))
    );
    assert_eq!(data(sync), [("db-user", "user")]);
    let from = &sync.spec.secret_object.data_from;
    assert_eq!(from.len(), 1);
    assert_eq!(
        (from[0].source_path.as_str(), from[0].property.as_deref()),
        ("db-json", Some("pool"))
    );
    assert!(
        objects(app).contains(&object(&[
            ("objectName", "db-json"),
            ("objectType", "secret"),
            ("objectVersion", "0123abcd")
        ])),
        "{:?}",
        objects(app)
    );

    let other = &migrations[1];
    assert_eq!(
        fields(other),
        [
            "spec.target.template.templateFrom[0].secret",
            "spec.target.template.templateFrom[1].target",
            "spec.target.template.templateFrom[2].configMap.items[0]",
            "spec.target.template",
        ]
    );
    assert!(
        reason(other, "spec.target.template.templateFrom[2].configMap.items[0]")
            .starts_with("template c: line 1, column 4: function \"now\" is not available"),
        "{:#?}",
        other.notes
    );
}
