//! Mapping of errors to GraphQL errors with a stable `extensions.code`.
//!
//! Policy: a refusal the caller caused carries its own code and a message that
//! says what to fix. An unexpected failure is logged here with its cause and shown
//! to the caller only as `INTERNAL_SERVER_ERROR`, with no detail.

use async_graphql::ErrorExtensions;

use crate::core::LedgerError;
use crate::domain::DomainError;

/// Code for an input that failed a shape check at the edge (bad id, bad cursor,
/// page size over the limit).
pub const BAD_USER_INPUT: &str = "BAD_USER_INPUT";

/// Builds a GraphQL error with `message` and `extensions.code = code`.
pub fn coded(code: &'static str, message: impl Into<String>) -> async_graphql::Error {
    async_graphql::Error::new(message).extend_with(|_, ext| ext.set("code", code))
}

/// Converts a ledger error into a coded GraphQL error (logging internal ones).
/// async-graphql's blanket `From<Display>` would drop the code, so every
/// resolver converts through this function (via [`OrCoded`]).
pub fn to_graphql(err: LedgerError) -> async_graphql::Error {
    {
        match &err {
            // Every pooled connection stayed busy for the pool's whole wait:
            // the server is overloaded, not broken, and a retry with the same
            // idempotency key is safe (the write, if it ran, replays).
            LedgerError::Database(cause @ sea_orm::DbErr::ConnectionAcquire(_)) => {
                tracing::warn!(error = %cause, "no database connection free for a request");
                coded(
                    "TRY_AGAIN",
                    "the server is busy: no database connection was free in time; send the request again with the \
                     same idempotency key",
                )
            }
            LedgerError::Database(cause) => {
                tracing::error!(error = %cause, "internal error on request path");
                coded("INTERNAL_SERVER_ERROR", "internal server error")
            }
            LedgerError::Internal(cause) => {
                tracing::error!(error = %cause, "broken invariant on request path");
                coded("INTERNAL_SERVER_ERROR", "internal server error")
            }
            LedgerError::Domain(e) if e.limit_breach().is_some() => {
                let breach = e.limit_breach().map(limit_extensions);
                let err = coded(e.code(), e.to_string());
                match breach {
                    Some(Ok(fields)) => err.extend_with(|_, ext| {
                        for (name, value) in fields {
                            ext.set(name, value);
                        }
                    }),
                    _ => err,
                }
            }
            other => coded(other.code(), other.to_string()),
        }
    }
}

/// The extensions of a limit refusal (`BALANCE_LIMIT_EXCEEDED`,
/// `INSUFFICIENT_FUNDS`): the account (`id`, `code`, `owner`, `asset`), the
/// bound passed (`side` LOWER or UPPER, `minor`, `amount` as a decimal string)
/// and the balance the posting would have reached (`minor`, `amount`).
fn limit_extensions(
    b: &crate::core::accounts::limit::LimitBreach,
) -> Result<[(&'static str, async_graphql::Value); 3], serde_json::Error> {
    let value = async_graphql::Value::from_json;
    Ok([
        (
            "account",
            value(serde_json::json!({
                "id": b.account.id.to_string(),
                "code": b.account.code,
                "owner": b.account.owner.to_string(),
                "asset": b.account.asset.to_string(),
            }))?,
        ),
        ("bound", value(serde_json::json!({ "side": b.side.as_str(), "minor": b.bound_minor, "amount": b.bound() }))?),
        ("balance", value(serde_json::json!({ "minor": b.balance_minor, "amount": b.balance() }))?),
    ])
}

/// Lets resolvers use `?` on domain results.
pub trait OrCoded<T> {
    /// Converts the error into a coded GraphQL error.
    fn or_coded(self) -> async_graphql::Result<T>;
}

impl<T> OrCoded<T> for Result<T, LedgerError> {
    fn or_coded(self) -> async_graphql::Result<T> {
        self.map_err(to_graphql)
    }
}

impl<T> OrCoded<T> for Result<T, DomainError> {
    fn or_coded(self) -> async_graphql::Result<T> {
        self.map_err(|e| to_graphql(LedgerError::Domain(e)))
    }
}

impl<T> OrCoded<T> for Result<T, crate::core::reports::ReportError> {
    fn or_coded(self) -> async_graphql::Result<T> {
        use crate::core::reports::ReportError;
        self.map_err(|e| match e {
            ReportError::Database(cause) => to_graphql(LedgerError::Database(cause)),
            refused => coded(refused.code(), refused.to_string()),
        })
    }
}

impl<T> OrCoded<T> for Result<T, sea_orm::DbErr> {
    fn or_coded(self) -> async_graphql::Result<T> {
        self.map_err(|e| to_graphql(LedgerError::Database(e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// OWASP GraphQL Cheat Sheet: errors must not show SQL, stack traces or
    /// internal names. A database failure reaches the caller as a bare code.
    #[test]
    fn internal_errors_show_no_sql_or_internal_names() {
        let cause = sea_orm::DbErr::Custom("relation \"balances\" violates check: SELECT * FROM entries".into());
        let err = to_graphql(LedgerError::Database(cause));
        assert_eq!(err.message, "internal server error");
        let ext = format!("{:?}", err.extensions);
        assert!(ext.contains("INTERNAL_SERVER_ERROR"), "{ext}");
        for leak in ["SELECT", "balances", "entries", "DbErr", "sea_orm"] {
            assert!(!err.message.contains(leak) && !ext.contains(leak), "{leak} leaked: {ext}");
        }
        // A caller's own mistake keeps its code and a message that says what to fix.
        let refused = to_graphql(LedgerError::Posting(crate::core::posting::PostingError::TransactionNotFound));
        assert!(format!("{:?}", refused.extensions).contains("NOT_FOUND"));
    }

    /// A request that found no free pooled connection within the pool's wait
    /// is told to retry (`TRY_AGAIN`), not that the server broke.
    #[test]
    fn a_pool_timeout_asks_the_caller_to_try_again() {
        let cause = sea_orm::DbErr::ConnectionAcquire(sea_orm::ConnAcquireErr::Timeout);
        let err = to_graphql(LedgerError::Database(cause));
        assert!(format!("{:?}", err.extensions).contains("TRY_AGAIN"), "{:?}", err.extensions);
        assert!(err.message.contains("same idempotency key"), "{}", err.message);
    }
}
