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
//!    account's limit (see [`crate::domain::limit`]), no overflow;
//! 5. reserve gap-free sequence numbers, append the transaction and its entries,
//!    write the new balances, the transaction's outbox event (see
//!    [`crate::domain::event`]) and the idempotency result;
//!
//! then commit, and wake this process's event hub (other instances are woken
//! by the `NOTIFY` queued with the tenant setting, delivered on commit). Within a batch each request runs in its own savepoint, so one
//! refused request fails alone. Serialization failures and deadlocks restart the
//! whole batch up to [`MAX_TXN_RETRIES`] times.

mod batch;
pub mod error;
#[cfg(feature = "test-hooks")]
pub use batch::hooks;
pub mod group;
mod keys;
pub mod payout_job;
pub mod sweeper;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection, TransactionTrait};
use serde::{Deserialize, Serialize};

pub use error::LedgerError;
pub use group::{GroupCommit, GroupStats};
pub use keys::AccessCommand;

use crate::domain::auth::{Secret, Tenant};
use crate::domain::event::{
    EVENT_SCHEMA_VERSION, EventBalance, EventEntry, EventTransaction, LedgerEvent, TRANSACTION_POSTED,
};
use crate::domain::fee::FeeSchedule;
use crate::domain::lifecycle::{PaymentFacts, Release};
use crate::domain::limit::{self, LimitPolicy};
use crate::domain::payment::{Annotations, lifecycle_drafts};
use crate::domain::{
    AccountCode, AccountId, AccountRef, Asset, AssetCode, DomainError, Fingerprint, IdempotencyKey, MerchantClass,
    MerchantExternalId, MerchantId, MerchantName, NormalBalance, Owner, TransactionDraft, TransactionId,
};
use crate::domain::{Amount, TransactionKind};
use crate::store::limits::LimitTarget;
use crate::store::payments::{self, Payment};
use crate::store::{self, access, accounts, idempotency, merchants, transactions};

/// How long an authorization holds money when the caller gives no `expiresAt`:
/// seven days, as card networks and Stripe's default authorization window.
pub const DEFAULT_AUTHORIZATION_TTL: chrono::Duration = chrono::Duration::days(7);

/// How many times a batch is retried after a serialization failure or deadlock
/// before the caller gets `TRY_AGAIN`. Sorted locking makes deadlocks rare; five
/// retries ride out a burst without letting one request spin for long.
pub const MAX_TXN_RETRIES: u32 = 5;

/// Backoff before the first retry; doubled on each further retry.
pub const RETRY_BACKOFF: Duration = Duration::from_millis(5);

/// A change to the books.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Post a validated transaction draft.
    Post(TransactionDraft),
    /// Reverse a posted transaction, giving a reason.
    Reverse {
        /// The transaction to reverse.
        transaction: TransactionId,
        /// Why, 1 to 500 characters; kept in the reversal's metadata.
        reason: String,
        /// Skip the balance limit check (an admin's forced reversal); the
        /// reversal's metadata then says `forced: true`.
        force: bool,
    },
    /// Set the balance limit policy of one account, or the default for a code
    /// and asset (see [`crate::domain::limit`]).
    SetBalanceLimit {
        /// What it applies to.
        target: LimitTarget,
        /// The bounds.
        policy: LimitPolicy,
    },
    /// Create a merchant.
    CreateMerchant {
        /// Display name.
        name: MerchantName,
        /// The caller's id for it.
        external_id: Option<MerchantExternalId>,
        /// Rollup class.
        class: MerchantClass,
    },
    /// Register a custom asset.
    RegisterAsset(Asset),
    /// Open an account outside the standard chart (or a standard one early).
    OpenAccount {
        /// Owner.
        owner: Owner,
        /// Code.
        code: AccountCode,
        /// Asset; must exist.
        asset: AssetCode,
        /// Normal balance; ignored for standard codes, which have their own.
        normal_balance: NormalBalance,
    },
    /// Authorize a payment: hold `amount` pending for the merchant.
    Authorize {
        /// The merchant paid.
        merchant: MerchantId,
        /// The asset.
        asset: AssetCode,
        /// The amount held, minor units.
        amount: Amount,
        /// When the hold lapses; the ledger's default TTL from now when `None`.
        expires_at: Option<DateTime<Utc>>,
        /// Reference, metadata, effective time.
        notes: Annotations,
    },
    /// Capture part (`Some`) or all (`None`) of what an authorization still holds.
    Capture {
        /// The payment.
        payment: uuid::Uuid,
        /// Amount and its asset, which must be the payment's.
        amount: Option<(AssetCode, Amount)>,
    },
    /// Release what an authorization still holds.
    Void {
        /// The payment.
        payment: uuid::Uuid,
    },
    /// Release what an expired authorization still holds (the sweeper's step).
    Expire {
        /// The payment.
        payment: uuid::Uuid,
    },
    /// Refund part (`Some`) or all of the refundable captured money.
    Refund {
        /// The payment.
        payment: uuid::Uuid,
        /// Amount and its asset, which must be the payment's.
        amount: Option<(AssetCode, Amount)>,
    },
    /// Open a chargeback on part (`Some`) or all of the disputable money.
    OpenDispute {
        /// The payment.
        payment: uuid::Uuid,
        /// Amount and its asset, which must be the payment's.
        amount: Option<(AssetCode, Amount)>,
    },
    /// Resolve the open chargeback.
    ResolveDispute {
        /// The payment.
        payment: uuid::Uuid,
        /// True when the merchant won.
        won: bool,
        /// A fee charged to the merchant when it lost.
        fee: Option<(AssetCode, Amount)>,
    },
    /// Pay out the merchant's available balance less its reserve in `asset`.
    CreatePayout {
        /// The merchant.
        merchant: MerchantId,
        /// The asset.
        asset: AssetCode,
        /// The schedule period, for scheduled payouts (one per period).
        period: Option<String>,
    },
    /// Mark a payout in transit as arrived.
    SettlePayout {
        /// The payout.
        payout: uuid::Uuid,
    },
    /// Mark a payout in transit as bounced, returning the money to available.
    FailPayout {
        /// The payout.
        payout: uuid::Uuid,
    },
    /// Set a merchant's payout reserve and schedule for an asset.
    SetPayoutSettings {
        /// The merchant.
        merchant: MerchantId,
        /// The asset.
        asset: AssetCode,
        /// Minor units kept back from every payout.
        reserve_minor: i64,
        /// Automatic payouts, if any.
        schedule: Option<crate::domain::payout::PayoutSchedule>,
    },
    /// Change who may do what: API keys and staff users (see [`keys`]).
    Access(AccessCommand),
    /// Set a merchant's fee schedule for an asset (applies to later captures).
    SetFeeSchedule {
        /// The merchant.
        merchant: MerchantId,
        /// The asset.
        asset: AssetCode,
        /// The schedule.
        schedule: FeeSchedule,
    },
}

impl Command {
    /// The merchant whose idempotency key space a staff request on this command
    /// uses: the merchant it names, or the platform for commands that name a
    /// payment, payout or transaction (a merchant key always uses its own).
    pub fn key_scope(&self) -> MerchantId {
        match self {
            Command::Post(draft) => draft.merchant,
            Command::OpenAccount { owner, .. } => owner.merchant_id(),
            Command::Authorize { merchant, .. }
            | Command::CreatePayout { merchant, .. }
            | Command::SetPayoutSettings { merchant, .. }
            | Command::SetFeeSchedule { merchant, .. } => *merchant,
            _ => MerchantId::PLATFORM,
        }
    }

