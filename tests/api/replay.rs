//! The Olist replay (real input) through the GraphQL API.

use std::collections::HashMap;
use std::path::PathBuf;

use ledger_server::config::ReplayArgs;
use ledger_server::replay::{read_items, read_sellers};
use rust_decimal::Decimal;
use serde_json::json;

use crate::helpers::spawn_app;

fn data_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../data/olist"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn olist_replay_matches_totals_computed_from_the_csv() {
    let app = spawn_app().await;
    let args = ReplayArgs { url: format!("{}/graphql", app.base), data: data_dir(), concurrency: 8, quiet: true };
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
    let args = ReplayArgs {
        url: format!("{}/graphql", app.base),
        data: PathBuf::from("/nonexistent"),
        concurrency: 2,
        quiet: true,
    };
    let err = ledger_server::replay::run(&args).await.expect_err("must fail");
    assert!(format!("{err:#}").contains("olist_sellers_dataset.csv"));
    assert_eq!(app.count("transactions").await, 0);
}
