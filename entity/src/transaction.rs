//! Row of `transactions`.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "transactions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub seq: i64,
    pub id: Uuid,
    /// Part of the key on PostgreSQL: rows are keyed by merchant (migration 16).
    #[sea_orm(primary_key, auto_increment = false)]
    pub merchant_id: Uuid,
    pub kind: String,
    pub external_ref: Option<String>,
    pub metadata: Json,
    pub effective_at: DateTimeUtc,
    pub created_at: DateTimeUtc,
    pub reverses: Option<Uuid>,
    pub payment_id: Option<Uuid>,
    pub counterparty_id: Option<Uuid>,
    pub payout_id: Option<Uuid>,
    pub actor: String,
    pub request_id: Option<String>,
    pub idempotency_key: Option<String>,
    /// Its number in its merchant's journal: gap-free, in commit order.
    pub number: i64,
    /// A deal's number in the counterparty's journal.
    pub counterparty_number: Option<i64>,
    /// Its link in its merchant's hash chain (64 hex digits; migration 26).
    pub hash: Option<String>,
    /// A deal's link in the counterparty's hash chain.
    pub counterparty_hash: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
