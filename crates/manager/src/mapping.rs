//! Building the Secret's `data` from a SecretSync's `spec.secretObject` and the files a provider returned
//! (docs/API.md#data-mapping), item by item for partial sync (docs/API.md#partial-sync) or all-or-nothing.
//!
//! For each `secretObject.data[i]`, in order: `sourcePath` and `targetKey` are trimmed and must not be empty;
//! the file is looked up exactly (case-sensitive); its bytes become the value. When the Secret type is exactly
//! `kubernetes.io/tls` the value is post-processed by key name:
//!
//! * `tls.key`: the last non-`CERTIFICATE` PEM block, or else the private key of the PKCS#12 (empty password)
//!   found in the bytes after the last PEM block, re-encoded as `RSA PRIVATE KEY` (PKCS#1) or `EC PRIVATE KEY`
//!   (SEC1, named curve). Other PKCS#8 algorithms (Ed25519, …) are rejected.
//! * `tls.crt`: every `CERTIFICATE` PEM block in input order, or else the PKCS#12 certificates (leaf first when
//!   it can be identified).
//! * `ca.crt`: the certificates of `tls.crt` but the leaf (the issuing chain); a self-signed leaf alone is
//!   its own CA, a CA-issued leaf without its chain is rejected.
//! * any other key is rejected.
//!
//! Beyond upstream, an item with a `property` takes that property of the file's JSON value (docs/API.md#shaping)
//! before the post-processing; with a `template` the post-processing does not apply.
//!
//! Differences from upstream: upstream accepts only `tls.key` and `tls.crt`; and when no private key can be
//! parsed, upstream writes an empty `PRIVATE KEY` block without error, where here it is an error
//! (`failed to get cert data for tls.key: …`).
//!
//! Secret bytes never appear in errors or `Debug` output.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use sse_api::SecretObject;

mod tls;

pub use tls::{CertError, Pkcs12Problem};

/// Secret type whose values are post-processed into `tls.key` / `tls.crt`.
pub const TLS_SECRET_TYPE: &str = "kubernetes.io/tls";

/// Secret data: target key → bytes. `Debug` never shows values (only keys and byte counts).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SecretData(pub BTreeMap<String, Vec<u8>>);

impl fmt::Debug for SecretData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|(k, v)| (k, ByteCount(v.len()))))
            .finish()
    }
}

/// `<N bytes>` in `Debug` output instead of the bytes.
struct ByteCount(usize);

impl fmt::Debug for ByteCount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{} bytes>", self.0)
    }
}

/// Why one `secretObject.data` item could not be mapped. `Display` gives the upstream texts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MappingError {
    /// `sourcePath` is empty after trimming.
    #[error("source path in secretObject.data is empty")]
    EmptySourcePath,
    /// `targetKey` is empty after trimming.
    #[error("target key in secretObject.data is empty")]
    EmptyTargetKey,
    /// The provider returned no file with this path.
    #[error("file matching sourcePath {source_path} not found in the pod")]
    FileNotFound {
        /// The trimmed `sourcePath`.
        source_path: String,
    },
    /// The Secret would hold more data than the API server accepts in one Secret.
    #[error(
        "the Secret would hold {bytes} bytes of data, more than the {SECRET_DATA_MAX} a Secret may hold: map fewer or smaller objects"
    )]
    SecretTooLarge {
        /// Keys and values, summed as the API server counts them.
        bytes: usize,
    },
    /// The provider returned more for one sync than one sync may hold.
    #[error(
        "the provider returned {bytes} bytes for this SecretSync, more than the {limit} one sync may hold (--max-call-recv-msg-size): map fewer or smaller objects"
    )]
    MountTooLarge {
        /// What had arrived when the sync stopped.
        bytes: usize,
        /// The limit.
        limit: usize,
    },
    /// The item's `property` could not be read from its value (reported as `PropertyError`).
    #[error("{0}")]
    Property(sse_shape::plan::ShapeError),
    /// `kubernetes.io/tls` post-processing failed (including an unsupported key name, as upstream wraps it).
    #[error("failed to get cert data for {key}: {reason}")]
    CertData {
        /// The trimmed `targetKey`.
        key: String,
        /// What went wrong.
        reason: CertError,
    },
}