    /// What a staff action on this command acts on, for the audit log:
    /// `(target type, target id)`.
    pub fn audit_target(&self) -> (&'static str, Option<String>) {
        match self {
            Command::Post(draft) => ("merchant", Some(draft.merchant.to_string())),
            Command::Reverse { transaction, .. } => ("transaction", Some(transaction.to_string())),
            Command::CreateMerchant { .. } => ("merchant", None),
            Command::RegisterAsset(asset) => ("asset", Some(asset.code.to_string())),
            Command::OpenAccount { owner, .. } => ("merchant", Some(owner.merchant_id().to_string())),
            Command::Authorize { merchant, .. }
            | Command::CreatePayout { merchant, .. }
            | Command::SetPayoutSettings { merchant, .. }
            | Command::SetFeeSchedule { merchant, .. } => ("merchant", Some(merchant.to_string())),
            Command::Capture { payment, .. }
            | Command::Void { payment }
            | Command::Expire { payment }
            | Command::Refund { payment, .. }
            | Command::OpenDispute { payment, .. }
            | Command::ResolveDispute { payment, .. } => ("payment", Some(payment.to_string())),
            Command::SettlePayout { payout } | Command::FailPayout { payout } => ("payout", Some(payout.to_string())),
            Command::SetBalanceLimit { target: LimitTarget::Account(id), .. } => ("account", Some(id.to_string())),
            Command::SetBalanceLimit { target: LimitTarget::Default { code, asset }, .. } => {
                ("balance_limit_default", Some(format!("{code}/{asset}")))
            }
            Command::Access(command) => command.audit_target(),
        }
    }
}

/// A command with its idempotency key.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// Whose key space the key lives in: the merchant acted for, or the platform.
    pub scope: MerchantId,
    /// The caller's idempotency key. `None` only for the server's own jobs (the
    /// expiry sweeper), whose steps are made exactly-once by the payment's row
    /// lock and state instead, so no caller-chosen key can collide with them.
    pub key: Option<IdempotencyKey>,
    /// The GraphQL mutation name, stored with the key.
    pub operation: &'static str,
    /// Fingerprint of the request as sent.
    pub fingerprint: Fingerprint,
    /// The change.
    pub command: Command,
    /// Whose rows the write may touch: the caller's merchant for a merchant
    /// key, everything for staff, service keys and the server's jobs. Checked here and, on
    /// PostgreSQL, enforced by row-level security as well.
    pub tenant: Tenant,
    /// Who asks, recorded on every transaction it posts: `key:<prefix>`,
    /// `service:<name>:<prefix>`, `staff:<username>` or `system:<job>`.
    pub actor: String,
    /// The HTTP request id, recorded on every transaction it posts.
    pub request_id: Option<String>,
    /// For a staff action: what the audit log records about it. The record
    /// commits with the action, or (when the action is refused) on its own.
    pub audit: Option<AuditDraft>,
}

/// A staff action as the audit log will record it, less its result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditDraft {
    /// The staff username.
    pub actor: String,
    /// What it acts on: `transaction`, `payment`, `payout`, `merchant`, `asset`, `account`.
    pub target_type: &'static str,
    /// The target's id, when the request names one.
    pub target_id: Option<String>,
    /// The reason given.
    pub reason: Option<String>,
}

impl Request {
    /// A request of one of the server's own jobs (`job` such as `sweeper`): no
    /// idempotency key, every tenant, actor `system:<job>`.
    pub fn system(job: &str, operation: &'static str, input: &serde_json::Value, command: Command) -> Request {
        Request {
            scope: MerchantId::PLATFORM,
            key: None,
            operation,
            fingerprint: Fingerprint::of(operation, input),
            command,
            tenant: Tenant::All,
            actor: format!("system:{job}"),
            request_id: None,
            audit: None,
        }
    }
}

/// What a request produced: the id of the thing it created. Stored as the
/// idempotency result, so a replay returns the same thing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Outcome {
    /// A posted transaction.
    Transaction(TransactionId),
    /// A created merchant.
    Merchant(MerchantId),
    /// A registered asset code.
    Asset(String),
    /// An opened account.
    Account(AccountId),
    /// A payment step: the payment and the transaction the step posted.
    Payment {
        /// The payment.
        payment: uuid::Uuid,
        /// The transaction.
        transaction: TransactionId,
    },
    /// A payout step: the payout and the transaction it posted.
    Payout {
        /// The payout.
        payout: uuid::Uuid,
        /// The transaction.
        transaction: TransactionId,
    },
    /// Payout settings set.
    PayoutSettings {
        /// The merchant.
        merchant: MerchantId,
        /// The asset.
        asset: String,
    },
    /// A fee schedule set.
    FeeSchedule {
        /// The merchant.
        merchant: MerchantId,
        /// The asset.
        asset: String,
    },
    /// A balance limit policy set.
    BalanceLimit {
        /// The account, for an account's own policy; `None` for a default.
        account: Option<AccountId>,
        /// The account code it governs.
        code: String,
        /// The asset.
        asset: String,
        /// The lower bound, signed minor units; `None` for none.
        lower_minor: Option<i64>,
        /// The upper bound, signed minor units; `None` for none.
        upper_minor: Option<i64>,
        /// The ledger sequence number it took effect after.
        since_seq: i64,
    },
    /// An API key issued (by a create or a rotation: the new key) or revoked.
    /// Never its secret: this is what the idempotency record stores.
    ApiKey(uuid::Uuid),
    /// A staff user created.
    StaffUser(uuid::Uuid),
}

impl Outcome {
    /// The transaction the request posted, if it posted one.
    pub fn transaction(&self) -> Option<TransactionId> {
        match self {
            Outcome::Transaction(t)
            | Outcome::Payment { transaction: t, .. }
            | Outcome::Payout { transaction: t, .. } => Some(*t),
            _ => None,
        }
    }
}

/// A request's result.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    /// What it produced.
    pub outcome: Outcome,
    /// True when this was a replay of an earlier request with the same key.
    pub replayed: bool,
    /// The transaction as written, when the batched write path posted it (so
    /// the response needs no read of it); `None` for replays and other paths.
    pub written: Option<Box<transactions::TransactionRecord>>,
    /// The secret of an API key this request issued, to show its caller once.
    /// Held in memory only: `None` on a replay, because nothing stores it.
    pub secret: Option<Secret>,
}

