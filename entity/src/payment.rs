//! Row of `payments`.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "payments")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Part of the key: rows are keyed (and on Citus distributed) by merchant.
    #[sea_orm(primary_key, auto_increment = false)]
    pub merchant_id: Uuid,
    pub asset: String,
    pub authorized: i64,
    pub captured: i64,
    pub released: i64,
    pub release_kind: Option<String>,
    pub fee_captured: i64,
    pub refunded: i64,
    pub disputed_open: i64,
    pub charged_back: i64,
    pub external_ref: Option<String>,
    pub expires_at: DateTimeUtc,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
