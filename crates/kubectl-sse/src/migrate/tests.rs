//! `migrate` over whole inputs, and the fixtures of those tests (a helper of one part is tested in its
//! file).

mod csi;
mod eso;
mod eso_docs;
mod eso_docs_templates;
mod eso_shapes;
mod stores;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use provider_proto::contract::{Objects, attributes::OBJECTS};
use serde_json::Value;
use sse_api::consts::REFRESH_INTERVAL_ANNOTATION;
use sse_api::{SecretProviderClass, SecretSync};

use super::eso::FIND_REASON;
use super::render::{YAML_HEADER, comment};
use super::*;

fn options() -> Options {
    Options {
        name: None,
        service_account: "default".to_string(),
    }
}

fn inputs(yaml: &str) -> Inputs {
    let mut inputs = Inputs::new(Origin::Files);
    for document in parse_documents(yaml).unwrap_or_else(|e| panic!("{e}")) {
        inputs.add(document, None);
    }
    inputs
}

fn run_on(yaml: &str) -> Vec<Migration> {
    migrate(&inputs(yaml), &options())
}

fn only(migrations: &[Migration]) -> &Migration {
    match migrations {
        [migration] => migration,
        other => panic!("expected one migration, got {other:#?}"),
    }
}

fn class(migration: &Migration) -> &SecretProviderClass {
    migration
        .resources
        .iter()
        .find_map(|r| match r {
            Resource::SecretProviderClass(class) => Some(&**class),
            Resource::SecretSync(_) => None,
        })
        .unwrap_or_else(|| panic!("no SecretProviderClass in {migration:#?}"))
}

fn syncs(migration: &Migration) -> Vec<&SecretSync> {
    migration
        .resources
        .iter()
        .filter_map(|r| match r {
            Resource::SecretSync(sync) => Some(&**sync),
            Resource::SecretProviderClass(_) => None,
        })
        .collect()
}

fn the_sync(migration: &Migration) -> &SecretSync {
    match syncs(migration).as_slice() {
        [sync] => sync,
        _ => panic!("one SecretSync expected: {migration:#?}"),
    }
}

fn parameters(migration: &Migration) -> &BTreeMap<String, String> {
    class(migration)
        .spec
        .parameters
        .as_ref()
        .unwrap_or_else(|| panic!("no parameters in {migration:#?}"))
}

/// The `objects` parameter, each entry as its fields.
fn objects(migration: &Migration) -> Vec<BTreeMap<String, String>> {
    let objects = Objects::parse(&parameters(migration)[OBJECTS]).unwrap_or_else(|e| panic!("{e}"));
    objects
        .array
        .iter()
        .map(|entry| serde_yaml_ng::from_str(entry).unwrap_or_else(|e| panic!("{entry}: {e}")))
        .collect()
}

fn object(fields: &[(&str, &str)]) -> BTreeMap<String, String> {
    fields
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect()
}

fn data(sync: &SecretSync) -> Vec<(&str, &str)> {
    sync.spec
        .secret_object
        .data
        .iter()
        .map(|d| (d.source_path.as_str(), d.target_key.as_str()))
        .collect()
}

fn fields(migration: &Migration) -> Vec<&str> {
    migration.notes.iter().map(|n| n.field.as_str()).collect()
}

fn reason<'a>(migration: &'a Migration, field: &str) -> &'a str {
    migration
        .notes
        .iter()
        .find(|n| n.field == field)
        .map(|n| n.reason.as_str())
        .unwrap_or_else(|| panic!("no note on {field} in {:#?}", migration.notes))
}

/// The trimmed, non-empty string at a JSON pointer.
fn str_at<'a>(value: &'a Value, pointer: &str) -> Option<&'a str> {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

const STORE_WI: &str = r"
apiVersion: v1
kind: ServiceAccount
metadata:
  name: eso-reader
  namespace: payments
  annotations:
    azure.workload.identity/client-id: 11111111-2222-3333-4444-555555555555
---
apiVersion: external-secrets.io/v1
kind: SecretStore
metadata: {name: kv, namespace: payments}
spec:
  provider:
    azurekv:
      authType: WorkloadIdentity
      vaultUrl: https://payments-kv.vault.azure.net/
      tenantId: aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee
      serviceAccountRef: {name: eso-reader}
";

