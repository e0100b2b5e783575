//! Tenant isolation on batched writes (PostgreSQL): a group-commit or
//! `postTransactions` batch runs with row-level security limited to the
//! merchants of its requests, so even a request that got past every check of
//! the application cannot touch another merchant's books.
//!
//! The first test tampers with a batched request *below* the application's
//! checks, through the `test-hooks` feature's `ledger::hooks::FOREIGN_ENTRY`:
//! after its accounts were resolved and checked, its first entry is moved to
//! another merchant's account. PostgreSQL itself must refuse the write.

use ledger_server::core::LedgerError;
use ledger_server::core::access::rules::Tenant;
use ledger_server::core::posting::Ledger;
use ledger_server::core::posting::testing::{Command, Request, submit};
use ledger_server::core::posting::testing::{FOREIGN_ENTRY, ForeignEntry};
use ledger_server::domain::{
    AccountCode, AccountId, AccountRef, Amount, AssetCode, Direction, EntryDraft, Fingerprint, IdempotencyKey, Layer,
    MerchantId, Owner, TransactionDraft, TransactionKind,
};
use sea_orm::{ConnectionTrait, DbBackend, Statement, TransactionTrait};
use serde_json::json;

use crate::helpers::{TestApp, spawn_app};

fn merchant_id(id: &str) -> MerchantId {
    MerchantId(uuid::Uuid::parse_str(id).expect("merchant uuid"))
}

/// The id of `merchant`'s account `code` in USD.
async fn account_id(app: &TestApp, merchant: &str, code: &str) -> String {
    let data =
        app.ok("query($id: ID!) { merchant(id: $id) { accounts { id code asset } } }", json!({ "id": merchant })).await;
    data["merchant"]["accounts"]
        .as_array()
        .expect("accounts")
        .iter()
        .find(|a| a["code"] == code && a["asset"] == "USD")
        .and_then(|a| a["id"].as_str())
        .unwrap_or_else(|| panic!("no {code} USD account: {data}"))
        .to_owned()
}

/// Merchants A and B, each paid 50.00 USD; A has moved 5.00 to its `reserve`.
async fn two_funded_merchants(app: &TestApp) -> (String, String) {
    let a = app.merchant("Batch Alpha").await;
    let b = app.merchant("Batch Beta").await;
    for (m, k) in [(&a, "a-pay"), (&b, "b-pay")] {
        let paid = app.pay(m, "50.00", None, "USD", k).await;
        assert!(paid.get("errors").is_none(), "{paid}");
    }
    app.open_reserve(&a, "a-open").await;
    app.ok(
        "mutation($i: PostTransactionInput!) { postTransaction(input: $i) { transaction { id } } }",
        json!({ "i": crate::helpers::transfer(&a, "5.00", "a-reserve") }),
    )
    .await;
    (a, b)
}

/// A transfer of `minor` USD cents from A's `reserve` to A's `available`,
/// as a write-path request of `tenant` under idempotency key `key`. Its first
/// entry is the credit to `available`, the one the hook moves.
fn transfer(merchant: MerchantId, tenant: Tenant, key: &str, minor: i64) -> Request {
    let usd = AssetCode::parse("USD").expect("USD");
    let amount = Amount::from_minor(minor).expect("amount");
    let entry = |code: &'static str, direction| EntryDraft {
        account: AccountRef::Code { owner: Owner::Merchant(merchant), code: AccountCode::parse(code).expect("code") },
        asset: usd.clone(),
        direction,
        amount,
        layer: Layer::Posted,
    };
    let draft = TransactionDraft::new(
        merchant,
        TransactionKind::Transfer,
        vec![entry("available", Direction::Credit), entry("reserve", Direction::Debit)],
    );
    Request {
        scope: merchant,
        key: Some(IdempotencyKey::parse(key).expect("key")),
        operation: "postTransaction",
        fingerprint: Fingerprint::of("postTransaction", &json!({ "key": key, "minor": minor })),
        command: Command::Post(draft),
        tenant,
        actor: ledger_server::core::access::rules::Actor::System { job: "batch-tenancy-test".to_owned() },
        request_id: None,
        partition: None,
        audit: None,
    }
}

/// Entries on an account and its stored balance row, as the owner sees them.
async fn footprint(app: &TestApp, account: &str) -> (i64, String) {
    let row = app
        .db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            format!(
                "SELECT (SELECT COUNT(*) FROM entries WHERE account_id = '{account}'), \
                 (SELECT concat_ws('/', debits_posted, credits_posted, debits_pending, credits_pending, last_transaction_seq) \
                  FROM balances WHERE account_id = '{account}')"
            ),
        ))
        .await
        .expect("footprint")
        .expect("row");
    (row.try_get_by_index::<i64>(0).expect("count"), row.try_get_by_index::<String>(1).expect("balance"))
}

