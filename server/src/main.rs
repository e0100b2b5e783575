//! `ledger-server`: parse the settings, set up telemetry, run the chosen command
//! (all in [`ledger_server::cli::main`]).

/// mimalloc instead of the system allocator: the server allocates and frees
/// many small, short-lived objects per request (and per span when traces are
/// exported), where glibc's malloc spent a quarter of the server's CPU.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    ledger_server::cli::main().await
}
