//! GraphQL of the payments aggregate: a payment and its life-cycle state;
//! the `payment` and `payments` queries and `refundPreview`; the life-cycle
//! mutations (authorize, capture, void, refund, disputes), `recordPayment`
//! and `setFeeSchedule`.

use async_graphql::connection::{Connection, OpaqueCursor};
use async_graphql::{Context, Enum, ID, InputObject, Json, Object, SimpleObject};
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::common::{
    Money, MoneyInput, annotations, call, decode_id_cursor, money, optional_money, page_of, parse_merchant_id,
    parse_partition, parse_uuid,
};
use super::context::{not_found, reads, reason_for, visible};
use super::error::OrCoded;
use super::merchants::{MerchantNode, merchant_node};
use super::posting::{TransactionNode, TransactionPayload, post};
use super::{access, ledger, list_cost, page_size};
use crate::core::LedgerError;
use crate::core::payments::PaymentStep;
use crate::core::payments::fee::FeeSchedule;
use crate::core::payments::payment;
use crate::core::posting;
use crate::domain::{Amount, DomainError, MerchantId};

/// A payment's life-cycle state, derived from its amounts at read time.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "crate::core::payments::lifecycle::PaymentState")]
pub enum PaymentStateType {
    /// Held, nothing captured, not expired.
    Authorized,
    /// Part captured, the rest still held.
    PartiallyCaptured,
    /// Captured; nothing held.
    Captured,
    /// Released by a void before any capture.
    Voided,
    /// Expired before any capture.
    Expired,
    /// Part of the captured money refunded.
    PartiallyRefunded,
    /// All captured money refunded.
    Refunded,
    /// A chargeback is open.
    Disputed,
    /// A chargeback was lost.
    ChargedBack,
}

/// A payment: an authorization and everything that happened to it. All amounts
/// are Money in the payment's one asset.
pub struct PaymentNode(pub crate::core::payments::Payment);

