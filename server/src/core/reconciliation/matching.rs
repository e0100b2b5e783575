//! The matching rules, pure: which ledger item a statement line can be, how
//! good each fit is, and the assignment that keeps the best fits.
//!
//! A fit is scored by how far the amounts are apart (minor units), then how
//! many days lie between the ledger item and the booking. The assignment
//! takes fits best first and skips any whose line or ledger item is already
//! taken, so the best match wins whatever the order of the file, and no line
//! or ledger item is matched twice (Blnk's matcher takes the first fit and can
//! match an item twice).

use uuid::Uuid;

/// Most days a rule's date window may span.
pub const MAX_DATE_WINDOW_DAYS: i64 = 90;

/// How close a line and a ledger item must be to match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MatchRules {
    /// Amounts may differ by up to this many minor units…
    pub amount_tolerance_minor: i64,
    /// …or by up to this many basis points of the ledger amount, whichever is larger.
    pub amount_tolerance_bps: u32,
    /// The bank may book a line up to this many days after the ledger item
    /// (and one day before, for time zones).
    pub date_window_days: i64,
}

impl Default for MatchRules {
    /// Exact amounts, booked within 7 days.
    fn default() -> Self {
        Self { amount_tolerance_minor: 0, amount_tolerance_bps: 0, date_window_days: 7 }
    }
}

impl MatchRules {
    /// Whether `line_minor` is within tolerance of `ledger_minor`.
    pub fn amount_fits(&self, line_minor: i64, ledger_minor: i64) -> bool {
        let difference = (i128::from(line_minor) - i128::from(ledger_minor)).abs();
        let by_bps = i128::from(ledger_minor).abs() * i128::from(self.amount_tolerance_bps) / 10_000;
        difference <= i128::from(self.amount_tolerance_minor.max(0)).max(by_bps)
    }

    /// Whether a line booked `days_after` days after the ledger item is in the window.
    pub fn date_fits(&self, days_after: i64) -> bool {
        (-1..=self.date_window_days).contains(&days_after)
    }
}

/// What matching a line to a payout does to the payout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PayoutAction {
    /// The bank's debit: the payout arrived; it is settled.
    Settle,
    /// The bank's return (a reversal credit): the payout bounced; it is failed.
    Fail,
    /// The debit of a payout the same run fails: the line is matched to the
    /// payout, which is failed by its return.
    Returned,
}

impl PayoutAction {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            PayoutAction::Settle => "settle",
            PayoutAction::Fail => "fail",
            PayoutAction::Returned => "returned",
        }
    }
}

/// One possible match of a line to a payout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fit {
    /// The statement line.
    pub line: Uuid,
    /// The payout.
    pub payout: Uuid,
    /// Settle (a debit) or fail (a return).
    pub action: PayoutAction,
    /// |line amount − payout amount|, minor units.
    pub difference_minor: i64,
    /// |days from the payout to the booking|.
    pub days_apart: i64,
}

/// The best fits, each line and each (payout, side) used once: fits sorted by
/// difference, then days apart, then ids (so equal fits resolve the same way
/// every run), taken greedily. A payout both debited and returned in the
/// same run keeps both lines: the return fails it, the debit is `Returned`.
pub fn assign(mut fits: Vec<Fit>) -> Vec<Fit> {
    fits.sort_by_key(|f| (f.difference_minor, f.days_apart, f.line, f.payout));
    let mut lines = std::collections::HashSet::new();
    let mut sides = std::collections::HashSet::new();
    let mut chosen: Vec<Fit> = Vec::new();
    for fit in fits {
        let side = (fit.payout, fit.action == PayoutAction::Fail);
        if lines.contains(&fit.line) || sides.contains(&side) {
            continue;
        }
        lines.insert(fit.line);
        sides.insert(side);
        chosen.push(fit);
    }
    let failed: std::collections::HashSet<Uuid> =
        chosen.iter().filter(|f| f.action == PayoutAction::Fail).map(|f| f.payout).collect();
    for fit in &mut chosen {
        if fit.action == PayoutAction::Settle && failed.contains(&fit.payout) {
            fit.action = PayoutAction::Returned;
        }
    }
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    fn fit(line: u128, payout: u128, action: PayoutAction, difference_minor: i64, days_apart: i64) -> Fit {
        Fit { line: id(line), payout: id(payout), action, difference_minor, days_apart }
    }

    #[test]
    fn tolerances_are_minor_units_or_basis_points_whichever_is_larger() {
        let exact = MatchRules::default();
        assert!(exact.amount_fits(10_000, 10_000));
        assert!(!exact.amount_fits(9_999, 10_000));
        let loose = MatchRules { amount_tolerance_minor: 5, amount_tolerance_bps: 100, ..exact };
        assert!(loose.amount_fits(9_900, 10_000), "1% of 100.00 is 1.00");
        assert!(!loose.amount_fits(9_899, 10_000));
        assert!(loose.amount_fits(95, 100), "5 minor units beat 1% of 1.00");
        assert!(exact.date_fits(7) && exact.date_fits(-1) && !exact.date_fits(8) && !exact.date_fits(-2));
    }

    #[test]
    fn the_best_fit_wins_not_the_first_and_nothing_is_matched_twice() {
        // Line 1 comes first but is 5 off; line 2 is exact: line 2 wins payout 10.
        let fits = vec![fit(1, 10, PayoutAction::Settle, 5, 0), fit(2, 10, PayoutAction::Settle, 0, 1)];
        let chosen = assign(fits);
        assert_eq!(chosen, vec![fit(2, 10, PayoutAction::Settle, 0, 1)]);

        // One line that fits two payouts goes to the closer one only.
        let chosen = assign(vec![fit(3, 20, PayoutAction::Settle, 0, 3), fit(3, 21, PayoutAction::Settle, 0, 0)]);
        assert_eq!(chosen.len(), 1);
        assert_eq!(chosen[0].payout, id(21));
    }

    #[test]
    fn a_payout_debited_and_returned_is_failed_with_both_lines_matched() {
        let chosen = assign(vec![fit(1, 10, PayoutAction::Settle, 0, 0), fit(2, 10, PayoutAction::Fail, 0, 2)]);
        let mut actions: Vec<PayoutAction> = chosen.iter().map(|f| f.action).collect();
        actions.sort();
        assert_eq!(actions, vec![PayoutAction::Fail, PayoutAction::Returned]);
    }
}
