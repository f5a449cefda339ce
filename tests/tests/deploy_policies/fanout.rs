//! ClusterSecretSync's fences (issue 22) in every installable render: the fan-out policy takes every
//! ClusterSecretSync as a parameter, through two bindings (writes fail closed, deletes do not) and an
//! objectSelector that keeps every other Secret out (the API server looks parameters up before it evaluates
//! matchConditions); the read-only policy holds everyone but the manager and the control plane; the
//! policies name the labels, owner, finalizer and namespaces `sse-api` and the Deployment use. And the
//! selection table `tests/fixtures/fanout-selection.json` (shared with the manager's `select.rs` tests and
//! tier 3's `fanout_policy_agrees_with_the_selection_table`) covers every rule and agrees with them.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use serde_json::{Value, json};
use sse_api::cluster_secret_sync::{self as css, NamespaceSelection, Operator};
use sse_api::consts;
use sse_tests::deploy::{NAMESPACE, Obj, Problems, Render, deploy_dir, items, strings};

/// The fan-out policy: a ClusterSecretSync's Secret only where it selects.
pub const FANOUT: &str = "secrets-store-sync-controller-fanout-policy";
/// Nobody but the manager and the control plane creates or changes a ClusterSecretSync's Secret.
pub const READONLY: &str = "secrets-store-sync-controller-fanout-readonly-policy";
/// The manager writes a ClusterSecretSync only for its finalizer.
pub const CLUSTER_SECRET_SYNC: &str = "secrets-store-sync-controller-cluster-secret-sync-policy";

/// Who besides the manager may write a ClusterSecretSync's Secret: garbage collection (an orphaning
/// delete), the namespace controller, kube-controller-manager without per-controller credentials, and the
/// group `system:masters`.
const CONTROL_PLANE_WRITERS: [&str; 4] = [
    "system:serviceaccount:kube-system:generic-garbage-collector",
    "system:serviceaccount:kube-system:namespace-controller",
    "system:kube-controller-manager",
    "system:masters",
];

/// Whether a policy's `paramKind` is ClusterSecretSync.
pub fn is_cluster_secret_sync(kind: &Value) -> bool {
    kind["apiVersion"] == css::API_VERSION && kind["kind"] == css::KIND
}

/// The policy matches only Secrets labelled [`css::LABEL`] (old or new object).
fn selects_only_fanout_secrets(policy: &Obj) -> bool {
    let sel = &policy.json["spec"]["matchConstraints"]["objectSelector"];
    sel.get("matchLabels").is_none()
        && items(&sel["matchExpressions"]).collect::<Vec<_>>()
            == [&json!({"key": css::LABEL, "operator": "Exists"})]
}

/// The operations of a list of resourceRules, and whether each names exactly core `secrets`.
fn operations(rules: &Value) -> (BTreeSet<String>, bool) {
    let ops = items(rules).flat_map(|r| strings(&r["operations"])).collect();
    let secrets = items(rules).count() > 0
        && items(rules).all(|r| strings(&r["apiGroups"]) == [""] && strings(&r["resources"]) == ["secrets"]);
    (ops, secrets)
}

fn set(v: &[&str]) -> BTreeSet<String> {
    v.iter().map(|s| (*s).to_string()).collect()
}

/// The strings quoted with `'` in a CEL expression.
fn quoted(expr: &str) -> BTreeSet<String> {
    expr.split('\'').skip(1).step_by(2).map(str::to_string).collect()
}

/// The expression of variable `name` of a policy.
fn variable<'a>(policy: &'a Obj, name: &str) -> &'a str {
    items(&policy.json["spec"]["variables"])
        .find(|v| v["name"] == name)
        .and_then(|v| v["expression"].as_str())
        .unwrap_or("")
}