#[Object(name = "Payment")]
impl PaymentNode {
    /// Its id (UUID).
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// Its state now.
    async fn state(&self) -> PaymentStateType {
        self.0.facts.state(Utc::now()).into()
    }
    /// Its merchant.
    async fn merchant(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<MerchantNode>> {
        merchant_node(ctx, self.0.merchant).await
    }
    /// The caller's reference.
    async fn external_ref(&self) -> Option<&str> {
        self.0.external_ref.as_deref()
    }
    /// Amount authorized.
    async fn authorized(&self, ctx: &Context<'_>) -> async_graphql::Result<Money> {
        Money::of(ctx, self.0.asset.as_str(), self.0.facts.authorized.into()).await
    }
    /// Sum of captures (gross).
    async fn captured(&self, ctx: &Context<'_>) -> async_graphql::Result<Money> {
        Money::of(ctx, self.0.asset.as_str(), self.0.facts.captured.into()).await
    }
    /// Fees taken on the captures.
    async fn fee(&self, ctx: &Context<'_>) -> async_graphql::Result<Money> {
        Money::of(ctx, self.0.asset.as_str(), self.0.fee_captured.into()).await
    }
    /// Still held pending now (zero once expired, even before the sweeper runs).
    async fn pending(&self, ctx: &Context<'_>) -> async_graphql::Result<Money> {
        Money::of(ctx, self.0.asset.as_str(), self.0.facts.live_pending(Utc::now()).into()).await
    }
    /// Released by a void or expiry.
    async fn voided(&self, ctx: &Context<'_>) -> async_graphql::Result<Money> {
        Money::of(ctx, self.0.asset.as_str(), self.0.facts.released.into()).await
    }
    /// Sum of refunds.
    async fn refunded(&self, ctx: &Context<'_>) -> async_graphql::Result<Money> {
        Money::of(ctx, self.0.asset.as_str(), self.0.facts.refunded.into()).await
    }
    /// Under an open dispute, plus lost to disputes.
    async fn disputed(&self, ctx: &Context<'_>) -> async_graphql::Result<Money> {
        let d = i128::from(self.0.facts.disputed_open) + i128::from(self.0.facts.charged_back);
        Money::of(ctx, self.0.asset.as_str(), d).await
    }
    /// When the authorization expires.
    async fn expires_at(&self) -> DateTime<Utc> {
        self.0.facts.expires_at
    }
    /// When it was authorized.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// Every ledger transaction it made, in sequence order.
    async fn transactions(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<TransactionNode>> {
        let rows = posting::of_payment(&reads(ctx).await?, self.0.merchant, self.0.id).await.or_coded()?;
        Ok(rows.into_iter().map(TransactionNode::of).collect())
    }
}

/// A merchant's payments as a Relay connection, newest first.
pub async fn payments_connection(
    ctx: &Context<'_>,
    merchant: MerchantId,
    state: Option<PaymentStateType>,
    first: Option<i32>,
    after: Option<String>,
) -> async_graphql::Result<Connection<OpaqueCursor<String>, PaymentNode>> {
    let limit = page_size(first)?;
    let before = decode_id_cursor(after)?;
    let rows = crate::core::payments::page(&reads(ctx).await?, merchant, state.map(Into::into), before, limit + 1)
        .await
        .or_coded()?;
    Ok(page_of(rows, limit, before.is_some(), |p| OpaqueCursor(p.id.to_string()), PaymentNode))
}

/// The payments aggregate's root queries, merged into [`super::QueryRoot`].
#[derive(Default)]
pub struct PaymentsQuery;

#[Object]
impl PaymentsQuery {
    /// A payment by id, with its state, amounts and transactions.
    /// `merchantId`, optional: its merchant, so that on Citus the lookup
    /// reads that merchant's shard alone (a merchant key's lookups use its
    /// own). Errors: `NOT_FOUND` (also when it is not `merchantId`'s),
    /// `BAD_USER_INPUT` for a malformed id.
    #[graphql(guard = "access::FIELD")]
    async fn payment(
        &self,
        ctx: &Context<'_>,
        id: ID,
        merchant_id: Option<ID>,
    ) -> async_graphql::Result<Option<PaymentNode>> {
        let id = parse_uuid(&id, "payment id")?;
        let partition = parse_partition(merchant_id.as_ref())?;
        let found =
            crate::core::payments::find(&reads(ctx).await?, id, partition).await.or_coded()?.ok_or_else(not_found)?;
        visible(ctx, found.merchant)?;
        Ok(Some(PaymentNode(found)))
    }

    /// A merchant's payments, newest first, optionally in one state; a Relay
    /// connection. Errors: `NOT_FOUND` for a merchant the caller may not see.
    #[graphql(guard = "access::FIELD", complexity = "list_cost(first, child_complexity)")]
    async fn payments(
        &self,
        ctx: &Context<'_>,
        merchant_id: ID,
        state: Option<PaymentStateType>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<OpaqueCursor<String>, PaymentNode>> {
        let merchant = parse_merchant_id(&merchant_id)?;
        visible(ctx, merchant)?;
        payments_connection(ctx, merchant, state, first, after).await
    }

    /// What `refundPayment` would post for `paymentId` and `amount` (all
    /// that is left when absent), without posting anything: the amount, the
    /// fee share given back, and the entries. The same callers as
    /// `refundPayment`. Errors: `NOT_FOUND`, `REFUND_EXCEEDS_CAPTURED`,
    /// `PAYMENT_NOT_CAPTURED`, `ASSET_MISMATCH`, `AMOUNT_PRECISION_EXCEEDED`.
    #[graphql(guard = "access::FIELD", complexity = "super::NOMINAL_LIST_LEN * child_complexity + 1")]
    async fn refund_preview(
        &self,
        ctx: &Context<'_>,
        payment_id: ID,
        amount: Option<super::common::MoneyInput>,
    ) -> async_graphql::Result<super::preview::RefundPreviewNode> {
        let payment = super::common::parse_uuid(&payment_id, "payment id")?;
        let amount = match &amount {
            Some(m) => {
                let (asset, amount) = super::common::money(ctx, m).await?;
                Some((asset.code, amount))
            }
            None => None,
        };
        let plan =
            crate::core::payments::preview_refund(&reads(ctx).await?, payment, amount.as_ref()).await.or_coded()?;
        let asset = plan.draft.entries.first().map(|e| e.asset.to_string()).unwrap_or_default();
        Ok(super::preview::RefundPreviewNode(plan, asset))
    }
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
    /// The payment's merchant, optional: on Citus the step then locks and
    /// reads that merchant's shard alone (a merchant key's steps use its
    /// own). A payment of another merchant is `NOT_FOUND`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merchant_id: Option<ID>,
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
    /// The payment's merchant, optional: on Citus the step then locks and
    /// reads that merchant's shard alone (a merchant key's steps use its
    /// own). A payment of another merchant is `NOT_FOUND`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merchant_id: Option<ID>,
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
    /// The payment's merchant, optional: on Citus the step then locks and
    /// reads that merchant's shard alone (a merchant key's steps use its
    /// own). A payment of another merchant is `NOT_FOUND`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merchant_id: Option<ID>,
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
    /// The payment's merchant, optional: on Citus the step then locks and
    /// reads that merchant's shard alone (a merchant key's steps use its
    /// own). A payment of another merchant is `NOT_FOUND`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merchant_id: Option<ID>,
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
    /// The payment's merchant, optional: on Citus the step then locks and
    /// reads that merchant's shard alone (a merchant key's steps use its
    /// own). A payment of another merchant is `NOT_FOUND`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merchant_id: Option<ID>,
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

/// Result of a payment life-cycle mutation.
#[derive(SimpleObject)]
pub struct PaymentPayload {
    /// The payment after the step.
    pub payment: PaymentNode,
    /// The ledger transaction the step posted (on a dry run, would post).
    pub transaction: TransactionNode,
    /// True on a replay.
    pub replayed: bool,
    /// On a dry run, the balances the step would leave; null for a real write.
    pub dry_run: Option<super::preview::DryRunNode>,
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

/// The payments aggregate's mutations, merged into [`super::MutationRoot`].
#[derive(Default)]
pub struct PaymentsMutation;

#[Object]
impl PaymentsMutation {
    /// Records money received for a merchant: debits `processor_clearing` by the
    /// gross, credits the merchant's `available` by gross − fee and `fee_revenue`
    /// by the fee. The card network's word: a service key with `payments:write`
    /// or an admin, never a merchant key (`FORBIDDEN`). Errors: as
    /// `postTransaction`, plus `FEE_INVALID`.
    #[graphql(guard = "access::FIELD", complexity = "super::MUTATION_COST + child_complexity")]
    async fn record_payment(
        &self,
        ctx: &Context<'_>,
        #[graphql(default, desc = "true: run it and roll it back; see `DryRun`")] dry_run: bool,

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
        post(ctx, dry_run, &input.idempotency_key, "recordPayment", &input, draft).await
    }

    /// Authorizes a payment: holds `amount` pending for the merchant until
    /// `expiresAt`. Raises the merchant's pending balance; available is unchanged.
    /// Errors: the amount errors, `NOT_FOUND`, `AUTHORIZATION_EXPIRED` (an
    /// `expiresAt` in the past), `IDEMPOTENCY_KEY_REUSED`.
    #[graphql(guard = "access::FIELD", complexity = "super::MUTATION_COST + child_complexity")]
    async fn authorize_payment(
        &self,
        ctx: &Context<'_>,
        #[graphql(default, desc = "true: run it and roll it back; see `DryRun`")] dry_run: bool,

        input: AuthorizePaymentInput,
    ) -> async_graphql::Result<PaymentPayload> {
        let merchant = parse_merchant_id(&input.merchant_id)?;
        let (asset, amount) = money(ctx, &input.amount).await?;
        let notes = annotations(input.external_ref.clone(), input.metadata.clone(), None)?;
        let call = call(ctx, &input.idempotency_key, "authorizePayment", &input).await?.dry_run(dry_run);
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
        #[graphql(default, desc = "true: run it and roll it back; see `DryRun`")] dry_run: bool,

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
        let call = call(ctx, &input.idempotency_key, "capturePayment", &input)
            .await?
            .dry_run(dry_run)
            .naming(parse_partition(input.merchant_id.as_ref())?);
        payment_payload(ledger(ctx)?.payments().capture(call, payment, amount).await)
    }

    /// Releases what an authorization still holds. Errors: `NOT_FOUND`,
    /// `ALREADY_VOIDED`, `NOTHING_TO_VOID`, `IDEMPOTENCY_KEY_REUSED`.
    #[graphql(guard = "access::FIELD", complexity = "super::MUTATION_COST + child_complexity")]
    async fn void_authorization(
        &self,
        ctx: &Context<'_>,
        #[graphql(default, desc = "true: run it and roll it back; see `DryRun`")] dry_run: bool,

        input: VoidAuthorizationInput,
    ) -> async_graphql::Result<PaymentPayload> {
        let payment = parse_uuid(&input.payment_id, "payment id")?;
        let call = call(ctx, &input.idempotency_key, "voidAuthorization", &input)
            .await?
            .dry_run(dry_run)
            .naming(parse_partition(input.merchant_id.as_ref())?);
        payment_payload(ledger(ctx)?.payments().void(call, payment).await)
    }

    /// Refunds part (`amount`) or all of the payment's refundable money. It may
    /// be repeated. Errors: `NOT_FOUND`, `REFUND_EXCEEDS_CAPTURED`,
    /// `INSUFFICIENT_FUNDS`, `ASSET_MISMATCH`, `IDEMPOTENCY_KEY_REUSED`.
    #[graphql(guard = "access::FIELD", complexity = "super::MUTATION_COST + child_complexity")]
    async fn refund_payment(
        &self,
        ctx: &Context<'_>,
        #[graphql(default, desc = "true: run it and roll it back; see `DryRun`")] dry_run: bool,

        input: RefundPaymentInput,
    ) -> async_graphql::Result<PaymentPayload> {
        let payment = parse_uuid(&input.payment_id, "payment id")?;
        reason_for(ctx, input.reason.as_deref())?;
        let amount = optional_money(ctx, input.amount.as_ref()).await?;
        let call = call(ctx, &input.idempotency_key, "refundPayment", &input)
            .await?
            .dry_run(dry_run)
            .naming(parse_partition(input.merchant_id.as_ref())?);
        payment_payload(ledger(ctx)?.payments().refund(call, payment, amount).await)
    }

    /// Opens a chargeback: the disputed amount leaves the merchant's available
    /// balance (which may go negative) for the platform's `disputes` account.
    /// Errors: `NOT_FOUND`, `PAYMENT_NOT_CAPTURED`, `DISPUTE_ALREADY_OPEN`,
    /// `DISPUTE_EXCEEDS_CAPTURED`, `IDEMPOTENCY_KEY_REUSED`.
    #[graphql(guard = "access::FIELD", complexity = "super::MUTATION_COST + child_complexity")]
    async fn open_dispute(
        &self,
        ctx: &Context<'_>,
        #[graphql(default, desc = "true: run it and roll it back; see `DryRun`")] dry_run: bool,
        input: OpenDisputeInput,
    ) -> async_graphql::Result<PaymentPayload> {
        let payment = parse_uuid(&input.payment_id, "payment id")?;
        let amount = optional_money(ctx, input.amount.as_ref()).await?;
        let call = call(ctx, &input.idempotency_key, "openDispute", &input)
            .await?
            .dry_run(dry_run)
            .naming(parse_partition(input.merchant_id.as_ref())?);
        payment_payload(ledger(ctx)?.payments().open_dispute(call, payment, amount).await)
    }

    /// Resolves the open chargeback: WON returns the money to the merchant; LOST
    /// makes it final and may charge a dispute fee. Errors: `NOT_FOUND`,
    /// `NO_OPEN_DISPUTE`, `IDEMPOTENCY_KEY_REUSED`.
    #[graphql(guard = "access::FIELD", complexity = "super::MUTATION_COST + child_complexity")]
    async fn resolve_dispute(
        &self,
        ctx: &Context<'_>,
        #[graphql(default, desc = "true: run it and roll it back; see `DryRun`")] dry_run: bool,

        input: ResolveDisputeInput,
    ) -> async_graphql::Result<PaymentPayload> {
        let payment = parse_uuid(&input.payment_id, "payment id")?;
        reason_for(ctx, input.reason.as_deref())?;
        let fee = optional_money(ctx, input.dispute_fee.as_ref()).await?;
        let won = input.outcome == DisputeOutcomeType::Won;
        let call = call(ctx, &input.idempotency_key, "resolveDispute", &input)
            .await?
            .dry_run(dry_run)
            .naming(parse_partition(input.merchant_id.as_ref())?);
        payment_payload(ledger(ctx)?.payments().resolve_dispute(call, payment, won, fee).await)
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
            fixed: super::common::Money::of(ctx, asset.code.as_str(), fixed_minor.into()).await?,
            refund_returns_fee: input.refund_returns_fee,
            replayed,
        })
    }
}

fn payment_payload(result: Result<PaymentStep, LedgerError>) -> async_graphql::Result<PaymentPayload> {
    let step = result.or_coded()?;
    let (transaction, dry_run) = super::preview::dry_parts(step.transaction, step.dry_run);
    Ok(PaymentPayload { payment: PaymentNode(step.payment), transaction, replayed: step.replayed, dry_run })
}
