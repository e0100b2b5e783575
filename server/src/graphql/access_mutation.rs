//! Mutations of who may do what: staff login and logout, merchant API keys and
//! staff users. Every one of them is a staff action (login and logout included)
//! and is written to the audit log; where the action writes, its audit record
//! commits in the same database transaction.

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseTransaction};

use super::access;
use super::context::{caller, not_found, refused, request};
use super::error::{BAD_USER_INPUT, OrCoded, coded};
use super::types::{ApiKeyNode, StaffRoleType, StaffUserNode, parse_merchant_id, parse_uuid};
use crate::auth::{AuthError, Authenticator};
use crate::domain::auth::{AccessError, Caller, Tenant, check_new_staff};
use crate::domain::{MerchantId, MerchantName};
use crate::store::{self, access as access_store, merchants};

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
#[derive(InputObject)]
pub struct CreateApiKeyInput {
    /// The merchant the key acts for.
    pub merchant_id: ID,
    /// A label, up to 200 characters.
    pub name: Option<String>,
}

/// A newly issued API key.
#[derive(SimpleObject)]
pub struct NewApiKeyPayload {
    /// The whole key, `lk_<8 chars>_<secret>`. Shown only here, once: only its
    /// hash is stored.
    pub key: String,
    /// The key as listed from now on (prefix only).
    pub api_key: ApiKeyNode,
}

/// Input of `createStaffUser`.
#[derive(InputObject)]
pub struct CreateStaffUserInput {
    /// 1 to 64 of `a-z 0-9 . _ -`; unique.
    pub username: String,
    /// 12 to 128 characters; stored only as an argon2id hash.
    pub password: String,
    /// The role.
    pub role: StaffRoleType,
}

/// The staff username of the caller (the guard has admitted only staff).
fn staff_name(ctx: &Context<'_>) -> async_graphql::Result<String> {
    caller(ctx)?.staff_username().map(str::to_owned).ok_or_else(|| refused(AccessError::Forbidden))
}

/// Appends the audit record of an access action in `db`.
async fn audit(
    ctx: &Context<'_>,
    db: &impl ConnectionTrait,
    actor: &str,
    action: &str,
    target: (&str, Option<String>),
    merchant: Option<MerchantId>,
    result: &str,
) -> async_graphql::Result<()> {
    let record = access_store::AuditRecord {
        seq: 0,
        at: Utc::now(),
        actor: actor.to_owned(),
        action: action.to_owned(),
        target_type: target.0.to_owned(),
        target_id: target.1,
        merchant,
        reason: None,
        result: result.to_owned(),
        request_id: request(ctx)?.request_id.clone(),
    };
    access_store::append_audit(db, &record).await.or_coded()
}

/// A write transaction as the server itself (staff actions span tenants).
async fn begin(ctx: &Context<'_>) -> async_graphql::Result<DatabaseTransaction> {
    let rc = request(ctx)?;
    // The request's reads end first, so this request never holds two connections.
    rc.finish_reads().await;
    store::begin_write(super::ledger(ctx)?.db(), Tenant::All, true).await.or_coded()
}

fn auth_error(e: AuthError) -> async_graphql::Error {
    match e {
        AuthError::Unauthenticated => coded("UNAUTHENTICATED", e.to_string()),
        AuthError::InvalidCredentials => coded("INVALID_CREDENTIALS", e.to_string()),
        AuthError::RateLimited => coded("RATE_LIMITED", e.to_string()),
        AuthError::Internal(cause) => super::error::to_graphql(crate::ledger::LedgerError::Database(cause)),
    }
}

