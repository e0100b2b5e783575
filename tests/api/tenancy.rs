//! Tenancy over the API: a merchant key sees and writes only its own merchant.
//! Another merchant's ids answer `NOT_FOUND` exactly like unknown ids, and no
//! nested field (a deal's counterparty, an entry's account, an account's
//! merchant...) carries another merchant's or the platform's ids to it.

use serde_json::{Value, json};

use crate::helpers::{TestApp, code, spawn_app};

/// The nil UUID: the platform's own pseudo-merchant.
const PLATFORM_MERCHANT: &str = "00000000-0000-0000-0000-000000000000";

/// What one merchant was given during setup.
struct Books {
    id: String,
    name: String,
    /// A `recordPayment` transaction.
    payment_txn: String,
    /// A payment authorized and captured in full.
    payment: String,
    /// The capture transaction of `payment`.
    capture_txn: String,
    /// A payout of its USD balance.
    payout: String,
    /// An account opened with `openAccount` (`reserve`, USD).
    opened_account: String,
    /// Its `available` USD account.
    available_account: String,
}

/// Merchants A and B with payments, a captured payment, a payout and an opened
/// account each; B also sold to C in a deal and has a payment still on hold.
struct World {
    app: TestApp,
    a: Books,
    b: Books,
    c: String,
    /// B's deal with C (B is the seller, C the counterparty).
    deal_txn: String,
    /// A payment of B authorized for 10.00 and captured for 4.00: 6.00 still held.
    b_held_payment: String,
    /// A's API key.
    a_key: String,
}

fn s(v: &Value) -> String {
    v.as_str().unwrap_or_else(|| panic!("expected a string, got {v}")).to_owned()
}

async fn record_payment(app: &TestApp, merchant: &str, gross: &str, currency: &str, key: &str) -> String {
    let body = app.pay(merchant, gross, None, currency, key).await;
    assert!(body.get("errors").is_none(), "recordPayment: {body}");
    s(&body["data"]["recordPayment"]["transaction"]["id"])
}

async fn available_account(app: &TestApp, merchant: &str) -> String {
    let data =
        app.ok("query($m: ID!) { merchant(id: $m) { accounts { id code asset } } }", json!({ "m": merchant })).await;
    let accounts = data["merchant"]["accounts"].as_array().expect("accounts");
    let acc = accounts
        .iter()
        .find(|a| a["code"] == "available" && a["asset"] == "USD")
        .unwrap_or_else(|| panic!("no available USD account: {data}"));
    s(&acc["id"])
}

/// Creates a merchant with a payment, a captured payment and an opened account
/// (its payout is made later, once all its USD has arrived).
async fn furnish(app: &TestApp, name: &str, tag: &str) -> Books {
    let id = app.merchant(name).await;
    let payment_txn = record_payment(app, &id, "10.00", "USD", &format!("{tag}-pay")).await;
    let payment = app.authorize(&id, "8.00", &format!("{tag}-auth")).await;
    let capture_txn = app.capture(&payment, None, &format!("{tag}-cap")).await;
    let opened_account = app.open_reserve(&id, &format!("{tag}-open")).await;
    let available_account = available_account(app, &id).await;
    Books {
        id,
        name: name.to_owned(),
        payment_txn,
        payment,
        capture_txn,
        payout: String::new(),
        opened_account,
        available_account,
    }
}

