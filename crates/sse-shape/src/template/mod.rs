//! A bounded subset of Go's `text/template` (docs/API.md#shaping): the language Helm, ESO and VSO users write,
//! with Go's semantics wherever it is supported and a named refusal, when parsing, wherever it is not.
//! Sub-templates, methods and functions whose output depends on anything but their arguments do not exist.

mod ast;
mod control;
mod eval;
mod lex;
mod parse;
pub(crate) mod value;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::Values;
use crate::limits::{Budget, MAX_TEXT};
use value::{Map, Value};

/// One parsed template.
pub struct Template {
    name: String,
    text: String,
    list: Vec<ast::Node>,
    inputs: Inputs,
}

/// Which root values a template reads, known when parsing: the names of `.x`, `$.x` and `index . "x"`, or all
/// of them when it ranges over `.`, passes `.` or `$` whole, or indexes `.` with a computed key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inputs {
    /// Only these names.
    Named(BTreeSet<String>),
    /// Any of them.
    All,
}

/// What kind of failure a [`TemplateError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The text is not a template.
    Syntax,
    /// The text uses something this engine does not offer (a sub-template, a method, an unknown or refused
    /// function).
    Refused,
    /// Rendering failed: a missing name, a wrong argument, a function's input.
    Render,
    /// Rendering ran out of steps or bytes, or the output is too large.
    Limit,
}

/// Why a template did not parse or render. Its text names only what the template's text names (functions,
/// fields, variables) and the root values' names: never a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("template {template}: line {line}, column {column}: {what}")]
pub struct TemplateError {
    /// The template's name (the Secret key it writes), shortened past 64 characters.
    pub template: String,
    /// 1-based line of the failing construct.
    pub line: u32,
    /// 1-based column (in characters) of the failing construct.
    pub column: u32,
    /// What kind of failure.
    pub kind: ErrorKind,
    /// What failed, at most 400 bytes.
    pub what: String,
}

/// Longest message part kept; Display stays within 512 bytes.
const MAX_WHAT: usize = 400;

/// A name from the template's text, quoted, cut to 64 characters.
pub(crate) fn quote_name(name: &str) -> String {
    format!("{:?}", shorten(name))
}

fn shorten(name: &str) -> String {
    if name.chars().count() <= 64 {
        return name.to_owned();
    }
    let cut: String = name.chars().take(61).collect();
    format!("{cut}...")
}

impl Template {
    /// Parses `text` as the template that writes the Secret key `name`. Every refusal happens here.
    pub fn parse(name: &str, text: &str) -> Result<Template, TemplateError> {
        let fail = |pos: usize, kind: ErrorKind, what: String| error(name, text, pos, kind, what);
        if text.len() > MAX_TEXT {
            return Err(fail(
                0,
                ErrorKind::Refused,
                format!("the text is longer than {MAX_TEXT} bytes"),
            ));
        }
        let tokens = lex::lex(text).map_err(|e| fail(e.pos, ErrorKind::Syntax, e.what))?;
        let parsed = parse::parse(tokens).map_err(|e| fail(e.pos, e.kind, e.what))?;
        let inputs = if parsed.all {
            Inputs::All
        } else {
            Inputs::Named(parsed.names)
        };
        Ok(Template {
            name: name.to_owned(),
            text: text.to_owned(),
            list: parsed.list,
            inputs,
        })
    }

    /// The name it was parsed with.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Which root values it reads.
    pub fn inputs(&self) -> Inputs {
        self.inputs.clone()
    }

    /// Renders over `values`, drawing on `budget` (shared by every template of one SecretSync). An error about a
    /// missing name lists the values' names.
    pub fn render(&self, values: &Values, budget: &mut Budget) -> Result<Vec<u8>, TemplateError> {
        self.render_inner(values, None, budget)
    }

    /// As [`Template::render`], but an error about a missing name lists only the names in `listed` (those the
    /// spec names); the others (keys an `extract` spread out of a vault value) are counted, not named.
    pub fn render_listing(
        &self,
        values: &Values,
        listed: &BTreeSet<String>,
        budget: &mut Budget,
    ) -> Result<Vec<u8>, TemplateError> {
        self.render_inner(values, Some(listed), budget)
    }

    fn render_inner(
        &self,
        values: &Values,
        listed: Option<&BTreeSet<String>>,
        budget: &mut Budget,
    ) -> Result<Vec<u8>, TemplateError> {
        self.render_root(&Root::new(values, listed), budget)
    }

    /// Renders over a [`Root`] built once for every template of one render (building it copies each value).
    pub fn render_root(&self, root: &Root, budget: &mut Budget) -> Result<Vec<u8>, TemplateError> {
        let names: Vec<&str> = root.names.iter().map(String::as_str).collect();
        eval::render(&self.list, root.value.clone(), (&names, root.unlisted), budget)
            .map_err(|e| error(&self.name, &self.text, e.pos, e.kind, e.what))
    }
}

/// The root `.` of the templates of one render: the values, and the names an error about a missing one may list.
pub struct Root {
    value: Value,
    names: Vec<String>,
    unlisted: usize,
}

impl Root {
    /// The root over `values`; an error lists the names in `listed` (all when `None`) and counts the others.
    pub fn new(values: &Values, listed: Option<&BTreeSet<String>>) -> Root {
        let entries: BTreeMap<Vec<u8>, Value> = values
            .iter()
            .map(|(k, v)| (k.clone().into_bytes(), Value::Str(Arc::from(v.as_slice()))))
            .collect();
        let value = Value::Map(Arc::new(Map {
            entries,
            strings: true,
            depth: 1,
        }));
        let names: Vec<String> = values
            .keys()
            .filter(|k| listed.is_none_or(|l| l.contains(*k)))
            .cloned()
            .collect();
        let unlisted = values.len() - names.len();
        Root {
            value,
            names,
            unlisted,
        }
    }
}

fn error(name: &str, text: &str, pos: usize, kind: ErrorKind, mut what: String) -> TemplateError {
    let pos = pos.min(text.len());
    let before = text.get(..pos).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    if what.len() > MAX_WHAT {
        let mut cut = MAX_WHAT - 3;
        while !what.is_char_boundary(cut) {
            cut -= 1;
        }
        what.truncate(cut);
        what.push_str("...");
    }
    TemplateError {
        template: shorten(name),
        line: u32::try_from(line).unwrap_or(u32::MAX),
        column: u32::try_from(column).unwrap_or(u32::MAX),
        kind,
        what,
    }
}

#[cfg(test)]
pub(crate) mod tests;
