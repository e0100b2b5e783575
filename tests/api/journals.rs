//! A journal per merchant (issue 17): each merchant numbers its transactions
//! 1, 2, 3… without gaps and in commit order, a deal takes a number in both
//! merchants' journals, no posting waits on another merchant's clock, and the
//! whole feed is read by position below PostgreSQL's visibility watermark, so
//! a transaction still open holds the feed back rather than being skipped.

use std::collections::{BTreeMap, HashSet};

use futures::StreamExt;
use sea_orm::{ConnectionTrait, TransactionTrait};
use serde_json::{Value, json};

use crate::helpers::{TestApp, code, spawn_app};

const TXN: &str = "query($id: ID!) { transaction(id: $id) { sequence counterpartySequence } }";
const FEED: &str = "query($p: String, $first: Int) { events(afterPosition: $p, first: $first) \
                    { sequence counterpartySequence position merchantId counterpartyId transactionId } }";
const JOURNAL: &str = "query($m: ID!, $after: Int) { events(merchantId: $m, after: $after, first: 100) \
                       { sequence counterpartySequence merchantId transactionId } }";

/// Registers the STAFF asset (exponent 0), the goods the deals trade.
async fn register_staves(app: &TestApp) {
    app.ok(
        "mutation { registerAsset(input: {code: \"STAFF\", exponent: 0, idempotencyKey: \"staff\"}) { asset { code } } }",
        json!({}),
    )
    .await;
}

/// `(sequence, counterpartySequence)` of a transaction.
async fn numbers(app: &TestApp, id: &str) -> (i64, Option<i64>) {
    let t = app.ok(TXN, json!({ "id": id })).await;
    (t["transaction"]["sequence"].as_i64().expect("sequence"), t["transaction"]["counterpartySequence"].as_i64())
}

async fn pay_id(app: &TestApp, merchant: &str, gross: &str, key: &str) -> String {
    let body = app.pay(merchant, gross, None, "USD", key).await;
    body["data"]["recordPayment"]["transaction"]["id"].as_str().unwrap_or_else(|| panic!("{body}")).to_owned()
}

/// The whole feed from the start, page by page (the last position of each
/// page starts the next).
async fn whole_feed(app: &TestApp) -> Vec<Value> {
    let mut all = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = app.ok(FEED, json!({ "p": after, "first": 100 })).await["events"].as_array().expect("page").clone();
        let Some(last) = page.last() else { return all };
        after = Some(last["position"].as_str().expect("position").to_owned());
        all.extend(page);
    }
}

#[tokio::test]
async fn each_merchant_counts_its_own_journal_and_a_deal_takes_a_number_in_both() {
    let app = spawn_app().await;
    register_staves(&app).await;
    let (smith, hero) = (app.merchant("Journal Smith").await, app.merchant("Journal Hero").await);

    // Act: two payments to the hero, a stock for the smith, then a deal.
    let h1 = pay_id(&app, &hero, "50.00", "j-h1").await;
    let h2 = pay_id(&app, &hero, "5.00", "j-h2").await;
    app.stock(&smith, "3", "STAFF", "j-stock").await;
    let deal = app
        .ok(
            "mutation($i: RecordDealInput!) { recordDeal(input: $i) { transaction { id } } }",
            json!({ "i": { "sellerId": smith, "buyerId": hero, "idempotencyKey": "j-deal",
                "buyerGives": [{ "amount": "30.00", "currency": "USD" }],
                "sellerGives": [{ "amount": "1", "currency": "STAFF" }] } }),
        )
        .await["recordDeal"]["transaction"]["id"]
        .as_str()
        .expect("deal id")
        .to_owned();
    let h3 = pay_id(&app, &hero, "1.00", "j-h3").await;

    // Assert: each journal counts from 1; the deal is the smith's 2nd and the
    // hero's 3rd, and the hero's next payment its 4th.
    assert_eq!(numbers(&app, &h1).await, (1, None));
    assert_eq!(numbers(&app, &h2).await, (2, None));
    assert_eq!(numbers(&app, &deal).await, (2, Some(3)), "the seller's number, then the buyer's");
    assert_eq!(numbers(&app, &h3).await, (4, None));

    // One merchant's feed is its journal: the hero's has the deal at 3.
    let feed = app.ok(JOURNAL, json!({ "m": hero, "after": 0 })).await["events"].clone();
    let hero_numbers: Vec<i64> = feed
        .as_array()
        .expect("events")
        .iter()
        .map(|e| if e["merchantId"] == hero.as_str() { &e["sequence"] } else { &e["counterpartySequence"] })
        .map(|n| n.as_i64().expect("a number in the hero's journal"))
        .collect();
    assert_eq!(hero_numbers, vec![1, 2, 3, 4]);
    let after_two = app.ok(JOURNAL, json!({ "m": hero, "after": 2 })).await["events"].clone();
    assert_eq!(after_two[0]["transactionId"], deal.as_str(), "resuming after 2 starts at the deal");

    // asOf a journal number: the hero after its 2nd transaction had 55.00.
    let as_of = app
        .ok(
            "query($m: ID!) { merchant(id: $m) { balances(asOf: {sequence: 2}) { asset posted { amount } } } }",
            json!({ "m": hero }),
        )
        .await;
    let usd = as_of["merchant"]["balances"].as_array().expect("balances").iter().find(|b| b["asset"] == "USD").cloned();
    assert_eq!(usd.expect("a USD balance")["posted"]["amount"], "55.00", "{as_of}");

    // The clocks hold each journal's last number.
    let clock = |m: &str| format!("SELECT last_transaction_seq FROM merchant_clocks WHERE merchant_id = '{m}'");
    assert_eq!((app.scalar(&clock(&smith)).await, app.scalar(&clock(&hero)).await), (2, 4));
    app.assert_books_consistent().await;
}

