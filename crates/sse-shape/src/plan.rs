//! A SecretSync's shape (docs/API.md#shaping), parsed once per full sync and applied to the values its data
//! items produced: `dataFrom` spread into keys, then `template` rendered or written as whole files, then the
//! merge policy. The manager and `kubectl sse render` both run exactly this.
//!
//! ```text
//! items (data[], property applied) ─┐
//!                                   ├─▶ values ─▶ template.data[] (text | format) ─▶ merge policy ─▶ Secret data
//! dataFrom[] (extract) ─────────────┘
//! ```
//!
//! Errors name the field, template, line and name, never a value: a template, a property path and a format's
//! keys are spec text; values and the keys a vault value spreads into are not.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use sse_api::{FileFormat, MergePolicy, SecretObject, SecretObjectData};

use crate::cache::TemplateCache;
use crate::extract::extract;
use crate::format::{self, Format, FormatError};
use crate::path::{Path, PathError, PropertyError};
use crate::template::{Inputs, Root, Template, TemplateError};
use crate::{Budget, Values};

/// The version of the shaping rules, part of the sync hash of every shaped SecretSync: bumped whenever the same
/// spec and values would render other bytes, so an upgrade re-renders and reports the change.
pub const ENGINE: &str = "sse-shape/1";

/// Why a SecretSync could not be shaped. `Display` names the field and never a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShapeError {
    /// A `property` path does not parse (the CRD's pattern refuses most such paths first).
    #[error("{field}: property {path}: {source}")]
    PathSyntax {
        /// `secretObject.data[i] (targetKey K)` or `secretObject.dataFrom[i]`.
        field: String,
        /// The path as written.
        path: String,
        /// What is wrong with it.
        source: PathError,
    },
    /// A property could not be read from a value, or a value could not be spread.
    #[error("{field}: {source}")]
    Property {
        /// `secretObject.data[i] (targetKey K)` or `secretObject.dataFrom[i] (sourcePath P)`.
        field: String,
        /// Why.
        source: PropertyError,
    },
    /// A `dataFrom` item's object was not returned by the provider.
    #[error("secretObject.dataFrom[{index}]: file matching sourcePath {source_path} not found in the pod")]
    FileNotFound {
        /// Index of the item.
        index: usize,
        /// Its source path.
        source_path: String,
    },
    /// A template failed to parse or render.
    #[error("{0}")]
    Template(#[from] TemplateError),
    /// A whole-file item could not be written.
    #[error("template {key}: {source}")]
    Format {
        /// The item's `targetKey`.
        key: String,
        /// Why.
        source: FormatError,
    },
    /// A whole-file item lists a value that does not exist.
    #[error("template {key}: no value named {name:?} ({known})")]
    MissingValue {
        /// The item's `targetKey`.
        key: String,
        /// The missing name (spec text).
        name: String,
        /// The names there are, or how many.
        known: String,
    },
}

impl ShapeError {
    /// True for the property family (`PropertyError` reason); false for templates and files (`TemplateError`).
    pub const fn is_property(&self) -> bool {
        matches!(
            self,
            ShapeError::PathSyntax { .. } | ShapeError::Property { .. } | ShapeError::FileNotFound { .. }
        )
    }
}

/// The field prefix of a data item's errors.
fn item_field(index: usize, item: &SecretObjectData) -> String {
    format!(
        "secretObject.data[{index}] (targetKey {})",
        item.target_key.trim()
    )
}

/// The property path `text` of `field`, parsed.
fn path(field: impl FnOnce() -> String, text: &str) -> Result<Path, ShapeError> {
    Path::parse(text).map_err(|source| ShapeError::PathSyntax {
        field: field(),
        path: text.to_owned(),
        source,
    })
}

