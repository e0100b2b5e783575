//! The payment commands as the write path applies them: each locks the
//! payment, runs its life-cycle step ([`super::lifecycle`]), posts the
//! transaction the step implies and saves the payment.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;

use crate::core::LedgerError;
use crate::core::accounts::store as accounts;
use crate::core::payments::lifecycle::{PaymentFacts, Release};
use crate::core::payments::payment::{Annotations, lifecycle_drafts};
use crate::core::payments::store::{self as payments, Payment};
use crate::core::posting::apply::merchant_of;
use crate::core::posting::command::{Outcome, Request};
use crate::core::posting::post::{forced, post};
use crate::domain::{AccountCode, AccountId, AssetCode, DomainError, MerchantId, TransactionDraft, TransactionId};
use crate::domain::{Amount, TransactionKind};

/// Locks a payment the request's tenant may act on. Errors: `NOT_FOUND`.
pub(in crate::core) async fn lock_payment(
    db: &impl ConnectionTrait,
    req: &Request,
    id: uuid::Uuid,
) -> Result<Payment, LedgerError> {
    payments::lock(db, id)
        .await?
        .filter(|p| req.tenant.sees(p.merchant))
        .ok_or(LedgerError::from(crate::core::payments::PaymentError::NotFound))
}

/// Authorizes a payment: a payment row and a hold transaction.
pub(in crate::core) async fn authorize(
    db: &impl ConnectionTrait,
    req: &Request,
    merchant: MerchantId,
    asset: &AssetCode,
    amount: Amount,
    expires_at: DateTime<Utc>,
    notes: &Annotations,
) -> Result<Outcome, LedgerError> {
    merchant_of(db, req, merchant).await?;
    if expires_at <= Utc::now() {
        return Err(DomainError::Payment(crate::core::payments::lifecycle::PaymentError::AuthorizationExpired).into());
    }
    let id = uuid::Uuid::now_v7();
    let payment = Payment {
        id,
        merchant,
        asset: asset.clone(),
        facts: PaymentFacts::authorized(amount, expires_at),
        fee_captured: 0,
        external_ref: notes.external_ref.clone(),
        created_at: Utc::now(),
    };
    payments::insert(db, &payment).await?;
    let draft = lifecycle_drafts::authorize(merchant, asset, amount, id, notes.clone())?;
    Ok(Outcome::Payment { payment: id, transaction: post(db, req, &draft).await? })
}

/// Captures part or all of an authorization, applying the merchant's fee schedule.
/// Errors: [`crate::domain::DomainError::Payment`], `ASSET_MISMATCH`, and the life-cycle
/// rules of [`PaymentFacts::capture`].
pub(in crate::core) async fn capture(
    db: &impl ConnectionTrait,
    req: &Request,
    id: uuid::Uuid,
    amount: Option<&(AssetCode, Amount)>,
) -> Result<Outcome, LedgerError> {
    let mut p = lock_payment(db, req, id).await?;
    same_asset(&p, amount)?;
    let minor = p.facts.capture(amount.map(|(_, a)| *a), Utc::now()).map_err(DomainError::from)?;
    let captured = Amount::from_minor(minor)?;
    let split = payments::fee_schedule(db, p.merchant, &p.asset).await?.split(captured);
    let draft = lifecycle_drafts::capture(p.merchant, &p.asset, captured, split, p.id)?;
    let transaction = post(db, req, &draft).await?;
    p.facts.captured += minor;
    p.fee_captured += split.fee_minor;
    payments::save(db, &p).await?;
    Ok(Outcome::Payment { payment: id, transaction })
}

/// Checks that an amount given for a payment step is in the payment's asset.
pub(in crate::core) fn same_asset(p: &Payment, amount: Option<&(AssetCode, Amount)>) -> Result<(), LedgerError> {
    match amount {
        Some((asset, _)) if *asset != p.asset => {
            Err(DomainError::AssetMismatch { entry: asset.to_string(), account: p.asset.to_string() }.into())
        }
        _ => Ok(()),
    }
}

/// What a refund of a payment would post: the amount, the fee share going
/// back, and the draft. Pure, so the refund and its preview cannot differ.
#[derive(Debug, Clone, PartialEq)]
pub struct RefundPlan {
    /// Refunded amount, minor units of the payment's asset.
    pub minor: i64,
    /// Part of the platform's fee given back with it, minor units.
    pub fee_back: i64,
    /// The refund transaction as it would be posted.
    pub draft: crate::domain::TransactionDraft,
}

