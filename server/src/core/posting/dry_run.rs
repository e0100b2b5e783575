//! Dry runs: a write run by the write path itself, inside its own database
//! transaction, then rolled back.
//!
//! A dry run takes the same road as the real request: a plain posting goes
//! through the batched path group commit uses ([`super::batch`]), anything
//! else through [`super::apply::apply`], with the same locks, balance
//! checks, limits and idempotency lookup. Before rolling back it reads what
//! the request wrote (the caller's read-back, as after a real commit) and
//! the balances of the accounts it touched. The rollback undoes everything,
//! the idempotency key's claim included, so a real request with the same key
//! afterwards posts. A dry run waits for the row locks a real write would
//! take, and holds them until it rolls back.
//!
//! The model is Formance's `dryRun` query parameter on its transactions
//! endpoint (<https://docs.formance.com/ledger/reference/api>).

use sea_orm::DatabaseTransaction;

use super::batch;
use super::{Applied, LedgerError, PostingError, Request, Writer};
use crate::core::Reads;
use crate::core::accounts::{self, Account, BalanceView};
use crate::core::db;
use crate::core::posting::EntryRecord;
use crate::domain::AccountId;

/// What a dry run saw inside its database transaction before rolling back.
#[derive(Debug, Clone, Default)]
pub struct DryRun {
    /// The entries the request's transaction would post (on a replay, the
    /// original's), in order.
    pub entries: Vec<EntryRecord>,
    /// Each account of those entries the caller may see, in the order the
    /// entries first name it, with its balance after the transaction.
    pub balances: Vec<(Account, BalanceView)>,
    /// Every account the entries name, visible to the caller or not (an
    /// account the run opened exists nowhere else): shown as an entry's
    /// account under the usual visibility rules.
    pub accounts: Vec<Account>,
}

impl Writer {
    /// Runs `request` as the write path would, reads what it wrote with
    /// `read` (named `what` in errors) and the balances after it, then rolls
    /// everything back. Errors: the request's own (as a real write would
    /// raise them: `INSUFFICIENT_FUNDS`, `BALANCE_LIMIT_EXCEEDED`, …);
    /// `TRY_AGAIN` when the database asks for a retry; [`LedgerError::Internal`]
    /// when what was written cannot be read back.
    pub(super) async fn dry_run<T>(
        &self,
        request: Request,
        what: &str,
        read: impl AsyncFnOnce(&Reads, &Applied) -> Result<Option<T>, LedgerError>,
    ) -> Result<(Applied, T, DryRun), LedgerError> {
        let tenant = request.tenant;
        let txn = db::begin(&self.db).await?;
        let applied = self.apply_in(&txn, request).await?;
        let reads = Reads::within(txn, tenant);
        let seen = async {
            let value = read(&reads, &applied)
                .await?
                .ok_or_else(|| LedgerError::internal(format!("{what} just written is missing")))?;
            Ok::<_, LedgerError>((value, view(&reads, &applied).await?))
        }
        .await;
        reads.roll_back().await?;
        let (value, dry) = seen?;
        Ok((applied, value, dry))
    }

    /// Runs `batch` as `postTransactions` would (each request posted or
    /// refused on its own, or with `atomic` all or nothing), then rolls
    /// everything back. One result per request, in order; the transaction
    /// ids of the results exist nowhere. Errors (the whole batch): `TRY_AGAIN`
    /// when the database asks for a retry; [`LedgerError::Database`].
    pub(super) async fn dry_run_batch(
        &self,
        batch: &[Request],
        atomic: bool,
    ) -> Result<Vec<Result<Applied, LedgerError>>, LedgerError> {
        let txn = db::begin(&self.db).await?;
        let results = self.apply_all(&txn, batch).await?;
        txn.rollback().await?;
        if atomic && results.iter().any(Result::is_err) {
            return Ok(results
                .into_iter()
                .map(|r| r.and(Err(LedgerError::Posting(PostingError::BatchRolledBack))))
                .collect());
        }
        Ok(results)
    }

    /// Applies one request inside `txn` by the road the real write takes.
    async fn apply_in(&self, txn: &DatabaseTransaction, request: Request) -> Result<Applied, LedgerError> {
        let results = self.apply_all(txn, std::slice::from_ref(&request)).await?;
        results.into_iter().next().unwrap_or_else(|| Err(LedgerError::internal("a dry run was left without a result")))
    }

    /// Applies `batch` inside `txn` as [`Writer::try_batch`] does: plain
    /// postings through the batched path, anything else one by one.
    async fn apply_all(
        &self,
        txn: &DatabaseTransaction,
        batch: &[Request],
    ) -> Result<Vec<Result<Applied, LedgerError>>, LedgerError> {
        if batch.iter().all(batch::groupable) {
            db::set_batch_tenants(txn, &batch::tenant_set(batch), &self.instance).await?;
            batch::post_batch(txn, batch).await.map_err(|attempt| match attempt {
                batch::Attempt::Db(e) if !db::is_retryable(&e) => LedgerError::Database(e),
                batch::Attempt::Internal(what) => LedgerError::Internal(what),
                _ => LedgerError::Posting(PostingError::Contention),
            })
        } else {
            self.one_by_one(txn, batch).await.map_err(|e| {
                if db::is_retryable(&e) { LedgerError::Posting(PostingError::Contention) } else { e.into() }
            })
        }
    }
}

/// The entries of the transaction `applied` names and the balances of their
/// accounts the caller may see, read inside the dry run's transaction.
async fn view(reads: &Reads, applied: &Applied) -> Result<DryRun, LedgerError> {
    let Some(id) = applied.outcome.transaction() else { return Ok(DryRun::default()) };
    let merchant = match applied.written.as_ref().filter(|t| t.id == id) {
        Some(t) => t.merchant,
        None => match super::store::find(reads.db(), id, None).await? {
            Some(t) => t.merchant,
            None => return Err(LedgerError::internal("a dry run's transaction is missing")),
        },
    };
    let entries = super::store::entries_of(reads.db(), merchant, id).await?;
    let mut order: Vec<AccountId> = Vec::new();
    for e in &entries {
        if !order.contains(&e.account) {
            order.push(e.account);
        }
    }
    let ids: Vec<uuid::Uuid> = order.iter().map(|a| a.0).collect();
    let found = crate::core::accounts::store::find_many(reads.db(), &ids).await?;
    let mut balances = Vec::with_capacity(found.len());
    for id in &order {
        if let Some(account) = found.iter().find(|a| a.id == *id)
            && reads.tenant().sees(account.owner.merchant_id())
        {
            balances.push((account.clone(), accounts::balance(reads, account).await?));
        }
    }
    Ok(DryRun { entries, balances, accounts: found })
}
