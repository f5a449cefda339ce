//! The doctor's only I/O: read the cluster into [`Facts`]. Every read is bounded by the client's timeouts and
//! none is fatal: what cannot be read becomes [`Lookup::Unreadable`], with the API server's answer.

use k8s_openapi::api::core::v1::{ConfigMap, Event, Pod, Secret, ServiceAccount};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt as _;
use kube::api::{Api, ListParams};
use sse_api::{SecretProviderClass, SecretSync};

use super::facts::{ContainerFacts, EventFacts, Facts, Lookup};
use super::{AUDIENCE_CONFIGMAP, MANAGER_NAME, POD_SELECTOR};

impl<T> Lookup<T> {
    /// A `get_opt` (or, wrapped in `Some`, a `list`): found, 404, or the API server's refusal.
    fn from_result(result: kube::Result<Option<T>>) -> Self {
        match result {
            Ok(Some(value)) => Self::Found(value),
            Ok(None) => Self::Missing,
            Err(error) => Self::Unreadable(short_error(&error)),
        }
    }

    /// What was found, converted; absent and unreadable stay as they are.
    fn map<U>(self, f: impl FnOnce(T) -> U) -> Lookup<U> {
        match self {
            Self::Found(value) => Lookup::Found(f(value)),
            Self::Missing => Lookup::Missing,
            Self::Unreadable(why) => Lookup::Unreadable(why),
        }
    }
}

/// Read what the checks need; every read is bounded by the client's timeouts and none is fatal.
pub async fn gather(client: &kube::Client, namespace: &str, name: &str, install_namespace: &str) -> Facts {
    let sync = Lookup::from_result(
        Api::<SecretSync>::namespaced(client.clone(), namespace)
            .get_opt(name)
            .await,
    );
    let (class, service_account) = match &sync {
        Lookup::Found(sync) => {
            let class = Lookup::from_result(
                Api::<SecretProviderClass>::namespaced(client.clone(), namespace)
                    .get_opt(&sync.spec.secret_provider_class_name)
                    .await,
            );
            let service_account = Lookup::from_result(
                Api::<ServiceAccount>::namespaced(client.clone(), namespace)
                    .get_metadata_opt(&sync.spec.service_account_name)
                    .await,
            )
            .map(|_| ());
            (class, service_account)
        }
        _ => (Lookup::Missing, Lookup::Missing),
    };
    let issuer = match openid_issuer(client).await {
        Ok(issuer) => Lookup::Found(issuer),
        Err(error) => Lookup::Unreadable(error),
    };
    let allowed_audiences = Lookup::from_result(
        Api::<ConfigMap>::namespaced(client.clone(), install_namespace)
            .get_opt(AUDIENCE_CONFIGMAP)
            .await,
    )
    .map(audiences);
    let secret = Lookup::from_result(
        Api::<Secret>::namespaced(client.clone(), namespace)
            .get_metadata_opt(name)
            .await,
    )
    .map(|m| m.metadata);
    let containers = Lookup::from_result(
        Api::<Pod>::namespaced(client.clone(), install_namespace)
            .list(&ListParams::default().labels(POD_SELECTOR))
            .await
            .map(Some),
    )
    .map(|pods| pods.items.iter().flat_map(containers_of).collect());
    let events = Lookup::from_result(
        Api::<Event>::namespaced(client.clone(), namespace)
            .list(&ListParams::default().fields(&format!(
                "involvedObject.kind=SecretSync,involvedObject.name={name}"
            )))
            .await
            .map(Some),
    )
    .map(|list| events_of(list.items));
    let event_stream = crate::vault_events::read(client, install_namespace).await;
    // The Warning Events of a failing stream regard the manager's Deployment: only worth a request when the
    // leader notes a stream at all.
    let event_stream_failures = match &event_stream {
        Lookup::Found(lease) if lease.annotation.is_some() => Lookup::from_result(
            Api::<Event>::namespaced(client.clone(), install_namespace)
                .list(&ListParams::default().fields(&format!(
                    "involvedObject.kind=Deployment,involvedObject.name={MANAGER_NAME},reason=EventStreamFailed"
                )))
                .await
                .map(Some),
        )
        .map(|list| events_of(list.items)),
        _ => Lookup::Missing,
    };
    Facts {
        namespace: namespace.to_string(),
        name: name.to_string(),
        sync,
        class,
        service_account,
        issuer,
        allowed_audiences,
        secret,
        containers,
        events,
        event_stream,
        event_stream_failures,
    }
}

/// The audiences the shared ConfigMap allows (`tokenRequestAudience`, comma-separated).
fn audiences(map: ConfigMap) -> Vec<String> {
    map.data
        .unwrap_or_default()
        .get("tokenRequestAudience")
        .map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|a| !a.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn containers_of(pod: &Pod) -> Vec<ContainerFacts> {
    pod.status
        .as_ref()
        .and_then(|s| s.container_statuses.clone())
        .unwrap_or_default()
        .into_iter()
        .map(|c| ContainerFacts {
            pod: pod.name_any(),
            name: c.name,
            image: c.image,
            ready: c.ready,
            restarts: c.restart_count,
        })
        .collect()
}

/// The Events, latest last (by `lastTimestamp`, else `eventTime`).
fn events_of(mut items: Vec<Event>) -> Vec<EventFacts> {
    items.sort_by_key(|e| {
        e.last_timestamp
            .clone()
            .or_else(|| e.event_time.clone().map(|t| Time(t.0)))
    });
    items
        .into_iter()
        .map(|e| EventFacts {
            type_: e.type_.unwrap_or_default(),
            reason: e.reason.unwrap_or_default(),
            message: e.message.unwrap_or_default(),
            count: e.count.unwrap_or(1),
        })
        .collect()
}

/// The cluster's ServiceAccount token issuer, from its OIDC discovery document.
async fn openid_issuer(client: &kube::Client) -> std::result::Result<String, String> {
    let request = http::Request::get("/.well-known/openid-configuration")
        .body(Vec::new())
        .map_err(|e| e.to_string())?;
    let document: serde_json::Value = client.request(request).await.map_err(|e| short_error(&e))?;
    document["issuer"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| "the discovery document has no issuer".to_string())
}

fn short_error(error: &kube::Error) -> String {
    match error {
        kube::Error::Api(status) => format!("{} ({})", status.message, status.code),
        other => other.to_string(),
    }
}
