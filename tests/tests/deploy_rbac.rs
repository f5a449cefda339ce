//! RBAC in every installable render of `deploy/` (issue 4): every binding's roleRef resolves, and the
//! manager's grants are exactly docs/ADMISSION.md#manager-rbac (Secrets: create/patch, plus list/watch only
//! where the owned-Secret watch is switched on, which one overlay does; list/patch on Deployments,
//! StatefulSets and DaemonSets only where reload on change is, which another overlay does). The harness:
//! `sse_tests::deploy`.

use std::collections::{BTreeMap, BTreeSet};

use clap::Parser;
use serde_json::Value;
use sse_api::consts;
use sse_tests::deploy::{
    MANAGER, Obj, Overlay, Problems, Render, check_every_overlay, container, items, manager_command_line,
    strings,
};

/// (scope, apiGroup, resource, resourceNames) -> verbs, for every rule bound to the ServiceAccount.
type Grants = BTreeMap<(String, String, String, String), BTreeSet<String>>;

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
fn check_rbac(r: &Render, dep: &Obj, pod: &Value, (watch, reload): (bool, bool), p: &mut Problems) -> String {
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
    let secrets: &[&str] = if watch {
        &["create", "patch", "list", "watch"]
    } else {
        &["create", "patch"]
    };
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
    if reload {
        // Reload on change: find the workloads that opted in, restart them through their pod template.
        for workloads in ["deployments", "statefulsets", "daemonsets"] {
            expected.insert(key("cluster", "apps", workloads, ""), set(&["list", "patch"]));
        }
    }

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

/// Whether the manager watches owned Secrets and reloads workloads, which decide the verbs it must have.
/// If its args do not parse (reported by deploy_flags.rs), the literal flags decide, so the RBAC report
/// stays meaningful.
fn switches(o: &Overlay) -> (bool, bool) {
    let Some(c) = container(o.pod(), MANAGER) else {
        return (false, false);
    };
    let mut reported_elsewhere = Problems::new("deploy_flags.rs");
    let (mut argv, env_flags) =
        manager_command_line(&o.render, o.dep().namespace(), c, &mut reported_elsewhere);
    argv.extend(env_flags);
    match manager::args::Cli::try_parse_from(&argv) {
        Ok(cli) => (cli.run.watch_owned_secrets, cli.run.reload_workloads),
        Err(_) => {
            let args = strings(&c["args"]);
            (
                args.iter().any(|a| a == "--watch-owned-secrets=true"),
                args.iter().any(|a| a == "--reload-workloads=true"),
            )
        }
    }
}

#[test]
fn the_managers_grants_are_exactly_spec_7_4() {
    let lines = check_every_overlay(|o, p| {
        let (watch, reload) = switches(o);
        let rbac = check_rbac(&o.render, o.dep(), o.pod(), (watch, reload), p);
        format!("RBAC {rbac}, watch-owned-secrets={watch}, reload-workloads={reload}")
    });
    assert!(
        lines.iter().any(|l| l.contains("watch-owned-secrets=true")),
        "no overlay switches the owned-Secret watch on"
    );
    assert!(
        lines.iter().any(|l| l.contains("reload-workloads=true")),
        "no overlay switches reload on change on"
    );
}
