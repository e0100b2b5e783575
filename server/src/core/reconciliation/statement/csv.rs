//! A bank's CSV export, read through a named per-bank [`CsvProfile`] that says
//! which column holds what and how dates and numbers are written.
//!
//! A CSV file has no statement id, no balance types and no status: every row is
//! a booked line (`BOOK`), the statement id is the SHA-256 of the file, and the
//! booked balances come from a running-balance column when the bank exports one,
//! which is then checked row by row.

use std::fmt::Write as _;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::camt::{looks_like_iban, normalize_iban};
use super::{
    BankDirection, BookedBalance, MAX_STATEMENT_LINES, ParsedStatement, StatementAccount, StatementError,
    StatementLine, TransactionDetails,
};
use crate::domain::Asset;
use crate::domain::money::{format_minor, parse_signed_minor};

/// How a bank's CSV export is read: one per bank (and per export layout), named.
///
/// Columns are named by their header text (compared after trimming, case
/// sensitive) when `has_header` is true, the default; when the file has no
/// header row they are named by their zero-based index written as text (`"0"`,
/// `"4"`). Stored and exchanged as JSON, e.g.
/// `{"name":"bank-de","delimiter":";","date_column":"Buchungstag","date_format":"%d.%m.%Y",
/// "decimal_mark":",","thousands_separator":".","amount":{"kind":"signed","column":"Betrag"},
/// "currency":"EUR"}`; unknown keys are refused, so that a misspelt optional
/// column is not silently ignored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CsvProfile {
    /// The profile's name; the statement's format is `csv:<name>`.
    pub name: String,
    /// The field delimiter, an ASCII character; `,` by default.
    #[serde(default = "default_delimiter")]
    pub delimiter: char,
    /// Whether the first row names the columns; true by default.
    #[serde(default = "default_has_header")]
    pub has_header: bool,
    /// The booking date's column.
    pub date_column: String,
    /// The value date's column, if the bank exports one.
    #[serde(default)]
    pub value_date_column: Option<String>,
    /// How dates are written, as a chrono strftime pattern (`%d.%m.%Y`,
    /// `%m/%d/%Y`); `%Y-%m-%d` by default. Trailing time fields in the pattern are
    /// allowed and ignored.
    #[serde(default = "default_date_format")]
    pub date_format: String,
    /// The decimal mark of amounts, `.` (the default) or `,`.
    #[serde(default = "default_decimal_mark")]
    pub decimal_mark: char,
    /// The thousands separator of amounts, if the bank writes one (`.` in
    /// `1.234,56`, `,` in `1,234.56`); removed wherever it appears in a figure.
    #[serde(default)]
    pub thousands_separator: Option<char>,
    /// Where the amount and its direction are.
    pub amount: CsvAmount,
    /// The account's balance after each row, if the bank exports it: gives the
    /// opening and closing booked balances, and is checked against the amounts.
    #[serde(default)]
    pub balance_column: Option<String>,
    /// The bank's reference of each row: the line's `account_servicer_ref`.
    #[serde(default)]
    pub reference_column: Option<String>,
    /// The payer's end-to-end id: the line's one detail's `end_to_end_id`.
    #[serde(default)]
    pub end_to_end_column: Option<String>,
    /// The row's text (purpose, counterparty): the line's `additional_info` and
    /// its one detail's remittance line.
    #[serde(default)]
    pub description_column: Option<String>,
    /// The ISO 4217 code of every amount in the file (a CSV export carries one
    /// currency).
    pub currency: String,
    /// The IBAN or other account number the profile's files are for: the
    /// statement's account (an IBAN is upper-cased, spaces removed).
    #[serde(default)]
    pub account: Option<String>,
}

/// Where a CSV row's amount and direction come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CsvAmount {
    /// One signed column: negative is a debit (money out), positive a credit.
    Signed {
        /// The amount's column.
        column: String,
    },
    /// Two columns of which one is filled per row: the debit (money out, written
    /// positive or negative, its magnitude counts) and the credit (money in,
    /// positive). A cell holding zero counts as empty, as some banks write `0.00`
    /// in the unused column.
    Split {
        /// The debit column.
        debit_column: String,
        /// The credit column.
        credit_column: String,
    },
}

fn default_delimiter() -> char {
    ','
}

fn default_has_header() -> bool {
    true
}

fn default_date_format() -> String {
    "%Y-%m-%d".to_owned()
}

fn default_decimal_mark() -> char {
    '.'
}

