//! Prometheus metrics, served at `/metrics` in the text exposition format
//! (prometheus.io/docs/instrumenting/exposition_formats/) by
//! [`crate::http::metrics`].
//!
//! The code records through the `metrics` facade (a no-op until a recorder is
//! installed, so `--metrics false` costs nothing); [`install`] puts
//! `metrics-exporter-prometheus`'s recorder in place. Names follow
//! Prometheus's conventions (prometheus.io/docs/practices/naming/): a
//! `ledger_` prefix, the base unit in the name (`_seconds`), `_total` on
//! counters. Every name is a constant below, whose doc says what it counts;
//! label values come from closed sets (GraphQL root field names that passed
//! validation, error codes, lane numbers), never from free caller text.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Counter: GraphQL requests over HTTP, by `operation` (`query`/`mutation`
/// and its first root field, `+` when it has more, e.g. `mutation
/// recordPayment`; `unparsed` or `invalid` when the document did not parse or
/// validate) and `code` (`OK`, or the first error's `extensions.code`).
pub const GRAPHQL_REQUESTS: &str = "ledger_graphql_requests_total";
/// Histogram, seconds: how long a GraphQL request took from parse to
/// response, by `operation`.
pub const GRAPHQL_REQUEST_SECONDS: &str = "ledger_graphql_request_duration_seconds";
/// Histogram, requests: the size of each group commit batch, by `lane`.
pub const GROUP_COMMIT_BATCH_REQUESTS: &str = "ledger_group_commit_batch_requests";
/// Histogram, seconds: how long each request waited in its lane's queue
/// before its batch began to commit.
pub const GROUP_COMMIT_WAIT_SECONDS: &str = "ledger_group_commit_wait_seconds";
/// Histogram, seconds: how long each batch's database transaction took
/// (retries included), by `lane`.
pub const GROUP_COMMIT_COMMIT_SECONDS: &str = "ledger_group_commit_commit_seconds";
/// Gauge, requests: queued for group commit and not yet in a batch.
pub const GROUP_COMMIT_QUEUE_DEPTH: &str = "ledger_group_commit_queue_depth";
/// Gauge, lanes: the group committers running (`--group-commit-lanes`).
pub const GROUP_COMMIT_LANES: &str = "ledger_group_commit_lanes";
/// Gauge, lanes: those inside a database transaction right now.
pub const GROUP_COMMIT_LANES_COMMITTING: &str = "ledger_group_commit_lanes_committing";
/// Gauge, connections: of each `pool` (`requests`, `group_commit`,
/// `reporting`), by `state` (`in_use`, `idle`), sampled at each scrape.
pub const DB_POOL_CONNECTIONS: &str = "ledger_db_pool_connections";
/// Gauge, connections: the most each `pool` may open.
pub const DB_POOL_MAX_CONNECTIONS: &str = "ledger_db_pool_max_connections";
/// Gauge, tasks: waiting for a pooled connection (and, through sea-orm, its
/// `BEGIN`), all pools together.
pub const DB_POOL_WAITING: &str = "ledger_db_pool_waiting";
/// Gauge, seconds: how long ago the oldest event the NATS relay has not
/// published yet happened (0 when it has published everything), sampled at
/// each scrape. Present only with `--nats-url`.
pub const OUTBOX_OLDEST_UNPUBLISHED_AGE_SECONDS: &str = "ledger_outbox_oldest_unpublished_age_seconds";
/// Gauge, events: committed to the outbox and not yet published by the NATS
/// relay (the relay's lag; counted up to [`RELAY_LAG_CAP`]), sampled at
/// each scrape. Present only with `--nats-url`.
pub const OUTBOX_UNPUBLISHED_EVENTS: &str = "ledger_outbox_unpublished_events";
/// Counter: events the NATS relay published and JetStream acknowledged.
pub const RELAY_PUBLISHED_EVENTS: &str = "ledger_relay_published_events_total";
/// Gauge, subscriptions: live GraphQL subscriptions (`balanceUpdated`,
/// `transactionPosted`) on this instance.
pub const SUBSCRIPTIONS_LIVE: &str = "ledger_subscriptions_live";
/// Counter: subscriptions ended with `SUBSCRIPTION_LAGGED` because the
/// subscriber fell more than the buffer behind.
pub const SUBSCRIBERS_DROPPED: &str = "ledger_subscribers_dropped_total";
/// Counter: subscriptions started with `afterSequence` (a subscriber resuming).
pub const SUBSCRIBERS_RESUMED: &str = "ledger_subscribers_resumed_total";
/// Counter: look-ups of an open month's report in a cache, by `cache`
/// (`local`, this process's; `shared`, Redis) and `result` (`hit`, `miss`).
pub const REPORT_CACHE_REQUESTS: &str = "ledger_report_cache_requests_total";

