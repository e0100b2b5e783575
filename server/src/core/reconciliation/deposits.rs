//! Processor deposits: the card processor pays the captures it collected
//! into the platform's bank, net of its fee, as one bank credit per
//! settlement batch. Matching one posts the settlement, so the captures'
//! money leaves `processor_clearing` at last.
//!
//! **What names a deposit's captures.** A processor's bank credit carries
//! its settlement batch in the remittance information (`RmtInf/Ustrd`, e.g.
//! `SETTLEMENT 2017-W05`) and, in its transaction details (`TxDtls`, one
//! per capture, camt.053's batched entry), each capture's payment id as the
//! `EndToEndId`. Lines with the same remittance text are one deposit group:
//! so a deposit the bank split across two days (the second part with the
//! batch reference alone) is one group, and so is a line the bank booked
//! twice.
//!
//! **Shapes.** A group's captures (the named payments that captured money in
//! the account's currency and that no settlement covers yet) add up to a
//! gross amount. One line of the group that fits the gross within the rules
//! settles them (one to many: a deposit and its captures); the best-fitting
//! line wins and the group's other lines stay in the exception queue (a
//! duplicate). When no single line fits but the group's lines together do,
//! they settle them together (many to one: a split deposit). A deposit
//! never exceeds its gross: what is short of it is the processor's fee.
//!
//! **The posting.** For each merchant among the captures, one `settlement`
//! transaction in that merchant's books (the platform's subsidiary
//! accounts): `processor_clearing` credited with the merchant's gross,
//! `bank` debited with its share of the deposit, `processor_fees` debited
//! with its share of the fee (split pro rata to gross, largest remainder
//! first, so the shares add up to the fee exactly). The transactions of one
//! deposit are posted atomically, all or none.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use super::matching::MatchRules;
use super::statement::BankDirection;
use super::store::Capture;
use super::{LineState, StoredLine};
use crate::domain::{
    AccountCode, AccountRef, Amount, AssetCode, Direction, DomainError, EntryDraft, Layer, MerchantId, Owner,
    TransactionDraft, TransactionKind,
};

/// A processor deposit matched to the captures it settles.
#[derive(Debug, Clone, PartialEq)]
pub struct DepositMatch {
    /// The bank's credit lines: one, or several for a deposit split across days.
    pub lines: Vec<StoredLine>,
    /// The captures settled, oldest first.
    pub captures: Vec<Capture>,
    /// Σ captured, minor units of the account's currency.
    pub gross_minor: i64,
    /// Σ of the lines: what the bank booked.
    pub net_minor: i64,
    /// The processor's fee: gross − net (≥ 0), to `processor_fees`.
    pub fee_minor: i64,
    /// The settlement recorded; `None` on a dry run.
    pub settlement: Option<Uuid>,
    /// The transactions posted, one per merchant; empty on a dry run.
    pub transactions: Vec<Uuid>,
}

/// The normalised batch reference of a line: its first non-empty remittance
/// text, upper case, runs of white space as one space.
pub fn batch_ref(line: &StoredLine) -> Option<String> {
    line.line
        .details
        .iter()
        .flat_map(|d| d.remittance.iter())
        .map(|r| r.split_whitespace().collect::<Vec<_>>().join(" ").to_uppercase())
        .find(|r| !r.is_empty())
}

/// The payment ids a line names in its details' `EndToEndId`s.
pub fn named_payments(line: &StoredLine) -> Vec<Uuid> {
    line.line
        .details
        .iter()
        .filter_map(|d| d.end_to_end_id.as_deref())
        .filter_map(|e| Uuid::parse_str(e).ok())
        .collect()
}

/// True for a line that can be a processor deposit: a booked credit that
/// returns nothing, in `currency`.
pub fn is_deposit(line: &StoredLine, currency: &str) -> bool {
    let l = &line.line;
    line.state == LineState::Unmatched
        && l.direction == BankDirection::Credit
        && !l.reversal
        && l.status == "BOOK"
        && l.currency == currency
}

/// One deposit proposal: which lines settle which captures.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Candidate {
    difference_minor: i64,
    days_apart: i64,
    lines: Vec<Uuid>,
    payments: BTreeSet<Uuid>,
}

