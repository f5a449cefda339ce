//! The README's install steps (issue 11): the kustomization it has users write to point deploy/ at their
//! own images renders, with `kubectl kustomize`, into the Deployment running exactly those images. The
//! block is taken from README.md itself, so the two cannot drift apart.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::process::Command;

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
