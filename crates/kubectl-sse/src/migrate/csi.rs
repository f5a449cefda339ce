//! SecretProviderClass with `spec.secretObjects` (the Secrets Store CSI driver's sync) → the class without
//! them (SSE-rs ignores them) and one SecretSync per entry, named after its `secretName`.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use provider_proto::contract::azure;
use serde_json::Value;
use sse_api::consts::{DEFAULT_SECRET_TYPE, LAST_APPLIED_ANNOTATION};
use sse_api::{
    SecretObject, SecretObjectData, SecretProviderClass, SecretProviderClassSpec, SecretSync, SecretSyncSpec,
    SpcSecretObject,
};

use super::admission::{SourceFields, admissible};
use super::input::Inputs;
use super::lenient::Metadata;
use super::migration::{
    AZURE_PROVIDER, Migration, Notes, Options, Resource, qualified, secret_sync, subject,
};

/// Every SecretProviderClass of `inputs` with `spec.secretObjects` that `options` wants, translated.
pub(super) fn migrate_classes(inputs: &Inputs, options: &Options) -> Vec<Migration> {
    inputs
        .secret_provider_classes
        .iter()
        .filter(|class| options.wants(&Metadata::of(class)) && has_secret_objects(class))
        .map(|class| migrate_class(class, options))
        .collect()
}

fn has_secret_objects(class: &Value) -> bool {
    class
        .pointer("/spec/secretObjects")
        .and_then(Value::as_array)
        .is_some_and(|objects| !objects.is_empty())
}

/// One SecretProviderClass: the class as SSE-rs uses it and its SecretSyncs, or (when it cannot be read as
/// a SecretProviderClass, or no SecretSync is left) nothing.
fn migrate_class(object: &Value, options: &Options) -> Migration {
    let metadata = Metadata::of(object);
    let namespace = metadata.namespace.as_deref();
    let name = metadata.name.as_deref().unwrap_or_default();
    let mut notes = Notes::new(format!("SecretProviderClass {}", qualified(namespace, name)));
    let class: SecretProviderClass = match serde_json::from_value(object.clone()) {
        Ok(class) => class,
        Err(error) => {
            notes.add(
                "spec",
                format!("not a SecretProviderClass migrate can read: {error}"),
            );
            return notes.finish(Vec::new());
        }
    };
    identity_notes(&class, namespace, options, &mut notes);
    let mut resources = Vec::new();
    for (index, secret_object) in class.spec.secret_objects.iter().flatten().enumerate() {
        if let Some(sync) = secret_sync_of(&class, index, secret_object, options, &mut notes) {
            resources.push(Resource::SecretSync(Box::new(sync)));
        }
    }
    if !resources.is_empty() {
        resources.insert(
            0,
            Resource::SecretProviderClass(Box::new(without_secret_objects(&class))),
        );
    }
    notes.finish(resources)
}

/// Go's `strconv.ParseBool` true values, as the Azure provider reads its flags.
fn is_true(value: Option<&String>) -> bool {
    value.is_some_and(|v| matches!(v.trim(), "1" | "t" | "T" | "true" | "TRUE" | "True"))
}

