//! Finding transactions (issue 19): by external reference, metadata, kind and
//! payment, each served by an index; a merchant key limited to its own books;
//! staff looking a reference up across merchants; searches no index serves
//! refused before they run.

use serde_json::{Value, json};

use crate::helpers::{TestApp, code, spawn_app};

const SEARCH: &str = "query($m: ID, $f: TransactionFilter!, $n: Int, $a: String) { \
    transactions(merchantId: $m, filter: $f, first: $n, after: $a) { \
      edges { cursor node { id kind externalRef metadata merchant { id } } } pageInfo { hasNextPage endCursor } } }";

/// Records a USD payment of `merchant` with `external_ref` and `metadata`;
/// returns its transaction id.
async fn paid(app: &TestApp, merchant: &str, external_ref: &str, metadata: Value, key: &str) -> String {
    app.ok(
        "mutation($i: RecordPaymentInput!) { recordPayment(input: $i) { transaction { id } } }",
        json!({ "i": { "merchantId": merchant, "gross": { "amount": "10.00", "currency": "USD" },
                "externalRef": external_ref, "metadata": metadata, "idempotencyKey": key } }),
    )
    .await["recordPayment"]["transaction"]["id"]
        .as_str()
        .expect("a transaction id")
        .to_owned()
}

/// The transaction ids of a search's page, as `token`.
async fn found(app: &TestApp, token: &str, merchant: Option<&str>, filter: Value) -> Vec<String> {
    let body = app.ok_as(Some(token), SEARCH, json!({ "m": merchant, "f": filter, "n": 50 })).await;
    body["transactions"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| e["node"]["id"].as_str().expect("id").to_owned())
        .collect()
}

#[tokio::test]
async fn a_payment_is_found_by_its_order_number_its_metadata_its_kind_and_its_payment() {
    // Arrange: two merchants; the same order number at both.
    let app = spawn_app().await;
    let a = app.merchant("Search A").await;
    let b = app.merchant("Search B").await;
    let order = paid(&app, &a, "order-4711", json!({ "channel": "web", "cart": { "items": 2 } }), "s-1").await;
    let other = paid(&app, &a, "order-4712", json!({ "channel": "pos" }), "s-2").await;
    let at_b = paid(&app, &b, "order-4711", json!({ "channel": "web" }), "s-3").await;
    let payment = app.authorize(&a, "5.00", "s-auth").await;
    let capture = app.capture(&payment, None, "s-cap").await;
    let key_a = app.merchant_key(&a).await;

    // Act and assert: a merchant key sees its own order only.
    assert_eq!(found(&app, &key_a, None, json!({ "externalRef": "order-4711" })).await, vec![order.clone()]);
    let both = found(&app, &key_a, None, json!({ "externalRefIn": ["order-4711", "order-4712"] })).await;
    assert_eq!(both, vec![other.clone(), order.clone()], "newest first");
    // Metadata: a value (nested values compare as JSON), and a key's presence.
    let web = found(&app, &key_a, None, json!({ "metadata": [{ "key": "channel", "equals": "web" }] })).await;
    assert_eq!(web, vec![order.clone()]);
    let cart = json!({ "metadata": [{ "key": "cart", "equals": { "items": 2 } }] });
    assert_eq!(found(&app, &key_a, None, cart).await, vec![order.clone()]);
    let has_cart = json!({ "metadata": [{ "key": "cart", "exists": true }, { "key": "channel", "exists": true }] });
    assert_eq!(found(&app, &key_a, None, has_cart).await, vec![order.clone()]);
    assert!(found(&app, &key_a, None, json!({ "metadata": [{ "key": "channel", "equals": "fax" }] })).await.is_empty());
    // Kind and payment.
    assert_eq!(found(&app, &key_a, None, json!({ "kind": "CAPTURE" })).await, vec![capture.clone()]);
    let life = found(&app, &key_a, None, json!({ "paymentId": payment })).await;
    assert_eq!(life.len(), 2, "the authorization and the capture: {life:?}");
    assert!(life.contains(&capture));
    // Conditions combine.
    let none = json!({ "externalRef": "order-4712", "metadata": [{ "key": "channel", "equals": "web" }] });
    assert!(found(&app, &key_a, None, none).await.is_empty());

    // Staff look the order number up across merchants, or at one.
    let everywhere = found(&app, &app.token, None, json!({ "externalRef": "order-4711" })).await;
    assert_eq!(everywhere.len(), 2, "{everywhere:?}");
    assert!(everywhere.contains(&order) && everywhere.contains(&at_b));
    assert_eq!(found(&app, &app.token, Some(&b), json!({ "externalRef": "order-4711" })).await, vec![at_b]);

    // The same filter on Merchant.transactions.
    let nested = app
        .ok_as(
            Some(&key_a),
            "query($m: ID!) { merchant(id: $m) { transactions(filter: { externalRef: \"order-4711\" }) { edges { node { id } } } } }",
            json!({ "m": a }),
        )
        .await;
    assert_eq!(nested["merchant"]["transactions"]["edges"][0]["node"]["id"], order.as_str(), "{nested}");
}

