//! Root query fields. Each carries its access rule as a guard (see
//! [`super::access`]); every read runs in the request's read transaction under
//! the caller's tenant, and a merchant key asking for another merchant's id gets
//! `NOT_FOUND`, exactly as for an id that does not exist.

use std::sync::Arc;

use async_graphql::connection::{Connection, OpaqueCursor};
use async_graphql::{Context, ID, Object};

use super::access;
use super::context::{caller, not_found, reads, visible};
use super::error::OrCoded;
use super::events::LedgerEventNode;
use super::types::{
    AccountNode, ApiKeyNode, AssetNode, AuditEntryNode, CallerNode, EntryNode, MerchantNode, PaymentNode,
    PaymentStateType, PayoutNode, StaffUserNode, TransactionNode, TrialBalanceLineNode, decode_cursor,
    decode_id_cursor, entries_connection, page_of, parse_merchant_id, parse_uuid, payments_connection,
    payouts_connection,
};
use super::{list_cost, page_size};
use crate::core::access::rules::{Caller, ServiceName};
use crate::core::{accounts, merchants, posting};
use crate::domain::{AccountId, TransactionId};

/// The root query.
pub struct QueryRoot;

#[Object]
impl QueryRoot {
    /// The event feed: one ledger event per committed transaction, in sequence
    /// order, after sequence `after` (0: from the start of the feed), at most
    /// `first`. Page by passing the last `sequence` received as `after`; the
    /// feed is gap-free, so a consumer can rebuild a read model from it. Only
    /// events of `merchantId` (its transactions and its deals) when given; a
    /// merchant key always gets its own merchant's, with its own balances only.
    /// Errors: `BAD_USER_INPUT` (negative `after`, `first` over the page limit),
    /// `NOT_FOUND` (another merchant's id).
    #[graphql(guard = "access::FIELD", complexity = "list_cost(first, child_complexity)")]
    async fn events(
        &self,
        ctx: &Context<'_>,
        after: Option<i64>,
        merchant_id: Option<ID>,
        first: Option<i32>,
    ) -> async_graphql::Result<Vec<LedgerEventNode>> {
        let limit = page_size(first)?;
        let after = after.unwrap_or(0);
        if after < 0 {
            return Err(super::error::coded(super::error::BAD_USER_INPUT, "after must be 0 or more"));
        }
        let who = caller(ctx)?;
        let merchant = match (merchant_id, who) {
            (Some(id), _) => {
                let m = parse_merchant_id(&id)?;
                visible(ctx, m)?;
                Some(m)
            }
            (None, Caller::Merchant { merchant, .. }) => Some(*merchant),
            (None, _) => None,
        };
        let rows = crate::core::outbox::page(&reads(ctx).await?, after, merchant, limit).await.or_coded()?;
        let tenant = who.tenant();
        Ok(rows.into_iter().filter_map(|e| e.visible_to(tenant)).map(|e| LedgerEventNode(Arc::new(e))).collect())
    }

    /// Who is calling: a merchant key (its merchant and prefix), a service key
    /// (its service, prefix and scopes) or a staff member (username and role).
    #[graphql(guard = "access::FIELD")]
    async fn me(&self, ctx: &Context<'_>) -> async_graphql::Result<CallerNode> {
        CallerNode::of(caller(ctx)?).ok_or_else(not_found)
    }