async fn world() -> World {
    let app = spawn_app().await;
    let mut a = furnish(&app, "Alpha Shop", "a").await;
    let mut b = furnish(&app, "Beta Shop", "b").await;
    let c = app.merchant("Gamma Shop").await;
    // B sells 1.00 EUR to C for 5.00 USD: a deal transaction of B with counterparty C.
    record_payment(&app, &b.id, "10.00", "EUR", "b-eur").await;
    record_payment(&app, &c, "50.00", "USD", "c-usd").await;
    let deal = app
        .ok(
            "mutation($i: RecordDealInput!) { recordDeal(input: $i) { transaction { id kind } } }",
            json!({ "i": { "sellerId": b.id, "buyerId": c, "idempotencyKey": "deal-bc",
                "buyerGives": [{ "amount": "5.00", "currency": "USD" }],
                "sellerGives": [{ "amount": "1.00", "currency": "EUR" }] } }),
        )
        .await;
    assert_eq!(deal["recordDeal"]["transaction"]["kind"], "DEAL", "{deal}");
    let deal_txn = s(&deal["recordDeal"]["transaction"]["id"]);
    a.payout = app.create_payout(&a.id, "a-payout").await;
    b.payout = app.create_payout(&b.id, "b-payout").await;
    let b_held_payment = app.authorize(&b.id, "10.00", "b-auth-2").await;
    app.capture(&b_held_payment, Some("4.00"), "b-cap-2").await;
    let a_key = app.merchant_key(&a.id).await;
    World { app, a, b, c, deal_txn, b_held_payment, a_key }
}

/// Every id the admin can see for `merchant`: the merchant, its accounts, its
/// transactions, payments and payouts, plus the platform accounts its
/// transactions touch (returned separately).
async fn ids_of(app: &TestApp, merchant: &str) -> (Vec<String>, Vec<String>) {
    let q = "query($m: ID!) { merchant(id: $m) { id accounts { id }
        transactions(first: 20) { edges { node { id entries { account { id platform } } } } }
        payments(first: 20) { edges { node { id } } }
        payouts(first: 20) { edges { node { id } } } } }";
    let data = app.ok(q, json!({ "m": merchant })).await;
    let m = &data["merchant"];
    let mut own = vec![s(&m["id"])];
    let mut platform = Vec::new();
    own.extend(m["accounts"].as_array().expect("accounts").iter().map(|a| s(&a["id"])));
    for edge in m["transactions"]["edges"].as_array().expect("transactions") {
        own.push(s(&edge["node"]["id"]));
        for entry in edge["node"]["entries"].as_array().expect("entries") {
            let acc = &entry["account"];
            if acc["platform"] == true {
                platform.push(s(&acc["id"]));
            } else {
                own.push(s(&acc["id"]));
            }
        }
    }
    for conn in ["payments", "payouts"] {
        own.extend(m[conn]["edges"].as_array().expect("edges").iter().map(|e| s(&e["node"]["id"])));
    }
    (own, platform)
}

/// Asserts `body` answered `field` with `NOT_FOUND` and a null value.
fn assert_not_found(body: &Value, field: &str, what: &str) {
    assert_eq!(code(body), "NOT_FOUND", "{what}: {body}");
    assert!(body["data"][field].is_null(), "{what}: data.{field} must be null: {body}");
}

