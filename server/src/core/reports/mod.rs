//! Reports: the monthly rollup, kept off the write path.
//!
//! - A scheduled job ([`run`]) closes each month once: at its first run after
//!   00:00 UTC on the first day of the next month it folds the month's
//!   entries ([`crate::core::reports::rollup`]) and stores the result with the
//!   ledger sequence it read through. A stored month is never recomputed.
//!   Postings backdated into a closed month go in the *adjustment* line of
//!   the next month the job closes.
//! - The open month (and a closed month the job has not reached yet) is
//!   computed on demand and cached for `--report-cache-ttl-secs`: a new
//!   posting shows within that TTL and no later, and repeated report views
//!   cost one computation per TTL. The cache is in-process ([`moka`]), or
//!   Redis when `REDIS_URL` is set, so that several instances share one
//!   computation (keys `<--redis-key-prefix>:rollup:<YYYY-MM>`, expiring by
//!   `PSETEX`). A Redis failure is logged and the report computed anyway:
//!   the cache can make a report faster, never make it fail.
//! - With `REPORTING_DATABASE_URL` (a PostgreSQL streaming replica), every
//!   report read, the job's included, goes there; only the job's small insert
//!   of a closed month goes to the primary.

pub mod error;
pub mod rollup;
pub(in crate::core) mod store;

pub use error::ReportError;

pub use store::books::{AsOf, TrialBalanceLine, VerifyReport};

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::{DatabaseConnection, DbErr};

use crate::core::access::rules::Tenant;
use crate::core::db;
use crate::core::reports::rollup::Month;
use crate::core::reports::store as rollups;

/// Default `--report-cache-ttl-secs`: a report of the open month is at most a
/// minute old, and a busy reports page costs one computation a minute.
pub const DEFAULT_REPORT_CACHE_TTL: Duration = Duration::from_secs(60);

/// Months of open-month reports cached at once: the open month and a few
/// closed months the job has not stored yet.
pub const REPORT_CACHE_MONTHS: u64 = 24;

/// A month's report: stored (closed) or computed now (open).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MonthReport {
    /// The month.
    pub month: Month,
    /// True when the job stored it: it will not change.
    pub closed: bool,
    /// Its figures.
    pub figures: rollups::StoredMonth,
}

/// The reports service: where report reads go, and the open-month cache.
pub struct Reports {
    primary: DatabaseConnection,
    reporting: DatabaseConnection,
    cache: moka::future::Cache<Month, Arc<MonthReport>>,
    shared: Option<SharedCache>,
}

/// The Redis cache of open-month reports, shared by every instance.
#[derive(Clone)]
pub struct SharedCache {
    redis: redis::aio::ConnectionManager,
    prefix: String,
    ttl: Duration,
}

/// How long the month-closing job waits for transactions still open to end
/// before it reads a month (see `Reports::settle`).
pub const SETTLE_WAIT: Duration = Duration::from_secs(5);

/// How long a Redis call may take before the report is computed without it.
pub const REDIS_TIMEOUT: Duration = Duration::from_millis(500);

/// A month's figures as stored in Redis (JSON; map keys become rows).
#[derive(serde::Serialize, serde::Deserialize)]
struct Wire {
    lines: Vec<(String, String, crate::core::reports::rollup::RollupSums)>,
    adjustments: Vec<(String, String, crate::core::reports::rollup::RollupSums)>,
    rates: Vec<crate::core::reports::rollup::ConversionRate>,
    through: crate::domain::event::FeedPosition,
}

