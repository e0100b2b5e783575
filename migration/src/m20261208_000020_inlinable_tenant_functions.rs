//! The tenant functions of row-level security, written so PostgreSQL inlines
//! them (issue 18), on one PostgreSQL node.
//!
//! `ledger_tenant()` and `ledger_tenant_set()` read their setting through a
//! `FROM (SELECT current_setting(…))` subquery, and PostgreSQL inlines a
//! scalar SQL function only when its body is a single expression without
//! `FROM`. So every policy check of every row called them as SQL functions:
//! 4% of all CPU during the uniform benchmark went to `fmgr_sql` under
//! `ExecWithCheckOptions` (the batch's inserts, which run with a tenant set,
//! where `ledger_sees_all()` is false and the next clause is tried). The
//! bodies below are single expressions with the same results: NULL for an
//! unset, empty or `*` tenant, else the UUID; NULL for an unset or empty
//! tenant set, else the UUID array.
//!
//! Citus keeps the functions migration 17 distributed; SQLite has none.
//! `down` restores the subquery form.

use sea_orm_migration::prelude::*;

const UP: &str = r#"
CREATE OR REPLACE FUNCTION ledger_tenant() RETURNS uuid LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN coalesce(current_setting('ledger.tenant', true), '') IN ('', '*') THEN NULL
                ELSE current_setting('ledger.tenant', true)::uuid END
$$;
CREATE OR REPLACE FUNCTION ledger_tenant_set() RETURNS uuid[] LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN coalesce(current_setting('ledger.tenants', true), '') = '' THEN NULL
                ELSE current_setting('ledger.tenants', true)::uuid[] END
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
        if !crate::citus_installed(manager.get_connection()).await? {
            crate::on_postgres(manager, UP).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if !crate::citus_installed(manager.get_connection()).await? {
            crate::on_postgres(manager, DOWN).await?;
        }
        Ok(())
    }
}