/// A binding of the fan-out policy: every ClusterSecretSync is a parameter; writes are denied without one,
/// deletes (the leave binding) allowed.
pub fn check_param_binding(r: &Render, policy: &Obj, b: &Obj, leave: bool, p: &mut Problems) {
    let pref = &b.json["spec"]["paramRef"];
    p.check(
        pref["selector"].as_object().is_some_and(serde_json::Map::is_empty)
            && pref.get("name").is_none()
            && pref.get("namespace").is_none(),
        || {
            format!(
                "{}: paramRef must select every ClusterSecretSync (selector: {{}}), with no name or namespace",
                b.id()
            )
        },
    );
    let (action, want) = if leave {
        ("Allow", set(&["DELETE"]))
    } else {
        ("Deny", set(&["CREATE", "UPDATE"]))
    };
    p.check(pref["parameterNotFoundAction"] == action, || {
        format!(
            "{}: parameterNotFoundAction must be {action} (writes fail closed without a ClusterSecretSync, deletes do not)",
            b.id()
        )
    });
    let (ops, secrets) = operations(&b.json["spec"]["matchResources"]["resourceRules"]);
    p.check(secrets && ops == want, || {
        format!(
            "{}: matchResources must be Secrets, {want:?}, found {ops:?}",
            b.id()
        )
    });
    p.check(
        r.find("CustomResourceDefinition", None, css::CRD_NAME).is_some(),
        || {
            format!(
                "{}: paramKind's CRD {} is not in the render",
                policy.id(),
                css::CRD_NAME
            )
        },
    );
}

/// fanout-readonly: everyone but the manager (`sa`) and the control plane, Secrets labelled [`css::LABEL`],
/// create and update only, always denied.
fn check_readonly(policy: &Obj, sa: &(String, String), p: &mut Problems) {
    let spec = &policy.json["spec"];
    p.check(spec.get("paramKind").is_none(), || {
        format!("{}: takes no parameters", policy.id())
    });
    let (ops, secrets) = operations(&spec["matchConstraints"]["resourceRules"]);
    p.check(secrets && ops == set(&["CREATE", "UPDATE"]), || {
        format!(
            "{}: must match Secret CREATE and UPDATE only (DELETE stays allowed), found {ops:?}",
            policy.id()
        )
    });
    p.check(selects_only_fanout_secrets(policy), || {
        format!("{}: needs objectSelector {} Exists", policy.id(), css::LABEL)
    });
    let conds: Vec<&str> = items(&spec["matchConditions"])
        .filter_map(|c| c["expression"].as_str())
        .collect();
    let manager = format!("system:serviceaccount:{}:{}", sa.0, sa.1);
    let mut exempt = set(&CONTROL_PLANE_WRITERS);
    exempt.insert(manager.clone());
    p.check(
        matches!(conds[..], [c] if c.trim_start().starts_with("!(request.userInfo.username in [")
            && c.contains("'system:masters' in request.userInfo.groups")
            && quoted(c) == exempt),
        || {
            format!(
                "{}: its one matchCondition must exempt exactly {exempt:?} (the manager is {manager}), found {conds:?}",
                policy.id()
            )
        },
    );
    let vals: Vec<&str> = items(&spec["validations"])
        .filter_map(|v| v["expression"].as_str())
        .collect();
    p.check(vals == ["false"], || {
        format!("{}: must deny everything it matches", policy.id())
    });
}

