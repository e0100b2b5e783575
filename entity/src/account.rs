//! Row of `accounts`.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "accounts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub merchant_id: Uuid,
    pub code: String,
    pub asset: String,
    pub normal_balance: String,
    pub created_at: DateTimeUtc,
    /// True for the platform's accounts: its own (`merchant_id` nil) and its
    /// subsidiary account for each merchant (`merchant_id` the merchant).
    pub platform: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
