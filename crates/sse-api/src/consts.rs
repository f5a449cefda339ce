//! Interface constants shared by the manager, the provider client, the deploy manifests and the tests.
//!
//! Every value here is an interface fact (docs/API.md#interface-constants): changing one changes what other
//! programs see, so each is defined exactly once.

// ---------------------------------------------------------------------------------------------------------------
// API identity
// ---------------------------------------------------------------------------------------------------------------

/// API group of `SecretSync`.
pub const SECRET_SYNC_GROUP: &str = "secret-sync.x-k8s.io";
/// The only served (and storage) version of `SecretSync`.
pub const SECRET_SYNC_VERSION: &str = "v1alpha1";
/// `apiVersion` of `SecretSync` objects (also used in the owner reference on synced Secrets).
pub const SECRET_SYNC_API_VERSION: &str = "secret-sync.x-k8s.io/v1alpha1";
/// `kind` of `SecretSync` objects (also used in the owner reference on synced Secrets).
pub const SECRET_SYNC_KIND: &str = "SecretSync";
/// Plural resource name of `SecretSync`.
pub const SECRET_SYNC_PLURAL: &str = "secretsyncs";
/// Name of the `SecretSync` CustomResourceDefinition.
pub const SECRET_SYNC_CRD_NAME: &str = "secretsyncs.secret-sync.x-k8s.io";

/// API group of `SecretProviderClass` (owned by the Secrets Store CSI Driver project).
pub const SECRET_PROVIDER_CLASS_GROUP: &str = "secrets-store.csi.x-k8s.io";
/// Storage version of `SecretProviderClass`.
pub const SECRET_PROVIDER_CLASS_VERSION: &str = "v1";
/// `apiVersion` of `SecretProviderClass` objects.
pub const SECRET_PROVIDER_CLASS_API_VERSION: &str = "secrets-store.csi.x-k8s.io/v1";
/// `kind` of `SecretProviderClass` objects.
pub const SECRET_PROVIDER_CLASS_KIND: &str = "SecretProviderClass";
/// Plural resource name of `SecretProviderClass`.
pub const SECRET_PROVIDER_CLASS_PLURAL: &str = "secretproviderclasses";
/// Name of the `SecretProviderClass` CustomResourceDefinition.
pub const SECRET_PROVIDER_CLASS_CRD_NAME: &str = "secretproviderclasses.secrets-store.csi.x-k8s.io";
/// Deprecation warning served for `secrets-store.csi.x-k8s.io/v1alpha1` (docs/API.md#secretproviderclass).
pub const SECRET_PROVIDER_CLASS_V1ALPHA1_DEPRECATION: &str =
    "secrets-store.csi.x-k8s.io/v1alpha1 is deprecated. Use secrets-store.csi.x-k8s.io/v1 instead.";

// ---------------------------------------------------------------------------------------------------------------
// The synced Secret
// ---------------------------------------------------------------------------------------------------------------

/// Label put on every Secret the controller writes (value [`CONTROLLER_LABEL_VALUE`]).
pub const CONTROLLER_LABEL_KEY: &str = "secrets-store.sync.x-k8s.io";
/// Value of [`CONTROLLER_LABEL_KEY`] on synced Secrets.
pub const CONTROLLER_LABEL_VALUE: &str = "";
/// Prefix reserved for the controller: user labels and annotations in `spec.secretObject` must not start with it.
pub const RESERVED_KEY_PREFIX: &str = "secrets-store.sync.x-k8s.io";
/// Server-side-apply field manager for the Secret and the SecretSync status (docs/API.md#field-manager).
pub const FIELD_MANAGER: &str = "secrets-store-sync-controller";
/// Field manager used by upstream releases up to v0.0.4; only needed to recognise their managed fields.
pub const LEGACY_FIELD_MANAGER: &str = "v1-secrets-store-sync-controller";
/// Secret `type` used when `spec.secretObject.type` is not set.
pub const DEFAULT_SECRET_TYPE: &str = "Opaque";

