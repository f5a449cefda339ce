//! The `kubectl-sse` binary: a kubectl plugin (`kubectl sse …` once it is on the PATH).

use std::process::ExitCode;

use clap::Parser as _;
use kubectl_sse::command::{Cli, Command};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = async {
        match &cli.command {
            // Connects only when it reads the cluster (not with -f).
            Command::Migrate(args) => kubectl_sse::migrate::run(&cli.target, args).await,
            // Connects only to read a SecretSync by name (not with -f).
            Command::Render(args) => kubectl_sse::render::run(&cli.target, args).await,
            Command::Status(args) => kubectl_sse::status::run(&cli.target.connect().await?, args).await,
            Command::Sync(args) => kubectl_sse::sync::run(&cli.target.connect().await?, args).await,
            Command::Adopt(args) => kubectl_sse::adopt::run(&cli.target.connect().await?, args).await,
            Command::Doctor(args) => kubectl_sse::doctor::run(&cli.target.connect().await?, args).await,
        }
    }
    .await;
    match result {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            eprintln!("error: {}", kubectl_sse::cli::one_line(&error));
            ExitCode::FAILURE
        }
    }
}
