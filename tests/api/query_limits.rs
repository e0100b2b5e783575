//! What one GraphQL document may ask for: nesting depth, complexity, aliased
//! mutations and JSON-array batches are refused before anything executes or
//! is written, and a document just inside each limit is still answered.

use serde_json::{Value, json};

use crate::helpers::{ME, code, messages, spawn_app, txn_id};

#[tokio::test]
async fn deep_queries_are_refused() {
    let app = spawn_app().await;
    let deep = "{ merchants { edges { node { transactions { edges { node { entries { account { merchant { transactions { edges { node { id } } } } } } } } } } } } }";
    let body = app.gql(deep, json!({})).await;
    assert_eq!(code(&body), "GRAPHQL_VALIDATION_FAILED", "{body}");
}

#[tokio::test]
async fn a_query_twenty_levels_deep_is_refused() {
    let app = spawn_app().await;
    let m = app.merchant("Deep").await;
    let t = txn_id(&app.pay(&m, "1.00", None, "USD", "p").await);
    let nest = |levels: usize| {
        format!(
            "query($t: ID!) {{ transaction(id: $t) {{ {} id {} }} }}",
            "reverses { ".repeat(levels),
            "} ".repeat(levels)
        )
    };
    // Control: a shallow chain of the same field is answered.
    let shallow = app.gql(&nest(4), json!({ "t": t })).await;
    assert!(shallow.get("errors").is_none(), "{shallow}");
    assert_eq!(shallow["data"]["transaction"]["reverses"], Value::Null);
    let deep = app.gql(&nest(19), json!({ "t": t })).await;
    assert_eq!(code(&deep), "GRAPHQL_VALIDATION_FAILED", "{deep}");
    assert!(deep["data"].is_null(), "nothing is executed: {deep}");
}

#[tokio::test]
async fn a_query_costing_more_than_the_complexity_limit_is_refused() {
    let app = spawn_app().await;
    let q = |n: u32| {
        format!(
            "{{ merchants(first: {n}) {{ edges {{ node {{ transactions(first: {n}) {{ edges {{ node {{ id }} }} }} }} }} }} }}"
        )
    };
    let cheap = app.gql(&q(10), json!({})).await;
    assert!(cheap.get("errors").is_none(), "{cheap}");
    let costly = app.gql(&q(100), json!({})).await;
    assert_eq!(code(&costly), "GRAPHQL_VALIDATION_FAILED", "{costly}");
}

#[tokio::test]
async fn two_hundred_aliased_mutations_are_refused_and_write_nothing() {
    let app = spawn_app().await;
    let m = app.merchant("Aliased").await;
    let alias = |i: usize| {
        format!(
            " m{i}: recordPayment(input: {{merchantId: \"{m}\", gross: {{amount: \"1.00\", currency: \"USD\"}}, idempotencyKey: \"alias-{i}\"}}) {{ replayed }}"
        )
    };
    let doc = |n: usize| format!("mutation {{{} }}", (0..n).map(&alias).collect::<String>());
    let (txns, keys) = (app.count("transactions").await, app.count("idempotency_keys").await);
    let body = app.gql(&doc(200), json!({})).await;
    assert_eq!(code(&body), "GRAPHQL_VALIDATION_FAILED", "{}", messages(&body));
    assert_eq!(app.count("transactions").await, txns, "no transaction was written");
    assert_eq!(app.count("idempotency_keys").await, keys, "no idempotency record was written");
    assert_eq!(app.available(&m, "USD").await, None);
    // Control: two aliased mutations are fine.
    let two = app.gql(&doc(2), json!({})).await;
    assert!(two.get("errors").is_none(), "{two}");
    assert_eq!(app.count("transactions").await, txns + 2);
}

#[tokio::test]
async fn a_json_array_batch_is_refused_with_400() {
    let app = spawn_app().await;
    let r = app.post_raw(Some(&app.token), json!([{ "query": ME }, { "query": ME }])).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(code(&r.body), "BATCH_NOT_SUPPORTED", "{}", r.body);
    // Control: the same request alone is answered.
    let one = app.post_raw(Some(&app.token), json!({ "query": ME })).await;
    assert_eq!(one.status, 200);
    assert_eq!(one.body["data"]["me"]["kind"], "STAFF", "{}", one.body);
}
