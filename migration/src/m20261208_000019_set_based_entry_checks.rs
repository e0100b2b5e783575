//! Fewer checks per row on the write path (issue 18), on one PostgreSQL node.
//!
//! Measured (BENCHMARKS.md, issue 18): inserting an entry cost ~50–75 µs of
//! PostgreSQL's time, most of it checks run once per row: the
//! `entries_account_exists` trigger (a PL/pgSQL call and a lookup per entry)
//! and two foreign keys to `transactions`, `(merchant_id, transaction_id)`
//! and `(merchant_id, transaction_seq)` (an SPI lookup and a row lock each).
//!
//! - **One statement-level check** takes their place:
//!   `entries_refer_to_existing_rows`, an `AFTER INSERT … FOR EACH STATEMENT`
//!   trigger over the statement's new rows (a transition table). It refuses
//!   the whole statement, with SQLSTATE 23503 (`foreign_key_violation`) as the
//!   foreign keys and the old trigger did, when any new entry names an
//!   account that does not exist, or a transaction that does not exist **with
//!   that merchant, sequence and id together** (stricter than the two keys,
//!   each of which checked half of the pair). It runs after the statement,
//!   so a batch's one statement may insert the transactions and their entries
//!   together. Transactions cannot be updated, deleted or truncated (their
//!   append-only triggers), so a row checked once stays; the keys' row locks
//!   guarded against a delete that cannot happen. `SECURITY DEFINER`: it sees
//!   every row whatever the writer's row-level security shows it.
//! - **Partial indexes** for columns that are NULL on nearly every row
//!   (`payment_id`, `payout_id`, `counterparty_id`, `reverses`): a plain
//!   payment no longer adds an entry to five indexes it can never be found
//!   by. Every query that uses them names a value (`= $1`), which implies
//!   `IS NOT NULL`, so the planner still picks them; `(merchant_id, reverses)`
//!   stays unique (NULLs never conflicted) under its old name, which the
//!   write path's `ALREADY_REVERSED` answer matches.
//!
//! Citus keeps its foreign keys and indexes (checked on the workers, shard
//! by shard) and SQLite its foreign keys: this step does nothing there.
//! `down` restores the per-row checks and the full indexes.

use sea_orm_migration::prelude::*;

const UP: &str = r#"
CREATE FUNCTION entries_refer_to_existing_rows() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE bad record;
BEGIN
    SELECT e.seq, e.account_id INTO bad FROM new_entries e
        WHERE NOT EXISTS (SELECT 1 FROM accounts a WHERE a.id = e.account_id) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'entry % references account %, which does not exist', bad.seq, bad.account_id
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    SELECT e.seq, e.transaction_seq, e.transaction_id INTO bad FROM new_entries e
        WHERE NOT EXISTS (SELECT 1 FROM transactions t WHERE t.merchant_id = e.merchant_id
                          AND t.seq = e.transaction_seq AND t.id = e.transaction_id) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'entry % references transaction % (%), which does not exist',
            bad.seq, bad.transaction_seq, bad.transaction_id
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END $$;
DROP TRIGGER entries_account_exists ON entries;
DROP FUNCTION entries_account_exists();
ALTER TABLE entries DROP CONSTRAINT entries_transaction_id_fkey, DROP CONSTRAINT entries_transaction_seq_fkey;
CREATE TRIGGER entries_refer_to_existing_rows AFTER INSERT ON entries
    REFERENCING NEW TABLE AS new_entries FOR EACH STATEMENT EXECUTE FUNCTION entries_refer_to_existing_rows();

DROP INDEX transactions_payment_idx;
CREATE INDEX transactions_payment_idx ON transactions (payment_id, seq) WHERE payment_id IS NOT NULL;
DROP INDEX transactions_payout_idx;
CREATE INDEX transactions_payout_idx ON transactions (payout_id, seq) WHERE payout_id IS NOT NULL;
DROP INDEX transactions_counterparty_number_idx;
CREATE INDEX transactions_counterparty_number_idx ON transactions (counterparty_id, counterparty_number)
    WHERE counterparty_id IS NOT NULL;
DROP INDEX ledger_events_counterparty_number_idx;
CREATE INDEX ledger_events_counterparty_number_idx ON ledger_events (counterparty_id, counterparty_number)
    WHERE counterparty_id IS NOT NULL;
ALTER TABLE transactions DROP CONSTRAINT transactions_merchant_id_reverses_key;
CREATE UNIQUE INDEX transactions_merchant_id_reverses_key ON transactions (merchant_id, reverses)
    WHERE reverses IS NOT NULL;
"#;

const DOWN: &str = r#"
DROP INDEX transactions_merchant_id_reverses_key;
ALTER TABLE transactions ADD CONSTRAINT transactions_merchant_id_reverses_key UNIQUE (merchant_id, reverses);
DROP INDEX ledger_events_counterparty_number_idx;
CREATE INDEX ledger_events_counterparty_number_idx ON ledger_events (counterparty_id, counterparty_number);
DROP INDEX transactions_counterparty_number_idx;
CREATE INDEX transactions_counterparty_number_idx ON transactions (counterparty_id, counterparty_number);
DROP INDEX transactions_payout_idx;
CREATE INDEX transactions_payout_idx ON transactions (payout_id, seq);
DROP INDEX transactions_payment_idx;
CREATE INDEX transactions_payment_idx ON transactions (payment_id, seq);

DROP TRIGGER entries_refer_to_existing_rows ON entries;
DROP FUNCTION entries_refer_to_existing_rows();
ALTER TABLE entries ADD CONSTRAINT entries_transaction_id_fkey
        FOREIGN KEY (merchant_id, transaction_id) REFERENCES transactions (merchant_id, id),
    ADD CONSTRAINT entries_transaction_seq_fkey
        FOREIGN KEY (merchant_id, transaction_seq) REFERENCES transactions (merchant_id, seq);
"#;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::on_one_postgres_node(manager, UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // The row trigger comes back exactly as migration 18 made it.
        let down = format!("{DOWN}{}", crate::m20261207_000018_keys_carry_the_merchant::ACCOUNT_CHECK_UP);
        crate::on_one_postgres_node(manager, &down).await
    }
}
