//! Integration tests: each test gets a fresh PostgreSQL database and a real
//! server bound to port 0, and talks to it over HTTP GraphQL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

#[path = "../support/citus_db.rs"]
mod citus_db;
mod helpers;
#[path = "../support/multipart.rs"]
mod multipart;
#[path = "../support/otlp.rs"]
mod otlp;

mod access_idempotency;
mod access_rules;
mod audit;
mod authentication;
mod batch_tenancy;
mod books;
mod bulk;
mod chain;
mod citus;
mod concurrency;
mod console;
mod console_reconciliation;
mod deals;
mod dry_run;
mod events;
mod export;
mod graphiql;
mod graphql_http;
mod group_commit;
mod history;
mod http;
mod idempotency;
mod journals;
mod limits;
mod logs;
mod metrics;
mod nats;
mod pagination;
mod partition_keys;
mod payments;
mod payouts;
mod persisted_queries;
mod posting;
mod query_limits;
mod reads;
mod reconciliation;
mod reconciliation_deposits;
mod replay;
mod reporting;
mod reversal;
mod reversal_preview;
mod rls;
mod rollups;
mod schema_changes;
mod search;
mod service_keys;
mod sqlite;
mod subledgers;
mod subscriptions;
mod tenancy;
mod traces;
mod wire;
