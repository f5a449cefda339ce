//! The parts of the provider contract that are not in the proto: the keys of `MountRequest.attributes`
//! the caller sets, the token audience of Azure workload identity, and the `objects` parameter convention
//! (a YAML document `array:` of YAML strings, one per object) that the Azure provider reads and the
//! manager splits for partial sync. Both sides use these; nothing else spells them.

/// Keys of `MountRequest.attributes` set by the caller (the CSI driver or the sync controller), never by
/// a SecretProviderClass author.
pub mod attributes {
    /// Every caller-set key starts with this.
    pub const RESERVED_PREFIX: &str = "csi.storage.k8s.io/";
    /// Pod name.
    pub const POD_NAME: &str = "csi.storage.k8s.io/pod.name";
    /// Pod namespace.
    pub const POD_NAMESPACE: &str = "csi.storage.k8s.io/pod.namespace";
    /// Pod UID.
    pub const POD_UID: &str = "csi.storage.k8s.io/pod.uid";
    /// Service-account name.
    pub const SERVICE_ACCOUNT_NAME: &str = "csi.storage.k8s.io/serviceAccount.name";
    /// Service-account tokens: JSON `{audience: {token, expirationTimestamp}}`.
    pub const SERVICE_ACCOUNT_TOKENS: &str = "csi.storage.k8s.io/serviceAccount.tokens";
    /// The SecretProviderClass parameter listing the objects to fetch (see [`super::Objects`]).
    pub const OBJECTS: &str = "objects";
    /// Set by SSE-rs's manager (not by the CSI driver): the `namespace/name` of the SecretSync the Mount
    /// is for, so a provider's log lines name it. A provider may ignore it; the Azure provider puts it in
    /// its Mount span. Never a secret.
    pub const SECRET_SYNC: &str = "sse-rs.io/secretsync";
}

/// The Azure provider's SecretProviderClass parameters, spelled as the upstream Azure provider reads them:
/// the provider parses them, the manager's AKVSync writes them, `kubectl sse` checks and translates them.
pub mod azure {
    /// The vault's name (not its URL).
    pub const KEYVAULT_NAME: &str = "keyvaultName";
    /// The identity's client ID (workload identity, service principal).
    pub const CLIENT_ID: &str = "clientID";
    /// The Entra tenant.
    pub const TENANT_ID: &str = "tenantID";
    /// The tenant's older spelling, read when [`TENANT_ID`] is absent.
    pub const TENANT_ID_LEGACY: &str = "tenantId";
    /// The Azure cloud (`AzurePublicCloud` when absent).
    pub const CLOUD_NAME: &str = "cloudName";
    /// The environment file of a custom cloud (`AzureStackCloud`).
    pub const CLOUD_ENV_FILE_NAME: &str = "cloudEnvFileName";
    /// AAD pod identity (deprecated upstream; refused by SSE-rs's provider).
    pub const USE_POD_IDENTITY: &str = "usePodIdentity";
    /// The node's managed identity.
    pub const USE_VM_MANAGED_IDENTITY: &str = "useVMManagedIdentity";
    /// The Azure token proxy (refused by SSE-rs's provider).
    pub const USE_AZURE_TOKEN_PROXY: &str = "useAzureTokenProxy";
    /// Which user-assigned managed identity, with [`USE_VM_MANAGED_IDENTITY`].
    pub const USER_ASSIGNED_IDENTITY_ID: &str = "userAssignedIdentityID";
}

/// Audience of the service-account token Azure workload identity federation exchanges with Entra ID.
pub const WORKLOAD_IDENTITY_AUDIENCE: &str = "api://AzureADTokenExchange";

/// The `objects` parameter: `array:` of YAML strings, each one object's fields
/// (`objectName: db\nobjectType: secret`).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Objects {
    /// One YAML document per object, as written (absent means none).
    #[serde(default)]
    pub array: Vec<String>,
}

impl Objects {
    /// Objects with these entries.
    pub fn new<S: Into<String>>(entries: impl IntoIterator<Item = S>) -> Self {
        Self {
            array: entries.into_iter().map(Into::into).collect(),
        }
    }

    /// Parse the parameter's value.
    pub fn parse(yaml: &str) -> Result<Self, serde_yaml_ng::Error> {
        serde_yaml_ng::from_str(yaml)
    }

