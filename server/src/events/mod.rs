//! Live events: the hub that follows the outbox and fans committed events out to
//! this process's subscribers, and the relay that publishes them to NATS.
//!
//! The outbox (`ledger_events`, written in each ledger transaction's own
//! database transaction) is the only source of truth. Nothing is sent from
//! memory before it commits: the write path only *wakes* readers after a commit.
//!
//! - **Wake-ups.** After a commit that wrote events, the write path signals this
//!   process's hub directly and queues a PostgreSQL `NOTIFY` (delivered to every
//!   instance on commit). Notifications can be lost (a listener reconnecting
//!   misses what was sent meanwhile), so the hub also polls every
//!   [`HUB_POLL_INTERVAL`]: a missed notification delays an event by at most that.
//! - **The hub** ([`EventHub`]) reads every event of the whole feed after the
//!   last one it saw, in position order as far as the visibility watermark
//!   (see [`crate::domain::event`]), and sends it on a bounded broadcast channel
//!   ([`DEFAULT_SUBSCRIBER_BUFFER`] events). Sending never waits, so neither
//!   the writers nor the hub ever wait for a subscriber.
//! - **A subscriber** ([`EventHub::follow`]) follows one merchant's journal,
//!   whose numbers are gap-free: it first catches up from the outbox after its
//!   resume point, then takes live events from the channel. It sends only the
//!   next number it expects, skips any it already sent (the catch-up and the
//!   channel overlap by design, so nothing falls between them), and when the
//!   channel shows a number past the next one (the feed's order is not each
//!   journal's), reads the missing ones from the outbox, where a journal
//!   number is visible only after all before it. One that falls more than the
//!   buffer behind gets [`FollowError::Lagged`] with the last number it was
//!   sent, and resumes from there with `afterSequence`.

pub mod relay;

use std::sync::Arc;
use std::time::Duration;

use futures::Stream;
use sea_orm::DatabaseConnection;
use tokio::sync::{Notify, broadcast, watch};

use crate::core::access::rules::Tenant;
use crate::core::outbox;
use crate::domain::MerchantId;
use crate::domain::event::{FeedPosition, LedgerEvent};

/// How often the hub reads the outbox even without a wake-up: the longest a lost
/// notification can delay an event on another instance. Half a second keeps
/// the "every instance delivers within a second" promise with room to spare, at
/// the cost of two indexed empty reads a second when idle.
pub const HUB_POLL_INTERVAL: Duration = Duration::from_millis(500);

/// Events the hub reads from the outbox per query.
pub const HUB_PAGE: u64 = 1_000;

/// Events a subscriber catching up reads from the outbox per query.
pub const CATCH_UP_PAGE: u64 = 500;

/// Default capacity of the broadcast channel, in events: how far one subscriber
/// may fall behind the live feed before it is told to resume. 4,096 events is
/// several seconds of the ledger's peak write rate; the channel holds `Arc`s of
/// events already read, so it costs a few MiB at most and never grows.
pub const DEFAULT_SUBSCRIBER_BUFFER: usize = 4_096;

/// Longest wait before retrying after the listener connection or an outbox read
/// failed.
pub const MAX_RETRY_BACKOFF: Duration = Duration::from_secs(5);

/// Why a subscriber's feed stopped.
#[derive(Debug, thiserror::Error)]
pub enum FollowError {
    /// The subscriber fell more than the buffer behind the live feed. It was sent
    /// every event up to `resume_after` and should resubscribe after it.
    #[error("subscriber fell behind the live feed; resubscribe with afterSequence {resume_after}")]
    Lagged {
        /// The journal number of the last event it was sent (or its starting
        /// point).
        resume_after: i64,
    },
    /// Reading the outbox failed.
    #[error("reading the outbox failed")]
    Database(#[from] sea_orm::DbErr),
}

/// Follows the outbox and fans committed events out to this process's subscribers.
#[derive(Debug)]
pub struct EventHub {
    pool: DatabaseConnection,
    instance: String,
    sender: broadcast::Sender<Arc<LedgerEvent>>,
    head: watch::Sender<FeedPosition>,
    wake: Arc<Notify>,
}

impl EventHub {
    /// A hub over the request pool for the ledger whose instance id is
    /// `instance` ([`crate::core::posting::Ledger::instance`]). `wake` is that ledger's
    /// commit signal ([`crate::core::posting::Ledger::committed_events`]); `buffer` is
    /// the broadcast capacity in events (at least 1).
    pub fn new(pool: DatabaseConnection, instance: String, wake: Arc<Notify>, buffer: usize) -> Arc<Self> {
        let (sender, _) = broadcast::channel(buffer.max(1));
        Arc::new(Self { pool, instance, sender, head: watch::Sender::new(FeedPosition::START), wake })
    }

    /// The feed position of the last event the hub has sent; changes as events
    /// arrive (the relay waits on it).
    pub fn head(&self) -> watch::Receiver<FeedPosition> {
        self.head.subscribe()
    }

