//! A caller's read session: one database transaction with the caller's tenant
//! set, so PostgreSQL's row-level security hides other merchants' rows even if
//! a query forgot its `WHERE`.
//!
//! Transport code holds a [`Reads`] and passes it to the services' read calls;
//! only code inside `core` can reach the connection inside it.
//!
//! On PostgreSQL a session costs no round trip of its own: nothing is sent
//! until its first statement, which travels in one simple-protocol message
//! with the `BEGIN` and the tenant settings (its values written in as typed
//! literals, see [`inline`]). A read of one statement therefore waits for one
//! round trip, and every later statement of the session reads the same
//! snapshot, prepared as usual. The `ROLLBACK` that ends the session is sent
//! after the caller has its answer. On Citus the opening goes alone (see
//! `PgReads::run`).

mod inline;

use std::sync::Arc;

use sea_orm::prelude::async_trait;
use sea_orm::sqlx::{self, AssertSqlSafe, Postgres, pool::PoolConnection, postgres::PgRow};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, ExecResult, QueryResult, RuntimeErr,
    Statement,
};

use super::LedgerError;
use super::access::rules::Tenant;

/// The connection pool the services read from and write to.
pub type Pool = DatabaseConnection;

/// One read transaction of one caller (tenant set). Cheap to clone: clones
/// share the transaction, which ends once the last clone is given back
/// ([`Reads::finish`]) or dropped.
#[derive(Clone)]
pub struct Reads {
    db: Arc<ReadDb>,
    tenant: Tenant,
}

impl std::fmt::Debug for Reads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reads").field("tenant", &self.tenant).finish_non_exhaustive()
    }
}

impl Reads {
    /// Opens a read session on `pool` for `tenant`. On PostgreSQL this sends
    /// nothing yet (see the module's doc). Errors: [`LedgerError::Database`]
    /// when SQLite gives no connection or transaction.
    pub async fn begin(pool: &Pool, tenant: Tenant) -> Result<Reads, LedgerError> {
        let db = if pool.get_database_backend() == DbBackend::Postgres {
            ReadDb::Postgres(PgReads {
                pool: pool.get_postgres_connection_pool().clone(),
                opening: super::db::read_opening(tenant),
                conn: tokio::sync::Mutex::new(None),
            })
        } else {
            ReadDb::Transaction(super::db::begin_read(pool, tenant).await?)
        };
        Ok(Reads { db: Arc::new(db), tenant })
    }

    /// Reads inside `txn`, a write's database transaction (a dry run's), as
    /// `tenant`: they see what the write wrote. End them with
    /// [`Reads::roll_back`].
    pub(in crate::core) fn within(txn: DatabaseTransaction, tenant: Tenant) -> Reads {
        Reads { db: Arc::new(ReadDb::Transaction(txn)), tenant }
    }

    /// Rolls back the transaction of reads made [`Reads::within`] one (a
    /// clone still held rolls it back when dropped). Errors:
    /// [`LedgerError::Database`].
    pub(in crate::core) async fn roll_back(self) -> Result<(), LedgerError> {
        match Arc::into_inner(self.db) {
            Some(ReadDb::Transaction(txn)) => Ok(txn.rollback().await?),
            _ => Ok(()),
        }
    }

    /// The tenant these reads see.
    pub fn tenant(&self) -> Tenant {
        self.tenant
    }

    /// The partition a lookup by id reads: the merchant the caller named, or
    /// else the caller's own merchant for a merchant key (see
    /// [`Tenant::partition`]); `None` reads every partition.
    pub fn partition(&self, named: Option<crate::domain::MerchantId>) -> Option<crate::domain::MerchantId> {
        named.or(self.tenant.partition())
    }

    /// Ends the session when this is its last holder. It is read-only, so
    /// ending it only releases its snapshot, and a rollback does that as well
    /// as a commit. Nothing waits for the rollback: on PostgreSQL a task of
    /// its own sends it and hands the connection back to the pool; on SQLite
    /// the driver queues it for the pool to send.
    pub async fn finish(self) {
        drop(Arc::into_inner(self.db));
    }

