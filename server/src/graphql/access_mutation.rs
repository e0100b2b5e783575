//! Mutations of who may do what: staff login and logout, API keys (merchant
//! keys and service keys) and staff users. Every one of them is a staff action
//! (login and logout included) and is written to the audit log; where the
//! action writes, its audit record commits in the same database transaction.
//!
//! The key and staff mutations take a required `idempotencyKey` and go through
//! the ledger's write path (`ledger::keys`), with the money mutations' rules:
//! the same key and input replay the first result (`replayed: true`), other
//! input under the key is `IDEMPOTENCY_KEY_REUSED`, a refusal writes nothing
//! and leaves the key free. A replay of a mutation that issued a key answers
//! with the same key record and `key: null`: the secret is shown once and
//! stored nowhere, not even in the idempotency record.

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::access::{ApiKeyNode, StaffRoleType, StaffUserNode};
use super::common::{call, parse_merchant_id, parse_uuid};
use super::context::{caller, refused, request};
use super::error::{BAD_USER_INPUT, OrCoded, coded};
use super::{access, ledger};
use crate::core::LedgerError;
use crate::core::access::IssuedKey;
use crate::core::access::auth::{AuthError, Authenticator};
use crate::core::access::rules::{AccessError, Caller, Scopes, ServiceName, check_new_staff};
use crate::domain::{MerchantId, MerchantName};

/// The mutations of access control, merged into the root mutation.
#[derive(Default)]
pub struct AccessMutation;

/// A staff session: the bearer token for `Authorization: Bearer <token>`.
#[derive(SimpleObject)]
pub struct SessionPayload {
    /// The session token, `ls_…`. Shown once; keep it secret.
    pub token: String,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
    /// Who is logged in.
    pub user: StaffUserNode,
}

/// Input of `createApiKey`.
#[derive(InputObject, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateApiKeyInput {
    /// The merchant the key acts for.
    pub merchant_id: ID,
    /// A label, up to 200 characters.
    pub name: Option<String>,
    /// Idempotency key, 1 to 255 visible ASCII characters.
    #[serde(skip)]
    pub idempotency_key: String,
}

/// Input of `createServiceKey`.
#[derive(InputObject, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateServiceKeyInput {
    /// The service it belongs to, e.g. `card-processing`: 1 to 64 of
    /// `a-z 0-9 . _ -`, starting with a letter.
    pub service: String,
    /// What it may do, at least one of `payments:write`, `disputes:write`,
    /// `payouts:write`, `transactions:write`, `ledger:read`,
    /// `reconciliation:write`.
    pub scopes: Vec<String>,
    /// A label, up to 200 characters.
    pub name: Option<String>,
    /// Idempotency key, 1 to 255 visible ASCII characters.
    #[serde(skip)]
    pub idempotency_key: String,
}

/// A newly issued API key (merchant or service key).
#[derive(SimpleObject)]
pub struct NewApiKeyPayload {
    /// The whole key, `lk_<8 chars>_<secret>` or `sk_<8 chars>_<secret>`.
    /// Shown only here, once: only its hash is stored. Null on a replay.
    pub key: Option<String>,
    /// The key as listed from now on (prefix only).
    pub api_key: ApiKeyNode,
    /// True when this answer replays an earlier request with the same key.
    pub replayed: bool,
}

/// Result of `revokeApiKey`.
#[derive(SimpleObject)]
pub struct ApiKeyPayload {
    /// The key after the change.
    pub api_key: ApiKeyNode,
    /// True when this answer replays an earlier request with the same key.
    pub replayed: bool,
}

/// Input of `createStaffUser`.
#[derive(InputObject, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateStaffUserInput {
    /// 1 to 64 of `a-z 0-9 . _ -`; unique.
    pub username: String,
    /// 12 to 128 characters; stored only as an argon2id hash. Not part of the
    /// request's fingerprint: a retry is recognised by username and role.
    #[serde(skip)]
    pub password: String,
    /// The role.
    pub role: StaffRoleType,
    /// Idempotency key, 1 to 255 visible ASCII characters.
    #[serde(skip)]
    pub idempotency_key: String,
}

/// Result of `createStaffUser`.
#[derive(SimpleObject)]
pub struct StaffUserPayload {
    /// The staff user.
    pub user: StaffUserNode,
    /// True when this answer replays an earlier request with the same key.
    pub replayed: bool,
}

