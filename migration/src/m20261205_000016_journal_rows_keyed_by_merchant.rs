//! Transactions, entries and events keyed by their merchant (issue 17, keys
//! that carry the merchant; PostgreSQL only).
//!
//! A transaction's row key `seq` was its primary key, with `id` a second
//! unique key; entries and events were keyed by `seq` alone, and entries
//! referenced `transactions (seq)` and `transactions (id)`. An entry and an
//! event always carry their transaction's `merchant_id` (the write path sets
//! it from the transaction, and the foreign keys below check every existing
//! row when they are added), so:
//!
//! - `transactions`: primary key `(merchant_id, seq)`; `id` keeps a plain
//!   index for `transaction(id)`, the unique `(merchant_id, id)` stays, and
//!   `(merchant_id, seq)`'s old index goes (the key serves it);
//! - `entries`: primary key `(merchant_id, seq)` (was a second unique key),
//!   referencing `transactions (merchant_id, seq)` and `(merchant_id, id)`;
//! - `ledger_events`: primary key `(merchant_id, seq)`, referencing
//!   `transactions (merchant_id, seq)`.
//!
//! `seq` values stay unique in practice (PostgreSQL sequences, migration 12).
//! Entries still reference `accounts (id)`: a deal's counterparty legs sit on
//! another merchant's accounts, so that key waits for entries to record the
//! account's merchant. SQLite keeps its keys.

use sea_orm_migration::prelude::*;

/// The migration.
#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
ALTER TABLE entries DROP CONSTRAINT entries_transaction_seq_fkey, DROP CONSTRAINT entries_transaction_id_fkey;
ALTER TABLE ledger_events DROP CONSTRAINT ledger_events_seq_fkey;
ALTER TABLE transactions DROP CONSTRAINT transactions_pkey, DROP CONSTRAINT transactions_id_key,
    ADD CONSTRAINT transactions_pkey PRIMARY KEY (merchant_id, seq);
DROP INDEX transactions_merchant_seq_idx;
CREATE INDEX transactions_id_idx ON transactions (id);
ALTER TABLE entries DROP CONSTRAINT entries_pkey, DROP CONSTRAINT entries_merchant_id_seq_key,
    ADD CONSTRAINT entries_pkey PRIMARY KEY (merchant_id, seq),
    ADD CONSTRAINT entries_transaction_seq_fkey FOREIGN KEY (merchant_id, transaction_seq)
        REFERENCES transactions (merchant_id, seq),
    ADD CONSTRAINT entries_transaction_id_fkey FOREIGN KEY (merchant_id, transaction_id)
        REFERENCES transactions (merchant_id, id);
ALTER TABLE ledger_events DROP CONSTRAINT ledger_events_pkey,
    ADD CONSTRAINT ledger_events_pkey PRIMARY KEY (merchant_id, seq),
    ADD CONSTRAINT ledger_events_seq_fkey FOREIGN KEY (merchant_id, seq) REFERENCES transactions (merchant_id, seq);
"#;

const DOWN: &str = r#"
ALTER TABLE entries DROP CONSTRAINT entries_transaction_seq_fkey, DROP CONSTRAINT entries_transaction_id_fkey;
ALTER TABLE ledger_events DROP CONSTRAINT ledger_events_seq_fkey;
ALTER TABLE ledger_events DROP CONSTRAINT ledger_events_pkey, ADD CONSTRAINT ledger_events_pkey PRIMARY KEY (seq);
ALTER TABLE entries DROP CONSTRAINT entries_pkey, ADD CONSTRAINT entries_pkey PRIMARY KEY (seq),
    ADD CONSTRAINT entries_merchant_id_seq_key UNIQUE (merchant_id, seq);
DROP INDEX transactions_id_idx;
CREATE INDEX transactions_merchant_seq_idx ON transactions (merchant_id, seq);
ALTER TABLE transactions DROP CONSTRAINT transactions_pkey, ADD CONSTRAINT transactions_pkey PRIMARY KEY (seq),
    ADD CONSTRAINT transactions_id_key UNIQUE (id);
ALTER TABLE entries ADD CONSTRAINT entries_transaction_seq_fkey FOREIGN KEY (transaction_seq) REFERENCES transactions (seq),
    ADD CONSTRAINT entries_transaction_id_fkey FOREIGN KEY (transaction_id) REFERENCES transactions (id);
ALTER TABLE ledger_events ADD CONSTRAINT ledger_events_seq_fkey FOREIGN KEY (seq) REFERENCES transactions (seq);
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