/// The ledger service: the write path and the asset catalogue.
#[derive(Debug)]
pub struct Ledger {
    writer: Writer,
    assets: RwLock<HashMap<String, Asset>>,
    group: Option<tokio::sync::mpsc::Sender<group::Pending>>,
    group_stats: Arc<GroupStats>,
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
            group_stats: Arc::new(GroupStats::default()),
        }
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
                writer.db = pool;
            }
            self.group = Some(group::start(writer, settings, self.group_stats.clone()));
        }
        self
    }

    /// Batches and requests the group committer has run (zero when it is off).
    pub fn group_stats(&self) -> Arc<GroupStats> {
        self.group_stats.clone()
    }

    /// The database connection pool, for reads.
    pub fn db(&self) -> &DatabaseConnection {
        &self.writer.db
    }

    /// Fills the asset cache with every known asset, so that request paths
    /// rarely need a connection for it. Errors: [`LedgerError::Database`].
    pub async fn load_assets(&self) -> Result<(), LedgerError> {
        let all = store::assets::list(&self.writer.db).await?;
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
        let asset = store::assets::find(&self.writer.db, code)
            .await?
            .ok_or_else(|| DomainError::UnknownAsset(code.to_owned()))?;
        if let Ok(mut m) = self.assets.write() {
            m.insert(code.to_owned(), asset.clone());
        }
        Ok(asset)
    }

    /// Applies one request: through group commit when it is on and the request
    /// is a plain posting, else in its own database transaction.
    pub async fn submit_one(&self, request: Request) -> Result<Applied, LedgerError> {
        let request = match &self.group {
            Some(queue) if batch::groupable(&request) => {
                let (reply, answer) = tokio::sync::oneshot::channel();
                match queue.send(group::Pending { request, reply }).await {
                    // A committer that vanished without answering may or may not
                    // have committed; TRY_AGAIN with the same key is safe either way.
                    Ok(()) => return answer.await.unwrap_or(Err(LedgerError::Contention)),
                    Err(tokio::sync::mpsc::error::SendError(p)) => p.request,
                }
            }
            _ => request,
        };
        self.submit(vec![request]).await.pop().unwrap_or(Err(LedgerError::Contention))
    }

    /// Applies a batch of requests in one database transaction and returns one
    /// result per request, in order. See the module doc for the steps.
    #[tracing::instrument(name = "ledger.submit", skip_all, fields(batch = batch.len()))]
    pub async fn submit(&self, batch: Vec<Request>) -> Vec<Result<Applied, LedgerError>> {
        self.submit_batch(batch, false).await
    }

    /// Like [`Ledger::submit`], but all or nothing: when any request fails, the
    /// whole database transaction rolls back, the failed requests keep their own
    /// errors and every other gets [`LedgerError::BatchRolledBack`].
    #[tracing::instrument(name = "ledger.submit_atomic", skip_all, fields(batch = batch.len()))]
    pub async fn submit_atomic(&self, batch: Vec<Request>) -> Vec<Result<Applied, LedgerError>> {
        self.submit_batch(batch, true).await
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
            let txn = store::begin_write(&self.db, Tenant::All, true).await?;
            let merchant = target_merchant(&txn, audit.target_type, audit.target_id.as_deref()).await?;
            access::append_audit(&txn, &audit_record(request, audit, merchant, err.code())).await?;
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
            Err(LedgerError::Database(err)) if batch.len() > 1 && !atomic => {
                tracing::warn!(error = %err, batch = batch.len(), "batch failed; running its requests one by one");
                let mut results = Vec::with_capacity(batch.len());
                for request in batch {
                    let one = self.with_retries(std::slice::from_ref(request), false).await;
                    results.push(one.and_then(|mut r| r.pop().unwrap_or(Err(LedgerError::Contention))));
                }
                results
            }
            Err(LedgerError::Database(err)) => batch.iter().map(|_| Err(LedgerError::Database(err.clone()))).collect(),
            Err(_) => batch.iter().map(|_| Err(LedgerError::Contention)).collect(),
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
                batch::Attempt::Db(e) => store::is_retryable(e),
            };
            if !retryable {
                let batch::Attempt::Db(e) = err else { return Err(LedgerError::Contention) };
                tracing::error!(error = %e, "ledger transaction failed");
                return Err(LedgerError::Database(e));
            }
            if attempt == MAX_TXN_RETRIES {
                tracing::warn!(error = ?err, "ledger transaction retries exhausted");
                break;
            }
            tracing::debug!(attempt, error = ?err, "retrying ledger transaction");
            tokio::time::sleep(backoff).await;
            backoff *= 2;
        }
        Err(LedgerError::Contention)
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
        let txn = self.db.begin().await?;
        let results = if batch.iter().all(batch::groupable) {
            // The batch acts for several merchants: its transaction sees the
            // rows of exactly those merchants (and the platform's), and each
            // request's own tenant is checked in memory as well (see the
            // batched path's module doc).
            store::set_batch_tenants(&txn, &batch::tenant_set(batch), &self.instance).await?;
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
            return Ok(results.into_iter().map(|r| r.and(Err(LedgerError::BatchRolledBack))).collect());
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
            store::set_write_tenant(txn, request.tenant, &self.instance).await?;
            // A batch of one needs no savepoint: its failure rolls back everything.
            let result = if batch.len() == 1 {
                apply(txn, request, self.authorization_ttl).await
            } else {
                let savepoint = txn.begin().await?;
                let r = apply(&savepoint, request, self.authorization_ttl).await;
                match r {
                    Ok(_) => savepoint.commit().await?,
                    Err(_) => savepoint.rollback().await?,
                }
                r
            };
            match result {
                Err(LedgerError::Database(e)) if store::is_retryable(&e) => return Err(e),
                Err(LedgerError::Database(e)) if batch.len() == 1 => return Err(e),
                other => results.push(other),
            }
        }
        Ok(results)
    }
}

/// Applies one request inside the open transaction `db`.
async fn apply(db: &impl ConnectionTrait, req: &Request, ttl: chrono::Duration) -> Result<Applied, LedgerError> {
    let claim = match &req.key {
        Some(key) => idempotency::claim(db, req.scope, key, req.operation, &req.fingerprint).await?,
        None => idempotency::Claim::Claimed,
    };
    match claim {
        idempotency::Claim::Claimed => {}
        idempotency::Claim::Used { fingerprint, result } => return replay(req, &fingerprint, result),
    }
    let mut secret = None;
    let outcome = match &req.command {
        Command::Post(draft) => Outcome::Transaction(post(db, req, draft).await?),
        Command::Reverse { transaction, reason, force } => {
            Outcome::Transaction(reverse(db, req, *transaction, reason, *force).await?)
        }
        Command::SetBalanceLimit { target, policy } => set_balance_limit(db, req, target, *policy).await?,
        Command::CreateMerchant { name, external_id, class } => {
            let id = MerchantId::new();
            merchants::insert(db, id, name, external_id.as_ref(), class).await.map_err(|e| {
                if store::is_unique_violation(&e, "external_id") { LedgerError::ExternalIdTaken } else { e.into() }
            })?;
            Outcome::Merchant(id)
        }
        Command::RegisterAsset(asset) => {
            if Asset::iso4217(asset.code.as_str()).is_some() || !store::assets::insert_custom(db, asset).await? {
                return Err(LedgerError::AssetAlreadyExists);
            }
            Outcome::Asset(asset.code.to_string())
        }
        Command::OpenAccount { owner, code, asset, normal_balance } => {
            match owner {
                Owner::Merchant(m) => merchant_of(db, req, *m).await?,
                Owner::Platform if req.tenant != Tenant::All => return Err(LedgerError::AccountOfAnotherMerchant),
                Owner::Platform => {}
            }
            let normal = code.standard_normal_balance(*owner).unwrap_or(*normal_balance);
            // A merchant key's own debit-normal account could be debited to
            // credit its `available`: money from nowhere. Only credit-normal.
            if matches!(req.tenant, Tenant::Merchant(_)) && normal == crate::domain::Direction::Debit {
                return Err(LedgerError::DebitAccountNotAllowed);
            }
            let id =
                accounts::insert(db, *owner, code, asset, normal).await?.ok_or(LedgerError::AccountAlreadyExists)?;
            Outcome::Account(id)
        }
        Command::Authorize { merchant, asset, amount, expires_at, notes } => {
            let expires_at = expires_at.unwrap_or_else(|| Utc::now() + ttl);
            authorize(db, req, *merchant, asset, *amount, expires_at, notes).await?
        }
        Command::Capture { payment, amount } => capture(db, req, *payment, amount.as_ref()).await?,
        Command::Void { payment } => release(db, req, *payment, Release::Voided).await?,
        Command::Expire { payment } => release(db, req, *payment, Release::Expired).await?,
        Command::Refund { payment, amount } => refund(db, req, *payment, amount.as_ref()).await?,
        Command::OpenDispute { payment, amount } => open_dispute(db, req, *payment, amount.as_ref()).await?,
        Command::ResolveDispute { payment, won, fee } => resolve_dispute(db, req, *payment, *won, fee.as_ref()).await?,
        Command::CreatePayout { merchant, asset, period } => {
            create_payout(db, req, *merchant, asset, period.as_deref()).await?
        }
        Command::SettlePayout { payout } => finish_payout(db, req, *payout, true).await?,
        Command::FailPayout { payout } => finish_payout(db, req, *payout, false).await?,
        Command::SetPayoutSettings { merchant, asset, reserve_minor, schedule } => {
            merchant_of(db, req, *merchant).await?;
            store::payouts::set_settings(db, *merchant, asset, *reserve_minor, *schedule).await?;
            Outcome::PayoutSettings { merchant: *merchant, asset: asset.to_string() }
        }
        Command::SetFeeSchedule { merchant, asset, schedule } => {
            merchant_of(db, req, *merchant).await?;
            payments::set_fee_schedule(db, *merchant, asset, schedule).await?;
            Outcome::FeeSchedule { merchant: *merchant, asset: asset.to_string() }
        }
        Command::Access(command) => {
            let (outcome, issued) = keys::apply(db, req, command).await?;
            secret = issued;
            outcome
        }
    };
    let stored = serde_json::to_value(&outcome).map_err(|e| sea_orm::DbErr::Custom(e.to_string()))?;
    if let Some(key) = &req.key {
        idempotency::complete(db, req.scope, key, &stored).await?;
    }
    if let Some(audit) = &req.audit {
        let merchant = outcome_merchant(db, &outcome).await?;
        let mut record = audit_record(req, audit, merchant, "ok");
        // A created key had no id when the request was made: record the new one.
        if let (None, Outcome::ApiKey(id)) = (&record.target_id, &outcome) {
            record.target_id = Some(id.to_string());
        }
        access::append_audit(db, &record).await?;
    }
    Ok(Applied { outcome, replayed: false, written: None, secret })
}

