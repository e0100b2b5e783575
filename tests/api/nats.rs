//! The outbox relay against the real nats-server (JetStream) on this machine:
//! every event reaches the stream exactly once, in subjects per merchant and
//! kind, although the relay processes are killed (SIGKILL) while it publishes.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use ledger_server::core::outbox as events;
use ledger_server::domain::event::FeedPosition;
use serde_json::Value;

use crate::helpers::{ServerProcess, TestApp, spawn_app};

/// The NATS server the tests publish to; `scripts/test` makes sure it runs.
fn nats_url() -> String {
    std::env::var("TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned())
}

/// Payments the test posts.
const PAYMENTS: usize = 10_000;

/// Merchants they spread over (so subjects differ).
const MERCHANTS: usize = 10;

async fn relay_position(app: &TestApp, name: &str) -> FeedPosition {
    events::relay_position(&app.db, name).await.expect("relay position")
}

/// Waits (up to two minutes) until `done()` holds.
async fn wait_until<F: AsyncFnMut() -> bool>(what: &str, mut done: F) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !done().await {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn ten_thousand_events_reach_the_stream_once_although_relays_are_killed_three_times() {
    // Arrange: a writer server without NATS, a relay process with it, and a
    // stream and subject prefix of this test's own.
    let app = spawn_app().await;
    let mut merchants = Vec::new();
    for i in 0..MERCHANTS {
        merchants.push(app.merchant(&format!("Relay Merchant {i}")).await);
    }
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let stream_name = format!("LEDGER_TEST_{}", tag.to_uppercase());
    let prefix = format!("ledgertest.{tag}");
    let url = nats_url();
    let flags =
        ["--nats-url", url.as_str(), "--nats-stream", stream_name.as_str(), "--nats-subject-prefix", prefix.as_str()];
    let relay_name = format!("nats:{stream_name}");
    let mut relays = vec![ServerProcess::start(&app.database_url, &flags).await];

    // Act: 10,000 payments from 32 clients; at 2,500, 5,000 and 7,500 acknowledged
    // payments, kill every relay process mid-stream and start new ones (two at
    // once after the second kill, so two instances compete for the turn).
    let acked = Arc::new(AtomicUsize::new(0));
    let writer = {
        let (app, merchants, acked) = (app.clone(), merchants.clone(), acked.clone());
        tokio::spawn(async move {
            futures::stream::iter(0..PAYMENTS)
                .map(|i| {
                    let (app, m, acked) = (&app, &merchants[i % MERCHANTS], &acked);
                    async move {
                        let body = app.pay(m, "3.00", Some("0.30"), "USD", &format!("relay-{i}")).await;
                        assert!(body.get("errors").is_none(), "payment refused: {body}");
                        acked.fetch_add(1, Ordering::Relaxed);
                    }
                })
                .buffer_unordered(32)
                .collect::<Vec<()>>()
                .await
        })
    };
    let (mut kill_rounds, mut killed) = (0, 0);
    for (round, at) in [2_500, 5_000, 7_500].into_iter().enumerate() {
        wait_until("enough payments are acknowledged", async || acked.load(Ordering::Relaxed) >= at).await;
        let before = relay_position(&app, &relay_name).await;
        wait_until("the relay is publishing", async || relay_position(&app, &relay_name).await > before).await;
        for mut r in relays.drain(..) {
            r.kill();
            killed += 1;
        }
        kill_rounds += 1;
        relays.push(ServerProcess::start(&app.database_url, &flags).await);
        if round == 1 {
            relays.push(ServerProcess::start(&app.database_url, &flags).await);
        }
    }
    writer.await.expect("writer");
    let head = app.count("ledger_events").await;
    // The last event written, whether or not the watermark has passed it yet
    // (the relay publishes it once it has).
    let last = FeedPosition {
        xid: app.scalar("SELECT MAX(writer_xid) FROM ledger_events").await,
        seq: app
            .scalar("SELECT MAX(seq) FROM ledger_events WHERE writer_xid = (SELECT MAX(writer_xid) FROM ledger_events)")
            .await,
    };
    wait_until("the relay has published every event", async || relay_position(&app, &relay_name).await >= last).await;

    // Assert: the stream holds each event once, under its merchant's subject.
    let client = async_nats::connect(&url).await.expect("NATS is running (see scripts/test)");
    let js = async_nats::jetstream::new(client);
    let mut stream = js.get_stream(&stream_name).await.expect("the relay created the stream");
    let state = stream.info().await.expect("stream info").state.clone();
    let messages: Vec<(u64, Value, String, String, String)> =
        futures::stream::iter(state.first_sequence..=state.last_sequence)
            .map(|seq| {
                let stream = &stream;
                async move {
                    let m = stream.get_raw_message(seq).await.expect("stored message");
                    let header = |k: &str| m.headers.get(k).map(|v| v.as_str().to_owned()).unwrap_or_default();
                    let body: Value = serde_json::from_slice(&m.payload).expect("event json");
                    (seq, body, header("Ledger-Sequence"), header("Nats-Msg-Id"), header("Ledger-Position"))
                }
            })
            .buffered(64)
            .collect()
            .await;
    js.delete_stream(&stream_name).await.expect("clean up the stream");

    assert_eq!((kill_rounds, killed), (3, 4), "three kills, the last of two competing relays");
    assert_eq!(head, (PAYMENTS) as i64, "one event per payment");
    assert_eq!(state.messages, PAYMENTS as u64, "the stream holds each event exactly once");
    // Each merchant's journal arrives whole: numbers 1..=n once each.
    let per_merchant = PAYMENTS / MERCHANTS;
    for m in &merchants {
        let numbers: HashSet<i64> = messages
            .iter()
            .filter(|(_, body, ..)| body["merchantId"] == m.as_str())
            .map(|(_, body, ..)| body["sequence"].as_i64().expect("sequence"))
            .collect();
        assert_eq!(numbers, (1..=per_merchant as i64).collect::<HashSet<_>>(), "{m}: no number missing, none twice");
    }
    // The whole feed arrives in position order, each position once.
    let positions: Vec<FeedPosition> = messages
        .iter()
        .map(|(_, body, ..)| body["position"].as_str().expect("position").parse().expect("a feed position"))
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "the stream is in feed order with no repeat");
    for (_, body, seq_header, msg_id, position_header) in &messages {
        assert_eq!(body["version"], 2);
        assert_eq!(seq_header, &body["sequence"].to_string());
        assert_eq!(position_header, body["position"].as_str().expect("position"));
        assert_eq!(msg_id, body["id"].as_str().expect("event id"), "the message id is the event id");
        assert!(merchants.iter().any(|m| body["merchantId"] == m.as_str()));
    }
    assert!(messages.iter().all(|(_, body, ..)| body["kind"] == "payment"));
    app.assert_books_consistent().await;
}

#[tokio::test]
async fn events_go_to_a_subject_per_merchant_and_kind_and_an_unreachable_broker_loses_nothing() {
    // Arrange: a relay pointed at a port where no NATS listens, then a real one.
    let app = spawn_app().await;
    let a = app.merchant("Relay Subject").await;
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let stream_name = format!("LEDGER_TEST_{}", tag.to_uppercase());
    let prefix = format!("ledgertest.{tag}");
    let dead = ServerProcess::start(
        &app.database_url,
        &["--nats-url", "nats://127.0.0.1:9", "--nats-stream", &stream_name, "--nats-subject-prefix", &prefix],
    )
    .await;
    let paid = app.pay(&a, "7.00", None, "USD", "subject-1").await;
    assert!(paid.get("errors").is_none(), "writes go on without the broker: {paid}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        relay_position(&app, &format!("nats:{stream_name}")).await,
        FeedPosition::START,
        "nothing published to a dead broker"
    );
    drop(dead);

    // Act: a relay with the real broker catches up.
    let url = nats_url();
    let _relay = ServerProcess::start(
        &app.database_url,
        &["--nats-url", url.as_str(), "--nats-stream", &stream_name, "--nats-subject-prefix", &prefix],
    )
    .await;
    wait_until("the relay caught up", async || {
        relay_position(&app, &format!("nats:{stream_name}")).await > FeedPosition::START
    })
    .await;

    // Assert: the event sits on <prefix>.<merchant>.<kind>.
    let js = async_nats::jetstream::new(async_nats::connect(&url).await.expect("NATS"));
    let stream = js.get_stream(&stream_name).await.expect("stream");
    let m = stream
        .get_last_raw_message_by_subject(&format!("{prefix}.{a}.payment"))
        .await
        .expect("the payment's subject holds it");
    let body: Value = serde_json::from_slice(&m.payload).expect("json");
    assert_eq!(body["transaction"]["id"], paid["data"]["recordPayment"]["transaction"]["id"]);
    js.delete_stream(&stream_name).await.expect("clean up");
}
