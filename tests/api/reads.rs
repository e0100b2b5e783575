//! The read path: nested fields load in batches (DataLoader), not one query per
//! row, and still show a merchant key nothing of anyone else.

use serde_json::json;

use crate::helpers::{TestApp, code, spawn_app, spawn_app_through_wire};
use crate::wire::{self, Message, Wire};

const NESTED: &str = "query($m: ID!) { merchant(id: $m) { transactions(first: 40) { edges { node { id merchant { name } entries { amount { amount } account { code merchant { name } } } } } } } }";

/// Statements that read or wrote rows while the server answered one request,
/// seen on the wire once the server has gone quiet after the arrangement.
async fn statements_for(app: &TestApp, wire: &Wire, token: &str, merchant: &str) -> (usize, serde_json::Value) {
    wire.quiet(std::time::Duration::from_millis(300)).await;
    let mark = wire.mark();
    let body = app.gql_as(Some(token), NESTED, json!({ "m": merchant })).await;
    (wire::statements(&wire::messages(&wire.since(mark))), body)
}

#[tokio::test]
async fn forty_transactions_with_entries_and_accounts_take_a_handful_of_queries() {
    // Arrange: 40 payments, 3 entries each, on 3 accounts of 2 owners.
    let (app, wire) = spawn_app_through_wire().await;
    let m = app.merchant("Reads Alpha").await;
    for i in 0..40 {
        app.pay(&m, "2.00", Some("0.20"), "USD", &format!("reads-{i}")).await;
    }

    // Act
    let (statements, body) = statements_for(&app, &wire, &app.token, &m).await;

    // Assert: 40 transactions, 120 entries, 120 account lookups and 160 merchant
    // lookups would be over 300 statements one by one; batched, a few per level.
    // On an idle machine it is about ten; on a loaded CI run DataLoader's 1 ms
    // window can split a level into several batches (26 and 27 seen), so the
    // bound is 40: still far from one by one.
    eprintln!("nested read of 40 transactions: {statements} statements");
    let edges = body["data"]["merchant"]["transactions"]["edges"].as_array().expect("edges");
    assert_eq!(edges.len(), 40, "{body}");
    assert!(edges.iter().all(|e| e["node"]["entries"].as_array().is_some_and(|x| x.len() == 3)));
    assert_eq!(edges[0]["node"]["entries"][1]["account"]["merchant"]["name"], "Reads Alpha");
    assert!(statements >= 3, "the wire saw {statements} statements: is the proxy counting?");
    assert!(statements <= 40, "nested fields ran {statements} statements; they should load in batches");
}