/// The deposits the rules find among `lines` (the account's unmatched
/// lines), given the still-unsettled captures by payment id: best fits
/// first, no line and no capture used twice.
pub fn propose(
    lines: &[StoredLine],
    open: &HashMap<Uuid, Capture>,
    currency: &str,
    rules: &MatchRules,
) -> Vec<DepositMatch> {
    // Group the deposit lines by batch reference (a line without one is a group of its own).
    let mut groups: BTreeMap<String, (Vec<&StoredLine>, BTreeSet<Uuid>)> = BTreeMap::new();
    for line in lines.iter().filter(|l| is_deposit(l, currency)) {
        let key = batch_ref(line).unwrap_or_else(|| format!("line {}", line.id));
        let group = groups.entry(key).or_default();
        group.0.push(line);
        group.1.extend(named_payments(line).into_iter().filter(|p| open.contains_key(p)));
    }
    let mut candidates = Vec::new();
    for (group, payments) in groups.values() {
        if payments.is_empty() {
            continue;
        }
        let gross: i64 = payments.iter().filter_map(|p| open.get(p)).map(|c| c.captured_minor).sum();
        let latest =
            payments.iter().filter_map(|p| open.get(p)).map(|c| c.captured_at.date_naive()).max().unwrap_or_default();
        let days = |l: &StoredLine| l.line.booking_date.map_or(0, |d| (d - latest).num_days());
        let fits = |net: i64, l: &[&StoredLine]| {
            net <= gross && rules.amount_fits(net, gross) && l.iter().all(|l| rules.date_fits(days(l)))
        };
        let mut singles: Vec<Candidate> = group
            .iter()
            .filter(|l| fits(l.line.amount_minor, &[l]))
            .map(|l| Candidate {
                difference_minor: gross - l.line.amount_minor,
                days_apart: days(l).abs(),
                lines: vec![l.id],
                payments: payments.clone(),
            })
            .collect();
        if singles.is_empty() && group.len() > 1 {
            let net = group.iter().try_fold(0_i64, |s, l| s.checked_add(l.line.amount_minor));
            if let Some(net) = net
                && fits(net, group)
            {
                singles.push(Candidate {
                    difference_minor: gross - net,
                    days_apart: group.iter().map(|l| days(l).abs()).max().unwrap_or(0),
                    lines: group.iter().map(|l| l.id).collect(),
                    payments: payments.clone(),
                });
            }
        }
        candidates.extend(singles);
    }
    candidates.sort_by(|a, b| {
        (a.difference_minor, a.days_apart, &a.lines).cmp(&(b.difference_minor, b.days_apart, &b.lines))
    });
    let by_id: HashMap<Uuid, &StoredLine> = lines.iter().map(|l| (l.id, l)).collect();
    let (mut used_lines, mut used_payments) = (HashSet::new(), HashSet::new());
    let mut out = Vec::new();
    for c in candidates {
        if c.lines.iter().any(|l| used_lines.contains(l)) || c.payments.iter().any(|p| used_payments.contains(p)) {
            continue;
        }
        used_lines.extend(c.lines.iter().copied());
        used_payments.extend(c.payments.iter().copied());
        let chosen: Vec<StoredLine> = c.lines.iter().filter_map(|l| by_id.get(l).map(|l| (*l).clone())).collect();
        let mut captures: Vec<Capture> = c.payments.iter().filter_map(|p| open.get(p).cloned()).collect();
        captures.sort_by_key(|c| (c.captured_at, c.payment));
        out.push(deposit(chosen, captures));
    }
    out.sort_by_key(|m| m.lines.first().map(|l| (l.line.booking_date, l.statement, l.line_no)));
    out
}

/// A deposit of `lines` for `captures`, its figures summed (saturating: the
/// rules have checked the sums fit).
pub fn deposit(lines: Vec<StoredLine>, captures: Vec<Capture>) -> DepositMatch {
    let gross_minor = captures.iter().fold(0_i64, |s, c| s.saturating_add(c.captured_minor));
    let net_minor = lines.iter().fold(0_i64, |s, l| s.saturating_add(l.line.amount_minor));
    DepositMatch {
        lines,
        captures,
        gross_minor,
        net_minor,
        fee_minor: gross_minor.saturating_sub(net_minor),
        settlement: None,
        transactions: Vec::new(),
    }
}

