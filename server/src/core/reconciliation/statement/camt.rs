//! ISO 20022 camt.053 (`BkToCstmrStmt`, the Bank-to-Customer Statement), read
//! in versions `camt.053.001.02` and `camt.053.001.08`, and written back in
//! either for test data and benchmarks.
//!
//! Reading is two passes over the text. The first, a streaming scan with
//! quick-xml's reader, checks that the document is well formed, finds the
//! version from the namespace of `Document` and counts `Stmt`, `Ntry` and
//! `TxDtls`, so that an oversized file is refused before anything is built
//! from it. The second deserialises the one `Stmt` through serde into the
//! private `X*` shapes below, which mirror the ISO elements loosely (every
//! element optional, unknown elements ignored) so that both versions and the
//! usual bank variations go through one set of types; the rules are then
//! applied while building the [`ParsedStatement`], where an error can name the
//! entry it is about.

use std::fmt::Write as _;

use chrono::{NaiveDate, NaiveDateTime};
use quick_xml::escape::escape;
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;
use serde::Deserialize;

use super::{
    BankDirection, BookedBalance, MAX_DETAILS_PER_LINE, MAX_STATEMENT_LINES, ParsedStatement, Party, StatementAccount,
    StatementError, StatementLine, TransactionDetails,
};
use crate::domain::Asset;
use crate::domain::money::{format_minor, parse_signed_minor};

/// A version of ISO 20022 camt.053 (Bank-to-Customer Statement) this module
/// reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CamtVersion {
    /// `camt.053.001.02` (ISO 20022 2009, the SEPA-era version most banks still send).
    V02,
    /// `camt.053.001.08` (ISO 20022 2019, used by CBPR+ and newer SEPA rulebooks).
    V08,
}

impl CamtVersion {
    /// The XML namespace of the version's `Document`, e.g.
    /// `urn:iso:std:iso:20022:tech:xsd:camt.053.001.02`.
    pub fn namespace(self) -> &'static str {
        match self {
            CamtVersion::V02 => "urn:iso:std:iso:20022:tech:xsd:camt.053.001.02",
            CamtVersion::V08 => "urn:iso:std:iso:20022:tech:xsd:camt.053.001.08",
        }
    }

    /// The message name as it goes into [`ParsedStatement::format`]:
    /// `camt.053.001.02` or `camt.053.001.08`.
    pub fn format_name(self) -> &'static str {
        match self {
            CamtVersion::V02 => "camt.053.001.02",
            CamtVersion::V08 => "camt.053.001.08",
        }
    }

    /// The version whose namespace is exactly `namespace`, if it is one of the two read.
    pub fn from_namespace(namespace: &str) -> Option<Self> {
        [CamtVersion::V02, CamtVersion::V08].into_iter().find(|v| v.namespace() == namespace)
    }
}

// ---------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------

/// Parses an ISO 20022 camt.053 document (`Document/BkToCstmrStmt`) in version
/// `camt.053.001.02` or `camt.053.001.08`, told apart by the namespace of
/// `Document`, into a [`ParsedStatement`] whose `format` names the version.
///
/// The document must be UTF-8 (a byte-order mark is skipped) and hold exactly
/// one `Stmt`. Read from it: `Stmt/Id`; the account (`Acct/Id/IBAN` or
/// `Acct/Id/Othr/Id`, `Acct/Ccy`); the booked balances `Bal` of type `OPBD`
/// and `CLBD` (signed: `DBIT` is negative); and every `Ntry` with its amount,
/// `CdtDbtInd`, `RvslInd`, `Sts` (`<Sts>BOOK</Sts>` or `<Sts><Cd>BOOK</Cd></Sts>`,
/// accepted in both versions), booking and value dates (`Dt`, or the date part
/// of `DtTm` as written), references, `AddtlNtryInf`, and the `TxDtls` of all its
/// `NtryDtls` (references, amount from `Amt` or `AmtDtls/TxAmt/Amt`, debtor and
/// creditor names and accounts, `RmtInf/Ustrd` and `RmtInf/Strd/CdtrRefInf/Ref`).
/// `Btch/NbOfTxs` of several `NtryDtls` are added up. Other elements are ignored.
///
/// Every amount is returned in integer minor units of the statement's currency
/// (`Acct/Ccy`, else the first booked balance's, else the first entry's), parsed
/// with the ISO 4217 exponent. Entry and detail amounts must be greater than zero;
/// the direction is `CdtDbtInd`. A detail amount in another currency than the
/// statement's is left out (`None`): only the entry's amount is authoritative.
/// IBANs are upper-cased with spaces removed.
///
/// Errors:
/// - [`StatementError::Malformed`]: not UTF-8, not well-formed XML (quick-xml's
///   message), no `Stmt` or several, a missing `Stmt/Id`, entry `Amt`, `CdtDbtInd`
///   or `Sts`, an unreadable date, indicator or `NbOfTxs`, two `OPBD` or `CLBD`;
/// - [`StatementError::UnsupportedFormat`]: `Document` in another namespace
///   (camt.052, camt.054, another camt.053 version…), given in the error;
/// - [`StatementError::UnknownCurrency`]: a `Ccy` that is not ISO 4217 with a minor unit;
/// - [`StatementError::BadAmount`]: not a number, more decimals than the currency
///   has, overflow, or an entry or detail amount that is not greater than zero;
/// - [`StatementError::MixedCurrencies`]: a booked balance or an entry in another
///   currency than the statement's;
/// - [`StatementError::TooLarge`]: more than [`MAX_STATEMENT_LINES`] `Ntry` or more
///   than [`MAX_DETAILS_PER_LINE`] `TxDtls` in one `Ntry`.
pub fn parse(bytes: &[u8]) -> Result<ParsedStatement, StatementError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    // ISO 20022 XML messages are UTF-8 by rule; a file in another encoding is
    // refused rather than guessed at.
    let text = std::str::from_utf8(bytes).map_err(|e| {
        StatementError::Malformed(format!("a camt.053 document must be UTF-8: invalid byte at {}", e.valid_up_to()))
    })?;
    let version = scan(text)?;
    let document: XDocument =
        quick_xml::de::from_str(text).map_err(|e| StatementError::Malformed(format!("camt.053: {e}")))?;
    let mut statements = document.report.map(|r| r.statements).unwrap_or_default();
    // The scan has counted them already; this only guards the serde shape.
    let statement = match statements.len() {
        1 => statements.pop(),
        _ => None,
    }
    .ok_or_else(|| StatementError::Malformed("exactly one BkToCstmrStmt/Stmt is expected".into()))?;
    build(statement, version)
}

/// Where the scan is in the document: only the path down to `TxDtls` matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Node {
    Document,
    Report,
    Stmt,
    Ntry,
    NtryDtls,
    TxDtls,
    Other,
}

/// The first pass: well-formedness, version, and the counts behind the limits.
fn scan(text: &str) -> Result<CamtVersion, StatementError> {
    let mut reader = NsReader::from_str(text);
    // Open elements with where their qualified name starts in `names`: one
    // buffer for all names, so the scan does not allocate per element.
    let mut open: Vec<(Node, usize)> = Vec::new();
    let mut names: Vec<u8> = Vec::new();
    let mut version = None;
    let (mut statements, mut entries, mut details) = (0_usize, 0_usize, 0_usize);
    loop {
        let event = match reader.read_event() {
            Ok(event) => event,
            Err(e) => {
                return Err(StatementError::Malformed(format!("{e} (at byte {})", reader.error_position())));
            }
        };
        let (start, empty) = match event {
            Event::Start(start) => (start, false),
            Event::Empty(start) => (start, true),
            Event::End(_) => {
                if let Some((_, at)) = open.pop() {
                    names.truncate(at);
                }
                continue;
            }
            Event::Text(t) if open.is_empty() && !t.iter().all(u8::is_ascii_whitespace) => {
                return Err(StatementError::Malformed(format!(
                    "text outside the root element (at byte {})",
                    reader.buffer_position()
                )));
            }
            Event::Eof => break,
            _ => continue,
        };
        let node = match open.last().map(|(node, _)| *node) {
            None => {
                if version.is_some() {
                    return Err(StatementError::Malformed(format!(
                        "a second root element (at byte {})",
                        reader.buffer_position()
                    )));
                }
                version = Some(root_version(&reader, &start)?);
                Node::Document
            }
            Some(parent) => match (parent, start.local_name().as_ref()) {
                (Node::Document, b"BkToCstmrStmt") => Node::Report,
                (Node::Report, b"Stmt") => {
                    statements += 1;
                    entries = 0;
                    Node::Stmt
                }
                (Node::Stmt, b"Ntry") => {
                    entries += 1;
                    if entries > MAX_STATEMENT_LINES {
                        return Err(StatementError::TooLarge { what: "lines", max: MAX_STATEMENT_LINES });
                    }
                    details = 0;
                    Node::Ntry
                }
                (Node::Ntry, b"NtryDtls") => Node::NtryDtls,
                (Node::NtryDtls, b"TxDtls") => {
                    details += 1;
                    if details > MAX_DETAILS_PER_LINE {
                        return Err(StatementError::TooLarge {
                            what: "transaction details in one line",
                            max: MAX_DETAILS_PER_LINE,
                        });
                    }
                    Node::TxDtls
                }
                _ => Node::Other,
            },
        };
        if !empty {
            open.push((node, names.len()));
            names.extend_from_slice(start.name().as_ref());
        }
    }
    // quick-xml's reader stops quietly at the end of input; a truncated file is
    // reported with the message its deserialiser would give.
    if let Some((_, at)) = open.last() {
        let tag = String::from_utf8_lossy(names.get(*at..).unwrap_or_default()).into_owned();
        let error = quick_xml::Error::IllFormed(quick_xml::errors::IllFormedError::MissingEndTag(tag));
        return Err(StatementError::Malformed(error.to_string()));
    }
    let version = version.ok_or_else(|| StatementError::Malformed("no root element: the file is empty".into()))?;
    match statements {
        1 => Ok(version),
        0 => Err(StatementError::Malformed("no Document/BkToCstmrStmt/Stmt: exactly one is expected".into())),
        n => Err(StatementError::Malformed(format!(
            "{n} BkToCstmrStmt/Stmt elements: exactly one statement per file is expected"
        ))),
    }
}

