//! `ledger-bench`: drives a real `ledger-server` process over HTTP GraphQL and
//! reports throughput as a ratio to pgbench's TPC-B on the same PostgreSQL,
//! measured in the same run.
//!
//! Every scenario gets a fresh database and its own server process; after it,
//! `ledger-server verify` must pass on that database, or the numbers are void.
//! Each report gives transactions and entries per second, latency p50, p99 and
//! p99.9, errors, the server's RSS when idle after set-up and at its peak, and
//! the command line that reproduces it.
//!
//! Scenarios:
//! - `uniform`: `recordPayment` from `--clients` clients spread over
//!   `--merchants` merchants (1,000 by default).
//! - `hot`: every client pays the same merchant: how far one merchant's row
//!   locks serialize the writes.
//! - `mixed`: half the clients pay one hot merchant, the other half pay the
//!   other merchants uniformly; and the same uniform half alone, the two
//!   loads in turn (A B B A, twice, `--seconds` each in all). The ratio of
//!   the others' throughput in the two says how much a hot merchant slows
//!   everyone else (issue 17's target: by at most a tenth, ratio ≥ 0.9; it
//!   was 0.67 before).
//! - `bulk`: `postTransactions` of `--batch` transfers (two postings each)
//!   from every client, counted in transactions and postings.
//! - `read-heavy`: each client acts for a merchant with that merchant's API
//!   key, nine reads (its balances, a page of its transactions with entries, a
//!   page of its `available` account's entries) to one `recordPayment`.
//! - `balances`: each client acts for a merchant with that merchant's API key
//!   and reads its balances (`merchant(id) { balances { … } }`) and nothing
//!   else: the read a merchant's dashboard polls.
//! - `olist`: the server's own `ledger-server replay` of the Olist sample with
//!   `--clients` requests in flight, timed end to end, then checked: one
//!   transaction per order item.
//! - `slow-subscriber` (issue: live events): does a subscriber that never
//!   reads its WebSocket slow the writers? `recordPayment` three times: without
//!   subscribers (A), with one WebSocket subscriber that subscribes to the
//!   transactions of the first 32 merchants and then never reads (B), and
//!   without again (A'). With `--merchants 32` every payment is for it, so it
//!   falls behind once the kernel's socket buffers are full; the report says
//!   how many of its subscriptions were told to resume (`SUBSCRIPTION_LAGGED`).
//!   A fast subscriber on one merchant runs through B and must receive every
//!   one of that merchant's payments. `--merchants` defaults to 100 here.
//! - `control-accounts` (issue 17): `--merchants` merchants (100,000 by
//!   default) each get one payment-shaped transaction through
//!   `postTransactions` (batches of `--batch`), so the platform keeps two
//!   subsidiary accounts per merchant; then `platformBalances` (all assets,
//!   and USD) and `trialBalance` are timed 30 times each, one at a time.
//!   Target: each under 200 ms.
//! - `lookup` (issue 19): `--transactions` (1,000,000 by default) seeded
//!   through `postTransactions`, then lookups one at a time: by external
//!   reference (target p99 ≤ 5 ms), by one metadata key and value (≤ 20 ms),
//!   and an account's balance `asOf` the middle of its history (≤ 20 ms),
//!   with each lookup's `EXPLAIN (ANALYZE, BUFFERS)` plan (see `lookup.rs`).
//! - `telemetry` (issue 22): uniform with metrics and traces off and on, in
//!   turn (see `telemetry.rs`); target: on ≥ 0.95 × off.
//! - `all`: uniform, hot, mixed, bulk, read-heavy, balances and olist one
//!   after the other, the baselines once, and one markdown table of everything.
//!
//! Baselines, measured in the same run with the same client count and
//! seconds: pgbench's TPC-B (before and after the scenarios; the better of
//! the two), and pgledger (a ledger in PL/pgSQL, loaded from
//! `--pgledger-dir`) through pgbench, uniform and one hot account. Every
//! ratio is printed against both; pgledger's are SKIPPED, and say so, when
//! its folder is absent. Requests go as automatic persisted queries (the hash
//! first, the text only when the server asks for it), as a production client
//! sends them, when the server speaks the protocol.
//!
//! The `uniform`, `hot` and `mixed` scenarios need nothing but `recordPayment`,
//! so they also measure older builds of the server.

