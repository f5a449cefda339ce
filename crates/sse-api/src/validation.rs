//! Validation of `SecretSync` input: the schema patterns and CEL rules of the CRD
//! (docs/API.md#secretsync-spec), and [`validate_secret_object`], the controller's defence-in-depth check run
//! before anything is written (docs/API.md#checks-before-anything-is-written).
//!
//! The API server enforces the patterns and CEL rules at admission. The controller repeats the checks it can do
//! without a regex engine, because a SecretSync may have been stored under an older, laxer CRD and because the
//! reserved-key rule protects the controller's own label.

use std::collections::BTreeMap;

use crate::{
    conditions::Reason,
    consts::RESERVED_KEY_PREFIX,
    secret_sync::{SecretObject, SecretSyncSpec},
};

/// DNS-1123 subdomain; `spec.secretProviderClassName` and `spec.serviceAccountName`.
pub const DNS1123_SUBDOMAIN_PATTERN: &str =
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";
/// `spec.secretObject.data[].sourcePath`.
pub const SOURCE_PATH_PATTERN: &str =
    r"^[A-Za-z0-9.]([-A-Za-z0-9]+([-._a-zA-Z0-9]?[A-Za-z0-9])*)?(\/([0-9]+))*$";
/// `spec.secretObject.data[].targetKey` (the same pattern as [`SOURCE_PATH_PATTERN`]).
pub const TARGET_KEY_PATTERN: &str = SOURCE_PATH_PATTERN;
/// `spec.forceSynchronization`.
pub const FORCE_SYNCHRONIZATION_PATTERN: &str = r"^[A-Za-z0-9]([-A-Za-z0-9]+([-._a-zA-Z0-9]?[A-Za-z0-9])*)?$";

/// maxLength of names, paths, keys, the Secret type and `forceSynchronization`.
pub const MAX_NAME_LENGTH: u32 = 253;

/// CEL rule on `spec.secretObject.labels`: key and value sizes.
pub const LABELS_SIZE_RULE: &str = "(self.all(x, x.size() <= 317 && self[x].size() <= 63) == true)";
/// Message of [`LABELS_SIZE_RULE`].
pub const LABELS_SIZE_MESSAGE: &str = "Label keys must not exceed 317 characters (254 for prefix+separator, 63 for name), label values must not exceed 63 characters.";
/// CEL rule on `spec.secretObject.labels`: no key under the reserved prefix.
pub const LABELS_RESERVED_RULE: &str = "(self.all(x, x.startsWith('secrets-store.sync.x-k8s.io') == false))";
/// Message of [`LABELS_RESERVED_RULE`].
pub const LABELS_RESERVED_MESSAGE: &str =
    "Labels should not contain secrets-store.sync.x-k8s.io. This key is reserved for the controller.";
/// CEL rule on `spec.secretObject.annotations`: key and value sizes.
pub const ANNOTATIONS_SIZE_RULE: &str = "(self.all(x, x.size() < 317 && self[x].size() <= 262144) == true)";
/// Message of [`ANNOTATIONS_SIZE_RULE`].
pub const ANNOTATIONS_SIZE_MESSAGE: &str = "Annotations keys must not exceed 317 characters (254 for prefix+separator, 63 for name), annotation values must not exceed 256 kB.";
/// CEL rule on `spec.secretObject.annotations`: no key under the reserved prefix.
pub const ANNOTATIONS_RESERVED_RULE: &str =
    "(self.all(x, x.startsWith('secrets-store.sync.x-k8s.io') == false))";
/// Message of [`ANNOTATIONS_RESERVED_RULE`].
pub const ANNOTATIONS_RESERVED_MESSAGE: &str =
    "Annotations should not contain secrets-store.sync.x-k8s.io. This key is reserved for the controller.";

