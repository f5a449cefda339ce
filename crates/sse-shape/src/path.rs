//! The property path of `secretObject.data[].property` and `dataFrom[].property` (docs/API.md#shaping): the subset
//! of gjson that ESO users write in `remoteRef.property`, so their lines carry over verbatim.
//!
//! `path = seg ("." seg)*`. A segment is one or more characters, each either unescaped (anything but `.`, `\` and
//! gjson's metacharacters [`METACHARACTERS`]) or `\` followed by any character but a line break. A segment of digits
//! indexes an array, and on an object it is a key, as in gjson. When a path of several segments does not resolve,
//! it is tried once more as one literal top-level key (ESO's `getProperty`: `tls.min` finds `{"tls.min": …}`).
//!
//! The value found is written as gjson's `Result.String()`: a string as its text, an integer as its JSON text, any
//! other number as its shortest decimal, `true`/`false`, `null` as nothing, an object or array as its exact JSON
//! text.

use std::fmt;

use serde_json::value::RawValue;

use crate::json::{Kind, elements, kind, members, written};

#[cfg(test)]
mod tests;

/// The schema pattern of a property (RE2, so the API server checks it without CEL cost). It accepts exactly what
/// [`Path::parse`] accepts, length aside ([`MAX_LEN`] is the schema's `maxLength`).
pub const PATH_PATTERN: &str = r"^([^.\\*?#@|!=<>%()\[\]{}]|\\.)+(\.([^.\\*?#@|!=<>%()\[\]{}]|\\.)+)*$";

/// The longest property, in bytes (the schema's `maxLength`).
pub const MAX_LEN: usize = 253;

/// gjson's metacharacters: wildcards, queries, modifiers, pipes and multipaths. A path may hold them only escaped.
pub const METACHARACTERS: &[char] = &[
    '*', '?', '#', '@', '|', '!', '=', '<', '>', '%', '(', ')', '[', ']', '{', '}',
];

/// A parsed property path. Its text is spec text, so it may appear in messages; what it finds never does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Path {
    text: String,
    segments: Vec<Segment>,
}

/// One segment: where it ends in the path's text (so messages quote the path as written) and the key it names.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Segment {
    start: usize,
    end: usize,
    key: String,
}

/// Why a text is not a property path. Every message quotes the path, which is spec text.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// The path is empty.
    #[error("property is empty")]
    Empty,
    /// The path is longer than [`MAX_LEN`] bytes.
    #[error("property is {len} bytes long, more than {MAX_LEN}")]
    TooLong {
        /// The path's length in bytes.
        len: usize,
    },
    /// A segment is empty: a leading, trailing or doubled `.`.
    #[error("property {path}: empty segment at column {column} (a leading, trailing or doubled \".\")")]
    EmptySegment {
        /// The path as written.
        path: String,
        /// 1-based character column of the empty segment.
        column: usize,
    },
    /// An unescaped gjson metacharacter.
    #[error(
        "property {path}: {character:?} at column {column} is gjson {what}, which is not supported (write \\{character} for a literal {character:?})"
    )]
    Metacharacter {
        /// The path as written.
        path: String,
        /// The metacharacter.
        character: char,
        /// 1-based character column.
        column: usize,
        /// What gjson makes of it.
        what: &'static str,
    },
    /// A `\` at the end of the path, or before a line break.
    #[error(
        "property {path}: the \\ at column {column} escapes nothing (it ends the path or precedes a line break)"
    )]
    DanglingEscape {
        /// The path as written.
        path: String,
        /// 1-based character column of the `\`.
        column: usize,
    },
}

