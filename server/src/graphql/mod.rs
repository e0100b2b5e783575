//! The GraphQL API: schema, root query and mutation, error codes and limits.
//!
//! Resolvers parse their inputs into domain types once (`parse at the edge`),
//! hand writes to [`crate::core::posting::Ledger::submit`], and build output types from
//! domain/store types. Every error carries a stable `extensions.code`.
//!
//! One file per aggregate of [`crate::core`] holds that aggregate's types, its
//! root queries and its mutations: [`merchants`], [`accounts`], [`posting`],
//! [`payments`], [`payouts`], [`access`] (with [`access_mutation`]),
//! [`reports`] and [`events`] (the event feed); [`common`] holds what they
//! share. Each defines its own query and mutation objects, merged here into
//! [`QueryRoot`] and [`MutationRoot`].
//!
//! Every root field carries its access rule as a guard (see [`access`]);
//! every read runs in the request's read transaction under the caller's
//! tenant, and a merchant key asking for another merchant's id gets
//! `NOT_FOUND`, exactly as for an id that does not exist. Every mutation takes
//! a required `idempotencyKey`, parses its input into domain types, and submits
//! one request to the ledger's write path. Replaying a key with the same input
//! returns the first result (`replayed: true`); reusing it with different input
//! fails with `IDEMPOTENCY_KEY_REUSED`.

pub mod access;
pub mod access_mutation;
pub mod accounts;
pub mod common;
pub mod context;
pub mod documents;
pub mod error;
pub mod events;
pub mod extension;
pub mod loaders;
pub mod merchants;
pub mod observe;
pub mod payments;
pub mod payouts;
pub mod posting;
pub mod preview;
pub mod reconciliation;
pub mod reports;
pub mod subscription;

use std::sync::Arc;

use async_graphql::{Context, MergedObject, Schema};

use crate::core::access::auth::Authenticator;
use crate::core::posting::Ledger;
use crate::events::EventHub;

/// Deepest query accepted. The deepest useful query (merchant → transactions →
/// edges → node → entries → account → balance → available → amount) is 10 levels.
pub const MAX_QUERY_DEPTH: usize = 12;

/// Highest query complexity accepted (async-graphql counts one per field by
/// default). Bounds alias-based batching and huge selections.
pub const MAX_QUERY_COMPLEXITY: usize = 2_000;

/// Complexity of every mutation on top of its selection: a write costs far more
/// than a field read, and this bounds alias-based batching of mutations to about
/// `MAX_QUERY_COMPLEXITY / MUTATION_COST` = 40 per request.
pub const MUTATION_COST: usize = 50;

/// Nominal length used to cost a list without `first` (a bounded, small list
/// such as `apiKeys` or `trialBalance`).
pub const NOMINAL_LIST_LEN: usize = 10;

/// Complexity of a connection or list field: its page size (default
/// [`DEFAULT_PAGE_SIZE`], at most [`MAX_PAGE_SIZE`]; a larger `first` is refused
/// by the resolver with `BAD_USER_INPUT`) times its selection, plus one.
pub fn list_cost(first: Option<i32>, child_complexity: usize) -> usize {
    let n = first.map_or(DEFAULT_PAGE_SIZE, |f| u64::try_from(f).unwrap_or(1).clamp(1, MAX_PAGE_SIZE));
    usize::try_from(n).unwrap_or(1).saturating_mul(child_complexity).saturating_add(1)
}

/// Page size when `first` is not given.
pub const DEFAULT_PAGE_SIZE: u64 = 20;

/// Largest page a connection returns; larger `first` is refused, not clamped, so a
/// client never mistakes a short page for the end.
pub const MAX_PAGE_SIZE: u64 = 100;

// No `///` here: on a merged object it would become the type's description in
// the SDL, and the root query has none.
#[allow(missing_docs, reason = "a doc comment would change the schema")]
#[derive(MergedObject, Default)]
pub struct QueryRoot(
    merchants::MerchantsQuery,
    accounts::AccountsQuery,
    posting::PostingQuery,
    payments::PaymentsQuery,
    payouts::PayoutsQuery,
    reports::ReportsQuery,
    access::AccessQuery,
    events::EventsQuery,
    reconciliation::ReconciliationQuery,
);

/// The root mutation: the ledger's mutations and those of access control.
#[derive(MergedObject, Default)]
pub struct MutationRoot(
    merchants::MerchantsMutation,
    accounts::AccountsMutation,
    posting::PostingMutation,
    payments::PaymentsMutation,
    payouts::PayoutsMutation,
    access_mutation::AccessMutation,
    reconciliation::ReconciliationMutation,
);

/// The schema type.
pub type LedgerSchema = Schema<QueryRoot, MutationRoot, subscription::SubscriptionRoot>;

/// Builds the schema over a ledger, an authenticator, the event hub that
/// feeds subscriptions and the reports service. In `production`,
/// introspection and "did you mean" suggestions are off (OWASP GraphQL Cheat
/// Sheet: do not hand an attacker the schema).
pub fn build_schema(
    ledger: Arc<Ledger>,
    auth: Arc<Authenticator>,
    hub: Arc<EventHub>,
    reports: Arc<crate::core::reports::Reports>,
    production: bool,
) -> LedgerSchema {
    let mut builder = Schema::build(QueryRoot::default(), MutationRoot::default(), subscription::SubscriptionRoot)
        .data(ledger)
        .data(auth)
        .data(hub)
        .data(reports)
        // First, so its spans and timing cover the other extensions' work.
        .extension(observe::Observe)
        .extension(extension::ErrorCodes { production })
        // After ErrorCodes, so its checks run on cached documents too; before
        // the persisted queries, so an oversized one is refused unparsed.
        .extension(documents::ParsedDocuments::default())
        .extension(documents::PersistedQueries::default().extension())
        .limit_depth(MAX_QUERY_DEPTH)
        .limit_complexity(MAX_QUERY_COMPLEXITY);
    if production {
        builder = builder.disable_introspection().disable_suggestions();
    }
    builder.finish()
}

/// The SDL of the schema, as committed in `server/schema.graphql`.
pub fn sdl() -> String {
    Schema::build(QueryRoot::default(), MutationRoot::default(), subscription::SubscriptionRoot).finish().sdl()
}

/// The ledger from the request context.
pub(crate) fn ledger<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a Arc<Ledger>> {
    ctx.data::<Arc<Ledger>>()
}

/// Validates a connection's `first`. Errors: `BAD_USER_INPUT` when below 1 or
/// above [`MAX_PAGE_SIZE`].
pub(crate) fn page_size(first: Option<i32>) -> async_graphql::Result<u64> {
    match first {
        None => Ok(DEFAULT_PAGE_SIZE),
        Some(n) if n >= 1 && (n as u64) <= MAX_PAGE_SIZE => Ok(n as u64),
        Some(_) => Err(error::coded(error::BAD_USER_INPUT, format!("first must be between 1 and {MAX_PAGE_SIZE}"))),
    }
}
