//! Money: assets with their minor-unit exponent, and amounts in integer minor units.
//!
//! Every amount inside the ledger is an integer count of the asset's minor unit
//! (cents for `USD`, yen for `JPY`, whole swords for `SWORD`). Decimal strings exist
//! only at the API edge: [`Amount::parse`] turns `"12.34"` of `USD` into 1234 minor
//! units and rejects `"12.345"` instead of rounding it; [`format_minor`] turns minor
//! units back into a decimal string.
//!
//! Exponents of currencies come from ISO 4217 (via the `iso_currency` crate);
//! custom assets carry the exponent they were registered with.

use std::fmt;

use iso_currency::IntoEnumIterator;
use rust_decimal::Decimal;

use super::DomainError;

/// Largest exponent a custom asset may have. 18 decimal places covers every
/// crypto-asset in common use (ETH has 18) while keeping 10^exponent inside i64.
pub const MAX_ASSET_EXPONENT: u32 = 18;

/// Longest asset code accepted, in characters.
pub const MAX_ASSET_CODE_LEN: usize = 16;

/// An asset code: an ISO 4217 alphabetic code such as `USD`, or a registered custom
/// code such as `SWORD`. 1 to [`MAX_ASSET_CODE_LEN`] characters of `A-Z`, `0-9`, `_`,
/// starting with a letter.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AssetCode(String);

impl TryFrom<String> for AssetCode {
    type Error = DomainError;
    fn try_from(raw: String) -> Result<Self, DomainError> {
        Self::parse(&raw)
    }
}

impl From<AssetCode> for String {
    fn from(code: AssetCode) -> String {
        code.0
    }
}

impl AssetCode {
    /// Parses and validates a code. Errors: [`DomainError::AssetCodeInvalid`].
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let ok = !raw.is_empty()
            && raw.len() <= MAX_ASSET_CODE_LEN
            && raw.starts_with(|c: char| c.is_ascii_uppercase())
            && raw.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
        if ok { Ok(Self(raw.to_owned())) } else { Err(DomainError::AssetCodeInvalid(raw.to_owned())) }
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AssetCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An asset the ledger can hold: its code and its exponent, the number of decimal
/// places of its minor unit (2 for `USD`, 0 for `JPY` and `SWORD`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Asset {
    /// The asset code.
    pub code: AssetCode,
    /// Decimal places of one minor unit, 0..=[`MAX_ASSET_EXPONENT`].
    pub exponent: u32,
}

impl Asset {
    /// A custom asset. Errors: [`DomainError::AssetCodeInvalid`],
    /// [`DomainError::AssetExponentInvalid`].
    pub fn custom(code: &str, exponent: i64) -> Result<Self, DomainError> {
        let code = AssetCode::parse(code)?;
        let exponent = u32::try_from(exponent)
            .ok()
            .filter(|e| *e <= MAX_ASSET_EXPONENT)
            .ok_or(DomainError::AssetExponentInvalid(exponent))?;
        Ok(Self { code, exponent })
    }

    /// The ISO 4217 currency with this alphabetic code, if it has a defined minor
    /// unit. Currencies whose minor unit ISO 4217 lists as "N.A." (gold `XAU`,
    /// `XDR` and the like) are not money in the ledger's sense and are left out;
    /// they can be registered as custom assets instead.
    pub fn iso4217(code: &str) -> Option<Self> {
        let currency = iso_currency::Currency::from_code(code)?;
        let exponent = u32::from(currency.exponent()?);
        Some(Self { code: AssetCode(code.to_owned()), exponent })
    }

    /// Every ISO 4217 currency with a defined minor unit.
    pub fn all_iso4217() -> Vec<Self> {
        iso_currency::Currency::iter().filter_map(|c| Self::iso4217(c.code())).collect()
    }

    /// The currency symbol where ISO 4217 data has one (`$` for `USD`), for display.
    pub fn symbol(&self) -> Option<String> {
        iso_currency::Currency::from_code(self.code.as_str()).map(|c| c.symbol().to_string())
    }
}

/// A strictly positive amount in integer minor units of some asset. Entries,
/// payments and payouts are always expressed with one; the sign of a movement is
/// carried by its [`crate::domain::Direction`], never by a negative amount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Amount(i64);

impl Amount {
    /// Wraps a count of minor units. Errors: [`DomainError::AmountNotPositive`].
    pub fn from_minor(minor: i64) -> Result<Self, DomainError> {
        if minor > 0 { Ok(Self(minor)) } else { Err(DomainError::AmountNotPositive) }
    }

    /// Parses a decimal string (`"12.34"`) in the asset's major unit into minor
    /// units. Trailing zeros past the exponent are accepted (`"1.50"` of `JPY` is
    /// not, `"150.00"` of `JPY` is). Errors: [`DomainError::AmountMalformed`],
    /// [`DomainError::AmountNotPositive`], [`DomainError::AmountPrecisionExceeded`],
    /// [`DomainError::AmountOverflow`].
    pub fn parse(raw: &str, asset: &Asset) -> Result<Self, DomainError> {
        // One parse for amounts and balance bounds; an amount must also be positive.
        Self::from_minor(parse_signed_minor(raw, asset)?)
    }

    /// The amount in minor units, always > 0.
    pub fn minor(self) -> i64 {
        self.0
    }

    /// Sum of two amounts. Errors: [`DomainError::AmountOverflow`].
    pub fn checked_add(self, other: Amount) -> Result<Amount, DomainError> {
        self.0.checked_add(other.0).map(Amount).ok_or(DomainError::AmountOverflow)
    }
}

