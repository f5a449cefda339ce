//! Tier 1, repository hygiene: every source path a comment, a Markdown file or a manifest names
//! (`crates/manager/src/reconcile.rs`, `crates/manager/src/cluster/`, `tests/tests/sync.rs`,
//! `xtask/src/e2e.rs`) exists, so a file split or moved cannot leave a reader looking for it. Paths are
//! read from the repository root; a path with a `*` or `{` is a pattern and is skipped.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every file under `dir` with one of `exts`, skipping build output and hidden folders.
fn files(dir: &Path, exts: &[&str], out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().to_string();
        if path.is_dir() {
            if !name.starts_with('.') && name != "target" {
                files(&path, exts, out);
            }
        } else if exts.iter().any(|e| name.ends_with(e)) {
            out.push(path);
        }
    }
}

/// The source paths `line` names: runs of path characters starting at `crates/`, `tests/tests/`,
/// `tests/src/` or `xtask/src/` and ending in `.rs` or `/`.
fn paths(line: &str) -> Vec<String> {
    const STARTS: [&str; 4] = ["crates/", "tests/tests/", "tests/src/", "xtask/src/"];
    let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '-' | '.' | '*' | '{');
    let mut found = Vec::new();
    for (i, _) in line.char_indices() {
        let rest = &line[i..];
        // Only at the start of a path, not inside a longer one.
        let before = line[..i].chars().next_back();
        if before.is_some_and(|c| ok(c) && c != '.') || !STARTS.iter().any(|s| rest.starts_with(s)) {
            continue;
        }
        let end = rest.find(|c: char| !ok(c)).unwrap_or(rest.len());
        let path = rest[..end].trim_end_matches('.');
        if (path.ends_with(".rs") || path.ends_with('/')) && !path.contains(['*', '{']) {
            found.push(path.to_string());
        }
    }
    found
}

#[test]
fn named_source_paths_exist() {
    let root = root();
    let mut scanned = Vec::new();
    for dir in ["crates", "tests", "xtask", "deploy", "docs", "proto"] {
        files(&root.join(dir), &[".rs", ".md", ".yaml", ".proto"], &mut scanned);
    }
    for file in ["README.md", "ARCHITECTURE.md", "CHANGELOG.md"] {
        scanned.push(root.join(file));
    }
    let mut missing = Vec::new();
    for file in &scanned {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        let rel = file.strip_prefix(&root).unwrap_or(file).display().to_string();
        // The changelog records history: paths that existed then.
        if rel == "CHANGELOG.md" {
            continue;
        }
        for (n, line) in text.lines().enumerate() {
            for path in paths(line) {
                if !root.join(&path).exists() {
                    missing.push(format!("  {rel}:{}: {path}", n + 1));
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "{} source paths named in the repository do not exist (moved or split? name where it went):\n{}",
        missing.len(),
        missing.join("\n")
    );
}

#[test]
fn the_scanner_reads_paths_as_documented() {
    assert_eq!(
        paths("see `crates/manager/src/cluster/` and crates/manager/src/reconcile.rs."),
        ["crates/manager/src/cluster/", "crates/manager/src/reconcile.rs"]
    );
    assert!(
        paths("crates/*/src/lib.rs and tests/tests/e2e/{a,b}.rs").is_empty(),
        "patterns"
    );
    assert!(paths("../crates/x.rs").is_empty(), "inside a longer path");
    assert!(
        paths("crates/manager/Cargo.toml").is_empty(),
        "not a source file or folder"
    );
}