/// A data item's value: the whole file, or its `property`.
pub fn item_value(index: usize, item: &SecretObjectData, contents: &[u8]) -> Result<Vec<u8>, ShapeError> {
    let Some(text) = item.property.as_deref() else {
        return Ok(contents.to_vec());
    };
    path(|| item_field(index, item), text)?
        .lookup(contents)
        .map_err(|source| ShapeError::Property {
            field: item_field(index, item),
            source,
        })
}

/// One `dataFrom` item, parsed.
struct From {
    source_path: String,
    property: Option<Path>,
}

/// What one `template.data` item writes.
enum Output {
    /// A rendered template.
    Text(Arc<Template>),
    /// A whole file of these values (all, sorted, when empty).
    File { format: Format, keys: Vec<String> },
}

/// A SecretSync's shape, parsed: what [`Plan::shape`] applies to the values of its data items.
pub struct Plan {
    /// The data items' target keys: the names a template's error may list (extracted keys are vault content).
    named: BTreeSet<String>,
    from: Vec<From>,
    merge: MergePolicy,
    outputs: Option<Vec<(String, Output)>>,
}

impl Plan {
    /// The plan of a SecretObject, `None` when it has no `dataFrom` and no `template` (its data items, properties
    /// included, are its Secret). Every template and path is parsed here: a syntax error fails before any vault
    /// read.
    pub fn parse(secret_object: &SecretObject) -> Result<Option<Plan>, ShapeError> {
        Plan::parse_with(secret_object, None)
    }

    /// [`Plan::parse`], taking templates parsed earlier from `cache` (the manager's, shared by every SecretSync).
    pub fn parse_cached(
        secret_object: &SecretObject,
        cache: &TemplateCache,
    ) -> Result<Option<Plan>, ShapeError> {
        Plan::parse_with(secret_object, Some(cache))
    }

    fn parse_with(
        secret_object: &SecretObject,
        cache: Option<&TemplateCache>,
    ) -> Result<Option<Plan>, ShapeError> {
        for (index, item) in secret_object.data.iter().enumerate() {
            if let Some(text) = item.property.as_deref() {
                path(|| item_field(index, item), text)?;
            }
        }
        if secret_object.data_from.is_empty() && secret_object.template.is_none() {
            return Ok(None);
        }
        let from = secret_object
            .data_from
            .iter()
            .enumerate()
            .map(|(index, item)| {
                let property = item
                    .property
                    .as_deref()
                    .map(|text| path(|| format!("secretObject.dataFrom[{index}]"), text))
                    .transpose()?;
                Ok(From {
                    source_path: item.source_path.trim().to_owned(),
                    property,
                })
            })
            .collect::<Result<_, ShapeError>>()?;
        let template = secret_object.template.as_ref();
        let outputs = template
            .map(|template| {
                template
                    .data
                    .iter()
                    .map(|item| {
                        let key = item.target_key.trim().to_owned();
                        let output = match (&item.text, item.format) {
                            (Some(text), _) => Output::Text(match cache {
                                Some(cache) => cache.parse(&key, text)?,
                                None => Arc::new(Template::parse(&key, text)?),
                            }),
                            (None, format) => Output::File {
                                format: format.unwrap_or(FileFormat::Env),
                                keys: item.keys.clone(),
                            },
                        };
                        Ok((key, output))
                    })
                    .collect::<Result<Vec<_>, ShapeError>>()
            })
            .transpose()?;
        let named = secret_object
            .data
            .iter()
            .map(|item| item.target_key.trim().to_owned())
            .collect();
        Ok(Some(Plan {
            named,
            from,
            merge: template.map_or(MergePolicy::Replace, |t| t.merge_policy),
            outputs,
        }))
    }

    /// The source paths `dataFrom` reads, which the Mount must include.
    pub fn sources(secret_object: &SecretObject) -> impl Iterator<Item = &str> {
        secret_object.data_from.iter().map(|f| f.source_path.trim())
    }

