//! The admission policies of every installable render of `deploy/` (issue 4): exactly the twelve SSE-rs ships
//! (docs/ADMISSION.md#admission-policies), each with a binding that denies and names it, ConfigMap params
//! that exist, the Secret and token policies matching exactly the Deployment's ServiceAccount, every CEL
//! expression parsed and structurally checked (`sse_tests::deploy::cel`), and the interface constants of
//! `sse-api` in the expressions. ClusterSecretSync's fences (issue 22: ClusterSecretSync params, the
//! leave binding, the tenants' read-only policy, the selection table) are in `deploy_policies/fanout.rs`.
//! The harness: `sse_tests::deploy`.

#[path = "deploy_policies/fanout.rs"]
mod fanout;

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize as _;
use serde_json::Value;
use sse_api::consts;
use sse_tests::deploy::cel::{check_cel, parse_cel};
use sse_tests::deploy::{
    MANAGER, Obj, Problems, Render, check_every_overlay, container, items, non_empty_str, strings,
};

/// Every policy SSE-rs ships (docs/ADMISSION.md#admission-policies): the five that start from the upstream
/// chart's staging variants (the token one split in two), then the fences around what AKVSyncs, reload on
/// change and Events make it write, then ClusterSecretSync's (its Secrets, tenants kept off them, the resource).
const POLICIES: [&str; 12] = [
    "secrets-store-sync-controller-create-update-policy",
    "secrets-store-sync-controller-delete-policy",
    "secrets-store-sync-controller-update-check-oldobject-policy",
    "secrets-store-sync-controller-update-label-policy",
    "secrets-store-sync-controller-validate-token-policy",
    "secrets-store-sync-controller-token-audience-policy",
    "secrets-store-sync-controller-generated-objects-policy",
    "secrets-store-sync-controller-reload-workloads-policy",
    "secrets-store-sync-controller-events-policy",
    fanout::FANOUT,
    fanout::READONLY,
    fanout::CLUSTER_SECRET_SYNC,
];

/// The manager ServiceAccount named in a matchCondition: `(namespace, name)`.
fn username_in(expr: &str) -> Option<(String, String)> {
    let start = expr.find("system:serviceaccount:")? + "system:serviceaccount:".len();
    let rest = &expr[start..];
    let end = rest.find(['\'', '"'])?;
    let (ns, name) = rest[..end].split_once(':')?;
    Some((ns.to_string(), name.to_string()))
}

