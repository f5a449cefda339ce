//! `template.data[].format` (docs/API.md#shaping): a whole file of several values, without a template.
//!
//! * `env`: `NAME=value` lines. A name matches `[A-Za-z_][A-Za-z0-9_]*`. A value made only of
//!   `[A-Za-z0-9_./:@+=,-]` is written bare, anything else double-quoted with `\\`, `\"`, `\n`, `\$` and `` \` ``
//!   escapes (so a shell that sources the file expands nothing).
//! * `properties`: `key=value` lines escaped as Java's `Properties.store` does, non-ASCII as `\uXXXX`, without
//!   its date comment.
//! * `json`: one compact object of strings.
//! * `yaml`: one mapping of strings (serde_yaml_ng quotes what YAML would read as another type).
//!
//! Entries are written in the order given (the caller sorts). A value that is not UTF-8 is an error naming its key,
//! never its bytes.

use std::fmt::Write as _;

use serde::ser::{Serialize, SerializeMap, Serializer};

#[cfg(test)]
mod tests;

/// A file format: the CRD's own type, so the spec's value is used as it is.
pub use sse_api::FileFormat as Format;
/// A name that is not a format.
pub use sse_api::secret_sync::UnknownFormat;

/// Why a file could not be written. Messages name the format and a key (a name, as the Secret's keys are),
/// never a value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    /// A value is not UTF-8 text.
    #[error("{format}: the value of {key:?} is not UTF-8 text")]
    NotUtf8 {
        /// The format.
        format: Format,
        /// The value's key.
        key: String,
    },
    /// An env file name that a shell would refuse.
    #[error("env: {key:?} is not a valid name (names match [A-Za-z_][A-Za-z0-9_]*)")]
    EnvName {
        /// The name.
        key: String,
    },
    /// The same key twice.
    #[error("{format}: {key:?} is given twice")]
    Duplicate {
        /// The format.
        format: Format,
        /// The key.
        key: String,
    },
    /// serde_yaml_ng refused the mapping (it does not for strings; kept value-free if it ever does).
    #[error("{format}: the values could not be written")]
    Serialize {
        /// The format.
        format: Format,
    },
}

/// Writes the entries as one file of `format`.
pub fn write(format: Format, entries: &[(&str, &[u8])]) -> Result<Vec<u8>, FormatError> {
    let mut texts: Vec<(&str, &str)> = Vec::with_capacity(entries.len());
    for (key, value) in entries {
        if texts.iter().any(|(seen, _)| seen == key) {
            return Err(FormatError::Duplicate {
                format,
                key: (*key).to_owned(),
            });
        }
        let text = std::str::from_utf8(value).map_err(|_| FormatError::NotUtf8 {
            format,
            key: (*key).to_owned(),
        })?;
        texts.push((key, text));
    }
    match format {
        Format::Env => env(&texts),
        Format::Properties => Ok(properties(&texts)),
        Format::Json => serde_json::to_vec(&Ordered(&texts)).map_err(|_| FormatError::Serialize { format }),
        Format::Yaml => serde_yaml_ng::to_string(&Ordered(&texts))
            .map(String::into_bytes)
            .map_err(|_| FormatError::Serialize { format }),
    }
}

/// Entries serialized as a map, in their order.
struct Ordered<'a>(&'a [(&'a str, &'a str)]);

impl Serialize for Ordered<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (key, value) in self.0 {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

/// Whether a text is an env file name.
pub fn is_env_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b'A'..=b'Z' | b'a'..=b'z' | b'_'))
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// An env file.
fn env(entries: &[(&str, &str)]) -> Result<Vec<u8>, FormatError> {
    let mut out = String::new();
    for (key, value) in entries {
        if !is_env_name(key) {
            return Err(FormatError::EnvName {
                key: (*key).to_owned(),
            });
        }
        out.push_str(key);
        out.push('=');
        let bare = value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_./:@+=,-".contains(&b));
        if bare {
            out.push_str(value);
        } else {
            out.push('"');
            for c in value.chars() {
                match c {
                    '\\' => out.push_str("\\\\"),
                    '"' => out.push_str("\\\""),
                    '\n' => out.push_str("\\n"),
                    '$' => out.push_str("\\$"),
                    '`' => out.push_str("\\`"),
                    c => out.push(c),
                }
            }
            out.push('"');
        }
        out.push('\n');
    }
    Ok(out.into_bytes())
}

/// A `.properties` file, as Java's `Properties.store` writes it (without the date comment).
fn properties(entries: &[(&str, &str)]) -> Vec<u8> {
    let mut out = String::new();
    for (key, value) in entries {
        java_escape(&mut out, key, true);
        out.push('=');
        java_escape(&mut out, value, false);
        out.push('\n');
    }
    out.into_bytes()
}

/// Java's `Properties.saveConvert` with `escapeUnicode`: spaces are escaped everywhere in a key and only first in
/// a value; `\t \n \r \f` by name; `= : # !` with a backslash; anything outside 0x20–0x7E as UTF-16 `\uXXXX`.
fn java_escape(out: &mut String, text: &str, key: bool) {
    for (i, c) in text.chars().enumerate() {
        match c {
            ' ' if key || i == 0 => out.push_str("\\ "),
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\u{c}' => out.push_str("\\f"),
            '=' | ':' | '#' | '!' => {
                out.push('\\');
                out.push(c);
            }
            ' '..='~' => out.push(c),
            c => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{unit:04X}");
                }
            }
        }
    }
}
