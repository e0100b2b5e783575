//! Ledger events: what the outbox records about every committed transaction,
//! and what subscribers, the `events` feed and the broker receive.
//!
//! One event per ledger transaction, written in the transaction's own database
//! transaction. Its `sequence` is the transaction's sequence number: global,
//! gap-free and in commit order, so a consumer that has seen sequence N has seen
//! every event before N and resumes with "after N".
//!
//! The JSON form ([`LedgerEvent`] with serde, camelCase) is the wire contract of
//! the broker and is versioned by [`EVENT_SCHEMA_VERSION`]: fields may be added
//! within a version; renaming or removing one makes a new version. Amounts are
//! integer minor units of the entry's or balance's asset (ISO 4217 exponent or
//! the registered asset's), never floats.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Balance, Direction, Layer, MerchantId, NormalBalance, TransactionKind};
use crate::core::access::rules::Tenant;

/// Version of the event JSON. Consumers should ignore fields they do not know
/// and refuse a version they do not know.
pub const EVENT_SCHEMA_VERSION: u32 = 1;

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
    /// The transaction's gap-free, commit-ordered sequence number.
    pub sequence: i64,
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
    pub actor: String,
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
    pub code: String,
    /// The asset code.
    pub asset: String,
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
    pub code: String,
    /// The asset code.
    pub asset: String,
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

impl LedgerEvent {
    /// True when the event belongs to `merchant`: its own transaction, or a deal
    /// it is the counterparty of.
    pub fn concerns(&self, merchant: MerchantId) -> bool {
        self.merchant_id == merchant || self.counterparty_id == Some(merchant)
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
            code: code.to_owned(),
            asset: "USD".to_owned(),
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
                actor: "staff:admin".to_owned(),
                entries: vec![],
            },
            balances,
        }
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
        assert_eq!(json["version"], 1);
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
