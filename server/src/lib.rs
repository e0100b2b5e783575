//! Ledger: a double-entry bookkeeping service for a payments platform.
//!
//! Module map:
//!
//! - [`domain`]: pure rules — money in minor units, assets (ISO 4217), accounts
//!   and normal balances, balanced transactions, reversals, payments and payouts.
//!   No I/O, no framework types.
//! - [`store`]: the only SQL — rows to domain types, row locks, sequence clock,
//!   whole-book queries (verify, rebuild, trial balance, balances as of).
//! - [`ledger`]: the write path — batches of commands applied in one database
//!   transaction with idempotency, sorted locking and bounded retries.
//! - [`events`]: the outbox hub that feeds GraphQL subscriptions (woken by
//!   PostgreSQL `NOTIFY`), and the relay that publishes events to NATS JetStream.
//! - [`graphql`]: schema, resolvers that parse inputs at the edge, error codes.
//! - [`auth`]: bearer tokens to callers, staff login (argon2), API keys, the
//!   bootstrap admin; [`domain::auth`] holds the pure access rules.
//! - [`http`]: axum router, GraphQL over HTTP, authentication, rate limits, CORS,
//!   request ids, health probes, tower-http layers, the console's files, the CSV export.
//! - [`reports`]: monthly rollups: the month-closing job, the open-month cache
//!   (moka or Redis), reads on the reporting replica.
//! - [`config`], [`telemetry`], [`startup`]: settings, logging, app lifecycle.
//! - [`cli`]: the `verify`, `rebuild-balances` and `replay` subcommands.

pub mod auth;
pub mod cli;
pub mod config;
pub mod domain;
pub mod events;
pub mod graphql;
pub mod http;
pub mod ledger;
pub mod replay;
pub mod reports;
pub mod startup;
pub mod store;
pub mod telemetry;
