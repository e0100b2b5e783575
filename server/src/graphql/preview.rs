//! `refundPreview`: what a refund would post, without posting it. The
//! console shows it in the refund dialog before staff confirm; it comes from
//! the same [`crate::ledger::refund_plan`] the refund itself runs, so the two
//! cannot differ (the fee share a merchant's schedule gives back included).

use async_graphql::{Context, Object};

use super::types::{DirectionType, LayerType, Money};
use crate::domain::AccountRef;
use crate::ledger::RefundPlan;

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
        self.0.draft.entries.iter().map(|e| PlannedEntryNode(e.clone())).collect()
    }
}

/// One entry of a planned transaction.
pub struct PlannedEntryNode(crate::domain::EntryDraft);

#[Object(name = "PlannedEntry")]
impl PlannedEntryNode {
    /// True for a platform account, false for the merchant's.
    async fn platform(&self) -> bool {
        matches!(&self.0.account, AccountRef::Code { owner: crate::domain::Owner::Platform, .. })
    }
    /// The account code (`available`, `processor_clearing`, `fee_revenue`, …).
    async fn account_code(&self) -> String {
        match &self.0.account {
            AccountRef::Code { code, .. } => code.as_str().to_owned(),
            AccountRef::Id(id) => id.to_string(),
        }
    }
    /// The account's normal balance (debit or credit), so a client can say
    /// which way the balance moves; null for an account given by id.
    async fn normal_balance(&self) -> Option<DirectionType> {
        match &self.0.account {
            AccountRef::Code { owner, code } => code.standard_normal_balance(*owner).map(Into::into),
            AccountRef::Id(_) => None,
        }
    }
    /// Debit or credit.
    async fn direction(&self) -> DirectionType {
        self.0.direction.into()
    }
    /// Posted, hold or release.
    async fn layer(&self) -> LayerType {
        self.0.layer.into()
    }
    /// Positive amount.
    async fn amount(&self, ctx: &Context<'_>) -> async_graphql::Result<Money> {
        Money::of(ctx, self.0.asset.as_str(), self.0.amount.minor().into()).await
    }
}
