//! Ledger: a double-entry bookkeeping service for a payments platform.
//!
//! Module map (the architecture is in the README, "Architecture"):
//!
//! - [`domain`]: the shared vocabulary, pure — money in minor units, assets
//!   (ISO 4217), account ids and codes, normal balances, balanced transaction
//!   drafts, idempotency keys, event payloads. No I/O, no framework types.
//! - [`core`]: the books, one folder per aggregate (posting, accounts,
//!   merchants, payments, payouts, access, reports, outbox), each with its
//!   service, its rules and its **private** SQL. The only code that touches
//!   the database; the rest reaches it through the services' typed calls.
//! - [`events`]: the outbox hub that feeds GraphQL subscriptions (woken by
//!   PostgreSQL `NOTIFY`), and the relay that publishes events to NATS JetStream.
//! - [`graphql`]: schema and resolvers that parse inputs at the edge and call
//!   the services; no SQL, no business rule.
//! - [`http`]: axum router, GraphQL over HTTP, authentication, rate limits, CORS,
//!   request ids, health probes, tower-http layers, the console's files, the CSV export.
//! - [`config`], [`telemetry`], [`startup`]: settings, logging, app lifecycle.
//! - [`cli`], [`replay`]: the `verify`, `rebuild-balances` and `replay` subcommands.

pub mod cli;
pub mod config;
pub mod core;
pub mod domain;
pub mod events;
pub mod graphql;
pub mod http;
pub mod replay;
pub mod startup;
pub mod telemetry;
