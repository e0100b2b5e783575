//! Root mutations. Each one takes a required `idempotencyKey`, parses its input
//! into domain types, and submits one request to the ledger's write path.
//! Replaying a key with the same input returns the first result (`replayed:
//! true`); reusing it with different input fails with `IDEMPOTENCY_KEY_REUSED`.

use async_graphql::{Context, ID, InputObject, Json, Object, SimpleObject};
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::context::{caller, reason_for, request};
use super::error::{BAD_USER_INPUT, OrCoded, coded};
use super::types::{
    AccountNode, AssetNode, BalanceLimitNode, DirectionType, LimitSourceType, MerchantNode, Money, MoneyInput,
    PaymentNode, PayoutNode, PayoutScheduleType, TransactionNode, parse_merchant_id, parse_uuid,
};
use super::{access, ledger};
use crate::core::LedgerError;
use crate::core::accounts::limit::LimitPolicy;
use crate::core::accounts::{self, LimitTarget};
use crate::core::payments::PaymentStep;
use crate::core::payments::fee::FeeSchedule;
use crate::core::payments::payment::{self, Annotations};
use crate::core::payouts::PayoutStep;
use crate::core::posting::{Call, Posted};
use crate::domain::money::parse_signed_minor;
use crate::domain::transaction::{MAX_ENTRIES_PER_TRANSACTION, MAX_REFERENCE_LEN};
use crate::domain::{
    AccountCode, AccountId, AccountRef, Amount, Asset, AssetCode, DomainError, EntryDraft, Layer, MerchantClass,
    MerchantExternalId, MerchantName, Owner, TransactionDraft, TransactionId, TransactionKind,
};

/// The root mutation: the ledger's mutations and those of access control.
#[derive(async_graphql::MergedObject, Default)]
pub struct MutationRoot(LedgerMutation, super::access_mutation::AccessMutation);

/// The ledger's mutations.
#[derive(Default)]
pub struct LedgerMutation;

/// Input of `createMerchant`.
#[derive(InputObject, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateMerchantInput {
    /// Display name, 1 to 200 characters.
    pub name: String,
    /// Your own id for the merchant; unique (`EXTERNAL_ID_TAKEN`).
    pub external_id: Option<String>,
    /// Rollup class; `default` when absent.
    pub class: Option<String>,
    /// Idempotency key, 1 to 255 visible ASCII characters.
    #[serde(skip)]
    pub idempotency_key: String,
}

/// Input of `registerAsset`.
#[derive(InputObject, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RegisterAssetInput {
    /// Code: 1 to 16 of `A-Z 0-9 _`, starting with a letter; not an ISO 4217 code.
    pub code: String,
    /// Decimal places of the minor unit, 0 to 18 (`SWORD` has 0).
    pub exponent: i32,
    /// Idempotency key.
    #[serde(skip)]
    pub idempotency_key: String,
}

/// Input of `openAccount`.
#[derive(InputObject, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OpenAccountInput {
    /// The owning merchant; null for a platform account.
    pub merchant_id: Option<ID>,
    /// Code, 1 to 64 of `a-z 0-9 _`.
    pub code: String,
    /// Asset code.
    pub asset: String,
    /// The side that increases it (ignored for standard codes).
    pub normal_balance: DirectionType,
    /// Idempotency key.
    #[serde(skip)]
    pub idempotency_key: String,
}

/// One entry of `postTransaction`. Name the account by `accountId`, or by
/// `accountCode` (of the transaction's merchant, or of the platform when
/// `platform` is true); standard codes are created on first use.
#[derive(InputObject, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EntryInput {
    /// An existing account of this merchant or the platform.
    pub account_id: Option<ID>,
    /// An account code, instead of `accountId`.
    pub account_code: Option<String>,
    /// With `accountCode`: true for a platform account.
    #[graphql(default)]
    pub platform: bool,
    /// Debit or credit.
    pub direction: DirectionType,
    /// Positive amount; its currency must be the account's asset.
    pub amount: MoneyInput,
}

/// Input of `postTransaction`.
#[derive(InputObject, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PostTransactionInput {
    /// The merchant it belongs to.
    pub merchant_id: ID,
    /// 2 to 64 entries that balance per asset.
    pub entries: Vec<EntryInput>,
    /// Your reference, up to 500 characters.
    pub external_ref: Option<String>,
    /// A JSON object, at most 4096 bytes, with no NUL character (PostgreSQL cannot store one).
    pub metadata: Option<Json<serde_json::Value>>,
    /// When it happened; now if absent. May be in the past.
    pub effective_at: Option<DateTime<Utc>>,
    /// Idempotency key.
    #[serde(skip)]
    pub idempotency_key: String,
}

/// Input of `recordPayment`.
#[derive(InputObject, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordPaymentInput {
    /// The merchant paid.
    pub merchant_id: ID,
    /// What the buyer paid.
    pub gross: MoneyInput,
    /// The platform's fee, same currency, at most `gross`.
    pub fee: Option<MoneyInput>,
    /// Your reference (an order id).
    pub external_ref: Option<String>,
    /// A JSON object, at most 4096 bytes, with no NUL character (PostgreSQL cannot store one).
    pub metadata: Option<Json<serde_json::Value>>,
    /// When it happened; now if absent.
    pub effective_at: Option<DateTime<Utc>>,
    /// Idempotency key.
    #[serde(skip)]
    pub idempotency_key: String,
}

/// Input of `recordPayout`.
#[derive(InputObject, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordPayoutInput {
    /// The merchant paid out.
    pub merchant_id: ID,
    /// How much; at most the merchant's available balance.
    pub amount: MoneyInput,
    /// Your reference (a bank transfer id).
    pub external_ref: Option<String>,
    /// A JSON object, at most 4096 bytes, with no NUL character (PostgreSQL cannot store one).
    pub metadata: Option<Json<serde_json::Value>>,
    /// When it happened; now if absent.
    pub effective_at: Option<DateTime<Utc>>,
    /// Idempotency key.
    #[serde(skip)]
    pub idempotency_key: String,
}

/// Input of `authorizePayment`.
#[derive(InputObject, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthorizePaymentInput {
    /// The merchant paid.
    pub merchant_id: ID,
    /// The amount to hold.
    pub amount: MoneyInput,
    /// When the hold lapses; the server's default TTL (7 days) from now if absent.
    pub expires_at: Option<DateTime<Utc>>,
    /// Your reference (an order id).
    pub external_ref: Option<String>,
    /// A JSON object, at most 4096 bytes, with no NUL character (PostgreSQL cannot store one).
    pub metadata: Option<Json<serde_json::Value>>,
    /// Idempotency key.
    #[serde(skip)]
    pub idempotency_key: String,
}

