//! RBAC in every installable render of `deploy/` (issue 4): every binding's roleRef resolves, and the
//! manager's grants are exactly docs/ADMISSION.md#manager-rbac (Secrets: create/patch, plus list/watch only
//! where the owned-Secret watch is switched on, which one overlay does; list/patch on Deployments,
//! StatefulSets and DaemonSets only where reload on change is, which another overlay does; ClusterSecretSyncs,
//! namespaces and Secret delete only where ClusterSecretSync is, deploy/components/cluster-secret-sync). No
//! role aggregated to view/edit/admin grants ClusterSecretSyncs: their viewer role is bound by hand. The
//! harness: `sse_tests::deploy`.

use std::collections::{BTreeMap, BTreeSet};

use clap::Parser;
use serde_json::Value;
use sse_api::cluster_secret_sync as css;
use sse_api::consts;
use sse_tests::deploy::{
    MANAGER, Obj, Overlay, Problems, Render, check_every_overlay, container, items, manager_command_line,
    strings,
};

/// (scope, apiGroup, resource, resourceNames) -> verbs, for every rule bound to the ServiceAccount.
type Grants = BTreeMap<(String, String, String, String), BTreeSet<String>>;

/// The ClusterRole deploy/components/cluster-secret-sync adds.
const CSS_ROLE: &str = "secrets-store-sync-controller-cluster-secret-sync-role";
/// The users' read-only ClusterRole for ClusterSecretSyncs (deploy/base/rbac-user-roles.yaml).
const CSS_VIEWER_ROLE: &str = "clustersecretsync-viewer-role";

/// What the manager's optional controllers add to docs/ADMISSION.md#manager-rbac.
#[derive(Clone, Copy)]
struct Switches {
    watch: bool,
    reload: bool,
    cluster_secret_sync: bool,
}

/// The rules of a role: (apiGroup, resource) -> verbs.
fn rules_of(role: &Obj) -> BTreeMap<(String, String), BTreeSet<String>> {
    let mut rules: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for rule in items(&role.json["rules"]) {
        for g in strings(&rule["apiGroups"]) {
            for res in strings(&rule["resources"]) {
                rules
                    .entry((g.clone(), res))
                    .or_default()
                    .extend(strings(&rule["verbs"]));
            }
        }
    }
    rules
}

/// ClusterSecretSyncs are cluster-scoped and their status names failing namespaces: no role aggregated to
/// view, edit or admin may grant them (through a RoleBinding it could not anyway); the viewer role exists,
/// read-only and not aggregated.
fn check_cluster_secret_sync_roles(r: &Render, p: &mut Problems) {
    for role in r.of_kind("ClusterRole") {
        let aggregated = role.json["metadata"]["labels"].as_object().is_some_and(|l| {
            l.keys()
                .any(|k| k.starts_with("rbac.authorization.k8s.io/aggregate-to-"))
        });
        let grants_css = rules_of(role)
            .keys()
            .any(|(g, res)| (g == css::GROUP || g == "*") && (res.starts_with(css::PLURAL) || res == "*"));
        p.check(!(aggregated && grants_css), || {
            format!("{}: an aggregated role must not grant {}", role.id(), css::PLURAL)
        });
    }
    let want: BTreeMap<(String, String), BTreeSet<String>> = [
        ((css::GROUP, css::PLURAL), &["get", "list", "watch"][..]),
        ((css::GROUP, "clustersecretsyncs/status"), &["get"][..]),
    ]
    .into_iter()
    .map(|((g, res), verbs)| {
        (
            (g.to_string(), res.to_string()),
            verbs.iter().map(|v| (*v).to_string()).collect(),
        )
    })
    .collect();
    match r.find("ClusterRole", None, CSS_VIEWER_ROLE) {
        Some(role) => {
            p.check(rules_of(role) == want, || {
                format!("{}: must grant exactly {want:?}", role.id())
            });
            p.check(role.json["metadata"].get("labels").is_none(), || {
                format!("{}: must not be aggregated (no labels)", role.id())
            });
        }
        None => p.add(format!("ClusterRole {CSS_VIEWER_ROLE} is missing")),
    }
}

