//! Seed files for the `keyvault-emulator` binary (`--seed FILE`): a YAML list of secrets.
//!
//! ```yaml
//! # One version:
//! - vault: myvault
//!   name: db-password
//!   value: s3cr3t
//! # Several versions, oldest first (the last one is "latest"):
//! - vault: myvault
//!   name: api-key
//!   versions: ["first", "second"]
//!   contentType: text/plain        # optional, applies to every version
//!   tags: {team: payments}         # optional, applies to every version
//! ```
//!
//! Exactly one of `value` and `versions` must be given.

use std::collections::BTreeMap;

use anyhow::{Context as _, bail};
use serde::Deserialize;

use crate::{SecretInput, Store};

/// One entry of a seed file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedSecret {
    /// Vault name (`{vault}.vault.localhost`).
    pub vault: String,
    /// Secret name.
    pub name: String,
    /// Single value.
    #[serde(default)]
    pub value: Option<String>,
    /// Several values, oldest first.
    #[serde(default)]
    pub versions: Option<Vec<String>>,
    /// `contentType` of every version.
    #[serde(default, rename = "contentType")]
    pub content_type: Option<String>,
    /// Tags of every version.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

/// Parse a seed file.
pub fn parse(yaml: &str) -> anyhow::Result<Vec<SeedSecret>> {
    let entries: Vec<SeedSecret> = serde_yaml_ng::from_str(yaml).context("parsing the seed YAML")?;
    for (i, e) in entries.iter().enumerate() {
        match (&e.value, &e.versions) {
            (Some(_), None) => {}
            (None, Some(v)) if !v.is_empty() => {}
            _ => bail!(
                "seed entry {i} ({}/{}): give exactly one of `value` or a non-empty `versions`",
                e.vault,
                e.name
            ),
        }
    }
    Ok(entries)
}

/// Write the parsed entries into `store`; returns the number of versions written.
pub fn apply(store: &Store, entries: Vec<SeedSecret>) -> usize {
    let mut written = 0;
    for e in entries {
        let values = match (e.value, e.versions) {
            (Some(v), _) => vec![v],
            (None, Some(vs)) => vs,
            (None, None) => Vec::new(),
        };
        for value in values {
            store.set_secret_with(
                &e.vault,
                &e.name,
                SecretInput {
                    value,
                    content_type: e.content_type.clone(),
                    tags: e.tags.clone(),
                    ..SecretInput::default()
                },
            );
            written += 1;
        }
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ObjectKind;

    #[test]
    fn parses_and_applies() {
        let yaml = r#"
- vault: myvault
  name: one
  value: a
- vault: myvault
  name: many
  versions: [x, y, z]
  contentType: text/plain
"#;
        let store = Store::default();
        assert_eq!(apply(&store, parse(yaml).unwrap()), 4);
        assert_eq!(store.versions("myvault", ObjectKind::Secret, "many").len(), 3);
    }

    #[test]
    fn rejects_ambiguous_entries() {
        assert!(parse("- {vault: v, name: n}").is_err());
        assert!(parse("- {vault: v, name: n, value: a, versions: [b]}").is_err());
        assert!(parse("- {vault: v, name: n, valeu: a}").is_err());
    }
}