/// Input of `capturePayment`.
#[derive(InputObject, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CapturePaymentInput {
    /// The payment.
    pub payment_id: ID,
    /// How much; all that is still held if absent.
    pub amount: Option<MoneyInput>,
    /// Idempotency key.
    #[serde(skip)]
    pub idempotency_key: String,
}

/// Input of `voidAuthorization`.
#[derive(InputObject, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VoidAuthorizationInput {
    /// The payment.
    pub payment_id: ID,
    /// Idempotency key.
    #[serde(skip)]
    pub idempotency_key: String,
}

/// Input of `setFeeSchedule`.
#[derive(InputObject, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SetFeeScheduleInput {
    /// The merchant.
    pub merchant_id: ID,
    /// The asset the schedule applies to.
    pub asset: String,
    /// Percentage part in basis points (290 = 2.90 %), 0 to 10000.
    pub percent_bps: i32,
    /// Fixed part per capture, as a decimal in the asset (e.g. "0.30"); none if absent.
    pub fixed: Option<String>,
    /// Whether refunds give back the proportional share of the fee.
    #[graphql(default)]
    pub refund_returns_fee: bool,
    /// Idempotency key.
    #[serde(skip)]
    pub idempotency_key: String,
}

/// Input of `refundPayment`.
#[derive(InputObject, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RefundPaymentInput {
    /// The payment.
    pub payment_id: ID,
    /// How much; all that is refundable if absent.
    pub amount: Option<MoneyInput>,
    /// Why; required from staff (it goes to the audit log), optional for merchant keys.
    pub reason: Option<String>,
    /// Idempotency key.
    #[serde(skip)]
    pub idempotency_key: String,
}

/// Input of `openDispute`.
#[derive(InputObject, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OpenDisputeInput {
    /// The payment.
    pub payment_id: ID,
    /// How much is disputed; all that is disputable if absent.
    pub amount: Option<MoneyInput>,
    /// Idempotency key.
    #[serde(skip)]
    pub idempotency_key: String,
}

/// How a chargeback ended.
#[derive(async_graphql::Enum, Copy, Clone, Debug, PartialEq, Eq, Serialize)]
pub enum DisputeOutcomeType {
    /// The merchant won: the money returns to it.
    Won,
    /// The merchant lost: the money goes back to the buyer.
    Lost,
}

/// Input of `resolveDispute`.
#[derive(InputObject, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResolveDisputeInput {
    /// The payment.
    pub payment_id: ID,
    /// Won or lost.
    pub outcome: DisputeOutcomeType,
    /// A fee charged to the merchant when it lost (ignored when won).
    pub dispute_fee: Option<MoneyInput>,
    /// Why; required from staff (it goes to the audit log).
    pub reason: Option<String>,
    /// Idempotency key.
    #[serde(skip)]
    pub idempotency_key: String,
}

/// Input of `recordDeal`.
#[derive(InputObject, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordDealInput {
    /// The merchant selling (the transaction's merchant).
    pub seller_id: ID,
    /// The merchant buying.
    pub buyer_id: ID,
    /// What the buyer hands over (e.g. 30.00 USD); at least one.
    pub buyer_gives: Vec<MoneyInput>,
    /// What the seller hands over (e.g. 1 STAFF); at least one.
    pub seller_gives: Vec<MoneyInput>,
    /// Your reference.
    pub external_ref: Option<String>,
    /// A JSON object, at most 4096 bytes, with no NUL character (PostgreSQL cannot store one).
    pub metadata: Option<Json<serde_json::Value>>,
    /// When it happened; now if absent.
    pub effective_at: Option<DateTime<Utc>>,
    /// Idempotency key.
    #[serde(skip)]
    pub idempotency_key: String,
}

/// Input of `createPayout`.
#[derive(InputObject, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreatePayoutInput {
    /// The merchant.
    pub merchant_id: ID,
    /// The asset to pay out.
    pub asset: String,
    /// Idempotency key.
    #[serde(skip)]
    pub idempotency_key: String,
}

/// Input of `settlePayout` and `failPayout`.
#[derive(InputObject, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PayoutStepInput {
    /// The payout.
    pub payout_id: ID,
    /// Idempotency key.
    #[serde(skip)]
    pub idempotency_key: String,
}

/// Input of `setPayoutSettings`.
#[derive(InputObject, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SetPayoutSettingsInput {
    /// The merchant.
    pub merchant_id: ID,
    /// The asset.
    pub asset: String,
    /// Kept back from every payout, as a decimal in the asset; none if absent.
    pub reserve: Option<String>,
    /// Automatic payouts; none if absent.
    pub schedule: Option<PayoutScheduleType>,
    /// Idempotency key.
    #[serde(skip)]
    pub idempotency_key: String,
}

/// Result of a payout mutation.
#[derive(SimpleObject)]
pub struct PayoutPayload {
    /// The payout after the step.
    pub payout: PayoutNode,
    /// The ledger transaction the step posted.
    pub transaction: TransactionNode,
    /// True on a replay.
    pub replayed: bool,
}

/// Result of `setPayoutSettings`.
#[derive(SimpleObject)]
pub struct PayoutSettingsPayload {
    /// The asset.
    pub asset: String,
    /// The reserve.
    pub reserve: Money,
    /// The schedule, if any.
    pub schedule: Option<PayoutScheduleType>,
    /// True on a replay.
    pub replayed: bool,
}

/// Result of a payment life-cycle mutation.
#[derive(SimpleObject)]
pub struct PaymentPayload {
    /// The payment after the step.
    pub payment: PaymentNode,
    /// The ledger transaction the step posted.
    pub transaction: TransactionNode,
    /// True on a replay.
    pub replayed: bool,
}

/// Result of `setFeeSchedule`.
#[derive(SimpleObject)]
pub struct FeeSchedulePayload {
    /// The asset.
    pub asset: String,
    /// Percentage part in basis points.
    pub percent_bps: i32,
    /// Fixed part.
    pub fixed: Money,
    /// Whether refunds return the fee share.
    pub refund_returns_fee: bool,
    /// True on a replay.
    pub replayed: bool,
}

