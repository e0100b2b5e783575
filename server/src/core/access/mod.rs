//! Access: who may do what. Callers and the pure access rules ([`rules`]),
//! bearer tokens and staff login ([`auth`]), API keys and staff users as
//! write-path commands ([`keys`]), and the audit log.

pub mod auth;
pub mod cache;
pub mod error;
pub(in crate::core) mod keys;
pub mod rules;
pub(in crate::core) mod store;

pub use store::{ApiKey, AuditRecord, ServiceGrant, StaffUser};

pub use error::AccessError;

use chrono::Utc;

use super::posting::{Call, Command, Ledger, Outcome};
use super::{LedgerError, Reads};
use crate::domain::MerchantId;
use keys::AccessCommand;
use rules::{Role, ServiceName, Tenant};

/// A key issued by a create or a rotation: the key record as stored, its
/// secret when this request issued it (`None` on a replay: it is shown once
/// and stored nowhere), and whether this answer is a replay.
#[derive(Debug, Clone)]
pub struct IssuedKey {
    /// The key record.
    pub api_key: ApiKey,
    /// The whole key, `lk_…` or `sk_…`, on the request that issued it only.
    pub secret: Option<String>,
    /// True on a replay.
    pub replayed: bool,
}

/// The access calls of the write path; nothing is written when one is refused.
#[derive(Debug, Clone, Copy)]
pub struct Access<'a>(pub(in crate::core) &'a Ledger);

impl Access<'_> {
    /// Issues a key for `merchant`, or (with `service`) a service key. Errors:
    /// `NOT_FOUND` (merchant), `IDEMPOTENCY_KEY_REUSED`.
    pub async fn create_key(
        &self,
        call: Call,
        merchant: MerchantId,
        service: Option<ServiceGrant>,
        name: Option<String>,
    ) -> Result<IssuedKey, LedgerError> {
        self.issue(call, AccessCommand::CreateApiKey { merchant, service, name }).await
    }

    /// Revokes `key` and issues a new one with the same merchant (or service
    /// and scopes) and name. Errors: `NOT_FOUND`, `IDEMPOTENCY_KEY_REUSED`.
    pub async fn rotate_key(&self, call: Call, key: uuid::Uuid) -> Result<IssuedKey, LedgerError> {
        let tenant = call.tenant();
        let issued = self.issue(call, AccessCommand::RotateApiKey { key }).await?;
        let old = self.key_record(tenant, key).await?;
        self.revoked(cache::AuthCache::api_key(&old.prefix)).await;
        Ok(issued)
    }

    /// Revokes `key`; revoking a revoked key changes nothing. Returns the key
    /// record and true on a replay. Errors: `NOT_FOUND`, `IDEMPOTENCY_KEY_REUSED`.
    pub async fn revoke_key(&self, call: Call, key: uuid::Uuid) -> Result<(ApiKey, bool), LedgerError> {
        let tenant = call.tenant();
        let applied = self.0.submit_call(call, Command::Access(AccessCommand::RevokeApiKey { key })).await?;
        let Outcome::ApiKey(id) = applied.outcome else {
            return Err(LedgerError::mismatch("apiKey", &applied.outcome));
        };
        let record = self.key_record(tenant, id).await?;
        self.revoked(cache::AuthCache::api_key(&record.prefix)).await;
        Ok((record, applied.replayed))
    }

    /// After a revocation committed: forgets the token named by `key` in
    /// this instance's authentication cache and tells the others
    /// ([`cache::REVOCATION_CHANNEL`]). A failed `NOTIFY` is logged, not
    /// returned: the revocation stands, and the other instances stop trusting
    /// the token within [`cache::AUTH_CACHE_TTL`].
    async fn revoked(&self, key: String) {
        self.0.auth_cache().forget(&key).await;
        if let Err(e) = store::notify(self.0.db(), cache::REVOCATION_CHANNEL, &key).await {
            tracing::warn!(error = %e, "revocation notice not sent; other instances stop trusting the token within the cache's TTL");
        }
    }

    /// Creates a staff user with an argon2id `password_hash` (see
    /// [`auth::hash_password`]). Returns the user and true on a replay.
    /// Errors: `USERNAME_TAKEN`, `IDEMPOTENCY_KEY_REUSED`.
    pub async fn create_staff_user(
        &self,
        call: Call,
        username: String,
        password_hash: String,
        role: Role,
    ) -> Result<(StaffUser, bool), LedgerError> {
        let tenant = call.tenant();
        let command = Command::Access(AccessCommand::CreateStaffUser { username, password_hash, role });
        let applied = self.0.submit_call(call, command).await?;
        let Outcome::StaffUser(id) = applied.outcome else {
            return Err(LedgerError::mismatch("staffUser", &applied.outcome));
        };
        let user = Reads::back(self.0.db(), tenant, "a staff user", async |r| Ok(store::staff_user(r.db(), id).await?));
        Ok((user.await?, applied.replayed))
    }

    /// Writes the audit record of a staff login attempt: `result` is `ok` or
    /// the error code; `session` the session id on success. Errors:
    /// [`LedgerError::Database`].
    pub async fn audit_login(
        &self,
        username: &str,
        session: Option<uuid::Uuid>,
        result: &str,
        request_id: Option<String>,
    ) -> Result<(), LedgerError> {
        let txn = super::db::begin_write(self.0.db(), Tenant::All, true).await?;
        let target = (rules::AuditTarget::Session, session.map(|s| s.to_string()));
        store::append_audit(&txn, &audit(username, "login", target, result, request_id)).await?;
        Ok(txn.commit().await?)
    }

    /// Revokes the staff session `session` of `username` (logout) and audits
    /// it, in one database transaction. Errors: [`LedgerError::Database`].
    pub async fn logout(
        &self,
        username: &str,
        session: uuid::Uuid,
        request_id: Option<String>,
    ) -> Result<(), LedgerError> {
        let txn = super::db::begin_write(self.0.db(), Tenant::All, true).await?;
        let token_hash = store::revoke_session(&txn, session).await?;
        let record =
            audit(username, "logout", (rules::AuditTarget::Session, Some(session.to_string())), "ok", request_id);
        store::append_audit(&txn, &record).await?;
        txn.commit().await?;
        if let Some(hash) = token_hash {
            self.revoked(cache::AuthCache::session(&hash)).await;
        }
        Ok(())
    }

    async fn issue(&self, call: Call, command: AccessCommand) -> Result<IssuedKey, LedgerError> {
        let tenant = call.tenant();
        let applied = self.0.submit_call(call, Command::Access(command)).await?;
        let Outcome::ApiKey(id) = applied.outcome else {
            return Err(LedgerError::mismatch("apiKey", &applied.outcome));
        };
        Ok(IssuedKey {
            api_key: self.key_record(tenant, id).await?,
            secret: applied.secret.map(|s| s.expose().to_owned()),
            replayed: applied.replayed,
        })
    }

    async fn key_record(&self, tenant: Tenant, id: uuid::Uuid) -> Result<ApiKey, LedgerError> {
        Reads::back(self.0.db(), tenant, "an api key", async |r| Ok(store::api_key(r.db(), id).await?)).await
    }
}