/// The camt.053 version named by the root element's namespace.
fn root_version(
    reader: &NsReader<&[u8]>,
    root: &quick_xml::events::BytesStart<'_>,
) -> Result<CamtVersion, StatementError> {
    let (namespace, local) = reader.resolve_element(root.name());
    let local = String::from_utf8_lossy(local.as_ref()).into_owned();
    let namespace = match namespace {
        ResolveResult::Bound(ns) => String::from_utf8_lossy(ns.as_ref()).into_owned(),
        ResolveResult::Unbound => {
            return Err(StatementError::UnsupportedFormat(format!("<{local}> without a namespace")));
        }
        ResolveResult::Unknown(prefix) => {
            return Err(StatementError::Malformed(format!(
                "undeclared namespace prefix `{}` on the root element",
                String::from_utf8_lossy(&prefix)
            )));
        }
    };
    let version = CamtVersion::from_namespace(&namespace).ok_or(StatementError::UnsupportedFormat(namespace))?;
    if local != "Document" {
        return Err(StatementError::Malformed(format!("the root element is <{local}>, not <Document>")));
    }
    Ok(version)
}

// The serde shapes. Field names follow the ISO element names through `rename`;
// quick-xml matches local names, so a prefixed document (`<ns2:Ntry>`) reads
// the same. Everything is optional here so that a missing element becomes an
// error naming the entry, in `build`, rather than serde's bare "missing field".

#[derive(Debug, Deserialize)]
struct XDocument {
    #[serde(rename = "BkToCstmrStmt")]
    report: Option<XReport>,
}

#[derive(Debug, Deserialize)]
struct XReport {
    #[serde(rename = "Stmt", default)]
    statements: Vec<XStmt>,
}

#[derive(Debug, Deserialize)]
struct XStmt {
    #[serde(rename = "Id")]
    id: Option<String>,
    #[serde(rename = "Acct")]
    account: Option<XAccount>,
    #[serde(rename = "Bal", default)]
    balances: Vec<XBalance>,
    #[serde(rename = "Ntry", default)]
    entries: Vec<XEntry>,
}

#[derive(Debug, Deserialize)]
struct XAccount {
    #[serde(rename = "Id")]
    id: Option<XAccountId>,
    #[serde(rename = "Ccy")]
    currency: Option<String>,
}

/// `Id` of a cash account: the choice `IBAN` | `Othr/Id`.
#[derive(Debug, Deserialize)]
struct XAccountId {
    #[serde(rename = "IBAN")]
    iban: Option<String>,
    #[serde(rename = "Othr")]
    other: Option<XOtherId>,
}

#[derive(Debug, Deserialize)]
struct XOtherId {
    #[serde(rename = "Id")]
    id: Option<String>,
}

#[derive(Debug, Deserialize)]
struct XBalance {
    #[serde(rename = "Tp")]
    kind: Option<XBalanceType>,
    #[serde(rename = "Amt")]
    amount: Option<XAmount>,
    #[serde(rename = "CdtDbtInd")]
    credit_debit: Option<String>,
    #[serde(rename = "Dt")]
    date: Option<XDate>,
}

#[derive(Debug, Deserialize)]
struct XBalanceType {
    #[serde(rename = "CdOrPrtry")]
    code_or_proprietary: Option<XCode>,
}

#[derive(Debug, Deserialize)]
struct XCode {
    #[serde(rename = "Cd")]
    code: Option<String>,
}

/// `<Amt Ccy="EUR">12.34</Amt>`.
#[derive(Debug, Deserialize)]
struct XAmount {
    #[serde(rename = "@Ccy")]
    currency: Option<String>,
    #[serde(rename = "$text", default)]
    value: String,
}

/// A date choice: `Dt` (ISODate) or `DtTm` (ISODateTime).
#[derive(Debug, Deserialize)]
struct XDate {
    #[serde(rename = "Dt")]
    date: Option<String>,
    #[serde(rename = "DtTm")]
    date_time: Option<String>,
}

#[derive(Debug, Deserialize)]
struct XEntry {
    #[serde(rename = "NtryRef")]
    entry_ref: Option<String>,
    #[serde(rename = "Amt")]
    amount: Option<XAmount>,
    #[serde(rename = "CdtDbtInd")]
    credit_debit: Option<String>,
    #[serde(rename = "RvslInd")]
    reversal: Option<String>,
    #[serde(rename = "Sts")]
    status: Option<XStatus>,
    #[serde(rename = "BookgDt")]
    booking_date: Option<XDate>,
    #[serde(rename = "ValDt")]
    value_date: Option<XDate>,
    #[serde(rename = "AcctSvcrRef")]
    account_servicer_ref: Option<String>,
    #[serde(rename = "NtryDtls", default)]
    entry_details: Vec<XEntryDetails>,
    #[serde(rename = "AddtlNtryInf")]
    additional_info: Option<String>,
}

/// `Sts`: the code as text in .001.02 (`<Sts>BOOK</Sts>`), the choice
/// `Cd` | `Prtry` in .001.08 (`<Sts><Cd>BOOK</Cd></Sts>`). Both shapes are
/// accepted in both versions: banks mix them up.
#[derive(Debug, Deserialize)]
struct XStatus {
    #[serde(rename = "$text", default)]
    text: Option<String>,
    #[serde(rename = "Cd")]
    code: Option<String>,
    #[serde(rename = "Prtry")]
    proprietary: Option<String>,
}

#[derive(Debug, Deserialize)]
struct XEntryDetails {
    #[serde(rename = "Btch")]
    batch: Option<XBatch>,
    #[serde(rename = "TxDtls", default)]
    transactions: Vec<XTransaction>,
}

#[derive(Debug, Deserialize)]
struct XBatch {
    #[serde(rename = "NbOfTxs")]
    count: Option<String>,
}

#[derive(Debug, Deserialize)]
struct XTransaction {
    #[serde(rename = "Refs")]
    refs: Option<XRefs>,
    /// .001.08 only.
    #[serde(rename = "Amt")]
    amount: Option<XAmount>,
    #[serde(rename = "AmtDtls")]
    amount_details: Option<XAmountDetails>,
    #[serde(rename = "RltdPties")]
    parties: Option<XParties>,
    #[serde(rename = "RmtInf")]
    remittance: Option<XRemittance>,
}

#[derive(Debug, Deserialize)]
struct XRefs {
    #[serde(rename = "AcctSvcrRef")]
    account_servicer_ref: Option<String>,
    #[serde(rename = "EndToEndId")]
    end_to_end_id: Option<String>,
}

#[derive(Debug, Deserialize)]
struct XAmountDetails {
    #[serde(rename = "TxAmt")]
    transaction: Option<XAmountAndCurrency>,
}

#[derive(Debug, Deserialize)]
struct XAmountAndCurrency {
    #[serde(rename = "Amt")]
    amount: Option<XAmount>,
}

#[derive(Debug, Deserialize)]
struct XParties {
    #[serde(rename = "Dbtr")]
    debtor: Option<XParty>,
    #[serde(rename = "DbtrAcct")]
    debtor_account: Option<XCashAccount>,
    #[serde(rename = "Cdtr")]
    creditor: Option<XParty>,
    #[serde(rename = "CdtrAcct")]
    creditor_account: Option<XCashAccount>,
}

/// A party: `Nm` directly (.001.02), or inside `Pty` (.001.08's Party40Choice).
#[derive(Debug, Deserialize)]
struct XParty {
    #[serde(rename = "Nm")]
    name: Option<String>,
    #[serde(rename = "Pty")]
    party: Option<XPartyName>,
}

#[derive(Debug, Deserialize)]
struct XPartyName {
    #[serde(rename = "Nm")]
    name: Option<String>,
}

#[derive(Debug, Deserialize)]
struct XCashAccount {
    #[serde(rename = "Id")]
    id: Option<XAccountId>,
}

#[derive(Debug, Deserialize)]
struct XRemittance {
    #[serde(rename = "Ustrd", default)]
    unstructured: Vec<String>,
    #[serde(rename = "Strd", default)]
    structured: Vec<XStructured>,
}

#[derive(Debug, Deserialize)]
struct XStructured {
    #[serde(rename = "CdtrRefInf")]
    creditor_reference: Option<XCreditorReference>,
}

#[derive(Debug, Deserialize)]
struct XCreditorReference {
    #[serde(rename = "Ref")]
    reference: Option<String>,
}

/// The statement's currency and its ISO 4217 exponent.
struct Currency {
    code: String,
    asset: Asset,
}

impl Currency {
    /// Parses `amount` as signed minor units of this currency, refusing another currency.
    fn minor(&self, amount: &XAmount, what: &str) -> Result<i64, StatementError> {
        let code = amount
            .currency
            .as_deref()
            .map(str::trim)
            .ok_or_else(|| StatementError::Malformed(format!("{what}: Amt has no Ccy attribute")))?;
        if code != self.code {
            return Err(match Asset::iso4217(code) {
                None => StatementError::UnknownCurrency(code.to_owned()),
                Some(_) => StatementError::MixedCurrencies { statement: self.code.clone(), line: code.to_owned() },
            });
        }
        let raw = amount.value.trim();
        parse_signed_minor(raw, &self.asset).map_err(|e| self.bad_amount(raw, e.to_string()))
    }

