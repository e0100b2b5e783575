//! The write path: every change to the books goes through [`Ledger::submit`].
//!
//! A batch of [`Request`]s is applied in **one** database transaction:
//!
//! 1. claim each request's idempotency key (a duplicate waits for the first to
//!    commit, then gets its stored result; a different request under the same key
//!    is refused);
//! 2. resolve the accounts, creating standard ones on first use, in sorted
//!    `(owner, code, asset)` order;
//! 3. lock every balance row the request touches, in ascending account-id order;
//! 4. read the balance limits of those accounts (under the locks) and check the
//!    rules that need balances: the draft's payer guards, every changed
//!    account's limit (see [`crate::core::accounts::limit`]), no overflow;
//! 5. reserve gap-free sequence numbers, append the transaction and its entries,
//!    write the new balances, the transaction's outbox event (see
//!    [`crate::domain::event`]) and the idempotency result;
//!
//! then commit, and wake this process's event hub (other instances are woken
//! by the `NOTIFY` queued with the tenant setting, delivered on commit). Within a batch each request runs in its own savepoint, so one
//! refused request fails alone. Serialization failures and deadlocks restart the
//! whole batch up to [`MAX_TXN_RETRIES`] times.

pub(in crate::core) mod apply;
mod batch;
mod call;
pub(in crate::core) mod command;
mod dry_run;
pub mod error;
pub mod fair;
pub mod group;
// Used by `debug_assert!`s only, so a release build compiles them out.
#[cfg_attr(not(debug_assertions), allow(dead_code))]
mod invariants;
pub(in crate::core) mod post;
pub mod reads;
pub mod search;
mod service;
pub(in crate::core) mod store;

pub use call::Call;
pub(in crate::core) use command::{Applied, AuditDraft, Command, Outcome, Request};
pub use dry_run::DryRun;
pub use error::PostingError;
pub use reads::*;
pub use service::{Accounts, BatchItem, LimitSet, Merchants, Posted, Posting};
pub use store::{EntryRecord, TransactionRecord};

/// What the integration tests need below the typed services (the `test-hooks`
/// feature, enabled by the tests crate only): the stored command form, the
/// raw write path, and the hook that tampers with a batch after its checks, to
/// show that PostgreSQL refuses what the checks would stop.
#[cfg(feature = "test-hooks")]
pub mod testing {
    pub use super::batch::hooks::{FOREIGN_ENTRY, ForeignEntry};
    pub use super::command::{Applied, Command, Outcome, Request};
    use super::{Ledger, LedgerError};

    /// [`Ledger::submit`]: a batch of requests in one database transaction.
    pub async fn submit(ledger: &Ledger, batch: Vec<Request>) -> Vec<Result<Applied, LedgerError>> {
        ledger.submit(batch).await
    }

    /// A request's read transaction on `pool`, begun exactly as the read
    /// path begins it (`core::db::begin_read`, every row visible). Errors:
    /// the database's.
    pub async fn begin_read(
        pool: &sea_orm::DatabaseConnection,
    ) -> Result<sea_orm::DatabaseTransaction, sea_orm::DbErr> {
        crate::core::db::begin_read(pool, crate::core::access::rules::Tenant::All).await
    }

    /// Sets the batched write path's tenant set on `txn` (see
    /// `core::db::set_batch_tenants`). Errors: the database's.
    pub async fn set_batch_tenants(
        txn: &sea_orm::DatabaseTransaction,
        merchants: &[crate::domain::MerchantId],
        instance: &str,
    ) -> Result<(), sea_orm::DbErr> {
        crate::core::db::set_batch_tenants(txn, merchants, instance).await
    }
}

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use sea_orm::{DatabaseConnection, TransactionTrait};

pub use crate::core::error::LedgerError;
pub use group::{GroupCommit, GroupStats};

use crate::core::Reads;
use crate::core::access::rules::Tenant;
use crate::core::access::store as access;
use crate::core::db;
use crate::domain::{Asset, DomainError};

/// How long an authorization holds money when the caller gives no `expiresAt`:
/// seven days, as card networks and Stripe's default authorization window.
pub const DEFAULT_AUTHORIZATION_TTL: chrono::Duration = chrono::Duration::days(7);

