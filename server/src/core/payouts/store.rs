//! Payouts and per-merchant payout settings (reserve and schedule).

use chrono::{DateTime, Utc};
use entity::{payout, payout_setting};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use crate::core::db::stmt;
use crate::core::payouts::payout::{PayoutSchedule, PayoutState};
use crate::domain::{AssetCode, MerchantId};

/// A payout as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Payout {
    /// Its id.
    pub id: Uuid,
    /// Its merchant.
    pub merchant: MerchantId,
    /// Its asset.
    pub asset: AssetCode,
    /// Minor units paid out.
    pub amount: i64,
    /// In transit, settled or failed.
    pub state: PayoutState,
    /// The schedule period it was made for; `None` for a manual payout.
    pub period: Option<String>,
    /// First number of the merchant's journal it covers.
    pub covers_from_seq: i64,
    /// Last number of the merchant's journal it covers.
    pub covers_to_seq: i64,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

impl TryFrom<payout::Model> for Payout {
    type Error = DbErr;
    fn try_from(m: payout::Model) -> Result<Self, DbErr> {
        Ok(Self {
            id: m.id,
            merchant: MerchantId(m.merchant_id),
            asset: AssetCode::parse(&m.asset).map_err(|e| crate::core::db::corrupt(e.to_string()))?,
            amount: m.amount,
            state: PayoutState::parse(&m.state)
                .ok_or_else(|| crate::core::db::corrupt(format!("stored payout state `{}`", m.state)))?,
            period: m.period,
            covers_from_seq: m.covers_from_seq,
            covers_to_seq: m.covers_to_seq,
            created_at: m.created_at,
        })
    }
}

/// Inserts a payout. Errors: a unique violation on `period` when the merchant
/// was already paid out for that asset and period.
pub async fn insert(db: &impl ConnectionTrait, p: &Payout) -> Result<(), DbErr> {
    payout::Entity::insert(payout::ActiveModel {
        id: Set(p.id),
        merchant_id: Set(p.merchant.0),
        asset: Set(p.asset.to_string()),
        amount: Set(p.amount),
        state: Set(p.state.as_str().to_owned()),
        period: Set(p.period.clone()),
        covers_from_seq: Set(p.covers_from_seq),
        covers_to_seq: Set(p.covers_to_seq),
        created_at: Set(p.created_at),
        updated_at: Set(p.created_at),
    })
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// Finds a payout by id; `partition` as in
/// [`crate::core::payments::store::find`].
pub async fn find(db: &impl ConnectionTrait, id: Uuid, partition: Option<MerchantId>) -> Result<Option<Payout>, DbErr> {
    let mut query = payout::Entity::find().filter(payout::Column::Id.eq(id));
    if let Some(m) = partition {
        query = query.filter(payout::Column::MerchantId.eq(m.0));
    }
    query.one(db).await?.map(Payout::try_from).transpose()
}

/// The payouts among `ids` (any merchant's), in no particular order: one
/// query per [`crate::core::db::MAX_BIND_PARAMS`] ids.
pub async fn find_many(db: &impl ConnectionTrait, ids: &[Uuid]) -> Result<Vec<Payout>, DbErr> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(crate::core::db::rows_per_statement(1)) {
        let rows = payout::Entity::find().filter(payout::Column::Id.is_in(chunk.iter().copied())).all(db).await?;
        for row in rows {
            out.push(Payout::try_from(row)?);
        }
    }
    Ok(out)
}

/// Locks a payout row for the rest of the transaction and returns it;
/// `partition` as in [`crate::core::db::lock_by_id`].
pub async fn lock(db: &impl ConnectionTrait, id: Uuid, partition: Option<MerchantId>) -> Result<Option<Payout>, DbErr> {
    if !crate::core::db::lock_by_id(db, "payouts", id, partition).await? {
        return Ok(None);
    }
    find(db, id, partition).await
}

