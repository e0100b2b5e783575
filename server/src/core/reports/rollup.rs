//! Monthly rollups: what a month did, per merchant class and asset, folded
//! from the month's entries. Pure: the store streams [`EntryFact`]s in
//! transaction order and [`Fold`] adds them up; the report's rates and
//! averages are computed from the sums with [`rate`] and [`average`].
//!
//! **Months** are UTC calendar months of a transaction's `effective_at`
//! ([`Month`]). A month is *closed* from 00:00 UTC on the first day of the
//! next month; the rollup job then computes it once and stores it with the
//! ledger sequence it read up to. A transaction committed later with an
//! `effective_at` in a closed month (a backdated posting) does not change
//! that month: it is counted in the *adjustment* line of the first month
//! computed after it, as an accountant expects.
//!
//! **What each figure counts** (amounts in minor units of the line's asset):
//! - *captured*: `PAYMENT` (money recorded as received) and `CAPTURE`
//!   transactions; the amount is what the platform's `processor_clearing`
//!   account was debited (the gross). The average ticket is captured amount ÷
//!   captured count.
//! - *authorizations ended*: a card authorization ends at its first capture,
//!   void or expiry; it is *accepted* when that is a capture. Acceptance rate
//!   = accepted ÷ ended, both counted in the month the authorization ended.
//! - *refunds*: `REFUND` transactions; the amount is what left
//!   `processor_clearing` back to the buyer. *Chargebacks*: `DISPUTE_OPENED`
//!   transactions; the amount is what the platform's `disputes` account took.
//!   Their rates are by count (÷ captured count) and by amount (÷ captured
//!   amount).
//! - *fees*: the net posted movement of the platform's `fee_revenue`.
//! - *payouts*: `PAYOUT` and `PAYOUT_CREATED` transactions; the amount is what
//!   left the merchant's accounts.
//! - *net movement*: the net posted movement of the class's merchants'
//!   accounts, signed by their normal balance (credit-normal: credits −
//!   debits), so it says how much more the platform owes them.
//! - *conversion rates*: for each `DEAL` exchanging exactly two assets, the
//!   rate of the pair (quote units per base unit, base the alphabetically
//!   first code); reported per pair with the number of deals, their mean,
//!   lowest and highest rate (the spread is highest − lowest).

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};

use crate::domain::account::{AccountCode, Direction};
use crate::domain::money::AssetCode;
use crate::domain::transaction::{Layer, TransactionKind};

/// A UTC calendar month, written `YYYY-MM` (ISO 8601).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Month {
    year: i32,
    month: u32,
}

/// Why a month string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("month must be YYYY-MM between 1970-01 and 9999-12, got {0:?}")]
pub struct MonthInvalid(pub String);

impl Month {
    /// Parses `YYYY-MM`. Errors: [`MonthInvalid`].
    pub fn parse(raw: &str) -> Result<Self, MonthInvalid> {
        let bad = || MonthInvalid(raw.chars().take(32).collect());
        let (y, m) = raw.split_once('-').ok_or_else(bad)?;
        if y.len() != 4 || m.len() != 2 || !y.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let year: i32 = y.parse().map_err(|_| bad())?;
        let month: u32 = m.parse().map_err(|_| bad())?;
        if !(1970..=9999).contains(&year) || !(1..=12).contains(&month) {
            return Err(bad());
        }
        Ok(Self { year, month })
    }

    /// The month holding `at`.
    pub fn of(at: DateTime<Utc>) -> Self {
        Self { year: at.year(), month: at.month() }
    }

    /// 00:00 UTC on its first day.
    pub fn start(self) -> DateTime<Utc> {
        let day = NaiveDate::from_ymd_opt(self.year, self.month, 1).unwrap_or_default();
        Utc.from_utc_datetime(&day.and_time(chrono::NaiveTime::MIN))
    }

    /// The month after.
    pub fn next(self) -> Self {
        if self.month == 12 { Self { year: self.year + 1, month: 1 } } else { Self { month: self.month + 1, ..self } }
    }