/// Most transactions one `postTransactions` call carries. Each may have up to
/// 64 entries; 500 typical transactions fit well within the 1 MiB body limit,
/// and one database transaction of 500 stays short enough not to hold its
/// balance locks for long.
pub const MAX_BULK_TRANSACTIONS: usize = 500;

/// Input of `postTransactions`.
#[derive(InputObject)]
pub struct PostTransactionsInput {
    /// 1 to 500 transactions, each with its own idempotency key, exactly as
    /// `postTransaction` takes them (the same key and input sent alone or in a
    /// batch is the same request: the second is a replay).
    pub transactions: Vec<PostTransactionInput>,
    /// All or nothing: when any transaction is refused, none is written (the
    /// others answer `BATCH_ROLLED_BACK`). Default false: each transaction is
    /// posted or refused on its own.
    #[graphql(default)]
    pub atomic: bool,
}

/// Why one transaction of a batch was refused.
#[derive(SimpleObject)]
pub struct ItemError {
    /// The stable error code, as `extensions.code` would carry it.
    pub code: String,
    /// What to fix.
    pub message: String,
}

/// One transaction's result in a `postTransactions` call.
#[derive(SimpleObject)]
pub struct BulkItemResult {
    /// Its position in the input, from 0.
    pub index: i32,
    /// The transaction posted (on a replay, the one posted the first time);
    /// null when refused.
    pub transaction_id: Option<ID>,
    /// True when this answer replays an earlier request with the same key.
    pub replayed: bool,
    /// Why it was refused; null when posted.
    pub error: Option<ItemError>,
}

/// Result of `postTransactions`.
#[derive(SimpleObject)]
pub struct PostTransactionsPayload {
    /// One result per input transaction, in input order.
    pub results: Vec<BulkItemResult>,
    /// How many transactions were written or replayed (0 for a refused atomic batch).
    pub posted: i32,
}

/// The code and message of a coded GraphQL error, as a batch item's error.
fn item_error(e: &async_graphql::Error) -> ItemError {
    let code = e
        .extensions
        .as_ref()
        .and_then(|x| x.get("code"))
        .and_then(|c| match c {
            async_graphql::Value::String(s) => Some(s.clone()),
            _ => None,
        })
        .unwrap_or_else(|| BAD_USER_INPUT.to_owned());
    ItemError { code, message: e.message.clone() }
}

/// Input of `setBalanceLimit`: the target is `accountId`, or `accountCode`
/// with `asset` for the default of every such account.
#[derive(InputObject, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SetBalanceLimitInput {
    /// One account.
    pub account_id: Option<ID>,
    /// The account code of a default, e.g. `available`.
    pub account_code: Option<String>,
    /// The asset of a default.
    pub asset: Option<String>,
    /// Least `available` may be, a decimal in the asset ("0", "-50.00"); none if absent.
    pub lower_bound: Option<String>,
    /// Most posted plus pending inflow may be, a decimal in the asset; none if absent.
    pub upper_bound: Option<String>,
    /// Idempotency key.
    #[serde(skip)]
    pub idempotency_key: String,
}

/// Result of `setBalanceLimit`.
#[derive(SimpleObject)]
pub struct SetBalanceLimitPayload {
    /// The account, for an account's own policy; null for a default.
    pub account: Option<AccountNode>,
    /// The account code the policy governs.
    pub account_code: String,
    /// The asset.
    pub asset: String,
    /// The policy as set, with the sequence it took effect after.
    pub limit: BalanceLimitNode,
    /// True on a replay.
    pub replayed: bool,
}

/// Result of a mutation that posts a transaction.
#[derive(SimpleObject)]
pub struct TransactionPayload {
    /// The transaction posted (or, on a replay, posted the first time).
    pub transaction: TransactionNode,
    /// True when this answer replays an earlier request with the same key.
    pub replayed: bool,
}

/// Result of `createMerchant`.
#[derive(SimpleObject)]
pub struct MerchantPayload {
    /// The merchant.
    pub merchant: MerchantNode,
    /// True on a replay.
    pub replayed: bool,
}

/// Result of `registerAsset`.
#[derive(SimpleObject)]
pub struct AssetPayload {
    /// The asset.
    pub asset: AssetNode,
    /// True on a replay.
    pub replayed: bool,
}

/// Result of `openAccount`.
#[derive(SimpleObject)]
pub struct AccountPayload {
    /// The account.
    pub account: AccountNode,
    /// True on a replay.
    pub replayed: bool,
}

#[Object]
impl LedgerMutation {
    /// Creates a merchant. Errors: `BAD_USER_INPUT`, `EXTERNAL_ID_TAKEN`,
    /// `IDEMPOTENCY_KEY_REUSED`.
    #[graphql(guard = "access::FIELD", complexity = "super::MUTATION_COST + child_complexity")]
    async fn create_merchant(
        &self,
        ctx: &Context<'_>,
        input: CreateMerchantInput,
    ) -> async_graphql::Result<MerchantPayload> {
        let name = MerchantName::parse(&input.name).or_coded()?;
        let external_id = input.external_id.as_deref().map(MerchantExternalId::parse).transpose().or_coded()?;
        let class = MerchantClass::parse(input.class.as_deref().unwrap_or(MerchantClass::DEFAULT)).or_coded()?;
        let call = call(ctx, &input.idempotency_key, "createMerchant", &input).await?;
        let (merchant, replayed) = ledger(ctx)?.merchants().create(call, name, external_id, class).await.or_coded()?;
        Ok(MerchantPayload { merchant: MerchantNode(merchant), replayed })
    }

    /// Registers a custom asset such as `SWORD` (exponent 0). Errors:
    /// `ASSET_INVALID`, `ASSET_ALREADY_EXISTS`, `IDEMPOTENCY_KEY_REUSED`.
    #[graphql(guard = "access::FIELD", complexity = "super::MUTATION_COST + child_complexity")]
    async fn register_asset(
        &self,
        ctx: &Context<'_>,
        input: RegisterAssetInput,
    ) -> async_graphql::Result<AssetPayload> {
        let asset = Asset::custom(&input.code, i64::from(input.exponent)).or_coded()?;
        let code = asset.code.to_string();
        let call = call(ctx, &input.idempotency_key, "registerAsset", &input).await?;
        let replayed = ledger(ctx)?.accounts().register_asset(call, asset).await.or_coded()?;
        Ok(AssetPayload { asset: AssetNode { code, exponent: input.exponent, iso4217: false }, replayed })
    }

