//! Finding transactions by what the caller knows of them: their external
//! reference (an order number), their metadata, their kind or their payment
//! (issue 19).
//!
//! The filter is a small typed set of conditions, never a generic `where`
//! tree, and every condition has an index of its own (migration 21), so a
//! search reads an index, not the table:
//! - `external_ref`: `transactions_external_ref_idx (external_ref, merchant_id,
//!   seq)`, which also serves staff searching every merchant by reference;
//! - `metadata`: a GIN index on the JSONB column (`@>` for a key's value, `?`
//!   for a key's presence), PostgreSQL only;
//! - `kind`: `transactions_merchant_kind_idx (merchant_id, kind, seq)`;
//! - `payment`: `transactions_payment_idx (payment_id, seq)`;
//! - `effective` and `created` ranges: `transactions_merchant_effective_idx
//!   (merchant_id, effective_at)` and `transactions_merchant_created_idx
//!   (merchant_id, created_at)` (migration 22);
//! - `account`: the account's entries, `entries_account_seq_idx (account_id,
//!   seq)`, joined to their transactions by the journal's key;
//! - none of them: the merchant's journal, `(merchant_id, seq)`.
//!
//! Without a merchant (staff across the books) only the external reference
//! anchors a search; anything else is refused with
//! [`SearchError::NotIndexed`] before a statement runs.

use sea_orm::{ConnectionTrait, DbBackend};

use super::TransactionRecord;
use crate::core::{LedgerError, Reads};
use crate::domain::{MerchantId, TransactionKind};

/// Most values in one `external_ref` list.
pub const MAX_EXTERNAL_REFS: usize = 100;
/// Most metadata conditions in one search.
pub const MAX_METADATA_CONDITIONS: usize = 10;
/// Longest metadata key or external reference a search takes, in bytes.
pub const MAX_SEARCH_TEXT_BYTES: usize = 512;

/// One condition on a transaction's metadata (a JSON object).
#[derive(Clone, Debug, PartialEq)]
pub enum MetadataCondition {
    /// The top-level `key` holds exactly this JSON value.
    Equals(String, serde_json::Value),
    /// The top-level `key` is present (whatever its value).
    Exists(String),
}

/// What to find. Every field narrows the result; all `None` and empty lists
/// list the merchant's journal.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Search {
    /// External references, any of which matches (one for "equal to").
    pub external_refs: Vec<String>,
    /// Metadata conditions, all of which must hold.
    pub metadata: Vec<MetadataCondition>,
    /// The transaction's kind.
    pub kind: Option<TransactionKind>,
    /// The payment whose life cycle made the transaction.
    pub payment: Option<uuid::Uuid>,
    /// Effective (value) times: transactions effective in this range.
    pub effective: TimeRange,
    /// Record times: transactions recorded (`created_at`) in this range.
    pub created: TimeRange,
    /// Transactions with an entry on this account.
    pub account: Option<crate::domain::AccountId>,
}

/// A range of times, `from` inclusive, `to` exclusive; `None` leaves that
/// side open.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TimeRange {
    /// The first time in the range.
    pub from: Option<chrono::DateTime<chrono::Utc>>,
    /// The first time after the range.
    pub to: Option<chrono::DateTime<chrono::Utc>>,
}

/// Why a search was refused before it ran.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SearchError {
    /// No index serves the search: staff across every merchant without an
    /// external reference (the other indexes all start with the merchant),
    /// or metadata on SQLite. Code `FILTER_NOT_INDEXED`.
    #[error("{0}")]
    NotIndexed(String),
    /// A list or text over its limit, an empty text, or a time range that
    /// ends before it starts. Code `BAD_USER_INPUT`.
    #[error("{0}")]
    Invalid(String),
}

impl SearchError {
    /// The GraphQL error code.
    pub fn code(&self) -> &'static str {
        match self {
            SearchError::NotIndexed(_) => "FILTER_NOT_INDEXED",
            SearchError::Invalid(_) => "BAD_USER_INPUT",
        }
    }
}

