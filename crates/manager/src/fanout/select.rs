//! Which namespaces a ClusterSecretSync selects: pure, no I/O. The admission policy
//! (`deploy/policies/fanout.yaml`) evaluates the same rules in CEL at each write; the table in
//! `tests/fixtures/fanout-selection.json` is checked against both.

use std::collections::BTreeMap;
use std::sync::Arc;

use sse_api::cluster_secret_sync::{
    CONTROL_PLANE_NAMESPACES, NamespaceSelection, NamespaceSelector, OPT_OUT_LABEL, Operator,
};

/// What the fan-out knows of a namespace (from a metadata-only watch: no object of the namespace is read).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Namespace {
    /// Its name.
    pub name: Arc<str>,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Whether it is being deleted.
    pub terminating: bool,
}

/// Why a namespace is, or is not, selected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// It receives the Secret.
    Selected,
    /// It carries the opt-out label (which beats `names`).
    OptedOut,
    /// A namespace of the control plane (or the manager's own), not listed by name.
    ControlPlane,
    /// Neither listed nor matched by the selector.
    NotMatched,
    /// Being deleted.
    Terminating,
}

/// The verdict on `namespace` for `selection`; `install_namespace` (the manager's) is reached only by name,
/// like the control plane's.
pub fn verdict(selection: &NamespaceSelection, namespace: &Namespace, install_namespace: &str) -> Verdict {
    if namespace.terminating {
        return Verdict::Terminating;
    }
    if namespace.labels.get(OPT_OUT_LABEL).map(String::as_str) == Some("true") {
        return Verdict::OptedOut;
    }
    let name: &str = &namespace.name;
    if selection.names.iter().flatten().any(|n| n == name) {
        return Verdict::Selected;
    }
    let matched = selection
        .selector
        .as_ref()
        .is_some_and(|s| matches(s, &namespace.labels));
    if !matched {
        return Verdict::NotMatched;
    }
    if name == install_namespace || CONTROL_PLANE_NAMESPACES.contains(&name) {
        return Verdict::ControlPlane;
    }
    Verdict::Selected
}

/// Whether the selector matches these labels (an empty selector matches all).
pub fn matches(selector: &NamespaceSelector, labels: &BTreeMap<String, String>) -> bool {
    let by_label = selector
        .match_labels
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    by_label
        && selector.match_expressions.iter().flatten().all(|e| {
            let value = labels.get(&e.key);
            let among = |v: &String| e.values.iter().flatten().any(|x| x == v);
            match e.operator {
                Operator::In => value.is_some_and(among),
                Operator::NotIn => !value.is_some_and(among),
                Operator::Exists => value.is_some(),
                Operator::DoesNotExist => value.is_none(),
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One row of `tests/fixtures/fanout-selection.json`.
    #[derive(serde::Deserialize)]
    struct Row {
        name: String,
        namespaces: NamespaceSelection,
        namespace: RowNamespace,
        selected: bool,
    }

    #[derive(serde::Deserialize)]
    struct RowNamespace {
        name: String,
        #[serde(default)]
        labels: BTreeMap<String, String>,
    }

    #[test]
    fn the_shared_selection_table() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/fixtures/fanout-selection.json"
        );
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let rows: Vec<Row> = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert!(rows.len() >= 16, "the table covers every rule");
        for row in rows {
            let ns = Namespace {
                name: row.namespace.name.as_str().into(),
                labels: row.namespace.labels,
                terminating: false,
            };
            let got = verdict(&row.namespaces, &ns, "azure-secret-store") == Verdict::Selected;
            assert_eq!(got, row.selected, "row {:?}", row.name);
        }
    }

    #[test]
    fn verdicts_say_why() {
        let selection: NamespaceSelection = serde_json::from_value(serde_json::json!({
            "names": ["kube-system", "listed"],
            "selector": {"matchLabels": {"team": "a"}}
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        let ns = |name: &str, labels: &[(&str, &str)], terminating| Namespace {
            name: name.into(),
            labels: labels.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect(),
            terminating,
        };
        let v = |n: &Namespace| verdict(&selection, n, "azure-secret-store");
        assert_eq!(v(&ns("a", &[("team", "a")], false)), Verdict::Selected);
        assert_eq!(v(&ns("a", &[("team", "a")], true)), Verdict::Terminating);
        assert_eq!(v(&ns("b", &[("team", "b")], false)), Verdict::NotMatched);
        assert_eq!(
            v(&ns("kube-public", &[("team", "a")], false)),
            Verdict::ControlPlane
        );
        assert_eq!(
            v(&ns("azure-secret-store", &[("team", "a")], false)),
            Verdict::ControlPlane
        );
        assert_eq!(v(&ns("kube-system", &[], false)), Verdict::Selected);
        let opted = ns("listed", &[(OPT_OUT_LABEL, "true")], false);
        assert_eq!(v(&opted), Verdict::OptedOut);
    }
}
