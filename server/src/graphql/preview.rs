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

/// What a dry run saw: a mutation given `dryRun: true` ran by the real write
/// path (the same locks, balance checks, limits and idempotency lookup) in a
/// database transaction that was then rolled back. Nothing was written and
/// the idempotency key was not claimed: sending the mutation again without
/// `dryRun` posts it. The payload's `transaction` (and `payment` or
/// `payout`) are what the write would have produced; their ids exist
/// nowhere, and fields that read other objects (a payment's transactions,
/// a transaction's reversal) see the books as they are. A dry run that the
/// real write would refuse answers the same error (`INSUFFICIENT_FUNDS`,
/// `BALANCE_LIMIT_EXCEEDED`, …). A dry run of a request whose idempotency
/// key was used answers as the real one would: the replay, or
/// `IDEMPOTENCY_KEY_REUSED`. Modelled on Formance's `dryRun`.
#[derive(async_graphql::SimpleObject)]
#[graphql(name = "DryRun")]
pub struct DryRunNode {
    /// Each account the transaction's entries name that the caller may see,
    /// in the order the entries first name it, with its balance after the
    /// transaction.
    pub balances_after: Vec<BalanceAfterNode>,
}

/// An account and its balance after a dry run's transaction.
#[derive(async_graphql::SimpleObject)]
#[graphql(name = "BalanceAfter")]
pub struct BalanceAfterNode {
    /// The account.
    pub account: super::accounts::AccountNode,
    /// Its balance after the transaction, in its asset.
    pub balance: super::accounts::BalanceNode,
}

/// A transaction node and the dry run node of a service's answer: on a dry
/// run the node carries the entries the run saw, which exist nowhere else.
pub(super) fn dry_parts(
    record: crate::core::posting::TransactionRecord,
    dry: Option<crate::core::posting::DryRun>,
) -> (super::posting::TransactionNode, Option<DryRunNode>) {
    match dry {
        None => (super::posting::TransactionNode::of(record), None),
        Some(dry) => {
            let balances_after = dry
                .balances
                .iter()
                .cloned()
                .map(|(account, view)| BalanceAfterNode {
                    balance: super::accounts::BalanceNode::new(account.asset.to_string(), view),
                    account: super::accounts::AccountNode(account),
                })
                .collect();
            (
                super::posting::TransactionNode(record, Some(std::sync::Arc::new(dry))),
                Some(DryRunNode { balances_after }),
            )
        }
    }
}
