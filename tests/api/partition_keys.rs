//! Keys that carry the merchant (issue 17): a table distributed by
//! `merchant_id` needs it in every primary and unique key. This file pins
//! which keys already do, and checks that lookups by id alone still work.

use sea_orm::ConnectionTrait;
use serde_json::json;

use crate::helpers::{code, spawn_app, steps_back_to};

/// `table: (col, col, …)` for every primary and unique key of the tables
/// that have a `merchant_id` column, sorted.
async fn keys_of_merchant_tables(app: &crate::helpers::TestApp) -> Vec<String> {
    let rows = app
        .db
        .query_all_raw(sea_orm::Statement::from_string(
            app.db.get_database_backend(),
            "SELECT c.conrelid::regclass::text || ': (' || string_agg(a.attname, ', ' ORDER BY k.n) || ')' AS key \
             FROM pg_constraint c \
             CROSS JOIN LATERAL unnest(c.conkey) WITH ORDINALITY AS k(attnum, n) \
             JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum \
             WHERE c.contype IN ('p', 'u') AND c.connamespace = 'public'::regnamespace \
               AND EXISTS (SELECT 1 FROM pg_attribute m WHERE m.attrelid = c.conrelid \
                           AND m.attname = 'merchant_id' AND NOT m.attisdropped) \
             GROUP BY c.conrelid, c.conname"
                .to_owned(),
        ))
        .await
        .expect("keys");
    let mut keys: Vec<String> = rows.iter().map(|r| r.try_get::<String>("", "key").expect("key")).collect();
    keys.sort();
    keys
}

#[tokio::test]
async fn every_merchant_table_is_keyed_by_merchant_but_access_control() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let keys = keys_of_merchant_tables(&app).await;

    // Assert: payments and payouts carry the merchant in every key.
    for table in ["payments", "payouts"] {
        let theirs: Vec<&String> = keys.iter().filter(|k| k.starts_with(&format!("{table}:"))).collect();
        assert!(!theirs.is_empty(), "{table} has keys: {keys:?}");
        for key in theirs {
            assert!(key.contains("merchant_id"), "{key} lacks the merchant");
        }
    }
    // So do accounts and balances (migration 18). The keys that lack it are
    // exactly these, of access control, which stays on one node (on Citus,
    // the coordinator): an API key is found by its prefix before its merchant
    // is known, and the audit log is the staff's. A new one fails here
    // instead of going unnoticed.
    assert!(keys.contains(&"accounts: (merchant_id, id)".to_owned()), "{keys:?}");
    assert!(keys.contains(&"balances: (merchant_id, account_id)".to_owned()), "{keys:?}");
    let lacking: Vec<&str> = keys.iter().filter(|k| !k.contains("merchant_id")).map(String::as_str).collect();
    assert_eq!(lacking, ["api_keys: (id)", "api_keys: (prefix)", "audit_log: (seq)"]);
}

