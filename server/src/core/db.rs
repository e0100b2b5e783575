//! What every aggregate's private store shares: connecting (and migrating),
//! the tenant settings that row-level security reads, read and write
//! transactions, statement helpers, and the classification of database errors
//! by SQLSTATE.
//!
//! Each aggregate's SQL lives in its own private `store` module (for example
//! `core::payments::store`); this module holds only what they have in common.
//! Backend-specific SQL (row locks, which PostgreSQL has and SQLite does not
//! need) is chosen here. Every function that writes takes the open database
//! transaction, so a caller composes several writes into one commit.

use std::time::Duration;

use migration::MigratorTrait;
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, Statement,
    TransactionTrait, Value,
};

use crate::core::access::rules::Tenant;
use crate::domain::MerchantId;

/// The PostgreSQL role the server's pool acts as. It owns no table, so the
/// row-level security policies apply to it (an owner or superuser would bypass
/// them). Created by the migrations, which run as the database URL's own user.
pub const APP_ROLE: &str = "ledger_app";

/// The transaction-local setting that names the tenant: a merchant id, `*` for
/// every row, or unset for none.
pub const TENANT_SETTING: &str = "ledger.tenant";

/// The transaction-local setting that, when `on`, also shows the platform's own
/// rows to a merchant tenant; only the write path sets it.
pub const PLATFORM_ROWS_SETTING: &str = "ledger.platform_rows";

/// The transaction-local setting that names a **set** of merchants whose rows
/// the transaction may see and write, as a PostgreSQL array literal (`{a,b}`).
/// Only the batched write path sets it (see [`set_batch_tenants`]).
pub const TENANT_SET_SETTING: &str = "ledger.tenants";

/// Default size of the PostgreSQL connection pool. Two cores serve well with a few
/// connections per core; more only adds lock contention on hot balance rows.
pub const DEFAULT_POOL_SIZE: u32 = 16;

/// How long a request waits for a pooled connection before failing.
pub const POOL_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// A pooled connection idle for this long is checked (a `Sync` round trip)
/// before it is handed out; one in steady use is not, so a request's first
/// statement is its first round trip. Every connection is also checked as it
/// comes back to the pool (sqlx's release check), and one that fails either
/// check is replaced.
pub const POOL_CHECK_AFTER_IDLE: Duration = Duration::from_secs(1);

/// SQLite allows one writer at a time; a pool of one connection makes the
/// embedded default serialize its writes instead of failing them with `SQLITE_BUSY`.
pub const SQLITE_POOL_SIZE: u32 = 1;

/// Connects to `url` (a `postgres://` or `sqlite://` URL) as its own user (the
/// tables' owner) and runs the migrations. This connection bypasses row-level
/// security: it is for migrations and the `verify` and `rebuild-balances`
/// commands, never for requests (see [`connect_app`]).
///
/// Errors: any connection or migration failure, as [`DbErr`].
pub async fn connect_and_migrate(url: &str, pool_size: u32) -> Result<DatabaseConnection, DbErr> {
    let db = connect(url.to_owned(), pool_size).await?;
    migration::Migrator::up(&db, None).await?;
    ON_CITUS.store(migration::citus_installed(&db).await?, std::sync::atomic::Ordering::Relaxed);
    crate::core::accounts::store::assets::seed_iso4217(&db).await?;
    Ok(db)
}

/// Connects the request pool. On PostgreSQL every connection acts as
/// [`APP_ROLE`] (the startup option `-c role=ledger_app`), so every query is
/// subject to row-level security and sees no merchant's rows until
/// [`set_tenant`] names one. SQLite has no roles; there the pool is plain.
///
/// Errors: any connection failure, as [`DbErr`].
pub async fn connect_app(url: &str, pool_size: u32) -> Result<DatabaseConnection, DbErr> {
    if url.starts_with("sqlite:") {
        return connect(url.to_owned(), pool_size).await;
    }
    let sep = if url.contains('?') { '&' } else { '?' };
    connect(format!("{url}{sep}options=-c%20role%3D{APP_ROLE}"), pool_size).await
}