    /// A merchant by id. Errors: `NOT_FOUND` when it does not exist or is not the
    /// caller's.
    #[graphql(guard = "access::FIELD")]
    async fn merchant(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<MerchantNode>> {
        let id = parse_merchant_id(&id)?;
        visible(ctx, id)?;
        let found = merchants::find(&reads(ctx).await?, id).await.or_coded()?;
        found.map(MerchantNode).map(Some).ok_or_else(not_found)
    }

    /// Merchants in creation order, a Relay connection. `search` matches a
    /// substring of the name (case-insensitive), or the external id or id exactly.
    /// A merchant key sees only its own merchant.
    #[graphql(guard = "access::FIELD", complexity = "list_cost(first, child_complexity)")]
    async fn merchants(
        &self,
        ctx: &Context<'_>,
        search: Option<String>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<OpaqueCursor<String>, MerchantNode>> {
        let limit = page_size(first)?;
        let after = decode_id_cursor(after)?;
        let mut rows = merchants::search(&reads(ctx).await?, search.as_deref(), after, limit + 1).await.or_coded()?;
        if let Caller::Merchant { merchant, .. } = caller(ctx)? {
            rows.retain(|m| m.id == *merchant);
        }
        Ok(page_of(rows, limit, after.is_some(), |m| OpaqueCursor(m.id.to_string()), MerchantNode))
    }

    /// An account by id. Errors: `NOT_FOUND` (also for another merchant's or,
    /// for a merchant key, the platform's accounts).
    #[graphql(guard = "access::FIELD")]
    async fn account(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<AccountNode>> {
        let id = AccountId(parse_uuid(&id, "account id")?);
        let found = accounts::find(&reads(ctx).await?, id).await.or_coded()?.ok_or_else(not_found)?;
        visible(ctx, found.owner.merchant_id())?;
        Ok(Some(AccountNode(found)))
    }

    /// A transaction by id, with its entries. Errors: `NOT_FOUND` (also when it
    /// is neither the caller merchant's nor a deal it is party to).
    #[graphql(guard = "access::FIELD")]
    async fn transaction(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<TransactionNode>> {
        let id = TransactionId(parse_uuid(&id, "transaction id")?);
        let found = posting::find(&reads(ctx).await?, id).await.or_coded()?.ok_or_else(not_found)?;
        if visible(ctx, found.merchant).is_err() && found.counterparty.is_none_or(|c| visible(ctx, c).is_err()) {
            return Err(not_found());
        }
        Ok(Some(TransactionNode(found)))
    }

    /// An account's entries in sequence order, a Relay connection with opaque
    /// cursors (Relay Cursor Connections spec). Errors: `NOT_FOUND` for an
    /// account the caller may not see.
    #[graphql(guard = "access::FIELD", complexity = "list_cost(first, child_complexity)")]
    async fn entries(
        &self,
        ctx: &Context<'_>,
        account_id: ID,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<OpaqueCursor<i64>, EntryNode>> {
        let id = AccountId(parse_uuid(&account_id, "account id")?);
        let account = accounts::find(&reads(ctx).await?, id).await.or_coded()?.ok_or_else(not_found)?;
        visible(ctx, account.owner.merchant_id())?;
        entries_connection(ctx, id, first, after).await
    }

    /// A payment by id, with its state, amounts and transactions. Errors: `NOT_FOUND`.
    #[graphql(guard = "access::FIELD")]
    async fn payment(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<PaymentNode>> {
        let id = parse_uuid(&id, "payment id")?;
        let found = crate::core::payments::find(&reads(ctx).await?, id).await.or_coded()?.ok_or_else(not_found)?;
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

    /// A payout by id. Errors: `NOT_FOUND`.
    #[graphql(guard = "access::FIELD")]
    async fn payout(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<PayoutNode>> {
        let id = parse_uuid(&id, "payout id")?;
        let found = crate::core::payouts::find(&reads(ctx).await?, id).await.or_coded()?.ok_or_else(not_found)?;
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

    /// Every asset: ISO 4217 currencies and registered ones, by code.
    #[graphql(guard = "access::FIELD")]
    async fn assets(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<AssetNode>> {
        let rows = crate::core::accounts::assets(&reads(ctx).await?).await.or_coded()?;
        Ok(rows
            .into_iter()
            .map(|(a, iso)| AssetNode { code: a.code.to_string(), exponent: a.exponent as i32, iso4217: iso })
            .collect())
    }

    /// The trial balance: posted totals per account code, asset and owner kind
    /// (platform, or all merchants together). Debits equal credits per asset. Staff only.
    #[graphql(guard = "access::FIELD", complexity = "super::NOMINAL_LIST_LEN * child_complexity + 1")]
    async fn trial_balance(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<TrialBalanceLineNode>> {
        let lines = crate::core::reports::trial_balance(&reads(ctx).await?).await.or_coded()?;
        let mut out = Vec::with_capacity(lines.len());
        for l in lines {
            out.push(TrialBalanceLineNode::of(ctx, l).await?);
        }
        Ok(out)
    }

    /// The audit log of staff actions, newest first; a Relay connection. `actor`
    /// is a staff username; `target` matches the target's id or its merchant's id.
    /// Staff only.
    #[graphql(guard = "access::FIELD", complexity = "list_cost(first, child_complexity)")]
    async fn audit_log(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        actor: Option<String>,
        target: Option<String>,
    ) -> async_graphql::Result<Connection<OpaqueCursor<i64>, AuditEntryNode>> {
        let limit = page_size(first)?;
        let before = after.as_deref().map(decode_cursor).transpose()?;
        let rows =
            crate::core::access::audit_page(&reads(ctx).await?, actor.as_deref(), target.as_deref(), before, limit + 1)
                .await
                .or_coded()?;
        Ok(page_of(rows, limit, before.is_some(), |r| OpaqueCursor(r.seq), AuditEntryNode))
    }

    /// A merchant's API keys, newest first, by prefix only (the secret is never
    /// shown again); service keys are listed by `serviceKeys`. Staff only.
    #[graphql(guard = "access::FIELD", complexity = "super::NOMINAL_LIST_LEN * child_complexity + 1")]
    async fn api_keys(&self, ctx: &Context<'_>, merchant_id: ID) -> async_graphql::Result<Vec<ApiKeyNode>> {
        let merchant = parse_merchant_id(&merchant_id)?;
        let rows = crate::core::access::keys_of(&reads(ctx).await?, merchant).await.or_coded()?;
        Ok(rows.into_iter().map(ApiKeyNode).collect())
    }

    /// Service keys (the platform's own services' keys), newest first, of
    /// one `service` when given: prefix, service and scopes, never the secret.
    /// Staff only. Errors: `BAD_USER_INPUT` (not a service name).
    #[graphql(guard = "access::FIELD", complexity = "super::NOMINAL_LIST_LEN * child_complexity + 1")]
    async fn service_keys(&self, ctx: &Context<'_>, service: Option<String>) -> async_graphql::Result<Vec<ApiKeyNode>> {
        let service = service
            .as_deref()
            .map(ServiceName::parse)
            .transpose()
            .map_err(|m| super::error::coded(super::error::BAD_USER_INPUT, m))?;
        let rows = crate::core::access::service_keys(&reads(ctx).await?, service.as_ref()).await.or_coded()?;
        Ok(rows.into_iter().map(ApiKeyNode).collect())
    }

    /// Every staff user, by username. Staff only.
    #[graphql(guard = "access::FIELD", complexity = "super::NOMINAL_LIST_LEN * child_complexity + 1")]
    async fn staff_users(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<StaffUserNode>> {
        let rows = crate::core::access::staff(&reads(ctx).await?).await.or_coded()?;
        Ok(rows.into_iter().map(StaffUserNode).collect())
    }

    /// The monthly rollup of `month` (`YYYY-MM`, UTC), per merchant class and
    /// asset, optionally of one `class` and/or `asset`. A closed month comes
    /// from the rollup table and never changes; the open month is computed on
    /// demand and cached (see the README's "Monthly rollups"). Read from the
    /// reporting replica when one is configured. Staff only. Errors:
    /// `BAD_USER_INPUT` (not `YYYY-MM`, or a month not begun).
    #[graphql(guard = "access::FIELD", complexity = "super::NOMINAL_LIST_LEN * child_complexity + 1")]
    async fn monthly_rollup(
        &self,
        ctx: &Context<'_>,
        month: String,
        class: Option<String>,
        asset: Option<String>,
    ) -> async_graphql::Result<super::reports::MonthlyRollupNode> {
        let month = super::reports::parse_month(&month)?;
        let report = super::reports::month_report(ctx, month).await?;
        Ok(super::reports::MonthlyRollupNode { report, class, asset })
    }

    /// The months the rollup job has closed and stored, oldest first. Staff only.
    #[graphql(guard = "access::FIELD", complexity = "super::NOMINAL_LIST_LEN * child_complexity + 1")]
    async fn rollup_months(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<super::reports::RollupMonth>> {
        let months = super::reports::reports(ctx)?.closed_months().await.or_coded()?;
        Ok(months
            .into_iter()
            .map(|(m, through, at)| super::reports::RollupMonth {
                month: m.to_string(),
                through_sequence: through,
                computed_at: at,
            })
            .collect())
    }

    /// Conversion rates between assets implied by `month`'s deals that
    /// exchanged exactly two assets, per pair, with the number of deals and
    /// the spread. Staff only. Errors: `BAD_USER_INPUT`.
    #[graphql(guard = "access::FIELD", complexity = "super::NOMINAL_LIST_LEN * child_complexity + 1")]
    async fn conversion_rates(
        &self,
        ctx: &Context<'_>,
        month: String,
    ) -> async_graphql::Result<Vec<super::reports::ConversionRateNode>> {
        let month = super::reports::parse_month(&month)?;
        let report = super::reports::month_report(ctx, month).await?;
        Ok(report.figures.rates.iter().cloned().map(super::reports::ConversionRateNode).collect())
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
        amount: Option<super::types::MoneyInput>,
    ) -> async_graphql::Result<super::preview::RefundPreviewNode> {
        let payment = super::types::parse_uuid(&payment_id, "payment id")?;
        let amount = match &amount {
            Some(m) => {
                let (asset, amount) = super::mutation::money(ctx, m).await?;
                Some((asset.code, amount))
            }
            None => None,
        };
        let plan =
            crate::core::payments::preview_refund(&reads(ctx).await?, payment, amount.as_ref()).await.or_coded()?;
        let asset = plan.draft.entries.first().map(|e| e.asset.to_string()).unwrap_or_default();
        Ok(super::preview::RefundPreviewNode(plan, asset))
    }

    /// What `reverseTransaction` would post for `transactionId`, computed by
    /// the same code, writing nothing: a payment step's holds become
    /// releases, and only a capture's posted entries are reversed. The same
    /// callers as `reverseTransaction`. Errors: `NOT_FOUND`,
    /// `ALREADY_REVERSED`, `PAYMENT_STEP_NOT_REVERSIBLE`.
    #[graphql(guard = "access::FIELD", complexity = "super::NOMINAL_LIST_LEN * child_complexity + 1")]
    async fn reversal_preview(
        &self,
        ctx: &Context<'_>,
        transaction_id: ID,
    ) -> async_graphql::Result<super::preview::ReversalPreviewNode> {
        let id = TransactionId(super::types::parse_uuid(&transaction_id, "transaction id")?);
        let entries = posting::preview_reversal(&reads(ctx).await?, id).await.or_coded()?;
        Ok(super::preview::ReversalPreviewNode { transaction: id, entries })
    }
}
