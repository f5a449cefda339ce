//! The provider contract's data as the manager uses it: the Mount `attributes` it sends, what a Mount and
//! a change-detection answer mean, and the `objects` split for partial sync.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::time::Duration;

use provider_proto::contract::{Objects, attributes};

use super::ProviderError;

/// What a provider's change-detection service answered for one SecretSync's objects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fingerprint {
    /// A digest of every object's fingerprint; `None` when one of them was unknown (the caller must Mount).
    pub digest: Option<[u8; 16]>,
    /// When the metadata behind it was read (provider clock).
    pub observed_at: std::time::SystemTime,
    /// The objects' validity dates, from the same metadata (every object, dated or not).
    pub validity: Vec<crate::expiry::Dates>,
    /// The objects' Key Vault tags, from the same metadata, in the request's order.
    pub tags: crate::tags::ObjectTags,
}

/// Objects news from the vault says changed (an event): asked for afresh in the fingerprints request
/// (`FingerprintsRequest.changed`), the others answered from the metadata the last answer used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Changed {
    /// `objectType/objectName`, as the class writes them.
    pub ids: Vec<String>,
    /// When the news arrived: metadata read after it shows the change.
    pub after: std::time::SystemTime,
}

/// Provider files: `path → contents`.
pub type Files = HashMap<String, Vec<u8>>;

/// What a Mount returned: the files, and the object versions (`id → version`), which identify the content
/// without revealing it.
#[derive(Default)]
pub struct Mounted {
    /// `path → contents`.
    pub files: Files,
    /// `object id → version`.
    pub versions: BTreeMap<String, String>,
}

impl fmt::Debug for Mounted {
    // File contents are secret: only paths and versions.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mounted")
            .field("paths", &self.files.keys().collect::<Vec<_>>())
            .field("versions", &self.versions)
            .finish()
    }
}

/// The digest of a fingerprints answer: `None` as soon as one object has no fingerprint.
pub(super) fn digest(response: &provider_proto::ssers::FingerprintsResponse) -> Fingerprint {
    use sha2::{Digest as _, Sha256};
    let mut hasher = Sha256::new();
    let mut known = !response.objects.is_empty();
    for object in &response.objects {
        known &= !object.fingerprint.is_empty();
        for part in [&object.id, &object.fingerprint] {
            hasher.update((part.len() as u64).to_be_bytes());
            hasher.update(part.as_bytes());
        }
    }
    let full = hasher.finalize();
    let mut digest = [0u8; 16];
    digest.copy_from_slice(&full[..16]);
    let date = |seconds: i64| {
        u64::try_from(seconds)
            .ok()
            .filter(|s| *s > 0)
            .map(|s| std::time::UNIX_EPOCH + Duration::from_secs(s))
    };
    Fingerprint {
        digest: known.then_some(digest),
        observed_at: std::time::UNIX_EPOCH + Duration::from_millis(response.observed_at_unix_millis),
        validity: response
            .objects
            .iter()
            .map(|object| crate::expiry::Dates {
                object: object.id.clone(),
                not_before: date(object.not_before_unix_seconds),
                expires: date(object.expires_unix_seconds),
            })
            .collect(),
        tags: response
            .objects
            .iter()
            .map(|object| {
                (
                    object.id.clone(),
                    object.tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                )
            })
            .collect(),
    }
}

/// docs/PROVIDER.md#interpreting-the-answer: an error code or missing object versions is a failure; later
/// duplicates of a path win.
pub fn interpret(response: provider_proto::v1alpha1::MountResponse) -> Result<Mounted, ProviderError> {
    if let Some(error) = response.error.filter(|e| !e.code.is_empty()) {
        return Err(ProviderError::ErrorCode(error.code));
    }
    if response.object_version.is_empty() {
        return Err(ProviderError::MissingObjectVersions);
    }
    Ok(Mounted {
        files: response.files.into_iter().map(|f| (f.path, f.contents)).collect(),
        versions: response
            .object_version
            .into_iter()
            .map(|v| (v.id, v.version))
            .collect(),
    })
}

