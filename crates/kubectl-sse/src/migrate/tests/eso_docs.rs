//! ESO's own documentation examples (eso_docs/*.yaml, each headed by its source in ESO's repository and its
//! adaptation), migrated: exactly what is carried over and which notes are given.

use super::*;

/// The azurekv store every fixture reads (namespace apps, workload identity).
pub(super) const STORE: &str = r"
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
pub(super) const FIXTURES: &[(&str, &str)] = fixtures![
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
pub(super) fn migrate_fixture(name: &str) -> Migration {
    let text = FIXTURES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, text)| *text)
        .unwrap_or_else(|| panic!("no fixture {name}"));
    let mut inputs = Inputs::new(Origin::Files);
    for document in parse_documents(&format!("{STORE}---\n{text}")).unwrap_or_else(|e| panic!("{name}: {e}"))
    {
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

/// What a migration carried over, one line per part, and its notes (field, `(check)` first for a note to check).
#[derive(Debug, PartialEq, Eq)]
struct Carried {
    verdict: &'static str,
    notes: Vec<String>,
    /// `type/name`, then ` alias A`, ` version V`, ` format F`.
    objects: Vec<String>,
    /// `targetKey ← sourcePath`, then ` property P`.
    data: Vec<String>,
    /// `sourcePath`, then ` property P`.
    data_from: Vec<String>,
    /// `Replace` or `Merge`, then the template's keys.
    template: Vec<String>,
}

fn carried(migration: &Migration) -> Carried {
    let notes = migration
        .notes
        .iter()
        .map(|n| format!("{}{}", if n.check { "(check) " } else { "" }, n.field))
        .collect();
    if migration.resources.is_empty() {
        return Carried {
            verdict: verdict(migration),
            notes,
            objects: Vec::new(),
            data: Vec::new(),
            data_from: Vec::new(),
            template: Vec::new(),
        };
    }
    let objects = objects(migration)
        .iter()
        .map(|o| {
            let mut line = format!("{}/{}", o["objectType"], o["objectName"]);
            for (field, label) in [
                ("objectAlias", "alias"),
                ("objectVersion", "version"),
                ("objectFormat", "format"),
            ] {
                if let Some(value) = o.get(field) {
                    line.push_str(&format!(" {label} {value}"));
                }
            }
            line
        })
        .collect();
    let object = &the_sync(migration).spec.secret_object;
    let with_property = |line: String, property: &Option<String>| match property {
        Some(p) => format!("{line} property {p}"),
        None => line,
    };
    let data = object
        .data
        .iter()
        .map(|d| with_property(format!("{} ← {}", d.target_key, d.source_path), &d.property))
        .collect();
    let data_from = object
        .data_from
        .iter()
        .map(|d| with_property(d.source_path.clone(), &d.property))
        .collect();
    let template = object
        .template
        .iter()
        .flat_map(|t| {
            std::iter::once(t.merge_policy.as_str().to_string())
                .chain(t.data.iter().map(|i| i.target_key.clone()))
        })
        .collect();
    Carried {
        verdict: verdict(migration),
        notes,
        objects,
        data,
        data_from,
        template,
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_string()).collect()
}

/// What a fixture must carry over, as [`Carried`] lists it.
pub(super) struct Expected<'a> {
    pub(super) verdict: &'static str,
    pub(super) notes: &'a [&'a str],
    pub(super) objects: &'a [&'a str],
    pub(super) data: &'a [&'a str],
    pub(super) data_from: &'a [&'a str],
    pub(super) template: &'a [&'a str],
}

pub(super) fn assert_fixture(name: &str, expected: Expected<'_>) -> Migration {
    let migration = migrate_fixture(name);
    let want = Carried {
        verdict: expected.verdict,
        notes: strings(expected.notes),
        objects: strings(expected.objects),
        data: strings(expected.data),
        data_from: strings(expected.data_from),
        template: strings(expected.template),
    };
    assert_eq!(carried(&migration), want, "{name}: {:#?}", migration.notes);
    migration
}

/// The text of a template key of the migration's SecretSync.
pub(super) fn template_text<'a>(migration: &'a Migration, key: &str) -> &'a str {
    the_sync(migration)
        .spec
        .secret_object
        .template
        .iter()
        .flat_map(|t| &t.data)
        .find(|i| i.target_key == key)
        .and_then(|i| i.text.as_deref())
        .unwrap_or_else(|| panic!("no template {key}"))
}

/// The text of an ESO template in a fixture (`spec.target.template.data.<key>`, or a ConfigMap's data).
pub(super) fn eso_text(name: &str, pointer: &str) -> String {
    let text = FIXTURES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, t)| *t)
        .unwrap_or_default();
    parse_documents(text)
        .unwrap_or_else(|e| panic!("{e}"))
        .iter()
        .find_map(|d| d.pointer(pointer).and_then(Value::as_str).map(str::to_string))
        .unwrap_or_else(|| panic!("{name}: nothing at {pointer}"))
}

