//! Monthly rollups: each closed month computed once and kept.
//!
//! `rollup_months` says which months are closed and the ledger sequence each
//! was computed through; `rollup_lines` holds the sums per class and asset,
//! one `month` line and, for postings backdated into months already closed,
//! one `adjustment` line; `rollup_rates` holds the month's deal conversion
//! rates per asset pair (decimal strings). All three are append-only: a
//! closed month is never recomputed (see `server/src/domain/rollup.rs`).
//! Amounts are minor units of the line's asset.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

/// The migration.
#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
CREATE TABLE rollup_months (
    month TEXT PRIMARY KEY CHECK (length(month) = 7),
    through_seq BIGINT NOT NULL CHECK (through_seq >= 0),
    computed_at {ts} NOT NULL
);
CREATE TABLE rollup_lines (
    month TEXT NOT NULL REFERENCES rollup_months (month),
    line TEXT NOT NULL CHECK (line IN ('month', 'adjustment')),
    class TEXT NOT NULL,
    asset TEXT NOT NULL,
    captured_count BIGINT NOT NULL,
    captured_minor BIGINT NOT NULL,
    authorizations_ended BIGINT NOT NULL,
    authorizations_accepted BIGINT NOT NULL,
    refund_count BIGINT NOT NULL,
    refund_minor BIGINT NOT NULL,
    chargeback_count BIGINT NOT NULL,
    chargeback_minor BIGINT NOT NULL,
    fees_minor BIGINT NOT NULL,
    payout_count BIGINT NOT NULL,
    payout_minor BIGINT NOT NULL,
    net_movement_minor BIGINT NOT NULL,
    PRIMARY KEY (month, line, class, asset)
);
CREATE TABLE rollup_rates (
    month TEXT NOT NULL REFERENCES rollup_months (month),
    base TEXT NOT NULL,
    quote TEXT NOT NULL,
    deals BIGINT NOT NULL CHECK (deals > 0),
    mean TEXT NOT NULL,
    low TEXT NOT NULL,
    high TEXT NOT NULL,
    PRIMARY KEY (month, base, quote)
);
"#;

const PG_APPEND_ONLY: &str = r#"
CREATE TRIGGER rollup_months_append_only BEFORE UPDATE OR DELETE ON rollup_months
    FOR EACH ROW EXECUTE FUNCTION ledger_append_only();
CREATE TRIGGER rollup_lines_append_only BEFORE UPDATE OR DELETE ON rollup_lines
    FOR EACH ROW EXECUTE FUNCTION ledger_append_only();
CREATE TRIGGER rollup_rates_append_only BEFORE UPDATE OR DELETE ON rollup_rates
    FOR EACH ROW EXECUTE FUNCTION ledger_append_only();
GRANT SELECT, INSERT ON rollup_months, rollup_lines, rollup_rates TO ledger_app;
"#;

const SQLITE_APPEND_ONLY: &str = r#"
CREATE TRIGGER rollup_months_no_update BEFORE UPDATE ON rollup_months
BEGIN SELECT RAISE(ABORT, 'rollup_months is append-only: UPDATE refused'); END;
CREATE TRIGGER rollup_lines_no_update BEFORE UPDATE ON rollup_lines
BEGIN SELECT RAISE(ABORT, 'rollup_lines is append-only: UPDATE refused'); END;
CREATE TRIGGER rollup_rates_no_update BEFORE UPDATE ON rollup_rates
BEGIN SELECT RAISE(ABORT, 'rollup_rates is append-only: UPDATE refused'); END;
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let (ts, extra) = match manager.get_database_backend() {
            DbBackend::Postgres => ("TIMESTAMPTZ", PG_APPEND_ONLY),
            DbBackend::Sqlite => ("TEXT", SQLITE_APPEND_ONLY),
            other => return Err(DbErr::Migration(format!("unsupported database backend {other:?}"))),
        };
        let db = manager.get_connection();
        db.execute_unprepared(&UP.replace("{ts}", ts)).await?;
        db.execute_unprepared(extra).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for table in ["rollup_rates", "rollup_lines", "rollup_months"] {
            db.execute_unprepared(&format!("DROP TABLE IF EXISTS {table}")).await?;
        }
        Ok(())
    }
}