#[tokio::test]
async fn merchant_key_gets_not_found_for_another_merchants_ids() {
    let w = world().await;
    let (app, a, b) = (&w.app, &w.a, &w.b);
    // query($id: ID!) { FIELD(id: $id) { SELECTION } }
    let by_id = |field: &str, selection: &str| format!("query($id: ID!) {{ {field}(id: $id) {{ {selection} }} }}");
    // query($id: ID!) { FIELD(ARG: $id, first: 10) { edges { node { id } } } }
    let list_by = |field: &str, arg: &str| {
        format!("query($id: ID!) {{ {field}({arg}: $id, first: 10) {{ edges {{ node {{ id }} }} }} }}")
    };
    // (label, query, field, B's id, A's own id)
    let cases: Vec<(&str, String, &str, &String, &String)> = vec![
        ("merchant", by_id("merchant", "id name"), "merchant", &b.id, &a.id),
        ("account (available)", by_id("account", "id code"), "account", &b.available_account, &a.available_account),
        ("account (opened)", by_id("account", "id code"), "account", &b.opened_account, &a.opened_account),
        ("transaction (payment)", by_id("transaction", "id kind"), "transaction", &b.payment_txn, &a.payment_txn),
        ("transaction (capture)", by_id("transaction", "id kind"), "transaction", &b.capture_txn, &a.capture_txn),
        ("transaction (deal)", by_id("transaction", "id kind"), "transaction", &w.deal_txn, &a.payment_txn),
        ("payment", by_id("payment", "id state"), "payment", &b.payment, &a.payment),
        ("payout", by_id("payout", "id state"), "payout", &b.payout, &a.payout),
        ("entries(accountId)", list_by("entries", "accountId"), "entries", &b.available_account, &a.available_account),
        ("payments(merchantId)", list_by("payments", "merchantId"), "payments", &b.id, &a.id),
        ("payouts(merchantId)", list_by("payouts", "merchantId"), "payouts", &b.id, &a.id),
    ];
    for (label, query, field, b_id, a_id) in &cases {
        // Control: the id exists (the admin sees it)...
        let admin = app.gql(query, json!({ "id": b_id })).await;
        assert!(admin.get("errors").is_none(), "{label}: admin must see B's id: {admin}");
        assert!(!admin["data"][field].is_null(), "{label}: admin must see B's id: {admin}");
        // ...and A's key reads its own.
        let own = app.gql_as(Some(&w.a_key), query, json!({ "id": a_id })).await;
        assert!(own.get("errors").is_none(), "{label}: A's key must see A's own id: {own}");
        assert!(!own["data"][field].is_null(), "{label}: A's key must see A's own id: {own}");
        // A's key on B's id: NOT_FOUND, data null, like an unknown id.
        let other = app.gql_as(Some(&w.a_key), query, json!({ "id": b_id })).await;
        assert_not_found(&other, field, &format!("{label} of B with A's key"));
        let unknown = app.gql_as(Some(&w.a_key), query, json!({ "id": uuid::Uuid::now_v7().to_string() })).await;
        assert_not_found(&unknown, field, &format!("{label} unknown id with A's key"));
    }
    // C's merchant id (A has nothing to do with C) answers the same.
    let c = app.gql_as(Some(&w.a_key), "query($id: ID!) { merchant(id: $id) { id } }", json!({ "id": w.c })).await;
    assert_not_found(&c, "merchant", "merchant C with A's key");
    // The platform's pseudo-merchant is not A's either.
    let p = app
        .gql_as(Some(&w.a_key), "query($id: ID!) { merchant(id: $id) { id } }", json!({ "id": PLATFORM_MERCHANT }))
        .await;
    assert_not_found(&p, "merchant", "platform merchant with A's key");
}

#[tokio::test]
async fn merchant_key_lists_and_searches_only_its_own_merchant() {
    let w = world().await;
    let (app, a, b) = (&w.app, &w.a, &w.b);
    let q = "query($s: String) { merchants(search: $s, first: 100) { edges { node { id name } } } }";
    let edges = |body: &Value| -> Vec<String> {
        assert!(body.get("errors").is_none(), "unexpected errors: {body}");
        body["data"]["merchants"]["edges"].as_array().expect("edges").iter().map(|e| s(&e["node"]["id"])).collect()
    };

    // Control: the admin finds B by name.
    assert_eq!(edges(&app.gql(q, json!({ "s": b.name })).await), vec![b.id.clone()]);

    let by_b_name = app.gql_as(Some(&w.a_key), q, json!({ "s": b.name })).await;
    assert!(edges(&by_b_name).is_empty(), "A's key must not find B by name: {by_b_name}");
    let by_b_id = app.gql_as(Some(&w.a_key), q, json!({ "s": b.id })).await;
    assert!(edges(&by_b_id).is_empty(), "A's key must not find B by id: {by_b_id}");
    let all = app.gql_as(Some(&w.a_key), q, json!({ "s": null })).await;
    assert_eq!(edges(&all), vec![a.id.clone()], "A's key lists only A: {all}");
    let shops = app.gql_as(Some(&w.a_key), q, json!({ "s": "Shop" })).await;
    assert_eq!(edges(&shops), vec![a.id.clone()], "a search matching A, B and C gives A's key only A: {shops}");
    let own = app.gql_as(Some(&w.a_key), q, json!({ "s": a.name })).await;
    assert_eq!(edges(&own), vec![a.id.clone()], "A's key finds itself: {own}");

    // And the other way round: B's key does not find A.
    let b_key = app.merchant_key(&b.id).await;
    let by_a_name = app.gql_as(Some(&b_key), q, json!({ "s": a.name })).await;
    assert!(edges(&by_a_name).is_empty(), "B's key must not find A by name: {by_a_name}");
}

