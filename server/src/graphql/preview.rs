//! `refundPreview` and `reversalPreview`: what a refund or a reversal would
//! post, without posting it. The console shows them in its dialogs before
//! staff confirm; each comes from the same core code the write itself runs
//! (`core::payments::preview_refund`, `core::posting::preview_reversal`), so a
//! preview and the posting cannot differ.

use async_graphql::{Context, ID, Object};

use super::common::{DirectionType, LayerType, Money};
use crate::core::payments::RefundPlan;
use crate::core::posting::PlannedEntry;
use crate::domain::AccountRef;

/// A planned refund.
pub struct RefundPreviewNode(pub RefundPlan, pub String);

#[Object(name = "RefundPreview")]
impl RefundPreviewNode {
    /// The amount the buyer gets back.
    async fn amount(&self, ctx: &Context<'_>) -> async_graphql::Result<Money> {
        Money::of(ctx, &self.1, self.0.minor.into()).await
    }

    /// The part of the platform's fee given back with it (0 unless the
    /// merchant's fee schedule returns fees).
    async fn fee_returned(&self, ctx: &Context<'_>) -> async_graphql::Result<Money> {
        Money::of(ctx, &self.1, self.0.fee_back.into()).await
    }

    /// The entries the refund would post, in order.
    async fn entries(&self) -> Vec<PlannedEntryNode> {
        self.0
            .draft
            .entries
            .iter()
            .map(|e| PlannedEntryNode(PlannedEntry { entry: e.clone(), account: None }))
            .collect()
    }
}

/// A planned reversal.
pub struct ReversalPreviewNode {
    /// The transaction it would reverse.
    pub transaction: crate::domain::TransactionId,
    /// The entries it would post.
    pub entries: Vec<PlannedEntry>,
}

/// What `reverseTransaction` would post for a transaction, computed by the
/// same code, writing nothing.
#[Object(name = "ReversalPreview")]
impl ReversalPreviewNode {
    /// The transaction it would reverse.
    async fn transaction_id(&self) -> ID {
        ID(self.transaction.to_string())
    }
    /// The entries the reversal would post, in order.
    async fn entries(&self) -> Vec<PlannedEntryNode> {
        self.entries.iter().cloned().map(PlannedEntryNode).collect()
    }
}

/// One entry of a planned transaction.
pub struct PlannedEntryNode(PlannedEntry);

#[Object(name = "PlannedEntry")]
impl PlannedEntryNode {
    /// The account, when the plan names one (always for a reversal).
    async fn account_id(&self) -> Option<ID> {
        match (&self.0.account, &self.0.entry.account) {
            (Some(a), _) => Some(ID(a.id.to_string())),
            (None, AccountRef::Id(id)) => Some(ID(id.to_string())),
            (None, AccountRef::Code { .. }) => None,
        }
    }
    /// True for a platform account, false for the merchant's.
    async fn platform(&self) -> bool {
        match (&self.0.account, &self.0.entry.account) {
            (Some(a), _) => a.owner.is_platform(),
            (None, r) => matches!(r, AccountRef::Code { owner: crate::domain::Owner::Platform, .. }),
        }
    }
    /// The account code (`available`, `processor_clearing`, `fee_revenue`, …).
    async fn account_code(&self) -> String {
        match (&self.0.account, &self.0.entry.account) {
            (Some(a), _) => a.code.to_string(),
            (None, AccountRef::Code { code, .. }) => code.as_str().to_owned(),
            (None, AccountRef::Id(id)) => id.to_string(),
        }
    }
    /// The account's normal balance (debit or credit), so a client can say
    /// which way the balance moves; null for an account given by an id the
    /// caller may not see.
    async fn normal_balance(&self) -> Option<DirectionType> {
        match (&self.0.account, &self.0.entry.account) {
            (Some(a), _) => Some(a.normal_balance.into()),
            (None, AccountRef::Code { owner, code }) => code.standard_normal_balance(*owner).map(Into::into),
            (None, AccountRef::Id(_)) => None,
        }
    }
    /// Debit or credit.
    async fn direction(&self) -> DirectionType {
        self.0.entry.direction.into()
    }
    /// Posted, hold or release.
    async fn layer(&self) -> LayerType {
        self.0.entry.layer.into()
    }
    /// Positive amount.
    async fn amount(&self, ctx: &Context<'_>) -> async_graphql::Result<Money> {
        Money::of(ctx, self.0.entry.asset.as_str(), self.0.entry.amount.minor().into()).await
    }
}
