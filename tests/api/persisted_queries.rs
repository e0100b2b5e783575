//! Automatic persisted queries (Apollo's protocol) on the real server: a
//! client sends a query's SHA-256 and, only when the server asks, its text
//! once; the caller's key and scopes apply to a persisted query as to any.

use serde_json::{Value, json};
use sha2::Digest;

use crate::helpers::{code, spawn_app};

const BALANCES: &str = "query($m: ID!) { merchant(id: $m) { balances { asset available { amount currency } } } }";

const PAY: &str = "mutation($i: RecordPaymentInput!) { recordPayment(input: $i) { transaction { id } } }";

fn sha256(text: &str) -> String {
    format!("{:x}", sha2::Sha256::digest(text.as_bytes()))
}

/// A request body that names the query by `hash`, with `text` when given.
fn persisted(hash: &str, text: Option<&str>, variables: Value) -> Value {
    let mut body =
        json!({ "variables": variables, "extensions": { "persistedQuery": { "version": 1, "sha256Hash": hash } } });
    if let Some(text) = text {
        body["query"] = Value::String(text.to_owned());
    }
    body
}

#[tokio::test]
async fn a_query_sent_once_runs_by_its_hash_for_any_caller_allowed_to_run_it() {
    let app = spawn_app().await;
    let m = app.merchant("Persisted").await;
    app.pay(&m, "10.00", Some("1.00"), "USD", "apq-pay-1").await;
    let key = app.merchant_key(&m).await;
    let hash = sha256(BALANCES);

    // The server does not hold it yet: Apollo's error, by message and code.
    let first = app.post_raw(Some(&key), persisted(&hash, None, json!({ "m": m }))).await;
    assert_eq!(first.body["errors"][0]["message"], "PersistedQueryNotFound", "{}", first.body);
    assert_eq!(code(&first.body), "PERSISTED_QUERY_NOT_FOUND");

    // Sent with its text once, then by hash alone, with other variables too.
    let sent = app.post_raw(Some(&key), persisted(&hash, Some(BALANCES), json!({ "m": m }))).await;
    assert!(sent.body.get("errors").is_none(), "{}", sent.body);
    let again = app.post_raw(Some(&key), persisted(&hash, None, json!({ "m": m }))).await;
    assert_eq!(again.body["data"]["merchant"]["balances"][0]["available"]["amount"], "9.00", "{}", again.body);

    // Another merchant's id through the same persisted query: NOT_FOUND, as ever.
    let other = app.merchant("Persisted Other").await;
    let foreign = app.post_raw(Some(&key), persisted(&hash, None, json!({ "m": other }))).await;
    assert_eq!(code(&foreign.body), "NOT_FOUND", "{}", foreign.body);
    // No token: refused, though the document is known.
    let anonymous = app.post_raw(None, persisted(&hash, None, json!({ "m": m }))).await;
    assert_eq!(code(&anonymous.body), "UNAUTHENTICATED", "{}", anonymous.body);
}

#[tokio::test]
async fn a_text_that_does_not_match_its_hash_or_is_too_long_is_refused_and_writes_nothing() {
    let app = spawn_app().await;
    let m = app.merchant("Persisted Writes").await;
    let input = json!({ "i": { "merchantId": m, "gross": { "amount": "5.00", "currency": "USD" }, "idempotencyKey": "apq-w-1" } });

    // A mutation sent under another text's hash does not run.
    let wrong = app.post_raw(Some(&app.token), persisted(&sha256(BALANCES), Some(PAY), input.clone())).await;
    assert!(messages_of(&wrong.body).contains("does not match"), "{}", wrong.body);
    assert_eq!(app.count("transactions").await, 0);

    // An unknown version is refused.
    let mut v2 = persisted(&sha256(PAY), Some(PAY), input.clone());
    v2["extensions"]["persistedQuery"]["version"] = json!(2);
    assert!(app.post_raw(Some(&app.token), v2).await.body.get("errors").is_some());

    // A text longer than the cache keeps: refused before it is parsed.
    let long = format!("{PAY} #{}", "x".repeat(ledger_server::graphql::documents::MAX_CACHED_QUERY_BYTES));
    let refused = app.post_raw(Some(&app.token), persisted(&sha256(&long), Some(&long), input.clone())).await;
    assert_eq!(code(&refused.body), "PERSISTED_QUERY_TOO_LARGE", "{}", refused.body);
    assert_eq!(app.count("transactions").await, 0);

    // The same mutation, sent properly, runs once; by hash, it replays.
    let ok = app.post_raw(Some(&app.token), persisted(&sha256(PAY), Some(PAY), input.clone())).await;
    assert!(ok.body.get("errors").is_none(), "{}", ok.body);
    let replay = app.post_raw(Some(&app.token), persisted(&sha256(PAY), None, input)).await;
    assert_eq!(
        replay.body["data"]["recordPayment"]["transaction"]["id"],
        ok.body["data"]["recordPayment"]["transaction"]["id"]
    );
    assert_eq!(app.count("transactions").await, 1);
}

fn messages_of(body: &Value) -> String {
    body["errors"].as_array().into_iter().flatten().filter_map(|e| e["message"].as_str()).collect::<Vec<_>>().join("; ")
}
