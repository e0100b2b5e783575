//! Distribution on Citus (issue 17): runs only where the `citus` extension is
//! installed in the database; on plain PostgreSQL and SQLite it does nothing.
//!
//! Citus (distributed PostgreSQL, <https://docs.citusdata.com>) splits a
//! distributed table into shards by one column and routes a statement that
//! names one value of it to one node. Here that column is `merchant_id`:
//!
//! - **Reference tables** (a full copy on every node, written with two-phase
//!   commit): `assets`, `merchants` and `balance_limit_defaults`. They are
//!   small, read on every write, and referenced by the merchant tables.
//! - **Distributed by `merchant_id`, colocated** (one merchant's rows of every
//!   table on the same node, so a payment is a single-shard transaction):
//!   `merchant_clocks`, `accounts`, `balances`, `balance_limits`,
//!   `transactions`, `entries`, `ledger_events`, `idempotency_keys`,
//!   `payments`, `payouts`, `payout_settings`, `fee_schedules`.
//! - **Local to the coordinator**: access control (`staff_users`,
//!   `staff_sessions`, `api_keys`, `audit_log`), `outbox_relays` and the
//!   monthly rollups. They are not merchant data on the write path.
//!
//! Citus requires every unique key of a distributed table to include its
//! distribution column, and every foreign key between distributed tables to
//! join on it. So, before distributing, this step re-cuts what still lacks
//! the merchant:
//!
//! - `accounts`: primary key `(merchant_id, id)` (was `id`), and a plain index
//!   on `id` for `account(id)`;
//! - `balances`: primary key `(merchant_id, account_id)`, referencing
//!   `accounts (merchant_id, id)`;
//! - `transactions (counterparty_id, counterparty_number)` and the same key
//!   of `ledger_events` become plain indexes: a deal is stored with its
//!   seller, so its buyer-side number lies in the seller's shard. The buyer's
//!   clock row, locked by the deal, still hands out each number once;
//! - `entries.account_id` no longer references `accounts (id)`: a deal's
//!   buyer-side legs sit on the buyer's accounts, in the seller's shard, and
//!   Citus cannot check a key across shards. The write path resolves every
//!   account before it posts, and `verify` checks that each entry's account
//!   exists (`orphan_entries`).
//!
//! Row-level security and the append-only triggers are propagated to the
//! shards (`citus.enable_unsafe_triggers`: the triggers only raise errors, so
//! running them on a shard is safe). The tenant settings the policies read
//! (`ledger.tenant`, set with `SET LOCAL`) reach the workers through
//! `citus.propagate_set_commands = 'local'`, set for this database. Reads
//! that join tables on a column other than `merchant_id` (an entry's account,
//! in `verify` and the reports) run as repartition joins
//! (`citus.enable_repartition_joins`, also set for this database).
//!
//! `down` undistributes the tables (their rows come back to the coordinator)
//! and restores the keys, policies, functions, grants and database settings.
//! The request role keeps its LOGIN: roles are cluster-wide, and other
//! databases of the cluster may be distributed.

use sea_orm_migration::prelude::*;

/// The migration.
#[derive(DeriveMigrationName)]
pub struct Migration;

/// Reference tables, in dependency order.
const REFERENCE: [&str; 3] = ["assets", "merchants", "balance_limit_defaults"];

/// Distributed tables, in foreign-key order (a referenced table first).
const DISTRIBUTED: [&str; 12] = [
    "merchant_clocks",
    "accounts",
    "balances",
    "balance_limits",
    "transactions",
    "entries",
    "ledger_events",
    "idempotency_keys",
    "payments",
    "payouts",
    "payout_settings",
    "fee_schedules",
];