// ---------------------------------------------------------------------------------------------------------------
// Provider Mount call (docs/PROVIDER.md#mount-request, docs/PROVIDER.md#service-account-tokens)
// ---------------------------------------------------------------------------------------------------------------

/// Fixed `MountRequest.secrets` (there is no `nodePublishSecretRef` in secret sync).
pub const MOUNT_SECRETS: &str = "{}";
/// Fixed `MountRequest.permission`: JSON of file mode 0644.
pub const MOUNT_PERMISSION: &str = "420";
/// Fixed `MountRequest.target_path` (nothing is ever written there).
pub const MOUNT_TARGET_PATH: &str = "/mnt/secrets-store";

/// `expirationSeconds` of every TokenRequest minted for a provider call.
pub const TOKEN_EXPIRATION_SECONDS: i64 = 600;

/// Default directory holding the provider sockets `<provider>.sock`.
pub const DEFAULT_PROVIDER_VOLUME: &str = "/provider";
/// Suffix of a provider socket file name: the socket of provider `P` is `<volume>/P.sock`.
pub const PROVIDER_SOCKET_SUFFIX: &str = ".sock";
/// Maximum length of a provider name (`^[a-zA-Z0-9_-]{0,30}$`, docs/PROVIDER.md#dialing-a-provider).
pub const PROVIDER_NAME_MAX_LEN: usize = 30;

// ---------------------------------------------------------------------------------------------------------------
// Process (docs/API.md#manager-process)
// ---------------------------------------------------------------------------------------------------------------

/// Env var with the manager pod's name (downward API), sent as the `csi.storage.k8s.io/pod.name` Mount attribute.
pub const ENV_POD_NAME: &str = "SYNC_CONTROLLER_POD_NAME";
/// Env var with the manager pod's UID (downward API), sent as the `csi.storage.k8s.io/pod.uid` Mount attribute.
pub const ENV_POD_UID: &str = "SYNC_CONTROLLER_POD_UID";
/// Env var with the manager pod's namespace (downward API); the default namespace of the leader Lease.
pub const ENV_POD_NAMESPACE: &str = "SYNC_CONTROLLER_POD_NAMESPACE";

/// Name of the leader-election Lease (`coordination.k8s.io/v1`).
pub const LEADER_ELECTION_ID: &str = "29f1d54e.secret-sync.x-k8s.io";
/// Annotation of the leader-election Lease where the leader notes, at each renewal, where the stream of the
/// vault's events stands (JSON: `state` `Starting`, `Receiving` or `Failing`, `source`, `since`, `reason`,
/// `message`, `lastEventTime`, `lagSeconds`, `received`); absent while events are off. `kubectl sse status`
/// and `kubectl sse doctor` read it (docs/EVENTS.md#refresh-driven-by-events).
pub const EVENT_STREAM_ANNOTATION: &str = "sse-rs.io/event-stream";

/// Arc setting `rotationPollIntervalInSeconds` default (docs/API.md#settings-and-flags).
pub const DEFAULT_ROTATION_POLL_INTERVAL_SECONDS: u64 = 3600;
/// Arc setting `jitterSeconds` default (docs/API.md#settings-and-flags).
pub const DEFAULT_JITTER_SECONDS: u64 = 0;
/// Arc setting `enablePartialSecretSync` default (docs/API.md#settings-and-flags).
pub const DEFAULT_ENABLE_PARTIAL_SECRET_SYNC: bool = true;

/// Prefix of `status.syncHash` values written by SSE-rs (keyed MAC, docs/API.md#sync-hash). Upstream writes
/// `v1:`.
pub const SYNC_HASH_PREFIX: &str = "v2:";

