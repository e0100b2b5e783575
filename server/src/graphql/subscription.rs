//! Root subscription fields, served over WebSocket at `/graphql/ws` (see
//! [`crate::http::ws`]).
//!
//! Both fields follow one merchant's journal through the [`EventHub`]: a
//! subscriber first gets what it missed (after `afterSequence`, a number in
//! that merchant's journal), read from the outbox, then live events, in
//! journal order with no gap and no duplicate. A subscriber that falls more
//! than the hub's buffer behind gets one error with code
//! `SUBSCRIPTION_LAGGED` and `extensions.resumeAfterSequence`, and its
//! subscription ends; subscribing again after that number loses nothing.
//!
//! Since issue 17 each merchant has its own journal numbers (its
//! transactions, and the deals it is the counterparty of, numbered 1, 2, 3…
//! without gaps, in commit order); before, one sequence numbered the whole
//! ledger. A resume point saved before the migration is not a journal number.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_graphql::{Context, ErrorExtensions, ID, Subscription};
use futures::{Stream, StreamExt};

use super::access;
use super::common::parse_merchant_id;
use super::context::{caller, not_found, visible};
use super::error::{OrCoded, coded};
use super::events::{BalanceUpdateNode, LedgerEventNode};
use super::ledger;
use crate::core::access::rules::Tenant;
use crate::core::accounts::{Adjustments, BalanceView};
use crate::core::{Reads, accounts, merchants, outbox};
use crate::domain::event::EventBalance;
use crate::domain::{AssetCode, MerchantId, Owner};
use crate::events::{EventHub, FollowError};

/// The root subscription.
pub struct SubscriptionRoot;

/// How many subscriptions one WebSocket connection may hold at once; kept in
/// the connection's data by [`crate::http::ws`].
#[derive(Debug)]
pub struct SubscriptionSlots {
    max: usize,
    open: Arc<AtomicUsize>,
}

/// One held subscription slot; released when the subscription's stream ends.
/// Counted in the live-subscriptions gauge while held.
#[derive(Debug)]
pub struct SubscriptionSlot(Arc<AtomicUsize>, crate::telemetry::metrics::LiveSubscription);

impl Drop for SubscriptionSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl SubscriptionSlots {
    /// Room for `max` subscriptions.
    pub fn new(max: usize) -> Self {
        Self { max, open: Arc::new(AtomicUsize::new(0)) }
    }

    /// Takes a slot for a subscription (`resumed`: it gave `afterSequence`).
    /// Errors: `TOO_MANY_SUBSCRIPTIONS` when all are taken.
    fn take(&self, resumed: bool) -> async_graphql::Result<SubscriptionSlot> {
        let max = self.max;
        self.open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < max).then_some(n + 1))
            .map(|_| SubscriptionSlot(self.open.clone(), crate::telemetry::metrics::LiveSubscription::start(resumed)))
            .map_err(|_| coded("TOO_MANY_SUBSCRIPTIONS", format!("this connection already holds {max} subscriptions")))
    }
}

/// A subscription's common start: the merchant (visible to the caller, and
/// existing), the caller's tenant, the hub, and a slot on the connection.
/// Errors: `BAD_USER_INPUT`, `NOT_FOUND`, `TOO_MANY_SUBSCRIPTIONS`.
async fn start(
    ctx: &Context<'_>,
    merchant: &ID,
    after_sequence: Option<i64>,
) -> async_graphql::Result<(MerchantId, Tenant, Arc<EventHub>, SubscriptionSlot)> {
    let merchant = parse_merchant_id(merchant)?;
    visible(ctx, merchant)?;
    if after_sequence.is_some_and(|s| s < 0) {
        return Err(coded(super::error::BAD_USER_INPUT, "afterSequence must be 0 or more"));
    }
    let tenant = caller(ctx)?.tenant();
    let reads = Reads::begin(ledger(ctx)?.db(), tenant).await.or_coded()?;
    let found = merchants::find(&reads, merchant).await;
    reads.finish().await;
    found.or_coded()?.ok_or_else(not_found)?;
    let slots = ctx
        .data_opt::<SubscriptionSlots>()
        .ok_or_else(|| coded("BAD_REQUEST", "subscriptions are served over WebSocket at /graphql/ws"))?;
    let slot = slots.take(after_sequence.is_some())?;
    Ok((merchant, tenant, ctx.data::<Arc<EventHub>>()?.clone(), slot))
}

/// The GraphQL error that ends a feed.
fn feed_error(e: FollowError) -> async_graphql::Error {
    match e {
        FollowError::Lagged { resume_after } => {
            metrics::counter!(crate::telemetry::metrics::SUBSCRIBERS_DROPPED).increment(1);
            coded("SUBSCRIPTION_LAGGED", e.to_string())
                .extend_with(|_, ext| ext.set("resumeAfterSequence", resume_after))
        }
        FollowError::Database(db) => super::error::to_graphql(crate::core::LedgerError::Database(db)),
    }
}