/// The keys Citus needs, re-cut before distributing (on one PostgreSQL node
/// migration 18 cuts the same ones).
pub(crate) const KEYS_UP: &str = r#"
ALTER TABLE balances DROP CONSTRAINT balances_pkey, DROP CONSTRAINT balances_account_id_fkey;
ALTER TABLE entries DROP CONSTRAINT entries_account_id_fkey;
ALTER TABLE accounts DROP CONSTRAINT accounts_pkey, ADD CONSTRAINT accounts_pkey PRIMARY KEY (merchant_id, id);
CREATE INDEX accounts_id_idx ON accounts (id);
ALTER TABLE balances ADD CONSTRAINT balances_pkey PRIMARY KEY (merchant_id, account_id),
    ADD CONSTRAINT balances_account_fkey FOREIGN KEY (merchant_id, account_id) REFERENCES accounts (merchant_id, id);
DROP INDEX transactions_counterparty_number_idx;
CREATE INDEX transactions_counterparty_number_idx ON transactions (counterparty_id, counterparty_number);
DROP INDEX ledger_events_counterparty_number_idx;
CREATE INDEX ledger_events_counterparty_number_idx ON ledger_events (counterparty_id, counterparty_number);
"#;

/// The keys as they were (after `undistribute_table`).
pub(crate) const KEYS_DOWN: &str = r#"
DROP INDEX ledger_events_counterparty_number_idx;
CREATE UNIQUE INDEX ledger_events_counterparty_number_idx ON ledger_events (counterparty_id, counterparty_number)
    WHERE counterparty_id IS NOT NULL;
DROP INDEX transactions_counterparty_number_idx;
CREATE UNIQUE INDEX transactions_counterparty_number_idx ON transactions (counterparty_id, counterparty_number)
    WHERE counterparty_id IS NOT NULL;
ALTER TABLE balances DROP CONSTRAINT balances_account_fkey, DROP CONSTRAINT balances_pkey;
DROP INDEX accounts_id_idx;
ALTER TABLE accounts DROP CONSTRAINT accounts_pkey, ADD CONSTRAINT accounts_pkey PRIMARY KEY (id);
ALTER TABLE balances ADD CONSTRAINT balances_pkey PRIMARY KEY (account_id),
    ADD CONSTRAINT balances_account_id_fkey FOREIGN KEY (account_id) REFERENCES accounts (id);
ALTER TABLE entries ADD CONSTRAINT entries_account_id_fkey FOREIGN KEY (account_id) REFERENCES accounts (id);
"#;

/// The row-level security policies, without subqueries: Citus refuses a
/// policy with a subquery on a distributed table ("Subqueries are not
/// supported in policies on distributed tables").
///
/// - `*_tenant_set`: `IN (SELECT unnest(set))` becomes `= ANY (set)`, the
///   same rows;
/// - `entries_tenant`: the clause that let a deal's buyer see the deal's
///   entries (a subquery on `transactions`) goes. On Citus the buyer reads a
///   deal through its transaction (`counterparty_id`, no subquery) and its
///   balances; the buyer-side entries stay the seller's rows;
/// - `entries_account_visible` (an entry's account must be visible to the
///   writer) goes: the write path resolves every account of a posting, under
///   the same policies, before it writes.
fn policies_up() -> String {
    let mut sql = String::new();
    for (table, column) in crate::m20261201_000009_limit_batch_tenants::TENANT_TABLES {
        sql += &format!(
            "DROP POLICY {table}_tenant_set ON {table};\n\
             CREATE POLICY {table}_tenant_set ON {table} FOR ALL TO ledger_app \
             USING ({column} = ANY (ledger_tenant_set()));\n"
        );
    }
    sql += "DROP POLICY entries_account_visible ON entries;\n";
    sql + &entries_tenant_policy("")
}

/// `entries_tenant` again, with `extra` OR-ed to who may see a row.
fn entries_tenant_policy(extra: &str) -> String {
    format!(
        "DROP POLICY entries_tenant ON entries;\n\
         CREATE POLICY entries_tenant ON entries FOR ALL TO ledger_app USING (\
         ledger_sees_all() OR merchant_id = ledger_tenant() \
         OR (merchant_id = '00000000-0000-0000-0000-000000000000'::uuid AND ledger_sees_platform()){extra});\n"
    )
}

