//! Relay connections: stable pages while entries arrive, opaque cursors, pages
//! of at most 100, search.

use serde_json::json;

use crate::helpers::{code, spawn_app};

const ENTRIES: &str = "query($a: ID!, $first: Int, $after: String) { entries(accountId: $a, first: $first, after: $after) { pageInfo { hasNextPage endCursor } edges { cursor node { sequence amount { amount } } } } }";

#[tokio::test]
async fn entry_pages_are_stable_while_new_entries_arrive() {
    let app = spawn_app().await;
    let m = app.merchant("Pager").await;
    let first = app.pay(&m, "1.00", None, "USD", "p0").await;
    let account =
        first["data"]["recordPayment"]["transaction"]["entries"][1]["account"]["id"].as_str().unwrap().to_owned();
    for i in 1..10 {
        app.pay(&m, &format!("{i}.00"), None, "USD", &format!("p{i}")).await;
    }
    let page1 = app.ok(ENTRIES, json!({ "a": account, "first": 4 })).await;
    let cursor = page1["entries"]["pageInfo"]["endCursor"].as_str().unwrap().to_owned();
    assert_eq!(page1["entries"]["pageInfo"]["hasNextPage"], true);
    // Cursors are opaque: not the bare sequence number.
    let last_seq = page1["entries"]["edges"][3]["node"]["sequence"].as_i64().unwrap();
    assert_ne!(cursor, last_seq.to_string());
    assert!(cursor.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));

    // New entries arrive between page reads.
    for i in 10..13 {
        app.pay(&m, &format!("{i}.00"), None, "USD", &format!("p{i}")).await;
    }
    let page2 = app.ok(ENTRIES, json!({ "a": account, "first": 4, "after": cursor })).await;
    let amounts: Vec<&str> = page2["entries"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["amount"]["amount"].as_str().unwrap())
        .collect();
    assert_eq!(amounts, vec!["4.00", "5.00", "6.00", "7.00"], "page 2 continues exactly after page 1");

    // Walk to the end: every entry exactly once, in sequence order.
    let mut after: Option<String> = None;
    let mut seen = Vec::new();
    loop {
        let page = app.ok(ENTRIES, json!({ "a": account, "first": 5, "after": after })).await;
        for e in page["entries"]["edges"].as_array().unwrap() {
            seen.push(e["node"]["sequence"].as_i64().unwrap());
        }
        if page["entries"]["pageInfo"]["hasNextPage"] == false {
            break;
        }
        after = page["entries"]["pageInfo"]["endCursor"].as_str().map(str::to_owned);
    }
    assert_eq!(seen.len(), 13);
    assert!(seen.windows(2).all(|w| w[0] < w[1]));
}

#[tokio::test]
async fn bad_cursors_and_oversized_pages_are_refused() {
    let app = spawn_app().await;
    let m = app.merchant("Strict").await;
    let pay = app.pay(&m, "1.00", None, "USD", "p").await;
    let account = pay["data"]["recordPayment"]["transaction"]["entries"][1]["account"]["id"].as_str().unwrap();
    let bad = app.gql(ENTRIES, json!({ "a": account, "after": "not-a-cursor!" })).await;
    assert_eq!(code(&bad), "BAD_USER_INPUT", "{bad}");
    let big = app.gql(ENTRIES, json!({ "a": account, "first": 1000 })).await;
    assert_eq!(code(&big), "BAD_USER_INPUT", "{big}");
}

#[tokio::test]
async fn merchants_are_searchable_by_name_external_id_and_id() {
    let app = spawn_app().await;
    let q = "query($s: String, $first: Int, $after: String) { merchants(search: $s, first: $first, after: $after) { pageInfo { hasNextPage endCursor } edges { node { id name externalId } } } }";
    let create = "mutation($i: CreateMerchantInput!) { createMerchant(input: $i) { merchant { id } } }";
    let mut ids = Vec::new();
    for (i, name) in ["ShirtyPuff", "Shirt Shack", "Mug Masters"].iter().enumerate() {
        let d = app
            .ok(create, json!({ "i": { "name": name, "externalId": format!("ext-{i}"), "class": "SP", "idempotencyKey": format!("m{i}") } }))
            .await;
        ids.push(d["createMerchant"]["merchant"]["id"].as_str().unwrap().to_owned());
    }
    let shirts = app.ok(q, json!({ "s": "shirt" })).await;
    assert_eq!(shirts["merchants"]["edges"].as_array().unwrap().len(), 2);
    let by_ext = app.ok(q, json!({ "s": "ext-2" })).await;
    assert_eq!(by_ext["merchants"]["edges"][0]["node"]["name"], "Mug Masters");
    let by_id = app.ok(q, json!({ "s": ids[1] })).await;
    assert_eq!(by_id["merchants"]["edges"][0]["node"]["name"], "Shirt Shack");
    let none = app.ok(q, json!({ "s": "%" })).await;
    assert_eq!(none["merchants"]["edges"].as_array().unwrap().len(), 0, "LIKE wildcards are escaped");
    let p1 = app.ok(q, json!({ "first": 2 })).await;
    assert_eq!(p1["merchants"]["pageInfo"]["hasNextPage"], true);
    let p2 = app.ok(q, json!({ "first": 2, "after": p1["merchants"]["pageInfo"]["endCursor"] })).await;
    assert_eq!(p2["merchants"]["edges"][0]["node"]["name"], "Mug Masters");
    let taken =
        app.gql(create, json!({ "i": { "name": "Copy", "externalId": "ext-0", "idempotencyKey": "copy" } })).await;
    assert_eq!(code(&taken), "EXTERNAL_ID_TAKEN");
}

#[tokio::test]
async fn a_page_of_more_than_one_hundred_is_refused_with_bad_user_input() {
    let app = spawn_app().await;
    let q = |n: u32| format!("{{ merchants(first: {n}) {{ edges {{ node {{ id }} }} }} }}");
    let huge = app.gql(&q(1_000_000), json!({})).await;
    assert_eq!(code(&huge), "BAD_USER_INPUT", "{huge}");
    let just_over = app.gql(&q(101), json!({})).await;
    assert_eq!(code(&just_over), "BAD_USER_INPUT", "{just_over}");
    let max = app.gql(&q(100), json!({})).await;
    assert!(max.get("errors").is_none(), "a page of 100 is allowed: {max}");
}
