//! `secretObject.dataFrom[]` (docs/API.md#shaping): ESO's `extract`. A JSON object (the file's, or the one at a
//! property) becomes one value per top-level key, as ESO's `getSecretMapMap` does: a string as its text, any other
//! value as its JSON text.

use std::collections::BTreeMap;

use serde_json::value::RawValue;

use crate::json::{self, Kind};
use crate::path::{self, Path, PropertyError};

#[cfg(test)]
mod tests;

/// The longest Secret key.
const MAX_KEY_LEN: usize = 253;

/// The values of the object in `doc` (or at `at` in it), sorted by key. Of duplicate keys the last wins, as with
/// Go's `json.Unmarshal` into a map. A key that cannot be a Secret key (`^[-._a-zA-Z0-9]+$`, at most 253 bytes) is
/// an error naming its position, never its text: the keys are vault content.
///
/// As in ESO, where `at` finds a string, that string's text is read as the object.
pub fn extract(doc: &[u8], at: Option<&Path>) -> Result<Vec<(String, Vec<u8>)>, PropertyError> {
    let root = path::parse(doc)?;
    let label = at.map(|p| p.as_str().to_owned());
    let value = match at {
        Some(property) => property.find(root)?,
        None => root,
    };
    match json::kind(value) {
        Kind::Object => spread(value, &label),
        Kind::String => {
            // ESO writes the property's value as text, then unmarshals that text.
            let text = json::written(value);
            match serde_json::from_str::<&RawValue>(&text) {
                Ok(inner) if json::kind(inner) == Kind::Object => spread(inner, &label),
                _ => Err(PropertyError::NotObject {
                    path: label,
                    kind: Kind::String.article(),
                }),
            }
        }
        other => Err(PropertyError::NotObject {
            path: label,
            kind: other.article(),
        }),
    }
}

/// One value per member of an object.
fn spread(object: &RawValue, label: &Option<String>) -> Result<Vec<(String, Vec<u8>)>, PropertyError> {
    let members = json::members(object).map_err(|_| PropertyError::KeyNotUnicode { path: label.clone() })?;
    let mut values = BTreeMap::new();
    for (i, (key, value)) in members.into_iter().enumerate() {
        if !is_secret_key(&key) {
            return Err(PropertyError::BadKey {
                path: label.clone(),
                position: i + 1,
            });
        }
        let bytes = match json::kind(value) {
            Kind::String => json::unquote(value.get()),
            _ => value.get().to_owned(),
        };
        values.insert(key, bytes.into_bytes());
    }
    Ok(values.into_iter().collect())
}

/// Whether a text can be a key of a Secret's `data`.
pub fn is_secret_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= MAX_KEY_LEN
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
}