/// Most unpublished events counted for [`OUTBOX_UNPUBLISHED_EVENTS`], so a
/// scrape stays cheap when NATS has been away for long.
pub const RELAY_LAG_CAP: u64 = 1_000_000;

/// How often the recorder's histograms are compacted (metrics-exporter-
/// prometheus's upkeep), by [`run_upkeep`].
pub const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// Bucket bounds of the `_seconds` histograms: 100 µs to 10 s.
const SECONDS_BUCKETS: &[f64] =
    &[0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// Bucket bounds of the batch-size histogram: 1 to 256 requests (the default
/// largest batch, [`crate::core::posting::group::DEFAULT_GROUP_COMMIT_MAX_BATCH`]).
const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the Prometheus recorder as the process's `metrics` recorder and
/// returns the handle that renders it; later calls return the same handle.
/// `None` when another recorder was installed first (only possible in an
/// embedding program).
pub fn install() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), SECONDS_BUCKETS)
                .and_then(|b| {
                    b.set_buckets_for_metric(Matcher::Full(GROUP_COMMIT_BATCH_REQUESTS.to_owned()), BATCH_BUCKETS)
                });
            let handle = match builder {
                Ok(b) => b.install_recorder(),
                Err(e) => {
                    tracing::error!(error = %e, "metrics: bad histogram buckets");
                    return None;
                }
            };
            match handle {
                Ok(h) => {
                    describe();
                    Some(h)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "metrics: another recorder is installed; /metrics is off");
                    None
                }
            }
        })
        .clone()
}

/// Compacts the histograms every [`UPKEEP_INTERVAL`], for as long as the task runs.
pub async fn run_upkeep(handle: PrometheusHandle) {
    let mut tick = tokio::time::interval(UPKEEP_INTERVAL);
    loop {
        tick.tick().await;
        handle.run_upkeep();
    }
}

