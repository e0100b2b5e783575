//! The payment commands as the write path applies them: each locks the
//! payment, runs its life-cycle step ([`super::lifecycle`]), posts the
//! transaction the step implies and saves the payment.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;

use super::transition::{self, Transition};
use crate::core::LedgerError;
use crate::core::accounts::store as accounts;
use crate::core::payments::lifecycle::{PaymentFacts, Release};
use crate::core::payments::payment::{Annotations, lifecycle_drafts};
use crate::core::payments::store::{self as payments, Payment};
use crate::core::posting::apply::merchant_of;
use crate::core::posting::command::{Outcome, Request};
use crate::core::posting::post::{forced, post};
use crate::domain::Amount;
use crate::domain::{AccountCode, AccountId, AssetCode, DomainError, MerchantId, TransactionDraft, TransactionId};

/// Locks a payment the request's tenant may act on. Errors: `NOT_FOUND`.
pub(in crate::core) async fn lock_payment(
    db: &impl ConnectionTrait,
    req: &Request,
    id: uuid::Uuid,
) -> Result<Payment, LedgerError> {
    payments::lock(db, id, req.partition)
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

/// A payment life-cycle step as the write path applies it.
#[derive(Debug, Clone, Copy)]
pub(in crate::core) enum Step<'a> {
    /// Capture part (`Some`) or all of what is held.
    Capture(Option<&'a (AssetCode, Amount)>),
    /// Refund part (`Some`) or all of what is refundable.
    Refund(Option<&'a (AssetCode, Amount)>),
    /// Open a chargeback on part (`Some`) or all of what is disputable.
    OpenDispute(Option<&'a (AssetCode, Amount)>),
    /// Resolve the open chargeback: won, or lost with an optional fee.
    ResolveDispute {
        /// True when the merchant won.
        won: bool,
        /// The fee charged to the merchant when it lost.
        fee: Option<&'a (AssetCode, Amount)>,
    },
    /// Release what is still held: a void, or the sweeper's expiry.
    Release(Release),
}

/// Applies one payment step: locks the payment, asks the step's pure
/// transition ([`super::transition`]) for the payment after it and the
/// transaction it implies, posts that transaction and saves the payment.
/// Errors: `NOT_FOUND`, the transition's refusals, the posting's.
pub(in crate::core) async fn payment_step(
    db: &impl ConnectionTrait,
    req: &Request,
    id: uuid::Uuid,
    step: Step<'_>,
) -> Result<Outcome, LedgerError> {
    let p = lock_payment(db, req, id).await?;
    let now = Utc::now();
    let Transition { next, draft } = match step {
        Step::Capture(amount) => {
            let schedule = payments::fee_schedule(db, p.merchant, &p.asset).await?;
            transition::capture(&p, &schedule, amount, now)?
        }
        Step::Refund(amount) => {
            let schedule = payments::fee_schedule(db, p.merchant, &p.asset).await?;
            transition::refund(&p, &schedule, amount)?.0
        }
        Step::OpenDispute(amount) => transition::open_dispute(&p, amount)?,
        Step::ResolveDispute { won, fee } => transition::resolve_dispute(&p, won, fee)?,
        Step::Release(how) => transition::release(&p, how, now)?,
    };
    let transaction = post(db, req, &draft).await?;
    payments::save(db, &next).await?;
    Ok(Outcome::Payment { payment: id, transaction })
}

/// Plans a refund without posting it, for the caller's `tenant`: what the
/// console shows before staff confirm. Reads only. Errors: `NOT_FOUND` (also
/// for another merchant's payment), and those of [`transition::refund`].
pub async fn preview_refund(
    db: &impl ConnectionTrait,
    tenant: crate::core::access::rules::Tenant,
    id: uuid::Uuid,
    amount: Option<&(AssetCode, Amount)>,
) -> Result<transition::RefundPlan, LedgerError> {
    let p = payments::find(db, id, tenant.partition())
        .await?
        .filter(|p| tenant.sees(p.merchant))
        .ok_or(LedgerError::from(crate::core::payments::PaymentError::NotFound))?;
    let schedule = payments::fee_schedule(db, p.merchant, &p.asset).await?;
    Ok(transition::refund(&p, &schedule, amount)?.1)
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
    let codes: HashMap<AccountId, AccountCode> =
        accounts::find_many(db, &ids).await?.into_iter().map(|a| (a.id, a.code)).collect();
    let amount_on = |code: &str, layer: Layer, direction: Direction| -> i64 {
        original
            .entries
            .iter()
            .filter(|e| {
                e.layer == layer
                    && e.direction == direction
                    && codes.get(&e.account).is_some_and(|c| c.as_str() == code)
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
