//! Ledger events: what the outbox records about every committed transaction,
//! and what subscribers, the `events` feed and the broker receive.
//!
//! One event per ledger transaction, written in the transaction's own database
//! transaction. Two orders run through it:
//!
//! - **A merchant's journal.** `sequence` is the transaction's number in its
//!   merchant's journal, and `counterpartySequence` a deal's number in the
//!   counterparty's: gap-free and in commit order within that merchant, so a
//!   consumer of one merchant's events that has seen N has seen every one
//!   before N and resumes with "after N".
//! - **The whole feed.** `position` (`"<writer xid>.<row key>"`) rises in the
//!   order the feed is read across all merchants. The feed is read only below
//!   PostgreSQL's visibility watermark (every database transaction with a
//!   smaller id has ended), so a position once passed never gets an event
//!   before it: a consumer resumes with "after position P". There is no
//!   global gap-free number any more; that needed one lock for every write.
//!
//! The JSON form ([`LedgerEvent`] with serde, camelCase) is the wire contract of
//! the broker and is versioned by [`EVENT_SCHEMA_VERSION`]: fields may be added
//! within a version; renaming or removing one makes a new version. Amounts are
//! integer minor units of the entry's or balance's asset (ISO 4217 exponent or
//! the registered asset's), never floats.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::actor::{Actor, Tenant};
use super::{AccountCode, AssetCode, Balance, Direction, Layer, MerchantId, NormalBalance, TransactionKind};

/// Version of the event JSON. Consumers should ignore fields they do not know
/// and refuse a version they do not know.
/// Version 2 (issue 17): `sequence` is the number in the merchant's journal
/// (it was global), with `counterpartySequence` and `position` added.
pub const EVENT_SCHEMA_VERSION: u32 = 2;

/// The `type` of the one kind of event there is today.
pub const TRANSACTION_POSTED: &str = "transaction.posted";

/// A committed ledger transaction, with its entries and the balances it left.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LedgerEvent {
    /// [`EVENT_SCHEMA_VERSION`] at the time of writing.
    pub version: u32,
    /// The event's own id (UUIDv7); the broker's message id (`Nats-Msg-Id`), so
    /// a re-published event is dropped as a duplicate.
    pub id: Uuid,
    /// The transaction's number in its merchant's journal: gap-free and in
    /// commit order within that merchant.
    pub sequence: i64,
    /// A deal's number in the counterparty's journal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counterparty_sequence: Option<i64>,
    /// Where the event stands in the whole feed (see the module doc). Its
    /// writer id is known once the event is stored: 0 until then.
    #[serde(default)]
    pub position: FeedPosition,
    /// [`TRANSACTION_POSTED`].
    #[serde(rename = "type")]
    pub event_type: String,
    /// The transaction's kind (`payment`, `capture`, `reversal`, …).
    pub kind: TransactionKind,
    /// The merchant the transaction belongs to (the nil UUID for the platform's own).
    pub merchant_id: MerchantId,
    /// The other merchant of a deal, who sees the event too.
    pub counterparty_id: Option<MerchantId>,
    /// When the transaction committed.
    pub occurred_at: DateTime<Utc>,
    /// The transaction and its entries.
    pub transaction: EventTransaction,
    /// Every account balance the transaction changed, as it stood right after it.
    pub balances: Vec<EventBalance>,
}

/// The transaction an event records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventTransaction {
    /// Its id.
    pub id: Uuid,
    /// Its kind, as in the event.
    pub kind: TransactionKind,
    /// The caller's reference.
    pub external_ref: Option<String>,
    /// The caller's metadata (a JSON object).
    pub metadata: serde_json::Value,
    /// When the movement happened (may be backdated).
    pub effective_at: DateTime<Utc>,
    /// The transaction it reverses.
    pub reverses: Option<Uuid>,
    /// The payment it is a step of.
    pub payment_id: Option<Uuid>,
    /// The payout it is a step of.
    pub payout_id: Option<Uuid>,
    /// Who posted it: `key:<prefix>`, `staff:<username>` or `system:<job>`.
    pub actor: Actor,
    /// Its entries, in entry-sequence order.
    pub entries: Vec<EventEntry>,
}

/// One entry (posting) of the transaction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventEntry {
    /// The account posted to.
    pub account_id: Uuid,
    /// The account's owner (the nil UUID for the platform).
    pub owner_id: MerchantId,
    /// The account's code (`available`, `fee_revenue`, …).
    pub code: AccountCode,
    /// The asset code.
    pub asset: AssetCode,
    /// `debit` or `credit`.
    pub direction: Direction,
    /// `posted`, `hold` or `release`.
    pub layer: Layer,
    /// Positive integer minor units of `asset`.
    pub amount_minor: i64,
}