#[tokio::test]
async fn pages_follow_keyset_cursors_and_never_repeat_or_skip() {
    // Arrange: 7 transactions with one order prefix's metadata.
    let app = spawn_app().await;
    let m = app.merchant("Search Pages").await;
    let mut ids = Vec::new();
    for i in 0..7 {
        ids.push(paid(&app, &m, &format!("page-{i}"), json!({ "batch": "b1" }), &format!("p-{i}")).await);
    }
    ids.reverse();

    // Act: pages of 3 across every merchant's books as staff, by reference.
    let refs: Vec<String> = (0..7).map(|i| format!("page-{i}")).collect();
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let body = app.ok(SEARCH, json!({ "f": { "externalRefIn": refs }, "n": 3, "a": after })).await;
        let conn = &body["transactions"];
        for e in conn["edges"].as_array().expect("edges") {
            seen.push(e["node"]["id"].as_str().expect("id").to_owned());
        }
        if conn["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = conn["pageInfo"]["endCursor"].as_str().map(str::to_owned);
    }

    // Assert
    assert_eq!(seen, ids);
    let bad = app.gql(SEARCH, json!({ "f": { "externalRef": "page-1" }, "a": "not-a-cursor" })).await;
    assert_eq!(code(&bad), "BAD_USER_INPUT");
}

#[tokio::test]
async fn searches_no_index_serves_and_bad_filters_are_refused_and_another_merchant_stays_hidden() {
    let app = spawn_app().await;
    let a = app.merchant("Search Refused A").await;
    let b = app.merchant("Search Refused B").await;
    paid(&app, &b, "secret-order", json!({ "channel": "web" }), "r-1").await;
    let key_a = app.merchant_key(&a).await;

    // Staff across every merchant without a reference: no index, refused.
    let across = app.gql(SEARCH, json!({ "f": { "metadata": [{ "key": "channel", "equals": "web" }] } })).await;
    assert_eq!(code(&across), "FILTER_NOT_INDEXED", "{across}");
    assert_eq!(code(&app.gql(SEARCH, json!({ "f": { "kind": "PAYMENT" } })).await), "FILTER_NOT_INDEXED");
    assert_eq!(code(&app.gql(SEARCH, json!({ "f": {} })).await), "FILTER_NOT_INDEXED");
    // Malformed conditions and oversized lists.
    let both = json!({ "metadata": [{ "key": "channel", "equals": "web", "exists": true }] });
    assert_eq!(code(&app.gql(SEARCH, json!({ "m": b, "f": both })).await), "BAD_USER_INPUT");
    let absent = json!({ "metadata": [{ "key": "channel", "exists": false }] });
    assert_eq!(code(&app.gql(SEARCH, json!({ "m": b, "f": absent })).await), "BAD_USER_INPUT");
    let many: Vec<String> = (0..101).map(|i| format!("o-{i}")).collect();
    assert_eq!(code(&app.gql(SEARCH, json!({ "f": { "externalRefIn": many } })).await), "BAD_USER_INPUT");
    assert_eq!(code(&app.gql(SEARCH, json!({ "f": { "externalRef": "" } })).await), "BAD_USER_INPUT");
    assert_eq!(code(&app.gql(SEARCH, json!({ "m": "nope", "f": { "externalRef": "x" } })).await), "BAD_USER_INPUT");
    let bad_payment = json!({ "m": b, "f": { "paymentId": "nope" } });
    assert_eq!(code(&app.gql(SEARCH, bad_payment).await), "BAD_USER_INPUT");
    // A merchant key: another merchant's books are NOT_FOUND, and its own
    // search never shows another merchant's order.
    let theirs = app.gql_as(Some(&key_a), SEARCH, json!({ "m": b, "f": { "externalRef": "secret-order" } })).await;
    assert_eq!(code(&theirs), "NOT_FOUND");
    assert!(found(&app, &key_a, None, json!({ "externalRef": "secret-order" })).await.is_empty());
    // No token at all.
    let anonymous = app.gql_as(None, SEARCH, json!({ "f": { "externalRef": "secret-order" } })).await;
    assert_eq!(code(&anonymous), "UNAUTHENTICATED");
}

