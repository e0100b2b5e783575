//! GraphQL of the event feed: the `events` query, and a ledger event as the
//! caller may see it, its entries, and the balance updates built from it.
//!
//! Every field resolves from the event itself (the outbox payload), never from
//! the database, so the same types serve the `events` query and the
//! subscriptions, which have no request read transaction.

use std::sync::Arc;

use async_graphql::{Context, ID, Object};
use chrono::{DateTime, Utc};

use super::accounts::BalanceNode;
use super::common::{DirectionType, LayerType, Money, TransactionKindType, parse_merchant_id};
use super::context::{caller, reads, visible};
use super::error::{OrCoded, coded};
use super::{access, list_cost, page_size};
use crate::core::access::rules::Caller;
use crate::core::accounts::{Adjustments, BalanceView};
use crate::domain::TransactionKind;
use crate::domain::event::{EventBalance, EventEntry, FeedPosition, LedgerEvent};

/// The error for an event whose stored payload does not parse (never for
/// events this server wrote).
fn corrupt(what: &str) -> async_graphql::Error {
    tracing::error!(what, "stored event payload does not parse");
    coded("INTERNAL_SERVER_ERROR", "internal server error")
}

/// A ledger event: one committed transaction, its entries and the balances it
/// left, as the caller may see it (a merchant sees only its own balances).
pub struct LedgerEventNode(pub Arc<LedgerEvent>);

#[Object(name = "LedgerEvent")]
impl LedgerEventNode {
    /// The event id (UUIDv7); the broker message id (`Nats-Msg-Id`).
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// The transaction's number in its merchant's journal: gap-free and in
    /// commit order within that merchant (each merchant counts 1, 2, 3…; since
    /// issue 17, not across the ledger). Resume one merchant's feed
    /// (`events(merchantId:, after:)`, `transactionPosted(afterSequence:)`)
    /// with the last one received; for a deal, the counterparty resumes with
    /// `counterpartySequence`.
    async fn sequence(&self) -> i64 {
        self.0.sequence
    }
    /// A deal's number in the counterparty's journal; null for a transaction
    /// with no counterparty.
    async fn counterparty_sequence(&self) -> Option<i64> {
        self.0.counterparty_sequence
    }
    /// Where the event stands in the whole feed, across merchants:
    /// `"<writer xid>.<row key>"`, an opaque cursor that only rises. Resume
    /// the whole feed with `events(afterPosition:)` set to the last one
    /// received.
    async fn position(&self) -> String {
        self.0.position.to_string()
    }
    /// The event type: `transaction.posted`.
    #[graphql(name = "type")]
    async fn event_type(&self) -> &str {
        &self.0.event_type
    }
    /// The version of the event's JSON form (`json`).
    async fn version(&self) -> u32 {
        self.0.version
    }
    /// What the transaction records.
    async fn kind(&self) -> TransactionKindType {
        self.0.kind.into()
    }
    /// The transaction's merchant.
    async fn merchant_id(&self) -> ID {
        ID(self.0.merchant_id.to_string())
    }
    /// The other merchant of a deal.
    async fn counterparty_id(&self) -> Option<ID> {
        self.0.counterparty_id.map(|c| ID(c.to_string()))
    }
    /// When the transaction committed.
    async fn occurred_at(&self) -> DateTime<Utc> {
        self.0.occurred_at
    }
    /// The transaction's id (query `transaction(id:)` for more).
    async fn transaction_id(&self) -> ID {
        ID(self.0.transaction.id.to_string())
    }
    /// The caller's reference.
    async fn external_ref(&self) -> Option<&str> {
        self.0.transaction.external_ref.as_deref()
    }
    /// When the movement happened (may be backdated).
    async fn effective_at(&self) -> DateTime<Utc> {
        self.0.transaction.effective_at
    }
    /// The transaction it reverses.
    async fn reverses(&self) -> Option<ID> {
        self.0.transaction.reverses.map(|r| ID(r.to_string()))
    }
    /// The payment it is a step of.
    async fn payment_id(&self) -> Option<ID> {
        self.0.transaction.payment_id.map(|p| ID(p.to_string()))
    }
    /// The payout it is a step of.
    async fn payout_id(&self) -> Option<ID> {
        self.0.transaction.payout_id.map(|p| ID(p.to_string()))
    }
    /// Who posted it: `key:<prefix>`, `staff:<username>` or `system:<job>`.
    async fn actor(&self) -> String {
        self.0.transaction.actor.to_string()
    }
    /// The entries (postings), in order.
    async fn entries(&self) -> Vec<EventEntryNode> {
        self.0.transaction.entries.iter().cloned().map(EventEntryNode).collect()
    }
    /// The balances the transaction changed that the caller may see, as they
    /// stood right after it.
    async fn balances(&self) -> Vec<BalanceUpdateNode> {
        let journaled = Adjustments::default();
        self.0.balances.iter().map(|b| BalanceUpdateNode::after(&self.0, b.clone(), &journaled)).collect()
    }
    /// The event's versioned JSON, exactly as the broker publishes it (less
    /// what the caller may not see); see the README's "Event feed".
    async fn json(&self) -> async_graphql::Result<async_graphql::Json<serde_json::Value>> {
        serde_json::to_value(&*self.0).map(async_graphql::Json).map_err(|_| corrupt("json"))
    }
}

