//! A clock per merchant instead of one for the whole ledger (issue 17).
//!
//! Until now every posting took the single `ledger_clock` row and held its
//! lock until commit, so sequence numbers were gap-free and in commit order
//! across the whole ledger, and every write in the system queued on that one
//! row. This migration splits the clock:
//!
//! - **`merchant_clocks`**: one row per merchant (the platform's is the nil
//!   UUID). A posting takes the rows of its merchant and, for a deal, of the
//!   counterparty, last and in merchant order, and numbers the transaction in
//!   each merchant's journal: `transactions.number` in its merchant's,
//!   `transactions.counterparty_number` in the counterparty's. Each journal is
//!   gap-free and in commit order, and two merchants never wait on each other.
//! - **`seq`** stays the unique row key of transactions and entries, but on
//!   PostgreSQL it now comes from the sequences `ledger_transaction_seq` and
//!   `ledger_entry_seq`, taken after the merchant clocks and the balance rows
//!   are locked. So it rises in commit order within one merchant's journal and
//!   within one account's entries, but not across merchants, and it may have
//!   gaps (a rolled-back posting burns its numbers). SQLite has one writer, so
//!   there the old clock row keeps numbering `seq` without gaps.
//! - **The event feed** (`ledger_events`) can no longer be read "after seq N"
//!   across merchants. Each event records the id of the database transaction
//!   that wrote it (`writer_xid`, PostgreSQL's `pg_current_xact_id()`), and the feed is
//!   read in `(writer_xid, seq)` order, only below the visibility watermark
//!   (`pg_snapshot_xmin` of the reader's snapshot): every transaction with a
//!   smaller id has ended, so a late commit is never skipped. Events also carry
//!   their transaction's journal numbers, so one merchant's events are read in
//!   its own gap-free order. `outbox_relays.last_xid` is where each broker relay
//!   stands in the feed, with `last_seq`.
//! - **Monthly rollups** are computed up to a feed position taken from the
//!   same watermark (`rollup_months.through_xid`, `through_seq`, exclusive),
//!   not up to the last `seq`, which a transaction still committing could
//!   fall under and be lost between two months. Stored months were computed
//!   through a sequence, inclusive; they become `(0, seq + 1)`.
//!
//! Payouts record the range of the merchant's transactions they cover in its
//! journal's numbers too (`covers_from_seq`, `covers_to_seq`), converted here.
//!
//! Existing books are numbered in place, in their old (commit) order: each
//! merchant's journal is its transactions and its deals as counterparty, by
//! `seq`; old events get their transaction's numbers and `writer_xid` 0, so they come
//! first in the feed, in their old order. The append-only triggers are lifted
//! for these updates only and put back in the same migration.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

/// The migration.
#[derive(DeriveMigrationName)]
pub struct Migration;

/// Tables, columns and the numbering of existing books; both backends.
const UP: &str = r#"
CREATE TABLE merchant_clocks (
    merchant_id {uuid} PRIMARY KEY REFERENCES merchants (id),
    last_transaction_seq BIGINT NOT NULL CHECK (last_transaction_seq >= 0)
);
ALTER TABLE transactions ADD COLUMN number BIGINT NOT NULL DEFAULT 0;
ALTER TABLE transactions ADD COLUMN counterparty_number BIGINT;
ALTER TABLE ledger_events ADD COLUMN number BIGINT NOT NULL DEFAULT 0;
ALTER TABLE ledger_events ADD COLUMN counterparty_number BIGINT;
ALTER TABLE outbox_relays ADD COLUMN last_xid BIGINT NOT NULL DEFAULT 0;
ALTER TABLE rollup_months ADD COLUMN through_xid BIGINT NOT NULL DEFAULT 0;
UPDATE rollup_months SET through_seq = through_seq + 1;

CREATE TEMP TABLE ledger_journal_numbers AS
SELECT seq, m, ROW_NUMBER() OVER (PARTITION BY m ORDER BY seq) AS n FROM (
    SELECT seq, merchant_id AS m FROM transactions
    UNION ALL
    SELECT seq, counterparty_id AS m FROM transactions WHERE counterparty_id IS NOT NULL
) journal;
CREATE INDEX ledger_journal_numbers_idx ON ledger_journal_numbers (seq, m);
UPDATE transactions SET
    number = (SELECT j.n FROM ledger_journal_numbers j WHERE j.seq = transactions.seq AND j.m = transactions.merchant_id),
    counterparty_number = (SELECT j.n FROM ledger_journal_numbers j
                           WHERE j.seq = transactions.seq AND j.m = transactions.counterparty_id);
