//! Assets: every ISO 4217 currency (seeded at start-up) and registered custom assets.

use chrono::Utc;
use entity::asset;
use sea_orm::{ActiveValue::Set, ConnectionTrait, DbErr, EntityTrait};

use crate::domain::{Asset, AssetCode};

/// Inserts every ISO 4217 currency that is not yet present. Idempotent, so each
/// start-up picks up currencies added by a newer `iso_currency` release.
pub async fn seed_iso4217(db: &impl ConnectionTrait) -> Result<(), DbErr> {
    let now = Utc::now();
    let rows = Asset::all_iso4217().into_iter().map(|a| asset::ActiveModel {
        code: Set(a.code.to_string()),
        exponent: Set(i32::try_from(a.exponent).unwrap_or(0)),
        iso4217: Set(true),
        created_at: Set(now),
    });
    asset::Entity::insert_many(rows)
        .on_conflict_do_nothing_on([asset::Column::Code])
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Looks an asset up by code. `Ok(None)` when no such asset exists.
pub async fn find(db: &impl ConnectionTrait, code: &str) -> Result<Option<Asset>, DbErr> {
    let row = asset::Entity::find_by_id(code.to_owned()).one(db).await?;
    Ok(row.and_then(|r| to_domain(&r)))
}

/// Every asset, ordered by code.
pub async fn list(db: &impl ConnectionTrait) -> Result<Vec<(Asset, bool)>, DbErr> {
    use sea_orm::QueryOrder;
    let rows = asset::Entity::find().order_by_asc(asset::Column::Code).all(db).await?;
    Ok(rows.iter().filter_map(|r| to_domain(r).map(|a| (a, r.iso4217))).collect())
}

/// Inserts a custom asset. Returns `false` when the code already exists.
pub async fn insert_custom(db: &impl ConnectionTrait, asset: &Asset) -> Result<bool, DbErr> {
    let row = asset::ActiveModel {
        code: Set(asset.code.to_string()),
        exponent: Set(i32::try_from(asset.exponent).unwrap_or(0)),
        iso4217: Set(false),
        created_at: Set(Utc::now()),
    };
    let inserted =
        asset::Entity::insert(row).on_conflict_do_nothing_on([asset::Column::Code]).exec_without_returning(db).await?;
    Ok(matches!(inserted, sea_orm::TryInsertResult::Inserted(n) if n > 0))
}

fn to_domain(row: &asset::Model) -> Option<Asset> {
    Some(Asset { code: AssetCode::parse(&row.code).ok()?, exponent: u32::try_from(row.exponent).ok()? })
}
