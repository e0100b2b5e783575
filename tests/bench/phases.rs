//! Measured phases: every client loops on its requests from the start, for a
//! warm-up and then `--seconds`; only what completes after the warm-up counts.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use crate::client::{Reader, Session, succeeded};

/// How long each phase warms up before it is measured.
const WARM_UP: Duration = Duration::from_secs(2);

/// Postings of one `recordPayment` with a fee: processor clearing, merchant
/// available, platform fee revenue.
pub const PAYMENT_ENTRIES: f64 = 3.0;

/// Postings of one bulk transfer.
const TRANSFER_ENTRIES: f64 = 2.0;

/// In the read-heavy mix, one request in this many is a write.
const READ_HEAVY_CYCLE: usize = 10;

/// Page size of the read-heavy mix's pages (the server's default page).
const READ_PAGE: i32 = 20;

/// Strides that spread client `c`'s `i`-th request over the merchants (two
/// primes, so clients do not walk the merchants in step).
const CLIENT_STRIDE: usize = 7919;
const REQUEST_STRIDE: usize = 104_729;

const RECORD_PAYMENT: &str =
    "mutation($i: RecordPaymentInput!) { recordPayment(input: $i) { transaction { sequence } } }";

/// The three reads of the read-heavy mix, in turn: a merchant's balances, a page
/// of its transactions with their entries, a page of its `available` account's entries.
const READS: [&str; 3] = [
    "query($m: ID!) { merchant(id: $m) { balances { asset posted { amount currency } pending { amount } available { amount } } } }",
    "query($m: ID!, $f: Int) { merchant(id: $m) { transactions(first: $f) { edges { node { id sequence kind effectiveAt entries { sequence direction layer amount { amount currency } } } } pageInfo { hasNextPage endCursor } } } }",
    "query($a: ID!, $f: Int) { entries(accountId: $a, first: $f) { edges { node { sequence transactionSequence direction amount { amount currency } } } pageInfo { hasNextPage endCursor } } }",
];

/// Latency percentiles of a phase, in milliseconds.
#[derive(Debug, Clone, Copy)]
pub struct Latency {
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
}

/// What one phase measured.
#[derive(Debug, Clone)]
pub struct Phase {
    /// What it was, as the report's first column shows it.
    pub name: String,
    /// Concurrent clients that produced it.
    pub clients: usize,
    /// Transactions (or reads) that succeeded in the measured window.
    pub ok: u64,
    /// Requests (for bulk: transactions) that failed in it.
    pub errors: u64,
    /// Length of the measured window.
    pub seconds: f64,
    /// None when the phase is timed end to end only (the Olist replay).
    pub latency: Option<Latency>,
    /// Postings per transaction (3 for a payment with a fee, 2 for a bulk
    /// transfer); None for a phase of reads, whose `ok` counts reads.
    pub entries_per_txn: Option<f64>,
}

impl Phase {
    /// Transactions (or reads) per second.
    pub fn tps(&self) -> f64 {
        self.ok as f64 / self.seconds
    }

    /// Entries per second; None for reads.
    pub fn entries_per_sec(&self) -> Option<f64> {
        self.entries_per_txn.map(|e| self.tps() * e)
    }
}

/// A group of clients paying merchants with `recordPayment` as the admin.
pub struct Group {
    /// The phase's name in the report.
    pub name: String,
    /// Its concurrent clients.
    pub clients: usize,
    /// The merchants the group's payments spread over (one: a hot merchant).
    pub merchants: Arc<Vec<String>>,
}

/// What each client task of a phase returns: successes, errors, latencies in ms.
type ClientTally = (u64, u64, Vec<f64>);

/// One client's loop: sends `request(i)` for i = 0, 1, … until `stop_at`, and
/// tallies what completes after `warm_until` (successes with their latency in
/// ms, and errors).
async fn client_loop<F, Fut>(warm_until: Instant, stop_at: Instant, mut request: F) -> ClientTally
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Value>>,
{
    let (mut ok, mut errors, mut latencies) = (0u64, 0u64, Vec::new());
    let mut i = 0usize;
    loop {
        let now = Instant::now();
        if now >= stop_at {
            break;
        }
        let body = request(i).await;
        let took = now.elapsed();
        if now >= warm_until {
            if succeeded(&body) {
                ok += 1;
                latencies.push(took.as_secs_f64() * 1000.0);
            } else {
                errors += 1;
            }
        }
        i += 1;
    }
    (ok, errors, latencies)
}

