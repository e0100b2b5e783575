//! The batched write path: many posting requests applied in one database
//! transaction, each statement covering the whole batch.
//!
//! The same steps take the payout steps (`settlePayout`, `failPayout`) that
//! name their payout's merchant: their payouts are locked in one statement,
//! checked as the one-request path checks them, and posted as drafts with the
//! rest ([`batchable`]); the reconciliation's matching run settles payouts by
//! the hundred this way.
//!
//! One request at a time costs a dozen round trips and a WAL flush, and every
//! payment waits for the row locks of the platform's `processor_clearing` and
//! `fee_revenue` balances and for the sequence clock. Here a batch (gathered by
//! group commit, see [`super::group`], or sent as one `postTransactions`) pays
//! those once:
//!
//! 1. **Keys**: one read finds every key used before; those requests are
//!    answered from the stored result (or refused with
//!    `IDEMPOTENCY_KEY_REUSED`), exactly as on the one-request path.
//! 2. **Rules without balances**, in memory: the draft's own rules and that the
//!    caller's tenant may act for its merchants; one read checks the merchants
//!    exist.
//! 3. **Accounts**: one read per kind (by id, by code) finds every account;
//!    a missing standard account is planned with a fresh id and created later,
//!    only if a request that needs it succeeds.
//! 4. **Locks**: one `SELECT … ORDER BY account_id FOR UPDATE` over every
//!    existing balance row of the batch, so locks are taken in one sorted order.
//! 5. **Apply**, in memory, in request order: each request's entries are added
//!    to the running totals, and its guards and every changed account's
//!    balance limit (read once for the round, after the locks of step 4) are
//!    checked against them. A request that fails (`INSUFFICIENT_FUNDS`,
//!    `BALANCE_LIMIT_EXCEEDED`, an overflow) is dropped from the batch, alone,
//!    and leaves the totals as they were; no savepoint is needed because
//!    nothing of it was written.
//! 6. **Write**: create the planned accounts, take the clock once for the
//!    batch's sequence numbers (in request order), then write the
//!    transactions, entries, outbox events and staff audit records, update
//!    each touched balance row once, and insert the keys with their results.
//!    On one PostgreSQL node these six writes are **one statement** (one
//!    round trip: data-modifying CTEs over JSON rows, one text whatever the
//!    batch's length, so PostgreSQL keeps its plan; see
//!    [`crate::core::db::write_together`]); on SQLite and Citus, one
//!    statement each. (Refused staff requests are audited by the caller,
//!    afterwards, as on the one-request path.)
//!
//! Exactly-once: a key is written only in step 6, together with its result. If
//! another transaction committed the same key after step 1, the insert waits
//! for it, skips the row, and the batch restarts ([`Attempt::Raced`]); the next
//! attempt finds the key in step 1 and replays it. Two requests of one batch
//! with the same key run in successive rounds of the same database
//! transaction, so the second sees the first's key as the one-request path
//! would.
//!
//! Row-level security: the batch acts for several merchants at once, so its
//! database transaction names the **set** of merchants its requests may act
//! for ([`tenant_set`]: a merchant key's own merchant; for staff and services,
//! the merchants their drafts name) together with the platform's rows. Rows of
//! any other merchant are invisible to every statement of the batch, and
//! PostgreSQL refuses an entry on an account outside the set (SQLSTATE 42501;
//! migration `m20261201_000009`). The tenant of each request is also checked
//! here in memory, with the same answers row-level security gives on the
//! one-request path (another merchant's account is `NOT_FOUND`; to staff,
//! who may know both merchants, `ACCOUNT_OF_ANOTHER_MERCHANT`). On SQLite the
//! in-memory checks stand alone.

use crate::core::accounts::AccountError;
use crate::core::merchants::MerchantError;
use crate::core::payouts::payout::PayoutState;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono::Utc;
use sea_orm::{ConnectionTrait, DbErr};

use super::apply::{audit_record, replay};
use super::post::{
    apply_draft, check_account, draft_refs, may_post_to, missing_account, outbox_event, transaction_record,
};
use super::{Applied, Command, LedgerError, Outcome, Request};
use crate::core::access::rules::Tenant;
use crate::core::accounts::limit;
use crate::core::accounts::store::{self as accounts, Account};
use crate::core::merchants::store as merchants;
use crate::core::posting::store as transactions;
use crate::core::posting::store::idempotency;
use crate::domain::{AccountCode, AccountId, AccountRef, AssetCode, MerchantId, Owner, TransactionDraft};

