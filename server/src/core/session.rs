//! A caller's read session: one database transaction with the caller's tenant
//! set, so PostgreSQL's row-level security hides other merchants' rows even if
//! a query forgot its `WHERE`.
//!
//! Transport code holds a [`Reads`] and passes it to the services' read calls;
//! only code inside `core` can reach the transaction inside it.

use std::sync::Arc;

use sea_orm::{DatabaseConnection, DatabaseTransaction};

use super::LedgerError;
use super::access::rules::Tenant;

/// The connection pool the services read from and write to.
pub type Pool = DatabaseConnection;

/// One read transaction of one caller (tenant set). Cheap to clone: clones
/// share the transaction, which [`Reads::finish`] commits once the last clone
/// is given back.
#[derive(Clone)]
pub struct Reads {
    txn: Arc<DatabaseTransaction>,
    tenant: Tenant,
}

impl std::fmt::Debug for Reads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reads").field("tenant", &self.tenant).finish_non_exhaustive()
    }
}

impl Reads {
    /// Opens a read transaction on `pool` for `tenant`. Errors:
    /// [`LedgerError::Database`] when no connection or transaction can be had.
    pub async fn begin(pool: &Pool, tenant: Tenant) -> Result<Reads, LedgerError> {
        let txn = super::db::begin_read(pool, tenant).await?;
        Ok(Reads { txn: Arc::new(txn), tenant })
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

    /// Ends the transaction when this is its last holder. It is read-only,
    /// so ending it only releases its snapshot, and a rollback does that as
    /// well as a commit. The rollback is queued on the connection without
    /// waiting for it (the driver's `start_rollback`); the pool's check of
    /// the connection as it takes it back sends it, so the request does not
    /// wait a round trip for it.
    pub async fn finish(self) {
        drop(Arc::into_inner(self.txn));
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

    /// The transaction, for the stores.
    pub(in crate::core) fn db(&self) -> &DatabaseTransaction {
        &self.txn
    }
}
