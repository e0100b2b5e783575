//! Row of `payouts`.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "payouts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Part of the key: rows are keyed (and on Citus distributed) by merchant.
    #[sea_orm(primary_key, auto_increment = false)]
    pub merchant_id: Uuid,
    pub asset: String,
    pub amount: i64,
    pub state: String,
    pub period: Option<String>,
    pub covers_from_seq: i64,
    pub covers_to_seq: i64,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
