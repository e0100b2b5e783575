//! Row-level security for batched writes (PostgreSQL only).
//!
//! A batch of the group committer or of `postTransactions` acts for several
//! merchants in one database transaction. Until now it ran as the all-rows
//! tenant (`ledger.tenant = '*'`), so row-level security guarded none of those
//! writes and only the application's own checks stood between one merchant's
//! request and another merchant's rows. This migration lets a transaction name
//! a **set** of merchants instead:
//!
//! - `ledger.tenants`, a transaction-local setting holding a PostgreSQL array
//!   literal of merchant ids (`{…,…}`), read by `ledger_tenant_set()`;
//! - one more permissive policy per tenant table, `<table>_tenant_set`, that
//!   shows (and lets the transaction write) rows whose merchant is in the set.
//!   Permissive policies are OR'ed, so the existing `<table>_tenant` policies
//!   (one tenant, `*`, the platform's rows) are unchanged. The set is read in an
//!   uncorrelated sub-select, which PostgreSQL evaluates once per statement: an
//!   array cast per row costs about 250 µs for 256 merchants, the sub-select
//!   as little as a plain comparison (measured with `psql` on 100,000 rows);
//! - a restrictive policy on `entries` for `INSERT`: an entry may only be
//!   written on an account the transaction can see. Without it, an entry that
//!   names another merchant's account inside this merchant's transaction would
//!   pass the `entries` policy (an entry's `merchant_id` is its transaction's)
//!   and the foreign key (which ignores row-level security);
//! - `ledger_accounts_exist(ids)`, which tells the batched path which account
//!   ids exist outside its set (`SECURITY DEFINER`, ids only), so that staff
//!   still hear `ACCOUNT_OF_ANOTHER_MERCHANT` rather than "no such account".

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

/// The migration.
#[derive(DeriveMigrationName)]
pub struct Migration;

/// Tables under row-level security and the column naming their merchant (as in
/// `m20261123_000003_create_access_control`, `m20261124_000004_create_outbox`
/// and `m20261201_000008_create_balance_limits`).
pub(crate) const TENANT_TABLES: [(&str, &str); 14] = [
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
    ("ledger_events", "merchant_id"),
    ("balance_limits", "merchant_id"),
];

const FUNCTIONS: &str = r#"
CREATE FUNCTION ledger_tenant_set() RETURNS uuid[] LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN s IS NULL OR s = '' THEN NULL ELSE s::uuid[] END
    FROM (SELECT current_setting('ledger.tenants', true) AS s) AS t
$$;
CREATE FUNCTION ledger_accounts_exist(ids uuid[]) RETURNS SETOF uuid
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public
    AS $$ SELECT id FROM accounts WHERE id = ANY (ids) $$;
REVOKE ALL ON FUNCTION ledger_accounts_exist(uuid[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ledger_accounts_exist(uuid[]) TO ledger_app;
CREATE POLICY entries_account_visible ON entries AS RESTRICTIVE FOR INSERT TO ledger_app
    WITH CHECK (EXISTS (SELECT 1 FROM accounts a WHERE a.id = entries.account_id));
"#;

/// The set policy of one table.
pub(crate) fn set_policy(table: &str, column: &str) -> String {
    format!(
        "CREATE POLICY {table}_tenant_set ON {table} FOR ALL TO ledger_app \
         USING ({column} IN (SELECT unnest(ledger_tenant_set())));\n"
    )
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            // SQLite has no row-level security; see the README's "Row-level security".
            return Ok(());
        }
        let db = manager.get_connection();
        let policies: String = TENANT_TABLES.iter().map(|(t, c)| set_policy(t, c)).collect();
        db.execute_unprepared(&format!("{FUNCTIONS}{policies}")).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        let mut sql: String =
            TENANT_TABLES.iter().map(|(t, _)| format!("DROP POLICY IF EXISTS {t}_tenant_set ON {t};\n")).collect();
        sql.push_str("DROP POLICY IF EXISTS entries_account_visible ON entries;\n");
        sql.push_str("DROP FUNCTION IF EXISTS ledger_tenant_set();\n");
        sql.push_str("DROP FUNCTION IF EXISTS ledger_accounts_exist(uuid[]);\n");
        db.execute_unprepared(&sql).await?;
        Ok(())
    }
}
