//! ESO's JSON properties and `extract` carried over as SecretSync shaping (docs/API.md#shaping):
//! `remoteRef.property` → `data[].property` (the same text: SSE-rs reads the same gjson paths, less wildcards,
//! queries and modifiers), `dataFrom[].extract` → `dataFrom[]`, and `objectFormat: pfx` for the secrets a
//! template opens with `pkcs12cert`/`pkcs12key`.

use serde_json::Value;
use sse_api::secret_sync::SecretTemplate;
use sse_shape::path::Path;

use super::EsSource;
use super::objects::{GENERATOR_REASON, KvObject, Wanted, WantedFrom, same_store, split_remote_key};
use crate::migrate::migration::Notes;

pub(in crate::migrate) const FIND_REASON: &str = "ESO selects objects by name pattern or tags at run time; SSE-rs syncs a fixed list of objects: list them in the SecretProviderClass";

/// The template functions that read a PKCS#12 file (ESO's names, which SSE-rs keeps).
const PKCS12_FUNCTIONS: [&str; 4] = ["pkcs12cert", "pkcs12key", "pkcs12certPass", "pkcs12keyPass"];

/// `property` when SSE-rs reads it as ESO does, or the note's reason.
pub(super) fn property_of(property: &str) -> Result<String, String> {
    match Path::parse(property) {
        Ok(_) => Ok(property.to_string()),
        Err(error) => Err(format!(
            "{error}: SSE-rs reads gjson paths of keys, array indexes and \\ escapes only (no wildcards, queries or modifiers): the item is left out"
        )),
    }
}

/// The items of `spec.dataFrom` carried over (`extract` from a secret), with a note for every other.
pub(super) fn data_from_of(src: &EsSource<'_>, notes: &mut Notes) -> Vec<WantedFrom> {
    let mut carried = Vec::new();
    for (i, entry) in src.es.spec.data_from.iter().enumerate() {
        let field = format!("spec.dataFrom[{i}]");
        if entry.find.is_some() {
            notes.add(format!("{field}.find"), FIND_REASON);
            continue;
        }
        if entry.source_ref.generator_ref.is_some() {
            notes.add(format!("{field}.sourceRef.generatorRef"), GENERATOR_REASON);
            continue;
        }
        let Some(extract) = &entry.extract else {
            notes.add(field, "not a form migrate knows: nothing carried over");
            continue;
        };
        if !same_store(src, &entry.source_ref.store_ref, &field, notes) {
            continue;
        }
        let Some(key) = extract.key.as_deref() else {
            notes.add(format!("{field}.extract.key"), "empty: no vault object to read");
            continue;
        };
        let name = match split_remote_key(key) {
            Some(("secret", name)) => name,
            Some(_) => {
                notes.add(
                    format!("{field}.extract.key"),
                    format!("{key}: ESO extracts from secrets only (it refuses key/ and cert/ too): nothing carried over"),
                );
                continue;
            }
            None => {
                notes.add(
                    format!("{field}.extract.key"),
                    format!("{key}: not secret/NAME or NAME"),
                );
                continue;
            }
        };
        if extract.metadata_policy.as_deref() == Some("Fetch") {
            notes.add(
                format!("{field}.extract.metadataPolicy"),
                "Fetch: ESO spreads the object's tags over several keys; SSE-rs syncs values only",
            );
            continue;
        }
        let mut left_out = false;
        if let Some(strategy) = extract.decoding_strategy.as_deref()
            && strategy != "None"
        {
            notes.add(
                format!("{field}.extract.decodingStrategy"),
                format!("{strategy}: ESO decodes each extracted value; SSE-rs writes them as the JSON holds them: the item is left out"),
            );
            left_out = true;
        }
        if let Some(strategy) = extract.conversion_strategy.as_deref()
            && strategy != "Default"
        {
            notes.add(
                format!("{field}.extract.conversionStrategy"),
                format!("{strategy}: ESO converts the extracted keys' names; SSE-rs writes them as the JSON names them: the item is left out"),
            );
            left_out = true;
        }
        if is_set(entry.rewrite.as_ref()) {
            notes.add(
                format!("{field}.rewrite"),
                "ESO renames the extracted keys; SSE-rs writes them as the JSON names them: the item is left out",
            );
            left_out = true;
        }
        let property = match extract.property.as_deref().map(property_of).transpose() {
            Ok(property) => property,
            Err(reason) => {
                notes.add(format!("{field}.extract.property"), reason);
                continue;
            }
        };
        if left_out {
            continue;
        }
        carried.push(WantedFrom {
            object: KvObject {
                object_type: "secret",
                name: name.to_string(),
                version: extract.version.clone(),
                encoding: None,
                format: None,
            },
            property,
        });
    }
    carried
}

/// Whether a field holds something (a non-empty object, list or string, or any other value).
pub(super) fn is_set(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) => false,
        Some(Value::Object(map)) => !map.is_empty(),
        Some(Value::Array(list)) => !list.is_empty(),
        Some(Value::String(s)) => !s.trim().is_empty(),
        Some(_) => true,
    }
}

/// Marks `objectFormat: pfx` on each secret a template opens with a PKCS#12 function: ESO's template reads the
/// base64 PFX text Key Vault stores, which the Azure provider writes only with `objectFormat: pfx` (by default
/// it opens the PFX and writes PEM).
pub(super) fn mark_pfx(template: &SecretTemplate, wanted: &mut [Wanted]) {
    for text in template.data.iter().filter_map(|item| item.text.as_deref()) {
        if !PKCS12_FUNCTIONS.iter().any(|f| text.contains(f)) {
            continue;
        }
        for item in wanted.iter_mut() {
            if item.object.object_type == "secret" && item.property.is_none() && mentions(text, &item.key) {
                item.object.format = Some("pfx");
            }
        }
    }
}

/// Whether a template reads the value `key`: `.key` (not followed by a name character) or `index . "key"`.
pub(super) fn mentions(text: &str, key: &str) -> bool {
    let dotted = format!(".{key}");
    let field = text.match_indices(&dotted).any(|(at, _)| {
        let after = text[at + dotted.len()..].chars().next();
        let before = text[..at].chars().next_back();
        !after.is_some_and(|c| c.is_alphanumeric() || c == '_')
            && !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ')')
    });
    field || text.contains(&format!("\"{key}\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mentions_reads_fields_and_index() {
        assert!(mentions("{{ .tls | b64dec | pkcs12cert }}", "tls"));
        assert!(mentions("{{ index . \"tls.crt\" }}", "tls.crt"));
        assert!(mentions("{{.tls}}", "tls"));
        assert!(!mentions("{{ .tlsx }}", "tls"));
        assert!(!mentions("{{ .a.tls }}", "tls"));
        assert!(!mentions("{{ .other }}", "tls"));
    }

    #[test]
    fn properties_outside_the_subset_give_the_parsers_reason() {
        assert_eq!(property_of(r"a.b\.c"), Ok(r"a.b\.c".to_string()));
        let reason = property_of("items.#.name").err().unwrap_or_default();
        assert!(
            reason.starts_with("property items.#.name: '#' at column 7 is gjson an array count or query"),
            "{reason}"
        );
        assert!(reason.ends_with("the item is left out"), "{reason}");
    }
}