/// A's own things, queried as deep as the limits allow, each query kept under
/// the complexity limit (lists counted at 20 per level).
const NESTED: [&str; 8] = [
    "query($a: ID!) { merchant(id: $a) { id name
        balances { asset posted { amount } pending { amount } available { amount } }
        accounts { id code platform merchant { id name } balance { posted { amount } pending { amount } available { amount } } } } }",
    "query($a: ID!) { merchant(id: $a) { transactions(first: 5) { edges { node {
        id kind merchant { id } counterparty { id name } payment { id merchant { id } } reverses { id } reversedBy { id }
        entries { id account { id code platform merchant { id } balance { posted { amount } } } } } } } } }",
    "query($a: ID!) { merchant(id: $a) { payments(first: 5) { edges { node { id state merchant { id }
        transactions { id kind merchant { id } counterparty { id } payment { id } } } } } } }",
    "query($a: ID!) { merchant(id: $a) { payouts(first: 5) { edges { node { id state merchant { id }
        coveredTransactions(first: 10) { id merchant { id } counterparty { id } }
        transactions { id merchant { id } } } } } } }",
    "query($t: ID!) { transaction(id: $t) { id kind merchant { id } counterparty { id } payment { id transactions { id } }
        entries { id account { id code platform merchant { id } balance { posted { amount } }
            entries(first: 5) { edges { node { id transaction { id merchant { id } } } } } } } } }",
    "query($p: ID!) { payment(id: $p) { id state merchant { id accounts { id } }
        transactions { id kind merchant { id } counterparty { id } payment { id } } } }",
    "query($acc: ID!) { account(id: $acc) { id code merchant { id } balance { posted { amount } } }
        entries(accountId: $acc, first: 10) { edges { node { id account { id } transaction { id merchant { id } counterparty { id }
            entries { account { id } } } } } } }",
    "query($po: ID!) { payout(id: $po) { id state merchant { id }
        coveredTransactions(first: 10) { id merchant { id } entries { account { id } } }
        transactions { id entries { account { id } } } } }",
];