#[test]
fn fixtures_are_all_tested_and_headed_by_their_source() {
    assert_eq!(FIXTURES.len(), 14);
    for (name, text) in FIXTURES {
        assert!(
            text.starts_with("# Source: external-secrets/external-secrets@cc5bfbc2:docs/"),
            "{name}: the first line names the source"
        );
    }
}

/// The Azure page's first example: plain and `secret/` carried; tags (Fetch, with or without property) not;
/// `cert/` and `key/` carried with a note on their format.
#[test]
fn azkv_external_secret() {
    assert_fixture(
        "azkv-external-secret",
        Expected {
            verdict: "partly",
            notes: &[
                "spec.data[2].remoteRef.metadataPolicy",
                "spec.data[3].remoteRef.metadataPolicy",
                "spec.data[4].remoteRef.key",
                "spec.data[5].remoteRef.key",
            ],
            objects: &[
                "secret/database-username",
                "secret/database-password",
                "cert/db-client-cert",
                "key/encryption-pubkey",
            ],
            data: &[
                "database-username ← database-username",
                "database-password ← database-password",
                "db-client-cert ← db-client-cert",
                "encryption-pubkey ← encryption-pubkey",
            ],
            data_from: &[],
            template: &[],
        },
    );
}

/// The Azure page's dataFrom example: `extract` carried; `find` and `extract` of tags not.
#[test]
fn azkv_datafrom_external_secret() {
    let migration = assert_fixture(
        "azkv-datafrom-external-secret",
        Expected {
            verdict: "partly",
            notes: &[
                "spec.dataFrom[0].find",
                "spec.dataFrom[1].find",
                "spec.dataFrom[3].extract.metadataPolicy",
            ],
            objects: &["secret/database-credentials"],
            data: &[],
            data_from: &["database-credentials"],
            template: &[],
        },
    );
    assert_eq!(reason(&migration, "spec.dataFrom[0].find"), FIND_REASON);
}

/// The Azure page's PKCS#12 example: the template verbatim, and the secret read as the PFX ESO's template opens.
#[test]
fn azkv_pkcs12_cert_external_secret() {
    let name = "azkv-pkcs12-cert-external-secret";
    let migration = assert_fixture(
        name,
        Expected {
            verdict: "fully",
            notes: &[],
            objects: &["secret/tls-client-credentials format pfx"],
            data: &["tls ← tls-client-credentials"],
            data_from: &[],
            template: &["Replace", "tls.crt", "tls.key"],
        },
    );
    for key in ["tls.crt", "tls.key"] {
        let eso = eso_text(name, &format!("/spec/target/template/data/{key}"));
        assert_eq!(template_text(&migration, key), eso, "{key} verbatim");
    }
    assert_eq!(the_sync(&migration).spec.secret_object.type_, "kubernetes.io/tls");
}

/// common-k8s-secret-types: `.dockerconfigjson` from three secrets, verbatim.
#[test]
fn common_k8s_secret_types_dockerconfigjson() {
    let name = "common-k8s-secret-types-dockerconfigjson";
    let migration = assert_fixture(
        name,
        Expected {
            verdict: "fully",
            notes: &[],
            objects: &[
                "secret/docker-registry-name",
                "secret/docker-registry-host",
                "secret/docker-registry-password",
            ],
            data: &[
                "registryName ← docker-registry-name",
                "registryHost ← docker-registry-host",
                "password ← docker-registry-password",
            ],
            data_from: &[],
            template: &["Replace", ".dockerconfigjson"],
        },
    );
    let eso = eso_text(name, "/spec/target/template/data/.dockerconfigjson");
    assert_eq!(template_text(&migration, ".dockerconfigjson"), eso);
}

/// The API reference's full ExternalSecret: every note at once, and a dockerconfigjson template that writes no
/// `.dockerconfigjson` once its ConfigMap is missing, which SSE-rs refuses (so does the API server for ESO's Secret).
#[test]
fn full_external_secret() {
    let migration = assert_fixture(
        "full-external-secret",
        Expected {
            verdict: "not at all",
            notes: &[
                "spec.dataFrom[0].sourceRef.generatorRef",
                "spec.dataFrom[1].extract.decodingStrategy",
                "spec.dataFrom[1].rewrite",
                "spec.dataFrom[2].find",
                "spec.target.creationPolicy",
                "spec.target.template.templateFrom[0].configMap.name",
                "spec.target.template.type",
            ],
            objects: &[],
            data: &[],
            data_from: &[],
            template: &[],
        },
    );
    assert!(
        reason(&migration, "spec.target.template.type")
            .contains("a kubernetes.io/dockerconfigjson template must write .dockerconfigjson"),
        "{:#?}",
        migration.notes
    );
}
