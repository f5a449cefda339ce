//! What one Key Vault event says, read from its CloudEvents 1.0 envelope (docs/EVENTS.md#the-events).
//!
//! Only what routes the event is kept: the vault, the object's type and name, the version and the kind of
//! news. The payload is never trusted for content: an event only says "read this object again now".
//! Keys of `data` are read case-insensitively (real payloads are PascalCase, one report shows camelCase),
//! strings trimmed, and `NBF`/`EXP` are optional.

use std::fmt;

use serde_json::Value;

/// The Key Vault object type an event names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ObjectType {
    /// `Secret`.
    Secret,
    /// `Key`.
    Key,
    /// `Certificate`.
    Certificate,
}

impl ObjectType {
    fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "secret" => Some(Self::Secret),
            "key" => Some(Self::Key),
            "certificate" => Some(Self::Certificate),
            _ => None,
        }
    }

    /// Whether a SecretProviderClass object of `spc_type` (`secret`, `key`, `cert`) reads what an event
    /// about this type changed. A certificate's new version is also a new version of the secret and the
    /// key behind it, which classes read as `secret` (the PFX or PEM with its private key) or `key`.
    pub fn touches(self, spc_type: &str) -> bool {
        match self {
            Self::Secret => spc_type == "secret",
            Self::Key => spc_type == "key",
            Self::Certificate => matches!(spc_type, "cert" | "secret" | "key"),
        }
    }
}

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `…NewVersionCreated`: read the object again.
    NewVersion,
    /// `…NearExpiry`: the expiry standing moves (30 days before `EXP`).
    NearExpiry,
    /// `…Expired`.
    Expired,
}

/// One event about one object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct News {
    /// What happened.
    pub kind: Kind,
    /// The object's type.
    pub object_type: ObjectType,
    /// The vault's name, lower case (vault names are case-insensitive).
    pub vault: String,
    /// The object's name, lower case (Key Vault names are case-insensitive).
    pub name: String,
    /// The version the event is about (empty when absent).
    pub version: String,
}

/// Why an event routes nowhere; the label of its count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unroutable {
    /// A Key Vault event that changes no object's content (`VaultAccessPolicyChanged`), or another type.
    Ignored,
    /// Not a CloudEvent with the Key Vault payload (no vault or object name).
    Malformed,
}

impl Unroutable {
    /// The `outcome` label of the event counter.
    pub fn label(self) -> &'static str {
        match self {
            Self::Ignored => "ignored",
            Self::Malformed => "malformed",
        }
    }
}

impl fmt::Display for News {
    // Names only: an event carries no value, and its id says nothing an operator needs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} {:?} {}/{}",
            self.kind, self.object_type, self.vault, self.name
        )
    }
}

/// The `type` of an event, as a bounded metric label: one of Key Vault's ten, or `other`.
pub fn type_label(event: &Value) -> &'static str {
    const KNOWN: [&str; 10] = [
        "Microsoft.KeyVault.SecretNewVersionCreated",
        "Microsoft.KeyVault.SecretNearExpiry",
        "Microsoft.KeyVault.SecretExpired",
        "Microsoft.KeyVault.KeyNewVersionCreated",
        "Microsoft.KeyVault.KeyNearExpiry",
        "Microsoft.KeyVault.KeyExpired",
        "Microsoft.KeyVault.CertificateNewVersionCreated",
        "Microsoft.KeyVault.CertificateNearExpiry",
        "Microsoft.KeyVault.CertificateExpired",
        "Microsoft.KeyVault.VaultAccessPolicyChanged",
    ];
    let kind = event
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .trim();
    KNOWN
        .iter()
        .find(|known| known.eq_ignore_ascii_case(kind))
        .copied()
        .unwrap_or("other")
}

