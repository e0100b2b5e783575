//! The exception queue and what staff do with it: match a deposit by hand,
//! unmatch, write a line off to suspense; the ledger items the bank has not
//! confirmed; and the reconciliation report of a bank account and period.
//!
//! Every staff action needs a reason, is audited with it, and has a dry run
//! that checks everything the action would and writes nothing.

use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use super::deposits::{self, DepositMatch};
use super::{BankAccount, LineState, Reconciliation, ReconciliationError, StoredLine, audit, store};
use crate::core::access::rules::{AuditTarget, Caller, Tenant};
use crate::core::access::store::append_audit;
use crate::core::{LedgerError, Reads};
use crate::domain::{AssetCode, MerchantId, TransactionId};

/// Most payments one hand-matched deposit may settle.
pub const MAX_PAYMENTS_PER_DEPOSIT: usize = 10_000;

/// Most lines one hand-matched deposit may span.
pub const MAX_LINES_PER_DEPOSIT: usize = 31;

/// Longest reason, in characters.
pub const MAX_REASON_LEN: usize = 500;

/// What undoing or writing off a line did (or, on a dry run, would do).
#[derive(Debug, Clone, PartialEq)]
pub struct LineAction {
    /// The lines whose state changed (several for a split deposit's unmatch).
    pub lines: Vec<StoredLine>,
    /// The transactions posted: the write-off, or the reversals of what the
    /// match had posted. Empty on a dry run.
    pub transactions: Vec<TransactionId>,
    /// The transactions the action reverses (an unmatch's), or would.
    pub reverses: Vec<TransactionId>,
}

fn checked_reason(reason: &str) -> Result<&str, LedgerError> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(ReconciliationError::ReasonRequired.into());
    }
    if reason.chars().count() > MAX_REASON_LEN {
        let why = format!("a reason is at most {MAX_REASON_LEN} characters");
        return Err(ReconciliationError::BankAccountInvalid(why).into());
    }
    Ok(reason)
}

