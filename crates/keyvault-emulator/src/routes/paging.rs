//! Lists and paging: `maxresults`, an opaque `$skiptoken` and absolute `nextLink`s.

use std::collections::BTreeMap;

use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};

use super::Ctx;
use super::responses::{b64url, bad_parameter, object_id, ok};
use crate::store::{Object, Version};

/// Page size when `maxresults` is absent (also the maximum).
const DEFAULT_PAGE: usize = 25;

/// How a collection lists: its path segment, the member that holds an item's id (`kid` for keys), and the
/// members an item shares with the object's bundle.
pub(super) struct Listing<T> {
    collection: &'static str,
    id_member: &'static str,
    fields: fn(&Version<T>) -> Map<String, Value>,
}

impl<T> Listing<T> {
    pub(super) const fn new(
        collection: &'static str,
        id_member: &'static str,
        fields: fn(&Version<T>) -> Map<String, Value>,
    ) -> Self {
        Self {
            collection,
            id_member,
            fields,
        }
    }

    /// A list item: the shared members and the id (with the version only when listing versions).
    fn item(&self, base: &str, o: &Object<T>, v: &Version<T>, versioned: bool) -> Value {
        let mut m = (self.fields)(v);
        let id = object_id(base, self.collection, &o.name, versioned.then_some(&v.id));
        m.insert(self.id_member.into(), json!(id));
        Value::Object(m)
    }
}

/// All versions of one object, newest first. An unknown name lists nothing (200, empty `value`).
pub(super) fn list_versions<T>(ctx: &Ctx, object: Option<&Object<T>>, listing: &Listing<T>) -> Response {
    let items: Vec<Value> = object
        .map(|o| {
            o.versions
                .iter()
                .rev()
                .map(|v| listing.item(&ctx.base, o, v, true))
                .collect()
        })
        .unwrap_or_default();
    let collection = listing.collection;
    let path = match object {
        Some(o) => format!("/{collection}/{}/versions", o.name),
        None => format!("/{collection}/unknown/versions"),
    };
    page(ctx, items, &path)
}

/// One entry per object (its latest version), by name.
pub(super) fn list<T>(ctx: &Ctx, objects: &BTreeMap<String, Object<T>>, listing: &Listing<T>) -> Response {
    let items: Vec<Value> = objects
        .values()
        .filter_map(|o| o.versions.last().map(|v| listing.item(&ctx.base, o, v, false)))
        .collect();
    page(ctx, items, &format!("/{}", listing.collection))
}

/// Slice `items` by `maxresults` / `$skiptoken` and add an absolute `nextLink` when more remain.
fn page(ctx: &Ctx, items: Vec<Value>, path: &str) -> Response {
    let max = match ctx.query.get("maxresults") {
        None => DEFAULT_PAGE,
        Some(s) => match s.parse::<usize>() {
            Ok(n) if (1..=DEFAULT_PAGE).contains(&n) => n,
            _ => {
                return bad_parameter(&format!(
                    "Invalid value '{s}' for 'maxresults'. Valid values are 1 - {DEFAULT_PAGE}."
                ));
            }
        },
    };
    let offset = match ctx.query.get("$skiptoken") {
        None => 0,
        Some(token) => match decode_skiptoken(token) {
            Some(n) => n,
            None => return bad_parameter("The $skiptoken is invalid."),
        },
    };
    let end = offset.saturating_add(max).min(items.len());
    let next_link = (end < items.len()).then(|| {
        format!(
            "{}{path}?api-version={}&$skiptoken={}&maxresults={max}",
            ctx.base,
            ctx.api_version,
            encode_skiptoken(end)
        )
    });
    let value: Vec<Value> = items.into_iter().skip(offset).take(max).collect();
    ok(json!({"value": value, "nextLink": next_link}))
}

/// Opaque like the real service's: base64url of a small JSON document.
pub(super) fn encode_skiptoken(offset: usize) -> String {
    b64url(
        json!({"NextMarker": format!("emu!{offset}")})
            .to_string()
            .as_bytes(),
    )
}

pub(super) fn decode_skiptoken(token: &str) -> Option<usize> {
    let bytes = URL_SAFE_NO_PAD.decode(token.trim_end_matches('=')).ok()?;
    let doc: Value = serde_json::from_slice(&bytes).ok()?;
    doc.get("NextMarker")?
        .as_str()?
        .strip_prefix("emu!")?
        .parse()
        .ok()
}