/// How many times a batch is retried after a serialization failure or deadlock
/// before the caller gets `TRY_AGAIN`. Sorted locking makes deadlocks rare; five
/// retries ride out a burst without letting one request spin for long.
pub const MAX_TXN_RETRIES: u32 = 5;

/// Backoff before the first retry; doubled on each further retry.
pub const RETRY_BACKOFF: Duration = Duration::from_millis(5);

/// The ledger service: the write path and the asset catalogue.
#[derive(Debug)]
pub struct Ledger {
    writer: Writer,
    assets: RwLock<HashMap<String, Asset>>,
    group: Option<group::Lanes>,
    group_pool: Option<DatabaseConnection>,
    group_stats: Arc<GroupStats>,
    auth_cache: Arc<crate::core::access::cache::AuthCache>,
}

/// What runs database transactions on the write path: shared by the request
/// handlers and the group committer task.
#[derive(Debug, Clone)]
struct Writer {
    db: DatabaseConnection,
    authorization_ttl: chrono::Duration,
    committed: Arc<tokio::sync::Notify>,
    instance: String,
}

impl Ledger {
    /// A ledger over a migrated database, without group commit (every request
    /// in its own database transaction; see [`Ledger::with_group_commit`]).
    pub fn new(db: DatabaseConnection) -> Self {
        Self {
            writer: Writer {
                db,
                authorization_ttl: DEFAULT_AUTHORIZATION_TTL,
                committed: Arc::new(tokio::sync::Notify::new()),
                instance: uuid::Uuid::now_v7().to_string(),
            },
            assets: RwLock::new(HashMap::new()),
            group: None,
            group_pool: None,
            group_stats: Arc::new(GroupStats::default()),
            auth_cache: Arc::new(crate::core::access::cache::AuthCache::new()),
        }
    }

    /// Shares `cache` with the [`crate::core::access::auth::Authenticator`]
    /// that answers from it, so this ledger's revocations clear it.
    pub fn with_auth_cache(mut self, cache: Arc<crate::core::access::cache::AuthCache>) -> Self {
        self.auth_cache = cache;
        self
    }

    /// The authentication cache this ledger's revocations clear.
    pub fn auth_cache(&self) -> &Arc<crate::core::access::cache::AuthCache> {
        &self.auth_cache
    }

    /// This ledger's instance id: the payload of its `NOTIFY`s, so its own
    /// event hub can skip them (it is woken directly, see [`Ledger::committed_events`]).
    pub fn instance(&self) -> &str {
        &self.writer.instance
    }

    /// Signalled after every commit that wrote outbox events, so this
    /// process's event hub reads them at once (other processes hear of them
    /// through PostgreSQL `NOTIFY`). A wake-up only: the hub reads the outbox.
    pub fn committed_events(&self) -> Arc<tokio::sync::Notify> {
        self.writer.committed.clone()
    }

    /// Sets how long authorizations hold money by default. Call before
    /// [`Ledger::with_group_commit`].
    pub fn with_authorization_ttl(mut self, ttl: chrono::Duration) -> Self {
        self.writer.authorization_ttl = ttl;
        self
    }

    /// Turns on group commit (see [`group`]) with these settings, starting its
    /// committer task on the current Tokio runtime. `max_batch` 0 leaves it off.
    /// `pool`, when given, is the committer's own connection pool, so that a
    /// batch never waits behind request reads for a connection (PostgreSQL;
    /// SQLite has one connection and shares it).
    pub fn with_group_commit(mut self, settings: GroupCommit, pool: Option<DatabaseConnection>) -> Self {
        if settings.max_batch > 0 {
            let mut writer = self.writer.clone();
            if let Some(pool) = pool {
                writer.db = pool.clone();
                self.group_pool = Some(pool);
            }
            self.group = Some(group::start(writer, settings, self.group_stats.clone()));
        }
        self
    }

    /// Batches and requests the group committer has run (zero when it is off).
    pub fn group_stats(&self) -> Arc<GroupStats> {
        self.group_stats.clone()
    }

    /// The group committers' own connection pool, when they have one.
    pub fn group_pool(&self) -> Option<&DatabaseConnection> {
        self.group_pool.as_ref()
    }

    /// The database connection pool, for reads.
    pub fn db(&self) -> &DatabaseConnection {
        &self.writer.db
    }

