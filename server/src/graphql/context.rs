//! Per-request context: who is calling, the request id, and the request's read
//! transaction.
//!
//! Every read of one request goes through one database transaction, opened on
//! first use with the caller's tenant set (so PostgreSQL's row-level security
//! hides other merchants' rows even if a query forgot its `WHERE`), and closed
//! when the response is built. A mutation closes it before it writes, because
//! the write path takes its own connection and must never wait for a connection
//! while this request holds another.

use std::sync::Arc;

use async_graphql::Context;
use sea_orm::{DatabaseConnection, DatabaseTransaction};

use super::error::OrCoded;
use crate::domain::auth::{AccessError, Caller};
use crate::domain::{DomainError, MerchantId};
use crate::store;

/// What the HTTP layer knows about one request, handed to every resolver.
pub struct RequestContext {
    /// The authenticated caller.
    pub caller: Caller,
    /// The request's id (`x-request-id`).
    pub request_id: Option<String>,
    pool: DatabaseConnection,
    reads: tokio::sync::Mutex<Option<Arc<DatabaseTransaction>>>,
}

impl RequestContext {
    /// A context for `caller` over the request pool.
    pub fn new(caller: Caller, request_id: Option<String>, pool: DatabaseConnection) -> Arc<Self> {
        Arc::new(Self { caller, request_id, pool, reads: tokio::sync::Mutex::new(None) })
    }

    /// The read transaction, opened on first use with the caller's tenant.
    pub async fn reads(&self) -> Result<Arc<DatabaseTransaction>, sea_orm::DbErr> {
        let mut slot = self.reads.lock().await;
        if let Some(txn) = slot.as_ref() {
            return Ok(txn.clone());
        }
        let txn = Arc::new(store::begin_read(&self.pool, self.caller.tenant()).await?);
        *slot = Some(txn.clone());
        Ok(txn)
    }

    /// Ends the read transaction, if one is open. Called before a write and
    /// once the response is built.
    pub async fn finish_reads(&self) {
        let txn = self.reads.lock().await.take();
        if let Some(txn) = txn.and_then(Arc::into_inner)
            && let Err(e) = txn.commit().await
        {
            tracing::warn!(error = %e, "closing a read transaction failed");
        }
    }
}

/// The request context. Errors: an internal error if the schema was executed
/// without one (never over HTTP).
pub(crate) fn request<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a Arc<RequestContext>> {
    ctx.data::<Arc<RequestContext>>()
}

/// The caller of this request.
pub(crate) fn caller<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a Caller> {
    Ok(&request(ctx)?.caller)
}

/// The request's read transaction (tenant set). Use as `&*db(ctx).await?`.
pub(crate) async fn db(ctx: &Context<'_>) -> async_graphql::Result<Arc<DatabaseTransaction>> {
    request(ctx)?.reads().await.or_coded()
}

/// Checks that the caller may see `merchant`'s data; another merchant's id is
/// `NOT_FOUND`, exactly like an id that does not exist.
pub(crate) fn visible(ctx: &Context<'_>, merchant: MerchantId) -> async_graphql::Result<()> {
    if caller(ctx)?.tenant().sees(merchant) { Ok(()) } else { Err(not_found()) }
}

/// True when the caller may see `merchant`'s data (for nested fields, which
/// answer null instead of an error).
pub(crate) fn sees(ctx: &Context<'_>, merchant: MerchantId) -> bool {
    caller(ctx).is_ok_and(|c| c.tenant().sees(merchant))
}

/// The `NOT_FOUND` error.
pub(crate) fn not_found() -> async_graphql::Error {
    super::error::coded("NOT_FOUND", "not found")
}

/// The error for an access refusal.
pub(crate) fn refused(e: AccessError) -> async_graphql::Error {
    let code = match e {
        AccessError::Unauthenticated => "UNAUTHENTICATED",
        AccessError::Forbidden => "FORBIDDEN",
    };
    super::error::coded(code, e.to_string())
}

/// A reason, required from staff (audited) and optional for merchant keys.
/// Errors: `REASON_REQUIRED` when staff give none.
pub(crate) fn reason_for(ctx: &Context<'_>, reason: Option<&str>) -> async_graphql::Result<Option<String>> {
    let reason = reason.map(str::trim).filter(|r| !r.is_empty()).map(str::to_owned);
    match (caller(ctx)?, &reason) {
        (Caller::Staff { .. }, None) => Err(DomainError::ReasonRequired).or_coded(),
        _ => Ok(reason),
    }
}