#[tokio::test]
async fn batched_loads_still_hide_the_platform_and_other_merchants_from_a_key() {
    // Arrange
    let (app, wire) = spawn_app_through_wire().await;
    let a = app.merchant("Reads Key").await;
    let b = app.merchant("Reads Other").await;
    let key_a = app.merchant_key(&a).await;
    app.pay(&a, "5.00", Some("0.50"), "USD", "reads-key-1").await;
    app.pay(&b, "5.00", Some("0.50"), "USD", "reads-key-2").await;

    // Act
    let (_, own) = statements_for(&app, &wire, &key_a, &a).await;
    let (_, other) = statements_for(&app, &wire, &key_a, &b).await;

    // Assert: the platform's accounts answer null to a merchant key; B is NOT_FOUND.
    let entries = own["data"]["merchant"]["transactions"]["edges"][0]["node"]["entries"].as_array().expect("entries");
    let codes: Vec<&serde_json::Value> = entries.iter().map(|e| &e["account"]).collect();
    assert_eq!(codes.iter().filter(|a| a.is_null()).count(), 2, "processor_clearing and fee_revenue hidden: {own}");
    assert!(codes.iter().any(|a| a["code"] == "available"));
    assert_eq!(code(&other), "NOT_FOUND");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn balance_reads_take_no_lock_and_read_the_balance_row_not_the_entries() {
    use sea_orm::{ConnectionTrait, TransactionTrait};
    let app = spawn_app().await;
    let m = app.merchant("Reads Lockless").await;
    app.pay(&m, "10.00", Some("1.00"), "USD", "lockless-1").await;
    assert_eq!(app.available(&m, "USD").await.as_deref(), Some("9.00"));

    // A writer holds every balance row's lock; a balance read still answers at once.
    let holder = app.db.begin().await.expect("begin");
    holder.execute_unprepared("SELECT * FROM balances FOR UPDATE").await.expect("lock balances");
    let read = tokio::time::timeout(std::time::Duration::from_secs(3), app.available(&m, "USD")).await;
    assert_eq!(read.expect("a balance read waited for a row lock").as_deref(), Some("9.00"));
    holder.rollback().await.expect("release");

    // The read comes from the balance row: move the row (not the entries) and
    // the read follows; summing entries would still say 9.00.
    let bump = "UPDATE balances SET credits_posted = credits_posted + 100 WHERE account_id IN \
                (SELECT id FROM accounts WHERE code = 'available')";
    app.db.execute_unprepared(bump).await.expect("bump");
    assert_eq!(app.available(&m, "USD").await.as_deref(), Some("10.00"));
    // verify sees the difference, and rebuilding from the entries restores it.
    let report = ledger_server::core::reports::verify(&app.db).await.expect("verify");
    assert!(!report.is_clean(), "verify missed a balance row that disagrees with its entries");
    ledger_server::core::reports::rebuild_balances(&app.db).await.expect("rebuild");
    assert_eq!(app.available(&m, "USD").await.as_deref(), Some("9.00"));
    app.assert_books_consistent().await;
}

#[tokio::test]
async fn an_accounts_entry_pages_come_from_the_account_sequence_index() {
    use sea_orm::{ConnectionTrait, Statement, TransactionTrait};
    let app = spawn_app().await;
    let m = app.merchant("Reads Indexed").await;
    for i in 0..30 {
        app.pay(&m, "1.00", None, "USD", &format!("indexed-{i}")).await;
    }
    // The shape `store::transactions::entries_page` sends. The planner would
    // scan a table this small; disabling sequential scans shows what it does
    // on a large one: walk the index in order, with no sort.
    let explain = app.db.begin().await.expect("begin");
    explain.execute_unprepared("SET LOCAL enable_seqscan = off").await.expect("set");
    let plan = explain
        .query_all_raw(Statement::from_string(
            app.db.get_database_backend(),
            "EXPLAIN SELECT * FROM entries WHERE account_id = \
             (SELECT id FROM accounts WHERE code = 'available' LIMIT 1) AND seq > 5 ORDER BY seq LIMIT 20"
                .to_owned(),
        ))
        .await
        .expect("explain");
    explain.rollback().await.expect("rollback");
    let text: Vec<String> = plan.iter().map(|r| r.try_get_by_index::<String>(0).expect("plan line")).collect();
    let text = text.join("\n");
    assert!(text.contains("entries_account_seq_idx"), "entry pages do not use (account_id, seq):\n{text}");
    assert!(!text.contains("Sort"), "entry pages are sorted after reading:\n{text}");
    // And the page itself: 20 entries after the 5th, in order, then the rest.
    let q = "query($m: ID!) { merchant(id: $m) { accounts { code entries(first: 20) { edges { node { sequence } } pageInfo { hasNextPage endCursor } } } } }";
    let data = app.ok(q, json!({ "m": m })).await;
    let available = data["merchant"]["accounts"]
        .as_array()
        .expect("accounts")
        .iter()
        .find(|a| a["code"] == "available")
        .expect("available account")
        .clone();
    assert_eq!(available["entries"]["edges"].as_array().map(Vec::len), Some(20));
    assert_eq!(available["entries"]["pageInfo"]["hasNextPage"], true);
    assert_eq!(code(&app.gql(q, json!({ "m": "not-an-id" })).await), "BAD_USER_INPUT");
}

/// A pool of one connection on `app`'s database: a connection handed back
/// inside a transaction is then the one every later begin gets.
async fn one_connection(app: &TestApp) -> sea_orm::DatabaseConnection {
    let mut opts = sea_orm::ConnectOptions::new(app.database_url.clone());
    opts.max_connections(1).sqlx_logging(false);
    sea_orm::Database::connect(opts).await.expect("pool")
}

/// Sessions of `app`'s database idle inside a transaction, once the pool
/// has had up to five seconds (a loaded machine) to end what it should: a pooled connection
/// handed back with its transaction still open.
async fn left_in_a_transaction(app: &TestApp) -> i64 {
    use sea_orm::{ConnectionTrait, Statement};
    let mut n = 0;
    for _ in 0..250 {
        let row = app
            .db
            .query_one_raw(Statement::from_string(
                app.db.get_database_backend(),
                "SELECT COUNT(*) AS n FROM pg_stat_activity WHERE datname = current_database() \
                 AND state LIKE 'idle in transaction%'",
            ))
            .await
            .expect("pg_stat_activity")
            .expect("a row");
        n = row.try_get("", "n").expect("count");
        if n == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    n
}

/// Gives a begin up at once: a timeout of zero polls it once, which takes
/// the connection and sends BEGIN, then drops it, as a request is dropped
/// when its client disconnects.
async fn give_up<T>(begin: impl std::future::Future<Output = T>) {
    let _ = tokio::time::timeout(std::time::Duration::ZERO, begin).await;
}

#[tokio::test]
async fn a_read_given_up_while_it_begins_leaves_no_connection_inside_a_transaction() {
    // Arrange
    use sea_orm::ConnectionTrait;
    let app = spawn_app().await;
    let pool = one_connection(&app).await;

    // Act and assert: 100 times, begin a read and give up on it; the
    // connection comes back with no transaction open, and the next read on
    // it begins afresh (SET TRANSACTION, its first statement, would fail
    // inside an older transaction).
    for i in 0..100 {
        give_up(ledger_server::core::posting::testing::begin_read(&pool)).await;
        assert_eq!(left_in_a_transaction(&app).await, 0, "attempt {i}: the connection stayed inside a transaction");
        let txn = ledger_server::core::posting::testing::begin_read(&pool).await.expect("a fresh read transaction");
        txn.execute_unprepared("SELECT 1").await.expect("a statement");
        txn.commit().await.expect("commit");
    }
    pool.close().await.ok();
}

#[tokio::test]
async fn a_read_session_given_up_at_any_point_leaves_no_connection_inside_a_transaction() {
    // Arrange: a pool of one connection, so every session needs the
    // connection the one before it gave back.
    use ledger_server::core::access::rules::Tenant;
    use ledger_server::core::{Reads, merchants};
    use ledger_server::domain::MerchantId;
    let app = spawn_app().await;
    let m = app.merchant("Reads Given Up").await;
    let id = MerchantId(m.parse().expect("a merchant id"));
    let pool = one_connection(&app).await;

    // Act and assert: give the first statement up after ever more time
    // (before it is sent, while it is in flight, after its answer); the
    // connection comes back outside any transaction and the next session on
    // it reads.
    for i in 0..60u64 {
        let reads = Reads::begin(&pool, Tenant::Merchant(id)).await.expect("a session");
        let _ = tokio::time::timeout(std::time::Duration::from_micros(i * 100), merchants::find(&reads, id)).await;
        drop(reads);
        assert_eq!(left_in_a_transaction(&app).await, 0, "attempt {i}: the connection stayed inside a transaction");
        let reads = Reads::begin(&pool, Tenant::Merchant(id)).await.expect("a session");
        let found = merchants::find(&reads, id).await.expect("the next session reads");
        assert_eq!(found.map(|f| f.name), Some("Reads Given Up".to_owned()), "attempt {i}");
        reads.finish().await;
    }
    pool.close().await.ok();
}

#[tokio::test]
#[ignore = "pins sqlx's behaviour, and whether a zero timeout catches BEGIN in flight depends on the machine's timing; \
            run with --ignored when upgrading sqlx"]
async fn sqlxs_own_begin_given_up_the_same_way_does_leave_a_connection_inside_a_transaction() {
    // The library behaviour `core::db::begin` guards against, shown so the
    // test above is known to be able to fail: sea-orm's `begin` (sqlx 0.9),
    // given up the same way, hands its connection back inside a transaction.
    // If a later sqlx stops doing so, this test fails and the guard can go.
    // Not run by default: a zero timeout may give up before the pool hands
    // over the connection, and then nothing leaks, so on another machine it
    // could fail without sqlx having changed.
    use sea_orm::TransactionTrait;
    let app = spawn_app().await;
    let pool = one_connection(&app).await;
    let mut leaked = false;
    for _ in 0..100 {
        give_up(pool.begin()).await;
        if left_in_a_transaction(&app).await > 0 {
            leaked = true;
            break;
        }
    }
    assert!(leaked, "sqlx's begin no longer leaves a cancelled transaction open: core::db::begin's task can go");
    pool.close().await.ok();
}

/// Lets the server finish what it does after answering (a read session's
/// `ROLLBACK`, the pool's check of the connection it gets back).
async fn settle() {
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
}

/// Sends `query` as `key` `warm` times (so the key is remembered and the
/// pool warm), then once more; returns that last answer and every message
/// the wire saw for it, including what the server sent after answering.
async fn read_on_the_wire(
    app: &TestApp,
    wire: &Wire,
    key: &str,
    query: &str,
    variables: serde_json::Value,
    warm: usize,
) -> (serde_json::Value, Vec<(usize, Message)>) {
    for _ in 0..warm {
        app.ok_as(Some(key), query, variables.clone()).await;
    }
    settle().await;
    let mark = wire.mark();
    let body = app.ok_as(Some(key), query, variables).await;
    settle().await;
    (body, wire.since(mark))
}

#[tokio::test]
async fn a_merchants_balance_read_takes_a_few_statements_and_none_of_them_per_account() {
    // Arrange: a merchant with balances in two currencies and its own key.
    let (app, wire) = spawn_app_through_wire().await;
    let m = app.merchant("Reads Few").await;
    app.pay(&m, "10.00", Some("1.00"), "USD", "few-1").await;
    app.pay(&m, "20.00", None, "EUR", "few-2").await;
    let key = app.merchant_key(&m).await;
    let query = "query($m: ID!) { merchant(id: $m) { balances { asset posted { amount } available { amount } } } }";

    // Act: the read, once the key is remembered.
    let (body, seen) = read_on_the_wire(&app, &wire, &key, query, json!({ "m": m }), 1).await;

    // Assert: four statements: the merchant, its accounts with their
    // balance rows (one statement; two before issue 18), its expired holds
    // and its reserves. Not one per account or per asset.
    assert_eq!(body["merchant"]["balances"].as_array().map(Vec::len), Some(2), "{body}");
    let tenant = format!("ledger.tenant = '{m}'");
    let session = wire::connection_that_sent(&seen, &tenant);
    let spent = wire::statements(&session);
    assert!((1..=4).contains(&spent), "a balance read ran {spent} statements: {session:?}");
    // All of them in one snapshot: one BEGIN, with the first statement in
    // its message; the rest prepared, one round trip each; then the
    // ROLLBACK and the pool's check of the connection.
    let opened: Vec<String> =
        wire::simple_queries(&wire::messages(&seen)).into_iter().filter(|q| q.contains(&tenant)).collect();
    assert_eq!(opened.len(), 1, "{opened:?}");
    assert!(opened[0].contains("REPEATABLE READ") && opened[0].contains("SELECT"), "{opened:?}");
    assert_eq!(wire::executes(&session), spent - 1, "{session:?}");
    assert_eq!(wire::round_trips(&session), wire::round_trips_besides_statements(&session) + spent, "{session:?}");
    // A wrong id is still NOT_FOUND for the key, in as few.
    let other = app.merchant("Reads Few Other").await;
    assert_eq!(code(&app.gql_as(Some(&key), query, json!({ "m": other })).await), "NOT_FOUND");
}

#[tokio::test]
async fn a_single_statement_read_waits_for_one_round_trip_with_its_begin_and_tenant_in_the_same_message() {
    // Arrange: a merchant key, remembered, and a read of one statement.
    let (app, wire) = spawn_app_through_wire().await;
    let m = app.merchant("Reads One Trip").await;
    let key = app.merchant_key(&m).await;
    let query = "query($m: ID!) { merchant(id: $m) { name } }";

    // Act
    let (body, seen) = read_on_the_wire(&app, &wire, &key, query, json!({ "m": m }), 3).await;

    // Assert: one message carried the BEGIN, the tenant and the statement,
    // and one ReadyForQuery answered it; the ROLLBACK and the pool's check
    // came after the session ended. Nothing was prepared.
    assert_eq!(body["merchant"]["name"], "Reads One Trip", "{body}");
    let session = wire::connection_that_sent(&seen, &format!("ledger.tenant = '{m}'"));
    let sent: Vec<&Message> = session.iter().filter(|m| matches!(m, Message::Sent(..))).collect();
    assert_eq!(wire::statements(&session), 1, "{session:?}");
    assert_eq!(wire::executes(&session), 0, "{session:?}");
    let queries = wire::simple_queries(&session);
    assert_eq!(queries.len(), 2, "{session:?}");
    assert!(queries[0].starts_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY;"), "{queries:?}");
    assert!(queries[0].contains(&format!("SET LOCAL ledger.tenant = '{m}'")), "{queries:?}");
    assert!(queries[0].contains("SELECT"), "{queries:?}");
    assert_eq!(queries[1], "ROLLBACK", "{queries:?}");
    let opening = session
        .iter()
        .position(|m| matches!(m, Message::Sent('Q', Some(q)) if q.starts_with("BEGIN")))
        .expect("the opening message");
    let answer =
        opening + session[opening..].iter().position(|m| matches!(m, Message::Received('Z', _))).expect("an answer");
    assert_eq!(
        session[opening..answer].iter().filter(|m| matches!(m, Message::Sent(..))).count(),
        1,
        "the statement waited for more than one message: {sent:?}"
    );
    assert_eq!(wire::round_trips(&session), wire::round_trips_besides_statements(&session) + 1, "{session:?}");

    // A read that fails (another merchant's id for this key) changes nothing
    // and leaves no transaction open on the connection it used.
    let other = app.merchant("Reads One Trip Other").await;
    assert_eq!(code(&app.gql_as(Some(&key), query, json!({ "m": other })).await), "NOT_FOUND");
    assert_eq!(left_in_a_transaction(&app).await, 0, "a read session left its transaction open");
}

#[tokio::test]
async fn values_written_into_the_first_statement_read_as_their_prepared_form_would() {
    // Arrange: text with quotes and a backslash in the merchant's name and in
    // a payment's external reference, read back through the first statement
    // of a session (values written in) and through later ones (prepared).
    let app = spawn_app().await;
    let name = r"O'Brien \ Sons 'n' \x27 $1";
    let m = app.merchant(name).await;
    let key = app.merchant_key(&m).await;

    // Act: the merchant alone (one statement, inlined), then with its
    // balances (later statements prepared).
    let alone = app.ok_as(Some(&key), "query($m: ID!) { merchant(id: $m) { name } }", json!({ "m": m })).await;
    let search = app
        .ok_as(
            Some(&app.token),
            "query($q: String!) { merchants(search: $q, first: 5) { edges { node { id name } } } }",
            json!({ "q": name }),
        )
        .await;

    // Assert
    assert_eq!(alone["merchant"]["name"], name, "{alone}");
    let found = search["merchants"]["edges"].as_array().expect("edges");
    assert!(found.iter().any(|e| e["node"]["id"] == m.as_str()), "{search}");
}