/// True when `name` matches upstream's provider-name pattern `^[a-zA-Z0-9_-]{0,30}$`, which admits the empty
/// string. The manager refuses an empty name on its own before socket discovery, answering
/// `invalid provider: provider ""` where upstream answers "provider not found"
/// (docs/COMPATIBILITY.md#upstream-defects-and-what-sse-rs-does-instead).
pub fn is_valid_provider_name(name: &str) -> bool {
    name.len() <= PROVIDER_NAME_MAX_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Prefix of the annotations SSE-rs reads on its own resources (beyond the upstream API).
pub const ANNOTATION_PREFIX: &str = "sse-rs.io/";

/// Annotation on a SecretSync setting its own check interval (Go duration syntax: `90s`, `5m`, `1h30m`),
/// within the bounds the administrator sets (`--min-refresh-interval`, `--max-refresh-interval`); without
/// it, `rotationPollIntervalInSeconds` applies.
pub const REFRESH_INTERVAL_ANNOTATION: &str = "sse-rs.io/refresh-interval";

/// Annotation on a SecretSync asking for a full check now: every new value (by convention the time, as
/// `kubectl sse sync` sets it) makes the manager read the vault at once, past change detection, and
/// record the value it handled in `status.forceSyncHandled`. No spec edit, no delete-and-recreate.
pub const FORCE_SYNC_ANNOTATION: &str = "sse-rs.io/force-sync";

/// SecretSync annotation: the Key Vault tags to copy onto the Secret as labels, comma-separated, each
/// `TAG` (label key = tag name) or `TAG=LABEL_KEY` (issue 11). Opt-in; tags not listed are never copied.
pub const TAG_LABELS_ANNOTATION: &str = "sse-rs.io/tag-labels";

/// SecretSync annotation: the Key Vault tags to copy onto the Secret as annotations, like
/// [`TAG_LABELS_ANNOTATION`].
pub const TAG_ANNOTATIONS_ANNOTATION: &str = "sse-rs.io/tag-annotations";

/// Secret annotation the manager writes beside tag-derived labels and annotations: which keys came from
/// tags, so a tag removed in the vault is noticed and its label removed.
pub const TAG_KEYS_ANNOTATION: &str = "sse-rs.io/tag-keys";

/// Annotation on an existing **Secret**, set by whoever may edit it: with the value `"true"` the SecretSync
/// of the same name may take that Secret over in place (adoption, for a migration without downtime). The
/// manager then makes it its own (label, owner reference), drops this annotation and writes it as usual.
/// Without it a Secret SSE-rs does not own is never touched.
pub const ADOPTABLE_ANNOTATION: &str = "sse-rs.io/adoptable";

/// kubectl's copy of what was last applied to an object; dropped from a Secret on adoption.
pub const LAST_APPLIED_ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Longest value of [`FORCE_SYNC_ANNOTATION`]: it is copied into the status.
pub const FORCE_SYNC_MAX_LEN: usize = 63;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_version_strings_are_group_slash_version() {
        assert_eq!(
            SECRET_SYNC_API_VERSION,
            format!("{SECRET_SYNC_GROUP}/{SECRET_SYNC_VERSION}")
        );
        assert_eq!(
            SECRET_PROVIDER_CLASS_API_VERSION,
            format!("{SECRET_PROVIDER_CLASS_GROUP}/{SECRET_PROVIDER_CLASS_VERSION}")
        );
        assert_eq!(
            SECRET_SYNC_CRD_NAME,
            format!("{SECRET_SYNC_PLURAL}.{SECRET_SYNC_GROUP}")
        );
        assert_eq!(
            SECRET_PROVIDER_CLASS_CRD_NAME,
            format!("{SECRET_PROVIDER_CLASS_PLURAL}.{SECRET_PROVIDER_CLASS_GROUP}")
        );
    }

    #[test]
    fn provider_names() {
        for ok in ["", "azure", "e2e-provider", "a_b", "A1", &"x".repeat(30)] {
            assert!(is_valid_provider_name(ok), "{ok:?} should be valid");
        }
        for bad in ["a.b", "a/b", "../x", "a b", "é", &"x".repeat(31)] {
            assert!(!is_valid_provider_name(bad), "{bad:?} should be invalid");
        }
    }
}
