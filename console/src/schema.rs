//! The schema's enums and scalars, as the typed operations in [`crate::api`]
//! use them (`graphql_client`'s `extern_enums`), defined once so every page
//! compares and shows the same type.
//!
//! The enums are checked against the committed `server/schema.graphql` by
//! the test below: a value added to or removed from the schema fails it, so
//! these are never a mirror that drifts. Pure, unit-tested natively.

/// The schema's `DateTime` scalar: RFC 3339, in UTC.
pub type DateTime = String;

/// The schema's `JSON` scalar (a transaction's metadata).
pub type Json = serde_json::Value;

/// The schema's `NaiveDate` scalar: a day, `YYYY-MM-DD` (ISO 8601).
pub type NaiveDate = String;

/// The schema's `Upload` scalar (the GraphQL multipart request spec). The
/// console never sends one through GraphQL: a statement file goes to
/// `POST /reconcile/bank_statement` as a form (see `api::import_statement`).
pub type Upload = serde_json::Value;

/// Defines an enum of the schema with its wire names, `as_str` and serde.
macro_rules! schema_enum {
    ($(#[$doc:meta])* $name:ident, $schema_name:literal { $($(#[$vdoc:meta])* $variant:ident = $wire:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        pub enum $name {
            $($(#[$vdoc])* #[serde(rename = $wire)] $variant,)+
        }

        impl $name {
            /// The schema's name of this enum.
            #[cfg(test)]
            pub const SCHEMA_NAME: &'static str = $schema_name;

            /// Every value, in the schema's order.
            #[cfg(test)]
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The value as the API spells it (`PAYMENT`, `CAPTURED`, …), which
            /// is also how the console shows it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $wire,)+
                }
            }
        }
    };
}

schema_enum!(
    /// Side of an entry, or the normal balance of an account (`DirectionType`).
    Direction, "DirectionType" { /** Left side. */ Debit = "DEBIT", /** Right side. */ Credit = "CREDIT" }
);

schema_enum!(
    /// The balance layer an entry moves (`LayerType`).
    Layer, "LayerType" {
        /// Settled.
        Posted = "POSTED",
        /// A pending amount set aside.
        Hold = "HOLD",
        /// A pending amount given back.
        Release = "RELEASE",
    }
);

schema_enum!(
    /// What a transaction is (`TransactionKindType`).
    TransactionKind, "TransactionKindType" {
        /// A transfer.
        Transfer = "TRANSFER",
        /// A recorded payment.
        Payment = "PAYMENT",
        /// A payout.
        Payout = "PAYOUT",
        /// A reversal of another transaction.
        Reversal = "REVERSAL",
        /// A card authorization (a hold).
        Authorization = "AUTHORIZATION",
        /// A capture of an authorization.
        Capture = "CAPTURE",
        /// A void of an authorization.
        Void = "VOID",
        /// An authorization that expired.
        Expiry = "EXPIRY",
        /// A refund.
        Refund = "REFUND",
        /// A chargeback opened.
        DisputeOpened = "DISPUTE_OPENED",
        /// A chargeback won.
        DisputeWon = "DISPUTE_WON",
        /// A chargeback lost.
        DisputeLost = "DISPUTE_LOST",
        /// A deal between two merchants.
        Deal = "DEAL",
        /// A payout created.
        PayoutCreated = "PAYOUT_CREATED",
        /// A payout settled.
        PayoutSettled = "PAYOUT_SETTLED",
        /// A payout failed.
        PayoutFailed = "PAYOUT_FAILED",
        /// A processor's deposit settled captures.
        Settlement = "SETTLEMENT",
        /// A bank line written off to suspense.
        BankWriteOff = "BANK_WRITE_OFF",
    }
);

schema_enum!(
    /// Where a payment is in its life cycle (`PaymentStateType`).
    PaymentState, "PaymentStateType" {
        /// Held, not captured.
        Authorized = "AUTHORIZED",
        /// Part captured.
        PartiallyCaptured = "PARTIALLY_CAPTURED",
        /// Captured.
        Captured = "CAPTURED",
        /// Voided.
        Voided = "VOIDED",
        /// Expired.
        Expired = "EXPIRED",
        /// Part refunded.
        PartiallyRefunded = "PARTIALLY_REFUNDED",
        /// Refunded.
        Refunded = "REFUNDED",
        /// Under chargeback.
        Disputed = "DISPUTED",
        /// Charged back.
        ChargedBack = "CHARGED_BACK",
    }
);

schema_enum!(
    /// Where a payout is (`PayoutStateType`).
    PayoutState, "PayoutStateType" {
        /// Sent, not settled.
        InTransit = "IN_TRANSIT",
        /// Settled.
        Settled = "SETTLED",
        /// Failed.
        Failed = "FAILED",
    }
);

