//! The platform's accounts become control accounts kept as subsidiary
//! accounts, one per merchant, in that merchant's partition (issue 17).
//!
//! Before, every payment of every merchant updated the same few platform
//! balance rows (`processor_clearing`, `fee_revenue`, …, owned by the nil
//! UUID), so all writers queued on them and no partitioning by merchant was
//! possible. From now on the platform's side of a merchant's transaction
//! posts to the platform's subsidiary account for that merchant: an account
//! with the merchant's `merchant_id` and `platform = TRUE`. The platform's own
//! accounts (nil UUID) stay for postings that belong to no merchant, and keep
//! what they already hold: entries are append-only and are never moved.
//!
//! The control account of a code and asset is the sum of the platform's
//! accounts with that code and asset (`platform = TRUE`), which the partial
//! index `accounts_platform_idx` serves.
//!
//! A merchant's own account may no longer use a code of the platform's chart
//! (`processor_clearing`, `fee_revenue`, `bank`, `disputes`,
//! `payouts_in_transit`, `goods_clearing`): it would collide with the
//! subsidiary account under `UNIQUE (merchant_id, code, asset)`. Books that
//! hold such an account are refused with the accounts named, before anything
//! changes.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Statement};

/// The migration.
#[derive(DeriveMigrationName)]
pub struct Migration;

/// The codes of the platform's chart (see `AccountCode::standard_normal_balance`).
const PLATFORM_CODES: &str =
    "('processor_clearing', 'fee_revenue', 'bank', 'disputes', 'payouts_in_transit', 'goods_clearing')";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        let db = manager.get_connection();
        let nil = match backend {
            DbBackend::Postgres => "'00000000-0000-0000-0000-000000000000'::uuid",
            DbBackend::Sqlite => "zeroblob(16)",
            other => return Err(DbErr::Migration(format!("unsupported database backend {other:?}"))),
        };
        let clashing = db
            .query_all_raw(Statement::from_string(
                backend,
                format!(
                    "SELECT code, asset FROM accounts WHERE merchant_id <> {nil} AND code IN {PLATFORM_CODES} \
                     ORDER BY code, asset"
                ),
            ))
            .await?;
        if !clashing.is_empty() {
            let named: Vec<String> = clashing
                .iter()
                .map(|r| {
                    let code: String = r.try_get("", "code").unwrap_or_default();
                    let asset: String = r.try_get("", "asset").unwrap_or_default();
                    format!("{code}/{asset}")
                })
                .collect();
            return Err(DbErr::Migration(format!(
                "{} merchant account(s) use a code of the platform's chart ({}); rename them before upgrading",
                clashing.len(),
                named.join(", ")
            )));
        }
        let boolean = if backend == DbBackend::Postgres {
            "BOOLEAN NOT NULL DEFAULT FALSE"
        } else {
            "BOOLEAN NOT NULL DEFAULT 0"
        };
        let truth = if backend == DbBackend::Postgres { "TRUE" } else { "1" };
        db.execute_unprepared(&format!(
            "ALTER TABLE accounts ADD COLUMN platform {boolean};\n\
             UPDATE accounts SET platform = {truth} WHERE merchant_id = {nil};\n\
             CREATE INDEX accounts_platform_idx ON accounts (code, asset) WHERE platform;\n"
        ))
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("DROP INDEX IF EXISTS accounts_platform_idx").await?;
        db.execute_unprepared("ALTER TABLE accounts DROP COLUMN platform").await?;
        Ok(())
    }
}
