//! GraphQL object types, built from domain and store types (never from rows).
//!
//! Money is always `{ amount, currency }`: `amount` is a decimal string with
//! exactly the asset's number of decimals (`"12.34"` USD, `"5"` SWORD), never a
//! float, so no client loses a cent to binary rounding.

use async_graphql::connection::{Connection, Edge, OpaqueCursor};
use async_graphql::{ComplexObject, Context, Enum, ID, InputObject, Object, OneofObject, SimpleObject};
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::context::{reads, sees};
use super::error::{OrCoded, coded};
use super::{ledger, page_size};
use crate::core::access::rules::{Caller, Role};
use crate::core::access::{ApiKey, AuditRecord, StaffUser};
use crate::core::accounts::{self, Account, BalanceView};
use crate::core::merchants::Merchant;
use crate::core::posting::{self, EntryRecord, TransactionRecord};
use crate::core::reports::{AsOf, TrialBalanceLine};
use crate::domain::money::format_minor;
use crate::domain::{self, AccountId, MerchantId, Owner};

/// An amount of one asset: `amount` is a decimal string in the asset's major
/// unit with exactly its exponent's decimals; `currency` is the ISO 4217 or
/// registered asset code.
#[derive(SimpleObject, Debug, Clone, PartialEq, Eq)]
pub struct Money {
    /// Decimal string, e.g. `"12.34"`; negative only for balances.
    pub amount: String,
    /// Asset code, e.g. `USD`.
    pub currency: String,
}

