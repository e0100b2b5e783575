//! Creates the ledger: merchants, assets, accounts, balances, transactions,
//! entries, idempotency records and the sequence clock, with the database itself
//! refusing any UPDATE or DELETE of a transaction or an entry.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

/// The migration.
#[derive(DeriveMigrationName)]
pub struct Migration;

/// Tables in creation order; dropped in reverse.
const TABLES: [&str; 8] =
    ["merchants", "assets", "accounts", "balances", "ledger_clock", "transactions", "entries", "idempotency_keys"];

/// DDL shared by both backends. Amounts and balances are BIGINT minor units.
/// Every merchant-owned table carries `merchant_id` inside a primary or unique key
/// so it can later be distributed by merchant (the platform is the nil UUID).
const SCHEMA: &str = r#"
CREATE TABLE merchants (
    id {uuid} PRIMARY KEY,
    name TEXT NOT NULL,
    external_id TEXT UNIQUE,
    class TEXT NOT NULL,
    created_at {ts} NOT NULL
);
CREATE INDEX merchants_name_idx ON merchants (name);

CREATE TABLE assets (
    code TEXT PRIMARY KEY,
    exponent INTEGER NOT NULL CHECK (exponent BETWEEN 0 AND 18),
    iso4217 BOOLEAN NOT NULL,
    created_at {ts} NOT NULL
);

CREATE TABLE accounts (
    id {uuid} PRIMARY KEY,
    merchant_id {uuid} NOT NULL REFERENCES merchants (id),
    code TEXT NOT NULL,
    asset TEXT NOT NULL REFERENCES assets (code),
    normal_balance TEXT NOT NULL CHECK (normal_balance IN ('debit', 'credit')),
    created_at {ts} NOT NULL,
    UNIQUE (merchant_id, code, asset),
    UNIQUE (merchant_id, id)
);

CREATE TABLE balances (
    account_id {uuid} PRIMARY KEY REFERENCES accounts (id),
    merchant_id {uuid} NOT NULL,
    asset TEXT NOT NULL,
    debits_posted BIGINT NOT NULL DEFAULT 0 CHECK (debits_posted >= 0),
    credits_posted BIGINT NOT NULL DEFAULT 0 CHECK (credits_posted >= 0),
    debits_pending BIGINT NOT NULL DEFAULT 0 CHECK (debits_pending >= 0),
    credits_pending BIGINT NOT NULL DEFAULT 0 CHECK (credits_pending >= 0),
    last_transaction_seq BIGINT NOT NULL DEFAULT 0,
    UNIQUE (merchant_id, account_id)
);

CREATE TABLE ledger_clock (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    last_transaction_seq BIGINT NOT NULL,
    last_entry_seq BIGINT NOT NULL
);
INSERT INTO ledger_clock (id, last_transaction_seq, last_entry_seq) VALUES (1, 0, 0);

CREATE TABLE transactions (
    seq BIGINT PRIMARY KEY,
    id {uuid} NOT NULL UNIQUE,
    merchant_id {uuid} NOT NULL REFERENCES merchants (id),
    kind TEXT NOT NULL,
    external_ref TEXT,
    metadata {json} NOT NULL,
    effective_at {ts} NOT NULL,
    created_at {ts} NOT NULL,
    reverses {uuid} UNIQUE REFERENCES transactions (id),
    UNIQUE (merchant_id, id)
);
CREATE INDEX transactions_merchant_seq_idx ON transactions (merchant_id, seq);

CREATE TABLE entries (
    seq BIGINT PRIMARY KEY,
    transaction_seq BIGINT NOT NULL REFERENCES transactions (seq),
    transaction_id {uuid} NOT NULL REFERENCES transactions (id),
    merchant_id {uuid} NOT NULL,
    account_id {uuid} NOT NULL REFERENCES accounts (id),
    asset TEXT NOT NULL,
    direction TEXT NOT NULL CHECK (direction IN ('debit', 'credit')),
    amount BIGINT NOT NULL CHECK (amount > 0),
    effective_at {ts} NOT NULL,
    UNIQUE (merchant_id, seq)
);
CREATE INDEX entries_account_seq_idx ON entries (account_id, seq);
CREATE INDEX entries_transaction_idx ON entries (transaction_seq);

CREATE TABLE idempotency_keys (
    merchant_id {uuid} NOT NULL,
    key TEXT NOT NULL,
    operation TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    result {json},
    created_at {ts} NOT NULL,
    PRIMARY KEY (merchant_id, key)
);
"#;

/// The platform's own books are owned by the nil-UUID pseudo-merchant.
const PLATFORM_ROW: &str = "INSERT INTO merchants (id, name, external_id, class, created_at) \
     VALUES ({nil}, 'Platform', NULL, 'platform', {now})";

const PG_APPEND_ONLY: &str = r#"
CREATE FUNCTION ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger table % is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER transactions_append_only BEFORE UPDATE OR DELETE ON transactions
    FOR EACH ROW EXECUTE FUNCTION ledger_append_only();
CREATE TRIGGER transactions_no_truncate BEFORE TRUNCATE ON transactions
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only();
CREATE TRIGGER entries_append_only BEFORE UPDATE OR DELETE ON entries
    FOR EACH ROW EXECUTE FUNCTION ledger_append_only();
CREATE TRIGGER entries_no_truncate BEFORE TRUNCATE ON entries
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only();
"#;

const SQLITE_APPEND_ONLY: &str = r#"
CREATE TRIGGER transactions_no_update BEFORE UPDATE ON transactions
BEGIN SELECT RAISE(ABORT, 'ledger table transactions is append-only: UPDATE refused'); END;
CREATE TRIGGER transactions_no_delete BEFORE DELETE ON transactions
BEGIN SELECT RAISE(ABORT, 'ledger table transactions is append-only: DELETE refused'); END;
CREATE TRIGGER entries_no_update BEFORE UPDATE ON entries
BEGIN SELECT RAISE(ABORT, 'ledger table entries is append-only: UPDATE refused'); END;
CREATE TRIGGER entries_no_delete BEFORE DELETE ON entries
BEGIN SELECT RAISE(ABORT, 'ledger table entries is append-only: DELETE refused'); END;
"#;

fn render(backend: DbBackend) -> Result<String, DbErr> {
    let (uuid, ts, json, nil, now) = match backend {
        DbBackend::Postgres => ("UUID", "TIMESTAMPTZ", "JSONB", "'00000000-0000-0000-0000-000000000000'", "now()"),
        // sqlx stores a Uuid as a 16-byte BLOB and a chrono time as RFC 3339 TEXT.
        DbBackend::Sqlite => ("BLOB", "TEXT", "TEXT", "zeroblob(16)", "strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')"),
        other => return Err(DbErr::Migration(format!("unsupported database backend {other:?}"))),
    };
    let schema = SCHEMA.replace("{uuid}", uuid).replace("{ts}", ts).replace("{json}", json);
    let platform = PLATFORM_ROW.replace("{nil}", nil).replace("{now}", now);
    let triggers = if backend == DbBackend::Postgres { PG_APPEND_ONLY } else { SQLITE_APPEND_ONLY };
    Ok(format!("{schema}\n{platform};\n{triggers}"))
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let sql = render(manager.get_database_backend())?;
        manager.get_connection().execute_unprepared(&sql).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for table in TABLES.iter().rev() {
            db.execute_unprepared(&format!("DROP TABLE IF EXISTS {table}")).await?;
        }
        if manager.get_database_backend() == DbBackend::Postgres {
            db.execute_unprepared("DROP FUNCTION IF EXISTS ledger_append_only()").await?;
        }
        Ok(())
    }
}
