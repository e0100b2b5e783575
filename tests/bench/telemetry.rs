//! Scenario `telemetry` (issue 22): what metrics and traces cost.
//!
//! Uniform payments on a server with both off (`LEDGER_METRICS=false`,
//! `OTEL_SDK_DISABLED=true`) and on the same build with both on (metrics
//! recorded and scraped from `/metrics` every second, as a Prometheus server
//! would; every span exported over OTLP/HTTP to a receiver in this process,
//! `support/otlp.rs`, which decodes and counts them), in turn (off-on, on-off,
//! …, four rounds), each on a fresh database. The ratio of the two sums is the
//! cost; the target is on ≥ 0.95 × off. The report also gives the spans
//! received per payment, so a run whose exporter dropped spans shows it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use sea_orm::DatabaseConnection;

use crate::Args;
use crate::chain::TurnsRun;
use crate::client::Session;
use crate::otlp::Receiver;
use crate::phases::{self, Group};
use crate::server::BenchServer;

/// Rounds of off and on, ABBA (see `chain.rs`).
const ROUNDS: usize = 4;

/// How often the "on" servers' `/metrics` is scraped.
const SCRAPE_EVERY: Duration = Duration::from_secs(1);

/// Scrapes `base`/metrics every [`SCRAPE_EVERY`] until `stop`; counts the
/// answers that were a 200 with our counters in them, and the others.
fn scraper(
    base: String,
    stop: Arc<AtomicBool>,
    good: Arc<AtomicU64>,
    bad: Arc<AtomicU64>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let client = reqwest::Client::new();
        while !stop.load(Ordering::Relaxed) {
            let ok = match client.get(format!("{base}/metrics")).send().await {
                Ok(r) if r.status().is_success() => {
                    r.text().await.is_ok_and(|t| t.contains("ledger_graphql_requests_total"))
                }
                _ => false,
            };
            if ok { &good } else { &bad }.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(SCRAPE_EVERY).await;
        }
    })
}

/// Runs the scenario.
pub async fn run(args: &Args, admin: &DatabaseConnection, pg_base: &str) -> anyhow::Result<TurnsRun> {
    let mut run = TurnsRun { phases: Vec::new(), notes: Vec::new(), verified: true, checked: true };
    let receiver = Receiver::start(false).await;
    let (mut off, mut on) = (0.0, 0.0);
    let (mut on_payments, good, bad) = (0u64, Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    for round in 1..=ROUNDS {
        let order = if round % 2 == 1 { [false, true] } else { [true, false] };
        for observed in order {
            let env: Vec<(&str, &str)> = if observed {
                vec![
                    ("LEDGER_METRICS", "true"),
                    ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint.as_str()),
                    // Room for a second of spans at full speed, sent each second.
                    ("OTEL_BSP_MAX_QUEUE_SIZE", "65536"),
                    ("OTEL_BSP_SCHEDULE_DELAY", "1000"),
                ]
            } else {
                vec![("LEDGER_METRICS", "false"), ("OTEL_SDK_DISABLED", "true")]
            };
            let server = BenchServer::start_with_env(args, admin, pg_base, &env).await?;
            let session = Session::open(&server.base, args.clients).await?;
            let merchants = Arc::new(session.create_merchants(args.merchants()).await?);
            tokio::time::sleep(crate::IDLE_SETTLE).await;
            let name = format!("uniform, metrics and traces {} (round {round})", if observed { "on" } else { "off" });
            let group = Group { name, clients: args.clients, merchants };
            let stop = Arc::new(AtomicBool::new(false));
            let scraping = observed.then(|| scraper(server.base.clone(), stop.clone(), good.clone(), bad.clone()));
            let mut phase = phases::payments(&session, args.seconds, vec![group]).await?;
            stop.store(true, Ordering::Relaxed);
            if let Some(task) = scraping {
                task.await.ok();
            }
            let (_, verified) = server.finish(args, admin).await?;
            run.verified &= verified;
            let p = phase.remove(0);
            if observed {
                on += p.tps();
                on_payments += p.ok;
            } else {
                off += p.tps();
            }
            run.phases.push(p);
        }
    }
    // The last batch of spans leaves up to a schedule delay after the server stopped taking them.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let ratio = on / off;
    run.notes.push(format!(
        "telemetry: uniform throughput with metrics and traces on / off, same build, same run, {ROUNDS} rounds each = \
         {on:.0} / {off:.0} = {ratio:.3} (target ≥ 0.95: {})",
        if ratio >= 0.95 { "met" } else { "NOT met" }
    ));
    let (spans, exports, undecodable) = receiver.counts();
    let per_payment = spans as f64 / on_payments.max(1) as f64;
    run.notes.push(format!(
        "telemetry: {spans} spans received in {exports} OTLP exports ({undecodable} undecodable) for {on_payments} \
         payments with tracing on: {per_payment:.2} spans per payment (five per request, one more per batch for its \
         commit, a few for the background jobs); /metrics scraped {} times, {} failed",
        good.load(Ordering::Relaxed),
        bad.load(Ordering::Relaxed)
    ));
    if spans == 0 || undecodable > 0 || good.load(Ordering::Relaxed) == 0 || bad.load(Ordering::Relaxed) > 0 {
        run.checked = false;
        run.notes.push("telemetry: CHECK FAILED: no spans, an undecodable export, or a failed scrape".to_owned());
    }
    Ok(run)
}
