//! Schema migrations for the Ledger database.
//!
//! PostgreSQL is the reference database; SQLite is the embedded default. One
//! migration serves both: the DDL is written once with a few type placeholders
//! (`{uuid}`, `{ts}`, `{json}`) that each backend fills in, and the append-only
//! triggers are written in each backend's own dialect.
//!
//! Naming: `mYYYYMMDD_NNNNNN_verb_noun`. Every migration has a real `down`.

pub use sea_orm_migration::prelude::*;

mod m20261122_000001_create_ledger;
mod m20261122_000002_create_payments;
mod m20261123_000003_create_access_control;
mod m20261124_000004_create_outbox;
mod m20261124_000005_create_key_lookup;
mod m20261124_000006_create_rollups;
mod m20261201_000007_create_service_keys;
mod m20261201_000008_create_balance_limits;
mod m20261201_000009_limit_batch_tenants;
mod m20261202_000010_platform_subledgers;
mod m20261202_000011_balances_carry_code;
mod m20261203_000012_merchant_clocks;
mod m20261204_000013_balance_totals;
mod m20261205_000014_payments_keyed_by_merchant;
mod m20261205_000015_reversals_keyed_by_merchant;
mod m20261205_000016_journal_rows_keyed_by_merchant;
mod m20261206_000017_distribute_on_citus;
mod m20261207_000018_keys_carry_the_merchant;
mod m20261208_000019_set_based_entry_checks;
mod m20261208_000020_compiled_tenant_functions;
mod m20261209_000021_transaction_search_indexes;
mod m20261210_000022_transaction_time_indexes;
mod m20261210_000023_account_history_index;
mod m20261211_000024_create_bank_reconciliation;
mod m20261212_000025_bank_settlements;
mod m20261213_000026_hash_chains;

/// Runs `sql` (one or more statements) on PostgreSQL and does nothing on
/// SQLite: for the migrations whose objects only PostgreSQL has (functions
/// with `SECURITY DEFINER`, keys re-cut for distribution by merchant).
/// Errors: the database's, as `DbErr`.
async fn on_postgres(manager: &SchemaManager<'_>, sql: &str) -> Result<(), DbErr> {
    use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};
    if manager.get_database_backend() == DbBackend::Postgres {
        manager.get_connection().execute_unprepared(sql).await?;
    }
    Ok(())
}

/// Runs `sql` on a single PostgreSQL node only: nothing on SQLite, and
/// nothing on a Citus coordinator, where migration 17 shaped the objects
/// for distribution (migrations 18 to 20). Errors: the database's.
async fn on_one_postgres_node(manager: &SchemaManager<'_>, sql: &str) -> Result<(), DbErr> {
    if !citus_installed(manager.get_connection()).await? {
        on_postgres(manager, sql).await?;
    }
    Ok(())
}

/// Whether `db` is a Citus coordinator: PostgreSQL with the `citus` extension
/// installed (false on SQLite). Migration 17 distributes the books there, and
/// the server and the tests ask the same question. Errors: the database's.
pub async fn citus_installed(db: &impl sea_orm_migration::sea_orm::ConnectionTrait) -> Result<bool, DbErr> {
    use sea_orm_migration::sea_orm::{DbBackend, Statement};
    if db.get_database_backend() != DbBackend::Postgres {
        return Ok(false);
    }
    let row = db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT count(*) AS n FROM pg_extension WHERE extname = 'citus'",
        ))
        .await?;
    Ok(row.map(|r| r.try_get::<i64>("", "n")).transpose()?.unwrap_or(0) > 0)
}

/// The ordered list of migrations, applied by the server at start-up and by the
/// `migration` CLI.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261122_000001_create_ledger::Migration),
            Box::new(m20261122_000002_create_payments::Migration),
            Box::new(m20261123_000003_create_access_control::Migration),
            Box::new(m20261124_000004_create_outbox::Migration),
            Box::new(m20261124_000005_create_key_lookup::Migration),
            Box::new(m20261124_000006_create_rollups::Migration),
            Box::new(m20261201_000007_create_service_keys::Migration),
            Box::new(m20261201_000008_create_balance_limits::Migration),
            Box::new(m20261201_000009_limit_batch_tenants::Migration),
            Box::new(m20261202_000010_platform_subledgers::Migration),
            Box::new(m20261202_000011_balances_carry_code::Migration),
            Box::new(m20261203_000012_merchant_clocks::Migration),
            Box::new(m20261204_000013_balance_totals::Migration),
            Box::new(m20261205_000014_payments_keyed_by_merchant::Migration),
            Box::new(m20261205_000015_reversals_keyed_by_merchant::Migration),
            Box::new(m20261205_000016_journal_rows_keyed_by_merchant::Migration),
            Box::new(m20261206_000017_distribute_on_citus::Migration),
            Box::new(m20261207_000018_keys_carry_the_merchant::Migration),
            Box::new(m20261208_000019_set_based_entry_checks::Migration),
            Box::new(m20261208_000020_compiled_tenant_functions::Migration),
            Box::new(m20261209_000021_transaction_search_indexes::Migration),
            Box::new(m20261210_000022_transaction_time_indexes::Migration),
            Box::new(m20261210_000023_account_history_index::Migration),
            Box::new(m20261211_000024_create_bank_reconciliation::Migration),
            Box::new(m20261212_000025_bank_settlements::Migration),
            Box::new(m20261213_000026_hash_chains::Migration),
        ]
    }
}