/// Most bytes of data (keys and values) the API server accepts in one Secret (`MaxSecretSize`, 1 MiB).
pub const SECRET_DATA_MAX: usize = 1024 * 1024;

impl SecretData {
    /// Its size as the API server counts it: every key and value.
    pub fn bytes(&self) -> usize {
        self.0.iter().map(|(k, v)| k.len() + v.len()).sum()
    }

    /// `self`, or [`MappingError::SecretTooLarge`] when no Secret could hold it.
    pub fn fits(self) -> Result<Self, MappingError> {
        match self.bytes() {
            bytes if bytes > SECRET_DATA_MAX => Err(MappingError::SecretTooLarge { bytes }),
            _ => Ok(self),
        }
    }
}

/// One `SecretObject.data` item's outcome (for partial sync).
#[derive(Clone, PartialEq, Eq)]
pub struct ItemOutcome {
    /// The item's `sourcePath`, trimmed.
    pub source_path: String,
    /// The item's `targetKey`, trimmed.
    pub target_key: String,
    /// The value for `target_key`, or why there is none.
    pub result: Result<Vec<u8>, MappingError>,
}

impl fmt::Debug for ItemOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("ItemOutcome");
        s.field("source_path", &self.source_path)
            .field("target_key", &self.target_key);
        match &self.result {
            Ok(value) => s.field("result", &Ok::<_, ()>(ByteCount(value.len()))),
            Err(err) => s.field("result", &Err::<(), _>(err)),
        };
        s.finish()
    }
}

/// Map every item independently, in spec order (partial sync uses this).
pub fn map_items(secret_object: &SecretObject, files: &HashMap<String, Vec<u8>>) -> Vec<ItemOutcome> {
    // With a template the items are its raw inputs, under names of the user's choosing: the template
    // splits certificates itself (`pemKey`, `pemCertificates`, `pemChain`).
    let is_tls = secret_object.type_ == TLS_SECRET_TYPE && secret_object.template.is_none();
    secret_object
        .data
        .iter()
        .enumerate()
        .map(|(index, item)| {
            let source_path = item.source_path.trim();
            let target_key = item.target_key.trim();
            let result = map_item(source_path, target_key, files).and_then(|contents| {
                let value =
                    sse_shape::plan::item_value(index, item, contents).map_err(MappingError::Property)?;
                if !is_tls {
                    return Ok(value);
                }
                tls::cert_part(&value, target_key).map_err(|reason| MappingError::CertData {
                    key: target_key.to_owned(),
                    reason,
                })
            });
            ItemOutcome {
                source_path: source_path.to_owned(),
                target_key: target_key.to_owned(),
                result,
            }
        })
        .collect()
}

/// All-or-nothing: the data of every item, or the first failing item's error. A target key mapped twice keeps
/// the later value (as upstream's map assignment does).
pub fn build_secret_data(
    secret_object: &SecretObject,
    files: &HashMap<String, Vec<u8>>,
) -> Result<SecretData, MappingError> {
    let mut data = BTreeMap::new();
    for outcome in map_items(secret_object, files) {
        data.insert(outcome.target_key, outcome.result?);
    }
    Ok(SecretData(data))
}

/// The file an item reads.
fn map_item<'a>(
    source_path: &str,
    target_key: &str,
    files: &'a HashMap<String, Vec<u8>>,
) -> Result<&'a [u8], MappingError> {
    if source_path.is_empty() {
        return Err(MappingError::EmptySourcePath);
    }
    if target_key.is_empty() {
        return Err(MappingError::EmptyTargetKey);
    }
    files
        .get(source_path)
        .map(Vec::as_slice)
        .ok_or_else(|| MappingError::FileNotFound {
            source_path: source_path.to_owned(),
        })
}

#[cfg(test)]
mod tests;