/// Why an attempt at a batch failed as a whole (its database transaction is
/// rolled back). Both kinds may be retried.
#[derive(Debug)]
pub(super) enum Attempt {
    /// The database failed.
    Db(DbErr),
    /// Another transaction committed a key or created an account this batch
    /// was about to write; running the batch again sees it.
    Raced,
    /// A broken invariant (a bug): not retried, each request of the batch
    /// gets [`LedgerError::Internal`] with this text.
    Internal(String),
}

impl From<DbErr> for Attempt {
    fn from(e: DbErr) -> Self {
        Attempt::Db(e)
    }
}

impl From<LedgerError> for Attempt {
    fn from(e: LedgerError) -> Self {
        match e {
            LedgerError::Database(e) => Attempt::Db(e),
            other => Attempt::Internal(other.to_string()),
        }
    }
}

/// True for requests the batched path takes: plain postings (`postTransaction`,
/// `recordPayment`, `recordPayout`, deals), by merchants' keys or by staff (a
/// staff posting's audit record is written with it). Reversals, payment and
/// payout steps lock other rows (payments, payouts, the original) and stay on
/// the one-request path.
pub(super) fn groupable(req: &Request) -> bool {
    matches!(&req.command, Command::Post(d) if d.reverses.is_none() && d.payment.is_none() && d.payout.is_none())
}

/// True for requests [`post_batch`] takes: the [`groupable`] postings and the
/// payout steps (`settlePayout`, `failPayout`) whose request names the
/// payout's merchant ([`Request::partition`], or a merchant key's own), as
/// the reconciliation's matching run sends them by the hundred: their
/// payouts are locked in one statement and their postings go through the
/// batch's steps with the rest (see [`payout_steps`]). Group commit still
/// gathers only [`groupable`] requests.
pub(super) fn batchable(req: &Request) -> bool {
    groupable(req) || (payout_step(req).is_some() && payout_partition(req).is_some())
}

/// The payout and whether it settles (`true`) or fails, for a payout step.
fn payout_step(req: &Request) -> Option<(uuid::Uuid, bool)> {
    match req.command {
        Command::SettlePayout { payout } => Some((payout, true)),
        Command::FailPayout { payout } => Some((payout, false)),
        _ => None,
    }
}

/// The merchant whose books hold a payout step's payout, when the request
/// says: a merchant key's own, or the merchant a staff or service caller named.
fn payout_partition(req: &Request) -> Option<MerchantId> {
    match req.tenant {
        Tenant::Merchant(m) => Some(req.partition.unwrap_or(m)),
        Tenant::All => req.partition,
        Tenant::Nobody => None,
    }
}

/// The merchants whose rows a batch's database transaction may touch, sorted
/// and without repeats: for a request of a merchant key, that merchant only
/// (whatever its draft names: a draft for another merchant is refused in
/// memory and would find nothing); for staff and the server's own callers,
/// the merchant and counterparty their draft names. The platform's own rows
/// are visible to every batch besides.
pub(super) fn tenant_set(batch: &[Request]) -> Vec<MerchantId> {
    let mut set = BTreeSet::new();
    for req in batch {
        match (req.tenant, &req.command) {
            (Tenant::Merchant(m), _) => {
                set.insert(m);
            }
            (Tenant::All, Command::Post(draft)) => {
                set.insert(draft.merchant);
                set.extend(draft.counterparty);
            }
            (Tenant::All, Command::SettlePayout { .. } | Command::FailPayout { .. }) => {
                set.extend(req.partition);
            }
            (Tenant::All, _) | (Tenant::Nobody, _) => {}
        }
    }
    set.into_iter().collect()
}

/// One result per request, in order.
type Results = Vec<Option<Result<Applied, LedgerError>>>;

