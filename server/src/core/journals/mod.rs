//! The books as a plain-text journal for Beancount or hledger, so that an
//! auditor checks them with those tools rather than with our code.
//!
//! `ledger-server export --format beancount|hledger [--merchant M]
//! [--until T] [--output FILE]` writes one. What it holds:
//!
//! - **every transaction** of the books (or of one merchant's books: its
//!   partition and the deals it is the counterparty of) effective at or
//!   before `until`, in effective-time order, dated by its effective time
//!   (UTC), with its kind, merchant, journal number, id and external
//!   reference;
//! - **its entries as postings**, amounts as exact decimals of the asset's
//!   minor units (ISO 4217 exponents for currencies): a debit positive, a
//!   credit negative, as both tools count. The pending layer goes to each
//!   account's `-Pending` twin (a hold adds, a release takes back), so every
//!   transaction balances in the journal as it does in the ledger (per asset
//!   and layer);
//! - **account and commodity declarations** (`open` and `commodity` in
//!   Beancount, `account` and `commodity` in hledger), with the names of
//!   [`names`];
//! - **a balance assertion closing every account** the journal covers in
//!   full (all of them for the whole books; the merchant's own and the
//!   platform's subsidiary accounts for it in one merchant's): Beancount's
//!   `balance` checks at the start of its date, so it is dated the day after
//!   the last transaction (or after `until`); hledger's is a `= amount` on a
//!   zero posting in a last transaction of the same date.
//!
//! Formats: Beancount v2 (<https://beancount.github.io/docs/beancount_language_syntax.html>)
//! and hledger's journal (<https://hledger.org/hledger.html#journal>).

pub mod names;
mod store;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;

use chrono::{DateTime, Days, NaiveDate, Utc};
use futures::TryStreamExt;

use crate::core::LedgerError;
use crate::domain::{Layer, MerchantId, Owner};

/// The journal formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Beancount v2, checked by `bean-check`.
    Beancount,
    /// hledger's journal, checked by `hledger check`.
    Hledger,
}

/// What an export wrote.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Exported {
    /// Transactions written.
    pub transactions: u64,
    /// Postings written.
    pub postings: u64,
    /// Balance assertions written.
    pub assertions: u64,
}

/// A posting's account, by ledger account id and layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct Slot {
    account: uuid::Uuid,
    pending: bool,
}