impl SharedCache {
    /// Connects to Redis at `url`. Errors: a bad URL or an unreachable
    /// server (a configured cache that does not work is a start-up error).
    pub async fn connect(url: &str, prefix: &str, ttl: Duration) -> redis::RedisResult<Self> {
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(REDIS_TIMEOUT))
            .set_response_timeout(Some(REDIS_TIMEOUT))
            .set_number_of_retries(1);
        let redis = redis::Client::open(url)?.get_connection_manager_with_config(config).await?;
        Ok(Self { redis, prefix: prefix.to_owned(), ttl })
    }

    fn key(&self, month: Month) -> String {
        format!("{}:rollup:{month}", self.prefix)
    }

    async fn get(&self, month: Month) -> Option<rollups::StoredMonth> {
        let mut redis = self.redis.clone();
        let raw: Option<String> = match redis::AsyncCommands::get(&mut redis, self.key(month)).await {
            Ok(raw) => raw,
            Err(e) => {
                tracing::warn!(error = %e, "report cache (Redis) read failed; computing the report");
                return None;
            }
        };
        let wire: Wire = serde_json::from_str(&raw?).ok()?;
        Some(rollups::StoredMonth {
            lines: wire.lines.into_iter().map(|(c, a, s)| ((c, a), s)).collect(),
            adjustments: wire.adjustments.into_iter().map(|(c, a, s)| ((c, a), s)).collect(),
            rates: wire.rates,
            through: wire.through,
        })
    }

    async fn put(&self, month: Month, figures: &rollups::StoredMonth) {
        let flat = |m: &std::collections::BTreeMap<(String, String), crate::core::reports::rollup::RollupSums>| {
            m.iter().map(|((c, a), s)| (c.clone(), a.clone(), s.clone())).collect()
        };
        let wire = Wire {
            lines: flat(&figures.lines),
            adjustments: flat(&figures.adjustments),
            rates: figures.rates.clone(),
            through: figures.through,
        };
        let Ok(json) = serde_json::to_string(&wire) else { return };
        let ms = u64::try_from(self.ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let mut redis = self.redis.clone();
        if let Err(e) = redis::AsyncCommands::pset_ex::<_, _, ()>(&mut redis, self.key(month), json, ms).await {
            tracing::warn!(error = %e, "report cache (Redis) write failed");
        }
    }

    async fn forget(&self, month: Month) {
        let mut redis = self.redis.clone();
        let _: redis::RedisResult<()> = redis::AsyncCommands::del(&mut redis, self.key(month)).await;
    }
}

impl Reports {
    /// Report reads go to `reporting` when given (a replica), else to
    /// `primary`. Open-month reports are cached for `ttl`.
    pub fn new(primary: DatabaseConnection, reporting: Option<DatabaseConnection>, ttl: Duration) -> Self {
        let cache = moka::future::Cache::builder().max_capacity(REPORT_CACHE_MONTHS).time_to_live(ttl).build();
        Self { reporting: reporting.unwrap_or_else(|| primary.clone()), primary, cache, shared: None }
    }

    /// Caches open-month reports in Redis instead of in-process.
    pub fn with_shared_cache(mut self, shared: SharedCache) -> Self {
        self.shared = Some(shared);
        self
    }

    /// The connection report reads use.
    pub fn reads(&self) -> &DatabaseConnection {
        &self.reporting
    }

    /// The months stored by the job, oldest first, with the feed position each
    /// was computed through (exclusive) and when.
    pub async fn closed_months(
        &self,
    ) -> Result<Vec<(Month, crate::domain::event::FeedPosition, DateTime<Utc>)>, DbErr> {
        let txn = db::begin_read(&self.reporting, Tenant::All).await?;
        let months = rollups::closed_months(&txn).await?;
        txn.commit().await?;
        Ok(months)
    }

    /// The report of `month` (`YYYY-MM`) at `now` (see [`Reports::month`]).
    /// Errors: [`ReportError::MonthInvalid`], [`ReportError::MonthNotBegun`],
    /// [`ReportError::Database`].
    pub async fn report(&self, month: &str, now: DateTime<Utc>) -> Result<Arc<MonthReport>, ReportError> {
        let month = Month::parse(month)?;
        self.month(month, now).await?.ok_or(ReportError::MonthNotBegun(month))
    }

    /// `month`'s report at `now`: the stored one when closed, else computed
    /// (and cached for the TTL). None for a month that has not begun.
    #[tracing::instrument(name = "reports.month", skip_all, fields(month = %month))]
    pub async fn month(&self, month: Month, now: DateTime<Utc>) -> Result<Option<Arc<MonthReport>>, DbErr> {
        if month.start() > now {
            return Ok(None);
        }
        // A month computed within the TTL is served without a database read;
        // closing a month drops it from this cache.
        if let Some(hit) = self.cache.get(&month).await {
            crate::telemetry::metrics::report_cache("local", true);
            return Ok(Some(hit));
        }
        let txn = db::begin_read(&self.reporting, Tenant::All).await?;
        let stored = rollups::load_month(&txn, month).await?;
        txn.commit().await?;
        if let Some(figures) = stored {
            return Ok(Some(Arc::new(MonthReport { month, closed: true, figures })));
        }
        if let Some(shared) = &self.shared {
            let found = shared.get(month).await;
            crate::telemetry::metrics::report_cache("shared", found.is_some());
            if let Some(figures) = found {
                return Ok(Some(Arc::new(MonthReport { month, closed: false, figures })));
            }
            let figures = self.compute_now(month).await?;
            shared.put(month, &figures).await;
            return Ok(Some(Arc::new(MonthReport { month, closed: false, figures })));
        }
        let computed = self
            .cache
            .try_get_with(month, async {
                // Only the request that computes counts a miss; those that
                // waited for it were served from the cache.
                crate::telemetry::metrics::report_cache("local", false);
                let figures = self.compute_now(month).await?;
                Ok::<_, DbErr>(Arc::new(MonthReport { month, closed: false, figures }))
            })
            .await
            // Every request that waited on this computation shares its one
            // failure; each gets its own copy of the database's error.
            .map_err(Arc::unwrap_or_clone)?;
        Ok(Some(computed))
    }

