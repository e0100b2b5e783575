//! Posting one transaction draft: resolve and lock its accounts in sorted
//! order, check the balance rules, reserve sequences, append the transaction
//! and its entries, store the balances and the outbox event. Reversals build
//! their draft here too.

use crate::core::accounts::AccountError;
use crate::core::posting::PostingError;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;

use crate::core::LedgerError;
use crate::core::access::rules::Tenant;
use crate::core::accounts::limit::{self};
use crate::core::accounts::store as accounts;
use crate::core::db as store;
use crate::core::payments::apply::{plan_step_reversal, reverse_payment_step};
use crate::core::payments::store::{self as payments};
use crate::core::posting::apply::merchant_of;
use crate::core::posting::command::{Command, Request};
use crate::core::posting::store as transactions;
use crate::domain::event::{
    EVENT_SCHEMA_VERSION, EventBalance, EventEntry, EventTransaction, LedgerEvent, TRANSACTION_POSTED,
};
use crate::domain::{
    AccountCode, AccountId, AccountRef, AssetCode, DomainError, Owner, TransactionDraft, TransactionId,
};
use crate::domain::{Amount, TransactionKind};

/// The transaction `id` as `tenant` may see it, if it may still be reversed.
/// Errors: [`PostingError::TransactionNotFound`] (also for another merchant's),
/// [`DomainError::AlreadyReversed`].
async fn reversible(
    db: &impl ConnectionTrait,
    tenant: Tenant,
    partition: Option<crate::domain::MerchantId>,
    id: TransactionId,
) -> Result<crate::domain::transaction::PostedTransaction, LedgerError> {
    let original = transactions::load_posted(db, id, partition)
        .await?
        .filter(|t| tenant.sees(t.merchant))
        .ok_or(LedgerError::Posting(PostingError::TransactionNotFound))?;
    if transactions::reversal_of(db, original.merchant, id).await?.is_some()
        || original.kind == TransactionKind::Reversal
    {
        return Err(DomainError::AlreadyReversed.into());
    }
    Ok(original)
}

/// Reverses `id`; `force` skips the balance limit check (see [`post`]) and
/// marks the reversal's metadata `forced: true`. Errors:
/// [`PostingError::TransactionNotFound`], [`DomainError::AlreadyReversed`],
/// [`DomainError::ReasonRequired`], `BALANCE_LIMIT_EXCEEDED` (without `force`).
pub(in crate::core) async fn reverse(
    db: &impl ConnectionTrait,
    req: &Request,
    id: TransactionId,
    reason: &str,
    force: bool,
) -> Result<TransactionId, LedgerError> {
    let original = reversible(db, req.tenant, req.partition, id).await?;
    if let Some(payment) = original.payment {
        return reverse_payment_step(db, req, &original, payment, reason, force).await;
    }
    let draft = forced(TransactionDraft::reversal_of(&original, reason)?, force);
    post(db, req, &draft).await
}

/// What reversing `id` would post, computed exactly as [`reverse`] computes
/// it (a payment step's holds become releases, only a capture's posted
/// entries are reversed), writing nothing. The reason only shapes metadata,
/// so a placeholder is used. Errors: those of [`reverse`] but the balance
/// limits, which only a posting can check.
pub(in crate::core) async fn plan_reversal(
    db: &impl ConnectionTrait,
    tenant: Tenant,
    id: TransactionId,
) -> Result<TransactionDraft, LedgerError> {
    const PREVIEW_REASON: &str = "preview";
    let original = reversible(db, tenant, tenant.partition(), id).await?;
    match original.payment {
        Some(payment) => {
            let p = payments::find(db, payment, Some(original.merchant))
                .await?
                .filter(|p| tenant.sees(p.merchant))
                .ok_or(LedgerError::from(crate::core::payments::PaymentError::NotFound))?;
            Ok(plan_step_reversal(db, &p, &original, PREVIEW_REASON, false).await?.draft)
        }
        None => Ok(TransactionDraft::reversal_of(&original, PREVIEW_REASON)?),
    }
}

/// A reversal draft marked `forced: true` in its metadata when `force` is set,
/// so the books say which reversals skipped the limit check.
pub(in crate::core) fn forced(mut draft: TransactionDraft, force: bool) -> TransactionDraft {
    if force && let Some(meta) = draft.metadata.as_object_mut() {
        meta.insert("forced".to_owned(), serde_json::Value::Bool(true));
    }
    draft
}