#[Object]
impl AccessMutation {
    /// Logs a staff user in and returns a session token that expires after the
    /// server's session TTL. Callable without credentials. Errors:
    /// `INVALID_CREDENTIALS` (never says whether the username exists),
    /// `RATE_LIMITED` after too many attempts for the username in a minute.
    #[graphql(guard = "access::ANYONE", complexity = "super::MUTATION_COST + child_complexity")]
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
        let txn = begin(ctx).await?;
        let target = result.as_ref().ok().map(|s| s.user.id.to_string());
        audit(ctx, &txn, &username, "login", ("session", target), None, code).await?;
        txn.commit().await.or_coded()?;
        let session = result.map_err(auth_error)?;
        Ok(SessionPayload { token: session.token, expires_at: session.expires_at, user: StaffUserNode(session.user) })
    }

    /// Revokes the caller's session: its token stops working at once.
    #[graphql(guard = "access::STAFF_READ", complexity = "super::MUTATION_COST + child_complexity")]
    async fn logout(&self, ctx: &Context<'_>) -> async_graphql::Result<bool> {
        let Caller::Staff { username, session, .. } = caller(ctx)? else {
            return Err(refused(AccessError::Forbidden));
        };
        let txn = begin(ctx).await?;
        access_store::revoke_session(&txn, *session).await.or_coded()?;
        audit(ctx, &txn, username, "logout", ("session", Some(session.to_string())), None, "ok").await?;
        txn.commit().await.or_coded()?;
        Ok(true)
    }

    /// Issues an API key for a merchant. The key is returned once and never
    /// again. Errors: `NOT_FOUND` (merchant), `BAD_USER_INPUT` (`name` empty or over 200 characters).
    #[graphql(guard = "access::ADMIN", complexity = "super::MUTATION_COST + child_complexity")]
    async fn create_api_key(
        &self,
        ctx: &Context<'_>,
        input: CreateApiKeyInput,
    ) -> async_graphql::Result<NewApiKeyPayload> {
        let merchant = parse_merchant_id(&input.merchant_id)?;
        let name = match input.name {
            Some(n) => Some(MerchantName::parse(&n).or_coded()?.as_str().to_owned()),
            None => None,
        };
        let actor = staff_name(ctx)?;
        let txn = begin(ctx).await?;
        if merchant == MerchantId::PLATFORM || merchants::find(&txn, merchant).await.or_coded()?.is_none() {
            return Err(not_found());
        }
        let (key, secret) =
            Authenticator::issue_api_key(&txn, merchant, name, format!("staff:{actor}")).await.map_err(auth_error)?;
        audit(ctx, &txn, &actor, "createApiKey", ("api_key", Some(key.id.to_string())), Some(merchant), "ok").await?;
        txn.commit().await.or_coded()?;
        Ok(NewApiKeyPayload { key: secret, api_key: ApiKeyNode(key) })
    }

    /// Replaces a key: revokes it and issues a new one for the same merchant and
    /// name, returned once. Errors: `NOT_FOUND`.
    #[graphql(guard = "access::ADMIN", complexity = "super::MUTATION_COST + child_complexity")]
    async fn rotate_api_key(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<NewApiKeyPayload> {
        let id = parse_uuid(&id, "api key id")?;
        let actor = staff_name(ctx)?;
        let txn = begin(ctx).await?;
        let old = access_store::api_key(&txn, id).await.or_coded()?.ok_or_else(not_found)?;
        access_store::revoke_api_key(&txn, id, Utc::now()).await.or_coded()?;
        let (key, secret) =
            Authenticator::issue_api_key(&txn, old.merchant, old.name.clone(), format!("staff:{actor}"))
                .await
                .map_err(auth_error)?;
        audit(ctx, &txn, &actor, "rotateApiKey", ("api_key", Some(id.to_string())), Some(old.merchant), "ok").await?;
        txn.commit().await.or_coded()?;
        Ok(NewApiKeyPayload { key: secret, api_key: ApiKeyNode(key) })
    }

    /// Revokes a key: it stops working at once. Revoking a revoked key is a
    /// no-op. Errors: `NOT_FOUND`.
    #[graphql(guard = "access::ADMIN", complexity = "super::MUTATION_COST + child_complexity")]
    async fn revoke_api_key(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<ApiKeyNode> {
        let id = parse_uuid(&id, "api key id")?;
        let actor = staff_name(ctx)?;
        let txn = begin(ctx).await?;
        let mut key = access_store::api_key(&txn, id).await.or_coded()?.ok_or_else(not_found)?;
        let now = Utc::now();
        if access_store::revoke_api_key(&txn, id, now).await.or_coded()? {
            key.revoked_at = Some(now);
        }
        audit(ctx, &txn, &actor, "revokeApiKey", ("api_key", Some(id.to_string())), Some(key.merchant), "ok").await?;
        txn.commit().await.or_coded()?;
        Ok(ApiKeyNode(key))
    }

    /// Creates a staff user. Errors: `BAD_USER_INPUT` (username shape, password
    /// length), `USERNAME_TAKEN`.
    #[graphql(guard = "access::ADMIN", complexity = "super::MUTATION_COST + child_complexity")]
    async fn create_staff_user(
        &self,
        ctx: &Context<'_>,
        input: CreateStaffUserInput,
    ) -> async_graphql::Result<StaffUserNode> {
        check_new_staff(&input.username, &input.password).map_err(|m| coded(BAD_USER_INPUT, m))?;
        let actor = staff_name(ctx)?;
        let user = access_store::StaffUser {
            id: uuid::Uuid::now_v7(),
            username: input.username.clone(),
            password_hash: crate::auth::hash_password(&input.password).await.map_err(auth_error)?,
            role: input.role.into(),
            created_at: Utc::now(),
        };
        let txn = begin(ctx).await?;
        let created = access_store::insert_staff(&txn, &user).await.or_coded()?;
        let result = if created { "ok" } else { "USERNAME_TAKEN" };
        audit(ctx, &txn, &actor, "createStaffUser", ("staff_user", Some(user.username.clone())), None, result).await?;
        txn.commit().await.or_coded()?;
        if !created {
            return Err(coded("USERNAME_TAKEN", "a staff user with this username exists"));
        }
        Ok(StaffUserNode(user))
    }
}
