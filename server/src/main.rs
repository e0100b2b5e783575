//! `ledger-server`: parse the settings, set up telemetry, run the chosen command
//! (all in [`ledger_server::cli::main`]).

#[tokio::main]
async fn main() -> std::process::ExitCode {
    ledger_server::cli::main().await
}