/// The answer to a request whose key was used before: the stored result when
/// the request is the same (same fingerprint). Errors:
/// [`LedgerError::IdempotencyKeyReused`] for a different request.
fn replay(req: &Request, fingerprint: &Fingerprint, result: Option<serde_json::Value>) -> Result<Applied, LedgerError> {
    if *fingerprint != req.fingerprint {
        return Err(LedgerError::IdempotencyKeyReused);
    }
    let outcome = result
        .and_then(|r| serde_json::from_value(r).ok())
        .ok_or_else(|| sea_orm::DbErr::Custom("idempotency record without result".into()))?;
    Ok(Applied { outcome, replayed: true, written: None, secret: None })
}

/// The audit record of a staff action with its result (`ok` or an error code).
fn audit_record(req: &Request, audit: &AuditDraft, merchant: Option<MerchantId>, result: &str) -> access::AuditRecord {
    access::AuditRecord {
        seq: 0,
        at: Utc::now(),
        actor: audit.actor.clone(),
        action: req.operation.to_owned(),
        target_type: audit.target_type.to_owned(),
        target_id: audit.target_id.clone(),
        merchant,
        reason: audit.reason.clone(),
        result: result.to_owned(),
        request_id: req.request_id.clone(),
    }
}

/// The merchant a successful action's result belongs to, for the audit log.
async fn outcome_merchant(db: &impl ConnectionTrait, outcome: &Outcome) -> Result<Option<MerchantId>, sea_orm::DbErr> {
    Ok(match outcome {
        Outcome::Transaction(id) => transactions::find(db, *id).await?.map(|t| t.merchant),
        Outcome::Merchant(id) => Some(*id),
        Outcome::Asset(_) => None,
        Outcome::Account(id) => accounts::find(db, *id).await?.map(|a| a.owner.merchant_id()),
        Outcome::Payment { payment, .. } => payments::find(db, *payment).await?.map(|p| p.merchant),
        Outcome::Payout { payout, .. } => store::payouts::find(db, *payout).await?.map(|p| p.merchant),
        Outcome::PayoutSettings { merchant, .. } | Outcome::FeeSchedule { merchant, .. } => Some(*merchant),
        Outcome::BalanceLimit { account: Some(id), .. } => {
            accounts::find(db, *id).await?.map(|a| a.owner.merchant_id())
        }
        Outcome::BalanceLimit { account: None, .. } => None,
        // A service key's merchant is the platform: no merchant to file it under.
        Outcome::ApiKey(id) => {
            access::api_key(db, *id).await?.map(|k| k.merchant).filter(|m| *m != MerchantId::PLATFORM)
        }
        Outcome::StaffUser(_) => None,
    })
}

/// The merchant a named target belongs to, when it can be found (for the audit
/// record of a refused action).
async fn target_merchant(
    db: &impl ConnectionTrait,
    target_type: &str,
    target_id: Option<&str>,
) -> Result<Option<MerchantId>, sea_orm::DbErr> {
    let Some(id) = target_id.and_then(|t| uuid::Uuid::parse_str(t).ok()) else { return Ok(None) };
    Ok(match target_type {
        "transaction" => transactions::find(db, TransactionId(id)).await?.map(|t| t.merchant),
        "payment" => payments::find(db, id).await?.map(|p| p.merchant),
        "payout" => store::payouts::find(db, id).await?.map(|p| p.merchant),
        "merchant" => Some(MerchantId(id)),
        "account" => accounts::find(db, AccountId(id)).await?.map(|a| a.owner.merchant_id()),
        "api_key" => access::api_key(db, id).await?.map(|k| k.merchant).filter(|m| *m != MerchantId::PLATFORM),
        _ => None,
    })
}

/// Checks that `merchant` exists and that the request's tenant may act for it.
/// Errors: [`LedgerError::MerchantNotFound`] for both, so another merchant's id
/// looks exactly like one that does not exist.
async fn merchant_of(db: &impl ConnectionTrait, req: &Request, merchant: MerchantId) -> Result<(), LedgerError> {
    if !req.tenant.sees(merchant) {
        return Err(LedgerError::MerchantNotFound);
    }
    merchants::find(db, merchant).await?.ok_or(LedgerError::MerchantNotFound)?;
    Ok(())
}

/// Locks a payment the request's tenant may act on. Errors: `NOT_FOUND`.
async fn lock_payment(db: &impl ConnectionTrait, req: &Request, id: uuid::Uuid) -> Result<Payment, LedgerError> {
    payments::lock(db, id).await?.filter(|p| req.tenant.sees(p.merchant)).ok_or(LedgerError::PaymentNotFound)
}

/// Authorizes a payment: a payment row and a hold transaction.
async fn authorize(
    db: &impl ConnectionTrait,
    req: &Request,
    merchant: MerchantId,
    asset: &AssetCode,
    amount: Amount,
    expires_at: DateTime<Utc>,
    notes: &Annotations,
) -> Result<Outcome, LedgerError> {
    merchant_of(db, req, merchant).await?;
    if expires_at <= Utc::now() {
        return Err(DomainError::Payment(crate::domain::lifecycle::PaymentError::AuthorizationExpired).into());
    }
    let id = uuid::Uuid::now_v7();
    let payment = Payment {
        id,
        merchant,
        asset: asset.clone(),
        facts: PaymentFacts::authorized(amount, expires_at),
        fee_captured: 0,
        external_ref: notes.external_ref.clone(),
        created_at: Utc::now(),
    };
    payments::insert(db, &payment).await?;
    let draft = lifecycle_drafts::authorize(merchant, asset, amount, id, notes.clone())?;
    Ok(Outcome::Payment { payment: id, transaction: post(db, req, &draft).await? })
}

