//! What a SecretSync's Mount asks for: only the objects it maps.
//!
//! A SecretProviderClass may list many objects and each SecretSync naming it map a few; mounting the whole
//! class for every SecretSync costs the class's size per SecretSync (an AKVSync of N entries generates one
//! class of N objects and N SecretSyncs: N² objects fetched and held, and one missing object failing all of
//! them). So for our own provider, whose file naming is known, the `objects` parameter is cut down to the
//! entries whose file a `sourcePath` names: the entry's `objectAlias`, else its `objectName`, exactly, or
//! followed by `/` (a version of `objectVersionHistory`: `name/0`, `name/1`…) or `.` (`name.crt` and
//! `name.key` with `--write-cert-and-key-in-separate-files`). An entry that cannot be read is kept, and a
//! class with a `sourcePath` that names none of its entries is mounted whole (the mapping then says which
//! path is missing, as before). Other
//! providers name their files their own way (AWS's `jmesPath` aliases, GCP's `secrets` parameter): their
//! classes are mounted whole, as the upstream controller does.
//!
//! The sync hash covers what was mounted, so rotating an object the SecretSync does not map no longer
//! moves its hash either.

use std::collections::{BTreeMap, BTreeSet};

use provider_proto::contract::{Objects, attributes::OBJECTS};

/// The provider whose object naming is known here.
pub const AZURE: &str = "azure";

/// `parameters` with `objects` cut down to the entries one of `source_paths` names, for `provider`
/// (unchanged for another provider, or when nothing can be cut).
pub fn only_mapped<'a>(
    provider: &str,
    mut parameters: BTreeMap<String, String>,
    source_paths: impl IntoIterator<Item = &'a str>,
) -> BTreeMap<String, String> {
    if provider != AZURE {
        return parameters;
    }
    let Some(objects) = parameters.get(OBJECTS).and_then(|y| Objects::parse(y).ok()) else {
        return parameters;
    };
    let paths: BTreeSet<&str> = source_paths.into_iter().collect();
    let files: Vec<Option<String>> = objects.array.iter().map(|entry| file_name(entry)).collect();
    // A sourcePath that names no entry: the whole class is mounted, and the mapping reports that path
    // precisely (as it does without the cut).
    let all_named = paths
        .iter()
        .all(|path| files.iter().flatten().any(|file| derived(path, file)));
    if !all_named {
        return parameters;
    }
    let kept: Vec<String> = objects
        .array
        .iter()
        .zip(&files)
        .filter(|(_, file)| file.as_ref().is_none_or(|file| names(&paths, file)))
        .map(|(entry, _)| entry.clone())
        .collect();
    if kept.len() < objects.array.len() {
        parameters.insert(OBJECTS.into(), Objects::new(kept).to_yaml());
    }
    parameters
}

/// The file an `objects` entry is written to: `objectAlias`, else `objectName`; `None` when unreadable.
fn file_name(entry: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Entry {
        object_name: Option<String>,
        object_alias: Option<String>,
    }
    let entry: Entry = serde_yaml_ng::from_str(entry).ok()?;
    entry
        .object_alias
        .filter(|a| !a.is_empty())
        .or(entry.object_name)
        .filter(|n| !n.is_empty())
}

/// Whether one of `paths` is `file` or a file the provider derives from it.
fn names(paths: &BTreeSet<&str>, file: &str) -> bool {
    paths.iter().any(|path| derived(path, file))
}

/// Whether `path` is `file`, a version of it (`file/0`) or a part of it (`file.crt`).
fn derived(path: &str, file: &str) -> bool {
    path.strip_prefix(file)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/') || rest.starts_with('.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(entries: &[&str]) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("keyvaultName".to_string(), "kv".to_string()),
            (
                OBJECTS.to_string(),
                Objects::new(entries.iter().copied()).to_yaml(),
            ),
        ])
    }

    fn kept(parameters: &BTreeMap<String, String>) -> Vec<String> {
        let entries = Objects::parse(&parameters[OBJECTS])
            .map(|o| o.array)
            .unwrap_or_default();
        entries.iter().map(|e| e.trim_end().to_string()).collect()
    }

    #[test]
    fn only_the_objects_a_source_path_names_are_mounted() {
        let params = class(&[
            "objectName: db\nobjectType: secret",
            "objectName: api-key\nobjectType: secret\nobjectAlias: api\nobjectVersionHistory: 2",
            "objectName: tls\nobjectType: secret",
            "objectName: unused\nobjectType: secret",
            "objectName: dbx\nobjectType: secret",
        ]);
        let cut = only_mapped(AZURE, params.clone(), ["db", "api/1", "tls.key"]);
        assert_eq!(
            kept(&cut),
            [
                "objectName: db\nobjectType: secret",
                "objectName: api-key\nobjectType: secret\nobjectAlias: api\nobjectVersionHistory: 2",
                "objectName: tls\nobjectType: secret",
            ],
            "`db` does not name `dbx`; an aliased object is named by its alias, `api`"
        );
        assert_eq!(cut["keyvaultName"], "kv");
    }

    #[test]
    fn other_providers_and_unreadable_entries_are_left_whole() {
        let params = class(&["objectName: a\nobjectType: secret", "not: [valid"]);
        assert_eq!(only_mapped("aws", params.clone(), ["a"]), params);
        assert_eq!(
            kept(&only_mapped(AZURE, params, ["a"])).len(),
            2,
            "the unreadable entry is kept"
        );
        let named = class(&[
            "objectName: a\nobjectType: secret",
            "objectName: b\nobjectType: secret",
        ]);
        assert_eq!(
            only_mapped(AZURE, named.clone(), ["a", "typo"]),
            named,
            "a path naming nothing: mounted whole, the mapping names the path"
        );
        let without = BTreeMap::from([("keyvaultName".to_string(), "kv".to_string())]);
        assert_eq!(only_mapped(AZURE, without.clone(), ["a"]), without);
    }
}