/// Why a SecretSync cannot be synced as written.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    /// A key of `spec.secretObject.labels` starts with the reserved prefix (any value, even empty).
    #[error("label {key} is reserved for use by the Secrets Store Sync Controller")]
    ReservedLabel {
        /// The offending label key.
        key: String,
    },
    /// A key of `spec.secretObject.annotations` starts with the reserved prefix (any value, even empty).
    #[error("annotation {key} is reserved for use by the Secrets Store Sync Controller")]
    ReservedAnnotation {
        /// The offending annotation key.
        key: String,
    },
    /// `spec.secretObject.data` is empty, and so is `dataFrom`.
    #[error("secretObject.data is empty: at least one {{sourcePath, targetKey}} item is required")]
    EmptyData,
    /// A shaping field is inconsistent (docs/API.md#shaping): what the CRD's rules refuse, checked again for
    /// objects stored under an older CRD.
    #[error("{field}: {problem}")]
    Shape {
        /// The field, e.g. `secretObject.template.data[1]`.
        field: String,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// `spec.secretObject.data[index].sourcePath` is empty or only whitespace.
    #[error("source path in secretObject.data[{index}] is empty")]
    EmptySourcePath {
        /// Index of the item in `spec.secretObject.data`.
        index: usize,
    },
    /// `spec.secretObject.data[index].targetKey` is empty or only whitespace.
    #[error("target key in secretObject.data[{index}] is empty")]
    EmptyTargetKey {
        /// Index of the item in `spec.secretObject.data`.
        index: usize,
    },
    /// Two items map to the same Secret key (compared after trimming).
    #[error("target key {key:?} is used by both secretObject.data[{first}] and secretObject.data[{second}]")]
    DuplicateTargetKey {
        /// The duplicated (trimmed) target key.
        key: String,
        /// Index of the first item using it.
        first: usize,
        /// Index of the second item using it.
        second: usize,
    },
    /// The refresh-interval annotation is not a duration.
    #[error(
        "annotation {annotation} must be a duration such as 90s, 5m or 1h30m, got {value:?}",
        annotation = crate::consts::REFRESH_INTERVAL_ANNOTATION
    )]
    RefreshInterval {
        /// The annotation's value.
        value: String,
    },
    /// The force-sync annotation is empty, too long or not printable.
    #[error(
        "annotation {annotation} must be 1 to {max} printable characters (such as the time: kubectl sse sync sets it), got {len} characters",
        annotation = crate::consts::FORCE_SYNC_ANNOTATION,
        max = crate::consts::FORCE_SYNC_MAX_LEN
    )]
    ForceSync {
        /// The length of the annotation's value (the value itself may be anything: it is not echoed).
        len: usize,
    },
    /// A tag-mapping annotation's entry is not `TAG` or `TAG=KEY` with a valid, unreserved key.
    #[error("annotation {annotation}: {problem}")]
    TagMapping {
        /// The annotation.
        annotation: &'static str,
        /// What is wrong with which entry.
        problem: String,
    },
}

impl ValidationError {
    /// The condition reason this failure is reported with.
    pub const fn reason(&self) -> Reason {
        match self {
            ValidationError::ReservedLabel { .. } => Reason::InvalidClusterSecretLabelError,
            ValidationError::ReservedAnnotation { .. } => Reason::InvalidClusterSecretAnnotationError,
            ValidationError::EmptyData
            | ValidationError::Shape { .. }
            | ValidationError::EmptySourcePath { .. }
            | ValidationError::EmptyTargetKey { .. }
            | ValidationError::DuplicateTargetKey { .. }
            | ValidationError::RefreshInterval { .. }
            | ValidationError::ForceSync { .. }
            | ValidationError::TagMapping { .. } => Reason::UserInputValidationFailed,
        }
    }
}

/// True when a label or annotation key is reserved for the controller (starts with [`RESERVED_KEY_PREFIX`],
/// exactly like the CRD's CEL rule).
pub fn is_reserved_key(key: &str) -> bool {
    key.starts_with(RESERVED_KEY_PREFIX)
}