    /// Like [`Currency::minor`], for an amount that must be greater than zero
    /// (ISO amounts are unsigned: the sign is always `CdtDbtInd`).
    fn positive_minor(&self, amount: &XAmount, what: &str) -> Result<i64, StatementError> {
        let minor = self.minor(amount, what)?;
        if minor <= 0 {
            return Err(self.bad_amount(
                amount.value.trim(),
                format!("{what}: an amount must be greater than zero; the direction is CdtDbtInd"),
            ));
        }
        Ok(minor)
    }

    fn bad_amount(&self, raw: &str, reason: String) -> StatementError {
        StatementError::BadAmount { raw: raw.to_owned(), currency: self.code.clone(), reason }
    }
}

/// Applies the rules to the deserialised `Stmt`.
fn build(statement: XStmt, version: CamtVersion) -> Result<ParsedStatement, StatementError> {
    let statement_id =
        text(statement.id).ok_or_else(|| StatementError::Malformed("Stmt/Id is missing or empty".into()))?;
    let account_currency = statement.account.as_ref().and_then(|a| text(a.currency.clone()));
    let account = StatementAccount {
        iban: statement
            .account
            .as_ref()
            .and_then(|a| a.id.as_ref())
            .and_then(|id| text(id.iban.clone()))
            .map(|i| normalize_iban(&i)),
        number: statement
            .account
            .as_ref()
            .and_then(|a| a.id.as_ref())
            .and_then(|id| id.other.as_ref())
            .and_then(|o| text(o.id.clone())),
        currency: account_currency.clone(),
    };

    let booked: Vec<(&str, &XBalance)> = statement
        .balances
        .iter()
        .filter_map(|b| {
            let code = b.kind.as_ref()?.code_or_proprietary.as_ref()?.code.as_deref()?.trim();
            match code {
                "OPBD" => Some(("OPBD", b)),
                "CLBD" => Some(("CLBD", b)),
                _ => None,
            }
        })
        .collect();

    let code = account_currency
        .or_else(|| {
            booked.iter().find_map(|(_, b)| b.amount.as_ref()?.currency.as_deref().map(|c| c.trim().to_owned()))
        })
        .or_else(|| {
            statement.entries.first().and_then(|e| e.amount.as_ref()?.currency.as_deref().map(|c| c.trim().to_owned()))
        })
        .ok_or_else(|| StatementError::Malformed("no currency: no Acct/Ccy, booked balance or entry".into()))?;
    let asset = Asset::iso4217(&code).ok_or_else(|| StatementError::UnknownCurrency(code.clone()))?;
    let currency = Currency { code, asset };

    let (mut opening_booked, mut closing_booked) = (None, None);
    for (kind, balance) in booked {
        let what = format!("balance {kind}");
        let parsed = booked_balance(balance, &currency, &what)?;
        let slot = if kind == "OPBD" { &mut opening_booked } else { &mut closing_booked };
        if slot.is_some() {
            return Err(StatementError::Malformed(format!("two {kind} balances in one statement")));
        }
        *slot = Some(parsed);
    }

    if statement.entries.len() > MAX_STATEMENT_LINES {
        return Err(StatementError::TooLarge { what: "lines", max: MAX_STATEMENT_LINES });
    }
    let lines = statement
        .entries
        .into_iter()
        .enumerate()
        .map(|(index, entry)| line(entry, index + 1, &currency))
        .collect::<Result<Vec<_>, _>>()?;

    Ok(ParsedStatement {
        format: version.format_name().to_owned(),
        statement_id,
        account,
        currency: currency.code,
        opening_booked,
        closing_booked,
        lines,
    })
}

fn booked_balance(balance: &XBalance, currency: &Currency, what: &str) -> Result<BookedBalance, StatementError> {
    let amount = balance.amount.as_ref().ok_or_else(|| StatementError::Malformed(format!("{what}: Amt is missing")))?;
    let minor = currency.minor(amount, what)?;
    if minor < 0 {
        return Err(currency.bad_amount(
            amount.value.trim(),
            format!("{what}: a balance amount is unsigned; an overdraft is CdtDbtInd DBIT"),
        ));
    }
    let amount_minor = match parse_direction(balance.credit_debit.as_deref(), what)? {
        BankDirection::Credit => minor,
        BankDirection::Debit => -minor,
    };
    let date = balance.date.as_ref().map(|on| parse_date(on, what)).transpose()?.flatten();
    Ok(BookedBalance { amount_minor, date })
}

/// One `Ntry`; `number` counts from 1 in file order, for messages.
fn line(entry: XEntry, number: usize, currency: &Currency) -> Result<StatementLine, StatementError> {
    let what = format!("Ntry {number}");
    let amount = entry.amount.as_ref().ok_or_else(|| StatementError::Malformed(format!("{what}: Amt is missing")))?;
    let amount_minor = currency.positive_minor(amount, &what)?;
    let direction = parse_direction(entry.credit_debit.as_deref(), &what)?;
    let reversal = match entry.reversal.as_deref().map(str::trim) {
        None | Some("false") | Some("0") => false,
        Some("true") | Some("1") => true,
        Some(other) => {
            return Err(StatementError::Malformed(format!("{what}: RvslInd `{other}` is not true or false")));
        }
    };
    let status = entry
        .status
        .and_then(|s| text(s.text).or_else(|| text(s.code)).or_else(|| text(s.proprietary)))
        .ok_or_else(|| StatementError::Malformed(format!("{what}: Sts is missing")))?;
    let booking_date =
        entry.booking_date.as_ref().map(|on| parse_date(on, &format!("{what} BookgDt"))).transpose()?.flatten();
    let value_date =
        entry.value_date.as_ref().map(|on| parse_date(on, &format!("{what} ValDt"))).transpose()?.flatten();

    let mut batch_count: Option<u32> = None;
    let mut details = Vec::new();
    for entry_details in entry.entry_details {
        if let Some(raw) = entry_details.batch.and_then(|b| text(b.count)) {
            let count: u32 = raw
                .parse()
                .map_err(|_| StatementError::Malformed(format!("{what}: Btch/NbOfTxs `{raw}` is not a count")))?;
            // Several NtryDtls each describe a batch of the same entry: together
            // they are what the entry batches.
            batch_count = Some(
                batch_count
                    .unwrap_or(0)
                    .checked_add(count)
                    .ok_or_else(|| StatementError::Malformed(format!("{what}: Btch/NbOfTxs overflows")))?,
            );
        }
        for transaction in entry_details.transactions {
            if details.len() >= MAX_DETAILS_PER_LINE {
                return Err(StatementError::TooLarge {
                    what: "transaction details in one line",
                    max: MAX_DETAILS_PER_LINE,
                });
            }
            let detail_what = format!("{what} TxDtls {}", details.len() + 1);
            details.push(transaction_details(transaction, currency, &detail_what)?);
        }
    }

    Ok(StatementLine {
        amount_minor,
        currency: currency.code.clone(),
        direction,
        reversal,
        status,
        booking_date,
        value_date,
        account_servicer_ref: text(entry.account_servicer_ref),
        entry_ref: text(entry.entry_ref),
        batch_count,
        details,
        additional_info: text(entry.additional_info),
    })
}

fn transaction_details(
    transaction: XTransaction,
    currency: &Currency,
    what: &str,
) -> Result<TransactionDetails, StatementError> {
    // .001.08 has the detail's own `Amt`; `AmtDtls/TxAmt` (both versions) is
    // the amount in the account's currency, the fallback. A detail's amount is
    // supplementary to the entry's, so one in another currency (a bank putting
    // an FX payment's instructed amount there) is left out rather than
    // refusing the whole statement.
    let amount = [
        transaction.amount.as_ref(),
        transaction.amount_details.as_ref().and_then(|d| d.transaction.as_ref()?.amount.as_ref()),
    ]
    .into_iter()
    .flatten()
    .find(|a| a.currency.as_deref().map(str::trim) == Some(currency.code.as_str()));
    let amount_minor = amount.map(|a| currency.positive_minor(a, what)).transpose()?;
    let (end_to_end_id, account_servicer_ref) = match transaction.refs {
        Some(refs) => (text(refs.end_to_end_id), text(refs.account_servicer_ref)),
        None => (None, None),
    };
    let (debtor, creditor) = match transaction.parties {
        Some(p) => (party(p.debtor, p.debtor_account), party(p.creditor, p.creditor_account)),
        None => (None, None),
    };
    let remittance = match transaction.remittance {
        // The schema puts every Ustrd before every Strd, so this is file order.
        Some(r) => r
            .unstructured
            .into_iter()
            .filter_map(|u| text(Some(u)))
            .chain(r.structured.into_iter().filter_map(|s| text(s.creditor_reference?.reference)))
            .collect(),
        None => Vec::new(),
    };
    Ok(TransactionDetails { end_to_end_id, account_servicer_ref, amount_minor, debtor, creditor, remittance })
}

/// A debtor or creditor: `None` when the file names neither the party nor its account.
fn party(party: Option<XParty>, account: Option<XCashAccount>) -> Option<Party> {
    let name = party.and_then(|p| text(p.name).or_else(|| text(p.party?.name)));
    let account = account.and_then(|a| {
        let id = a.id?;
        text(id.iban).map(|i| normalize_iban(&i)).or_else(|| text(id.other?.id))
    });
    (name.is_some() || account.is_some()).then_some(Party { name, account })
}