impl Money {
    /// Formats signed minor units of `asset`. Errors: unknown asset (never for
    /// stored data), or a balance beyond i64 (reported as `AMOUNT_OVERFLOW`).
    pub async fn of(ctx: &Context<'_>, asset: &str, minor: i128) -> async_graphql::Result<Money> {
        let exponent = ledger(ctx)?.asset(asset).await.or_coded()?.exponent;
        let minor = i64::try_from(minor).map_err(|_| domain::DomainError::AmountOverflow).or_coded()?;
        Ok(Money { amount: format_minor(minor, exponent), currency: asset.to_owned() })
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
    /// The ledger sequence number it took effect after: every transaction
    /// with a greater one was checked against it. Null for the built-in rule
    /// and for none.
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

/// A merchant by id for a nested field: null when it does not exist or the
/// caller may not see it (nothing of another merchant leaks through nesting).
pub(crate) async fn merchant_node(ctx: &Context<'_>, id: MerchantId) -> async_graphql::Result<Option<MerchantNode>> {
    if !sees(ctx, id) {
        return Ok(None);
    }
    let loaded = super::loaders::loaders(ctx)?.merchants.load_one(id).await.map_err(super::loaders::load_error)?;
    Ok(loaded.map(MerchantNode))
}

/// An amount given by a caller: `amount` is a positive decimal string with at
/// most the asset's exponent of decimals; `currency` an asset code.
#[derive(InputObject, Serialize, Debug, Clone)]
pub struct MoneyInput {
    /// Decimal string, e.g. `"12.34"`. More decimals than the asset allows is an
    /// error (`AMOUNT_PRECISION_EXCEEDED`), never rounded.
    pub amount: String,
    /// Asset code (ISO 4217 or registered).
    pub currency: String,
}

/// Side of an entry, or the normal balance of an account.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq, Serialize)]
#[graphql(remote = "domain::Direction")]
pub enum DirectionType {
    /// Debit (left) side.
    Debit,
    /// Credit (right) side.
    Credit,
}

/// Which totals an entry moves: posted, or a pending hold or release.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "domain::Layer")]
pub enum LayerType {
    /// Settled money: moves the posted totals.
    Posted,
    /// Money held pending (an authorization): adds to the pending totals.
    Hold,
    /// A hold taken back out of the pending totals (capture, void, expiry).
    Release,
}

/// What a transaction records.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "domain::TransactionKind")]
pub enum TransactionKindType {
    /// A general balanced transaction (`postTransaction`).
    Transfer,
    /// Money received for a merchant (`recordPayment`).
    Payment,
    /// Money paid out to a merchant (`recordPayout`).
    Payout,
    /// The inverse of an earlier transaction (`reverseTransaction`).
    Reversal,
    /// A payment authorized: money held pending (`authorizePayment`).
    Authorization,
    /// Part or all of an authorization posted (`capturePayment`).
    Capture,
    /// The uncaptured rest of an authorization released (`voidAuthorization`).
    Void,
    /// The uncaptured rest of an expired authorization released.
    Expiry,
    /// Captured money returned to the buyer (`refundPayment`).
    Refund,
    /// A chargeback opened (`openDispute`).
    DisputeOpened,
    /// A chargeback won by the merchant (`resolveDispute`).
    DisputeWon,
    /// A chargeback lost by the merchant (`resolveDispute`).
    DisputeLost,
    /// An exchange between two merchants (`recordDeal`).
    Deal,
    /// Available balance moved into payouts in transit (`createPayout`).
    PayoutCreated,
    /// A payout arrived at the merchant's bank (`settlePayout`).
    PayoutSettled,
    /// A payout bounced back to available (`failPayout`).
    PayoutFailed,
}

/// A point in the ledger's history: exactly one of a transaction sequence
/// number or a time (by transactions' `effectiveAt`).
#[derive(OneofObject, Debug, Clone, Copy)]
pub enum BalanceAsOf {
    /// After the transaction with this sequence number.
    Sequence(i64),
    /// At this time, counting transactions effective at or before it.
    Time(DateTime<Utc>),
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

async fn asset_balance(ctx: &Context<'_>, asset: &str, view: &BalanceView) -> async_graphql::Result<AssetBalance> {
    Ok(AssetBalance {
        asset: asset.to_owned(),
        posted: Money::of(ctx, asset, view.posted()).await?,
        pending: Money::of(ctx, asset, view.pending()).await?,
        available: Money::of(ctx, asset, view.available()).await?,
    })
}

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
                .filter(|(a, _)| a.code == code.as_str())
                .map(|(a, view)| (a.asset.to_string(), view))
                .collect(),
            Some(point) => {
                let point = match point {
                    BalanceAsOf::Sequence(s) => AsOf::Sequence(s),
                    BalanceAsOf::Time(t) => AsOf::Time(t),
                };
                crate::core::reports::balances_as_of(&reads, self.0.id, &code, point)
                    .await
                    .or_coded()?
                    .into_iter()
                    .map(|(a, n, b)| (a.to_string(), BalanceView::past(n, b)))
                    .collect()
            }
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
    /// Its transactions, newest first (by sequence), a Relay connection.
    #[graphql(complexity = "super::list_cost(first, child_complexity)")]
    async fn transactions(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<OpaqueCursor<i64>, TransactionNode>> {
        let limit = page_size(first)?;
        let before = after.as_deref().map(decode_cursor).transpose()?;
        let rows = posting::page_for_merchant(&reads(ctx).await?, self.0.id, before, limit + 1).await.or_coded()?;
        Ok(page_of(rows, limit, before.is_some(), |t| OpaqueCursor(t.seq), TransactionNode))
    }
}

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
        &self.0.code
    }
    /// The asset it holds.
    async fn asset(&self) -> &str {
        self.0.asset.as_str()
    }
    /// The side that increases it.
    async fn normal_balance(&self) -> DirectionType {
        self.0.normal_balance.into()
    }
    /// True for the platform's own accounts.
    async fn platform(&self) -> bool {
        self.0.owner == Owner::Platform
    }
    /// Its merchant; null for platform accounts.
    async fn merchant(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<MerchantNode>> {
        match self.0.owner {
            Owner::Platform => Ok(None),
            Owner::Merchant(id) => merchant_node(ctx, id).await,
        }
    }
    /// Its current balance.
    async fn balance(&self, ctx: &Context<'_>) -> async_graphql::Result<BalanceNode> {
        let view = accounts::balance(&reads(ctx).await?, &self.0).await.or_coded()?;
        Ok(BalanceNode::new(self.0.asset.to_string(), view))
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

/// A transaction: a balanced set of entries, append-only.
pub struct TransactionNode(pub TransactionRecord);

#[Object(name = "Transaction")]
impl TransactionNode {
    /// Its id (UUID).
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// Gap-free, commit-ordered sequence number; order by this, not by time.
    async fn sequence(&self) -> i64 {
        self.0.seq
    }
    /// What it records.
    async fn kind(&self) -> TransactionKindType {
        self.0.kind.into()
    }
    /// Its merchant.
    async fn merchant(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<MerchantNode>> {
        merchant_node(ctx, self.0.merchant).await
    }
    /// The caller's reference.
    async fn external_ref(&self) -> Option<&str> {
        self.0.external_ref.as_deref()
    }
    /// The caller's metadata, a JSON object.
    async fn metadata(&self) -> async_graphql::Json<serde_json::Value> {
        async_graphql::Json(self.0.metadata.clone())
    }
    /// When the movement happened (may be backdated).
    async fn effective_at(&self) -> DateTime<Utc> {
        self.0.effective_at
    }
    /// When it was committed.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// Who posted it: `key:<prefix>` (a merchant API key), `staff:<username>`,
    /// `system:<job>` (the server's own jobs), or `unrecorded` (before actors were kept).
    async fn actor(&self) -> &str {
        &self.0.actor
    }
    /// The id of the HTTP request that posted it (its `x-request-id`).
    async fn request_id(&self) -> Option<&str> {
        self.0.request_id.as_deref()
    }
    /// The idempotency key it was posted under; none for the server's own jobs.
    async fn idempotency_key(&self) -> Option<&str> {
        self.0.idempotency_key.as_deref()
    }
    /// The transaction this one reverses.
    async fn reverses(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<TransactionNode>> {
        let Some(id) = self.0.reverses else { return Ok(None) };
        Ok(posting::find(&reads(ctx).await?, id).await.or_coded()?.map(TransactionNode))
    }
    /// The transaction that reversed this one, if any.
    async fn reversed_by(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<TransactionNode>> {
        Ok(posting::reversal_of(&reads(ctx).await?, self.0.id).await.or_coded()?.map(TransactionNode))
    }
    /// The other merchant of a deal.
    async fn counterparty(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<MerchantNode>> {
        let Some(id) = self.0.counterparty else { return Ok(None) };
        merchant_node(ctx, id).await
    }
    /// The payment this transaction is a step of.
    async fn payment(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<PaymentNode>> {
        let Some(id) = self.0.payment else { return Ok(None) };
        Ok(crate::core::payments::find(&reads(ctx).await?, id).await.or_coded()?.map(PaymentNode))
    }
    /// Its entries, in sequence order.
    async fn entries(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<EntryNode>> {
        let entries =
            super::loaders::loaders(ctx)?.entries.load_one(self.0.id).await.map_err(super::loaders::load_error)?;
        Ok(entries.unwrap_or_default().into_iter().map(EntryNode).collect())
    }
}

/// One posting: an amount on the debit or credit side of one account.
pub struct EntryNode(pub EntryRecord);

#[Object(name = "Entry")]
impl EntryNode {
    /// Its sequence number (gap-free across the ledger), as an id.
    async fn id(&self) -> ID {
        ID(self.0.seq.to_string())
    }
    /// Its sequence number.
    async fn sequence(&self) -> i64 {
        self.0.seq
    }
    /// Its transaction's sequence number.
    async fn transaction_sequence(&self) -> i64 {
        self.0.transaction_seq
    }
    /// Debit or credit.
    async fn direction(&self) -> DirectionType {
        self.0.direction.into()
    }
    /// Posted, or a pending hold or release.
    async fn layer(&self) -> LayerType {
        self.0.layer.into()
    }
    /// Positive amount.
    async fn amount(&self, ctx: &Context<'_>) -> async_graphql::Result<Money> {
        Money::of(ctx, self.0.asset.as_str(), self.0.amount.minor().into()).await
    }
    /// The account posted to.
    async fn account(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<AccountNode>> {
        let account = super::loaders::loaders(ctx)?
            .accounts
            .load_one(self.0.account)
            .await
            .map_err(super::loaders::load_error)?;
        // A merchant key sees its own accounts only, never the platform's.
        Ok(account.filter(|a| sees(ctx, a.owner.merchant_id())).map(AccountNode))
    }
    /// Its transaction.
    async fn transaction(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<TransactionNode>> {
        Ok(posting::find(&reads(ctx).await?, self.0.transaction_id).await.or_coded()?.map(TransactionNode))
    }
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

/// One line of the trial balance (all accounts with one code, asset and owner kind).
#[derive(SimpleObject, Debug, Clone)]
#[graphql(name = "TrialBalanceLine")]
pub struct TrialBalanceLineNode {
    /// Account code.
    pub code: String,
    /// Asset.
    pub asset: String,
    /// True for platform accounts; false for the sum over all merchants.
    pub platform: bool,
    /// How many accounts the line sums.
    pub accounts: i64,
    /// Sum of posted debits.
    pub debits_posted: Money,
    /// Sum of posted credits.
    pub credits_posted: Money,
}

impl TrialBalanceLineNode {
    /// Builds a line from the store's totals.
    pub async fn of(ctx: &Context<'_>, l: TrialBalanceLine) -> async_graphql::Result<Self> {
        let asset = l.asset.to_string();
        Ok(Self {
            debits_posted: Money::of(ctx, &asset, l.balance.debits_posted.into()).await?,
            credits_posted: Money::of(ctx, &asset, l.balance.credits_posted.into()).await?,
            code: l.code,
            asset,
            platform: l.platform,
            accounts: l.accounts,
        })
    }
}

/// Decodes an opaque id cursor (a UUID) of the merchants, payments and payouts
/// connections. Errors: `BAD_USER_INPUT`.
pub fn decode_id_cursor(raw: Option<String>) -> async_graphql::Result<Option<uuid::Uuid>> {
    use async_graphql::connection::CursorType;
    let Some(raw) = raw else { return Ok(None) };
    let c = OpaqueCursor::<String>::decode_cursor(&raw)
        .map_err(|_| coded(super::error::BAD_USER_INPUT, "invalid cursor"))?;
    parse_uuid(&ID(c.0), "cursor").map(Some)
}

/// One page of a Relay connection from rows fetched with `limit + 1`: the
/// extra row only tells whether a next page exists.
pub fn page_of<C, T, N>(
    mut rows: Vec<T>,
    limit: u64,
    has_previous: bool,
    cursor: impl Fn(&T) -> C,
    node: impl Fn(T) -> N,
) -> Connection<C, N>
where
    C: async_graphql::connection::CursorType + Send + Sync,
    N: async_graphql::OutputType,
{
    let has_next = rows.len() as u64 > limit;
    rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let mut conn = Connection::new(has_previous, has_next);
    conn.edges.extend(rows.into_iter().map(|r| Edge::new(cursor(&r), node(r))));
    conn
}

/// Decodes an opaque sequence cursor. Errors: `BAD_USER_INPUT`.
pub fn decode_cursor(raw: &str) -> async_graphql::Result<i64> {
    use async_graphql::connection::CursorType;
    OpaqueCursor::<i64>::decode_cursor(raw)
        .map(|c| c.0)
        .map_err(|_| coded(super::error::BAD_USER_INPUT, "invalid cursor"))
}

/// An account's entries as a Relay connection ordered by sequence (ascending),
/// so pages never shift as new entries arrive.
pub async fn entries_connection(
    ctx: &Context<'_>,
    account: AccountId,
    first: Option<i32>,
    after: Option<String>,
) -> async_graphql::Result<Connection<OpaqueCursor<i64>, EntryNode>> {
    let limit = page_size(first)?;
    let after = after.as_deref().map(decode_cursor).transpose()?;
    let rows = posting::entries_page(&reads(ctx).await?, account, after, limit + 1).await.or_coded()?;
    Ok(page_of(rows, limit, after.is_some(), |e| OpaqueCursor(e.seq), EntryNode))
}

/// Parses a GraphQL `ID` as a UUID. Errors: `BAD_USER_INPUT`.
pub fn parse_uuid(id: &ID, what: &str) -> async_graphql::Result<uuid::Uuid> {
    uuid::Uuid::parse_str(id.as_str()).map_err(|_| coded(super::error::BAD_USER_INPUT, format!("{what} is not a UUID")))
}

/// Parses a merchant id.
pub fn parse_merchant_id(id: &ID) -> async_graphql::Result<MerchantId> {
    parse_uuid(id, "merchant id").map(MerchantId)
}

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
        let rows = posting::of_payment(&reads(ctx).await?, self.0.id).await.or_coded()?;
        Ok(rows.into_iter().map(TransactionNode).collect())
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
    /// First transaction sequence number it covers.
    async fn covers_from_sequence(&self) -> i64 {
        self.0.covers_from_seq
    }
    /// Last transaction sequence number it covers.
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
        Ok(rows.into_iter().map(TransactionNode).collect())
    }
    /// Its own transactions (created, then settled or failed), in order.
    async fn transactions(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<TransactionNode>> {
        let rows = posting::of_payout(&reads(ctx).await?, self.0.id).await.or_coded()?;
        Ok(rows.into_iter().map(TransactionNode).collect())
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

/// A staff role. Serialized (for a request's fingerprint) as on the wire: `SUPPORT`.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq, Serialize)]
#[graphql(name = "StaffRole", remote = "Role")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StaffRoleType {
    /// Reads everything.
    Viewer,
    /// Also refunds, reverses and resolves disputes, with a reason.
    Support,
    /// Also manages staff, merchants and keys.
    Admin,
}

/// The kind of an authenticated caller.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum CallerKind {
    /// A merchant API key.
    Merchant,
    /// A platform service's key, limited to its scopes.
    Service,
    /// A logged-in staff member.
    Staff,
}

/// The authenticated caller, as `me` shows it.
#[derive(SimpleObject, Debug, Clone)]
#[graphql(name = "Caller")]
pub struct CallerNode {
    /// Merchant key, service key or staff.
    pub kind: CallerKind,
    /// The key's merchant (merchant keys only).
    pub merchant_id: Option<ID>,
    /// The key's visible prefix (merchant and service keys).
    pub key_prefix: Option<String>,
    /// The service's name (service keys only).
    pub service: Option<String>,
    /// What the key may do, e.g. `payments:write` (service keys only).
    pub scopes: Option<Vec<String>>,
    /// The staff username.
    pub username: Option<String>,
    /// The staff role.
    pub role: Option<StaffRoleType>,
}

impl CallerNode {
    /// The node for an authenticated caller; `None` for an anonymous one.
    pub fn of(c: &Caller) -> Option<CallerNode> {
        match c {
            Caller::Anonymous => None,
            Caller::Merchant { merchant, key_prefix } => Some(CallerNode {
                kind: CallerKind::Merchant,
                merchant_id: Some(ID(merchant.to_string())),
                key_prefix: Some(key_prefix.clone()),
                service: None,
                scopes: None,
                username: None,
                role: None,
            }),
            Caller::Service { name, key_prefix, scopes } => Some(CallerNode {
                kind: CallerKind::Service,
                merchant_id: None,
                key_prefix: Some(key_prefix.clone()),
                service: Some(name.to_string()),
                scopes: Some(scopes.iter().map(|s| s.as_str().to_owned()).collect()),
                username: None,
                role: None,
            }),
            Caller::Staff { username, role, .. } => Some(CallerNode {
                kind: CallerKind::Staff,
                merchant_id: None,
                key_prefix: None,
                service: None,
                scopes: None,
                username: Some(username.clone()),
                role: Some((*role).into()),
            }),
        }
    }
}

/// A staff user (never its password).
pub struct StaffUserNode(pub StaffUser);

#[Object(name = "StaffUser")]
impl StaffUserNode {
    /// Its id.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// Its username.
    async fn username(&self) -> &str {
        &self.0.username
    }
    /// Its role.
    async fn role(&self) -> StaffRoleType {
        self.0.role.into()
    }
    /// When it was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// Whose an API key is.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum ApiKeyKind {
    /// A merchant's key: acts for that merchant only.
    Merchant,
    /// A platform service's key: acts for every merchant, within its scopes.
    Service,
}

/// An API key (a merchant's or a service's), by prefix only: its secret is
/// shown once, when it is issued.
pub struct ApiKeyNode(pub ApiKey);

#[Object(name = "ApiKey")]
impl ApiKeyNode {
    /// Its id.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// Merchant key or service key.
    async fn kind(&self) -> ApiKeyKind {
        if self.0.service.is_some() { ApiKeyKind::Service } else { ApiKeyKind::Merchant }
    }
    /// The merchant it acts for; for a service key, the platform's id (the nil UUID).
    async fn merchant_id(&self) -> ID {
        ID(self.0.merchant.to_string())
    }
    /// The service a service key belongs to; null for a merchant key.
    async fn service(&self) -> Option<&str> {
        self.0.service.as_ref().map(|s| s.name.as_str())
    }
    /// What a service key may do, e.g. `payments:write`; empty for a merchant key.
    async fn scopes(&self) -> Vec<&'static str> {
        self.0.service.as_ref().map(|s| s.scopes.iter().map(|scope| scope.as_str()).collect()).unwrap_or_default()
    }
    /// The visible prefix, `lk_<8 chars>` (merchant) or `sk_<8 chars>`
    /// (service), recorded in the actor of what it posts.
    async fn prefix(&self) -> &str {
        &self.0.prefix
    }
    /// A label.
    async fn name(&self) -> Option<&str> {
        self.0.name.as_deref()
    }
    /// Who created it.
    async fn created_by(&self) -> &str {
        &self.0.created_by
    }
    /// When it was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// When it was revoked; null while it works.
    async fn revoked_at(&self) -> Option<DateTime<Utc>> {
        self.0.revoked_at
    }
}

/// One record of the audit log: a staff action and its result.
pub struct AuditEntryNode(pub AuditRecord);

#[Object(name = "AuditEntry")]
impl AuditEntryNode {
    /// Its id (its sequence number in the log).
    async fn id(&self) -> ID {
        ID(self.0.seq.to_string())
    }
    /// Its place in the log.
    async fn sequence(&self) -> i64 {
        self.0.seq
    }
    /// When it happened.
    async fn at(&self) -> DateTime<Utc> {
        self.0.at
    }
    /// The staff username.
    async fn actor(&self) -> &str {
        &self.0.actor
    }
    /// The mutation, e.g. `reverseTransaction`.
    async fn action(&self) -> &str {
        &self.0.action
    }
    /// What it acted on: `transaction`, `payment`, `payout`, `merchant`,
    /// `api_key`, `staff_user`, `session`, ….
    async fn target_type(&self) -> &str {
        &self.0.target_type
    }
    /// The target's id.
    async fn target_id(&self) -> Option<&str> {
        self.0.target_id.as_deref()
    }
    /// The merchant the target belongs to.
    async fn merchant_id(&self) -> Option<ID> {
        self.0.merchant.map(|m| ID(m.to_string()))
    }
    /// The reason given.
    async fn reason(&self) -> Option<&str> {
        self.0.reason.as_deref()
    }
    /// `ok`, or the error code the action was refused with.
    async fn result(&self) -> &str {
        &self.0.result
    }
    /// The HTTP request id.
    async fn request_id(&self) -> Option<&str> {
        self.0.request_id.as_deref()
    }
}
