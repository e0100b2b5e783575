//! An account at any point of its history (issue 19): `Account.balance(asOf:)`
//! by sequence, effective time and knowledge time, posted and pending; and
//! `Account.statement(from, to)` with its CSV download.

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use crate::helpers::{TestApp, code, paid_account, spawn_app};

const AT: &str = "query($a: ID!, $at: BalanceAsOf) { account(id: $a) { balance(asOf: $at) { \
    posted { amount } pending { amount } available { amount } } } }";

/// The account's (posted, pending, available) at `at` (now when null), as decimal strings.
async fn at(app: &TestApp, account: &str, at: Value) -> (String, String, String) {
    let b = app.ok(AT, json!({ "a": account, "at": at })).await["account"]["balance"].clone();
    let s = |k: &str| b[k]["amount"].as_str().expect("amount").to_owned();
    (s("posted"), s("pending"), s("available"))
}

fn triple(posted: &str, pending: &str, available: &str) -> (String, String, String) {
    (posted.to_owned(), pending.to_owned(), available.to_owned())
}

/// Records a USD payment of `gross`, effective at `effective` (now when
/// `None`); returns the response's transaction (`id sequence createdAt` and
/// the entries' accounts).
async fn paid(app: &TestApp, merchant: &str, gross: &str, effective: Option<DateTime<Utc>>, key: &str) -> Value {
    let body = app
        .gql(
            "mutation($i: RecordPaymentInput!) { recordPayment(input: $i) { transaction { id sequence createdAt \
               entries { account { id code } } } } }",
            json!({ "i": { "merchantId": merchant, "gross": { "amount": gross, "currency": "USD" },
                    "effectiveAt": effective, "idempotencyKey": key } }),
        )
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    body
}

fn created(body: &Value) -> DateTime<Utc> {
    body["data"]["recordPayment"]["transaction"]["createdAt"].as_str().expect("createdAt").parse().expect("time")
}

fn midpoint(a: DateTime<Utc>, b: DateTime<Utc>) -> DateTime<Utc> {
    a + (b - a) / 2
}

#[tokio::test]
async fn a_balance_as_of_a_sequence_a_value_date_or_a_knowledge_time_counts_what_the_books_held_then() {
    // Arrange: a payment now; a second one recorded later but backdated 30
    // days; an authorization that holds 20.00 and is then voided.
    let app = spawn_app().await;
    let m = app.merchant("History").await;
    let before_all = Utc::now() - Duration::milliseconds(5);
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let first = paid(&app, &m, "100.00", None, "h-1").await;
    let available = paid_account(&first, "available");
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let backdated = paid(&app, &m, "50.00", Some(Utc::now() - Duration::days(30)), "h-2").await;
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let payment = app.authorize(&m, "20.00", "h-auth").await;
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let while_held = Utc::now();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    app.ok(
        "mutation($i: VoidAuthorizationInput!) { voidAuthorization(input: $i) { payment { id } } }",
        json!({ "i": { "paymentId": payment, "idempotencyKey": "h-void" } }),
    )
    .await;
    let (c1, c2) = (created(&first), created(&backdated));
    let seq1 = first["data"]["recordPayment"]["transaction"]["sequence"].as_i64().expect("sequence");

    // Act and assert: before the first posting, nothing.
    assert_eq!(at(&app, &available, json!({ "knownAt": before_all })).await, triple("0.00", "0.00", "0.00"));
    assert_eq!(
        at(&app, &available, json!({ "effectiveAt": Utc::now() - Duration::days(40) })).await,
        triple("0.00", "0.00", "0.00")
    );
    assert_eq!(at(&app, &available, json!({ "sequence": 0 })).await, triple("0.00", "0.00", "0.00"));
    // By sequence: after the first transaction of the merchant's journal.
    assert_eq!(at(&app, &available, json!({ "sequence": seq1 })).await, triple("100.00", "100.00", "100.00"));
    // Knowledge time between the two postings: the backdated one was not yet recorded.
    assert_eq!(
        at(&app, &available, json!({ "knownAt": midpoint(c1, c2) })).await,
        triple("100.00", "100.00", "100.00")
    );
    // Value date 20 days ago: only the backdated payment was effective then.
    let twenty_days_ago = json!({ "effectiveAt": Utc::now() - Duration::days(20) });
    assert_eq!(at(&app, &available, twenty_days_ago).await, triple("50.00", "50.00", "50.00"));
    // While the authorization held 20.00: pending counts it, available does not.
    assert_eq!(at(&app, &available, json!({ "knownAt": while_held })).await, triple("150.00", "170.00", "150.00"));
    // After the void released it, and now: the current balance row agrees.
    let now = at(&app, &available, json!({ "knownAt": Utc::now() })).await;
    assert_eq!(now, triple("150.00", "150.00", "150.00"));
    assert_eq!(at(&app, &available, Value::Null).await, now);
    // `time` is the value date, as before.
    assert_eq!(
        at(&app, &available, json!({ "time": Utc::now() - Duration::days(20) })).await,
        triple("50.00", "50.00", "50.00")
    );
    // The platform's side in the merchant's books balances it.
    let clearing = paid_account(&first, "processor_clearing");
    assert_eq!(at(&app, &clearing, json!({ "knownAt": midpoint(c1, c2) })).await.0, "100.00");

    // Failure: two points at once, and another merchant's key.
    let both = app.gql(AT, json!({ "a": available, "at": { "sequence": 1, "knownAt": Utc::now() } })).await;
    assert_eq!(code(&both), "GRAPHQL_VALIDATION_FAILED", "one point only: {both}");
    let other = app.merchant("History Other").await;
    let key = app.merchant_key(&other).await;
    let body = app.gql_as(Some(&key), AT, json!({ "a": available, "at": { "sequence": 1 } })).await;
    assert!(body["data"]["account"].is_null(), "another merchant's account is not found: {body}");
}