#[test]
fn documents_lists_and_namespaces_from_files() {
    let text = r#"
# a comment before the first document
---
{"apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret", "metadata": {"name": "a"}}
---
---
apiVersion: v1
kind: List
items:
  - apiVersion: external-secrets.io/v1
    kind: SecretStore
    metadata: {name: s, namespace: other}
  - apiVersion: v1
    kind: ConfigMap
    metadata: {name: ignored}
---
apiVersion: external-secrets.io/v1beta1
kind: ExternalSecretList
items:
  - metadata: {name: b}
---
apiVersion: external-secrets.io/v1
kind: ClusterSecretStore
metadata: {name: c}
---
apiVersion: secrets-store.csi.x-k8s.io/v1
kind: SecretProviderClass
metadata: {name: p}
spec: {provider: azure}
---
apiVersion: v1
kind: ServiceAccount
metadata: {generateName: nameless-}
"#;
    let documents = parse_documents(text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(documents.len(), 6, "empty documents are left out: {documents:#?}");
    let mut inputs = Inputs::new(Origin::Files);
    for document in documents {
        inputs.add(document, Some("apps"));
    }
    fn names(list: &[Value]) -> Vec<String> {
        list.iter()
            .map(|o| {
                format!(
                    "{}/{}",
                    str_at(o, "/metadata/namespace").unwrap_or("-"),
                    str_at(o, "/metadata/name").unwrap_or("-")
                )
            })
            .collect()
    }
    assert_eq!(names(&inputs.external_secrets), ["apps/a", "apps/b"]);
    assert_eq!(
        inputs.external_secrets[1]["kind"], "ExternalSecret",
        "items of a <Kind>List get their kind"
    );
    assert_eq!(
        names(&inputs.secret_stores),
        ["other/s"],
        "a namespace given is kept"
    );
    assert_eq!(
        names(&inputs.cluster_secret_stores),
        ["-/c"],
        "cluster-scoped: no namespace"
    );
    assert_eq!(names(&inputs.secret_provider_classes), ["apps/p"]);
    assert!(
        inputs.service_accounts.is_empty(),
        "an object without a name is ignored"
    );
    assert!(parse_documents("a: [").is_err());
}

#[test]
fn two_sources_of_one_secret_sync() {
    let yaml = format!(
        "{STORE_WI}---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: {{name: first, namespace: payments}}
spec:
  secretStoreRef: {{name: kv}}
  target: {{name: shared}}
  data: [{{secretKey: a, remoteRef: {{key: a}}}}]
---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: {{name: second, namespace: payments}}
spec:
  secretStoreRef: {{name: kv}}
  target: {{name: shared, creationPolicy: Merge}}
  data: [{{secretKey: b, remoteRef: {{key: b}}}}]
"
    );
    let migrations = run_on(&yaml);
    assert_eq!(migrations.len(), 2);
    assert_eq!(migrations[0].resources.len(), 2);
    assert!(migrations[1].resources.is_empty());
    assert_eq!(
        reason(&migrations[1], "metadata.name"),
        "ExternalSecret payments/first already gives SecretProviderClass payments/shared: one Secret has one SecretSync, merge the two by hand"
    );
}

#[test]
fn yaml_and_json_output() {
    let yaml = format!(
        "{STORE_WI}---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: {{name: db, namespace: payments}}
spec:
  secretStoreRef: {{name: kv}}
  data: [{{secretKey: user, remoteRef: {{key: db-user}}}}]
  dataFrom: [{{find: {{name: {{regexp: x}}}}}}]
"
    );
    let migrations = run_on(&yaml);
    let text = render_yaml(&migrations).unwrap_or_else(|e| panic!("{e}"));
    assert!(text.starts_with(YAML_HEADER), "{text}");
    assert!(
            text.contains(&format!(
                "---\n# from ExternalSecret payments/db\n# not carried over: spec.dataFrom[0].find ({FIND_REASON})\napiVersion: secrets-store.csi.x-k8s.io/v1\n"
            )),
            "{text}"
        );
    let documents = parse_documents(&text).unwrap_or_else(|e| panic!("{e}"));
    let kinds: Vec<&str> = documents.iter().filter_map(|d| str_at(d, "/kind")).collect();
    assert_eq!(kinds, ["SecretProviderClass", "SecretSync"]);
    assert_eq!(
        documents[1].pointer("/apiVersion").and_then(Value::as_str),
        Some("secret-sync.x-k8s.io/v1alpha1")
    );
    assert_eq!(documents[1].get("status"), None);

    let json: Value = serde_json::from_str(&render_json(&migrations).unwrap_or_else(|e| panic!("{e}")))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(json["resources"].as_array().map(Vec::len), Some(2));
    assert_eq!(json["resources"][1]["spec"]["serviceAccountName"], "eso-reader");
    assert_eq!(
        json["notes"],
        serde_json::json!([{
            "source": "ExternalSecret payments/db",
            "field": "spec.dataFrom[0].find",
            "reason": FIND_REASON,
        }])
    );
    assert_eq!(comment("a\nb"), "# a b\n", "a line break cannot end a comment");
}

#[test]
fn the_command_line() {
    use clap::Parser as _;
    let cli = crate::command::Cli::try_parse_from([
        "kubectl-sse",
        "migrate",
        "-f",
        "eso.yaml",
        "--filename",
        "-",
        "-o",
        "json",
        "--service-account",
        "app",
        "-n",
        "shop",
        "db",
    ])
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cli.target.namespace.as_deref(), Some("shop"));
    let crate::command::Command::Migrate(args) = cli.command else {
        panic!("migrate")
    };
    assert_eq!(args.filenames, [PathBuf::from("eso.yaml"), PathBuf::from("-")]);
    assert_eq!(args.output, Format::Json);
    assert_eq!(args.service_account, "app");
    assert_eq!(args.name.as_deref(), Some("db"));
    let cli = crate::command::Cli::try_parse_from(["kubectl-sse", "migrate", "-A"])
        .unwrap_or_else(|e| panic!("{e}"));
    let crate::command::Command::Migrate(args) = cli.command else {
        panic!("migrate")
    };
    assert_eq!(
        (args.output, args.service_account.as_str()),
        (Format::Yaml, "default")
    );
    assert!(args.filenames.is_empty());
}
