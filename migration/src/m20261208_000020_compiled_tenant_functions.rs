//! The tenant functions of row-level security in PL/pgSQL, on one
//! PostgreSQL node (issue 18).
//!
//! `ledger_tenant()` and `ledger_tenant_set()` were SQL functions whose body
//! reads the setting through a `FROM (SELECT current_setting(…))` subquery, so
//! PostgreSQL cannot inline them and runs them through `fmgr_sql`, which
//! parses and plans the body again in every statement that calls them (its
//! cache lives as long as one statement). A `perf` profile of the balance-read
//! benchmark put **15% of all CPU** there: each read's statements call them
//! in their policies, and the planner calls them once more to estimate
//! selectivity.
//!
//! PL/pgSQL compiles a function once per session and evaluates its simple
//! expressions without a plan, so the same function costs a call. The plans
//! do not change: the functions stay opaque `STABLE` calls, as before. (Making
//! them inlinable instead was tried as migration 20 in `143edf9` and reverted:
//! writes measured slower in the one pair run.) The results are the same: NULL
//! for an unset, empty or `*` tenant, else the UUID; NULL for an unset or
//! empty tenant set, else the UUID array.
//!
//! Citus keeps the functions migration 17 distributed; SQLite has none.
//! `down` restores the SQL form.

use sea_orm_migration::prelude::*;

const UP: &str = r#"
CREATE OR REPLACE FUNCTION ledger_tenant() RETURNS uuid LANGUAGE plpgsql STABLE AS $$
DECLARE
    s text := current_setting('ledger.tenant', true);
BEGIN
    IF s IS NULL OR s = '' OR s = '*' THEN
        RETURN NULL;
    END IF;
    RETURN s::uuid;
END
$$;
CREATE OR REPLACE FUNCTION ledger_tenant_set() RETURNS uuid[] LANGUAGE plpgsql STABLE AS $$
DECLARE
    s text := current_setting('ledger.tenants', true);
BEGIN
    IF s IS NULL OR s = '' THEN
        RETURN NULL;
    END IF;
    RETURN s::uuid[];
END
$$;
"#;

const DOWN: &str = r#"
CREATE OR REPLACE FUNCTION ledger_tenant() RETURNS uuid LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN s IS NULL OR s = '' OR s = '*' THEN NULL ELSE s::uuid END
    FROM (SELECT current_setting('ledger.tenant', true) AS s) AS t
$$;
CREATE OR REPLACE FUNCTION ledger_tenant_set() RETURNS uuid[] LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN s IS NULL OR s = '' THEN NULL ELSE s::uuid[] END
    FROM (SELECT current_setting('ledger.tenants', true) AS s) AS t
$$;
"#;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::on_one_postgres_node(manager, UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::on_one_postgres_node(manager, DOWN).await
    }
}