fn auth_error(e: AuthError) -> async_graphql::Error {
    match e {
        AuthError::Unauthenticated => coded("UNAUTHENTICATED", e.to_string()),
        AuthError::InvalidCredentials => coded("INVALID_CREDENTIALS", e.to_string()),
        AuthError::RateLimited => coded("RATE_LIMITED", e.to_string()),
        AuthError::Internal(cause) => super::error::to_graphql(LedgerError::Database(cause)),
        AuthError::Hashing(cause) => super::error::to_graphql(LedgerError::Internal(cause)),
    }
}

#[Object]
impl AccessMutation {
    /// Logs a staff user in and returns a session token that expires after the
    /// server's session TTL. Callable without credentials. Errors:
    /// `INVALID_CREDENTIALS` (never says whether the username exists),
    /// `RATE_LIMITED` after too many attempts for the username in a minute.
    #[graphql(guard = "access::FIELD", complexity = "super::MUTATION_COST + child_complexity")]
    async fn login(
        &self,
        ctx: &Context<'_>,
        username: String,
        password: String,
    ) -> async_graphql::Result<SessionPayload> {
        let auth = ctx.data::<std::sync::Arc<Authenticator>>()?;
        let result = auth.login(&username, &password).await;
        let code = match &result {
            Ok(_) => "ok",
            Err(AuthError::InvalidCredentials) => "INVALID_CREDENTIALS",
            Err(AuthError::RateLimited) => "RATE_LIMITED",
            Err(_) => "INTERNAL_SERVER_ERROR",
        };
        let rc = request(ctx)?;
        // The request's reads end first, so this request never holds two connections.
        rc.finish_reads().await;
        let session = result.as_ref().ok().map(|s| s.user.id);
        ledger(ctx)?.access().audit_login(&username, session, code, rc.request_id.clone()).await.or_coded()?;
        let session = result.map_err(auth_error)?;
        Ok(SessionPayload { token: session.token, expires_at: session.expires_at, user: StaffUserNode(session.user) })
    }

    /// Revokes the caller's session: its token stops working at once.
    #[graphql(guard = "access::FIELD", complexity = "super::MUTATION_COST + child_complexity")]
    async fn logout(&self, ctx: &Context<'_>) -> async_graphql::Result<bool> {
        let Caller::Staff { username, session, .. } = caller(ctx)? else {
            return Err(refused(AccessError::Forbidden));
        };
        let rc = request(ctx)?;
        rc.finish_reads().await;
        ledger(ctx)?.access().logout(username, *session, rc.request_id.clone()).await.or_coded()?;
        Ok(true)
    }

    /// Issues an API key for a merchant. The key is returned once and never
    /// again (a replay answers `key: null`). Errors: `NOT_FOUND` (merchant),
    /// `BAD_USER_INPUT` (`name` empty or over 200 characters),
    /// `IDEMPOTENCY_KEY_REUSED`, `IDEMPOTENCY_KEY_INVALID`.
    #[graphql(guard = "access::FIELD", complexity = "super::MUTATION_COST + child_complexity")]
    async fn create_api_key(
        &self,
        ctx: &Context<'_>,
        input: CreateApiKeyInput,
    ) -> async_graphql::Result<NewApiKeyPayload> {
        let merchant = parse_merchant_id(&input.merchant_id)?;
        let name = label(input.name.as_deref())?;
        let call = call(ctx, &input.idempotency_key, "createApiKey", &input).await?;
        new_key(ledger(ctx)?.access().create_key(call, merchant, None, name).await)
    }

    /// Issues a key for one of the platform's own services (the card
    /// processing service, the bank service), limited to `scopes`; see the
    /// README's authorization table for the scope each field needs. The key,
    /// `sk_<8 chars>_<secret>`, acts for every merchant and is returned once
    /// (a replay answers `key: null`). Errors: `BAD_USER_INPUT` (service name,
    /// unknown or no scopes, `name`), `IDEMPOTENCY_KEY_REUSED`,
    /// `IDEMPOTENCY_KEY_INVALID`.
    #[graphql(guard = "access::FIELD", complexity = "super::MUTATION_COST + child_complexity")]
    async fn create_service_key(
        &self,
        ctx: &Context<'_>,
        input: CreateServiceKeyInput,
    ) -> async_graphql::Result<NewApiKeyPayload> {
        let grant = crate::core::access::ServiceGrant {
            name: ServiceName::parse(&input.service).map_err(|m| coded(BAD_USER_INPUT, m))?,
            scopes: Scopes::parse(&input.scopes).map_err(|m| coded(BAD_USER_INPUT, m))?,
        };
        let name = label(input.name.as_deref())?;
        let call = call(ctx, &input.idempotency_key, "createServiceKey", &input).await?;
        new_key(ledger(ctx)?.access().create_key(call, MerchantId::PLATFORM, Some(grant), name).await)
    }

