//! Merchants: insert, look up, search.

use chrono::{DateTime, Utc};
use entity::merchant;
use sea_orm::sea_query::{Expr, ExprTrait, Func};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use crate::domain::{MerchantClass, MerchantExternalId, MerchantId, MerchantName};

/// A merchant as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Merchant {
    /// Its id.
    pub id: MerchantId,
    /// Display name.
    pub name: String,
    /// The caller's id for it, unique when present.
    pub external_id: Option<String>,
    /// Rollup class.
    pub class: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

impl From<merchant::Model> for Merchant {
    fn from(m: merchant::Model) -> Self {
        Self {
            id: MerchantId(m.id),
            name: m.name,
            external_id: m.external_id,
            class: m.class,
            created_at: m.created_at,
        }
    }
}

/// Inserts a merchant and its journal clock (`merchant_clocks`, at 0).
/// Errors: a unique violation on `external_id` when taken (see
/// [`crate::core::db::is_unique_violation`]).
pub async fn insert(
    db: &impl ConnectionTrait,
    id: MerchantId,
    name: &MerchantName,
    external_id: Option<&MerchantExternalId>,
    class: &MerchantClass,
) -> Result<(), DbErr> {
    merchant::Entity::insert(merchant::ActiveModel {
        id: Set(id.0),
        name: Set(name.as_str().to_owned()),
        external_id: Set(external_id.map(|e| e.as_str().to_owned())),
        class: Set(class.as_str().to_owned()),
        created_at: Set(Utc::now()),
    })
    .exec_without_returning(db)
    .await?;
    db.execute_raw(crate::core::db::stmt(
        db,
        "INSERT INTO merchant_clocks (merchant_id, last_transaction_seq) VALUES ($1, 0)",
        vec![id.0.into()],
    ))
    .await?;
    Ok(())
}

/// Finds a merchant by id; the platform's pseudo-merchant is never returned.
pub async fn find(db: &impl ConnectionTrait, id: MerchantId) -> Result<Option<Merchant>, DbErr> {
    if id == MerchantId::PLATFORM {
        return Ok(None);
    }
    Ok(merchant::Entity::find_by_id(id.0).one(db).await?.map(Merchant::from))
}

/// Finds merchants by id, for the DataLoader-style batch reads of nested fields.
pub async fn find_many(db: &impl ConnectionTrait, ids: &[Uuid]) -> Result<Vec<Merchant>, DbErr> {
    let rows = if crate::core::db::rows_as_json(db) {
        // One statement text for any number of ids (see `rows_as_json`).
        let sql = "SELECT * FROM merchants WHERE id = ANY($1::text::uuid[])";
        let values = vec![crate::core::db::uuid_list(ids.iter().copied())];
        merchant::Entity::find().from_raw_sql(crate::core::db::stmt(db, sql, values)).all(db).await?
    } else {
        merchant::Entity::find().filter(merchant::Column::Id.is_in(ids.iter().copied())).all(db).await?
    };
    Ok(rows.into_iter().map(Merchant::from).filter(|m| m.id != MerchantId::PLATFORM).collect())
}

/// One page of merchants ordered by id (UUIDv7, so by creation), after the
/// cursor id. `search` matches the name case-insensitively as a substring, or the
/// external id or id exactly. Returns up to `limit` rows.
pub async fn search(
    db: &impl ConnectionTrait,
    search: Option<&str>,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<Merchant>, DbErr> {
    let mut query = merchant::Entity::find().filter(merchant::Column::Id.ne(MerchantId::PLATFORM.0));
    if let Some(term) = search.map(str::trim).filter(|t| !t.is_empty()) {
        let escaped = term.to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
        let pattern = format!("%{escaped}%");
        let mut any = Condition::any()
            .add(
                Expr::expr(Func::lower(Expr::col(merchant::Column::Name)))
                    .like(sea_orm::sea_query::LikeExpr::new(pattern).escape('\\')),
            )
            .add(merchant::Column::ExternalId.eq(term));
        if let Ok(id) = Uuid::parse_str(term) {
            any = any.add(merchant::Column::Id.eq(id));
        }
        query = query.filter(any);
    }
    if let Some(after) = after {
        query = query.filter(merchant::Column::Id.gt(after));
    }
    let rows = query.order_by_asc(merchant::Column::Id).limit(limit).all(db).await?;
    Ok(rows.into_iter().map(Merchant::from).collect())
}