/// Read one CloudEvent.
pub fn read(event: &Value) -> Result<News, Unroutable> {
    let kind_text = event
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let Some(rest) = kind_text.strip_prefix("microsoft.keyvault.") else {
        return Err(Unroutable::Ignored);
    };
    let (object_type, kind) = [
        ("newversioncreated", Kind::NewVersion),
        ("nearexpiry", Kind::NearExpiry),
        ("expired", Kind::Expired),
    ]
    .iter()
    .find_map(|(suffix, kind)| {
        let object = rest.strip_suffix(suffix)?;
        Some((ObjectType::parse(object)?, *kind))
    })
    .ok_or(Unroutable::Ignored)?;
    let data = event
        .get("data")
        .and_then(Value::as_object)
        .ok_or(Unroutable::Malformed)?;
    let field = |name: &str| {
        data.iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .and_then(|(_, value)| value.as_str())
            .map(str::trim)
            .filter(|s| !s.is_empty())
    };
    // The vault: `VaultName`, else the host of `Id` (`https://{vault}.vault.azure.net/secrets/…`).
    let vault = field("VaultName")
        .map(str::to_string)
        .or_else(|| {
            let id = field("Id")?;
            let host = id.split("://").nth(1)?.split(['/', ':', '.']).next()?;
            Some(host.to_string())
        })
        .ok_or(Unroutable::Malformed)?;
    let name = field("ObjectName")
        .or_else(|| event.get("subject").and_then(Value::as_str).map(str::trim))
        .filter(|s| !s.is_empty())
        .ok_or(Unroutable::Malformed)?;
    Ok(News {
        kind,
        object_type,
        vault: vault.to_ascii_lowercase(),
        name: name.to_ascii_lowercase(),
        version: field("Version").unwrap_or_default().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// The CloudEvents form of Azure's documented sample (docs/EVENTS.md#the-events).
    fn sample(kind: &str, data: Value) -> Value {
        json!({
            "specversion": "1.0",
            "id": "00000000-0000-0000-0000-000000000000",
            "source": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/sample-kv",
            "subject": "newsecret",
            "type": kind,
            "time": "2019-07-25T01:08:33.1036736Z",
            "data": data,
        })
    }

    #[test]
    fn pascal_case_as_key_vault_sends_it() {
        let event = sample(
            "Microsoft.KeyVault.SecretNewVersionCreated",
            json!({
                "Id": "https://sample-kv.vault.azure.net/secrets/newsecret/ee059b2bb5bc48398a53b168c6cdcb10",
                "VaultName": "sample-kv", "ObjectType": "Secret", "ObjectName": "newsecret",
                "Version": "ee059b2bb5bc48398a53b168c6cdcb10", "NBF": null, "EXP": null,
            }),
        );
        let news = read(&event);
        assert_eq!(
            news,
            Ok(News {
                kind: Kind::NewVersion,
                object_type: ObjectType::Secret,
                vault: "sample-kv".into(),
                name: "newsecret".into(),
                version: "ee059b2bb5bc48398a53b168c6cdcb10".into(),
            })
        );
        assert_eq!(type_label(&event), "Microsoft.KeyVault.SecretNewVersionCreated");
    }

    #[test]
    fn camel_case_padded_and_mixed_case_names_read_the_same() {
        let event = sample(
            "microsoft.keyvault.certificatenearexpiry",
            json!({"vaultName": " Sample-KV ", "objectType": "certificate", "objectName": "Web-TLS ", "version": "v2", "nbf": 1, "exp": 2}),
        );
        let news = read(&event).map(|n| (n.kind, n.object_type, n.vault, n.name));
        assert_eq!(
            news,
            Ok((
                Kind::NearExpiry,
                ObjectType::Certificate,
                "sample-kv".into(),
                "web-tls".into()
            ))
        );
    }

    #[test]
    fn the_vault_from_the_id_and_the_name_from_the_subject_when_absent() {
        let event = sample(
            "Microsoft.KeyVault.KeyExpired",
            json!({"Id": "https://other.vault.azure.net/keys/newsecret/1"}),
        );
        let news = read(&event).map(|n| (n.kind, n.vault, n.name));
        assert_eq!(news, Ok((Kind::Expired, "other".into(), "newsecret".into())));
    }

    #[test]
    fn what_routes_nowhere_says_why() {
        let policy = sample(
            "Microsoft.KeyVault.VaultAccessPolicyChanged",
            json!({"VaultName": "v"}),
        );
        assert_eq!(read(&policy), Err(Unroutable::Ignored));
        let storage = sample("Microsoft.Storage.BlobCreated", json!({}));
        assert_eq!(read(&storage), Err(Unroutable::Ignored));
        assert_eq!(type_label(&storage), "other");
        let no_data = json!({"type": "Microsoft.KeyVault.SecretNewVersionCreated"});
        assert_eq!(read(&no_data), Err(Unroutable::Malformed));
        let no_vault = sample(
            "Microsoft.KeyVault.SecretNewVersionCreated",
            json!({"ObjectName": "x"}),
        );
        assert_eq!(read(&no_vault), Err(Unroutable::Malformed));
    }

    #[test]
    fn a_certificate_touches_the_secret_and_key_behind_it() {
        assert!(ObjectType::Certificate.touches("secret"));
        assert!(ObjectType::Certificate.touches("cert"));
        assert!(ObjectType::Certificate.touches("key"));
        assert!(ObjectType::Secret.touches("secret"));
        assert!(!ObjectType::Secret.touches("cert"));
        assert!(!ObjectType::Key.touches("secret"));
    }
}