    /// True once `now` has reached the start of the next month: the month
    /// can no longer receive postings dated now.
    pub fn is_closed_at(self, now: DateTime<Utc>) -> bool {
        now >= self.next().start()
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

/// One entry with what the rollup needs of its transaction and account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryFact {
    /// Ledger sequence of the transaction (facts arrive grouped by it).
    pub transaction_seq: i64,
    /// The transaction's kind.
    pub kind: TransactionKind,
    /// Class of the transaction's merchant.
    pub class: String,
    /// True when this transaction is the first capture, void or expiry of its
    /// payment: the end of the authorization.
    pub ends_authorization: bool,
    /// Asset code of the entry.
    pub asset: AssetCode,
    /// The account is the platform's (else a merchant's).
    pub platform: bool,
    /// Account code.
    pub code: AccountCode,
    /// The account's normal balance.
    pub normal: Direction,
    /// Debit or credit.
    pub direction: Direction,
    /// Posted, hold or release.
    pub layer: Layer,
    /// Positive amount in minor units.
    pub amount_minor: i64,
}

/// Sums of one class and asset over a month (or its adjustment). Amounts in
/// minor units of the asset; i128 so no month can overflow.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RollupSums {
    /// Captures and recorded payments.
    pub captured_count: i64,
    /// Their gross.
    pub captured_minor: i128,
    /// Authorizations that ended (first capture, void or expiry).
    pub authorizations_ended: i64,
    /// Of those, the ones that ended in a capture.
    pub authorizations_accepted: i64,
    /// Refunds.
    pub refund_count: i64,
    /// Refunded amount.
    pub refund_minor: i128,
    /// Chargebacks opened.
    pub chargeback_count: i64,
    /// Amount under chargeback.
    pub chargeback_minor: i128,
    /// Net fees earned by the platform.
    pub fees_minor: i128,
    /// Payouts made.
    pub payout_count: i64,
    /// Their amount.
    pub payout_minor: i128,
    /// Net posted movement of the class's merchant accounts, by normal balance.
    pub net_movement_minor: i128,
}

impl RollupSums {
    /// Adds another line's sums (used for totals).
    pub fn add(&mut self, o: &RollupSums) {
        self.captured_count += o.captured_count;
        self.captured_minor += o.captured_minor;
        self.authorizations_ended += o.authorizations_ended;
        self.authorizations_accepted += o.authorizations_accepted;
        self.refund_count += o.refund_count;
        self.refund_minor += o.refund_minor;
        self.chargeback_count += o.chargeback_count;
        self.chargeback_minor += o.chargeback_minor;
        self.fees_minor += o.fees_minor;
        self.payout_count += o.payout_count;
        self.payout_minor += o.payout_minor;
        self.net_movement_minor += o.net_movement_minor;
    }
}

/// One asset pair's rates over a month's deals.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ConversionRate {
    /// The alphabetically first asset code.
    pub base: String,
    /// The other.
    pub quote: String,
    /// Deals behind the rate.
    pub deals: i64,
    /// Mean of the deals' rates: quote units per base unit (major units),
    /// to [`RATE_DECIMALS`] places, trailing zeros dropped (as `low`, `high`).
    pub mean: Decimal,
    /// Lowest deal rate.
    pub low: Decimal,
    /// Highest deal rate.
    pub high: Decimal,
}

/// Decimal places of a reported rate.
pub const RATE_DECIMALS: u32 = 6;

/// Adds up [`EntryFact`]s, one transaction at a time.
#[derive(Debug, Default)]
pub struct Fold {
    lines: BTreeMap<(String, String), RollupSums>,
    pairs: BTreeMap<(String, String), Vec<Decimal>>,
    current: Vec<EntryFact>,
}

impl Fold {
    /// An empty fold.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one entry; entries of a transaction must come together.
    /// `exponent_of` gives an asset's decimals, for deal rates in major units.
    pub fn push(&mut self, fact: EntryFact, exponent_of: &impl Fn(&str) -> u32) {
        if self.current.first().is_some_and(|f| f.transaction_seq != fact.transaction_seq) {
            self.flush(exponent_of);
        }
        self.current.push(fact);
    }

    /// The sums per (class, asset) and the rates per asset pair.
    pub fn finish(
        mut self,
        exponent_of: &impl Fn(&str) -> u32,
    ) -> (BTreeMap<(String, String), RollupSums>, Vec<ConversionRate>) {
        self.flush(exponent_of);
        let rates = self
            .pairs
            .into_iter()
            .filter_map(|((base, quote), rates)| {
                let deals = i64::try_from(rates.len()).ok()?;
                let sum: Decimal = rates.iter().copied().sum();
                let mean = (sum / Decimal::from(deals))
                    .round_dp_with_strategy(RATE_DECIMALS, RoundingStrategy::MidpointNearestEven);
                let low = rates.iter().copied().min()?.normalize();
                let high = rates.iter().copied().max()?.normalize();
                let mean = mean.normalize();
                Some(ConversionRate { base, quote, deals, mean, low, high })
            })
            .collect();
        (self.lines, rates)
    }

