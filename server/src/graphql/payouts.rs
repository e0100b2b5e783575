//! GraphQL of the payouts aggregate: a payout, its state and the schedule;
//! the `payout` and `payouts` queries; `recordPayout`, the payout steps
//! (create, settle, fail) and `setPayoutSettings`.

use async_graphql::connection::{Connection, OpaqueCursor};
use async_graphql::{Context, Enum, ID, InputObject, Json, Object, SimpleObject};
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::common::{
    Money, MoneyInput, annotations, call, decode_id_cursor, money, page_of, parse_merchant_id, parse_partition,
    parse_uuid,
};
use super::context::{not_found, reads, visible};
use super::error::OrCoded;
use super::merchants::{MerchantNode, merchant_node};
use super::posting::{TransactionNode, TransactionPayload, post};
use super::{access, ledger, list_cost, page_size};
use crate::core::LedgerError;
use crate::core::payments::payment;
use crate::core::payouts::PayoutStep;
use crate::core::posting;
use crate::domain::{Amount, MerchantId};

/// A payout's state.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "crate::core::payouts::payout::PayoutState")]
pub enum PayoutStateType {
    /// Sent, not yet confirmed.
    InTransit,
    /// Arrived at the merchant's bank.
    Settled,
    /// Bounced; the money is back in available.
    Failed,
}

/// How often a merchant is paid out automatically.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq, Serialize)]
#[graphql(remote = "crate::core::payouts::payout::PayoutSchedule")]
pub enum PayoutScheduleType {
    /// Once per UTC day.
    Daily,
    /// Once per ISO week.
    Weekly,
    /// Once per calendar month (UTC).
    Monthly,
}

/// A payout: money moved from a merchant's available balance toward its bank.
pub struct PayoutNode(pub crate::core::payouts::Payout);