    /// Fills the asset cache with every known asset, so that request paths
    /// rarely need a connection for it. Errors: [`LedgerError::Database`].
    pub async fn load_assets(&self) -> Result<(), LedgerError> {
        let all = crate::core::accounts::store::assets::list(&self.writer.db).await?;
        if let Ok(mut m) = self.assets.write() {
            for (a, _) in all {
                m.insert(a.code.to_string(), a);
            }
        }
        Ok(())
    }

    /// Looks up an asset by code (ISO 4217 or registered), through an in-process
    /// cache: assets are never changed or removed once they exist.
    /// Errors: [`DomainError::UnknownAsset`], [`LedgerError::Database`].
    pub async fn asset(&self, code: &str) -> Result<Asset, LedgerError> {
        if let Some(a) = self.assets.read().ok().and_then(|m| m.get(code).cloned()) {
            return Ok(a);
        }
        let asset = crate::core::accounts::store::assets::find(&self.writer.db, code)
            .await?
            .ok_or_else(|| DomainError::UnknownAsset(code.to_owned()))?;
        if let Ok(mut m) = self.assets.write() {
            m.insert(code.to_owned(), asset.clone());
        }
        Ok(asset)
    }

    /// Applies one request: through group commit when it is on and the request
    /// is a plain posting, else in its own database transaction.
    pub(in crate::core) async fn submit_one(&self, request: Request) -> Result<Applied, LedgerError> {
        let request = match &self.group {
            Some(queue) if batch::groupable(&request) => {
                let (reply, answer) = tokio::sync::oneshot::channel();
                // Open from here until the answer came back (it closes when
                // `wait` drops): the batch's commit span links to it (see
                // `group`). Never entered, so polling the two waits below
                // costs nothing per poll.
                let wait = tracing::info_span!("group_commit.wait");
                let pending = group::Pending::new(request, reply, wait.clone());
                match queue.send(pending).await {
                    // A committer that vanished without answering may or may not
                    // have committed; TRY_AGAIN with the same key is safe either way.
                    Ok(()) => {
                        let answered = answer.await.unwrap_or(Err(LedgerError::Posting(PostingError::Contention)));
                        drop(wait);
                        return answered;
                    }
                    Err(tokio::sync::mpsc::error::SendError(p)) => p.into_request(),
                }
            }
            _ => request,
        };
        self.submit(vec![request]).await.pop().unwrap_or(Err(LedgerError::Posting(PostingError::Contention)))
    }

    /// Applies a batch of requests in one database transaction and returns one
    /// result per request, in order. See the module doc for the steps.
    #[tracing::instrument(name = "ledger.submit", skip_all, fields(batch = batch.len()))]
    pub(in crate::core) async fn submit(&self, batch: Vec<Request>) -> Vec<Result<Applied, LedgerError>> {
        self.submit_batch(batch, false).await
    }

    /// Like [`Ledger::submit`], but all or nothing: when any request fails, the
    /// whole database transaction rolls back, the failed requests keep their own
    /// errors and every other gets [`PostingError::BatchRolledBack`].
    #[tracing::instrument(name = "ledger.submit_atomic", skip_all, fields(batch = batch.len()))]
    pub(in crate::core) async fn submit_atomic(&self, batch: Vec<Request>) -> Vec<Result<Applied, LedgerError>> {
        self.submit_batch(batch, true).await
    }

    /// Applies `command` under `call` (see [`Ledger::submit_one`]).
    pub(in crate::core) async fn submit_call(&self, call: Call, command: Command) -> Result<Applied, LedgerError> {
        self.submit_one(call.request(command)).await
    }

    /// Applies `command` under `call` and reads what it wrote with `read`
    /// (named `what` in errors): after the commit, in a read transaction of
    /// its own; on a dry run ([`Call::dry_run`]), inside the write's own
    /// database transaction just before it rolls back ([`DryRun`]), which
    /// then also comes back. Errors: the command's; [`LedgerError::Internal`]
    /// when what was written cannot be read back.
    pub(in crate::core) async fn write_and_read<T>(
        &self,
        call: Call,
        command: Command,
        what: &str,
        read: impl AsyncFnOnce(&Reads, &Applied) -> Result<Option<T>, LedgerError>,
    ) -> Result<(Applied, T, Option<DryRun>), LedgerError> {
        if call.is_dry_run() {
            let (applied, value, dry) = self.writer.dry_run(call.request(command), what, read).await?;
            return Ok((applied, value, Some(dry)));
        }
        let tenant = call.tenant();
        let applied = self.submit_call(call, command).await?;
        let value = Reads::back(self.db(), tenant, what, async |r| read(r, &applied).await).await?;
        Ok((applied, value, None))
    }

