//! A reversal's link to its original carries the merchant (issue 17, keys
//! that carry the merchant; PostgreSQL only).
//!
//! `transactions.reverses` was unique on its own and referenced
//! `transactions (id)`. A reversal is always its original's merchant's
//! (`TransactionDraft::reversal_of` copies it), so the key becomes
//! `(merchant_id, reverses)`, unique, referencing `transactions (merchant_id,
//! id)`: the same rule (each transaction reversed at most once), now one a
//! table distributed by merchant can keep within a shard, and the database
//! refuses a reversal filed under another merchant than its original.
//! SQLite keeps its unique `reverses`.

use sea_orm_migration::prelude::*;

/// The migration.
#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
ALTER TABLE transactions DROP CONSTRAINT transactions_reverses_fkey, DROP CONSTRAINT transactions_reverses_key,
    ADD CONSTRAINT transactions_merchant_id_reverses_key UNIQUE (merchant_id, reverses),
    ADD CONSTRAINT transactions_merchant_id_reverses_fkey FOREIGN KEY (merchant_id, reverses)
        REFERENCES transactions (merchant_id, id);
"#;

const DOWN: &str = r#"
ALTER TABLE transactions DROP CONSTRAINT transactions_merchant_id_reverses_fkey,
    DROP CONSTRAINT transactions_merchant_id_reverses_key,
    ADD CONSTRAINT transactions_reverses_key UNIQUE (reverses),
    ADD CONSTRAINT transactions_reverses_fkey FOREIGN KEY (reverses) REFERENCES transactions (id);
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::on_postgres(manager, UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::on_postgres(manager, DOWN).await
    }
}
