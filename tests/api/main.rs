//! Integration tests: each test gets a fresh PostgreSQL database and a real
//! server bound to port 0, and talks to it over HTTP GraphQL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod helpers;

mod access_idempotency;
mod authz;
mod batch_tenancy;
mod books;
mod bulk;
mod concurrency;
mod console;
mod deals;
mod events;
mod group_commit;
mod hardening;
mod http;
mod idempotency;
mod limits;
mod logs;
mod nats;
mod pagination;
mod payments;
mod payouts;
mod posting;
mod reads;
mod replay;
mod reporting;
mod reversal;
mod reversal_preview;
mod rls;
mod rollups;
mod service_keys;
mod sqlite;
mod subscriptions;
mod tenancy;