    /// Reads back what a write just committed, in a read transaction of its
    /// own as `tenant`. A row the write committed that cannot be read back is
    /// a broken invariant: [`LedgerError::Internal`] naming `what`.
    pub(in crate::core) async fn back<T>(
        pool: &Pool,
        tenant: Tenant,
        what: &str,
        read: impl AsyncFnOnce(&Reads) -> Result<Option<T>, LedgerError>,
    ) -> Result<T, LedgerError> {
        let reads = Reads::begin(pool, tenant).await?;
        let found = read(&reads).await;
        reads.finish().await;
        found?.ok_or_else(|| LedgerError::internal(format!("{what} just written is missing")))
    }

    /// The session's connection, for the stores.
    pub(in crate::core) fn db(&self) -> &ReadDb {
        &self.db
    }
}

/// Where a read session's statements go: on PostgreSQL a pooled connection
/// taken at the first statement, on SQLite a sea-orm transaction.
pub(crate) enum ReadDb {
    /// PostgreSQL: see the module's doc.
    Postgres(PgReads),
    /// SQLite: a transaction begun at once.
    Transaction(DatabaseTransaction),
}

/// A PostgreSQL read session's state.
pub(crate) struct PgReads {
    pool: sqlx::PgPool,
    /// [`super::db::read_opening`] for the session's tenant.
    opening: String,
    /// The connection, once the first statement has taken one; from then on
    /// it is inside the session's transaction (or was sent into it).
    conn: tokio::sync::Mutex<Option<PoolConnection<Postgres>>>,
}

/// What one statement of a session gives back.
enum Outcome {
    Rows(Vec<PgRow>),
    Done(sqlx::postgres::PgQueryResult),
}

/// A statement for a session: bound values, or a text of its own (which may
/// hold several statements, as sea-orm's `execute_unprepared` allows).
enum Sent {
    Bound(Statement),
    Unprepared(String),
}

/// How a statement goes out: as text (simple protocol), or prepared.
enum Send {
    Text(String),
    Prepared(Statement),
}

impl PgReads {
    /// Runs `sent` in the session, with the opening in front when it is the
    /// first statement. `rows` says whether rows are wanted.
    async fn run(&self, sent: Sent, rows: bool) -> Result<Outcome, DbErr> {
        let mut slot = self.conn.lock().await;
        let first = slot.is_none();
        // Held in the slot before anything is sent: if this future is dropped
        // halfway, dropping the session still rolls it back.
        let conn = match &mut *slot {
            Some(conn) => conn,
            empty => {
                let waiting = crate::telemetry::metrics::PoolWait::start();
                let acquired = self.pool.acquire().await.map_err(acquire_err);
                drop(waiting);
                empty.insert(acquired?)
            }
        };
        // Citus ships a single-shard query's whole message to the worker,
        // opening included, and the worker refuses it ("cannot execute a
        // distributed query from a query on a shard"): there the opening
        // goes alone, a round trip of its own, as before.
        let together = first && !super::db::on_citus();
        if first && !together {
            sqlx::raw_sql(AssertSqlSafe(self.opening.clone())).execute(&mut **conn).await.map_err(query_err)?;
        }
        let send = match sent {
            Sent::Unprepared(sql) => Send::Text(sql),
            Sent::Bound(stmt) => match together.then(|| inline::inline(&stmt)).flatten() {
                Some(text) => Send::Text(text),
                None => Send::Prepared(stmt),
            },
        };
        match send {
            Send::Text(text) => {
                let text = if together { format!("{}{text}", self.opening) } else { text };
                let raw = sqlx::raw_sql(AssertSqlSafe(text));
                if rows {
                    raw.fetch_all(&mut **conn).await.map(Outcome::Rows).map_err(query_err)
                } else {
                    raw.execute(&mut **conn).await.map(Outcome::Done).map_err(query_err)
                }
            }
            Send::Prepared(stmt) => {
                if together {
                    sqlx::raw_sql(AssertSqlSafe(self.opening.clone())).execute(&mut **conn).await.map_err(query_err)?;
                }
                let values = stmt.values.unwrap_or(sea_orm::Values(Vec::new()));
                let query = sqlx::query_with(AssertSqlSafe(stmt.sql), sea_query_sqlx::SqlxValues(values));
                if rows {
                    query.fetch_all(&mut **conn).await.map(Outcome::Rows).map_err(query_err)
                } else {
                    query.execute(&mut **conn).await.map(Outcome::Done).map_err(query_err)
                }
            }
        }
    }