/// Names the tenant of the open database transaction `db` for the rest of that
/// transaction only (`SET LOCAL`), so a pooled connection never carries
/// it into its next transaction. `platform_rows` also shows the platform's own
/// rows (the write path needs them: every payment posts to platform accounts).
/// A no-op on SQLite, which has no row-level security.
pub async fn set_tenant(db: &impl ConnectionTrait, tenant: Tenant, platform_rows: bool) -> Result<(), DbErr> {
    if db.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    let platform = if platform_rows { "on" } else { "off" };
    db.execute_unprepared(&format!(
        "{}{}",
        set_local(TENANT_SETTING, &tenant.setting()),
        set_local(PLATFORM_ROWS_SETTING, platform)
    ))
    .await?;
    Ok(())
}

/// Whether the database is a Citus coordinator (the `citus` extension is
/// installed), as [`connect_and_migrate`] last found it. One flag per
/// process: a process serves one database (the tests run the Citus suite in
/// a process of its own).
///
/// Why the write path needs to know: PostgreSQL cannot `PREPARE TRANSACTION`
/// one that ran `NOTIFY`, and Citus commits a transaction that wrote to more
/// than one node (a deal between merchants on two workers, a new merchant in
/// the `merchants` reference table) with two-phase commit. So on Citus the
/// write path sends no `NOTIFY`; the event hubs' poll
/// (`events::HUB_POLL_INTERVAL`, 500 ms) delivers instead.
static ON_CITUS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether the database is a Citus coordinator (see [`ON_CITUS`]): the write
/// path then takes its row keys apart and sends no `NOTIFY`.
pub fn on_citus() -> bool {
    ON_CITUS.load(std::sync::atomic::Ordering::Relaxed)
}

/// Locks the row of `table` (a merchant table with `id` and `merchant_id`)
/// whose id is `id`, for the rest of the transaction; false when there is
/// none. `partition` is the merchant whose books hold the row, when the
/// caller knows it (a merchant key's own rows, or a merchant named in the
/// request): the lock is then one `SELECT … FOR UPDATE` by `(merchant_id,
/// id)`, routed to one shard on Citus, and a row of another partition is not
/// found. Without it, PostgreSQL locks by id alone; Citus refuses `FOR
/// UPDATE` across shards, so there the row's merchant is read first (a read
/// of every shard by the `id` index) and the row is then locked in its own
/// shard. Errors: the database's.
pub async fn lock_by_id(
    db: &impl ConnectionTrait,
    table: &str,
    id: uuid::Uuid,
    partition: Option<MerchantId>,
) -> Result<bool, DbErr> {
    let merchant = match partition {
        Some(m) => m.0,
        None if !on_citus() => {
            let sql = format!("SELECT id FROM {table} WHERE id = $1{}", for_update(db));
            return Ok(db.query_one_raw(stmt(db, &sql, vec![id.into()])).await?.is_some());
        }
        None => {
            let sql = format!("SELECT merchant_id FROM {table} WHERE id = $1");
            let Some(row) = db.query_one_raw(stmt(db, &sql, vec![id.into()])).await? else { return Ok(false) };
            row.try_get("", "merchant_id")?
        }
    };
    let sql = format!("SELECT id FROM {table} WHERE merchant_id = $1 AND id = $2{}", for_update(db));
    Ok(db.query_one_raw(stmt(db, &sql, vec![merchant.into(), id.into()])).await?.is_some())
}

/// ` AND {column} IN ($first, …)` over the distinct `partitions`, with their
/// values: the partitions a statement touches, spelled out so that Citus
/// routes it to their shards alone (it prunes shards on `IN` over constants,
/// not on a row constructor or a join with `VALUES`). On one PostgreSQL node
/// the filter is redundant and cheap.
pub fn partition_filter(
    column: &str,
    first: usize,
    partitions: impl IntoIterator<Item = uuid::Uuid>,
) -> (String, Vec<Value>) {
    let set: std::collections::BTreeSet<uuid::Uuid> = partitions.into_iter().collect();
    let values: Vec<Value> = set.into_iter().map(Into::into).collect();
    (format!(" AND {column} IN ({})", placeholders(first, values.len())), values)
}

/// The `NOTIFY` of [`set_write_tenant`] and [`set_batch_tenants`]: `SELECT
/// pg_notify(…)`, or nothing on Citus (see [`ON_CITUS`]).
fn notify(instance: &str) -> String {
    if on_citus() {
        return String::new();
    }
    format!("SELECT pg_notify('{}', '{}')", crate::core::outbox::store::NOTIFY_CHANNEL, instance.replace('\'', "''"))
}