    fn flush(&mut self, exponent_of: &impl Fn(&str) -> u32) {
        let facts = std::mem::take(&mut self.current);
        let Some(first) = facts.first() else { return };
        let (kind, class, ends) = (first.kind, first.class.clone(), first.ends_authorization);
        let mut per_asset: BTreeMap<&str, TxSums> = BTreeMap::new();
        for f in &facts {
            let s = per_asset.entry(f.asset.as_str()).or_default();
            let amount = i128::from(f.amount_minor);
            if f.layer != Layer::Posted {
                continue;
            }
            let debit = f.direction == Direction::Debit;
            if debit {
                s.debits += amount;
            }
            match (f.platform, f.code.as_str()) {
                (true, AccountCode::PROCESSOR_CLEARING) if debit => s.clearing_in += amount,
                (true, AccountCode::PROCESSOR_CLEARING) => s.clearing_out += amount,
                (true, AccountCode::FEE_REVENUE) => s.fees += if debit { -amount } else { amount },
                (true, AccountCode::DISPUTES) if !debit => s.disputes_in += amount,
                (false, _) => {
                    s.merchant_net += if f.direction == f.normal { amount } else { -amount };
                    if debit {
                        s.merchant_out += amount;
                    }
                }
                _ => {}
            }
        }
        if kind == TransactionKind::Deal && per_asset.len() == 2 {
            let mut legs = per_asset.iter().map(|(asset, s)| (asset.to_string(), s.debits));
            if let (Some((base, b)), Some((quote, q))) = (legs.next(), legs.next()) {
                let major = |minor: i128, asset: &str| {
                    Decimal::try_from_i128_with_scale(minor, exponent_of(asset)).unwrap_or(Decimal::ZERO)
                };
                let (b, q) = (major(b, &base), major(q, &quote));
                if !b.is_zero() {
                    self.pairs.entry((base, quote)).or_default().push(q / b);
                }
            }
        }
        for (asset, s) in per_asset {
            let line = self.lines.entry((class.clone(), asset.to_owned())).or_default();
            match kind {
                TransactionKind::Payment | TransactionKind::Capture if s.clearing_in > 0 => {
                    line.captured_count += 1;
                    line.captured_minor += s.clearing_in;
                }
                TransactionKind::Refund if s.clearing_out > 0 => {
                    line.refund_count += 1;
                    line.refund_minor += s.clearing_out;
                }
                TransactionKind::DisputeOpened if s.disputes_in > 0 => {
                    line.chargeback_count += 1;
                    line.chargeback_minor += s.disputes_in;
                }
                TransactionKind::Payout | TransactionKind::PayoutCreated if s.merchant_out > 0 => {
                    line.payout_count += 1;
                    line.payout_minor += s.merchant_out;
                }
                _ => {}
            }
            if ends {
                line.authorizations_ended += 1;
                if kind == TransactionKind::Capture {
                    line.authorizations_accepted += 1;
                }
            }
            line.fees_minor += s.fees;
            line.net_movement_minor += s.merchant_net;
        }
    }
}

#[derive(Default)]
struct TxSums {
    debits: i128,
    clearing_in: i128,
    clearing_out: i128,
    fees: i128,
    disputes_in: i128,
    merchant_out: i128,
    merchant_net: i128,
}

/// `part ÷ whole` to [`RATE_DECIMALS`] places (half to even); None when
/// `whole` is zero (a rate of nothing is not 0 %).
pub fn rate(part: i128, whole: i128) -> Option<Decimal> {
    if whole == 0 {
        return None;
    }
    let (p, w) = (Decimal::try_from_i128_with_scale(part, 0).ok()?, Decimal::try_from_i128_with_scale(whole, 0).ok()?);
    Some((p / w).round_dp_with_strategy(RATE_DECIMALS, RoundingStrategy::MidpointNearestEven))
}