impl Reconciliation<'_> {
    /// Reads a line and its bank account. Errors: `NOT_FOUND`.
    async fn line_and_account(&self, line: Uuid) -> Result<(StoredLine, BankAccount), LedgerError> {
        let reads = Reads::begin(self.0.db(), Tenant::All).await?;
        let found = async {
            let line = store::line(reads.db(), line).await?.ok_or(ReconciliationError::LineNotFound)?;
            let account = store::bank_account(reads.db(), line.bank_account)
                .await?
                .ok_or(ReconciliationError::BankAccountNotFound)?;
            Ok::<_, LedgerError>((line, account))
        }
        .await;
        reads.finish().await;
        found
    }

    /// Matches the credit lines `lines` (one deposit, or one split across
    /// days) to the captures of `payments` by hand, for what the rules did
    /// not match (a deposit short by more than the tolerance, a reference the
    /// bank garbled): the settlement is posted as a matching run posts it
    /// ([`deposits`]), the shortfall to `processor_fees`. The amount and
    /// date rules are not applied (staff decide); the lines must be booked
    /// credits of one bank account in its currency, adding up to no more
    /// than the captures. Needs a reason; audited with it. On a dry run
    /// nothing is written. Errors: `NOT_FOUND` (a line), `BAD_USER_INPUT`
    /// (no lines or payments, too many, a reason too long),
    /// `LINE_ALREADY_MATCHED`, `LINE_DOES_NOT_FIT` (not a booked credit,
    /// another bank account, a payment that captured nothing in the currency
    /// or is settled already, more than the captures), `REASON_REQUIRED`.
    pub async fn match_deposit_by_hand(
        &self,
        caller: &Caller,
        request_id: Option<String>,
        lines: &[Uuid],
        payments: &[Uuid],
        reason: &str,
        dry_run: bool,
    ) -> Result<DepositMatch, LedgerError> {
        let reason = checked_reason(reason)?;
        if lines.is_empty()
            || lines.len() > MAX_LINES_PER_DEPOSIT
            || payments.is_empty()
            || payments.len() > MAX_PAYMENTS_PER_DEPOSIT
        {
            let why = format!("give 1 to {MAX_LINES_PER_DEPOSIT} lines and 1 to {MAX_PAYMENTS_PER_DEPOSIT} payments");
            return Err(ReconciliationError::BankAccountInvalid(why).into());
        }
        let does_not_fit = |why: String| LedgerError::from(ReconciliationError::LineDoesNotFit(why));
        let reads = Reads::begin(self.0.db(), Tenant::All).await?;
        let found = async {
            let mut found = Vec::with_capacity(lines.len());
            for id in lines {
                found.push(store::line(reads.db(), *id).await?.ok_or(ReconciliationError::LineNotFound)?);
            }
            let first = found.first().ok_or(ReconciliationError::LineNotFound)?;
            let account = store::bank_account(reads.db(), first.bank_account)
                .await?
                .ok_or(ReconciliationError::BankAccountNotFound)?;
            let open = super::open_captures(&reads, &account.currency, payments.iter().copied()).await?;
            Ok::<_, LedgerError>((found, account, open))
        }
        .await;
        reads.finish().await;
        let (mut found, account, open) = found?;
        found.sort_by_key(|l| (l.line.booking_date, l.id));
        found.dedup_by_key(|l| l.id);
        for line in &found {
            if line.state != LineState::Unmatched {
                return Err(ReconciliationError::LineAlreadyMatched(line.state.as_str()).into());
            }
            if line.bank_account != account.id {
                return Err(does_not_fit("the lines are of different bank accounts".into()));
            }
            if !deposits::is_deposit(line, &account.currency) {
                return Err(does_not_fit(format!(
                    "line {} is not a booked credit in {} (a deposit)",
                    line.id, account.currency
                )));
            }
        }
        let mut captures = Vec::with_capacity(payments.len());
        for p in payments {
            let capture = open.get(p).ok_or_else(|| {
                does_not_fit(format!("payment {p} captured nothing in {} or is settled already", account.currency))
            })?;
            if !captures.iter().any(|c: &store::Capture| c.payment == *p) {
                captures.push(capture.clone());
            }
        }
        captures.sort_by_key(|c| (c.captured_at, c.payment));
        let m = deposits::deposit(found, captures);
        if m.net_minor > m.gross_minor {
            return Err(does_not_fit(format!(
                "the lines ({} minor units) exceed the captures ({} minor units)",
                m.net_minor, m.gross_minor
            )));
        }
        if dry_run {
            return Ok(m);
        }
        self.settle(caller, request_id, &account, m, Some(reason)).await
    }

    /// Undoes `line`'s match or write-off: the line, and every other line of
    /// the same deposit, goes back to the exception queue, and what the match
    /// posted is reversed (a deposit's settlements, a write-off). A payout
    /// the line settled or failed stays so: its payout step is final
    /// (`MATCH_IS_FINAL`). Needs a reason; audited with it. On a dry run
    /// nothing is written. Errors: `NOT_FOUND`, `LINE_NOT_MATCHED`,
    /// `MATCH_IS_FINAL`, `REASON_REQUIRED`, the reversals'.
    pub async fn unmatch(
        &self,
        caller: &Caller,
        request_id: Option<String>,
        line: Uuid,
        reason: &str,
        dry_run: bool,
    ) -> Result<LineAction, LedgerError> {
        let reason = checked_reason(reason)?;
        let reads = Reads::begin(self.0.db(), Tenant::All).await?;
        let found = async {
            let l = store::line(reads.db(), line).await?.ok_or(ReconciliationError::LineNotFound)?;
            let matched = store::match_of(reads.db(), line).await?;
            let (lines, postings) = match &matched {
                Some(m) if m.target_kind == "settlement" => {
                    let mut lines = Vec::new();
                    for id in store::lines_of_target(reads.db(), "settlement", m.target_id).await? {
                        lines.push(store::line(reads.db(), id).await?.ok_or(ReconciliationError::LineNotFound)?);
                    }
                    (lines, store::settlement_postings(reads.db(), m.target_id).await?)
                }
                Some(m) if m.target_kind == "write_off" => {
                    let posted = m.transaction.map(|t| (MerchantId::PLATFORM, t));
                    (vec![l.clone()], posted.into_iter().collect())
                }
                _ => (vec![l.clone()], Vec::new()),
            };
            Ok::<_, LedgerError>((matched, lines, postings))
        }
        .await;
        reads.finish().await;
        let (matched, lines, postings) = found?;
        let Some(matched) = matched else { return Err(ReconciliationError::LineNotMatched.into()) };
        if matched.target_kind == "payout" {
            return Err(ReconciliationError::MatchIsFinal.into());
        }
        let reverses: Vec<TransactionId> = postings.iter().map(|p| TransactionId(p.1)).collect();
        if dry_run {
            return Ok(LineAction { lines, transactions: Vec::new(), reverses });
        }
        let mut transactions = Vec::with_capacity(postings.len());
        for (merchant, transaction) in &postings {
            let key = format!("recon-unmatch-{}-{transaction}", matched.target_id);
            let input =
                serde_json::json!({ "bankStatementLineId": line, "transactionId": transaction, "reason": reason });
            let call =
                crate::core::posting::Call::new(caller, request_id.clone(), &key, "unmatchBankStatementLine", &input)?
                    .naming(Some(*merchant));
            let reversed = self.0.posting().reverse(call, TransactionId(*transaction), reason.to_owned(), true).await?;
            transactions.push(reversed.transaction.id);
        }
        let (actor, now) = (caller.actor().to_string(), Utc::now());
        let txn = crate::core::db::begin_write(self.0.db(), Tenant::All, true).await?;
        for l in &lines {
            store::undo_match(&txn, l.id, &actor, reason, now).await?;
        }
        if matched.target_kind == "settlement" {
            store::undo_settlement(&txn, matched.target_id, now).await?;
        }
        let ids: Vec<String> = lines.iter().map(|l| l.id.to_string()).collect();
        let what = format!(
            "unmatched line(s) {} from {} {}, reversing {} transaction(s): {reason}",
            ids.join(", "),
            matched.target_kind,
            matched.target_id,
            transactions.len()
        );
        let target = (AuditTarget::BankStatement, Some(lines.first().map_or(line, |l| l.statement).to_string()));
        append_audit(&txn, &audit(caller, "unmatchBankStatementLine", target, Some(what), request_id)).await?;
        txn.commit().await?;
        let lines = lines
            .into_iter()
            .map(|l| StoredLine { state: LineState::Unmatched, match_round: l.match_round + 1, ..l })
            .collect();
        Ok(LineAction { lines, transactions, reverses })
    }

    /// Writes the unmatched, booked line `line` off to `suspense` in the
    /// platform's own books (money in: `bank` debited, `suspense` credited;
    /// money out, the other way round), so the books show the bank's
    /// movement while nobody yet knows what it is; the line leaves the
    /// queue as written off. Unmatch undoes it. Needs a reason; audited with
    /// it. On a dry run nothing is written. Errors: `NOT_FOUND`,
    /// `LINE_ALREADY_MATCHED`, `LINE_DOES_NOT_FIT` (not booked),
    /// `REASON_REQUIRED`.
    pub async fn write_off(
        &self,
        caller: &Caller,
        request_id: Option<String>,
        line: Uuid,
        reason: &str,
        dry_run: bool,
    ) -> Result<LineAction, LedgerError> {
        let reason = checked_reason(reason)?;
        let (l, account) = self.line_and_account(line).await?;
        if l.state != LineState::Unmatched {
            return Err(ReconciliationError::LineAlreadyMatched(l.state.as_str()).into());
        }
        if l.line.status != "BOOK" {
            return Err(ReconciliationError::LineDoesNotFit("only a booked line can be written off".into()).into());
        }
        let asset = AssetCode::parse(&account.currency)?;
        let credit = l.line.direction == super::statement::BankDirection::Credit;
        let metadata = serde_json::json!({ "bankStatementLine": l.id, "reason": reason });
        let draft = deposits::write_off_draft(&asset, l.line.amount_minor, credit, metadata.clone())?;
        if dry_run {
            return Ok(LineAction { lines: vec![l], transactions: Vec::new(), reverses: Vec::new() });
        }
        let key = format!("recon-{}-r{}-write-off", l.id, l.match_round);
        let call =
            crate::core::posting::Call::new(caller, request_id.clone(), &key, "writeOffBankStatementLine", &metadata)?
                .naming(Some(MerchantId::PLATFORM));
        let posted = self.0.posting().post(call, draft).await?;
        let transaction = posted.transaction.id;
        let actor = caller.actor().to_string();
        let txn = crate::core::db::begin_write(self.0.db(), Tenant::All, true).await?;
        store::insert_target_match(
            &txn,
            account.id,
            l.id,
            "write_off",
            transaction.0,
            Some(transaction.0),
            &actor,
            Some(reason),
            Utc::now(),
        )
        .await?;
        let what = format!(
            "line {} ({} {} {}) written off to suspense: {reason}",
            l.id,
            l.line.direction.code(),
            l.line.amount_minor,
            account.currency
        );
        let target = (AuditTarget::BankStatement, Some(l.statement.to_string()));
        append_audit(&txn, &audit(caller, "writeOffBankStatementLine", target, Some(what), request_id)).await?;
        txn.commit().await?;
        Ok(LineAction {
            lines: vec![StoredLine { state: LineState::WrittenOff, ..l }],
            transactions: vec![transaction],
            reverses: Vec::new(),
        })
    }
}