    /// Opens an account outside the standard chart, e.g. a merchant's `reserve`.
    /// A merchant key opens credit-normal accounts only. Errors:
    /// `ACCOUNT_CODE_INVALID`, `UNKNOWN_ASSET`, `NOT_FOUND`,
    /// `ACCOUNT_ALREADY_EXISTS`, `DEBIT_ACCOUNT_NOT_ALLOWED`, `IDEMPOTENCY_KEY_REUSED`.
    #[graphql(guard = "access::FIELD", complexity = "super::MUTATION_COST + child_complexity")]
    async fn open_account(&self, ctx: &Context<'_>, input: OpenAccountInput) -> async_graphql::Result<AccountPayload> {
        let owner = match &input.merchant_id {
            None => Owner::Platform,
            Some(id) => Owner::Merchant(parse_merchant_id(id)?),
        };
        let asset = ledger(ctx)?.asset(&input.asset).await.or_coded()?;
        let code = AccountCode::parse(&input.code).or_coded()?;
        let call = call(ctx, &input.idempotency_key, "openAccount", &input).await?;
        let (account, replayed) = ledger(ctx)?
            .accounts()
            .open(call, owner, code, asset.code, input.normal_balance.into())
            .await
            .or_coded()?;
        Ok(AccountPayload { account: AccountNode(account), replayed })
    }

    /// Posts any balanced set of entries on accounts of one merchant and the
    /// platform. Errors: `AMOUNT_NOT_POSITIVE`, `AMOUNT_PRECISION_EXCEEDED`,
    /// `AMOUNT_MALFORMED`, `AMOUNT_OVERFLOW`, `UNKNOWN_ASSET`,
    /// `TRANSACTION_UNBALANCED`, `ENTRY_COUNT_INVALID`, `ASSET_MISMATCH`,
    /// `ACCOUNT_NOT_FOUND`, `ACCOUNT_OF_ANOTHER_MERCHANT`, `NOT_FOUND`,
    /// `IDEMPOTENCY_KEY_REUSED`.
    #[graphql(guard = "access::FIELD", complexity = "super::MUTATION_COST + child_complexity")]
    async fn post_transaction(
        &self,
        ctx: &Context<'_>,
        input: PostTransactionInput,
    ) -> async_graphql::Result<TransactionPayload> {
        let draft = transfer_draft(ctx, &input).await?;
        post(ctx, &input.idempotency_key, "postTransaction", &input, draft).await
    }

    /// Posts up to 500 transactions (each as `postTransaction` takes it) in one
    /// database transaction. Each is posted or refused on its own, with its
    /// own result; with `atomic: true`, one refusal writes nothing. Errors (the
    /// whole call): `BATCH_SIZE_INVALID` for 0 or more than 500 transactions;
    /// per transaction, the errors of `postTransaction` and `BATCH_ROLLED_BACK`.
    #[graphql(guard = "access::FIELD", complexity = "super::MUTATION_COST * 4 + child_complexity")]
    async fn post_transactions(
        &self,
        ctx: &Context<'_>,
        input: PostTransactionsInput,
    ) -> async_graphql::Result<PostTransactionsPayload> {
        let n = input.transactions.len();
        if n == 0 || n > MAX_BULK_TRANSACTIONS {
            return Err(coded(
                "BATCH_SIZE_INVALID",
                format!("give 1 to {MAX_BULK_TRANSACTIONS} transactions; got {n}"),
            ));
        }
        let mut results: Vec<Option<BulkItemResult>> = (0..n).map(|_| None).collect();
        let (mut requests, mut positions) = (Vec::with_capacity(n), Vec::with_capacity(n));
        for (i, item) in input.transactions.iter().enumerate() {
            let parsed = match transfer_draft(ctx, item).await {
                Ok(draft) => call(ctx, &item.idempotency_key, "postTransaction", item).await.map(|c| (c, draft)),
                Err(e) => Err(e),
            };
            match parsed {
                Ok(r) => {
                    requests.push(r);
                    positions.push(i);
                }
                Err(e) => results[i] = Some(refused_item(i, item_error(&e))),
            }
        }
        let refused_at_edge = results.iter().any(Option::is_some);
        let applied = if input.atomic && refused_at_edge {
            // Nothing reaches the ledger: the refusals above stand, the rest roll back.
            positions
                .iter()
                .map(|_| Err(LedgerError::Posting(crate::core::posting::PostingError::BatchRolledBack)))
                .collect()
        } else {
            super::context::request(ctx)?.finish_reads().await;
            ledger(ctx)?.posting().post_batch(requests, input.atomic).await
        };
        let mut posted = 0;
        for (i, outcome) in positions.into_iter().zip(applied) {
            results[i] = Some(match outcome {
                Ok(a) => {
                    posted += 1;
                    BulkItemResult {
                        index: i32::try_from(i).unwrap_or(i32::MAX),
                        transaction_id: a.transaction.map(|t| ID(t.to_string())),
                        replayed: a.replayed,
                        error: None,
                    }
                }
                Err(e) => refused_item(i, item_error(&super::error::to_graphql(e))),
            });
        }
        Ok(PostTransactionsPayload { results: results.into_iter().flatten().collect(), posted })
    }

    /// Records money received for a merchant: debits `processor_clearing` by the
    /// gross, credits the merchant's `available` by gross − fee and `fee_revenue`
    /// by the fee. The card network's word: a service key with `payments:write`
    /// or an admin, never a merchant key (`FORBIDDEN`). Errors: as
    /// `postTransaction`, plus `FEE_INVALID`.
    #[graphql(guard = "access::FIELD", complexity = "super::MUTATION_COST + child_complexity")]
    async fn record_payment(
        &self,
        ctx: &Context<'_>,
        input: RecordPaymentInput,
    ) -> async_graphql::Result<TransactionPayload> {
        let merchant = parse_merchant_id(&input.merchant_id)?;
        let (asset, gross) = money(ctx, &input.gross).await?;
        let fee = match &input.fee {
            None => None,
            Some(f) if f.currency != input.gross.currency => {
                return Err(DomainError::FeeAssetMismatch).or_coded();
            }
            // A zero fee is the same as none.
            Some(f) if f.amount.trim().parse::<rust_decimal::Decimal>().is_ok_and(|d| d.is_zero()) => None,
            Some(f) => Some(money(ctx, f).await?.1),
        };
        let notes = annotations(input.external_ref.clone(), input.metadata.clone(), input.effective_at)?;
        let draft = payment::record_payment(merchant, &asset.code, gross, fee, notes).or_coded()?;
        post(ctx, &input.idempotency_key, "recordPayment", &input, draft).await
    }