/// Writes the journal of the books (of `merchant`'s, when given) up to
/// `until` to `out` in `format`. Reads over `pool` (the database owner's
/// connection, as `verify` does, or a read snapshot that sees every
/// merchant: [`export_in_snapshot`]). Errors: the database's (`INTERNAL`), an
/// unknown merchant (`NOT_FOUND`), an entry whose account or asset is missing
/// (a broken database: `INTERNAL`), and `out`'s write errors (`INTERNAL`).
pub async fn export(
    pool: &(impl sea_orm::ConnectionTrait + sea_orm::StreamTrait),
    format: Format,
    merchant: Option<MerchantId>,
    until: Option<DateTime<Utc>>,
    out: &mut impl Write,
) -> Result<Exported, LedgerError> {
    if let Some(m) = merchant
        && crate::core::merchants::store::find(pool, m).await?.is_none()
    {
        return Err(crate::core::merchants::MerchantError::NotFound.into());
    }
    let accounts = store::accounts(pool).await?;
    let exponents = crate::core::reports::store::exponents(pool).await?;
    let io = |e: std::io::Error| LedgerError::internal(format!("writing the journal: {e}"));
    let scope = match merchant {
        Some(m) => format!("merchant {}", m.0),
        None => "every merchant and the platform".to_owned(),
    };
    let until_text = until.map_or_else(|| "now".to_owned(), |t| t.to_rfc3339());
    writeln!(out, "; Ledger books of {scope}, effective up to {until_text}, exported {}", Utc::now().to_rfc3339())
        .map_err(io)?;
    if format == Format::Beancount {
        writeln!(out, "option \"title\" \"Ledger books\"").map_err(io)?;
    }
    writeln!(out).map_err(io)?;

    let mut totals: BTreeMap<(Slot, String), i128> = BTreeMap::new();
    let mut exported = Exported::default();
    let mut first_day: Option<NaiveDate> = None;
    let mut last_day: Option<NaiveDate> = None;
    let mut rows = Box::pin(store::entries(pool, merchant, until).await?);
    let mut current: Option<(uuid::Uuid, i64)> = None;
    let mut postings: Vec<(Slot, String, i128)> = Vec::new();
    let mut header: Option<store::EntryRow> = None;
    loop {
        let row = rows.try_next().await?;
        let key = row.as_ref().map(|r| (r.merchant, r.seq));
        if key != current {
            if let Some(h) = header.take() {
                write_transaction(out, format, &h, &postings, &accounts, &exponents).map_err(|e| match e {
                    Failure::Io(e) => io(e),
                    Failure::Books(e) => e,
                })?;
                exported.transactions += 1;
                exported.postings += postings.len() as u64;
                postings.clear();
            }
            current = key;
        }
        let Some(r) = row else { break };
        let day = r.effective_at.date_naive();
        first_day = Some(first_day.map_or(day, |d| d.min(day)));
        last_day = Some(last_day.map_or(day, |d| d.max(day)));
        let slot = Slot { account: r.account, pending: r.layer != Layer::Posted };
        // Posted and hold: a debit adds; a release takes a hold back out.
        let sign: i128 = match (r.layer, r.debit) {
            (Layer::Release, true) | (Layer::Posted | Layer::Hold, false) => -1,
            _ => 1,
        };
        let amount = sign * i128::from(r.amount);
        *totals.entry((slot, r.asset.clone())).or_insert(0) += amount;
        postings.push((slot, r.asset.clone(), amount));
        if header.is_none() {
            header = Some(r);
        }
    }
    drop(rows);

    // Declarations: dated the first transaction's day (an `open` must come
    // on or before its account's first posting).
    let opened = first_day.unwrap_or_else(|| Utc::now().date_naive());
    writeln!(out, "; Commodities and accounts").map_err(io)?;
    let assets: BTreeSet<&String> = totals.keys().map(|(_, a)| a).collect();
    for asset in &assets {
        let code = crate::domain::AssetCode::parse(asset)
            .map_err(|e| LedgerError::internal(format!("stored asset code: {e}")))?;
        let name = names::commodity(&code);
        match format {
            Format::Beancount => writeln!(out, "{opened} commodity {name}").map_err(io)?,
            Format::Hledger => {
                let exponent = exponent_of(&exponents, asset)?;
                // hledger wants a decimal mark in the sample even with no decimals.
                let mut sample = names::decimal(1000 * 10_i128.pow(exponent), exponent);
                if exponent == 0 {
                    sample.push('.');
                }
                writeln!(out, "commodity {sample} {}", names::hledger_commodity(&name)).map_err(io)?;
            }
        }
    }
    let slots: BTreeSet<Slot> = totals.keys().map(|(s, _)| *s).collect();
    let mut named: BTreeMap<String, Slot> = BTreeMap::new();
    for slot in &slots {
        named.insert(account_name(&accounts, *slot)?, *slot);
    }
    for name in named.keys() {
        match format {
            Format::Beancount => writeln!(out, "{opened} open {name}").map_err(io)?,
            Format::Hledger => writeln!(out, "account {name}").map_err(io)?,
        }
    }

    // Closing balance assertions, for the accounts whose books are all here.
    let covered = |slot: &Slot| match (merchant, accounts.get(&slot.account).map(|a| a.owner)) {
        (None, Some(_)) => true,
        (Some(m), Some(Owner::Merchant(o) | Owner::PlatformFor(o))) => o == m,
        _ => false,
    };
    let closing_day = until.map(|t| t.date_naive()).into_iter().chain(last_day).max();
    if let Some(day) = closing_day.and_then(|d| d.checked_add_days(Days::new(1))) {
        writeln!(out, "\n; Closing balances").map_err(io)?;
        if format == Format::Hledger {
            writeln!(out, "{day} closing balance assertions").map_err(io)?;
        }
        for (name, slot) in &named {
            if !covered(slot) {
                continue;
            }
            for ((s, asset), total) in totals.range((*slot, String::new())..) {
                if s != slot {
                    break;
                }
                let code = crate::domain::AssetCode::parse(asset)
                    .map_err(|e| LedgerError::internal(format!("stored asset code: {e}")))?;
                let commodity = names::commodity(&code);
                let amount = names::decimal(*total, exponent_of(&exponents, asset)?);
                match format {
                    Format::Beancount => writeln!(out, "{day} balance {name}  {amount} {commodity}").map_err(io)?,
                    Format::Hledger => {
                        let c = names::hledger_commodity(&commodity);
                        let zero = names::decimal(0, exponent_of(&exponents, asset)?);
                        writeln!(out, "    {name}    {zero} {c} = {amount} {c}").map_err(io)?
                    }
                }
                exported.assertions += 1;
            }
        }
    }
    out.flush().map_err(io)?;
    Ok(exported)
}

