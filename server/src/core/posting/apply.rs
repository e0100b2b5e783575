//! Applying one [`Request`] inside the write path's database transaction:
//! claim its idempotency key, dispatch its command to the aggregate that owns
//! it, store the result and the audit record.

use crate::core::accounts::AccountError;
use crate::core::merchants::MerchantError;
use crate::core::posting::PostingError;
use chrono::Utc;
use sea_orm::ConnectionTrait;

use crate::core::LedgerError;
use crate::core::access::rules::AuditTarget;
use crate::core::access::rules::Tenant;
use crate::core::access::store as access;
use crate::core::accounts::apply::set_balance_limit;
use crate::core::accounts::store as accounts;
use crate::core::db as store;
use crate::core::merchants::store as merchants;
use crate::core::payments::apply::{Step, authorize, payment_step};
use crate::core::payments::lifecycle::Release;
use crate::core::payments::store::{self as payments};
use crate::core::payouts::apply::{create_payout, finish_payout};
use crate::core::posting::command::{Applied, AuditDraft, Command, Outcome, Request};
use crate::core::posting::post::{post, reverse};
use crate::core::posting::store as transactions;
use crate::core::posting::store::idempotency;
use crate::domain::{AccountId, Asset, Fingerprint, MerchantId, Owner, TransactionId};