/// The Mount `attributes` (docs/PROVIDER.md#mount-request): SPC parameters, then the pod attributes and
/// the SecretSync's `namespace/name` (`secret_sync`, for the provider's logs), then the tokens.
pub fn attributes(
    parameters: &BTreeMap<String, String>,
    pod_name: &str,
    pod_uid: &str,
    secret_sync: (&str, &str),
    service_account: &str,
    tokens: Option<&str>,
) -> String {
    let (namespace, name) = secret_sync;
    let key = format!("{namespace}/{name}");
    // Pod and token attributes come from the manager only: a SecretProviderClass author must not be able
    // to inject `csi.storage.k8s.io/serviceAccount.tokens` (or another pod's identity) through parameters.
    let mut attrs: BTreeMap<&str, &str> = parameters
        .iter()
        .filter(|(k, _)| !k.starts_with(attributes::RESERVED_PREFIX) && *k != attributes::SECRET_SYNC)
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    attrs.insert(attributes::POD_NAME, pod_name);
    attrs.insert(attributes::POD_UID, pod_uid);
    attrs.insert(attributes::POD_NAMESPACE, namespace);
    attrs.insert(attributes::SERVICE_ACCOUNT_NAME, service_account);
    attrs.insert(attributes::SECRET_SYNC, &key);
    if let Some(tokens) = tokens {
        attrs.insert(attributes::SERVICE_ACCOUNT_TOKENS, tokens);
    }
    // A map of strings always serialises.
    serde_json::to_string(&attrs).unwrap_or_default()
}

/// For partial sync: the SPC parameters split into one parameter set per `objects` entry, when the
/// provider uses the `objects` array convention (`array:` of YAML strings). `None` otherwise.
pub fn split_objects(parameters: &BTreeMap<String, String>) -> Option<Vec<BTreeMap<String, String>>> {
    let objects = Objects::parse(parameters.get(attributes::OBJECTS)?).ok()?;
    if objects.array.len() < 2 {
        return None;
    }
    Some(
        objects
            .split()
            .iter()
            .map(|single| {
                let mut parameters = parameters.clone();
                parameters.insert(attributes::OBJECTS.into(), single.to_yaml());
                parameters
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use provider_proto::v1alpha1::{File, MountResponse, ObjectVersion};

    #[test]
    fn attribute_precedence() {
        let params = BTreeMap::from([
            ("keyvaultName".to_string(), "kv".to_string()),
            (attributes::POD_NAME.to_string(), "spoofed".to_string()),
            (attributes::SECRET_SYNC.to_string(), "other/spoofed".to_string()),
        ]);
        let json = attributes(
            &params,
            "sse-pod",
            "uid",
            ("app", "web"),
            "app-sa",
            Some("{\"aud\":{}}"),
        );
        let map: BTreeMap<String, String> = serde_json::from_str(&json).unwrap();
        assert_eq!(map[attributes::POD_NAME], "sse-pod");
        assert_eq!(map[attributes::POD_NAMESPACE], "app");
        assert_eq!(map[attributes::SERVICE_ACCOUNT_NAME], "app-sa");
        assert_eq!(
            map[attributes::SECRET_SYNC],
            "app/web",
            "the manager's, not the class author's"
        );
        assert_eq!(map[attributes::SERVICE_ACCOUNT_TOKENS], "{\"aud\":{}}");
        assert_eq!(map["keyvaultName"], "kv");
        let without = attributes(&BTreeMap::new(), "p", "u", ("n", "w"), "s", None);
        assert!(
            !without.contains(attributes::SERVICE_ACCOUNT_TOKENS),
            "no audience, no token attribute"
        );
    }

    #[test]
    fn response_interpretation() {
        let file = |p: &str, c: &str| File {
            path: p.into(),
            mode: 420,
            contents: c.into(),
        };
        let version = ObjectVersion {
            id: "secret/a".into(),
            version: "1".into(),
        };
        let ok = MountResponse {
            object_version: vec![version.clone()],
            error: None,
            files: vec![file("a", "1"), file("a", "2")],
        };
        let mounted = interpret(ok).unwrap();
        assert_eq!(mounted.files["a"], b"2", "later duplicates win");
        assert_eq!(mounted.versions["secret/a"], "1");
        assert!(!format!("{mounted:?}").contains('2'), "no contents in Debug");
        let coded = MountResponse {
            object_version: vec![version],
            error: Some(provider_proto::v1alpha1::Error { code: "Boom".into() }),
            files: vec![],
        };
        assert_eq!(
            interpret(coded).unwrap_err().to_string(),
            "mount request failed with provider error code Boom"
        );
        assert_eq!(
            interpret(MountResponse::default()).unwrap_err().to_string(),
            "missing object versions"
        );
    }

    #[test]
    fn objects_are_split_for_partial_sync() {
        let params = BTreeMap::from([
            ("keyvaultName".to_string(), "kv".to_string()),
            (
                "objects".to_string(),
                "array:\n  - |\n    objectName: a\n    objectType: secret\n  - |\n    objectName: b\n    objectType: secret\n".to_string(),
            ),
        ]);
        let split = split_objects(&params).unwrap();
        assert_eq!(split.len(), 2);
        assert!(
            split[1]["objects"].contains("objectName: b") && !split[1]["objects"].contains("objectName: a")
        );
        assert_eq!(split[0]["keyvaultName"], "kv");
        assert!(split_objects(&BTreeMap::new()).is_none());
    }
}