    /// Runs the hub until the task is dropped: listens for `NOTIFY` on
    /// PostgreSQL (`listen_url`, the database URL) and reads the outbox on every
    /// wake-up and every [`HUB_POLL_INTERVAL`].
    pub async fn run(self: Arc<Self>, listen_url: Option<String>) {
        let _listener =
            listen_url.map(|url| AbortOnDrop(tokio::spawn(listen(url, self.instance.clone(), self.wake.clone()))));
        let mut last = loop {
            match self.read_head().await {
                Ok(h) => break h,
                Err(e) => {
                    tracing::warn!(error = %e, "event hub cannot read the outbox head; retrying");
                    tokio::time::sleep(MAX_RETRY_BACKOFF).await;
                }
            }
        };
        self.head.send_replace(last);
        let mut tick = tokio::time::interval(HUB_POLL_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = self.wake.notified() => {}
                _ = tick.tick() => {}
            }
            match self.drain(last).await {
                Ok(next) => last = next,
                Err(e) => {
                    tracing::warn!(error = %e, "event hub cannot read the outbox; retrying");
                    tokio::time::sleep(HUB_POLL_INTERVAL).await;
                }
            }
        }
    }

    async fn read_head(&self) -> Result<FeedPosition, sea_orm::DbErr> {
        outbox::head_now(&self.pool).await
    }

    /// Sends every event after `last`; returns the new last position.
    #[tracing::instrument(name = "ledger.events.drain", skip_all, fields(after = %last))]
    async fn drain(&self, mut last: FeedPosition) -> Result<FeedPosition, sea_orm::DbErr> {
        // Nobody listens: move the head without reading any payload. The head
        // is read *before* the receivers are counted, so a subscriber that
        // arrives after the count subscribed after every event up to `head`
        // committed, and its own catch-up read of the outbox covers them.
        let head = self.read_head().await?;
        if self.sender.receiver_count() == 0 {
            self.head.send_if_modified(|h| std::mem::replace(h, head) != head);
            return Ok(head);
        }
        loop {
            let page = outbox::page_as(&self.pool, Tenant::All, last, HUB_PAGE).await?;
            let full = page.len() as u64 == HUB_PAGE;
            for event in page {
                last = event.position;
                // No receiver is not an error: nobody is subscribed right now.
                let _ = self.sender.send(Arc::new(event));
            }
            self.head.send_if_modified(|h| {
                let moved = *h != last;
                *h = last;
                moved
            });
            if !full {
                return Ok(last);
            }
        }
    }

    /// The events of `merchant`'s journal after its number `after`, as
    /// `tenant` reads them: first caught up from the outbox, then live, in
    /// journal order with no gap and no duplicate. Ends with
    /// [`FollowError::Lagged`] when the consumer falls more than the buffer
    /// behind, or [`FollowError::Database`].
    pub fn follow(
        self: &Arc<Self>,
        tenant: Tenant,
        merchant: MerchantId,
        after: i64,
    ) -> impl Stream<Item = Result<Arc<LedgerEvent>, FollowError>> + Send + 'static {
        let hub = self.clone();
        async_stream::try_stream! {
            // Subscribe before reading the outbox: whatever commits from now on
            // reaches the channel, and the outbox read covers everything before.
            let mut live = hub.sender.subscribe();
            let mut last = after;
            loop {
                let page = outbox::journal_page_as(&hub.pool, tenant, merchant, last, CATCH_UP_PAGE).await?;
                let full = page.len() as u64 == CATCH_UP_PAGE;
                for event in page {
                    last = event.sequence_for(merchant).unwrap_or(last);
                    yield Arc::new(event);
                }
                if !full {
                    break;
                }
            }
            loop {
                let event = match live.recv().await {
                    Ok(event) => event,
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        Err::<(), _>(FollowError::Lagged { resume_after: last })?;
                        continue;
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                };
                let Some(number) = event.sequence_for(merchant) else { continue };
                if number <= last {
                    continue;
                }
                if number > last + 1 {
                    // The feed's order put a later number of this journal
                    // first: the ones between have committed (a number is
                    // visible only after all before it), so read them.
                    loop {
                        let page = outbox::journal_page_as(&hub.pool, tenant, merchant, last, CATCH_UP_PAGE).await?;
                        let full = page.len() as u64 == CATCH_UP_PAGE;
                        for missed in page {
                            last = missed.sequence_for(merchant).unwrap_or(last);
                            yield Arc::new(missed);
                        }
                        if !full || last >= number {
                            break;
                        }
                    }
                    continue;
                }
                last = number;
                yield event;
            }
        }
    }
}

/// Aborts a spawned task when dropped, so a helper task ends with its owner.
pub(crate) struct AbortOnDrop<T>(pub(crate) tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Listens on [`events::NOTIFY_CHANNEL`] and turns each notification from
/// another instance into a wake-up of the hub (this instance's own commits wake
/// it directly). After a (re)connection it wakes the hub too, since
/// notifications sent meanwhile are lost ([`crate::core::db::listen_forever`]).
async fn listen(url: String, instance: String, wake: Arc<Notify>) {
    crate::core::listen_forever(url, outbox::NOTIFY_CHANNEL, MAX_RETRY_BACKOFF, |heard| {
        if heard.as_deref() != Some(instance.as_str()) {
            wake.notify_one();
        }
        std::future::ready(())
    })
    .await;
}
