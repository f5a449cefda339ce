//! `provider-azure` binary: parse flags, set up logging, run.

use clap::Parser;
use provider_azure::Args;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    sse_runtime::init_logging(args.log_format, &args.log_level);
    match provider_azure::run(args).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
