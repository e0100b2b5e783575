//! Bank reconciliation (issue 20, `core::reconciliation`): the platform's bank
//! accounts, the statements imported for them, and each statement line.
//!
//! - `bank_accounts`: one row per account the platform holds at a bank,
//!   named by IBAN (ISO 13616) or another account number, in one ISO 4217
//!   currency, with the CSV profile its bank's exports are read with.
//! - `bank_statements`: one row per statement, unique per bank account and the
//!   bank's statement id (camt.053 `Stmt/Id`; the file's SHA-256 for a CSV),
//!   so importing the same statement again writes nothing. It keeps the
//!   booked opening and closing balances and the gap to the previous
//!   statement's closing balance, when there is one.
//! - `bank_statement_lines`: one row per line, unique per bank account and the
//!   bank's own reference (`AcctSvcrRef`), so a line that comes again in a
//!   later statement is not imported twice. Amounts are integer minor units,
//!   always positive, the side in `direction` (`CRDT` in, `DBIT` out).
//!
//! - `bank_line_matches`: which ledger item each matched line is, at most
//!   one per line and one per ledger item and side (a payout's debit, its
//!   return), so nothing is matched twice, with the transaction the match
//!   posted (a payout settled or failed).
//!
//! These are the platform's own books of the bank, not a merchant's: on
//! Citus they stay local tables on the coordinator.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

const UP: &str = r#"
CREATE TABLE bank_accounts (
    id {uuid} PRIMARY KEY,
    name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    iban TEXT UNIQUE,
    account_number TEXT UNIQUE,
    currency TEXT NOT NULL,
    csv_profile TEXT,
    created_at {ts} NOT NULL,
    CHECK (iban IS NOT NULL OR account_number IS NOT NULL)
);

CREATE TABLE bank_statements (
    id {uuid} PRIMARY KEY,
    bank_account_id {uuid} NOT NULL REFERENCES bank_accounts (id),
    statement_ref TEXT NOT NULL,
    format TEXT NOT NULL,
    file_sha256 TEXT NOT NULL,
    opening_minor BIGINT,
    opening_date {date},
    closing_minor BIGINT,
    closing_date {date},
    gap_minor BIGINT,
    line_count INTEGER NOT NULL CHECK (line_count >= 0),
    new_line_count INTEGER NOT NULL CHECK (new_line_count >= 0),
    imported_by TEXT NOT NULL,
    imported_at {ts} NOT NULL,
    UNIQUE (bank_account_id, statement_ref)
);
CREATE INDEX bank_statements_account_idx ON bank_statements (bank_account_id, imported_at);

CREATE TABLE bank_statement_lines (
    id {uuid} PRIMARY KEY,
    bank_account_id {uuid} NOT NULL REFERENCES bank_accounts (id),
    statement_id {uuid} NOT NULL REFERENCES bank_statements (id),
    line_no INTEGER NOT NULL,
    account_servicer_ref TEXT,
    entry_ref TEXT,
    amount_minor BIGINT NOT NULL CHECK (amount_minor > 0),
    direction TEXT NOT NULL CHECK (direction IN ('CRDT', 'DBIT')),
    currency TEXT NOT NULL,
    reversal BOOLEAN NOT NULL,
    status TEXT NOT NULL,
    booking_date {date},
    value_date {date},
    batch_count INTEGER,
    details {json} NOT NULL,
    additional_info TEXT,
    match_state TEXT NOT NULL DEFAULT 'unmatched'
        CHECK (match_state IN ('unmatched', 'matched', 'written_off')),
    created_at {ts} NOT NULL,
    UNIQUE (bank_account_id, account_servicer_ref),
    UNIQUE (statement_id, line_no)
);
CREATE INDEX bank_statement_lines_queue_idx ON bank_statement_lines (bank_account_id, match_state, booking_date);

CREATE TABLE bank_line_matches (
    id {uuid} PRIMARY KEY,
    line_id {uuid} NOT NULL UNIQUE REFERENCES bank_statement_lines (id),
    bank_account_id {uuid} NOT NULL REFERENCES bank_accounts (id),
    target_kind TEXT NOT NULL CHECK (target_kind IN ('payout')),
    target_id {uuid} NOT NULL,
    action TEXT NOT NULL CHECK (action IN ('settle', 'fail', 'returned')),
    transaction_id {uuid},
    matched_by TEXT NOT NULL,
    matched_at {ts} NOT NULL,
    UNIQUE (target_kind, target_id, action)
);
"#;

/// The migration.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let (uuid, ts, date, json) = match manager.get_database_backend() {
            DbBackend::Postgres => ("UUID", "TIMESTAMPTZ", "DATE", "JSONB"),
            DbBackend::Sqlite => ("BLOB", "TEXT", "TEXT", "TEXT"),
            other => return Err(DbErr::Migration(format!("unsupported database backend {other:?}"))),
        };
        let sql = UP.replace("{uuid}", uuid).replace("{ts}", ts).replace("{date}", date).replace("{json}", json);
        manager.get_connection().execute_unprepared(&sql).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("DROP TABLE IF EXISTS bank_line_matches").await?;
        db.execute_unprepared("DROP TABLE IF EXISTS bank_statement_lines").await?;
        db.execute_unprepared("DROP TABLE IF EXISTS bank_statements").await?;
        db.execute_unprepared("DROP TABLE IF EXISTS bank_accounts").await?;
        Ok(())
    }
}
