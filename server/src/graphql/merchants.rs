//! GraphQL of the merchants aggregate: a merchant with its balances,
//! accounts, payments, payouts and transactions; the `merchant` and
//! `merchants` queries; and `createMerchant`.

use async_graphql::connection::{Connection, OpaqueCursor};
use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::accounts::{AccountNode, AssetBalance, BalanceAsOf, asset_balance};
use super::common::{call, decode_id_cursor, page_of, parse_merchant_id};
use super::context::{caller, not_found, reads, sees, visible};
use super::error::OrCoded;
use super::payments::{PaymentNode, PaymentStateType, payments_connection};
use super::payouts::{PayoutNode, payouts_connection};
use super::posting::TransactionNode;
use super::{access, ledger, list_cost, page_size};
use crate::core::access::rules::Caller;
use crate::core::accounts::{self, BalanceView};
use crate::core::merchants::{self, Merchant};
use crate::core::posting;
use crate::domain::{self, MerchantClass, MerchantExternalId, MerchantId, MerchantName, Owner};

/// A merchant: a seller on the platform on whose behalf money is collected.
pub struct MerchantNode(pub Merchant);

#[Object(name = "Merchant")]
impl MerchantNode {
    /// Its id (UUID).
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// Display name.
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// The caller's own id for it, unique.
    async fn external_id(&self) -> Option<&str> {
        self.0.external_id.as_deref()
    }
    /// Free label used to group merchants in rollups.
    async fn class(&self) -> &str {
        &self.0.class
    }
    /// When it was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// Balances of its `available` account per asset: now (from the balance rows,
    /// no lock, no summing; pending counts live authorizations only, available is
    /// posted less pending outflows and less the payout reserve), or `asOf` a past
    /// sequence number or time (posted, summed from the entries).
    async fn balances(
        &self,
        ctx: &Context<'_>,
        as_of: Option<BalanceAsOf>,
    ) -> async_graphql::Result<Vec<AssetBalance>> {
        let reads = reads(ctx).await?;
        let code = domain::AccountCode::standard(domain::AccountCode::AVAILABLE);
        let views: Vec<(String, BalanceView)> = match as_of {
            None => accounts::balances_of(&reads, Owner::Merchant(self.0.id))
                .await
                .or_coded()?
                .into_iter()
                .filter(|(a, _)| a.code == code)
                .map(|(a, view)| (a.asset.to_string(), view))
                .collect(),
            Some(point) => crate::core::reports::balances_as_of(&reads, self.0.id, &code, point.into())
                .await
                .or_coded()?
                .into_iter()
                .map(|(a, n, b)| (a.to_string(), BalanceView::past(n, b)))
                .collect(),
        };
        let mut out = Vec::with_capacity(views.len());
        for (asset, view) in &views {
            out.push(asset_balance(ctx, asset, view).await?);
        }
        Ok(out)
    }
    /// All its accounts with their balances.
    async fn accounts(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<AccountNode>> {
        let rows = accounts::of_owner(&reads(ctx).await?, Owner::Merchant(self.0.id)).await.or_coded()?;
        Ok(rows.into_iter().map(AccountNode).collect())
    }
    /// Its payments, newest first, optionally in one state; a Relay connection.
    #[graphql(complexity = "super::list_cost(first, child_complexity)")]
    async fn payments(
        &self,
        ctx: &Context<'_>,
        state: Option<PaymentStateType>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<OpaqueCursor<String>, PaymentNode>> {
        payments_connection(ctx, self.0.id, state, first, after).await
    }
    /// Its payouts, newest first; a Relay connection.
    #[graphql(complexity = "super::list_cost(first, child_complexity)")]
    async fn payouts(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<OpaqueCursor<String>, PayoutNode>> {
        payouts_connection(ctx, self.0.id, first, after).await
    }
    /// Its transactions, newest first (by sequence), a Relay connection;
    /// with `filter`, only those matching it (see `Query.transactions`).
    /// Errors: `BAD_USER_INPUT`, `FILTER_NOT_INDEXED` (metadata on SQLite).
    #[graphql(complexity = "super::list_cost(first, child_complexity)")]
    async fn transactions(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        filter: Option<super::posting::TransactionFilter>,
    ) -> async_graphql::Result<Connection<OpaqueCursor<String>, TransactionNode>> {
        let limit = page_size(first)?;
        let after = after.as_deref().map(super::posting::decode_search_cursor).transpose()?;
        let reads = reads(ctx).await?;
        let rows = match filter {
            None => posting::page_for_merchant(&reads, self.0.id, after.map(|a| a.seq), limit + 1).await.or_coded()?,
            Some(filter) => {
                let search = filter.into_search()?;
                posting::search::search(&reads, Some(self.0.id), &search, after, limit + 1).await.or_coded()?
            }
        };
        Ok(page_of(rows, limit, after.is_some(), super::posting::search_cursor, TransactionNode::of))
    }
}

/// A merchant by id for a nested field: null when it does not exist or the
/// caller may not see it (nothing of another merchant leaks through nesting).
pub(crate) async fn merchant_node(ctx: &Context<'_>, id: MerchantId) -> async_graphql::Result<Option<MerchantNode>> {
    if !sees(ctx, id) {
        return Ok(None);
    }
    let loaded = super::loaders::loaders(ctx)?.merchants.load_one(id).await.map_err(super::loaders::load_error)?;
    Ok(loaded.map(MerchantNode))
}

/// The merchants aggregate's root queries, merged into [`super::QueryRoot`].
#[derive(Default)]
pub struct MerchantsQuery;

#[Object]
impl MerchantsQuery {
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
}

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

/// Result of `createMerchant`.
#[derive(SimpleObject)]
pub struct MerchantPayload {
    /// The merchant.
    pub merchant: MerchantNode,
    /// True on a replay.
    pub replayed: bool,
}

/// The merchants aggregate's mutations, merged into [`super::MutationRoot`].
#[derive(Default)]
pub struct MerchantsMutation;

#[Object]
impl MerchantsMutation {
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
}
