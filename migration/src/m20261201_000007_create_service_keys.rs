//! Adds service keys: API keys of the platform's own services (the card
//! processing service, the bank service), each limited to a set of scopes.
//!
//! A service key lives in `api_keys` with the platform's nil-UUID merchant,
//! so that authentication finds every key the same way (by its prefix, through
//! `ledger_api_key_by_prefix`) and rotation and revocation work on both kinds.
//! Two columns say it is one: `service`, the service's name, and `scopes`, its
//! scope names sorted and separated by spaces (`payments:write payouts:write`;
//! plain text so SQLite stores it the same way). Both are null for a merchant
//! key. On PostgreSQL a check keeps the two together and keeps service keys on
//! the platform's row.
//!
//! `ledger_api_key_by_prefix` returns `SETOF api_keys`, whose row type gains
//! the two columns; it is recreated (same body) so that its definition is
//! plainly the one in force after this migration, and again on `down`.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

/// The migration.
#[derive(DeriveMigrationName)]
pub struct Migration;

const ADD_COLUMNS: &str = r#"
ALTER TABLE api_keys ADD COLUMN service TEXT;
ALTER TABLE api_keys ADD COLUMN scopes TEXT;
"#;

const PG_CHECK: &str = r#"
ALTER TABLE api_keys ADD CONSTRAINT api_keys_service_shape CHECK (
    (service IS NULL) = (scopes IS NULL)
    AND (service IS NULL OR (merchant_id = '00000000-0000-0000-0000-000000000000'::uuid AND scopes <> ''))
);
"#;

/// The lookup function, as `create_key_lookup` made it; run after each change
/// of the row type.
const PG_LOOKUP: &str = r#"
CREATE OR REPLACE FUNCTION ledger_api_key_by_prefix(p TEXT) RETURNS SETOF api_keys
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public
    AS $$ SELECT * FROM api_keys WHERE prefix = p $$;
REVOKE ALL ON FUNCTION ledger_api_key_by_prefix(TEXT) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ledger_api_key_by_prefix(TEXT) TO ledger_app;
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared(ADD_COLUMNS).await?;
        if manager.get_database_backend() == DbBackend::Postgres {
            db.execute_unprepared(PG_CHECK).await?;
            db.execute_unprepared(PG_LOOKUP).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let postgres = manager.get_database_backend() == DbBackend::Postgres;
        // Service keys act for the platform and would, without their scopes,
        // read as merchant keys of the platform: they go with the columns.
        db.execute_unprepared("DELETE FROM api_keys WHERE service IS NOT NULL").await?;
        if postgres {
            db.execute_unprepared("ALTER TABLE api_keys DROP CONSTRAINT IF EXISTS api_keys_service_shape").await?;
        }
        for column in ["scopes", "service"] {
            db.execute_unprepared(&format!("ALTER TABLE api_keys DROP COLUMN {column}")).await?;
        }
        if postgres {
            db.execute_unprepared(PG_LOOKUP).await?;
        }
        Ok(())
    }
}
