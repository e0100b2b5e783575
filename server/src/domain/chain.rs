//! The hash chain of a merchant's journal, and the offline check of an export
//! of it: pure, so `ledger-server verify-export` needs no database and a
//! merchant can rewrite it from the README ("The hash chain") alone.
//!
//! **The chain.** Each merchant's journal (its own transactions, and the deals
//! it is the counterparty of, in journal-number order) is a chain:
//!
//! ```text
//! link(0) = 32 zero bytes
//! link(n) = SHA-256( link(n-1) || encode(transaction n of the journal) )
//! ```
//!
//! **The encoding** ([`encode`]) is length-prefixed, so no two transactions
//! encode alike (Blnk's `|`-joined fields do not have that property):
//! `text(s)` is the UTF-8 bytes of `s` after their length as a 4-byte
//! big-endian integer; `opt(s)` is the byte `0x00` when absent, else `0x01`
//! then `text(s)`; `u64(n)` is 8 bytes big-endian. In order:
//!
//! 1. `text("ledger-chain/1")` (the format version);
//! 2. `text(chain)` — the journal's merchant (UUID, lowercase, hyphenated);
//!    `u64(sequence)` — the transaction's number in that journal (1, 2, …);
//! 3. `text(id)`, `text(kind)` (e.g. `capture`), `text(merchant)`
//!    (the merchant whose books hold it), `opt(counterparty)` (a deal's other
//!    merchant), `opt(reverses)` (the transaction it reverses);
//! 4. `text(effective_at)`, `text(created_at)`: RFC 3339 in UTC with exactly
//!    six fractional digits and `Z` (`2026-12-04T18:07:12.123456Z`);
//! 5. `opt(external_ref)`; `text(metadata)` as RFC 8785 canonical JSON
//!    (JCS: keys sorted by UTF-16 code units, no whitespace, ES6 numbers);
//! 6. the count of entries as 4 bytes big-endian, then each entry in the
//!    order it was posted: `text(account)`, `text(asset)` (the asset code),
//!    `text(direction)` (`debit`/`credit`), `text(layer)`
//!    (`posted`/`hold`/`release`), `u64(amount)` (positive integer minor
//!    units of the asset).
//!
//! A deal is in two journals: its link in the seller's chain is `hash`, in the
//! counterparty's `counterparty_hash`, each encoded with its own `chain` and
//! `sequence`.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// The format version, the first field of every encoding.
pub const FORMAT: &str = "ledger-chain/1";

/// A link of a chain: a SHA-256 digest (32 bytes).
pub type Link = [u8; 32];

/// The link before a chain's first transaction: 32 zero bytes.
pub const GENESIS: Link = [0; 32];

/// One transaction as its chain encodes it; with its link, a `transaction`
/// line of a merchant's export (JSON Lines).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChainTransaction {
    /// The journal (merchant) whose chain this link is in.
    pub chain: Uuid,
    /// Its number in that journal: 1, 2, … without gaps.
    pub sequence: u64,
    /// The transaction's id.
    pub id: Uuid,
    /// What it records, in its storage form (`payment`, `capture`, …).
    pub kind: String,
    /// The merchant whose books hold it (for a deal, the seller).
    pub merchant: Uuid,
    /// A deal's other merchant.
    pub counterparty: Option<Uuid>,
    /// The transaction it reverses.
    pub reverses: Option<Uuid>,
    /// When it took effect: RFC 3339, UTC, six fractional digits, `Z`.
    pub effective_at: String,
    /// When it was committed, in the same form.
    pub created_at: String,
    /// The caller's reference.
    pub external_ref: Option<String>,
    /// A JSON object; hashed as RFC 8785 canonical JSON.
    pub metadata: serde_json::Value,
    /// Its entries, in the order they were posted.
    pub entries: Vec<ChainEntry>,
}

/// One entry (posting) of a [`ChainTransaction`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainEntry {
    /// The account posted to.
    pub account: Uuid,
    /// The asset code (ISO 4217 for currencies).
    pub asset: String,
    /// `debit` or `credit`.
    pub direction: String,
    /// `posted`, `hold` or `release`.
    pub layer: String,
    /// Positive integer minor units of `asset`.
    pub amount: u64,
}

/// Why a transaction cannot be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// A field longer than 4 GiB, or more than 2³² entries.
    #[error("a field of transaction {0} is too long to encode")]
    TooLong(Uuid),
    /// The metadata has no RFC 8785 form.
    #[error("the metadata of transaction {0} has no canonical JSON form")]
    Metadata(Uuid),
}