/// Why a property (or an extract) found no value. Messages name the path, which is spec text, and the shape of the
/// document (kinds, item counts, positions), never a value or a key of the document.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PropertyError {
    /// The file is not JSON. Only the position is kept: a parser's message may quote the text.
    #[error("is not JSON (line {line}, column {column})")]
    NotJson {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
    },
    /// An object on the path has no such key.
    #[error("property {path}: {} has no key \"{key}\"", Place(.at))]
    NoKey {
        /// The path as written.
        path: String,
        /// The path up to the object, as written (`None`: the top level).
        at: Option<String>,
        /// The segment, as written.
        key: String,
    },
    /// An array on the path is shorter than the index.
    #[error("property {path}: {} has {items} item{}", Place(.at), if *.items == 1 { "" } else { "s" })]
    NoItem {
        /// The path as written.
        path: String,
        /// The path up to the array, as written (`None`: the top level).
        at: Option<String>,
        /// How many items the array has.
        items: usize,
    },
    /// An array on the path, and a segment that is not an index.
    #[error("property {path}: {} is an array, and \"{key}\" is not an index", Place(.at))]
    NotIndex {
        /// The path as written.
        path: String,
        /// The path up to the array, as written (`None`: the top level).
        at: Option<String>,
        /// The segment, as written.
        key: String,
    },
    /// A value on the path is neither an object nor an array.
    #[error("property {path}: {} is {kind}, not an object or an array", Place(.at))]
    NotContainer {
        /// The path as written.
        path: String,
        /// The path up to the value, as written (`None`: the top level).
        at: Option<String>,
        /// The value's kind ("a string", "a number", …).
        kind: &'static str,
    },
    /// An extract's value is not a JSON object.
    #[error("{}not a JSON object (it is {kind})", Prefix(.path))]
    NotObject {
        /// The extract's path as written (`None`: the whole file).
        path: Option<String>,
        /// The value's kind ("an array", …).
        kind: &'static str,
    },
    /// An extracted key cannot be a Secret key. Named by its position: JSON keys are vault content.
    #[error("{}the {} key cannot be a Secret key (one to 253 of -._a-zA-Z0-9)", Prefix(.path), Ordinal(*.position))]
    BadKey {
        /// The extract's path as written (`None`: the whole file).
        path: Option<String>,
        /// 1-based position of the key in the object, in the file's order.
        position: usize,
    },
    /// A key of an object holds a `\u` escape that is not Unicode (a lone surrogate).
    #[error("{}an object key is not valid Unicode (a lone surrogate escape)", Prefix(.path))]
    KeyNotUnicode {
        /// The path as written (`None`: the whole file).
        path: Option<String>,
    },
}

/// `"primary"` or `the top level`.
struct Place<'a>(&'a Option<String>);

impl fmt::Display for Place<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(at) => write!(f, "\"{at}\""),
            None => f.write_str("the top level"),
        }
    }
}

/// `property <path>: ` or nothing.
struct Prefix<'a>(&'a Option<String>);

impl fmt::Display for Prefix<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(path) => write!(f, "property {path}: "),
            None => Ok(()),
        }
    }
}

/// `1st`, `2nd`, `3rd`, `4th`, `11th`, `21st`, ….
pub(crate) struct Ordinal(pub(crate) usize);

impl fmt::Display for Ordinal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0;
        let suffix = match (n % 10, n % 100) {
            (_, 11..=13) => "th",
            (1, _) => "st",
            (2, _) => "nd",
            (3, _) => "rd",
            _ => "th",
        };
        write!(f, "{n}{suffix}")
    }
}

/// What gjson makes of a metacharacter, for [`PathError::Metacharacter`].
fn metacharacter(c: char) -> Option<&'static str> {
    Some(match c {
        '*' | '?' => "a wildcard",
        '#' => "an array count or query",
        '@' => "a modifier",
        '|' => "a pipe",
        '!' => "a literal",
        '=' | '<' | '>' | '%' => "a query operator",
        '(' | ')' | '[' | ']' | '{' | '}' => "a query or multipath bracket",
        _ => return None,
    })
}

impl Path {
    /// Parses a property path (the grammar in the module's documentation).
    pub fn parse(text: &str) -> Result<Path, PathError> {
        if text.is_empty() {
            return Err(PathError::Empty);
        }
        if text.len() > MAX_LEN {
            return Err(PathError::TooLong { len: text.len() });
        }
        let mut segments = Vec::new();
        let mut key = String::new();
        let mut start = 0;
        let mut chars = text.char_indices().enumerate().peekable();
        while let Some((column0, (at, c))) = chars.next() {
            let column = column0 + 1;
            match c {
                '.' => {
                    if at == start {
                        return Err(PathError::EmptySegment {
                            path: text.to_owned(),
                            column,
                        });
                    }
                    segments.push(Segment {
                        start,
                        end: at,
                        key: std::mem::take(&mut key),
                    });
                    start = at + 1;
                }
                '\\' => match chars.next() {
                    Some((_, (_, escaped))) if escaped != '\n' => key.push(escaped),
                    _ => {
                        return Err(PathError::DanglingEscape {
                            path: text.to_owned(),
                            column,
                        });
                    }
                },
                c => {
                    if let Some(what) = metacharacter(c) {
                        return Err(PathError::Metacharacter {
                            path: text.to_owned(),
                            character: c,
                            column,
                            what,
                        });
                    }
                    key.push(c);
                }
            }
        }
        if start == text.len() {
            let column = text.chars().count() + 1;
            return Err(PathError::EmptySegment {
                path: text.to_owned(),
                column,
            });
        }
        segments.push(Segment {
            start,
            end: text.len(),
            key,
        });
        Ok(Path {
            text: text.to_owned(),
            segments,
        })
    }

