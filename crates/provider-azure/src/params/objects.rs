//! The `objects` array: each entry parsed and validated into a [`KeyVaultObject`].

use provider_proto::contract::Objects;
use serde::Deserialize;

use super::{ObjectError, ObjectLabel, ParamError};
use crate::content::{Encoding, Format};

/// The Key Vault object types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ObjectType {
    /// `secret`
    Secret,
    /// `key`
    Key,
    /// `cert`
    Cert,
}

impl ObjectType {
    /// The string used in `objectType` and in object ids.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Secret => "secret",
            Self::Key => "key",
            Self::Cert => "cert",
        }
    }
}

/// One validated entry of the `objects` array.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyVaultObject {
    /// Key Vault object name.
    pub name: String,
    /// Object type.
    pub object_type: ObjectType,
    /// Output file name (alias, else name).
    pub file_name: String,
    /// Requested version (`""` = latest).
    pub version: String,
    /// Number of versions to return (`<= 1` = a single file).
    pub version_history: i32,
    /// Output format for certificate-backed secrets.
    pub format: Format,
    /// Decoding applied to secret values.
    pub encoding: Encoding,
    /// File mode bits.
    pub mode: u32,
}

/// One entry of `objects` as written by the user; unknown keys are ignored.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RawObject {
    #[serde(default)]
    object_name: String,
    #[serde(default)]
    object_alias: String,
    #[serde(default)]
    object_type: String,
    #[serde(default)]
    object_version: String,
    #[serde(default)]
    object_format: String,
    #[serde(default)]
    object_encoding: String,
    #[serde(default)]
    file_permission: String,
    #[serde(default)]
    object_version_history: i32,
}

/// Parse the two-level `objects` YAML: a mapping with `array`, a list of strings each holding one object.
pub fn parse_objects(yaml: &str, default_mode: u32) -> Result<Vec<KeyVaultObject>, ParamError> {
    let doc = Objects::parse(yaml).map_err(ParamError::ObjectsYaml)?;
    doc.array
        .iter()
        .enumerate()
        .map(|(index, entry)| {
            let raw: RawObject = if entry.trim().is_empty() {
                RawObject::default()
            } else {
                serde_yaml_ng::from_str(entry).map_err(|error| ParamError::ObjectYaml { index, error })?
            };
            validate(raw, default_mode)
        })
        .collect()
}

fn validate(raw: RawObject, default_mode: u32) -> Result<KeyVaultObject, ParamError> {
    let label = ObjectLabel {
        object_type: raw.object_type.trim().to_string(),
        name: raw.object_name.trim().to_string(),
        version: raw.object_version.trim().to_string(),
    };
    match validate_fields(&raw, &label, default_mode) {
        Ok(object) => Ok(object),
        Err(problem) => Err(ParamError::Object {
            object: label,
            problem,
        }),
    }
}

fn validate_fields(
    raw: &RawObject,
    label: &ObjectLabel,
    default_mode: u32,
) -> Result<KeyVaultObject, ObjectError> {
    let object_type = match label.object_type.as_str() {
        "secret" => ObjectType::Secret,
        "key" => ObjectType::Key,
        "cert" => ObjectType::Cert,
        _ => return Err(ObjectError::InvalidType),
    };
    let format = match raw.object_format.trim().to_ascii_lowercase().as_str() {
        "" | "pem" => Format::Pem,
        "pfx" => Format::Pfx,
        other => return Err(ObjectError::InvalidFormat(other.to_string())),
    };
    if format == Format::Pfx && object_type != ObjectType::Secret {
        return Err(ObjectError::PfxNotSecret);
    }
    let encoding_str = raw.object_encoding.trim().to_ascii_lowercase();
    if !encoding_str.is_empty() && object_type != ObjectType::Secret {
        return Err(ObjectError::EncodingNotSecret);
    }
    let encoding = match encoding_str.as_str() {
        "" | "utf-8" => Encoding::Utf8,
        "base64" => Encoding::Base64,
        "hex" => Encoding::Hex,
        other => return Err(ObjectError::InvalidEncoding(other.to_string())),
    };
    let alias = raw.object_alias.trim();
    let file_name = if alias.is_empty() {
        label.name.clone()
    } else {
        alias.to_string()
    };
    validate_file_name(&file_name)?;
    let permission = raw.file_permission.trim();
    let mode = if permission.is_empty() {
        default_mode
    } else {
        u32::from_str_radix(permission, 8)
            .ok()
            .filter(|m| *m <= 0o777)
            .ok_or_else(|| ObjectError::InvalidPermission(permission.to_string()))?
    };
    Ok(KeyVaultObject {
        name: label.name.clone(),
        object_type,
        file_name,
        version: label.version.clone(),
        version_history: raw.object_version_history,
        format,
        encoding,
        mode,
    })
}

fn validate_file_name(name: &str) -> Result<(), ObjectError> {
    if name.is_empty() {
        return Err(ObjectError::EmptyFileName);
    }
    if name.starts_with('/') || name.starts_with('\\') {
        return Err(ObjectError::AbsoluteFileName);
    }
    if name.contains("..") {
        return Err(ObjectError::ParentInFileName);
    }
    Ok(())
}