fn check_policies(r: &Render, dep: &Obj, pod: &Value, p: &mut Problems) -> usize {
    let policies: BTreeMap<&str, &Obj> = r
        .of_kind("ValidatingAdmissionPolicy")
        .map(|o| (o.name(), o))
        .collect();
    let bindings: Vec<&Obj> = r.of_kind("ValidatingAdmissionPolicyBinding").collect();
    let names: BTreeSet<&str> = policies.keys().copied().collect();
    p.check(names == POLICIES.into_iter().collect::<BTreeSet<_>>(), || {
        format!("policies must be exactly {POLICIES:?}, found {names:?}")
    });
    let sa = (
        dep.namespace().unwrap_or("").to_string(),
        pod["serviceAccountName"].as_str().unwrap_or("").to_string(),
    );
    let mut cel_count = 0;

    for b in &bindings {
        let policy_name = b.str_at("/spec/policyName");
        let Some(policy) = policies.get(policy_name) else {
            p.add(format!(
                "{}: policyName {policy_name} is not a policy in the render",
                b.id()
            ));
            continue;
        };
        // The fan-out policy's second binding, for deletes, is the one exception to the name.
        let leave = policy_name == fanout::FANOUT && b.name() == format!("{policy_name}-leave-binding");
        p.check(b.name() == format!("{policy_name}-binding") || leave, || {
            format!("{}: must be named {policy_name}-binding", b.id())
        });
        p.check(strings(&b.json["spec"]["validationActions"]) == ["Deny"], || {
            format!("{}: validationActions must be [Deny]", b.id())
        });
        match (
            policy.json["spec"].get("paramKind"),
            b.json["spec"].get("paramRef"),
        ) {
            (Some(kind), Some(_)) if fanout::is_cluster_secret_sync(kind) => {
                fanout::check_param_binding(r, policy, b, leave, p);
            }
            (Some(kind), Some(pref)) => {
                p.check(kind["apiVersion"] == "v1" && kind["kind"] == "ConfigMap", || {
                    format!("{}: only ConfigMap params are expected", policy.id())
                });
                let (name, ns) = (pref["name"].as_str().unwrap_or(""), pref["namespace"].as_str());
                p.check(ns.is_some(), || {
                    format!(
                        "{}: paramRef needs an explicit namespace (else the request's is used)",
                        b.id()
                    )
                });
                // The API server looks parameters up before matchConditions: `Deny` with the ConfigMap
                // missing refuses the request for every user, not only the manager.
                p.check(pref["parameterNotFoundAction"] == "Allow", || {
                    format!(
                        "{}: parameterNotFoundAction must be Allow (Deny would refuse every user's request when the ConfigMap is missing)",
                        b.id()
                    )
                });
                p.check(r.find("ConfigMap", ns, name).is_some(), || {
                    format!(
                        "{}: paramRef ConfigMap {ns:?}/{name} is not in the render",
                        b.id()
                    )
                });
            }
            (None, None) => {}
            _ => p.add(format!("{}: paramKind and paramRef must come together", b.id())),
        }
    }
    for (name, policy) in &policies {
        p.check(
            bindings.iter().any(|b| b.str_at("/spec/policyName") == *name),
            || format!("{}: has no binding", policy.id()),
        );
        let spec = &policy.json["spec"];
        p.check(spec["failurePolicy"] == "Fail", || {
            format!("{}: failurePolicy must be Fail", policy.id())
        });

        // Secret and token policies constrain exactly the manager's ServiceAccount; fanout-readonly, everyone
        // else (fanout.rs checks it).
        let resources: BTreeSet<String> = items(&spec["matchConstraints"]["resourceRules"])
            .flat_map(|rule| strings(&rule["resources"]))
            .collect();
        if resources.iter().any(|r| {
            [
                "secrets",
                "serviceaccounts/token",
                "secretproviderclasses",
                "secretsyncs",
                "clustersecretsyncs",
                "deployments",
                "statefulsets",
                "daemonsets",
                "events",
            ]
            .contains(&r.as_str())
        }) && *name != fanout::READONLY
        {
            let conds: Vec<&Value> = items(&spec["matchConditions"]).collect();
            let users: Vec<Option<(String, String)>> = conds
                .iter()
                .map(|c| username_in(c["expression"].as_str().unwrap_or("")))
                .collect();
            p.check(users.len() == 1 && users[0].as_ref() == Some(&sa), || {
                format!(
                    "{}: must match only system:serviceaccount:{}:{} (the Deployment's), found {users:?}",
                    policy.id(),
                    sa.0,
                    sa.1
                )
            });
        }

        // CEL: matchConditions, variables (each may use earlier ones), validations, audit annotations.
        let has_params = spec.get("paramKind").is_some();
        let mut full_roots = vec![
            "object",
            "oldObject",
            "request",
            "authorizer",
            "namespaceObject",
            "variables",
        ];
        if has_params {
            full_roots.push("params");
        }
        let mut exprs: Vec<(String, &str, Vec<&str>, BTreeSet<String>)> = Vec::new();
        for (i, c) in items(&spec["matchConditions"]).enumerate() {
            let e = c["expression"].as_str().unwrap_or("");
            exprs.push((
                format!("matchConditions[{i}]"),
                e,
                vec!["object", "oldObject", "request", "authorizer"],
                BTreeSet::new(),
            ));
        }
        let mut declared = BTreeSet::new();
        for (i, v) in items(&spec["variables"]).enumerate() {
            let e = v["expression"].as_str().unwrap_or("");
            exprs.push((format!("variables[{i}]"), e, full_roots.clone(), declared.clone()));
            declared.insert(v["name"].as_str().unwrap_or("").to_string());
        }
        let vals: Vec<&Value> = items(&spec["validations"]).collect();
        p.check(!vals.is_empty(), || {
            format!("{}: has no validations", policy.id())
        });
        for (i, v) in vals.iter().enumerate() {
            exprs.push((
                format!("validations[{i}].expression"),
                v["expression"].as_str().unwrap_or(""),
                full_roots.clone(),
                declared.clone(),
            ));
            if let Some(m) = v["messageExpression"].as_str() {
                exprs.push((
                    format!("validations[{i}].messageExpression"),
                    m,
                    full_roots.clone(),
                    declared.clone(),
                ));
            }
            p.check(
                non_empty_str(&v["message"]) || non_empty_str(&v["messageExpression"]),
                || format!("{}: validations[{i}] needs a message", policy.id()),
            );
            p.check(
                matches!(
                    v["reason"].as_str(),
                    None | Some("Unauthorized" | "Forbidden" | "Invalid" | "RequestEntityTooLarge")
                ),
                || format!("{}: validations[{i}].reason is not a valid reason", policy.id()),
            );
        }
        for (i, a) in items(&spec["auditAnnotations"]).enumerate() {
            exprs.push((
                format!("auditAnnotations[{i}]"),
                a["valueExpression"].as_str().unwrap_or(""),
                full_roots.clone(),
                declared.clone(),
            ));
        }
        for (at, expr, roots, vars) in &exprs {
            cel_count += 1;
            if let Err(e) = check_cel(expr, roots, vars) {
                p.add(format!("{}: {at}: CEL {e}: {expr}", policy.id()));
            }
            if let Err(e) = parse_cel(expr) {
                p.add(format!("{}: {at}: CEL parser: {e}: {expr}", policy.id()));
            }
        }
    }

    // Interface constants the policies must agree with (sse-api).
    let text = |name: &str| policies.get(name).map(|o| o.json.to_string()).unwrap_or_default();
    fanout::check_policies(&policies, &bindings, &text, &sa, p);
    let token = text(POLICIES[4]);
    p.check(
        token.contains(&format!("== {}", consts::TOKEN_EXPIRATION_SECONDS)),
        || {
            format!(
                "validate-token policy must pin expirationSeconds to {}",
                consts::TOKEN_EXPIRATION_SECONDS
            )
        },
    );
    p.check(
        text(POLICIES[3]).contains(&format!("'{}'", consts::CONTROLLER_LABEL_KEY)),
        || {
            format!(
                "update-label policy must check label {}",
                consts::CONTROLLER_LABEL_KEY
            )
        },
    );
    // The fence around AKVSync's writes: the label and owner the manager's AKVSync controller sets, and no
    // node or pod identity in a class it writes.
    let generated = text(POLICIES[6]);
    p.check(
        generated.contains(&format!("'{}'", manager::akvsync::LABEL))
            && generated.contains("o.kind == 'AKVSync'")
            && generated.contains(&format!("'{}/'", consts::SECRET_SYNC_GROUP))
            && generated.contains("'useVMManagedIdentity'")
            && generated.contains("'usePodIdentity'"),
        || {
            format!(
                "{} must check the AKVSync label and owner and refuse node/pod identity",
                POLICIES[6]
            )
        },
    );
    // Adoption: the policies on Secret updates let the manager update one whose stored object is marked.
    for name in [POLICIES[0], POLICIES[2], POLICIES[3]] {
        p.check(
            text(name).contains(&format!("'{}'", consts::ADOPTABLE_ANNOTATION)),
            || {
                format!(
                    "{name} must let the manager adopt a Secret marked {}",
                    consts::ADOPTABLE_ANNOTATION
                )
            },
        );
    }
    for name in [POLICIES[0], POLICIES[2]] {
        let t = text(name);
        p.check(
            t.contains(&format!("'{}'", consts::SECRET_SYNC_KIND))
                && t.contains(&format!("'{}/'", consts::SECRET_SYNC_GROUP)),
            || {
                format!(
                    "{name} must check owner kind {} and group {}",
                    consts::SECRET_SYNC_KIND,
                    consts::SECRET_SYNC_GROUP
                )
            },
        );
    }

    // The audience is configured once: the manager's TOKEN_REQUEST_AUDIENCE and the token policy's param
    // are the same ConfigMap key.
    let env_ref = container(pod, MANAGER).and_then(|c| {
        c["env"]
            .as_array()?
            .iter()
            .find(|e| e["name"] == "TOKEN_REQUEST_AUDIENCE")?
            .pointer("/valueFrom/configMapKeyRef")
            .cloned()
    });
    let param_ref = bindings
        .iter()
        .find(|b| b.str_at("/spec/policyName") == POLICIES[5])
        .and_then(|b| b.json["spec"].get("paramRef").cloned());
    match (env_ref, param_ref) {
        (Some(env), Some(param)) => {
            p.check(
                env["name"] == param["name"] && param["namespace"].as_str() == dep.namespace(),
                || "TOKEN_REQUEST_AUDIENCE and the token policy's paramRef must name the same ConfigMap".to_string(),
            );
            let key = env["key"].as_str().unwrap_or("");
            p.check(text(POLICIES[5]).contains(&format!("'{key}'")), || {
                format!("the token policy must read the key {key} that TOKEN_REQUEST_AUDIENCE reads")
            });
        }
        _ => p.add("the token audience must come from one ConfigMap: TOKEN_REQUEST_AUDIENCE via configMapKeyRef and the token policy via paramRef"),
    }
    cel_count
}