#[tokio::test]
async fn nothing_of_another_merchant_leaks_through_nested_fields() {
    let w = world().await;
    let (app, a) = (&w.app, &w.a);

    // Everything that must never reach A's key: every id of B and of C, and
    // every platform account (and the platform merchant).
    let (a_ids, a_platform) = ids_of(app, &a.id).await;
    let (b_ids, b_platform) = ids_of(app, &w.b.id).await;
    let (c_ids, c_platform) = ids_of(app, &w.c).await;
    let mut forbidden: Vec<String> = b_ids.into_iter().chain(c_ids).collect();
    forbidden.extend(a_platform.iter().chain(&b_platform).chain(&c_platform).cloned());
    forbidden.push(PLATFORM_MERCHANT.to_owned());
    forbidden.extend([w.deal_txn.clone(), w.b_held_payment.clone(), w.b.payment.clone(), w.b.payout.clone()]);
    forbidden.sort();
    forbidden.dedup();
    assert!(!a_platform.is_empty(), "A's payments touch platform accounts (the test needs some)");
    for id in &a_ids {
        assert!(!forbidden.contains(id), "setup: A's id {id} is also B's, C's or the platform's");
    }

    let vars = json!({ "a": a.id, "t": a.capture_txn, "p": a.payment, "acc": a.available_account, "po": a.payout });
    let mut seen = String::new();
    for q in NESTED {
        let data = app.ok_as(Some(&w.a_key), q, vars.clone()).await;
        let text = data.to_string();
        for id in &forbidden {
            assert!(!text.contains(id.as_str()), "A's key saw foreign id {id} through\n{q}\n-> {text}");
        }
        seen.push_str(&text);
    }
    // Also the payment transaction and the captured payment's own transaction by id.
    for t in [&a.payment_txn, &a.capture_txn] {
        let data = app
            .ok_as(
                Some(&w.a_key),
                "query($t: ID!) { transaction(id: $t) { id merchant { id } counterparty { id } reverses { id } entries { account { id merchant { id } } transaction { id } } } }",
                json!({ "t": t }),
            )
            .await;
        let text = data.to_string();
        for id in &forbidden {
            assert!(!text.contains(id.as_str()), "A's key saw foreign id {id} in transaction {t}: {text}");
        }
        seen.push_str(&text);
    }

    // Positive control: A's key does see A's own things through the same queries.
    for own in [&a.id, &a.payment, &a.payment_txn, &a.capture_txn, &a.available_account, &a.opened_account, &a.payout] {
        assert!(seen.contains(own.as_str()), "A's key must see A's own {own}; got {seen}");
    }
    let pay = app
        .ok_as(
            Some(&w.a_key),
            "query($p: ID!) { payment(id: $p) { id state merchant { id } } }",
            json!({ "p": a.payment }),
        )
        .await;
    assert_eq!(pay["payment"]["id"], a.payment.as_str());
    assert_eq!(pay["payment"]["state"], "CAPTURED");
    assert_eq!(pay["payment"]["merchant"]["id"], a.id.as_str());
    let acc = app
        .ok_as(
            Some(&w.a_key),
            "query($id: ID!) { account(id: $id) { id balance { posted { amount } } } }",
            json!({ "id": a.available_account }),
        )
        .await;
    assert_eq!(acc["account"]["id"], a.available_account.as_str());
    // A platform account answers A's key like an unknown id, and an entry on one shows no account.
    let platform =
        app.gql_as(Some(&w.a_key), "query($id: ID!) { account(id: $id) { id } }", json!({ "id": a_platform[0] })).await;
    assert_not_found(&platform, "account", "platform account with A's key");
    let capture = app
        .ok_as(
            Some(&w.a_key),
            "query($t: ID!) { transaction(id: $t) { entries { account { id } } } }",
            json!({ "t": a.capture_txn }),
        )
        .await;
    let entries = capture["transaction"]["entries"].as_array().expect("entries");
    assert!(entries.iter().any(|e| e["account"]["id"] == a.available_account.as_str()), "{capture}");
    assert!(entries.iter().any(|e| e["account"].is_null()), "entries on platform accounts show null: {capture}");
}

#[tokio::test]
async fn a_deals_counterparty_is_hidden_from_a_key_that_is_not_it() {
    let w = world().await;
    let app = &w.app;
    // Control: the admin sees C as the counterparty of B's deal.
    let q = "query($t: ID!) { transaction(id: $t) { id kind counterparty { id } } }";
    let admin = app.ok(q, json!({ "t": w.deal_txn })).await;
    assert_eq!(admin["transaction"]["counterparty"]["id"], w.c.as_str());
    // B's key sees its own deal, but C is not B: the counterparty is null.
    let b_key = app.merchant_key(&w.b.id).await;
    let as_b = app.ok_as(Some(&b_key), q, json!({ "t": w.deal_txn })).await;
    assert_eq!(as_b["transaction"]["kind"], "DEAL", "{as_b}");
    assert!(as_b["transaction"]["counterparty"].is_null(), "B's key must not see C: {as_b}");
    assert!(!as_b.to_string().contains(w.c.as_str()), "{as_b}");
    // A's key: not its transaction at all.
    assert_not_found(
        &app.gql_as(Some(&w.a_key), q, json!({ "t": w.deal_txn })).await,
        "transaction",
        "deal with A's key",
    );
}