/// Applies one request inside the open transaction `db`.
pub(in crate::core) async fn apply(
    db: &impl ConnectionTrait,
    req: &Request,
    ttl: chrono::Duration,
) -> Result<Applied, LedgerError> {
    let claim = match &req.key {
        Some(key) => idempotency::claim(db, req.scope, key, req.operation, &req.fingerprint).await?,
        None => idempotency::Claim::Claimed,
    };
    match claim {
        idempotency::Claim::Claimed => {}
        idempotency::Claim::Used { fingerprint, result } => return replay(req, &fingerprint, result),
    }
    let mut secret = None;
    let outcome = match &req.command {
        Command::Post(draft) => Outcome::Transaction(post(db, req, draft).await?),
        Command::Reverse { transaction, reason, force } => {
            Outcome::Transaction(reverse(db, req, *transaction, reason, *force).await?)
        }
        Command::SetBalanceLimit { target, policy } => set_balance_limit(db, req, target, *policy).await?,
        Command::CreateMerchant { name, external_id, class } => {
            let id = MerchantId::new();
            merchants::insert(db, id, name, external_id.as_ref(), class).await.map_err(|e| {
                if store::is_unique_violation(&e, crate::core::db::UniqueKey::MerchantExternalId) {
                    LedgerError::Merchant(MerchantError::ExternalIdTaken)
                } else {
                    e.into()
                }
            })?;
            Outcome::Merchant(id)
        }
        Command::RegisterAsset(asset) => {
            if Asset::iso4217(asset.code.as_str()).is_some() || !accounts::assets::insert_custom(db, asset).await? {
                return Err(LedgerError::Account(AccountError::AssetAlreadyExists));
            }
            Outcome::Asset(asset.code.clone())
        }
        Command::OpenAccount { owner, code, asset, normal_balance } => {
            match owner {
                Owner::Merchant(_) if code.is_platform_chart() => {
                    return Err(LedgerError::Account(AccountError::CodeReserved));
                }
                Owner::Merchant(m) => merchant_of(db, req, *m).await?,
                // The platform's subsidiary accounts open on first use, never
                // on request.
                Owner::PlatformFor(_) => return Err(LedgerError::Account(AccountError::OfAnotherMerchant)),
                Owner::Platform if req.tenant != Tenant::All => {
                    return Err(LedgerError::Account(AccountError::OfAnotherMerchant));
                }
                Owner::Platform => {}
            }
            let normal = code.standard_normal_balance(*owner).unwrap_or(*normal_balance);
            // A merchant key's own debit-normal account could be debited to
            // credit its `available`: money from nowhere. Only credit-normal.
            if matches!(req.tenant, Tenant::Merchant(_)) && normal == crate::domain::Direction::Debit {
                return Err(LedgerError::Account(AccountError::DebitAccountNotAllowed));
            }
            let id = accounts::insert(db, *owner, code, asset, normal)
                .await?
                .ok_or(LedgerError::Account(AccountError::AlreadyExists))?;
            Outcome::Account(id)
        }
        Command::Authorize { merchant, asset, amount, expires_at, notes } => {
            let expires_at = expires_at.unwrap_or_else(|| Utc::now() + ttl);
            authorize(db, req, *merchant, asset, *amount, expires_at, notes).await?
        }
        Command::Capture { payment, amount } => payment_step(db, req, *payment, Step::Capture(amount.as_ref())).await?,
        Command::Void { payment } => payment_step(db, req, *payment, Step::Release(Release::Voided)).await?,
        Command::Expire { payment } => payment_step(db, req, *payment, Step::Release(Release::Expired)).await?,
        Command::Refund { payment, amount } => payment_step(db, req, *payment, Step::Refund(amount.as_ref())).await?,
        Command::OpenDispute { payment, amount } => {
            payment_step(db, req, *payment, Step::OpenDispute(amount.as_ref())).await?
        }
        Command::ResolveDispute { payment, won, fee } => {
            payment_step(db, req, *payment, Step::ResolveDispute { won: *won, fee: fee.as_ref() }).await?
        }
        Command::CreatePayout { merchant, asset, period } => {
            create_payout(db, req, *merchant, asset, period.as_deref()).await?
        }
        Command::SettlePayout { payout } => finish_payout(db, req, *payout, true).await?,
        Command::FailPayout { payout } => finish_payout(db, req, *payout, false).await?,
        Command::SetPayoutSettings { merchant, asset, reserve_minor, schedule } => {
            merchant_of(db, req, *merchant).await?;
            crate::core::payouts::store::set_settings(db, *merchant, asset, *reserve_minor, *schedule).await?;
            Outcome::PayoutSettings { merchant: *merchant, asset: asset.clone() }
        }
        Command::SetFeeSchedule { merchant, asset, schedule } => {
            merchant_of(db, req, *merchant).await?;
            payments::set_fee_schedule(db, *merchant, asset, schedule).await?;
            Outcome::FeeSchedule { merchant: *merchant, asset: asset.clone() }
        }
        Command::Access(command) => {
            let (outcome, issued) = crate::core::access::keys::apply(db, req, command).await?;
            secret = issued;
            outcome
        }
    };
    let stored = serde_json::to_value(&outcome)
        .map_err(|e| LedgerError::internal(format!("outcome does not serialize for its idempotency record: {e}")))?;
    if let Some(key) = &req.key {
        idempotency::complete(db, req.scope, key, &stored).await?;
    }
    if let Some(audit) = &req.audit {
        let merchant = outcome_merchant(db, &outcome, req.partition).await?;
        let mut record = audit_record(req, audit, merchant, "ok");
        // A created key had no id when the request was made: record the new one.
        if let (None, Outcome::ApiKey(id)) = (&record.target_id, &outcome) {
            record.target_id = Some(id.to_string());
        }
        access::append_audit(db, &record).await?;
    }
    Ok(Applied { outcome, replayed: false, written: None, secret })
}

/// The answer to a request whose key was used before: the stored result when
/// the request is the same (same fingerprint). Errors:
/// [`PostingError::IdempotencyKeyReused`] for a different request.
pub(in crate::core) fn replay(
    req: &Request,
    fingerprint: &Fingerprint,
    result: Option<serde_json::Value>,
) -> Result<Applied, LedgerError> {
    if *fingerprint != req.fingerprint {
        return Err(LedgerError::Posting(PostingError::IdempotencyKeyReused));
    }
    let outcome = result
        .and_then(|r| serde_json::from_value(r).ok())
        .ok_or_else(|| LedgerError::internal("idempotency record without a result that parses"))?;
    Ok(Applied { outcome, replayed: true, written: None, secret: None })
}