/// Plans a refund of `amount` (all that is left when None) under `schedule`.
/// Errors: `ASSET_MISMATCH`, `REFUND_EXCEEDS_CAPTURED`, `PAYMENT_NOT_CAPTURED`.
pub fn refund_plan(
    p: &Payment,
    schedule: &crate::core::payments::fee::FeeSchedule,
    amount: Option<&(AssetCode, Amount)>,
) -> Result<RefundPlan, LedgerError> {
    same_asset(p, amount)?;
    let minor = p.facts.refund(amount.map(|(_, a)| *a)).map_err(DomainError::from)?;
    let fee_back = if schedule.refund_returns_fee {
        crate::core::payments::fee::fee_share_of_refund(p.fee_captured, p.facts.captured, p.facts.refunded, minor)
    } else {
        0
    };
    let draft = lifecycle_drafts::refund(p.merchant, &p.asset, Amount::from_minor(minor)?, fee_back, p.id)?;
    Ok(RefundPlan { minor, fee_back, draft })
}

/// Plans a refund without posting it, for the caller's `tenant`: what the
/// console shows before staff confirm. Reads only. Errors: `NOT_FOUND` (also
/// for another merchant's payment), and those of [`refund_plan`].
pub async fn preview_refund(
    db: &impl ConnectionTrait,
    tenant: crate::core::access::rules::Tenant,
    id: uuid::Uuid,
    amount: Option<&(AssetCode, Amount)>,
) -> Result<RefundPlan, LedgerError> {
    let p = payments::find(db, id).await?.filter(|p| tenant.sees(p.merchant)).ok_or(LedgerError::Domain(
        crate::domain::DomainError::Payment(crate::core::payments::PaymentError::NotFound),
    ))?;
    let schedule = payments::fee_schedule(db, p.merchant, &p.asset).await?;
    refund_plan(&p, &schedule, amount)
}

/// Refunds captured money; the fee share goes back too when the schedule says so.
/// Errors: `NOT_FOUND`, `ASSET_MISMATCH`, `REFUND_EXCEEDS_CAPTURED`, `INSUFFICIENT_FUNDS`.
pub(in crate::core) async fn refund(
    db: &impl ConnectionTrait,
    req: &Request,
    id: uuid::Uuid,
    amount: Option<&(AssetCode, Amount)>,
) -> Result<Outcome, LedgerError> {
    let mut p = lock_payment(db, req, id).await?;
    let schedule = payments::fee_schedule(db, p.merchant, &p.asset).await?;
    let plan = refund_plan(&p, &schedule, amount)?;
    let (minor, draft) = (plan.minor, plan.draft);
    let transaction = post(db, req, &draft).await?;
    p.facts.refunded += minor;
    payments::save(db, &p).await?;
    Ok(Outcome::Payment { payment: id, transaction })
}

/// Opens a chargeback. Errors: `NOT_FOUND`, `ASSET_MISMATCH`,
/// `PAYMENT_NOT_CAPTURED`, `DISPUTE_ALREADY_OPEN`, `DISPUTE_EXCEEDS_CAPTURED`.
pub(in crate::core) async fn open_dispute(
    db: &impl ConnectionTrait,
    req: &Request,
    id: uuid::Uuid,
    amount: Option<&(AssetCode, Amount)>,
) -> Result<Outcome, LedgerError> {
    let mut p = lock_payment(db, req, id).await?;
    same_asset(&p, amount)?;
    let minor = p.facts.open_dispute(amount.map(|(_, a)| *a)).map_err(DomainError::from)?;
    let draft = lifecycle_drafts::open_dispute(p.merchant, &p.asset, Amount::from_minor(minor)?, p.id)?;
    let transaction = post(db, req, &draft).await?;
    p.facts.disputed_open = minor;
    payments::save(db, &p).await?;
    Ok(Outcome::Payment { payment: id, transaction })
}

/// Resolves the open chargeback. Errors: `NOT_FOUND`, `NO_OPEN_DISPUTE`, `ASSET_MISMATCH`.
pub(in crate::core) async fn resolve_dispute(
    db: &impl ConnectionTrait,
    req: &Request,
    id: uuid::Uuid,
    won: bool,
    fee: Option<&(AssetCode, Amount)>,
) -> Result<Outcome, LedgerError> {
    let mut p = lock_payment(db, req, id).await?;
    same_asset(&p, fee)?;
    let minor = p.facts.resolve_dispute().map_err(DomainError::from)?;
    let fee_minor = if won { 0 } else { fee.map_or(0, |(_, a)| a.minor()) };
    let draft =
        lifecycle_drafts::resolve_dispute(p.merchant, &p.asset, Amount::from_minor(minor)?, won, fee_minor, p.id)?;
    let transaction = post(db, req, &draft).await?;
    p.facts.disputed_open = 0;
    if !won {
        p.facts.charged_back += minor;
    }
    payments::save(db, &p).await?;
    Ok(Outcome::Payment { payment: id, transaction })
}

