//! What only a Citus cluster shows (issue 17): a payment is a single-shard
//! transaction, and a deal between merchants on two workers commits on both.
//!
//! These tests are `#[ignore]`d: they need `TEST_DATABASE_URL` to name a Citus
//! coordinator with two workers, as `scripts/test` does after the main run
//! (`scripts/citus` brings the cluster up; where Citus cannot be built the
//! script prints SKIPPED). Each one fails, rather than passes, on a database
//! without Citus. The rest of the Citus run is the ordinary tests named in
//! `scripts/test`'s `citus_tests`, on databases whose migrations distributed
//! every merchant table.

use migration::MigratorTrait;
use sea_orm::ConnectionTrait;
use serde_json::json;

use crate::helpers::{TestApp, on_citus, spawn_app_with};

/// A server whose background jobs (expiry sweeper, payout scheduler, month
/// closing, checkpoints) stay quiet for the test, so the cluster's counters see only the
/// test's requests; fails when the database is not on Citus.
async fn quiet_app() -> TestApp {
    let app = spawn_app_with(crate::helpers::QUIET_JOBS).await;
    assert!(on_citus(&app.db).await, "TEST_DATABASE_URL does not name a Citus coordinator");
    app
}

/// Citus's own counters of this database (`citus_stat_counters`, Citus 13.1+,
/// collected when `citus.enable_stat_counters` is on, as scripts/citus sets):
/// statements routed to one shard, and statements that fanned out (the event
/// hub's polls of the whole feed among them).
async fn shard_counters(app: &TestApp) -> (i64, i64) {
    (
        app.scalar("SELECT query_execution_single_shard FROM citus_stat_counters WHERE name = current_database()")
            .await,
        app.scalar("SELECT query_execution_multi_shard FROM citus_stat_counters WHERE name = current_database()").await,
    )
}

/// The worker group that holds `merchant`'s shard of the merchant tables.
async fn group_of(app: &TestApp, merchant: &str) -> i64 {
    app.scalar(&format!(
        "SELECT CAST(p.groupid AS BIGINT) FROM pg_dist_placement p \
         WHERE p.shardid = get_shard_id_for_distribution_column('transactions', '{merchant}'::uuid)"
    ))
    .await
}

#[tokio::test]
#[ignore = "needs a Citus cluster: scripts/test runs it with TEST_DATABASE_URL on scripts/citus"]
async fn the_merchant_tables_are_distributed_by_merchant_and_colocated() {
    let app = quiet_app().await;
    let distributed = app
        .scalar(
            "SELECT count(*) FROM pg_dist_partition WHERE partmethod = 'h' \
             AND column_to_column_name(logicalrelid, partkey) = 'merchant_id'",
        )
        .await;
    assert_eq!(distributed, 12, "every merchant table is hash-distributed by merchant_id");
    let groups = app.scalar("SELECT count(DISTINCT colocationid) FROM pg_dist_partition WHERE partmethod = 'h'").await;
    assert_eq!(groups, 1, "the merchant tables are colocated");
    let reference =
        app.scalar("SELECT count(*) FROM pg_dist_partition WHERE partmethod = 'n' AND repmodel = 't'").await;
    assert!(reference >= 3, "assets, merchants and balance_limit_defaults are reference tables: {reference}");
    let workers = app.scalar("SELECT count(DISTINCT groupid) FROM pg_dist_placement WHERE groupid <> 0").await;
    assert_eq!(workers, 2, "the shards are spread over both workers");
}