/// One entry of an event's transaction.
pub struct EventEntryNode(pub EventEntry);

#[Object(name = "EventEntry")]
impl EventEntryNode {
    /// The account posted to.
    async fn account_id(&self) -> ID {
        ID(self.0.account_id.to_string())
    }
    /// The account's code, e.g. `available`.
    async fn account_code(&self) -> &str {
        self.0.code.as_str()
    }
    /// True when the account is the platform's own.
    async fn platform(&self) -> bool {
        self.0.owner_id == crate::domain::MerchantId::PLATFORM
    }
    /// Debit or credit.
    async fn direction(&self) -> DirectionType {
        self.0.direction.into()
    }
    /// Posted, hold or release.
    async fn layer(&self) -> LayerType {
        self.0.layer.into()
    }
    /// The amount (positive).
    async fn amount(&self, ctx: &Context<'_>) -> async_graphql::Result<Money> {
        Money::of(ctx, self.0.asset.as_str(), self.0.amount_minor.into()).await
    }
}

/// One account's balance at a point of the ledger: right after a transaction,
/// or (`snapshot`) the current balance a `balanceUpdated` subscription starts
/// with. Posted, pending and available come from the one balance view
/// (`core::accounts::view`): in `balanceUpdated`, with the merchant's payout
/// reserve and expired holds as they are when the update is sent, so they
/// match `Merchant.balances`; in an event's own `balances` (a record of the
/// past), as the journal has them.
pub struct BalanceUpdateNode {
    sequence: i64,
    snapshot: bool,
    transaction: Option<(uuid::Uuid, TransactionKind)>,
    balance: EventBalance,
    view: BalanceView,
}

impl BalanceUpdateNode {
    /// The balance `b` as `event` left it, seen through `adjustments`.
    pub fn after(event: &LedgerEvent, b: EventBalance, adjustments: &Adjustments) -> Self {
        let view = Self::view_of(&b, adjustments);
        Self {
            sequence: event.sequence_for(b.owner_id).unwrap_or(event.sequence),
            snapshot: false,
            transaction: Some((event.transaction.id, event.kind)),
            balance: b,
            view,
        }
    }

    /// The current balance `b` (its view `view`), read when the last number of
    /// its merchant's journal was `sequence`.
    pub fn current(sequence: i64, b: EventBalance, view: BalanceView) -> Self {
        Self { sequence, snapshot: true, transaction: None, balance: b, view }
    }

    fn view_of(b: &EventBalance, adjustments: &Adjustments) -> BalanceView {
        let owner = crate::domain::Owner::stored(b.owner_id, false);
        adjustments.view(owner, b.code.as_str(), b.normal(), b.asset.as_str(), b.totals())
    }
}

