//! The vault objects an ExternalSecret reads (`spec.data`; `spec.dataFrom` in [`super::shape`]), and the
//! SecretProviderClass `objects` entries and SecretSync data that read them.

use std::collections::BTreeSet;

use serde_json::Value;
use sse_api::SecretObjectData;
use sse_api::secret_sync::SecretObjectDataFrom;

use super::EsSource;
use super::shape::property_of;
use super::store::StoreKind;
use crate::migrate::migration::Notes;

pub(super) const GENERATOR_REASON: &str =
    "ESO generates this value in the cluster; SSE-rs only reads a vault";

/// One Key Vault object as an entry of the Azure provider's `objects` names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct KvObject {
    pub(super) object_type: &'static str,
    pub(super) name: String,
    pub(super) version: Option<String>,
    pub(super) encoding: Option<&'static str>,
    /// `objectFormat` (`pfx`: a certificate-backed secret as the base64 PFX Key Vault stores).
    pub(super) format: Option<&'static str>,
}

/// One item of `spec.data` carried over: the Secret key, the object, and the JSON property read from it.
#[derive(Clone, Debug)]
pub(super) struct Wanted {
    pub(super) key: String,
    pub(super) object: KvObject,
    pub(super) property: Option<String>,
}

/// One `extract` of `spec.dataFrom` carried over.
#[derive(Clone, Debug)]
pub(super) struct WantedFrom {
    pub(super) object: KvObject,
    pub(super) property: Option<String>,
}

/// ESO's `remoteRef.key`: `secret/NAME`, `key/NAME`, `cert/NAME` or a bare NAME (a secret). Like ESO, a
/// further `/…` is ignored. `None` for another prefix or an empty name.
pub(super) fn split_remote_key(key: &str) -> Option<(&'static str, &str)> {
    let (object_type, name) = match key.split_once('/') {
        None => ("secret", key),
        Some((prefix, rest)) => {
            let object_type = match prefix {
                "secret" => "secret",
                "key" => "key",
                "cert" => "cert",
                _ => return None,
            };
            (object_type, rest.split_once('/').map_or(rest, |(name, _)| name))
        }
    };
    (!name.is_empty()).then_some((object_type, name))
}

/// The items of `spec.data`. An entry whose value SSE-rs would not reproduce at all (tags, another store, a
/// generator, base64url, a property path outside SSE-rs's subset) is left out with a note; one SSE-rs writes
/// in another format (certificates, keys) is kept with a note.
pub(super) fn wanted_objects(src: &EsSource<'_>, notes: &mut Notes) -> Vec<Wanted> {
    let mut wanted = Vec::new();
    for (i, entry) in src.es.spec.data.iter().enumerate() {
        let field = format!("spec.data[{i}]");
        if entry.source_ref.generator_ref.is_some() {
            notes.add(format!("{field}.sourceRef.generatorRef"), GENERATOR_REASON);
            continue;
        }
        if !same_store(src, &entry.source_ref.store_ref, &field, notes) {
            continue;
        }
        let Some(secret_key) = entry.secret_key.as_deref() else {
            notes.add(format!("{field}.secretKey"), "empty: no Secret key to write");
            continue;
        };
        let remote_ref = &entry.remote_ref;
        let Some(remote_key) = remote_ref.key.as_deref() else {
            notes.add(format!("{field}.remoteRef.key"), "empty: no vault object to read");
            continue;
        };
        let Some((object_type, name)) = split_remote_key(remote_key) else {
            notes.add(
                format!("{field}.remoteRef.key"),
                format!("{remote_key}: not secret/NAME, key/NAME, cert/NAME or NAME"),
            );
            continue;
        };
        if remote_ref.metadata_policy.as_deref() == Some("Fetch") {
            notes.add(
                format!("{field}.remoteRef.metadataPolicy"),
                "Fetch: ESO reads the object's tags; SSE-rs syncs values only",
            );
            continue;
        }
        let property = match remote_ref.property.as_deref() {
            None => None,
            Some(_) if object_type != "secret" => {
                notes.add(
                    format!("{field}.remoteRef.property"),
                    "ESO reads a property of a key's or certificate's JSON form; the Azure provider writes them as PEM: the item is left out",
                );
                continue;
            }
            Some(property) => match property_of(property) {
                Ok(property) => Some(property),
                Err(reason) => {
                    notes.add(format!("{field}.remoteRef.property"), reason);
                    continue;
                }
            },
        };
        let encoding = match remote_ref.decoding_strategy.as_deref() {
            None | Some("None") => None,
            Some("Base64") if object_type == "secret" => Some("base64"),
            Some("Base64") => {
                notes.add(
                    format!("{field}.remoteRef.decodingStrategy"),
                    "Base64: the Azure provider decodes secrets only (objectEncoding), not keys or certificates",
                );
                None
            }
            Some("Base64URL") => {
                notes.add(
                    format!("{field}.remoteRef.decodingStrategy"),
                    "Base64URL: the Azure provider decodes standard base64 only (objectEncoding: base64)",
                );
                continue;
            }
            Some(other) => {
                notes.add(
                    format!("{field}.remoteRef.decodingStrategy"),
                    format!("{other}: SSE-rs does not guess; the key holds the value as stored (set objectEncoding: base64 if it is always base64)"),
                );
                None
            }
        };
        if let Some(strategy) = remote_ref.conversion_strategy.as_deref()
            && strategy != "Default"
        {
            notes.add(
                format!("{field}.remoteRef.conversionStrategy"),
                format!("{strategy}: SSE-rs writes keys as named, with no conversion"),
            );
        }
        match object_type {
            "cert" => notes.add(
                format!("{field}.remoteRef.key"),
                "ESO writes the certificate as DER; the Azure provider writes it as PEM (-----BEGIN CERTIFICATE-----): check its consumers",
            ),
            "key" => notes.add(
                format!("{field}.remoteRef.key"),
                "ESO writes the key as JWK JSON; the Azure provider writes the public key as PEM: check its consumers",
            ),
            _ => {}
        }
        wanted.push(Wanted {
            key: secret_key.to_string(),
            object: KvObject {
                object_type,
                name: name.to_string(),
                version: remote_ref.version.clone(),
                encoding,
                format: None,
            },
            property,
        });
    }
    wanted
}