impl CsvProfile {
    /// Checks that the profile can work, independently of any file: a name, an
    /// ISO 4217 currency with a minor unit, an ASCII delimiter other than `"` or
    /// a line break, a decimal mark `.` or `,` different from the thousands
    /// separator (which may not be a digit or a sign), a date format that writes
    /// and reads back a whole date, non-empty column names (zero-based indexes
    /// when `has_header` is false), and two different split columns. Whether the
    /// named columns exist is known only with a file: [`parse`] checks it.
    /// Errors: [`StatementError::BadProfile`] saying what is wrong.
    pub fn validate(&self) -> Result<(), StatementError> {
        let bad = |message: String| Err(StatementError::BadProfile(message));
        if self.name.trim().is_empty() {
            return bad("the profile has no name".into());
        }
        if Asset::iso4217(&self.currency).is_none() {
            return bad(format!("unknown currency `{}`: an ISO 4217 code with a minor unit is needed", self.currency));
        }
        if !self.delimiter.is_ascii() || matches!(self.delimiter, '"' | '\n' | '\r') {
            return bad(format!(
                "delimiter `{}` is not an ASCII character other than `\"` and line breaks",
                self.delimiter
            ));
        }
        if !matches!(self.decimal_mark, '.' | ',') {
            return bad(format!("decimal mark `{}` is neither `.` nor `,`", self.decimal_mark));
        }
        if let Some(separator) = self.thousands_separator
            && (separator == self.decimal_mark || separator.is_ascii_digit() || matches!(separator, '-' | '+'))
        {
            return bad(format!(
                "thousands separator `{separator}` must differ from the decimal mark `{}` and not be a digit or a sign",
                self.decimal_mark
            ));
        }
        self.validate_date_format()?;
        for column in self.columns() {
            if column.trim().is_empty() {
                return bad("a column name is empty".into());
            }
            if !self.has_header && column.trim().parse::<usize>().is_err() {
                return bad(format!(
                    "column `{column}`: without a header row, columns are named by their zero-based index"
                ));
            }
        }
        if let CsvAmount::Split { debit_column, credit_column } = &self.amount
            && debit_column.trim() == credit_column.trim()
        {
            return bad(format!("debit and credit are both column `{debit_column}`"));
        }
        Ok(())
    }

    /// Writes a sample date with the format and reads it back: an unknown
    /// specifier fails the writing (chrono reports it as a `fmt::Error`), a
    /// pattern without day, month or year fails the reading.
    fn validate_date_format(&self) -> Result<(), StatementError> {
        let bad = || {
            StatementError::BadProfile(format!(
                "date format `{}` is not a chrono pattern giving day, month and year",
                self.date_format
            ))
        };
        // Written from a date-time so that a pattern with a time of day (some
        // banks write `02.11.2026 14:33` in the date column) is accepted.
        let Some(sample) = NaiveDate::from_ymd_opt(2026, 11, 23).and_then(|d| d.and_hms_opt(13, 45, 30)) else {
            return Err(bad());
        };
        let mut written = String::new();
        write!(written, "{}", sample.format(&self.date_format)).map_err(|_| bad())?;
        match NaiveDate::parse_from_str(&written, &self.date_format) {
            Ok(read) if read == sample.date() => Ok(()),
            _ => Err(bad()),
        }
    }

    /// Every column the profile names, in no particular order.
    fn columns(&self) -> Vec<&str> {
        let mut columns = vec![self.date_column.as_str()];
        match &self.amount {
            CsvAmount::Signed { column } => columns.push(column),
            CsvAmount::Split { debit_column, credit_column } => {
                columns.extend([debit_column, credit_column].map(String::as_str))
            }
        }
        columns.extend(
            [
                &self.value_date_column,
                &self.balance_column,
                &self.reference_column,
                &self.end_to_end_column,
                &self.description_column,
            ]
            .into_iter()
            .flatten()
            .map(String::as_str),
        );
        columns
    }

    /// A figure as written in the file (`-1.234,56`) in the form
    /// `parse_signed_minor` reads (`-1234.56`). Errors: why not, for `BadAmount`.
    fn normalize_number(&self, raw: &str) -> Result<String, String> {
        let mut out = String::with_capacity(raw.len());
        for c in raw.chars() {
            if Some(c) == self.thousands_separator {
                continue;
            } else if c == self.decimal_mark {
                out.push('.');
            } else if c == '.' || c == ',' {
                // `1.234` in a `,`-decimal profile without a thousands separator
                // would otherwise be read as 1.234.
                return Err(format!(
                    "`{c}` is neither the decimal mark `{}` nor the profile's thousands separator",
                    self.decimal_mark
                ));
            } else {
                out.push(c);
            }
        }
        Ok(out)
    }
}

