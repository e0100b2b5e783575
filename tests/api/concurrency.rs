//! Real concurrency: many tasks, many connections, then the invariants.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use sea_orm::ConnectionTrait;
use serde_json::json;

use crate::helpers::{code, spawn_app};

const TASKS: usize = 32;
const ACCOUNTS: usize = 20;
const RUN_FOR: Duration = Duration::from_secs(4);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn random_transfers_from_32_tasks_keep_the_books_exact() {
    let app = Arc::new(spawn_app().await);
    let m = app.merchant("Busy").await;
    let open = "mutation($i: OpenAccountInput!) { openAccount(input: $i) { account { id } } }";
    let mut accounts = Vec::new();
    for i in 0..ACCOUNTS {
        let data = app
            .ok(
                open,
                json!({ "i": { "merchantId": m, "code": format!("wallet_{i:02}"), "asset": "USD", "normalBalance": "CREDIT", "idempotencyKey": format!("open-{i}") } }),
            )
            .await;
        let id = data["openAccount"]["account"]["id"].as_str().unwrap().to_owned();
        // The wallets start empty and trade freely: lift the built-in lower
        // bound of 0 so every random transfer is valid (limits have their own tests).
        app.ok(
            "mutation($i: SetBalanceLimitInput!) { setBalanceLimit(input: $i) { limit { source } } }",
            json!({ "i": { "accountId": id, "idempotencyKey": format!("unbounded-{i}") } }),
        )
        .await;
        accounts.push(id);
    }
    // Opening the same code twice is refused.
    let dup = app
        .gql(open, json!({ "i": { "merchantId": m, "code": "wallet_00", "asset": "USD", "normalBalance": "CREDIT", "idempotencyKey": "open-dup" } }))
        .await;
    assert_eq!(code(&dup), "ACCOUNT_ALREADY_EXISTS");
    let accounts = Arc::new(accounts);
    let post = "mutation($i: PostTransactionInput!) { postTransaction(input: $i) { transaction { id } } }";
    let deadline = Instant::now() + RUN_FOR;
    let tasks: Vec<_> = (0..TASKS)
        .map(|task| {
            let (app, accounts, m) = (app.clone(), accounts.clone(), m.clone());
            tokio::spawn(async move {
                let mut rng = rand::rngs::StdRng::seed_from_u64(task as u64);
                let mut acked = Vec::new();
                let mut n = 0;
                while Instant::now() < deadline {
                    let from = rng.random_range(0..ACCOUNTS);
                    let to = (from + rng.random_range(1..ACCOUNTS)) % ACCOUNTS;
                    let cents = rng.random_range(1..100_000);
                    let amount = format!("{}.{:02}", cents / 100, cents % 100);
                    let body = app
                        .gql(
                            post,
                            json!({ "i": { "merchantId": m, "idempotencyKey": format!("t{task}-{n}"), "entries": [
                                { "accountId": accounts[from], "direction": "DEBIT", "amount": { "amount": amount, "currency": "USD" } },
                                { "accountId": accounts[to], "direction": "CREDIT", "amount": { "amount": amount, "currency": "USD" } },
                            ] } }),
                        )
                        .await;
                    n += 1;
                    if let Some(id) = body["data"]["postTransaction"]["transaction"]["id"].as_str() {
                        acked.push(id.to_owned());
                    } else {
                        // Only contention may refuse a valid transfer, and it must be retryable.
                        assert_eq!(code(&body), "TRY_AGAIN", "{body}");
                    }
                }
                acked
            })
        })
        .collect();
    let mut acked = Vec::new();
    for t in tasks {
        acked.extend(t.await.unwrap());
    }
    assert!(acked.len() > 100, "too few transfers to mean anything: {}", acked.len());

    // Every acknowledged write is present exactly once, and nothing else was written.
    let rows = app
        .db
        .query_all_raw(sea_orm::Statement::from_string(
            app.db.get_database_backend(),
            "SELECT CAST(id AS TEXT) AS id FROM transactions WHERE kind = 'transfer'",
        ))
        .await
        .unwrap();
    let stored: Vec<String> = rows.iter().map(|r| r.try_get::<String>("", "id").unwrap()).collect();
    let stored_set: BTreeSet<_> = stored.iter().cloned().collect();
    let acked_set: BTreeSet<_> = acked.iter().cloned().collect();
    assert_eq!(stored.len(), stored_set.len(), "a transaction id appears twice");
    assert_eq!(acked.len(), acked_set.len(), "an acknowledgement was duplicated");
    assert_eq!(stored_set, acked_set, "stored transactions differ from acknowledged ones");

    // Each balance equals the sum of its entries; each asset sums to zero; each transaction balances.
    app.assert_books_consistent().await;
    // Sequence numbers are gap-free.
    let gaps = app.scalar("SELECT CAST(MAX(seq) - COUNT(*) AS BIGINT) FROM transactions").await;
    assert_eq!(gaps, 0, "transaction sequence has gaps");
    eprintln!("concurrency: {} transfers acknowledged by {TASKS} tasks in {RUN_FOR:?}", acked.len());
}