/// Why writing a transaction failed.
enum Failure {
    Io(std::io::Error),
    Books(LedgerError),
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Failure::Io(e)
    }
}

impl From<LedgerError> for Failure {
    fn from(e: LedgerError) -> Self {
        Failure::Books(e)
    }
}

/// Writes one transaction with its postings.
fn write_transaction(
    out: &mut impl Write,
    format: Format,
    h: &store::EntryRow,
    postings: &[(Slot, String, i128)],
    accounts: &HashMap<uuid::Uuid, crate::core::accounts::store::Account>,
    exponents: &HashMap<String, u32>,
) -> Result<(), Failure> {
    let day = h.effective_at.date_naive();
    let merchant = h.merchant.simple().to_string().to_uppercase();
    let reference = h.external_ref.as_deref().map(plain);
    match format {
        Format::Beancount => {
            writeln!(out, "{day} * \"{}\" \"M{merchant} #{}\"", h.kind, h.seq)?;
            writeln!(out, "  id: \"{}\"", h.id)?;
            if let Some(r) = &reference {
                writeln!(out, "  external-ref: \"{r}\"")?;
            }
        }
        Format::Hledger => {
            writeln!(out, "{day} {} | M{merchant} #{}  ; id:{}", h.kind, h.seq, h.id)?;
            if let Some(r) = &reference {
                writeln!(out, "    ; external-ref:{r}")?;
            }
        }
    }
    for (slot, asset, amount) in postings {
        let name = account_name(accounts, *slot)?;
        let code =
            crate::domain::AssetCode::parse(asset).map_err(|e| LedgerError::internal(format!("stored asset: {e}")))?;
        let mut commodity = names::commodity(&code);
        if format == Format::Hledger {
            commodity = names::hledger_commodity(&commodity);
        }
        let amount = names::decimal(*amount, exponent_of(exponents, asset)?);
        writeln!(out, "    {name}    {amount} {commodity}")?;
    }
    writeln!(out)?;
    Ok(())
}

/// The journal name of a posting's account. Errors: `INTERNAL` for an entry
/// whose account does not exist (never for stored data: a foreign key).
fn account_name(
    accounts: &HashMap<uuid::Uuid, crate::core::accounts::store::Account>,
    slot: Slot,
) -> Result<String, LedgerError> {
    let a = accounts
        .get(&slot.account)
        .ok_or_else(|| LedgerError::internal(format!("an entry names account {} that does not exist", slot.account)))?;
    Ok(names::account(a.owner, &a.code, a.normal_balance, slot.pending))
}

/// The exponent (decimals) of `asset`. Errors: `INTERNAL` for an asset not
/// in the catalogue (never for stored data).
fn exponent_of(exponents: &HashMap<String, u32>, asset: &str) -> Result<u32, LedgerError> {
    exponents.get(asset).copied().ok_or_else(|| LedgerError::internal(format!("asset {asset} is not in the catalogue")))
}

/// `text` on one line, without the characters that would end a string or a
/// comment in either format.
fn plain(text: &str) -> String {
    text.chars().map(|c| if c.is_control() || c == '"' || c == '\\' || c == ';' { ' ' } else { c }).collect()
}

/// [`export`] over the application's pool (row-level security on): in one
/// read-only snapshot that sees every merchant and the platform, for the
/// staff download (`GET /journal`). Errors: as [`export`].
pub async fn export_in_snapshot(
    pool: &crate::core::Pool,
    format: Format,
    merchant: Option<MerchantId>,
    until: Option<DateTime<Utc>>,
    out: &mut impl Write,
) -> Result<Exported, LedgerError> {
    let reads = crate::core::db::begin_read(pool, crate::core::access::rules::Tenant::All).await?;
    export(&reads, format, merchant, until, out).await
}