    /// The parameter's value: `array:` with each entry as a literal block.
    pub fn to_yaml(&self) -> String {
        let mut yaml = String::from("array:\n");
        for entry in &self.array {
            yaml.push_str("  - |\n");
            for line in entry.lines() {
                yaml.push_str("    ");
                yaml.push_str(line);
                yaml.push('\n');
            }
        }
        if self.array.is_empty() {
            yaml = "array: []\n".into();
        }
        yaml
    }

    /// One `Objects` per entry (partial sync mounts each object on its own).
    pub fn split(&self) -> Vec<Self> {
        self.array
            .iter()
            .map(|entry| Self::new([entry.clone()]))
            .collect()
    }
}

/// gRPC status codes as gRPC-Go spells them in `rpc error: code = … desc = …`, the text the original's
/// conditions carry: the manager writes it, `kubectl sse doctor` reads the code back.
pub mod grpc_go {
    use tonic::Code;

    const NAMES: [(Code, &str); 17] = [
        (Code::Ok, "OK"),
        (Code::Cancelled, "Canceled"),
        (Code::Unknown, "Unknown"),
        (Code::InvalidArgument, "InvalidArgument"),
        (Code::DeadlineExceeded, "DeadlineExceeded"),
        (Code::NotFound, "NotFound"),
        (Code::AlreadyExists, "AlreadyExists"),
        (Code::PermissionDenied, "PermissionDenied"),
        (Code::ResourceExhausted, "ResourceExhausted"),
        (Code::FailedPrecondition, "FailedPrecondition"),
        (Code::Aborted, "Aborted"),
        (Code::OutOfRange, "OutOfRange"),
        (Code::Unimplemented, "Unimplemented"),
        (Code::Internal, "Internal"),
        (Code::Unavailable, "Unavailable"),
        (Code::DataLoss, "DataLoss"),
        (Code::Unauthenticated, "Unauthenticated"),
    ];

    /// `code`'s gRPC-Go name (`Canceled`, not tonic's `Cancelled`).
    pub fn name(code: Code) -> &'static str {
        NAMES
            .iter()
            .find(|(c, _)| *c == code)
            .map_or("Unknown", |(_, name)| name)
    }

    /// The code a gRPC-Go name stands for.
    pub fn code(name: &str) -> Option<Code> {
        NAMES.iter().find(|(_, n)| *n == name).map(|(code, _)| *code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_round_trip_and_split() {
        let objects = Objects::new([
            "objectName: a\nobjectType: secret",
            "objectName: b\nobjectType: cert\nobjectVersionHistory: 2",
        ]);
        let yaml = objects.to_yaml();
        assert_eq!(
            yaml,
            "array:\n  - |\n    objectName: a\n    objectType: secret\n  - |\n    objectName: b\n    objectType: cert\n    objectVersionHistory: 2\n"
        );
        let parsed = Objects::parse(&yaml).unwrap();
        assert_eq!(parsed.array[0], "objectName: a\nobjectType: secret\n");
        assert_eq!(
            parsed.array[1],
            "objectName: b\nobjectType: cert\nobjectVersionHistory: 2\n"
        );
        let split = parsed.split();
        assert_eq!(split.len(), 2);
        assert_eq!(
            Objects::parse(&split[1].to_yaml()).unwrap().array,
            vec![parsed.array[1].clone()]
        );
        assert_eq!(
            Objects::parse(&Objects::default().to_yaml()).unwrap(),
            Objects::default()
        );
    }

    #[test]
    fn the_upstream_flow_style_parses_too() {
        let parsed = Objects::parse("array: [\"objectName: x\\nobjectType: key\"]").unwrap();
        assert_eq!(parsed.array, vec!["objectName: x\nobjectType: key".to_string()]);
        assert!(Objects::parse("array: {").is_err());
    }

    #[test]
    fn grpc_go_names_go_both_ways() {
        for n in 0..17 {
            let code = tonic::Code::from_i32(n);
            assert_eq!(grpc_go::code(grpc_go::name(code)), Some(code), "{code:?}");
        }
        assert_eq!(grpc_go::name(tonic::Code::Cancelled), "Canceled");
        assert_eq!(
            grpc_go::code("Cancelled"),
            None,
            "tonic's spelling is not gRPC-Go's"
        );
    }
}