/// A capture written off to suspense (or, on a dry run, that would be).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureWriteOff {
    /// The capture as it was open.
    pub capture: store::Capture,
    /// The `BANK_WRITE_OFF` transaction in its merchant's books; `None` on a dry run.
    pub transaction: Option<TransactionId>,
}

impl Reconciliation<'_> {
    /// Writes off the open capture of `payment` (captured in
    /// `bank_account`'s currency, settled by no deposit): the processor will
    /// never pay it (a lost deposit given up on). Its merchant's books move
    /// it from `processor_clearing` to `suspense`, and it leaves the
    /// unconfirmed items and the open clearing of the report. A payout the
    /// bank never debited is not written off: `failPayout` returns its money.
    /// Needs a reason; audited with it. On a dry run nothing is written.
    /// Errors: `NOT_FOUND` (bank account), `ITEM_NOT_OPEN`, `REASON_REQUIRED`.
    pub async fn write_off_capture(
        &self,
        caller: &Caller,
        request_id: Option<String>,
        bank_account: Uuid,
        payment: Uuid,
        reason: &str,
        dry_run: bool,
    ) -> Result<CaptureWriteOff, LedgerError> {
        let reason = checked_reason(reason)?;
        let reads = Reads::begin(self.0.db(), Tenant::All).await?;
        let found = async {
            let account =
                store::bank_account(reads.db(), bank_account).await?.ok_or(ReconciliationError::BankAccountNotFound)?;
            let open = super::open_captures(&reads, &account.currency, std::iter::once(payment)).await?;
            Ok::<_, LedgerError>((account, open))
        }
        .await;
        reads.finish().await;
        let (account, open) = found?;
        let capture = open.get(&payment).cloned().ok_or(ReconciliationError::ItemNotOpen(payment))?;
        if dry_run {
            return Ok(CaptureWriteOff { capture, transaction: None });
        }
        let asset = AssetCode::parse(&capture.asset)?;
        let metadata = serde_json::json!({ "payment": payment, "bankAccount": account.id, "reason": reason });
        let draft =
            deposits::capture_write_off_draft(capture.merchant, &asset, capture.captured_minor, metadata.clone())?;
        let key = format!("recon-write-off-{payment}");
        let call = crate::core::posting::Call::new(caller, request_id.clone(), &key, "writeOffLedgerItem", &metadata)?
            .naming(Some(capture.merchant));
        let transaction = self.0.posting().post(call, draft).await?.transaction.id;
        let actor = caller.actor().to_string();
        let txn = crate::core::db::begin_write(self.0.db(), Tenant::All, true).await?;
        let id = Uuid::now_v7();
        store::insert_capture_write_off(&txn, id, account.id, &capture, transaction.0, reason, &actor, Utc::now())
            .await?;
        let what = format!(
            "capture of payment {payment} ({} {}) written off to suspense: {reason}",
            capture.captured_minor, capture.asset
        );
        let target = (AuditTarget::BankAccount, Some(account.id.to_string()));
        append_audit(&txn, &audit(caller, "writeOffLedgerItem", target, Some(what), request_id)).await?;
        txn.commit().await?;
        Ok(CaptureWriteOff { capture, transaction: Some(transaction) })
    }
}

