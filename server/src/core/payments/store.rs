//! Payments (the life-cycle projection) and fee schedules.
//!
//! A payment row holds the running amounts of one authorization; it is updated in
//! the same database transaction as the ledger transaction of each step, under a
//! row lock taken before any balance lock (lock order: idempotency key → payment
//! → accounts → balances → clock).

use chrono::{DateTime, Utc};
use entity::{fee_schedule, payment};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use crate::core::db::stmt;
use crate::core::payments::fee::FeeSchedule;
use crate::core::payments::lifecycle::{PaymentFacts, PaymentState, Release};
use crate::domain::{AssetCode, MerchantId};

/// A payment as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Payment {
    /// Its id.
    pub id: Uuid,
    /// Its merchant.
    pub merchant: MerchantId,
    /// Its one asset.
    pub asset: AssetCode,
    /// Its running amounts and expiry.
    pub facts: PaymentFacts,
    /// Sum of fees taken on its captures, minor units.
    pub fee_captured: i64,
    /// The caller's reference.
    pub external_ref: Option<String>,
    /// When it was authorized.
    pub created_at: DateTime<Utc>,
}

impl TryFrom<payment::Model> for Payment {
    type Error = DbErr;
    fn try_from(m: payment::Model) -> Result<Self, DbErr> {
        let release = match m.release_kind.as_deref() {
            None => None,
            Some("voided") => Some(Release::Voided),
            Some("expired") => Some(Release::Expired),
            Some(other) => return Err(crate::core::db::corrupt(format!("stored release kind `{other}`"))),
        };
        Ok(Self {
            id: m.id,
            merchant: MerchantId(m.merchant_id),
            asset: AssetCode::parse(&m.asset).map_err(|e| crate::core::db::corrupt(e.to_string()))?,
            facts: PaymentFacts {
                authorized: m.authorized,
                captured: m.captured,
                released: m.released,
                release,
                refunded: m.refunded,
                disputed_open: m.disputed_open,
                charged_back: m.charged_back,
                expires_at: m.expires_at,
            },
            fee_captured: m.fee_captured,
            external_ref: m.external_ref,
            created_at: m.created_at,
        })
    }
}

fn release_kind(r: Option<Release>) -> Option<String> {
    r.map(|r| match r {
        Release::Voided => "voided".to_owned(),
        Release::Expired => "expired".to_owned(),
    })
}

