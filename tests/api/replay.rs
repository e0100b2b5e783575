//! The Olist replay (real input) through the GraphQL API.

use std::collections::HashMap;
use std::path::PathBuf;

use ledger_server::config::ReplayArgs;
use ledger_server::replay::{read_items, read_sellers};
use rust_decimal::Decimal;
use serde_json::json;

use crate::helpers::{TestApp, spawn_app};

fn data_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../data/olist"))
}

/// A quiet replay of `data` into `app`, as its bootstrap admin.
fn replay_args(app: &TestApp, data: PathBuf, concurrency: usize, lifecycle: bool) -> ReplayArgs {
    ReplayArgs {
        url: format!("{}/graphql", app.base),
        data,
        concurrency,
        quiet: true,
        lifecycle,
        token: Some(ledger_server::config::Secret::from(app.token.clone())),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn olist_replay_matches_totals_computed_from_the_csv() {
    let app = spawn_app().await;
    let args = replay_args(&app, data_dir(), 8, false);
    let summary = ledger_server::replay::run(&args).await.expect("replay");

    // Independent computation from the CSV: net per seller = Σ (price + freight) − fee.
    let items = read_items(&data_dir()).unwrap();
    let sellers = read_sellers(&data_dir()).unwrap();
    let mut expected: HashMap<String, Decimal> = HashMap::new();
    for it in &items {
        let gross = it.price + it.freight_value;
        let fee =
            (gross / Decimal::from(10)).round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointNearestEven);
        *expected.entry(it.seller_id.clone()).or_default() += gross - fee;
    }
    let expected_total: Decimal = expected.values().copied().sum();
    assert_eq!(summary.payments_posted, items.len() as u64);
    assert_eq!(summary.merchants_created, sellers.len() as u64);
    assert_eq!(summary.merchant_total.parse::<Decimal>().unwrap(), expected_total);

    // Per-merchant totals, read back page by page through the API.
    let q = "query($after: String) { merchants(first: 100, after: $after) { pageInfo { hasNextPage endCursor } edges { node { externalId class balances { asset posted { amount } } } } } }";
    let mut after: Option<String> = None;
    let mut seen = 0;
    loop {
        let data = app.ok(q, json!({ "after": after })).await;
        for e in data["merchants"]["edges"].as_array().unwrap() {
            let node = &e["node"];
            let ext = node["externalId"].as_str().unwrap();
            let got = node["balances"]
                .as_array()
                .unwrap()
                .iter()
                .find(|b| b["asset"] == "BRL")
                .map(|b| b["posted"]["amount"].as_str().unwrap().parse::<Decimal>().unwrap())
                .unwrap_or_default();
            assert_eq!(got, expected.get(ext).copied().unwrap_or_default(), "seller {ext}");
            seen += 1;
        }
        if data["merchants"]["pageInfo"]["hasNextPage"] == false {
            break;
        }
        after = data["merchants"]["pageInfo"]["endCursor"].as_str().map(str::to_owned);
    }
    assert_eq!(seen, sellers.len());
    app.assert_books_consistent().await;

    // Monthly rollups equal an independent computation from the CSV, per
    // month and seller state: gross volume, count and average ticket.
    let state_of: HashMap<&str, &str> =
        sellers.iter().map(|s| (s.seller_id.as_str(), s.seller_state.as_str())).collect();
    let mut by_month: std::collections::BTreeMap<(String, String), (Decimal, i64)> = Default::default();
    for it in &items {
        // `M/D/YYYY H:MM`, taken as UTC.
        let date = it.shipping_limit_date.split(' ').next().unwrap();
        let parts: Vec<&str> = date.split('/').collect();
        let month = format!("{}-{:02}", parts[2], parts[0].parse::<u32>().unwrap());
        let e = by_month.entry((month, state_of[it.seller_id.as_str()].to_owned())).or_default();
        e.0 += it.price + it.freight_value;
        e.1 += 1;
    }
    let closed = app.reports.close_due_months(chrono::Utc::now()).await.expect("close months");
    let months: std::collections::BTreeSet<&String> = by_month.keys().map(|(m, _)| m).collect();
    assert!(months.iter().all(|m| closed.iter().any(|c| c.to_string() == **m)), "every month of the sample is closed");
    let q = "query($m: String!) { monthlyRollup(month: $m, asset: \"BRL\") { closed adjustments { class } \
             lines { class capturedCount grossVolume { amount } averageTicket { amount } } } }";
    let mut lines_seen = 0;
    for month in months {
        let report = app.ok(q, json!({ "m": month })).await["monthlyRollup"].clone();
        assert_eq!(report["closed"], true);
        assert_eq!(report["adjustments"], json!([]), "{month}: nothing was backdated after closing");
        let lines = report["lines"].as_array().unwrap();
        let expected: Vec<_> = by_month.iter().filter(|((m, _), _)| m == month).collect();
        assert_eq!(lines.len(), expected.len(), "{month}: one line per seller state");
        for ((_, state), (volume, count)) in expected {
            let line = lines.iter().find(|l| l["class"] == state.as_str()).unwrap_or_else(|| panic!("{month} {state}"));
            let average = (*volume / Decimal::from(*count))
                .round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointNearestEven);
            assert_eq!(line["capturedCount"].as_i64(), Some(*count), "{month} {state} count");
            assert_eq!(
                line["grossVolume"]["amount"].as_str().unwrap().parse::<Decimal>().unwrap(),
                *volume,
                "{month} {state} volume"
            );
            assert_eq!(
                line["averageTicket"]["amount"].as_str().unwrap().parse::<Decimal>().unwrap(),
                average,
                "{month} {state} average"
            );
            lines_seen += 1;
        }
    }
    assert_eq!(lines_seen, by_month.len());

    // Running it twice changes nothing.
    let txns = app.count("transactions").await;
    let again = ledger_server::replay::run(&args).await.expect("second replay");
    assert_eq!(again.payments_posted, 0);
    assert_eq!(again.payments_replayed, items.len() as u64);
    assert_eq!(again.merchants_created, 0);
    assert_eq!(again.merchant_total, summary.merchant_total);
    assert_eq!(app.count("transactions").await, txns);
}