/// What kind of ledger item the bank has not confirmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ItemKind {
    /// A payout in transit: no bank debit has settled it.
    Payout,
    /// A capture no processor deposit has settled: its money is still in
    /// `processor_clearing`.
    Capture,
}

/// A ledger item the bank has not confirmed yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnconfirmedItem {
    /// Payout or capture.
    pub kind: ItemKind,
    /// The payout's or payment's id.
    pub id: Uuid,
    /// Whose books hold it.
    pub merchant: MerchantId,
    /// Minor units of the bank account's currency.
    pub amount_minor: i64,
    /// When it entered the books (the payout's creation, the capture).
    pub since: DateTime<Utc>,
}

/// Ledger items in `currency` that the bank has not confirmed and that are
/// older than `older_than_days` on `today`, oldest first, at most `limit` of
/// each kind: payouts in transit, and captures no deposit has settled.
/// Errors: [`LedgerError::Database`].
pub async fn unconfirmed(
    reads: &Reads,
    currency: &str,
    today: NaiveDate,
    older_than_days: i64,
    limit: u64,
) -> Result<Vec<UnconfirmedItem>, LedgerError> {
    let before = cutoff(today, older_than_days);
    let mut out: Vec<UnconfirmedItem> = store::payouts_in_transit(reads.db(), currency, before, limit)
        .await?
        .into_iter()
        .map(|(id, merchant, amount_minor, since)| UnconfirmedItem {
            kind: ItemKind::Payout,
            id,
            merchant,
            amount_minor,
            since,
        })
        .collect();
    out.extend(store::unsettled_captures(reads.db(), currency, before, limit).await?.into_iter().map(|c| {
        UnconfirmedItem {
            kind: ItemKind::Capture,
            id: c.payment,
            merchant: c.merchant,
            amount_minor: c.captured_minor,
            since: c.captured_at,
        }
    }));
    out.sort_by_key(|i| (i.since, i.id));
    Ok(out)
}

