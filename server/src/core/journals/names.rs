//! Account and commodity names that Beancount and hledger accept, one for one
//! with the ledger's accounts and assets.
//!
//! - **Accounts** (Beancount's rule: a root of `Assets`, `Liabilities`,
//!   `Equity`, `Income` or `Expenses`, then components that start with a
//!   capital letter or digit and hold letters, digits and `-`):
//!   - the platform's own: `<Root>:Platform:<Code>`;
//!   - the platform's subsidiary account for a merchant:
//!     `<Root>:Platform-For:M<merchant id, 32 hex digits>:<Code>`;
//!   - a merchant's: `<Root>:Merchants:M<merchant id>:<Code>`;
//!   - the pending layer of any of them: the same name with `-Pending`
//!     appended (a sibling, not a child: Beancount's `balance` counts an
//!     account's children in, and each must close at its own balance).
//!
//!   `<Code>` is the account code with its first letter capitalized and `_`
//!   as `-` (`processor_clearing` → `Processor-clearing`): one name per code,
//!   since codes hold only `a-z`, `0-9` and `_`. The root: `fee_revenue` is
//!   `Income`, `processor_fees` is `Expenses`, `goods_clearing` (the
//!   counterpart of goods brought onto the books) is `Equity`; any other
//!   debit-normal account is `Assets`, credit-normal `Liabilities`.
//! - **Commodities** (Beancount: 2 to 24 characters of `[A-Z0-9'._-]`,
//!   starting with a letter and ending with a letter or digit): the asset
//!   code, with `.X` appended when it is one character long or ends in `_`.
//!   Asset codes hold only `A-Z`, `0-9` and `_` (1 to 16, starting with a
//!   letter) and never a `.`, so no two assets get one name. ISO 4217 codes
//!   stay as they are. hledger takes the same name, in double quotes when it
//!   holds anything but letters.

use crate::domain::{AccountCode, AssetCode, Direction, Owner};

/// The five account types of Beancount (and of hledger's account types).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Root {
    /// What the platform holds: bank, clearing, money in transit.
    Assets,
    /// What the platform owes: merchants' balances.
    Liabilities,
    /// Goods brought onto or taken off the books.
    Equity,
    /// The platform's fees earned.
    Income,
    /// The processor's fees.
    Expenses,
}

impl Root {
    /// The account name's first component.
    pub fn as_str(self) -> &'static str {
        match self {
            Root::Assets => "Assets",
            Root::Liabilities => "Liabilities",
            Root::Equity => "Equity",
            Root::Income => "Income",
            Root::Expenses => "Expenses",
        }
    }

    /// The root of an account with `code` and normal balance `normal`.
    pub fn of(code: &AccountCode, normal: Direction) -> Root {
        match code.as_str() {
            AccountCode::FEE_REVENUE => Root::Income,
            AccountCode::PROCESSOR_FEES => Root::Expenses,
            AccountCode::GOODS_CLEARING => Root::Equity,
            _ if normal == Direction::Debit => Root::Assets,
            _ => Root::Liabilities,
        }
    }
}

/// The name of an account of `owner` with `code` and normal balance
/// `normal`; `pending` for its pending layer.
pub fn account(owner: Owner, code: &AccountCode, normal: Direction, pending: bool) -> String {
    let root = Root::of(code, normal).as_str();
    let code = component(code.as_str());
    let mut name = match owner {
        Owner::Platform => format!("{root}:Platform:{code}"),
        Owner::PlatformFor(m) => format!("{root}:Platform-For:M{}:{code}", m.0.simple().to_string().to_uppercase()),
        Owner::Merchant(m) => format!("{root}:Merchants:M{}:{code}", m.0.simple().to_string().to_uppercase()),
    };
    // Codes are lower case after their first letter: no code ends in `-Pending`.
    if pending {
        name.push_str("-Pending");
    }
    name
}

/// An account code as one name component: first letter capitalized, `_` as `-`.
fn component(code: &str) -> String {
    let mut out = String::with_capacity(code.len());
    for (i, c) in code.chars().enumerate() {
        match c {
            '_' => out.push('-'),
            c if i == 0 => out.push(c.to_ascii_uppercase()),
            c => out.push(c),
        }
    }
    out
}

