//! `cargo xtask`: code generation and checks that keep generated files honest.
//!
//! * `gen-proto`: regenerate `crates/provider-proto/src/gen` from `proto/` (pure Rust, no `protoc`).
//! * `check`: regenerate every generated file into a scratch directory and fail if the checked-in copy differs.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "xtask", about = "SSE-rs project automation")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Regenerate the gRPC code from proto/.
    GenProto,
    /// Fail when any checked-in generated file is stale.
    Check,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let root = workspace_root();
    match cli.command {
        Command::GenProto => gen_proto(&root, &root.join(PROTO_OUT)),
        Command::Check => check(&root),
    }
}

const PROTO_OUT: &str = "crates/provider-proto/src/gen";

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

fn gen_proto(root: &Path, out_dir: &Path) -> Result<()> {
    let proto_dir = root.join("proto");
    let file = proto_dir.join("v1alpha1/service.proto");
    let fds = protox::compile([&file], [&proto_dir]).context("parse proto")?;
    std::fs::create_dir_all(out_dir)?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .out_dir(out_dir)
        .compile_fds(fds)
        .context("generate tonic code")?;
    Ok(())
}

fn check(root: &Path) -> Result<()> {
    let scratch = std::env::temp_dir().join(format!("sse-xtask-check-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    gen_proto(root, &scratch)?;
    let mut stale = Vec::new();
    compare_dirs(&scratch, &root.join(PROTO_OUT), &mut stale)?;
    let _ = std::fs::remove_dir_all(&scratch);
    if !stale.is_empty() {
        bail!("generated files are stale (run `cargo xtask gen-proto`): {}", stale.join(", "));
    }
    eprintln!("xtask check: generated files are up to date");
    Ok(())
}

fn compare_dirs(fresh: &Path, checked_in: &Path, stale: &mut Vec<String>) -> Result<()> {
    for entry in std::fs::read_dir(fresh)? {
        let entry = entry?;
        let name = entry.file_name();
        let want = std::fs::read(entry.path())?;
        let have = std::fs::read(checked_in.join(&name)).unwrap_or_default();
        if want != have {
            stale.push(checked_in.join(&name).display().to_string());
        }
    }
    Ok(())
}