/// Applies `batch` (every request [`batchable`]) inside the open database
/// transaction `db`, whose tenant must be all rows. Returns one result per
/// request; refused requests wrote nothing.
pub(super) async fn post_batch(
    db: &impl ConnectionTrait,
    batch: &[Request],
) -> Result<Vec<Result<Applied, LedgerError>>, Attempt> {
    // The n-th use of a key in the batch runs in round n.
    let mut uses: HashMap<(MerchantId, &str), usize> = HashMap::new();
    let rounds: Vec<usize> = batch
        .iter()
        .map(|r| {
            r.key.as_ref().map_or(0, |k| {
                let n = uses.entry((r.scope, k.as_str())).or_insert(0);
                *n += 1;
                *n - 1
            })
        })
        .collect();
    let mut results: Results = (0..batch.len()).map(|_| None).collect();
    for round in 0..=rounds.iter().copied().max().unwrap_or(0) {
        let items: Vec<usize> = (0..batch.len()).filter(|&i| rounds[i] == round).collect();
        post_round(db, batch, &items, &mut results).await?;
    }
    Ok(results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(LedgerError::internal("a batched request was left without a result"))))
        .collect())
}

/// A request that has passed every check so far, with its resolved accounts.
struct Live<'a> {
    index: usize,
    req: &'a Request,
    draft: &'a TransactionDraft,
    accounts: BTreeMap<(AccountRef, AssetCode), Account>,
}