#[tokio::test]
async fn postgres_refuses_a_batched_entry_on_another_merchants_account_that_got_past_the_checks() {
    // Arrange: A and B funded; a ledger of our own on the application role's pool.
    let app = spawn_app().await;
    let (a, b) = two_funded_merchants(&app).await;
    let b_available = account_id(&app, &b, "available").await;
    let ledger = Ledger::new(ledger_server::core::connect_app(&app.database_url, 2).await.expect("app pool"));
    ledger.load_assets().await.expect("assets");
    let before_b = footprint(&app, &b_available).await;
    let before_txns = app.count("transactions").await;
    let hook = |key: &str| ForeignEntry {
        key: key.to_owned(),
        account: AccountId(uuid::Uuid::parse_str(&b_available).expect("uuid")),
    };

    // Act: a batch of two of A's transfers, the first tampered with after the
    // checks; once by A's key, once by staff acting for A.
    let ma = merchant_id(&a);
    let by_key = FOREIGN_ENTRY
        .scope(
            hook("probe-key"),
            submit(
                &ledger,
                vec![
                    transfer(ma, Tenant::Merchant(ma), "probe-key", 100),
                    transfer(ma, Tenant::Merchant(ma), "fine-key", 50),
                ],
            ),
        )
        .await;
    let by_staff = FOREIGN_ENTRY
        .scope(
            hook("probe-staff"),
            submit(
                &ledger,
                vec![transfer(ma, Tenant::All, "probe-staff", 100), transfer(ma, Tenant::All, "fine-staff", 50)],
            ),
        )
        .await;

    // Assert: PostgreSQL refused the tampered requests with a row-level
    // security violation (SQLSTATE 42501) and the honest ones posted alone.
    for (who, results) in [("merchant key", &by_key), ("staff", &by_staff)] {
        match &results[0] {
            Err(LedgerError::Database(e)) => {
                let text = e.to_string();
                assert!(text.contains("row-level security"), "{who}: refused, but not by row-level security: {text}");
            }
            other => panic!("{who}: a write on another merchant's account was not refused: {other:?}"),
        }
        assert!(results[1].is_ok(), "{who}: the honest request failed with it: {:?}", results[1]);
    }
    assert_eq!(footprint(&app, &b_available).await, before_b, "B's account was written to");
    assert_eq!(app.count("transactions").await, before_txns + 2, "only the two honest transfers posted");
    let keys = app.count("idempotency_keys WHERE key LIKE 'probe-%'").await;
    assert_eq!(keys, 0, "a refused request left its idempotency key taken");
    assert_eq!(app.available(&a, "USD").await.as_deref(), Some("46.00"), "50 - 5 + 0.50 + 0.50");
    app.assert_books_consistent().await;
}

#[tokio::test]
async fn with_a_tenant_set_only_those_merchants_and_the_platform_are_visible() {
    // Arrange
    let app = spawn_app().await;
    let (a, b) = two_funded_merchants(&app).await;
    let b_available = account_id(&app, &b, "available").await;
    let pool = ledger_server::core::connect_app(&app.database_url, 1).await.expect("app pool");
    // Payments post to the platform's subsidiary accounts in each merchant's
    // own books; the platform's own books hold what staff open for it.
    app.ok(
        "mutation($i: OpenAccountInput!) { openAccount(input: $i) { account { id } } }",
        json!({ "i": { "code": "suspense", "asset": "USD", "normalBalance": "DEBIT", "idempotencyKey": "open-suspense" } }),
    )
    .await;
    let platform_accounts = app.count("accounts WHERE merchant_id = '00000000-0000-0000-0000-000000000000'").await;

    // Act: a transaction limited to {A}, as the batched write path sets it.
    let txn = pool.begin().await.expect("begin");
    ledger_server::core::posting::testing::set_batch_tenants(&txn, &[merchant_id(&a)], "test")
        .await
        .expect("set tenants");
    let mut seen = Vec::new();
    for sql in [
        "SELECT COUNT(DISTINCT merchant_id) FROM accounts WHERE merchant_id <> '00000000-0000-0000-0000-000000000000'",
        "SELECT COUNT(*) FROM accounts WHERE merchant_id = '00000000-0000-0000-0000-000000000000'",
    ] {
        let row = txn.query_one_raw(Statement::from_string(DbBackend::Postgres, sql.to_owned())).await.expect(sql);
        seen.push(row.expect("row").try_get_by_index::<i64>(0).expect("count"));
    }
    let b_rows = txn
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            format!("SELECT COUNT(*) FROM balances WHERE merchant_id = '{b}'"),
        ))
        .await
        .expect("b rows")
        .expect("row")
        .try_get_by_index::<i64>(0)
        .expect("count");
    // An entry on B's account inside A's transaction (the foreign keys alone
    // would let it through: they ignore row-level security).
    let a_txn = txn
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            format!("SELECT seq, id FROM transactions WHERE merchant_id = '{a}' ORDER BY seq LIMIT 1"),
        ))
        .await
        .expect("a txn")
        .expect("row");
    let (seq, id) =
        (a_txn.try_get_by_index::<i64>(0).expect("seq"), a_txn.try_get_by_index::<uuid::Uuid>(1).expect("id"));
    let insert = txn
        .execute_unprepared(&format!(
            "INSERT INTO entries (seq, transaction_seq, transaction_id, merchant_id, account_id, asset, direction, amount, effective_at, layer) \
             VALUES (999999, {seq}, '{id}', '{a}', '{b_available}', 'USD', 'credit', 1, now(), 'posted')"
        ))
        .await;
    txn.rollback().await.expect("rollback");

    // Assert
    assert!(platform_accounts > 0, "staff opened a platform account");
    assert_eq!(seen, vec![1, platform_accounts], "A's accounts only, and every platform account");
    assert_eq!(b_rows, 0, "B's balances are invisible");
    let err = insert.expect_err("an entry on B's account was accepted");
    assert!(err.to_string().contains("row-level security"), "refused for another reason: {err}");
}
