//! `ledger-bench`: drives a real `ledger-server` process over HTTP GraphQL and
//! reports throughput as a ratio to pgbench's TPC-B on the same PostgreSQL,
//! measured in the same run.
//!
//! Scenario `slow-subscriber` (issue: live events) asks whether a subscriber
//! that never reads its WebSocket slows the writers. It runs `recordPayment`
//! from `--clients` concurrent clients over `--merchants` merchants for
//! `--seconds`, three times: without subscribers (A), with one WebSocket
//! subscriber that subscribes to the transactions of the first 32 merchants
//! and then never reads (B), and without again (A'). With `--merchants 32`
//! every payment is for it, so it falls behind once the kernel's socket
//! buffers are full; the report says how many of its subscriptions were told
//! to resume (`SUBSCRIPTION_LAGGED`). A fast
//! subscriber on one merchant runs through B and must receive every one of
//! that merchant's payments. Afterwards `ledger-server verify` must pass, or
//! the numbers are void.
//!
//! Scenario `bulk` sends `postTransactions` of `--batch` transfers (two
//! postings each) from every client and counts transactions and postings.
//!
//! Scenario `uniform` runs phase A alone (it needs nothing but `recordPayment`
//! and `events`, so it also measures older builds of the server).
//!
//! Every figure is printed with the command line that reproduces it.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use futures::{SinkExt, StreamExt};
use sea_orm::{ConnectionTrait, Database};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// The admin password the benchmark's server bootstraps with.
const BENCH_ADMIN_PASSWORD: &str = "bench-admin-password-1";

/// How long each phase warms up before it is measured.
const WARM_UP: Duration = Duration::from_secs(2);

/// Subscriptions the slow subscriber opens (the server's default per-connection limit).
const SLOW_SUBSCRIPTIONS: usize = 32;

#[derive(Debug, Parser)]
#[command(name = "ledger-bench", about = "Benchmark a ledger-server against pgbench TPC-B on the same PostgreSQL")]
struct Args {
    /// The `ledger-server` binary to run (build it with `--release`).
    #[arg(long, default_value = "target/release/ledger-server")]
    server_bin: String,
    /// A PostgreSQL URL whose user may create databases; the benchmark makes
    /// fresh ones and drops them afterwards.
    #[arg(long, env = "TEST_DATABASE_URL", default_value = "postgres://postgres:postgres@127.0.0.1:5432/postgres")]
    database_url: String,
    /// Concurrent HTTP clients (and pgbench clients).
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// Seconds each measured phase runs.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Merchants the payments spread over.
    #[arg(long, default_value_t = 100)]
    merchants: usize,
    /// Scenario to run.
    #[arg(long, default_value = "slow-subscriber")]
    scenario: String,
    /// The server's pool size.
    #[arg(long, default_value_t = 16)]
    pool_size: u32,
    /// Transactions per `postTransactions` call (scenario `bulk`).
    #[arg(long, default_value_t = 100)]
    batch: usize,
}

/// What one phase measured.
#[derive(Debug, Clone)]
struct Phase {
    name: String,
    ok: u64,
    errors: u64,
    seconds: f64,
    p50_ms: f64,
    p99_ms: f64,
    p999_ms: f64,
    /// Postings per transaction: 3 for a payment with a fee, 2 for a bulk transfer.
    entries_per_txn: f64,
}