/// Steps 1 to 6 of the module doc for requests `items` of `batch`, none of
/// which shares a key with another.
async fn post_round(
    db: &impl ConnectionTrait,
    batch: &[Request],
    items: &[usize],
    results: &mut Results,
) -> Result<(), Attempt> {
    // 1. Keys used before.
    let keys: Vec<(MerchantId, crate::domain::IdempotencyKey)> =
        items.iter().filter_map(|&i| batch[i].key.clone().map(|k| (batch[i].scope, k))).collect();
    let used = if keys.is_empty() { HashMap::new() } else { idempotency::find_many(db, &keys).await? };

    // 2. Rules without balances (after the payout steps' payouts are locked
    // and turned into their postings).
    let replayed = |i: usize| batch[i].key.as_ref().and_then(|k| used.get(&(batch[i].scope, k.clone())));
    let fresh: Vec<usize> = items.iter().copied().filter(|&i| replayed(i).is_none()).collect();
    let stepped = payout_steps(db, batch, &fresh, results).await?;
    let mut checked = Vec::with_capacity(items.len());
    for &i in items {
        let req = &batch[i];
        if let Some((fingerprint, result)) = replayed(i) {
            results[i] = Some(replay(req, fingerprint, result.clone()));
            continue;
        }
        let draft = match (&req.command, stepped.get(&i)) {
            (Command::Post(draft), _) => draft,
            (_, Some(draft)) => draft,
            // A payout step refused in `payout_steps` has its result already.
            (_, None) if results[i].is_some() => continue,
            (_, None) => {
                results[i] = Some(Err(LedgerError::internal("a request the batched path does not take reached it")));
                continue;
            }
        };
        match check_draft(req, draft) {
            Ok(()) => checked.push((i, req, draft)),
            Err(e) => results[i] = Some(Err(e)),
        }
    }
    let merchant_ids: BTreeSet<uuid::Uuid> =
        checked.iter().flat_map(|(_, _, d)| std::iter::once(d.merchant).chain(d.counterparty)).map(|m| m.0).collect();
    let merchant_ids: Vec<uuid::Uuid> = merchant_ids.into_iter().collect();
    let known: HashSet<MerchantId> = if merchant_ids.is_empty() {
        HashSet::new()
    } else {
        merchants::find_many(db, &merchant_ids).await?.into_iter().map(|m| m.id).collect()
    };

    // 3. Accounts.
    let mut book = AccountBook::load(db, &checked).await?;
    let mut live = Vec::with_capacity(checked.len());
    for (index, req, draft) in checked {
        let platforms_own = super::post::in_platform_books(req, draft);
        if !(known.contains(&draft.merchant) || platforms_own)
            || draft.counterparty.is_some_and(|c| !known.contains(&c))
        {
            results[index] = Some(Err(LedgerError::Merchant(MerchantError::NotFound)));
            continue;
        }
        match book.resolve(req, draft) {
            Ok(accounts) => live.push(Live { index, req, draft, accounts }),
            Err(e) => results[index] = Some(Err(e)),
        }
    }
    #[cfg(feature = "test-hooks")]
    hooks::inject(&mut live);

    // 4. Locks, in one sorted statement.
    let existing: Vec<accounts::BalanceKey> = live
        .iter()
        .flat_map(|l| l.accounts.values().map(|a| (a.owner.partition(), a.id)))
        .filter(|(_, id)| !book.planned.contains_key(id))
        .collect();
    let mut balances =
        if existing.is_empty() { BTreeMap::new() } else { accounts::lock_balances(db, &existing).await? };
    // The limits of every account of the round (planned ones included), read
    // under the locks just taken: setBalanceLimit takes the same locks first.
    let mut touched: Vec<&Account> = live.iter().flat_map(|l| l.accounts.values()).collect();
    touched.sort_by_key(|a| a.id);
    touched.dedup_by_key(|a| a.id);
    let limits = accounts::limits::for_accounts(db, &touched).await?;

    // 5. Apply in request order; a refusal drops only its own request.
    let mut applied = Vec::with_capacity(live.len());
    for l in live {
        match apply_draft(l.draft, &l.accounts, &mut balances, &limits, !limit::exempt(l.draft.kind)) {
            Ok((entries, changed)) => applied.push((l, entries, changed)),
            Err(e) => results[l.index] = Some(Err(e)),
        }
    }
    if applied.is_empty() {
        return Ok(());
    }

    // 6. Write.
    let needed: BTreeSet<&AccountId> =
        applied.iter().flat_map(|(l, _, _)| l.accounts.values().map(|a| &a.id)).collect();
    let mut to_create: Vec<&Account> =
        book.planned.iter().filter(|(id, _)| needed.contains(id)).map(|(_, a)| a).collect();
    // Sorted by (owner, code, asset), as the one-request path creates them.
    to_create.sort_by(|a, b| (a.owner, &a.code, &a.asset).cmp(&(b.owner, &b.code, &b.asset)));
    for a in to_create {
        if !accounts::insert_with_id(db, a.id, a.owner, &a.code, &a.asset, a.normal_balance).await? {
            return Err(Attempt::Raced);
        }
    }
    book.planned.clear();

    let entry_total: usize = applied.iter().map(|(_, e, _)| e.len()).sum();
    let parties: Vec<(crate::domain::MerchantId, Option<crate::domain::MerchantId>)> =
        applied.iter().map(|(l, _, _)| (l.draft.merchant, l.draft.counterparty)).collect();
    let mut reserved = transactions::reserve(db, &parties, entry_total).await?;
    let mut chains = crate::core::chain::Linker::new(std::mem::take(&mut reserved.heads));
    let now = Utc::now();
    let mut next_entry = 0usize;
    let mut written = Vec::with_capacity(applied.len());
    let mut last_change: BTreeMap<AccountId, (crate::domain::Balance, i64)> = BTreeMap::new();
    let mut partition_of: HashMap<AccountId, crate::domain::MerchantId> = HashMap::new();
    let mut events = Vec::with_capacity(applied.len());
    let mut keys = Vec::new();
    let mut audits = Vec::new();
    let mut payout_states = Vec::new();
    for (numbers, (l, entries, changed)) in reserved.transactions.iter().copied().zip(applied) {
        let seq = numbers.seq;
        if let Some(audit) = &l.req.audit {
            audits.push(audit_record(l.req, audit, Some(l.draft.merchant), "ok"));
        }
        let mut record = transaction_record(l.req, l.draft, numbers, now);
        let n = entries.len();
        let rows = transactions::number_entries(&record, &reserved.entry_seqs[next_entry..next_entry + n], entries);
        next_entry += n;
        chains.link(&mut record, &rows)?;
        let by_id: HashMap<AccountId, &Account> = l.accounts.values().map(|a| (a.id, a)).collect();
        events.push(outbox_event(&record, &rows, &changed, &by_id)?);
        for (id, b) in &changed {
            last_change.insert(*id, (*b, seq));
        }
        partition_of.extend(l.accounts.values().map(|a| (a.id, a.owner.partition())));
        let outcome = match payout_step(l.req) {
            Some((payout, settled)) => {
                let (_, state) = crate::core::payouts::payout::finishing(settled);
                payout_states.push((l.draft.merchant, payout, state));
                Outcome::Payout { payout, transaction: record.id }
            }
            None => Outcome::Transaction(record.id),
        };
        if let Some(key) = &l.req.key {
            keys.push(idempotency::CompletedKey {
                scope: l.req.scope,
                key: key.clone(),
                operation: l.req.operation,
                fingerprint: l.req.fingerprint.clone(),
                result: serde_json::to_value(&outcome).map_err(|e| {
                    LedgerError::internal(format!("outcome does not serialize for its idempotency record: {e}"))
                })?,
            });
        }
        results[l.index] =
            Some(Ok(Applied { outcome, replayed: false, written: Some(Box::new(record.clone())), secret: None }));
        written.push((record, rows));
    }
    let refs: Vec<(&transactions::TransactionRecord, &[transactions::EntryRecord])> =
        written.iter().map(|(t, e)| (t, e.as_slice())).collect();
    let stored = last_change
        .into_iter()
        .map(|(id, (b, seq))| {
            let partition = partition_of
                .get(&id)
                .copied()
                .ok_or_else(|| LedgerError::internal(format!("account {id} changed but was not resolved")))?;
            Ok(((partition, id), b, seq))
        })
        .collect::<Result<Vec<(accounts::BalanceKey, crate::domain::Balance, i64)>, LedgerError>>()?;
    if crate::core::db::rows_as_json(db) {
        write_in_one_statement(db, &refs, chains.moved(), &stored, &events, &audits, &keys).await?;
    } else {
        transactions::append_many(db, &refs).await?;
        crate::core::chain::store_clocks(db, chains.moved()).await?;
        accounts::store_balances(db, &stored).await?;
        crate::core::outbox::store::insert_many(db, &events).await?;
        if !audits.is_empty() {
            crate::core::access::store::append_audits(db, &audits).await?;
        }
        if idempotency::insert_completed(db, &keys).await? != keys.len() as u64 {
            return Err(Attempt::Raced);
        }
    }
    // The payouts settled or failed, under the locks `payout_steps` took.
    if !payout_states.is_empty() {
        crate::core::payouts::store::set_states(db, &payout_states).await?;
    }
    #[cfg(debug_assertions)]
    {
        let written: Vec<(accounts::BalanceKey, crate::domain::Balance)> =
            stored.iter().map(|(key, b, _)| (*key, *b)).collect();
        super::invariants::read_back(db, &written).await?;
    }
    Ok(())
}