/// The measurement window of a phase that starts now.
fn window(seconds: u64) -> (Instant, Instant) {
    let warm_until = Instant::now() + WARM_UP;
    (warm_until, warm_until + Duration::from_secs(seconds))
}

/// `recordPayment` load from several groups of clients at once, measured over
/// the same window; one phase per group.
pub async fn payments(session: &Session, seconds: u64, groups: Vec<Group>) -> anyhow::Result<Vec<Phase>> {
    let tallies = payment_tallies(session, seconds, &groups).await?;
    Ok(groups
        .into_iter()
        .zip(tallies)
        .map(|(group, tallies)| tally(group.name, group.clients, tallies, seconds, Some(PAYMENT_ENTRIES)))
        .collect())
}

/// Two loads, `a` and `b`, run in turn in `rounds` rounds of A B B A, each
/// for `seconds` / (2 × `rounds`) per load after its warm-up, so that each
/// gets `seconds` in all and a machine whose speed drifts during the run
/// (a noisy neighbour, a checkpoint) weighs on both alike. Returns each
/// load's phases, one per group, over all its rounds.
pub async fn payments_in_turn(
    session: &Session,
    seconds: u64,
    rounds: u64,
    a: Vec<Group>,
    b: Vec<Group>,
) -> anyhow::Result<(Vec<Phase>, Vec<Phase>)> {
    let rounds = rounds.clamp(1, seconds.max(1));
    let slice = (seconds / (2 * rounds)).max(1);
    let mut a_tallies: Vec<Vec<ClientTally>> = a.iter().map(|_| Vec::new()).collect();
    let mut b_tallies: Vec<Vec<ClientTally>> = b.iter().map(|_| Vec::new()).collect();
    for _ in 0..rounds {
        for first_a in [true, false, false, true] {
            let (groups, into) = if first_a { (&a, &mut a_tallies) } else { (&b, &mut b_tallies) };
            for (all, these) in into.iter_mut().zip(payment_tallies(session, slice, groups).await?) {
                all.extend(these);
            }
        }
    }
    let each = slice * 2 * rounds;
    let phases = |groups: Vec<Group>, tallies: Vec<Vec<ClientTally>>| -> Vec<Phase> {
        groups
            .into_iter()
            .zip(tallies)
            .map(|(group, tallies)| tally(group.name, group.clients, tallies, each, Some(PAYMENT_ENTRIES)))
            .collect()
    };
    Ok((phases(a, a_tallies), phases(b, b_tallies)))
}

/// Runs the groups' `recordPayment` clients together for one window and
/// returns each group's client tallies.
async fn payment_tallies(session: &Session, seconds: u64, groups: &[Group]) -> anyhow::Result<Vec<Vec<ClientTally>>> {
    let run_id = uuid::Uuid::new_v4().simple().to_string();
    let (warm_until, stop_at) = window(seconds);
    let mut running = Vec::new();
    for (g, group) in groups.iter().enumerate() {
        let mut tasks = Vec::new();
        for c in 0..group.clients {
            let (session, merchants, run_id) = (session.clone(), group.merchants.clone(), run_id.clone());
            tasks.push(tokio::spawn(async move {
                client_loop(warm_until, stop_at, |i| {
                    let m = &merchants[(c * CLIENT_STRIDE + i * REQUEST_STRIDE) % merchants.len()];
                    let input = json!({ "merchantId": m, "gross": { "amount": "10.00", "currency": "USD" }, "fee": { "amount": "0.30", "currency": "USD" }, "idempotencyKey": format!("{run_id}-{g}-{c}-{i}") });
                    let session = session.clone();
                    async move { session.admin(RECORD_PAYMENT, json!({ "i": input })).await }
                })
                .await
            }));
        }
        running.push(tasks);
    }
    let mut out = Vec::with_capacity(running.len());
    for tasks in running {
        out.push(join(tasks).await?);
    }
    Ok(out)
}

/// Units of the deal scenario's goods each merchant is stocked with, and the
/// USD each is paid first: enough for every deal a run can make.
const DEAL_STOCK: &str = "100000000";
const DEAL_CASH: &str = "10000000.00";

/// Entries per deal: 1 ITEM and 1.00 USD, each from one side's `available` to
/// the other's.
pub const DEAL_ENTRIES: f64 = 4.0;

