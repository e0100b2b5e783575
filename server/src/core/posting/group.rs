//! Group commit: concurrent posting requests gathered into one database
//! transaction.
//!
//! Every request that [`super::batch::groupable`] accepts goes into the queue
//! of its merchant's lane ([`Lanes`]). Each lane's committer task takes what is
//! queued, waits up to
//! [`GroupCommit::window`] for more while fewer than
//! [`GroupCommit::max_batch`] wait, takes a batch in which each merchant gets
//! at most its share ([`super::fair`]), and applies it through the batched
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
//! take sequence numbers in the order they were queued within each merchant.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, mpsc, oneshot};
use tracing::Instrument;

use super::fair::FairQueue;
use super::{Applied, LedgerError, Request, Writer};
use crate::domain::MerchantId;
use crate::telemetry::{metrics as names, traces};

/// How long the committer waits for more requests once it has some, by
/// default. A millisecond is well under a commit's own cost, so a quiet server
/// adds little latency, and it lets a burst of clients share one commit.
pub const DEFAULT_GROUP_COMMIT_WINDOW: Duration = Duration::from_millis(1);

/// Most requests in one group commit, by default. Large enough to carry 64
/// clients' requests at once; small enough that one batch's statements stay
/// far below the bind-parameter limit and its locks are held briefly.
pub const DEFAULT_GROUP_COMMIT_MAX_BATCH: usize = 256;

/// Committers working at once by default (see [`GroupCommit::lanes`]): the
/// machine's core count ([`std::thread::available_parallelism`], 1 when it
/// cannot be read), at most [`MAX_GROUP_COMMIT_LANES`]. With a clock per
/// merchant lanes share no lock, and on the two-core test machine two lanes
/// carried more than one in both the uniform and the mixed benchmarks
/// (BENCHMARKS.md, "Fair shares of a batch"; issue 17 asks for the core count).
pub fn default_lanes() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    cores.clamp(1, usize::try_from(MAX_GROUP_COMMIT_LANES).unwrap_or(1))
}

/// Most committers `--group-commit-lanes` accepts: each holds a connection
/// and commits on its own.
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
    /// Committers working at once, each with its own queue; a merchant's
    /// requests always go to the same lane ([`lane_of`]). Lanes' batches
    /// touch different merchants' rows and clocks (a deal's counterparty is
    /// the exception). Default: [`default_lanes`].
    pub lanes: usize,
    /// Most lanes inside a database transaction at once (at least 1; more
    /// than `lanes` changes nothing). A lane waits for a turn after it has
    /// gathered and before it takes its batch, so lanes beyond this number
    /// commit larger batches in turn instead of splitting the machine into
    /// more, smaller commits, each paying a commit's fixed statements and WAL
    /// flush. Default: [`default_lanes`], the core count, as a connection pool
    /// is sized to the database's cores; set it to the database's core count
    /// when PostgreSQL runs on another machine.
    pub concurrency: usize,
}

