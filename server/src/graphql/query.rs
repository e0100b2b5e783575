//! Root query fields.

use async_graphql::connection::{Connection, OpaqueCursor};
use async_graphql::{Context, ID, Object};

use super::error::OrCoded;
use super::types::{
    AccountNode, AssetNode, EntryNode, MerchantNode, PaymentNode, PaymentStateType, PayoutNode, TransactionNode,
    TrialBalanceLineNode, decode_id_cursor, entries_connection, page_of, parse_merchant_id, parse_uuid,
    payments_connection, payouts_connection,
};
use super::{ledger, page_size};
use crate::domain::{AccountId, TransactionId};
use crate::store::{accounts, assets, books, merchants, transactions};

/// The root query.
pub struct QueryRoot;

#[Object]
impl QueryRoot {
    /// A merchant by id; null if none.
    async fn merchant(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<MerchantNode>> {
        let id = parse_merchant_id(&id)?;
        Ok(merchants::find(ledger(ctx)?.db(), id).await.or_coded()?.map(MerchantNode))
    }

    /// Merchants in creation order, a Relay connection. `search` matches a
    /// substring of the name (case-insensitive), or the external id or id exactly.
    async fn merchants(
        &self,
        ctx: &Context<'_>,
        search: Option<String>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<OpaqueCursor<String>, MerchantNode>> {
        let limit = page_size(first)?;
        let after = decode_id_cursor(after)?;
        let rows = merchants::search(ledger(ctx)?.db(), search.as_deref(), after, limit + 1).await.or_coded()?;
        Ok(page_of(rows, limit, after.is_some(), |m| OpaqueCursor(m.id.to_string()), MerchantNode))
    }

    /// An account by id; null if none.
    async fn account(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<AccountNode>> {
        let id = AccountId(parse_uuid(&id, "account id")?);
        Ok(accounts::find(ledger(ctx)?.db(), id).await.or_coded()?.map(AccountNode))
    }

    /// A transaction by id, with its entries; null if none.
    async fn transaction(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<TransactionNode>> {
        let id = TransactionId(parse_uuid(&id, "transaction id")?);
        Ok(transactions::find(ledger(ctx)?.db(), id).await.or_coded()?.map(TransactionNode))
    }

    /// An account's entries in sequence order, a Relay connection with opaque
    /// cursors (Relay Cursor Connections spec).
    async fn entries(
        &self,
        ctx: &Context<'_>,
        account_id: ID,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<OpaqueCursor<i64>, EntryNode>> {
        let id = AccountId(parse_uuid(&account_id, "account id")?);
        entries_connection(ctx, id, first, after).await
    }

    /// A payment by id, with its state, amounts and transactions; null if none.
    async fn payment(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<PaymentNode>> {
        let id = parse_uuid(&id, "payment id")?;
        Ok(crate::store::payments::find(ledger(ctx)?.db(), id).await.or_coded()?.map(PaymentNode))
    }

    /// A merchant's payments, newest first, optionally in one state; a Relay connection.
    async fn payments(
        &self,
        ctx: &Context<'_>,
        merchant_id: ID,
        state: Option<PaymentStateType>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<OpaqueCursor<String>, PaymentNode>> {
        payments_connection(ctx, parse_merchant_id(&merchant_id)?, state, first, after).await
    }

    /// A payout by id; null if none.
    async fn payout(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<PayoutNode>> {
        let id = parse_uuid(&id, "payout id")?;
        Ok(crate::store::payouts::find(ledger(ctx)?.db(), id).await.or_coded()?.map(PayoutNode))
    }

    /// A merchant's payouts, newest first; a Relay connection.
    async fn payouts(
        &self,
        ctx: &Context<'_>,
        merchant_id: ID,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<OpaqueCursor<String>, PayoutNode>> {
        payouts_connection(ctx, parse_merchant_id(&merchant_id)?, first, after).await
    }

    /// Every asset: ISO 4217 currencies and registered ones, by code.
    async fn assets(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<AssetNode>> {
        let rows = assets::list(ledger(ctx)?.db()).await.or_coded()?;
        Ok(rows
            .into_iter()
            .map(|(a, iso)| AssetNode { code: a.code.to_string(), exponent: a.exponent as i32, iso4217: iso })
            .collect())
    }

    /// The trial balance: posted totals per account code, asset and owner kind
    /// (platform, or all merchants together). Debits equal credits per asset.
    async fn trial_balance(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<TrialBalanceLineNode>> {
        let lines = books::trial_balance(ledger(ctx)?.db()).await.or_coded()?;
        let mut out = Vec::with_capacity(lines.len());
        for l in lines {
            out.push(TrialBalanceLineNode::of(ctx, l).await?);
        }
        Ok(out)
    }
}