/// The commodity name of `asset` (see the module doc).
pub fn commodity(asset: &AssetCode) -> String {
    let mut name = asset.as_str().to_owned();
    if name.len() < 2 || name.ends_with('_') {
        name.push_str(".X");
    }
    name
}

/// `commodity` as hledger writes it: bare when it is letters only, else in
/// double quotes.
pub fn hledger_commodity(commodity: &str) -> String {
    if commodity.chars().all(|c| c.is_ascii_alphabetic()) { commodity.to_owned() } else { format!("\"{commodity}\"") }
}

/// True when `name` follows Beancount's commodity rule.
pub fn is_beancount_commodity(name: &str) -> bool {
    let ok_char = |c: char| c.is_ascii_uppercase() || c.is_ascii_digit() || "'._-".contains(c);
    (2..=24).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_uppercase())
        && name.ends_with(|c: char| c.is_ascii_uppercase() || c.is_ascii_digit())
        && name.chars().all(ok_char)
}

/// `minor` units of an asset with `exponent` decimals as an exact decimal
/// (`-1234`, 2 → `-12.34`; exponent 0 has no point).
pub fn decimal(minor: i128, exponent: u32) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let digits = minor.unsigned_abs().to_string();
    if exponent == 0 {
        return format!("{sign}{digits}");
    }
    let e = exponent as usize;
    let padded = format!("{digits:0>width$}", width = e + 1);
    let (int, frac) = padded.split_at(padded.len() - e);
    format!("{sign}{int}.{frac}")
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;
    use crate::domain::MerchantId;

    #[test]
    fn commodities_follow_beancounts_rule_and_stay_distinct() {
        let names: Vec<String> = ["USD", "BRL", "X", "AB_", "A_B", "SKU_12345_RED", "Q9", "LONG_CODE_OF_16C"]
            .iter()
            .map(|c| commodity(&AssetCode::parse(c).expect("a code")))
            .collect();
        assert_eq!(names[0], "USD");
        assert_eq!(names[2], "X.X");
        assert_eq!(names[3], "AB_.X");
        assert_eq!(names[4], "A_B");
        for n in &names {
            assert!(is_beancount_commodity(n), "{n}");
        }
        let distinct: std::collections::BTreeSet<&String> = names.iter().collect();
        assert_eq!(distinct.len(), names.len());
        assert!(!is_beancount_commodity("AB_") && !is_beancount_commodity("A") && !is_beancount_commodity("1A"));
        assert_eq!(hledger_commodity("USD"), "USD");
        assert_eq!(hledger_commodity("A_B"), "\"A_B\"");
    }

    #[test]
    fn accounts_get_a_root_by_code_and_normal_balance() {
        let m = MerchantId(uuid::Uuid::from_u128(0xab));
        let code = |c: &str| AccountCode::parse(c).expect("a code");
        assert_eq!(
            account(Owner::Merchant(m), &code("available"), Direction::Credit, false),
            "Liabilities:Merchants:M000000000000000000000000000000AB:Available"
        );
        assert_eq!(
            account(Owner::PlatformFor(m), &code("processor_clearing"), Direction::Debit, true),
            "Assets:Platform-For:M000000000000000000000000000000AB:Processor-clearing-Pending"
        );
        assert_eq!(
            account(Owner::Platform, &code("fee_revenue"), Direction::Credit, false),
            "Income:Platform:Fee-revenue"
        );
        assert_eq!(
            account(Owner::Platform, &code("processor_fees"), Direction::Debit, false),
            "Expenses:Platform:Processor-fees"
        );
        assert_eq!(
            account(Owner::Platform, &code("goods_clearing"), Direction::Debit, false),
            "Equity:Platform:Goods-clearing"
        );
        assert_eq!(account(Owner::Platform, &code("9lives"), Direction::Debit, false), "Assets:Platform:9lives");
    }

    #[test]
    fn amounts_are_exact_decimals_of_minor_units() {
        assert_eq!(decimal(-1234, 2), "-12.34");
        assert_eq!(decimal(5, 2), "0.05");
        assert_eq!(decimal(-5, 3), "-0.005");
        assert_eq!(decimal(0, 2), "0.00");
        assert_eq!(decimal(42, 0), "42");
        assert_eq!(decimal(i128::from(i64::MIN), 2), "-92233720368547758.08");
    }
}