    async fn rows(&self, sent: Sent) -> Result<Vec<QueryResult>, DbErr> {
        match self.run(sent, true).await? {
            Outcome::Rows(rows) => Ok(rows.into_iter().map(QueryResult::from).collect()),
            Outcome::Done(_) => Ok(Vec::new()),
        }
    }

    async fn exec(&self, sent: Sent) -> Result<ExecResult, DbErr> {
        match self.run(sent, false).await? {
            Outcome::Done(done) => Ok(done.into()),
            Outcome::Rows(_) => Ok(sqlx::postgres::PgQueryResult::default().into()),
        }
    }
}

impl Drop for PgReads {
    /// Ends the transaction, if a statement began it, without making anyone
    /// wait: a task sends `ROLLBACK` and gives the connection back to the
    /// pool; if that fails, or no runtime is left to run the task, the
    /// connection is closed rather than handed back inside a transaction.
    fn drop(&mut self) {
        let Some(mut conn) = self.conn.get_mut().take() else { return };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    if sqlx::raw_sql(AssertSqlSafe("ROLLBACK")).execute(&mut *conn).await.is_err() {
                        conn.close_on_drop();
                    }
                });
            }
            Err(_) => conn.close_on_drop(),
        }
    }
}

/// A driver error as sea-orm reports one from its own statements, so callers
/// read SQLSTATEs from it as before.
fn query_err(e: sqlx::Error) -> DbErr {
    DbErr::Query(RuntimeErr::SqlxError(Arc::new(e)))
}

/// An error taking a connection, as sea-orm reports it.
fn acquire_err(e: sqlx::Error) -> DbErr {
    match e {
        sqlx::Error::PoolTimedOut => DbErr::ConnectionAcquire(sea_orm::ConnAcquireErr::Timeout),
        sqlx::Error::PoolClosed => DbErr::ConnectionAcquire(sea_orm::ConnAcquireErr::ConnectionClosed),
        e => DbErr::Conn(RuntimeErr::SqlxError(Arc::new(e))),
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for ReadDb {
    fn get_database_backend(&self) -> DbBackend {
        match self {
            ReadDb::Postgres(_) => DbBackend::Postgres,
            ReadDb::Transaction(txn) => txn.get_database_backend(),
        }
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        match self {
            ReadDb::Postgres(pg) => pg.exec(Sent::Bound(stmt)).await,
            ReadDb::Transaction(txn) => txn.execute_raw(stmt).await,
        }
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        match self {
            ReadDb::Postgres(pg) => pg.exec(Sent::Unprepared(sql.to_owned())).await,
            ReadDb::Transaction(txn) => txn.execute_unprepared(sql).await,
        }
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        match self {
            ReadDb::Postgres(pg) => Ok(pg.rows(Sent::Bound(stmt)).await?.into_iter().next()),
            ReadDb::Transaction(txn) => txn.query_one_raw(stmt).await,
        }
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        match self {
            ReadDb::Postgres(pg) => pg.rows(Sent::Bound(stmt)).await,
            ReadDb::Transaction(txn) => txn.query_all_raw(stmt).await,
        }
    }
}
