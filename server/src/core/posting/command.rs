//! The write path's stored command form: [`Command`] (a change to the books),
//! [`Request`] (a command with its idempotency key, tenant, actor and audit),
//! [`Outcome`] (what it produced, stored as the idempotency result) and
//! [`Applied`]. They stay inside `core`: transport code calls the typed
//! services instead.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::core::access::keys::AccessCommand;
use crate::core::access::rules::{Actor, AuditTarget, Secret, Tenant};
use crate::core::accounts::limit::LimitPolicy;
use crate::core::accounts::store::limits::LimitTarget;
use crate::core::payments::fee::FeeSchedule;
use crate::core::payments::payment::Annotations;
use crate::core::posting::store as transactions;
use crate::domain::Amount;
use crate::domain::{
    AccountCode, AccountId, Asset, AssetCode, Fingerprint, IdempotencyKey, MerchantClass, MerchantExternalId,
    MerchantId, MerchantName, NormalBalance, Owner, TransactionDraft, TransactionId,
};

/// A change to the books.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Post a validated transaction draft.
    Post(TransactionDraft),
    /// Reverse a posted transaction, giving a reason.
    Reverse {
        /// The transaction to reverse.
        transaction: TransactionId,
        /// Why, 1 to 500 characters; kept in the reversal's metadata.
        reason: String,
        /// Skip the balance limit check (an admin's forced reversal); the
        /// reversal's metadata then says `forced: true`.
        force: bool,
    },
    /// Set the balance limit policy of one account, or the default for a code
    /// and asset (see [`crate::core::accounts::limit`]).
    SetBalanceLimit {
        /// What it applies to.
        target: LimitTarget,
        /// The bounds.
        policy: LimitPolicy,
    },
    /// Create a merchant.
    CreateMerchant {
        /// Display name.
        name: MerchantName,
        /// The caller's id for it.
        external_id: Option<MerchantExternalId>,
        /// Rollup class.
        class: MerchantClass,
    },
    /// Register a custom asset.
    RegisterAsset(Asset),
    /// Open an account outside the standard chart (or a standard one early).
    OpenAccount {
        /// Owner.
        owner: Owner,
        /// Code.
        code: AccountCode,
        /// Asset; must exist.
        asset: AssetCode,
        /// Normal balance; ignored for standard codes, which have their own.
        normal_balance: NormalBalance,
    },
    /// Authorize a payment: hold `amount` pending for the merchant.
    Authorize {
        /// The merchant paid.
        merchant: MerchantId,
        /// The asset.
        asset: AssetCode,
        /// The amount held, minor units.
        amount: Amount,
        /// When the hold lapses; the ledger's default TTL from now when `None`.
        expires_at: Option<DateTime<Utc>>,
        /// Reference, metadata, effective time.
        notes: Annotations,
    },
    /// Capture part (`Some`) or all (`None`) of what an authorization still holds.
    Capture {
        /// The payment.
        payment: uuid::Uuid,
        /// Amount and its asset, which must be the payment's.
        amount: Option<(AssetCode, Amount)>,
    },
    /// Release what an authorization still holds.
    Void {
        /// The payment.
        payment: uuid::Uuid,
    },
    /// Release what an expired authorization still holds (the sweeper's step).
    Expire {
        /// The payment.
        payment: uuid::Uuid,
    },
    /// Refund part (`Some`) or all of the refundable captured money.
    Refund {
        /// The payment.
        payment: uuid::Uuid,
        /// Amount and its asset, which must be the payment's.
        amount: Option<(AssetCode, Amount)>,
    },
    /// Open a chargeback on part (`Some`) or all of the disputable money.
    OpenDispute {
        /// The payment.
        payment: uuid::Uuid,
        /// Amount and its asset, which must be the payment's.
        amount: Option<(AssetCode, Amount)>,
    },
    /// Resolve the open chargeback.
    ResolveDispute {
        /// The payment.
        payment: uuid::Uuid,
        /// True when the merchant won.
        won: bool,
        /// A fee charged to the merchant when it lost.
        fee: Option<(AssetCode, Amount)>,
    },
    /// Pay out the merchant's available balance less its reserve in `asset`.
    CreatePayout {
        /// The merchant.
        merchant: MerchantId,
        /// The asset.
        asset: AssetCode,
        /// The schedule period, for scheduled payouts (one per period).
        period: Option<String>,
    },
    /// Mark a payout in transit as arrived.
    SettlePayout {
        /// The payout.
        payout: uuid::Uuid,
    },
    /// Mark a payout in transit as bounced, returning the money to available.
    FailPayout {
        /// The payout.
        payout: uuid::Uuid,
    },
    /// Set a merchant's payout reserve and schedule for an asset.
    SetPayoutSettings {
        /// The merchant.
        merchant: MerchantId,
        /// The asset.
        asset: AssetCode,
        /// Minor units kept back from every payout.
        reserve_minor: i64,
        /// Automatic payouts, if any.
        schedule: Option<crate::core::payouts::payout::PayoutSchedule>,
    },
    /// Change who may do what: API keys and staff users (see [`keys`]).
    Access(AccessCommand),
    /// Set a merchant's fee schedule for an asset (applies to later captures).
    SetFeeSchedule {
        /// The merchant.
        merchant: MerchantId,
        /// The asset.
        asset: AssetCode,
        /// The schedule.
        schedule: FeeSchedule,
    },
}