/// Zero-based indexes of the profile's columns in one file.
struct Columns {
    date: usize,
    value_date: Option<usize>,
    amount: AmountColumns,
    balance: Option<usize>,
    reference: Option<usize>,
    end_to_end: Option<usize>,
    description: Option<usize>,
}

enum AmountColumns {
    Signed(usize),
    Split { debit: usize, credit: usize },
}

impl Columns {
    fn resolve(profile: &CsvProfile, header: Option<&::csv::StringRecord>) -> Result<Self, StatementError> {
        let index = |name: &str| -> Result<usize, StatementError> {
            let name = name.trim();
            match header {
                Some(header) => header.iter().position(|h| h == name).ok_or_else(|| {
                    let known = header.iter().map(|h| format!("`{h}`")).collect::<Vec<_>>().join(", ");
                    StatementError::BadProfile(format!(
                        "profile `{}` names column `{name}`, which the file's header does not have (it has {known})",
                        profile.name
                    ))
                }),
                None => name
                    .parse()
                    .map_err(|_| StatementError::BadProfile(format!("column `{name}` is not a zero-based index"))),
            }
        };
        let optional = |name: &Option<String>| name.as_deref().map(index).transpose();
        Ok(Columns {
            date: index(&profile.date_column)?,
            value_date: optional(&profile.value_date_column)?,
            amount: match &profile.amount {
                CsvAmount::Signed { column } => AmountColumns::Signed(index(column)?),
                CsvAmount::Split { debit_column, credit_column } => {
                    AmountColumns::Split { debit: index(debit_column)?, credit: index(credit_column)? }
                }
            },
            balance: optional(&profile.balance_column)?,
            reference: optional(&profile.reference_column)?,
            end_to_end: optional(&profile.end_to_end_column)?,
            description: optional(&profile.description_column)?,
        })
    }
}

/// Parses a bank's CSV export with `profile` into a [`ParsedStatement`] with
/// `format` `csv:<profile name>`, `statement_id` the lowercase hex SHA-256 of
/// `bytes`, the profile's account and currency, and one `BOOK` line per data row
/// in file order.
///
/// The file is UTF-8 (a byte-order mark is skipped), delimited by the profile's
/// delimiter, with fields trimmed. Each row gives: the booking date (and value
/// date) in the profile's format; the amount in integer minor units of the
/// profile's currency, always > 0, with its direction from the sign (signed
/// column: negative is a debit) or from which of the debit and credit columns is
/// filled; the reference as `account_servicer_ref`; the description as
/// `additional_info`; and, when an end-to-end id or a description is present,
/// one [`TransactionDetails`] with the row's amount, the end-to-end id and the
/// description as its remittance line. With a balance column, the closing
/// booked balance is the last row's balance, the opening the first row's less
/// its amount (dated the first and last booking dates), and every row's balance
/// must be the previous one plus the row's amount; without it both are `None`.
///
/// Errors:
/// - [`StatementError::BadProfile`]: the profile fails [`CsvProfile::validate`],
///   or names a column the file's header does not have;
/// - [`StatementError::Malformed`]: not CSV or not UTF-8, no data rows, a
///   missing or unreadable date, a zero amount, both or neither of debit and
///   credit, a negative credit, or a running balance that does not add up —
///   naming the file's line (1-based, header included) and the figures;
/// - [`StatementError::BadAmount`]: a figure that is not a number in the
///   profile's notation, has more decimals than the currency, or overflows;
/// - [`StatementError::TooLarge`]: more than [`MAX_STATEMENT_LINES`] rows.
pub fn parse(bytes: &[u8], profile: &CsvProfile) -> Result<ParsedStatement, StatementError> {
    profile.validate()?;
    let asset =
        Asset::iso4217(&profile.currency).ok_or_else(|| StatementError::UnknownCurrency(profile.currency.clone()))?;
    let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(StatementError::Malformed("the CSV file is empty".into()));
    }
    let delimiter = u8::try_from(profile.delimiter)
        .map_err(|_| StatementError::BadProfile(format!("delimiter `{}` is not ASCII", profile.delimiter)))?;
    let mut reader = ::csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(profile.has_header)
        // Short rows are reported by the column they lack, below, rather than
        // as csv's field-count mismatch.
        .flexible(true)
        .trim(::csv::Trim::All)
        .from_reader(body);
    let header = if profile.has_header { Some(reader.headers().map_err(csv_error)?.clone()) } else { None };
    let columns = Columns::resolve(profile, header.as_ref())?;
    let rows = Rows { profile, asset: &asset, columns: &columns };

    let mut lines: Vec<StatementLine> = Vec::new();
    let mut opening_booked = None;
    let mut closing_booked: Option<BookedBalance> = None;
    for record in reader.records() {
        let record = record.map_err(csv_error)?;
        if lines.len() >= MAX_STATEMENT_LINES {
            return Err(StatementError::TooLarge { what: "lines", max: MAX_STATEMENT_LINES });
        }
        let at = Row { record: &record, line: record.position().map_or(0, ::csv::Position::line) };
        let line = rows.line(&at)?;
        if let Some(balance) = rows.balance(&at)? {
            let signed = match line.direction {
                BankDirection::Credit => line.amount_minor,
                BankDirection::Debit => -line.amount_minor,
            };
            match closing_booked {
                None => {
                    let opening = balance.checked_sub(signed).ok_or_else(|| {
                        StatementError::Malformed(format!("line {}: the opening balance overflows", at.line))
                    })?;
                    opening_booked = Some(BookedBalance { amount_minor: opening, date: line.booking_date });
                }
                Some(previous) => {
                    let expected = previous.amount_minor.checked_add(signed);
                    if expected != Some(balance) {
                        let money = |minor: i64| format_minor(minor, asset.exponent);
                        return Err(StatementError::Malformed(format!(
                            "line {}: the balance {} is not the previous balance {} plus the amount {} (= {})",
                            at.line,
                            money(balance),
                            money(previous.amount_minor),
                            money(signed),
                            expected.map_or_else(|| "overflow".to_owned(), money),
                        )));
                    }
                }
            }
            closing_booked = Some(BookedBalance { amount_minor: balance, date: line.booking_date });
        }
        lines.push(line);
    }
    if lines.is_empty() {
        return Err(StatementError::Malformed("the CSV file has no data rows".into()));
    }

    let account = profile.account.as_deref().map(str::trim).filter(|a| !a.is_empty());
    let (iban, number) = match account {
        Some(a) if looks_like_iban(&normalize_iban(a)) => (Some(normalize_iban(a)), None),
        Some(a) => (None, Some(a.to_owned())),
        None => (None, None),
    };
    Ok(ParsedStatement {
        format: format!("csv:{}", profile.name),
        statement_id: sha256_hex(bytes),
        account: StatementAccount { iban, number, currency: Some(profile.currency.clone()) },
        currency: profile.currency.clone(),
        opening_booked,
        closing_booked,
        lines,
    })
}