impl Phase {
    fn tps(&self) -> f64 {
        self.ok as f64 / self.seconds
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(
        matches!(args.scenario.as_str(), "slow-subscriber" | "uniform" | "bulk"),
        "unknown scenario {} (slow-subscriber, uniform or bulk)",
        args.scenario
    );
    let base_url = args.database_url.rsplit_once('/').map(|(b, _)| b.to_owned()).unwrap_or_default();
    let db_name = format!("ledger_bench_{}", uuid::Uuid::new_v4().simple());
    let admin = Database::connect(&args.database_url).await?;
    admin.execute_unprepared(&format!("CREATE DATABASE {db_name}")).await?;
    let db_url = format!("{base_url}/{db_name}");

    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let mut server = Command::new(&args.server_bin)
        .args(["--database-url", &db_url, "--listen", &format!("127.0.0.1:{port}"), "--log", "warn"])
        .args(["--admin-password", BENCH_ADMIN_PASSWORD, "--mode", "production"])
        .args(["--rate-limit-per-sec", "10000000", "--rate-limit-burst", "10000000"])
        .args(["--pool-size", &args.pool_size.to_string()])
        .stdout(Stdio::null())
        .spawn()?;
    let base = format!("http://127.0.0.1:{port}");
    let result = run(&args, &base).await;
    let rss_kib = peak_rss_kib(server.id());
    let _ = server.kill();
    let _ = server.wait();
    let verified = Command::new(&args.server_bin).args(["--database-url", &db_url, "verify"]).status()?.success();
    admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS {db_name} WITH (FORCE)")).await?;
    let phases = result?;
    let pgbench = pgbench_tpcb(&args, &admin, &base_url).await?;
    report(&args, &phases, pgbench, rss_kib, verified);
    anyhow::ensure!(verified, "ledger-server verify failed: these numbers are void");
    Ok(())
}

/// Logs in, creates the merchants and runs the three phases.
async fn run(args: &Args, base: &str) -> anyhow::Result<Vec<Phase>> {
    let http = reqwest::Client::builder().pool_max_idle_per_host(args.clients).build()?;
    wait_healthy(&http, base).await?;
    let token = gql(
        &http,
        base,
        None,
        "mutation($p: String!) { login(username: \"admin\", password: $p) { token } }",
        json!({ "p": BENCH_ADMIN_PASSWORD }),
    )
    .await?["data"]["login"]["token"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("login failed"))?
        .to_owned();
    let mut merchants = Vec::with_capacity(args.merchants);
    for i in 0..args.merchants {
        let body = gql(
            &http,
            base,
            Some(&token),
            "mutation($i: CreateMerchantInput!) { createMerchant(input: $i) { merchant { id } } }",
            json!({ "i": { "name": format!("Bench {i}"), "idempotencyKey": format!("bench-merchant-{i}") } }),
        )
        .await?;
        merchants.push(
            body["data"]["createMerchant"]["merchant"]["id"]
                .as_str()
                .ok_or_else(|| anyhow::anyhow!("{body}"))?
                .to_owned(),
        );
    }
    let merchants = Arc::new(merchants);
    let mut phases = Vec::new();
    if args.scenario == "bulk" {
        phases.push(load_bulk(args, &http, base, &token, &merchants).await?);
        return Ok(phases);
    }
    phases.push(load(args, &http, base, &token, &merchants, "A: no subscriber").await?);
    if args.scenario == "uniform" {
        return Ok(phases);
    }

    // B: one subscriber that never reads, on the first merchants, plus a fast one.
    let mut slow = ws(base, &token).await?;
    for (i, m) in merchants.iter().take(SLOW_SUBSCRIPTIONS).enumerate() {
        let query = "subscription($m: ID!) { transactionPosted(merchantId: $m) { sequence transactionId entries { accountCode amount { amount } } json } }";
        let msg =
            json!({ "id": i.to_string(), "type": "subscribe", "payload": { "query": query, "variables": { "m": m } } });
        slow.send(Message::Text(msg.to_string().into())).await?;
    }
    let fast_merchant = merchants[0].clone();
    let mut fast = ws(base, &token).await?;
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
    let before = payments_of(&http, base, &token, &fast_merchant).await?;
    let mut b = load(args, &http, base, &token, &merchants, "B: + one subscriber that never reads").await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);
    counter.await?;
    let after = payments_of(&http, base, &token, &fast_merchant).await?;
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
    b.name = format!(
        "{} (it had {buffered} events buffered, {lagged} of {} subscriptions told to resume; a fast subscriber got {} of {} events)",
        b.name,
        SLOW_SUBSCRIPTIONS.min(merchants.len()),
        received.load(Ordering::Relaxed),
        after - before
    );
    phases.push(b);
    drop(slow);
    phases.push(load(args, &http, base, &token, &merchants, "A': no subscriber again").await?);
    Ok(phases)
}

/// Uniform `recordPayment` load: warm-up, then `--seconds` measured.
async fn load(
    args: &Args,
    http: &reqwest::Client,
    base: &str,
    token: &str,
    merchants: &Arc<Vec<String>>,
    name: &str,
) -> anyhow::Result<Phase> {
    let run_id = uuid::Uuid::new_v4().simple().to_string();
    let warm_until = Instant::now() + WARM_UP;
    let stop_at = warm_until + Duration::from_secs(args.seconds);
    let mut tasks = Vec::new();
    for c in 0..args.clients {
        let (http, base, token, merchants, run_id) =
            (http.clone(), base.to_owned(), token.to_owned(), merchants.clone(), run_id.clone());
        tasks.push(tokio::spawn(async move {
            let (mut ok, mut errors, mut latencies) = (0u64, 0u64, Vec::new());
            let mut i = 0usize;
            loop {
                let now = Instant::now();
                if now >= stop_at {
                    break;
                }
                let m = &merchants[(c * 7919 + i * 104_729) % merchants.len()];
                let input = json!({ "merchantId": m, "gross": { "amount": "10.00", "currency": "USD" }, "fee": { "amount": "0.30", "currency": "USD" }, "idempotencyKey": format!("{run_id}-{c}-{i}") });
                let body = gql(&http, &base, Some(&token), "mutation($i: RecordPaymentInput!) { recordPayment(input: $i) { transaction { sequence } } }", json!({ "i": input })).await;
                let took = now.elapsed();
                if now >= warm_until {
                    match body {
                        Ok(b) if b.get("errors").is_none() => {
                            ok += 1;
                            latencies.push(took.as_secs_f64() * 1000.0);
                        }
                        _ => errors += 1,
                    }
                }
                i += 1;
            }
            (ok, errors, latencies)
        }));
    }
    gather(name.to_owned(), tasks, args.seconds, 3.0).await
}

