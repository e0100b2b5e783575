//! The books: the only code that touches the database.
//!
//! One folder per aggregate, after GaloyMoney/cala's layout. Each folder has a
//! service with typed calls (its `mod.rs`), its pure rules next to it, and its
//! SQL in a **private** `store` submodule that only code inside `core` can
//! name. The transport (`graphql`, `http`) and the event feed reach the books
//! through the services alone, so a business rule has exactly one home; the
//! compiler checks the boundary:
//!
//! ```compile_fail
//! // Transport code cannot name an aggregate's store.
//! use ledger_server::core::payments::store;
//! ```
//!
//! ```compile_fail
//! // Nor the shared database plumbing.
//! use ledger_server::core::db::begin_read;
//! ```
//!
//! - [`posting`] — transactions, entries and reversals; the write path (one
//!   database transaction per batch, idempotency, sorted locking, retries)
//!   and the group committer.
//! - [`accounts`] — accounts, balances, balance limits, the asset catalogue, and
//!   the one balance view (posted, pending, available).
//! - [`merchants`] — merchants.
//! - [`payments`] — the payment life cycle (authorize, capture, void, expire,
//!   refund, chargeback), fee schedules, the expiry sweeper.
//! - [`payouts`] — payouts, reserves and schedules, the payout job.
//! - [`access`] — callers and access rules, staff, sessions, API keys, the audit log.
//! - [`reports`] — monthly rollups, the trial balance, balances as of a time,
//!   and the whole-book checks (verify, rebuild).
//! - [`chain`] — the merchants' hash chains, signed checkpoints of their
//!   heads, the merchant's chain export.
//! - [`journals`] — the books as a Beancount or hledger journal, for their own checkers.
//! - [`outbox`] — the committed events, read by subscriptions, the event feed
//!   and the NATS relay.
//! - [`error`] — [`LedgerError`], the closed error enum every service returns.

pub mod access;
pub mod accounts;
pub mod chain;
pub(in crate::core) mod db;
pub mod error;
pub mod journals;
pub mod merchants;
pub mod outbox;
pub mod payments;
pub mod payouts;
pub mod posting;
pub mod reconciliation;
pub mod reports;
mod session;

pub use db::{APP_ROLE, DEFAULT_POOL_SIZE, SQLITE_POOL_SIZE, connect_and_migrate, connect_app, listen_forever};
pub use error::LedgerError;
pub use session::{Pool, Reads};

#[cfg(test)]
#[allow(clippy::panic)]
mod tests {
    /// The boundary, as text: no file of the transport (or the event feed)
    /// names a store or the database plumbing. The compiler already refuses
    /// it (the `compile_fail` examples above); this test says where to look
    /// when someone widens a `pub(in crate::core)`.
    #[test]
    fn transport_code_names_no_store() {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut offenders = Vec::new();
        for dir in ["graphql", "http", "events"] {
            let entries = std::fs::read_dir(src.join(dir)).unwrap_or_else(|e| panic!("{dir}: {e}"));
            for entry in entries.flatten() {
                let path = entry.path();
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                for (n, line) in text.lines().enumerate() {
                    let code = line.split("//").next().unwrap_or_default();
                    if code.contains("store::") || code.contains("core::db") {
                        offenders.push(format!("{}:{}: {}", path.display(), n + 1, line.trim()));
                    }
                }
            }
        }
        assert!(offenders.is_empty(), "transport code reaches the database:\n{}", offenders.join("\n"));
    }

    /// A broken invariant is a `LedgerError::Internal` (or a corrupt row's
    /// `db::corrupt`), never a made-up `DbErr::Custom` that reads as a
    /// database failure: no line of the core outside its tests builds one.
    #[test]
    fn the_core_makes_up_no_database_errors() {
        fn walk(dir: &std::path::Path, offenders: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())).flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(&path, offenders);
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                // A file's unit tests come last, after `#[cfg(test)]`.
                let code = text.split("#[cfg(test)]").next().unwrap_or_default();
                for (n, line) in code.lines().enumerate() {
                    if line.split("//").next().unwrap_or_default().contains("DbErr::Custom") {
                        offenders.push(format!("{}:{}: {}", path.display(), n + 1, line.trim()));
                    }
                }
            }
        }
        let core = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/core");
        let mut offenders = Vec::new();
        walk(&core, &mut offenders);
        assert!(offenders.is_empty(), "invariant violations dressed as database errors:\n{}", offenders.join("\n"));
    }
}
