//! Shaping (docs/API.md#shaping): optional fields of `spec.secretObject`, beyond upstream, that turn the provider's
//! files into the keys the application reads — one property of a JSON value, a JSON object spread into one key per
//! property, and keys rendered from a template or written as a whole file. A SecretSync without them is upstream's,
//! byte for byte (same schema, same sync hash).

use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::validation::{
    MAX_NAME_LENGTH, SOURCE_PATH_PATTERN, TARGET_KEY_PATTERN,
    shape::{
        FORMAT_KEYS_MESSAGE, FORMAT_KEYS_RULE, MAX_FORMAT_KEYS, MAX_TEMPLATE_ITEMS, MAX_TEMPLATE_TEXT,
        PROPERTY_PATTERN, SUB_TEMPLATE_MESSAGE, SUB_TEMPLATE_RULE, TEXT_OR_FORMAT_MESSAGE,
        TEXT_OR_FORMAT_RULE, UNCLOSED_ACTION_MESSAGE, UNCLOSED_ACTION_RULE,
    },
};

/// One provider object whose JSON object becomes one Secret key per top-level property (ESO's `extract`).
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub struct SecretObjectDataFrom {
    /// Path of the object in the provider's response, as in `data[].sourcePath`.
    #[schemars(length(min = 1, max = MAX_NAME_LENGTH), regex(pattern = SOURCE_PATH_PATTERN))]
    pub source_path: String,

    /// Spread the object found at this property path instead of the whole value (`a.b`, `list.0`, `\.` for a dot
    /// inside a key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = MAX_NAME_LENGTH), regex(pattern = PROPERTY_PATTERN))]
    pub property: Option<String>,
}

/// The keys written when set: rendered from the values of `data` and `dataFrom`.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub struct SecretTemplate {
    /// `Replace` (default): only the keys of `template.data` are written, and the values of `data` and `dataFrom`
    /// are the template's inputs. `Merge`: they are written too, and a template key wins a clash.
    #[serde(default, skip_serializing_if = "MergePolicy::is_replace")]
    #[schemars(extend("default" = "Replace"))]
    pub merge_policy: MergePolicy,

    /// One Secret key each, rendered from a template (`text`) or written as a whole file (`format`).
    #[schemars(length(min = 1, max = MAX_TEMPLATE_ITEMS))]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["targetKey".into()]))]
    pub data: Vec<TemplateItem>,
}

/// Whether the plain values are written beside the template's keys.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum MergePolicy {
    /// Only the template's keys are written.
    #[default]
    Replace,
    /// The plain values are written too; a template key wins a clash.
    Merge,
}

impl MergePolicy {
    /// The default: only the template's keys are written (unset fields are not serialised).
    pub fn is_replace(&self) -> bool {
        *self == MergePolicy::Replace
    }

    /// The field's value.
    pub const fn as_str(self) -> &'static str {
        match self {
            MergePolicy::Replace => "Replace",
            MergePolicy::Merge => "Merge",
        }
    }
}

/// One Secret key of a template.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new(TEXT_OR_FORMAT_RULE).message(TEXT_OR_FORMAT_MESSAGE),
    validation = Rule::new(FORMAT_KEYS_RULE).message(FORMAT_KEYS_MESSAGE),
    validation = Rule::new(UNCLOSED_ACTION_RULE).message(UNCLOSED_ACTION_MESSAGE),
    validation = Rule::new(SUB_TEMPLATE_RULE).message(SUB_TEMPLATE_MESSAGE)
)]
pub struct TemplateItem {
    /// Key of the Secret's `data` that receives the rendered bytes.
    #[schemars(length(min = 1, max = MAX_NAME_LENGTH), regex(pattern = TARGET_KEY_PATTERN))]
    pub target_key: String,

    /// A Go template (`text/template` syntax with sprig's function names) over the values: `{{ .user }}`,
    /// `{{ index . "tls.crt" }}`, `{{ .token | b64enc }}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = MAX_TEMPLATE_TEXT))]
    pub text: Option<String>,

    /// A whole file of several values, without a template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<FileFormat>,

    /// With `format`: the values in the file, in this order (default: every value, sorted by name).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = MAX_FORMAT_KEYS))]
    pub keys: Vec<String>,
}

/// A whole file of several values: `env`, `properties`, `json` or `yaml`.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum FileFormat {
    /// `NAME=value` lines (quoted when needed), as `.env` files.
    Env,
    /// Java `.properties` (`name=value`, escaped).
    Properties,
    /// A JSON object of strings.
    Json,
    /// A YAML mapping of strings.
    Yaml,
}

impl FileFormat {
    /// Every format, in the schema's order.
    pub const ALL: [FileFormat; 4] = [
        FileFormat::Env,
        FileFormat::Properties,
        FileFormat::Json,
        FileFormat::Yaml,
    ];

    /// The field's value.
    pub const fn as_str(self) -> &'static str {
        match self {
            FileFormat::Env => "env",
            FileFormat::Properties => "properties",
            FileFormat::Json => "json",
            FileFormat::Yaml => "yaml",
        }
    }
}

impl std::fmt::Display for FileFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not a [`FileFormat`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown format {0:?} (one of env, properties, json, yaml)")]
pub struct UnknownFormat(pub String);

impl std::str::FromStr for FileFormat {
    type Err = UnknownFormat;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        FileFormat::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or_else(|| UnknownFormat(s.to_owned()))
    }
}