/// `postTransactions` load: each client sends batches of `--batch` transfers
/// (platform `processor_clearing` debit, merchant `available` credit: two
/// postings each), non-atomic. Counts transactions, so entries/s is twice the rate.
async fn load_bulk(
    args: &Args,
    http: &reqwest::Client,
    base: &str,
    token: &str,
    merchants: &Arc<Vec<String>>,
) -> anyhow::Result<Phase> {
    let run_id = uuid::Uuid::new_v4().simple().to_string();
    let warm_until = Instant::now() + WARM_UP;
    let stop_at = warm_until + Duration::from_secs(args.seconds);
    let mut tasks = Vec::new();
    for c in 0..args.clients {
        let (http, base, token, merchants, run_id, batch) =
            (http.clone(), base.to_owned(), token.to_owned(), merchants.clone(), run_id.clone(), args.batch);
        tasks.push(tokio::spawn(async move {
            let (mut ok, mut errors, mut latencies) = (0u64, 0u64, Vec::new());
            let mut i = 0usize;
            while Instant::now() < stop_at {
                let items: Vec<Value> = (0..batch)
                    .map(|j| {
                        let m = &merchants[(c * 7919 + (i + j) * 104_729) % merchants.len()];
                        json!({ "merchantId": m, "idempotencyKey": format!("{run_id}-{c}-{}", i + j), "entries": [
                            { "accountCode": "processor_clearing", "platform": true, "direction": "DEBIT", "amount": { "amount": "10.00", "currency": "USD" } },
                            { "accountCode": "available", "direction": "CREDIT", "amount": { "amount": "10.00", "currency": "USD" } },
                        ] })
                    })
                    .collect();
                let now = Instant::now();
                let body = gql(&http, &base, Some(&token), "mutation($i: PostTransactionsInput!) { postTransactions(input: $i) { posted } }", json!({ "i": { "transactions": items } })).await;
                if now >= warm_until {
                    match body.as_ref().ok().and_then(|b| b["data"]["postTransactions"]["posted"].as_u64()) {
                        Some(n) => {
                            ok += n;
                            errors += batch as u64 - n;
                            latencies.push(now.elapsed().as_secs_f64() * 1000.0);
                        }
                        None => errors += batch as u64,
                    }
                }
                i += batch;
            }
            (ok, errors, latencies)
        }));
    }
    gather(format!("bulk: postTransactions of {} (latency per batch)", args.batch), tasks, args.seconds, 2.0).await
}

/// What each client task of a phase returns: successes, errors, latencies in ms.
type ClientTally = (u64, u64, Vec<f64>);

/// Adds up the client tasks of a phase into its figures.
async fn gather(
    name: String,
    tasks: Vec<tokio::task::JoinHandle<ClientTally>>,
    seconds: u64,
    entries_per_txn: f64,
) -> anyhow::Result<Phase> {
    let (mut ok, mut errors, mut latencies) = (0, 0, Vec::new());
    for t in tasks {
        let (o, e, l) = t.await?;
        ok += o;
        errors += e;
        latencies.extend(l);
    }
    latencies.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0.0)
    };
    Ok(Phase {
        name,
        ok,
        errors,
        seconds: seconds as f64,
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
        p999_ms: pct(0.999),
        entries_per_txn,
    })
}