#[tokio::test]
async fn a_payment_and_a_payout_are_found_by_id_alone_and_only_by_their_merchant_and_staff() {
    // Arrange: a captured payment and a payout of one merchant; a key of another.
    let app = spawn_app().await;
    let shop = app.merchant("Keyed Shop").await;
    let other = app.merchant("Keyed Other").await;
    let payment = app.captured_payment(&shop, "20.00", "keyed-card").await;
    let payout = app.create_payout(&shop, "keyed-payout").await;
    let shop_key = app.merchant_key(&shop).await;
    let other_key = app.merchant_key(&other).await;
    let q = "query($p: ID!, $o: ID!) { payment(id: $p) { id state } payout(id: $o) { id state } }";
    let vars = json!({ "p": payment, "o": payout });

    // Act
    let by_staff = app.ok(q, vars.clone()).await;
    let by_shop = app.gql_as(Some(&shop_key), q, vars.clone()).await;
    let by_other = app.gql_as(Some(&other_key), q, vars.clone()).await;
    let settled = app
        .ok(
            "mutation($i: PayoutStepInput!) { settlePayout(input: $i) { payout { id state } } }",
            json!({ "i": { "payoutId": payout, "idempotencyKey": "keyed-settle" } }),
        )
        .await;

    // Assert
    assert_eq!(by_staff["payment"]["id"], payment.as_str());
    assert_eq!(by_staff["payout"]["id"], payout.as_str());
    assert_eq!(by_shop["data"]["payment"]["id"], payment.as_str(), "{by_shop}");
    assert_eq!(by_shop["data"]["payout"]["id"], payout.as_str(), "{by_shop}");
    assert_eq!(by_other["data"]["payment"], json!(null), "another merchant sees nothing: {by_other}");
    assert_eq!(by_other["data"]["payout"], json!(null), "another merchant sees nothing: {by_other}");
    assert_eq!(settled["settlePayout"]["payout"]["state"], "SETTLED");
    assert_eq!(
        app.scalar(&format!("SELECT COUNT(*) FROM payouts WHERE id = '{payout}' AND state = 'settled'")).await,
        1,
        "the step wrote the merchant's row"
    );
    app.assert_books_consistent().await;
}

#[tokio::test]
async fn the_database_refuses_a_second_payment_with_the_same_merchant_and_id() {
    // Arrange
    let app = spawn_app().await;
    let shop = app.merchant("Keyed Twice").await;
    let payment = app.authorize(&shop, "5.00", "keyed-twice").await;

    // Act: the same (merchant_id, id) again, written by hand.
    let again = app
        .db
        .execute_unprepared(&format!(
            "INSERT INTO payments (id, merchant_id, asset, authorized, captured, released, fee_captured, refunded, \
             disputed_open, charged_back, expires_at, created_at, updated_at) \
             SELECT id, merchant_id, asset, authorized, captured, released, fee_captured, refunded, disputed_open, \
             charged_back, expires_at, created_at, updated_at FROM payments WHERE id = '{payment}'"
        ))
        .await;

    // Assert: the primary key refuses it, and the books are as they were.
    let err = again.expect_err("a duplicate key is refused").to_string();
    assert!(err.contains("payments_pkey"), "{err}");
    assert_eq!(app.count("payments").await, 1);
    let refused = app.gql("{ payment(id: \"not-a-uuid\") { id } }", json!({})).await;
    assert_eq!(code(&refused), "BAD_USER_INPUT", "{refused}");
}

#[tokio::test]
async fn migrating_down_and_up_again_keeps_every_payment_and_payout() {
    use migration::MigratorTrait;
    // Arrange
    let app = spawn_app().await;
    let shop = app.merchant("Keyed Migration").await;
    let payment = app.captured_payment(&shop, "30.00", "keyed-mig").await;
    let payout = app.create_payout(&shop, "keyed-mig-payout").await;
    let before = keys_of_merchant_tables(&app).await;

    // Act: back to the keys without the merchant (migrations 14 to 16), then forward again.
    let steps = steps_back_to("m20261205_000014_payments_keyed_by_merchant");
    migration::Migrator::down(&app.db, Some(steps)).await.expect("down");
    let old = keys_of_merchant_tables(&app).await;
    migration::Migrator::up(&app.db, None).await.expect("up again");

    // Assert: the old schema keyed them by id; the new one by merchant and
    // id; every row kept and found.
    for key in [
        "accounts: (id)",
        "balances: (account_id)",
        "payments: (id)",
        "payouts: (id)",
        "transactions: (reverses)",
        "transactions: (seq)",
        "transactions: (id)",
        "entries: (seq)",
        "ledger_events: (seq)",
    ] {
        assert!(old.contains(&key.to_owned()), "{key} in {old:?}");
    }
    assert_eq!(keys_of_merchant_tables(&app).await, before);
    assert!(before.contains(&"payments: (merchant_id, id)".to_owned()), "{before:?}");
    let found = app
        .ok(
            "query($p: ID!, $o: ID!) { payment(id: $p) { id } payout(id: $o) { id } }",
            json!({ "p": payment, "o": payout }),
        )
        .await;
    assert_eq!(found["payment"]["id"], payment.as_str());
    assert_eq!(found["payout"]["id"], payout.as_str());
    app.assert_books_consistent().await;
}

