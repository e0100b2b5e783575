//! The one guard every root field carries ([`FIELD`]), and the GraphQL of the
//! access aggregate's reads: the caller (`me`), staff users, API keys and the
//! audit log. Its mutations are in [`super::access_mutation`].
//!
//! The guard checks the caller against the field's rule in [`FIELD_ACCESS`].
//!
//! Each root query, mutation and subscription carries
//! `#[graphql(guard = "access::FIELD")]`. The guard looks the field up by its
//! GraphQL name (not an alias) in `domain::auth::FIELD_ACCESS`, the one table
//! of who may call what and which scope a service key needs; a field missing
//! from it is refused to everyone. The README's authorization table lists every
//! field against every kind of caller, and the `authz` integration test runs
//! that table against the schema, so a field added without a rule fails it.
//! Tenant scoping (a merchant key sees only its merchant) is not the guard's
//! job: it is enforced by every data access (and, on PostgreSQL, by row-level
//! security).
//!
//! [`FIELD_ACCESS`]: crate::core::access::rules::FIELD_ACCESS

use async_graphql::connection::{Connection, OpaqueCursor};
use async_graphql::{Context, Enum, Guard, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::common::{decode_cursor, page_of, parse_merchant_id};
use super::context::{caller, not_found, reads, refused};
use super::error::OrCoded;
use super::{access, list_cost, page_size};
use crate::core::access::rules::{AccessError, Caller, Role, ServiceName, field_access};
use crate::core::access::{ApiKey, AuditRecord, StaffUser};

/// The guard that admits the callers the field's [`crate::core::access::rules::Access`] rule allows.
pub struct FieldRule;

impl Guard for FieldRule {
    async fn check(&self, ctx: &Context<'_>) -> async_graphql::Result<()> {
        let field = ctx.field().name();
        let Some(rule) = field_access(field) else {
            // A bug, not the caller's doing: say so in the log, refuse the call.
            tracing::error!(field, "root field has no access rule; refused");
            return Err(refused(AccessError::Forbidden));
        };
        rule.check(caller(ctx)?).map_err(refused)
    }
}

/// The guard of every root field.
pub const FIELD: FieldRule = FieldRule;

/// A staff role. Serialized (for a request's fingerprint) as on the wire: `SUPPORT`.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq, Serialize)]
#[graphql(name = "StaffRole", remote = "Role")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StaffRoleType {
    /// Reads everything.
    Viewer,
    /// Also refunds, reverses and resolves disputes, with a reason.
    Support,
    /// Also manages staff, merchants and keys.
    Admin,
}

/// The kind of an authenticated caller.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum CallerKind {
    /// A merchant API key.
    Merchant,
    /// A platform service's key, limited to its scopes.
    Service,
    /// A logged-in staff member.
    Staff,
}

/// The authenticated caller, as `me` shows it.
#[derive(SimpleObject, Debug, Clone)]
#[graphql(name = "Caller")]
pub struct CallerNode {
    /// Merchant key, service key or staff.
    pub kind: CallerKind,
    /// The key's merchant (merchant keys only).
    pub merchant_id: Option<ID>,
    /// The key's visible prefix (merchant and service keys).
    pub key_prefix: Option<String>,
    /// The service's name (service keys only).
    pub service: Option<String>,
    /// What the key may do, e.g. `payments:write` (service keys only).
    pub scopes: Option<Vec<String>>,
    /// The staff username.
    pub username: Option<String>,
    /// The staff role.
    pub role: Option<StaffRoleType>,
}