impl Command {
    /// The merchant whose idempotency key space a staff request on this command
    /// uses: the merchant it names, or the platform for commands that name a
    /// payment, payout or transaction (a merchant key always uses its own).
    pub fn key_scope(&self) -> MerchantId {
        match self {
            Command::Post(draft) => draft.merchant,
            Command::OpenAccount { owner, .. } => owner.merchant_id(),
            Command::Authorize { merchant, .. }
            | Command::CreatePayout { merchant, .. }
            | Command::SetPayoutSettings { merchant, .. }
            | Command::SetFeeSchedule { merchant, .. } => *merchant,
            _ => MerchantId::PLATFORM,
        }
    }

    /// What a staff action on this command acts on, for the audit log:
    /// `(target type, target id)`.
    pub fn audit_target(&self) -> (AuditTarget, Option<String>) {
        match self {
            Command::Post(draft) => (AuditTarget::Merchant, Some(draft.merchant.to_string())),
            Command::Reverse { transaction, .. } => (AuditTarget::Transaction, Some(transaction.to_string())),
            Command::CreateMerchant { .. } => (AuditTarget::Merchant, None),
            Command::RegisterAsset(asset) => (AuditTarget::Asset, Some(asset.code.to_string())),
            Command::OpenAccount { owner, .. } => (AuditTarget::Merchant, Some(owner.merchant_id().to_string())),
            Command::Authorize { merchant, .. }
            | Command::CreatePayout { merchant, .. }
            | Command::SetPayoutSettings { merchant, .. }
            | Command::SetFeeSchedule { merchant, .. } => (AuditTarget::Merchant, Some(merchant.to_string())),
            Command::Capture { payment, .. }
            | Command::Void { payment }
            | Command::Expire { payment }
            | Command::Refund { payment, .. }
            | Command::OpenDispute { payment, .. }
            | Command::ResolveDispute { payment, .. } => (AuditTarget::Payment, Some(payment.to_string())),
            Command::SettlePayout { payout } | Command::FailPayout { payout } => {
                (AuditTarget::Payout, Some(payout.to_string()))
            }
            Command::SetBalanceLimit { target: LimitTarget::Account(id), .. } => {
                (AuditTarget::Account, Some(id.to_string()))
            }
            Command::SetBalanceLimit { target: LimitTarget::Default { code, asset }, .. } => {
                (AuditTarget::BalanceLimitDefault, Some(format!("{code}/{asset}")))
            }
            Command::Access(command) => command.audit_target(),
        }
    }
}

/// A command with its idempotency key.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// Whose key space the key lives in: the merchant acted for, or the platform.
    pub scope: MerchantId,
    /// The caller's idempotency key. `None` only for the server's own jobs (the
    /// expiry sweeper), whose steps are made exactly-once by the payment's row
    /// lock and state instead, so no caller-chosen key can collide with them.
    pub key: Option<IdempotencyKey>,
    /// The GraphQL mutation name, stored with the key.
    pub operation: &'static str,
    /// Fingerprint of the request as sent.
    pub fingerprint: Fingerprint,
    /// The change.
    pub command: Command,
    /// Whose rows the write may touch: the caller's merchant for a merchant
    /// key, everything for staff, service keys and the server's jobs. Checked here and, on
    /// PostgreSQL, enforced by row-level security as well.
    pub tenant: Tenant,
    /// Who asks, recorded on every transaction it posts: `key:<prefix>`,
    /// `service:<name>:<prefix>`, `staff:<username>` or `system:<job>`.
    pub actor: Actor,
    /// The HTTP request id, recorded on every transaction it posts.
    pub request_id: Option<String>,
    /// The merchant whose books hold what the command names by id (a payment,
    /// payout, transaction or account), when known: a merchant key's own, or
    /// the `merchantId` a staff or service caller named. Its rows are then
    /// locked and read in that partition alone (one shard on Citus), and a
    /// row of another partition is not found. `None`: found by id wherever it is.
    pub partition: Option<MerchantId>,
    /// For a staff action: what the audit log records about it. The record
    /// commits with the action, or (when the action is refused) on its own.
    pub audit: Option<AuditDraft>,
}