/// Checks `spec.secretObject` before anything is written. In order: reserved label keys, reserved annotation keys
/// (both regardless of value, unlike upstream which let `secrets-store.sync.x-k8s.io: ""` through), a non-empty
/// data list, non-empty `sourcePath`/`targetKey` after trimming, and unique trimmed `targetKey`s. Returns the first
/// failure.
pub fn validate_secret_object(secret_object: &SecretObject) -> Result<(), ValidationError> {
    if let Some(key) = secret_object
        .labels
        .iter()
        .flatten()
        .map(|(k, _)| k)
        .find(|k| is_reserved_key(k))
    {
        return Err(ValidationError::ReservedLabel { key: key.clone() });
    }
    if let Some(key) = secret_object
        .annotations
        .iter()
        .flatten()
        .map(|(k, _)| k)
        .find(|k| is_reserved_key(k))
    {
        return Err(ValidationError::ReservedAnnotation { key: key.clone() });
    }
    if secret_object.data.is_empty() && secret_object.data_from.is_empty() {
        return Err(ValidationError::EmptyData);
    }
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for (index, item) in secret_object.data.iter().enumerate() {
        if item.source_path.trim().is_empty() {
            return Err(ValidationError::EmptySourcePath { index });
        }
        let key = item.target_key.trim();
        if key.is_empty() {
            return Err(ValidationError::EmptyTargetKey { index });
        }
        if let Some(&first) = seen.get(key) {
            return Err(ValidationError::DuplicateTargetKey {
                key: key.to_owned(),
                first,
                second: index,
            });
        }
        seen.insert(key, index);
    }
    shape::validate(secret_object)
}

/// The SecretSync's own check interval from its [`REFRESH_INTERVAL_ANNOTATION`](crate::consts::REFRESH_INTERVAL_ANNOTATION)
/// (`None` without the annotation): a Go duration (`90s`, `5m`, `1h30m`, `1.5h`) of at least a second.
pub fn refresh_interval(
    annotations: &BTreeMap<String, String>,
) -> Result<Option<std::time::Duration>, ValidationError> {
    let Some(value) = annotations.get(crate::consts::REFRESH_INTERVAL_ANNOTATION) else {
        return Ok(None);
    };
    parse_duration(value)
        .map(Some)
        .ok_or_else(|| ValidationError::RefreshInterval { value: value.clone() })
}

/// A refresh interval: a Go duration ([`crate::duration::parse`]) of at least a second and under 10⁹ s;
/// surrounding spaces are ignored. `None` when it is not one.
pub fn parse_duration(value: &str) -> Option<std::time::Duration> {
    let duration = crate::duration::parse(value).ok()?;
    (1.0..1e9).contains(&duration.as_secs_f64()).then_some(duration)
}

/// The SecretSync's force-sync request, its [`FORCE_SYNC_ANNOTATION`](crate::consts::FORCE_SYNC_ANNOTATION)
/// (`None` without the annotation): 1 to [`FORCE_SYNC_MAX_LEN`](crate::consts::FORCE_SYNC_MAX_LEN)
/// printable ASCII characters, since the manager copies it into the status.
pub fn force_sync(annotations: &BTreeMap<String, String>) -> Result<Option<&str>, ValidationError> {
    let Some(value) = annotations.get(crate::consts::FORCE_SYNC_ANNOTATION) else {
        return Ok(None);
    };
    let printable = value.bytes().all(|b| b.is_ascii_graphic() || b == b' ');
    if value.trim().is_empty() || value.len() > crate::consts::FORCE_SYNC_MAX_LEN || !printable {
        return Err(ValidationError::ForceSync {
            len: value.chars().count(),
        });
    }
    Ok(Some(value))
}

/// One Key Vault tag to copy onto the Secret: its name, and the label or annotation key it becomes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TagMapping {
    /// The tag's name in Key Vault.
    pub tag: String,
    /// The label or annotation key on the Secret.
    pub key: String,
}