impl CallerNode {
    /// The node for an authenticated caller; `None` for an anonymous one.
    pub fn of(c: &Caller) -> Option<CallerNode> {
        match c {
            Caller::Anonymous => None,
            Caller::Merchant { merchant, key_prefix } => Some(CallerNode {
                kind: CallerKind::Merchant,
                merchant_id: Some(ID(merchant.to_string())),
                key_prefix: Some(key_prefix.clone()),
                service: None,
                scopes: None,
                username: None,
                role: None,
            }),
            Caller::Service { name, key_prefix, scopes } => Some(CallerNode {
                kind: CallerKind::Service,
                merchant_id: None,
                key_prefix: Some(key_prefix.clone()),
                service: Some(name.to_string()),
                scopes: Some(scopes.iter().map(|s| s.as_str().to_owned()).collect()),
                username: None,
                role: None,
            }),
            Caller::Staff { username, role, .. } => Some(CallerNode {
                kind: CallerKind::Staff,
                merchant_id: None,
                key_prefix: None,
                service: None,
                scopes: None,
                username: Some(username.clone()),
                role: Some((*role).into()),
            }),
        }
    }
}

/// A staff user (never its password).
pub struct StaffUserNode(pub StaffUser);

#[Object(name = "StaffUser")]
impl StaffUserNode {
    /// Its id.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// Its username.
    async fn username(&self) -> &str {
        &self.0.username
    }
    /// Its role.
    async fn role(&self) -> StaffRoleType {
        self.0.role.into()
    }
    /// When it was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// Whose an API key is.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum ApiKeyKind {
    /// A merchant's key: acts for that merchant only.
    Merchant,
    /// A platform service's key: acts for every merchant, within its scopes.
    Service,
}

/// An API key (a merchant's or a service's), by prefix only: its secret is
/// shown once, when it is issued.
pub struct ApiKeyNode(pub ApiKey);

#[Object(name = "ApiKey")]
impl ApiKeyNode {
    /// Its id.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// Merchant key or service key.
    async fn kind(&self) -> ApiKeyKind {
        if self.0.service.is_some() { ApiKeyKind::Service } else { ApiKeyKind::Merchant }
    }
    /// The merchant it acts for; for a service key, the platform's id (the nil UUID).
    async fn merchant_id(&self) -> ID {
        ID(self.0.merchant.to_string())
    }
    /// The service a service key belongs to; null for a merchant key.
    async fn service(&self) -> Option<&str> {
        self.0.service.as_ref().map(|s| s.name.as_str())
    }
    /// What a service key may do, e.g. `payments:write`; empty for a merchant key.
    async fn scopes(&self) -> Vec<&'static str> {
        self.0.service.as_ref().map(|s| s.scopes.iter().map(|scope| scope.as_str()).collect()).unwrap_or_default()
    }
    /// The visible prefix, `lk_<8 chars>` (merchant) or `sk_<8 chars>`
    /// (service), recorded in the actor of what it posts.
    async fn prefix(&self) -> &str {
        &self.0.prefix
    }
    /// A label.
    async fn name(&self) -> Option<&str> {
        self.0.name.as_deref()
    }
    /// Who created it.
    async fn created_by(&self) -> &str {
        &self.0.created_by
    }
    /// When it was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// When it was revoked; null while it works.
    async fn revoked_at(&self) -> Option<DateTime<Utc>> {
        self.0.revoked_at
    }
}

/// One record of the audit log: a staff action and its result.
pub struct AuditEntryNode(pub AuditRecord);

#[Object(name = "AuditEntry")]
impl AuditEntryNode {
    /// Its id (its sequence number in the log).
    async fn id(&self) -> ID {
        ID(self.0.seq.to_string())
    }
    /// Its place in the log.
    async fn sequence(&self) -> i64 {
        self.0.seq
    }
    /// When it happened.
    async fn at(&self) -> DateTime<Utc> {
        self.0.at
    }
    /// The staff username.
    async fn actor(&self) -> &str {
        &self.0.actor
    }
    /// The mutation, e.g. `reverseTransaction`.
    async fn action(&self) -> &str {
        &self.0.action
    }
    /// What it acted on: `transaction`, `payment`, `payout`, `merchant`,
    /// `api_key`, `staff_user`, `session`, ….
    async fn target_type(&self) -> &str {
        self.0.target_type.as_str()
    }
    /// The target's id.
    async fn target_id(&self) -> Option<&str> {
        self.0.target_id.as_deref()
    }
    /// The merchant the target belongs to.
    async fn merchant_id(&self) -> Option<ID> {
        self.0.merchant.map(|m| ID(m.to_string()))
    }
    /// The reason given.
    async fn reason(&self) -> Option<&str> {
        self.0.reason.as_deref()
    }
    /// `ok`, or the error code the action was refused with.
    async fn result(&self) -> &str {
        &self.0.result
    }
    /// The HTTP request id.
    async fn request_id(&self) -> Option<&str> {
        self.0.request_id.as_deref()
    }
}

