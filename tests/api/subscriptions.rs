//! GraphQL subscriptions over WebSocket: live balances and transactions, in
//! order, resumable with no gap and no duplicate, across server processes, for
//! both protocols, within limits.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::{
    Operation, ServerProcess, TestApp, code, server_logs_to_stderr, spawn_app, spawn_app_with, ws_client, ws_connect,
};

const BALANCES: &str = "subscription($m: ID!, $a: String, $after: Int) { balanceUpdated(merchantId: $m, asset: $a, afterSequence: $after) { sequence snapshot transactionId kind accountCode asset balance { creditsPosted { amount } posted { amount } available { amount } } } }";

const TRANSACTIONS: &str = "subscription($m: ID!, $after: Int) { transactionPosted(merchantId: $m, afterSequence: $after) { id sequence kind transactionId merchantId entries { accountCode direction amount { amount currency } } balances { accountCode merchantId balance { posted { amount } } } } }";

/// How long a test waits for one subscription message before failing.
const MESSAGE_TIMEOUT: Duration = Duration::from_secs(60);

/// Posts a 1.00 USD payment (fee 0.10) for `merchant`; returns (transaction id, sequence).
async fn pay(app: &TestApp, merchant: &str, key: &str) -> (String, i64) {
    let body = app.pay(merchant, "1.00", Some("0.10"), "USD", key).await;
    let t = &body["data"]["recordPayment"]["transaction"];
    let id = t["id"].as_str().unwrap_or_else(|| panic!("payment refused: {body}")).to_owned();
    (id, t["sequence"].as_i64().expect("sequence"))
}

/// Posts `n` payments for `merchant`, `in_flight` at a time; returns what was acknowledged.
async fn pay_many(app: &TestApp, merchant: &str, n: usize, in_flight: usize, tag: &str) -> Vec<(String, i64)> {
    futures::stream::iter(0..n)
        .map(|i| {
            let key = format!("{tag}-{i}");
            async move { pay(app, merchant, &key).await }
        })
        .buffer_unordered(in_flight)
        .collect()
        .await
}

/// (transaction id, sequence) of a `transactionPosted` result's `data`.
fn posted(data: &Value) -> (String, i64) {
    let e = &data["transactionPosted"];
    (
        e["transactionId"].as_str().unwrap_or_else(|| panic!("not an event: {data}")).to_owned(),
        e["sequence"].as_i64().expect("seq"),
    )
}

/// The next payload of a subscription, or a panic after [`MESSAGE_TIMEOUT`].
async fn next<S>(sub: &mut S) -> Value
where
    S: futures::Stream<Item = Result<Value, graphql_ws_client::Error>> + Unpin,
{
    tokio::time::timeout(MESSAGE_TIMEOUT, sub.next())
        .await
        .expect("a subscription message in time")
        .expect("the subscription is open")
        .expect("a decodable message")
}

#[tokio::test]
async fn a_subscriber_gets_every_balance_change_of_a_thousand_concurrent_payments_in_order() {
    // Arrange: merchant A has a balance, and its own key subscribes to it.
    let app = spawn_app().await;
    let a = app.merchant("Live Alpha").await;
    let key_a = app.merchant_key(&a).await;
    let (_, first_seq) = pay(&app, &a, "live-first").await;
    let client = ws_client(&app.base, Some(&key_a)).await.expect("connection accepted");
    let mut sub = client.subscribe(Operation::new(BALANCES, json!({ "m": a, "a": "USD" }))).await.expect("subscribed");
    let snapshot = next(&mut sub).await;
    let snapshot = &snapshot["data"]["balanceUpdated"];
    assert_eq!(snapshot["snapshot"], true, "the current balance comes first: {snapshot}");
    assert_eq!(snapshot["sequence"], first_seq);
    assert_eq!(snapshot["balance"]["posted"]["amount"], "0.90");

    // Act: 1,000 payments from 32 concurrent clients.
    let acked = pay_many(&app, &a, 1_000, 32, "live").await;
    let mut updates = Vec::with_capacity(acked.len());
    while updates.len() < acked.len() {
        let msg = next(&mut sub).await;
        assert!(msg.get("errors").is_none(), "subscription error: {msg}");
        updates.push(msg["data"]["balanceUpdated"].clone());
    }

    // Assert: every change once, in sequence order, each 0.90 more than the last.
    let sequences: Vec<i64> = updates.iter().map(|u| u["sequence"].as_i64().expect("sequence")).collect();
    assert_eq!(sequences, (first_seq + 1..=first_seq + 1_000).collect::<Vec<_>>(), "the journal, in order, no gap");
    let mut credits = 90_i64;
    for u in &updates {
        assert_eq!(u["snapshot"], false);
        assert_eq!(u["kind"], "PAYMENT");
        credits += 90;
        let got = u["balance"]["creditsPosted"]["amount"].as_str().expect("amount").replace('.', "");
        assert_eq!(got.parse::<i64>().expect("minor units"), credits, "balance skipped a change at {u}");
    }
    let seen: HashSet<String> = updates.iter().map(|u| u["transactionId"].as_str().expect("id").to_owned()).collect();
    let acked_ids: HashSet<String> = acked.iter().map(|(id, _)| id.clone()).collect();
    assert_eq!(seen, acked_ids, "each acknowledged payment appears exactly once");
    let last = updates.last().expect("updates");
    assert_eq!(
        Some(last["balance"]["posted"]["amount"].as_str().expect("amount").to_owned()),
        app.available(&a, "USD").await
    );
    assert_eq!(last["balance"]["posted"]["amount"], "900.90");
    assert_eq!(app.count("ledger_events").await, app.count("transactions").await, "one event per transaction");
    app.assert_books_consistent().await;
}

