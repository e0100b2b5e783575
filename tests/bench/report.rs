//! The printed report: one table per run, every figure next to pgbench's
//! TPC-B of the same run and the command line that reproduces it.

use crate::phases::Phase;
use crate::server::{pgbench_command, pgledger_command};
use crate::{Args, Baselines, Outcome, Scenario};

/// The baselines' lines under (or over) a table.
fn baseline_lines(args: &Args, b: &Baselines) -> Vec<String> {
    let mut lines = vec![format!(
        "pgbench TPC-B, {} clients, same PostgreSQL: {:.0} tps (`{}`)",
        args.clients,
        b.tpcb,
        pgbench_command(args)
    )];
    lines.push(match b.pgledger {
        Some((uniform, hot)) => format!(
            "pgledger through pgbench, {} clients, same PostgreSQL: uniform {uniform:.0} tps, one hot account {hot:.0} tps (`{}`)",
            args.clients,
            pgledger_command(args)
        ),
        None => format!("pgledger: SKIPPED ({} is absent; a user's clone has no ../shared)", args.pgledger_dir),
    });
    lines
}

/// A phase's rate over its pgledger figure (hot for a hot merchant), or
/// `SKIPPED`.
fn versus_pgledger(p: &Phase, b: &Baselines) -> String {
    b.pgledger_for(p).map_or("SKIPPED".to_owned(), |tps| format!("{:.2}", p.tps() / tps))
}

/// Mebibytes, or `?` when the figure could not be read.
fn mib(kib: Option<u64>) -> String {
    kib.map_or("?".to_owned(), |k| format!("{:.1}", k as f64 / 1024.0))
}

/// `—` for a figure that does not apply.
fn or_dash(v: Option<f64>, decimals: usize) -> String {
    v.map_or("—".to_owned(), |v| format!("{v:.decimals$}"))
}

/// The command line that reproduces the run, with every setting that changes
/// the figures spelled out (the PostgreSQL URL comes from `TEST_DATABASE_URL`).
pub fn command_line(args: &Args) -> String {
    let mut line = format!(
        "ledger-bench --scenario {} --clients {} --seconds {} --merchants {} --pool-size {}",
        args.scenario.name(),
        args.clients,
        args.seconds,
        args.merchants(),
        args.pool_size
    );
    if matches!(args.scenario, Scenario::Bulk | Scenario::ControlAccounts | Scenario::All) {
        line += &format!(" --batch {}", args.batch);
    }
    if matches!(args.scenario, Scenario::Olist | Scenario::All) {
        line += &format!(" --olist-dir {}", args.olist_dir);
    }
    line + &format!(" --server-bin {}", args.server_bin)
}

/// One scenario's report: its phases against TPC-B, in the form the
/// `slow-subscriber` scenario has always printed.
pub fn single(args: &Args, outcome: &Outcome, baselines: &Baselines) {
    let pgbench_tps = baselines.tpcb;
    println!();
    println!(
        "{}  (server idle RSS {} MiB, RSS under load (peak) {} MiB; verify: {})",
        command_line(args),
        mib(outcome.idle_rss_kib),
        mib(outcome.peak_rss_kib),
        if outcome.verified { "clean" } else { "FAILED" }
    );
    for line in baseline_lines(args, baselines) {
        println!("{line}");
    }
    println!(
        "| phase | clients | transactions/s | entries/s | × TPC-B (transactions) | × TPC-B (entries) | × pgledger | p50 ms | p99 ms | p99.9 ms | errors |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for p in &outcome.phases {
        let rate = p.tps();
        println!(
            "| {} | {} | {:.0}{} | {} | {:.2} | {} | {} | {} | {} | {} | {} |",
            p.name,
            p.clients,
            rate,
            if p.entries_per_txn.is_none() { " reads/s" } else { "" },
            or_dash(p.entries_per_sec(), 0),
            rate / pgbench_tps,
            or_dash(p.entries_per_sec().map(|e| e / pgbench_tps), 2),
            versus_pgledger(p, baselines),
            or_dash(p.latency.map(|l| l.p50), 1),
            or_dash(p.latency.map(|l| l.p99), 1),
            or_dash(p.latency.map(|l| l.p999), 1),
            p.errors
        );
    }
    for note in &outcome.notes {
        println!("{note}");
    }
}

/// Every scenario in one markdown table, for BENCHMARKS.md.
pub fn all(args: &Args, outcomes: &[Outcome], baselines: &Baselines) {
    let pgbench_tps = baselines.tpcb;
    println!();
    println!("Command: `{}`", command_line(args));
    println!();
    println!(
        "| scenario | clients | txn/s | entries/s | p50 ms | p99 ms | p99.9 ms | errors | × TPC-B | × pgledger | peak RSS under load, MiB |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for o in outcomes {
        for p in &o.phases {
            println!(
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                p.name,
                p.clients,
                rate(p),
                or_dash(p.entries_per_sec(), 0),
                or_dash(p.latency.map(|l| l.p50), 1),
                or_dash(p.latency.map(|l| l.p99), 1),
                or_dash(p.latency.map(|l| l.p999), 1),
                p.errors,
                ratio(o.scenario, p, pgbench_tps),
                versus_pgledger(p, baselines),
                mib(o.peak_rss_kib)
            );
        }
    }
    println!();
    for line in baseline_lines(args, baselines) {
        println!("{line}");
    }
    let idle: Vec<String> =
        outcomes.iter().map(|o| format!("{} {} MiB", o.scenario.name(), mib(o.idle_rss_kib))).collect();
    println!("Idle RSS (each server after start-up and set-up, idle {:?}): {}", crate::IDLE_SETTLE, idle.join(", "));
    for o in outcomes {
        for note in &o.notes {
            println!("{note}");
        }
    }
    let verify: Vec<String> = outcomes
        .iter()
        .map(|o| format!("{} {}", o.scenario.name(), if o.verified { "clean" } else { "FAILED" }))
        .collect();
    println!("ledger-server verify on each scenario's database: {}", verify.join(", "));
}

/// The rate column: transactions per second, or reads per second for reads.
fn rate(p: &Phase) -> String {
    match p.entries_per_txn {
        Some(_) => format!("{:.0}", p.tps()),
        None => format!("{:.0} reads/s", p.tps()),
    }
}

/// The ratio column: transactions per second over TPC-B's, and for bulk
/// (where one request carries many transactions) entries per second as well.
fn ratio(scenario: Scenario, p: &Phase, pgbench_tps: f64) -> String {
    let txn = p.tps() / pgbench_tps;
    match (scenario, p.entries_per_sec()) {
        (Scenario::Bulk, Some(e)) => format!("{txn:.2} (entries {:.2})", e / pgbench_tps),
        (_, None) => format!("{txn:.2} (reads)"),
        _ => format!("{txn:.2}"),
    }
}