/// Captures part or all of an authorization, applying the merchant's fee schedule.
/// Errors: [`LedgerError::PaymentNotFound`], `ASSET_MISMATCH`, and the life-cycle
/// rules of [`PaymentFacts::capture`].
async fn capture(
    db: &impl ConnectionTrait,
    req: &Request,
    id: uuid::Uuid,
    amount: Option<&(AssetCode, Amount)>,
) -> Result<Outcome, LedgerError> {
    let mut p = lock_payment(db, req, id).await?;
    same_asset(&p, amount)?;
    let minor = p.facts.capture(amount.map(|(_, a)| *a), Utc::now()).map_err(DomainError::from)?;
    let captured = Amount::from_minor(minor)?;
    let split = payments::fee_schedule(db, p.merchant, &p.asset).await?.split(captured);
    let draft = lifecycle_drafts::capture(p.merchant, &p.asset, captured, split, p.id)?;
    let transaction = post(db, req, &draft).await?;
    p.facts.captured += minor;
    p.fee_captured += split.fee_minor;
    payments::save(db, &p).await?;
    Ok(Outcome::Payment { payment: id, transaction })
}

/// Creates a payout of the merchant's available balance above
/// `max(lower bound, 0)` less its reserve, for `period` when scheduled.
/// Errors: `NOT_FOUND`, `NOTHING_TO_PAY_OUT`, `PAYOUT_ALREADY_MADE` (this
/// period is paid), `BALANCE_LIMIT_EXCEEDED` (available is below its lower
/// bound, as after a chargeback).
async fn create_payout(
    db: &impl ConnectionTrait,
    req: &Request,
    merchant: MerchantId,
    asset: &AssetCode,
    period: Option<&str>,
) -> Result<Outcome, LedgerError> {
    use crate::domain::payout::{PayoutError, PayoutState, payable, step};
    use crate::store::payouts::{self, Payout};
    merchant_of(db, req, merchant).await?;
    if let Some(period) = period
        && payouts::exists_for_period(db, merchant, asset, period).await?
    {
        return Err(LedgerError::PayoutAlreadyMade);
    }
    let code = AccountCode::standard(AccountCode::AVAILABLE);
    let account = accounts::find_by_code(db, Owner::Merchant(merchant), &code, asset)
        .await?
        .ok_or(DomainError::Payout(PayoutError::NothingToPayOut { payable: 0 }))?;
    let balance = accounts::lock_balances(db, &[account.id]).await?.get(&account.id).copied().unwrap_or_default();
    let limits = store::limits::for_accounts(db, &[&account]).await?;
    let limit =
        limits.get(&account.id).ok_or_else(|| sea_orm::DbErr::Custom("payout account limit not read".into()))?;
    // Below its lower bound (a chargeback took it there) nothing is paid out;
    // above it, only what is over max(lower, 0) and the reserve.
    let headroom =
        limit::payout_headroom(&limited(&account), limit, &balance).map_err(DomainError::BalanceLimitExceeded)?;
    let (reserve, _) = payouts::settings(db, merchant, asset).await?;
    let amount = payable(headroom, reserve).map_err(DomainError::from)?;
    let id = uuid::Uuid::now_v7();
    let payout = Payout {
        id,
        merchant,
        asset: asset.clone(),
        amount: amount.minor(),
        state: PayoutState::InTransit,
        period: period.map(str::to_owned),
        covers_from_seq: payouts::last_covered_seq(db, merchant, asset).await? + 1,
        covers_to_seq: payouts::merchant_last_seq(db, merchant).await?,
        created_at: Utc::now(),
    };
    payouts::insert(db, &payout).await.map_err(|e| {
        if store::is_unique_violation(&e, "period") { LedgerError::PayoutAlreadyMade } else { e.into() }
    })?;
    let draft = step(TransactionKind::PayoutCreated, merchant, asset, amount, id)?;
    Ok(Outcome::Payout { payout: id, transaction: post(db, req, &draft).await? })
}

/// Settles (`settled`) or fails (`!settled`) a payout in transit. Errors:
/// `NOT_FOUND`, `PAYOUT_NOT_IN_TRANSIT`.
async fn finish_payout(
    db: &impl ConnectionTrait,
    req: &Request,
    id: uuid::Uuid,
    settled: bool,
) -> Result<Outcome, LedgerError> {
    use crate::domain::payout::{PayoutError, PayoutState, step};
    use crate::store::payouts;
    let p = payouts::lock(db, id).await?.filter(|p| req.tenant.sees(p.merchant)).ok_or(LedgerError::PayoutNotFound)?;
    if p.state != PayoutState::InTransit {
        return Err(DomainError::Payout(PayoutError::PayoutNotInTransit).into());
    }
    let (kind, state) = if settled {
        (TransactionKind::PayoutSettled, PayoutState::Settled)
    } else {
        (TransactionKind::PayoutFailed, PayoutState::Failed)
    };
    let draft = step(kind, p.merchant, &p.asset, Amount::from_minor(p.amount)?, id)?;
    let transaction = post(db, req, &draft).await?;
    payouts::set_state(db, id, state).await?;
    Ok(Outcome::Payout { payout: id, transaction })
}

/// Checks that an amount given for a payment step is in the payment's asset.
fn same_asset(p: &Payment, amount: Option<&(AssetCode, Amount)>) -> Result<(), LedgerError> {
    match amount {
        Some((asset, _)) if *asset != p.asset => {
            Err(DomainError::AssetMismatch { entry: asset.to_string(), account: p.asset.to_string() }.into())
        }
        _ => Ok(()),
    }
}

/// What a refund of a payment would post: the amount, the fee share going
/// back, and the draft. Pure, so the refund and its preview cannot differ.
#[derive(Debug, Clone, PartialEq)]
pub struct RefundPlan {
    /// Refunded amount, minor units of the payment's asset.
    pub minor: i64,
    /// Part of the platform's fee given back with it, minor units.
    pub fee_back: i64,
    /// The refund transaction as it would be posted.
    pub draft: crate::domain::TransactionDraft,
}

/// Plans a refund of `amount` (all that is left when None) under `schedule`.
/// Errors: `ASSET_MISMATCH`, `REFUND_EXCEEDS_CAPTURED`, `PAYMENT_NOT_CAPTURED`.
pub fn refund_plan(
    p: &Payment,
    schedule: &crate::domain::fee::FeeSchedule,
    amount: Option<&(AssetCode, Amount)>,
) -> Result<RefundPlan, LedgerError> {
    same_asset(p, amount)?;
    let minor = p.facts.refund(amount.map(|(_, a)| *a)).map_err(DomainError::from)?;
    let fee_back = if schedule.refund_returns_fee {
        crate::domain::fee::fee_share_of_refund(p.fee_captured, p.facts.captured, p.facts.refunded, minor)
    } else {
        0
    };
    let draft = lifecycle_drafts::refund(p.merchant, &p.asset, Amount::from_minor(minor)?, fee_back, p.id)?;
    Ok(RefundPlan { minor, fee_back, draft })
}

