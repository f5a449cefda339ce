use std::sync::Mutex;

use serde_json::{Value, json};
use tracing::subscriber::DefaultGuard;

use super::*;

use crate::keyvault::{KeyVault, KeyVaultConfig};
use crate::mount::MountConfig;
use crate::params::fixtures::attrs;
use crate::params::{ObjectLabel, ParamError, keys};

#[test]
fn mount_errors_keep_the_upstream_text_with_a_fitting_code() {
    let object = || ObjectLabel {
        object_type: "secret".into(),
        name: "db".into(),
        version: String::new(),
    };
    let cases = [
        (
            MountError::Parameters(ParamError::NoObjects),
            Code::InvalidArgument,
            "failed to mount objects, error: objects is not set",
        ),
        (
            MountError::Get {
                object: object(),
                error: KeyVaultError::Status {
                    status: 404,
                    message: "GET https://kv/secrets/db/: HTTP 404 SecretNotFound".into(),
                },
            },
            Code::NotFound,
            "failed to mount objects, error: failed to get objectType:secret, objectName:db, objectVersion:: GET https://kv/secrets/db/: HTTP 404 SecretNotFound",
        ),
        (
            MountError::List {
                object: object(),
                error: KeyVaultError::ShuttingDown,
            },
            Code::Unavailable,
            "failed to mount objects, error: the provider is shutting down",
        ),
        (
            MountError::Credential(KeyVaultError::Credential {
                message: "create credential bad tenant".into(),
            }),
            Code::InvalidArgument,
            "failed to mount objects, error: failed to get keyvault client: create credential bad tenant",
        ),
    ];
    for (error, code, text) in cases {
        let status = Status::from(error);
        assert_eq!(status.code(), code, "{text}");
        assert_eq!(status.message(), text);
    }
}

/// What a subscriber set up as `sse_runtime::init_logging` sets it up writes.
#[derive(Clone, Default)]
struct Logged(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Logged {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl tracing_subscriber::fmt::MakeWriter<'_> for Logged {
    type Writer = Self;

    fn make_writer(&self) -> Self {
        self.clone()
    }
}

impl Logged {
    /// Capture this thread's logs through `filter`, as JSON (`--log-format=json`) or plain text.
    fn start(json: bool, filter: &str) -> (Self, DefaultGuard) {
        let logged = Self::default();
        let builder = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(false)
            .with_writer(logged.clone());
        let guard = if json {
            tracing::subscriber::set_default(builder.json().flatten_event(true).finish())
        } else {
            tracing::subscriber::set_default(builder.finish())
        };
        (logged, guard)
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    /// The JSON line whose message is `message`.
    fn line(&self, message: &str) -> Value {
        self.text()
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .find(|l| l["message"] == message)
            .unwrap_or_else(|| panic!("no {message:?} line in {}", self.text()))
    }
}

fn service() -> ProviderService {
    let keyvault = KeyVault::new(&KeyVaultConfig::default(), Metrics::default()).unwrap();
    let mounter = Mounter::new(MountConfig::default(), Arc::new(keyvault));
    ProviderService::new(Arc::new(mounter), Metrics::default())
}

/// A Mount of the walkthrough's attributes with `extra` set over them, as the sync controller sends it.
fn request(extra: &[(&str, &str)]) -> Request<MountRequest> {
    let mut all = vec![
        (keys::SECRET_SYNC, "app/web"),
        (keys::SA_NAME, "app-sa"),
        (
            keys::SA_TOKENS,
            r#"{"api://AzureADTokenExchange":{"token":"TOPSECRETJWT"}}"#,
        ),
    ];
    all.extend_from_slice(extra);
    Request::new(MountRequest {
        attributes: attrs(&all),
        secrets: "{}".into(),
        permission: "420".into(),
        ..MountRequest::default()
    })
}

#[tokio::test]
async fn every_line_of_a_mount_names_the_request_and_nothing_secret() {
    let service = service();
    let named = json!({
        "name": "mount",
        "secretsync": "app/web",
        "namespace": "app",
        "pod": "sse-pod",
        "service_account": "app-sa",
        "vault": "contoso-kv",
    });

    let (logged, guard) = Logged::start(true, "info");
    // No objects: answered without a call to Key Vault.
    service.mount(request(&[("objects", "array: []")])).await.unwrap();
    // Refused once decoded: named, without an object count.
    service.mount(request(&[("tenantID", "")])).await.unwrap_err();
    drop(guard);
    let mut counted = named.clone();
    counted["objects"] = json!(0);
    assert_eq!(logged.line("mount succeeded")["span"], counted);
    assert_eq!(logged.line("failed to process mount request")["span"], named);
    assert!(!logged.text().contains("TOPSECRETJWT"), "{}", logged.text());

    // The span outlives a filter that drops INFO: a failure is still named.
    let (logged, guard) = Logged::start(true, "warn");
    service.mount(request(&[("tenantID", "")])).await.unwrap_err();
    drop(guard);
    assert_eq!(logged.line("failed to process mount request")["span"], named);

    // Plain text, the default format: the span's fields prefix the line.
    let (logged, guard) = Logged::start(false, "info");
    service.mount(request(&[("objects", "array: []")])).await.unwrap();
    drop(guard);
    let text = logged.text();
    assert!(
        text.contains("mount{secretsync=app/web namespace=app pod=sse-pod service_account=app-sa vault=contoso-kv objects=0}: ")
            && text.contains("mount succeeded"),
        "{text}"
    );
}

#[tokio::test]
async fn a_fingerprints_request_is_named_as_a_mount_is() {
    let keyvault = Arc::new(KeyVault::new(&KeyVaultConfig::default(), Metrics::default()).unwrap());
    let detector = crate::changes::ChangeDetector::new(crate::changes::ChangeConfig::default(), keyvault);
    let service = ChangeService::new(Arc::new(detector), Metrics::default());
    let mount = request(&[("tenantID", "")]).into_inner();
    let fingerprints = provider_proto::ssers::FingerprintsRequest {
        attributes: mount.attributes,
        secrets: mount.secrets,
        ..Default::default()
    };
    let (logged, guard) = Logged::start(true, "debug");
    service
        .fingerprints(Request::new(fingerprints))
        .await
        .unwrap_err();
    drop(guard);
    let span = &logged.line("failed to answer a fingerprints request")["span"];
    assert_eq!(span["name"], "fingerprints");
    assert_eq!(span["secretsync"], "app/web");
    assert_eq!(span["vault"], "contoso-kv");
    assert!(!logged.text().contains("TOPSECRETJWT"), "{}", logged.text());
}
