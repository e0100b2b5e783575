//! The `lookup` scenario (issue 19): the lookups a support agent and a
//! merchant's back office make, over a large book, one at a time.
//!
//! Set-up: `--transactions` payment-shaped transactions (1,000,000 by
//! default) spread evenly over the merchants through `postTransactions`
//! (`--batch` per call, `--clients` calls in flight). Transaction `i` of
//! merchant `k` has the external reference `order-k-i`, the metadata
//! `{"customer": "cust-k-(i mod 100)", "channel": "web" | "pos"}` (so one
//! customer has about ten transactions per merchant) and an effective time
//! spread over the last 365 days. Then `VACUUM ANALYZE`, as autovacuum would
//! have done after such a load, a minute for the server's jobs to drain the
//! load's events, and a `CHECKPOINT`: the load's dirty pages are written
//! before the timing, not spread by the checkpointer over the timed reads.
//!
//! Timed, [`ROUNDS`] times each, one request at a time over HTTP GraphQL as
//! the admin, each time for a random merchant and transaction:
//! - by external reference across every merchant (`transactions(filter:
//!   {externalRef})`): the support agent's "order 4711" (target p99 ≤ 5 ms);
//! - by one metadata key and value within a merchant (`transactions(merchantId,
//!   filter: {metadata: [{key: "customer", equals}]})`) (target p99 ≤ 20 ms);
//! - a merchant's `available` account's balance `asOf` an effective time in
//!   the middle of its history (`account(id) { balance(asOf: {effectiveAt}) }`)
//!   (target p99 ≤ 20 ms).
//!
//! Then each lookup's SQL, as the server sends it, is run under `EXPLAIN
//! (ANALYZE, BUFFERS)` and the plans are printed for BENCHMARKS.md.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use rand::Rng;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};

use crate::client::{Session, succeeded};
use crate::phases::{Phase, payment_entries, post_all, tally};

/// Lookups of each kind timed.
pub const ROUNDS: usize = 1_000;

/// Days the effective times spread over.
const HISTORY_DAYS: i64 = 365;

/// The three lookups, their targets (p99, ms) and their documents.
const LOOKUPS: [(&str, f64, &str); 3] = [
    (
        "by externalRef, across every merchant",
        5.0,
        "query($r: String!) { transactions(filter: { externalRef: $r }, first: 10) { edges { node { id sequence } } } }",
    ),
    (
        "by one metadata key and value, within a merchant",
        20.0,
        "query($m: ID!, $v: JSON!) { transactions(merchantId: $m, filter: { metadata: [{ key: \"customer\", equals: $v }] }, first: 10) { edges { node { id sequence } } } }",
    ),
    (
        "an account's balance asOf the middle of its history",
        20.0,
        "query($a: ID!, $t: DateTime!) { account(id: $a) { balance(asOf: { effectiveAt: $t }) { posted { amount } pending { amount } } } }",
    ),
];

/// Seeds the book, times the lookups, and explains their plans. Returns the
/// phases (one per lookup) and the notes (targets, plans).
pub async fn run(
    session: &Session,
    db_url: &str,
    clients: usize,
    batch: usize,
    transactions: usize,
    merchants: &Arc<Vec<String>>,
) -> anyhow::Result<(Vec<Phase>, Vec<String>)> {
    let per_merchant = transactions.div_ceil(merchants.len().max(1));
    let started_at = chrono::Utc::now();
    seed(session, clients, batch, per_merchant, merchants).await?;
    let db = sea_orm::Database::connect(db_url).await?;
    db.execute_unprepared("VACUUM ANALYZE").await?;
    // The server's background jobs drain the seeding's million events
    // meanwhile, as they would have after such a load in a quiet hour.
    tokio::time::sleep(Duration::from_secs(60)).await;
    db.execute_unprepared("CHECKPOINT").await?;
    let middle = started_at - chrono::Duration::days(HISTORY_DAYS / 2);
    let accounts = available_accounts(session, merchants).await?;

    let (mut phases, mut notes) = (Vec::new(), Vec::new());
    for (k, (name, target, query)) in LOOKUPS.iter().enumerate() {
        let mut latencies = Vec::with_capacity(ROUNDS);
        let mut errors = 0;
        let began = Instant::now();
        for _ in 0..ROUNDS {
            let (m, i) = {
                let mut rng = rand::rng();
                (rng.random_range(0..merchants.len()), rng.random_range(0..per_merchant))
            };
            let variables = match k {
                0 => json!({ "r": format!("order-{m}-{i}") }),
                1 => json!({ "m": merchants[m], "v": format!("cust-{m}-{}", i % 100) }),
                _ => json!({ "a": accounts[m], "t": middle }),
            };
            let now = Instant::now();
            let body = session.admin(query, variables).await;
            let ms = now.elapsed().as_secs_f64() * 1000.0;
            if found_something(&body, k) {
                latencies.push(ms);
            } else {
                errors += 1;
                if errors == 1 {
                    eprintln!("ledger-bench: lookup {name} failed: {body:?}");
                }
            }
        }
        let seconds = began.elapsed().as_secs_f64();
        let ok = latencies.len() as u64;
        let mut phase = tally(format!("lookup: {name} (one at a time)"), 1, vec![(ok, errors, latencies)], 0, None);
        phase.seconds = seconds;
        let p99 = phase.latency.map_or(f64::MAX, |l| l.p99);
        notes.push(format!(
            "lookup over {} transactions: {name}: p50 {:.2} ms, p99 {p99:.2} ms of {ROUNDS} (target p99 ≤ {target} ms: {})",
            per_merchant * merchants.len(),
            phase.latency.map_or(0.0, |l| l.p50),
            if p99 <= *target && errors == 0 { "met" } else { "NOT met" }
        ));
        phases.push(phase);
    }
    notes.extend(plans(&db, merchants, &accounts, middle).await?);
    db.close().await?;
    Ok((phases, notes))
}