impl Default for GroupCommit {
    fn default() -> Self {
        Self {
            window: DEFAULT_GROUP_COMMIT_WINDOW,
            max_batch: DEFAULT_GROUP_COMMIT_MAX_BATCH,
            lanes: default_lanes(),
            concurrency: default_lanes(),
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
    /// Requests left for a later batch because their merchant had had its
    /// share of the batch ([`super::fair`]), summed over batches: a request
    /// held back twice counts twice.
    pub held: AtomicU64,
    /// Lanes inside a database transaction now.
    pub at_once: AtomicU64,
    /// The most lanes ever inside a database transaction at once: never more
    /// than [`GroupCommit::concurrency`].
    pub most_at_once: AtomicU64,
}

/// A queued request and where its result goes.
#[derive(Debug)]
pub(super) struct Pending {
    pub(super) request: Request,
    reply: oneshot::Sender<Result<Applied, LedgerError>>,
    /// When it was queued, for [`names::GROUP_COMMIT_WAIT_SECONDS`].
    queued: Instant,
    /// The request's `group_commit.wait` span, which the batch's commit span
    /// links to.
    span: tracing::Span,
}

impl Pending {
    /// `request`, answered on `reply`, waiting in `span`; counted in
    /// [`names::GROUP_COMMIT_QUEUE_DEPTH`] until a batch takes it (or it
    /// comes back unqueued, [`Pending::into_request`]).
    pub(super) fn new(
        request: Request,
        reply: oneshot::Sender<Result<Applied, LedgerError>>,
        span: tracing::Span,
    ) -> Self {
        metrics::gauge!(names::GROUP_COMMIT_QUEUE_DEPTH).increment(1.0);
        Self { request, reply, queued: Instant::now(), span }
    }

    /// The request back, when no lane took it.
    pub(super) fn into_request(self) -> Request {
        metrics::gauge!(names::GROUP_COMMIT_QUEUE_DEPTH).decrement(1.0);
        self.request
    }
}

/// The committers' queues, one per lane. A request goes to the lane of the
/// merchant it acts for ([`lane_of`]), so one merchant's requests are always
/// committed by the same lane, in the order they were queued; within the
/// lane a hot merchant gets its share of each batch ([`super::fair`]). Two lanes'
/// batches lock disjoint balance rows and merchant clocks unless a deal
/// spans them (the platform's accounts are kept per merchant), so no lane
/// waits on another's locks.
#[derive(Debug, Clone)]
pub(super) struct Lanes(Arc<[mpsc::Sender<Pending>]>);

impl Lanes {
    /// Queues `pending` on its merchant's lane. Errors: the committer is gone
    /// (the request comes back to be run on its own).
    pub(super) async fn send(&self, pending: Pending) -> Result<(), mpsc::error::SendError<Pending>> {
        let lane = lane_of(pending.request.scope, self.0.len());
        match self.0.get(lane) {
            Some(queue) => queue.send(pending).await,
            None => Err(mpsc::error::SendError(pending)),
        }
    }
}

/// The lane of `merchant` among `lanes` (0 when there is one, or none): a
/// stable function of the merchant id, so a merchant keeps its lane for the
/// life of the process. Ids are UUIDv7, whose low 64 bits are random, so
/// merchants spread evenly.
pub fn lane_of(merchant: MerchantId, lanes: usize) -> usize {
    if lanes <= 1 {
        return 0;
    }
    let bits = merchant.0.as_u128();
    let folded = (bits as u64) ^ ((bits >> 64) as u64);
    (folded % lanes as u64) as usize
}

/// Starts one committer task per lane; requests sent to the returned lanes
/// are committed in batches. The tasks end when every sender is dropped. The
/// queue capacity [`GROUP_COMMIT_QUEUE`] is shared out among the lanes.
pub(super) fn start(writer: Writer, settings: GroupCommit, stats: Arc<GroupStats>) -> Lanes {
    let lanes = settings.lanes.max(1);
    let capacity = GROUP_COMMIT_QUEUE.div_ceil(lanes);
    let turns = Arc::new(Semaphore::new(settings.concurrency.clamp(1, lanes)));
    let mut senders = Vec::with_capacity(lanes);
    metrics::gauge!(names::GROUP_COMMIT_LANES).set(lanes as f64);
    for lane in 0..lanes {
        let (tx, rx) = mpsc::channel(capacity);
        tokio::spawn(run(writer.clone(), settings, stats.clone(), turns.clone(), rx, lane));
        senders.push(tx);
    }
    Lanes(senders.into())
}

/// One lane: gathers requests from its queue into its [`FairQueue`], waits
/// for a turn ([`GroupCommit::concurrency`]), takes a batch with each
/// merchant's share, commits it, and gathers the next (requests that arrive
/// meanwhile wait in the queue).
async fn run(
    writer: Writer,
    settings: GroupCommit,
    stats: Arc<GroupStats>,
    turns: Arc<Semaphore>,
    mut queue: mpsc::Receiver<Pending>,
    lane: usize,
) {
    let max = settings.max_batch.max(1);
    let lane_label = lane.to_string();
    let mut waiting: FairQueue<Pending> = FairQueue::default();
    loop {
        if waiting.is_empty() {
            let Some(first) = queue.recv().await else { break };
            waiting.push(first.request.scope, first);
        }
        gather(&mut waiting, &mut queue, settings.window, max).await;
        // The semaphore is never closed; a lane without a turn stops.
        let Ok(turn) = turns.acquire().await else { break };
        let now = stats.at_once.fetch_add(1, Ordering::Relaxed) + 1;
        stats.most_at_once.fetch_max(now, Ordering::Relaxed);
        metrics::gauge!(names::GROUP_COMMIT_LANES_COMMITTING).increment(1.0);
        // What arrived while this lane waited for its turn joins the batch.
        gather(&mut waiting, &mut queue, Duration::ZERO, max).await;
        let (batch, held) = waiting.take(max);
        let started = Instant::now();
        let span = commit_span(&batch, lane);
        metrics::gauge!(names::GROUP_COMMIT_QUEUE_DEPTH).decrement(batch.len() as f64);
        metrics::histogram!(names::GROUP_COMMIT_BATCH_REQUESTS, "lane" => lane_label.clone())
            .record(batch.len() as f64);
        let waited = metrics::histogram!(names::GROUP_COMMIT_WAIT_SECONDS);
        let mut requests = Vec::with_capacity(batch.len());
        let mut replies = Vec::with_capacity(batch.len());
        for p in batch {
            waited.record(started.saturating_duration_since(p.queued).as_secs_f64());
            requests.push(p.request);
            replies.push(p.reply);
        }
        stats.batches.fetch_add(1, Ordering::Relaxed);
        stats.requests.fetch_add(requests.len() as u64, Ordering::Relaxed);
        stats.held.fetch_add(held as u64, Ordering::Relaxed);
        let results = writer.submit_unaudited(&requests, false).instrument(span.clone()).await;
        let elapsed = started.elapsed();
        metrics::histogram!(names::GROUP_COMMIT_COMMIT_SECONDS, "lane" => lane_label.clone())
            .record(elapsed.as_secs_f64());
        tracing::debug!(
            parent: &span,
            requests = requests.len(),
            merchants = waiting.last_merchants(),
            held,
            elapsed_us = elapsed.as_micros() as u64,
            "group commit"
        );
        writer.audit_refusals(&requests, &results).await;
        stats.at_once.fetch_sub(1, Ordering::Relaxed);
        metrics::gauge!(names::GROUP_COMMIT_LANES_COMMITTING).decrement(1.0);
        drop(turn);
        drop(span);
        for (reply, result) in replies.into_iter().zip(results) {
            // The caller may have gone (a dropped connection); its write stands.
            let _ = reply.send(result);
        }
    }
}

/// The span of a batch's database transaction (`group_commit.commit`), with
/// a span link to the `group_commit.wait` span of every request it carries.
/// When traces are exported it is a child of the first request's wait span,
/// so that request's trace holds its commit; otherwise it has no parent (a
/// log line of the commit then names no request as if it were the only one).
fn commit_span(batch: &[Pending], lane: usize) -> tracing::Span {
    let first = batch.first().map(|p| &p.span).filter(|_| traces::exporting());
    // As i64: exported as OTel integer attributes (a usize would be a string).
    let (requests, lane) = (batch.len() as i64, lane as i64);
    let span = match first {
        Some(parent) => tracing::info_span!(parent: parent, "group_commit.commit", requests, lane),
        None => tracing::info_span!(parent: None, "group_commit.commit", requests, lane),
    };
    for p in batch {
        traces::link(&span, &p.span);
    }
    span
}

/// Moves what `queue` holds into `waiting`, then waits up to `window` for
/// more while fewer than `max` wait (not at all when `window` is zero).
async fn gather(waiting: &mut FairQueue<Pending>, queue: &mut mpsc::Receiver<Pending>, window: Duration, max: usize) {
    let deadline = tokio::time::Instant::now() + window;
    while waiting.len() < max {
        match queue.try_recv() {
            Ok(p) => waiting.push(p.request.scope, p),
            Err(mpsc::error::TryRecvError::Disconnected) => break,
            Err(mpsc::error::TryRecvError::Empty) => {
                if window.is_zero() {
                    break;
                }
                match tokio::time::timeout_at(deadline, queue.recv()).await {
                    Ok(Some(p)) => waiting.push(p.request.scope, p),
                    Ok(None) | Err(_) => break,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_lane_count_is_the_core_count_at_most_the_maximum() {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        assert_eq!(default_lanes(), cores.min(MAX_GROUP_COMMIT_LANES as usize));
        assert_eq!(GroupCommit::default().lanes, default_lanes());
    }

    #[test]
    fn a_merchant_keeps_its_lane_and_merchants_spread_over_the_lanes() {
        let merchants: Vec<MerchantId> = (0..4000).map(|_| MerchantId::new()).collect();
        for lanes in [1, 2, 3, 4, 8] {
            let mut counts = vec![0usize; lanes];
            for m in &merchants {
                let lane = lane_of(*m, lanes);
                assert_eq!(lane, lane_of(*m, lanes), "the lane of a merchant changed");
                counts[lane] += 1;
            }
            let even = merchants.len() / lanes;
            assert!(counts.iter().all(|c| c * 10 >= even * 8), "{lanes} lanes: {counts:?}");
        }
        assert_eq!(lane_of(MerchantId::PLATFORM, 4), 0);
    }
}