/// Listens on PostgreSQL's `channel` at `url` until its task is aborted, and
/// tells `heard` what it hears: `Some(payload)` for each notification, and
/// `None` after every (re)connection and when the connection dropped, since
/// notifications sent while nobody listened are lost and the caller must
/// assume it missed some. Reconnects with backoff from 100 ms up to
/// `max_backoff`; failures are logged, never returned.
pub async fn listen_forever<F, Fut>(url: String, channel: &'static str, max_backoff: std::time::Duration, mut heard: F)
where
    F: FnMut(Option<String>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    use sea_orm::sqlx::postgres::PgListener;
    let first = std::time::Duration::from_millis(100);
    let mut backoff = first;
    loop {
        let listening = match PgListener::connect(&url).await {
            Ok(mut l) => l.listen(channel).await.map(|()| l),
            Err(e) => Err(e),
        };
        let mut listener = match listening {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, channel, "cannot LISTEN; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(max_backoff);
                continue;
            }
        };
        backoff = first;
        heard(None).await;
        loop {
            match listener.try_recv().await {
                Ok(Some(n)) => heard(Some(n.payload().to_owned())).await,
                // The connection dropped; `try_recv` reconnects on the next call.
                Ok(None) => heard(None).await,
                Err(e) => {
                    tracing::warn!(error = %e, channel, "listener failed; reconnecting");
                    break;
                }
            }
        }
    }
}

/// `SET LOCAL name = 'value';`, the value quoted as a string literal.
///
/// Why `SET LOCAL` and not `set_config(…, true)`, which does the same on one
/// node: on Citus the row-level security policies run on the workers' shards,
/// and Citus passes a transaction's `SET LOCAL` settings on to the workers
/// (`citus.propagate_set_commands = 'local'`, which migration
/// `m20261206_000017` sets for the database), never a `set_config` call.
fn set_local(name: &str, value: &str) -> String {
    format!("SET LOCAL {name} = '{}';", value.replace('\'', "''"))
}

/// Names the tenant of the write path's open transaction (as [`set_tenant`]
/// with the platform's rows visible) and, on PostgreSQL, queues `NOTIFY` on
/// [`crate::core::outbox::store::NOTIFY_CHANNEL`] with payload `instance`, in the same statement.
/// PostgreSQL delivers the notification only if the transaction commits, so
/// every instance's event hub wakes up for committed events; folding it into
/// this statement costs the write path no extra round trip. A commit that
/// posted nothing (a refusal, a replay) wakes the hubs for nothing, which is
/// harmless. SQLite: the tenant is a no-op and there is no NOTIFY.
pub async fn set_write_tenant(db: &impl ConnectionTrait, tenant: Tenant, instance: &str) -> Result<(), DbErr> {
    if db.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    db.execute_unprepared(&format!(
        "{}{}{}",
        set_local(TENANT_SETTING, &tenant.setting()),
        set_local(PLATFORM_ROWS_SETTING, "on"),
        notify(instance)
    ))
    .await?;
    Ok(())
}

/// Limits the batched write path's open transaction to the rows of `merchants`
/// (and the platform's own rows), and queues the `NOTIFY` as
/// [`set_write_tenant`] does, in one statement.
///
/// A batch acts for several merchants at once, so it cannot name one tenant.
/// Instead of the all-rows tenant `*` it names the set: the single-tenant
/// setting is emptied, [`TENANT_SET_SETTING`] holds the merchants, and the
/// `<table>_tenant_set` policies (migration `m20261201_000009`) show exactly
/// their rows. A statement that touches another merchant's row then finds
/// nothing, and an entry on another merchant's account is refused by
/// PostgreSQL (SQLSTATE 42501). Merchant ids are UUIDs, never caller text.
/// A no-op on SQLite, which has no row-level security.
pub async fn set_batch_tenants(
    db: &impl ConnectionTrait,
    merchants: &[crate::domain::MerchantId],
    instance: &str,
) -> Result<(), DbErr> {
    if db.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    let set = format!("{{{}}}", merchants.iter().map(ToString::to_string).collect::<Vec<_>>().join(","));
    db.execute_unprepared(&format!(
        "{}{}{}{}",
        set_local(TENANT_SETTING, ""),
        set_local(TENANT_SET_SETTING, &set),
        set_local(PLATFORM_ROWS_SETTING, "on"),
        notify(instance)
    ))
    .await?;
    Ok(())
}