/// The fan-out fences against each other, `sse-api` and the Deployment's namespace (`sa.0`).
pub fn check_policies(
    policies: &BTreeMap<&str, &Obj>,
    bindings: &[&Obj],
    text: &impl Fn(&str) -> String,
    sa: &(String, String),
    p: &mut Problems,
) {
    let fanout_bindings: BTreeSet<&str> = bindings
        .iter()
        .filter(|b| b.str_at("/spec/policyName") == FANOUT)
        .map(|b| b.name())
        .collect();
    let want = [format!("{FANOUT}-binding"), format!("{FANOUT}-leave-binding")];
    p.check(
        fanout_bindings == want.iter().map(String::as_str).collect(),
        || format!("{FANOUT}: bindings must be exactly {want:?}, found {fanout_bindings:?}"),
    );
    if let Some(fanout) = policies.get(FANOUT) {
        p.check(selects_only_fanout_secrets(fanout), || {
            format!(
                "{}: needs objectSelector {} Exists: parameters are looked up before matchConditions, so without it a missing ClusterSecretSync would deny every Secret write in the cluster",
                fanout.id(),
                css::LABEL
            )
        });
    }
    if let Some(readonly) = policies.get(READONLY) {
        check_readonly(readonly, sa, p);
    }

    // The selection: the opt-out label, and the namespaces reached only by name, the install namespace (the
    // Deployment's, deploy/base's `namespace:`) among them.
    if let Some(fanout) = policies.get(FANOUT) {
        let mut control_plane: BTreeSet<String> = set(&css::CONTROL_PLANE_NAMESPACES);
        control_plane.insert(sa.0.clone());
        let found = quoted(variable(fanout, "controlPlane"));
        p.check(found == control_plane && sa.0 == NAMESPACE, || {
            format!("{FANOUT}: controlPlane must list {control_plane:?} (the install namespace is the Deployment's), found {found:?}")
        });
        p.check(
            quoted(variable(fanout, "optedOut")) == set(&[css::OPT_OUT_LABEL, "true"]),
            || format!("{FANOUT}: optedOut must read {}: \"true\"", css::OPT_OUT_LABEL),
        );
    }
    let label = format!("'{}'", css::LABEL);
    let kind = format!("'{}'", css::KIND);
    let group = format!("'{}/'", css::GROUP);
    for name in [
        FANOUT,
        "secrets-store-sync-controller-create-update-policy",
        "secrets-store-sync-controller-update-check-oldobject-policy",
        "secrets-store-sync-controller-delete-policy",
    ] {
        let t = text(name);
        let owner = name == FANOUT || (t.contains(&kind) && t.contains(&group));
        p.check(t.contains(&label) && owner, || {
            format!(
                "{name} must check the label {} and (but the fan-out policy) the owner {}",
                css::LABEL,
                css::API_VERSION
            )
        });
    }
    for name in [
        "secrets-store-sync-controller-create-update-policy",
        "secrets-store-sync-controller-delete-policy",
    ] {
        p.check(
            text(name).contains(&format!("'{}'", consts::CONTROLLER_LABEL_KEY)),
            || format!("{name} must check the label {}", consts::CONTROLLER_LABEL_KEY),
        );
    }
    let events = text("secrets-store-sync-controller-events-policy");
    p.check(
        events.contains(&kind)
            && events.contains(&group)
            && events.contains("request.namespace == 'default'"),
        || "the events policy must admit Events about a ClusterSecretSync in default".to_string(),
    );
    if let Some(policy) = policies.get(CLUSTER_SECRET_SYNC) {
        let rules = &policy.json["spec"]["matchConstraints"]["resourceRules"];
        p.check(
            items(rules).count() == 1
                && items(rules).all(|r| {
                    strings(&r["apiGroups"]) == [css::GROUP] && strings(&r["resources"]) == [css::PLURAL]
                }),
            || {
                format!(
                    "{CLUSTER_SECRET_SYNC}: must match {} {} only (not its status)",
                    css::GROUP,
                    css::PLURAL
                )
            },
        );
        p.check(
            text(CLUSTER_SECRET_SYNC).contains(&format!("'{}'", css::KEEP_FINALIZER)),
            || {
                format!(
                    "{CLUSTER_SECRET_SYNC}: must admit the finalizer {}",
                    css::KEEP_FINALIZER
                )
            },
        );
    }
}

/// A row of `tests/fixtures/fanout-selection.json`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Row {
    name: String,
    namespaces: NamespaceSelection,
    namespace: Namespace,
    selected: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Namespace {
    name: String,
    labels: BTreeMap<String, String>,
}

