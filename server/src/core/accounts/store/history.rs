//! An account's past: its totals at a point, summed from its entries, and the
//! entries of a statement period.
//!
//! Every query walks the account's entries through the `(account_id, seq)`
//! index; the point only filters them. Sums are `CAST(SUM(..) AS BIGINT)`, so
//! an overflow is an error, never a wrapped total.

use chrono::{DateTime, Utc};
use entity::entry;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Value};

use crate::core::db::{corrupt, stmt};
use crate::core::posting::EntryRecord;
use crate::domain::{AccountId, AsOf, Balance, Direction, Layer, MerchantId};

/// The totals of `account` (in the partition of `journal`, its owner's) from
/// its entries up to `at`: posted entries add to the posted totals, holds to
/// the pending ones and releases take from them, as on the write path. Errors:
/// [`DbErr`], also when a sum overflows.
pub async fn totals_at(
    db: &impl ConnectionTrait,
    account: AccountId,
    journal: MerchantId,
    at: AsOf,
) -> Result<Balance, DbErr> {
    let (cond, bound): (&str, Value) = match at {
        AsOf::Sequence(number) => {
            ("e.transaction_seq <= $2", crate::core::posting::store::row_key_of(db, journal, number).await?.into())
        }
        AsOf::Effective(t) => ("e.effective_at <= $2", t.into()),
        AsOf::Known(t) => (
            "EXISTS (SELECT 1 FROM transactions t WHERE t.merchant_id = e.merchant_id \
             AND t.seq = e.transaction_seq AND t.created_at <= $2)",
            t.into(),
        ),
    };
    sums(db, &format!("e.account_id = $1 AND {cond}"), vec![account.0.into(), bound]).await
}

/// The totals of `account` from its entries effective before `from`.
pub async fn totals_before(
    db: &impl ConnectionTrait,
    account: AccountId,
    from: DateTime<Utc>,
) -> Result<Balance, DbErr> {
    sums(db, "e.account_id = $1 AND e.effective_at < $2", vec![account.0.into(), from.into()]).await
}

/// Up to `limit` entries of `account` effective in `[from, to)`, in order of
/// effective time, then of row key.
pub async fn entries_between(
    db: &impl ConnectionTrait,
    account: AccountId,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<EntryRecord>, DbErr> {
    entry::Entity::find()
        .filter(entry::Column::AccountId.eq(account.0))
        .filter(entry::Column::EffectiveAt.gte(from))
        .filter(entry::Column::EffectiveAt.lt(to))
        .order_by_asc(entry::Column::EffectiveAt)
        .order_by_asc(entry::Column::Seq)
        .limit(limit)
        .all(db)
        .await?
        .into_iter()
        .map(TryInto::try_into)
        .collect()
}

/// Sums of the entries `e` matching `cond`, by direction and layer, folded
/// into totals.
async fn sums(db: &impl ConnectionTrait, cond: &str, values: Vec<Value>) -> Result<Balance, DbErr> {
    let sql = format!(
        "SELECT e.direction, e.layer, CAST(SUM(e.amount) AS BIGINT) AS total FROM entries e WHERE {cond} \
         GROUP BY e.direction, e.layer"
    );
    let mut totals = Balance::default();
    let mut releases = Vec::new();
    for row in db.query_all_raw(stmt(db, &sql, values)).await? {
        let direction: String = row.try_get("", "direction")?;
        let layer: String = row.try_get("", "layer")?;
        let total: i64 = row.try_get("", "total")?;
        let direction = Direction::parse(&direction).ok_or_else(|| corrupt(format!("entry direction {direction}")))?;
        let layer = Layer::parse(&layer).ok_or_else(|| corrupt(format!("entry layer {layer}")))?;
        // Holds before releases: a release never exceeds the holds it ends.
        if layer == Layer::Release {
            releases.push((direction, total));
        } else {
            totals.apply(direction, layer, total).map_err(|e| corrupt(format!("entry sums: {e}")))?;
        }
    }
    for (direction, total) in releases {
        totals.apply(direction, Layer::Release, total).map_err(|e| corrupt(format!("entry sums: {e}")))?;
    }
    Ok(totals)
}