/// Registers the deal scenario's goods (`ITEM`, exponent 0) and gives every
/// merchant stock and cash, [`SETUP_CONCURRENCY`](crate::client) at a time.
pub async fn stock_for_deals(session: &Session, merchants: &[String]) -> anyhow::Result<()> {
    let body = session
        .admin(
            "mutation { registerAsset(input: {code: \"ITEM\", exponent: 0, idempotencyKey: \"bench-item\"}) { asset { code } } }",
            json!({}),
        )
        .await?;
    anyhow::ensure!(body["errors"].is_null(), "registerAsset: {body}");
    futures::stream::iter(merchants.iter().enumerate())
        .map(|(i, m)| async move {
            let stock = json!({ "i": { "merchantId": m, "idempotencyKey": format!("bench-stock-{i}"), "entries": [
                { "accountCode": "goods_clearing", "platform": true, "direction": "DEBIT", "amount": { "amount": DEAL_STOCK, "currency": "ITEM" } },
                { "accountCode": "available", "direction": "CREDIT", "amount": { "amount": DEAL_STOCK, "currency": "ITEM" } },
            ] } });
            let body = session
                .admin("mutation($i: PostTransactionInput!) { postTransaction(input: $i) { transaction { id } } }", stock)
                .await?;
            anyhow::ensure!(body["errors"].is_null(), "stocking: {body}");
            let cash = json!({ "i": { "merchantId": m, "gross": { "amount": DEAL_CASH, "currency": "USD" }, "idempotencyKey": format!("bench-cash-{i}") } });
            let body = session.admin(RECORD_PAYMENT, cash).await?;
            anyhow::ensure!(body["errors"].is_null(), "cash: {body}");
            Ok(())
        })
        .buffer_unordered(32)
        .try_collect::<Vec<()>>()
        .await?;
    Ok(())
}

/// `recordDeal` load: each deal sells 1 ITEM for 1.00 USD between two
/// merchants picked as the payments pick one (the buyer is the next merchant
/// in the list), so on Citus about half of them span two workers.
pub async fn deals(
    session: &Session,
    seconds: u64,
    clients: usize,
    merchants: &Arc<Vec<String>>,
) -> anyhow::Result<Phase> {
    let run_id = uuid::Uuid::new_v4().simple().to_string();
    let (warm_until, stop_at) = window(seconds);
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (session, merchants, run_id) = (session.clone(), merchants.clone(), run_id.clone());
        tasks.push(tokio::spawn(async move {
            client_loop(warm_until, stop_at, |i| {
                let k = (c * CLIENT_STRIDE + i * REQUEST_STRIDE) % merchants.len();
                let (seller, buyer) = (&merchants[k], &merchants[(k + 1) % merchants.len()]);
                let input = json!({ "sellerId": seller, "buyerId": buyer, "idempotencyKey": format!("{run_id}-{c}-{i}"),
                    "buyerGives": [{ "amount": "1.00", "currency": "USD" }],
                    "sellerGives": [{ "amount": "1", "currency": "ITEM" }] });
                let session = session.clone();
                async move {
                    session
                        .admin(
                            "mutation($i: RecordDealInput!) { recordDeal(input: $i) { transaction { sequence } } }",
                            json!({ "i": input }),
                        )
                        .await
                }
            })
            .await
        }));
    }
    let tallies = join(tasks).await?;
    Ok(tally(
        format!("deals: {} merchants, buyer next to seller", merchants.len()),
        clients,
        tallies,
        seconds,
        Some(DEAL_ENTRIES),
    ))
}