UPDATE ledger_events SET
    number = (SELECT t.number FROM transactions t WHERE t.seq = ledger_events.seq),
    counterparty_number = (SELECT t.counterparty_number FROM transactions t WHERE t.seq = ledger_events.seq);
UPDATE payouts SET
    covers_from_seq = 1 + (SELECT COUNT(*) FROM ledger_journal_numbers j
                           WHERE j.m = payouts.merchant_id AND j.seq < payouts.covers_from_seq),
    covers_to_seq = (SELECT COUNT(*) FROM ledger_journal_numbers j
                     WHERE j.m = payouts.merchant_id AND j.seq <= payouts.covers_to_seq);
INSERT INTO merchant_clocks (merchant_id, last_transaction_seq)
SELECT m.id, COALESCE((SELECT MAX(j.n) FROM ledger_journal_numbers j WHERE j.m = m.id), 0) FROM merchants m;
DROP TABLE ledger_journal_numbers;

CREATE UNIQUE INDEX transactions_merchant_number_idx ON transactions (merchant_id, number);
CREATE UNIQUE INDEX transactions_counterparty_number_idx ON transactions (counterparty_id, counterparty_number)
    WHERE counterparty_id IS NOT NULL;
CREATE UNIQUE INDEX ledger_events_merchant_number_idx ON ledger_events (merchant_id, number);
CREATE UNIQUE INDEX ledger_events_counterparty_number_idx ON ledger_events (counterparty_id, counterparty_number)
    WHERE counterparty_id IS NOT NULL;
"#;

/// PostgreSQL: the event's writer id, the sequences that replace the clock
/// row, and the feed's index. The sequences start after the clock's last
/// numbers, so no `seq` is ever used twice. Events are no longer read by
/// `(merchant_id, seq)` or `(counterparty_id, seq)`, so those two indexes go:
/// each cost every write (the merchant's key stays in a unique key through
/// `(merchant_id, number)`).
const PG_UP: &str = r#"
ALTER TABLE ledger_events ADD COLUMN writer_xid BIGINT NOT NULL DEFAULT 0;
ALTER TABLE ledger_events ALTER COLUMN writer_xid SET DEFAULT (pg_current_xact_id()::text::bigint);
CREATE INDEX ledger_events_feed_idx ON ledger_events (writer_xid, seq);
DROP INDEX IF EXISTS ledger_events_counterparty_seq_idx;
ALTER TABLE ledger_events DROP CONSTRAINT IF EXISTS ledger_events_merchant_id_seq_key;
CREATE SEQUENCE ledger_transaction_seq;
CREATE SEQUENCE ledger_entry_seq;
SELECT setval('ledger_transaction_seq', GREATEST(last_transaction_seq, 1), last_transaction_seq > 0),
       setval('ledger_entry_seq', GREATEST(last_entry_seq, 1), last_entry_seq > 0)
FROM ledger_clock WHERE id = 1;
DROP TABLE ledger_clock;
GRANT SELECT, INSERT, UPDATE ON merchant_clocks TO ledger_app;
GRANT USAGE, SELECT ON SEQUENCE ledger_transaction_seq, ledger_entry_seq TO ledger_app;
"#;

/// SQLite: one writer, so `writer_xid` is always 0 and the feed is `seq` order.
const SQLITE_UP: &str = r#"
ALTER TABLE ledger_events ADD COLUMN writer_xid BIGINT NOT NULL DEFAULT 0;
CREATE INDEX ledger_events_feed_idx ON ledger_events (writer_xid, seq);
"#;

/// Append-only triggers, lifted for the numbering and put back after.
const PG_TRIGGERS_OFF: &str = "ALTER TABLE transactions DISABLE TRIGGER transactions_append_only;\n\
     ALTER TABLE ledger_events DISABLE TRIGGER ledger_events_append_only;\n\
     ALTER TABLE rollup_months DISABLE TRIGGER rollup_months_append_only;";
const PG_TRIGGERS_ON: &str = "ALTER TABLE transactions ENABLE TRIGGER transactions_append_only;\n\
     ALTER TABLE ledger_events ENABLE TRIGGER ledger_events_append_only;\n\
     ALTER TABLE rollup_months ENABLE TRIGGER rollup_months_append_only;";