/// A timestamp as the encoding carries it: RFC 3339 in UTC with exactly six
/// fractional digits (cut, as PostgreSQL's `timestamptz` keeps them) and `Z`.
pub fn time_text(at: chrono::DateTime<chrono::Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// The canonical encoding of `t` (see the module doc). Errors: [`EncodeError`].
pub fn encode(t: &ChainTransaction) -> Result<Vec<u8>, EncodeError> {
    let too_long = || EncodeError::TooLong(t.id);
    let mut out = Vec::with_capacity(512);
    let text = |out: &mut Vec<u8>, s: &str| -> Result<(), EncodeError> {
        out.extend_from_slice(&u32::try_from(s.len()).map_err(|_| too_long())?.to_be_bytes());
        out.extend_from_slice(s.as_bytes());
        Ok(())
    };
    let opt = |out: &mut Vec<u8>, s: Option<&str>| -> Result<(), EncodeError> {
        match s {
            None => {
                out.push(0);
                Ok(())
            }
            Some(s) => {
                out.push(1);
                text(out, s)
            }
        }
    };
    let metadata = serde_json_canonicalizer::to_string(&t.metadata).map_err(|_| EncodeError::Metadata(t.id))?;
    text(&mut out, FORMAT)?;
    text(&mut out, &t.chain.to_string())?;
    out.extend_from_slice(&t.sequence.to_be_bytes());
    text(&mut out, &t.id.to_string())?;
    text(&mut out, &t.kind)?;
    text(&mut out, &t.merchant.to_string())?;
    opt(&mut out, t.counterparty.map(|c| c.to_string()).as_deref())?;
    opt(&mut out, t.reverses.map(|r| r.to_string()).as_deref())?;
    text(&mut out, &t.effective_at)?;
    text(&mut out, &t.created_at)?;
    opt(&mut out, t.external_ref.as_deref())?;
    text(&mut out, &metadata)?;
    out.extend_from_slice(&u32::try_from(t.entries.len()).map_err(|_| too_long())?.to_be_bytes());
    for e in &t.entries {
        text(&mut out, &e.account.to_string())?;
        text(&mut out, &e.asset)?;
        text(&mut out, &e.direction)?;
        text(&mut out, &e.layer)?;
        out.extend_from_slice(&e.amount.to_be_bytes());
    }
    Ok(out)
}

/// The link of `t` after `previous`: SHA-256(previous || encode(t)).
/// Errors: [`EncodeError`].
pub fn link(previous: &Link, t: &ChainTransaction) -> Result<Link, EncodeError> {
    let mut hasher = Sha256::new();
    hasher.update(previous);
    hasher.update(encode(t)?);
    Ok(hasher.finalize().into())
}

/// A link as 64 lowercase hex digits.
pub fn to_hex(link: &Link) -> String {
    use std::fmt::Write;
    link.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Reads 64 hex digits back into a link; `None` for anything else.
pub fn from_hex(text: &str) -> Option<Link> {
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    let mut link = [0u8; 32];
    for (i, byte) in link.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(link)
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;

    /// The README's test vectors ("The hash chain"): three transactions of one
    /// merchant's journal and their links. A change here is a change of the
    /// format: bump [`FORMAT`].
    fn vectors() -> Vec<ChainTransaction> {
        let m = Uuid::parse_str("7b0e3f2a-5c1d-4e8f-9a6b-2d4c8e1f0a3b").expect("uuid");
        let other = Uuid::parse_str("c3d2e1f0-a9b8-4c7d-8e6f-5a4b3c2d1e0f").expect("uuid");
        let acct = |s: &str| Uuid::parse_str(s).expect("uuid");
        let entry = |account: &str, direction: &str, layer: &str, amount: u64| ChainEntry {
            account: acct(account),
            asset: "EUR".into(),
            direction: direction.into(),
            layer: layer.into(),
            amount,
        };
        let first = ChainTransaction {
            chain: m,
            sequence: 1,
            id: acct("00000000-0000-4000-8000-000000000001"),
            kind: "payment".into(),
            merchant: m,
            counterparty: None,
            reverses: None,
            effective_at: "2026-12-04T09:00:00.000000Z".into(),
            created_at: "2026-12-04T09:00:00.123456Z".into(),
            external_ref: Some("order-1".into()),
            metadata: serde_json::json!({ "order": "A-1", "items": 2 }),
            entries: vec![
                entry("00000000-0000-4000-8000-0000000000a1", "debit", "posted", 10_000),
                entry("00000000-0000-4000-8000-0000000000a2", "credit", "posted", 9_710),
                entry("00000000-0000-4000-8000-0000000000a3", "credit", "posted", 290),
            ],
        };
        let second = ChainTransaction {
            sequence: 2,
            id: acct("00000000-0000-4000-8000-000000000002"),
            kind: "reversal".into(),
            reverses: Some(first.id),
            effective_at: "2026-12-04T10:30:00.000000Z".into(),
            created_at: "2026-12-04T10:30:00.000001Z".into(),
            external_ref: None,
            metadata: serde_json::json!({}),
            entries: vec![
                entry("00000000-0000-4000-8000-0000000000a2", "debit", "posted", 9_710),
                entry("00000000-0000-4000-8000-0000000000a3", "debit", "posted", 290),
                entry("00000000-0000-4000-8000-0000000000a1", "credit", "posted", 10_000),
            ],
            ..first.clone()
        };
        let third = ChainTransaction {
            sequence: 3,
            id: acct("00000000-0000-4000-8000-000000000003"),
            kind: "deal".into(),
            merchant: other,
            counterparty: Some(m),
            reverses: None,
            effective_at: "2026-12-05T00:00:00.000000Z".into(),
            created_at: "2026-12-05T00:00:00.500000Z".into(),
            external_ref: Some("deal-9".into()),
            metadata: serde_json::json!({ "b": 1.5, "a": [true, null, "é"] }),
            entries: vec![
                entry("00000000-0000-4000-8000-0000000000b1", "debit", "hold", 2_500),
                entry("00000000-0000-4000-8000-0000000000a2", "credit", "hold", 2_500),
            ],
            ..first.clone()
        };
        vec![first, second, third]
    }

    /// The links of [`vectors`], as the README prints them.
    const VECTOR_LINKS: [&str; 3] = [
        "be0954e9fe682a232490496b12e1ad1c0141f84244819c866596d56ed83ad4ec",
        "03e8f74eee7a38c34f7334a8bc4c49ede3146ea4e0b0a4ffd51055ad654b45bb",
        "b240745a7b76176ff7af763c919adc76ffc6d90e5448237f15186a9985b6fe7d",
    ];

    #[test]
    fn the_readme_test_vectors_hold() {
        let mut previous = GENESIS;
        let mut got = Vec::new();
        for t in vectors() {
            previous = link(&previous, &t).expect("encodes");
            got.push(to_hex(&previous));
        }
        assert_eq!(got, VECTOR_LINKS, "links of the README's vectors");
    }

    #[test]
    fn the_encoding_is_length_prefixed_and_tells_absent_from_empty() {
        let t = vectors().remove(0);
        let bytes = encode(&t).expect("encodes");
        assert_eq!(&bytes[..4], &14u32.to_be_bytes(), "text(\"ledger-chain/1\") starts with its length");
        assert_eq!(&bytes[4..18], FORMAT.as_bytes());
        let mut empty = t.clone();
        empty.external_ref = Some(String::new());
        let mut absent = t.clone();
        absent.external_ref = None;
        assert_ne!(encode(&empty).expect("encodes"), encode(&absent).expect("encodes"));
        // Moving a character between two fields changes the encoding.
        let mut a = t.clone();
        a.kind = "paymen".into();
        a.external_ref = Some("torder-1".into());
        assert_ne!(encode(&a).expect("encodes"), bytes);
    }

    #[test]
    fn metadata_is_hashed_in_canonical_form() {
        let mut a = vectors().remove(2);
        let mut b = a.clone();
        a.metadata = serde_json::from_str(r#"{"b":1.50,"a":[true,null,"\u00e9"]}"#).expect("json");
        b.metadata = serde_json::from_str(r#"{ "a": [true, null, "é"], "b": 1.5 }"#).expect("json");
        assert_eq!(link(&GENESIS, &a).expect("a"), link(&GENESIS, &b).expect("b"));
    }

    #[test]
    fn hex_round_trips_and_refuses_junk() {
        let l = link(&GENESIS, &vectors()[0]).expect("encodes");
        assert_eq!(from_hex(&to_hex(&l)), Some(l));
        assert_eq!(from_hex("zz"), None);
        assert_eq!(from_hex(&"g".repeat(64)), None);
        assert_eq!(from_hex(&"é".repeat(32)), None);
    }
}