/// Whether a `sourceRef.storeRef` names the ExternalSecret's own store (or none); a note when not.
pub(super) fn same_store(
    src: &EsSource<'_>,
    store_ref: &super::api::StoreReference,
    field: &str,
    notes: &mut Notes,
) -> bool {
    let Some(other) = store_ref.name.as_deref() else {
        return true;
    };
    let kind = StoreKind::of(store_ref.kind.as_deref());
    if other == src.store.name && kind == src.store.kind {
        return true;
    }
    notes.add(
        format!("{field}.sourceRef.storeRef"),
        format!("ESO reads this key from another store ({other}); a SecretProviderClass reads one vault: migrate it with an ExternalSecret of its own"),
    );
    false
}

/// What [`plan_objects`] gives: the `objects` entries, and the SecretSync's `data` and `dataFrom`.
pub(super) struct Plan {
    pub(super) entries: Vec<String>,
    pub(super) data: Vec<SecretObjectData>,
    pub(super) data_from: Vec<SecretObjectDataFrom>,
}

/// The `objects` entries and the Secret data for the items of `spec.data` and `spec.dataFrom`: one entry per
/// distinct object, its file named after the object, or an alias (`NAME-2`, …) when another entry already
/// writes that file (the same object at another version, in another encoding or format, or of another type).
pub(super) fn plan_objects(wanted: &[Wanted], from: &[WantedFrom]) -> Plan {
    let objects: Vec<&KvObject> = wanted
        .iter()
        .map(|w| &w.object)
        .chain(from.iter().map(|f| &f.object))
        .collect();
    let names: BTreeSet<&str> = objects.iter().map(|object| object.name.as_str()).collect();
    let mut files: Vec<(&KvObject, String)> = Vec::new();
    let mut sources = Vec::with_capacity(objects.len());
    for object in objects {
        let file = if let Some((_, file)) = files.iter().find(|(known, _)| *known == object) {
            file.clone()
        } else {
            let taken = |file: &str| files.iter().any(|(_, known)| known == file);
            let file = if taken(object.name.as_str()) {
                (2..)
                    .map(|n| format!("{}-{n}", object.name))
                    .find(|alias| !names.contains(alias.as_str()) && !taken(alias.as_str()))
                    .unwrap_or_else(|| object.name.clone())
            } else {
                object.name.clone()
            };
            files.push((object, file.clone()));
            file
        };
        sources.push(file);
    }
    let (data_sources, from_sources) = sources.split_at(wanted.len());
    let data = wanted
        .iter()
        .zip(data_sources)
        .map(|(w, file)| SecretObjectData {
            source_path: file.clone(),
            target_key: w.key.clone(),
            property: w.property.clone(),
        })
        .collect();
    let data_from = from
        .iter()
        .zip(from_sources)
        .map(|(f, file)| SecretObjectDataFrom {
            source_path: file.clone(),
            property: f.property.clone(),
        })
        .collect();
    let entries = files
        .iter()
        .map(|(object, file)| object_entry(object, file))
        .collect();
    Plan {
        entries,
        data,
        data_from,
    }
}

/// One entry of `objects` (a YAML mapping, as the Azure provider reads it).
fn object_entry(object: &KvObject, file: &str) -> String {
    let mut lines = vec![
        format!("objectName: {}", yaml_scalar(&object.name)),
        format!("objectType: {}", object.object_type),
    ];
    if file != object.name {
        lines.push(format!("objectAlias: {}", yaml_scalar(file)));
    }
    if let Some(version) = &object.version {
        lines.push(format!("objectVersion: {}", yaml_scalar(version)));
    }
    if let Some(encoding) = object.encoding {
        lines.push(format!("objectEncoding: {encoding}"));
    }
    if let Some(format) = object.format {
        lines.push(format!("objectFormat: {format}"));
    }
    lines.join("\n")
}

/// `value` as a YAML scalar that reads back as this string: plain when unambiguous (a letter, then letters,
/// digits, `-`, `_`, `.`, and not a YAML boolean or null), else double-quoted.
fn yaml_scalar(value: &str) -> String {
    let plain = value.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !matches!(
            value.to_ascii_lowercase().as_str(),
            "true" | "false" | "yes" | "no" | "on" | "off" | "y" | "n" | "null"
        );
    if plain {
        value.to_string()
    } else {
        Value::String(value.to_string()).to_string()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn yaml_scalars_read_back_as_strings() {
        for value in [
            "db-password",
            "0123abcd",
            "12345",
            "true",
            "No",
            "a b",
            "x:y",
            "",
            "é",
        ] {
            let entry = format!("objectVersion: {}", yaml_scalar(value));
            let parsed: BTreeMap<String, String> =
                serde_yaml_ng::from_str(&entry).unwrap_or_else(|e| panic!("{entry}: {e}"));
            assert_eq!(parsed["objectVersion"], value, "{entry}");
        }
        assert_eq!(yaml_scalar("db-password"), "db-password");
        assert_eq!(yaml_scalar("0123abcd"), "\"0123abcd\"");
    }
}