/// The root queries of access control, merged into [`super::QueryRoot`].
#[derive(Default)]
pub struct AccessQuery;

#[Object]
impl AccessQuery {
    /// Who is calling: a merchant key (its merchant and prefix), a service key
    /// (its service, prefix and scopes) or a staff member (username and role).
    #[graphql(guard = "access::FIELD")]
    async fn me(&self, ctx: &Context<'_>) -> async_graphql::Result<CallerNode> {
        CallerNode::of(caller(ctx)?).ok_or_else(not_found)
    }

    /// Every staff user, by username. Staff only.
    #[graphql(guard = "access::FIELD", complexity = "super::NOMINAL_LIST_LEN * child_complexity + 1")]
    async fn staff_users(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<StaffUserNode>> {
        let rows = crate::core::access::staff(&reads(ctx).await?).await.or_coded()?;
        Ok(rows.into_iter().map(StaffUserNode).collect())
    }

    /// A merchant's API keys, newest first, by prefix only (the secret is never
    /// shown again); service keys are listed by `serviceKeys`. Staff only.
    #[graphql(guard = "access::FIELD", complexity = "super::NOMINAL_LIST_LEN * child_complexity + 1")]
    async fn api_keys(&self, ctx: &Context<'_>, merchant_id: ID) -> async_graphql::Result<Vec<ApiKeyNode>> {
        let merchant = parse_merchant_id(&merchant_id)?;
        let rows = crate::core::access::keys_of(&reads(ctx).await?, merchant).await.or_coded()?;
        Ok(rows.into_iter().map(ApiKeyNode).collect())
    }

    /// Service keys (the platform's own services' keys), newest first, of
    /// one `service` when given: prefix, service and scopes, never the secret.
    /// Staff only. Errors: `BAD_USER_INPUT` (not a service name).
    #[graphql(guard = "access::FIELD", complexity = "super::NOMINAL_LIST_LEN * child_complexity + 1")]
    async fn service_keys(&self, ctx: &Context<'_>, service: Option<String>) -> async_graphql::Result<Vec<ApiKeyNode>> {
        let service = service
            .as_deref()
            .map(ServiceName::parse)
            .transpose()
            .map_err(|m| super::error::coded(super::error::BAD_USER_INPUT, m))?;
        let rows = crate::core::access::service_keys(&reads(ctx).await?, service.as_ref()).await.or_coded()?;
        Ok(rows.into_iter().map(ApiKeyNode).collect())
    }

    /// The audit log of staff actions, newest first; a Relay connection. `actor`
    /// is a staff username; `target` matches the target's id or its merchant's id.
    /// Staff only.
    #[graphql(guard = "access::FIELD", complexity = "list_cost(first, child_complexity)")]
    async fn audit_log(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        actor: Option<String>,
        target: Option<String>,
    ) -> async_graphql::Result<Connection<OpaqueCursor<i64>, AuditEntryNode>> {
        let limit = page_size(first)?;
        let before = after.as_deref().map(decode_cursor).transpose()?;
        let rows =
            crate::core::access::audit_page(&reads(ctx).await?, actor.as_deref(), target.as_deref(), before, limit + 1)
                .await
                .or_coded()?;
        Ok(page_of(rows, limit, before.is_some(), |r| OpaqueCursor(r.seq), AuditEntryNode))
    }
}
