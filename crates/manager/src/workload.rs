//! The workloads reload on change restarts ([`crate::reload`]): which kinds, how one opts in (the
//! `sse-rs.io/reload` annotation), the annotations a restart leaves on its pod template, and the Secrets a
//! pod template references. Plain data, read from the API server's objects by [`crate::cluster`].

use std::collections::BTreeSet;
use std::time::SystemTime;

use k8s_openapi::api::core::v1::PodTemplateSpec;

/// Annotation on a workload opting in: `"true"` or Secret names.
pub const RELOAD_ANNOTATION: &str = "sse-rs.io/reload";
/// Pod-template annotation set by a restart: when (RFC 3339).
pub const RESTARTED_AT_ANNOTATION: &str = "sse-rs.io/restarted-at";
/// Pod-template annotation set by a restart: which SecretSync caused it.
pub const RESTARTED_FOR_ANNOTATION: &str = "sse-rs.io/restarted-for";

/// The time a [`RESTARTED_AT_ANNOTATION`] value says (RFC 3339, whole seconds).
pub fn restarted_at(value: &str) -> Option<SystemTime> {
    let t = value.parse::<k8s_openapi::jiff::Timestamp>().ok()?;
    crate::clock::from_time(&k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(t))
}

/// The kinds of workload that can be restarted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// apps/v1 Deployment.
    Deployment,
    /// apps/v1 StatefulSet.
    StatefulSet,
    /// apps/v1 DaemonSet.
    DaemonSet,
}

impl Kind {
    /// Every kind.
    pub const ALL: [Kind; 3] = [Kind::Deployment, Kind::StatefulSet, Kind::DaemonSet];

    /// The kind's name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Kind::Deployment => "Deployment",
            Kind::StatefulSet => "StatefulSet",
            Kind::DaemonSet => "DaemonSet",
        }
    }
}

/// A workload that opted in, as the reloader needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Workload {
    /// Its kind.
    pub kind: Kind,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// UID (for its Events).
    pub uid: String,
    /// The Secrets whose change restarts it.
    pub secrets: BTreeSet<String>,
    /// When it was last restarted for a Secret change (its pod template's annotation).
    pub restarted_at: Option<SystemTime>,
}

impl Workload {
    /// The workload behind `meta` and `template`, if it opted in (`None` otherwise).
    pub fn opted_in(
        kind: Kind,
        meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
        template: &PodTemplateSpec,
    ) -> Option<Self> {
        let opt_in = meta.annotations.as_ref()?.get(RELOAD_ANNOTATION)?.trim();
        let secrets = if opt_in.eq_ignore_ascii_case("true") {
            referenced_secrets(template)
        } else {
            opt_in
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty() && !s.eq_ignore_ascii_case("false"))
                .map(str::to_string)
                .collect()
        };
        let restarted_at = template
            .metadata
            .as_ref()
            .and_then(|m| m.annotations.as_ref())
            .and_then(|a| a.get(RESTARTED_AT_ANNOTATION))
            .and_then(|t| restarted_at(t));
        Some(Self {
            kind,
            namespace: meta.namespace.clone().unwrap_or_default(),
            name: meta.name.clone().unwrap_or_default(),
            uid: meta.uid.clone().unwrap_or_default(),
            secrets,
            restarted_at,
        })
    }

    /// `namespace/Kind/name`.
    pub(crate) fn key(&self) -> String {
        format!("{}/{}/{}", self.namespace, self.kind.as_str(), self.name)
    }
}

/// The Secrets a pod template references: secret volumes, projected secrets, `env` and `envFrom` of every
/// container and init container.
pub fn referenced_secrets(template: &PodTemplateSpec) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let Some(spec) = &template.spec else {
        return names;
    };
    for volume in spec.volumes.iter().flatten() {
        if let Some(name) = volume.secret.as_ref().and_then(|s| s.secret_name.clone()) {
            names.insert(name);
        }
        for source in volume.projected.iter().flat_map(|p| p.sources.iter().flatten()) {
            if let Some(secret) = &source.secret {
                names.insert(secret.name.clone());
            }
        }
    }
    for container in spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
    {
        for env in container.env.iter().flatten() {
            if let Some(name) = env
                .value_from
                .as_ref()
                .and_then(|v| v.secret_key_ref.as_ref())
                .map(|r| r.name.clone())
            {
                names.insert(name);
            }
        }
        for from in container.env_from.iter().flatten() {
            if let Some(secret) = &from.secret_ref {
                names.insert(secret.name.clone());
            }
        }
    }
    names.retain(|n| !n.is_empty());
    names
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn template(json: serde_json::Value) -> PodTemplateSpec {
        serde_json::from_value(json).unwrap_or_default()
    }

    #[test]
    fn every_way_a_pod_references_a_secret() {
        let t = template(serde_json::json!({
            "spec": {
                "volumes": [
                    {"name": "a", "secret": {"secretName": "vol"}},
                    {"name": "b", "projected": {"sources": [{"secret": {"name": "projected"}}, {"configMap": {"name": "cm"}}]}},
                    {"name": "c", "configMap": {"name": "not-a-secret"}}
                ],
                "initContainers": [{"name": "i", "envFrom": [{"secretRef": {"name": "init-env-from"}}]}],
                "containers": [{"name": "c", "env": [
                    {"name": "X", "valueFrom": {"secretKeyRef": {"name": "env", "key": "k"}}},
                    {"name": "Y", "value": "plain"}
                ], "envFrom": [{"configMapRef": {"name": "cm2"}}]}]
            }
        }));
        let names: Vec<String> = referenced_secrets(&t).into_iter().collect();
        assert_eq!(names, ["env", "init-env-from", "projected", "vol"]);
    }

    #[test]
    fn opting_in_by_true_or_by_names() {
        let meta = |value: Option<&str>| k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
            name: Some("web".into()),
            namespace: Some("apps".into()),
            annotations: value.map(|v| BTreeMap::from([(RELOAD_ANNOTATION.to_string(), v.to_string())])),
            ..Default::default()
        };
        let t = template(serde_json::json!({
            "metadata": {"annotations": {RESTARTED_AT_ANNOTATION: "2026-12-06T11:00:00Z"}},
            "spec": {"containers": [{"name": "c", "envFrom": [{"secretRef": {"name": "db"}}]}]}
        }));
        assert_eq!(Workload::opted_in(Kind::Deployment, &meta(None), &t), None);
        let auto = Workload::opted_in(Kind::Deployment, &meta(Some("true")), &t)
            .unwrap_or_else(|| panic!("opted in"));
        assert_eq!(auto.secrets, BTreeSet::from(["db".to_string()]));
        assert!(auto.restarted_at.is_some());
        let named = Workload::opted_in(Kind::StatefulSet, &meta(Some(" api , db2 ")), &t)
            .unwrap_or_else(|| panic!("opted in"));
        assert_eq!(
            named.secrets,
            BTreeSet::from(["api".to_string(), "db2".to_string()])
        );
        let off = Workload::opted_in(Kind::DaemonSet, &meta(Some("false")), &t)
            .unwrap_or_else(|| panic!("annotated"));
        assert!(off.secrets.is_empty(), "\"false\" names no Secret");
    }
}