/// Releases what an authorization still holds, by a void or by expiry.
pub(in crate::core) async fn release(
    db: &impl ConnectionTrait,
    req: &Request,
    id: uuid::Uuid,
    how: Release,
) -> Result<Outcome, LedgerError> {
    let mut p = lock_payment(db, req, id).await?;
    let (minor, kind) = match how {
        Release::Voided => (p.facts.void(), TransactionKind::Void),
        Release::Expired => (p.facts.expire(Utc::now()), TransactionKind::Expiry),
    };
    let minor = minor.map_err(DomainError::from)?;
    let draft = lifecycle_drafts::release(p.merchant, &p.asset, Amount::from_minor(minor)?, kind, p.id)?;
    let transaction = post(db, req, &draft).await?;
    p.facts.released += minor;
    p.facts.release = Some(how);
    payments::save(db, &p).await?;
    Ok(Outcome::Payment { payment: id, transaction })
}

/// What reversing one payment step does: the payment's amounts after it
/// (see `PaymentFacts::reverse_step`), the fee the platform gives back (a
/// capture's), and the reversal draft. Computed the same way for the
/// reversal and for its preview. Errors: `PAYMENT_STEP_NOT_REVERSIBLE`,
/// `REASON_REQUIRED`, and the step's own refusals.
pub(in crate::core) struct StepReversal {
    facts: crate::core::payments::lifecycle::PaymentFacts,
    fee_back: i64,
    /// The reversal draft.
    pub draft: TransactionDraft,
}

/// Plans the reversal of `original`, a step of payment `p`, giving `reason`.
pub(in crate::core) async fn plan_step_reversal(
    db: &impl ConnectionTrait,
    p: &Payment,
    original: &crate::domain::transaction::PostedTransaction,
    reason: &str,
    force: bool,
) -> Result<StepReversal, LedgerError> {
    use crate::core::payments::lifecycle::{PaymentError, ReversibleStep};
    use crate::domain::{Direction, Layer};
    let not_reversible = || LedgerError::Domain(DomainError::Payment(PaymentError::StepNotReversible));
    let ids: Vec<uuid::Uuid> = original.entries.iter().map(|e| e.account.0).collect();
    let codes: HashMap<AccountId, String> =
        accounts::find_many(db, &ids).await?.into_iter().map(|a| (a.id, a.code)).collect();
    let amount_on = |code: &str, layer: Layer, direction: Direction| -> i64 {
        original
            .entries
            .iter()
            .filter(|e| {
                e.layer == layer && e.direction == direction && codes.get(&e.account).is_some_and(|c| c == code)
            })
            .map(|e| e.amount.minor())
            .sum()
    };
    let (step, code, layer, direction) = ReversibleStep::of(original.kind).ok_or_else(not_reversible)?;
    let amount = amount_on(code, layer, direction);
    let facts = p.facts.reverse_step(step, amount, Utc::now()).map_err(DomainError::from)?;
    let capture = step == ReversibleStep::Capture;
    let draft = forced(TransactionDraft::reversal_of_step(original, reason, capture)?, force);
    let fee_back = if capture { amount_on(AccountCode::FEE_REVENUE, Layer::Posted, Direction::Credit) } else { 0 };
    Ok(StepReversal { facts, fee_back, draft })
}

/// Reverses one step of a payment and moves the payment's amounts back with
/// it (see [`plan_step_reversal`]).
pub(in crate::core) async fn reverse_payment_step(
    db: &impl ConnectionTrait,
    req: &Request,
    original: &crate::domain::transaction::PostedTransaction,
    payment: uuid::Uuid,
    reason: &str,
    force: bool,
) -> Result<TransactionId, LedgerError> {
    let mut p = lock_payment(db, req, payment).await?;
    let plan = plan_step_reversal(db, &p, original, reason, force).await?;
    let transaction = post(db, req, &plan.draft).await?;
    p.fee_captured -= plan.fee_back;
    p.facts = plan.facts;
    payments::save(db, &p).await?;
    Ok(transaction)
}