#[tokio::test]
#[ignore = "needs a Citus cluster: scripts/test runs it with TEST_DATABASE_URL on scripts/citus"]
async fn a_payment_is_a_single_shard_transaction() {
    let app = quiet_app().await;
    let merchant = app.merchant("Single Shard Shop").await;
    // The first payment opens the merchant's accounts; the ones after it are
    // the steady state this test is about.
    let warm = app.pay(&merchant, "10.00", Some("0.30"), "USD", "warm-up").await;
    let transaction = crate::helpers::txn_id(&warm);
    let account = crate::helpers::paid_account(&warm, "available");
    let held = app.authorize(&merchant, "8.00", "held").await;
    let key = app.merchant_key(&merchant).await;

    // Citus itself refuses every statement that would run on more than one
    // shard (`citus.multi_task_query_log_level = error`) in the sessions of a
    // second server started after the setting. Its event hub's polls of the
    // whole feed fan out by design: they fail and retry, and the test checks
    // below that such a statement is indeed refused.
    let name: String = app.database_url.rsplit('/').next().expect("database name").to_owned();
    let admin = sea_orm::Database::connect(crate::helpers::admin_url()).await.expect("admin connection");
    admin
        .execute_unprepared(&format!("ALTER DATABASE {name} SET citus.multi_task_query_log_level = 'error'"))
        .await
        .expect("refuse multi-shard statements in new sessions");
    let strict = crate::helpers::spawn_flags(Some(app.database_url.clone()), crate::helpers::QUIET_JOBS).await;

    let (single_before, _) = shard_counters(&app).await;
    let mut outcome = Vec::new();
    for i in 0..5 {
        outcome.push(strict.pay(&merchant, "25.00", Some("0.75"), "USD", &format!("pay-{i}")).await);
    }
    // Lookups by id: a merchant key's name its own merchant; staff name it
    // with `merchantId`. So does a payment step by id.
    let lookups = "query($p: ID!, $t: ID!, $a: ID!, $m: ID) { payment(id: $p, merchantId: $m) { id state } \
                   transaction(id: $t, merchantId: $m) { id } account(id: $a, merchantId: $m) { id } }";
    let by_key =
        strict.gql_as(Some(&key), lookups, json!({ "p": held, "t": transaction, "a": account, "m": null })).await;
    let by_staff = strict.gql(lookups, json!({ "p": held, "t": transaction, "a": account, "m": merchant })).await;
    let captured = strict
        .gql(
            "mutation($i: CapturePaymentInput!) { capturePayment(input: $i) { payment { state } transaction { id } } }",
            json!({ "i": { "paymentId": held, "merchantId": merchant, "idempotencyKey": "capture-held" } }),
        )
        .await;
    // A read of every merchant's books fans out, so here it is refused; so is
    // a lookup by id alone, which reads every shard's `id` index.
    let control = strict.gql("{ trialBalance { code asset } }", json!({})).await;
    let unnamed = strict.gql("query($p: ID!) { payment(id: $p) { id } }", json!({ "p": held })).await;
    let (single_after, _) = shard_counters(&app).await;
    admin
        .execute_unprepared(&format!("ALTER DATABASE {name} RESET citus.multi_task_query_log_level"))
        .await
        .expect("reset");
    admin.close().await.ok();

    for body in &outcome {
        assert!(body["errors"].is_null(), "a payment ran a multi-shard statement: {body}");
        assert_eq!(body["data"]["recordPayment"]["transaction"]["entries"].as_array().map(Vec::len), Some(3), "{body}");
    }
    for found in [&by_key, &by_staff] {
        assert!(found["errors"].is_null(), "a lookup by id ran a multi-shard statement: {found}");
        assert_eq!(found["data"]["payment"]["id"], held.as_str(), "{found}");
        assert_eq!(found["data"]["transaction"]["id"], transaction.as_str(), "{found}");
        assert_eq!(found["data"]["account"]["id"], account.as_str(), "{found}");
    }
    assert!(captured["errors"].is_null(), "a capture by id ran a multi-shard statement: {captured}");
    assert_eq!(captured["data"]["capturePayment"]["payment"]["state"], "CAPTURED", "{captured}");
    assert!(!control["errors"].is_null(), "a fanned-out read is refused in the strict sessions: {control}");
    assert!(!unnamed["errors"].is_null(), "a lookup by id alone fans out, so it is refused here: {unnamed}");
    assert!(
        single_after - single_before >= 5,
        "each payment runs statements routed to one shard (counters {single_before} -> {single_after}; \
         is citus.enable_stat_counters on?)"
    );

    // The same, as Citus plans it: a read of one merchant's entries is one task.
    let plan = app
        .db
        .query_all_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            format!("EXPLAIN SELECT count(*) FROM entries WHERE merchant_id = '{merchant}'"),
        ))
        .await
        .expect("explain");
    let plan: Vec<String> = plan.iter().map(|r| r.try_get_by_index::<String>(0).expect("plan line")).collect();
    assert!(plan.iter().any(|l| l.contains("Task Count: 1")), "{plan:#?}");
    // No `assert_books_consistent` here: `app.db` may hold a connection opened
    // in the strict window. Dropping both apps runs `verify` over fresh ones.
}

