//! The vault objects an ExternalSecret reads (`spec.data`; `spec.dataFrom` does not carry over), and the
//! SecretProviderClass `objects` entries and SecretSync data that read them.

use std::collections::BTreeSet;

use serde_json::Value;
use sse_api::SecretObjectData;

use super::EsSource;
use super::api::ExternalSecret;
use super::store::StoreKind;
use crate::migrate::migration::Notes;

pub(in crate::migrate) const FIND_REASON: &str = "ESO selects objects by name pattern or tags at run time; SSE-rs syncs a fixed list of objects: list them in the SecretProviderClass";
const EXTRACT_REASON: &str = "ESO spreads the JSON properties (or tags) of one object over several keys; SSE-rs writes one object to one key: store each property as its own Key Vault secret";
const GENERATOR_REASON: &str = "ESO generates this value in the cluster; SSE-rs only reads a vault";

/// One Key Vault object as an entry of the Azure provider's `objects` names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct KvObject {
    pub(super) object_type: &'static str,
    pub(super) name: String,
    version: Option<String>,
    encoding: Option<&'static str>,
}

/// ESO's `remoteRef.key`: `secret/NAME`, `key/NAME`, `cert/NAME` or a bare NAME (a secret). Like ESO, a
/// further `/…` is ignored. `None` for another prefix or an empty name.
fn split_remote_key(key: &str) -> Option<(&'static str, &str)> {
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

/// The (Secret key, object) pairs of `spec.data`. An entry whose value SSE-rs would not reproduce at all
/// (a JSON property, tags, another store, a generator, base64url) is left out with a note; one SSE-rs
/// writes in another format (certificates, keys) is kept with a note.
pub(super) fn wanted_objects(src: &EsSource<'_>, notes: &mut Notes) -> Vec<(String, KvObject)> {
    let mut wanted = Vec::new();
    for (i, entry) in src.es.spec.data.iter().enumerate() {
        let field = format!("spec.data[{i}]");
        if entry.source_ref.generator_ref.is_some() {
            notes.add(format!("{field}.sourceRef.generatorRef"), GENERATOR_REASON);
            continue;
        }
        let store_ref = &entry.source_ref.store_ref;
        if let Some(other) = store_ref.name.as_deref() {
            let kind = StoreKind::of(store_ref.kind.as_deref());
            if other != src.store.name || kind != src.store.kind {
                notes.add(
                    format!("{field}.sourceRef.storeRef"),
                    format!("ESO reads this key from another store ({other}); a SecretProviderClass reads one vault: migrate it with an ExternalSecret of its own"),
                );
                continue;
            }
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
        if let Some(property) = remote_ref.property.as_deref() {
            notes.add(
                format!("{field}.remoteRef.property"),
                format!("{property}: ESO extracts one JSON property of the value; SSE-rs writes the whole object to the key: store the property as its own Key Vault secret"),
            );
            continue;
        }
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
        wanted.push((
            secret_key.to_string(),
            KvObject {
                object_type,
                name: name.to_string(),
                version: remote_ref.version.clone(),
                encoding,
            },
        ));
    }
    wanted
}

/// A note for each item of `spec.dataFrom`: none carries over.
pub(super) fn data_from_notes(es: &ExternalSecret, notes: &mut Notes) {
    for (i, entry) in es.spec.data_from.iter().enumerate() {
        let field = format!("spec.dataFrom[{i}]");
        if entry.find.is_some() {
            notes.add(format!("{field}.find"), FIND_REASON);
        } else if entry.extract.is_some() {
            notes.add(format!("{field}.extract"), EXTRACT_REASON);
        } else if entry.source_ref.generator_ref.is_some() {
            notes.add(format!("{field}.sourceRef.generatorRef"), GENERATOR_REASON);
        } else {
            notes.add(field, "not a form migrate knows: nothing carried over");
        }
    }
}

/// The `objects` entries and the Secret data for (Secret key, object) pairs: one entry per distinct object,
/// its file named after the object, or an alias (`NAME-2`, …) when another entry already writes that file
/// (the same object at another version, in another encoding, or of another type).
pub(super) fn plan_objects(wanted: &[(String, KvObject)]) -> (Vec<String>, Vec<SecretObjectData>) {
    let names: BTreeSet<&str> = wanted.iter().map(|(_, object)| object.name.as_str()).collect();
    let mut files: Vec<(&KvObject, String)> = Vec::new();
    let mut data = Vec::with_capacity(wanted.len());
    for (key, object) in wanted {
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
        data.push(SecretObjectData {
            source_path: file,
            target_key: key.clone(),
            property: None,
        });
    }
    let entries = files
        .iter()
        .map(|(object, file)| object_entry(object, file))
        .collect();
    (entries, data)
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