#[tokio::test]
async fn each_search_reads_an_index_not_the_table() {
    // The shapes the store sends, planned with sequential scans disabled (the
    // test table is small enough that PostgreSQL would otherwise scan it):
    // each reads one of the indexes named, never the table. With a merchant,
    // a metadata condition may walk that merchant's journal index instead of
    // the GIN index, by the planner's estimate; which it picks at a million
    // transactions is for the lookup benchmark (not built yet).
    use sea_orm::{ConnectionTrait, Statement};
    let app = spawn_app().await;
    let m = app.merchant("Search Plans").await;
    paid(&app, &m, "plan-1", json!({ "channel": "web" }), "plan-1").await;
    // A merchant's journal: its primary key `(merchant_id, seq)`.
    let journal = "transactions_pkey";
    let plans: [(String, &[&str]); 8] = [
        (
            "SELECT seq FROM transactions WHERE external_ref = 'plan-1' ORDER BY seq DESC LIMIT 21".into(),
            &["transactions_external_ref_idx"],
        ),
        (
            format!(
                "SELECT seq FROM transactions WHERE merchant_id = '{m}' AND external_ref = 'plan-1' ORDER BY seq DESC LIMIT 21"
            ),
            &["transactions_external_ref_idx"],
        ),
        (
            "SELECT seq FROM transactions WHERE metadata @> '{\"channel\":\"web\"}' LIMIT 21".into(),
            &["transactions_metadata_idx"],
        ),
        (
            format!(
                "SELECT seq FROM transactions WHERE merchant_id = '{m}' AND metadata ? 'channel' ORDER BY seq DESC LIMIT 21"
            ),
            &["transactions_metadata_idx", journal],
        ),
        (
            format!(
                "SELECT seq FROM transactions WHERE merchant_id = '{m}' AND kind = 'payment' ORDER BY seq DESC LIMIT 21"
            ),
            &["transactions_merchant_kind_idx", journal],
        ),
        (
            format!(
                "SELECT seq FROM transactions WHERE merchant_id = '{m}' AND effective_at >= now() - interval '1 day' \
                 AND effective_at < now() ORDER BY seq DESC LIMIT 21"
            ),
            &["transactions_merchant_effective_idx", journal],
        ),
        (
            format!(
                "SELECT seq FROM transactions WHERE merchant_id = '{m}' AND created_at >= now() - interval '1 day' \
                 ORDER BY seq DESC LIMIT 21"
            ),
            &["transactions_merchant_created_idx", journal],
        ),
        (
            format!(
                "SELECT seq FROM transactions WHERE merchant_id = '{m}' AND (merchant_id, seq) IN \
                 (SELECT merchant_id, transaction_seq FROM entries WHERE account_id = '{m}' AND merchant_id = '{m}') \
                 ORDER BY seq DESC LIMIT 21"
            ),
            // The account's entries, or (by the planner's estimate on a small
            // table) the merchant's entries by their key, filtered.
            &["entries_account_seq_idx", "entries_account_effective_idx", "entries_pkey"],
        ),
    ];
    for (sql, indexes) in plans {
        let txn = sea_orm::TransactionTrait::begin(&app.db).await.expect("begin");
        txn.execute_unprepared("SET LOCAL enable_seqscan = off").await.expect("no seqscan");
        let rows = txn
            .query_all_raw(Statement::from_string(app.db.get_database_backend(), format!("EXPLAIN {sql}")))
            .await
            .expect("explain");
        let plan: Vec<String> = rows.iter().map(|r| r.try_get::<String>("", "QUERY PLAN").expect("plan")).collect();
        assert!(plan.iter().all(|l| !l.contains("Seq Scan")), "{sql}: {plan:#?}");
        assert!(plan.iter().any(|l| indexes.iter().any(|i| l.contains(i))), "{sql}: {plan:#?}");
        txn.rollback().await.expect("rollback");
    }
}