/// How many payments the merchant has (a count of its events).
async fn payments_of(http: &reqwest::Client, base: &str, token: &str, merchant: &str) -> anyhow::Result<u64> {
    let mut after = 0i64;
    let mut n = 0u64;
    loop {
        let body = gql(
            http,
            base,
            Some(token),
            "query($m: ID, $a: Int) { events(merchantId: $m, after: $a, first: 100) { sequence } }",
            json!({ "m": merchant, "a": after }),
        )
        .await?;
        let page = body["data"]["events"].as_array().cloned().unwrap_or_default();
        n += page.len() as u64;
        match page.last().and_then(|e| e["sequence"].as_i64()) {
            Some(s) if page.len() == 100 => after = s,
            _ => return Ok(n),
        }
    }
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A `graphql-transport-ws` connection, acknowledged.
async fn ws(base: &str, token: &str) -> anyhow::Result<Socket> {
    let mut request = format!("{}/graphql/ws", base.replacen("http://", "ws://", 1)).into_client_request()?;
    request.headers_mut().insert("sec-websocket-protocol", "graphql-transport-ws".parse()?);
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await?;
    let init = json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } });
    socket.send(Message::Text(init.to_string().into())).await?;
    match socket.next().await {
        Some(Ok(Message::Text(t))) if t.contains("connection_ack") => Ok(socket),
        other => anyhow::bail!("no connection_ack: {other:?}"),
    }
}

async fn gql(
    http: &reqwest::Client,
    base: &str,
    token: Option<&str>,
    query: &str,
    variables: Value,
) -> anyhow::Result<Value> {
    let mut req = http.post(format!("{base}/graphql")).json(&json!({ "query": query, "variables": variables }));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    Ok(req.send().await?.json().await?)
}

async fn wait_healthy(http: &reqwest::Client, base: &str) -> anyhow::Result<()> {
    for _ in 0..300 {
        if http.get(format!("{base}/healthz")).send().await.is_ok_and(|r| r.status().is_success()) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!("the server did not start")
}

/// Peak resident set size of a process, from `/proc/<pid>/status` (`VmHWM`).
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find(|l| l.starts_with("VmHWM:"))?.split_whitespace().nth(1)?.parse().ok()
}

/// pgbench TPC-B (its default script) with the same client count, on a fresh
/// scale-10 database of the same PostgreSQL. Returns transactions per second.
async fn pgbench_tpcb(args: &Args, admin: &sea_orm::DatabaseConnection, base_url: &str) -> anyhow::Result<f64> {
    let name = format!("ledger_bench_pgbench_{}", uuid::Uuid::new_v4().simple());
    admin.execute_unprepared(&format!("CREATE DATABASE {name}")).await?;
    let url = format!("{base_url}/{name}");
    let init = Command::new("pgbench").args(["-i", "-q", "-s", "10", &url]).stderr(Stdio::null()).status()?;
    anyhow::ensure!(init.success(), "pgbench -i failed (is pgbench installed? Debian's postgresql-client has it)");
    let out = Command::new("pgbench")
        .args(["-c", &args.clients.to_string(), "-j", "2", "-T", &args.seconds.to_string(), "-M", "prepared", &url])
        .stderr(Stdio::null())
        .output()?;
    admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find(|l| l.starts_with("tps = "))
        .and_then(|l| l.trim_start_matches("tps = ").split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no tps in pgbench output: {text}"))
}

fn report(args: &Args, phases: &[Phase], pgbench_tps: f64, rss_kib: Option<u64>, verified: bool) {
    println!();
    println!(
        "ledger-bench --scenario {} --clients {} --seconds {} --merchants {}  (server peak RSS {} MiB; verify: {})",
        args.scenario,
        args.clients,
        args.seconds,
        args.merchants,
        rss_kib.map_or("?".to_owned(), |k| format!("{:.1}", k as f64 / 1024.0)),
        if verified { "clean" } else { "FAILED" }
    );
    println!("pgbench TPC-B, {} clients, same PostgreSQL: {pgbench_tps:.0} tps", args.clients);
    println!(
        "| phase | transactions/s | entries/s | × TPC-B (transactions) | × TPC-B (entries) | p50 ms | p99 ms | p99.9 ms | errors |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for p in phases {
        println!(
            "| {} | {:.0} | {:.0} | {:.2} | {:.2} | {:.1} | {:.1} | {:.1} | {} |",
            p.name,
            p.tps(),
            p.tps() * p.entries_per_txn,
            p.tps() / pgbench_tps,
            p.tps() * p.entries_per_txn / pgbench_tps,
            p.p50_ms,
            p.p99_ms,
            p.p999_ms,
            p.errors
        );
    }
    if let [a, b, a2] = phases {
        let baseline = (a.tps() + a2.tps()) / 2.0;
        println!(
            "slow subscriber: B / mean(A, A') = {:.3} ({:+.1}% write throughput)",
            b.tps() / baseline,
            (b.tps() / baseline - 1.0) * 100.0
        );
    }
}