/// Inserts a new payment.
pub async fn insert(db: &impl ConnectionTrait, p: &Payment) -> Result<(), DbErr> {
    let now = Utc::now();
    payment::Entity::insert(payment::ActiveModel {
        id: Set(p.id),
        merchant_id: Set(p.merchant.0),
        asset: Set(p.asset.to_string()),
        authorized: Set(p.facts.authorized),
        captured: Set(p.facts.captured),
        released: Set(p.facts.released),
        release_kind: Set(release_kind(p.facts.release)),
        fee_captured: Set(p.fee_captured),
        refunded: Set(p.facts.refunded),
        disputed_open: Set(p.facts.disputed_open),
        charged_back: Set(p.facts.charged_back),
        external_ref: Set(p.external_ref.clone()),
        expires_at: Set(p.facts.expires_at),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// Locks a payment row for the rest of the transaction and returns it;
/// `partition` as in [`crate::core::db::lock_by_id`].
pub async fn lock(
    db: &impl ConnectionTrait,
    id: Uuid,
    partition: Option<MerchantId>,
) -> Result<Option<Payment>, DbErr> {
    if !crate::core::db::lock_by_id(db, "payments", id, partition).await? {
        return Ok(None);
    }
    find(db, id, partition).await
}

/// Writes a payment's running amounts.
pub async fn save(db: &impl ConnectionTrait, p: &Payment) -> Result<(), DbErr> {
    payment::Entity::update_many()
        .col_expr(payment::Column::Captured, p.facts.captured.into())
        .col_expr(payment::Column::Released, p.facts.released.into())
        .col_expr(payment::Column::ReleaseKind, release_kind(p.facts.release).into())
        .col_expr(payment::Column::FeeCaptured, p.fee_captured.into())
        .col_expr(payment::Column::Refunded, p.facts.refunded.into())
        .col_expr(payment::Column::DisputedOpen, p.facts.disputed_open.into())
        .col_expr(payment::Column::ChargedBack, p.facts.charged_back.into())
        .col_expr(payment::Column::UpdatedAt, Utc::now().into())
        .filter(payment::Column::MerchantId.eq(p.merchant.0))
        .filter(payment::Column::Id.eq(p.id))
        .exec(db)
        .await?;
    Ok(())
}

/// Finds a payment by id. With `partition` (the merchant whose books hold
/// it, when the caller knows it) by the key `(merchant_id, id)`, one shard on
/// Citus, and a payment of another merchant is not found; without it, by the
/// index on `id` alone (every shard on Citus).
pub async fn find(
    db: &impl ConnectionTrait,
    id: Uuid,
    partition: Option<MerchantId>,
) -> Result<Option<Payment>, DbErr> {
    let mut query = payment::Entity::find().filter(payment::Column::Id.eq(id));
    if let Some(m) = partition {
        query = query.filter(payment::Column::MerchantId.eq(m.0));
    }
    query.one(db).await?.map(Payment::try_from).transpose()
}

/// The SQL condition for payments in `state` at `now` (mirrors `PaymentFacts::state`).
fn state_condition(state: PaymentState, now: DateTime<Utc>) -> Condition {
    use payment::Column as C;
    use sea_orm::sea_query::{Expr, ExprTrait};
    let no_dispute = Condition::all().add(C::DisputedOpen.eq(0)).add(C::ChargedBack.eq(0));
    let uncaptured = no_dispute.clone().add(C::Captured.eq(0));
    let captured = no_dispute.clone().add(C::Captured.gt(0));
    let live = Condition::all().add(C::ReleaseKind.is_null()).add(C::ExpiresAt.gt(now));
    let pending_left = Expr::col(C::Authorized).sub(Expr::col(C::Captured)).sub(Expr::col(C::Released)).gt(0);
    match state {
        PaymentState::Disputed => Condition::all().add(C::DisputedOpen.gt(0)),
        PaymentState::ChargedBack => Condition::all().add(C::DisputedOpen.eq(0)).add(C::ChargedBack.gt(0)),
        PaymentState::Authorized => uncaptured.add(live),
        PaymentState::Voided => uncaptured.add(C::ReleaseKind.eq("voided")),
        PaymentState::Expired => uncaptured.add(
            Condition::any()
                .add(C::ReleaseKind.eq("expired"))
                .add(Condition::all().add(C::ReleaseKind.is_null()).add(C::ExpiresAt.lte(now))),
        ),
        PaymentState::Refunded => captured.add(Expr::col(C::Refunded).gte(Expr::col(C::Captured))),
        PaymentState::PartiallyRefunded => {
            captured.add(C::Refunded.gt(0)).add(Expr::col(C::Refunded).lt(Expr::col(C::Captured)))
        }
        PaymentState::PartiallyCaptured => captured.add(C::Refunded.eq(0)).add(live).add(pending_left),
        PaymentState::Captured => captured.add(C::Refunded.eq(0)).add(
            Condition::any()
                .add(C::ReleaseKind.is_not_null())
                .add(C::ExpiresAt.lte(now))
                .add(Expr::col(C::Authorized).sub(Expr::col(C::Captured)).sub(Expr::col(C::Released)).eq(0)),
        ),
    }
}

/// A merchant's payments, newest first, before the cursor id, optionally in one state.
pub async fn page(
    db: &impl ConnectionTrait,
    merchant: MerchantId,
    state: Option<PaymentState>,
    before: Option<Uuid>,
    limit: u64,
) -> Result<Vec<Payment>, DbErr> {
    let mut q = payment::Entity::find().filter(payment::Column::MerchantId.eq(merchant.0));
    if let Some(state) = state {
        q = q.filter(state_condition(state, Utc::now()));
    }
    if let Some(before) = before {
        q = q.filter(payment::Column::Id.lt(before));
    }
    q.order_by_desc(payment::Column::Id).limit(limit).all(db).await?.into_iter().map(Payment::try_from).collect()
}

/// Payments whose authorization expired with money still held and no release
/// written yet: the sweeper's work list, oldest expiry first.
pub async fn expired_unreleased(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<Payment>, DbErr> {
    use sea_orm::sea_query::{Expr, ExprTrait};
    payment::Entity::find()
        .filter(payment::Column::ReleaseKind.is_null())
        .filter(payment::Column::ExpiresAt.lte(now))
        .filter(
            Expr::col(payment::Column::Authorized)
                .sub(Expr::col(payment::Column::Captured))
                .sub(Expr::col(payment::Column::Released))
                .gt(0),
        )
        .order_by_asc(payment::Column::ExpiresAt)
        .limit(limit)
        .all(db)
        .await?
        .into_iter()
        .map(Payment::try_from)
        .collect()
}

/// Per asset, the minor units a merchant still holds pending under expired but
/// not yet swept authorizations; balances subtract them so that an expired hold
/// never shows as pending.
pub async fn expired_holds(
    db: &impl ConnectionTrait,
    merchant: MerchantId,
    now: DateTime<Utc>,
) -> Result<Vec<(String, i64)>, DbErr> {
    let rows = db
        .query_all_raw(stmt(
            db,
            "SELECT asset, CAST(SUM(authorized - captured - released) AS BIGINT) AS held FROM payments \
             WHERE merchant_id = $1 AND release_kind IS NULL AND expires_at <= $2 GROUP BY asset",
            vec![merchant.0.into(), now.into()],
        ))
        .await?;
    rows.into_iter().map(|r| Ok((r.try_get("", "asset")?, r.try_get("", "held")?))).collect()
}

/// The fee schedule of a merchant in an asset; no fee when none is set.
pub async fn fee_schedule(
    db: &impl ConnectionTrait,
    merchant: MerchantId,
    asset: &AssetCode,
) -> Result<FeeSchedule, DbErr> {
    let row = fee_schedule::Entity::find_by_id((merchant.0, asset.to_string())).one(db).await?;
    Ok(row.map_or_else(FeeSchedule::default, |r| FeeSchedule {
        percent_bps: r.percent_bps,
        fixed_minor: r.fixed_minor,
        refund_returns_fee: r.refund_returns_fee,
    }))
}

/// Sets (inserts or replaces) a merchant's fee schedule for an asset.
pub async fn set_fee_schedule(
    db: &impl ConnectionTrait,
    merchant: MerchantId,
    asset: &AssetCode,
    s: &FeeSchedule,
) -> Result<(), DbErr> {
    fee_schedule::Entity::insert(fee_schedule::ActiveModel {
        merchant_id: Set(merchant.0),
        asset: Set(asset.to_string()),
        percent_bps: Set(s.percent_bps),
        fixed_minor: Set(s.fixed_minor),
        refund_returns_fee: Set(s.refund_returns_fee),
        updated_at: Set(Utc::now()),
    })
    .on_conflict(
        OnConflict::columns([fee_schedule::Column::MerchantId, fee_schedule::Column::Asset])
            .update_columns([
                fee_schedule::Column::PercentBps,
                fee_schedule::Column::FixedMinor,
                fee_schedule::Column::RefundReturnsFee,
                fee_schedule::Column::UpdatedAt,
            ])
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(())
}