/// The postings of the payout steps among requests `items` (none replayed),
/// by request index: their payouts locked in one statement (id order) and
/// each checked as the one-request path checks it (`finish_payout`). A step
/// refused here gets its result in `results` and posts nothing: `NOT_FOUND`
/// (no such payout in the named merchant's books, or one the tenant may not
/// see), `PAYOUT_NOT_IN_TRANSIT` (settled or failed before, or by an earlier
/// step of the same round). Errors: the database's.
async fn payout_steps(
    db: &impl ConnectionTrait,
    batch: &[Request],
    items: &[usize],
    results: &mut Results,
) -> Result<HashMap<usize, TransactionDraft>, Attempt> {
    use crate::core::payouts::PayoutError;
    let steps: Vec<(usize, uuid::Uuid, bool, Option<MerchantId>)> = items
        .iter()
        .filter_map(|&i| payout_step(&batch[i]).map(|(p, settled)| (i, p, settled, payout_partition(&batch[i]))))
        .collect();
    if steps.is_empty() {
        return Ok(HashMap::new());
    }
    let keys: Vec<(MerchantId, uuid::Uuid)> = steps.iter().filter_map(|(_, p, _, m)| m.map(|m| (m, *p))).collect();
    let found: HashMap<uuid::Uuid, crate::core::payouts::store::Payout> =
        crate::core::payouts::store::lock_many(db, &keys).await?.into_iter().map(|p| (p.id, p)).collect();
    let mut taken = HashSet::new();
    let mut drafts = HashMap::with_capacity(steps.len());
    let mut moved = Vec::new();
    for (i, id, settled, partition) in steps {
        let req = &batch[i];
        let drafted = match found.get(&id).filter(|p| Some(p.merchant) == partition && req.tenant.sees(p.merchant)) {
            None => Err(LedgerError::from(PayoutError::NotFound)),
            Some(p) if p.state != PayoutState::InTransit || !taken.insert(id) => {
                moved.extend(req.key.clone().map(|k| (req.scope, k)));
                Err(crate::domain::DomainError::Payout(PayoutError::PayoutNotInTransit).into())
            }
            Some(p) => {
                let (kind, _) = crate::core::payouts::payout::finishing(settled);
                crate::domain::Amount::from_minor(p.amount)
                    .and_then(|amount| crate::core::payouts::payout::step(kind, p.merchant, &p.asset, amount, id))
                    .map_err(LedgerError::from)
            }
        };
        match drafted {
            Ok(d) => {
                drafts.insert(i, d);
            }
            Err(e) => results[i] = Some(Err(e)),
        }
    }
    // A payout that moved may have moved under this very key, committed by
    // another transaction after step 1 read the keys (the lock above waited
    // for it): then the step is a replay, not a refusal, and the batch runs
    // again to answer it so (the one-request path's key claim waits the same
    // way).
    if !moved.is_empty() && !idempotency::find_many(db, &moved).await?.is_empty() {
        return Err(Attempt::Raced);
    }
    Ok(drafts)
}