#[test]
fn admission_policies_are_bound_scoped_to_the_manager_and_their_cel_checks() {
    check_every_overlay(|o, p| {
        let cel = check_policies(&o.render, o.dep(), o.pod(), p);
        format!(
            "{} policies, {cel} CEL expressions (parsed by cel-parser and structurally checked)",
            o.render.of_kind("ValidatingAdmissionPolicy").count()
        )
    });
}

/// `kubectl sse migrate` warns about a Secret type the create/update policy would deny: its list is the
/// policy's `allowedSecretTypes`, exactly.
#[test]
fn migrate_knows_the_secret_types_the_policy_allows() {
    let text =
        std::fs::read_to_string(sse_tests::deploy::deploy_dir().join("policies/create-update.yaml")).unwrap();
    let expression = serde_yaml_ng::Deserializer::from_str(&text)
        .filter_map(|doc| Value::deserialize(doc).ok())
        .flat_map(|doc| doc["spec"]["variables"].as_array().cloned().unwrap_or_default())
        .find(|v| v["name"] == "allowedSecretTypes")
        .and_then(|v| v["expression"].as_str().map(str::to_string))
        .unwrap();
    let listed: BTreeSet<&str> = expression.as_str().split('\'').skip(1).step_by(2).collect();
    let known: BTreeSet<&str> = kubectl_sse::migrate::ALLOWED_SECRET_TYPES.into_iter().collect();
    assert_eq!(listed, known, "{expression}");
}
