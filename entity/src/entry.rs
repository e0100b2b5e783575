//! Row of `entries`.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "entries")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub seq: i64,
    pub transaction_seq: i64,
    pub transaction_id: Uuid,
    /// Part of the key on PostgreSQL: rows are keyed by merchant (migration 16).
    #[sea_orm(primary_key, auto_increment = false)]
    pub merchant_id: Uuid,
    pub account_id: Uuid,
    pub asset: String,
    pub direction: String,
    pub amount: i64,
    pub effective_at: DateTimeUtc,
    pub layer: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