fn grants_of(r: &Render, sa_ns: &str, sa_name: &str, p: &mut Problems) -> Grants {
    let mut grants = Grants::new();
    let is_sa = |b: &Obj| {
        items(&b.json["subjects"])
            .any(|s| s["kind"] == "ServiceAccount" && s["name"] == sa_name && s["namespace"] == sa_ns)
    };
    let mut add = |scope: &str, role: &Obj| {
        for rule in items(&role.json["rules"]) {
            let names = strings(&rule["resourceNames"]).join(",");
            for g in strings(&rule["apiGroups"]) {
                for res in strings(&rule["resources"]) {
                    let e = grants
                        .entry((scope.to_string(), g.clone(), res.clone(), names.clone()))
                        .or_default();
                    e.extend(strings(&rule["verbs"]));
                }
            }
        }
    };
    for b in r.of_kind("ClusterRoleBinding").filter(|b| is_sa(b)) {
        let role = b.str_at("/roleRef/name");
        match r.find("ClusterRole", None, role) {
            Some(cr) => add("cluster", cr),
            None => p.add(format!("{}: ClusterRole {role} is not in the render", b.id())),
        }
    }
    for b in r.of_kind("RoleBinding").filter(|b| is_sa(b)) {
        let role = b.str_at("/roleRef/name");
        let ns = b.namespace().unwrap_or("");
        let found = match b.str_at("/roleRef/kind") {
            "ClusterRole" => r.find("ClusterRole", None, role),
            _ => r.find("Role", b.namespace(), role),
        };
        match found {
            Some(role) => add(ns, role),
            None => p.add(format!("{}: role {role} is not in the render", b.id())),
        }
    }
    grants
}

/// Every binding's roleRef resolves, and the manager's grants are exactly docs/ADMISSION.md#manager-rbac.
fn check_rbac(r: &Render, dep: &Obj, pod: &Value, on: Switches, p: &mut Problems) -> String {
    for b in r.of_kind("ClusterRoleBinding").chain(r.of_kind("RoleBinding")) {
        p.check(
            b.str_at("/roleRef/apiGroup") == "rbac.authorization.k8s.io",
            || format!("{}: roleRef.apiGroup", b.id()),
        );
    }
    let ns = dep.namespace().unwrap_or("");
    let sa = pod["serviceAccountName"].as_str().unwrap_or("");
    let grants = grants_of(r, ns, sa, p);

    let set = |v: &[&str]| v.iter().map(|s| (*s).to_string()).collect::<BTreeSet<String>>();
    let key = |scope: &str, g: &str, res: &str, names: &str| {
        (
            scope.to_string(),
            g.to_string(),
            res.to_string(),
            names.to_string(),
        )
    };
    let mut secrets = vec!["create", "patch"];
    if on.watch {
        secrets.extend(["list", "watch"]);
    }
    if on.cluster_secret_sync {
        // Leave a namespace no longer selected (deploy/components/cluster-secret-sync).
        secrets.push("delete");
    }
    let secrets = &secrets[..];
    let mut expected: Grants = [
        (key("cluster", "", "secrets", ""), set(secrets)),
        (key("cluster", "", "serviceaccounts/token", ""), set(&["create"])),
        (
            key(
                "cluster",
                "secrets-store.csi.x-k8s.io",
                "secretproviderclasses",
                "",
            ),
            // create/patch: what AKVSyncs generate.
            set(&["create", "get", "list", "patch", "watch"]),
        ),
        (
            key("cluster", "secret-sync.x-k8s.io", "secretsyncs", ""),
            set(&["create", "delete", "get", "list", "patch", "watch"]),
        ),
        (
            key("cluster", "secret-sync.x-k8s.io", "akvsyncs", ""),
            set(&["get", "list", "watch"]),
        ),
        (
            key("cluster", "secret-sync.x-k8s.io", "akvsyncs/status", ""),
            set(&["get", "patch", "update"]),
        ),
        (
            key("cluster", "secret-sync.x-k8s.io", "secretsyncs/status", ""),
            set(&["get", "patch", "update"]),
        ),
        (key("cluster", "", "events", ""), set(&["create"])),
        (key("cluster", "events.k8s.io", "events", ""), set(&["create"])),
        (key(ns, "coordination.k8s.io", "leases", ""), set(&["create"])),
        (
            key(ns, "coordination.k8s.io", "leases", consts::LEADER_ELECTION_ID),
            set(&["get", "update"]),
        ),
    ]
    .into_iter()
    .collect();
    if on.reload {
        // Reload on change: find the workloads that opted in, restart them through their pod template.
        for workloads in ["deployments", "statefulsets", "daemonsets"] {
            expected.insert(key("cluster", "apps", workloads, ""), set(&["list", "patch"]));
        }
    }
    if on.cluster_secret_sync {
        // ClusterSecretSync: exactly the component's ClusterRole, bound to the manager alone.
        let css_rules = [
            ((css::GROUP, css::PLURAL), &["get", "list", "patch", "watch"][..]),
            (
                (css::GROUP, "clustersecretsyncs/status"),
                &["get", "patch", "update"][..],
            ),
            (("", "namespaces"), &["list", "watch"][..]),
            (("", "secrets"), &["delete"][..]),
        ];
        for ((g, res), verbs) in css_rules {
            if res != "secrets" {
                expected.insert(key("cluster", g, res, ""), set(verbs));
            }
        }
        let want: BTreeMap<(String, String), BTreeSet<String>> = css_rules
            .into_iter()
            .map(|((g, res), verbs)| ((g.to_string(), res.to_string()), set(verbs)))
            .collect();
        match r.find("ClusterRole", None, CSS_ROLE) {
            Some(role) => p.check(rules_of(role) == want, || {
                format!("{}: must grant exactly {want:?}", role.id())
            }),
            None => p.add(format!(
                "--cluster-secret-sync=true without ClusterRole {CSS_ROLE}"
            )),
        }
    } else {
        p.check(r.find("ClusterRole", None, CSS_ROLE).is_none(), || {
            format!("ClusterRole {CSS_ROLE} without --cluster-secret-sync=true")
        });
    }
    check_cluster_secret_sync_roles(r, p);

    // The Secret verbs, stated on their own so a failure reads plainly.
    let secret_verbs: BTreeSet<String> = grants
        .iter()
        .filter(|((_, g, res, _), _)| (g.is_empty() || g == "*") && (res == "secrets" || res == "*"))
        .flat_map(|(_, v)| v.iter().cloned())
        .collect();
    p.check(secret_verbs == set(secrets), || {
        format!("the manager's verbs on Secrets must be exactly {secrets:?}, are {secret_verbs:?}")
    });
    if grants != expected {
        let extra: Vec<_> = grants
            .iter()
            .filter(|(k, v)| expected.get(*k) != Some(*v))
            .collect();
        let missing: Vec<_> = expected
            .iter()
            .filter(|(k, v)| grants.get(*k) != Some(*v))
            .collect();
        p.add(format!(
            "the manager's RBAC differs from docs/ADMISSION.md#manager-rbac: granted but not expected {extra:?}; expected but not granted {missing:?}"
        ));
    }
    format!(
        "Secrets {{{}}}",
        secret_verbs.into_iter().collect::<Vec<_>>().join(",")
    )
}