    /// A month not stored yet, computed from one snapshot of the reporting
    /// database, its adjustments after the last stored month before it.
    async fn compute_now(&self, month: Month) -> Result<rollups::StoredMonth, DbErr> {
        let txn = db::begin_read(&self.reporting, Tenant::All).await?;
        let previous = rollups::closed_months(&txn).await?.into_iter().rev().find(|(m, _, _)| *m < month);
        let figures = compute(&txn, month, previous.map(|(_, through, _)| through), Bound::Visible).await?;
        txn.commit().await?;
        Ok(figures)
    }

    /// Waits (at most [`SETTLE_WAIT`]) until the visibility watermark has
    /// passed every event already committed, so a month closes with what
    /// committed before it rather than counting those as next month's
    /// adjustments because some unrelated transaction was still open. Only a
    /// nicety: a month closed without it is still exact (see
    /// [`rollups::Window`]). Errors: the database's.
    async fn settle(&self) -> Result<(), DbErr> {
        let started = std::time::Instant::now();
        loop {
            let reads = db::begin_read(&self.reporting, Tenant::All).await?;
            let settled = rollups::watermark_passed_events(&reads).await?;
            reads.commit().await?;
            if settled || started.elapsed() >= SETTLE_WAIT {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Closes every month that is over at `now` and not stored yet, oldest
    /// first. Returns the months closed by this run.
    #[tracing::instrument(name = "reports.close_months", skip_all)]
    pub async fn close_due_months(&self, now: DateTime<Utc>) -> Result<Vec<Month>, DbErr> {
        let reads = db::begin_read(&self.reporting, Tenant::All).await?;
        let stored = rollups::closed_months(&reads).await?;
        let first = rollups::first_month(&reads).await?;
        reads.commit().await?;
        // Walk on from the last stored month with what this run stored: a
        // replica may not show our own inserts yet, and the next month's
        // adjustments must start right after this month's sequence.
        let (mut next, mut previous_through) = match stored.last() {
            Some((m, through, _)) => (Some(m.next()), Some(*through)),
            None => (first, None),
        };
        let mut closed = Vec::new();
        while let Some(month) = next.filter(|m| m.is_closed_at(now)) {
            self.settle().await?;
            let reads = db::begin_read(&self.reporting, Tenant::All).await?;
            let figures = compute(&reads, month, previous_through, Bound::Watermark).await?;
            reads.commit().await?;
            let write = db::begin(&self.primary).await?;
            db::set_tenant(&write, Tenant::All, true).await?;
            match rollups::insert_month(&write, month, now, &figures).await {
                Ok(()) => write.commit().await?,
                // Another instance closed it first; its figures stand, and
                // the next run goes on from them.
                Err(e) if db::is_unique_violation(&e, crate::core::db::UniqueKey::RollupMonth) => {
                    write.rollback().await?;
                    return Ok(closed);
                }
                Err(e) => return Err(e),
            }
            self.cache.invalidate(&month).await;
            if let Some(shared) = &self.shared {
                shared.forget(month).await;
            }
            tracing::info!(month = %month, through = %figures.through, "month closed");
            closed.push(month);
            previous_through = Some(figures.through);
            next = Some(month.next());
        }
        Ok(closed)
    }
}

/// How far a month's figures read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Bound {
    /// Up to the visibility watermark: a month being stored, whose bound the
    /// next month's adjustments start from.
    Watermark,
    /// Everything the read sees: the open month, shown and never stored.
    Visible,
}

/// A month's figures through the feed's visibility watermark: its own
/// transactions, and as adjustments the backdated ones (dated before the
/// month) placed from `previous_through` on, the position the last stored
/// month was computed through (none before the first stored month).
async fn compute(
    db: &(impl sea_orm::ConnectionTrait + sea_orm::StreamTrait),
    month: Month,
    previous_through: Option<crate::domain::event::FeedPosition>,
    bound: Bound,
) -> Result<rollups::StoredMonth, DbErr> {
    let through = match bound {
        Bound::Watermark => rollups::through_now(db).await?,
        Bound::Visible => crate::domain::event::FeedPosition::END,
    };
    let exponents = rollups::exponents(db).await?;
    let window = rollups::Window { from: Some(month.start()), to: month.next().start(), after: None, through };
    let (lines, rates) = rollups::fold(db, window, &exponents).await?;
    let adjustments = match previous_through {
        Some(after) => {
            let window = rollups::Window { from: None, to: month.start(), after: Some(after), through };
            rollups::fold(db, window, &exponents).await?.0
        }
        None => Default::default(),
    };
    Ok(rollups::StoredMonth { lines, adjustments, rates, through })
}

/// Runs the month-closing job every `interval` until the task is dropped.
pub async fn run(reports: Arc<Reports>, interval: Duration) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = reports.close_due_months(Utc::now()).await {
            tracing::warn!(error = %e, "closing months failed; will retry");
        }
    }
}