mod chain;
#[path = "../support/citus_db.rs"]
mod citus_db;
mod client;
mod cost;
mod lookup;
#[path = "../support/multipart.rs"]
mod multipart;
mod olist;
#[path = "../support/otlp.rs"]
mod otlp;
mod phases;
mod reconcile;
mod report;
mod server;
mod telemetry;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use clap::{Parser, ValueEnum};
use futures::{SinkExt, StreamExt};
use sea_orm::{Database, DatabaseConnection};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

use crate::client::{Session, payments_of, ws};
use crate::phases::{Group, Phase};
use crate::server::BenchServer;

/// Merchants the payments spread over when `--merchants` is not given.
const DEFAULT_MERCHANTS: usize = 1_000;

/// The control-accounts scenario's merchants when `--merchants` is not given
/// (issue 17's figure).
const CONTROL_MERCHANTS: usize = 100_000;

/// The slow-subscriber scenario's merchants when `--merchants` is not given
/// (the figure its earlier runs used).
const SLOW_SUBSCRIBER_MERCHANTS: usize = 100;

/// Subscriptions the slow subscriber opens (the server's default per-connection limit).
const SLOW_SUBSCRIPTIONS: usize = 32;

/// The mixed scenario's target (issue 17): a hot merchant taking half the
/// clients cuts the others' throughput by at most a tenth.
const MIXED_TARGET: f64 = 0.9;

/// Rounds of the mixed scenario: the others alone and with the hot merchant
/// run in turn, A B B A per round, `--seconds` each in all.
const MIXED_ROUNDS: u64 = 2;

/// How long the server sits idle after set-up before its idle RSS is read:
/// long enough for the allocator to hand back what set-up's bursts used.
pub const IDLE_SETTLE: Duration = Duration::from_secs(2);

/// What `--scenario` can be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    /// A subscriber that never reads, against none (phases A, B, A').
    SlowSubscriber,
    /// Payments spread over every merchant.
    Uniform,
    /// Payments all for one merchant.
    Hot,
    /// Half the clients on one hot merchant, half spread over the others.
    Mixed,
    /// `postTransactions` batches.
    Bulk,
    /// Nine reads to one payment, with merchants' API keys.
    ReadHeavy,
    /// Balance reads only, with merchants' API keys.
    Balances,
    /// The Olist replay, timed end to end.
    Olist,
    /// The platform's control accounts over many merchants.
    ControlAccounts,
    /// Deals in goods between two merchants (on Citus, often on two workers).
    Deals,
    /// Lookups by reference, metadata and point in time over a large book.
    Lookup,
    /// A 10,000-line bank statement imported and matched against `--transactions` payouts.
    Reconcile,
    /// The hash chains' cost (uniform with and without, in turn; needs a
    /// `--features bench-switches` server) and an offline check of one
    /// merchant's export of `--transactions` transfers.
    Chain,
    /// What metrics and traces cost: uniform with both off and with both on
    /// (scraped, and exported to an OTLP receiver in the benchmark), in turn.
    Telemetry,
    /// Every scenario but slow-subscriber, in one table.
    All,
}

impl Scenario {
    /// What `all` runs, in order.
    const ALL: [Scenario; 7] = [
        Scenario::Uniform,
        Scenario::Hot,
        Scenario::Mixed,
        Scenario::Bulk,
        Scenario::ReadHeavy,
        Scenario::Balances,
        Scenario::Olist,
    ];

    /// Its name on the command line.
    pub fn name(self) -> String {
        self.to_possible_value().map(|v| v.get_name().to_owned()).unwrap_or_default()
    }
}