    /// The payment calls.
    pub fn payments(&self) -> crate::core::payments::Payments<'_> {
        crate::core::payments::Payments(self)
    }

    /// The posting calls: transactions, reversals, batches.
    pub fn posting(&self) -> Posting<'_> {
        Posting(self)
    }

    /// The merchant calls.
    pub fn merchants(&self) -> Merchants<'_> {
        Merchants(self)
    }

    /// The account calls: open accounts, register assets, set balance limits.
    pub fn accounts(&self) -> Accounts<'_> {
        Accounts(self)
    }

    /// The access calls: API keys, staff users, logins and logouts.
    pub fn access(&self) -> crate::core::access::Access<'_> {
        crate::core::access::Access(self)
    }

    /// The payout calls.
    pub fn payouts(&self) -> crate::core::payouts::Payouts<'_> {
        crate::core::payouts::Payouts(self)
    }

    /// The bank reconciliation calls that write (bank accounts, statement imports).
    pub fn reconciliation(&self) -> crate::core::reconciliation::Reconciliation<'_> {
        crate::core::reconciliation::Reconciliation(self)
    }

    async fn submit_batch(&self, batch: Vec<Request>, atomic: bool) -> Vec<Result<Applied, LedgerError>> {
        let results = self.writer.submit_unaudited(&batch, atomic).await;
        self.writer.audit_refusals(&batch, &results).await;
        results
    }
}

impl Writer {
    /// Records each refused staff action of `batch` in the audit log.
    async fn audit_refusals(&self, batch: &[Request], results: &[Result<Applied, LedgerError>]) {
        for (request, result) in batch.iter().zip(results) {
            if let (Some(audit), Err(err)) = (&request.audit, result) {
                self.audit_refusal(request, audit, err).await;
            }
        }
    }

    /// Records a refused staff action in the audit log, in its own database
    /// transaction (the action's own was rolled back). A failure to record is
    /// logged, never hidden.
    async fn audit_refusal(&self, request: &Request, audit: &AuditDraft, err: &LedgerError) {
        let record = async {
            let txn = db::begin_write(&self.db, Tenant::All, true).await?;
            let merchant =
                apply::target_merchant(&txn, audit.target_type, audit.target_id.as_deref(), request.partition).await?;
            access::append_audit(&txn, &apply::audit_record(request, audit, merchant, err.code())).await?;
            txn.commit().await
        };
        if let Err(e) = record.await {
            tracing::error!(error = %e, action = request.operation, "could not record a refused staff action");
        }
    }

    /// Applies a batch with retries and returns one result per request. When
    /// the database transaction of a batch of several independent requests
    /// fails for a reason a retry cannot cure, each request is run again on its
    /// own, so that the one that broke it fails alone.
    async fn submit_unaudited(&self, batch: &[Request], atomic: bool) -> Vec<Result<Applied, LedgerError>> {
        match self.with_retries(batch, atomic).await {
            Ok(results) => results,
            Err(err @ (LedgerError::Database(_) | LedgerError::Internal(_))) if batch.len() > 1 && !atomic => {
                tracing::warn!(error = %err, batch = batch.len(), "batch failed; running its requests one by one");
                let mut results = Vec::with_capacity(batch.len());
                for request in batch {
                    let one = self.with_retries(std::slice::from_ref(request), false).await;
                    results.push(one.and_then(|mut r| {
                        r.pop().unwrap_or_else(|| Err(LedgerError::internal("a request was left without a result")))
                    }));
                }
                results
            }
            Err(LedgerError::Database(err)) => batch.iter().map(|_| Err(LedgerError::Database(err.clone()))).collect(),
            Err(LedgerError::Internal(what)) => {
                batch.iter().map(|_| Err(LedgerError::Internal(what.clone()))).collect()
            }
            Err(_) => batch.iter().map(|_| Err(LedgerError::Posting(PostingError::Contention))).collect(),
        }
    }