fn csv_error(error: ::csv::Error) -> StatementError {
    StatementError::Malformed(format!("not readable as CSV: {error}"))
}

/// The SHA-256 of `bytes`, lower-case hex: a CSV statement's id, and every
/// imported file's fingerprint.
pub(in crate::core) fn sha256_hex(bytes: &[u8]) -> String {
    let mut hex = String::with_capacity(64);
    for byte in Sha256::digest(bytes) {
        // Writing into a String cannot fail.
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

/// One data row and its line in the file, for messages.
struct Row<'a> {
    record: &'a ::csv::StringRecord,
    line: u64,
}

impl Row<'_> {
    /// The cell at `index`, `None` when the row is shorter or the cell blank.
    fn cell(&self, index: usize) -> Option<&str> {
        self.record.get(index).filter(|c| !c.is_empty())
    }
}

/// Reads rows with one profile's settings.
struct Rows<'a> {
    profile: &'a CsvProfile,
    asset: &'a Asset,
    columns: &'a Columns,
}

impl Rows<'_> {
    fn line(&self, row: &Row<'_>) -> Result<StatementLine, StatementError> {
        let booking_date = Some(self.date(row, self.columns.date, "booking date")?);
        let value_date = self.columns.value_date.map(|i| self.date(row, i, "value date")).transpose()?;
        let (amount_minor, direction) = self.amount(row)?;
        let text = |index: Option<usize>| index.and_then(|i| row.cell(i)).map(str::to_owned);
        let description = text(self.columns.description);
        let end_to_end_id = text(self.columns.end_to_end);
        let details = if end_to_end_id.is_some() || description.is_some() {
            vec![TransactionDetails {
                end_to_end_id,
                amount_minor: Some(amount_minor),
                remittance: description.iter().cloned().collect(),
                ..TransactionDetails::default()
            }]
        } else {
            Vec::new()
        };
        Ok(StatementLine {
            amount_minor,
            currency: self.profile.currency.clone(),
            direction,
            reversal: false,
            status: "BOOK".to_owned(),
            booking_date,
            value_date,
            account_servicer_ref: text(self.columns.reference),
            entry_ref: None,
            batch_count: None,
            details,
            additional_info: description,
        })
    }

    fn date(&self, row: &Row<'_>, index: usize, what: &str) -> Result<NaiveDate, StatementError> {
        let raw = row
            .cell(index)
            .ok_or_else(|| StatementError::Malformed(format!("line {}: the {what} is missing", row.line)))?;
        NaiveDate::parse_from_str(raw, &self.profile.date_format).map_err(|e| {
            StatementError::Malformed(format!(
                "line {}: the {what} `{raw}` does not match the format `{}` ({e})",
                row.line, self.profile.date_format
            ))
        })
    }

    /// A figure in the profile's notation, as signed minor units.
    fn figure(&self, raw: &str) -> Result<i64, StatementError> {
        let bad = |reason: String| StatementError::BadAmount {
            raw: raw.to_owned(),
            currency: self.profile.currency.clone(),
            reason,
        };
        let normalized = self.profile.normalize_number(raw).map_err(bad)?;
        parse_signed_minor(&normalized, self.asset).map_err(|e| bad(e.to_string()))
    }

    /// The row's amount, > 0, and its direction.
    fn amount(&self, row: &Row<'_>) -> Result<(i64, BankDirection), StatementError> {
        let magnitude = |minor: i64, raw: &str| {
            minor.checked_abs().ok_or_else(|| StatementError::BadAmount {
                raw: raw.to_owned(),
                currency: self.profile.currency.clone(),
                reason: "overflows 64-bit minor units".into(),
            })
        };
        let malformed = |what: String| StatementError::Malformed(format!("line {}: {what}", row.line));
        match self.columns.amount {
            AmountColumns::Signed(index) => {
                let raw = row.cell(index).ok_or_else(|| malformed("the amount is missing".into()))?;
                let minor = self.figure(raw)?;
                if minor == 0 {
                    return Err(malformed(format!("the amount `{raw}` is zero")));
                }
                let direction = if minor < 0 { BankDirection::Debit } else { BankDirection::Credit };
                Ok((magnitude(minor, raw)?, direction))
            }
            AmountColumns::Split { debit, credit } => {
                // A zero counts as an empty cell (see `CsvAmount::Split`).
                let filled = |index: usize| -> Result<Option<(i64, &str)>, StatementError> {
                    match row.cell(index) {
                        Some(raw) => Ok(Some((self.figure(raw)?, raw)).filter(|(minor, _)| *minor != 0)),
                        None => Ok(None),
                    }
                };
                match (filled(debit)?, filled(credit)?) {
                    (Some((minor, raw)), None) => Ok((magnitude(minor, raw)?, BankDirection::Debit)),
                    (None, Some((minor, _))) if minor > 0 => Ok((minor, BankDirection::Credit)),
                    (None, Some((_, raw))) => Err(malformed(format!("the credit `{raw}` is negative"))),
                    (Some((_, d)), Some((_, c))) => {
                        Err(malformed(format!("both the debit `{d}` and the credit `{c}` are filled")))
                    }
                    (None, None) => {
                        Err(malformed("neither the debit nor the credit is filled (or both are zero)".into()))
                    }
                }
            }
        }
    }

    /// The running balance after the row, if the profile has the column.
    fn balance(&self, row: &Row<'_>) -> Result<Option<i64>, StatementError> {
        let Some(index) = self.columns.balance else { return Ok(None) };
        let raw = row
            .cell(index)
            .ok_or_else(|| StatementError::Malformed(format!("line {}: the balance is missing", row.line)))?;
        self.figure(raw).map(Some)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    /// A German bank's export: `;`, `1.234,56`, `%d.%m.%Y`, a running balance.
    fn german() -> CsvProfile {
        serde_json::from_str(
            r#"{
                "name": "sparkasse",
                "delimiter": ";",
                "date_column": "Buchungstag",
                "value_date_column": "Valuta",
                "date_format": "%d.%m.%Y",
                "decimal_mark": ",",
                "thousands_separator": ".",
                "amount": {"kind": "signed", "column": "Betrag"},
                "balance_column": "Saldo",
                "reference_column": "Referenz",
                "end_to_end_column": "End-to-End-Referenz",
                "description_column": "Verwendungszweck",
                "currency": "EUR",
                "account": "de89 3704 0044 0532 0130 00"
            }"#,
        )
        .unwrap()
    }

    const GERMAN: &str = "\u{feff}Buchungstag;Valuta;Verwendungszweck;End-to-End-Referenz;Referenz;Betrag;Saldo\n\
        02.11.2026;03.11.2026;SAMMLER KARTENZAHLUNGEN;;BK-1;1.234,56;11.234,56\n\
        02.11.2026;02.11.2026;\"Miete; November\";E2E-77;BK-2;-1.000,00;10.234,56\n\
        03.11.2026;03.11.2026;;;BK-3;-0,56;10.234,00\n";

    /// A US bank's export: `,`, `1,234.56`, `%m/%d/%Y`, debit and credit columns.
    fn us() -> CsvProfile {
        CsvProfile {
            name: "us-bank".into(),
            delimiter: ',',
            has_header: true,
            date_column: "Posting Date".into(),
            value_date_column: None,
            date_format: "%m/%d/%Y".into(),
            decimal_mark: '.',
            thousands_separator: Some(','),
            amount: CsvAmount::Split { debit_column: "Debit".into(), credit_column: "Credit".into() },
            balance_column: None,
            reference_column: Some("Reference".into()),
            end_to_end_column: None,
            description_column: Some("Description".into()),
            currency: "USD".into(),
            account: Some("0532013000".into()),
        }
    }

    const US: &str = "Posting Date,Description,Debit,Credit,Reference\n\
        11/02/2026,\"ACH CREDIT ACME, INC\",,\"1,234.56\",R1\n\
        11/02/2026,WIRE OUT,-250.00,,R2\n\
        11/03/2026,FEE,5.00,0.00,\n";

    fn err(text: &str, profile: &CsvProfile) -> StatementError {
        parse(text.as_bytes(), profile).expect_err("the file must be refused")
    }

    #[test]
    fn reads_a_german_signed_export_with_running_balance() {
        let s = parse(GERMAN.as_bytes(), &german()).unwrap();
        assert_eq!(s.format, "csv:sparkasse");
        assert_eq!(s.statement_id, sha256_hex(GERMAN.as_bytes()));
        assert_eq!(s.statement_id.len(), 64);
        assert_eq!(
            s.account,
            StatementAccount {
                iban: Some("DE89370400440532013000".into()),
                number: None,
                currency: Some("EUR".into())
            }
        );
        assert_eq!(s.currency, "EUR");
        assert_eq!(s.opening_booked, Some(BookedBalance { amount_minor: 1_000_000, date: Some(d(2026, 11, 2)) }));
        assert_eq!(s.closing_booked, Some(BookedBalance { amount_minor: 1_023_400, date: Some(d(2026, 11, 3)) }));
        assert_eq!(s.lines.len(), 3);

        let first = &s.lines[0];
        assert_eq!(first.amount_minor, 123_456);
        assert_eq!(first.currency, "EUR");
        assert_eq!(first.direction, BankDirection::Credit);
        assert!(!first.reversal);
        assert_eq!(first.status, "BOOK");
        assert_eq!(first.booking_date, Some(d(2026, 11, 2)));
        assert_eq!(first.value_date, Some(d(2026, 11, 3)));
        assert_eq!(first.account_servicer_ref.as_deref(), Some("BK-1"));
        assert_eq!(first.entry_ref, None);
        assert_eq!(first.batch_count, None);
        assert_eq!(first.additional_info.as_deref(), Some("SAMMLER KARTENZAHLUNGEN"));
        assert_eq!(
            first.details,
            vec![TransactionDetails {
                amount_minor: Some(123_456),
                remittance: vec!["SAMMLER KARTENZAHLUNGEN".into()],
                ..TransactionDetails::default()
            }]
        );

        let rent = &s.lines[1];
        assert_eq!((rent.amount_minor, rent.direction), (100_000, BankDirection::Debit));
        assert_eq!(rent.additional_info.as_deref(), Some("Miete; November"));
        assert_eq!(rent.details[0].end_to_end_id.as_deref(), Some("E2E-77"));

        let fee = &s.lines[2];
        assert_eq!((fee.amount_minor, fee.direction), (56, BankDirection::Debit));
        assert_eq!(fee.booking_date, Some(d(2026, 11, 3)));
        assert!(fee.details.is_empty());
        assert_eq!(fee.additional_info, None);

        let net = s.booked_net_minor().unwrap();
        assert_eq!(s.opening_booked.unwrap().amount_minor + net, s.closing_booked.unwrap().amount_minor);
    }

    #[test]
    fn reads_a_us_split_export() {
        let s = parse(US.as_bytes(), &us()).unwrap();
        assert_eq!(s.format, "csv:us-bank");
        assert_eq!(
            s.account,
            StatementAccount { iban: None, number: Some("0532013000".into()), currency: Some("USD".into()) }
        );
        assert_eq!((s.opening_booked, s.closing_booked), (None, None));
        let got: Vec<_> = s.lines.iter().map(|l| (l.amount_minor, l.direction, l.booking_date)).collect();
        assert_eq!(
            got,
            vec![
                (123_456, BankDirection::Credit, Some(d(2026, 11, 2))),
                (25_000, BankDirection::Debit, Some(d(2026, 11, 2))),
                (500, BankDirection::Debit, Some(d(2026, 11, 3))),
            ]
        );
        assert_eq!(s.lines[0].additional_info.as_deref(), Some("ACH CREDIT ACME, INC"));
        assert_eq!(s.lines[0].account_servicer_ref.as_deref(), Some("R1"));
        assert_eq!(s.lines[2].account_servicer_ref, None);
        assert_eq!(s.lines[1].value_date, None);
        assert_eq!(s.booked_net_minor(), Some(123_456 - 25_000 - 500));
    }

    #[test]
    fn reads_columns_by_index_without_a_header() {
        let profile = CsvProfile {
            has_header: false,
            date_format: "%Y-%m-%d".into(),
            date_column: "0".into(),
            amount: CsvAmount::Signed { column: "2".into() },
            description_column: Some("1".into()),
            reference_column: None,
            account: None,
            ..us()
        };
        let s = parse(b"2026-11-02,coffee,-3.50\n2026-11-02,refund,1\n", &profile).unwrap();
        assert_eq!(s.lines.len(), 2);
        assert_eq!((s.lines[0].amount_minor, s.lines[0].direction), (350, BankDirection::Debit));
        assert_eq!((s.lines[1].amount_minor, s.lines[1].direction), (100, BankDirection::Credit));
        assert_eq!(s.account, StatementAccount { iban: None, number: None, currency: Some("USD".into()) });
    }

    #[test]
    fn profile_defaults_and_json_round_trip() {
        let profile: CsvProfile = serde_json::from_str(
            r#"{"name":"min","date_column":"Date","amount":{"kind":"signed","column":"Amount"},"currency":"USD"}"#,
        )
        .unwrap();
        assert_eq!((profile.delimiter, profile.has_header, profile.decimal_mark), (',', true, '.'));
        assert_eq!(profile.date_format, "%Y-%m-%d");
        assert_eq!(profile.thousands_separator, None);
        assert!(profile.validate().is_ok());
        let json = serde_json::to_string(&german()).unwrap();
        assert_eq!(serde_json::from_str::<CsvProfile>(&json).unwrap(), german());
        assert!(
            serde_json::from_str::<CsvProfile>(
                r#"{"name":"x","date_column":"D","amount":{"kind":"signed","column":"A"},"currency":"USD","balance_colum":"B"}"#
            )
            .is_err()
        );
    }

    #[test]
    fn refuses_profiles_that_cannot_work() {
        let bad = |profile: CsvProfile| matches!(profile.validate(), Err(StatementError::BadProfile(_)));
        assert!(german().validate().is_ok() && us().validate().is_ok());
        assert!(bad(CsvProfile { currency: "EUX".into(), ..german() }));
        assert!(bad(CsvProfile { currency: "XAU".into(), ..german() }));
        assert!(bad(CsvProfile { decimal_mark: ';', ..german() }));
        assert!(bad(CsvProfile { thousands_separator: Some(','), ..german() }));
        assert!(bad(CsvProfile { delimiter: '"', ..german() }));
        assert!(bad(CsvProfile { date_format: "%d.%m".into(), ..german() }));
        assert!(bad(CsvProfile { date_format: "%Q".into(), ..german() }));
        assert!(bad(CsvProfile { date_format: "%d.%m.%Y %".into(), ..german() }));
        let with_time = CsvProfile { date_format: "%d.%m.%Y %H:%M".into(), ..german() };
        assert!(with_time.validate().is_ok());
        let file = GERMAN.replace("02.11.2026;03.11.2026", "02.11.2026 14:33;03.11.2026 00:00");
        let file = file.replace("03.11.2026;03.11.2026", "03.11.2026 09:00;03.11.2026 00:00");
        let file = file.replace("02.11.2026;02.11.2026", "02.11.2026 18:00;02.11.2026 00:00");
        assert_eq!(parse(file.as_bytes(), &with_time).unwrap().lines[0].booking_date, Some(d(2026, 11, 2)));
        assert!(bad(CsvProfile { name: " ".into(), ..german() }));
        assert!(bad(CsvProfile { has_header: false, ..german() }));
        assert!(bad(CsvProfile {
            amount: CsvAmount::Split { debit_column: "X".into(), credit_column: "X".into() },
            ..german()
        }));
        // parse validates first.
        assert!(matches!(
            err(GERMAN, &CsvProfile { date_format: "%Q".into(), ..german() }),
            StatementError::BadProfile(_)
        ));
    }

    #[test]
    fn refuses_a_profile_column_the_file_lacks() {
        let profile = CsvProfile { balance_column: Some("Kontostand".into()), ..german() };
        match err(GERMAN, &profile) {
            StatementError::BadProfile(m) => assert!(m.contains("Kontostand") && m.contains("`Saldo`"), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn refuses_a_bad_date_naming_line_and_value() {
        let file = GERMAN.replacen("03.11.2026;03.11.2026", "2026-11-03;03.11.2026", 1);
        match err(&file, &german()) {
            StatementError::Malformed(m) => assert!(m.contains("line 4") && m.contains("2026-11-03"), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn refuses_bad_figures() {
        match err(&GERMAN.replacen("-0,56", "-0,565", 1), &german()) {
            StatementError::BadAmount { raw, currency, reason } => {
                assert_eq!((raw.as_str(), currency.as_str()), ("-0,565", "EUR"));
                assert!(reason.contains("decimal places"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        // A `.` that is not the thousands separator of a `,`-decimal profile.
        let no_thousands = CsvProfile { thousands_separator: None, ..german() };
        assert!(matches!(err(GERMAN, &no_thousands), StatementError::BadAmount { raw, .. } if raw == "1.234,56"));
        assert!(matches!(err(&GERMAN.replacen("-0,56", "abc", 1), &german()), StatementError::BadAmount { .. }));
        match err(&GERMAN.replacen("-0,56", "0,00", 1), &german()) {
            StatementError::Malformed(m) => assert!(m.contains("line 4") && m.contains("zero"), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn refuses_a_row_with_both_debit_and_credit() {
        let file = US.replacen("-250.00,,R2", "-250.00,250.00,R2", 1);
        match err(&file, &us()) {
            StatementError::Malformed(m) => assert!(m.contains("line 3") && m.contains("both"), "{m}"),
            other => panic!("{other:?}"),
        }
        let neither = US.replacen("-250.00,,R2", ",,R2", 1);
        assert!(matches!(err(&neither, &us()), StatementError::Malformed(m) if m.contains("line 3")));
        let negative_credit = US.replacen("-250.00,,R2", ",-250.00,R2", 1);
        assert!(matches!(err(&negative_credit, &us()), StatementError::Malformed(m) if m.contains("negative")));
    }

    #[test]
    fn refuses_a_running_balance_that_does_not_add_up() {
        let file = GERMAN.replacen("10.234,56\n", "10.243,56\n", 1);
        match err(&file, &german()) {
            StatementError::Malformed(m) => {
                assert!(m.contains("line 3") && m.contains("10243.56") && m.contains("11234.56"), "{m}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn refuses_an_empty_file() {
        assert!(matches!(err("", &german()), StatementError::Malformed(m) if m.contains("empty")));
        assert!(matches!(err("\u{feff}\n", &german()), StatementError::Malformed(_)));
        let header_only = GERMAN.lines().next().unwrap();
        assert!(matches!(err(header_only, &german()), StatementError::Malformed(m) if m.contains("no data rows")));
    }

    #[test]
    fn refuses_too_many_rows() {
        let profile = CsvProfile {
            has_header: false,
            date_column: "0".into(),
            amount: CsvAmount::Signed { column: "1".into() },
            reference_column: None,
            description_column: None,
            ..us()
        };
        let profile = CsvProfile { date_format: "%Y-%m-%d".into(), ..profile };
        let file = "2026-11-02,1\n".repeat(MAX_STATEMENT_LINES + 1);
        assert_eq!(err(&file, &profile), StatementError::TooLarge { what: "lines", max: MAX_STATEMENT_LINES });
    }

    #[test]
    fn refuses_text_that_is_not_utf8() {
        let latin1 = b"Buchungstag;Valuta;Verwendungszweck;End-to-End-Referenz;Referenz;Betrag;Saldo\n\
            02.11.2026;02.11.2026;Geb\xFChr;;B;-1,00;1,00\n";
        assert!(matches!(parse(latin1, &german()), Err(StatementError::Malformed(_))));
    }

    #[test]
    fn is_reached_through_the_dispatcher() {
        let s = super::super::parse(US.as_bytes(), Some(&us())).unwrap();
        assert_eq!(s.lines.len(), 3);
        assert!(matches!(super::super::parse(US.as_bytes(), None), Err(StatementError::Malformed(_))));
    }
}