schema_enum!(
    /// A staff member's role (`StaffRole`).
    StaffRole, "StaffRole" {
        /// Reads only.
        Viewer = "VIEWER",
        /// Reads, reverses and refunds.
        Support = "SUPPORT",
        /// Everything.
        Admin = "ADMIN",
    }
);

schema_enum!(
    /// Where a bank statement line stands against the books (`LineStateType`).
    LineState, "LineStateType" {
        /// Not yet matched: in the exception queue.
        Unmatched = "UNMATCHED",
        /// Matched to ledger items.
        Matched = "MATCHED",
        /// Written off to suspense.
        WrittenOff = "WRITTEN_OFF",
    }
);

schema_enum!(
    /// Which way money moved on a bank account (`BankDirectionType`,
    /// camt.053 `CdtDbtInd`).
    BankDirection, "BankDirectionType" {
        /// Into the bank account (`CRDT`).
        Credit = "CREDIT",
        /// Out of the bank account (`DBIT`).
        Debit = "DEBIT",
    }
);

schema_enum!(
    /// A ledger item the bank has not confirmed (`LedgerItemKindType`).
    LedgerItemKind, "LedgerItemKindType" {
        /// A payout in transit.
        Payout = "PAYOUT",
        /// A capture no processor deposit has settled.
        Capture = "CAPTURE",
    }
);

schema_enum!(
    /// What matching a bank line to a payout does (`PayoutMatchActionType`).
    PayoutMatchAction, "PayoutMatchActionType" {
        /// The bank's debit settles the payout.
        Settle = "SETTLE",
        /// The bank's return fails the payout.
        Fail = "FAIL",
        /// The debit of a payout the same run fails by its return.
        Returned = "RETURNED",
    }
);

impl LineState {
    /// "Unmatched", "Matched" or "Written off", for people.
    pub fn label(self) -> &'static str {
        match self {
            LineState::Unmatched => "Unmatched",
            LineState::Matched => "Matched",
            LineState::WrittenOff => "Written off",
        }
    }
}

impl LedgerItemKind {
    /// "Payout in transit" or "Unsettled capture", for people.
    pub fn label(self) -> &'static str {
        match self {
            LedgerItemKind::Payout => "Payout in transit",
            LedgerItemKind::Capture => "Unsettled capture",
        }
    }
}

impl Direction {
    /// "Debit" or "Credit", for people.
    pub fn label(self) -> &'static str {
        match self {
            Direction::Debit => "Debit",
            Direction::Credit => "Credit",
        }
    }
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;

    const SCHEMA: &str = include_str!("../../server/schema.graphql");

    /// The values of `enum <name>` in the committed schema, in order.
    fn schema_values(name: &str) -> Vec<String> {
        let start = SCHEMA.find(&format!("\nenum {name} {{")).expect("the enum is in the schema");
        let body = &SCHEMA[start..];
        let end = body.find("\n}").expect("the enum ends");
        body[..end]
            .lines()
            .skip(2)
            .map(str::trim)
            .filter(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
            .map(str::to_owned)
            .collect()
    }

    fn check<E: Copy + serde::Serialize>(schema_name: &str, all: &[E], as_str: impl Fn(E) -> &'static str) {
        let ours: Vec<String> = all.iter().map(|v| as_str(*v).to_owned()).collect();
        assert_eq!(ours, schema_values(schema_name), "{schema_name} differs from server/schema.graphql");
        for v in all {
            assert_eq!(serde_json::to_value(v).expect("serialize"), serde_json::json!(as_str(*v)));
        }
    }

    #[test]
    fn every_enum_matches_the_committed_schema() {
        check(Direction::SCHEMA_NAME, Direction::ALL, Direction::as_str);
        check(Layer::SCHEMA_NAME, Layer::ALL, Layer::as_str);
        check(TransactionKind::SCHEMA_NAME, TransactionKind::ALL, TransactionKind::as_str);
        check(PaymentState::SCHEMA_NAME, PaymentState::ALL, PaymentState::as_str);
        check(PayoutState::SCHEMA_NAME, PayoutState::ALL, PayoutState::as_str);
        check(StaffRole::SCHEMA_NAME, StaffRole::ALL, StaffRole::as_str);
        check(LineState::SCHEMA_NAME, LineState::ALL, LineState::as_str);
        check(BankDirection::SCHEMA_NAME, BankDirection::ALL, BankDirection::as_str);
        check(LedgerItemKind::SCHEMA_NAME, LedgerItemKind::ALL, LedgerItemKind::as_str);
        check(PayoutMatchAction::SCHEMA_NAME, PayoutMatchAction::ALL, PayoutMatchAction::as_str);
    }

    #[test]
    fn a_value_the_schema_lacks_is_refused() {
        assert!(serde_json::from_str::<Direction>(r#""SIDEWAYS""#).is_err());
    }
}
