//! Adds who-may-do-what: staff users and their sessions, merchant API keys, the
//! append-only audit log, the actor of every transaction, and (PostgreSQL only)
//! the application role `ledger_app` with row-level security on every table
//! that has a `merchant_id`.
//!
//! Why row-level security: the application already scopes every query to the
//! caller's merchant, but one forgotten `WHERE` would leak another tenant's rows.
//! With RLS the database itself hides them. The server's pool acts as
//! `ledger_app`, which owns no table (an owner would bypass the policies), and
//! every database transaction names its tenant in the transaction-local setting
//! `ledger.tenant` (a merchant id, or `*` for staff and the server's own jobs).
//! A merchant's write also sets `ledger.platform_rows = on`, because every payment
//! posts to the platform's own accounts; its reads do not.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

/// The migration.
#[derive(DeriveMigrationName)]
pub struct Migration;

/// The role the server's pool acts as. Kept in step with `store::APP_ROLE`.
const APP_ROLE: &str = "ledger_app";

/// Tables with a `merchant_id` column under row-level security, and the column
/// that names the owning merchant (`merchants` is owned by itself).
const TENANT_TABLES: [(&str, &str); 12] = [
    ("merchants", "id"),
    ("accounts", "merchant_id"),
    ("balances", "merchant_id"),
    ("transactions", "merchant_id"),
    ("entries", "merchant_id"),
    ("idempotency_keys", "merchant_id"),
    ("payments", "merchant_id"),
    ("payouts", "merchant_id"),
    ("fee_schedules", "merchant_id"),
    ("payout_settings", "merchant_id"),
    ("api_keys", "merchant_id"),
    ("audit_log", "merchant_id"),
];

const UP: &str = r#"
CREATE TABLE staff_users (
    id {uuid} PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('viewer', 'support', 'admin')),
    created_at {ts} NOT NULL
);

CREATE TABLE staff_sessions (
    id {uuid} PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    staff_id {uuid} NOT NULL REFERENCES staff_users (id),
    created_at {ts} NOT NULL,
    expires_at {ts} NOT NULL,
    revoked_at {ts}
);

CREATE TABLE api_keys (
    id {uuid} PRIMARY KEY,
    merchant_id {uuid} NOT NULL REFERENCES merchants (id),
    prefix TEXT NOT NULL UNIQUE,
    key_hash TEXT NOT NULL,
    name TEXT,
    created_by TEXT NOT NULL,
    created_at {ts} NOT NULL,
    revoked_at {ts},
    UNIQUE (merchant_id, id)
);

CREATE TABLE audit_log (
    seq {serial},
    at {ts} NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target_type TEXT NOT NULL,
    target_id TEXT,
    merchant_id {uuid},
    reason TEXT,
    result TEXT NOT NULL,
    request_id TEXT
);
CREATE INDEX audit_log_actor_idx ON audit_log (actor, seq);
CREATE INDEX audit_log_target_idx ON audit_log (target_id, seq);
CREATE INDEX audit_log_merchant_idx ON audit_log (merchant_id, seq);

ALTER TABLE transactions ADD COLUMN actor TEXT NOT NULL DEFAULT 'unrecorded';
ALTER TABLE transactions ADD COLUMN request_id TEXT;
ALTER TABLE transactions ADD COLUMN idempotency_key TEXT;
"#;

const PG_AUDIT_APPEND_ONLY: &str = r#"
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION ledger_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only();
"#;

const SQLITE_AUDIT_APPEND_ONLY: &str = r#"
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'ledger table audit_log is append-only: UPDATE refused'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'ledger table audit_log is append-only: DELETE refused'); END;
"#;

/// The role, its privileges and the tenant functions. The role is cluster-wide,
/// so creating it tolerates another database (or a concurrent migration) having
/// made it first. It may read and append everywhere, update only the mutable
/// projections, and never update or delete the journal or the audit log.
const PG_ROLE: &str = r#"
DO $$ BEGIN
    CREATE ROLE ledger_app NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END $$;
DO $$ BEGIN
    EXECUTE format('GRANT ledger_app TO %I', current_user);