#[tokio::test]
async fn transactions_are_found_by_value_date_record_time_and_account() {
    // Arrange: a payment effective 10 days ago, one now, and a transfer to
    // the merchant's reserve account.
    use chrono::{Duration, Utc};
    let app = spawn_app().await;
    let m = app.merchant("Search Times").await;
    let old = app
        .ok(
            "mutation($i: RecordPaymentInput!) { recordPayment(input: $i) { transaction { id createdAt } } }",
            json!({ "i": { "merchantId": m, "gross": { "amount": "10.00", "currency": "USD" },
                    "effectiveAt": Utc::now() - Duration::days(10), "idempotencyKey": "t-1" } }),
        )
        .await["recordPayment"]["transaction"]
        .clone();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let between = Utc::now();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let new = paid(&app, &m, "t-new", json!({}), "t-2").await;
    let reserve = app.open_reserve(&m, "t-res").await;
    let moved = app
        .ok(
            "mutation($i: PostTransactionInput!) { postTransaction(input: $i) { transaction { id } } }",
            json!({ "i": crate::helpers::transfer(&m, "1.00", "t-3") }),
        )
        .await["postTransaction"]["transaction"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let old_id = old["id"].as_str().expect("id").to_owned();
    let key = app.merchant_key(&m).await;

    // Act and assert: by value date, the backdated payment alone.
    let week =
        json!({ "effectiveAt": { "from": Utc::now() - Duration::days(11), "to": Utc::now() - Duration::days(7) } });
    assert_eq!(found(&app, &key, None, week).await, vec![old_id.clone()]);
    // By record time: it was recorded first, so only it is before `between`.
    assert_eq!(found(&app, &key, None, json!({ "createdAt": { "to": between } })).await, vec![old_id.clone()]);
    let after = found(&app, &key, None, json!({ "createdAt": { "from": between } })).await;
    assert_eq!(after, vec![moved.clone(), new.clone()]);
    // By account: only the transfer touched the reserve account.
    assert_eq!(found(&app, &key, None, json!({ "accountId": reserve })).await, vec![moved.clone()]);
    // Combined with another filter.
    let both = json!({ "createdAt": { "from": between }, "kind": "PAYMENT" });
    assert_eq!(found(&app, &app.token, Some(&m), both).await, vec![new]);

    // Failure: a range that ends before it starts, a bad account id, and a
    // range across every merchant (no index starts with a time).
    let backwards = json!({ "m": m, "f": { "createdAt": { "from": between, "to": between - Duration::days(1) } } });
    assert_eq!(code(&app.gql(SEARCH, backwards).await), "BAD_USER_INPUT");
    assert_eq!(code(&app.gql(SEARCH, json!({ "m": m, "f": { "accountId": "nope" } })).await), "BAD_USER_INPUT");
    let across = app.gql(SEARCH, json!({ "f": { "effectiveAt": { "from": between } } })).await;
    assert_eq!(code(&across), "FILTER_NOT_INDEXED", "{across}");
    // Another merchant's account finds nothing in this merchant's books.
    let other = app.merchant("Search Times Other").await;
    let theirs = app.open_reserve(&other, "t-res-2").await;
    assert!(found(&app, &key, None, json!({ "accountId": theirs })).await.is_empty());
}