/// An account's totals right after the transaction, in minor units of `asset`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventBalance {
    /// The account.
    pub account_id: Uuid,
    /// The account's owner (the nil UUID for the platform).
    pub owner_id: MerchantId,
    /// The account's code.
    pub code: AccountCode,
    /// The asset code.
    pub asset: AssetCode,
    /// `debit` or `credit`: the side that increases the account.
    pub normal_balance: NormalBalance,
    /// Sum of posted debits.
    pub debits_posted: i64,
    /// Sum of posted credits.
    pub credits_posted: i64,
    /// Sum of pending debits.
    pub debits_pending: i64,
    /// Sum of pending credits.
    pub credits_pending: i64,
}

impl EventBalance {
    /// The four totals as a [`Balance`].
    pub fn totals(&self) -> Balance {
        Balance {
            debits_posted: self.debits_posted,
            credits_posted: self.credits_posted,
            debits_pending: self.debits_pending,
            credits_pending: self.credits_pending,
        }
    }

    /// The normal balance.
    pub fn normal(&self) -> NormalBalance {
        self.normal_balance
    }
}

/// A place in the whole event feed: the id of the database transaction that
/// wrote the event (PostgreSQL's `pg_current_xact_id()`; 0 on SQLite and for
/// events written before issue 17), then the transaction's row key. Ordered
/// by both. Written `"<xid>.<seq>"`; `"0.0"` is the start of the feed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FeedPosition {
    /// The writing database transaction's id.
    pub xid: i64,
    /// The ledger transaction's row key.
    pub seq: i64,
}

impl FeedPosition {
    /// The start of the feed: before every event.
    pub const START: FeedPosition = FeedPosition { xid: 0, seq: 0 };
    /// Past every event there can be.
    pub const END: FeedPosition = FeedPosition { xid: i64::MAX, seq: 0 };
}

impl std::fmt::Display for FeedPosition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.xid, self.seq)
    }
}

impl std::str::FromStr for FeedPosition {
    type Err = String;
    /// Parses `"<xid>.<seq>"`, both non-negative integers. Errors: anything else.
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("`{s}` is not a feed position (\"<xid>.<seq>\", as an event's `position`)");
        let (xid, seq) = s.split_once('.').ok_or_else(bad)?;
        let part = |p: &str| p.parse::<i64>().ok().filter(|n| *n >= 0 && !p.starts_with('+')).ok_or_else(bad);
        Ok(FeedPosition { xid: part(xid)?, seq: part(seq)? })
    }
}

impl Serialize for FeedPosition {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for FeedPosition {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl LedgerEvent {
    /// True when the event belongs to `merchant`: its own transaction, or a deal
    /// it is the counterparty of.
    pub fn concerns(&self, merchant: MerchantId) -> bool {
        self.merchant_id == merchant || self.counterparty_id == Some(merchant)
    }

    /// The event's number in `merchant`'s journal: `sequence` for its own
    /// transaction, `counterpartySequence` for a deal it is the counterparty
    /// of; `None` when it does not concern `merchant`.
    pub fn sequence_for(&self, merchant: MerchantId) -> Option<i64> {
        if self.merchant_id == merchant {
            Some(self.sequence)
        } else if self.counterparty_id == Some(merchant) {
            self.counterparty_sequence
        } else {
            None
        }
    }

    /// The event as `tenant` may see it, or `None` when it may not see it at all.
    ///
    /// A merchant sees its own transactions and its deals with every entry (as
    /// the `Transaction.entries` field shows them), but only its own accounts'
    /// balances: the platform's balances (`fee_revenue`, `processor_clearing`)
    /// and the other side of a deal are not its to see.
    pub fn visible_to(&self, tenant: Tenant) -> Option<LedgerEvent> {
        match tenant {
            Tenant::All => Some(self.clone()),
            Tenant::Nobody => None,
            Tenant::Merchant(m) if self.concerns(m) => {
                let mut own = self.clone();
                own.balances.retain(|b| b.owner_id == m);
                Some(own)
            }
            Tenant::Merchant(_) => None,
        }
    }

    /// The broker subject: `<prefix>.<merchant id>.<kind>`, one subject per
    /// merchant and kind, so a consumer can filter with NATS wildcards
    /// (`<prefix>.<merchant>.>` or `<prefix>.*.refund`).
    pub fn subject(&self, prefix: &str) -> String {
        format!("{prefix}.{}.{}", self.merchant_id, self.kind.as_str())
    }
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;

