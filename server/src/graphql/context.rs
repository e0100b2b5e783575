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

use super::error::OrCoded;
use crate::core::access::rules::{AccessError, Caller};
use crate::core::{Pool, Reads};
use crate::domain::{DomainError, MerchantId};

/// What the HTTP layer knows about one request, handed to every resolver.
pub struct RequestContext {
    /// The authenticated caller.
    pub caller: Caller,
    /// The request's id (`x-request-id`).
    pub request_id: Option<String>,
    pool: Pool,
    reads: tokio::sync::Mutex<Option<Reads>>,
}

impl RequestContext {
    /// A context for `caller` over the request pool.
    pub fn new(caller: Caller, request_id: Option<String>, pool: Pool) -> Arc<Self> {
        Arc::new(Self { caller, request_id, pool, reads: tokio::sync::Mutex::new(None) })
    }

    /// The read transaction, opened on first use with the caller's tenant.
    pub async fn reads(&self) -> Result<Reads, crate::core::LedgerError> {
        let mut slot = self.reads.lock().await;
        if let Some(reads) = slot.as_ref() {
            return Ok(reads.clone());
        }
        let reads = Reads::begin(&self.pool, self.caller.tenant()).await?;
        *slot = Some(reads.clone());
        Ok(reads)
    }

    /// Ends the read transaction, if one is open. Called before a write and
    /// once the response is built.
    pub async fn finish_reads(&self) {
        let reads = self.reads.lock().await.take();
        if let Some(reads) = reads {
            reads.finish().await;
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

/// The request's reads (one read transaction, tenant set), for the services'
/// read calls: `accounts::find(&reads(ctx).await?, id)`.
pub(crate) async fn reads(ctx: &Context<'_>) -> async_graphql::Result<Reads> {
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
    super::error::coded(e.code(), e.to_string())
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