/// Resolves, locks, checks and appends one transaction draft.
pub(in crate::core) async fn post(
    db: &impl ConnectionTrait,
    req: &Request,
    draft: &TransactionDraft,
) -> Result<TransactionId, LedgerError> {
    draft.validate()?;
    if !in_platform_books(req, draft) {
        merchant_of(db, req, draft.merchant).await?;
    }
    if let Some(other) = draft.counterparty {
        merchant_of(db, req, other).await?;
    }
    let resolved = resolve_accounts(db, req, draft).await?;

    let keys: Vec<accounts::BalanceKey> = resolved.values().map(|a| (a.owner.partition(), a.id)).collect();
    let mut balances = accounts::lock_balances(db, &keys).await?;
    // Under the locks, a racing reversal of the same original has committed:
    // say so before the balances it moved make this one look like a breach.
    if let Some(original) = draft.reverses
        && transactions::reversal_of(db, draft.merchant, original).await?.is_some()
    {
        return Err(DomainError::AlreadyReversed.into());
    }
    // Read under the row locks: setBalanceLimit takes the same locks first.
    let touched: Vec<&accounts::Account> = resolved.values().collect();
    let limits = accounts::limits::for_accounts(db, &touched).await?;
    let forced_reversal = matches!(req.command, Command::Reverse { force: true, .. });
    let enforce = !forced_reversal && !limit::exempt(draft.kind);
    let (entries, changed) = apply_draft(draft, &resolved, &mut balances, &limits, enforce)?;

    let reserved = transactions::reserve(db, &[(draft.merchant, draft.counterparty)], entries.len()).await?;
    let numbers = reserved.transactions[0];
    let seq = numbers.seq;
    let mut record = transaction_record(req, draft, numbers, Utc::now());
    let rows = transactions::number_entries(&record, &reserved.entry_seqs, entries);
    let mut chains = crate::core::chain::Linker::new(reserved.heads);
    chains.link(&mut record, &rows)?;
    transactions::append(db, &record, &rows).await.map_err(|e| {
        if store::is_unique_violation(&e, crate::core::db::UniqueKey::Reverses) {
            DomainError::AlreadyReversed.into()
        } else {
            LedgerError::from(e)
        }
    })?;
    crate::core::chain::store_clocks(db, chains.moved()).await?;
    let by_id: HashMap<AccountId, &accounts::Account> = resolved.values().map(|a| (a.id, a)).collect();
    let keyed = keyed_by_partition(&changed, &by_id)?;
    for (key, balance) in &keyed {
        accounts::store_balance(db, *key, balance, seq).await?;
    }
    #[cfg(debug_assertions)]
    super::invariants::read_back(db, &keyed).await?;
    crate::core::outbox::store::insert(db, &outbox_event(&record, &rows, &changed, &by_id)?).await?;
    Ok(record.id)
}

/// An entry resolved to its account, not yet numbered: account, asset,
/// direction, amount (minor units of the asset) and layer.
pub(in crate::core) type ResolvedEntry = (AccountId, AssetCode, crate::domain::Direction, Amount, crate::domain::Layer);

/// `changed` (account, totals) with each account's balance key, from the
/// resolved accounts `by_id`. Errors: [`LedgerError::Internal`] for an account
/// that was not resolved (a bug above).
pub(in crate::core) fn keyed_by_partition(
    changed: &[(AccountId, crate::domain::Balance)],
    by_id: &HashMap<AccountId, &accounts::Account>,
) -> Result<Vec<(accounts::BalanceKey, crate::domain::Balance)>, LedgerError> {
    changed
        .iter()
        .map(|(id, b)| {
            let account =
                by_id.get(id).ok_or_else(|| LedgerError::internal(format!("account {id} was not resolved")))?;
            Ok(((account.owner.partition(), *id), *b))
        })
        .collect()
}

