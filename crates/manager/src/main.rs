//! `manager` binary: parse flags, set up logging, run the controller or `render`.

use std::process::ExitCode;

use clap::Parser;
use manager::args::{Cli, Command};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    sse_runtime::init_logging(cli.run.log_format, &cli.run.log_level);
    let result = match cli.command {
        Some(Command::Render(args)) => manager::render::print(&args).await,
        None => manager::run::run(cli.run).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error:#}");
            ExitCode::FAILURE
        }
    }
}
