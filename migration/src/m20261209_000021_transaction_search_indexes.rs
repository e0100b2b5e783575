//! An index for every condition of a transaction search (issue 19,
//! `core::posting::search`), so a search reads an index, never the table:
//! - `transactions_external_ref_idx (external_ref, merchant_id, seq)`, only
//!   for rows that have one: a reference within a merchant, and staff looking
//!   a reference up across every merchant;
//! - `transactions_merchant_kind_idx (merchant_id, kind, seq)`: a merchant's
//!   transactions of one kind, newest first;
//! - on PostgreSQL (Citus included), `transactions_metadata_idx`, GIN over the
//!   JSONB metadata with the default operator class, which serves both `@>`
//!   (a key's value) and `?` (a key's presence); `jsonb_path_ops` would be
//!   smaller but cannot answer `?`.
//!
//! A payment's transactions already have `transactions_payment_idx`, and a
//! merchant's journal `(merchant_id, seq)`.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::ConnectionTrait;

const BOTH: [&str; 2] = [
    "CREATE INDEX transactions_external_ref_idx ON transactions (external_ref, merchant_id, seq) \
     WHERE external_ref IS NOT NULL",
    "CREATE INDEX transactions_merchant_kind_idx ON transactions (merchant_id, kind, seq)",
];

const GIN: &str = "CREATE INDEX transactions_metadata_idx ON transactions USING gin (metadata)";

const DOWN: [&str; 3] = [
    "DROP INDEX IF EXISTS transactions_metadata_idx",
    "DROP INDEX IF EXISTS transactions_merchant_kind_idx",
    "DROP INDEX IF EXISTS transactions_external_ref_idx",
];

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for sql in BOTH {
            db.execute_unprepared(sql).await?;
        }
        crate::on_postgres(manager, GIN).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for sql in DOWN {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }
}