/// What the CSI driver gave the provider that a SecretSync cannot: the pod's identity.
fn identity_notes(
    class: &SecretProviderClass,
    namespace: Option<&str>,
    options: &Options,
    notes: &mut Notes,
) {
    let empty = BTreeMap::new();
    let parameters = class.spec.parameters.as_ref().unwrap_or(&empty);
    let provider = class.spec.provider.as_deref().map(str::trim).unwrap_or_default();
    let client_id = parameters
        .get(azure::CLIENT_ID)
        .map(String::as_str)
        .map(str::trim)
        .filter(|id| !id.is_empty());
    if provider == AZURE_PROVIDER {
        let pod_identity = is_true(parameters.get(azure::USE_POD_IDENTITY));
        let token_proxy = is_true(parameters.get(azure::USE_AZURE_TOKEN_PROXY));
        if pod_identity {
            notes.add(
                "spec.parameters.usePodIdentity",
                "aad-pod-identity identifies the pod, and through SSE-rs the caller is the manager: use workload identity (clientID and a federated credential)",
            );
        }
        if token_proxy {
            notes.add(
                "spec.parameters.useAzureTokenProxy",
                "AKS identity binding is not supported by SSE-rs's provider: use workload identity (clientID and a federated credential)",
            );
        }
        if client_id.is_none()
            && !pod_identity
            && !token_proxy
            && !is_true(parameters.get(azure::USE_VM_MANAGED_IDENTITY))
        {
            notes.add(
                "spec.parameters.clientID",
                "none: the CSI driver gave the provider a service principal from the volume's nodePublishSecretRef, which a SecretSync cannot pass: set clientID to an identity with a federated credential (workload identity)",
            );
        }
    } else {
        let provider = if provider.is_empty() { "none" } else { provider };
        notes.add(
            "spec.provider",
            format!("{provider}: SSE-rs ships the Azure provider; another provider needs its own container beside the manager"),
        );
    }
    let service_account = &options.service_account;
    let subject = subject(namespace, service_account);
    let needs = match client_id {
        Some(id) => format!("identity {id} needs a federated credential for {subject}"),
        None => format!("with workload identity, the identity needs a federated credential for {subject}"),
    };
    notes.check(
        "serviceAccountName",
        format!("a SecretSync names the ServiceAccount whose token the provider uses, where under the CSI driver each pod used its own: {service_account} (--service-account) is used, so {needs}"),
    );
}

/// The SecretSync of `spec.secretObjects[index]`, unless SSE-rs would refuse it.
fn secret_sync_of(
    class: &SecretProviderClass,
    index: usize,
    secret_object: &SpcSecretObject,
    options: &Options,
    notes: &mut Notes,
) -> Option<SecretSync> {
    let field = format!("spec.secretObjects[{index}]");
    let Some(secret_name) = non_empty(secret_object.secret_name.as_deref()) else {
        notes.add(
            format!("{field}.secretName"),
            "empty: the SecretSync takes the Secret's name",
        );
        return None;
    };
    let mut data = Vec::new();
    for (i, item) in secret_object.data.iter().flatten().enumerate() {
        match (
            non_empty(item.object_name.as_deref()),
            non_empty(item.key.as_deref()),
        ) {
            (Some(object_name), Some(key)) => data.push(SecretObjectData {
                source_path: object_name.to_string(),
                target_key: key.to_string(),
                property: None,
            }),
            _ => notes.add(
                format!("{field}.data[{i}]"),
                "objectName and key are both needed: this item is left out",
            ),
        }
    }
    let spec = SecretSyncSpec {
        secret_provider_class_name: class.metadata.name.clone().unwrap_or_default(),
        service_account_name: options.service_account.clone(),
        secret_object: SecretObject {
            type_: non_empty(secret_object.type_.as_deref())
                .unwrap_or(DEFAULT_SECRET_TYPE)
                .to_string(),
            data,
            data_from: Vec::new(),
            template: None,
            labels: secret_object.labels.clone(),
            annotations: secret_object.annotations.clone(),
        },
        ..SecretSyncSpec::default()
    };
    let (type_field, data_field) = (format!("{field}.type"), format!("{field}.data"));
    let (labels_field, annotations_field) = (format!("{field}.labels"), format!("{field}.annotations"));
    let fields = SourceFields {
        type_: &type_field,
        data: &data_field,
        labels: &labels_field,
        annotations: &annotations_field,
    };
    if !admissible(&spec, &fields, notes) {
        return None;
    }
    Some(secret_sync(
        secret_name,
        class.metadata.namespace.as_deref(),
        BTreeMap::new(),
        spec,
    ))
}

/// The class as SSE-rs uses it: name, namespace, labels, annotations (without kubectl's last-applied copy),
/// provider and parameters.
fn without_secret_objects(class: &SecretProviderClass) -> SecretProviderClass {
    let annotations = class
        .metadata
        .annotations
        .clone()
        .map(|mut annotations| {
            annotations.remove(LAST_APPLIED_ANNOTATION);
            annotations
        })
        .filter(|annotations| !annotations.is_empty());
    SecretProviderClass {
        metadata: ObjectMeta {
            name: class.metadata.name.clone(),
            namespace: class.metadata.namespace.clone(),
            labels: class.metadata.labels.clone(),
            annotations,
            ..ObjectMeta::default()
        },
        spec: SecretProviderClassSpec {
            secret_objects: None,
            ..class.spec.clone()
        },
    }
}

fn non_empty(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|s| !s.is_empty())
}