fn parse_direction(code: Option<&str>, what: &str) -> Result<BankDirection, StatementError> {
    match code.map(str::trim) {
        Some("CRDT") => Ok(BankDirection::Credit),
        Some("DBIT") => Ok(BankDirection::Debit),
        Some(other) => Err(StatementError::Malformed(format!("{what}: CdtDbtInd `{other}` is not CRDT or DBIT"))),
        None => Err(StatementError::Malformed(format!("{what}: CdtDbtInd is missing"))),
    }
}

/// The date of a `Dt` | `DtTm` choice; `None` when the element is empty.
fn parse_date(date: &XDate, what: &str) -> Result<Option<NaiveDate>, StatementError> {
    match text(date.date.clone()).or_else(|| text(date.date_time.clone())) {
        Some(raw) => iso_date(&raw)
            .map(Some)
            .ok_or_else(|| StatementError::Malformed(format!("{what}: `{raw}` is not an ISO 8601 date or date-time"))),
        None => Ok(None),
    }
}

/// The calendar date at the start of an ISODate (`2026-11-02`, optionally with
/// a zone, as xs:date allows) or ISODateTime (`2026-11-02T10:00:00+01:00`).
/// The date is taken as written: the bank's booking day, not converted to UTC.
fn iso_date(raw: &str) -> Option<NaiveDate> {
    let (day, rest) = (raw.get(..10)?, raw.get(10..)?);
    if !(rest.is_empty() || rest.starts_with(['T', 'Z', '+', '-'])) {
        return None;
    }
    NaiveDate::parse_from_str(day, "%Y-%m-%d").ok()
}

/// Trimmed text, `None` when absent or blank.
fn text(value: Option<String>) -> Option<String> {
    let value = value?;
    let trimmed = value.trim();
    if trimmed.is_empty() {
        None
    } else if trimmed.len() == value.len() {
        Some(value)
    } else {
        Some(trimmed.to_owned())
    }
}

/// An IBAN as ISO 13616's electronic format: upper case, no spaces.
pub(super) fn normalize_iban(raw: &str) -> String {
    raw.chars().filter(|c| !c.is_whitespace()).map(|c| c.to_ascii_uppercase()).collect()
}