/// True when a lookup answered and found what it looked for.
fn found_something(body: &anyhow::Result<Value>, lookup: usize) -> bool {
    let Ok(b) = body else { return false };
    if !succeeded(body) {
        return false;
    }
    match lookup {
        0 | 1 => b["data"]["transactions"]["edges"].as_array().is_some_and(|e| !e.is_empty()),
        _ => b["data"]["account"]["balance"]["posted"]["amount"].is_string(),
    }
}

/// Posts `per_merchant` transactions for each merchant, `batch` per call.
async fn seed(
    session: &Session,
    clients: usize,
    batch: usize,
    per_merchant: usize,
    merchants: &Arc<Vec<String>>,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let total = per_merchant * merchants.len();
    let now = chrono::Utc::now();
    let calls: Vec<(usize, usize)> = (0..total).step_by(batch.max(1)).map(|s| (s, (s + batch).min(total))).collect();
    let posted: Vec<anyhow::Result<u64>> = futures::stream::iter(calls)
        .map(|(from, to)| {
            let (session, merchants) = (session.clone(), merchants.clone());
            async move {
                let items: Vec<Value> = (from..to)
                    .map(|n| {
                        // Round-robin over the merchants, so every batch
                        // spreads over many of them as real traffic does.
                        let (m, i) = (n % merchants.len(), n / merchants.len());
                        let effective = now
                            - chrono::Duration::seconds(
                                (HISTORY_DAYS * 86_400) * (per_merchant - i) as i64 / per_merchant as i64,
                            );
                        json!({ "merchantId": merchants[m], "idempotencyKey": format!("lookup-{m}-{i}"),
                            "externalRef": format!("order-{m}-{i}"),
                            "metadata": { "customer": format!("cust-{m}-{}", i % 100), "channel": if i % 2 == 0 { "web" } else { "pos" } },
                            "effectiveAt": effective, "entries": payment_entries() })
                    })
                    .collect();
                post_all(&session, items, &format!("seeding {from}..{to}")).await
            }
        })
        .buffer_unordered(clients.clamp(1, 8))
        .collect()
        .await;
    let mut seeded = 0;
    for p in posted {
        seeded += p?;
    }
    eprintln!("ledger-bench: {seeded} transactions posted in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// Each merchant's `available` USD account id, in merchant order.
async fn available_accounts(session: &Session, merchants: &[String]) -> anyhow::Result<Vec<String>> {
    futures::stream::iter(merchants.iter().cloned())
        .map(|m| async move {
            let body = session
                .admin("query($m: ID!) { merchant(id: $m) { accounts { id code asset } } }", json!({ "m": m }))
                .await?;
            body["data"]["merchant"]["accounts"]
                .as_array()
                .and_then(|a| a.iter().find(|a| a["code"] == "available" && a["asset"] == "USD"))
                .and_then(|a| a["id"].as_str())
                .map(str::to_owned)
                .ok_or_else(|| anyhow::anyhow!("no available account for {m}: {body}"))
        })
        .buffered(16)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect()
}

/// `EXPLAIN (ANALYZE, BUFFERS)` of each lookup's statement as the server
/// sends it (read from `pg_stat_statements`' shapes in the store), for one
/// merchant in the middle of the list.
async fn plans(
    db: &sea_orm::DatabaseConnection,
    merchants: &[String],
    accounts: &[String],
    middle: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<Vec<String>> {
    let k = merchants.len() / 2;
    let (m, a) = (&merchants[k], &accounts[k]);
    let statements = [
        (
            "by externalRef",
            format!(
                "SELECT * FROM transactions WHERE external_ref = 'order-{k}-7' ORDER BY seq DESC, merchant_id DESC LIMIT 11"
            ),
        ),
        (
            "by metadata",
            format!(
                "SELECT * FROM transactions WHERE merchant_id = '{m}' AND metadata @> '{{\"customer\": \"cust-{k}-7\"}}' \
                 ORDER BY seq DESC, merchant_id DESC LIMIT 11"
            ),
        ),
        (
            "balance asOf",
            format!(
                "SELECT e.direction, e.layer, CAST(SUM(e.amount) AS BIGINT) AS total FROM entries e \
                 WHERE e.account_id = '{a}' AND e.effective_at <= '{}' GROUP BY e.direction, e.layer",
                middle.to_rfc3339()
            ),
        ),
    ];
    let mut notes = Vec::new();
    for (name, sql) in statements {
        let rows = db
            .query_all_raw(Statement::from_string(
                db.get_database_backend(),
                format!("EXPLAIN (ANALYZE, BUFFERS) {sql}"),
            ))
            .await?;
        let plan: Vec<String> = rows.iter().filter_map(|r| r.try_get::<String>("", "QUERY PLAN").ok()).collect();
        notes.push(format!("lookup plan, {name}: {sql}\n    {}", plan.join("\n    ")));
    }
    Ok(notes)
}