/// Step 6's writes on one PostgreSQL node, in one statement and one round
/// trip ([`crate::core::db::write_together`]): the transactions, their
/// entries, their merchants' clocks (journal number and chain head), the
/// balance rows, the outbox events, the staff audit records and
/// the idempotency keys with their results. Errors: [`Attempt::Raced`] when
/// another transaction committed one of the keys first (the statement wrote
/// fewer keys than given), [`Attempt::Db`] for a balance row not updated (a
/// bug: nothing may be committed then) or any database failure.
async fn write_in_one_statement(
    db: &impl ConnectionTrait,
    txns: &[(&transactions::TransactionRecord, &[transactions::EntryRecord])],
    clocks: &BTreeMap<MerchantId, crate::core::chain::Head>,
    balances: &[(accounts::BalanceKey, crate::domain::Balance, i64)],
    events: &[crate::domain::event::LedgerEvent],
    audits: &[crate::core::access::store::AuditRecord],
    keys: &[idempotency::CompletedKey],
) -> Result<(), Attempt> {
    let mut writes = transactions::append_writes(txns);
    writes.extend(crate::core::chain::clocks_write(clocks));
    let balances_at = writes.len();
    writes.push(accounts::balances_write(balances));
    writes.extend(crate::core::outbox::store::insert_write(events)?);
    if !audits.is_empty() {
        writes.push(crate::core::access::store::audits_write(audits));
    }
    let keys_at = writes.len();
    if !keys.is_empty() {
        writes.push(idempotency::completed_write(keys, Utc::now()));
    }
    let counts = crate::core::db::write_together(db, &writes).await?;
    if counts.get(balances_at).copied() != Some(balances.len() as u64) {
        return Err(Attempt::Db(DbErr::RecordNotUpdated));
    }
    if !keys.is_empty() && counts.get(keys_at).copied() != Some(keys.len() as u64) {
        return Err(Attempt::Raced);
    }
    Ok(())
}

/// The draft's own rules and the tenant's right to act for its merchants.
/// Errors: the draft's [`TransactionDraft::validate`] errors,
/// [`MerchantError::NotFound`] (another merchant looks like no merchant).
fn check_draft(req: &Request, draft: &TransactionDraft) -> Result<(), LedgerError> {
    draft.validate()?;
    if !req.tenant.sees(draft.merchant) || draft.counterparty.is_some_and(|c| !req.tenant.sees(c)) {
        return Err(LedgerError::Merchant(MerchantError::NotFound));
    }
    Ok(())
}

/// What row-level security shows a request's tenant of an owner's accounts
/// on the one-request path, where the platform's rows are visible to writes.
fn visible(tenant: Tenant, owner: Owner) -> bool {
    match owner {
        Owner::Platform => true,
        Owner::Merchant(m) | Owner::PlatformFor(m) => tenant.sees(m),
    }
}

/// The accounts a round names, found in two reads, and the standard accounts
/// it would create (with ids chosen now, created only if used).
struct AccountBook {
    by_id: HashMap<AccountId, Account>,
    /// Accounts named by id that exist but lie outside the batch's tenant set.
    foreign: HashSet<AccountId>,
    by_code: HashMap<(Owner, AccountCode, AssetCode), Account>,
    planned: BTreeMap<AccountId, Account>,
}