/// The `# HELP` lines.
fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(GRAPHQL_REQUESTS, "GraphQL requests by operation and outcome code");
    describe_histogram!(GRAPHQL_REQUEST_SECONDS, Unit::Seconds, "GraphQL request latency, parse to response");
    describe_histogram!(GROUP_COMMIT_BATCH_REQUESTS, Unit::Count, "Requests per group commit batch");
    describe_histogram!(GROUP_COMMIT_WAIT_SECONDS, Unit::Seconds, "Time a request queued before its batch committed");
    describe_histogram!(GROUP_COMMIT_COMMIT_SECONDS, Unit::Seconds, "Time a batch's database transaction took");
    describe_gauge!(GROUP_COMMIT_QUEUE_DEPTH, Unit::Count, "Requests queued for group commit");
    describe_gauge!(GROUP_COMMIT_LANES, Unit::Count, "Group commit lanes");
    describe_gauge!(GROUP_COMMIT_LANES_COMMITTING, Unit::Count, "Lanes inside a database transaction now");
    describe_gauge!(DB_POOL_CONNECTIONS, Unit::Count, "Pooled database connections by pool and state");
    describe_gauge!(DB_POOL_MAX_CONNECTIONS, Unit::Count, "Most connections each pool may open");
    describe_gauge!(DB_POOL_WAITING, Unit::Count, "Tasks waiting for a pooled connection");
    describe_gauge!(
        OUTBOX_OLDEST_UNPUBLISHED_AGE_SECONDS,
        Unit::Seconds,
        "Age of the oldest outbox event the NATS relay has not published"
    );
    describe_gauge!(OUTBOX_UNPUBLISHED_EVENTS, Unit::Count, "Outbox events the NATS relay has not published");
    describe_counter!(RELAY_PUBLISHED_EVENTS, "Events published to NATS JetStream and acknowledged");
    describe_gauge!(SUBSCRIPTIONS_LIVE, Unit::Count, "Live GraphQL subscriptions");
    describe_counter!(SUBSCRIBERS_DROPPED, "Subscriptions ended SUBSCRIPTION_LAGGED (fell behind)");
    describe_counter!(SUBSCRIBERS_RESUMED, "Subscriptions started with afterSequence (resumed)");
    describe_counter!(REPORT_CACHE_REQUESTS, "Open-month report cache look-ups by cache and result");
}

/// Counts a task waiting for a pooled connection in [`DB_POOL_WAITING`]
/// while it lives.
#[derive(Debug)]
pub struct PoolWait(());

impl PoolWait {
    /// Starts counting.
    pub fn start() -> Self {
        metrics::gauge!(DB_POOL_WAITING).increment(1.0);
        Self(())
    }
}

impl Drop for PoolWait {
    fn drop(&mut self) {
        metrics::gauge!(DB_POOL_WAITING).decrement(1.0);
    }
}

/// Counts a live subscription in [`SUBSCRIPTIONS_LIVE`] while it lives.
#[derive(Debug)]
pub struct LiveSubscription(());

impl LiveSubscription {
    /// Starts counting; `resumed` (the subscriber gave `afterSequence`) also
    /// counts it in [`SUBSCRIBERS_RESUMED`].
    pub fn start(resumed: bool) -> Self {
        metrics::gauge!(SUBSCRIPTIONS_LIVE).increment(1.0);
        if resumed {
            metrics::counter!(SUBSCRIBERS_RESUMED).increment(1);
        }
        Self(())
    }
}

impl Drop for LiveSubscription {
    fn drop(&mut self) {
        metrics::gauge!(SUBSCRIPTIONS_LIVE).decrement(1.0);
    }
}

/// Counts one open-month report look-up in `cache` (`local` or `shared`).
pub fn report_cache(cache: &'static str, hit: bool) {
    let result = if hit { "hit" } else { "miss" };
    metrics::counter!(REPORT_CACHE_REQUESTS, "cache" => cache, "result" => result).increment(1);
}

/// Sets the connection gauges of `pool` (named `name`) from its current state.
pub fn sample_pool(name: &'static str, pool: &sea_orm::DatabaseConnection) {
    use sea_orm::DbBackend;
    let (size, idle, max) = match pool.get_database_backend() {
        DbBackend::Postgres => {
            let p = pool.get_postgres_connection_pool();
            (p.size(), p.num_idle() as u32, p.options().get_max_connections())
        }
        DbBackend::Sqlite => {
            let p = pool.get_sqlite_connection_pool();
            (p.size(), p.num_idle() as u32, p.options().get_max_connections())
        }
        _ => return,
    };
    let in_use = size.saturating_sub(idle);
    metrics::gauge!(DB_POOL_CONNECTIONS, "pool" => name, "state" => "in_use").set(f64::from(in_use));
    metrics::gauge!(DB_POOL_CONNECTIONS, "pool" => name, "state" => "idle").set(f64::from(idle));
    metrics::gauge!(DB_POOL_MAX_CONNECTIONS, "pool" => name).set(f64::from(max));
}