/// The trial balance: every account code and asset with its debit and credit
/// totals, platform and merchants apart, as `reads` may see. Errors:
/// [`crate::core::LedgerError::Database`].
pub async fn trial_balance(reads: &crate::core::Reads) -> Result<Vec<TrialBalanceLine>, crate::core::LedgerError> {
    Ok(store::books::trial_balance(reads.db(), reads.tenant() == Tenant::All).await?)
}

/// The platform's control accounts, per code and asset (optionally one
/// `asset`): each the sum of the platform's subsidiary accounts (one per
/// merchant) and its own. Errors: [`crate::core::LedgerError::Database`].
pub async fn platform_balances(
    reads: &crate::core::Reads,
    asset: Option<&crate::domain::AssetCode>,
) -> Result<Vec<TrialBalanceLine>, crate::core::LedgerError> {
    Ok(store::books::platform_balances(reads.db(), asset, reads.tenant() == Tenant::All).await?)
}

/// `merchant`'s balances of the accounts with `code`, per asset, at a past
/// sequence number or time (posted, summed from the entries): `(asset, normal
/// balance, totals)`. Errors: [`crate::core::LedgerError::Database`].
pub async fn balances_as_of(
    reads: &crate::core::Reads,
    merchant: crate::domain::MerchantId,
    code: &crate::domain::AccountCode,
    at: AsOf,
) -> Result<
    Vec<(crate::domain::AssetCode, crate::domain::NormalBalance, crate::domain::Balance)>,
    crate::core::LedgerError,
> {
    Ok(store::books::balances_as_of(reads.db(), merchant, code, at).await?)
}

/// Checks the whole books (run as the database owner, past row-level
/// security): every balance row equals the sum of its entries, every
/// transaction balances per asset, sequences have no gap, every merchant's
/// hash chain recomputes from its rows. Errors: the database's.
pub async fn verify(pool: &crate::core::Pool) -> Result<VerifyReport, DbErr> {
    let mut report = store::books::verify(pool).await?;
    report.chain_breaks = crate::core::chain::verify_chains(pool)
        .await?
        .into_iter()
        .map(|b| {
            format!(
                "merchant {}: transaction {}{} breaks the chain: {}",
                b.merchant,
                b.sequence,
                b.transaction.map(|t| format!(" ({t})")).unwrap_or_default(),
                b.problem
            )
        })
        .collect();
    Ok(report)
}

/// Recomputes every balance row from the entries, in one database
/// transaction; returns how many rows were corrected. Errors: the database's.
pub async fn rebuild_balances(pool: &crate::core::Pool) -> Result<u64, DbErr> {
    let txn = db::begin(pool).await?;
    let changed = store::books::rebuild_balances(&txn).await?;
    txn.commit().await?;
    Ok(changed)
}

/// The sum of every entry per asset, signed (debits positive): zero for each
/// asset when the books balance. Errors: the database's.
pub async fn asset_totals(pool: &crate::core::Pool) -> Result<BTreeMap<String, i64>, DbErr> {
    store::books::asset_totals(pool).await
}