impl AccountBook {
    /// Reads every account the drafts name: by id, and by (owner, code, asset)
    /// for the codes the drafts may post to. Plans the missing standard ones.
    async fn load(db: &impl ConnectionTrait, drafts: &[(usize, &Request, &TransactionDraft)]) -> Result<Self, DbErr> {
        let mut ids = BTreeSet::new();
        let mut codes = BTreeSet::new();
        for (_, _, draft) in drafts {
            for (reference, asset) in draft_refs(draft) {
                match reference {
                    AccountRef::Id(id) => {
                        ids.insert(id.0);
                    }
                    AccountRef::Code { owner, code } => {
                        let owner = owner.in_books_of(draft.merchant);
                        if may_post_to(draft, owner) {
                            codes.insert((owner, code, asset));
                        }
                    }
                }
            }
        }
        let ids: Vec<uuid::Uuid> = ids.into_iter().collect();
        let codes: Vec<(Owner, AccountCode, AssetCode)> = codes.into_iter().collect();
        let by_id = if ids.is_empty() { Vec::new() } else { accounts::find_many(db, &ids).await? };
        // Ids the batch's tenant cannot see: whether they exist at all decides
        // what staff are told (see `resolve`). Only read when there are some.
        let seen: HashSet<uuid::Uuid> = by_id.iter().map(|a| a.id.0).collect();
        let unseen: Vec<uuid::Uuid> = ids.iter().copied().filter(|id| !seen.contains(id)).collect();
        let foreign = if unseen.is_empty() {
            HashSet::new()
        } else {
            accounts::existing_ids(db, &unseen).await?.into_iter().map(AccountId).collect()
        };
        let found = if codes.is_empty() { Vec::new() } else { accounts::find_by_codes(db, &codes).await? };
        let mut by_code: HashMap<(Owner, AccountCode, AssetCode), Account> =
            found.into_iter().map(|a| ((a.owner, a.code.clone(), a.asset.clone()), a)).collect();
        let mut planned = BTreeMap::new();
        let now = Utc::now();
        for (owner, code, asset) in codes {
            let key = (owner, code.clone(), asset.clone());
            if by_code.contains_key(&key) {
                continue;
            }
            if let Some(normal_balance) = code.standard_normal_balance(owner) {
                let account = Account {
                    id: AccountId(uuid::Uuid::now_v7()),
                    owner,
                    code: key.1.clone(),
                    asset,
                    normal_balance,
                    created_at: now,
                };
                planned.insert(account.id, account.clone());
                by_code.insert(key, account);
            }
        }
        Ok(Self { by_id: by_id.into_iter().map(|a| (a.id, a)).collect(), foreign, by_code, planned })
    }

    /// The accounts of one draft, with the one-request path's checks and
    /// answers (see `resolve_accounts`). Errors: `NOT_FOUND` (no such account,
    /// or one the tenant may not see), `ACCOUNT_OF_ANOTHER_MERCHANT`,
    /// `UNKNOWN_PLATFORM_ACCOUNT`, `ASSET_MISMATCH`.
    fn resolve(
        &self,
        req: &Request,
        draft: &TransactionDraft,
    ) -> Result<BTreeMap<(AccountRef, AssetCode), Account>, LedgerError> {
        let mut out = BTreeMap::new();
        for (reference, asset) in draft_refs(draft) {
            let account = match &reference {
                // Staff may know both merchants: they are told the account is
                // another merchant's, as the one-request path tells them.
                AccountRef::Id(id) if req.tenant == Tenant::All && self.foreign.contains(id) => {
                    return Err(LedgerError::Account(AccountError::OfAnotherMerchant));
                }
                AccountRef::Id(id) => self.by_id.get(id).filter(|a| visible(req.tenant, a.owner)),
                AccountRef::Code { owner, code } => {
                    // Past `check_draft`, the tenant sees the draft's merchant and
                    // counterparty, so every code the draft may post to is visible.
                    let owner = owner.in_books_of(draft.merchant);
                    if !may_post_to(draft, owner) {
                        return Err(LedgerError::Account(AccountError::OfAnotherMerchant));
                    }
                    match self.by_code.get(&(owner, code.clone(), asset.clone())) {
                        Some(a) => Some(a),
                        None => return Err(missing_account(owner, code)),
                    }
                }
            }
            .ok_or(LedgerError::Account(AccountError::NotFound))?;
            check_account(req, draft, account, &asset)?;
            out.insert((reference, asset), account.clone());
        }
        Ok(out)
    }
}

/// Test hooks below the application's own checks (cargo feature
/// `test-hooks`, which only the integration tests turn on): they let a test
/// show that the database itself refuses what the checks above would have
/// stopped.
#[cfg(feature = "test-hooks")]
pub mod hooks {
    use super::{Account, Live, Owner};
    use crate::domain::AccountId;