/// Parses a signed decimal string (`"-50.00"`) in the asset's major unit into
/// signed minor units, with [`Amount::parse`]'s rules otherwise: a balance
/// bound may be zero or negative, an amount may not. Errors:
/// [`DomainError::AmountMalformed`], [`DomainError::AmountPrecisionExceeded`],
/// [`DomainError::AmountOverflow`].
pub fn parse_signed_minor(raw: &str, asset: &Asset) -> Result<i64, DomainError> {
    let trimmed = raw.trim();
    if !is_plain_decimal(trimmed) {
        return Err(DomainError::AmountMalformed(raw.to_owned()));
    }
    let value: Decimal = trimmed.parse().map_err(|_| DomainError::AmountOverflow)?;
    let value = value.normalize();
    if value.scale() > asset.exponent {
        return Err(DomainError::AmountPrecisionExceeded {
            asset: asset.code.to_string(),
            allowed: asset.exponent,
            given: value.scale(),
        });
    }
    let factor = Decimal::from_i128_with_scale(10_i128.pow(asset.exponent), 0);
    let minor = value.checked_mul(factor).ok_or(DomainError::AmountOverflow)?;
    i64::try_from(minor.mantissa() / 10_i128.pow(minor.scale())).map_err(|_| DomainError::AmountOverflow)
}

/// True for `[+-]digits[.digits]` with at least one digit before or after the point.
fn is_plain_decimal(s: &str) -> bool {
    let unsigned = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (int, frac) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    (!int.is_empty() || !frac.is_empty())
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit())
}

/// Renders signed minor units as a decimal string with exactly `exponent` decimal
/// places: `format_minor(-1234, 2) == "-12.34"`, `format_minor(5, 0) == "5"`.
pub fn format_minor(minor: i64, exponent: u32) -> String {
    Decimal::from_i128_with_scale(i128::from(minor), exponent).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usd() -> Asset {
        Asset::iso4217("USD").unwrap_or_else(|| unreachable!())
    }

    #[test]
    fn iso_exponents_come_from_iso4217() {
        assert_eq!(usd().exponent, 2);
        assert_eq!(Asset::iso4217("JPY").map(|a| a.exponent), Some(0));
        assert_eq!(Asset::iso4217("BHD").map(|a| a.exponent), Some(3));
        assert!(Asset::iso4217("SWORD").is_none());
        assert!(Asset::all_iso4217().len() > 150);
    }

    #[test]
    fn parse_converts_to_minor_units() {
        assert_eq!(Amount::parse("12.34", &usd()).map(Amount::minor), Ok(1234));
        assert_eq!(Amount::parse("12.3", &usd()).map(Amount::minor), Ok(1230));
        assert_eq!(Amount::parse("12.340", &usd()).map(Amount::minor), Ok(1234));
        assert_eq!(Amount::parse("7", &usd()).map(Amount::minor), Ok(700));
    }

    #[test]
    fn parse_rejects_bad_amounts_instead_of_rounding() {
        assert_eq!(Amount::parse("0", &usd()), Err(DomainError::AmountNotPositive));
        assert_eq!(Amount::parse("-1.00", &usd()), Err(DomainError::AmountNotPositive));
        assert!(matches!(
            Amount::parse("1.005", &usd()),
            Err(DomainError::AmountPrecisionExceeded { allowed: 2, given: 3, .. })
        ));
        assert!(matches!(Amount::parse("1e5", &usd()), Err(DomainError::AmountMalformed(_))));
        assert!(matches!(Amount::parse("abc", &usd()), Err(DomainError::AmountMalformed(_))));
        assert!(matches!(Amount::parse("1.2.3", &usd()), Err(DomainError::AmountMalformed(_))));
        assert!(matches!(Amount::parse(".", &usd()), Err(DomainError::AmountMalformed(_))));
        assert_eq!(Amount::parse("92233720368547758.08", &usd()), Err(DomainError::AmountOverflow));
        assert_eq!(Amount::parse("99999999999999999999999999999999", &usd()), Err(DomainError::AmountOverflow));
        assert_eq!(Amount::parse("92233720368547758.07", &usd()).map(Amount::minor), Ok(i64::MAX));
    }

    #[test]
    fn signed_parse_allows_zero_and_negative_and_keeps_the_other_rules() {
        assert_eq!(parse_signed_minor("-50.00", &usd()), Ok(-5000));
        assert_eq!(parse_signed_minor("0", &usd()), Ok(0));
        assert_eq!(parse_signed_minor("12.3", &usd()), Ok(1230));
        assert!(matches!(parse_signed_minor("-1.005", &usd()), Err(DomainError::AmountPrecisionExceeded { .. })));
        assert!(matches!(parse_signed_minor("-", &usd()), Err(DomainError::AmountMalformed(_))));
        assert!(matches!(parse_signed_minor("1e3", &usd()), Err(DomainError::AmountMalformed(_))));
        assert_eq!(parse_signed_minor("-92233720368547758.09", &usd()), Err(DomainError::AmountOverflow));
    }

    #[test]
    fn format_uses_the_exponent() {
        assert_eq!(format_minor(1234, 2), "12.34");
        assert_eq!(format_minor(-5, 2), "-0.05");
        assert_eq!(format_minor(0, 2), "0.00");
        assert_eq!(format_minor(42, 0), "42");
    }

    #[test]
    fn custom_assets_are_validated() {
        assert!(Asset::custom("SWORD", 0).is_ok());
        assert!(Asset::custom("sword", 0).is_err());
        assert!(Asset::custom("SWORD", 19).is_err());
        assert!(Asset::custom("SWORD", -1).is_err());
        assert!(Asset::custom("1SWORD", 0).is_err());
    }
}