/// The command line.
#[derive(Debug, Parser)]
#[command(name = "ledger-bench", about = "Benchmark a ledger-server against pgbench TPC-B on the same PostgreSQL")]
pub struct Args {
    /// The `ledger-server` binary to run (build it with `--release`).
    #[arg(long, default_value = "target/release/ledger-server")]
    server_bin: String,
    /// A PostgreSQL URL whose user may create databases; the benchmark makes
    /// fresh ones and drops them afterwards.
    #[arg(long, env = "TEST_DATABASE_URL", default_value = "postgres://postgres:postgres@127.0.0.1:5432/postgres")]
    database_url: String,
    /// Concurrent HTTP clients (and pgbench clients; the replay's requests in flight).
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// Seconds each measured phase runs (after a 2 s warm-up), and pgbench too.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Merchants the payments spread over [default: 1000; 100 for slow-subscriber; 100000 for control-accounts].
    #[arg(long)]
    merchants: Option<usize>,
    /// Scenario to run.
    #[arg(long, value_enum, default_value_t = Scenario::SlowSubscriber)]
    scenario: Scenario,
    /// The server's pool size.
    #[arg(long, default_value_t = 16)]
    pool_size: u32,
    /// Transactions per `postTransactions` call (scenario `bulk`).
    #[arg(long, default_value_t = 100)]
    batch: usize,
    /// Transactions the `lookup` scenario seeds before timing its lookups; for
    /// `reconcile`, the payouts in transit the statement is matched against.
    #[arg(long, default_value_t = 1_000_000)]
    transactions: usize,
    /// Folder with the Olist CSV files (scenario `olist`).
    #[arg(long, default_value = "data/olist")]
    olist_dir: String,
    /// Folder with pgledger's SQL and pgbench scripts; when it is absent the
    /// pgledger baseline is SKIPPED.
    #[arg(long, default_value = "../shared/vendor/pgledger")]
    pgledger_dir: String,
}

/// The same-run yardsticks every figure is divided by.
#[derive(Debug, Clone, Copy)]
pub struct Baselines {
    /// pgbench TPC-B, transactions per second.
    pub tpcb: f64,
    /// pgledger through pgbench: (uniform, one hot account) transfers per
    /// second; None when `--pgledger-dir` is absent (SKIPPED).
    pub pgledger: Option<(f64, f64)>,
}

impl Baselines {
    /// The pgledger figure a phase is compared with: the hot account's for a
    /// phase of one hot merchant, the uniform one otherwise.
    pub fn pgledger_for(&self, phase: &phases::Phase) -> Option<f64> {
        let hot = phase.name.starts_with("hot:") || phase.name.contains("the hot merchant");
        self.pgledger.map(|(uniform, hot_tps)| if hot { hot_tps } else { uniform })
    }
}

impl Args {
    /// `--merchants`, or the scenario's default.
    pub fn merchants(&self) -> usize {
        self.merchants.unwrap_or(match self.scenario {
            Scenario::SlowSubscriber => SLOW_SUBSCRIBER_MERCHANTS,
            Scenario::ControlAccounts => CONTROL_MERCHANTS,
            _ => DEFAULT_MERCHANTS,
        })
    }
}