/// True for text shaped like an electronic-format IBAN: two letters, two check
/// digits, then up to 30 letters and digits (the check digits are not verified).
pub(super) fn looks_like_iban(raw: &str) -> bool {
    let bytes = raw.as_bytes();
    (15..=34).contains(&bytes.len())
        && bytes.iter().take(2).all(u8::is_ascii_uppercase)
        && bytes.iter().skip(2).take(2).all(u8::is_ascii_digit)
        && bytes.iter().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

// ---------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------

/// Writes `statement` as an ISO 20022 `camt.053.001.02` document; see [`render`].
pub fn render_v02(statement: &ParsedStatement, created_at: NaiveDateTime) -> String {
    render(statement, created_at, CamtVersion::V02)
}

/// Writes `statement` as an ISO 20022 `camt.053.001.08` document; see [`render`].
pub fn render_v08(statement: &ParsedStatement, created_at: NaiveDateTime) -> String {
    render(statement, created_at, CamtVersion::V08)
}

/// Writes `statement` as an ISO 20022 camt.053 document of `version`, UTF-8,
/// with `created_at` (the bank's local time, no zone) as `GrpHdr/CreDtTm` and
/// `Stmt/CreDtTm`, and `statement_id` as both `GrpHdr/MsgId` and `Stmt/Id`.
///
/// Amounts, integer minor units of their currency, are written as decimals with
/// the ISO 4217 exponent (`format_minor`); a currency unknown to ISO 4217 is
/// written with 2 decimals, and such a document does not parse back. Balances
/// are written as `OPBD`/`CLBD` with a `CdtDbtInd` for their sign; `RvslInd` only
/// when true; detail amounts as `AmtDtls/TxAmt/Amt` (.001.02) or `Amt`
/// (.001.08); parties as `Nm` (.001.02) or `Pty/Nm` (.001.08), with an account
/// as `IBAN` when shaped like one, else `Othr/Id`; every remittance line as
/// `Ustrd`. `BkTxCd`, which the schema requires, is the generic `PMNT`
/// `RCDT`/`ICDT` `OTHR`. `statement.format` is ignored.
///
/// [`parse`] of the result gives back `statement` with `format` set to the
/// version, when `statement` is something [`parse`] can produce: an account with
/// at most one of IBAN and number, no empty texts, and `Sts` codes of at most 4
/// characters for .001.08. Infallible; writes into one pre-sized `String`, so
/// tens of thousands of lines are cheap.
pub fn render(statement: &ParsedStatement, created_at: NaiveDateTime, version: CamtVersion) -> String {
    let estimate = 1_024 + statement.lines.iter().map(|l| 700 + 600 * l.details.len()).sum::<usize>();
    let mut w = XmlWriter { out: String::with_capacity(estimate), depth: 0 };
    let created = created_at.format("%Y-%m-%dT%H:%M:%S").to_string();
    let exponent = exponent_of(&statement.currency);

    w.out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    w.out.push_str("<Document xmlns=\"");
    w.out.push_str(version.namespace());
    w.out.push_str("\">\n");
    w.depth = 1;
    w.open("BkToCstmrStmt");
    w.open("GrpHdr");
    w.leaf("MsgId", &statement.statement_id);
    w.leaf("CreDtTm", &created);
    w.close("GrpHdr");
    w.open("Stmt");
    w.leaf("Id", &statement.statement_id);
    w.leaf("CreDtTm", &created);
    w.open("Acct");
    if statement.account.iban.is_some() || statement.account.number.is_some() {
        w.open("Id");
        match (&statement.account.iban, &statement.account.number) {
            (Some(iban), _) => w.leaf("IBAN", iban),
            (None, Some(number)) => {
                w.open("Othr");
                w.leaf("Id", number);
                w.close("Othr");
            }
            (None, None) => {}
        }
        w.close("Id");
    }
    if let Some(currency) = &statement.account.currency {
        w.leaf("Ccy", currency);
    }
    w.close("Acct");
    for (code, balance) in [("OPBD", &statement.opening_booked), ("CLBD", &statement.closing_booked)] {
        let Some(balance) = balance else { continue };
        w.open("Bal");
        w.open("Tp");
        w.open("CdOrPrtry");
        w.leaf("Cd", code);
        w.close("CdOrPrtry");
        w.close("Tp");
        w.amount("Amt", &statement.currency, balance.amount_minor, exponent);
        let sign = if balance.amount_minor < 0 { BankDirection::Debit } else { BankDirection::Credit };
        w.leaf("CdtDbtInd", sign.code());
        if let Some(date) = balance.date {
            // `Bal/Dt` is the choice `Dt` | `DtTm`, like `BookgDt`.
            w.open("Dt");
            w.date("Dt", date);
            w.close("Dt");
        }
        w.close("Bal");
    }
    for line in &statement.lines {
        // Lines are in the statement's currency whenever parse produced them.
        let exponent = if line.currency == statement.currency { exponent } else { exponent_of(&line.currency) };
        render_line(&mut w, line, exponent, version);
    }
    w.close("Stmt");
    w.close("BkToCstmrStmt");
    w.out.push_str("</Document>\n");
    w.out
}

fn render_line(w: &mut XmlWriter, line: &StatementLine, exponent: u32, version: CamtVersion) {
    w.open("Ntry");
    if let Some(entry_ref) = &line.entry_ref {
        w.leaf("NtryRef", entry_ref);
    }
    w.amount("Amt", &line.currency, line.amount_minor, exponent);
    w.leaf("CdtDbtInd", line.direction.code());
    if line.reversal {
        w.leaf("RvslInd", "true");
    }
    match version {
        CamtVersion::V02 => w.leaf("Sts", &line.status),
        CamtVersion::V08 => {
            w.open("Sts");
            w.leaf("Cd", &line.status);
            w.close("Sts");
        }
    }
    if let Some(date) = line.booking_date {
        w.open("BookgDt");
        w.date("Dt", date);
        w.close("BookgDt");
    }
    if let Some(date) = line.value_date {
        w.open("ValDt");
        w.date("Dt", date);
        w.close("ValDt");
    }
    if let Some(reference) = &line.account_servicer_ref {
        w.leaf("AcctSvcrRef", reference);
    }
    w.open("BkTxCd");
    w.open("Domn");
    w.leaf("Cd", "PMNT");
    w.open("Fmly");
    w.leaf("Cd", if line.direction == BankDirection::Credit { "RCDT" } else { "ICDT" });
    w.leaf("SubFmlyCd", "OTHR");
    w.close("Fmly");
    w.close("Domn");
    w.close("BkTxCd");
    if line.batch_count.is_some() || !line.details.is_empty() {
        w.open("NtryDtls");
        if let Some(count) = line.batch_count {
            w.open("Btch");
            w.leaf("NbOfTxs", &count.to_string());
            w.close("Btch");
        }
        for detail in &line.details {
            render_details(w, detail, line, exponent, version);
        }
        w.close("NtryDtls");
    }
    if let Some(info) = &line.additional_info {
        w.leaf("AddtlNtryInf", info);
    }
    w.close("Ntry");
}

fn render_details(
    w: &mut XmlWriter,
    detail: &TransactionDetails,
    line: &StatementLine,
    exponent: u32,
    version: CamtVersion,
) {
    w.open("TxDtls");
    if detail.account_servicer_ref.is_some() || detail.end_to_end_id.is_some() {
        w.open("Refs");
        if let Some(reference) = &detail.account_servicer_ref {
            w.leaf("AcctSvcrRef", reference);
        }
        if let Some(id) = &detail.end_to_end_id {
            w.leaf("EndToEndId", id);
        }
        w.close("Refs");
    }
    if let Some(minor) = detail.amount_minor {
        match version {
            CamtVersion::V02 => {
                w.open("AmtDtls");
                w.open("TxAmt");
                w.amount("Amt", &line.currency, minor, exponent);
                w.close("TxAmt");
                w.close("AmtDtls");
            }
            CamtVersion::V08 => {
                w.amount("Amt", &line.currency, minor, exponent);
                w.leaf("CdtDbtInd", line.direction.code());
            }
        }
    }
    let named = |p: &Option<Party>| p.as_ref().is_some_and(|p| p.name.is_some() || p.account.is_some());
    if named(&detail.debtor) || named(&detail.creditor) {
        w.open("RltdPties");
        for (role, party) in [("Dbtr", &detail.debtor), ("Cdtr", &detail.creditor)] {
            let Some(party) = party else { continue };
            if let Some(name) = &party.name {
                w.open(role);
                if version == CamtVersion::V08 {
                    w.open("Pty");
                }
                w.leaf("Nm", name);
                if version == CamtVersion::V08 {
                    w.close("Pty");
                }
                w.close(role);
            }
            if let Some(account) = &party.account {
                let element = if role == "Dbtr" { "DbtrAcct" } else { "CdtrAcct" };
                w.open(element);
                w.open("Id");
                if looks_like_iban(account) {
                    w.leaf("IBAN", account);
                } else {
                    w.open("Othr");
                    w.leaf("Id", account);
                    w.close("Othr");
                }
                w.close("Id");
                w.close(element);
            }
        }
        w.close("RltdPties");
    }
    if !detail.remittance.is_empty() {
        w.open("RmtInf");
        for remittance in &detail.remittance {
            w.leaf("Ustrd", remittance);
        }
        w.close("RmtInf");
    }
    w.close("TxDtls");
}

/// The ISO 4217 exponent of `code`; 2 for a code ISO 4217 does not know.
fn exponent_of(code: &str) -> u32 {
    Asset::iso4217(code).map_or(2, |a| a.exponent)
}

/// An indenting writer of elements into one `String`.
struct XmlWriter {
    out: String,
    depth: usize,
}

impl XmlWriter {
    fn indent(&mut self) {
        for _ in 0..self.depth {
            self.out.push_str("  ");
        }
    }

    fn open(&mut self, name: &str) {
        self.indent();
        self.out.push('<');
        self.out.push_str(name);
        self.out.push_str(">\n");
        self.depth += 1;
    }

    fn close(&mut self, name: &str) {
        self.depth = self.depth.saturating_sub(1);
        self.indent();
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push_str(">\n");
    }

    fn leaf(&mut self, name: &str, value: &str) {
        self.indent();
        self.out.push('<');
        self.out.push_str(name);
        self.out.push('>');
        self.out.push_str(&escape(value));
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push_str(">\n");
    }

    /// `<name Ccy="EUR">12.34</name>` of the magnitude of `minor`: ISO amounts
    /// are unsigned, the sign goes into `CdtDbtInd`.
    fn amount(&mut self, name: &str, currency: &str, minor: i64, exponent: u32) {
        let formatted = format_minor(minor, exponent);
        self.indent();
        self.out.push('<');
        self.out.push_str(name);
        self.out.push_str(" Ccy=\"");
        self.out.push_str(&escape(currency));
        self.out.push_str("\">");
        self.out.push_str(formatted.strip_prefix('-').unwrap_or(&formatted));
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push_str(">\n");
    }

    fn date(&mut self, name: &str, date: NaiveDate) {
        self.indent();
        // Writing into a String cannot fail.
        let _ = writeln!(self.out, "<{name}>{}</{name}>", date.format("%Y-%m-%d"));
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    /// A day's statement of a German platform account in camt.053.001.02, as a
    /// bank sends it: namespace prefix-free, GrpHdr, interim balance types that
    /// are ignored, a batched card-processor settlement with three payments, a
    /// returned direct debit (reversal of a debit), a pending entry.
    const V02: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <BkToCstmrStmt>
    <GrpHdr>
      <MsgId>CAMT053-20261102-0001</MsgId>
      <CreDtTm>2026-11-03T06:15:00</CreDtTm>
      <MsgPgntn><PgNb>1</PgNb><LastPgInd>true</LastPgInd></MsgPgntn>
    </GrpHdr>
    <Stmt>
      <Id>STMT-2026-11-02-DE89</Id>
      <ElctrncSeqNb>214</ElctrncSeqNb>
      <CreDtTm>2026-11-03T06:15:00</CreDtTm>
      <FrToDt><FrDtTm>2026-11-02T00:00:00</FrDtTm><ToDtTm>2026-11-02T23:59:59</ToDtTm></FrToDt>
      <Acct>
        <Id><IBAN>de89 3704 0044 0532 0130 00</IBAN></Id>
        <Ccy>EUR</Ccy>
        <Ownr><Nm>Example Payments GmbH</Nm></Ownr>
        <Svcr><FinInstnId><BIC>COBADEFFXXX</BIC></FinInstnId></Svcr>
      </Acct>
      <Bal>
        <Tp><CdOrPrtry><Cd>PRCD</Cd></CdOrPrtry></Tp>
        <Amt Ccy="EUR">99999.99</Amt>
        <CdtDbtInd>CRDT</CdtDbtInd>
        <Dt><Dt>2026-11-01</Dt></Dt>
      </Bal>
      <Bal>
        <Tp><CdOrPrtry><Cd>OPBD</Cd></CdOrPrtry></Tp>
        <Amt Ccy="EUR">1000.00</Amt>
        <CdtDbtInd>CRDT</CdtDbtInd>
        <Dt><Dt>2026-11-02</Dt></Dt>
      </Bal>
      <Bal>
        <Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp>
        <Amt Ccy="EUR">1335.50</Amt>
        <CdtDbtInd>CRDT</CdtDbtInd>
        <Dt><DtTm>2026-11-02T23:59:59+01:00</DtTm></Dt>
      </Bal>
      <TxsSummry><TtlNtries><NbOfNtries>3</NbOfNtries></TtlNtries></TxsSummry>
      <Ntry>
        <NtryRef>1</NtryRef>
        <Amt Ccy="EUR">300.50</Amt>
        <CdtDbtInd>CRDT</CdtDbtInd>
        <Sts>BOOK</Sts>
        <BookgDt><Dt>2026-11-02</Dt></BookgDt>
        <ValDt><Dt>2026-11-03</Dt></ValDt>
        <AcctSvcrRef>2026110200001</AcctSvcrRef>
        <BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>RCDT</Cd><SubFmlyCd>ESCT</SubFmlyCd></Fmly></Domn></BkTxCd>
        <NtryDtls>
          <Btch><NbOfTxs>3</NbOfTxs><TtlAmt Ccy="EUR">300.50</TtlAmt></Btch>
          <TxDtls>
            <Refs><AcctSvcrRef>TX-1</AcctSvcrRef><EndToEndId>E2E-0001</EndToEndId></Refs>
            <AmtDtls><TxAmt><Amt Ccy="EUR">100.00</Amt></TxAmt></AmtDtls>
            <RltdPties>
              <Dbtr><Nm>Alice Example</Nm></Dbtr>
              <DbtrAcct><Id><IBAN>FR14 2004 1010 0505 0001 3M02 606</IBAN></Id></DbtrAcct>
              <Cdtr><Nm>Example Payments GmbH</Nm></Cdtr>
            </RltdPties>
            <RmtInf><Ustrd>Order 4711</Ustrd><Ustrd>thank you &amp; bye</Ustrd></RmtInf>
          </TxDtls>
          <TxDtls>
            <Refs><EndToEndId>E2E-0002</EndToEndId></Refs>
            <AmtDtls><InstdAmt><Amt Ccy="USD">250.00</Amt></InstdAmt><TxAmt><Amt Ccy="EUR">200.00</Amt></TxAmt></AmtDtls>
            <RltdPties>
              <Dbtr><Nm>Bob Example</Nm></Dbtr>
              <DbtrAcct><Id><Othr><Id>123456789</Id></Othr></Id></DbtrAcct>
            </RltdPties>
            <RmtInf><Strd><CdtrRefInf><Tp><CdOrPrtry><Cd>SCOR</Cd></CdOrPrtry></Tp><Ref>RF18539007547034</Ref></CdtrRefInf></Strd></RmtInf>
          </TxDtls>
          <TxDtls>
            <Refs><EndToEndId>NOTPROVIDED</EndToEndId></Refs>
            <AmtDtls><TxAmt><Amt Ccy="EUR">0.50</Amt></TxAmt></AmtDtls>
          </TxDtls>
        </NtryDtls>
        <AddtlNtryInf>SAMMLER-GUTSCHRIFT 3 POSTEN</AddtlNtryInf>
      </Ntry>
      <Ntry>
        <Amt Ccy="EUR">35.00</Amt>
        <CdtDbtInd>CRDT</CdtDbtInd>
        <RvslInd>true</RvslInd>
        <Sts>BOOK</Sts>
        <BookgDt><Dt>2026-11-02</Dt></BookgDt>
        <ValDt><Dt>2026-11-02</Dt></ValDt>
        <AcctSvcrRef>2026110200002</AcctSvcrRef>
        <BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>IDDT</Cd><SubFmlyCd>UPDD</SubFmlyCd></Fmly></Domn></BkTxCd>
        <NtryDtls>
          <TxDtls>
            <Refs><EndToEndId>DD-778</EndToEndId></Refs>
            <RltdPties>
              <Cdtr><Nm>Utility AG</Nm></Cdtr>
              <CdtrAcct><Id><IBAN>DE02120300000000202051</IBAN></Id></CdtrAcct>
            </RltdPties>
            <RmtInf><Ustrd>RUECKLASTSCHRIFT AC04</Ustrd></RmtInf>
          </TxDtls>
        </NtryDtls>
        <AddtlNtryInf>RUECKBUCHUNG LASTSCHRIFT</AddtlNtryInf>
      </Ntry>
      <Ntry>
        <Amt Ccy="EUR">1000.00</Amt>
        <CdtDbtInd>DBIT</CdtDbtInd>
        <Sts>PDNG</Sts>
        <BookgDt><DtTm>2026-11-02T16:30:00</DtTm></BookgDt>
        <BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>ICDT</Cd><SubFmlyCd>ESCT</SubFmlyCd></Fmly></Domn></BkTxCd>
      </Ntry>
    </Stmt>
  </BkToCstmrStmt>
</Document>
"#;

    /// The same kind of day in camt.053.001.08, with a namespace prefix, a
    /// `Sts/Cd`, `Pty/Nm` parties, detail `Amt`s, an `Othr` account, and a
    /// batch split over two `NtryDtls`.
    const V08: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<ns2:Document xmlns:ns2="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08">
  <ns2:BkToCstmrStmt>
    <ns2:GrpHdr><ns2:MsgId>MSG-8</ns2:MsgId><ns2:CreDtTm>2026-11-03T06:00:00.000+01:00</ns2:CreDtTm></ns2:GrpHdr>
    <ns2:Stmt>
      <ns2:Id>2026-11-02-001</ns2:Id>
      <ns2:CreDtTm>2026-11-03T06:00:00.000+01:00</ns2:CreDtTm>
      <ns2:Acct>
        <ns2:Id><ns2:Othr><ns2:Id>0532013000</ns2:Id><ns2:SchmeNm><ns2:Cd>BBAN</ns2:Cd></ns2:SchmeNm></ns2:Othr></ns2:Id>
      </ns2:Acct>
      <ns2:Bal>
        <ns2:Tp><ns2:CdOrPrtry><ns2:Cd>OPBD</ns2:Cd></ns2:CdOrPrtry></ns2:Tp>
        <ns2:Amt Ccy="EUR">50.00</ns2:Amt>
        <ns2:CdtDbtInd>DBIT</ns2:CdtDbtInd>
        <ns2:Dt><ns2:Dt>2026-11-02</ns2:Dt></ns2:Dt>
      </ns2:Bal>
      <ns2:Bal>
        <ns2:Tp><ns2:CdOrPrtry><ns2:Cd>CLBD</ns2:Cd></ns2:CdOrPrtry></ns2:Tp>
        <ns2:Amt Ccy="EUR">285.50</ns2:Amt>
        <ns2:CdtDbtInd>CRDT</ns2:CdtDbtInd>
        <ns2:Dt><ns2:Dt>2026-11-02</ns2:Dt></ns2:Dt>
      </ns2:Bal>
      <ns2:Ntry>
        <ns2:NtryRef>A1</ns2:NtryRef>
        <ns2:Amt Ccy="EUR">300.50</ns2:Amt>
        <ns2:CdtDbtInd>CRDT</ns2:CdtDbtInd>
        <ns2:RvslInd>false</ns2:RvslInd>
        <ns2:Sts><ns2:Cd>BOOK</ns2:Cd></ns2:Sts>
        <ns2:BookgDt><ns2:Dt>2026-11-02</ns2:Dt></ns2:BookgDt>
        <ns2:ValDt><ns2:DtTm>2026-11-02T10:00:00Z</ns2:DtTm></ns2:ValDt>
        <ns2:AcctSvcrRef>BANKREF-1</ns2:AcctSvcrRef>
        <ns2:BkTxCd><ns2:Prtry><ns2:Cd>NTRF+166</ns2:Cd></ns2:Prtry></ns2:BkTxCd>
        <ns2:NtryDtls>
          <ns2:Btch><ns2:NbOfTxs>2</ns2:NbOfTxs></ns2:Btch>
          <ns2:TxDtls>
            <ns2:Refs><ns2:EndToEndId>E2E-A</ns2:EndToEndId><ns2:UETR>8a562c67-ca16-48ba-b074-65581be6f011</ns2:UETR></ns2:Refs>
            <ns2:Amt Ccy="EUR">100.00</ns2:Amt>
            <ns2:CdtDbtInd>CRDT</ns2:CdtDbtInd>
            <ns2:RltdPties>
              <ns2:Dbtr><ns2:Pty><ns2:Nm>Alice Example</ns2:Nm></ns2:Pty></ns2:Dbtr>
              <ns2:DbtrAcct><ns2:Id><ns2:IBAN>FR1420041010050500013M02606</ns2:IBAN></ns2:Id></ns2:DbtrAcct>
            </ns2:RltdPties>
            <ns2:RmtInf><ns2:Ustrd>Order 1</ns2:Ustrd></ns2:RmtInf>
          </ns2:TxDtls>
          <ns2:TxDtls>
            <ns2:Refs><ns2:EndToEndId>E2E-B</ns2:EndToEndId></ns2:Refs>
            <ns2:Amt Ccy="EUR">200.00</ns2:Amt>
            <ns2:CdtDbtInd>CRDT</ns2:CdtDbtInd>
            <ns2:RltdPties><ns2:Dbtr><ns2:Nm>Bob Example</ns2:Nm></ns2:Dbtr></ns2:RltdPties>
            <ns2:RmtInf><ns2:Ustrd>Order 2</ns2:Ustrd></ns2:RmtInf>
          </ns2:TxDtls>
        </ns2:NtryDtls>
        <ns2:NtryDtls>
          <ns2:Btch><ns2:NbOfTxs>1</ns2:NbOfTxs></ns2:Btch>
          <ns2:TxDtls>
            <ns2:Refs><ns2:EndToEndId>E2E-C</ns2:EndToEndId></ns2:Refs>
            <ns2:AmtDtls><ns2:TxAmt><ns2:Amt Ccy="EUR">0.50</ns2:Amt></ns2:TxAmt></ns2:AmtDtls>
            <ns2:RmtInf><ns2:Ustrd>Order 3</ns2:Ustrd></ns2:RmtInf>
          </ns2:TxDtls>
        </ns2:NtryDtls>
      </ns2:Ntry>
      <ns2:Ntry>
        <ns2:Amt Ccy="EUR">35.00</ns2:Amt>
        <ns2:CdtDbtInd>CRDT</ns2:CdtDbtInd>
        <ns2:RvslInd>true</ns2:RvslInd>
        <ns2:Sts><ns2:Cd>BOOK</ns2:Cd></ns2:Sts>
        <ns2:BookgDt><ns2:Dt>2026-11-02</ns2:Dt></ns2:BookgDt>
        <ns2:AcctSvcrRef>BANKREF-2</ns2:AcctSvcrRef>
        <ns2:AddtlNtryInf>Return of direct debit DD-778</ns2:AddtlNtryInf>
      </ns2:Ntry>
      <ns2:Ntry>
        <ns2:Amt Ccy="EUR">70.00</ns2:Amt>
        <ns2:CdtDbtInd>DBIT</ns2:CdtDbtInd>
        <ns2:Sts><ns2:Cd>PDNG</ns2:Cd></ns2:Sts>
        <ns2:BookgDt><ns2:Dt>2026-11-02</ns2:Dt></ns2:BookgDt>
      </ns2:Ntry>
    </ns2:Stmt>
  </ns2:BkToCstmrStmt>
</ns2:Document>
"#;

    fn err(doc: &str) -> StatementError {
        parse(doc.as_bytes()).expect_err("the document must be refused")
    }

    #[test]
    fn reads_a_v02_statement_field_by_field() {
        let s = parse(V02.as_bytes()).unwrap();
        assert_eq!(s.format, "camt.053.001.02");
        assert_eq!(s.statement_id, "STMT-2026-11-02-DE89");
        assert_eq!(
            s.account,
            StatementAccount {
                iban: Some("DE89370400440532013000".into()),
                number: None,
                currency: Some("EUR".into())
            }
        );
        assert_eq!(s.currency, "EUR");
        assert_eq!(s.opening_booked, Some(BookedBalance { amount_minor: 100_000, date: Some(d(2026, 11, 2)) }));
        assert_eq!(s.closing_booked, Some(BookedBalance { amount_minor: 133_550, date: Some(d(2026, 11, 2)) }));
        assert_eq!(s.lines.len(), 3);

        let batch = &s.lines[0];
        assert_eq!(batch.amount_minor, 30_050);
        assert_eq!(batch.currency, "EUR");
        assert_eq!(batch.direction, BankDirection::Credit);
        assert!(!batch.reversal);
        assert_eq!(batch.status, "BOOK");
        assert_eq!(batch.booking_date, Some(d(2026, 11, 2)));
        assert_eq!(batch.value_date, Some(d(2026, 11, 3)));
        assert_eq!(batch.account_servicer_ref.as_deref(), Some("2026110200001"));
        assert_eq!(batch.entry_ref.as_deref(), Some("1"));
        assert_eq!(batch.batch_count, Some(3));
        assert_eq!(batch.additional_info.as_deref(), Some("SAMMLER-GUTSCHRIFT 3 POSTEN"));
        assert_eq!(
            batch.details,
            vec![
                TransactionDetails {
                    end_to_end_id: Some("E2E-0001".into()),
                    account_servicer_ref: Some("TX-1".into()),
                    amount_minor: Some(10_000),
                    debtor: Some(Party {
                        name: Some("Alice Example".into()),
                        account: Some("FR1420041010050500013M02606".into())
                    }),
                    creditor: Some(Party { name: Some("Example Payments GmbH".into()), account: None }),
                    remittance: vec!["Order 4711".into(), "thank you & bye".into()],
                },
                TransactionDetails {
                    end_to_end_id: Some("E2E-0002".into()),
                    account_servicer_ref: None,
                    // TxAmt, not the instructed USD amount.
                    amount_minor: Some(20_000),
                    debtor: Some(Party { name: Some("Bob Example".into()), account: Some("123456789".into()) }),
                    creditor: None,
                    remittance: vec!["RF18539007547034".into()],
                },
                TransactionDetails {
                    end_to_end_id: Some("NOTPROVIDED".into()),
                    amount_minor: Some(50),
                    ..TransactionDetails::default()
                },
            ]
        );

        let reversal = &s.lines[1];
        assert_eq!(reversal.amount_minor, 3_500);
        assert_eq!(reversal.direction, BankDirection::Credit);
        assert!(reversal.reversal);
        assert_eq!(reversal.status, "BOOK");
        assert_eq!(reversal.value_date, Some(d(2026, 11, 2)));
        assert_eq!(reversal.account_servicer_ref.as_deref(), Some("2026110200002"));
        assert_eq!(reversal.entry_ref, None);
        assert_eq!(reversal.batch_count, None);
        assert_eq!(
            reversal.details,
            vec![TransactionDetails {
                end_to_end_id: Some("DD-778".into()),
                creditor: Some(Party {
                    name: Some("Utility AG".into()),
                    account: Some("DE02120300000000202051".into())
                }),
                remittance: vec!["RUECKLASTSCHRIFT AC04".into()],
                ..TransactionDetails::default()
            }]
        );
        assert_eq!(reversal.additional_info.as_deref(), Some("RUECKBUCHUNG LASTSCHRIFT"));

        let pending = &s.lines[2];
        assert_eq!(pending.amount_minor, 100_000);
        assert_eq!(pending.direction, BankDirection::Debit);
        assert_eq!(pending.status, "PDNG");
        assert_eq!(pending.booking_date, Some(d(2026, 11, 2)));
        assert_eq!(pending.value_date, None);
        assert_eq!(pending.account_servicer_ref, None);
        assert!(pending.details.is_empty());
        assert_eq!(pending.additional_info, None);

        // Opening 1000.00, booked +335.50 (the pending 1000.00 is not), closing 1335.50.
        assert_eq!(s.booked_net_minor(), Some(33_550));
    }

    #[test]
    fn reads_a_v08_statement_field_by_field() {
        let s = parse(V08.as_bytes()).unwrap();
        assert_eq!(s.format, "camt.053.001.08");
        assert_eq!(s.statement_id, "2026-11-02-001");
        assert_eq!(s.account, StatementAccount { iban: None, number: Some("0532013000".into()), currency: None });
        // No Acct/Ccy: the first booked balance's.
        assert_eq!(s.currency, "EUR");
        assert_eq!(s.opening_booked, Some(BookedBalance { amount_minor: -5_000, date: Some(d(2026, 11, 2)) }));
        assert_eq!(s.closing_booked, Some(BookedBalance { amount_minor: 28_550, date: Some(d(2026, 11, 2)) }));
        assert_eq!(s.lines.len(), 3);

        let batch = &s.lines[0];
        assert_eq!(batch.amount_minor, 30_050);
        assert_eq!(batch.direction, BankDirection::Credit);
        assert!(!batch.reversal);
        assert_eq!(batch.status, "BOOK");
        assert_eq!(batch.booking_date, Some(d(2026, 11, 2)));
        assert_eq!(batch.value_date, Some(d(2026, 11, 2)));
        assert_eq!(batch.account_servicer_ref.as_deref(), Some("BANKREF-1"));
        assert_eq!(batch.entry_ref.as_deref(), Some("A1"));
        assert_eq!(batch.batch_count, Some(3));
        assert_eq!(batch.additional_info, None);
        assert_eq!(
            batch.details,
            vec![
                TransactionDetails {
                    end_to_end_id: Some("E2E-A".into()),
                    amount_minor: Some(10_000),
                    debtor: Some(Party {
                        name: Some("Alice Example".into()),
                        account: Some("FR1420041010050500013M02606".into())
                    }),
                    remittance: vec!["Order 1".into()],
                    ..TransactionDetails::default()
                },
                TransactionDetails {
                    end_to_end_id: Some("E2E-B".into()),
                    amount_minor: Some(20_000),
                    debtor: Some(Party { name: Some("Bob Example".into()), account: None }),
                    remittance: vec!["Order 2".into()],
                    ..TransactionDetails::default()
                },
                TransactionDetails {
                    end_to_end_id: Some("E2E-C".into()),
                    amount_minor: Some(50),
                    remittance: vec!["Order 3".into()],
                    ..TransactionDetails::default()
                },
            ]
        );

        let reversal = &s.lines[1];
        assert!(reversal.reversal);
        assert_eq!(reversal.direction, BankDirection::Credit);
        assert_eq!(reversal.amount_minor, 3_500);
        assert_eq!(reversal.value_date, None);
        assert_eq!(reversal.additional_info.as_deref(), Some("Return of direct debit DD-778"));
        assert!(reversal.details.is_empty());

        let pending = &s.lines[2];
        assert_eq!(pending.status, "PDNG");
        assert_eq!(pending.direction, BankDirection::Debit);
        assert_eq!(pending.amount_minor, 7_000);

        // Opening -50.00, booked +335.50, closing 285.50; the pending 70.00 is not booked.
        assert_eq!(s.booked_net_minor(), Some(33_550));
    }

    #[test]
    fn accepts_the_other_versions_status_shape_and_a_bom() {
        let v02_with_cd = V02.replacen("<Sts>BOOK</Sts>", "<Sts><Cd>BOOK</Cd></Sts>", 1);
        assert_eq!(parse(v02_with_cd.as_bytes()).unwrap().lines[0].status, "BOOK");
        let v08_with_text = V08.replacen("<ns2:Sts><ns2:Cd>PDNG</ns2:Cd></ns2:Sts>", "<ns2:Sts>PDNG</ns2:Sts>", 1);
        assert_eq!(parse(v08_with_text.as_bytes()).unwrap().lines[2].status, "PDNG");
        let with_bom = [b"\xEF\xBB\xBF".as_slice(), V02.as_bytes()].concat();
        assert_eq!(parse(&with_bom).unwrap(), parse(V02.as_bytes()).unwrap());
        // The dispatcher in mod.rs sends XML here too.
        assert_eq!(super::super::parse(V08.as_bytes(), None).unwrap().format, "camt.053.001.08");
    }

    #[test]
    fn refuses_what_is_not_xml_or_is_truncated() {
        assert!(matches!(err("Datum;Betrag\n01.11.2026;10,00\n"), StatementError::Malformed(_)));
        assert!(matches!(err(""), StatementError::Malformed(_)));
        assert!(
            matches!(err("<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:camt.053.001.02\"><a></b></Document>"), StatementError::Malformed(m) if m.contains("</b>"))
        );
        let cut = &V02[..V02.find("<AddtlNtryInf>SAMMLER").unwrap()];
        match err(cut) {
            StatementError::Malformed(m) => assert!(m.contains("not found before end of input"), "{m}"),
            other => panic!("{other:?}"),
        }
        let not_utf8 = [V02.as_bytes(), b"\xFF"].concat();
        assert!(matches!(parse(&not_utf8), Err(StatementError::Malformed(m)) if m.contains("UTF-8")));
        let two_roots = format!("{V02}<Document/>");
        assert!(matches!(err(&two_roots), StatementError::Malformed(m) if m.contains("second root")));
    }

    #[test]
    fn refuses_other_namespaces() {
        let camt052 = V02.replace("camt.053.001.02", "camt.052.001.02");
        assert_eq!(
            err(&camt052),
            StatementError::UnsupportedFormat("urn:iso:std:iso:20022:tech:xsd:camt.052.001.02".into())
        );
        let v04 = V02.replace("camt.053.001.02", "camt.053.001.04");
        assert!(matches!(err(&v04), StatementError::UnsupportedFormat(ns) if ns.ends_with("camt.053.001.04")));
        assert!(matches!(err("<Document><BkToCstmrStmt/></Document>"), StatementError::UnsupportedFormat(_)));
    }

    #[test]
    fn refuses_unknown_currencies_and_bad_amounts() {
        assert_eq!(
            err(&V02.replace("<Ccy>EUR</Ccy>", "<Ccy>EUX</Ccy>")),
            StatementError::UnknownCurrency("EUX".into())
        );
        assert_eq!(
            err(&V02.replace("<Amt Ccy=\"EUR\">35.00</Amt>", "<Amt Ccy=\"ABC\">35.00</Amt>")),
            StatementError::UnknownCurrency("ABC".into())
        );
        assert_eq!(
            err(&V02.replace("<Amt Ccy=\"EUR\">35.00</Amt>", "<Amt Ccy=\"USD\">35.00</Amt>")),
            StatementError::MixedCurrencies { statement: "EUR".into(), line: "USD".into() }
        );
        match err(&V02.replace(">35.00<", ">10.001<")) {
            StatementError::BadAmount { raw, currency, reason } => {
                assert_eq!((raw.as_str(), currency.as_str()), ("10.001", "EUR"));
                assert!(reason.contains("decimal places"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        assert!(
            matches!(err(&V02.replace(">35.00<", ">-35.00<")), StatementError::BadAmount { raw, .. } if raw == "-35.00")
        );
        assert!(
            matches!(err(&V02.replace(">35.00<", ">0.00<")), StatementError::BadAmount { raw, .. } if raw == "0.00")
        );
        assert!(matches!(err(&V02.replace(">35.00<", ">abc<")), StatementError::BadAmount { .. }));
        // A detail's amount follows the same rules.
        assert!(
            matches!(err(&V02.replace(">0.50<", ">0.505<")), StatementError::BadAmount { raw, .. } if raw == "0.505")
        );
    }

    #[test]
    fn refuses_a_missing_id_and_other_than_one_statement() {
        let no_id = V02.replace("<Id>STMT-2026-11-02-DE89</Id>", "");
        assert!(matches!(err(&no_id), StatementError::Malformed(m) if m.contains("Stmt/Id")));
        let start = V02.find("<Stmt>").unwrap();
        let end = V02.find("</Stmt>").unwrap() + "</Stmt>".len();
        let two = format!("{}{}{}", &V02[..end], &V02[start..end], &V02[end..]);
        assert!(matches!(err(&two), StatementError::Malformed(m) if m.starts_with("2 ")));
        let none = format!("{}{}", &V02[..start], &V02[end..]);
        assert!(matches!(err(&none), StatementError::Malformed(m) if m.contains("exactly one")));
    }

    #[test]
    fn leaves_out_a_detail_amount_in_another_currency() {
        let fx = V08.replacen(
            "<ns2:Amt Ccy=\"EUR\">200.00</ns2:Amt>",
            "<ns2:Amt Ccy=\"USD\">230.00</ns2:Amt>\
             <ns2:AmtDtls><ns2:TxAmt><ns2:Amt Ccy=\"EUR\">200.00</ns2:Amt></ns2:TxAmt></ns2:AmtDtls>",
            1,
        );
        assert_eq!(parse(fx.as_bytes()).unwrap().lines[0].details[1].amount_minor, Some(20_000));
        let fx_only = V08.replacen("<ns2:Amt Ccy=\"EUR\">200.00</ns2:Amt>", "<ns2:Amt Ccy=\"USD\">230.00</ns2:Amt>", 1);
        assert_eq!(parse(fx_only.as_bytes()).unwrap().lines[0].details[1].amount_minor, None);
    }

    #[test]
    fn refuses_broken_entries() {
        let bad_direction = V02.replacen("<CdtDbtInd>DBIT</CdtDbtInd>", "<CdtDbtInd>DEBIT</CdtDbtInd>", 1);
        assert!(matches!(err(&bad_direction), StatementError::Malformed(m) if m.contains("Ntry 3")));
        let no_status = V02.replacen("<Sts>PDNG</Sts>", "", 1);
        assert!(matches!(err(&no_status), StatementError::Malformed(m) if m.contains("Ntry 3: Sts")));
        let bad_date = V02.replacen("<Dt>2026-11-03</Dt>", "<Dt>03.11.2026</Dt>", 1);
        assert!(matches!(err(&bad_date), StatementError::Malformed(m) if m.contains("03.11.2026")));
        let bad_reversal = V02.replacen("<RvslInd>true</RvslInd>", "<RvslInd>yes</RvslInd>", 1);
        assert!(matches!(err(&bad_reversal), StatementError::Malformed(_)));
        let two_openings = V02.replacen("<Cd>PRCD</Cd>", "<Cd>OPBD</Cd>", 1);
        assert!(matches!(err(&two_openings), StatementError::Malformed(m) if m.contains("OPBD")));
    }

    #[test]
    fn refuses_too_many_entries_or_details_before_building_them() {
        let document = |body: String| {
            format!(
                "<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:camt.053.001.08\"><BkToCstmrStmt><Stmt>\
                 <Id>S</Id>{body}</Stmt></BkToCstmrStmt></Document>"
            )
        };
        let entries = document("<Ntry/>".repeat(MAX_STATEMENT_LINES + 1));
        assert_eq!(err(&entries), StatementError::TooLarge { what: "lines", max: MAX_STATEMENT_LINES });
        let details =
            document(format!("<Ntry><NtryDtls>{}</NtryDtls></Ntry>", "<TxDtls/>".repeat(MAX_DETAILS_PER_LINE + 1)));
        assert!(matches!(err(&details), StatementError::TooLarge { max: MAX_DETAILS_PER_LINE, .. }));
        // The limit on details is per entry, over all of its NtryDtls.
        let split = document(format!(
            "<Ntry><NtryDtls>{0}</NtryDtls><NtryDtls>{0}</NtryDtls></Ntry>",
            "<TxDtls/>".repeat(MAX_DETAILS_PER_LINE / 2 + 1)
        ));
        assert!(matches!(err(&split), StatementError::TooLarge { max: MAX_DETAILS_PER_LINE, .. }));
    }

    fn sample(format: &str, lines: usize) -> ParsedStatement {
        let lines = (0..lines)
            .map(|i| {
                let i64_i = i64::try_from(i).unwrap();
                StatementLine {
                    amount_minor: 1 + i64_i * 7,
                    currency: "EUR".into(),
                    direction: if i % 3 == 0 { BankDirection::Debit } else { BankDirection::Credit },
                    reversal: i % 5 == 0,
                    status: if i % 4 == 0 { "PDNG".into() } else { "BOOK".into() },
                    booking_date: Some(d(2026, 11, 2)),
                    value_date: (i % 2 == 0).then(|| d(2026, 11, 3)),
                    account_servicer_ref: Some(format!("REF-{i}")),
                    entry_ref: (i % 2 == 1).then(|| format!("{i}")),
                    batch_count: (i % 3 == 1).then_some(2),
                    details: if i % 3 == 1 {
                        vec![
                            TransactionDetails {
                                end_to_end_id: Some(format!("E2E-{i}-a")),
                                account_servicer_ref: Some("X<&>\"'".into()),
                                amount_minor: Some(1),
                                debtor: Some(Party {
                                    name: Some("Zoë & Co".into()),
                                    account: Some("DE89370400440532013000".into()),
                                }),
                                creditor: Some(Party { name: None, account: Some("12-345".into()) }),
                                remittance: vec!["one".into(), "RF18539007547034".into()],
                            },
                            TransactionDetails { end_to_end_id: Some(format!("E2E-{i}-b")), ..Default::default() },
                        ]
                    } else {
                        Vec::new()
                    },
                    additional_info: (i % 2 == 0).then(|| "Gutschrift <SEPA>".into()),
                }
            })
            .collect();
        ParsedStatement {
            format: format.into(),
            statement_id: "STMT-1".into(),
            account: StatementAccount {
                iban: Some("DE89370400440532013000".into()),
                number: None,
                currency: Some("EUR".into()),
            },
            currency: "EUR".into(),
            opening_booked: Some(BookedBalance { amount_minor: -123_456, date: Some(d(2026, 11, 1)) }),
            closing_booked: Some(BookedBalance { amount_minor: 0, date: None }),
            lines,
        }
    }

    fn created() -> NaiveDateTime {
        d(2026, 11, 3).and_hms_opt(6, 15, 0).unwrap()
    }

    #[test]
    fn round_trips_v02() {
        let statement = sample("camt.053.001.02", 40);
        let xml = render_v02(&statement, created());
        assert!(xml.contains("xmlns=\"urn:iso:std:iso:20022:tech:xsd:camt.053.001.02\""));
        assert_eq!(parse(xml.as_bytes()).unwrap(), statement);
    }

    #[test]
    fn round_trips_v08() {
        let mut statement = sample("camt.053.001.08", 40);
        statement.account = StatementAccount { iban: None, number: Some("0532013000".into()), currency: None };
        statement.opening_booked = None;
        let xml = render(&statement, created(), CamtVersion::V08);
        assert!(xml.contains("<Sts>\n"));
        assert_eq!(parse(xml.as_bytes()).unwrap(), statement);
        assert_eq!(render_v08(&statement, created()), xml);
    }

    #[test]
    fn round_trips_ten_thousand_lines() {
        let statement = sample("camt.053.001.08", 10_000);
        let xml = render_v08(&statement, created());
        let parsed = parse(xml.as_bytes()).unwrap();
        // Compared line by line: a whole-statement diff of 10,000 lines is unreadable.
        let first_difference = parsed.lines.iter().zip(&statement.lines).position(|(a, b)| a != b);
        assert_eq!(first_difference, None);
        assert_eq!(parsed, statement);
    }

    #[test]
    fn round_trips_an_empty_day_and_a_zero_exponent_currency() {
        let mut statement = sample("camt.053.001.02", 0);
        assert_eq!(parse(render_v02(&statement, created()).as_bytes()).unwrap(), statement);
        statement.currency = "JPY".into();
        statement.account.currency = Some("JPY".into());
        statement.lines = sample("camt.053.001.02", 3).lines;
        for line in &mut statement.lines {
            line.currency = "JPY".into();
        }
        let xml = render_v02(&statement, created());
        assert!(xml.contains("<Amt Ccy=\"JPY\">123456</Amt>"));
        assert_eq!(parse(xml.as_bytes()).unwrap(), statement);
    }

    #[test]
    fn reads_dates_and_date_times() {
        assert_eq!(iso_date("2026-11-02"), Some(d(2026, 11, 2)));
        assert_eq!(iso_date("2026-11-02+01:00"), Some(d(2026, 11, 2)));
        assert_eq!(iso_date("2026-11-02T23:30:00-05:00"), Some(d(2026, 11, 2)));
        assert_eq!(iso_date("2026-11-02T10:00:00"), Some(d(2026, 11, 2)));
        assert_eq!(iso_date("2026-11-0"), None);
        assert_eq!(iso_date("2026-11-02 10:00"), None);
        assert_eq!(iso_date("2026-13-02"), None);
        assert_eq!(iso_date("2026-11-0é"), None);
    }
}
