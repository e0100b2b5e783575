//! Money as people read it: the asset's own decimals and symbol.
//!
//! The API sends amounts as decimal strings in the asset's major unit with
//! exactly the asset's exponent of decimals (`"1234.50"` USD, `"1200"` JPY);
//! see `Money` in `server/schema.graphql`. This module only regroups digits and
//! adds the symbol. It never goes through a float, so nothing is rounded.
//! Pure: no browser, no Leptos, unit-tested natively.

/// An asset as `assets { code exponent symbol }` returns it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssetInfo {
    /// ISO 4217 code (`USD`) or a registered code (`SWORD`).
    pub code: String,
    /// Decimals of the minor unit (ISO 4217 exponent: 2 for USD, 0 for JPY).
    pub exponent: u32,
    /// Display symbol (`$`, `€`); none for most registered assets.
    pub symbol: Option<String>,
}

/// Formats `amount` (a decimal string in the major unit, as the API sends
/// it) of `code` for display: thousands grouped with `,`, padded to the
/// asset's exponent, with the symbol in front when the asset has one and the
/// code behind otherwise (`$1,234.50`, `¥1,200`, `3 SWORD`). A negative
/// amount keeps its sign in front (`-$5.00`). An amount that is not a decimal
/// string is shown as sent, with the code.
pub fn format(amount: &str, code: &str, assets: &[AssetInfo]) -> String {
    let asset = assets.iter().find(|a| a.code == code);
    let (negative, digits) = match amount.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, amount),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return format!("{amount} {code}");
    }
    let exponent = asset.map_or(fraction.len(), |a| a.exponent as usize);
    let mut fraction = fraction.to_owned();
    while fraction.len() < exponent {
        fraction.push('0');
    }
    let mut grouped = String::with_capacity(whole.len() + whole.len() / 3);
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let number = if fraction.is_empty() { grouped } else { format!("{grouped}.{fraction}") };
    let sign = if negative { "-" } else { "" };
    match asset.and_then(|a| a.symbol.as_deref()).filter(|s| !s.is_empty()) {
        Some(symbol) => format!("{sign}{symbol}{number}"),
        None => format!("{sign}{number} {code}"),
    }
}

/// Parses a decimal string to signed minor units at `exponent` decimals.
/// None when it is not a decimal, has more decimals than `exponent` (never
/// rounded), or does not fit in i128.
pub fn to_minor(amount: &str, exponent: u32) -> Option<i128> {
    let (negative, digits) = match amount.trim().strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, amount.trim()),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty() && fraction.is_empty() {
        return None;
    }
    if !whole.bytes().all(|b| b.is_ascii_digit()) || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if fraction.len() > exponent as usize {
        return None;
    }
    let mut value: i128 = 0;
    for b in whole.bytes().chain(fraction.bytes()) {
        value = value.checked_mul(10)?.checked_add(i128::from(b - b'0'))?;
    }
    for _ in fraction.len()..exponent as usize {
        value = value.checked_mul(10)?;
    }
    Some(if negative { -value } else { value })
}

/// Formats signed minor units as a decimal string with `exponent` decimals
/// (the API's shape), e.g. `-1234` at 2 → `"-12.34"`.
pub fn from_minor(minor: i128, exponent: u32) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let digits = minor.unsigned_abs().to_string();
    let exponent = exponent as usize;
    if exponent == 0 {
        return format!("{sign}{digits}");
    }
    let padded = format!("{digits:0>width$}", width = exponent + 1);
    let (whole, fraction) = padded.split_at(padded.len() - exponent);
    format!("{sign}{whole}.{fraction}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assets() -> Vec<AssetInfo> {
        vec![
            AssetInfo { code: "USD".into(), exponent: 2, symbol: Some("$".into()) },
            AssetInfo { code: "JPY".into(), exponent: 0, symbol: Some("¥".into()) },
            AssetInfo { code: "BHD".into(), exponent: 3, symbol: None },
            AssetInfo { code: "SWORD".into(), exponent: 0, symbol: None },
        ]
    }

    #[test]
    fn amounts_use_the_assets_symbol_decimals_and_grouping() {
        assert_eq!(format("1234567.5", "USD", &assets()), "$1,234,567.50");
        assert_eq!(format("1200", "JPY", &assets()), "¥1,200");
        assert_eq!(format("0.125", "BHD", &assets()), "0.125 BHD");
        assert_eq!(format("3", "SWORD", &assets()), "3 SWORD");
        assert_eq!(format("-5.00", "USD", &assets()), "-$5.00");
        assert_eq!(format("100.00", "USD", &assets()), "$100.00");
    }

    #[test]
    fn what_is_not_a_decimal_is_shown_as_sent() {
        assert_eq!(format("abc", "USD", &assets()), "abc USD");
        assert_eq!(format("", "USD", &assets()), " USD");
        assert_eq!(format("1.2", "XTS", &assets()), "1.2 XTS");
    }

    #[test]
    fn minor_units_round_trip_and_extra_decimals_are_refused() {
        assert_eq!(to_minor("12.34", 2), Some(1234));
        assert_eq!(to_minor("12.3", 2), Some(1230));
        assert_eq!(to_minor("-0.05", 2), Some(-5));
        assert_eq!(to_minor("12.345", 2), None);
        assert_eq!(to_minor("1e3", 2), None);
        assert_eq!(to_minor("", 2), None);
        assert_eq!(from_minor(1234, 2), "12.34");
        assert_eq!(from_minor(-5, 2), "-0.05");
        assert_eq!(from_minor(1200, 0), "1200");
        assert_eq!(from_minor(7, 3), "0.007");
    }
}