#[tokio::test]
async fn merchant_key_cannot_write_to_another_merchant_and_nothing_is_written() {
    let w = world().await;
    let (app, b) = (&w.app, &w.b);
    let payment_q = "query($p: ID!) { payment(id: $p) { state captured { amount } pending { amount } refunded { amount } voided { amount } } }";
    let before_payment = app.ok(payment_q, json!({ "p": w.b_held_payment })).await;
    let before_balances = app.balances(&b.id).await;
    let txns = app.count("transactions").await;
    let payments = app.count("payments").await;
    let payouts = app.count("payouts").await;
    let accounts = app.count("accounts").await;

    let usd = |a: &str| json!({ "amount": a, "currency": "USD" });
    // Whether A's key may call the field at all: the payment facts are
    // FORBIDDEN to every merchant key (see the authorization table); the rest
    // are A's to call, and B's ids answer NOT_FOUND.
    let writes: Vec<(&str, String, Value)> = vec![
        (
            "capturePayment",
            "mutation($i: CapturePaymentInput!) { capturePayment(input: $i) { payment { id } } }".into(),
            json!({ "paymentId": w.b_held_payment, "amount": usd("1.00"), "idempotencyKey": "x-cap" }),
        ),
        (
            "recordPayment",
            "mutation($i: RecordPaymentInput!) { recordPayment(input: $i) { transaction { id } } }".into(),
            json!({ "merchantId": b.id, "gross": usd("1.00"), "idempotencyKey": "x-pay" }),
        ),
        (
            "voidAuthorization",
            "mutation($i: VoidAuthorizationInput!) { voidAuthorization(input: $i) { payment { id } } }".into(),
            json!({ "paymentId": w.b_held_payment, "idempotencyKey": "x-void" }),
        ),
        (
            "refundPayment",
            "mutation($i: RefundPaymentInput!) { refundPayment(input: $i) { payment { id } } }".into(),
            json!({ "paymentId": b.payment, "amount": usd("1.00"), "idempotencyKey": "x-refund" }),
        ),
        (
            "authorizePayment",
            "mutation($i: AuthorizePaymentInput!) { authorizePayment(input: $i) { payment { id } } }".into(),
            json!({ "merchantId": b.id, "amount": usd("1.00"), "idempotencyKey": "x-auth" }),
        ),
        (
            "createPayout",
            "mutation($i: CreatePayoutInput!) { createPayout(input: $i) { payout { id } } }".into(),
            json!({ "merchantId": b.id, "asset": "EUR", "idempotencyKey": "x-payout" }),
        ),
        (
            "openAccount",
            "mutation($i: OpenAccountInput!) { openAccount(input: $i) { account { id } } }".into(),
            json!({ "merchantId": b.id, "code": "reserve2", "asset": "USD", "normalBalance": "CREDIT", "idempotencyKey": "x-open" }),
        ),
    ];
    for (field, q, input) in &writes {
        let body = app.gql_as(Some(&w.a_key), q, json!({ "i": input })).await;
        let what = format!("{field} on B with A's key");
        if ["capturePayment", "recordPayment", "voidAuthorization", "authorizePayment"].contains(field) {
            assert_eq!(code(&body), "FORBIDDEN", "{what}: {body}");
            assert!(body["data"][field].is_null(), "{what}: data.{field} must be null: {body}");
        } else {
            assert_not_found(&body, field, &what);
        }
    }

    assert_eq!(app.count("transactions").await, txns, "no transaction was written");
    assert_eq!(app.count("payments").await, payments, "no payment was written");
    assert_eq!(app.count("payouts").await, payouts, "no payout was written");
    assert_eq!(app.count("accounts").await, accounts, "no account was opened");
    assert_eq!(app.ok(payment_q, json!({ "p": w.b_held_payment })).await, before_payment, "B's payment is unchanged");
    assert_eq!(app.balances(&b.id).await, before_balances, "B's balances are unchanged");

    // Control: the same capture by the admin goes through (the refusal was
    // tenancy), with the same idempotency key: A's refused call left no record.
    let ok = app
        .gql(
            "mutation($i: CapturePaymentInput!) { capturePayment(input: $i) { payment { id } } }",
            json!({ "i": { "paymentId": w.b_held_payment, "amount": usd("1.00"), "idempotencyKey": "x-cap" } }),
        )
        .await;
    assert!(ok.get("errors").is_none(), "admin capture: {ok}");
    assert_eq!(app.count("transactions").await, txns + 1);
    app.assert_books_consistent().await;
}