#[Object(name = "Payout")]
impl PayoutNode {
    /// Its id (UUID).
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// In transit, settled or failed.
    async fn state(&self) -> PayoutStateType {
        self.0.state.into()
    }
    /// The amount paid out.
    async fn amount(&self, ctx: &Context<'_>) -> async_graphql::Result<Money> {
        Money::of(ctx, self.0.asset.as_str(), self.0.amount.into()).await
    }
    /// Its merchant.
    async fn merchant(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<MerchantNode>> {
        merchant_node(ctx, self.0.merchant).await
    }
    /// The schedule period it was made for (`2026-W47`); null for a manual payout.
    async fn period(&self) -> Option<&str> {
        self.0.period.as_deref()
    }
    /// First number of the merchant's journal it covers (`Transaction.sequence`
    /// of its transactions, `counterpartySequence` of deals it was the
    /// counterparty of); since issue 17 a journal number, not a ledger-wide
    /// sequence.
    async fn covers_from_sequence(&self) -> i64 {
        self.0.covers_from_seq
    }
    /// Last number of the merchant's journal it covers.
    async fn covers_to_sequence(&self) -> i64 {
        self.0.covers_to_seq
    }
    /// The merchant's transactions it covers, oldest first (at most `first`, default 20, max 100).
    #[graphql(complexity = "super::list_cost(first, child_complexity)")]
    async fn covered_transactions(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
    ) -> async_graphql::Result<Vec<TransactionNode>> {
        let limit = page_size(first)?;
        let rows = crate::core::payouts::covered(
            &reads(ctx).await?,
            self.0.merchant,
            self.0.covers_from_seq,
            self.0.covers_to_seq,
            limit,
        )
        .await
        .or_coded()?;
        Ok(rows.into_iter().map(TransactionNode::of).collect())
    }
    /// Its own transactions (created, then settled or failed), in order.
    async fn transactions(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<TransactionNode>> {
        let rows = posting::of_payout(&reads(ctx).await?, self.0.merchant, self.0.id).await.or_coded()?;
        Ok(rows.into_iter().map(TransactionNode::of).collect())
    }
    /// When it was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// A merchant's payouts as a Relay connection, newest first.
pub async fn payouts_connection(
    ctx: &Context<'_>,
    merchant: MerchantId,
    first: Option<i32>,
    after: Option<String>,
) -> async_graphql::Result<Connection<OpaqueCursor<String>, PayoutNode>> {
    let limit = page_size(first)?;
    let before = decode_id_cursor(after)?;
    let rows = crate::core::payouts::page(&reads(ctx).await?, merchant, before, limit + 1).await.or_coded()?;
    Ok(page_of(rows, limit, before.is_some(), |p| OpaqueCursor(p.id.to_string()), PayoutNode))
}

/// The payouts aggregate's root queries, merged into [`super::QueryRoot`].
#[derive(Default)]
pub struct PayoutsQuery;

#[Object]
impl PayoutsQuery {
    /// A payout by id. `merchantId`, optional: its merchant, so that on
    /// Citus the lookup reads that merchant's shard alone (a merchant key's
    /// lookups use its own). Errors: `NOT_FOUND` (also when it is not
    /// `merchantId`'s), `BAD_USER_INPUT` for a malformed id.
    #[graphql(guard = "access::FIELD")]
    async fn payout(
        &self,
        ctx: &Context<'_>,
        id: ID,
        merchant_id: Option<ID>,
    ) -> async_graphql::Result<Option<PayoutNode>> {
        let id = parse_uuid(&id, "payout id")?;
        let partition = parse_partition(merchant_id.as_ref())?;
        let found =
            crate::core::payouts::find(&reads(ctx).await?, id, partition).await.or_coded()?.ok_or_else(not_found)?;
        visible(ctx, found.merchant)?;
        Ok(Some(PayoutNode(found)))
    }

    /// A merchant's payouts, newest first; a Relay connection. Errors: `NOT_FOUND`
    /// for a merchant the caller may not see.
    #[graphql(guard = "access::FIELD", complexity = "list_cost(first, child_complexity)")]
    async fn payouts(
        &self,
        ctx: &Context<'_>,
        merchant_id: ID,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<OpaqueCursor<String>, PayoutNode>> {
        let merchant = parse_merchant_id(&merchant_id)?;
        visible(ctx, merchant)?;
        payouts_connection(ctx, merchant, first, after).await
    }
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
    /// The payout's merchant, optional: on Citus the step then locks and
    /// reads that merchant's shard alone (a merchant key's steps use its
    /// own). A payout of another merchant is `NOT_FOUND`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merchant_id: Option<ID>,
    /// Idempotency key.
    #[serde(skip)]
    pub idempotency_key: String,
}

/// Result of a payout mutation.
#[derive(SimpleObject)]
pub struct PayoutPayload {
    /// The payout after the step.
    pub payout: PayoutNode,
    /// The ledger transaction the step posted (on a dry run, would post).
    pub transaction: TransactionNode,
    /// True on a replay.
    pub replayed: bool,
    /// On a dry run, the balances the step would leave; null for a real write.
    pub dry_run: Option<super::preview::DryRunNode>,
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

/// The payouts aggregate's mutations, merged into [`super::MutationRoot`].
#[derive(Default)]
pub struct PayoutsMutation;

#[Object]
impl PayoutsMutation {
    /// Records money sent to a merchant: debits its `available`, credits the
    /// platform's `bank`. The bank's word: a service key with `payouts:write` or
    /// an admin, never a merchant key. Errors: as `postTransaction`, plus
    /// `INSUFFICIENT_FUNDS` when it would take `available` below zero.
    #[graphql(guard = "access::FIELD", complexity = "super::MUTATION_COST + child_complexity")]
    async fn record_payout(
        &self,
        ctx: &Context<'_>,
        #[graphql(default, desc = "true: run it and roll it back; see `DryRun`")] dry_run: bool,

        input: RecordPayoutInput,
    ) -> async_graphql::Result<TransactionPayload> {
        let merchant = parse_merchant_id(&input.merchant_id)?;
        let (asset, amount) = money(ctx, &input.amount).await?;
        let notes = annotations(input.external_ref.clone(), input.metadata.clone(), input.effective_at)?;
        let draft = payment::record_payout(merchant, &asset.code, amount, notes).or_coded()?;
        post(ctx, dry_run, &input.idempotency_key, "recordPayout", &input, draft).await
    }

    /// Pays out the merchant's whole available balance in `asset`, less its
    /// reserve, into `payouts_in_transit`, recording which transactions it
    /// covers. Errors: `NOT_FOUND`, `UNKNOWN_ASSET`, `NOTHING_TO_PAY_OUT`,
    /// `IDEMPOTENCY_KEY_REUSED`.
    #[graphql(guard = "access::FIELD", complexity = "super::MUTATION_COST + child_complexity")]
    async fn create_payout(
        &self,
        ctx: &Context<'_>,
        #[graphql(default, desc = "true: run it and roll it back; see `DryRun`")] dry_run: bool,
        input: CreatePayoutInput,
    ) -> async_graphql::Result<PayoutPayload> {
        let merchant = parse_merchant_id(&input.merchant_id)?;
        let asset = ledger(ctx)?.asset(&input.asset).await.or_coded()?;
        let call = call(ctx, &input.idempotency_key, "createPayout", &input).await?.dry_run(dry_run);
        payout_payload(ledger(ctx)?.payouts().create(call, merchant, asset.code).await)
    }

    /// Marks a payout in transit as arrived: the money leaves the platform's bank.
    /// Errors: `NOT_FOUND`, `PAYOUT_NOT_IN_TRANSIT`, `IDEMPOTENCY_KEY_REUSED`.
    #[graphql(guard = "access::FIELD", complexity = "super::MUTATION_COST + child_complexity")]
    async fn settle_payout(
        &self,
        ctx: &Context<'_>,
        #[graphql(default, desc = "true: run it and roll it back; see `DryRun`")] dry_run: bool,
        input: PayoutStepInput,
    ) -> async_graphql::Result<PayoutPayload> {
        let payout = parse_uuid(&input.payout_id, "payout id")?;
        let call = call(ctx, &input.idempotency_key, "settlePayout", &input)
            .await?
            .dry_run(dry_run)
            .naming(parse_partition(input.merchant_id.as_ref())?);
        payout_payload(ledger(ctx)?.payouts().settle(call, payout).await)
    }

    /// Marks a payout in transit as bounced: the money returns to the merchant's
    /// available balance. Errors: `NOT_FOUND`, `PAYOUT_NOT_IN_TRANSIT`,
    /// `IDEMPOTENCY_KEY_REUSED`.
    #[graphql(guard = "access::FIELD", complexity = "super::MUTATION_COST + child_complexity")]
    async fn fail_payout(
        &self,
        ctx: &Context<'_>,
        #[graphql(default, desc = "true: run it and roll it back; see `DryRun`")] dry_run: bool,
        input: PayoutStepInput,
    ) -> async_graphql::Result<PayoutPayload> {
        let payout = parse_uuid(&input.payout_id, "payout id")?;
        let call = call(ctx, &input.idempotency_key, "failPayout", &input)
            .await?
            .dry_run(dry_run)
            .naming(parse_partition(input.merchant_id.as_ref())?);
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
}

fn payout_payload(result: Result<PayoutStep, LedgerError>) -> async_graphql::Result<PayoutPayload> {
    let step = result.or_coded()?;
    let (transaction, dry_run) = super::preview::dry_parts(step.transaction, step.dry_run);
    Ok(PayoutPayload { payout: PayoutNode(step.payout), transaction, replayed: step.replayed, dry_run })
}
