//! The store: the only module that speaks SQL.
//!
//! It maps rows (the `entity` crate) to domain types and back. Backend-specific
//! SQL (row locks, which PostgreSQL has and SQLite does not need) lives here and
//! nowhere else. Every function that writes takes the open database transaction,
//! so a caller composes several writes into one commit.

pub mod accounts;
pub mod assets;
pub mod books;
pub mod idempotency;
pub mod merchants;
pub mod payments;
pub mod payouts;
pub mod transactions;

use std::time::Duration;

use migration::MigratorTrait;
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr, Statement, Value};

/// Default size of the PostgreSQL connection pool. Two cores serve well with a few
/// connections per core; more only adds lock contention on hot balance rows.
pub const DEFAULT_POOL_SIZE: u32 = 16;

/// How long a request waits for a pooled connection before failing.
pub const POOL_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// SQLite allows one writer at a time; a pool of one connection makes the
/// embedded default serialize its writes instead of failing them with `SQLITE_BUSY`.
pub const SQLITE_POOL_SIZE: u32 = 1;

/// Connects to `url` (a `postgres://` or `sqlite://` URL) and runs the migrations.
///
/// Errors: any connection or migration failure, as [`DbErr`].
pub async fn connect_and_migrate(url: &str, pool_size: u32) -> Result<DatabaseConnection, DbErr> {
    let sqlite = url.starts_with("sqlite:");
    let mut opts = ConnectOptions::new(url.to_owned());
    opts.max_connections(if sqlite { SQLITE_POOL_SIZE } else { pool_size })
        .min_connections(1)
        .acquire_timeout(POOL_ACQUIRE_TIMEOUT)
        .sqlx_logging(false);
    let db = Database::connect(opts).await?;
    if sqlite {
        // WAL lets readers proceed while the single writer commits.
        db.execute_unprepared("PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 5000;").await?;
    }
    migration::Migrator::up(&db, None).await?;
    assets::seed_iso4217(&db).await?;
    Ok(db)
}

/// Builds a raw statement for the connection's backend. Placeholders are `$1`,
/// `$2`, … in order of first appearance, which both PostgreSQL and SQLite accept.
pub(crate) fn stmt(db: &impl ConnectionTrait, sql: &str, values: Vec<Value>) -> Statement {
    Statement::from_sql_and_values(db.get_database_backend(), sql, values)
}

/// The row-lock suffix for `SELECT … FOR UPDATE`: PostgreSQL locks the rows;
/// SQLite already holds the database write lock for the whole transaction.
pub(crate) fn for_update(db: &impl ConnectionTrait) -> &'static str {
    match db.get_database_backend() {
        DbBackend::Postgres => " FOR UPDATE",
        _ => "",
    }
}

/// The database-level error code (SQLSTATE on PostgreSQL, result code on SQLite).
fn db_code(err: &DbErr) -> Option<String> {
    use sea_orm::RuntimeErr;
    match err {
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
            e.as_database_error().and_then(|d| d.code()).map(|c| c.into_owned())
        }
        _ => None,
    }
}

/// True for failures that a retry of the whole database transaction can cure:
/// serialization failures and deadlocks on PostgreSQL (SQLSTATE 40001, 40P01),
/// busy or locked databases on SQLite (result codes 5 and 6 and their extended forms).
pub fn is_retryable(err: &DbErr) -> bool {
    match db_code(err).as_deref() {
        Some("40001" | "40P01" | "5" | "6" | "261" | "262" | "517") => true,
        _ => matches!(err, DbErr::ConnectionAcquire(_)),
    }
}

/// True when `err` is a unique-key violation whose message names `hint`
/// (a column or constraint name).
pub fn is_unique_violation(err: &DbErr, hint: &str) -> bool {
    matches!(err.sql_err(), Some(sea_orm::SqlErr::UniqueConstraintViolation(msg)) if msg.contains(hint))
}
