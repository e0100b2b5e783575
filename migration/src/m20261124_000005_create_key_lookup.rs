//! A lookup of an API key by its public prefix that the request role may run
//! without naming a tenant (PostgreSQL only).
//!
//! Authentication happens before the caller's merchant is known, yet
//! `api_keys` is under row-level security. Without this function every
//! authenticated request opened a transaction only to set the all-rows tenant
//! around one lookup (four round trips). `ledger_api_key_by_prefix` runs as its
//! owner (`SECURITY DEFINER`, with a fixed `search_path`), returns only the row
//! with that exact prefix, and only `ledger_app` may execute it: one statement,
//! no transaction. SQLite has no row-level security and needs nothing.

use sea_orm_migration::prelude::*;

/// The migration.
#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
CREATE FUNCTION ledger_api_key_by_prefix(p TEXT) RETURNS SETOF api_keys
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public
    AS $$ SELECT * FROM api_keys WHERE prefix = p $$;
REVOKE ALL ON FUNCTION ledger_api_key_by_prefix(TEXT) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ledger_api_key_by_prefix(TEXT) TO ledger_app;
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::on_postgres(manager, UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::on_postgres(manager, "DROP FUNCTION IF EXISTS ledger_api_key_by_prefix(TEXT)").await
    }
}
