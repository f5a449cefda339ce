//! One object of a collection and its versions, oldest first, with the attributes every version has.

use std::collections::BTreeMap;

/// Attributes common to all object versions.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Attrs {
    pub(crate) enabled: bool,
    pub(crate) nbf: Option<i64>,
    pub(crate) exp: Option<i64>,
    pub(crate) created: i64,
    pub(crate) updated: i64,
}

impl Attrs {
    /// Attributes of a version created (and last updated) at `created`.
    pub(super) fn new(enabled: bool, nbf: Option<i64>, exp: Option<i64>, created: i64) -> Self {
        Self {
            enabled,
            nbf,
            exp,
            created,
            updated: created,
        }
    }
}

/// One version of an object.
#[derive(Clone, Debug)]
pub(crate) struct Version<T> {
    pub(crate) id: String,
    pub(crate) attrs: Attrs,
    pub(crate) tags: BTreeMap<String, String>,
    pub(crate) data: T,
}

impl<T> Version<T> {
    /// A version without tags.
    pub(super) fn new(id: &str, attrs: Attrs, data: T) -> Self {
        Self {
            id: id.to_string(),
            attrs,
            tags: BTreeMap::new(),
            data,
        }
    }
}

/// A named object and its versions, oldest first.
#[derive(Clone, Debug)]
pub(crate) struct Object<T> {
    pub(crate) name: String,
    pub(crate) versions: Vec<Version<T>>,
}

impl<T> Object<T> {
    pub(super) fn new(name: &str) -> Self {
        Self {
            name: name.to_string(),
            versions: Vec::new(),
        }
    }

    /// The latest version, or the version named (case-insensitively).
    pub(crate) fn find(&self, version: Option<&str>) -> Option<&Version<T>> {
        match version {
            None => self.versions.last(),
            Some(v) => self.versions.iter().find(|x| x.id.eq_ignore_ascii_case(v)),
        }
    }

    pub(crate) fn find_mut(&mut self, version: Option<&str>) -> Option<&mut Version<T>> {
        match version {
            None => self.versions.last_mut(),
            Some(v) => self.versions.iter_mut().find(|x| x.id.eq_ignore_ascii_case(v)),
        }
    }

    /// `created` for the next version: strictly after the previous one.
    pub(super) fn next_created(&self, now: i64) -> i64 {
        match self.versions.last() {
            Some(last) => now.max(last.attrs.created + 1),
            None => now,
        }
    }
}

/// The object `name` of a collection (keyed by lowercase name), created empty if new.
pub(super) fn object_mut<'a, T>(
    objects: &'a mut BTreeMap<String, Object<T>>,
    name: &str,
) -> &'a mut Object<T> {
    objects
        .entry(name.to_ascii_lowercase())
        .or_insert_with(|| Object::new(name))
}