/// The end of `today` less `days`: items before it are older than `days`.
fn cutoff(today: NaiveDate, days: i64) -> DateTime<Utc> {
    let day = today - chrono::Duration::days(days.max(0));
    day.succ_opt().unwrap_or(day).and_hms_opt(0, 0, 0).unwrap_or_default().and_utc()
}

/// Upper bounds (inclusive, in days) of the report's age buckets; the last
/// bucket is everything older.
pub const AGE_BUCKETS: [i64; 3] = [7, 30, 90];

/// Count and amount of the items of one age bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AgeBucket {
    /// Youngest age in the bucket, days.
    pub from_days: i64,
    /// Oldest, days; `None` for the last, open bucket.
    pub to_days: Option<i64>,
    /// How many.
    pub count: u64,
    /// Σ amounts, minor units.
    pub amount_minor: i64,
}

fn buckets() -> Vec<AgeBucket> {
    let mut out = Vec::with_capacity(AGE_BUCKETS.len() + 1);
    let mut from = 0;
    for to in AGE_BUCKETS {
        out.push(AgeBucket { from_days: from, to_days: Some(to), ..AgeBucket::default() });
        from = to + 1;
    }
    out.push(AgeBucket { from_days: from, to_days: None, ..AgeBucket::default() });
    out
}

fn add_to(buckets: &mut [AgeBucket], age: i64, amount: i64) {
    if let Some(b) = buckets.iter_mut().find(|b| b.to_days.is_none_or(|to| age <= to)) {
        b.count += 1;
        b.amount_minor = b.amount_minor.saturating_add(amount);
    }
}

/// A platform clearing account, in one merchant's books, that has not
/// reached zero after the report's `N` days.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenClearing {
    /// `processor_clearing` (captures no deposit settled) or
    /// `payouts_in_transit` (payouts no bank debit settled).
    pub code: &'static str,
    /// The merchant whose subsidiary account it is.
    pub merchant: MerchantId,
    /// What is left in it from items older than `N` days, minor units.
    pub amount_minor: i64,
    /// How many such items.
    pub items: u64,
    /// The oldest item's age, days.
    pub oldest_days: i64,
}