/// The selection rules as docs/API.md#clustersecretsync states them (a live namespace): an independent
/// reading, so a slip in the table is caught here rather than argued over between the manager and tier 3.
fn selected_by_the_rules(spec: &NamespaceSelection, ns: &Namespace) -> bool {
    let opted_out = ns.labels.get(css::OPT_OUT_LABEL).is_some_and(|v| v == "true");
    let listed = spec.names.iter().flatten().any(|n| *n == ns.name);
    let control_plane = css::CONTROL_PLANE_NAMESPACES.contains(&ns.name.as_str()) || ns.name == NAMESPACE;
    let matches = spec.selector.as_ref().is_some_and(|s| {
        s.match_labels
            .iter()
            .flatten()
            .all(|(k, v)| ns.labels.get(k) == Some(v))
            && s.match_expressions.iter().flatten().all(|e| {
                let value = ns.labels.get(&e.key);
                let listed = value.is_some_and(|v| e.values.iter().flatten().any(|x| x == v));
                match e.operator {
                    Operator::In => listed,
                    Operator::NotIn => !listed,
                    Operator::Exists => value.is_some(),
                    Operator::DoesNotExist => value.is_none(),
                }
            })
    });
    !opted_out && (listed || (!control_plane && matches))
}

#[test]
fn the_selection_table_covers_every_rule_and_agrees_with_them() {
    let path = deploy_dir()
        .parent()
        .expect("the repository")
        .join("tests/fixtures/fanout-selection.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let rows: Vec<Row> = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(rows.len() >= 16, "{} rows", rows.len());
    let names: BTreeSet<&str> = rows.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names.len(), rows.len(), "row names are unique");
    for r in &rows {
        assert_eq!(
            selected_by_the_rules(&r.namespaces, &r.namespace),
            r.selected,
            "row {}",
            r.name
        );
    }

    // Coverage: (what the row exercises, its outcome) must each appear.
    let has = |pred: &dyn Fn(&Row) -> bool, selected: bool, what: &str| {
        assert!(
            rows.iter().any(|r| pred(r) && r.selected == selected),
            "no row where {what} gives selected={selected}"
        );
    };
    let selector = |r: &Row| r.namespaces.selector.clone().unwrap_or_default();
    let only_operator = |op: Operator| {
        move |r: &Row| {
            let s = selector(r);
            s.match_labels.is_none()
                && s.match_expressions
                    .is_some_and(|e| e.len() == 1 && e[0].operator == op)
        }
    };
    for outcome in [true, false] {
        has(
            &|r| selector(r).match_labels.is_some() && selector(r).match_expressions.is_none(),
            outcome,
            "matchLabels",
        );
        for op in [
            Operator::In,
            Operator::NotIn,
            Operator::Exists,
            Operator::DoesNotExist,
        ] {
            has(&only_operator(op), outcome, &format!("{op:?}"));
        }
    }
    let listed = |r: &Row| {
        r.namespaces
            .names
            .iter()
            .flatten()
            .any(|n| *n == r.namespace.name)
    };
    let opted_out = |r: &Row| {
        r.namespace
            .labels
            .get(css::OPT_OUT_LABEL)
            .is_some_and(|v| v == "true")
    };
    has(
        &|r| listed(r) && r.namespaces.selector.is_none(),
        true,
        "a name alone",
    );
    has(
        &|r| r.namespaces.selector == Some(Default::default()) && r.namespace.labels.is_empty(),
        true,
        "an empty selector, unlabelled namespace",
    );
    has(&|r| listed(r) && opted_out(r), false, "opted out beats names");
    has(
        &|r| r.namespaces.selector.is_none() && !listed(r),
        false,
        "no selector, not listed",
    );
    let mut control_plane = css::CONTROL_PLANE_NAMESPACES.to_vec();
    control_plane.push(NAMESPACE);
    for ns in control_plane {
        let here = |r: &Row| r.namespace.name == ns && !opted_out(r);
        has(
            &|r| here(r) && !listed(r) && r.namespaces.selector == Some(Default::default()),
            false,
            &format!("{ns} matched by a selector, unlisted"),
        );
        has(&|r| here(r) && listed(r), true, &format!("{ns} listed"));
    }
}