/// The merchant's current balances (all its accounts, or those in `asset`)
/// through the one balance view, and the number of the merchant's journal
/// they are exact at, read in one snapshot.
async fn current_balances(
    pool: &crate::core::Pool,
    tenant: Tenant,
    merchant: MerchantId,
    asset: Option<&AssetCode>,
) -> Result<(i64, Vec<(EventBalance, BalanceView)>), crate::core::LedgerError> {
    let reads = Reads::begin(pool, tenant).await?;
    let head = outbox::journal_head(&reads, merchant).await;
    let rows = accounts::balances_of(&reads, Owner::Merchant(merchant)).await;
    reads.finish().await;
    let (head, rows) = (head?, rows?);
    let balances = rows
        .into_iter()
        .filter(|(account, _)| asset.is_none_or(|a| account.asset == *a))
        .map(|(account, view)| {
            let b = EventBalance {
                account_id: account.id.0,
                owner_id: merchant,
                code: account.code,
                asset: account.asset,
                normal_balance: account.normal_balance,
                debits_posted: view.totals.debits_posted,
                credits_posted: view.totals.credits_posted,
                debits_pending: view.totals.debits_pending,
                credits_pending: view.totals.credits_pending,
            };
            (b, view)
        })
        .collect();
    Ok((head, balances))
}

#[Subscription]
impl SubscriptionRoot {
    /// A merchant's account balances as they change. Without `afterSequence` it
    /// first sends the current balance of each of the merchant's accounts
    /// (`snapshot: true`, `sequence` = the last number of the merchant's
    /// journal), then one update per account each transaction changes; with
    /// `afterSequence` (a number in the merchant's journal) it sends every
    /// update after it (read from the outbox), then live ones.
    /// `asset` keeps one asset only. A merchant key may subscribe to its own
    /// merchant only. Errors: `NOT_FOUND`, `BAD_USER_INPUT`,
    /// `TOO_MANY_SUBSCRIPTIONS`; mid-stream `SUBSCRIPTION_LAGGED`.
    #[graphql(guard = "access::FIELD")]
    async fn balance_updated(
        &self,
        ctx: &Context<'_>,
        merchant_id: ID,
        asset: Option<String>,
        after_sequence: Option<i64>,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<BalanceUpdateNode>> + use<>> {
        let asset = asset.as_deref().map(AssetCode::parse).transpose().or_coded()?;
        let (merchant, tenant, hub, slot) = start(ctx, &merchant_id, after_sequence).await?;
        let (from, snapshot) = match after_sequence {
            Some(after) => (after, Vec::new()),
            None => {
                let (head, balances) =
                    current_balances(ledger(ctx)?.db(), tenant, merchant, asset.as_ref()).await.or_coded()?;
                (head, balances.into_iter().map(|(b, view)| BalanceUpdateNode::current(head, b, view)).collect())
            }
        };
        let pool = ledger(ctx)?.db().clone();
        Ok(async_stream::stream! {
            let _slot = slot;
            for update in snapshot {
                yield Ok(update);
            }
            let feed = hub.follow(tenant, merchant, from);
            futures::pin_mut!(feed);
            while let Some(next) = feed.next().await {
                match next {
                    Ok(event) => {
                        // The reserve and expired holds as they are now, so an
                        // update means what `Merchant.balances` means.
                        let adjustments = match Adjustments::now(&pool, tenant, merchant).await {
                            Ok(a) => a,
                            Err(e) => {
                                yield Err(super::error::to_graphql(e));
                                break;
                            }
                        };
                        for b in event.balances.iter().filter(|b| b.owner_id == merchant) {
                            if asset.as_ref().is_none_or(|a| *a == b.asset) {
                                yield Ok(BalanceUpdateNode::after(&event, b.clone(), &adjustments));
                            }
                        }
                    }
                    Err(e) => {
                        yield Err(feed_error(e));
                        break;
                    }
                }
            }
        })
    }

    /// Each transaction of a merchant (and each deal it is party to) as it
    /// posts, with its entries and the merchant's balances after it; with
    /// `afterSequence` (a number in the merchant's journal), first every one
    /// after it. A merchant key may
    /// subscribe to its own merchant only. Errors: `NOT_FOUND`,
    /// `BAD_USER_INPUT`, `TOO_MANY_SUBSCRIPTIONS`; mid-stream `SUBSCRIPTION_LAGGED`.
    #[graphql(guard = "access::FIELD")]
    async fn transaction_posted(
        &self,
        ctx: &Context<'_>,
        merchant_id: ID,
        after_sequence: Option<i64>,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<LedgerEventNode>> + use<>> {
        let (merchant, tenant, hub, slot) = start(ctx, &merchant_id, after_sequence).await?;
        let from = match after_sequence {
            Some(after) => after,
            None => {
                let reads = Reads::begin(ledger(ctx)?.db(), tenant).await.or_coded()?;
                let head = outbox::journal_head(&reads, merchant).await;
                reads.finish().await;
                head.or_coded()?
            }
        };
        Ok(async_stream::stream! {
            let _slot = slot;
            let feed = hub.follow(tenant, merchant, from);
            futures::pin_mut!(feed);
            while let Some(next) = feed.next().await {
                match next {
                    Ok(event) => {
                        if let Some(seen) = event.visible_to(tenant) {
                            yield Ok(LedgerEventNode(Arc::new(seen)));
                        }
                    }
                    Err(e) => {
                        yield Err(feed_error(e));
                        break;
                    }
                }
            }
        })
    }
}