/// The audit record of an access action that is not a write-path command.
fn audit(
    actor: &str,
    action: &str,
    target: (rules::AuditTarget, Option<String>),
    result: &str,
    request_id: Option<String>,
) -> AuditRecord {
    AuditRecord {
        seq: 0,
        at: Utc::now(),
        actor: actor.to_owned(),
        action: action.to_owned(),
        target_type: target.0,
        target_id: target.1,
        merchant: None,
        reason: None,
        result: result.to_owned(),
        request_id,
    }
}

/// The audit log, newest first, optionally by `actor` and/or target id,
/// older than sequence `before`, at most `limit`. Errors: [`LedgerError::Database`].
pub async fn audit_page(
    reads: &Reads,
    actor: Option<&str>,
    target: Option<&str>,
    before: Option<i64>,
    limit: u64,
) -> Result<Vec<AuditRecord>, LedgerError> {
    Ok(store::audit_page(reads.db(), actor, target, before, limit).await?)
}

/// `merchant`'s API keys, newest first. Errors: [`LedgerError::Database`].
pub async fn keys_of(reads: &Reads, merchant: MerchantId) -> Result<Vec<ApiKey>, LedgerError> {
    Ok(store::api_keys_of(reads.db(), merchant).await?)
}

/// Service keys, newest first, of one service or all. Errors: [`LedgerError::Database`].
pub async fn service_keys(reads: &Reads, service: Option<&ServiceName>) -> Result<Vec<ApiKey>, LedgerError> {
    Ok(store::service_keys(reads.db(), service).await?)
}

/// Every staff user, by username. Errors: [`LedgerError::Database`].
pub async fn staff(reads: &Reads) -> Result<Vec<StaffUser>, LedgerError> {
    Ok(store::list_staff(reads.db()).await?)
}