#[tokio::test]
async fn the_whole_feed_waits_below_the_watermark_for_a_transaction_still_open() {
    let app = spawn_app().await;
    let shop = app.merchant("Watermark Shop").await;
    pay_id(&app, &shop, "1.00", "w-1").await;
    // The watermark is the whole PostgreSQL cluster's: other tests' open
    // transactions may hold the first payment back a moment.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut before = whole_feed(&app).await;
    while before.is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        before = whole_feed(&app).await;
    }
    assert_eq!(before.len(), 1);
    let after = before[0]["position"].as_str().expect("position").to_owned();

    // Arrange: a database transaction that has taken an id and stays open.
    let holder = app.db.begin().await.expect("begin");
    holder.execute_unprepared("SELECT pg_current_xact_id()").await.expect("take an xid");

    // Act: a payment commits after it.
    let late = pay_id(&app, &shop, "2.00", "w-2").await;

    // Assert: the merchant's journal shows it (a journal number is visible
    // once committed), but the whole feed does not pass the open transaction.
    let journal = app.ok(JOURNAL, json!({ "m": shop, "after": 1 })).await;
    assert_eq!(journal["events"][0]["transactionId"], late.as_str(), "{journal}");
    let held = app.ok(FEED, json!({ "p": after, "first": 10 })).await;
    assert_eq!(held["events"], json!([]), "the feed must wait, not skip: {held}");

    // Once the open transaction ends, the feed goes on from where it was.
    // (The watermark is the whole PostgreSQL cluster's: other tests' open
    // transactions may hold it a moment longer, so wait for it.)
    holder.rollback().await.expect("end the holder");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let went_on = loop {
        let page = app.ok(FEED, json!({ "p": after, "first": 10 })).await;
        if page["events"] != json!([]) || std::time::Instant::now() > deadline {
            break page;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(went_on["events"][0]["transactionId"], late.as_str(), "{went_on}");
    assert_eq!(went_on["events"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn merchants_posting_at_once_keep_gap_free_journals_and_the_feed_holds_each_event_once() {
    // Arrange: 8 merchants.
    let app = spawn_app().await;
    let mut merchants = Vec::new();
    for i in 0..8 {
        merchants.push(app.merchant(&format!("Parallel {i}")).await);
    }

    // Act: 400 payments from 32 clients at once, spread over the merchants.
    let ids: Vec<(String, String)> = futures::stream::iter(0..400)
        .map(|i| {
            let (app, m) = (&app, merchants[i % merchants.len()].clone());
            async move { (m.clone(), pay_id(app, &m, "1.00", &format!("par-{i}")).await) }
        })
        .buffer_unordered(32)
        .collect()
        .await;

    // Assert: every merchant's numbers are 1..=50, each once.
    let mut by_merchant: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for (m, id) in &ids {
        by_merchant.entry(m.clone()).or_default().push(numbers(&app, id).await.0);
    }
    for (m, mut n) in by_merchant {
        n.sort_unstable();
        assert_eq!(n, (1..=50).collect::<Vec<_>>(), "{m}'s journal has a gap or a repeat");
    }
    // The whole feed, paged from the start, holds each event once, in
    // rising position.
    // (The watermark is the cluster's: wait until no open transaction of
    // another test holds the last of them back.)
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut feed = whole_feed(&app).await;
    while feed.len() < 400 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        feed = whole_feed(&app).await;
    }
    let positions: Vec<(i64, i64)> = feed
        .iter()
        .map(|e| {
            let (x, s) = e["position"].as_str().expect("position").split_once('.').expect("x.s");
            (x.parse().expect("xid"), s.parse().expect("seq"))
        })
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "positions rise");
    let seen: HashSet<&str> = feed.iter().map(|e| e["transactionId"].as_str().expect("id")).collect();
    let posted: HashSet<&str> = ids.iter().map(|(_, id)| id.as_str()).collect();
    assert_eq!(seen, posted, "every acknowledged payment once in the feed, nothing else");
    assert_eq!(feed.len(), 400);
    app.assert_books_consistent().await;
}

#[tokio::test]
async fn bad_feed_cursors_are_refused_and_say_why() {
    let app = spawn_app().await;
    let shop = app.merchant("Cursor Shop").await;
    for (query, vars) in [
        (FEED, json!({ "p": "12" })),
        (FEED, json!({ "p": "-1.2" })),
        (FEED, json!({ "p": "a.b" })),
        ("query { events(after: 3) { sequence } }", json!({})),
        ("query($m: ID!) { events(merchantId: $m, afterPosition: \"0.0\") { sequence } }", json!({ "m": shop })),
        ("query($m: ID!) { events(merchantId: $m, after: -1) { sequence } }", json!({ "m": shop })),
    ] {
        let body = app.gql(query, vars.clone()).await;
        assert_eq!(code(&body), "BAD_USER_INPUT", "{query} {vars}: {body}");
    }
    // A merchant key pages its own journal; a position is not for it.
    let key = app.merchant_key(&shop).await;
    let body = app.gql_as(Some(&key), "query { events(afterPosition: \"0.0\") { sequence } }", json!({})).await;
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
}

/// Every journal number, event number, clock and balance of the books, in a
/// comparable form.
async fn numbering(app: &TestApp) -> Vec<String> {
    app.lines(
        "SELECT 't ' || CAST(id AS TEXT) || ' ' || kind || ' ' || CAST(number AS TEXT) || ' ' \
           || COALESCE(CAST(counterparty_number AS TEXT), '-') AS line FROM transactions \
         UNION ALL SELECT 'e ' || CAST(transaction_id AS TEXT) || ' ' || CAST(number AS TEXT) || ' ' \
           || COALESCE(CAST(counterparty_number AS TEXT), '-') FROM ledger_events \
         UNION ALL SELECT 'c ' || CAST(merchant_id AS TEXT) || ' ' || CAST(last_transaction_seq AS TEXT) \
           FROM merchant_clocks \
         UNION ALL SELECT 'p ' || CAST(id AS TEXT) || ' covers ' || CAST(covers_from_seq AS TEXT) || '..' \
           || CAST(covers_to_seq AS TEXT) FROM payouts \
         UNION ALL SELECT 'b ' || CAST(account_id AS TEXT) || ' ' || CAST(debits_posted AS TEXT) || ' ' \
           || CAST(credits_posted AS TEXT) || ' ' || CAST(debits_pending AS TEXT) || ' ' \
           || CAST(credits_pending AS TEXT) FROM balances \
         ORDER BY 1",
    )
    .await
}

/// Books with every kind of transaction, written by the write path: a
/// payment; an authorization voided; a card payment captured, part refunded,
/// disputed and lost; a payout settled; goods stocked; a deal between two
/// merchants and its reversal; a payment reversed. Returns the shop (the
/// merchant of the payments and the payout) and the smith (the deal's seller).
pub async fn every_kind_of_transaction(app: &TestApp) -> (String, String) {
    register_staves(app).await;
    let (shop, smith) = (app.merchant("Fixture Shop").await, app.merchant("Fixture Smith").await);
    let step = |m: &'static str, input: Value| async move {
        let q = format!(
            "mutation($i: {}Input!) {{ {}(input: $i) {{ payment {{ id }} }} }}",
            m[..1].to_uppercase() + &m[1..],
            m
        );
        app.ok(&q, json!({ "i": input })).await
    };
    pay_id(app, &shop, "100.00", "f-pay").await;
    let voided = app.authorize(&shop, "9.00", "f-auth-void").await;
    step("voidAuthorization", json!({ "paymentId": voided, "idempotencyKey": "f-void" })).await;
    let card = app.captured_payment(&shop, "40.00", "f-card").await;
    step(
        "refundPayment",
        json!({ "paymentId": card, "amount": { "amount": "5.00", "currency": "USD" }, "reason": "fixture", "idempotencyKey": "f-refund" }),
    )
    .await;
    step(
        "openDispute",
        json!({ "paymentId": card, "amount": { "amount": "10.00", "currency": "USD" }, "idempotencyKey": "f-dispute" }),
    )
    .await;
    step(
        "resolveDispute",
        json!({ "paymentId": card, "outcome": "LOST", "reason": "fixture", "idempotencyKey": "f-lost" }),
    )
    .await;
    let payout = app.create_payout(&shop, "f-payout").await;
    app.ok(
        "mutation($i: PayoutStepInput!) { settlePayout(input: $i) { payout { id } } }",
        json!({ "i": { "payoutId": payout, "idempotencyKey": "f-settle" } }),
    )
    .await;
    app.stock(&smith, "2", "STAFF", "f-stock").await;
    pay_id(app, &smith, "1.00", "f-smith-cash").await;
    let cash = pay_id(app, &shop, "10.00", "f-shop-cash").await;
    let deal = app
        .ok(
            "mutation($i: RecordDealInput!) { recordDeal(input: $i) { transaction { id } } }",
            json!({ "i": { "sellerId": smith, "buyerId": shop, "idempotencyKey": "f-deal",
                "buyerGives": [{ "amount": "3.00", "currency": "USD" }],
                "sellerGives": [{ "amount": "1", "currency": "STAFF" }] } }),
        )
        .await["recordDeal"]["transaction"]["id"]
        .clone();
    app.ok(
        "mutation($id: ID!) { reverseTransaction(transactionId: $id, reason: \"fixture\", idempotencyKey: \"f-rev\") { transaction { id } } }",
        json!({ "id": deal }),
    )
    .await;
    app.ok(
        "mutation($id: ID!) { reverseTransaction(transactionId: $id, reason: \"fixture\", idempotencyKey: \"f-rev-pay\") { transaction { id } } }",
        json!({ "id": cash }),
    )
    .await;
    let kinds = app.scalar("SELECT COUNT(DISTINCT kind) FROM transactions").await;
    assert!(kinds >= 8, "the fixture covers the kinds of transaction: {kinds}");
    (shop, smith)
}

#[tokio::test]
async fn existing_books_are_numbered_in_place_exactly_as_the_write_path_numbers_them() {
    use migration::MigratorTrait;
    // Arrange: books with every kind of transaction, written by the write path.
    let app = spawn_app().await;
    let (shop, _smith) = every_kind_of_transaction(&app).await;
    let written = numbering(&app).await;
    assert!(written.iter().any(|l| l.starts_with("p ")), "the fixture has a payout: {written:?}");
    let transactions = app.count("transactions").await;

    // Act: back to the schema before the merchant clocks (one global clock,
    // no journal numbers), then forward again: the migration numbers the
    // books in place: every migration from the merchant clocks (12) on.
    let steps = crate::helpers::steps_back_to("m20261203_000012_merchant_clocks");
    migration::Migrator::down(&app.db, Some(steps)).await.expect("migrate down to before the merchant clocks");
    assert_eq!(
        app.scalar("SELECT last_transaction_seq FROM ledger_clock").await,
        app.scalar("SELECT MAX(seq) FROM transactions").await
    );
    let gone = app.db.execute_unprepared("SELECT 1 FROM merchant_clocks").await;
    assert!(gone.is_err(), "the old schema has no merchant clocks");
    migration::Migrator::up(&app.db, None).await.expect("migrate up again");

    // Assert: every transaction kept, numbered as the write path numbered
    // it; the same events, clocks and balances; verify clean; the
    // append-only triggers back.
    assert_eq!(app.count("transactions").await, transactions);
    assert_eq!(numbering(&app).await, written);
    app.assert_books_consistent().await;
    for table in ["transactions", "ledger_events"] {
        let refused = app.db.execute_unprepared(&format!("UPDATE {table} SET number = number")).await;
        assert!(refused.is_err(), "{table} is append-only again after the migration");
    }
    // And the write path goes on from the migrated clocks.
    let next = pay_id(&app, &shop, "1.00", "f-after").await;
    let clock =
        app.scalar(&format!("SELECT last_transaction_seq FROM merchant_clocks WHERE merchant_id = '{shop}'")).await;
    assert_eq!(numbers(&app, &next).await, (clock, None));
}
