//! A hash chain per merchant, and signed checkpoints of its head (issue 21).
//!
//! - `transactions.hash`: the transaction's link in its merchant's chain, 64
//!   lowercase hex digits of SHA-256 over the previous link and the
//!   transaction's canonical encoding (README, "The hash chain");
//!   `transactions.counterparty_hash`: a deal's link in its counterparty's
//!   chain. Both are written with the row, under the merchants' clock locks;
//!   rows written before this migration have none and stay outside the chain
//!   (a merchant's chain then starts at its first transaction after it).
//! - `merchant_clocks.head_hash`: the last link of the merchant's chain
//!   (64 zeros before the first), moved with the clock in the same database
//!   transaction, so the next link is taken under the same row lock as the
//!   next journal number.
//! - `checkpoint_keys`: every public key the platform ever signed checkpoints
//!   with, as a C2SP verifier key (`name+keyid+base64`), with when it came
//!   into use and when a newer key replaced it; never deleted, so old
//!   checkpoints stay verifiable after a rotation.
//! - `checkpoints`: signed notes (C2SP signed-note) of a merchant's chain head:
//!   the sequence (journal number) it covers, the head link, when, and the key.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

const UP: &str = r#"
ALTER TABLE merchant_clocks ADD COLUMN head_hash TEXT NOT NULL
    DEFAULT '0000000000000000000000000000000000000000000000000000000000000000';
ALTER TABLE transactions ADD COLUMN hash TEXT;
ALTER TABLE transactions ADD COLUMN counterparty_hash TEXT;

CREATE TABLE checkpoint_keys (
    verifier_key TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    key_id TEXT NOT NULL,
    first_used_at {ts} NOT NULL,
    retired_at {ts}
);

CREATE TABLE checkpoints (
    merchant_id {uuid} NOT NULL,
    sequence BIGINT NOT NULL CHECK (sequence > 0),
    head_hash TEXT NOT NULL,
    signed_at {ts} NOT NULL,
    verifier_key TEXT NOT NULL REFERENCES checkpoint_keys (verifier_key),
    note TEXT NOT NULL,
    PRIMARY KEY (merchant_id, sequence, verifier_key)
);
"#;

/// The migration.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let (uuid, ts) = match manager.get_database_backend() {
            DbBackend::Postgres => ("UUID", "TIMESTAMPTZ"),
            DbBackend::Sqlite => ("BLOB", "TEXT"),
            other => return Err(DbErr::Migration(format!("unsupported database backend {other:?}"))),
        };
        let sql = UP.replace("{uuid}", uuid).replace("{ts}", ts);
        manager.get_connection().execute_unprepared(&sql).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("DROP TABLE IF EXISTS checkpoints").await?;
        db.execute_unprepared("DROP TABLE IF EXISTS checkpoint_keys").await?;
        db.execute_unprepared("ALTER TABLE transactions DROP COLUMN counterparty_hash").await?;
        db.execute_unprepared("ALTER TABLE transactions DROP COLUMN hash").await?;
        db.execute_unprepared("ALTER TABLE merchant_clocks DROP COLUMN head_hash").await?;
        Ok(())
    }
}
