//! sea-orm entities for the Ledger tables.
//!
//! These are thin row types and nothing more: no validation, no GraphQL. The
//! server's `store` module turns rows into domain types and back. Amounts and
//! balances are `i64` minor units of the row's asset; ids are UUIDs; the platform's
//! own rows use the nil UUID as `merchant_id`.
#![allow(missing_docs)]

pub mod account;
pub mod asset;
pub mod balance;
pub mod entry;
pub mod fee_schedule;
pub mod idempotency_key;
pub mod merchant;
pub mod payment;
pub mod payout;
pub mod payout_setting;
pub mod transaction;