    fn event(merchant: MerchantId, counterparty: Option<MerchantId>) -> LedgerEvent {
        let balance = |owner: MerchantId, code: &str| EventBalance {
            account_id: Uuid::now_v7(),
            owner_id: owner,
            code: AccountCode::parse(code).expect("a valid code"),
            asset: AssetCode::parse("USD").expect("a valid asset"),
            normal_balance: Direction::Credit,
            debits_posted: 0,
            credits_posted: 2250,
            debits_pending: 0,
            credits_pending: 0,
        };
        let mut balances = vec![balance(merchant, "available"), balance(MerchantId::PLATFORM, "fee_revenue")];
        if let Some(c) = counterparty {
            balances.push(balance(c, "available"));
        }
        LedgerEvent {
            version: EVENT_SCHEMA_VERSION,
            id: Uuid::now_v7(),
            sequence: 7,
            counterparty_sequence: counterparty.map(|_| 3),
            position: FeedPosition { xid: 0, seq: 7 },
            event_type: TRANSACTION_POSTED.to_owned(),
            kind: TransactionKind::Payment,
            merchant_id: merchant,
            counterparty_id: counterparty,
            occurred_at: Utc::now(),
            transaction: EventTransaction {
                id: Uuid::now_v7(),
                kind: TransactionKind::Payment,
                external_ref: None,
                metadata: serde_json::json!({}),
                effective_at: Utc::now(),
                reverses: None,
                payment_id: None,
                payout_id: None,
                actor: Actor::Staff { username: "admin".into() },
                entries: vec![],
            },
            balances,
        }
    }

    #[test]
    fn feed_positions_parse_print_and_order_by_writer_then_row_key() {
        let p: FeedPosition = "12.345".parse().expect("a position");
        assert_eq!(p, FeedPosition { xid: 12, seq: 345 });
        assert_eq!(p.to_string(), "12.345");
        assert!(FeedPosition { xid: 11, seq: 900 } < p && p < FeedPosition { xid: 12, seq: 346 });
        for bad in ["", "12", "12.", ".3", "-1.2", "1.-2", "+1.2", "1.2.3", "x.y", "99999999999999999999.1"] {
            assert!(bad.parse::<FeedPosition>().is_err(), "`{bad}` must be refused");
        }
        let deal = event(MerchantId::new(), Some(MerchantId::new()));
        assert_eq!(deal.sequence_for(deal.merchant_id), Some(7));
        assert_eq!(deal.sequence_for(deal.counterparty_id.expect("a deal")), Some(3));
        assert_eq!(deal.sequence_for(MerchantId::new()), None);
    }

    #[test]
    fn a_merchant_sees_only_its_own_balances_and_no_one_elses_events() {
        let (a, b, c) = (MerchantId::new(), MerchantId::new(), MerchantId::new());
        let e = event(a, None);
        let seen = e.visible_to(Tenant::Merchant(a)).expect("own event");
        assert_eq!(seen.balances.len(), 1, "the platform's fee_revenue must not reach a merchant");
        assert!(seen.balances.iter().all(|x| x.owner_id == a));
        assert!(e.visible_to(Tenant::Merchant(b)).is_none());
        assert!(e.visible_to(Tenant::Nobody).is_none());
        assert_eq!(e.visible_to(Tenant::All).expect("staff").balances.len(), 2);
        // A deal is seen by both sides, each with its own balance only.
        let deal = event(a, Some(c));
        let buyer = deal.visible_to(Tenant::Merchant(c)).expect("counterparty sees the deal");
        assert_eq!(buyer.balances.iter().map(|x| x.owner_id).collect::<Vec<_>>(), vec![c]);
    }

    #[test]
    fn the_json_is_camel_case_with_a_version_and_a_type() {
        let e = event(MerchantId::new(), None);
        let json = serde_json::to_value(&e).expect("serializes");
        assert_eq!(json["version"], 2);
        assert_eq!(json["position"], "0.7", "a position is a string on the wire");
        assert_eq!(json["sequence"], 7);
        assert!(json.get("counterpartySequence").is_none(), "no counterparty, no counterparty number");
        assert_eq!(json["type"], "transaction.posted");
        assert!(json["merchantId"].is_string() && json["balances"][0]["creditsPosted"] == 2250, "{json}");
        // Typed in Rust, the same strings on the wire as the stored events have.
        assert_eq!(
            (&json["kind"], &json["transaction"]["kind"]),
            (&serde_json::json!("payment"), &serde_json::json!("payment"))
        );
        assert_eq!(json["balances"][0]["normalBalance"], "credit");
        let back: LedgerEvent = serde_json::from_value(json).expect("round-trips");
        assert_eq!(back, e);
        assert_eq!(e.subject("ledger.events"), format!("ledger.events.{}.payment", e.merchant_id));
    }
}