/// The SecretSync's tag mappings, labels then annotations, from [`TAG_LABELS_ANNOTATION`] and
/// [`TAG_ANNOTATIONS_ANNOTATION`] (empty without them): comma-separated `TAG` or `TAG=KEY` entries, spaces
/// ignored. A key must be a valid Kubernetes qualified name (optional DNS-subdomain prefix and `/`, then
/// at most 63 of `[A-Za-z0-9._-]` starting and ending alphanumeric) and must not be reserved for the
/// controller (`secrets-store.sync.x-k8s.io…`) or SSE-rs (`sse-rs.io/…`).
///
/// [`TAG_LABELS_ANNOTATION`]: crate::consts::TAG_LABELS_ANNOTATION
/// [`TAG_ANNOTATIONS_ANNOTATION`]: crate::consts::TAG_ANNOTATIONS_ANNOTATION
pub fn tag_mappings(
    annotations: &BTreeMap<String, String>,
) -> Result<(Vec<TagMapping>, Vec<TagMapping>), ValidationError> {
    let parse = |annotation: &'static str| -> Result<Vec<TagMapping>, ValidationError> {
        let Some(value) = annotations.get(annotation) else {
            return Ok(Vec::new());
        };
        let fail = |problem: String| ValidationError::TagMapping { annotation, problem };
        let mut out: Vec<TagMapping> = Vec::new();
        for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (tag, key) = match entry.split_once('=') {
                Some((tag, key)) => (tag.trim(), key.trim()),
                None => (entry, entry),
            };
            if tag.is_empty() {
                return Err(fail(format!("entry {entry:?} names no tag")));
            }
            if !is_qualified_name(key) {
                return Err(fail(format!(
                    "{key:?} is not a valid key (an optional DNS-subdomain prefix and '/', then at most 63 \
                     characters [A-Za-z0-9._-] starting and ending alphanumeric)"
                )));
            }
            if is_reserved_key(key) || key.starts_with(crate::consts::ANNOTATION_PREFIX) {
                return Err(fail(format!("{key:?} is reserved for SSE-rs")));
            }
            if out.iter().any(|m| m.key == key) {
                return Err(fail(format!("key {key:?} is given twice")));
            }
            out.push(TagMapping {
                tag: tag.to_string(),
                key: key.to_string(),
            });
        }
        Ok(out)
    };
    Ok((
        parse(crate::consts::TAG_LABELS_ANNOTATION)?,
        parse(crate::consts::TAG_ANNOTATIONS_ANNOTATION)?,
    ))
}

/// A Kubernetes qualified name (label and annotation keys): `[prefix/]name`.
pub fn is_qualified_name(key: &str) -> bool {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    let prefix_ok =
        prefix.is_none_or(|p| is_dns1123_subdomain(p) && p.split('.').all(|label| label.len() <= 63));
    prefix_ok && is_label_value(name) && !name.is_empty()
}

/// A DNS-1123 subdomain ([`DNS1123_SUBDOMAIN_PATTERN`], at most 253 characters): what an object's name, such
/// as a Secret's, must be.
pub fn is_dns1123_subdomain(name: &str) -> bool {
    name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// A valid label value: at most 63 of `[A-Za-z0-9._-]`, starting and ending alphanumeric (or empty).
pub fn is_label_value(value: &str) -> bool {
    let bytes = value.as_bytes();
    value.len() <= 63
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        && bytes.first().is_none_or(u8::is_ascii_alphanumeric)
        && bytes.last().is_none_or(u8::is_ascii_alphanumeric)
}

/// A duration as Go prints it, to whole seconds: `1h30m0s`, `5m0s`, `45s`.
pub fn format_duration(d: std::time::Duration) -> String {
    let secs = d.as_secs();
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m{s}s"),
        _ => format!("{h}h{m}m{s}s"),
    }
}

/// [`validate_secret_object`] applied to a whole spec.
pub fn validate_spec(spec: &SecretSyncSpec) -> Result<(), ValidationError> {
    validate_secret_object(&spec.secret_object)
}

pub mod shape;

#[cfg(test)]
mod tests;
