//! `ledger-test-server`: the `ledger-server` program, built in the test package
//! so that integration tests can start it as a separate process (Cargo gives a
//! package's tests the path of its own binaries only, `CARGO_BIN_EXE_<name>`).

/// The same allocator as `ledger-server` (see its `main.rs`).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    ledger_server::cli::main().await
}
