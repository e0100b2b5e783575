//! Bank reconciliation, second part (issue 20): processor deposits that
//! settle captures, lines written off to suspense, and matches that can be
//! undone.
//!
//! - `bank_settlements`: one row per processor deposit matched to the
//!   captures it pays: their gross, the net the bank booked, and the
//!   processor's fee (gross − net), in minor units of the bank account's
//!   currency; or (`kind` `write_off`) per capture staff wrote off to
//!   suspense because the processor will never pay it, with the reason.
//! - `bank_settlement_payments`: the payments a settlement covers; one open
//!   row per payment (a partial unique index), so no capture is settled
//!   twice.
//! - `bank_settlement_postings`: the transaction the settlement posted in
//!   each merchant's books (`processor_clearing` to `bank` and
//!   `processor_fees`), which an unmatch reverses.
//! - `bank_line_matches` is rebuilt (SQLite cannot alter a CHECK): a match's
//!   target is now a payout, a settlement or a write-off; one payout side is
//!   still matched at most once (a partial unique index), while several
//!   lines may share one settlement (a deposit the bank split across days);
//!   a hand action keeps its reason.
//!
//! Nothing here is deleted (the application's role has no DELETE): an
//! unmatch sets `undone_at` on the match, the settlement and its payments,
//! and the partial unique indexes cover the rows not undone only.
//! - `bank_statement_lines.match_round` counts a line's unmatches, so the
//!   idempotency keys of its next match are new ones (the old keys answer
//!   with the postings an unmatch reversed).

use sea_orm::{ConnectionTrait, DbBackend};
use sea_orm_migration::prelude::*;

const UP: &str = r#"
CREATE TABLE bank_settlements (
    id {uuid} PRIMARY KEY,
    bank_account_id {uuid} NOT NULL REFERENCES bank_accounts (id),
    kind TEXT NOT NULL DEFAULT 'deposit' CHECK (kind IN ('deposit', 'write_off')),
    currency TEXT NOT NULL,
    gross_minor BIGINT NOT NULL CHECK (gross_minor > 0),
    net_minor BIGINT NOT NULL CHECK (net_minor >= 0),
    fee_minor BIGINT NOT NULL CHECK (fee_minor >= 0),
    payment_count INTEGER NOT NULL CHECK (payment_count > 0),
    reason TEXT,
    created_by TEXT NOT NULL,
    created_at {ts} NOT NULL,
    undone_at {ts},
    CHECK ((kind = 'deposit' AND net_minor > 0 AND gross_minor = net_minor + fee_minor)
        OR (kind = 'write_off' AND net_minor = 0 AND fee_minor = 0 AND reason IS NOT NULL))
);

CREATE TABLE bank_settlement_payments (
    settlement_id {uuid} NOT NULL REFERENCES bank_settlements (id),
    payment_id {uuid} NOT NULL,
    merchant_id {uuid} NOT NULL,
    gross_minor BIGINT NOT NULL CHECK (gross_minor > 0),
    undone_at {ts},
    PRIMARY KEY (settlement_id, merchant_id, payment_id)
);
CREATE UNIQUE INDEX bank_settlement_payments_open_key ON bank_settlement_payments (payment_id)
    WHERE undone_at IS NULL;

CREATE TABLE bank_settlement_postings (
    settlement_id {uuid} NOT NULL REFERENCES bank_settlements (id),
    merchant_id {uuid} NOT NULL,
    transaction_id {uuid} NOT NULL,
    gross_minor BIGINT NOT NULL,
    fee_minor BIGINT NOT NULL,
    PRIMARY KEY (settlement_id, merchant_id)
);

CREATE TABLE bank_line_matches_v2 (
    id {uuid} PRIMARY KEY,
    line_id {uuid} NOT NULL REFERENCES bank_statement_lines (id),
    bank_account_id {uuid} NOT NULL REFERENCES bank_accounts (id),
    target_kind TEXT NOT NULL CHECK (target_kind IN ('payout', 'settlement', 'write_off')),
    target_id {uuid} NOT NULL,
    action TEXT NOT NULL CHECK (action IN ('settle', 'fail', 'returned', 'deposit', 'write_off')),
    transaction_id {uuid},
    matched_by TEXT NOT NULL,
    matched_at {ts} NOT NULL,
    reason TEXT,
    undone_at {ts},
    undone_by TEXT,
    undo_reason TEXT
);
INSERT INTO bank_line_matches_v2 (id, line_id, bank_account_id, target_kind, target_id, action, transaction_id,
    matched_by, matched_at)
    SELECT id, line_id, bank_account_id, target_kind, target_id, action, transaction_id, matched_by, matched_at
    FROM bank_line_matches;
DROP TABLE bank_line_matches;
ALTER TABLE bank_line_matches_v2 RENAME TO bank_line_matches;
CREATE UNIQUE INDEX bank_line_matches_line_key ON bank_line_matches (line_id) WHERE undone_at IS NULL;
CREATE UNIQUE INDEX bank_line_matches_payout_side_key ON bank_line_matches (target_id, action)
    WHERE target_kind = 'payout' AND undone_at IS NULL;
CREATE INDEX bank_line_matches_target_idx ON bank_line_matches (target_kind, target_id);
ALTER TABLE bank_statement_lines ADD COLUMN match_round INTEGER NOT NULL DEFAULT 0;
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
        db.execute_unprepared("DELETE FROM bank_line_matches WHERE target_kind <> 'payout'").await?;
        db.execute_unprepared("DROP TABLE IF EXISTS bank_settlement_postings").await?;
        db.execute_unprepared("DROP TABLE IF EXISTS bank_settlement_payments").await?;
        db.execute_unprepared("DROP TABLE IF EXISTS bank_settlements").await?;
        Ok(())
    }
}
