//! Indexes for the time ranges of a transaction search (issue 19,
//! `core::posting::search`):
//! - `transactions_merchant_effective_idx (merchant_id, effective_at)`: a
//!   merchant's transactions by value date (`effectiveAt` range);
//! - `transactions_merchant_created_idx (merchant_id, created_at)`: by the
//!   time they were recorded (`createdAt` range).
//!
//! Both lead with the merchant, the distribution column on Citus, so a
//! range search reads one shard. A search by account reads the account's
//! entries through `entries_account_seq_idx`, which exists.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::ConnectionTrait;

const UP: [&str; 2] = [
    "CREATE INDEX transactions_merchant_effective_idx ON transactions (merchant_id, effective_at)",
    "CREATE INDEX transactions_merchant_created_idx ON transactions (merchant_id, created_at)",
];

const DOWN: [&str; 2] = [
    "DROP INDEX IF EXISTS transactions_merchant_created_idx",
    "DROP INDEX IF EXISTS transactions_merchant_effective_idx",
];

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for sql in UP {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for sql in DOWN {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }
}
