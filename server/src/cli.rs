//! The subcommands: `serve` (default), `verify`, `rebuild-balances`, `replay`, `export`,
//! `verify-export`, `checkpoint-key`.

use std::process::ExitCode;

use crate::config::{Cli, Command};
use crate::core::reports::{self, VerifyReport};
use crate::startup::{Application, shutdown_signal};

/// The whole `ledger-server` program: parses the command line, sets up
/// logging and runs the command. The `ledger-server` binary is this; the test
/// package builds the same program so its tests can start real server processes.
pub async fn main() -> ExitCode {
    use clap::Parser;
    let args = Cli::parse();
    let telemetry = match crate::telemetry::init(&args.settings.log, args.settings.log_format) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("ledger-server: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let code = match run(args).await {
        Ok(code) => code,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "ledger-server failed");
            ExitCode::FAILURE
        }
    };
    // The exporter's thread flushes the spans still queued.
    tokio::task::spawn_blocking(move || telemetry.shutdown()).await.ok();
    code
}

/// Runs the parsed command line. Returns the process exit code.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let settings = cli.settings;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let app = Application::build(&settings).await?;
            app.run_until(shutdown_signal()).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Verify => {
            let db = crate::core::connect_and_migrate(&settings.database_url(), 2).await?;
            let report = reports::verify(&db).await?;
            print_report(&report);
            Ok(if report.is_clean() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
        Command::RebuildBalances => {
            let db = crate::core::connect_and_migrate(&settings.database_url(), 2).await?;
            let changed = reports::rebuild_balances(&db).await?;
            println!("rebuilt balances: {changed} account(s) corrected");
            Ok(ExitCode::SUCCESS)
        }
        Command::Export(args) => {
            let db = crate::core::connect_and_migrate(&settings.database_url(), 2).await?;
            let merchant = args.merchant.map(crate::domain::MerchantId);
            let exported = match &args.output {
                Some(path) => {
                    let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
                    crate::core::journals::export(&db, args.format, merchant, args.until, &mut file).await?
                }
                None => {
                    let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
                    crate::core::journals::export(&db, args.format, merchant, args.until, &mut stdout).await?
                }
            };
            eprintln!(
                "exported {} transactions, {} postings, {} balance assertions",
                exported.transactions, exported.postings, exported.assertions
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::VerifyExport(args) => {
            let mut keys = Vec::new();
            for k in &args.public_keys {
                match std::fs::read_to_string(k) {
                    Ok(text) => keys.extend(text.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned)),
                    Err(_) => keys.push(k.clone()),
                }
            }
            let file = std::io::BufReader::new(std::fs::File::open(&args.file)?);
            match crate::core::chain::export::verify(file, &keys) {
                Ok(v) => {
                    println!(
                        "OK: merchant {}, {} transactions to sequence {}, head {}{}",
                        v.merchant,
                        v.transactions,
                        v.last_sequence,
                        v.head,
                        v.checkpoint
                            .map(|c| format!(", signed by {} at {}", c.origin, c.time.to_rfc3339()))
                            .unwrap_or_default()
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    println!("FAILED: {e}");
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        Command::CheckpointKey(args) => {
            let (key, private) = crate::core::chain::checkpoint::CheckpointKey::generate(&args.name)?;
            use std::io::Write;
            let mut file = std::fs::OpenOptions::new().write(true).create_new(true).open(&args.output)?;
            writeln!(file, "{private}")?;
            println!("{}", key.verifier_key());
            Ok(ExitCode::SUCCESS)
        }
        Command::Replay(args) => {
            let summary = crate::replay::run(&args).await?;
            println!("{summary}");
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Prints a verify report in a form a person can read.
pub fn print_report(r: &VerifyReport) {
    println!("checked {} accounts, {} transactions, {} entries", r.accounts, r.transactions, r.entries);
    let sections = [
        ("balances that differ from the sum of their entries", &r.balance_mismatches),
        ("assets that do not sum to zero", &r.unbalanced_assets),
        ("transactions that do not balance", &r.unbalanced_transactions),
        ("merchant journals with a gap or a clock out of step", &r.journal_breaks),
        ("merchant hash chains that do not recompute", &r.chain_breaks),
    ];
    for (title, lines) in sections {
        if lines.is_empty() {
            println!("ok: no {title}");
        } else {
            println!("BREACH: {title}:");
            for l in lines {
                println!("  {l}");
            }
        }
    }
    println!("{}", if r.is_clean() { "verify: books are consistent" } else { "verify: FAILED" });
}
