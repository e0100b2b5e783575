//! The one guard every root field carries: it checks the caller against the
//! field's rule in [`FIELD_ACCESS`].
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

use async_graphql::{Context, Guard};

use super::context::{caller, refused};
use crate::core::access::rules::{AccessError, field_access};

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
