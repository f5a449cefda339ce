//! The schema's patterns, limits and CEL rules for shaping (docs/API.md#shaping), with their exact messages: what
//! the API server refuses before the manager ever sees a SecretSync. What CEL cannot see (a template's functions
//! and names, a property missing from a value) the manager reports as `TemplateError` or `PropertyError`.

use super::ValidationError;
use crate::secret_sync::{MergePolicy, SecretObject};

/// A property path: segments split by `.`, `\` escaping any character (`tls\.crt` is one key), an all-digit
/// segment indexing an array. gjson's query characters (`* ? # @ | ! = < > % ( ) [ ] { }`) are refused.
pub const PROPERTY_PATTERN: &str = r"^([^.\\*?#@|!=<>%()\[\]{}]|\\.)+(\.([^.\\*?#@|!=<>%()\[\]{}]|\\.)+)*$";

/// Most `dataFrom` items.
pub const MAX_DATA_FROM: u32 = 16;
/// Most `template.data` items.
pub const MAX_TEMPLATE_ITEMS: u32 = 64;
/// Most `keys` of a format item.
pub const MAX_FORMAT_KEYS: u32 = 256;
/// Longest template text, in bytes.
pub const MAX_TEMPLATE_TEXT: u32 = 32 * 1024;

/// `data` may be empty only when `dataFrom` has an item (upstream's `minItems: 1` on `data`, widened).
pub const DATA_OR_DATA_FROM_RULE: &str =
    "size(self.data) > 0 || (has(self.dataFrom) && size(self.dataFrom) > 0)";
/// Message of [`DATA_OR_DATA_FROM_RULE`].
pub const DATA_OR_DATA_FROM_MESSAGE: &str =
    "secretObject.data must have at least 1 item, unless secretObject.dataFrom has one";

/// A `kubernetes.io/tls` Secret whose template replaces the plain keys must write both keys the type requires.
pub const TLS_TEMPLATE_RULE: &str = "!has(self.template) || self.template.mergePolicy == 'Merge' || self.type != 'kubernetes.io/tls' || (self.template.data.exists(t, t.targetKey == 'tls.crt') && self.template.data.exists(t, t.targetKey == 'tls.key'))";
/// Message of [`TLS_TEMPLATE_RULE`].
pub const TLS_TEMPLATE_MESSAGE: &str = "a kubernetes.io/tls template must write tls.crt and tls.key";

/// A `kubernetes.io/dockerconfigjson` Secret whose template replaces the plain keys must write `.dockerconfigjson`.
pub const DOCKER_TEMPLATE_RULE: &str = "!has(self.template) || self.template.mergePolicy == 'Merge' || self.type != 'kubernetes.io/dockerconfigjson' || self.template.data.exists(t, t.targetKey == '.dockerconfigjson')";
/// Message of [`DOCKER_TEMPLATE_RULE`].
pub const DOCKER_TEMPLATE_MESSAGE: &str =
    "a kubernetes.io/dockerconfigjson template must write .dockerconfigjson";

/// A template item is a template or a file, never both nor neither.
pub const TEXT_OR_FORMAT_RULE: &str = "has(self.text) != has(self.format)";
/// Message of [`TEXT_OR_FORMAT_RULE`].
pub const TEXT_OR_FORMAT_MESSAGE: &str = "a template item has either text or format";

/// `keys` chooses the values of a file.
pub const FORMAT_KEYS_RULE: &str = "!has(self.keys) || has(self.format)";
/// Message of [`FORMAT_KEYS_RULE`].
pub const FORMAT_KEYS_MESSAGE: &str = "keys lists the values of a format item";

/// An action opened by `{{` and never closed: such a text never parses.
pub const UNCLOSED_ACTION_RULE: &str = r"!has(self.text) || !self.text.matches('\\{\\{[^}]*$')";
/// Message of [`UNCLOSED_ACTION_RULE`].
pub const UNCLOSED_ACTION_MESSAGE: &str = "the template opens an action {{ that is never closed";

/// Named sub-templates are not offered: each key's template is written in full.
pub const SUB_TEMPLATE_RULE: &str =
    r"!has(self.text) || !self.text.matches('\\{\\{-?\\s*(define|template|block)\\b')";
/// Message of [`SUB_TEMPLATE_RULE`].
pub const SUB_TEMPLATE_MESSAGE: &str =
    "define, template and block are not supported: write each key's template in full";

/// What the rules above refuse, checked again by the manager for SecretSyncs stored before the CRD had them, plus
/// what the schema cannot say: a template's keys are unique and each `dataFrom` item has a source path.
pub(crate) fn validate(secret_object: &SecretObject) -> Result<(), ValidationError> {
    let problem = |field: String, problem: &'static str| Err(ValidationError::Shape { field, problem });
    for (index, item) in secret_object.data_from.iter().enumerate() {
        if item.source_path.trim().is_empty() {
            return problem(format!("secretObject.dataFrom[{index}]"), "sourcePath is empty");
        }
    }
    let Some(template) = &secret_object.template else {
        return Ok(());
    };
    if template.data.is_empty() {
        return problem("secretObject.template".into(), "data must have at least 1 item");
    }
    let mut seen = std::collections::BTreeSet::new();
    for (index, item) in template.data.iter().enumerate() {
        let field = || format!("secretObject.template.data[{index}]");
        if item.text.is_some() == item.format.is_some() {
            return problem(field(), TEXT_OR_FORMAT_MESSAGE);
        }
        if !item.keys.is_empty() && item.format.is_none() {
            return problem(field(), FORMAT_KEYS_MESSAGE);
        }
        if item.target_key.trim().is_empty() {
            return problem(field(), "targetKey is empty");
        }
        if !seen.insert(item.target_key.trim()) {
            return problem(field(), "targetKey is used by an earlier template item");
        }
    }
    let writes = |key: &str| seen.contains(key);
    if template.merge_policy == MergePolicy::Replace {
        if secret_object.type_ == "kubernetes.io/tls" && !(writes("tls.crt") && writes("tls.key")) {
            return problem("secretObject.template".into(), TLS_TEMPLATE_MESSAGE);
        }
        if secret_object.type_ == "kubernetes.io/dockerconfigjson" && !writes(".dockerconfigjson") {
            return problem("secretObject.template".into(), DOCKER_TEMPLATE_MESSAGE);
        }
    }
    Ok(())
}
