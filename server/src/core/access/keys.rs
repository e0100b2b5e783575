//! The write path's access-control commands: issuing, rotating and revoking
//! API keys (merchant keys and service keys), and creating staff users.
//!
//! They run inside [`crate::core::posting`]'s `apply` like every other write, so they get its
//! exactly-once handling (the idempotency key is claimed, the result stored and
//! the audit record appended in the same database transaction; a refusal
//! writes nothing and leaves the key free) with no second implementation.
//!
//! Secrets: an issued key's secret leaves this module once, as the
//! [`Secret`] beside the outcome, and reaches the caller through
//! [`crate::core::posting::Applied::secret`]. What is stored is the key's id (the
//! idempotency result) and the SHA-256 of the key (the key row), so a replay
//! answers with the same key record and no secret. A staff user's password
//! arrives already hashed (argon2id, off the write path) and is neither in
//! the fingerprint nor in the result.

use crate::core::access::AccessError;
use crate::core::merchants::MerchantError;
use chrono::Utc;
use sea_orm::ConnectionTrait;

use crate::core::LedgerError;
use crate::core::access::auth::Authenticator;
use crate::core::access::rules::{AuditTarget, Role, Secret};
use crate::core::access::store as access;
use crate::core::merchants::store as merchants;
use crate::core::posting::{Outcome, Request};
use crate::domain::MerchantId;

/// A change to who may do what.
#[derive(Debug, Clone, PartialEq)]
pub enum AccessCommand {
    /// Issue an API key: a merchant key, or (with `service`) a service key.
    CreateApiKey {
        /// The merchant it acts for; the platform for a service key.
        merchant: MerchantId,
        /// For a service key: its service and scopes.
        service: Option<access::ServiceGrant>,
        /// A label, up to 200 characters.
        name: Option<String>,
    },
    /// Revoke a key and issue a new one with the same merchant (or service and
    /// scopes) and name.
    RotateApiKey {
        /// The key replaced.
        key: uuid::Uuid,
    },
    /// Revoke a key: it stops working at once.
    RevokeApiKey {
        /// The key.
        key: uuid::Uuid,
    },
    /// Create a staff user.
    CreateStaffUser {
        /// Unique username (checked by `rules::check_new_staff`).
        username: String,
        /// The argon2id PHC string of the password (hashed before the write path).
        password_hash: String,
        /// The role.
        role: Role,
    },
}

impl AccessCommand {
    /// What the audit log records it acts on: `(target type, target id)`. A
    /// key being created has no id yet; the audit record takes the new one.
    pub fn audit_target(&self) -> (AuditTarget, Option<String>) {
        match self {
            AccessCommand::CreateApiKey { .. } => (AuditTarget::ApiKey, None),
            AccessCommand::RotateApiKey { key } | AccessCommand::RevokeApiKey { key } => {
                (AuditTarget::ApiKey, Some(key.to_string()))
            }
            AccessCommand::CreateStaffUser { username, .. } => (AuditTarget::StaffUser, Some(username.clone())),
        }
    }
}

/// Applies `command` (the command of `req`) inside `db`: the outcome, and
/// the secret of a key it issued. Errors: [`MerchantError::NotFound`]
/// (no such merchant, or the platform asked for a merchant key),
/// [`AccessError::ApiKeyNotFound`], [`AccessError::UsernameTaken`],
/// [`LedgerError::Database`].
pub(in crate::core) async fn apply(
    db: &impl ConnectionTrait,
    req: &Request,
    command: &AccessCommand,
) -> Result<(Outcome, Option<Secret>), LedgerError> {
    match command {
        AccessCommand::CreateApiKey { merchant, service, name } => {
            match service {
                // A service key belongs to the platform, whose row always exists.
                Some(_) if *merchant == MerchantId::PLATFORM => {}
                Some(_) => return Err(LedgerError::Merchant(MerchantError::NotFound)),
                None if *merchant == MerchantId::PLATFORM => {
                    return Err(LedgerError::Merchant(MerchantError::NotFound));
                }
                None => {
                    merchants::find(db, *merchant).await?.ok_or(LedgerError::Merchant(MerchantError::NotFound))?;
                }
            }
            let (key, secret) =
                Authenticator::issue_api_key(db, *merchant, service.clone(), name.clone(), req.actor.to_string())
                    .await?;
            Ok((Outcome::ApiKey(key.id), Some(secret)))
        }
        AccessCommand::RotateApiKey { key } => {
            let old = access::api_key(db, *key).await?.ok_or(LedgerError::Access(AccessError::ApiKeyNotFound))?;
            access::revoke_api_key(db, old.id, Utc::now()).await?;
            // The new key keeps what the old one was: its merchant, or its
            // service and scopes, and its name.
            let (new, secret) =
                Authenticator::issue_api_key(db, old.merchant, old.service, old.name, req.actor.to_string()).await?;
            Ok((Outcome::ApiKey(new.id), Some(secret)))
        }
        AccessCommand::RevokeApiKey { key } => {
            access::api_key(db, *key).await?.ok_or(LedgerError::Access(AccessError::ApiKeyNotFound))?;
            // Revoking a revoked key changes nothing and is not an error.
            access::revoke_api_key(db, *key, Utc::now()).await?;
            Ok((Outcome::ApiKey(*key), None))
        }
        AccessCommand::CreateStaffUser { username, password_hash, role } => {
            let user = access::StaffUser {
                id: uuid::Uuid::now_v7(),
                username: username.clone(),
                password_hash: password_hash.clone(),
                role: *role,
                created_at: Utc::now(),
            };
            if !access::insert_staff(db, &user).await? {
                return Err(LedgerError::Access(AccessError::UsernameTaken));
            }
            Ok((Outcome::StaffUser(user.id), None))
        }
    }
}