#[Object(name = "BalanceUpdate")]
impl BalanceUpdateNode {
    /// The number of the merchant's journal this balance is exact at: the
    /// transaction's (for a deal, its number in this merchant's journal) for
    /// an update, the journal's last for a snapshot. Resume with
    /// `afterSequence` set to the last one received.
    async fn sequence(&self) -> i64 {
        self.sequence
    }
    /// True for the current balances sent first by `balanceUpdated`.
    async fn snapshot(&self) -> bool {
        self.snapshot
    }
    /// The transaction that changed the balance; null for a snapshot.
    async fn transaction_id(&self) -> Option<ID> {
        self.transaction.as_ref().map(|(id, _)| ID(id.to_string()))
    }
    /// What that transaction records; null for a snapshot.
    async fn kind(&self) -> Option<TransactionKindType> {
        self.transaction.as_ref().map(|(_, kind)| (*kind).into())
    }
    /// The account's owner; null for a platform account.
    async fn merchant_id(&self) -> Option<ID> {
        (self.balance.owner_id != crate::domain::MerchantId::PLATFORM).then(|| ID(self.balance.owner_id.to_string()))
    }
    /// The account.
    async fn account_id(&self) -> ID {
        ID(self.balance.account_id.to_string())
    }
    /// The account's code, e.g. `available`.
    async fn account_code(&self) -> &str {
        self.balance.code.as_str()
    }
    /// The asset code.
    async fn asset(&self) -> &str {
        self.balance.asset.as_str()
    }
    /// The four totals and the posted, pending and available balances.
    async fn balance(&self) -> BalanceNode {
        BalanceNode::new(self.balance.asset.to_string(), self.view)
    }
}

/// The event feed's root query, merged into [`super::QueryRoot`].
#[derive(Default)]
pub struct EventsQuery;

#[Object]
impl EventsQuery {
    /// The event feed: one ledger event per committed transaction, at most
    /// `first` a page.
    ///
    /// - **One merchant's feed** (`merchantId`; a merchant key always gets its
    ///   own): its transactions and its deals, in its journal's order, after
    ///   number `after` (0: from the start). Page with the last `sequence`
    ///   received (`counterpartySequence` for a deal it is the counterparty
    ///   of). Gap-free, so a consumer can rebuild a read model from it.
    /// - **The whole feed** (staff and service keys, no `merchantId`): every
    ///   merchant's events in position order, after `afterPosition` (absent:
    ///   from the start). Page with the last `position` received. Read only
    ///   below PostgreSQL's visibility watermark, so a later page never holds
    ///   an event before a position already passed; a long write transaction
    ///   delays the feed until it ends.
    ///
    /// A merchant key gets its own balances only. Errors: `BAD_USER_INPUT`
    /// (negative `after`, a malformed `afterPosition`, `after` without a
    /// merchant or `afterPosition` with one, `first` over the page limit),
    /// `NOT_FOUND` (another merchant's id).
    #[graphql(guard = "access::FIELD", complexity = "list_cost(first, child_complexity)")]
    async fn events(
        &self,
        ctx: &Context<'_>,
        after: Option<i64>,
        after_position: Option<String>,
        merchant_id: Option<ID>,
        first: Option<i32>,
    ) -> async_graphql::Result<Vec<LedgerEventNode>> {
        let limit = page_size(first)?;
        if after.is_some_and(|a| a < 0) {
            return Err(super::error::coded(super::error::BAD_USER_INPUT, "after must be 0 or more"));
        }
        let position = after_position
            .map(|p| p.parse::<FeedPosition>())
            .transpose()
            .map_err(|e| super::error::coded(super::error::BAD_USER_INPUT, e))?;
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
        let reads = reads(ctx).await?;
        let rows = match (merchant, position) {
            (Some(_), Some(_)) => {
                return Err(super::error::coded(
                    super::error::BAD_USER_INPUT,
                    "afterPosition pages the whole feed; one merchant's feed pages with after (its journal number)",
                ));
            }
            (Some(m), None) => crate::core::outbox::journal_page(&reads, m, after.unwrap_or(0), limit).await,
            (None, _) if after.is_some() => {
                return Err(super::error::coded(
                    super::error::BAD_USER_INPUT,
                    "after is a number in one merchant's journal: give merchantId, or page the whole feed with \
                     afterPosition",
                ));
            }
            (None, position) => crate::core::outbox::page(&reads, position.unwrap_or(FeedPosition::START), limit).await,
        }
        .or_coded()?;
        let tenant = who.tenant();
        Ok(rows.into_iter().filter_map(|e| e.visible_to(tenant)).map(|e| LedgerEventNode(Arc::new(e))).collect())
    }
}