#[tokio::test]
async fn concurrent_one_by_one_postings_reach_a_subscriber_in_journal_order_though_the_feed_orders_them_otherwise() {
    // Arrange: authorizations are not group-committed: each is a database
    // transaction of its own, so many of one merchant commit side by side,
    // and the whole feed (by writer xid) need not be the journal's order.
    let _log = server_logs_to_stderr();
    let app = spawn_app().await;
    let a = app.merchant("Live Authorizer").await;
    let staff = ws_client(&app.base, Some(&app.token)).await.expect("staff connect");
    let mut sub =
        staff.subscribe(Operation::new(TRANSACTIONS, json!({ "m": a, "after": 0 }))).await.expect("subscribed");

    // Act: 300 authorizations from 32 clients at once.
    let ids: Vec<String> = futures::stream::iter(0..300)
        .map(|i| {
            let (app, a) = (&app, &a);
            async move { app.authorize(a, "2.00", &format!("auth-{i}")).await }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    let mut got = Vec::with_capacity(ids.len());
    while got.len() < ids.len() {
        let msg = next(&mut sub).await;
        assert!(msg.get("errors").is_none(), "subscription error: {msg}");
        got.push(msg["data"]["transactionPosted"].clone());
    }

    // Assert: numbers 1..=300 in order, each acknowledged authorization once.
    let numbers: Vec<i64> = got.iter().map(|e| e["sequence"].as_i64().expect("sequence")).collect();
    assert_eq!(numbers, (1..=300).collect::<Vec<_>>());
    assert!(got.iter().all(|e| e["kind"] == "AUTHORIZATION"), "{got:?}");
    assert_eq!(got.iter().map(|e| e["transactionId"].as_str().expect("id")).collect::<HashSet<_>>().len(), 300);
    assert_eq!(ids.len(), 300);
    // How often the feed's order (writer xid) differed from the journal's:
    // each such pair made the subscriber read the numbers between from the
    // outbox rather than take them from the hub.
    let inversions = app
        .scalar(&format!(
            "SELECT COUNT(*) FROM ledger_events x JOIN ledger_events y ON x.merchant_id = y.merchant_id \
             AND x.number < y.number AND x.writer_xid > y.writer_xid WHERE x.merchant_id = '{a}'"
        ))
        .await;
    eprintln!("feed order differed from journal order in {inversions} pairs");
    app.assert_books_consistent().await;
}

#[tokio::test]
async fn another_merchants_key_and_callers_without_a_token_are_refused() {
    // Arrange
    let app = spawn_app().await;
    let a = app.merchant("Live Owner").await;
    let b = app.merchant("Live Other").await;
    let key_b = app.merchant_key(&b).await;

    // Act: B's key asks for A's feeds; anonymous and made-up tokens connect.
    let client_b = ws_client(&app.base, Some(&key_b)).await.expect("B may connect");
    let mut balances = client_b.subscribe(Operation::new(BALANCES, json!({ "m": a }))).await.expect("sent");
    let refused_balances = next(&mut balances).await;
    let mut txns = client_b.subscribe(Operation::new(TRANSACTIONS, json!({ "m": a }))).await.expect("sent");
    let refused_txns = next(&mut txns).await;
    let anonymous = ws_client(&app.base, None).await;
    let made_up = ws_client(&app.base, Some("lk_zzzzzzzz_notarealsecretnotarealsecretnotarealsecret1")).await;

    // Assert: another merchant's id looks like one that does not exist.
    assert_eq!(code(&refused_balances), "NOT_FOUND", "{refused_balances}");
    assert_eq!(code(&refused_txns), "NOT_FOUND", "{refused_txns}");
    for (who, result) in [("anonymous", anonymous), ("made-up key", made_up)] {
        let err = result.err().unwrap_or_else(|| panic!("{who}: connection accepted"));
        assert!(err.to_string().contains("UNAUTHENTICATED"), "{who}: {err}");
    }
    // B's own feed works on the same connection.
    let mut own = client_b.subscribe(Operation::new(TRANSACTIONS, json!({ "m": b, "after": 0 }))).await.expect("sent");
    let (id, _) = pay(&app, &b, "own-feed").await;
    assert_eq!(next(&mut own).await["data"]["transactionPosted"]["transactionId"], id.as_str());
}

#[tokio::test]
async fn a_client_that_reconnects_with_after_sequence_misses_nothing_and_sees_nothing_twice() {
    // Arrange: a subscriber to A's transactions while payments keep coming.
    let app = spawn_app().await;
    let a = app.merchant("Live Resume").await;
    let key_a = app.merchant_key(&a).await;
    let first = ws_client(&app.base, Some(&key_a)).await.expect("connected");
    // From sequence 0: the server may start the subscription after the first
    // payments commit, and this test wants every one of them.
    let mut sub =
        first.subscribe(Operation::new(TRANSACTIONS, json!({ "m": a, "after": 0 }))).await.expect("subscribed");
    let writer = {
        let (app, a) = (app.clone(), a.clone());
        tokio::spawn(async move { pay_many(&app, &a, 300, 8, "resume").await })
    };

    // Act: read 60 events, kill the connection mid-stream, resume after the last one.
    let mut received: Vec<(String, i64)> = Vec::new();
    while received.len() < 60 {
        let msg = next(&mut sub).await;
        received.push(posted(&msg["data"]));
    }
    drop(sub);
    first.kill();
    let resume_after = received.last().expect("events").1;
    let acked = writer.await.expect("writer");
    let second = ws_client(&app.base, Some(&key_a)).await.expect("reconnected");
    let mut sub = second
        .subscribe(Operation::new(TRANSACTIONS, json!({ "m": a, "after": resume_after })))
        .await
        .expect("resumed");
    while received.len() < acked.len() {
        let msg = next(&mut sub).await;
        assert!(msg.get("errors").is_none(), "{msg}");
        received.push(posted(&msg["data"]));
    }

    // Assert: the two halves join with no gap and no duplicate.
    let sequences: Vec<i64> = received.iter().map(|r| r.1).collect();
    assert!(sequences.windows(2).all(|w| w[0] < w[1]), "duplicate or reordered event across the reconnect");
    let mut got: Vec<String> = received.into_iter().map(|r| r.0).collect();
    let mut want: Vec<String> = acked.into_iter().map(|r| r.0).collect();
    got.sort();
    want.sort();
    assert_eq!(got, want, "every acknowledged payment exactly once");
    // Nothing more is pending: the next event is a new payment.
    let (late, _) = pay(&app, &a, "resume-late").await;
    assert_eq!(next(&mut sub).await["data"]["transactionPosted"]["transactionId"], late.as_str());
}

#[tokio::test]
async fn two_server_processes_on_one_database_each_deliver_to_their_own_subscribers() {
    // Arrange: a second server process on the same database; a subscriber on each.
    let app = spawn_app().await;
    let a = app.merchant("Live Two Instances").await;
    let key_a = app.merchant_key(&a).await;
    let other = ServerProcess::start(&app.database_url, &[]).await;
    let remote = ws_client(&other.base, Some(&key_a)).await.expect("connected to the second process");
    let mut remote_sub =
        remote.subscribe(Operation::new(TRANSACTIONS, json!({ "m": a, "after": 0 }))).await.expect("subscribed");
    let local = ws_client(&app.base, Some(&key_a)).await.expect("connected to the first process");
    let mut local_sub =
        local.subscribe(Operation::new(TRANSACTIONS, json!({ "m": a, "after": 0 }))).await.expect("subscribed");

    for i in 0..5 {
        // Act: a payment through the first process.
        let (id, _) = pay(&app, &a, &format!("two-{i}")).await;
        let posted = Instant::now();
        let seen = next(&mut remote_sub).await;
        let delay = posted.elapsed();

        // Assert: the second process delivers it within a second.
        assert_eq!(seen["data"]["transactionPosted"]["transactionId"], id.as_str(), "{seen}");
        assert!(delay < Duration::from_secs(1), "second process took {delay:?}");
        assert_eq!(next(&mut local_sub).await["data"]["transactionPosted"]["transactionId"], id.as_str());
    }
}

#[tokio::test]
async fn the_legacy_graphql_ws_protocol_is_served_and_refuses_bad_tokens() {
    // Arrange
    let app = spawn_app().await;
    let a = app.merchant("Live Legacy").await;
    let key_a = app.merchant_key(&a).await;
    pay(&app, &a, "legacy-before").await;
    let mut socket = ws_connect(&app.base, "graphql-ws").await;

    // Act: Apollo's subscriptions-transport-ws handshake and `start`.
    let init = json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {key_a}") } });
    socket.send(Message::Text(init.to_string().into())).await.expect("init");
    let start =
        json!({ "id": "1", "type": "start", "payload": { "query": BALANCES, "variables": { "m": a, "a": "USD" } } });
    socket.send(Message::Text(start.to_string().into())).await.expect("start");
    let mut messages: Vec<Value> = Vec::new();
    let mut id = String::new();
    while messages.iter().filter(|m| m["type"] == "data").count() < 2 {
        let frame = tokio::time::timeout(MESSAGE_TIMEOUT, socket.next()).await.expect("in time").expect("open");
        if let Ok(Message::Text(text)) = frame {
            messages.push(serde_json::from_str::<Value>(&text).expect("json"));
            // Pay once the snapshot shows the subscription is running.
            if id.is_empty() && messages.iter().any(|m| m["type"] == "data") {
                id = pay(&app, &a, "legacy-after").await.0;
            }
        }
    }

    // Assert: ack, then the snapshot, then the payment's update.
    assert_eq!(messages[0]["type"], "connection_ack", "{messages:?}");
    let data: Vec<&Value> = messages.iter().filter(|m| m["type"] == "data").collect();
    assert_eq!(data[0]["payload"]["data"]["balanceUpdated"]["snapshot"], true);
    assert_eq!(data[1]["payload"]["data"]["balanceUpdated"]["transactionId"], id.as_str());
    assert_eq!(data[1]["payload"]["data"]["balanceUpdated"]["balance"]["posted"]["amount"], "1.80");

    // A bad token gets `connection_error`, not an ack.
    let mut bad = ws_connect(&app.base, "graphql-ws").await;
    let init = json!({ "type": "connection_init", "payload": { "authorization": "Bearer ls_not-a-session" } });
    bad.send(Message::Text(init.to_string().into())).await.expect("init");
    let reply =
        tokio::time::timeout(MESSAGE_TIMEOUT, bad.next()).await.expect("in time").expect("open").expect("frame");
    let reply: Value = serde_json::from_str(reply.to_text().expect("text")).expect("json");
    assert_eq!(reply["type"], "connection_error", "{reply}");
}

#[tokio::test]
async fn connections_per_key_and_subscriptions_per_connection_are_limited() {
    // Arrange: two connections per key, two subscriptions per connection.
    let app = spawn_app_with(&["--max-connections-per-key", "2", "--max-subscriptions-per-connection", "2"]).await;
    let a = app.merchant("Live Limits").await;
    let key_a = app.merchant_key(&a).await;
    let first = ws_client(&app.base, Some(&key_a)).await.expect("first");
    let second = ws_client(&app.base, Some(&key_a)).await.expect("second");

    // Act and assert: a third connection is refused; closing one frees its slot.
    let third = ws_client(&app.base, Some(&key_a)).await;
    assert!(third.err().is_some_and(|e| e.to_string().contains("TOO_MANY_CONNECTIONS")));
    let admin = ws_client(&app.base, Some(&app.token)).await;
    assert!(admin.is_ok(), "another key has its own budget");
    first.kill();
    let mut again = None;
    for _ in 0..50 {
        if let Ok(c) = ws_client(&app.base, Some(&key_a)).await {
            again = Some(c);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(again.is_some(), "a closed connection gives its slot back");

    // A third subscription on one connection is refused; the first two work.
    // (Each of the first two is running once its snapshot arrives.)
    pay(&app, &a, "limits-before").await;
    let mut s1 = second.subscribe(Operation::new(BALANCES, json!({ "m": a }))).await.expect("s1");
    assert_eq!(next(&mut s1).await["data"]["balanceUpdated"]["snapshot"], true);
    let mut s2 = second.subscribe(Operation::new(BALANCES, json!({ "m": a }))).await.expect("s2");
    assert_eq!(next(&mut s2).await["data"]["balanceUpdated"]["snapshot"], true);
    let mut s3 = second.subscribe(Operation::new(TRANSACTIONS, json!({ "m": a }))).await.expect("s3 sent");
    assert_eq!(code(&next(&mut s3).await), "TOO_MANY_SUBSCRIPTIONS");
    // Queries and mutations are not served over the socket.
    let mut query = second.subscribe(Operation::new("{ me { kind } }", json!({}))).await.expect("sent");
    assert_eq!(code(&next(&mut query).await), "SUBSCRIPTIONS_ONLY");
    let (id, _) = pay(&app, &a, "limits").await;
    assert_eq!(next(&mut s1).await["data"]["balanceUpdated"]["transactionId"], id.as_str());
    assert_eq!(next(&mut s2).await["data"]["balanceUpdated"]["transactionId"], id.as_str());
}

#[tokio::test]
async fn a_subscriber_that_falls_behind_is_told_where_to_resume_and_loses_nothing() {
    // Arrange: a live buffer of one event, and a subscriber that does not read
    // while 200 payments post from 32 clients.
    let app = spawn_app_with(&["--subscriber-buffer", "1"]).await;
    let a = app.merchant("Live Slow").await;
    let key_a = app.merchant_key(&a).await;
    let mut socket = ws_connect(&app.base, "graphql-transport-ws").await;
    let init = json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {key_a}") } });
    socket.send(Message::Text(init.to_string().into())).await.expect("init");
    // From sequence 0, so the feed covers every payment however soon they start.
    let sub = json!({ "id": "s", "type": "subscribe", "payload": { "query": TRANSACTIONS, "variables": { "m": a, "after": 0 } } });
    socket.send(Message::Text(sub.to_string().into())).await.expect("subscribe");
    let acked = pay_many(&app, &a, 200, 32, "slow").await;

    // Act: read what arrived: events, then the lag error, then `complete`.
    let mut received: Vec<(String, i64)> = Vec::new();
    let mut lag = None;
    loop {
        let frame = tokio::time::timeout(MESSAGE_TIMEOUT, socket.next()).await.expect("in time").expect("open");
        let Ok(Message::Text(text)) = frame else { continue };
        let msg: Value = serde_json::from_str(&text).expect("json");
        match msg["type"].as_str() {
            Some("next") if msg["payload"]["errors"].is_array() => lag = Some(msg["payload"]["errors"][0].clone()),
            Some("next") => {
                received.push(posted(&msg["payload"]["data"]));
            }
            Some("complete") => break,
            _ => {}
        }
    }

    // Assert: told to resume after the last event it got; resuming loses nothing.
    let lag = lag.expect("with a one-event buffer, 200 concurrent payments overrun the subscriber");
    assert_eq!(lag["extensions"]["code"], "SUBSCRIPTION_LAGGED", "{lag}");
    let resume_after = lag["extensions"]["resumeAfterSequence"].as_i64().expect("resume point");
    let start = received.last().map_or(resume_after, |r| r.1);
    assert_eq!(resume_after, start, "resume point is the last event delivered");
    let client = ws_client(&app.base, Some(&key_a)).await.expect("reconnected");
    let mut rest = client
        .subscribe(Operation::new(TRANSACTIONS, json!({ "m": a, "after": resume_after })))
        .await
        .expect("resumed");
    while received.len() < acked.len() {
        let msg = next(&mut rest).await;
        received.push(posted(&msg["data"]));
    }
    let mut got: Vec<String> = received.into_iter().map(|r| r.0).collect();
    let mut want: Vec<String> = acked.into_iter().map(|r| r.0).collect();
    got.sort();
    want.sort();
    assert_eq!(got, want, "the lagged subscriber, resumed, sees each payment exactly once");
}