    /// Records money sent to a merchant: debits its `available`, credits the
    /// platform's `bank`. The bank's word: a service key with `payouts:write` or
    /// an admin, never a merchant key. Errors: as `postTransaction`, plus
    /// `INSUFFICIENT_FUNDS` when it would take `available` below zero.
    #[graphql(guard = "access::FIELD", complexity = "super::MUTATION_COST + child_complexity")]
    async fn record_payout(
        &self,
        ctx: &Context<'_>,
        input: RecordPayoutInput,
    ) -> async_graphql::Result<TransactionPayload> {
        let merchant = parse_merchant_id(&input.merchant_id)?;
        let (asset, amount) = money(ctx, &input.amount).await?;
        let notes = annotations(input.external_ref.clone(), input.metadata.clone(), input.effective_at)?;
        let draft = payment::record_payout(merchant, &asset.code, amount, notes).or_coded()?;
        post(ctx, &input.idempotency_key, "recordPayout", &input, draft).await
    }

    /// Authorizes a payment: holds `amount` pending for the merchant until
    /// `expiresAt`. Raises the merchant's pending balance; available is unchanged.
    /// Errors: the amount errors, `NOT_FOUND`, `AUTHORIZATION_EXPIRED` (an
    /// `expiresAt` in the past), `IDEMPOTENCY_KEY_REUSED`.
    #[graphql(guard = "access::FIELD", complexity = "super::MUTATION_COST + child_complexity")]
    async fn authorize_payment(
        &self,
        ctx: &Context<'_>,
        input: AuthorizePaymentInput,
    ) -> async_graphql::Result<PaymentPayload> {
        let merchant = parse_merchant_id(&input.merchant_id)?;
        let (asset, amount) = money(ctx, &input.amount).await?;
        let notes = annotations(input.external_ref.clone(), input.metadata.clone(), None)?;
        let call = call(ctx, &input.idempotency_key, "authorizePayment", &input).await?;
        let step = ledger(ctx)?.payments().authorize(call, merchant, asset.code, amount, input.expires_at, notes).await;
        payment_payload(step)
    }

    /// Captures part (`amount`) or all of what an authorization still holds,
    /// splitting off the merchant's fee. Errors: `NOT_FOUND`,
    /// `CAPTURE_EXCEEDS_AUTHORIZATION`, `AUTHORIZATION_EXPIRED`,
    /// `AUTHORIZATION_VOIDED`, `ASSET_MISMATCH`, `IDEMPOTENCY_KEY_REUSED`.
    #[graphql(guard = "access::FIELD", complexity = "super::MUTATION_COST + child_complexity")]
    async fn capture_payment(
        &self,
        ctx: &Context<'_>,
        input: CapturePaymentInput,
    ) -> async_graphql::Result<PaymentPayload> {
        let payment = parse_uuid(&input.payment_id, "payment id")?;
        let amount = match &input.amount {
            None => None,
            Some(m) => {
                let (asset, amount) = money(ctx, m).await?;
                Some((asset.code, amount))
            }
        };
        let call = call(ctx, &input.idempotency_key, "capturePayment", &input).await?;
        payment_payload(ledger(ctx)?.payments().capture(call, payment, amount).await)
    }

    /// Releases what an authorization still holds. Errors: `NOT_FOUND`,
    /// `ALREADY_VOIDED`, `NOTHING_TO_VOID`, `IDEMPOTENCY_KEY_REUSED`.
    #[graphql(guard = "access::FIELD", complexity = "super::MUTATION_COST + child_complexity")]
    async fn void_authorization(
        &self,
        ctx: &Context<'_>,
        input: VoidAuthorizationInput,
    ) -> async_graphql::Result<PaymentPayload> {
        let payment = parse_uuid(&input.payment_id, "payment id")?;
        let call = call(ctx, &input.idempotency_key, "voidAuthorization", &input).await?;
        payment_payload(ledger(ctx)?.payments().void(call, payment).await)
    }

    /// Refunds part (`amount`) or all of the payment's refundable money. It may
    /// be repeated. Errors: `NOT_FOUND`, `REFUND_EXCEEDS_CAPTURED`,
    /// `INSUFFICIENT_FUNDS`, `ASSET_MISMATCH`, `IDEMPOTENCY_KEY_REUSED`.
    #[graphql(guard = "access::FIELD", complexity = "super::MUTATION_COST + child_complexity")]
    async fn refund_payment(
        &self,
        ctx: &Context<'_>,
        input: RefundPaymentInput,
    ) -> async_graphql::Result<PaymentPayload> {
        let payment = parse_uuid(&input.payment_id, "payment id")?;
        reason_for(ctx, input.reason.as_deref())?;
        let amount = optional_money(ctx, input.amount.as_ref()).await?;
        let call = call(ctx, &input.idempotency_key, "refundPayment", &input).await?;
        payment_payload(ledger(ctx)?.payments().refund(call, payment, amount).await)
    }

    /// Opens a chargeback: the disputed amount leaves the merchant's available
    /// balance (which may go negative) for the platform's `disputes` account.
    /// Errors: `NOT_FOUND`, `PAYMENT_NOT_CAPTURED`, `DISPUTE_ALREADY_OPEN`,
    /// `DISPUTE_EXCEEDS_CAPTURED`, `IDEMPOTENCY_KEY_REUSED`.
    #[graphql(guard = "access::FIELD", complexity = "super::MUTATION_COST + child_complexity")]
    async fn open_dispute(&self, ctx: &Context<'_>, input: OpenDisputeInput) -> async_graphql::Result<PaymentPayload> {
        let payment = parse_uuid(&input.payment_id, "payment id")?;
        let amount = optional_money(ctx, input.amount.as_ref()).await?;
        let call = call(ctx, &input.idempotency_key, "openDispute", &input).await?;
        payment_payload(ledger(ctx)?.payments().open_dispute(call, payment, amount).await)
    }