/// The policies as migrations 3 and 9 made them.
fn policies_down() -> String {
    let mut sql = String::new();
    for (table, column) in crate::m20261201_000009_limit_batch_tenants::TENANT_TABLES {
        sql += &format!("DROP POLICY {table}_tenant_set ON {table};\n");
        sql += &crate::m20261201_000009_limit_batch_tenants::set_policy(table, column);
    }
    sql += &entries_tenant_policy(
        " OR EXISTS (SELECT 1 FROM transactions t WHERE t.seq = entries.transaction_seq \
         AND t.counterparty_id = ledger_tenant())",
    );
    sql + "CREATE POLICY entries_account_visible ON entries AS RESTRICTIVE FOR INSERT TO ledger_app \
           WITH CHECK (EXISTS (SELECT 1 FROM accounts a WHERE a.id = entries.account_id));\n"
}

/// The SECURITY DEFINER functions over merchant tables, in PL/pgSQL: Citus
/// cannot plan a SQL-language function's statement that reads a distributed
/// table with the function's parameters ("could not create distributed
/// plan … use of parameters in SQL functions"). Same results.
const FUNCTIONS_UP: &str = r#"
CREATE OR REPLACE FUNCTION ledger_accounts_exist(ids uuid[]) RETURNS SETOF uuid
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public
    AS $$ BEGIN RETURN QUERY SELECT a.id FROM accounts a WHERE a.id = ANY (ids); END $$;
CREATE OR REPLACE FUNCTION ledger_balance_totals(only_asset text, platform_only boolean)
RETURNS TABLE (code text, asset text, platform boolean, accounts bigint,
               dp bigint, cp bigint, dq bigint, cq bigint)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY SELECT b.code, b.asset, b.platform, COUNT(*),
           CAST(SUM(b.debits_posted) AS BIGINT), CAST(SUM(b.credits_posted) AS BIGINT),
           CAST(SUM(b.debits_pending) AS BIGINT), CAST(SUM(b.credits_pending) AS BIGINT)
    FROM balances b
    WHERE coalesce(current_setting('ledger.tenant', true), '') = '*'
      AND (only_asset IS NULL OR b.asset = only_asset)
      AND (b.platform OR NOT platform_only)
    GROUP BY b.code, b.asset, b.platform;
END $$;
"#;

/// The functions as migrations 9 and 13 made them (13's text is reused).
fn functions_down() -> String {
    String::from(
        "CREATE OR REPLACE FUNCTION ledger_accounts_exist(ids uuid[]) RETURNS SETOF uuid \
             LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public \
             AS $$ SELECT id FROM accounts WHERE id = ANY (ids) $$;\n\
         DROP FUNCTION ledger_balance_totals(text, boolean);\n",
    ) + crate::m20261204_000013_balance_totals::UP
}

