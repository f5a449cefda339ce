//! Whether SSE-rs would take a generated SecretSync: [`validate_spec`], the admission policy's Secret types,
//! the keys of a TLS Secret. A SecretSync it would refuse is not printed; its note says why.

use sse_api::SecretSyncSpec;
use sse_api::validation::{ValidationError, validate_spec};

use super::migration::Notes;

/// Secret types the admission policy lets the manager write (deploy/policies/create-update.yaml, the
/// upstream chart's default list less `bootstrap.kubernetes.io/token`, an API credential).
pub const ALLOWED_SECRET_TYPES: [&str; 6] = [
    "Opaque",
    "kubernetes.io/basic-auth",
    "kubernetes.io/dockerconfigjson",
    "kubernetes.io/dockercfg",
    "kubernetes.io/ssh-auth",
    "kubernetes.io/tls",
];
/// The Secret types the admission policy always denies: each is an API credential.
const CREDENTIAL_TYPES: [&str; 2] = [
    "kubernetes.io/service-account-token",
    "bootstrap.kubernetes.io/token",
];
/// The Secret type whose values the manager splits by key name (docs/API.md#kubernetesiotls-keys).
pub(super) const TLS_SECRET_TYPE: &str = "kubernetes.io/tls";
/// The only keys a `kubernetes.io/tls` SecretSync may map: those the manager's TLS post-processing accepts
/// (`cert_part` in crates/manager/src/mapping/tls.rs), the issuing chain `ca.crt` included.
const TLS_KEYS: [&str; 3] = ["tls.crt", "tls.key", "ca.crt"];

/// Where a generated SecretSync's parts come from in the source, for notes.
pub(super) struct SourceFields<'a> {
    pub(super) type_: &'a str,
    pub(super) data: &'a str,
    pub(super) labels: &'a str,
    pub(super) annotations: &'a str,
}

/// Whether SSE-rs would take `spec`: [`validate_spec`], the admission policy's Secret types, the keys of an
/// untemplated TLS Secret. What it would refuse goes into `notes`; a type outside the default allowed list is only noted
/// (an administrator may have widened the list).
pub(super) fn admissible(spec: &SecretSyncSpec, fields: &SourceFields<'_>, notes: &mut Notes) -> bool {
    if let Err(error) = validate_spec(spec) {
        let field = match &error {
            ValidationError::ReservedLabel { .. } => fields.labels,
            ValidationError::ReservedAnnotation { .. } => fields.annotations,
            // A template that does not write the keys its Secret type needs.
            ValidationError::Shape { .. } => fields.type_,
            _ => fields.data,
        };
        notes.add(
            field,
            format!("SSE-rs would refuse the SecretSync ({error}): it is not printed"),
        );
        return false;
    }
    let secret_type = spec.secret_object.type_.as_str();
    if CREDENTIAL_TYPES.contains(&secret_type) {
        notes.add(
            fields.type_,
            format!("{secret_type}: the admission policy never lets the manager write a Secret that grants API access: the SecretSync is not printed"),
        );
        return false;
    }
    if !ALLOWED_SECRET_TYPES.contains(&secret_type) {
        notes.add(
            fields.type_,
            format!(
                "{secret_type}: not in the admission policy's allowed Secret types ({}): the SecretSync fails until an administrator adds it",
                ALLOWED_SECRET_TYPES.join(", ")
            ),
        );
    }
    // With a template, data items are its inputs, with free names (the manager splits no certificate).
    if secret_type == TLS_SECRET_TYPE && spec.secret_object.template.is_none() {
        let others: Vec<&str> = spec
            .secret_object
            .data
            .iter()
            .map(|item| item.target_key.trim())
            .filter(|key| !TLS_KEYS.contains(key))
            .collect();
        if !others.is_empty() {
            notes.add(
                fields.data,
                format!(
                    "SSE-rs splits a kubernetes.io/tls object into tls.crt, tls.key and ca.crt and refuses other keys ({}): the SecretSync is not printed",
                    others.join(", ")
                ),
            );
            return false;
        }
    }
    true
}
