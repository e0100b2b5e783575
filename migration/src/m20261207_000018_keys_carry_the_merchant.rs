//! Keys that carry the merchant on one PostgreSQL node too (issue 17): the
//! same keys migration 17 cuts on Citus before distributing, so both engines
//! hold one schema and every primary and unique key of a merchant table
//! includes `merchant_id`:
//!
//! - `accounts`: primary key `(merchant_id, id)` (was `id`), with a plain
//!   index on `id` for `account(id)` without a merchant;
//! - `balances`: primary key `(merchant_id, account_id)`, referencing
//!   `accounts (merchant_id, id)`;
//! - `transactions (counterparty_id, counterparty_number)` and the same key of
//!   `ledger_events` become plain indexes (a deal is stored with its seller;
//!   the buyer's clock row, locked by the deal, hands out each number once);
//! - `entries.account_id` no longer references `accounts (id)`, which is no
//!   longer a key: a deal's buyer-side legs sit on the buyer's accounts in the
//!   seller's partition, so no key with the merchant can join them. On one
//!   node a trigger keeps the check in its place (`entries_account_exists`:
//!   an entry whose account does not exist is refused with SQLSTATE 23503,
//!   as the foreign key did); `verify` checks it on every engine
//!   (`orphan_entries`).
//!
//! On Citus migration 17 has cut these keys already and this step does
//! nothing; on SQLite (one process, never distributed) the keys stay.
//! `down` restores the single-node keys and the foreign key.

use sea_orm_migration::prelude::*;

use crate::m20261206_000017_distribute_on_citus::{KEYS_DOWN, KEYS_UP};

/// The check that took the foreign key's place: `SECURITY DEFINER` so that it
/// sees every account whatever the writer's row-level security lets it see.
pub(crate) const ACCOUNT_CHECK_UP: &str = r#"
CREATE FUNCTION entries_account_exists() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM accounts WHERE id = NEW.account_id) THEN
        RAISE EXCEPTION 'entry % references account %, which does not exist', NEW.seq, NEW.account_id
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER entries_account_exists AFTER INSERT ON entries
    FOR EACH ROW EXECUTE FUNCTION entries_account_exists();
"#;

const ACCOUNT_CHECK_DOWN: &str = r#"
DROP TRIGGER entries_account_exists ON entries;
DROP FUNCTION entries_account_exists();
"#;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::on_one_postgres_node(manager, &format!("{KEYS_UP}{ACCOUNT_CHECK_UP}")).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::on_one_postgres_node(manager, &format!("{ACCOUNT_CHECK_DOWN}{KEYS_DOWN}")).await
    }
}
