//! The `kubectl-sse` binary: a kubectl plugin (`kubectl sse …` once it is on the PATH).

use std::process::ExitCode;

use clap::Parser as _;
use kubectl_sse::cli::{Cli, Command};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = async {
        let target = cli.target.connect().await?;
        match &cli.command {
            Command::Status(args) => kubectl_sse::status::run(&target, args).await,
            Command::Sync(args) => kubectl_sse::sync::run(&target, args).await,
            Command::Adopt(args) => kubectl_sse::adopt::run(&target, args).await,
        }
    }
    .await;
    match result {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