/// The reconciliation report of one bank account and period.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// The bank account.
    pub bank_account: BankAccount,
    /// First booking day of the period.
    pub from: NaiveDate,
    /// Last booking day (inclusive); ages are counted to it.
    pub to: NaiveDate,
    /// Lines booked in the period.
    pub line_count: u64,
    /// Σ of their amounts (either side), minor units.
    pub line_amount_minor: i64,
    /// Of them, matched.
    pub matched_count: u64,
    /// Σ matched, minor units.
    pub matched_amount_minor: i64,
    /// Of them, written off to suspense.
    pub written_off_count: u64,
    /// Σ written off, minor units.
    pub written_off_amount_minor: i64,
    /// Matched share of the lines, by count (0 to 1; 1 for no lines).
    pub matched_share: f64,
    /// The unmatched lines by age.
    pub unmatched_lines: Vec<AgeBucket>,
    /// The unconfirmed ledger items (payouts in transit, unsettled captures) by age.
    pub unconfirmed_items: Vec<AgeBucket>,
    /// The days after which a clearing account should be at zero.
    pub clearing_after_days: i64,
    /// Clearing accounts not at zero after that, largest first.
    pub open_clearing: Vec<OpenClearing>,
    /// Deposits matched in the period with a fee (short of their captures).
    pub deposits_with_fee: u64,
    /// Σ those fees, minor units (what went to `processor_fees`).
    pub fees_minor: i64,
}

/// Most clearing accounts a report lists.
pub const MAX_OPEN_CLEARING: u64 = 1_000;

/// The report of `account` for lines booked `from..=to`, ages counted to
/// `to`, clearing accounts listed when they hold items older than
/// `clearing_after_days`. Errors: [`LedgerError::Database`].
pub async fn report(
    reads: &Reads,
    account: BankAccount,
    from: NaiveDate,
    to: NaiveDate,
    clearing_after_days: i64,
) -> Result<Report, LedgerError> {
    let db = reads.db();
    let counts = store::line_counts(db, account.id, from, to).await?;
    let get = |s: &str| counts.get(s).copied().unwrap_or((0, 0));
    let (matched_count, matched_amount_minor) = get(LineState::Matched.as_str());
    let (written_off_count, written_off_amount_minor) = get(LineState::WrittenOff.as_str());
    let (unmatched_count, unmatched_amount) = get(LineState::Unmatched.as_str());
    let line_count = matched_count + written_off_count + unmatched_count;
    let line_amount_minor =
        matched_amount_minor.saturating_add(written_off_amount_minor).saturating_add(unmatched_amount);
    let mut unmatched_lines = buckets();
    for (booked, amount) in store::unmatched_in(db, account.id, from, to).await? {
        add_to(&mut unmatched_lines, booked.map_or(0, |d| (to - d).num_days().max(0)), amount);
    }
    let mut unconfirmed_items = buckets();
    let end = cutoff(to, 0);
    for (since, amount) in store::unconfirmed_ages(db, &account.currency, end).await? {
        add_to(&mut unconfirmed_items, deposits::age_days(since, to), amount);
    }
    let before = cutoff(to, clearing_after_days);
    let mut open_clearing: Vec<OpenClearing> = store::open_clearing(db, &account.currency, before, MAX_OPEN_CLEARING)
        .await?
        .into_iter()
        .map(|(code, merchant, amount_minor, items, oldest)| OpenClearing {
            code,
            merchant,
            amount_minor,
            items,
            oldest_days: deposits::age_days(oldest, to),
        })
        .collect();
    open_clearing.sort_by(|a, b| b.amount_minor.cmp(&a.amount_minor).then(a.merchant.cmp(&b.merchant)));
    let (deposits_with_fee, fees_minor) = store::fees_in(db, account.id, from, to).await?;
    #[allow(clippy::cast_precision_loss, reason = "a share for people, not money")]
    let matched_share =
        if line_count == 0 { 1.0 } else { (matched_count + written_off_count) as f64 / line_count as f64 };
    Ok(Report {
        bank_account: account,
        from,
        to,
        line_count,
        line_amount_minor,
        matched_count,
        matched_amount_minor,
        written_off_count,
        written_off_amount_minor,
        matched_share,
        unmatched_lines,
        unconfirmed_items,
        clearing_after_days,
        open_clearing,
        deposits_with_fee,
        fees_minor,
    })
}