/// A staff action as the audit log will record it, less its result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditDraft {
    /// The staff username.
    pub actor: String,
    /// What it acts on: `transaction`, `payment`, `payout`, `merchant`, `asset`, `account`.
    pub target_type: AuditTarget,
    /// The target's id, when the request names one.
    pub target_id: Option<String>,
    /// The reason given.
    pub reason: Option<String>,
}

impl Request {
    /// A request of one of the server's own jobs (`job` such as `sweeper`): no
    /// idempotency key, every tenant, actor `system:<job>`.
    pub fn system(job: &str, operation: &'static str, input: &serde_json::Value, command: Command) -> Request {
        Self::system_in(job, operation, input, command, None)
    }

    /// [`Request::system`] for a command on a row of `partition` (see
    /// [`Request::partition`]), such as the sweeper's expiry of a payment
    /// whose merchant it listed.
    pub fn system_in(
        job: &str,
        operation: &'static str,
        input: &serde_json::Value,
        command: Command,
        partition: Option<MerchantId>,
    ) -> Request {
        Request {
            scope: MerchantId::PLATFORM,
            key: None,
            operation,
            fingerprint: Fingerprint::of(operation, input),
            command,
            tenant: Tenant::All,
            actor: Actor::System { job: job.to_owned() },
            request_id: None,
            partition,
            audit: None,
        }
    }
}

/// What a request produced: the id of the thing it created. Stored as the
/// idempotency result, so a replay returns the same thing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Outcome {
    /// A posted transaction.
    Transaction(TransactionId),
    /// A created merchant.
    Merchant(MerchantId),
    /// A registered asset code.
    Asset(AssetCode),
    /// An opened account.
    Account(AccountId),
    /// A payment step: the payment and the transaction the step posted.
    Payment {
        /// The payment.
        payment: uuid::Uuid,
        /// The transaction.
        transaction: TransactionId,
    },
    /// A payout step: the payout and the transaction it posted.
    Payout {
        /// The payout.
        payout: uuid::Uuid,
        /// The transaction.
        transaction: TransactionId,
    },
    /// Payout settings set.
    PayoutSettings {
        /// The merchant.
        merchant: MerchantId,
        /// The asset.
        asset: AssetCode,
    },
    /// A fee schedule set.
    FeeSchedule {
        /// The merchant.
        merchant: MerchantId,
        /// The asset.
        asset: AssetCode,
    },
    /// A balance limit policy set.
    BalanceLimit {
        /// The account, for an account's own policy; `None` for a default.
        account: Option<AccountId>,
        /// The account code it governs.
        code: AccountCode,
        /// The asset.
        asset: AssetCode,
        /// The lower bound, signed minor units; `None` for none.
        lower_minor: Option<i64>,
        /// The upper bound, signed minor units; `None` for none.
        upper_minor: Option<i64>,
        /// The ledger sequence number it took effect after.
        since_seq: i64,
    },
    /// An API key issued (by a create or a rotation: the new key) or revoked.
    /// Never its secret: this is what the idempotency record stores.
    ApiKey(uuid::Uuid),
    /// A staff user created.
    StaffUser(uuid::Uuid),
}

impl Outcome {
    /// The transaction the request posted, if it posted one.
    pub fn transaction(&self) -> Option<TransactionId> {
        match self {
            Outcome::Transaction(t)
            | Outcome::Payment { transaction: t, .. }
            | Outcome::Payout { transaction: t, .. } => Some(*t),
            _ => None,
        }
    }
}

/// A request's result.
#[derive(Debug, Clone)]
pub struct Applied {
    /// What it produced.
    pub outcome: Outcome,
    /// True when this was a replay of an earlier request with the same key.
    pub replayed: bool,
    /// The transaction as written, when the batched write path posted it (so
    /// the response needs no read of it); `None` for replays and other paths.
    pub written: Option<Box<transactions::TransactionRecord>>,
    /// The secret of an API key this request issued, to show its caller once.
    /// Held in memory only: `None` on a replay, because nothing stores it.
    pub secret: Option<Secret>,
}