    /// True when templates replace the data items' keys and the `kubernetes.io/tls` post-processing does not
    /// apply (the items are a template's raw inputs).
    pub fn is_templated(&self) -> bool {
        self.outputs.is_some()
    }

    /// The Secret's data: `items` (each data item's value by target key) and the `dataFrom` objects among
    /// `files`, shaped. Every `dataFrom` object must be there.
    pub fn shape(
        &self,
        items: BTreeMap<String, Vec<u8>>,
        files: &HashMap<String, Vec<u8>>,
    ) -> Result<BTreeMap<String, Vec<u8>>, ShapeError> {
        let values = self.values(items, files, &mut BTreeSet::new(), false)?;
        self.render(values, &BTreeSet::new(), false).map(|(data, _)| data)
    }

    /// Partial sync: what can be shaped from the healthy `items` and the `dataFrom` objects present, and the
    /// outputs that cannot, each with why. `failed_items` are the target keys of the data items that failed. A
    /// template whose inputs include a failed value (or which reads every value while one failed) is a failed
    /// output and keeps its last value; the rest render.
    pub fn shape_partial(
        &self,
        items: BTreeMap<String, Vec<u8>>,
        failed_items: &BTreeSet<String>,
        files: &HashMap<String, Vec<u8>>,
    ) -> (BTreeMap<String, Vec<u8>>, Vec<Failed>) {
        let mut missing_from = BTreeSet::new();
        let values = match self.values(items, files, &mut missing_from, true) {
            Ok(values) => values,
            Err(error) => {
                return (
                    BTreeMap::new(),
                    vec![Failed {
                        key: None,
                        error: error.to_string(),
                    }],
                );
            }
        };
        let mut failed: Vec<Failed> = missing_from
            .iter()
            .map(|source_path| Failed {
                key: None,
                error: format!("dataFrom sourcePath {source_path} failed"),
            })
            .collect();
        let unknown = !missing_from.is_empty();
        match self.render(values, failed_items, unknown) {
            Ok((data, outputs)) => {
                failed.extend(outputs);
                (data, failed)
            }
            Err(error) => {
                failed.push(Failed {
                    key: None,
                    error: error.to_string(),
                });
                (BTreeMap::new(), failed)
            }
        }
    }

    /// The values a template reads: the data items, then each `dataFrom` object's keys where no data item has
    /// the name (a later `dataFrom` over an earlier one). With `partial`, a missing object is recorded instead.
    fn values(
        &self,
        items: BTreeMap<String, Vec<u8>>,
        files: &HashMap<String, Vec<u8>>,
        missing: &mut BTreeSet<String>,
        partial: bool,
    ) -> Result<Values, ShapeError> {
        let mut extracted = BTreeMap::new();
        for (index, from) in self.from.iter().enumerate() {
            let Some(contents) = files.get(&from.source_path) else {
                if partial {
                    missing.insert(from.source_path.clone());
                    continue;
                }
                return Err(ShapeError::FileNotFound {
                    index,
                    source_path: from.source_path.clone(),
                });
            };
            let spread =
                extract(contents, from.property.as_ref()).map_err(|source| ShapeError::Property {
                    field: format!("secretObject.dataFrom[{index}] (sourcePath {})", from.source_path),
                    source,
                })?;
            extracted.extend(spread);
        }
        let mut values = items;
        for (key, value) in extracted {
            values.entry(key).or_insert(value);
        }
        Ok(values)
    }