/// Locks the payouts `keys` (merchant, payout id) for the rest of the
/// transaction and returns those that exist, by id. On one PostgreSQL node
/// this is one `SELECT … ORDER BY id FOR UPDATE` (the locks taken in id
/// order, as every batch takes them); on Citus, which refuses `FOR UPDATE`
/// across shards, and on SQLite, one statement per merchant, in merchant
/// order. A key whose payout lies in another merchant's books finds nothing.
/// Errors: the database's.
pub async fn lock_many(db: &impl ConnectionTrait, keys: &[(MerchantId, Uuid)]) -> Result<Vec<Payout>, DbErr> {
    use crate::core::db::{for_update, placeholders, rows_as_json, uuid_list};
    let pairs: std::collections::BTreeSet<(MerchantId, Uuid)> = keys.iter().copied().collect();
    let mut models = Vec::with_capacity(pairs.len());
    if pairs.is_empty() {
        return Ok(Vec::new());
    }
    if rows_as_json(db) {
        let sql = "SELECT p.* FROM unnest($1::text::uuid[], $2::text::uuid[]) AS k(merchant_id, id) \
                   JOIN payouts p ON p.merchant_id = k.merchant_id AND p.id = k.id ORDER BY p.id FOR UPDATE OF p";
        let values = vec![uuid_list(pairs.iter().map(|(m, _)| m.0)), uuid_list(pairs.iter().map(|(_, id)| *id))];
        models.extend(payout::Entity::find().from_raw_sql(stmt(db, sql, values)).all(db).await?);
    } else {
        let mut by_merchant: std::collections::BTreeMap<MerchantId, Vec<Uuid>> = std::collections::BTreeMap::new();
        for (m, id) in pairs {
            by_merchant.entry(m).or_default().push(id);
        }
        for (merchant, ids) in by_merchant {
            for chunk in ids.chunks(crate::core::db::rows_per_statement(1).saturating_sub(1).max(1)) {
                let sql = format!(
                    "SELECT * FROM payouts WHERE merchant_id = $1 AND id IN ({}) ORDER BY id{}",
                    placeholders(2, chunk.len()),
                    for_update(db)
                );
                let mut values: Vec<sea_orm::Value> = vec![merchant.0.into()];
                values.extend(chunk.iter().map(|id| sea_orm::Value::from(*id)));
                models.extend(payout::Entity::find().from_raw_sql(stmt(db, &sql, values)).all(db).await?);
            }
        }
    }
    models.into_iter().map(Payout::try_from).collect()
}

/// Sets the state of each of `rows` (merchant, payout id, new state): one
/// `UPDATE` per state and merchant group on every backend (a batch's payout
/// steps reach at most two states). Errors: the database's.
pub async fn set_states(db: &impl ConnectionTrait, rows: &[(MerchantId, Uuid, PayoutState)]) -> Result<(), DbErr> {
    type Group<'a> = (&'a str, Option<MerchantId>);
    let mut groups: std::collections::BTreeMap<Group, Vec<(MerchantId, Uuid)>> = std::collections::BTreeMap::new();
    // On Citus each statement stays in one merchant's shard; elsewhere one
    // statement per state.
    let per_merchant = crate::core::db::on_citus();
    for (m, id, state) in rows {
        groups.entry((state.as_str(), per_merchant.then_some(*m))).or_default().push((*m, *id));
    }
    let now = Utc::now();
    for ((state, _), keys) in groups {
        for chunk in keys.chunks(crate::core::db::rows_per_statement(2)) {
            let merchants: std::collections::BTreeSet<Uuid> = chunk.iter().map(|(m, _)| m.0).collect();
            payout::Entity::update_many()
                .col_expr(payout::Column::State, state.into())
                .col_expr(payout::Column::UpdatedAt, now.into())
                .filter(payout::Column::MerchantId.is_in(merchants))
                .filter(payout::Column::Id.is_in(chunk.iter().map(|(_, id)| *id)))
                .exec(db)
                .await?;
        }
    }
    Ok(())
}

/// Sets the state of `merchant`'s payout `id` ([`set_states`] for one).
pub async fn set_state(
    db: &impl ConnectionTrait,
    merchant: MerchantId,
    id: Uuid,
    state: PayoutState,
) -> Result<(), DbErr> {
    set_states(db, &[(merchant, id, state)]).await
}

/// True when a payout exists for this merchant, asset and period.
pub async fn exists_for_period(
    db: &impl ConnectionTrait,
    merchant: MerchantId,
    asset: &AssetCode,
    period: &str,
) -> Result<bool, DbErr> {
    Ok(payout::Entity::find()
        .filter(payout::Column::MerchantId.eq(merchant.0))
        .filter(payout::Column::Asset.eq(asset.as_str()))
        .filter(payout::Column::Period.eq(period))
        .one(db)
        .await?
        .is_some())
}