/// What applying a draft produced: its entries, and the accounts it changed
/// with their totals after it.
pub(in crate::core) type AppliedDraft = (Vec<ResolvedEntry>, Vec<(AccountId, crate::domain::Balance)>);

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
pub(in crate::core) fn apply_draft(
    draft: &TransactionDraft,
    resolved: &BTreeMap<(AccountRef, AssetCode), accounts::Account>,
    balances: &mut BTreeMap<AccountId, crate::domain::Balance>,
    limits: &BTreeMap<AccountId, limit::AccountLimit>,
    enforce_limits: bool,
) -> Result<AppliedDraft, LedgerError> {
    let unresolved = || LedgerError::internal("an entry's account was not resolved");
    #[cfg(debug_assertions)]
    let before = balances.clone();
    let mut after: BTreeMap<AccountId, crate::domain::Balance> = BTreeMap::new();
    let mut entries = Vec::with_capacity(draft.entries.len());
    for e in &draft.entries {
        let account = resolved.get(&(e.account.clone(), e.asset.clone())).ok_or_else(unresolved)?;
        let total = after.entry(account.id).or_insert_with(|| balances.get(&account.id).copied().unwrap_or_default());
        total.apply(e.direction, e.layer, e.amount.minor())?;
        entries.push((account.id, e.asset.clone(), e.direction, e.amount, e.layer));
    }
    let limit_of = |id: &AccountId| {
        limits.get(id).ok_or_else(|| LedgerError::internal("the limit of a posted account was not read"))
    };
    for (guarded, asset) in &draft.no_overdraft {
        let account = resolved
            .get(&(guarded.clone(), asset.clone()))
            .ok_or_else(|| LedgerError::internal("a guarded account is not among the entries"))?;
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
    // Paired with the draft's own validation and with `Balance::apply` above:
    // checked again, a second way, before anything is written.
    #[cfg(debug_assertions)]
    {
        debug_assert!(super::invariants::balanced_per_asset_and_layer(&entries), "unbalanced entries: {entries:?}");
        debug_assert!(
            super::invariants::totals_follow(&before, &entries, &changed),
            "balances do not follow their entries: {changed:?}"
        );
    }
    Ok((entries, changed))
}

/// An account as a limit refusal names it.
pub(in crate::core) fn limited(account: &accounts::Account) -> limit::LimitedAccount {
    limit::LimitedAccount {
        id: account.id,
        code: account.code.clone(),
        owner: account.owner.merchant_id(),
        asset: account.asset.clone(),
        normal: account.normal_balance,
    }
}

/// The stored form of a draft posted by `req` with `numbers` (see
/// [`transactions::reserve`]) at `now`.
pub(in crate::core) fn transaction_record(
    req: &Request,
    draft: &TransactionDraft,
    numbers: transactions::Numbers,
    now: DateTime<Utc>,
) -> transactions::TransactionRecord {
    // Stored timestamps have microseconds; the record handed back to the
    // caller must say what a later read will.
    let now = chrono::SubsecRound::trunc_subsecs(now, 6);
    transactions::TransactionRecord {
        seq: numbers.seq,
        number: numbers.number,
        counterparty_number: numbers.counterparty_number,
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
        hash: None,
        counterparty_hash: None,
    }
}

/// The outbox event of a transaction being posted: the transaction, its entries
/// and the balances it changed as they stand after it (see `domain::event`).
/// Errors: [`LedgerError::Internal`] for an entry or balance on an account
/// that was not resolved (a bug).
pub(in crate::core) fn outbox_event(
    record: &transactions::TransactionRecord,
    entries: &[transactions::EntryRecord],
    changed: &[(AccountId, crate::domain::Balance)],
    accounts: &HashMap<AccountId, &accounts::Account>,
) -> Result<LedgerEvent, LedgerError> {
    let account = |id: &AccountId| {
        accounts.get(id).copied().ok_or_else(|| LedgerError::internal(format!("event account {id} was not resolved")))
    };
    let entries = entries
        .iter()
        .map(|e| {
            let a = account(&e.account)?;
            Ok(EventEntry {
                account_id: e.account.0,
                owner_id: a.owner.merchant_id(),
                code: a.code.clone(),
                asset: e.asset.clone(),
                direction: e.direction,
                layer: e.layer,
                amount_minor: e.amount.minor(),
            })
        })
        .collect::<Result<Vec<_>, LedgerError>>()?;
    let balances = changed
        .iter()
        .map(|(id, b)| {
            let a = account(id)?;
            Ok(EventBalance {
                account_id: id.0,
                owner_id: a.owner.merchant_id(),
                code: a.code.clone(),
                asset: a.asset.clone(),
                normal_balance: a.normal_balance,
                debits_posted: b.debits_posted,
                credits_posted: b.credits_posted,
                debits_pending: b.debits_pending,
                credits_pending: b.credits_pending,
            })
        })
        .collect::<Result<Vec<_>, LedgerError>>()?;
    Ok(LedgerEvent {
        version: EVENT_SCHEMA_VERSION,
        id: uuid::Uuid::now_v7(),
        sequence: record.number,
        counterparty_sequence: record.counterparty_number,
        position: crate::domain::event::FeedPosition { xid: 0, seq: record.seq },
        event_type: TRANSACTION_POSTED.to_owned(),
        kind: record.kind,
        merchant_id: record.merchant,
        counterparty_id: record.counterparty,
        occurred_at: record.created_at,
        transaction: EventTransaction {
            id: record.id.0,
            kind: record.kind,
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

/// True for a transaction kept in the platform's own books (its partition,
/// the nil UUID) rather than a merchant's: only a bank line staff wrote off
/// to suspense, which belongs to no merchant, and its reversal (an
/// unmatch), posted by the server for staff.
pub(in crate::core) fn in_platform_books(req: &Request, draft: &TransactionDraft) -> bool {
    draft.merchant == crate::domain::MerchantId::PLATFORM
        && (draft.kind == TransactionKind::BankWriteOff
            || (draft.kind == TransactionKind::Reversal && draft.reverses.is_some()))
        && draft.counterparty.is_none()
        && matches!(req.tenant, crate::core::access::rules::Tenant::All)
}

/// A transaction may post to the platform, its merchant and, for a deal, the counterparty.
pub(in crate::core) fn may_post_to(draft: &TransactionDraft, owner: Owner) -> bool {
    match owner {
        // The platform's own accounts: its own postings, and entries posted
        // before the subsidiary accounts (a reversal names them by id).
        Owner::Platform => true,
        Owner::Merchant(m) | Owner::PlatformFor(m) => m == draft.merchant || Some(m) == draft.counterparty,
    }
}

/// The error for an account code that does not exist and is not a standard
/// code (standard ones are created on first use).
pub(in crate::core) fn missing_account(owner: Owner, code: &AccountCode) -> LedgerError {
    match owner {
        Owner::Platform | Owner::PlatformFor(_) => {
            LedgerError::Domain(DomainError::UnknownPlatformAccount(code.to_string()))
        }
        Owner::Merchant(_) => LedgerError::Account(AccountError::NotFound),
    }
}

/// Checks that a draft may post to `account` in `asset`. Errors:
/// [`AccountError::OfAnotherMerchant`] (not the draft's merchant, its
/// counterparty or the platform; or the platform's account in a merchant's own
/// transfer), `ASSET_MISMATCH`.
pub(in crate::core) fn check_account(
    req: &Request,
    draft: &TransactionDraft,
    account: &accounts::Account,
    asset: &AssetCode,
) -> Result<(), LedgerError> {
    if !may_post_to(draft, account.owner) {
        return Err(LedgerError::Account(AccountError::OfAnotherMerchant));
    }
    // A merchant's own general transfer touches only its own accounts; the
    // typed operations (payments, payouts) are what post to the platform's.
    if account.owner.is_platform()
        && draft.kind == TransactionKind::Transfer
        && matches!(req.tenant, Tenant::Merchant(_))
    {
        return Err(LedgerError::Account(AccountError::OfAnotherMerchant));
    }
    if account.asset != *asset {
        return Err(DomainError::AssetMismatch { entry: asset.to_string(), account: account.asset.to_string() }.into());
    }
    Ok(())
}

/// The `(account, asset)` pairs a draft names: its entries' and its guards'.
pub(in crate::core) fn draft_refs(draft: &TransactionDraft) -> BTreeSet<(AccountRef, AssetCode)> {
    draft
        .entries
        .iter()
        .map(|e| (e.account.clone(), e.asset.clone()))
        .chain(draft.no_overdraft.iter().cloned())
        .collect()
}

/// Finds (or, for standard codes, creates) the account of every entry and guard,
/// keyed by the entry's reference and asset. Creation runs in sorted order.
pub(in crate::core) async fn resolve_accounts(
    db: &impl ConnectionTrait,
    req: &Request,
    draft: &TransactionDraft,
) -> Result<BTreeMap<(AccountRef, AssetCode), accounts::Account>, LedgerError> {
    let mut out = BTreeMap::new();
    for (reference, asset) in draft_refs(draft) {
        let account = match &reference {
            // Most often the transaction's merchant's own (or the platform's
            // subsidiary for it): looked for in its partition first.
            AccountRef::Id(id) => accounts::find_many_hinted(db, &[(draft.merchant, id.0)])
                .await?
                .pop()
                .ok_or(LedgerError::Account(AccountError::NotFound))?,
            AccountRef::Code { owner, code } => {
                let owner = owner.in_books_of(draft.merchant);
                if !may_post_to(draft, owner) {
                    return Err(LedgerError::Account(AccountError::OfAnotherMerchant));
                }
                match accounts::find_by_code(db, owner, code, &asset).await? {
                    Some(a) => a,
                    None => {
                        let normal = code.standard_normal_balance(owner).ok_or_else(|| missing_account(owner, code))?;
                        accounts::insert(db, owner, code, &asset, normal).await?;
                        accounts::find_by_code(db, owner, code, &asset)
                            .await?
                            .ok_or(LedgerError::Account(AccountError::NotFound))?
                    }
                }
            }
        };
        check_account(req, draft, &account, &asset)?;
        out.insert((reference, asset), account);
    }
    Ok(out)
}