    /// The outputs over `values` and the merge policy. A template reading a name in `failed` (or every name,
    /// while something failed or `unknown` names may be missing) is reported as failed instead of rendered.
    fn render(
        &self,
        values: Values,
        failed: &BTreeSet<String>,
        unknown: bool,
    ) -> Result<(Values, Vec<Failed>), ShapeError> {
        let Some(outputs) = &self.outputs else {
            return Ok((values, Vec::new()));
        };
        let mut budget = Budget::default();
        let root = Root::new(&values, Some(&self.named));
        let mut written = BTreeMap::new();
        let mut skipped = Vec::new();
        for (key, output) in outputs {
            let inputs = match output {
                Output::Text(template) => template.inputs(),
                Output::File { keys, .. } if keys.is_empty() => Inputs::All,
                Output::File { keys, .. } => Inputs::Named(keys.iter().cloned().collect()),
            };
            let blocked = match &inputs {
                Inputs::All => (!failed.is_empty() || unknown).then(|| "every value".to_owned()),
                Inputs::Named(names) => names
                    .iter()
                    .find(|name| failed.contains(*name) || (unknown && !values.contains_key(*name)))
                    .map(|name| format!("input {name}")),
            };
            if let Some(what) = blocked {
                skipped.push(Failed {
                    key: Some(key.clone()),
                    error: format!("{what} failed"),
                });
                continue;
            }
            let bytes = match output {
                Output::Text(template) => template.render_root(&root, &mut budget)?,
                Output::File { format, keys } => file(key, *format, keys, &values)?,
            };
            written.insert(key.clone(), bytes);
        }
        if self.merge == MergePolicy::Merge {
            for (key, value) in values {
                written.entry(key).or_insert(value);
            }
        }
        Ok((written, skipped))
    }
}

/// An output of a partial shape that was not written, and why (no value in it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failed {
    /// The template item's `targetKey`; `None` for a `dataFrom` object.
    pub key: Option<String>,
    /// Why.
    pub error: String,
}

/// A whole-file item over `values`.
fn file(key: &str, format: Format, keys: &[String], values: &Values) -> Result<Vec<u8>, ShapeError> {
    let entries: Vec<(&str, &[u8])> = if keys.is_empty() {
        values.iter().map(|(k, v)| (k.as_str(), v.as_slice())).collect()
    } else {
        keys.iter()
            .map(|name| {
                values
                    .get(name)
                    .map(|v| (name.as_str(), v.as_slice()))
                    .ok_or_else(|| ShapeError::MissingValue {
                        key: key.to_owned(),
                        name: name.clone(),
                        known: format!("{} values", values.len()),
                    })
            })
            .collect::<Result<_, _>>()?
    };
    format::write(format, &entries).map_err(|source| ShapeError::Format {
        key: key.to_owned(),
        source,
    })
}

/// The sync-hash entries of a shape, present only for what is set, so an unshaped SecretSync keeps its hash.
/// Values stay out of the hash: a render is a pure function of the spec, the values (pinned by the versions
/// already hashed) and [`ENGINE`].
pub fn hash_entries(secret_object: &SecretObject) -> Vec<(String, Vec<u8>)> {
    let mut entries = Vec::new();
    for item in &secret_object.data {
        if let Some(property) = &item.property {
            entries.push((
                format!("property:{}", item.target_key.trim()),
                property.as_bytes().to_vec(),
            ));
        }
    }
    for (index, from) in secret_object.data_from.iter().enumerate() {
        let value = serde_json::json!([from.source_path.trim(), from.property]);
        entries.push((format!("dataFrom:{index}"), value.to_string().into_bytes()));
    }
    if let Some(template) = &secret_object.template {
        entries.push((
            "template:mergePolicy".to_owned(),
            template.merge_policy.as_str().as_bytes().to_vec(),
        ));
        for item in &template.data {
            let value = match (&item.text, item.format) {
                (Some(text), _) => format!("text:{text}"),
                (None, format) => format!(
                    "format:{}:{}",
                    format.map_or("", FileFormat::as_str),
                    serde_json::json!(item.keys)
                ),
            };
            entries.push((format!("template:{}", item.target_key.trim()), value.into_bytes()));
        }
    }
    if !entries.is_empty() {
        entries.push(("engine".to_owned(), ENGINE.as_bytes().to_vec()));
    }
    entries
}

#[cfg(test)]
mod tests;