    /// Puts the first entry of the batched request whose idempotency key is
    /// `key` on `account` instead, after every in-memory check has passed, as if
    /// the account were one of the request's own merchant.
    #[derive(Debug, Clone)]
    pub struct ForeignEntry {
        /// The idempotency key of the request to tamper with.
        pub key: String,
        /// The account (another merchant's) its first entry is moved to.
        pub account: AccountId,
    }

    tokio::task_local! {
        /// Set with `FOREIGN_ENTRY.scope(hook, ledger.submit(batch))`.
        pub static FOREIGN_ENTRY: ForeignEntry;
    }

    /// Applies [`FOREIGN_ENTRY`] to the round's resolved requests, if it is set.
    pub(super) fn inject(live: &mut [Live<'_>]) {
        let Ok(hook) = FOREIGN_ENTRY.try_with(Clone::clone) else { return };
        for l in live.iter_mut().filter(|l| l.req.key.as_ref().is_some_and(|k| k.as_str() == hook.key)) {
            let Some(first) = l.draft.entries.first() else { continue };
            let slot = (first.account.clone(), first.asset.clone());
            if let Some(own) = l.accounts.get(&slot) {
                let forged = Account { id: hook.account, owner: Owner::Merchant(l.draft.merchant), ..own.clone() };
                l.accounts.insert(slot, forged);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Fingerprint, IdempotencyKey};

    fn post(scope: MerchantId, key: &str) -> Request {
        let draft = TransactionDraft::new(scope, crate::domain::TransactionKind::Transfer, Vec::new());
        Request {
            scope,
            key: IdempotencyKey::parse(key).ok(),
            operation: "postTransaction",
            fingerprint: Fingerprint::of("postTransaction", &serde_json::json!({})),
            command: Command::Post(draft),
            tenant: Tenant::Merchant(scope),
            actor: crate::core::access::rules::Actor::Key { prefix: "test".into() },
            request_id: None,
            partition: Some(scope),
            audit: None,
        }
    }

    #[test]
    fn plain_postings_are_batched_and_reversals_and_payment_steps_are_not() {
        let m = MerchantId::new();
        assert!(groupable(&post(m, "a")));
        let mut reversal = post(m, "b");
        if let Command::Post(d) = &mut reversal.command {
            d.reverses = Some(crate::domain::TransactionId::new());
        }
        assert!(!groupable(&reversal));
        let mut staff = post(m, "c");
        staff.audit = Some(super::super::AuditDraft {
            actor: "alice".into(),
            target_type: crate::core::access::rules::AuditTarget::Merchant,
            target_id: None,
            reason: None,
        });
        assert!(groupable(&staff));
        let void = Request { command: Command::Void { payment: uuid::Uuid::now_v7() }, ..post(m, "d") };
        assert!(!groupable(&void));
    }

    #[test]
    fn a_tenant_sees_the_platform_and_only_its_own_merchant() {
        let (a, b) = (MerchantId::new(), MerchantId::new());
        assert!(visible(Tenant::Merchant(a), Owner::Platform));
        assert!(visible(Tenant::Merchant(a), Owner::Merchant(a)));
        assert!(!visible(Tenant::Merchant(a), Owner::Merchant(b)));
        assert!(visible(Tenant::All, Owner::Merchant(b)));
    }

    #[test]
    fn a_merchant_key_may_not_post_for_another_merchant() {
        let (a, b) = (MerchantId::new(), MerchantId::new());
        let asset = AssetCode::parse("USD").unwrap_or_else(|_| unreachable!());
        let amount = crate::domain::Amount::from_minor(100).unwrap_or_else(|_| unreachable!());
        let entry = |code: &'static str, direction| crate::domain::EntryDraft {
            account: AccountRef::Code { owner: Owner::Merchant(b), code: AccountCode::standard(code) },
            asset: asset.clone(),
            direction,
            amount,
            layer: crate::domain::Layer::Posted,
        };
        let mut req = post(b, "e");
        if let Command::Post(d) = &mut req.command {
            d.entries = vec![
                entry("available", crate::domain::Direction::Debit),
                entry("pending", crate::domain::Direction::Credit),
            ];
        }
        let Command::Post(draft) = &req.command else { unreachable!() };
        assert!(check_draft(&req, draft).is_ok());
        let foreign = Request { tenant: Tenant::Merchant(a), ..req.clone() };
        assert!(matches!(check_draft(&foreign, draft), Err(LedgerError::Merchant(MerchantError::NotFound))));
    }
}