    /// Replaces a key: revokes it and issues a new one for the same merchant
    /// (or the same service and scopes) and name, returned once (a replay
    /// answers `key: null`). Errors: `NOT_FOUND`, `IDEMPOTENCY_KEY_REUSED`,
    /// `IDEMPOTENCY_KEY_INVALID`.
    #[graphql(guard = "access::FIELD", complexity = "super::MUTATION_COST + child_complexity")]
    async fn rotate_api_key(
        &self,
        ctx: &Context<'_>,
        id: ID,
        idempotency_key: String,
    ) -> async_graphql::Result<NewApiKeyPayload> {
        let key = parse_uuid(&id, "api key id")?;
        let input = serde_json::json!({ "id": key.to_string() });
        let call = call(ctx, &idempotency_key, "rotateApiKey", &input).await?;
        new_key(ledger(ctx)?.access().rotate_key(call, key).await)
    }

    /// Revokes a key (merchant or service key): it stops working at once.
    /// Revoking a revoked key changes nothing. Errors: `NOT_FOUND`,
    /// `IDEMPOTENCY_KEY_REUSED`, `IDEMPOTENCY_KEY_INVALID`.
    #[graphql(guard = "access::FIELD", complexity = "super::MUTATION_COST + child_complexity")]
    async fn revoke_api_key(
        &self,
        ctx: &Context<'_>,
        id: ID,
        idempotency_key: String,
    ) -> async_graphql::Result<ApiKeyPayload> {
        let key = parse_uuid(&id, "api key id")?;
        let input = serde_json::json!({ "id": key.to_string() });
        let call = call(ctx, &idempotency_key, "revokeApiKey", &input).await?;
        let (key, replayed) = ledger(ctx)?.access().revoke_key(call, key).await.or_coded()?;
        Ok(ApiKeyPayload { api_key: ApiKeyNode(key), replayed })
    }

    /// Creates a staff user. The password is not part of the request's
    /// fingerprint (nothing derived from it is kept but its argon2id hash), so
    /// a retry with the same key, username and role replays the first answer
    /// whatever password it carries. Errors: `BAD_USER_INPUT` (username shape,
    /// password length), `USERNAME_TAKEN`, `IDEMPOTENCY_KEY_REUSED`,
    /// `IDEMPOTENCY_KEY_INVALID`.
    #[graphql(guard = "access::FIELD", complexity = "super::MUTATION_COST + child_complexity")]
    async fn create_staff_user(
        &self,
        ctx: &Context<'_>,
        input: CreateStaffUserInput,
    ) -> async_graphql::Result<StaffUserPayload> {
        check_new_staff(&input.username, &input.password).map_err(|m| coded(BAD_USER_INPUT, m))?;
        // argon2id takes tens of milliseconds: hashed before the write path, so
        // no database transaction waits for it.
        let password_hash = crate::core::access::auth::hash_password(&input.password).await.map_err(auth_error)?;
        let call = call(ctx, &input.idempotency_key, "createStaffUser", &input).await?;
        let (user, replayed) = ledger(ctx)?
            .access()
            .create_staff_user(call, input.username.clone(), password_hash, input.role.into())
            .await
            .or_coded()?;
        Ok(StaffUserPayload { user: StaffUserNode(user), replayed })
    }
}

/// A key's label: 1 to 200 characters when given. Errors: `BAD_USER_INPUT`.
fn label(name: Option<&str>) -> async_graphql::Result<Option<String>> {
    name.map(|n| MerchantName::parse(n).map(|n| n.as_str().to_owned()).or_coded()).transpose()
}

/// The answer of a mutation that issued a key: the key record as stored, and
/// its secret when this request issued it (none on a replay).
fn new_key(issued: Result<IssuedKey, LedgerError>) -> async_graphql::Result<NewApiKeyPayload> {
    let issued = issued.or_coded()?;
    Ok(NewApiKeyPayload { key: issued.secret, api_key: ApiKeyNode(issued.api_key), replayed: issued.replayed })
}
