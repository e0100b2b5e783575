//! The broker relay: publishes every outbox event to NATS JetStream.
//!
//! Runs in every server instance started with `NATS_URL`. Each round, in one
//! database transaction, it takes its progress row in `outbox_relays` (`FOR
//! UPDATE SKIP LOCKED`, so instances take turns and never publish the same
//! events at once), reads up to [`RELAY_BATCH`] events after it, publishes them
//! in order, waits for JetStream to acknowledge every one, then advances the row
//! and commits.
//!
//! Delivery: a relay that dies after publishing but before its commit leaves
//! the row where it was, and the next round (on any instance) publishes those
//! events again: at least once on the wire. Every message carries
//! `Nats-Msg-Id` = the event id, and JetStream drops a message whose id it saw
//! within the stream's duplicate window ([`DUPLICATE_WINDOW`]): exactly once in
//! the stream, as long as a relay is back within that window.
//!
//! Subjects are `<prefix>.<merchant id>.<kind>` (see
//! [`crate::domain::event::LedgerEvent::subject`]); the payload is the event's
//! versioned JSON; headers `Nats-Msg-Id`, `Ledger-Sequence` (the number in the
//! merchant's journal) and `Ledger-Position` (the place in the whole feed).

use std::time::Duration;

use async_nats::jetstream::{self, message::PublishMessage, stream};
use sea_orm::DatabaseConnection;
use tokio::sync::watch;

use crate::core::outbox::{self, RelayTurn};
use crate::domain::event::FeedPosition;

/// Events published per round (one database transaction, one wait for acks).
/// Large enough to keep up with the ledger's peak rate, small enough that a
/// relay killed mid-round re-publishes little.
pub const RELAY_BATCH: u64 = 1_000;

/// The stream's duplicate window: how long JetStream remembers message ids.
/// A relay that crashed after publishing must be back within it for the
/// re-published events to be dropped as duplicates. Ten minutes covers a
/// restart by any supervisor; the server keeps one id per message for that long.
pub const DUPLICATE_WINDOW: Duration = Duration::from_secs(600);

/// How often an idle relay looks for events even without a wake-up, and how
/// often an instance that lost its turn to another tries again.
pub const RELAY_POLL_INTERVAL: Duration = Duration::from_millis(500);

/// How long to wait for JetStream's acknowledgement of one message.
pub const ACK_TIMEOUT: Duration = Duration::from_secs(10);

/// Longest wait before reconnecting after a failure.
pub const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Header carrying the event's number in its merchant's journal.
pub const SEQUENCE_HEADER: &str = "Ledger-Sequence";

/// Header carrying the event's position in the whole feed (`"<xid>.<seq>"`).
pub const POSITION_HEADER: &str = "Ledger-Position";

/// Where and under which names the relay publishes.
#[derive(Debug, Clone)]
pub struct RelaySettings {
    /// The NATS server URL (`nats://127.0.0.1:4222`).
    pub url: String,
    /// The JetStream stream, created with the subjects `<prefix>.>` when missing.
    pub stream: String,
    /// The subject prefix.
    pub subject_prefix: String,
}

impl RelaySettings {
    /// The relay's progress row name: one per stream, shared by all instances.
    pub fn relay_name(&self) -> String {
        format!("nats:{}", self.stream)
    }
}

/// Why a relay round failed; the relay logs it and starts over.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] sea_orm::DbErr),
    /// NATS or JetStream failed.
    #[error("nats: {0}")]
    Broker(String),
}

fn broker(e: impl std::fmt::Display) -> RelayError {
    RelayError::Broker(e.to_string())
}

/// Runs the relay until the task is dropped: connects (and reconnects, with
/// backoff) to NATS, makes sure the stream exists, and publishes rounds as
/// events arrive (`head` changes) or every [`RELAY_POLL_INTERVAL`].
pub async fn run(pool: DatabaseConnection, mut head: watch::Receiver<FeedPosition>, settings: RelaySettings) {
    let mut backoff = Duration::from_millis(100);
    loop {
        match connect(&settings).await {
            Ok(js) => {
                backoff = Duration::from_millis(100);
                if let Err(e) = publish_rounds(&pool, &js, &settings, &mut head).await {
                    tracing::warn!(error = %e, "event relay round failed; starting over");
                }
            }
            Err(e) => tracing::warn!(error = %e, "event relay cannot reach NATS; retrying"),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

async fn connect(settings: &RelaySettings) -> Result<jetstream::Context, RelayError> {
    let client = async_nats::connect(&settings.url).await.map_err(broker)?;
    let js = jetstream::new(client);
    js.get_or_create_stream(stream::Config {
        name: settings.stream.clone(),
        subjects: vec![format!("{}.>", settings.subject_prefix)],
        duplicate_window: DUPLICATE_WINDOW,
        ..Default::default()
    })
    .await
    .map_err(broker)?;
    Ok(js)
}

/// Publishes rounds until one fails.
async fn publish_rounds(
    pool: &DatabaseConnection,
    js: &jetstream::Context,
    settings: &RelaySettings,
    head: &mut watch::Receiver<FeedPosition>,
) -> Result<(), RelayError> {
    let name = settings.relay_name();
    outbox::ensure_relay(pool, &name, FeedPosition::START).await?;
    loop {
        let published = publish_round(pool, js, settings, &name).await?;
        if published < RELAY_BATCH {
            // Caught up (or another instance has the turn): wait for news.
            head.mark_unchanged();
            let _ = tokio::time::timeout(RELAY_POLL_INTERVAL, head.changed()).await;
        }
    }
}

/// One round: returns how many events it published (0 when another instance
/// holds the turn or there is nothing new).
#[tracing::instrument(name = "ledger.events.relay", skip_all)]
async fn publish_round(
    pool: &DatabaseConnection,
    js: &jetstream::Context,
    settings: &RelaySettings,
    name: &str,
) -> Result<u64, RelayError> {
    let Some(turn) = RelayTurn::claim(pool, name).await? else {
        return Ok(0);
    };
    let batch = turn.batch(RELAY_BATCH).await?;
    let Some(newest) = batch.last().map(|e| e.position) else {
        turn.release().await?;
        return Ok(0);
    };
    let mut acks = Vec::with_capacity(batch.len());
    for event in &batch {
        let payload = serde_json::to_vec(event).map_err(broker)?;
        let publish = PublishMessage::build()
            .payload(payload.into())
            .message_id(event.id.to_string())
            .header(SEQUENCE_HEADER, event.sequence.to_string().as_str())
            .header(POSITION_HEADER, event.position.to_string().as_str());
        acks.push(js.send_publish(event.subject(&settings.subject_prefix), publish).await.map_err(broker)?);
    }
    for ack in acks {
        tokio::time::timeout(ACK_TIMEOUT, ack).await.map_err(broker)?.map_err(broker)?;
    }
    turn.advance(newest).await?;
    metrics::counter!(crate::telemetry::metrics::RELAY_PUBLISHED_EVENTS).increment(batch.len() as u64);
    Ok(batch.len() as u64)
}