/// Inserts, by hand, a reversal of `original` filed under `merchant`:
/// what a bug in the write path would have to write to break the keys.
async fn forged_reversal(app: &crate::helpers::TestApp, merchant: &str, original: &str) -> Result<(), String> {
    app.db
        .execute_unprepared(&format!(
            "INSERT INTO transactions (seq, id, merchant_id, kind, metadata, effective_at, created_at, reverses, number) \
             VALUES (999999999, '{}', '{merchant}', 'reversal', '{{}}', now(), now(), '{original}', 999999999)",
            uuid::Uuid::now_v7()
        ))
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

#[tokio::test]
async fn a_reversal_is_keyed_by_its_originals_merchant_and_made_once() {
    // Arrange: a payment of the shop, reversed once through the API.
    let app = spawn_app().await;
    let shop = app.merchant("Keyed Reversal").await;
    let other = app.merchant("Keyed Bystander").await;
    let sale = crate::helpers::txn_id(&app.pay(&shop, "8.00", None, "USD", "keyed-rev-sale").await);
    let unreversed = crate::helpers::txn_id(&app.pay(&shop, "2.00", None, "USD", "keyed-rev-other").await);
    let reverse = "mutation($id: ID!, $k: String!) { reverseTransaction(transactionId: $id, reason: \"test\", \
                   idempotencyKey: $k) { transaction { id } } }";
    app.ok(reverse, json!({ "id": sale, "k": "keyed-rev-1" })).await;
    let transactions = app.count("transactions").await;

    // Act
    let twice = app.gql(reverse, json!({ "id": sale, "k": "keyed-rev-2" })).await;
    let second_row = forged_reversal(&app, &shop, &sale).await;
    let other_merchants = forged_reversal(&app, &other, &unreversed).await;

    // Assert: the API says ALREADY_REVERSED; underneath, the key
    // (merchant_id, reverses) refuses a second reversal and the foreign key
    // refuses one filed under another merchant. Nothing was written.
    assert_eq!(code(&twice), "ALREADY_REVERSED", "{twice}");
    let err = second_row.expect_err("a second reversal row is refused");
    assert!(err.contains("transactions_merchant_id_reverses_key"), "{err}");
    let err = other_merchants.expect_err("another merchant's reversal is refused");
    assert!(err.contains("transactions_merchant_id_reverses_fkey"), "{err}");
    assert_eq!(app.count("transactions").await, transactions);
    app.assert_books_consistent().await;
}

#[tokio::test]
async fn an_entry_or_event_filed_under_another_merchant_than_its_transaction_is_refused() {
    // Arrange: a payment of the shop; another merchant.
    let app = spawn_app().await;
    let shop = app.merchant("Keyed Entries").await;
    let other = app.merchant("Keyed Elsewhere").await;
    let sale = crate::helpers::txn_id(&app.pay(&shop, "6.00", None, "USD", "keyed-entries").await);
    let (entries, events) = (app.count("entries").await, app.count("ledger_events").await);

    // Act: copy one of its entries, and its event, under the other merchant.
    let entry = app
        .db
        .execute_unprepared(&format!(
            "INSERT INTO entries (seq, transaction_seq, transaction_id, merchant_id, account_id, asset, direction, \
             amount, effective_at, layer) \
             SELECT 999999999, transaction_seq, transaction_id, '{other}', account_id, asset, direction, amount, \
             effective_at, layer FROM entries WHERE transaction_id = '{sale}' LIMIT 1"
        ))
        .await;
    let event = app
        .db
        .execute_unprepared(&format!(
            "INSERT INTO ledger_events (seq, id, merchant_id, kind, transaction_id, payload, created_at, number) \
             SELECT seq, '{}', '{other}', kind, transaction_id, payload, created_at, 999999999 \
             FROM ledger_events WHERE transaction_id = '{sale}'",
            uuid::Uuid::now_v7()
        ))
        .await;

    // Assert: the keys with the merchant refuse both; nothing was written.
    let err = entry.expect_err("an entry under another merchant").to_string();
    // One node: the statement-level check of migration 19; Citus: the keys.
    assert!(err.contains("references transaction") || err.contains("entries_transaction_"), "{err}");
    let err = event.expect_err("an event under another merchant").to_string();
    assert!(err.contains("ledger_events_seq_fkey"), "{err}");
    assert_eq!((app.count("entries").await, app.count("ledger_events").await), (entries, events));
    app.assert_books_consistent().await;
}

#[tokio::test]
async fn a_lookup_by_id_may_name_its_merchant_and_a_wrong_one_finds_and_changes_nothing() {
    // Arrange: an authorized payment of the shop, its transaction and
    // `available` account; a second merchant to name wrongly.
    let app = spawn_app().await;
    let shop = app.merchant("Named Shop").await;
    let other = app.merchant("Named Other").await;
    let sale = app.pay(&shop, "12.00", Some("0.36"), "USD", "named-sale").await;
    let transaction = crate::helpers::txn_id(&sale);
    let account = crate::helpers::paid_account(&sale, "available");
    let payment = app.authorize(&shop, "9.00", "named-auth").await;
    let q = "query($p: ID!, $t: ID!, $a: ID!, $m: ID) { payment(id: $p, merchantId: $m) { id } \
             transaction(id: $t, merchantId: $m) { id } account(id: $a, merchantId: $m) { id } }";
    let vars = |m: Option<&str>| json!({ "p": payment, "t": transaction, "a": account, "m": m });
    let capture = "mutation($i: CapturePaymentInput!) { capturePayment(input: $i) { payment { state } } }";

    // Act
    let named = app.ok(q, vars(Some(&shop))).await;
    let unnamed = app.ok(q, vars(None)).await;
    let wrong_payment =
        app.gql("query($p: ID!, $m: ID) { payment(id: $p, merchantId: $m) { id } }", vars(Some(&other))).await;
    let wrong_transaction =
        app.gql("query($t: ID!, $m: ID) { transaction(id: $t, merchantId: $m) { id } }", vars(Some(&other))).await;
    let wrong_account =
        app.gql("query($a: ID!, $m: ID) { account(id: $a, merchantId: $m) { id } }", vars(Some(&other))).await;
    let malformed = app.gql("query($p: ID!) { payment(id: $p, merchantId: \"shop\") { id } }", vars(None)).await;
    let transactions = app.count("transactions").await;
    let captured_elsewhere = app
        .gql(capture, json!({ "i": { "paymentId": payment, "merchantId": other, "idempotencyKey": "named-wrong" } }))
        .await;
    let unchanged = app.count("transactions").await;
    let captured = app
        .ok(capture, json!({ "i": { "paymentId": payment, "merchantId": shop, "idempotencyKey": "named-right" } }))
        .await;

    // Assert: named rightly or not at all, each is found; named wrongly, none
    // is (NOT_FOUND), a malformed name is BAD_USER_INPUT, and a step under a
    // wrong name posts nothing.
    for found in [&named, &unnamed] {
        assert_eq!(found["payment"]["id"], payment.as_str(), "{found}");
        assert_eq!(found["transaction"]["id"], transaction.as_str(), "{found}");
        assert_eq!(found["account"]["id"], account.as_str(), "{found}");
    }
    for refused in [&wrong_payment, &wrong_transaction, &wrong_account, &captured_elsewhere] {
        assert_eq!(code(refused), "NOT_FOUND", "{refused}");
    }
    assert_eq!(code(&malformed), "BAD_USER_INPUT", "{malformed}");
    assert_eq!(unchanged, transactions, "a step on a payment not found posts nothing");
    assert_eq!(captured["capturePayment"]["payment"]["state"], "CAPTURED", "{captured}");
    app.assert_books_consistent().await;
}

#[tokio::test]
async fn an_entry_on_an_account_that_does_not_exist_is_refused_without_the_foreign_key() {
    // Arrange: a posted payment; its first entry, copied by hand.
    let app = spawn_app().await;
    let shop = app.merchant("Keyed Orphan").await;
    app.pay(&shop, "3.00", None, "USD", "keyed-orphan").await;
    let entries = app.count("entries").await;
    let copy = |account: &str| {
        format!(
            "INSERT INTO entries (seq, transaction_seq, transaction_id, merchant_id, account_id, asset, direction, \
             amount, effective_at, layer) SELECT seq + 1000000, transaction_seq, transaction_id, merchant_id, \
             {account}, asset, direction, amount, effective_at, layer FROM entries ORDER BY seq LIMIT 1"
        )
    };

    // Act: one copy naming an account that does not exist.
    let orphan = app.db.execute_unprepared(&copy(&format!("'{}'", uuid::Uuid::now_v7()))).await;

    // Assert: refused as the foreign key did (SQLSTATE 23503), nothing added;
    // accounts are keyed by (merchant_id, id) and entries reference none.
    let err = orphan.expect_err("an entry on no account is refused").to_string();
    assert!(err.contains("does not exist"), "{err}");
    assert_eq!(app.count("entries").await, entries);
    let fks = app
        .scalar(
            "SELECT count(*) FROM pg_constraint WHERE conrelid = 'entries'::regclass AND contype = 'f' \
             AND pg_get_constraintdef(oid) LIKE '%REFERENCES accounts%'",
        )
        .await;
    assert_eq!(fks, 0, "no foreign key to accounts (id), which is no longer a key");
    app.assert_books_consistent().await;
}

#[tokio::test]
async fn an_entry_must_name_its_transaction_by_merchant_sequence_and_id_together_and_a_bad_row_refuses_its_whole_statement()
 {
    // Arrange: two payments of one merchant.
    let app = spawn_app().await;
    let shop = app.merchant("Checked Pair").await;
    app.pay(&shop, "3.00", None, "USD", "pair-1").await;
    app.pay(&shop, "4.00", None, "USD", "pair-2").await;
    let entries = app.count("entries").await;

    // Act: copies of every entry, renumbered, in one statement; the first
    // transaction's copies pair its sequence with the second's id, which
    // each of the old foreign keys alone would have let through.
    let mixed = app
        .db
        .execute_unprepared(
            "INSERT INTO entries (seq, transaction_seq, transaction_id, merchant_id, account_id, asset, direction, \
             amount, effective_at, layer) SELECT e.seq + 1000000, e.transaction_seq, \
             CASE WHEN e.transaction_seq = (SELECT min(seq) FROM transactions) \
                  THEN (SELECT id FROM transactions WHERE seq <> e.transaction_seq ORDER BY seq LIMIT 1) \
                  ELSE e.transaction_id END, \
             e.merchant_id, e.account_id, e.asset, e.direction, e.amount, e.effective_at, e.layer FROM entries e",
        )
        .await;

    // Assert: refused as a foreign key would be (23503), and none of the
    // statement's rows stays, the well-formed copies included.
    let err = mixed.expect_err("a sequence paired with another transaction's id").to_string();
    assert!(err.contains("references transaction"), "{err}");
    assert_eq!(app.count("entries").await, entries);
    let triggers = app.scalar("SELECT count(*) FROM pg_trigger WHERE tgname = 'entries_refer_to_existing_rows'").await;
    assert_eq!(triggers, 1, "one statement-level check on one node");
    app.assert_books_consistent().await;
}