const SQLITE_TRIGGERS_OFF: &str = "DROP TRIGGER transactions_no_update;\nDROP TRIGGER ledger_events_no_update;\nDROP TRIGGER rollup_months_no_update;";
const SQLITE_TRIGGERS_ON: &str = r#"
CREATE TRIGGER transactions_no_update BEFORE UPDATE ON transactions
BEGIN SELECT RAISE(ABORT, 'ledger table transactions is append-only: UPDATE refused'); END;
CREATE TRIGGER ledger_events_no_update BEFORE UPDATE ON ledger_events
BEGIN SELECT RAISE(ABORT, 'ledger table ledger_events is append-only: UPDATE refused'); END;
CREATE TRIGGER rollup_months_no_update BEFORE UPDATE ON rollup_months
BEGIN SELECT RAISE(ABORT, 'rollup_months is append-only: UPDATE refused'); END;
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let postgres = manager.get_database_backend() == DbBackend::Postgres;
        let uuid = if postgres { "UUID" } else { "BLOB" };
        let (off, on, own) = if postgres {
            (PG_TRIGGERS_OFF, PG_TRIGGERS_ON, PG_UP)
        } else {
            (SQLITE_TRIGGERS_OFF, SQLITE_TRIGGERS_ON, SQLITE_UP)
        };
        db.execute_unprepared(off).await?;
        db.execute_unprepared(&UP.replace("{uuid}", uuid)).await?;
        db.execute_unprepared(on).await?;
        db.execute_unprepared(own).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let postgres = manager.get_database_backend() == DbBackend::Postgres;
        let (off, on) =
            if postgres { (PG_TRIGGERS_OFF, PG_TRIGGERS_ON) } else { (SQLITE_TRIGGERS_OFF, SQLITE_TRIGGERS_ON) };
        // Months closed after the upgrade were computed through a watermark,
        // which has no exact sequence: they go back to 0 (their adjustments
        // would then count again after a downgrade).
        db.execute_unprepared(off).await?;
        db.execute_unprepared(
            "UPDATE rollup_months SET through_seq = CASE WHEN through_xid = 0 AND through_seq > 0 \
             THEN through_seq - 1 ELSE 0 END",
        )
        .await?;
        db.execute_unprepared(on).await?;
        // Payouts cover row keys again: from the first key of their first
        // number, to the key of their last.
        db.execute_unprepared(
            "UPDATE payouts SET \
               covers_to_seq = COALESCE((SELECT MAX(t.seq) FROM transactions t WHERE \
                 (t.merchant_id = payouts.merchant_id AND t.number <= payouts.covers_to_seq) OR \
                 (t.counterparty_id = payouts.merchant_id AND t.counterparty_number <= payouts.covers_to_seq)), 0), \
               covers_from_seq = COALESCE((SELECT MIN(t.seq) FROM transactions t WHERE \
                 (t.merchant_id = payouts.merchant_id AND t.number >= payouts.covers_from_seq) OR \
                 (t.counterparty_id = payouts.merchant_id AND t.counterparty_number >= payouts.covers_from_seq)), \
                 (SELECT COALESCE(MAX(seq), 0) + 1 FROM transactions))",
        )
        .await?;
        if postgres {
            db.execute_unprepared(
                "CREATE TABLE ledger_clock (id INTEGER PRIMARY KEY CHECK (id = 1), \
                   last_transaction_seq BIGINT NOT NULL, last_entry_seq BIGINT NOT NULL);\n\
                 INSERT INTO ledger_clock SELECT 1, \
                   (SELECT COALESCE(MAX(seq), 0) FROM transactions), (SELECT COALESCE(MAX(seq), 0) FROM entries);\n\
                 GRANT SELECT, UPDATE ON ledger_clock TO ledger_app;\n\
                 DROP SEQUENCE ledger_transaction_seq;\n\
                 DROP SEQUENCE ledger_entry_seq;\n\
                 CREATE INDEX ledger_events_counterparty_seq_idx ON ledger_events (counterparty_id, seq) \
                   WHERE counterparty_id IS NOT NULL;\n\
                 ALTER TABLE ledger_events ADD CONSTRAINT ledger_events_merchant_id_seq_key UNIQUE (merchant_id, seq);",
            )
            .await?;
        }
        for sql in [
            "DROP INDEX ledger_events_feed_idx",
            "DROP INDEX ledger_events_counterparty_number_idx",
            "DROP INDEX ledger_events_merchant_number_idx",
            "DROP INDEX transactions_counterparty_number_idx",
            "DROP INDEX transactions_merchant_number_idx",
            "ALTER TABLE ledger_events DROP COLUMN writer_xid",
            "ALTER TABLE ledger_events DROP COLUMN counterparty_number",
            "ALTER TABLE ledger_events DROP COLUMN number",
            "ALTER TABLE transactions DROP COLUMN counterparty_number",
            "ALTER TABLE transactions DROP COLUMN number",
            "ALTER TABLE outbox_relays DROP COLUMN last_xid",
            "ALTER TABLE rollup_months DROP COLUMN through_xid",
            "DROP TABLE merchant_clocks",
        ] {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }
}