    /// Resolves the open chargeback: WON returns the money to the merchant; LOST
    /// makes it final and may charge a dispute fee. Errors: `NOT_FOUND`,
    /// `NO_OPEN_DISPUTE`, `IDEMPOTENCY_KEY_REUSED`.
    #[graphql(guard = "access::FIELD", complexity = "super::MUTATION_COST + child_complexity")]
    async fn resolve_dispute(
        &self,
        ctx: &Context<'_>,
        input: ResolveDisputeInput,
    ) -> async_graphql::Result<PaymentPayload> {
        let payment = parse_uuid(&input.payment_id, "payment id")?;
        reason_for(ctx, input.reason.as_deref())?;
        let fee = optional_money(ctx, input.dispute_fee.as_ref()).await?;
        let won = input.outcome == DisputeOutcomeType::Won;
        let call = call(ctx, &input.idempotency_key, "resolveDispute", &input).await?;
        payment_payload(ledger(ctx)?.payments().resolve_dispute(call, payment, won, fee).await)
    }

    /// Pays out the merchant's whole available balance in `asset`, less its
    /// reserve, into `payouts_in_transit`, recording which transactions it
    /// covers. Errors: `NOT_FOUND`, `UNKNOWN_ASSET`, `NOTHING_TO_PAY_OUT`,
    /// `IDEMPOTENCY_KEY_REUSED`.
    #[graphql(guard = "access::FIELD", complexity = "super::MUTATION_COST + child_complexity")]
    async fn create_payout(&self, ctx: &Context<'_>, input: CreatePayoutInput) -> async_graphql::Result<PayoutPayload> {
        let merchant = parse_merchant_id(&input.merchant_id)?;
        let asset = ledger(ctx)?.asset(&input.asset).await.or_coded()?;
        let call = call(ctx, &input.idempotency_key, "createPayout", &input).await?;
        payout_payload(ledger(ctx)?.payouts().create(call, merchant, asset.code).await)
    }

    /// Marks a payout in transit as arrived: the money leaves the platform's bank.
    /// Errors: `NOT_FOUND`, `PAYOUT_NOT_IN_TRANSIT`, `IDEMPOTENCY_KEY_REUSED`.
    #[graphql(guard = "access::FIELD", complexity = "super::MUTATION_COST + child_complexity")]
    async fn settle_payout(&self, ctx: &Context<'_>, input: PayoutStepInput) -> async_graphql::Result<PayoutPayload> {
        let payout = parse_uuid(&input.payout_id, "payout id")?;
        let call = call(ctx, &input.idempotency_key, "settlePayout", &input).await?;
        payout_payload(ledger(ctx)?.payouts().settle(call, payout).await)
    }

    /// Marks a payout in transit as bounced: the money returns to the merchant's
    /// available balance. Errors: `NOT_FOUND`, `PAYOUT_NOT_IN_TRANSIT`,
    /// `IDEMPOTENCY_KEY_REUSED`.
    #[graphql(guard = "access::FIELD", complexity = "super::MUTATION_COST + child_complexity")]
    async fn fail_payout(&self, ctx: &Context<'_>, input: PayoutStepInput) -> async_graphql::Result<PayoutPayload> {
        let payout = parse_uuid(&input.payout_id, "payout id")?;
        let call = call(ctx, &input.idempotency_key, "failPayout", &input).await?;
        payout_payload(ledger(ctx)?.payouts().fail(call, payout).await)
    }

    /// Sets a merchant's payout reserve and schedule for an asset. Errors:
    /// `NOT_FOUND`, `UNKNOWN_ASSET`, the amount errors, `IDEMPOTENCY_KEY_REUSED`.
    #[graphql(guard = "access::FIELD", complexity = "super::MUTATION_COST + child_complexity")]
    async fn set_payout_settings(
        &self,
        ctx: &Context<'_>,
        input: SetPayoutSettingsInput,
    ) -> async_graphql::Result<PayoutSettingsPayload> {
        let merchant = parse_merchant_id(&input.merchant_id)?;
        let asset = ledger(ctx)?.asset(&input.asset).await.or_coded()?;
        let reserve_minor = match input.reserve.as_deref().map(str::trim) {
            None | Some("0") | Some("") => 0,
            Some(raw) => Amount::parse(raw, &asset).or_coded()?.minor(),
        };
        let call = call(ctx, &input.idempotency_key, "setPayoutSettings", &input).await?;
        let schedule = input.schedule.map(Into::into);
        let replayed = ledger(ctx)?
            .payouts()
            .set_settings(call, merchant, asset.code.clone(), reserve_minor, schedule)
            .await
            .or_coded()?;
        Ok(PayoutSettingsPayload {
            asset: asset.code.to_string(),
            reserve: Money::of(ctx, asset.code.as_str(), reserve_minor.into()).await?,
            schedule: input.schedule,
            replayed,
        })
    }

    /// Sets a merchant's fee schedule for one asset: percent (basis points) plus
    /// fixed, applied to later captures, rounded half-to-even to the minor unit.
    /// Errors: `FEE_INVALID`, `UNKNOWN_ASSET`, `NOT_FOUND`, `IDEMPOTENCY_KEY_REUSED`.
    #[graphql(guard = "access::FIELD", complexity = "super::MUTATION_COST + child_complexity")]
    async fn set_fee_schedule(
        &self,
        ctx: &Context<'_>,
        input: SetFeeScheduleInput,
    ) -> async_graphql::Result<FeeSchedulePayload> {
        let merchant = parse_merchant_id(&input.merchant_id)?;
        let asset = ledger(ctx)?.asset(&input.asset).await.or_coded()?;
        let fixed_minor = match input.fixed.as_deref().map(str::trim) {
            None | Some("0") | Some("") => 0,
            Some(raw) => Amount::parse(raw, &asset).or_coded()?.minor(),
        };
        let schedule =
            FeeSchedule::new(i64::from(input.percent_bps), fixed_minor, input.refund_returns_fee).or_coded()?;
        let call = call(ctx, &input.idempotency_key, "setFeeSchedule", &input).await?;
        let replayed =
            ledger(ctx)?.payments().set_fee_schedule(call, merchant, asset.code.clone(), schedule).await.or_coded()?;
        Ok(FeeSchedulePayload {
            asset: asset.code.to_string(),
            percent_bps: input.percent_bps,
            fixed: super::types::Money::of(ctx, asset.code.as_str(), fixed_minor.into()).await?,
            refund_returns_fee: input.refund_returns_fee,
            replayed,
        })
    }