/// Each merchant's gross and share of `fee`: pro rata to gross, rounded
/// down, the remaining minor units to the largest remainders (ties by
/// merchant id), so the shares add up to `fee` exactly.
pub fn fee_shares(captures: &[Capture], fee: i64) -> Vec<(MerchantId, i64, i64)> {
    let mut gross: BTreeMap<MerchantId, i64> = BTreeMap::new();
    for c in captures {
        *gross.entry(c.merchant).or_default() += c.captured_minor;
    }
    let total: i128 = gross.values().map(|g| i128::from(*g)).sum();
    if total <= 0 {
        return gross.into_iter().map(|(m, g)| (m, g, 0)).collect();
    }
    let mut shares: Vec<(MerchantId, i64, i64, i128)> = gross
        .into_iter()
        .map(|(m, g)| {
            let exact = i128::from(fee) * i128::from(g);
            (m, g, i64::try_from(exact / total).unwrap_or(0), exact % total)
        })
        .collect();
    let given: i64 = shares.iter().map(|s| s.2).sum();
    let mut order: Vec<usize> = (0..shares.len()).collect();
    order.sort_by(|a, b| shares[*b].3.cmp(&shares[*a].3).then(shares[*a].0.cmp(&shares[*b].0)));
    for i in order.into_iter().take(usize::try_from(fee - given).unwrap_or(0)) {
        shares[i].2 += 1;
    }
    shares.into_iter().map(|(m, g, f, _)| (m, g, f)).collect()
}

fn leg(code: &'static str, asset: &AssetCode, direction: Direction, amount: Amount) -> EntryDraft {
    EntryDraft {
        account: AccountRef::Code { owner: Owner::Platform, code: AccountCode::standard(code) },
        asset: asset.clone(),
        direction,
        amount,
        layer: Layer::Posted,
    }
}

/// The settlement transaction in `merchant`'s books: `processor_clearing`
/// credited with `gross`, `bank` debited with `gross − fee` and
/// `processor_fees` with `fee` (a leg of zero is left out). Errors:
/// [`DomainError`] for amounts out of range.
pub fn settlement_draft(
    merchant: MerchantId,
    asset: &AssetCode,
    gross: i64,
    fee: i64,
    metadata: serde_json::Value,
) -> Result<TransactionDraft, DomainError> {
    let mut entries = vec![leg(AccountCode::PROCESSOR_CLEARING, asset, Direction::Credit, Amount::from_minor(gross)?)];
    if gross > fee {
        entries.push(leg(AccountCode::BANK, asset, Direction::Debit, Amount::from_minor(gross - fee)?));
    }
    if fee > 0 {
        entries.push(leg(AccountCode::PROCESSOR_FEES, asset, Direction::Debit, Amount::from_minor(fee)?));
    }
    let notes = crate::core::payments::payment::Annotations { metadata: Some(metadata), ..Default::default() };
    crate::core::payments::payment::draft(merchant, TransactionKind::Settlement, entries, vec![], notes)
}

/// The write-off of a bank line in the platform's own books: money the bank
/// received (`credit`) debits `bank` and credits `suspense`; money it paid
/// out, the other way round. Errors: [`DomainError`] for an amount out of range.
pub fn write_off_draft(
    asset: &AssetCode,
    amount: i64,
    credit: bool,
    metadata: serde_json::Value,
) -> Result<TransactionDraft, DomainError> {
    let amount = Amount::from_minor(amount)?;
    let (bank, suspense) =
        if credit { (Direction::Debit, Direction::Credit) } else { (Direction::Credit, Direction::Debit) };
    let entries =
        vec![leg(AccountCode::BANK, asset, bank, amount), leg(AccountCode::SUSPENSE, asset, suspense, amount)];
    let notes = crate::core::payments::payment::Annotations { metadata: Some(metadata), ..Default::default() };
    crate::core::payments::payment::draft(MerchantId::PLATFORM, TransactionKind::BankWriteOff, entries, vec![], notes)
}

/// The write-off of a capture the processor will never pay, in its
/// merchant's books: `processor_clearing` credited and `suspense` debited
/// with what was captured. Errors: [`DomainError`] for an amount out of range.
pub fn capture_write_off_draft(
    merchant: MerchantId,
    asset: &AssetCode,
    amount: i64,
    metadata: serde_json::Value,
) -> Result<TransactionDraft, DomainError> {
    let amount = Amount::from_minor(amount)?;
    let entries = vec![
        leg(AccountCode::PROCESSOR_CLEARING, asset, Direction::Credit, amount),
        leg(AccountCode::SUSPENSE, asset, Direction::Debit, amount),
    ];
    let notes = crate::core::payments::payment::Annotations { metadata: Some(metadata), ..Default::default() };
    crate::core::payments::payment::draft(merchant, TransactionKind::BankWriteOff, entries, vec![], notes)
}

