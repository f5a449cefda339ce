//! The README's install steps (issue 11): the kustomization it has users write to point deploy/ at their
//! own images renders, with `kubectl kustomize`, into the Deployment running exactly those images. The
//! block is taken from README.md itself, so the two cannot drift apart. And the opt-in installs: turning
//! ClusterSecretSync on (deploy/overlays/cluster-secret-sync) adds its RBAC and its flag, nothing else.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde::Deserialize as _;
use serde_json::Value;
use sse_tests::deploy::deploy_dir;

/// The heredoc of the README's install step 2, with the shell's substitutions made.
fn readme_kustomization(registry: &str, tag: &str) -> String {
    let root = deploy_dir().parent().unwrap().to_path_buf();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let start = "cat > deploy/local/kustomization.yaml <<EOF\n";
    let body = readme
        .split_once(start)
        .map(|(_, rest)| rest)
        .and_then(|rest| rest.split_once("\nEOF\n"))
        .map(|(body, _)| body)
        .unwrap_or_else(|| panic!("README.md has no `{}` block", start.trim()));
    body.replace("$REGISTRY", registry).replace("$TAG", tag)
}

#[test]
fn the_readme_install_points_the_deployment_at_your_images() {
    // Where deploy/local would be: a directory of deploy/ (removed afterwards).
    let dir = tempfile::tempdir_in(deploy_dir()).unwrap();
    std::fs::write(
        dir.path().join("kustomization.yaml"),
        readme_kustomization("registry.example.com/sse-rs", "0.1.0"),
    )
    .unwrap();
    let out = Command::new("kubectl")
        .arg("kustomize")
        .arg(dir.path())
        .output()
        .expect("kubectl on PATH (tests/tests/deploy_*.rs need it)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rendered = String::from_utf8(out.stdout).unwrap();
    let images: Vec<&str> = rendered
        .lines()
        .filter_map(|l| l.trim().strip_prefix("image: "))
        .collect();
    assert_eq!(
        images,
        [
            "registry.example.com/sse-rs/manager:0.1.0",
            "registry.example.com/sse-rs/provider-azure:0.1.0"
        ],
        "{rendered}"
    );
    assert!(
        !rendered.contains("ghcr.io/sse-rs"),
        "no placeholder image is left"
    );
}

/// `kubectl kustomize dir`, by `kind/name`.
fn render(dir: &Path) -> BTreeMap<String, Value> {
    let out = Command::new("kubectl")
        .arg("kustomize")
        .arg(dir)
        .output()
        .expect("kubectl on PATH (tests/tests/deploy_*.rs need it)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    serde_yaml_ng::Deserializer::from_str(&text)
        .map(|doc| Value::deserialize(doc).unwrap())
        .filter(|v| !v.is_null())
        .map(|v| {
            let id = format!(
                "{}/{}",
                v["kind"].as_str().unwrap_or(""),
                v["metadata"]["name"].as_str().unwrap_or("")
            );
            (id, v)
        })
        .collect()
}

/// deploy/overlays/cluster-secret-sync is deploy/default plus exactly the component's ClusterRole and
/// ClusterRoleBinding, and `--cluster-secret-sync=true` appended to the manager's args: tier 3
/// (`fanout_manager_deletes_only_where_not_selected`) applies those two objects alone for the same grants.
#[test]
fn the_cluster_secret_sync_overlay_adds_its_rbac_and_its_flag_only() {
    let default = render(&deploy_dir().join("default"));
    let mut overlay = render(&deploy_dir().join("overlays/cluster-secret-sync"));
    let added: Vec<String> = overlay
        .keys()
        .filter(|id| !default.contains_key(*id))
        .cloned()
        .collect();
    assert_eq!(
        added,
        [
            "ClusterRole/secrets-store-sync-controller-cluster-secret-sync-role",
            "ClusterRoleBinding/secrets-store-sync-controller-cluster-secret-sync-rolebinding"
        ],
        "what the overlay adds to deploy/default"
    );
    let deployment = "Deployment/secrets-store-sync-controller-manager";
    let args = overlay
        .get_mut(deployment)
        .and_then(|d| d.pointer_mut("/spec/template/spec/containers/0/args"))
        .and_then(Value::as_array_mut)
        .unwrap();
    assert_eq!(args.pop(), Some(Value::from("--cluster-secret-sync=true")));
    for (id, object) in &default {
        assert_eq!(
            overlay.get(id),
            Some(object),
            "{id} differs between deploy/default and the overlay"
        );
    }
    let binding = &overlay[&added[1]];
    assert_eq!(
        binding["roleRef"]["name"],
        "secrets-store-sync-controller-cluster-secret-sync-role"
    );
    assert_eq!(
        binding["subjects"],
        serde_json::json!([{
            "kind": "ServiceAccount",
            "name": "secrets-store-sync-controller-manager",
            "namespace": sse_tests::deploy::NAMESPACE
        }])
    );
}