/// What one scenario measured, on its own server and database.
pub struct Outcome {
    scenario: Scenario,
    phases: Vec<Phase>,
    /// Lines printed under the table: the mixed ratio, the Olist check, the slow subscriber's.
    notes: Vec<String>,
    idle_rss_kib: Option<u64>,
    peak_rss_kib: Option<u64>,
    verified: bool,
    /// False when the scenario's own check failed (the Olist count): the numbers are void.
    checked: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(args.clients >= 1 && args.merchants() >= 1, "--clients and --merchants must be at least 1");
    anyhow::ensure!(
        args.clients >= 2 || !matches!(args.scenario, Scenario::Mixed | Scenario::All),
        "the mixed scenario needs --clients 2 or more"
    );
    anyhow::ensure!(
        args.merchants() >= 2 || !matches!(args.scenario, Scenario::Mixed | Scenario::All),
        "the mixed scenario needs --merchants 2 or more (one hot, the rest uniform)"
    );
    let pg_base = args.database_url.rsplit_once('/').map(|(b, _)| b.to_owned()).unwrap_or_default();
    let admin = Database::connect(&args.database_url).await?;
    let scenarios = if args.scenario == Scenario::All { Scenario::ALL.to_vec() } else { vec![args.scenario] };
    // TPC-B runs before and after the scenarios and the better run is the
    // baseline: a run right after heavy writing (checkpoints, autovacuum) can
    // come out low, and a low baseline would flatter the ledger.
    eprintln!("ledger-bench: pgbench TPC-B (before) …");
    let before = server::pgbench_tpcb(&args, &admin, &pg_base).await?;
    eprintln!("ledger-bench: pgledger through pgbench, uniform and hot …");
    let pgledger = match server::pgledger(&args, &admin, &pg_base, &server::PGLEDGER_SCRIPTS).await? {
        Some(tps) => match tps.as_slice() {
            [uniform, hot] => Some((*uniform, *hot)),
            _ => anyhow::bail!("pgledger gave {} figures for two scripts", tps.len()),
        },
        None => {
            eprintln!("ledger-bench: pgledger SKIPPED: no {}/pgledger.sql", args.pgledger_dir);
            None
        }
    };
    let mut outcomes = Vec::new();
    for scenario in scenarios {
        eprintln!("ledger-bench: {} …", scenario.name());
        // These run their own servers, two settings in turn.
        let own = match scenario {
            Scenario::Chain => Some(chain::run(&args, &admin, &pg_base).await?),
            Scenario::Telemetry => Some(telemetry::run(&args, &admin, &pg_base).await?),
            _ => None,
        };
        if let Some(run) = own {
            outcomes.push(Outcome {
                scenario,
                phases: run.phases,
                notes: run.notes,
                idle_rss_kib: None,
                peak_rss_kib: None,
                verified: run.verified,
                checked: run.checked,
            });
            continue;
        }
        outcomes.push(run_scenario(&args, scenario, &admin, &pg_base).await?);
    }
    eprintln!("ledger-bench: pgbench TPC-B (after) …");
    let after = server::pgbench_tpcb(&args, &admin, &pg_base).await?;
    let pgbench = before.max(after);
    eprintln!("ledger-bench: pgbench TPC-B {before:.0} tps before, {after:.0} tps after; baseline {pgbench:.0}");
    let baselines = Baselines { tpcb: pgbench, pgledger };
    match outcomes.as_slice() {
        [one] if args.scenario != Scenario::All => report::single(&args, one, &baselines),
        _ => report::all(&args, &outcomes, &baselines),
    }
    let void: Vec<String> = outcomes.iter().filter(|o| !o.verified || !o.checked).map(|o| o.scenario.name()).collect();
    anyhow::ensure!(void.is_empty(), "verify or a check failed for {}: these numbers are void", void.join(", "));
    Ok(())
}

/// Runs one scenario on a fresh database and server, then verifies the database.
async fn run_scenario(
    args: &Args,
    scenario: Scenario,
    admin: &DatabaseConnection,
    pg_base: &str,
) -> anyhow::Result<Outcome> {
    let server = BenchServer::start(args, admin, pg_base).await?;
    let result = drive(args, scenario, &server).await;
    let (peak_rss_kib, verified) = server.finish(args, admin).await?;
    let mut outcome = result?;
    outcome.peak_rss_kib = peak_rss_kib;
    outcome.verified = verified;
    Ok(outcome)
}