impl Search {
    /// Checks the limits, and that an index serves the search for
    /// `merchant` (`None`: every merchant) on `backend`. Errors:
    /// [`SearchError`].
    pub fn check(&self, merchant: Option<MerchantId>, backend: DbBackend) -> Result<(), SearchError> {
        if self.external_refs.len() > MAX_EXTERNAL_REFS {
            return Err(SearchError::Invalid(format!("at most {MAX_EXTERNAL_REFS} external references")));
        }
        if self.metadata.len() > MAX_METADATA_CONDITIONS {
            return Err(SearchError::Invalid(format!("at most {MAX_METADATA_CONDITIONS} metadata conditions")));
        }
        let texts = self.external_refs.iter().chain(self.metadata.iter().map(|c| match c {
            MetadataCondition::Equals(key, _) | MetadataCondition::Exists(key) => key,
        }));
        for text in texts {
            if text.is_empty() || text.len() > MAX_SEARCH_TEXT_BYTES {
                return Err(SearchError::Invalid(format!(
                    "an external reference or metadata key must be 1 to {MAX_SEARCH_TEXT_BYTES} bytes"
                )));
            }
        }
        for range in [self.effective, self.created] {
            if let (Some(from), Some(to)) = (range.from, range.to)
                && to < from
            {
                return Err(SearchError::Invalid("a time range's `to` must not be before its `from`".into()));
            }
        }
        if !self.metadata.is_empty() && backend != DbBackend::Postgres {
            return Err(SearchError::NotIndexed("metadata filters need PostgreSQL's JSONB index".into()));
        }
        if merchant.is_none() && self.external_refs.is_empty() {
            return Err(SearchError::NotIndexed(
                "a search across every merchant needs externalRef; name a merchant for the other filters".into(),
            ));
        }
        Ok(())
    }
}

/// Where a page starts: after the transaction with this sequence of this
/// merchant, newest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct After {
    /// Its sequence.
    pub seq: i64,
    /// Its merchant.
    pub merchant: MerchantId,
}

/// Transactions matching `search`, of `merchant` (`None`: every merchant the
/// caller may see), newest first (sequence, then merchant, descending),
/// after `after`, at most `limit`. Errors: [`LedgerError::Search`] when
/// [`Search::check`] refuses; [`LedgerError::Database`].
pub async fn search(
    reads: &Reads,
    merchant: Option<MerchantId>,
    search: &Search,
    after: Option<After>,
    limit: u64,
) -> Result<Vec<TransactionRecord>, LedgerError> {
    search.check(merchant, reads.db().get_database_backend())?;
    Ok(super::store::search(reads.db(), merchant, search, after, limit).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staff_across_merchants_need_an_external_reference_and_metadata_needs_postgresql() {
        let by_meta = Search { metadata: vec![MetadataCondition::Exists("order".into())], ..Search::default() };
        assert_eq!(by_meta.check(None, DbBackend::Postgres).map_err(|e| e.code()), Err("FILTER_NOT_INDEXED"));
        let merchant = Some(MerchantId(uuid::Uuid::now_v7()));
        assert_eq!(by_meta.check(merchant, DbBackend::Postgres), Ok(()));
        assert_eq!(by_meta.check(merchant, DbBackend::Sqlite).map_err(|e| e.code()), Err("FILTER_NOT_INDEXED"));
        let by_ref = Search { external_refs: vec!["4711".into()], ..Search::default() };
        assert_eq!(by_ref.check(None, DbBackend::Postgres), Ok(()));
        assert_eq!(Search::default().check(None, DbBackend::Postgres).map_err(|e| e.code()), Err("FILTER_NOT_INDEXED"));
    }

    #[test]
    fn lists_and_texts_over_their_limits_are_refused() {
        let many = Search { external_refs: vec!["x".into(); MAX_EXTERNAL_REFS + 1], ..Search::default() };
        assert_eq!(many.check(None, DbBackend::Postgres).map_err(|e| e.code()), Err("BAD_USER_INPUT"));
        let empty = Search { external_refs: vec![String::new()], ..Search::default() };
        assert_eq!(empty.check(None, DbBackend::Postgres).map_err(|e| e.code()), Err("BAD_USER_INPUT"));
        let long = Search { metadata: vec![MetadataCondition::Exists("k".repeat(513))], ..Search::default() };
        let merchant = Some(MerchantId(uuid::Uuid::now_v7()));
        assert_eq!(long.check(merchant, DbBackend::Postgres).map_err(|e| e.code()), Err("BAD_USER_INPUT"));
        let conditions = Search {
            metadata: vec![MetadataCondition::Exists("k".into()); MAX_METADATA_CONDITIONS + 1],
            ..Search::default()
        };
        assert_eq!(conditions.check(merchant, DbBackend::Postgres).map_err(|e| e.code()), Err("BAD_USER_INPUT"));
        let now = chrono::Utc::now();
        let backwards = TimeRange { from: Some(now), to: Some(now - chrono::Duration::seconds(1)) };
        let search = Search { created: backwards, ..Search::default() };
        assert_eq!(search.check(merchant, DbBackend::Postgres).map_err(|e| e.code()), Err("BAD_USER_INPUT"));
        let by_time = Search { effective: TimeRange { from: Some(now), to: None }, ..Search::default() };
        assert_eq!(by_time.check(None, DbBackend::Postgres).map_err(|e| e.code()), Err("FILTER_NOT_INDEXED"));
        assert_eq!(by_time.check(merchant, DbBackend::Postgres), Ok(()));
    }
}