/// Whole days from `since` to `today`, never negative.
pub fn age_days(since: DateTime<Utc>, today: NaiveDate) -> i64 {
    (today - since.date_naive()).num_days().max(0)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::core::reconciliation::statement::{StatementLine, TransactionDetails};

    fn capture(n: u128, merchant: u128, minor: i64) -> Capture {
        Capture {
            payment: Uuid::from_u128(n),
            merchant: MerchantId(Uuid::from_u128(merchant)),
            asset: "BRL".into(),
            captured_minor: minor,
            captured_at: Utc.with_ymd_and_hms(2026, 11, 2, 10, 0, 0).single().unwrap_or_default(),
        }
    }

    fn credit(n: u128, minor: i64, day: u32, remittance: &str, payments: &[u128]) -> StoredLine {
        let mut details: Vec<TransactionDetails> = payments
            .iter()
            .map(|p| TransactionDetails { end_to_end_id: Some(Uuid::from_u128(*p).to_string()), ..Default::default() })
            .collect();
        if details.is_empty() {
            details.push(TransactionDetails::default());
        }
        details[0].remittance = vec![remittance.to_owned()];
        StoredLine {
            id: Uuid::from_u128(1000 + n),
            bank_account: Uuid::nil(),
            statement: Uuid::nil(),
            line_no: u32::try_from(n).unwrap_or(0),
            state: LineState::Unmatched,
            match_round: 0,
            line: StatementLine {
                amount_minor: minor,
                currency: "BRL".into(),
                direction: BankDirection::Credit,
                reversal: false,
                status: "BOOK".into(),
                booking_date: NaiveDate::from_ymd_opt(2026, 11, day),
                value_date: None,
                account_servicer_ref: Some(format!("ref-{n}")),
                entry_ref: None,
                batch_count: None,
                details,
                additional_info: None,
            },
        }
    }

    fn open(captures: &[Capture]) -> HashMap<Uuid, Capture> {
        captures.iter().map(|c| (c.payment, c.clone())).collect()
    }

    #[test]
    fn one_deposit_settles_its_captures_and_a_duplicate_line_stays_unmatched() {
        let caps = [capture(1, 7, 6_000), capture(2, 8, 4_000)];
        let lines = [credit(1, 10_000, 3, "SETTLEMENT W45", &[1, 2]), credit(2, 10_000, 3, "settlement  w45", &[1, 2])];
        let found = propose(&lines, &open(&caps), "BRL", &MatchRules::default());
        assert_eq!(found.len(), 1, "the duplicate cannot settle the same captures again");
        assert_eq!(found[0].lines.len(), 1);
        assert_eq!((found[0].gross_minor, found[0].fee_minor), (10_000, 0));
    }

    #[test]
    fn a_deposit_split_across_days_settles_its_captures_together() {
        let caps = [capture(1, 7, 6_000), capture(2, 8, 4_000)];
        let lines = [credit(1, 7_000, 3, "SETTLEMENT W45", &[1, 2]), credit(2, 3_000, 4, "SETTLEMENT W45", &[])];
        let found = propose(&lines, &open(&caps), "BRL", &MatchRules::default());
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].lines.len(), 2, "many lines to one batch");
        assert_eq!(found[0].net_minor, 10_000);
    }

    #[test]
    fn a_deposit_short_by_a_fee_needs_a_tolerance_and_never_exceeds_its_gross() {
        let caps = [capture(1, 7, 10_000)];
        let short = [credit(1, 9_710, 3, "SETTLEMENT W46", &[1])];
        assert!(propose(&short, &open(&caps), "BRL", &MatchRules::default()).is_empty());
        let three_percent = MatchRules { amount_tolerance_bps: 300, ..MatchRules::default() };
        let found = propose(&short, &open(&caps), "BRL", &three_percent);
        assert_eq!(found[0].fee_minor, 290);
        let over = [credit(1, 10_100, 3, "SETTLEMENT W46", &[1])];
        assert!(propose(&over, &open(&caps), "BRL", &three_percent).is_empty());
    }

    #[test]
    fn fee_shares_are_pro_rata_and_add_up_exactly() {
        let caps = [capture(1, 7, 3_333), capture(2, 8, 3_333), capture(3, 9, 3_334)];
        let shares = fee_shares(&caps, 100);
        assert_eq!(shares.iter().map(|s| s.2).sum::<i64>(), 100);
        assert!(shares.iter().all(|s| (33..=34).contains(&s.2)));
        let draft = settlement_draft(
            shares[0].0,
            &AssetCode::parse("BRL").unwrap_or_else(|_| unreachable!()),
            3_333,
            33,
            serde_json::json!({}),
        );
        assert_eq!(draft.map(|d| d.entries.len()), Ok(3));
    }
}
