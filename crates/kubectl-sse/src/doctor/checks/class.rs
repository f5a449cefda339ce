//! The SecretProviderClass: there, complete, and naming every object the SecretSync maps. What it says
//! ([`ClassFacts`]) feeds the Azure checks.

use std::collections::BTreeMap;

use provider_proto::contract::azure;
use sse_api::SecretSync;

use super::{Check, Verdict, check};
use crate::doctor::facts::{Facts, Lookup};

/// What the class says.
#[derive(Debug, Clone, Default)]
pub(super) struct ClassFacts {
    pub provider: String,
    pub vault: String,
    pub client_id: String,
    pub tenant_id: String,
    /// Its `objects` entries.
    pub objects: Vec<ClassObject>,
}

/// One `objects` entry of the class: the file it becomes is its alias, else its name.
#[derive(Debug, Clone, Default)]
pub(super) struct ClassObject {
    pub name: String,
    pub alias: String,
}

impl ClassFacts {
    /// The vault's name, or a placeholder for the commands when the class names none.
    pub fn vault_or_placeholder(&self) -> &str {
        if self.vault.is_empty() {
            "<vault>"
        } else {
            &self.vault
        }
    }
}

/// The class's facts and its check.
#[derive(Debug, Clone)]
pub(super) struct CheckedClass {
    pub facts: ClassFacts,
    pub check: Check,
}

impl CheckedClass {
    /// Whether the Azure checks apply.
    pub fn is_azure(&self) -> bool {
        self.facts.provider == "azure"
    }

    /// Why an Azure-only check is skipped.
    pub fn not_azure(&self) -> &'static str {
        if self.facts.provider.is_empty() && self.check.verdict != Verdict::Ok {
            "the SecretProviderClass could not be read"
        } else {
            "not an Azure SecretProviderClass"
        }
    }

    fn failed(check: Check) -> Self {
        Self {
            facts: ClassFacts::default(),
            check,
        }
    }
}

/// Read the class the SecretSync names, and check it.
pub(super) fn inspect(facts: &Facts, sync: &SecretSync) -> CheckedClass {
    let ns = &facts.namespace;
    let class_name = &sync.spec.secret_provider_class_name;
    let spc = match &facts.class {
        Lookup::Found(spc) => spc,
        Lookup::Missing => {
            return CheckedClass::failed(check(
                "secretproviderclass",
                Verdict::Fail,
                format!(
                    "no SecretProviderClass {class_name} in namespace {ns} (it must be in the SecretSync's namespace)"
                ),
                Some(format!(
                    "kubectl get secretproviderclasses -A | grep {class_name}   # then apply it in namespace {ns}"
                )),
            ));
        }
        Lookup::Unreadable(why) => {
            return CheckedClass::failed(check(
                "secretproviderclass",
                Verdict::Skip,
                format!("cannot read SecretProviderClass {class_name}: {why}"),
                None,
            ));
        }
    };
    let parameters: BTreeMap<String, String> = spc.spec.parameters.clone().unwrap_or_default();
    let get = |key: &str| {
        parameters
            .get(key)
            .map(|v| v.trim().to_string())
            .unwrap_or_default()
    };
    let mut facts = ClassFacts {
        provider: spc.spec.provider.clone().unwrap_or_default(),
        vault: get(azure::KEYVAULT_NAME),
        client_id: get(azure::CLIENT_ID),
        tenant_id: if get(azure::TENANT_ID).is_empty() {
            get(azure::TENANT_ID_LEGACY)
        } else {
            get(azure::TENANT_ID)
        },
        ..ClassFacts::default()
    };
    let mut problems = Vec::new();
    if facts.provider.is_empty() {
        problems.push("spec.provider is empty".to_string());
    }
    match provider_proto::contract::Objects::parse(&get(provider_proto::contract::attributes::OBJECTS)) {
        Ok(objects) => {
            for entry in &objects.array {
                match serde_yaml_ng::from_str::<BTreeMap<String, serde_yaml_ng::Value>>(entry) {
                    Ok(fields) => {
                        let field = |k: &str| {
                            fields
                                .get(k)
                                .and_then(serde_yaml_ng::Value::as_str)
                                .unwrap_or_default()
                                .trim()
                                .to_string()
                        };
                        facts.objects.push(ClassObject {
                            name: field("objectName"),
                            alias: field("objectAlias"),
                        });
                    }
                    Err(error) => problems.push(format!("an objects entry does not parse: {error}")),
                }
            }
        }
        Err(error) => problems.push(format!("parameters.objects does not parse: {error}")),
    }
    if facts.provider == "azure" {
        for (key, value) in [
            (azure::KEYVAULT_NAME, &facts.vault),
            (azure::TENANT_ID_LEGACY, &facts.tenant_id),
            (azure::CLIENT_ID, &facts.client_id),
        ] {
            if value.is_empty() {
                problems.push(format!("parameters.{key} is missing"));
            }
        }
    }
    // Every data entry must name an object (its alias, else its name).
    let paths: Vec<&str> = facts
        .objects
        .iter()
        .map(|o| {
            if o.alias.is_empty() {
                o.name.as_str()
            } else {
                o.alias.as_str()
            }
        })
        .collect();
    for data in &sync.spec.secret_object.data {
        let source = data.source_path.as_str();
        if !paths
            .iter()
            .any(|p| *p == source || source.starts_with(&format!("{p}/")))
        {
            problems.push(format!(
                "secretObject.data sourcePath {source:?} names no object of the class (objects: {})",
                paths.join(", ")
            ));
        }
    }
    let check = if problems.is_empty() {
        check(
            "secretproviderclass",
            Verdict::Ok,
            format!(
                "{class_name}: provider {}, vault {}, {} object(s)",
                facts.provider,
                if facts.vault.is_empty() { "-" } else { &facts.vault },
                facts.objects.len()
            ),
            None,
        )
    } else {
        check(
            "secretproviderclass",
            Verdict::Fail,
            format!("{class_name}: {}", problems.join("; ")),
            Some(format!("kubectl edit secretproviderclass {class_name} -n {ns}")),
        )
    };
    CheckedClass { facts, check }
}