#[tokio::test]
#[ignore = "needs a Citus cluster: scripts/test runs it with TEST_DATABASE_URL on scripts/citus"]
async fn a_deal_between_merchants_on_two_workers_commits_on_both() {
    let app = quiet_app().await;
    app.ok(
        "mutation { registerAsset(input: {code: \"STAFF\", exponent: 0, idempotencyKey: \"staff\"}) { asset { code } } }",
        json!({}),
    )
    .await;
    let seller = app.merchant("Smith on one worker").await;
    let seller_group = group_of(&app, &seller).await;
    let mut buyer = None;
    for i in 0..40 {
        let candidate = app.merchant(&format!("Buyer {i}")).await;
        if group_of(&app, &candidate).await != seller_group {
            buyer = Some(candidate);
            break;
        }
    }
    let buyer = buyer.expect("a merchant whose shard is on the other worker");
    app.stock(&seller, "3", "STAFF", "stock").await;
    app.pay(&buyer, "50.00", None, "USD", "buyer-cash").await;

    let deal = app
        .gql(
            "mutation($i: RecordDealInput!) { recordDeal(input: $i) { transaction { id kind } } }",
            json!({ "i": { "sellerId": seller, "buyerId": buyer, "idempotencyKey": "deal",
                "buyerGives": [{ "amount": "30.00", "currency": "USD" }],
                "sellerGives": [{ "amount": "1", "currency": "STAFF" }] } }),
        )
        .await;
    assert_eq!(deal["data"]["recordDeal"]["transaction"]["kind"], "DEAL", "{deal}");
    assert_eq!(app.available(&buyer, "STAFF").await.as_deref(), Some("1"));
    assert_eq!(app.available(&seller, "STAFF").await.as_deref(), Some("2"));

    // A deal the buyer cannot pay for is refused on both workers: nothing of it stays.
    let transactions = app.count("transactions").await;
    let refused = app
        .gql(
            "mutation($i: RecordDealInput!) { recordDeal(input: $i) { transaction { id } } }",
            json!({ "i": { "sellerId": seller, "buyerId": buyer, "idempotencyKey": "too-dear",
                "buyerGives": [{ "amount": "500.00", "currency": "USD" }],
                "sellerGives": [{ "amount": "1", "currency": "STAFF" }] } }),
        )
        .await;
    assert!(!refused["errors"].is_null(), "{refused}");
    assert_eq!(app.count("transactions").await, transactions);
    assert_eq!(app.available(&buyer, "STAFF").await.as_deref(), Some("1"));
    app.assert_books_consistent().await;
}

#[tokio::test]
#[ignore = "needs a Citus cluster: scripts/test runs it with TEST_DATABASE_URL on scripts/citus"]
async fn the_distribution_step_goes_down_and_up_again_with_the_books_intact() {
    let app = quiet_app().await;
    let merchant = app.merchant("Round Trip").await;
    app.pay(&merchant, "40.00", Some("1.20"), "USD", "before").await;
    let entries = app.count("entries").await;

    let steps = crate::helpers::steps_back_to("m20261206_000017_distribute_on_citus");
    migration::Migrator::down(&app.db, Some(steps)).await.expect("undistribute");
    let distributed = app.scalar("SELECT count(*) FROM pg_dist_partition WHERE partmethod = 'h'").await;
    assert_eq!(distributed, 0, "down brings every merchant table back to the coordinator");
    assert_eq!(app.count("entries").await, entries, "and keeps every row");
    let accounts_key = app
        .scalar(
            "SELECT count(*) FROM pg_constraint WHERE conname = 'accounts_pkey' \
             AND pg_get_constraintdef(oid) = 'PRIMARY KEY (id)'",
        )
        .await;
    assert_eq!(accounts_key, 1, "with the single-node keys back");

    migration::Migrator::up(&app.db, None).await.expect("distribute again");
    assert_eq!(app.scalar("SELECT count(*) FROM pg_dist_partition WHERE partmethod = 'h'").await, 12);
    assert_eq!(app.count("entries").await, entries);
    // A bad amount is still refused, and the books still balance.
    let refused = app.pay(&merchant, "-1.00", None, "USD", "negative").await;
    assert!(!refused["errors"].is_null(), "{refused}");
    app.assert_books_consistent().await;
}
