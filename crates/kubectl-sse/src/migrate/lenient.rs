//! Typed reads of objects given as JSON, as forgiving as reading them by JSON pointer: a field of another
//! shape than the one read (a number where a string is read, a list where an object is) counts as absent,
//! and unknown fields are ignored. A partial type is `#[serde(default)]` and names one of these helpers on
//! each field (`#[serde(deserialize_with = …)]`), so reading it never fails.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde::de::{DeserializeOwned, Deserializer};
use serde_json::Value;

/// A partial type read from `value`: `T::default()` unless `value` is an object.
pub(super) fn read<T: DeserializeOwned + Default>(value: &Value) -> T {
    if value.is_object() {
        T::deserialize(value).unwrap_or_default()
    } else {
        T::default()
    }
}

/// A nested object, read as [`read`] does.
pub(super) fn object<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned + Default,
{
    Ok(read(&Value::deserialize(deserializer)?))
}

/// A nested object that is there whatever its value (`null`, or another shape, reads as `T::default()`).
pub(super) fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned + Default,
{
    Ok(Some(read(&Value::deserialize(deserializer)?)))
}

/// A field that is there whatever its value (`null` too), as it is.
pub(super) fn any<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(deserializer).map(Some)
}

/// A string, trimmed; `None` when it is empty or not a string.
pub(super) fn text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    Ok(Value::deserialize(deserializer)?
        .as_str()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string))
}

/// A boolean; `None` when it is not one.
pub(super) fn boolean<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<bool>, D::Error> {
    Ok(Value::deserialize(deserializer)?.as_bool())
}

/// A list of objects, each read as [`read`] does (an item of another shape is `T::default()`, and keeps
/// its index); empty when it is not a list.
pub(super) fn list<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned + Default,
{
    Ok(match Value::deserialize(deserializer)? {
        Value::Array(items) => items.iter().map(read).collect(),
        _ => Vec::new(),
    })
}

/// The strings of a list, as they are (other items left out); empty when it is not a list.
pub(super) fn strings<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    Ok(match Value::deserialize(deserializer)? {
        Value::Array(items) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    })
}

/// The entries of an object whose values are strings (labels, annotations), as they are; empty when it is
/// not an object.
pub(super) fn string_map<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    Ok(match Value::deserialize(deserializer)? {
        Value::Object(entries) => entries
            .iter()
            .filter_map(|(key, value)| Some((key.clone(), value.as_str()?.to_string())))
            .collect(),
        _ => BTreeMap::new(),
    })
}

/// The kind and metadata of any object.
#[derive(Deserialize, Debug, Default)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct Head {
    #[serde(deserialize_with = "text")]
    pub(super) api_version: Option<String>,
    #[serde(deserialize_with = "text")]
    pub(super) kind: Option<String>,
    #[serde(deserialize_with = "object")]
    pub(super) metadata: Metadata,
}

/// The metadata migrate reads.
#[derive(Deserialize, Debug, Default)]
#[serde(default)]
pub(super) struct Metadata {
    #[serde(deserialize_with = "text")]
    pub(super) name: Option<String>,
    #[serde(deserialize_with = "text")]
    pub(super) namespace: Option<String>,
    #[serde(deserialize_with = "string_map")]
    pub(super) annotations: BTreeMap<String, String>,
}

impl Metadata {
    /// The metadata of `object`.
    pub(super) fn of(object: &Value) -> Self {
        read::<Head>(object).metadata
    }

    /// An annotation, trimmed and non-empty.
    pub(super) fn annotation(&self, key: &str) -> Option<String> {
        self.annotations
            .get(key)
            .map(|value| value.trim())
            .filter(|value| !value.is_empty())
            .map(str::to_string)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[derive(Deserialize, Debug, Default, PartialEq)]
    #[serde(default)]
    struct Sample {
        #[serde(deserialize_with = "text")]
        name: Option<String>,
        #[serde(deserialize_with = "boolean")]
        flag: Option<bool>,
        #[serde(deserialize_with = "object")]
        inner: Inner,
        #[serde(deserialize_with = "present")]
        there: Option<Inner>,
        #[serde(deserialize_with = "any")]
        raw: Option<Value>,
        #[serde(deserialize_with = "list")]
        items: Vec<Inner>,
        #[serde(deserialize_with = "strings")]
        words: Vec<String>,
        #[serde(deserialize_with = "string_map")]
        labels: BTreeMap<String, String>,
    }

    #[derive(Deserialize, Debug, Default, PartialEq)]
    #[serde(default)]
    struct Inner {
        #[serde(deserialize_with = "text")]
        name: Option<String>,
    }

    fn inner(name: Option<&str>) -> Inner {
        Inner {
            name: name.map(str::to_string),
        }
    }

    #[test]
    fn a_field_of_another_shape_is_absent() {
        let sample: Sample = read(&json!({
            "name": 5,
            "flag": "true",
            "inner": ["x"],
            "there": null,
            "raw": null,
            "items": [{"name": " a "}, "b", null, {"name": " "}],
            "words": ["a", 1, "", null],
            "labels": {"a": "b", "c": 1},
            "unknown": {"x": 1},
        }));
        assert_eq!(
            sample,
            Sample {
                name: None,
                flag: None,
                inner: inner(None),
                there: Some(inner(None)),
                raw: Some(Value::Null),
                items: vec![inner(Some("a")), inner(None), inner(None), inner(None)],
                words: vec!["a".to_string(), String::new()],
                labels: BTreeMap::from([("a".to_string(), "b".to_string())]),
            },
            "a list is not read as an object by position; null is there; items keep their index"
        );
        assert_eq!(read::<Sample>(&json!(["x", true])), Sample::default());
        assert_eq!(read::<Sample>(&json!("x")), Sample::default());
        assert_eq!(read::<Sample>(&json!({})), Sample::default());
    }
}
