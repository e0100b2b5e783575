//! Paired assertions on the write path (TigerBeetle's style): what the code
//! computed is checked again, a second way, right before it is written and
//! right after it is read back. They run as `debug_assert!`s, so every test
//! build exercises them and a release build pays nothing.
//!
//! - [`balanced_per_asset_and_layer`]: the entries of one transaction, as
//!   resolved to accounts, have equal debits and credits per asset and layer
//!   (the rule `TransactionDraft::validate` enforced on the draft).
//! - [`totals_follow`]: each balance row after a transaction equals the row
//!   before it plus that transaction's entries, summed independently of
//!   `Balance::apply` (in `i128`, by layer and side).

use std::collections::BTreeMap;

use crate::domain::{AccountId, Amount, AssetCode, Balance, Direction, Layer};

/// An entry resolved to its account: account, asset, side, amount, layer.
pub(in crate::core) type ResolvedEntry = (AccountId, AssetCode, Direction, Amount, Layer);

/// True when `entries` have equal debits and credits per asset and layer.
pub(in crate::core) fn balanced_per_asset_and_layer(entries: &[ResolvedEntry]) -> bool {
    let mut sums: BTreeMap<(&AssetCode, Layer), i128> = BTreeMap::new();
    for (_, asset, direction, amount, layer) in entries {
        let signed = match direction {
            Direction::Debit => i128::from(amount.minor()),
            Direction::Credit => -i128::from(amount.minor()),
        };
        *sums.entry((asset, *layer)).or_default() += signed;
    }
    sums.values().all(|s| *s == 0)
}

/// True when every balance in `after` equals its total in `before` (zero
/// when absent) plus the entries of `entries` on its account, and every
/// account the entries move is in `after` unless they cancel out on it.
pub(in crate::core) fn totals_follow(
    before: &BTreeMap<AccountId, Balance>,
    entries: &[ResolvedEntry],
    after: &[(AccountId, Balance)],
) -> bool {
    // [debits_posted, credits_posted, debits_pending, credits_pending]
    let mut delta: BTreeMap<AccountId, [i128; 4]> = BTreeMap::new();
    for (account, _, direction, amount, layer) in entries {
        let d = delta.entry(*account).or_default();
        let minor = i128::from(amount.minor());
        let (slot, sign) = match (layer, direction) {
            (Layer::Posted, Direction::Debit) => (0, 1),
            (Layer::Posted, Direction::Credit) => (1, 1),
            (Layer::Hold, Direction::Debit) => (2, 1),
            (Layer::Hold, Direction::Credit) => (3, 1),
            (Layer::Release, Direction::Debit) => (2, -1),
            (Layer::Release, Direction::Credit) => (3, -1),
        };
        d[slot] += sign * minor;
    }
    let totals = |b: &Balance| [b.debits_posted, b.credits_posted, b.debits_pending, b.credits_pending].map(i128::from);
    let shown: BTreeMap<AccountId, &Balance> = after.iter().map(|(id, b)| (*id, b)).collect();
    delta.iter().all(|(id, d)| {
        let was = totals(&before.get(id).copied().unwrap_or_default());
        let expected: Vec<i128> = was.iter().zip(d).map(|(w, d)| w + d).collect();
        match shown.get(id) {
            Some(now) => totals(now).to_vec() == expected,
            None => expected == was.to_vec(),
        }
    }) && after.iter().all(|(id, _)| delta.contains_key(id))
}

/// Reads `written` balance rows back inside the writing transaction (under
/// the locks it holds) and asserts each equals what was written: the second
/// half of the pair whose first half is [`totals_follow`]. Debug builds only.
/// Errors: the database's.
#[cfg(debug_assertions)]
pub(in crate::core) async fn read_back(
    db: &impl sea_orm::ConnectionTrait,
    written: &[(crate::core::accounts::store::BalanceKey, Balance)],
) -> Result<(), sea_orm::DbErr> {
    let keys: Vec<_> = written.iter().map(|(key, _)| *key).collect();
    let stored = crate::core::accounts::store::read_balances(db, &keys).await?;
    for ((_, id), b) in written {
        debug_assert_eq!(stored.get(id), Some(b), "balance row {id} reads back other than written");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usd() -> AssetCode {
        AssetCode::parse("USD").unwrap_or_else(|_| unreachable!())
    }

    fn entry(account: u128, direction: Direction, minor: i64, layer: Layer) -> ResolvedEntry {
        let amount = Amount::from_minor(minor).unwrap_or_else(|_| unreachable!());
        (AccountId(uuid::Uuid::from_u128(account)), usd(), direction, amount, layer)
    }

    fn credits(posted: i64, pending: i64) -> Balance {
        Balance { debits_posted: 0, credits_posted: posted, debits_pending: 0, credits_pending: pending }
    }

    #[test]
    fn a_transfer_balances_and_a_one_sided_one_does_not() {
        let transfer =
            [entry(1, Direction::Debit, 500, Layer::Posted), entry(2, Direction::Credit, 500, Layer::Posted)];
        assert!(balanced_per_asset_and_layer(&transfer));
        let one_sided =
            [entry(1, Direction::Debit, 500, Layer::Posted), entry(2, Direction::Credit, 400, Layer::Posted)];
        assert!(!balanced_per_asset_and_layer(&one_sided));
        // Balanced overall but across layers: refused too.
        let across = [entry(1, Direction::Debit, 500, Layer::Posted), entry(2, Direction::Credit, 500, Layer::Hold)];
        assert!(!balanced_per_asset_and_layer(&across));
    }

    #[test]
    fn totals_after_must_be_totals_before_plus_the_entries() {
        let a = AccountId(uuid::Uuid::from_u128(2));
        let before = BTreeMap::from([(a, credits(1_000, 300))]);
        let entries =
            [entry(2, Direction::Credit, 250, Layer::Posted), entry(2, Direction::Credit, 100, Layer::Release)];
        assert!(totals_follow(&before, &entries, &[(a, credits(1_250, 200))]));
        assert!(!totals_follow(&before, &entries, &[(a, credits(1_250, 300))]), "the release was lost");
        assert!(!totals_follow(&before, &entries, &[]), "a moved account is missing");
        let stray = AccountId(uuid::Uuid::from_u128(9));
        assert!(!totals_follow(&before, &entries, &[(a, credits(1_250, 200)), (stray, credits(1, 0))]));
    }
}
