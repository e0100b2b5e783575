//! `ledger-server`: parse the settings, set up telemetry, run the chosen command.

use clap::Parser;
use ledger_server::{cli, config::Cli, telemetry};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Cli::parse();
    telemetry::init(&args.settings.log);
    match cli::run(args).await {
        Ok(code) => code,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "ledger-server failed");
            std::process::ExitCode::FAILURE
        }
    }
}