const STATEMENT: &str = "query($a: ID!, $f: DateTime!, $t: DateTime!) { account(id: $a) { statement(from: $f, to: $t) { \
    opening { posted { amount } pending { amount } } closing { posted { amount } pending { amount } } \
    entries { direction layer effectiveAt amount { amount } transactionId } } } }";

#[tokio::test]
async fn a_statement_opens_lists_its_entries_and_closes_at_the_sum_and_downloads_as_csv() {
    // Arrange: payments effective 10, 5 and 1 days ago, and a payout today.
    let app = spawn_app().await;
    let m = app.merchant("Statement").await;
    let now = Utc::now();
    let first = paid(&app, &m, "10.00", Some(now - Duration::days(10)), "st-1").await;
    let available = paid_account(&first, "available");
    paid(&app, &m, "20.00", Some(now - Duration::days(5)), "st-2").await;
    paid(&app, &m, "30.00", Some(now - Duration::days(1)), "st-3").await;
    app.ok(
        "mutation($i: RecordPayoutInput!) { recordPayout(input: $i) { transaction { id } } }",
        crate::helpers::payout_input(&m, "15.00", "st-out"),
    )
    .await;
    let (from, to) = (now - Duration::days(7), now + Duration::hours(1));

    // Act
    let s = app.ok(STATEMENT, json!({ "a": available, "f": from, "t": to })).await["account"]["statement"].clone();

    // Assert: opening 10.00 (effective before `from`), the 20.00, 30.00 and
    // the payout's −15.00 in order, closing 45.00 = 10 + 20 + 30 − 15.
    assert_eq!(s["opening"]["posted"]["amount"], "10.00");
    let entries = s["entries"].as_array().expect("entries");
    let listed: Vec<(&str, &str)> = entries
        .iter()
        .map(|e| (e["direction"].as_str().expect("d"), e["amount"]["amount"].as_str().expect("a")))
        .collect();
    assert_eq!(listed, [("CREDIT", "20.00"), ("CREDIT", "30.00"), ("DEBIT", "15.00")]);
    assert_eq!(s["closing"]["posted"]["amount"], "45.00");
    let closing_then = at(&app, &available, json!({ "effectiveAt": to - Duration::microseconds(1) })).await;
    assert_eq!(closing_then.0, "45.00", "the closing balance is the balance at the period's end");
    // An empty period opens and closes at the same balance.
    let empty = app
        .ok(STATEMENT, json!({ "a": available, "f": now - Duration::days(4), "t": now - Duration::days(3) }))
        .await["account"]["statement"]
        .clone();
    assert_eq!((empty["opening"]["posted"]["amount"].clone(), empty["entries"].clone()), (json!("30.00"), json!([])));
    assert_eq!(empty["closing"], empty["opening"]);

    // The CSV: a header, the opening, three entries with running balances, the closing.
    let url = format!("{}/accounts/{available}/statement.csv", app.base);
    let res = app
        .http
        .get(&url)
        .bearer_auth(&app.token)
        .query(&[("from", from.to_rfc3339()), ("to", to.to_rfc3339())])
        .send()
        .await
        .expect("csv");
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/csv; charset=utf-8");
    let text = res.text().await.expect("body");
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = reader.headers().expect("header").iter().map(str::to_owned).collect();
    let col = |name: &str| header.iter().position(|h| h == name).expect("column");
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("row")).collect();
    let kinds: Vec<&str> = rows.iter().map(|r| &r[col("row")]).collect();
    assert_eq!(kinds, ["opening", "entry", "entry", "entry", "closing"], "{text}");
    let running: Vec<&str> = rows.iter().map(|r| &r[col("posted")]).collect();
    assert_eq!(running, ["10.00", "30.00", "60.00", "45.00", "45.00"], "{text}");
    assert_eq!(&rows[3][col("change")], "-15.00");

    // Failure: an end before the start, a missing bound, no token, another merchant's key.
    let backwards = app.gql(STATEMENT, json!({ "a": available, "f": to, "t": from })).await;
    assert_eq!(code(&backwards), "STATEMENT_RANGE_INVALID", "{backwards}");
    let status = |req: reqwest::RequestBuilder| async move { req.send().await.expect("send").status().as_u16() };
    let q = [("from", to.to_rfc3339()), ("to", from.to_rfc3339())];
    assert_eq!(status(app.http.get(&url).bearer_auth(&app.token).query(&q)).await, 400);
    assert_eq!(status(app.http.get(&url).bearer_auth(&app.token).query(&[("from", from.to_rfc3339())])).await, 400);
    assert_eq!(status(app.http.get(&url).query(&[("from", from.to_rfc3339()), ("to", to.to_rfc3339())])).await, 401);
    let stranger = app.merchant("Statement Other").await;
    let key = app.merchant_key(&stranger).await;
    let q = [("from", from.to_rfc3339()), ("to", to.to_rfc3339())];
    assert_eq!(status(app.http.get(&url).bearer_auth(&key).query(&q)).await, 404);
}