/// Whether the manager watches owned Secrets, reloads workloads and runs ClusterSecretSync, which decide
/// the verbs it must have. If its args do not parse (reported by deploy_flags.rs), the literal flags decide,
/// so the RBAC report stays meaningful; ClusterSecretSync's flag is always read literally, as the
/// component writes it.
fn switches(o: &Overlay) -> Switches {
    let Some(c) = container(o.pod(), MANAGER) else {
        return Switches {
            watch: false,
            reload: false,
            cluster_secret_sync: false,
        };
    };
    let args = strings(&c["args"]);
    let cluster_secret_sync = args.iter().any(|a| a == "--cluster-secret-sync=true");
    let mut reported_elsewhere = Problems::new("deploy_flags.rs");
    let (mut argv, env_flags) =
        manager_command_line(&o.render, o.dep().namespace(), c, &mut reported_elsewhere);
    argv.extend(env_flags);
    let (watch, reload) = match manager::args::Cli::try_parse_from(&argv) {
        Ok(cli) => (cli.run.watch_owned_secrets, cli.run.reload_workloads),
        Err(_) => (
            args.iter().any(|a| a == "--watch-owned-secrets=true"),
            args.iter().any(|a| a == "--reload-workloads=true"),
        ),
    };
    Switches {
        watch,
        reload,
        cluster_secret_sync,
    }
}

#[test]
fn the_managers_grants_are_exactly_spec_7_4() {
    let lines = check_every_overlay(|o, p| {
        let on = switches(o);
        let rbac = check_rbac(&o.render, o.dep(), o.pod(), on, p);
        format!(
            "RBAC {rbac}, watch-owned-secrets={}, reload-workloads={}, cluster-secret-sync={}",
            on.watch, on.reload, on.cluster_secret_sync
        )
    });
    assert!(
        lines.iter().any(|l| l.contains("watch-owned-secrets=true")),
        "no overlay switches the owned-Secret watch on"
    );
    assert!(
        lines.iter().any(|l| l.contains("reload-workloads=true")),
        "no overlay switches reload on change on"
    );
    assert!(
        lines.iter().any(|l| l.contains("cluster-secret-sync=true")),
        "no overlay switches ClusterSecretSync on"
    );
}