    /// Runs [`Writer::try_batch`], retrying serialization failures, deadlocks
    /// and races up to [`MAX_TXN_RETRIES`] times. Errors: `TRY_AGAIN` when
    /// retries run out, [`LedgerError::Database`] for any other failure.
    async fn with_retries(
        &self,
        batch: &[Request],
        atomic: bool,
    ) -> Result<Vec<Result<Applied, LedgerError>>, LedgerError> {
        let mut backoff = RETRY_BACKOFF;
        for attempt in 0..=MAX_TXN_RETRIES {
            let err = match self.try_batch(batch, atomic).await {
                Ok(results) => return Ok(results),
                Err(err) => err,
            };
            let retryable = match &err {
                batch::Attempt::Raced => true,
                batch::Attempt::Db(e) => db::is_retryable(e),
                batch::Attempt::Internal(_) => false,
            };
            if !retryable {
                return Err(match err {
                    batch::Attempt::Db(e) => {
                        tracing::error!(error = %e, "ledger transaction failed");
                        LedgerError::Database(e)
                    }
                    batch::Attempt::Internal(what) => LedgerError::Internal(what),
                    batch::Attempt::Raced => LedgerError::Posting(PostingError::Contention),
                });
            }
            if attempt == MAX_TXN_RETRIES {
                tracing::warn!(error = ?err, "ledger transaction retries exhausted");
                break;
            }
            tracing::debug!(attempt, error = ?err, "retrying ledger transaction");
            tokio::time::sleep(backoff).await;
            backoff *= 2;
        }
        Err(LedgerError::Posting(PostingError::Contention))
    }

    /// One attempt at a batch. `Err` means the whole database transaction failed
    /// (and is rolled back); per-request refusals are inside the `Ok` vector.
    /// Plain postings take the batched path ([`batch`]); anything else runs
    /// request by request, each in a savepoint when there are several.
    async fn try_batch(
        &self,
        batch: &[Request],
        atomic: bool,
    ) -> Result<Vec<Result<Applied, LedgerError>>, batch::Attempt> {
        let txn = crate::core::db::begin(&self.db).await?;
        let results = if batch.iter().all(batch::batchable) {
            // The batch acts for several merchants: its transaction sees the
            // rows of exactly those merchants (and the platform's), and each
            // request's own tenant is checked in memory as well (see the
            // batched path's module doc).
            db::set_batch_tenants(&txn, &batch::tenant_set(batch), &self.instance).await?;
            batch::post_batch(&txn, batch).await?
        } else {
            self.one_by_one(&txn, batch).await?
        };
        if results.iter().all(Result::is_err) {
            txn.rollback().await?;
            return Ok(results);
        }
        if atomic && results.iter().any(Result::is_err) {
            txn.rollback().await?;
            return Ok(results
                .into_iter()
                .map(|r| r.and(Err(LedgerError::Posting(PostingError::BatchRolledBack))))
                .collect());
        }
        let posted = results.iter().any(|r| matches!(r, Ok(a) if !a.replayed && a.outcome.transaction().is_some()));
        txn.commit().await?;
        if posted {
            self.committed.notify_one();
        }
        Ok(results)
    }

    /// Applies each request of `batch` in turn inside `txn`.
    async fn one_by_one(
        &self,
        txn: &sea_orm::DatabaseTransaction,
        batch: &[Request],
    ) -> Result<Vec<Result<Applied, LedgerError>>, sea_orm::DbErr> {
        let mut results = Vec::with_capacity(batch.len());
        for request in batch {
            // The platform's rows are visible to a merchant's write: its payments
            // post to processor_clearing and fee_revenue. The same statement
            // queues the NOTIFY that wakes other instances' event hubs on commit.
            db::set_write_tenant(txn, request.tenant, &self.instance).await?;
            // A batch of one needs no savepoint: its failure rolls back everything.
            let result = if batch.len() == 1 {
                apply::apply(txn, request, self.authorization_ttl).await
            } else {
                let savepoint = txn.begin().await?;
                let r = apply::apply(&savepoint, request, self.authorization_ttl).await;
                match r {
                    Ok(_) => savepoint.commit().await?,
                    Err(_) => savepoint.rollback().await?,
                }
                r
            };
            match result {
                Err(LedgerError::Database(e)) if db::is_retryable(&e) => return Err(e),
                Err(LedgerError::Database(e)) if batch.len() == 1 => return Err(e),
                other => results.push(other),
            }
        }
        Ok(results)
    }
}
