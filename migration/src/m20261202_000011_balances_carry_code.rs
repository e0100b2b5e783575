//! Each balance row carries its account's `code` and `platform` flag, so the
//! platform's control accounts and the trial balance are one scan of
//! `balances` with no join (issue 17).
//!
//! With the platform's accounts kept per merchant, a control account sums one
//! subsidiary balance per merchant. Joining 200,000 platform accounts to their
//! balance rows took 230 ms on the two-core test machine at 100,000 merchants;
//! the same sums over `balances` alone took 80 to 115 ms. Both columns are
//! fixed when the account is opened (an account's code and owner never
//! change), so the copy cannot drift; `verify` checks it anyway.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

/// The migration.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let falsy = if manager.get_database_backend() == DbBackend::Postgres { "FALSE" } else { "0" };
        db.execute_unprepared(&format!(
            "ALTER TABLE balances ADD COLUMN code TEXT NOT NULL DEFAULT '';\n\
             ALTER TABLE balances ADD COLUMN platform BOOLEAN NOT NULL DEFAULT {falsy};\n\
             UPDATE balances SET code = (SELECT a.code FROM accounts a WHERE a.id = balances.account_id), \
               platform = (SELECT a.platform FROM accounts a WHERE a.id = balances.account_id);\n"
        ))
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("ALTER TABLE balances DROP COLUMN platform").await?;
        db.execute_unprepared("ALTER TABLE balances DROP COLUMN code").await?;
        Ok(())
    }
}
