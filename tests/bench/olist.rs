//! Scenario `olist`: the server's own `ledger-server replay` of the Olist
//! sample (one `createMerchant` per seller, one `recordPayment` per order
//! item), timed end to end from outside, then checked in the database: one
//! transaction per item, no more, no fewer.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use sea_orm::{ConnectionTrait, Database, Statement};

use crate::Args;
use crate::client::Session;
use crate::phases::Phase;

/// What the replay did and whether the database agrees.
pub struct Replay {
    /// Wall time as the items/s figure (`ok` = items, `errors` = items the
    /// database does not have).
    pub phase: Phase,
    /// What the report says about it.
    pub notes: Vec<String>,
    /// True when the database holds exactly one transaction per item.
    pub confirmed: bool,
}

/// Runs `ledger-server replay` against the server of `session` with
/// `--clients` requests in flight, then counts the transactions and entries in
/// its database (`db_url`).
pub async fn replay(args: &Args, session: &Session, db_url: &str) -> anyhow::Result<Replay> {
    // The same parser the replay uses, so the two cannot disagree on what a row is.
    let items = ledger_server::replay::read_items(Path::new(&args.olist_dir))?.len() as u64;
    let started = Instant::now();
    let child = Command::new(&args.server_bin)
        .args(["--log", "warn", "replay", "--url", &format!("{}/graphql", session.base)])
        .args(["--data", &args.olist_dir, "--concurrency", &args.clients.to_string(), "--quiet"])
        // The admin's session token, as `--token` would give it, kept out of `ps`.
        .env("LEDGER_TOKEN", &session.token)
        .stdout(Stdio::piped())
        .spawn()?;
    // A blocking wait for a process that runs for tens of seconds: off the runtime's workers.
    let out = tokio::task::spawn_blocking(move || child.wait_with_output()).await??;
    let seconds = started.elapsed().as_secs_f64();
    let summary = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    anyhow::ensure!(out.status.success(), "ledger-server replay failed ({}): {summary}", out.status);

    let db = Database::connect(db_url).await?;
    let count = |table: &str| {
        let db = &db;
        let sql = format!("SELECT COUNT(*) FROM {table}");
        async move {
            let row = db.query_one_raw(Statement::from_string(db.get_database_backend(), sql)).await?;
            let n: i64 = row.ok_or_else(|| anyhow::anyhow!("no count"))?.try_get_by_index(0)?;
            anyhow::Ok(n as u64)
        }
    };
    let (transactions, entries) = (count("transactions").await?, count("entries").await?);
    db.close().await?;
    let confirmed = transactions == items;
    let notes = vec![
        format!("olist: `{summary}`"),
        format!(
            "olist: {items} items in {} replayed in {seconds:.1} s wall ({:.0} items/s, merchant creation included); \
             the database holds {transactions} transactions and {entries} entries: {}",
            args.olist_dir,
            items as f64 / seconds,
            if confirmed { "one transaction per item, confirmed" } else { "MISMATCH, the numbers are void" }
        ),
    ];
    let phase = Phase {
        name: "olist replay (end to end)".to_owned(),
        clients: args.clients,
        ok: transactions.min(items),
        errors: items.abs_diff(transactions),
        seconds,
        latency: None,
        entries_per_txn: Some(if transactions == 0 { 0.0 } else { entries as f64 / transactions as f64 }),
    };
    Ok(Replay { phase, notes, confirmed })
}