/// The audit record of a staff action with its result (`ok` or an error code).
pub(in crate::core) fn audit_record(
    req: &Request,
    audit: &AuditDraft,
    merchant: Option<MerchantId>,
    result: &str,
) -> access::AuditRecord {
    access::AuditRecord {
        seq: 0,
        at: Utc::now(),
        actor: audit.actor.clone(),
        action: req.operation.to_owned(),
        target_type: audit.target_type,
        target_id: audit.target_id.clone(),
        merchant,
        reason: audit.reason.clone(),
        result: result.to_owned(),
        request_id: req.request_id.clone(),
    }
}

/// The merchant a successful action's result belongs to, for the audit log;
/// `partition` is the request's (see [`Request::partition`]).
pub(in crate::core) async fn outcome_merchant(
    db: &impl ConnectionTrait,
    outcome: &Outcome,
    partition: Option<MerchantId>,
) -> Result<Option<MerchantId>, sea_orm::DbErr> {
    Ok(match outcome {
        Outcome::Transaction(id) => transactions::find(db, *id, partition).await?.map(|t| t.merchant),
        Outcome::Merchant(id) => Some(*id),
        Outcome::Asset(_) => None,
        Outcome::Account(id) => accounts::find(db, *id, partition).await?.map(|a| a.owner.merchant_id()),
        Outcome::Payment { payment, .. } => payments::find(db, *payment, partition).await?.map(|p| p.merchant),
        Outcome::Payout { payout, .. } => {
            crate::core::payouts::store::find(db, *payout, partition).await?.map(|p| p.merchant)
        }
        Outcome::PayoutSettings { merchant, .. } | Outcome::FeeSchedule { merchant, .. } => Some(*merchant),
        Outcome::BalanceLimit { account: Some(id), .. } => {
            accounts::find(db, *id, partition).await?.map(|a| a.owner.merchant_id())
        }
        Outcome::BalanceLimit { account: None, .. } => None,
        // A service key's merchant is the platform: no merchant to file it under.
        Outcome::ApiKey(id) => {
            access::api_key(db, *id).await?.map(|k| k.merchant).filter(|m| *m != MerchantId::PLATFORM)
        }
        Outcome::StaffUser(_) => None,
    })
}

/// The merchant a named target belongs to, when it can be found (for the audit
/// record of a refused action); `partition` is the request's (see
/// [`Request::partition`]).
pub(in crate::core) async fn target_merchant(
    db: &impl ConnectionTrait,
    target_type: AuditTarget,
    target_id: Option<&str>,
    partition: Option<MerchantId>,
) -> Result<Option<MerchantId>, sea_orm::DbErr> {
    let Some(id) = target_id.and_then(|t| uuid::Uuid::parse_str(t).ok()) else { return Ok(None) };
    Ok(match target_type {
        AuditTarget::Transaction => transactions::find(db, TransactionId(id), partition).await?.map(|t| t.merchant),
        AuditTarget::Payment => payments::find(db, id, partition).await?.map(|p| p.merchant),
        AuditTarget::Payout => crate::core::payouts::store::find(db, id, partition).await?.map(|p| p.merchant),
        AuditTarget::Merchant => Some(MerchantId(id)),
        AuditTarget::Account => accounts::find(db, AccountId(id), partition).await?.map(|a| a.owner.merchant_id()),
        AuditTarget::ApiKey => {
            access::api_key(db, id).await?.map(|k| k.merchant).filter(|m| *m != MerchantId::PLATFORM)
        }
        AuditTarget::Asset
        | AuditTarget::BalanceLimitDefault
        | AuditTarget::StaffUser
        | AuditTarget::Session
        | AuditTarget::BankAccount
        | AuditTarget::BankStatement => None,
    })
}

/// Checks that `merchant` exists and that the request's tenant may act for it.
/// Errors: [`MerchantError::NotFound`] for both, so another merchant's id
/// looks exactly like one that does not exist.
pub(in crate::core) async fn merchant_of(
    db: &impl ConnectionTrait,
    req: &Request,
    merchant: MerchantId,
) -> Result<(), LedgerError> {
    if !req.tenant.sees(merchant) {
        return Err(LedgerError::Merchant(MerchantError::NotFound));
    }
    merchants::find(db, merchant).await?.ok_or(LedgerError::Merchant(MerchantError::NotFound))?;
    Ok(())
}