/// The whole distribution step, as one SQL string.
fn up_sql() -> String {
    // Sequential mode: a transaction that writes reference tables and then
    // distributes others must not open parallel connections per shard.
    // This transaction's own settings stay on the coordinator: a connection
    // opened after an earlier `up` (down, then up again) has the database's
    // `propagate_set_commands = 'local'`, and Citus's commands refuse to run
    // on a worker.
    let mut sql = String::from(
        "SET LOCAL citus.propagate_set_commands TO 'none';\n\
         SET LOCAL citus.multi_shard_modify_mode TO 'sequential';\n\
         SET LOCAL citus.enable_unsafe_triggers TO on;\n\
         DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET citus.propagate_set_commands TO %L', \
         current_database(), 'local'); \
         EXECUTE format('ALTER DATABASE %I SET citus.enable_unsafe_triggers TO on', current_database()); \
         EXECUTE format('ALTER DATABASE %I SET citus.enable_repartition_joins TO on', current_database()); END $$;\n",
    );
    // Citus runs a statement's shard queries over its own connections to the
    // workers, logged in as the current role: the request role must be able
    // to log in there. It has no password; a cluster that does not trust
    // its coordinator's connections gives it one in `pg_dist_authinfo`.
    // A write to a reference table (a new asset) first locks its placements
    // with Citus's `lock_shard_resources`, which wants UPDATE on the table;
    // the request role could only SELECT and INSERT assets.
    sql += "GRANT UPDATE ON assets TO ledger_app;\n";
    sql += "DO $$ BEGIN IF NOT (SELECT rolcanlogin FROM pg_roles WHERE rolname = 'ledger_app') THEN \
            ALTER ROLE ledger_app LOGIN; END IF; END $$;\n";
    sql += KEYS_UP;
    sql += &policies_up();
    sql += FUNCTIONS_UP;
    // Citus distributes a table only when no local table references it, so
    // the foreign keys among these tables are set aside and added again
    // afterwards, when Citus checks each one (colocated, or to a reference table).
    let mut tables: Vec<&str> = REFERENCE.iter().chain(DISTRIBUTED.iter()).copied().collect();
    tables.push("api_keys");
    let list = tables.iter().map(|t| format!("'{t}'")).collect::<Vec<_>>().join(", ");
    sql += &format!(
        "CREATE TEMP TABLE ledger_citus_fks ON COMMIT DROP AS \
         SELECT conrelid::regclass::text AS tbl, conname, pg_get_constraintdef(oid) AS def FROM pg_constraint \
         WHERE contype = 'f' AND conrelid::regclass::text IN ({list});\n\
         DO $$ DECLARE r record; BEGIN FOR r IN SELECT * FROM ledger_citus_fks LOOP \
         EXECUTE format('ALTER TABLE %I DROP CONSTRAINT %I', r.tbl, r.conname); END LOOP; END $$;\n"
    );
    for table in REFERENCE {
        sql += &format!("SELECT create_reference_table('{table}');\n");
    }
    // The first distributed table starts a colocation group; the others join it.
    for (i, table) in DISTRIBUTED.iter().enumerate() {
        let group = if i == 0 { "none" } else { DISTRIBUTED[0] };
        sql += &format!("SELECT create_distributed_table('{table}', 'merchant_id', colocate_with => '{group}');\n");
    }
    sql += "DO $$ DECLARE r record; BEGIN FOR r IN SELECT * FROM ledger_citus_fks LOOP \
            EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I %s', r.tbl, r.conname, r.def); END LOOP; END $$;\n";
    sql
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if crate::citus_installed(manager.get_connection()).await? {
            crate::on_postgres(manager, &up_sql()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if crate::citus_installed(manager.get_connection()).await? {
            // One undistribute with the cascade brings back every table its
            // foreign keys reach (here all of them, through `merchants`), so
            // each table is undistributed only if it still is. No `SET LOCAL`
            // here but the one that keeps this transaction's settings off
            // the workers, where Citus's own commands refuse to run.
            let tables: Vec<String> =
                DISTRIBUTED.iter().rev().chain(REFERENCE.iter().rev()).map(|t| format!("'{t}'")).collect();
            let mut sql = format!(
                "SET LOCAL citus.propagate_set_commands TO 'none';\n\
                 DO $$ DECLARE t text; BEGIN FOREACH t IN ARRAY ARRAY[{}] LOOP \
                 IF EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = t::regclass) THEN \
                 PERFORM undistribute_table(t, cascade_via_foreign_keys => true); END IF; END LOOP; \
                 FOREACH t IN ARRAY ARRAY['citus.propagate_set_commands', 'citus.enable_unsafe_triggers', \
                 'citus.enable_repartition_joins'] LOOP \
                 EXECUTE format('ALTER DATABASE %I RESET %s', current_database(), t); END LOOP; END $$;\n\
                 REVOKE UPDATE ON assets FROM ledger_app;\n",
                tables.join(", ")
            );
            sql += KEYS_DOWN;
            sql += &policies_down();
            sql += &functions_down();
            crate::on_postgres(manager, &sql).await?;
        }
        Ok(())
    }
}