/// The last journal number covered by the merchant's payouts in an asset (0 if none).
pub async fn last_covered_seq(
    db: &impl ConnectionTrait,
    merchant: MerchantId,
    asset: &AssetCode,
) -> Result<i64, DbErr> {
    let row = db
        .query_one_raw(stmt(
            db,
            "SELECT CAST(COALESCE(MAX(covers_to_seq), 0) AS BIGINT) AS s FROM payouts WHERE merchant_id = $1 AND asset = $2",
            vec![merchant.0.into(), asset.as_str().into()],
        ))
        .await?;
    row.map_or(Ok(0), |r| r.try_get("", "s"))
}

/// A merchant's payouts, newest first, before the cursor id.
pub async fn page(
    db: &impl ConnectionTrait,
    merchant: MerchantId,
    before: Option<Uuid>,
    limit: u64,
) -> Result<Vec<Payout>, DbErr> {
    let mut q = payout::Entity::find().filter(payout::Column::MerchantId.eq(merchant.0));
    if let Some(b) = before {
        q = q.filter(payout::Column::Id.lt(b));
    }
    q.order_by_desc(payout::Column::Id).limit(limit).all(db).await?.into_iter().map(Payout::try_from).collect()
}

/// A merchant's reserve (minor units) and schedule for an asset; no reserve and
/// no schedule when unset.
pub async fn settings(
    db: &impl ConnectionTrait,
    merchant: MerchantId,
    asset: &AssetCode,
) -> Result<(i64, Option<PayoutSchedule>), DbErr> {
    let row = payout_setting::Entity::find_by_id((merchant.0, asset.to_string())).one(db).await?;
    Ok(row.map_or((0, None), |r| (r.reserve_minor, r.schedule.as_deref().and_then(PayoutSchedule::parse))))
}

/// Reserves per asset of one merchant, for balance reads.
pub async fn reserves(db: &impl ConnectionTrait, merchant: MerchantId) -> Result<Vec<(String, i64)>, DbErr> {
    let rows = payout_setting::Entity::find().filter(payout_setting::Column::MerchantId.eq(merchant.0)).all(db).await?;
    Ok(rows.into_iter().map(|r| (r.asset, r.reserve_minor)).collect())
}

/// Sets a merchant's reserve and schedule for an asset.
pub async fn set_settings(
    db: &impl ConnectionTrait,
    merchant: MerchantId,
    asset: &AssetCode,
    reserve_minor: i64,
    schedule: Option<PayoutSchedule>,
) -> Result<(), DbErr> {
    payout_setting::Entity::insert(payout_setting::ActiveModel {
        merchant_id: Set(merchant.0),
        asset: Set(asset.to_string()),
        reserve_minor: Set(reserve_minor),
        schedule: Set(schedule.map(|s| s.as_str().to_owned())),
        updated_at: Set(Utc::now()),
    })
    .on_conflict(
        OnConflict::columns([payout_setting::Column::MerchantId, payout_setting::Column::Asset])
            .update_columns([
                payout_setting::Column::ReserveMinor,
                payout_setting::Column::Schedule,
                payout_setting::Column::UpdatedAt,
            ])
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// Every (merchant, asset, schedule) with automatic payouts.
pub async fn scheduled(db: &impl ConnectionTrait) -> Result<Vec<(MerchantId, AssetCode, PayoutSchedule)>, DbErr> {
    let rows = payout_setting::Entity::find().filter(payout_setting::Column::Schedule.is_not_null()).all(db).await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            let schedule = r.schedule.as_deref().and_then(PayoutSchedule::parse)?;
            Some((MerchantId(r.merchant_id), AssetCode::parse(&r.asset).ok()?, schedule))
        })
        .collect())
}

/// The merchant's transactions numbered `from..=to` in its journal (its own
/// and the deals it is the counterparty of), oldest first, at most `limit`.
pub async fn covered(
    db: &impl ConnectionTrait,
    merchant: MerchantId,
    from: i64,
    to: i64,
    limit: u64,
) -> Result<Vec<crate::core::posting::TransactionRecord>, DbErr> {
    use entity::transaction::Column as C;
    use sea_orm::Condition;
    entity::transaction::Entity::find()
        .filter(
            Condition::any()
                .add(Condition::all().add(C::MerchantId.eq(merchant.0)).add(C::Number.between(from, to)))
                .add(
                    Condition::all().add(C::CounterpartyId.eq(merchant.0)).add(C::CounterpartyNumber.between(from, to)),
                ),
        )
        // Row keys rise with the numbers within one journal.
        .order_by_asc(C::Seq)
        .limit(limit)
        .all(db)
        .await?
        .into_iter()
        .map(TryInto::try_into)
        .collect()
}
