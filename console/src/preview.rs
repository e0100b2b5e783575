//! What a reversal or a refund will do, shown before staff confirm it.
//!
//! The entries always come from the server: the dialog's write run with
//! `dryRun: true`, which the write path runs and rolls back, writing
//! nothing. The console computes no ledger rule of
//! its own (a reversal of a payment step is not simply the original with
//! sides swapped: holds become releases, and a capture's posted entries alone
//! are reversed). This module only sums the planned entries per account into
//! the balance changes a person reads: an entry on the account's normal side
//! raises it, one on the other side lowers it. Pure, unit-tested natively.

use crate::money;
use crate::schema::{Direction, Layer};

/// One entry of a transaction, as far as a preview needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreviewEntry {
    /// Who holds the account: "Platform" or the merchant's name.
    pub owner: String,
    /// Account code (`available`, `fee_revenue`, …).
    pub account: String,
    /// The account's id, when the plan names one (always for a reversal).
    pub account_id: Option<String>,
    /// The account's normal balance.
    pub normal: Direction,
    /// Debit or credit.
    pub direction: Direction,
    /// The balance layer it moves.
    pub layer: Layer,
    /// Decimal string in the major unit, positive.
    pub amount: String,
    /// Asset code.
    pub asset: String,
}

/// How one account's balance moves, in the asset's major unit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BalanceChange {
    /// Who holds the account.
    pub owner: String,
    /// Account code.
    pub account: String,
    /// Asset code.
    pub asset: String,
    /// "posted" or "pending".
    pub which: &'static str,
    /// Signed decimal string in the major unit: positive raises the balance
    /// on its normal side.
    pub delta: String,
}

/// The balance changes `entries` make, one line per account, asset and
/// balance (posted or pending), in first-seen order. An entry on the
/// account's normal side raises it, one on the other side lowers it. None
/// when an amount is not a decimal of at most `exponent_of(asset)` decimals.
pub fn balance_changes(entries: &[PreviewEntry], exponent_of: impl Fn(&str) -> u32) -> Option<Vec<BalanceChange>> {
    let mut lines: Vec<(String, String, String, &'static str, i128)> = Vec::new();
    for e in entries {
        let exponent = exponent_of(&e.asset);
        let minor = money::to_minor(&e.amount, exponent)?;
        let signed = if e.direction == e.normal { minor } else { -minor };
        let which = if e.layer == Layer::Posted { "posted" } else { "pending" };
        match lines.iter_mut().find(|l| l.0 == e.owner && l.1 == e.account && l.2 == e.asset && l.3 == which) {
            Some(line) => line.4 = line.4.checked_add(signed)?,
            None => lines.push((e.owner.clone(), e.account.clone(), e.asset.clone(), which, signed)),
        }
    }
    Some(
        lines
            .into_iter()
            .filter(|l| l.4 != 0)
            .map(|(owner, account, asset, which, minor)| BalanceChange {
                delta: money::from_minor(minor, exponent_of(&asset)),
                owner,
                account,
                asset,
                which,
            })
            .collect(),
    )
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;

    fn entry(owner: &str, account: &str, normal: Direction, direction: Direction, amount: &str) -> PreviewEntry {
        PreviewEntry {
            owner: owner.into(),
            account: account.into(),
            account_id: None,
            normal,
            direction,
            layer: Layer::Posted,
            amount: amount.into(),
            asset: "USD".into(),
        }
    }

    #[test]
    fn a_refund_with_a_fee_share_moves_three_balances() {
        let refund = vec![
            entry("ShirtyPuff", "available", Direction::Credit, Direction::Debit, "38.35"),
            entry("Platform", "fee_revenue", Direction::Credit, Direction::Debit, "1.65"),
            entry("Platform", "processor_clearing", Direction::Debit, Direction::Credit, "40.00"),
        ];
        let changes = balance_changes(&refund, |_| 2).expect("decimals");
        let deltas: Vec<_> = changes.iter().map(|c| (c.account.as_str(), c.delta.as_str())).collect();
        assert_eq!(deltas, vec![("available", "-38.35"), ("fee_revenue", "-1.65"), ("processor_clearing", "-40.00")]);
    }

    #[test]
    fn an_amount_with_too_many_decimals_gives_no_preview() {
        let odd = vec![entry("M", "available", Direction::Credit, Direction::Debit, "1.005")];
        assert_eq!(balance_changes(&odd, |_| 2), None);
    }
}
