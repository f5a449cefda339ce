//! The Deployment of every installable render of `deploy/` (issue 4): one pod, containers `manager` and
//! `provider-azure-installer`, restricted security context, volumes that exist and are used, the
//! ServiceAccount token only in the manager, probes on the paths the binaries serve, and the manager's
//! resources within the original chart's (docs/ADMISSION.md#installed-identities-and-workload). The harness:
//! `sse_tests::deploy`.

use std::collections::BTreeSet;

use serde_json::Value;
use sse_tests::deploy::units::{cpu_millis, memory_bytes};
use sse_tests::deploy::{
    MANAGER, Obj, PROVIDER, Problems, Render, check_every_overlay, container, items, strings, volumes,
};

/// The original chart's manager resources (docs/ADMISSION.md#installed-identities-and-workload): requests
/// 10m/64Mi, limits 500m/128Mi.
const ORIGINAL_REQUESTS: (u64, u64) = (10, 64 << 20);
const ORIGINAL_LIMITS: (u64, u64) = (500, 128 << 20);
const MI: u64 = 1 << 20;

/// `resources.<which>.<resource>` of a container: millicores for `cpu`, bytes for `memory`.
fn quantity(c: &Value, which: &str, resource: &str) -> Option<u64> {
    let q = c["resources"][which][resource]
        .as_str()
        .map(str::to_string)
        .or_else(|| {
            // a bare number in YAML (cpu: 1)
            c["resources"][which][resource].as_f64().map(|n| n.to_string())
        })?;
    if resource == "cpu" {
        cpu_millis(&q)
    } else {
        memory_bytes(&q)
    }
}