EXCEPTION WHEN duplicate_object OR unique_violation OR invalid_grant_operation THEN NULL;
END $$;
GRANT USAGE ON SCHEMA public TO ledger_app;
GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA public TO ledger_app;
REVOKE ALL ON seaql_migrations FROM ledger_app;
REVOKE UPDATE ON transactions, entries, audit_log, assets FROM ledger_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO ledger_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE ON TABLES TO ledger_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO ledger_app;

CREATE FUNCTION ledger_tenant() RETURNS uuid LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN s IS NULL OR s = '' OR s = '*' THEN NULL ELSE s::uuid END
    FROM (SELECT current_setting('ledger.tenant', true) AS s) AS t
$$;
CREATE FUNCTION ledger_sees_all() RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT coalesce(current_setting('ledger.tenant', true), '') = '*'
$$;
CREATE FUNCTION ledger_sees_platform() RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT coalesce(current_setting('ledger.platform_rows', true), '') = 'on'
$$;
"#;

/// The policy of one table: its own tenant's rows, everything for `*`, and the
/// platform's rows (nil UUID) when the write path asks for them.
fn policy(table: &str, column: &str) -> String {
    let extra = match table {
        // Both merchants of a deal see it.
        "transactions" => " OR counterparty_id = ledger_tenant()".to_owned(),
        // The buyer of a deal sees the deal's entries on its own accounts.
        "entries" => " OR EXISTS (SELECT 1 FROM transactions t WHERE t.seq = entries.transaction_seq \
                       AND t.counterparty_id = ledger_tenant())"
            .to_owned(),
        _ => String::new(),
    };
    format!(
        "ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;\n\
         CREATE POLICY {table}_tenant ON {table} FOR ALL TO {APP_ROLE} USING (\
         ledger_sees_all() OR {column} = ledger_tenant() \
         OR ({column} = '00000000-0000-0000-0000-000000000000'::uuid AND ledger_sees_platform()){extra});\n"
    )
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        let (uuid, ts, serial, append_only) = match backend {
            DbBackend::Postgres => ("UUID", "TIMESTAMPTZ", "BIGSERIAL PRIMARY KEY", PG_AUDIT_APPEND_ONLY),
            DbBackend::Sqlite => ("BLOB", "TEXT", "INTEGER PRIMARY KEY AUTOINCREMENT", SQLITE_AUDIT_APPEND_ONLY),
            other => return Err(DbErr::Migration(format!("unsupported database backend {other:?}"))),
        };
        let db = manager.get_connection();
        let sql = UP.replace("{uuid}", uuid).replace("{ts}", ts).replace("{serial}", serial);
        db.execute_unprepared(&sql).await?;
        db.execute_unprepared(append_only).await?;
        if backend == DbBackend::Postgres {
            db.execute_unprepared(PG_ROLE).await?;
            let policies: String = TENANT_TABLES.iter().map(|(t, c)| policy(t, c)).collect();
            db.execute_unprepared(&policies).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if manager.get_database_backend() == DbBackend::Postgres {
            for (table, _) in TENANT_TABLES {
                db.execute_unprepared(&format!(
                    "DROP POLICY IF EXISTS {table}_tenant ON {table}; ALTER TABLE {table} DISABLE ROW LEVEL SECURITY"
                ))
                .await?;
            }
            db.execute_unprepared(
                "DROP FUNCTION IF EXISTS ledger_tenant(); DROP FUNCTION IF EXISTS ledger_sees_all(); \
                 DROP FUNCTION IF EXISTS ledger_sees_platform(); \
                 ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON TABLES FROM ledger_app; \
                 ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON SEQUENCES FROM ledger_app; \
                 REVOKE ALL ON ALL TABLES IN SCHEMA public FROM ledger_app; \
                 REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM ledger_app; \
                 REVOKE USAGE ON SCHEMA public FROM ledger_app",
            )
            .await?;
            // The role is cluster-wide and may serve other databases: it stays.
        }
        for table in ["audit_log", "api_keys", "staff_sessions", "staff_users"] {
            db.execute_unprepared(&format!("DROP TABLE IF EXISTS {table}")).await?;
        }
        // DROP COLUMN is not an UPDATE, so the append-only triggers allow it.
        for column in ["idempotency_key", "request_id", "actor"] {
            db.execute_unprepared(&format!("ALTER TABLE transactions DROP COLUMN {column}")).await?;
        }
        Ok(())
    }
}
