//! ESO's own documentation examples (eso_docs/*.yaml, each headed by its source in ESO's repository and its
//! adaptation), migrated: exactly what is carried over and which notes are given.

use super::*;

/// The azurekv store every fixture reads (namespace apps, workload identity).
const STORE: &str = r"
apiVersion: v1
kind: ServiceAccount
metadata:
  name: eso-reader
  namespace: apps
  annotations:
    azure.workload.identity/client-id: 11111111-2222-3333-4444-555555555555
---
apiVersion: external-secrets.io/v1
kind: SecretStore
metadata: {name: azure-store, namespace: apps}
spec:
  provider:
    azurekv:
      authType: WorkloadIdentity
      vaultUrl: https://apps-kv.vault.azure.net
      tenantId: aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee
      serviceAccountRef: {name: eso-reader}
";

macro_rules! fixtures {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("eso_docs/", $name, ".yaml")))),*]
    };
}

/// Every fixture, by file name.
const FIXTURES: &[(&str, &str)] = fixtures![
    "azkv-external-secret",
    "azkv-datafrom-external-secret",
    "azkv-pkcs12-cert-external-secret",
    "common-k8s-secret-types-dockerconfigjson",
    "multiline-template-v2-external-secret",
    "multikey-template-v2-external-secret",
    "merge-template-v2-external-secret",
    "template-v2-from-secret",
    "template-v2-literal-example",
    "filterpem-template-v2-external-secret",
    "filtercertchain-template-v2-external-secret",
    "jwk-template-v2-external-secret",
    "helm-template-v2-escape-sequence",
    "full-external-secret",
];

/// The migration of one fixture (with the store), its objects in namespace apps.
fn migrate_fixture(name: &str) -> Migration {
    let text = FIXTURES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, text)| *text)
        .unwrap_or_else(|| panic!("no fixture {name}"));
    let mut inputs = Inputs::new(Origin::Files);
    for document in parse_documents(&format!("{STORE}---\n{text}")).unwrap_or_else(|e| panic!("{name}: {e}")) {
        inputs.add(document, Some("apps"));
    }
    let migrations = migrate(&inputs, &options());
    only(&migrations).clone()
}

/// fully: printed, nothing left out (notes to check aside); partly: printed, something left out; not at all:
/// nothing printed.
fn verdict(migration: &Migration) -> &'static str {
    if migration.resources.is_empty() {
        "not at all"
    } else if migration.notes.iter().any(|n| !n.check) {
        "partly"
    } else {
        "fully"
    }
}

#[test]
fn scratch_coverage() {
    for (name, _) in FIXTURES {
        let m = migrate_fixture(name);
        eprintln!("{name}: {}", verdict(&m));
        for n in &m.notes {
            eprintln!("    {}{}: {}", if n.check { "(check) " } else { "" }, n.field, n.reason);
        }
    }
}