/// Begins a database transaction on `pool`, in a task of its own, so that a
/// caller cancelled while BEGIN is in flight cannot hand the connection back
/// to the pool inside a transaction.
///
/// Why: sqlx 0.9's `begin` counts the transaction only once PostgreSQL has
/// acknowledged BEGIN, and the guard it leaves for a cancelled `begin`
/// queues a ROLLBACK only for a counted one. A future dropped between the two
/// (a client that disconnects, a subscription dropped, a timeout) returned a
/// connection whose server session stayed in the transaction: the next
/// request on it read an old snapshot or failed with "SET TRANSACTION
/// ISOLATION LEVEL must be called before any query" (seen in the console's
/// browser test under load). In its own task the BEGIN always completes; if
/// nobody waits for it any more, the transaction is dropped there, which
/// queues the ROLLBACK that the pool flushes before reusing the connection.
///
/// Errors: the database's; [`DbErr::Conn`] when the task could not finish
/// (the runtime is shutting down).
pub async fn begin(pool: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    let pool = pool.clone();
    let waiting = crate::telemetry::metrics::PoolWait::start();
    tokio::spawn(async move {
        let begun = pool.begin().await;
        drop(waiting);
        begun
    })
    .await
    .map_err(|e| DbErr::Conn(sea_orm::RuntimeErr::Internal(format!("beginning a transaction: {e}"))))?
}

/// Begins a read-only database transaction for one request's reads, with the
/// caller's tenant set, through sea-orm (background jobs and reports). On PostgreSQL it is `REPEATABLE READ`, so every field of one GraphQL
/// response comes from the same snapshot of the books. The server's own
/// reads on PostgreSQL send the same text as [`read_opening`] together with
/// their first statement instead ([`crate::core::Reads`]).
pub async fn begin_read(pool: &DatabaseConnection, tenant: Tenant) -> Result<DatabaseTransaction, DbErr> {
    if pool.get_database_backend() != DbBackend::Postgres {
        return begin(pool).await;
    }
    let txn = begin(pool).await?;
    txn.execute_unprepared(&format!(
        "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY; {}{}",
        set_local(TENANT_SETTING, &tenant.setting()),
        set_local(PLATFORM_ROWS_SETTING, "off")
    ))
    .await?;
    Ok(txn)
}

/// The text that opens a read session on PostgreSQL: `BEGIN` a `REPEATABLE
/// READ, READ ONLY` transaction and name `tenant` (the platform's rows
/// hidden). It ends in `;`, ready for the session's first statement to follow
/// it in the same message. The tenant setting is a UUID, `*` or empty, never
/// caller text.
pub(crate) fn read_opening(tenant: Tenant) -> String {
    format!(
        "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; {}{}",
        set_local(TENANT_SETTING, &tenant.setting()),
        set_local(PLATFORM_ROWS_SETTING, "off")
    )
}

/// Begins a read-write database transaction with `tenant` set (and the
/// platform's rows visible when `platform_rows`).
pub async fn begin_write(
    pool: &DatabaseConnection,
    tenant: Tenant,
    platform_rows: bool,
) -> Result<DatabaseTransaction, DbErr> {
    let txn = begin(pool).await?;
    set_tenant(&txn, tenant, platform_rows).await?;
    Ok(txn)
}

/// Opens a pool on `url`.
async fn connect(url: String, pool_size: u32) -> Result<DatabaseConnection, DbErr> {
    let sqlite = url.starts_with("sqlite:");
    let mut opts = ConnectOptions::new(url);
    opts.max_connections(if sqlite { SQLITE_POOL_SIZE } else { pool_size })
        .min_connections(1)
        .acquire_timeout(POOL_ACQUIRE_TIMEOUT)
        .test_before_acquire_if_idle_for(POOL_CHECK_AFTER_IDLE)
        .sqlx_logging(false);
    let db = Database::connect(opts).await?;
    if sqlite {
        // WAL lets readers proceed while the single writer commits.
        db.execute_unprepared("PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 5000;").await?;
    }
    Ok(db)
}

/// Most bind parameters one statement carries. SQLite's default limit is 32,766
/// and PostgreSQL's 65,535; the write path's multi-row statements are split into
/// chunks of at most this many values.
pub const MAX_BIND_PARAMS: usize = 30_000;

