//! `ledger_balance_totals`: the sums behind `platformBalances` and
//! `trialBalance`, computed by the tables' owner for a caller that sees every
//! merchant (PostgreSQL only; issue 17).
//!
//! Both are one scan of `balances` (migration `m20261202_000011`). Run as
//! the request role, every one of the 300,000 rows of 100,000 merchants also
//! passes the row-level security policies, which are not parallel safe, so the
//! scan runs on one core: 111 ms for the platform's two codes on the two-core
//! test machine, 140 to 260 ms through the API. Run by the owner, who is not
//! subject to those policies, the same sums take two parallel workers and
//! about 70 ms. The function returns rows only when the caller's tenant
//! setting is `*` (staff, who see every row anyway): it widens nobody's view,
//! it only skips re-checking rows that would all pass.

use sea_orm_migration::prelude::*;

/// The migration.
#[derive(DeriveMigrationName)]
pub struct Migration;

pub(crate) const UP: &str = r#"
CREATE FUNCTION ledger_balance_totals(only_asset text, platform_only boolean)
RETURNS TABLE (code text, asset text, platform boolean, accounts bigint,
               dp bigint, cp bigint, dq bigint, cq bigint)
LANGUAGE sql STABLE PARALLEL SAFE SECURITY DEFINER SET search_path = public AS $$
    SELECT b.code, b.asset, b.platform, COUNT(*),
           CAST(SUM(b.debits_posted) AS BIGINT), CAST(SUM(b.credits_posted) AS BIGINT),
           CAST(SUM(b.debits_pending) AS BIGINT), CAST(SUM(b.credits_pending) AS BIGINT)
    FROM balances b
    WHERE coalesce(current_setting('ledger.tenant', true), '') = '*'
      AND (only_asset IS NULL OR b.asset = only_asset)
      AND (b.platform OR NOT platform_only)
    GROUP BY b.code, b.asset, b.platform
$$;
REVOKE ALL ON FUNCTION ledger_balance_totals(text, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ledger_balance_totals(text, boolean) TO ledger_app;
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::on_postgres(manager, UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::on_postgres(manager, "DROP FUNCTION IF EXISTS ledger_balance_totals(text, boolean)").await
    }
}