#[tokio::test]
async fn replay_fails_cleanly_on_a_missing_data_folder() {
    let app = spawn_app().await;
    let args = replay_args(&app, PathBuf::from("/nonexistent"), 2, false);
    let err = ledger_server::replay::run(&args).await.expect_err("must fail");
    assert!(format!("{err:#}").contains("olist_sellers_dataset.csv"));
    assert_eq!(app.count("transactions").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn olist_lifecycle_replay_authorizes_captures_voids_and_pays_out_weekly() {
    use std::collections::{BTreeMap, BTreeSet};

    use ledger_server::replay::{voided_orders, week_of};
    use sea_orm::ConnectionTrait;

    let app = spawn_app().await;
    let args = replay_args(&app, data_dir(), 8, true);
    let summary = ledger_server::replay::run(&args).await.expect("lifecycle replay");

    // Independent computation from the CSV files.
    let items = read_items(&data_dir()).unwrap();
    let voided = voided_orders(&data_dir()).unwrap();
    let to_minor = |d: Decimal| (d * Decimal::from(100)).round().try_into().unwrap_or(0_i64);
    let mut net_by_seller: BTreeMap<String, i64> = BTreeMap::new();
    let mut payout_weeks: BTreeSet<(String, String)> = BTreeSet::new();
    let (mut fees, mut voided_items) = (0_i64, 0_u64);
    for it in &items {
        if voided.contains(&it.order_id) {
            voided_items += 1;
            continue;
        }
        let gross = it.price + it.freight_value;
        let fee =
            (gross / Decimal::from(10)).round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointNearestEven);
        *net_by_seller.entry(it.seller_id.clone()).or_default() += to_minor(gross - fee);
        fees += to_minor(fee);
        payout_weeks.insert((it.seller_id.clone(), week_of(it).unwrap()));
    }
    assert!(voided_items > 0, "the sample has canceled orders");
    assert_eq!(summary.payments_voided, voided_items);
    assert_eq!(summary.payments_posted, items.len() as u64 - voided_items);
    assert_eq!(summary.payouts_made, payout_weeks.len() as u64);
    assert_eq!(summary.merchant_total.parse::<Decimal>().unwrap(), Decimal::ZERO, "weekly payouts paid out everything");

    // Per seller: everything captured, net of fees, was paid out.
    let rows = app
        .db
        .query_all_raw(sea_orm::Statement::from_string(
            app.db.get_database_backend(),
            "SELECT m.external_id AS seller, CAST(SUM(p.amount) AS BIGINT) AS paid FROM payouts p \
             JOIN merchants m ON m.id = p.merchant_id GROUP BY m.external_id",
        ))
        .await
        .unwrap();
    let paid: BTreeMap<String, i64> = rows
        .iter()
        .map(|r| (r.try_get::<String>("", "seller").unwrap(), r.try_get::<i64>("", "paid").unwrap()))
        .collect();
    assert_eq!(paid, net_by_seller);

    // Platform totals from the trial balance.
    let tb = app
        .ok("{ trialBalance { code asset platform debitsPosted { amount } creditsPosted { amount } } }", json!({}))
        .await;
    let line = |code: &str| {
        tb["trialBalance"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["code"] == code && l["platform"] == true)
            .cloned()
            .unwrap()
    };
    let amount = |v: &serde_json::Value| to_minor(v["amount"].as_str().unwrap().parse::<Decimal>().unwrap());
    assert_eq!(amount(&line("fee_revenue")["creditsPosted"]), fees);
    assert_eq!(amount(&line("payouts_in_transit")["creditsPosted"]), net_by_seller.values().sum::<i64>());
    let pending = app.scalar("SELECT CAST(SUM(debits_pending + credits_pending) AS BIGINT) FROM balances").await;
    assert_eq!(pending, 0, "every authorization was captured or voided");
    app.assert_books_consistent().await;

    // The bank's statement of these books (issue 20's generator and its
    // five injected discrepancies), matched against them.
    crate::reconciliation_deposits::the_olist_statement_flags_exactly_the_injected_discrepancies_and_settles_the_rest(
        &app,
        &data_dir(),
    )
    .await;

    // Those books as Beancount and hledger journals (issue 21), checked by
    // the tools themselves.
    crate::export::the_olist_books_pass_bean_check_and_hledger_check_at_our_balances(&app).await;
}