/// Shape and security of the Deployment.
fn check_deployment(r: &Render, dep: &Obj, p: &mut Problems) {
    let spec = &dep.json["spec"];
    p.check(spec["replicas"].as_u64() == Some(1), || {
        "Deployment: replicas must be 1".to_string()
    });
    // The manager is ready only while it holds the Lease: a surge pod could never become ready.
    p.check(spec["strategy"]["type"] == "Recreate", || {
        "Deployment: strategy must be Recreate (readiness needs the Lease the old pod holds)".to_string()
    });
    let tpl = &spec["template"];
    let pod = &tpl["spec"];

    // Selector matches the template's labels.
    if let Some(sel) = spec.pointer("/selector/matchLabels").and_then(Value::as_object) {
        for (k, v) in sel {
            p.check(tpl["metadata"]["labels"][k] == *v, || {
                format!("Deployment: selector label {k}={v} is not on the pod template")
            });
        }
    }
    p.check(
        tpl.pointer("/metadata/annotations/kubectl.kubernetes.io~1default-container")
            == Some(&Value::from(MANAGER)),
        || "pod annotation kubectl.kubernetes.io/default-container must be `manager`".to_string(),
    );

    let names: Vec<String> = items(&pod["containers"])
        .map(|c| c["name"].as_str().unwrap_or("").to_string())
        .collect();
    p.check(names == [MANAGER, PROVIDER], || {
        format!("containers must be exactly [{MANAGER}, {PROVIDER}] in this order, found {names:?}")
    });
    p.check(pod.get("initContainers").is_none(), || {
        "no init containers expected".to_string()
    });
    p.check(
        pod["hostNetwork"] != true && pod["hostPID"] != true && pod["hostIPC"] != true,
        || "the pod must not share host namespaces".to_string(),
    );

    // Pod security context.
    let psc = &pod["securityContext"];
    p.check(psc["runAsNonRoot"] == true, || {
        "pod: runAsNonRoot must be true".to_string()
    });
    for k in ["runAsUser", "runAsGroup", "fsGroup"] {
        p.check(psc[k].as_u64() == Some(65532), || {
            format!("pod: {k} must be 65532")
        });
    }
    p.check(
        psc.pointer("/seccompProfile/type") == Some(&Value::from("RuntimeDefault")),
        || "pod: seccompProfile.type must be RuntimeDefault".to_string(),
    );

    // ServiceAccount: exists, token only in the manager.
    let sa = pod["serviceAccountName"].as_str().unwrap_or("");
    p.check(r.find("ServiceAccount", dep.namespace(), sa).is_some(), || {
        format!("serviceAccountName {sa} is not a ServiceAccount in the render")
    });
    p.check(pod["automountServiceAccountToken"] == false, || {
        "pod: automountServiceAccountToken must be false (the token is projected into `manager` only)"
            .to_string()
    });
    let token_volumes: BTreeSet<&str> = volumes(pod)
        .filter(|v| {
            v.pointer("/projected/sources")
                .and_then(Value::as_array)
                .is_some_and(|s| s.iter().any(|s| s.get("serviceAccountToken").is_some()))
        })
        .filter_map(|v| v["name"].as_str())
        .collect();

    // Every volume is used, and every ConfigMap it reads exists: in the render, as a trust-manager Bundle
    // target, or as the API server's kube-root-ca.crt. (A missing one keeps the pod in ContainerCreating.)
    let mounted: BTreeSet<&str> = items(&pod["containers"])
        .flat_map(|c| items(&c["volumeMounts"]))
        .filter_map(|m| m["name"].as_str())
        .collect();
    for v in volumes(pod) {
        let name = v["name"].as_str().unwrap_or("");
        p.check(mounted.contains(name), || {
            format!("volume {name} is mounted by no container")
        });
        let config_maps = v.pointer("/configMap/name").into_iter().chain(
            v.pointer("/projected/sources")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|s| s.pointer("/configMap/name")),
        );
        for cm in config_maps.filter_map(Value::as_str) {
            let known = cm == "kube-root-ca.crt"
                || r.find("ConfigMap", dep.namespace(), cm).is_some()
                || r.find("Bundle", None, cm).is_some();
            p.check(known, || {
                format!("volume {name} reads ConfigMap {cm}, which nothing provides")
            });
        }
    }
    // Every volume has exactly one source.
    for v in volumes(pod) {
        let sources = v
            .as_object()
            .map_or(0, |m| m.keys().filter(|k| *k != "name").count());
        p.check(sources == 1, || {
            format!("volume {} must have exactly one source", v["name"])
        });
    }
    // The socket directory: an emptyDir mounted at the same path in both containers.
    let providervol = volumes(pod).find(|v| v["name"] == "providervol");
    p.check(providervol.is_some_and(|v| v.get("emptyDir").is_some()), || {
        "volume providervol must be an emptyDir".to_string()
    });

    for c in items(&pod["containers"]) {
        let name = c["name"].as_str().unwrap_or("?");
        let sc = &c["securityContext"];
        p.check(sc["allowPrivilegeEscalation"] == false, || {
            format!("{name}: allowPrivilegeEscalation must be false")
        });
        p.check(sc["readOnlyRootFilesystem"] == true, || {
            format!("{name}: readOnlyRootFilesystem must be true")
        });
        p.check(strings(&sc["capabilities"]["drop"]) == ["ALL"], || {
            format!("{name}: capabilities.drop must be [ALL]")
        });
        p.check(sc["capabilities"].get("add").is_none(), || {
            format!("{name}: no capabilities added")
        });
        p.check(sc["privileged"] != true, || {
            format!("{name}: must not be privileged")
        });
        p.check(
            sc["runAsNonRoot"] != false && sc["runAsUser"].as_u64() != Some(0),
            || format!("{name}: must not run as root"),
        );
        p.check(c["livenessProbe"]["httpGet"].is_object(), || {
            format!("{name}: needs an HTTP liveness probe")
        });
        for which in ["requests", "limits"] {
            for res in ["cpu", "memory"] {
                p.check(quantity(c, which, res).is_some(), || {
                    format!("{name}: resources.{which}.{res} must be set (and parse)")
                });
            }
        }
        for res in ["cpu", "memory"] {
            if let (Some(req), Some(lim)) = (quantity(c, "requests", res), quantity(c, "limits", res)) {
                p.check(req <= lim, || format!("{name}: {res} request exceeds its limit"));
            }
        }
        let image = c["image"].as_str().unwrap_or("");
        p.check(
            image.rsplit_once(':').is_some_and(|(_, tag)| !tag.contains('/')),
            || format!("{name}: image {image:?} has no tag (set it with kustomize `images:`)"),
        );
        let mounts: Vec<&Value> = items(&c["volumeMounts"]).collect();
        p.check(
            mounts
                .iter()
                .any(|m| m["name"] == "providervol" && m["mountPath"] == "/provider"),
            || format!("{name}: must mount providervol at /provider"),
        );
        for m in &mounts {
            p.check(
                m.get("subPath").is_none() && m.get("subPathExpr").is_none(),
                || {
                    format!(
                        "{name}: mount {} uses subPath, which stops Secret/ConfigMap updates",
                        m["mountPath"]
                    )
                },
            );
            let is_token = m["name"].as_str().is_some_and(|n| token_volumes.contains(n));
            p.check(!is_token || name == MANAGER, || {
                format!(
                    "{name}: must not mount the ServiceAccount token (only `manager` talks to the API server)"
                )
            });
        }
    }
    if let Some(m) = container(pod, MANAGER) {
        let mounts_token = items(&m["volumeMounts"]).any(|v| {
            v["mountPath"] == "/var/run/secrets/kubernetes.io/serviceaccount"
                && v["name"].as_str().is_some_and(|n| token_volumes.contains(n))
        });
        p.check(mounts_token, || {
            "manager: must get the projected ServiceAccount token at /var/run/secrets/kubernetes.io/serviceaccount"
                .to_string()
        });
        let (rc, rm) = (quantity(m, "requests", "cpu"), quantity(m, "requests", "memory"));
        let (lc, lm) = (quantity(m, "limits", "cpu"), quantity(m, "limits", "memory"));
        p.check(rc.is_some_and(|v| v <= ORIGINAL_REQUESTS.0), || {
            "manager: cpu request > 10m".to_string()
        });
        p.check(rm.is_some_and(|v| v <= ORIGINAL_REQUESTS.1), || {
            "manager: memory request > 64Mi".to_string()
        });
        p.check(lc.is_some_and(|v| v <= ORIGINAL_LIMITS.0), || {
            "manager: cpu limit > 500m".to_string()
        });
        p.check(lm.is_some_and(|v| v <= ORIGINAL_LIMITS.1), || {
            "manager: memory limit > 128Mi".to_string()
        });
        p.check(m["readinessProbe"]["httpGet"]["path"] == "/readyz", || {
            "manager: readiness probe must GET /readyz".to_string()
        });
        p.check(m["livenessProbe"]["httpGet"]["path"] == "/healthz", || {
            "manager: liveness probe must GET /healthz".to_string()
        });
        // The memory figures (deploy/README.md) were measured with glibc's mmap threshold fixed.
        let mmap_threshold = items(&m["env"])
            .find(|e| e["name"] == "MALLOC_MMAP_THRESHOLD_")
            .and_then(|e| e["value"].as_str().map(str::to_string));
        p.check(mmap_threshold.as_deref() == Some("131072"), || {
            format!("manager: env MALLOC_MMAP_THRESHOLD_ must be \"131072\", found {mmap_threshold:?}")
        });
    }
    if let Some(c) = container(pod, PROVIDER) {
        p.check(
            quantity(c, "limits", "memory").is_some_and(|v| v <= 128 * MI),
            || "provider: memory limit above 128Mi".to_string(),
        );
        p.check(c["livenessProbe"]["httpGet"]["path"] == "/healthz", || {
            "provider: liveness probe must GET /healthz".to_string()
        });
    }
}

#[test]
fn the_deployment_is_one_restricted_pod_of_two_containers() {
    check_every_overlay(|o, p| {
        check_deployment(&o.render, o.dep(), p);
        let pod = o.pod();
        format!(
            "Deployment {}: {} containers, {} volumes",
            o.dep().name(),
            pod["containers"].as_array().map_or(0, Vec::len),
            volumes(pod).count()
        )
    });
}