/// Plans a refund without posting it, for the caller's `tenant`: what the
/// console shows before staff confirm. Reads only. Errors: `NOT_FOUND` (also
/// for another merchant's payment), and those of [`refund_plan`].
pub async fn preview_refund(
    db: &impl ConnectionTrait,
    tenant: crate::domain::auth::Tenant,
    id: uuid::Uuid,
    amount: Option<&(AssetCode, Amount)>,
) -> Result<RefundPlan, LedgerError> {
    let p = payments::find(db, id).await?.filter(|p| tenant.sees(p.merchant)).ok_or(LedgerError::PaymentNotFound)?;
    let schedule = payments::fee_schedule(db, p.merchant, &p.asset).await?;
    refund_plan(&p, &schedule, amount)
}

/// Refunds captured money; the fee share goes back too when the schedule says so.
/// Errors: `NOT_FOUND`, `ASSET_MISMATCH`, `REFUND_EXCEEDS_CAPTURED`, `INSUFFICIENT_FUNDS`.
async fn refund(
    db: &impl ConnectionTrait,
    req: &Request,
    id: uuid::Uuid,
    amount: Option<&(AssetCode, Amount)>,
) -> Result<Outcome, LedgerError> {
    let mut p = lock_payment(db, req, id).await?;
    let schedule = payments::fee_schedule(db, p.merchant, &p.asset).await?;
    let plan = refund_plan(&p, &schedule, amount)?;
    let (minor, draft) = (plan.minor, plan.draft);
    let transaction = post(db, req, &draft).await?;
    p.facts.refunded += minor;
    payments::save(db, &p).await?;
    Ok(Outcome::Payment { payment: id, transaction })
}

/// Opens a chargeback. Errors: `NOT_FOUND`, `ASSET_MISMATCH`,
/// `PAYMENT_NOT_CAPTURED`, `DISPUTE_ALREADY_OPEN`, `DISPUTE_EXCEEDS_CAPTURED`.
async fn open_dispute(
    db: &impl ConnectionTrait,
    req: &Request,
    id: uuid::Uuid,
    amount: Option<&(AssetCode, Amount)>,
) -> Result<Outcome, LedgerError> {
    let mut p = lock_payment(db, req, id).await?;
    same_asset(&p, amount)?;
    let minor = p.facts.open_dispute(amount.map(|(_, a)| *a)).map_err(DomainError::from)?;
    let draft = lifecycle_drafts::open_dispute(p.merchant, &p.asset, Amount::from_minor(minor)?, p.id)?;
    let transaction = post(db, req, &draft).await?;
    p.facts.disputed_open = minor;
    payments::save(db, &p).await?;
    Ok(Outcome::Payment { payment: id, transaction })
}

/// Resolves the open chargeback. Errors: `NOT_FOUND`, `NO_OPEN_DISPUTE`, `ASSET_MISMATCH`.
async fn resolve_dispute(
    db: &impl ConnectionTrait,
    req: &Request,
    id: uuid::Uuid,
    won: bool,
    fee: Option<&(AssetCode, Amount)>,
) -> Result<Outcome, LedgerError> {
    let mut p = lock_payment(db, req, id).await?;
    same_asset(&p, fee)?;
    let minor = p.facts.resolve_dispute().map_err(DomainError::from)?;
    let fee_minor = if won { 0 } else { fee.map_or(0, |(_, a)| a.minor()) };
    let draft =
        lifecycle_drafts::resolve_dispute(p.merchant, &p.asset, Amount::from_minor(minor)?, won, fee_minor, p.id)?;
    let transaction = post(db, req, &draft).await?;
    p.facts.disputed_open = 0;
    if !won {
        p.facts.charged_back += minor;
    }
    payments::save(db, &p).await?;
    Ok(Outcome::Payment { payment: id, transaction })
}

/// Releases what an authorization still holds, by a void or by expiry.
async fn release(
    db: &impl ConnectionTrait,
    req: &Request,
    id: uuid::Uuid,
    how: Release,
) -> Result<Outcome, LedgerError> {
    let mut p = lock_payment(db, req, id).await?;
    let (minor, kind) = match how {
        Release::Voided => (p.facts.void(), TransactionKind::Void),
        Release::Expired => (p.facts.expire(Utc::now()), TransactionKind::Expiry),
    };
    let minor = minor.map_err(DomainError::from)?;
    let draft = lifecycle_drafts::release(p.merchant, &p.asset, Amount::from_minor(minor)?, kind, p.id)?;
    let transaction = post(db, req, &draft).await?;
    p.facts.released += minor;
    p.facts.release = Some(how);
    payments::save(db, &p).await?;
    Ok(Outcome::Payment { payment: id, transaction })
}

/// Reverses `id`; `force` skips the balance limit check (see [`post`]) and
/// marks the reversal's metadata `forced: true`. Errors:
/// [`LedgerError::TransactionNotFound`], [`DomainError::AlreadyReversed`],
/// [`DomainError::ReasonRequired`], `BALANCE_LIMIT_EXCEEDED` (without `force`).
async fn reverse(
    db: &impl ConnectionTrait,
    req: &Request,
    id: TransactionId,
    reason: &str,
    force: bool,
) -> Result<TransactionId, LedgerError> {
    let original = transactions::load_posted(db, id)
        .await?
        .filter(|t| req.tenant.sees(t.merchant))
        .ok_or(LedgerError::TransactionNotFound)?;
    if transactions::reversal_of(db, id).await?.is_some() || original.kind == TransactionKind::Reversal {
        return Err(DomainError::AlreadyReversed.into());
    }
    if let Some(payment) = original.payment {
        return reverse_payment_step(db, req, &original, payment, reason, force).await;
    }
    let draft = forced(TransactionDraft::reversal_of(&original, reason)?, force);
    post(db, req, &draft).await
}

/// A reversal draft marked `forced: true` in its metadata when `force` is set,
/// so the books say which reversals skipped the limit check.
fn forced(mut draft: TransactionDraft, force: bool) -> TransactionDraft {
    if force && let Some(meta) = draft.metadata.as_object_mut() {
        meta.insert("forced".to_owned(), serde_json::Value::Bool(true));
    }
    draft
}

/// Reverses one step of a payment and moves the payment's amounts back with it
/// (see `PaymentFacts::reverse_step`). Errors: `PAYMENT_STEP_NOT_REVERSIBLE`,
/// `REASON_REQUIRED`.
async fn reverse_payment_step(
    db: &impl ConnectionTrait,
    req: &Request,
    original: &crate::domain::transaction::PostedTransaction,
    payment: uuid::Uuid,
    reason: &str,
    force: bool,
) -> Result<TransactionId, LedgerError> {
    use crate::domain::lifecycle::{PaymentError, ReversibleStep};
    use crate::domain::{Direction, Layer};
    let not_reversible = || LedgerError::Domain(DomainError::Payment(PaymentError::StepNotReversible));
    let mut p = lock_payment(db, req, payment).await?;
    let ids: Vec<uuid::Uuid> = original.entries.iter().map(|e| e.account.0).collect();
    let codes: HashMap<AccountId, String> =
        accounts::find_many(db, &ids).await?.into_iter().map(|a| (a.id, a.code)).collect();
    let amount_on = |code: &str, layer: Layer, direction: Direction| -> i64 {
        original
            .entries
            .iter()
            .filter(|e| {
                e.layer == layer && e.direction == direction && codes.get(&e.account).is_some_and(|c| c == code)
            })
            .map(|e| e.amount.minor())
            .sum()
    };
    let (step, code, layer, direction) = ReversibleStep::of(original.kind).ok_or_else(not_reversible)?;
    let amount = amount_on(code, layer, direction);
    let facts = p.facts.reverse_step(step, amount, Utc::now()).map_err(DomainError::from)?;
    let draft = forced(TransactionDraft::reversal_of_step(original, reason, step == ReversibleStep::Capture)?, force);
    let transaction = post(db, req, &draft).await?;
    if step == ReversibleStep::Capture {
        p.fee_captured -= amount_on(AccountCode::FEE_REVENUE, Layer::Posted, Direction::Credit);
    }
    p.facts = facts;
    payments::save(db, &p).await?;
    Ok(transaction)
}