/// `total_minor ÷ count`, rounded half to even to a whole minor unit; None
/// for no transactions.
pub fn average(total_minor: i128, count: i64) -> Option<i128> {
    if count == 0 {
        return None;
    }
    let avg = Decimal::try_from_i128_with_scale(total_minor, 0).ok()? / Decimal::from(count);
    avg.round_dp_with_strategy(0, RoundingStrategy::MidpointNearestEven).to_i128()
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;

    fn fact(seq: i64, kind: TransactionKind, platform: bool, code: &str, dir: Direction, minor: i64) -> EntryFact {
        EntryFact {
            transaction_seq: seq,
            kind,
            class: "SP".into(),
            ends_authorization: false,
            asset: AssetCode::parse("USD").unwrap_or_else(|e| unreachable!("{e}")),
            platform,
            code: AccountCode::parse(code).unwrap_or_else(|e| unreachable!("{e}")),
            normal: if platform && code == "processor_clearing" { Direction::Debit } else { Direction::Credit },
            direction: dir,
            layer: Layer::Posted,
            amount_minor: minor,
        }
    }

    #[test]
    fn months_parse_strictly_and_close_at_the_next_months_start() {
        let m = Month::parse("2017-12").expect("month");
        assert_eq!(m.to_string(), "2017-12");
        assert_eq!(m.next().to_string(), "2018-01");
        assert_eq!(m.start().to_rfc3339(), "2017-12-01T00:00:00+00:00");
        assert!(!m.is_closed_at(m.next().start() - chrono::Duration::seconds(1)));
        assert!(m.is_closed_at(m.next().start()));
        for bad in ["2017-13", "2017-1", "17-01", "2017/01", "", "1969-12", "2017-00", "２０１７-01"] {
            assert!(Month::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn payments_refunds_and_fees_add_up_per_class_and_asset() {
        let mut fold = Fold::new();
        let exp = |_: &str| 2;
        use Direction::{Credit, Debit};
        use TransactionKind::{Payment, Refund};
        for (seq, gross, fee) in [(1, 10_000, 300), (2, 5_000, 150)] {
            fold.push(fact(seq, Payment, true, "processor_clearing", Debit, gross), &exp);
            fold.push(fact(seq, Payment, false, "available", Credit, gross - fee), &exp);
            fold.push(fact(seq, Payment, true, "fee_revenue", Credit, fee), &exp);
        }
        fold.push(fact(3, Refund, false, "available", Debit, 2_500), &exp);
        fold.push(fact(3, Refund, true, "processor_clearing", Credit, 2_500), &exp);
        let (lines, rates) = fold.finish(&exp);
        let l = &lines[&("SP".to_owned(), "USD".to_owned())];
        assert_eq!((l.captured_count, l.captured_minor), (2, 15_000));
        assert_eq!((l.refund_count, l.refund_minor), (1, 2_500));
        assert_eq!(l.fees_minor, 450);
        assert_eq!(l.net_movement_minor, 9_700 + 4_850 - 2_500);
        assert_eq!(rate(l.refund_minor, l.captured_minor), Some(Decimal::new(166_667, 6)));
        assert_eq!(average(l.captured_minor, l.captured_count), Some(7_500));
        assert!(rates.is_empty());
    }

    #[test]
    fn a_rate_of_nothing_is_none_not_zero() {
        assert_eq!(rate(0, 0), None);
        assert_eq!(average(0, 0), None);
        assert_eq!(average(5, 2), Some(2), "2.5 rounds half to even");
        assert_eq!(average(7, 2), Some(4), "3.5 rounds half to even");
    }

    #[test]
    fn deals_give_the_rate_of_their_asset_pair() {
        let mut fold = Fold::new();
        let exp = |a: &str| if a == "USD" { 2 } else { 0 };
        let deal = |fold: &mut Fold, seq, staff: i64, swords: i64| {
            for (asset, minor) in [("STAFF", staff), ("SWORD", swords)] {
                for dir in [Direction::Debit, Direction::Credit] {
                    let mut f = fact(seq, TransactionKind::Deal, false, "goods", dir, minor);
                    f.asset = AssetCode::parse(asset).unwrap_or_else(|e| unreachable!("{e}"));
                    fold.push(f, &exp);
                }
            }
        };
        deal(&mut fold, 1, 1, 3);
        deal(&mut fold, 2, 2, 5);
        deal(&mut fold, 3, 1, 4);
        let (_, rates) = fold.finish(&exp);
        assert_eq!(rates.len(), 1);
        let r = &rates[0];
        assert_eq!((r.base.as_str(), r.quote.as_str(), r.deals), ("STAFF", "SWORD", 3));
        assert_eq!(r.mean, Decimal::new(3_166_667, 6), "(3 + 2.5 + 4) / 3");
        assert_eq!((r.low, r.high), (Decimal::new(25, 1), Decimal::from(4)));
    }
}