    /// The path as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The value at this path in a JSON document, written as gjson's `Result.String()` (the module's
    /// documentation), with ESO's one-literal-key fallback.
    pub fn lookup(&self, doc: &[u8]) -> Result<Vec<u8>, PropertyError> {
        let root = parse(doc)?;
        self.find(root).map(|value| written(value).into_bytes())
    }

    /// The raw value at this path, with the fallback.
    pub(crate) fn find<'a>(&self, root: &'a RawValue) -> Result<&'a RawValue, PropertyError> {
        match self.walk(root) {
            Ok(value) => Ok(value),
            Err(miss) if self.segments.len() > 1 => {
                let whole = self
                    .segments
                    .iter()
                    .map(|s| s.key.as_str())
                    .collect::<Vec<_>>()
                    .join(".");
                if root.get().starts_with('{')
                    && let Some(value) = self.member(root, &whole)?
                {
                    return Ok(value);
                }
                Err(miss)
            }
            Err(miss) => Err(miss),
        }
    }

    /// Follows the segments one by one.
    fn walk<'a>(&self, root: &'a RawValue) -> Result<&'a RawValue, PropertyError> {
        let mut current = root;
        for (i, segment) in self.segments.iter().enumerate() {
            let at = (i > 0).then(|| self.text[..self.segments[i - 1].end].to_owned());
            let written = &self.text[segment.start..segment.end];
            current = match kind(current) {
                Kind::Object => self
                    .member(current, &segment.key)?
                    .ok_or_else(|| PropertyError::NoKey {
                        path: self.text.clone(),
                        at,
                        key: written.to_owned(),
                    })?,
                Kind::Array => {
                    let items = elements(current).map_err(|_| not_json_inside())?;
                    if segment.key.is_empty() || !segment.key.bytes().all(|b| b.is_ascii_digit()) {
                        return Err(PropertyError::NotIndex {
                            path: self.text.clone(),
                            at,
                            key: written.to_owned(),
                        });
                    }
                    let found = segment
                        .key
                        .parse::<usize>()
                        .ok()
                        .and_then(|index| items.get(index).copied());
                    found.ok_or(PropertyError::NoItem {
                        path: self.text.clone(),
                        at,
                        items: items.len(),
                    })?
                }
                other => {
                    return Err(PropertyError::NotContainer {
                        path: self.text.clone(),
                        at,
                        kind: other.article(),
                    });
                }
            };
        }
        Ok(current)
    }

    /// The first member named `key` of an object (gjson takes the first of duplicates).
    fn member<'a>(&self, object: &'a RawValue, key: &str) -> Result<Option<&'a RawValue>, PropertyError> {
        let entries = members(object).map_err(|_| PropertyError::KeyNotUnicode {
            path: Some(self.text.clone()),
        })?;
        Ok(entries
            .into_iter()
            .find(|(name, _)| name == key)
            .map(|(_, value)| value))
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Parses a document, keeping only the error's position.
pub(crate) fn parse(doc: &[u8]) -> Result<&RawValue, PropertyError> {
    serde_json::from_slice::<&RawValue>(doc).map_err(|e| PropertyError::NotJson {
        line: e.line(),
        column: e.column(),
    })
}

/// A value inside a document that already parsed failed to parse again: it cannot happen, and the message
/// stays value-free if it does.
fn not_json_inside() -> PropertyError {
    PropertyError::NotJson { line: 0, column: 0 }
}