    /// Records a deal between two merchants in one atomic transaction, possibly
    /// of several assets: the buyer's `buyerGives` go to the seller and the
    /// seller's `sellerGives` (goods such as `STAFF`) go to the buyer, between
    /// their `available` accounts. Neither may give more than it holds. Reverse a
    /// defective deal with `reverseTransaction`. Errors: the amount errors,
    /// `INSUFFICIENT_FUNDS`, `NOT_FOUND`, `ENTRY_COUNT_INVALID`, `BAD_USER_INPUT`
    /// (a merchant dealing with itself), `IDEMPOTENCY_KEY_REUSED`.
    #[graphql(guard = "access::FIELD", complexity = "super::MUTATION_COST + child_complexity")]
    async fn record_deal(
        &self,
        ctx: &Context<'_>,
        input: RecordDealInput,
    ) -> async_graphql::Result<TransactionPayload> {
        let seller = parse_merchant_id(&input.seller_id)?;
        let buyer = parse_merchant_id(&input.buyer_id)?;
        if input.buyer_gives.len() + input.seller_gives.len() > MAX_ENTRIES_PER_TRANSACTION / 2 {
            return Err(DomainError::TooManyEntries { max: MAX_ENTRIES_PER_TRANSACTION }).or_coded();
        }
        let mut legs: [Vec<(AssetCode, Amount)>; 2] = [Vec::new(), Vec::new()];
        for (side, gives) in [&input.buyer_gives, &input.seller_gives].into_iter().enumerate() {
            for m in gives {
                let (asset, amount) = money(ctx, m).await?;
                legs[side].push((asset.code, amount));
            }
        }
        let notes = annotations(input.external_ref.clone(), input.metadata.clone(), input.effective_at)?;
        let draft = payment::record_deal(seller, buyer, &legs[0], &legs[1], notes).or_coded()?;
        post(ctx, &input.idempotency_key, "recordDeal", &input, draft).await
    }

    /// Reverses a posted transaction: appends a new transaction with every entry
    /// on the opposite side, linked by `reverses`. A transaction is reversed at
    /// most once. A reversal that would take a balance past its limit is
    /// refused; an admin may pass `force: true` to skip that check (audited as
    /// `forceReverseTransaction`, and the reversal's metadata says `forced:
    /// true`). Errors: `NOT_FOUND`, `ALREADY_REVERSED`, `REASON_REQUIRED`,
    /// `BALANCE_LIMIT_EXCEEDED`, `FORBIDDEN` (`force` by anyone but an admin),
    /// `IDEMPOTENCY_KEY_REUSED`.
    #[graphql(guard = "access::FIELD", complexity = "super::MUTATION_COST + child_complexity")]
    async fn reverse_transaction(
        &self,
        ctx: &Context<'_>,
        transaction_id: ID,
        reason: String,
        idempotency_key: String,
        #[graphql(default)] force: bool,
    ) -> async_graphql::Result<TransactionPayload> {
        if force {
            crate::core::access::rules::Access::staff(crate::core::access::rules::Role::Admin)
                .check(caller(ctx)?)
                .map_err(super::context::refused)?;
        }
        let id = TransactionId(parse_uuid(&transaction_id, "transaction id")?);
        // `force` joins the fingerprint only when set, so unforced requests
        // keep the fingerprint they had before the argument existed.
        let (operation, input) = if force {
            let input = serde_json::json!({ "transactionId": id.to_string(), "reason": reason, "force": true });
            ("forceReverseTransaction", input)
        } else {
            ("reverseTransaction", serde_json::json!({ "transactionId": id.to_string(), "reason": reason }))
        };
        let call = call(ctx, &idempotency_key, operation, &input).await?;
        posted(ledger(ctx)?.posting().reverse(call, id, reason, force).await)
    }

    /// Sets a balance limit policy (admin): on one account (`accountId`), or as
    /// the default for every account with `accountCode` in `asset` that has no
    /// policy of its own. Bounds are decimal strings in the asset's units; a
    /// negative lower bound is an overdraft limit, an absent bound is none.
    /// The balance rows it governs are locked before it is written, and the
    /// answer says the ledger sequence it took effect after. Errors:
    /// `BAD_USER_INPUT` (neither or both targets), `ACCOUNT_NOT_FOUND`,
    /// `ACCOUNT_CODE_INVALID`, `UNKNOWN_ASSET`, `AMOUNT_MALFORMED`,
    /// `AMOUNT_PRECISION_EXCEEDED`, `AMOUNT_OVERFLOW`, `LIMIT_BOUNDS_INVALID`
    /// (lower above upper), `IDEMPOTENCY_KEY_REUSED`.
    #[graphql(guard = "access::FIELD", complexity = "super::MUTATION_COST + child_complexity")]
    async fn set_balance_limit(
        &self,
        ctx: &Context<'_>,
        input: SetBalanceLimitInput,
    ) -> async_graphql::Result<SetBalanceLimitPayload> {
        let (target, asset) = match (&input.account_id, &input.account_code, &input.asset) {
            (Some(id), None, None) => {
                let id = AccountId(parse_uuid(id, "account id")?);
                let account = accounts::find(&super::context::reads(ctx).await?, id)
                    .await
                    .or_coded()?
                    .ok_or(LedgerError::Account(crate::core::accounts::AccountError::NotFound))
                    .or_coded()?;
                (LimitTarget::Account(id), account.asset)
            }
            (None, Some(code), Some(asset)) => {
                let code = AccountCode::parse(code).or_coded()?;
                request(ctx)?.finish_reads().await;
                let asset = ledger(ctx)?.asset(asset).await.or_coded()?.code;
                (LimitTarget::Default { code, asset: asset.clone() }, asset)
            }
            _ => return Err(coded(BAD_USER_INPUT, "give accountId, or accountCode and asset")),
        };
        request(ctx)?.finish_reads().await;
        let full = ledger(ctx)?.asset(asset.as_str()).await.or_coded()?;
        let bound = |raw: &Option<String>| raw.as_deref().map(|r| parse_signed_minor(r, &full)).transpose();
        let policy = LimitPolicy::new(bound(&input.lower_bound).or_coded()?, bound(&input.upper_bound).or_coded()?)
            .or_coded()?;
        let source = match target {
            LimitTarget::Account(_) => LimitSourceType::Account,
            LimitTarget::Default { .. } => LimitSourceType::Default,
        };
        let call = call(ctx, &input.idempotency_key, "setBalanceLimit", &input).await?;
        let set = ledger(ctx)?.accounts().set_limit(call, target, policy).await.or_coded()?;
        Ok(SetBalanceLimitPayload {
            account: set.account.map(AccountNode),
            account_code: set.code,
            asset: set.asset.clone(),
            limit: BalanceLimitNode::of(ctx, &set.asset, set.policy, source, Some(set.since_seq)).await?,
            replayed: set.replayed,
        })
    }
}

