//! An account at any point of its history, and its statement for a period.
//!
//! A past balance is summed from the account's entries, every layer: posted
//! entries give the posted totals, holds and releases the pending ones, so a
//! hold that was later released shows as pending before its release and gone
//! after. The point is a sequence number, an effective time (the value date)
//! or a knowledge time (what the books said then), after Formance's
//! point-in-time and insertion-date queries
//! (<https://docs.formance.com/ledger/reference/api>). Nothing of the past is
//! stored twice: the entries are the one record.
//!
//! A past view keeps no payout reserve and counts an authorization's hold as
//! pending until the entry that released it (the current view stops counting
//! an expired hold at once, before the sweeper releases it).

use chrono::{DateTime, Utc};

use super::{Account, AccountError, BalanceView, store};
use crate::core::posting::EntryRecord;
use crate::core::{LedgerError, Reads};
use crate::domain::AsOf;

/// Most entries one statement lists; a longer period is refused with
/// `STATEMENT_TOO_LONG` (split it), so a statement is always complete and its
/// closing balance is the balance at its end.
pub const MAX_STATEMENT_ENTRIES: u64 = 10_000;

/// `account`'s balance at `at`, all amounts minor units of its asset.
/// Errors: [`LedgerError::Database`] (also when a sum overflows).
pub async fn balance_at(reads: &Reads, account: &Account, at: AsOf) -> Result<BalanceView, LedgerError> {
    let totals = store::history::totals_at(reads.db(), account.id, account.owner.partition(), at).await?;
    Ok(BalanceView::past(account.normal_balance, totals))
}

/// An account's statement for the effective times `[from, to)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    /// The balance of the entries effective before `from`.
    pub opening: BalanceView,
    /// The entries effective in `[from, to)`, in order of effective time, then
    /// of row key; every layer.
    pub entries: Vec<EntryRecord>,
    /// `opening` with every entry applied in order: the balance of the entries
    /// effective before `to`.
    pub closing: BalanceView,
}

/// `account`'s statement for the effective times `[from, to)`: opening
/// balance, entries, closing balance, the closing computed from the opening
/// and the entries. Errors: `STATEMENT_RANGE_INVALID` when `to` is before
/// `from`; `STATEMENT_TOO_LONG` past [`MAX_STATEMENT_ENTRIES`] entries;
/// [`LedgerError::Database`].
pub async fn statement(
    reads: &Reads,
    account: &Account,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Statement, LedgerError> {
    if to < from {
        return Err(AccountError::StatementRangeInvalid.into());
    }
    let opening = store::history::totals_before(reads.db(), account.id, from).await?;
    let entries = store::history::entries_between(reads.db(), account.id, from, to, MAX_STATEMENT_ENTRIES + 1).await?;
    if entries.len() as u64 > MAX_STATEMENT_ENTRIES {
        return Err(AccountError::StatementTooLong.into());
    }
    let mut closing = opening;
    for e in &entries {
        closing.apply(e.direction, e.layer, e.amount.minor())?;
    }
    Ok(Statement {
        opening: BalanceView::past(account.normal_balance, opening),
        entries,
        closing: BalanceView::past(account.normal_balance, closing),
    })
}