/// Resolves, locks, checks and appends one transaction draft.
async fn post(
    db: &impl ConnectionTrait,
    req: &Request,
    draft: &TransactionDraft,
) -> Result<TransactionId, LedgerError> {
    draft.validate()?;
    merchant_of(db, req, draft.merchant).await?;
    if let Some(other) = draft.counterparty {
        merchant_of(db, req, other).await?;
    }
    let resolved = resolve_accounts(db, req, draft).await?;

    let ids: Vec<AccountId> = resolved.values().map(|a| a.id).collect();
    let mut balances = accounts::lock_balances(db, &ids).await?;
    // Under the locks, a racing reversal of the same original has committed:
    // say so before the balances it moved make this one look like a breach.
    if let Some(original) = draft.reverses
        && transactions::reversal_of(db, original).await?.is_some()
    {
        return Err(DomainError::AlreadyReversed.into());
    }
    // Read under the row locks: setBalanceLimit takes the same locks first.
    let touched: Vec<&accounts::Account> = resolved.values().collect();
    let limits = store::limits::for_accounts(db, &touched).await?;
    let forced_reversal = matches!(req.command, Command::Reverse { force: true, .. });
    let enforce = !forced_reversal && !limit::exempt(draft.kind);
    let (entries, changed) = apply_draft(draft, &resolved, &mut balances, &limits, enforce)?;

    let entry_count = i64::try_from(entries.len())
        .map_err(|_| DomainError::TooManyEntries { max: crate::domain::transaction::MAX_ENTRIES_PER_TRANSACTION })?;
    let (seq, first_entry_seq) = transactions::reserve_sequences(db, entry_count).await?;
    let record = transaction_record(req, draft, seq, Utc::now());
    let rows = transactions::number_entries(&record, first_entry_seq, entries);
    transactions::append(db, &record, &rows).await.map_err(|e| {
        if store::is_unique_violation(&e, "reverses") {
            DomainError::AlreadyReversed.into()
        } else {
            LedgerError::from(e)
        }
    })?;
    for (id, balance) in &changed {
        accounts::store_balance(db, *id, balance, seq).await?;
    }
    let by_id: HashMap<AccountId, &accounts::Account> = resolved.values().map(|a| (a.id, a)).collect();
    store::events::insert(db, &outbox_event(&record, &rows, &changed, &by_id)?).await?;
    Ok(record.id)
}

/// An entry resolved to its account, not yet numbered: account, asset,
/// direction, amount (minor units of the asset) and layer.
type ResolvedEntry = (AccountId, AssetCode, crate::domain::Direction, Amount, crate::domain::Layer);

/// What applying a draft produced: its entries, and the accounts it changed
/// with their totals after it.
type AppliedDraft = (Vec<ResolvedEntry>, Vec<(AccountId, crate::domain::Balance)>);

/// Applies a draft's entries to the running totals of its accounts
/// (`balances`, locked by the caller; an account missing from it counts as
/// zero), then checks its no-overdraft guards and, when `enforce_limits`, every
/// changed account's balance limit (`limits`, read under the same locks)
/// against the totals before and after. Pure: no database. Returns the entries
/// resolved to accounts and the accounts whose totals changed, with their
/// totals after this transaction. On error `balances` is unchanged.
///
/// Errors: [`DomainError::AmountOverflow`], [`DomainError::PendingUnderflow`],
/// [`DomainError::InsufficientFunds`] (a guarded payer's available would drop
/// below its lower bound and below where it was),
/// [`DomainError::BalanceLimitExceeded`] (any other account past a bound).
fn apply_draft(
    draft: &TransactionDraft,
    resolved: &BTreeMap<(AccountRef, AssetCode), accounts::Account>,
    balances: &mut BTreeMap<AccountId, crate::domain::Balance>,
    limits: &BTreeMap<AccountId, limit::AccountLimit>,
    enforce_limits: bool,
) -> Result<AppliedDraft, LedgerError> {
    let unresolved = || sea_orm::DbErr::Custom("entry account was not resolved".into());
    let mut after: BTreeMap<AccountId, crate::domain::Balance> = BTreeMap::new();
    let mut entries = Vec::with_capacity(draft.entries.len());
    for e in &draft.entries {
        let account = resolved.get(&(e.account.clone(), e.asset.clone())).ok_or_else(unresolved)?;
        let total = after.entry(account.id).or_insert_with(|| balances.get(&account.id).copied().unwrap_or_default());
        total.apply(e.direction, e.layer, e.amount.minor())?;
        entries.push((account.id, e.asset.clone(), e.direction, e.amount, e.layer));
    }
    let limit_of = |id: &AccountId| {
        limits.get(id).ok_or_else(|| sea_orm::DbErr::Custom("limit of a posted account was not read".into()))
    };
    for (guarded, asset) in &draft.no_overdraft {
        let account = resolved
            .get(&(guarded.clone(), asset.clone()))
            .ok_or_else(|| sea_orm::DbErr::Custom("guarded account not among the entries".into()))?;
        let was = balances.get(&account.id).copied().unwrap_or_default();
        let now = after.get(&account.id).copied().unwrap_or(was);
        limit::check_guard(&limited(account), limit_of(&account.id)?, &was, &now)
            .map_err(DomainError::InsufficientFunds)?;
    }
    if enforce_limits {
        let by_id: HashMap<AccountId, &accounts::Account> = resolved.values().map(|a| (a.id, a)).collect();
        for (id, now) in &after {
            let was = balances.get(id).copied().unwrap_or_default();
            let account = by_id.get(id).ok_or_else(unresolved)?;
            limit::check(&limited(account), limit_of(id)?, &was, now).map_err(DomainError::BalanceLimitExceeded)?;
        }
    }
    let changed: Vec<(AccountId, crate::domain::Balance)> =
        after.into_iter().filter(|(id, b)| balances.get(id).copied().unwrap_or_default() != *b).collect();
    for (id, b) in &changed {
        balances.insert(*id, *b);
    }
    Ok((entries, changed))
}

/// An account as a limit refusal names it.
fn limited(account: &accounts::Account) -> limit::LimitedAccount {
    limit::LimitedAccount {
        id: account.id,
        code: account.code.clone(),
        owner: account.owner.merchant_id(),
        asset: account.asset.clone(),
        normal: account.normal_balance,
    }
}

/// Sets a balance limit policy: locks the balance rows it governs (sorted,
/// `FOR UPDATE`), reads the last committed sequence number, and writes the
/// policy stamped with it, so every later posting to those rows reads it.
/// Errors: `ACCOUNT_NOT_FOUND`, `UNKNOWN_ASSET`.
async fn set_balance_limit(
    db: &impl ConnectionTrait,
    req: &Request,
    target: &LimitTarget,
    policy: LimitPolicy,
) -> Result<Outcome, LedgerError> {
    let (owner, account, code, asset) = match target {
        LimitTarget::Account(id) => {
            let a = accounts::find(db, *id)
                .await?
                .filter(|a| req.tenant.sees(a.owner.merchant_id()))
                .ok_or(LedgerError::AccountNotFound)?;
            (a.owner.merchant_id(), Some(a.id), a.code, a.asset.to_string())
        }
        LimitTarget::Default { code, asset } => {
            store::assets::find(db, asset.as_str())
                .await?
                .ok_or_else(|| DomainError::UnknownAsset(asset.to_string()))?;
            (MerchantId::PLATFORM, None, code.to_string(), asset.to_string())
        }
    };
    store::limits::lock_governed(db, target).await?;
    let since_seq = store::limits::last_sequence(db).await?;
    store::limits::set(db, target, owner, policy, since_seq).await?;
    Ok(Outcome::BalanceLimit {
        account,
        code,
        asset,
        lower_minor: policy.lower_minor,
        upper_minor: policy.upper_minor,
        since_seq,
    })
}