/// Sets the server up for the scenario, reads its idle RSS, and runs the phases.
async fn drive(args: &Args, scenario: Scenario, server: &BenchServer) -> anyhow::Result<Outcome> {
    let session = Session::open(&server.base, args.clients).await?;
    let mut outcome = Outcome {
        scenario,
        phases: Vec::new(),
        notes: Vec::new(),
        idle_rss_kib: None,
        peak_rss_kib: None,
        verified: false,
        checked: true,
    };
    let started = std::time::Instant::now();
    // The replay creates its own merchants.
    let merchants = match scenario {
        Scenario::Olist => Vec::new(),
        _ => session.create_merchants(args.merchants()).await?,
    };
    let readers = match scenario {
        Scenario::ReadHeavy | Scenario::Balances => session.prepare_readers(&merchants).await?,
        _ => Vec::new(),
    };
    eprintln!("ledger-bench: set up {} merchants in {:.1} s", merchants.len(), started.elapsed().as_secs_f64());
    tokio::time::sleep(IDLE_SETTLE).await;
    outcome.idle_rss_kib = server::rss_kib(server.pid(), "VmRSS:");
    let merchants = Arc::new(merchants);
    let group = |name: &str, clients: usize, merchants: &Arc<Vec<String>>| Group {
        name: name.to_owned(),
        clients,
        merchants: merchants.clone(),
    };
    let hot = Arc::new(merchants.iter().take(1).cloned().collect::<Vec<_>>());
    match scenario {
        Scenario::Uniform => {
            let name = format!("uniform: {} merchants", merchants.len());
            let db = Database::connect(&server.db_url).await?;
            let before = cost::probe(&db, &server.db_name, server.pid()).await?;
            outcome.phases =
                phases::payments(&session, args.seconds, vec![group(&name, args.clients, &merchants)]).await?;
            let after = cost::probe(&db, &server.db_name, server.pid()).await?;
            outcome.notes.push(cost::per_transaction("uniform", &before, &after));
        }
        Scenario::Hot => {
            let hot = vec![group("hot: one merchant", args.clients, &hot)];
            outcome.phases = phases::payments(&session, args.seconds, hot).await?;
        }
        Scenario::Mixed => {
            let others = Arc::new(merchants.iter().skip(1).cloned().collect::<Vec<_>>());
            let (n_others, n_hot) = (args.clients / 2, args.clients - args.clients / 2);
            // The others alone and with the hot merchant, in turn on the same
            // server and database, so the two figures differ by the hot
            // merchant and nothing else, and drift in the machine's speed
            // falls on both alike.
            let alone = format!("uniform-half: {} merchants, no hot traffic", others.len());
            let db = Database::connect(&server.db_url).await?;
            let before = cost::probe(&db, &server.db_name, server.pid()).await?;
            let (alone, with) = phases::payments_in_turn(
                &session,
                args.seconds,
                MIXED_ROUNDS,
                vec![group(&alone, n_others, &others)],
                vec![
                    group("mixed: the hot merchant", n_hot, &hot),
                    group(&format!("mixed: the others ({} merchants)", others.len()), n_others, &others),
                ],
            )
            .await?;
            let after = cost::probe(&db, &server.db_name, server.pid()).await?;
            outcome.notes.push(cost::per_transaction("mixed (both loads)", &before, &after));
            if let ([without], [_, with_hot]) = (alone.as_slice(), with.as_slice()) {
                let ratio = with_hot.tps() / without.tps();
                outcome.notes.push(format!(
                    "mixed: others' throughput with a 50%-hot merchant / without = {:.0} / {:.0} = {ratio:.2} \
                     (target ≥ {MIXED_TARGET}: {})",
                    with_hot.tps(),
                    without.tps(),
                    if ratio >= MIXED_TARGET { "met" } else { "NOT met" }
                ));
            }
            outcome.phases = with.into_iter().chain(alone).collect();
        }
        Scenario::Bulk => {
            outcome.phases = vec![phases::bulk(&session, args.seconds, args.clients, args.batch, &merchants).await?];
        }
        Scenario::ReadHeavy => {
            outcome.phases = phases::read_heavy(&session, args.seconds, args.clients, &Arc::new(readers)).await?;
        }
        Scenario::Balances => {
            outcome.phases =
                vec![phases::balance_reads(&session, args.seconds, args.clients, &Arc::new(readers)).await?];
        }
        Scenario::Olist => {
            let replay = olist::replay(args, &session, &server.db_url).await?;
            outcome.phases = vec![replay.phase];
            outcome.notes = replay.notes;
            outcome.checked = replay.confirmed;
        }
        Scenario::ControlAccounts => {
            let (phases, notes) =
                phases::control_accounts(&session, &server.db_url, args.clients, args.batch, &merchants).await?;
            outcome.phases = phases;
            outcome.notes = notes;
        }
        Scenario::Deals => {
            phases::stock_for_deals(&session, &merchants).await?;
            let db = Database::connect(&server.db_url).await?;
            let before = cost::probe(&db, &server.db_name, server.pid()).await?;
            outcome.phases = vec![phases::deals(&session, args.seconds, args.clients, &merchants).await?];
            let after = cost::probe(&db, &server.db_name, server.pid()).await?;
            outcome.notes.push(cost::per_transaction("deals", &before, &after));
        }
        Scenario::Lookup => {
            let (phases, notes) =
                lookup::run(&session, &server.db_url, args.clients, args.batch, args.transactions, &merchants).await?;
            outcome.phases = phases;
            outcome.notes = notes;
        }
        Scenario::Reconcile => {
            outcome.notes = reconcile::run(&session, server.pid(), args.clients, args.transactions, &merchants).await?;
        }
        Scenario::SlowSubscriber => slow_subscriber(args, &session, &merchants, &mut outcome).await?,
        Scenario::Chain => anyhow::bail!("`chain` runs its own servers (chain::run)"),
        Scenario::Telemetry => anyhow::bail!("`telemetry` runs its own servers (telemetry::run)"),
        Scenario::All => anyhow::bail!("`all` is not a scenario of its own"),
    }
    Ok(outcome)
}

