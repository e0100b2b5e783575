//! An index for an account's past (issue 19, `core::accounts::history`):
//! `entries_account_effective_idx (account_id, effective_at)`, on PostgreSQL
//! (Citus included) covering `direction, layer, amount, transaction_seq`.
//!
//! `Account.balance(asOf:)` sums an account's entries up to a point and
//! `Account.statement` lists them by effective time. Through
//! `entries_account_seq_idx` alone each summed entry is a heap visit, and an
//! account's entries lie in as many heap pages as it has entries: the lookup
//! benchmark over a million transactions measured p99 32.9 ms against a
//! 20 ms target (BENCHMARKS.md). With the covering index the sum is an
//! index-only scan of the entries up to the point. SQLite gets the same key
//! without the covered columns (it has no `INCLUDE`).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

const POSTGRES: &str = "CREATE INDEX entries_account_effective_idx ON entries (account_id, effective_at) \
     INCLUDE (direction, layer, amount, transaction_seq)";
const SQLITE: &str = "CREATE INDEX entries_account_effective_idx ON entries (account_id, effective_at)";

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let sql = if manager.get_database_backend() == DbBackend::Postgres { POSTGRES } else { SQLITE };
        manager.get_connection().execute_unprepared(sql).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.get_connection().execute_unprepared("DROP INDEX IF EXISTS entries_account_effective_idx").await?;
        Ok(())
    }
}