/// The stored form of a draft posted by `req` with sequence number `seq` at `now`.
fn transaction_record(
    req: &Request,
    draft: &TransactionDraft,
    seq: i64,
    now: DateTime<Utc>,
) -> transactions::TransactionRecord {
    // Stored timestamps have microseconds; the record handed back to the
    // caller must say what a later read will.
    let now = chrono::SubsecRound::trunc_subsecs(now, 6);
    transactions::TransactionRecord {
        seq,
        id: TransactionId::new(),
        merchant: draft.merchant,
        kind: draft.kind,
        external_ref: draft.external_ref.clone(),
        metadata: draft.metadata.clone(),
        effective_at: draft.effective_at.unwrap_or(now),
        created_at: now,
        reverses: draft.reverses,
        payment: draft.payment,
        counterparty: draft.counterparty,
        payout: draft.payout,
        actor: req.actor.clone(),
        request_id: req.request_id.clone(),
        idempotency_key: req.key.as_ref().map(|k| k.as_str().to_owned()),
    }
}

/// The outbox event of a transaction being posted: the transaction, its entries
/// and the balances it changed as they stand after it (see `domain::event`).
/// Errors: an entry or balance on an account that was not resolved (a bug).
fn outbox_event(
    record: &transactions::TransactionRecord,
    entries: &[transactions::EntryRecord],
    changed: &[(AccountId, crate::domain::Balance)],
    accounts: &HashMap<AccountId, &accounts::Account>,
) -> Result<LedgerEvent, sea_orm::DbErr> {
    let account = |id: &AccountId| {
        accounts.get(id).copied().ok_or_else(|| sea_orm::DbErr::Custom("event account was not resolved".into()))
    };
    let entries = entries
        .iter()
        .map(|e| {
            let a = account(&e.account)?;
            Ok(EventEntry {
                account_id: e.account.0,
                owner_id: a.owner.merchant_id(),
                code: a.code.clone(),
                asset: e.asset.to_string(),
                direction: e.direction.as_str().to_owned(),
                layer: e.layer.as_str().to_owned(),
                amount_minor: e.amount.minor(),
            })
        })
        .collect::<Result<Vec<_>, sea_orm::DbErr>>()?;
    let balances = changed
        .iter()
        .map(|(id, b)| {
            let a = account(id)?;
            Ok(EventBalance {
                account_id: id.0,
                owner_id: a.owner.merchant_id(),
                code: a.code.clone(),
                asset: a.asset.to_string(),
                normal_balance: a.normal_balance.as_str().to_owned(),
                debits_posted: b.debits_posted,
                credits_posted: b.credits_posted,
                debits_pending: b.debits_pending,
                credits_pending: b.credits_pending,
            })
        })
        .collect::<Result<Vec<_>, sea_orm::DbErr>>()?;
    Ok(LedgerEvent {
        version: EVENT_SCHEMA_VERSION,
        id: uuid::Uuid::now_v7(),
        sequence: record.seq,
        event_type: TRANSACTION_POSTED.to_owned(),
        kind: record.kind.as_str().to_owned(),
        merchant_id: record.merchant,
        counterparty_id: record.counterparty,
        occurred_at: record.created_at,
        transaction: EventTransaction {
            id: record.id.0,
            kind: record.kind.as_str().to_owned(),
            external_ref: record.external_ref.clone(),
            metadata: record.metadata.clone(),
            effective_at: record.effective_at,
            reverses: record.reverses.map(|r| r.0),
            payment_id: record.payment,
            payout_id: record.payout,
            actor: record.actor.clone(),
            entries,
        },
        balances,
    })
}

/// A transaction may post to the platform, its merchant and, for a deal, the counterparty.
fn may_post_to(draft: &TransactionDraft, owner: Owner) -> bool {
    match owner {
        Owner::Platform => true,
        Owner::Merchant(m) => m == draft.merchant || Some(m) == draft.counterparty,
    }
}

/// The error for an account code that does not exist and is not a standard
/// code (standard ones are created on first use).
fn missing_account(owner: Owner, code: &AccountCode) -> LedgerError {
    match owner {
        Owner::Platform => LedgerError::Domain(DomainError::UnknownPlatformAccount(code.to_string())),
        Owner::Merchant(_) => LedgerError::AccountNotFound,
    }
}

/// Checks that a draft may post to `account` in `asset`. Errors:
/// [`LedgerError::AccountOfAnotherMerchant`] (not the draft's merchant, its
/// counterparty or the platform; or the platform's account in a merchant's own
/// transfer), `ASSET_MISMATCH`.
fn check_account(
    req: &Request,
    draft: &TransactionDraft,
    account: &accounts::Account,
    asset: &AssetCode,
) -> Result<(), LedgerError> {
    if !may_post_to(draft, account.owner) {
        return Err(LedgerError::AccountOfAnotherMerchant);
    }
    // A merchant's own general transfer touches only its own accounts; the
    // typed operations (payments, payouts) are what post to the platform's.
    if account.owner == Owner::Platform
        && draft.kind == TransactionKind::Transfer
        && matches!(req.tenant, Tenant::Merchant(_))
    {
        return Err(LedgerError::AccountOfAnotherMerchant);
    }
    if account.asset != *asset {
        return Err(DomainError::AssetMismatch { entry: asset.to_string(), account: account.asset.to_string() }.into());
    }
    Ok(())
}

/// The `(account, asset)` pairs a draft names: its entries' and its guards'.
fn draft_refs(draft: &TransactionDraft) -> BTreeSet<(AccountRef, AssetCode)> {
    draft
        .entries
        .iter()
        .map(|e| (e.account.clone(), e.asset.clone()))
        .chain(draft.no_overdraft.iter().cloned())
        .collect()
}

/// Finds (or, for standard codes, creates) the account of every entry and guard,
/// keyed by the entry's reference and asset. Creation runs in sorted order.
async fn resolve_accounts(
    db: &impl ConnectionTrait,
    req: &Request,
    draft: &TransactionDraft,
) -> Result<BTreeMap<(AccountRef, AssetCode), accounts::Account>, LedgerError> {
    let mut out = BTreeMap::new();
    for (reference, asset) in draft_refs(draft) {
        let account = match &reference {
            AccountRef::Id(id) => accounts::find(db, *id).await?.ok_or(LedgerError::AccountNotFound)?,
            AccountRef::Code { owner, code } => {
                if !may_post_to(draft, *owner) {
                    return Err(LedgerError::AccountOfAnotherMerchant);
                }
                match accounts::find_by_code(db, *owner, code, &asset).await? {
                    Some(a) => a,
                    None => {
                        let normal =
                            code.standard_normal_balance(*owner).ok_or_else(|| missing_account(*owner, code))?;
                        accounts::insert(db, *owner, code, &asset, normal).await?;
                        accounts::find_by_code(db, *owner, code, &asset).await?.ok_or(LedgerError::AccountNotFound)?
                    }
                }
            }
        };
        check_account(req, draft, &account, &asset)?;
        out.insert((reference, asset), account);
    }
    Ok(out)
}