/// Placeholders for `rows` rows of `cols` values each, numbered from `$1`:
/// `($1, $2), ($3, $4)`. For multi-row `VALUES` lists.
pub(crate) fn placeholder_rows(rows: usize, cols: usize) -> String {
    (0..rows)
        .map(|r| {
            let row: Vec<String> = (1..=cols).map(|c| format!("${}", r * cols + c)).collect();
            format!("({})", row.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `n` placeholders numbered from `$first`: `$3, $4, $5`. For `IN` lists.
pub(crate) fn placeholders(first: usize, n: usize) -> String {
    (first..first + n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

/// How many rows of `cols` values fit in one statement (see [`MAX_BIND_PARAMS`]).
pub(crate) fn rows_per_statement(cols: usize) -> usize {
    (MAX_BIND_PARAMS / cols.max(1)).max(1)
}

/// Builds a raw statement for the connection's backend. Placeholders are `$1`,
/// `$2`, … in order of first appearance, which both PostgreSQL and SQLite accept.
pub(crate) fn stmt(db: &impl ConnectionTrait, sql: &str, values: Vec<Value>) -> Statement {
    Statement::from_sql_and_values(db.get_database_backend(), sql, values)
}

/// Whether a batch's rows go to the database as one JSON parameter
/// ([`json_rows_insert`]) rather than as a multi-row `VALUES` list: on one
/// PostgreSQL node. A `VALUES` list has one placeholder per value, so its
/// text changes with the batch length and PostgreSQL parses and plans it
/// again for nearly every batch (BENCHMARKS.md, issue 17: planning was about
/// 40% of PostgreSQL's time per payment). The JSON form has one text for
/// every length, prepared once per connection and run from a cached generic
/// plan. SQLite keeps `VALUES`; so does Citus, which routes a `VALUES`
/// insert to its shards directly but would pull an `INSERT … SELECT` from a
/// function through the coordinator.
pub(crate) fn rows_as_json(db: &impl ConnectionTrait) -> bool {
    db.get_database_backend() == DbBackend::Postgres && !on_citus()
}

/// `INSERT INTO {table} (columns) SELECT columns FROM json_to_recordset($1)`
/// with `columns` as `(name, PostgreSQL type)`, followed by `tail` (an
/// `ON CONFLICT` clause, or nothing). `$1` is the rows as a JSON array of
/// objects keyed by column name ([`json_rows`]); a column missing from an
/// object, or JSON `null`, is SQL NULL, except in a `json`/`jsonb` column,
/// where JSON `null` stays the JSON value `null`.
pub(crate) fn json_rows_insert(table: &str, columns: &[(&str, &str)], tail: &str) -> String {
    let names: Vec<&str> = columns.iter().map(|(n, _)| *n).collect();
    let typed: Vec<String> = columns.iter().map(|(n, t)| format!("{n} {t}")).collect();
    // `json_to_recordset` reads a JSON `null` as SQL NULL; a JSON column
    // keeps it as the JSON value `null`, as the `VALUES` form binds it.
    let selected: Vec<String> = columns
        .iter()
        .map(
            |(n, t)| {
                if matches!(*t, "json" | "jsonb") { format!("COALESCE({n}, 'null'::{t})") } else { (*n).to_owned() }
            },
        )
        .collect();
    format!(
        "INSERT INTO {table} ({}) SELECT {} FROM json_to_recordset($1::text::json) AS r({}){tail}",
        names.join(", "),
        selected.join(", "),
        typed.join(", ")
    )
}

/// One data-modifying statement of a write (an `INSERT` or `UPDATE` without
/// `RETURNING`, its parameters numbered from `$1`), run alone or together
/// with others in one statement by [`write_together`].
#[derive(Debug, Clone)]
pub(crate) struct Write {
    /// The statement; `$` appears in it only as a parameter marker.
    pub sql: String,
    /// Its parameters, `$1` first.
    pub values: Vec<Value>,
}

impl Write {
    /// A write of `sql` with `values`.
    pub(crate) fn new(sql: impl Into<String>, values: Vec<Value>) -> Self {
        Self { sql: sql.into(), values }
    }
}

/// `sql` with every parameter marker `$n` renumbered `$(n + by)`.
fn shift_parameters(sql: &str, by: usize) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        if c != '$' {
            continue;
        }
        let mut digits = String::new();
        while let Some(d) = chars.peek().copied().filter(char::is_ascii_digit) {
            digits.push(d);
            chars.next();
        }
        match digits.parse::<usize>() {
            Ok(n) => out.push_str(&(n + by).to_string()),
            Err(_) => out.push_str(&digits),
        }
    }
    out
}

/// Runs `writes` and returns how many rows each wrote, in order. On
/// PostgreSQL they go in **one** statement, `WITH w0 AS (… RETURNING 1),
/// w1 AS (…) SELECT (SELECT COUNT(*) FROM w0), …`: one round trip, one
/// snapshot, and each part runs exactly once and to completion whether or
/// not the final `SELECT` reads it (PostgreSQL, "Data-Modifying Statements in
/// WITH"). Foreign keys and other after-row checks run at the end of that
/// statement, so a part may insert rows that a later part's rows refer to.
/// The parts must not touch the same row twice (PostgreSQL would apply only
/// one change). Elsewhere (SQLite) one statement each, in order. Errors: the
/// database's; nothing is written then by any part.
pub(crate) async fn write_together(db: &impl ConnectionTrait, writes: &[Write]) -> Result<Vec<u64>, DbErr> {
    if db.get_database_backend() != DbBackend::Postgres || writes.len() == 1 {
        let mut counts = Vec::with_capacity(writes.len());
        for w in writes {
            counts.push(db.execute_raw(stmt(db, &w.sql, w.values.clone())).await?.rows_affected());
        }
        return Ok(counts);
    }
    if writes.is_empty() {
        return Ok(Vec::new());
    }
    let mut parts = Vec::with_capacity(writes.len());
    let mut counts = Vec::with_capacity(writes.len());
    let mut values = Vec::with_capacity(writes.iter().map(|w| w.values.len()).sum());
    for (i, w) in writes.iter().enumerate() {
        parts.push(format!("w{i} AS ({} RETURNING 1)", shift_parameters(&w.sql, values.len())));
        counts.push(format!("(SELECT COUNT(*) FROM w{i}) AS n{i}"));
        values.extend(w.values.iter().cloned());
    }
    let sql = format!("WITH {} SELECT {}", parts.join(", "), counts.join(", "));
    let row =
        db.query_one_raw(stmt(db, &sql, values)).await?.ok_or_else(|| corrupt("a combined write returned no row"))?;
    (0..writes.len())
        .map(|i| {
            let n: i64 = row.try_get("", &format!("n{i}"))?;
            u64::try_from(n).map_err(|_| corrupt(format!("a negative row count {n}")))
        })
        .collect()
}

/// The one parameter of a [`json_rows_insert`] statement: `rows` as JSON
/// text, sent as `text` (PostgreSQL checks it as it casts it to `json`).
pub(crate) fn json_rows(rows: Vec<serde_json::Value>) -> Value {
    serde_json::Value::Array(rows).to_string().into()
}

/// A timestamp as [`json_rows`] carries it: RFC 3339 in UTC with the
/// microseconds PostgreSQL's `timestamptz` keeps, cut (not rounded) as the
/// binary parameters of the `VALUES` form are, so both forms store the same
/// instant.
pub(crate) fn json_time(at: chrono::DateTime<chrono::Utc>) -> serde_json::Value {
    at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string().into()
}

/// A list of ids as one parameter of a [`rows_as_json`] statement, for
/// `= ANY(${n}::text::uuid[])`: PostgreSQL's array literal `{id,id,…}`
/// (UUIDs need no quoting). One text for any length, unlike `IN ($1, …)`.
pub(crate) fn uuid_list(ids: impl IntoIterator<Item = uuid::Uuid>) -> Value {
    let ids: Vec<String> = ids.into_iter().map(|id| id.to_string()).collect();
    format!("{{{}}}", ids.join(",")).into()
}

/// A list of strings as one parameter of a [`rows_as_json`] statement, for
/// `= ANY(ARRAY(SELECT json_array_elements_text(${n}::text::json)))`: a JSON
/// array, so any text travels unescaped by hand.
pub(crate) fn text_list<'a>(items: impl IntoIterator<Item = &'a str>) -> Value {
    serde_json::Value::Array(items.into_iter().map(|s| serde_json::Value::String(s.to_owned())).collect())
        .to_string()
        .into()
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

/// A stored value that does not parse into its domain type (a corrupt row):
/// sea-orm's `DbErr::Type`, shown to callers as an opaque internal error.
pub fn corrupt(what: impl Into<String>) -> DbErr {
    DbErr::Type(what.into())
}

/// The unique keys whose violation means something to a caller, by the name
/// PostgreSQL gives them (`<table>_<columns>_key`, `<table>_pkey`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UniqueKey {
    /// `merchants (external_id)`: `EXTERNAL_ID_TAKEN`.
    MerchantExternalId,
    /// `transactions (merchant_id, reverses)`: a transaction is reversed at
    /// most once (a reversal is always its original's merchant's).
    Reverses,
    /// `payouts (merchant_id, asset, period)`: one scheduled payout per period.
    PayoutPeriod,
    /// `rollup_months (month)`: a month is closed once.
    RollupMonth,
    /// `bank_statements (bank_account_id, statement_ref)`: a statement is imported once.
    BankStatement,
    /// `bank_accounts (iban)`: `BANK_ACCOUNT_EXISTS`.
    BankAccountIban,
    /// `bank_accounts (account_number)`: `BANK_ACCOUNT_EXISTS`.
    BankAccountNumber,
}

impl UniqueKey {
    /// The constraint's name on PostgreSQL.
    pub fn constraint(self) -> &'static str {
        match self {
            UniqueKey::MerchantExternalId => "merchants_external_id_key",
            UniqueKey::Reverses => "transactions_merchant_id_reverses_key",
            UniqueKey::PayoutPeriod => "payouts_merchant_id_asset_period_key",
            UniqueKey::RollupMonth => "rollup_months_pkey",
            UniqueKey::BankStatement => "bank_statements_bank_account_id_statement_ref_key",
            UniqueKey::BankAccountIban => "bank_accounts_iban_key",
            UniqueKey::BankAccountNumber => "bank_accounts_account_number_key",
        }
    }
}

/// True when `err` violates the unique key `key`: SQLSTATE 23505 naming that
/// constraint on PostgreSQL; on SQLite, which names no constraint, the
/// extended result codes 2067 (`SQLITE_CONSTRAINT_UNIQUE`) and 1555
/// (`SQLITE_CONSTRAINT_PRIMARYKEY`), each caller asking only about the one
/// unique key its statement can break. Never by the message's text.
pub fn is_unique_violation(err: &DbErr, key: UniqueKey) -> bool {
    use sea_orm::RuntimeErr;
    let (DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e))) = err else {
        return false;
    };
    let Some(d) = e.as_database_error() else { return false };
    match d.code().as_deref() {
        Some("23505") => d.constraint() == Some(key.constraint()),
        Some("2067" | "1555") => true,
        _ => false,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn a_json_rows_insert_names_its_columns_once_and_keeps_json_nulls() {
        let sql = json_rows_insert("t", &[("a", "bigint"), ("m", "jsonb")], " ON CONFLICT DO NOTHING");
        assert_eq!(
            sql,
            "INSERT INTO t (a, m) SELECT a, COALESCE(m, 'null'::jsonb) FROM json_to_recordset($1::text::json) \
             AS r(a bigint, m jsonb) ON CONFLICT DO NOTHING"
        );
    }

    #[test]
    fn lists_and_times_are_spelled_as_postgresql_reads_them() {
        let a = uuid::Uuid::nil();
        assert_eq!(uuid_list([a, a]), Value::from(format!("{{{a},{a}}}")));
        assert_eq!(uuid_list([]), Value::from("{}".to_owned()));
        assert_eq!(text_list(["x\"y", "z,{}"]), Value::from(r#"["x\"y","z,{}"]"#.to_owned()));
        let at = chrono::DateTime::parse_from_rfc3339("2026-12-02T10:11:12.123456789Z").unwrap().to_utc();
        assert_eq!(json_time(at), serde_json::json!("2026-12-02T10:11:12.123456Z"), "microseconds, cut");
        assert_eq!(json_rows(vec![serde_json::json!({"a": 1})]), Value::from(r#"[{"a":1}]"#.to_owned()));
    }

    #[test]
    fn parameters_of_combined_writes_are_renumbered_past_the_earlier_ones() {
        assert_eq!(
            shift_parameters("a = $1 AND b = ANY($2::text::uuid[]) AND c = $10", 3),
            "a = $4 AND b = ANY($5::text::uuid[]) AND c = $13"
        );
        assert_eq!(shift_parameters("no markers; $ alone", 2), "no markers; $ alone");
    }
}