/// `postTransactions` load: each client sends batches of `batch` transfers
/// (platform `processor_clearing` debit, merchant `available` credit: two
/// postings each), non-atomic. Counts transactions, so entries/s is twice the rate.
pub async fn bulk(
    session: &Session,
    seconds: u64,
    clients: usize,
    batch: usize,
    merchants: &Arc<Vec<String>>,
) -> anyhow::Result<Phase> {
    let run_id = uuid::Uuid::new_v4().simple().to_string();
    let (warm_until, stop_at) = window(seconds);
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (session, merchants, run_id) = (session.clone(), merchants.clone(), run_id.clone());
        tasks.push(tokio::spawn(async move {
            let (mut ok, mut errors, mut latencies) = (0u64, 0u64, Vec::new());
            let mut i = 0usize;
            while Instant::now() < stop_at {
                let items: Vec<Value> = (0..batch)
                    .map(|j| {
                        let m = &merchants[(c * CLIENT_STRIDE + (i + j) * REQUEST_STRIDE) % merchants.len()];
                        json!({ "merchantId": m, "idempotencyKey": format!("{run_id}-{c}-{}", i + j), "entries": [
                            { "accountCode": "processor_clearing", "platform": true, "direction": "DEBIT", "amount": { "amount": "10.00", "currency": "USD" } },
                            { "accountCode": "available", "direction": "CREDIT", "amount": { "amount": "10.00", "currency": "USD" } },
                        ] })
                    })
                    .collect();
                let now = Instant::now();
                let body = session.admin("mutation($i: PostTransactionsInput!) { postTransactions(input: $i) { posted } }", json!({ "i": { "transactions": items } })).await;
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
    let tallies = join(tasks).await?;
    let name = format!("bulk: postTransactions of {batch} (latency per batch)");
    Ok(tally(name, clients, tallies, seconds, Some(TRANSFER_ENTRIES)))
}

/// Balance reads: each client reads, as the merchant it works for (with that
/// merchant's API key), that merchant's balances ([`READS`]' first), over and
/// over; the merchants spread as the payments' do.
pub async fn balance_reads(
    session: &Session,
    seconds: u64,
    clients: usize,
    readers: &Arc<Vec<Reader>>,
) -> anyhow::Result<Phase> {
    let (warm_until, stop_at) = window(seconds);
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (session, readers) = (session.clone(), readers.clone());
        tasks.push(tokio::spawn(async move {
            client_loop(warm_until, stop_at, |i| {
                let r = &readers[(c * CLIENT_STRIDE + i * REQUEST_STRIDE) % readers.len()];
                let (session, key, merchant) = (session.clone(), r.key.clone(), r.merchant.clone());
                async move { session.ask(Some(&key), READS[0], json!({ "m": merchant })).await }
            })
            .await
        }));
    }
    let tallies = join(tasks).await?;
    Ok(tally(format!("balances: {} merchants, each with its own key", readers.len()), clients, tallies, seconds, None))
}

/// The read-heavy mix: each client makes one `recordPayment` (with the card
/// processing service's key) in every [`READ_HEAVY_CYCLE`] requests and,
/// as the merchant it is working for (with that merchant's API key), the
/// three [`READS`] in turn otherwise.
/// Returns two phases: the reads and the writes.
pub async fn read_heavy(
    session: &Session,
    seconds: u64,
    clients: usize,
    readers: &Arc<Vec<Reader>>,
) -> anyhow::Result<Vec<Phase>> {
    let run_id = uuid::Uuid::new_v4().simple().to_string();
    let (warm_until, stop_at) = window(seconds);
    let mut tasks: Vec<JoinHandle<(ClientTally, ClientTally)>> = Vec::new();
    for c in 0..clients {
        let (session, readers, run_id) = (session.clone(), readers.clone(), run_id.clone());
        tasks.push(tokio::spawn(async move {
            let (mut reads, mut writes): (ClientTally, ClientTally) = Default::default();
            let mut i = 0usize;
            loop {
                let now = Instant::now();
                if now >= stop_at {
                    break;
                }
                let r = &readers[(c * CLIENT_STRIDE + i * REQUEST_STRIDE) % readers.len()];
                let step = i % READ_HEAVY_CYCLE;
                let (query, variables, token, tally) = if step == 0 {
                    let input = json!({ "merchantId": r.merchant, "gross": { "amount": "10.00", "currency": "USD" }, "fee": { "amount": "0.30", "currency": "USD" }, "idempotencyKey": format!("{run_id}-{c}-{i}") });
                    (RECORD_PAYMENT, json!({ "i": input }), &r.payer, &mut writes)
                } else {
                    let read = (step - 1) % READS.len();
                    let variables = match read {
                        0 => json!({ "m": r.merchant }),
                        1 => json!({ "m": r.merchant, "f": READ_PAGE }),
                        _ => json!({ "a": r.account, "f": READ_PAGE }),
                    };
                    (READS[read], variables, &r.key, &mut reads)
                };
                let body = session.ask(Some(token), query, variables).await;
                let took = now.elapsed();
                if now >= warm_until {
                    if succeeded(&body) {
                        tally.0 += 1;
                        tally.2.push(took.as_secs_f64() * 1000.0);
                    } else {
                        tally.1 += 1;
                    }
                }
                i += 1;
            }
            (reads, writes)
        }));
    }
    let (mut reads, mut writes) = (Vec::new(), Vec::new());
    for t in tasks {
        let (r, w) = t.await?;
        reads.push(r);
        writes.push(w);
    }
    Ok(vec![
        tally(
            "read-heavy: reads (balances; 20 transactions with entries; 20 entries of an account)".to_owned(),
            clients,
            reads,
            seconds,
            None,
        ),
        tally(
            "read-heavy: writes (recordPayment, 1 in 10 requests)".to_owned(),
            clients,
            writes,
            seconds,
            Some(PAYMENT_ENTRIES),
        ),
    ])
}

/// Rounds of each control-account query in the `control-accounts` scenario.
const CONTROL_ROUNDS: usize = 30;

/// The issue 17 target for a control-account query, in milliseconds.
pub const CONTROL_TARGET_MS: f64 = 200.0;

/// The control-account queries timed by the `control-accounts` scenario.
const CONTROL_QUERIES: [(&str, &str); 3] = [
    (
        "platformBalances",
        "{ platformBalances { code asset accounts debitsPosted { amount } creditsPosted { amount } } }",
    ),
    (
        "platformBalances(asset: USD)",
        "{ platformBalances(asset: \"USD\") { code asset accounts debitsPosted { amount } } }",
    ),
    (
        "trialBalance",
        "{ trialBalance { code asset platform accounts debitsPosted { amount } creditsPosted { amount } } }",
    ),
];

/// The `control-accounts` scenario: gives every merchant one payment-shaped
/// transaction (platform `processor_clearing` debit 10.00, merchant
/// `available` credit 9.70, platform `fee_revenue` credit 0.30), so each has
/// two platform subsidiary accounts and one of its own, in `postTransactions`
/// batches of `batch` from `clients` clients; runs VACUUM ANALYZE on the
/// database at `db_url` and lets the server settle for 20 s; then times each of
/// [`CONTROL_QUERIES`] [`CONTROL_ROUNDS`] times, one request at a time, as
/// the admin. Returns one phase per query (latency in ms; `ok` counts
/// answers) and a note per query against [`CONTROL_TARGET_MS`]. Errors: a
/// seeding batch that did not post all of its transactions, or a query that
/// failed.
pub async fn control_accounts(
    session: &Session,
    db_url: &str,
    clients: usize,
    batch: usize,
    merchants: &Arc<Vec<String>>,
) -> anyhow::Result<(Vec<Phase>, Vec<String>)> {
    use futures::StreamExt;
    let started = Instant::now();
    let run_id = uuid::Uuid::new_v4().simple().to_string();
    let chunks: Vec<Vec<String>> = merchants.chunks(batch.max(1)).map(<[String]>::to_vec).collect();
    let posted: Vec<anyhow::Result<u64>> = futures::stream::iter(chunks.into_iter().enumerate())
        .map(|(k, chunk)| {
            let (session, run_id) = (session.clone(), run_id.clone());
            async move {
                let items: Vec<Value> = chunk
                    .iter()
                    .map(|m| {
                        json!({ "merchantId": m, "idempotencyKey": format!("{run_id}-seed-{m}"),
                            "entries": payment_entries() })
                    })
                    .collect();
                post_all(&session, items, &format!("seeding batch {k}")).await
            }
        })
        .buffer_unordered(clients.max(1))
        .collect()
        .await;
    let mut seeded = 0;
    for p in posted {
        seeded += p?;
    }
    eprintln!("ledger-bench: {seeded} payments posted in {:.1} s", started.elapsed().as_secs_f64());
    // The steady state a quiet hour gives: autovacuum would have vacuumed
    // and analysed what the seeding wrote (each balance row was inserted and
    // then updated); here VACUUM ANALYZE does it at once, then the server's
    // background jobs get a while to drain the seeding's 100,000 events.
    let db = sea_orm::Database::connect(db_url).await?;
    sea_orm::ConnectionTrait::execute_unprepared(&db, "VACUUM ANALYZE").await?;
    db.close().await?;
    tokio::time::sleep(Duration::from_secs(20)).await;
    let (mut phases, mut notes) = (Vec::new(), Vec::new());
    for (name, query) in CONTROL_QUERIES {
        let began = Instant::now();
        let mut latencies = Vec::with_capacity(CONTROL_ROUNDS);
        for _ in 0..CONTROL_ROUNDS {
            let now = Instant::now();
            let body = session.admin(query, json!({})).await;
            anyhow::ensure!(succeeded(&body), "{name}: {body:?}");
            latencies.push(now.elapsed().as_secs_f64() * 1000.0);
        }
        let seconds = began.elapsed().as_secs_f64();
        let max = latencies.iter().copied().fold(0.0, f64::max);
        let mut phase = tally(
            format!("control accounts: {name} over {} merchants (one at a time)", merchants.len()),
            1,
            vec![(CONTROL_ROUNDS as u64, 0, latencies)],
            0,
            None,
        );
        phase.seconds = seconds;
        notes.push(format!(
            "control accounts: {name} over {} merchants: p50 {:.1} ms, max {max:.1} ms of {CONTROL_ROUNDS} \
             (target < {CONTROL_TARGET_MS} ms: {})",
            merchants.len(),
            phase.latency.map_or(0.0, |l| l.p50),
            if max < CONTROL_TARGET_MS { "met" } else { "NOT met" }
        ));
        phases.push(phase);
    }
    Ok((phases, notes))
}

/// A payment's three postings as `postTransaction` takes them: 10.00 USD
/// from the platform's clearing, 9.70 to the merchant, 0.30 to fee revenue.
pub fn payment_entries() -> Value {
    json!([
        { "accountCode": "processor_clearing", "platform": true, "direction": "DEBIT", "amount": { "amount": "10.00", "currency": "USD" } },
        { "accountCode": "available", "direction": "CREDIT", "amount": { "amount": "9.70", "currency": "USD" } },
        { "accountCode": "fee_revenue", "platform": true, "direction": "CREDIT", "amount": { "amount": "0.30", "currency": "USD" } },
    ])
}

/// How many times [`post_all`] sends a call again after the server answered
/// `TIMEOUT` or `TRY_AGAIN`, or the connection failed.
const POST_ALL_ATTEMPTS: u32 = 5;

/// Posts `items` in one `postTransactions` call as the admin; returns how
/// many posted. Each item carries its idempotency key, so a call the server
/// timed out (`TIMEOUT`: it may have committed after the answer), asked to be
/// retried (`TRY_AGAIN`) or that lost its connection is sent again as it was,
/// up to [`POST_ALL_ATTEMPTS`] times, and what did commit comes back as
/// replays. Errors: the call still failed, or posted fewer than it was given
/// (named `what`).
pub async fn post_all(session: &Session, items: Vec<Value>, what: &str) -> anyhow::Result<u64> {
    let want = items.len() as u64;
    let variables = json!({ "i": { "transactions": items } });
    let mut attempt = 1;
    loop {
        let answer = session
            .admin("mutation($i: PostTransactionsInput!) { postTransactions(input: $i) { posted } }", variables.clone())
            .await;
        let code = match &answer {
            Ok(body) => body["errors"][0]["extensions"]["code"].as_str().map(str::to_owned),
            Err(_) => Some("CONNECTION".to_owned()),
        };
        let resend = matches!(code.as_deref(), Some("TIMEOUT" | "TRY_AGAIN" | "CONNECTION"));
        if resend && attempt < POST_ALL_ATTEMPTS {
            eprintln!("ledger-bench: {what}: {} on attempt {attempt}; sending it again", code.unwrap_or_default());
            attempt += 1;
            tokio::time::sleep(std::time::Duration::from_secs(2)).await;
            continue;
        }
        let body = answer?;
        let got = body["data"]["postTransactions"]["posted"].as_u64().unwrap_or(0);
        anyhow::ensure!(got == want, "{what}: posted {got} of {want}: {body}");
        return Ok(got);
    }
}

/// Waits for a phase's client tasks.
async fn join(tasks: Vec<JoinHandle<ClientTally>>) -> anyhow::Result<Vec<ClientTally>> {
    let mut out = Vec::with_capacity(tasks.len());
    for t in tasks {
        out.push(t.await?);
    }
    Ok(out)
}

/// Adds up the client tallies of a phase into its figures.
pub fn tally(
    name: String,
    clients: usize,
    tallies: Vec<ClientTally>,
    seconds: u64,
    entries_per_txn: Option<f64>,
) -> Phase {
    let (mut ok, mut errors, mut latencies) = (0, 0, Vec::new());
    for (o, e, l) in tallies {
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
    Phase {
        name,
        clients,
        ok,
        errors,
        seconds: seconds as f64,
        latency: Some(Latency { p50: pct(0.50), p99: pct(0.99), p999: pct(0.999) }),
        entries_per_txn,
    }
}
