//! Group commit: concurrent posting requests gathered into one database
//! transaction.
//!
//! Every request that [`super::batch::groupable`] accepts goes into a queue.
//! One committer task takes what is queued, waits up to
//! [`GroupCommit::window`] for more while the batch is short of
//! [`GroupCommit::max_batch`], and applies the batch through the batched
//! write path ([`super::batch`]) in one database transaction: one WAL flush,
//! one pass of the sequence clock, one lock and one update per balance row
//! however many of the batch's payments touch it. While it commits, the next
//! batch gathers, so under load batches form by themselves and the window
//! only matters when the server is quiet.
//!
//! Each request gets its own result through its own channel. A refused request
//! (`INSUFFICIENT_FUNDS`, a bad account) fails alone; see
//! [`super::Writer::submit_unaudited`] for what happens when the database
//! transaction itself fails. A request is answered only after its batch
//! committed, so an acknowledged write is durable, and requests in a batch
//! take sequence numbers in the order they were queued.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use super::{Applied, LedgerError, Request, Writer};

/// How long the committer waits for more requests once it has some, by
/// default. A millisecond is well under a commit's own cost, so a quiet server
/// adds little latency, and it lets a burst of clients share one commit.
pub const DEFAULT_GROUP_COMMIT_WINDOW: Duration = Duration::from_millis(1);

/// Most requests in one group commit, by default. Large enough to carry 64
/// clients' requests at once; small enough that one batch's statements stay
/// far below the bind-parameter limit and its locks are held briefly.
pub const DEFAULT_GROUP_COMMIT_MAX_BATCH: usize = 256;

/// Committers working at once by default (see [`GroupCommit::lanes`]).
pub const DEFAULT_GROUP_COMMIT_LANES: usize = 1;

/// Most committers `--group-commit-lanes` accepts: each holds a connection,
/// and more lanes than a few only queue on the same balance rows.
pub const MAX_GROUP_COMMIT_LANES: u64 = 8;

/// Requests that may wait for the committer; beyond it new requests wait to be
/// queued, which pushes back on callers instead of growing memory.
pub const GROUP_COMMIT_QUEUE: usize = 8192;

/// How group commit gathers requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupCommit {
    /// How long to wait for more requests once the queue is empty and the
    /// batch is not full. Zero takes only what is already queued.
    pub window: Duration,
    /// Most requests per batch. Zero turns group commit off: every request
    /// runs in its own database transaction, as before.
    pub max_batch: usize,
    /// Committers working at once. With two, one batch gathers and reads
    /// (keys, merchants, accounts) while the other holds its locks and
    /// commits; their balance locks and the clock still order their commits.
    pub lanes: usize,
}

impl Default for GroupCommit {
    fn default() -> Self {
        Self {
            window: DEFAULT_GROUP_COMMIT_WINDOW,
            max_batch: DEFAULT_GROUP_COMMIT_MAX_BATCH,
            lanes: DEFAULT_GROUP_COMMIT_LANES,
        }
    }
}

/// What the committer has done since it started: batches committed (or
/// attempted) and the requests they carried. Requests ÷ batches is the mean
/// batch size.
#[derive(Debug, Default)]
pub struct GroupStats {
    /// Batches run.
    pub batches: AtomicU64,
    /// Requests in them.
    pub requests: AtomicU64,
}

/// A queued request and where its result goes.
#[derive(Debug)]
pub(super) struct Pending {
    pub(super) request: Request,
    pub(super) reply: oneshot::Sender<Result<Applied, LedgerError>>,
}

/// Starts the committer task; requests sent to the returned queue are
/// committed in batches. The task ends when every sender is dropped.
pub(super) fn start(writer: Writer, settings: GroupCommit, stats: Arc<GroupStats>) -> mpsc::Sender<Pending> {
    let (tx, rx) = mpsc::channel(GROUP_COMMIT_QUEUE);
    let queue = Arc::new(tokio::sync::Mutex::new(rx));
    for _ in 0..settings.lanes.max(1) {
        tokio::spawn(run(writer.clone(), settings, stats.clone(), queue.clone()));
    }
    tx
}

/// One lane: gathers a batch while holding the queue, releases the queue so
/// the next lane gathers while this one commits.
async fn run(
    writer: Writer,
    settings: GroupCommit,
    stats: Arc<GroupStats>,
    queue: Arc<tokio::sync::Mutex<mpsc::Receiver<Pending>>>,
) {
    let max = settings.max_batch.max(1);
    let mut batch: Vec<Pending> = Vec::with_capacity(max);
    loop {
        let mut queue = queue.lock().await;
        let Some(first) = queue.recv().await else { break };
        batch.push(first);
        let deadline = tokio::time::Instant::now() + settings.window;
        while batch.len() < max {
            match queue.try_recv() {
                Ok(p) => batch.push(p),
                Err(mpsc::error::TryRecvError::Disconnected) => break,
                Err(mpsc::error::TryRecvError::Empty) => {
                    if settings.window.is_zero() {
                        break;
                    }
                    match tokio::time::timeout_at(deadline, queue.recv()).await {
                        Ok(Some(p)) => batch.push(p),
                        Ok(None) | Err(_) => break,
                    }
                }
            }
        }
        drop(queue);
        let (requests, replies): (Vec<Request>, Vec<_>) = batch.drain(..).map(|p| (p.request, p.reply)).unzip();
        stats.batches.fetch_add(1, Ordering::Relaxed);
        stats.requests.fetch_add(requests.len() as u64, Ordering::Relaxed);
        let started = std::time::Instant::now();
        let results = writer.submit_unaudited(&requests, false).await;
        tracing::debug!(requests = requests.len(), elapsed_us = started.elapsed().as_micros() as u64, "group commit");
        writer.audit_refusals(&requests, &results).await;
        for (reply, result) in replies.into_iter().zip(results) {
            // The caller may have gone (a dropped connection); its write stands.
            let _ = reply.send(result);
        }
    }
}
