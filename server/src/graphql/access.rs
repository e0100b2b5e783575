//! The one place each field's access rule is checked: a guard per root field.
//!
//! Each root query and mutation carries `#[graphql(guard = "access::RULE")]`,
//! where the rule is one of the [`Access`] values below. The README's
//! authorization table lists every field against every kind of caller, and the
//! `authz` integration test runs that table against the schema, so a field
//! added without a rule fails it. Tenant scoping (a merchant key sees only its
//! merchant) is not the guard's job: it is enforced by every data access (and,
//! on PostgreSQL, by row-level security).

use async_graphql::{Context, Guard};

use super::context::{caller, refused};
use crate::domain::auth::Access;

/// A guard that admits the callers an [`Access`] rule allows.
pub struct Rule(pub Access);

impl Guard for Rule {
    async fn check(&self, ctx: &Context<'_>) -> async_graphql::Result<()> {
        self.0.check(caller(ctx)?).map_err(refused)
    }
}

/// Everyone, signed in or not: `login`.
pub const ANYONE: Rule = Rule(Access::ANYONE);
/// Any authenticated caller; merchant keys see their own merchant only.
pub const READ: Rule = Rule(Access::READ);
/// Staff of any role.
pub const STAFF_READ: Rule = Rule(Access::STAFF_READ);
/// A merchant key for its own merchant, or an admin.
pub const MERCHANT_WRITE: Rule = Rule(Access::MERCHANT_WRITE);
/// A merchant key for its own payments, or support staff.
pub const REFUND: Rule = Rule(Access::REFUND);
/// Support staff and admins.
pub const SUPPORT: Rule = Rule(Access::SUPPORT);
/// Admins only.
pub const ADMIN: Rule = Rule(Access::ADMIN);