/// Parses a money input against its asset. Errors: `UNKNOWN_ASSET` and the
/// amount errors of [`Amount::parse`].
pub(crate) async fn money(ctx: &Context<'_>, m: &MoneyInput) -> async_graphql::Result<(Asset, Amount)> {
    // An asset missing from the cache is read through the pool: end this
    // request's reads first so it never holds a connection while taking another.
    request(ctx)?.finish_reads().await;
    let asset = ledger(ctx)?.asset(&m.currency).await.or_coded()?;
    let amount = Amount::parse(&m.amount, &asset).or_coded()?;
    Ok((asset, amount))
}

async fn optional_money(
    ctx: &Context<'_>,
    m: Option<&MoneyInput>,
) -> async_graphql::Result<Option<(AssetCode, Amount)>> {
    match m {
        None => Ok(None),
        Some(m) => {
            let (asset, amount) = money(ctx, m).await?;
            Ok(Some((asset.code, amount)))
        }
    }
}

fn reference(r: Option<String>) -> async_graphql::Result<Option<String>> {
    match r {
        Some(s) if s.chars().count() > MAX_REFERENCE_LEN => {
            Err(coded(BAD_USER_INPUT, format!("externalRef is longer than {MAX_REFERENCE_LEN} characters")))
        }
        // PostgreSQL text cannot hold NUL; refused here, not by the database.
        Some(s) if s.contains('\0') => Err(coded(BAD_USER_INPUT, "externalRef contains a NUL character")),
        other => Ok(other),
    }
}

fn annotations(
    external_ref: Option<String>,
    metadata: Option<Json<serde_json::Value>>,
    effective_at: Option<DateTime<Utc>>,
) -> async_graphql::Result<Annotations> {
    Ok(Annotations { external_ref: reference(external_ref)?, metadata: metadata.map(|j| j.0), effective_at })
}

/// A refused item of a batch.
fn refused_item(index: usize, error: ItemError) -> BulkItemResult {
    BulkItemResult {
        index: i32::try_from(index).unwrap_or(i32::MAX),
        transaction_id: None,
        replayed: false,
        error: Some(error),
    }
}

/// Parses a `postTransaction` input into a validated transfer draft. Errors: the
/// shape and amount errors of `postTransaction`, and `TRANSACTION_UNBALANCED`,
/// `ENTRY_COUNT_INVALID`.
async fn transfer_draft(ctx: &Context<'_>, input: &PostTransactionInput) -> async_graphql::Result<TransactionDraft> {
    let merchant = parse_merchant_id(&input.merchant_id)?;
    if input.entries.len() > MAX_ENTRIES_PER_TRANSACTION {
        return Err(DomainError::TooManyEntries { max: MAX_ENTRIES_PER_TRANSACTION }).or_coded();
    }
    let mut entries = Vec::with_capacity(input.entries.len());
    for e in &input.entries {
        let account = match (&e.account_id, &e.account_code) {
            (Some(id), None) => AccountRef::Id(AccountId(parse_uuid(id, "account id")?)),
            (None, Some(code)) => AccountRef::Code {
                owner: if e.platform { Owner::Platform } else { Owner::Merchant(merchant) },
                code: AccountCode::parse(code).or_coded()?,
            },
            _ => return Err(coded(BAD_USER_INPUT, "give exactly one of accountId and accountCode")),
        };
        let (asset, amount) = money(ctx, &e.amount).await?;
        entries.push(EntryDraft {
            account,
            asset: asset.code,
            direction: e.direction.into(),
            amount,
            layer: Layer::Posted,
        });
    }
    let draft = TransactionDraft {
        external_ref: reference(input.external_ref.clone())?,
        metadata: input.metadata.clone().map_or_else(|| serde_json::json!({}), |j| j.0),
        effective_at: input.effective_at,
        ..TransactionDraft::new(merchant, TransactionKind::Transfer, entries)
    };
    draft.validate().or_coded()?;
    Ok(draft)
}

/// The [`Call`] of this request's caller for mutation `operation` under
/// idempotency key `key`, fingerprinting `input` as sent. Ends the request's
/// reads first: the write takes its own connection, and a request must never
/// hold one while waiting for another. Errors: `IDEMPOTENCY_KEY_INVALID`.
pub(super) async fn call(
    ctx: &Context<'_>,
    key: &str,
    operation: &'static str,
    input: &impl Serialize,
) -> async_graphql::Result<Call> {
    let rc = request(ctx)?;
    let call = Call::new(&rc.caller, rc.request_id.clone(), key, operation, input).or_coded()?;
    rc.finish_reads().await;
    Ok(call)
}

/// Posts `draft` under idempotency key `key` (see [`call`]).
async fn post(
    ctx: &Context<'_>,
    key: &str,
    operation: &'static str,
    input: &impl Serialize,
    draft: TransactionDraft,
) -> async_graphql::Result<TransactionPayload> {
    let call = call(ctx, key, operation, input).await?;
    posted(ledger(ctx)?.posting().post(call, draft).await)
}

fn posted(result: Result<Posted, LedgerError>) -> async_graphql::Result<TransactionPayload> {
    let posted = result.or_coded()?;
    Ok(TransactionPayload { transaction: TransactionNode(posted.transaction), replayed: posted.replayed })
}

fn payment_payload(result: Result<PaymentStep, LedgerError>) -> async_graphql::Result<PaymentPayload> {
    let step = result.or_coded()?;
    Ok(PaymentPayload {
        payment: PaymentNode(step.payment),
        transaction: TransactionNode(step.transaction),
        replayed: step.replayed,
    })
}

fn payout_payload(result: Result<PayoutStep, LedgerError>) -> async_graphql::Result<PayoutPayload> {
    let step = result.or_coded()?;
    Ok(PayoutPayload {
        payout: PayoutNode(step.payout),
        transaction: TransactionNode(step.transaction),
        replayed: step.replayed,
    })
}
