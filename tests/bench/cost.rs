//! What one payment costs the machine: WAL bytes, database transactions and
//! CPU microseconds of the server and of PostgreSQL, read before and after a
//! phase and divided by the transactions it committed.
//!
//! Sources: `pg_current_wal_lsn()` and `pg_stat_database.xact_commit` (the
//! statistics are flushed within a second of a commit, so the probe waits a
//! second first); CPU from `/proc/<pid>/stat` (`utime` + `stime`, in clock
//! ticks of 10 ms) for the server and for every process named `postgres`.
//! The PostgreSQL figure includes its background writers and is only
//! meaningful on an otherwise quiet machine, which is how benchmarks run here.

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};

/// Clock ticks per second of `/proc/<pid>/stat` (`sysconf(_SC_CLK_TCK)`; 100
/// on Linux for x86-64 and arm64).
const CLOCK_TICKS_PER_SECOND: u64 = 100;

/// One reading.
#[derive(Debug, Clone, Copy)]
pub struct Probe {
    wal_lsn_bytes: i64,
    commits: i64,
    transactions: i64,
    server_ticks: u64,
    postgres_ticks: u64,
}

/// A process's user + system CPU time in clock ticks, from `/proc/<pid>/stat`.
fn ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start after ')'.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after ')'.
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// CPU ticks of every process whose command is `postgres`.
fn postgres_ticks() -> u64 {
    let Ok(dir) = std::fs::read_dir("/proc") else { return 0 };
    dir.filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()))
        .filter(|pid| std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "postgres"))
        .filter_map(ticks)
        .sum()
}

/// Reads the counters for the server process `pid` and its database `db`.
pub async fn probe(db: &DatabaseConnection, db_name: &str, pid: u32) -> anyhow::Result<Probe> {
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let row = db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            format!(
                "SELECT CAST(pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0') AS BIGINT) AS wal, \
                   (SELECT xact_commit FROM pg_stat_database WHERE datname = '{db_name}') AS commits"
            ),
        ))
        .await?
        .ok_or_else(|| anyhow::anyhow!("no WAL position"))?;
    let count = db
        .query_one_raw(Statement::from_string(DbBackend::Postgres, "SELECT COUNT(*) AS n FROM transactions".to_owned()))
        .await?
        .ok_or_else(|| anyhow::anyhow!("no transaction count"))?;
    Ok(Probe {
        wal_lsn_bytes: row.try_get("", "wal")?,
        commits: row.try_get("", "commits")?,
        transactions: count.try_get("", "n")?,
        server_ticks: ticks(pid).unwrap_or(0),
        postgres_ticks: postgres_ticks(),
    })
}

/// The cost per committed ledger transaction between two readings, as a note
/// for the report.
pub fn per_transaction(label: &str, before: &Probe, after: &Probe) -> String {
    let n = (after.transactions - before.transactions).max(1) as f64;
    let us = |t: u64| (t as f64) * 1_000_000.0 / CLOCK_TICKS_PER_SECOND as f64 / n;
    format!(
        "{label}: cost per payment over {} payments: {:.0} WAL bytes, {:.3} database transactions committed, \
         {:.0} µs server CPU, {:.0} µs PostgreSQL CPU",
        n as u64,
        (after.wal_lsn_bytes - before.wal_lsn_bytes) as f64 / n,
        (after.commits - before.commits) as f64 / n,
        us(after.server_ticks.saturating_sub(before.server_ticks)),
        us(after.postgres_ticks.saturating_sub(before.postgres_ticks)),
    )
}
