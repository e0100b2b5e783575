//! GraphQL of the accounts aggregate: accounts, their balances and balance
//! limits, and assets; the `account`, `entries` and `assets` queries; and
//! `openAccount`, `registerAsset` and `setBalanceLimit`.

use async_graphql::connection::{Connection, OpaqueCursor};
use async_graphql::{ComplexObject, Context, Enum, ID, InputObject, Object, OneofObject, SimpleObject};
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::common::{DirectionType, Money, call, parse_merchant_id, parse_uuid};
use super::context::{not_found, reads, request, visible};
use super::error::{BAD_USER_INPUT, OrCoded, coded};
use super::merchants::{MerchantNode, merchant_node};
use super::posting::{EntryNode, entries_connection};
use super::{access, ledger, list_cost};
use crate::core::LedgerError;
use crate::core::accounts::limit::LimitPolicy;
use crate::core::accounts::{self, Account, BalanceView, LimitTarget};
use crate::domain::money::parse_signed_minor;
use crate::domain::{self, AccountCode, AccountId, Asset, Owner};

/// An account: one asset, one owner (a merchant or the platform), one code.
pub struct AccountNode(pub Account);

#[Object(name = "Account")]
impl AccountNode {
    /// Its id (UUID).
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// Its code, e.g. `available` or `fee_revenue`.
    async fn code(&self) -> &str {
        self.0.code.as_str()
    }
    /// The asset it holds.
    async fn asset(&self) -> &str {
        self.0.asset.as_str()
    }
    /// The side that increases it.
    async fn normal_balance(&self) -> DirectionType {
        self.0.normal_balance.into()
    }
    /// True for the platform's accounts: its own, and its subsidiary account
    /// for a merchant (the platform's side of that merchant's payments, kept
    /// in the merchant's books; their sum per code and asset is the control
    /// account in `platformBalances`).
    async fn platform(&self) -> bool {
        self.0.owner.is_platform()
    }
    /// Its merchant; null for platform accounts, subsidiary ones included.
    async fn merchant(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<MerchantNode>> {
        match self.0.owner {
            Owner::Platform | Owner::PlatformFor(_) => Ok(None),
            Owner::Merchant(id) => merchant_node(ctx, id).await,
        }
    }
    /// Its balance: now (from its balance row), or `asOf` a point of its
    /// history (summed from its entries, posted and pending: a hold counts
    /// until the entry that released it; no payout reserve is kept out of a
    /// past `available`). A sequence is a number in its owner's journal.
    async fn balance(&self, ctx: &Context<'_>, as_of: Option<BalanceAsOf>) -> async_graphql::Result<BalanceNode> {
        let reads = reads(ctx).await?;
        let view = match as_of {
            None => accounts::balance(&reads, &self.0).await.or_coded()?,
            Some(at) => accounts::history::balance_at(&reads, &self.0, at.into()).await.or_coded()?,
        };
        Ok(BalanceNode::new(self.0.asset.to_string(), view))
    }
    /// Its statement for the effective times `[from, to)`: the opening
    /// balance (entries effective before `from`), every entry effective in the
    /// period in order, and the closing balance, which is the opening plus
    /// those entries. Errors: `STATEMENT_RANGE_INVALID` (`to` before `from`),
    /// `STATEMENT_TOO_LONG` (more than 10,000 entries: ask for shorter periods).
    /// The console downloads it as CSV (`GET /accounts/{id}/statement.csv`).
    async fn statement(
        &self,
        ctx: &Context<'_>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> async_graphql::Result<StatementNode> {
        let statement = accounts::history::statement(&reads(ctx).await?, &self.0, from, to).await.or_coded()?;
        Ok(StatementNode { asset: self.0.asset.to_string(), from, to, statement })
    }
    /// The balance limit policy in force and where it comes from (its own,
    /// the default for its code and asset, the built-in rule, or none).
    async fn limit(&self, ctx: &Context<'_>) -> async_graphql::Result<BalanceLimitNode> {
        let limit = accounts::limit_of(&reads(ctx).await?, &self.0).await.or_coded()?;
        BalanceLimitNode::of(ctx, self.0.asset.as_str(), limit.policy, limit.source.into(), limit.since_seq).await
    }
    /// Its entries in sequence order, a Relay connection with opaque cursors.
    #[graphql(complexity = "super::list_cost(first, child_complexity)")]
    async fn entries(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<OpaqueCursor<i64>, EntryNode>> {
        entries_connection(ctx, self.0.id, first, after).await
    }
}

/// An account's four running totals and the balances derived from them, all in
/// the account's asset.
pub struct BalanceNode {
    asset: String,
    view: BalanceView,
}

impl BalanceNode {
    /// The balance `view` of an account in `asset`.
    pub fn new(asset: String, view: BalanceView) -> Self {
        Self { asset, view }
    }
}

#[Object(name = "Balance")]
impl BalanceNode {
    /// Sum of posted debits.
    async fn debits_posted(&self, ctx: &Context<'_>) -> async_graphql::Result<Money> {
        Money::of(ctx, &self.asset, self.view.totals.debits_posted.into()).await
    }
    /// Sum of posted credits.
    async fn credits_posted(&self, ctx: &Context<'_>) -> async_graphql::Result<Money> {
        Money::of(ctx, &self.asset, self.view.totals.credits_posted.into()).await
    }
    /// Sum of pending debits.
    async fn debits_pending(&self, ctx: &Context<'_>) -> async_graphql::Result<Money> {
        Money::of(ctx, &self.asset, self.view.totals.debits_pending.into()).await
    }
    /// Sum of pending credits (holds of expired authorizations not counted).
    async fn credits_pending(&self, ctx: &Context<'_>) -> async_graphql::Result<Money> {
        Money::of(ctx, &self.asset, self.view.totals.credits_pending.into()).await
    }
    /// Posted balance, signed by the normal balance.
    async fn posted(&self, ctx: &Context<'_>) -> async_graphql::Result<Money> {
        Money::of(ctx, &self.asset, self.view.posted()).await
    }
    /// Posted plus pending.
    async fn pending(&self, ctx: &Context<'_>) -> async_graphql::Result<Money> {
        Money::of(ctx, &self.asset, self.view.pending()).await
    }
    /// Posted less pending outflows, less the payout reserve on a merchant's
    /// `available` account.
    async fn available(&self, ctx: &Context<'_>) -> async_graphql::Result<Money> {
        Money::of(ctx, &self.asset, self.view.available()).await
    }
}

/// Where the balance limit policy in force on an account comes from.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(name = "LimitSource", remote = "crate::core::accounts::limit::LimitSource")]
pub enum LimitSourceType {
    /// Set on the account itself with `setBalanceLimit(accountId)`.
    Account,
    /// The default for the account's code and asset.
    Default,
    /// The built-in rule: a merchant's credit-normal account may not go below
    /// 0, its debit-normal account not above 0.
    BuiltIn,
    /// No policy: a platform account, unbounded.
    None,
}

/// A balance limit policy: the lower bound on `available` (posted less
/// pending debits) and the upper bound on posted plus pending inflow, in the
/// account's asset; null is unbounded on that side.
#[derive(SimpleObject, Debug, Clone, PartialEq, Eq)]
#[graphql(name = "BalanceLimit")]
pub struct BalanceLimitNode {
    /// Least `available` may be: 0 for no overdraft, negative for an overdraft limit.
    pub lower_bound: Option<Money>,
    /// Most posted plus pending inflow may be.
    pub upper_bound: Option<Money>,
    /// Where the policy comes from.
    pub source: LimitSourceType,
    /// The number in the account's journal (its merchant's) it took effect
    /// after: every transaction of that journal with a greater one was
    /// checked against it. 0 for a default policy, which spans every
    /// merchant's journal. Null for the built-in rule and for none.
    pub since_sequence: Option<i64>,
}

impl BalanceLimitNode {
    /// The node of a policy on an account of `asset`. Errors: as [`Money::of`].
    pub async fn of(
        ctx: &Context<'_>,
        asset: &str,
        policy: crate::core::accounts::limit::LimitPolicy,
        source: LimitSourceType,
        since_sequence: Option<i64>,
    ) -> async_graphql::Result<Self> {
        let bound = |minor: Option<i64>| async move {
            match minor {
                Some(m) => Money::of(ctx, asset, m.into()).await.map(Some),
                None => Ok(None),
            }
        };
        Ok(Self {
            lower_bound: bound(policy.lower_minor).await?,
            upper_bound: bound(policy.upper_minor).await?,
            source,
            since_sequence,
        })
    }
}

/// A point in a merchant's history: exactly one of a number in its journal
/// or a time (by transactions' `effectiveAt`).
#[derive(OneofObject, Debug, Clone, Copy)]
pub enum BalanceAsOf {
    /// After the transaction with this number in the merchant's journal
    /// (`Transaction.sequence` of its own transactions, `counterpartySequence`
    /// of deals it is the counterparty of). Since issue 17 each merchant
    /// counts its own; a number past the last means now.
    Sequence(i64),
    /// At this time, counting transactions effective at or before it (the
    /// same as `effectiveAt`, kept for existing callers).
    Time(DateTime<Utc>),
    /// The value date: counting transactions effective at or before this
    /// time, backdated ones from their effective time.
    EffectiveAt(DateTime<Utc>),
    /// The knowledge time: what the books said at this moment, counting
    /// transactions recorded (`createdAt`) at or before it.
    KnownAt(DateTime<Utc>),
}

impl From<BalanceAsOf> for domain::AsOf {
    fn from(at: BalanceAsOf) -> Self {
        match at {
            BalanceAsOf::Sequence(s) => domain::AsOf::Sequence(s),
            BalanceAsOf::Time(t) | BalanceAsOf::EffectiveAt(t) => domain::AsOf::Effective(t),
            BalanceAsOf::KnownAt(t) => domain::AsOf::Known(t),
        }
    }
}

/// An account's statement for a period: opening balance, entries, closing
/// balance (all in the account's asset).
pub struct StatementNode {
    asset: String,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    statement: accounts::history::Statement,
}

#[Object(name = "Statement")]
impl StatementNode {
    /// The period's start (inclusive), by effective time.
    async fn from(&self) -> DateTime<Utc> {
        self.from
    }
    /// The period's end (exclusive), by effective time.
    async fn to(&self) -> DateTime<Utc> {
        self.to
    }
    /// The balance of the entries effective before `from`.
    async fn opening(&self) -> BalanceNode {
        BalanceNode::new(self.asset.clone(), self.statement.opening)
    }
    /// The entries effective in the period, in order of effective time, then
    /// of row key.
    async fn entries(&self) -> Vec<EntryNode> {
        self.statement.entries.iter().cloned().map(EntryNode::of).collect()
    }
    /// The opening balance plus the entries: the balance of the entries
    /// effective before `to`.
    async fn closing(&self) -> BalanceNode {
        BalanceNode::new(self.asset.clone(), self.statement.closing)
    }
}

/// A merchant's balance in one asset, from its `available` account. All three
/// are Money in that asset.
#[derive(SimpleObject, Debug, Clone)]
pub struct AssetBalance {
    /// The asset code.
    pub asset: String,
    /// Posted: settled movements only.
    pub posted: Money,
    /// Pending: posted plus movements not yet posted.
    pub pending: Money,
    /// Available: what can be paid out now (posted less pending outflows, less
    /// the merchant's payout reserve).
    pub available: Money,
}

pub(super) async fn asset_balance(
    ctx: &Context<'_>,
    asset: &str,
    view: &BalanceView,
) -> async_graphql::Result<AssetBalance> {
    Ok(AssetBalance {
        asset: asset.to_owned(),
        posted: Money::of(ctx, asset, view.posted()).await?,
        pending: Money::of(ctx, asset, view.pending()).await?,
        available: Money::of(ctx, asset, view.available()).await?,
    })
}

/// An asset the ledger knows.
#[derive(SimpleObject, Debug, Clone)]
#[graphql(name = "Asset", complex)]
pub struct AssetNode {
    /// Its code.
    pub code: String,
    /// Decimal places of its minor unit.
    pub exponent: i32,
    /// True for ISO 4217 currencies, false for registered assets.
    pub iso4217: bool,
}

#[ComplexObject]
impl AssetNode {
    /// Display symbol where ISO 4217 data has one.
    async fn symbol(&self) -> Option<String> {
        domain::Asset::iso4217(&self.code).and_then(|a| a.symbol())
    }
}

/// The accounts aggregate's root queries, merged into [`super::QueryRoot`].
#[derive(Default)]
pub struct AccountsQuery;

#[Object]
impl AccountsQuery {
    /// An account by id. `merchantId`, optional: the merchant whose books
    /// hold it (its own accounts and the platform's subsidiary accounts for
    /// it), so that on Citus the lookup reads that merchant's shard alone (a
    /// merchant key's lookups use its own). Errors: `NOT_FOUND` (also for
    /// another merchant's or, for a merchant key, the platform's accounts, and
    /// for one not in `merchantId`'s books), `BAD_USER_INPUT` for a malformed id.
    #[graphql(guard = "access::FIELD")]
    async fn account(
        &self,
        ctx: &Context<'_>,
        id: ID,
        merchant_id: Option<ID>,
    ) -> async_graphql::Result<Option<AccountNode>> {
        let id = AccountId(parse_uuid(&id, "account id")?);
        let partition = super::common::parse_partition(merchant_id.as_ref())?;
        let found = accounts::find(&reads(ctx).await?, id, partition).await.or_coded()?.ok_or_else(not_found)?;
        visible(ctx, found.owner.merchant_id())?;
        Ok(Some(AccountNode(found)))
    }

    /// An account's entries in sequence order, a Relay connection with opaque
    /// cursors (Relay Cursor Connections spec). `merchantId`, optional, as in
    /// `account`. Errors: `NOT_FOUND` for an account the caller may not see.
    #[graphql(guard = "access::FIELD", complexity = "list_cost(first, child_complexity)")]
    async fn entries(
        &self,
        ctx: &Context<'_>,
        account_id: ID,
        merchant_id: Option<ID>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<OpaqueCursor<i64>, EntryNode>> {
        let id = AccountId(parse_uuid(&account_id, "account id")?);
        let partition = super::common::parse_partition(merchant_id.as_ref())?;
        let account = accounts::find(&reads(ctx).await?, id, partition).await.or_coded()?.ok_or_else(not_found)?;
        visible(ctx, account.owner.merchant_id())?;
        entries_connection(ctx, id, first, after).await
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

/// Result of `openAccount`.
#[derive(SimpleObject)]
pub struct AccountPayload {
    /// The account.
    pub account: AccountNode,
    /// True on a replay.
    pub replayed: bool,
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

/// Result of `registerAsset`.
#[derive(SimpleObject)]
pub struct AssetPayload {
    /// The asset.
    pub asset: AssetNode,
    /// True on a replay.
    pub replayed: bool,
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

/// The accounts aggregate's mutations, merged into [`super::MutationRoot`].
#[derive(Default)]
pub struct AccountsMutation;

#[Object]
impl AccountsMutation {
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
                let account = accounts::find(&super::context::reads(ctx).await?, id, None)
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
            account_code: set.code.to_string(),
            asset: set.asset.to_string(),
            limit: BalanceLimitNode::of(ctx, set.asset.as_str(), set.policy, source, Some(set.since_seq)).await?,
            replayed: set.replayed,
        })
    }
}