/// Phases A, B (a subscriber that never reads, and a fast one) and A'.
async fn slow_subscriber(
    args: &Args,
    session: &Session,
    merchants: &Arc<Vec<String>>,
    outcome: &mut Outcome,
) -> anyhow::Result<()> {
    let uniform =
        |name: &str| vec![Group { name: name.to_owned(), clients: args.clients, merchants: merchants.clone() }];
    let mut phases = phases::payments(session, args.seconds, uniform("A: no subscriber")).await?;

    // B: one subscriber that never reads, on the first merchants, plus a fast one.
    let mut slow = ws(&session.base, &session.token).await?;
    for (i, m) in merchants.iter().take(SLOW_SUBSCRIPTIONS).enumerate() {
        let query = "subscription($m: ID!) { transactionPosted(merchantId: $m) { sequence transactionId entries { accountCode amount { amount } } json } }";
        let msg =
            json!({ "id": i.to_string(), "type": "subscribe", "payload": { "query": query, "variables": { "m": m } } });
        slow.send(Message::Text(msg.to_string().into())).await?;
    }
    let fast_merchant = merchants.first().ok_or_else(|| anyhow::anyhow!("no merchant"))?.clone();
    let mut fast = ws(&session.base, &session.token).await?;
    let sub = json!({ "id": "f", "type": "subscribe", "payload": { "query": "subscription($m: ID!) { transactionPosted(merchantId: $m) { sequence } }", "variables": { "m": fast_merchant } } });
    fast.send(Message::Text(sub.to_string().into())).await?;
    let received = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let counter = {
        let (received, stop) = (received.clone(), stop.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                match tokio::time::timeout(Duration::from_millis(200), fast.next()).await {
                    Ok(Some(Ok(Message::Text(t)))) if t.contains("\"next\"") => {
                        received.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(None) | Ok(Some(Err(_))) => break,
                    _ => {}
                }
            }
        })
    };
    let before = payments_of(session, &fast_merchant).await?;
    let b = phases::payments(session, args.seconds, uniform("B: + one subscriber that never reads")).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);
    counter.await?;
    let after = payments_of(session, &fast_merchant).await?;
    // What the slow subscriber's socket holds now: the events the kernel
    // buffered for it, then (if it fell behind) the lag error.
    let (mut buffered, mut lagged) = (0u64, 0u64);
    while let Ok(Some(Ok(Message::Text(t)))) = tokio::time::timeout(Duration::from_secs(2), slow.next()).await {
        if t.contains("SUBSCRIPTION_LAGGED") {
            lagged += 1;
        } else if t.contains("\"next\"") {
            buffered += 1;
        }
    }
    for mut p in b {
        p.name = format!(
            "{} (it had {buffered} events buffered, {lagged} of {} subscriptions told to resume; a fast subscriber got {} of {} events)",
            p.name,
            SLOW_SUBSCRIPTIONS.min(merchants.len()),
            received.load(Ordering::Relaxed),
            after.saturating_sub(before)
        );
        phases.push(p);
    }
    drop(slow);
    phases.extend(phases::payments(session, args.seconds, uniform("A': no subscriber again")).await?);
    if let [a, b, a2] = phases.as_slice() {
        let baseline = (a.tps() + a2.tps()) / 2.0;
        outcome.notes.push(format!(
            "slow subscriber: B / mean(A, A') = {:.3} ({:+.1}% write throughput)",
            b.tps() / baseline,
            (b.tps() / baseline - 1.0) * 100.0
        ));
    }
    outcome.phases = phases;
    Ok(())
}
