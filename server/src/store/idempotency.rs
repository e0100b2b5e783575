//! Idempotency records: one row per (owner, key) with the request's fingerprint
//! and, once the write commits, its result.

use chrono::Utc;
use sea_orm::{ConnectionTrait, DbErr};

use super::stmt;
use crate::domain::{Fingerprint, IdempotencyKey, MerchantId};

/// The outcome of claiming a key.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// The key was free and is now held by this transaction until it commits or
    /// rolls back.
    Claimed,
    /// The key was used before, by a committed request with this fingerprint and result.
    Used {
        /// The earlier request's fingerprint.
        fingerprint: Fingerprint,
        /// The earlier request's stored result.
        result: Option<serde_json::Value>,
    },
}

/// Claims `key` for `scope` inside the open transaction. If another transaction
/// holds an uncommitted claim on the same key, the database makes this call wait
/// until that one commits (then this returns [`Claim::Used`]) or rolls back (then
/// this claims it). That is what makes concurrent duplicates write exactly once.
pub async fn claim(
    db: &impl ConnectionTrait,
    scope: MerchantId,
    key: &IdempotencyKey,
    operation: &str,
    fingerprint: &Fingerprint,
) -> Result<Claim, DbErr> {
    let inserted = db
        .query_one_raw(stmt(
            db,
            "INSERT INTO idempotency_keys (merchant_id, key, operation, fingerprint, result, created_at) \
             VALUES ($1, $2, $3, $4, NULL, $5) ON CONFLICT (merchant_id, key) DO NOTHING RETURNING key",
            vec![scope.0.into(), key.as_str().into(), operation.into(), fingerprint.as_str().into(), Utc::now().into()],
        ))
        .await?;
    if inserted.is_some() {
        return Ok(Claim::Claimed);
    }
    let row = db
        .query_one_raw(stmt(
            db,
            "SELECT fingerprint, result FROM idempotency_keys WHERE merchant_id = $1 AND key = $2",
            vec![scope.0.into(), key.as_str().into()],
        ))
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("idempotency key vanished after conflict".into()))?;
    Ok(Claim::Used {
        fingerprint: Fingerprint::from_stored(row.try_get("", "fingerprint")?),
        result: row.try_get("", "result")?,
    })
}

/// Stores the result of the request that claimed `key`, in the same transaction
/// as the write itself.
pub async fn complete(
    db: &impl ConnectionTrait,
    scope: MerchantId,
    key: &IdempotencyKey,
    result: &serde_json::Value,
) -> Result<(), DbErr> {
    db.execute_raw(stmt(
        db,
        "UPDATE idempotency_keys SET result = $1 WHERE merchant_id = $2 AND key = $3",
        vec![result.clone().into(), scope.0.into(), key.as_str().into()],
    ))
    .await?;
    Ok(())
}
