//! The merchants' hash chains and their signed checkpoints (issue 21): the
//! books an auditor, or a merchant, can check without trusting this code.
//!
//! - Every transaction is linked into its merchant's chain as it is written,
//!   under the merchant's own clock lock ([`Linker`], used by both write
//!   paths), and a deal into its counterparty's too; the encoding and the
//!   offline check are pure, in [`crate::domain::chain`].
//! - [`checkpoint`]: the platform's Ed25519 keys and the C2SP signed notes of
//!   each chain's head, every N transactions or M minutes and on request.
//! - [`export`]: a merchant's journal as JSON Lines with its latest checkpoint,
//!   which `ledger-server verify-export` checks offline.
//! - [`verify_chains`]: every chain recomputed from the stored rows, for
//!   `ledger-server verify`.

pub mod checkpoint;
pub mod export;
mod store;

use std::collections::BTreeMap;

use crate::core::LedgerError;
use crate::core::posting::store::{EntryRecord, TransactionRecord};
use crate::domain::MerchantId;
use crate::domain::chain::{ChainEntry, ChainTransaction, Link, link, time_text, to_hex};

pub use store::verify_chains;
pub(in crate::core) use store::{clocks_write, store_clocks, stored_link};

/// A merchant's chain that does not recompute: the first transaction whose
/// stored link differs from the one its row and its predecessor give, or a
/// clock head that is not the last link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainBreak {
    /// The journal's merchant.
    pub merchant: MerchantId,
    /// The journal number of the first bad transaction (the clock's number
    /// when only the head is wrong).
    pub sequence: i64,
    /// That transaction's id, when one is at fault.
    pub transaction: Option<crate::domain::TransactionId>,
    /// What is wrong.
    pub problem: String,
}

/// A transaction as `chain`'s journal encodes it, at journal number
/// `sequence`, with its entries in posting order.
pub(in crate::core) fn chain_transaction(
    chain: MerchantId,
    sequence: i64,
    t: &TransactionRecord,
    entries: &[EntryRecord],
) -> ChainTransaction {
    ChainTransaction {
        chain: chain.0,
        sequence: u64::try_from(sequence).unwrap_or_default(),
        id: t.id.0,
        kind: t.kind.as_str().to_owned(),
        merchant: t.merchant.0,
        counterparty: t.counterparty.map(|c| c.0),
        reverses: t.reverses.map(|r| r.0),
        effective_at: time_text(t.effective_at),
        created_at: time_text(t.created_at),
        external_ref: t.external_ref.clone(),
        metadata: t.metadata.clone(),
        entries: entries
            .iter()
            .map(|e| ChainEntry {
                account: e.account.0,
                asset: e.asset.as_str().to_owned(),
                direction: e.direction.as_str().to_owned(),
                layer: e.layer.as_str().to_owned(),
                amount: u64::try_from(e.amount.minor()).unwrap_or_default(),
            })
            .collect(),
    }
}

/// Links the transactions of one write into their merchants' chains, in the
/// order they were numbered, from the heads read under the clock locks
/// (`posting::store::reserve`); then [`Linker::moved`] gives the new clocks
/// (number and head), which the same database transaction stores
/// ([`clocks_write`], [`store_clocks`]). Every transaction goes through it,
/// linked or not (a benchmark without the chain still moves the clocks).
#[derive(Debug)]
pub(in crate::core) struct Linker {
    heads: BTreeMap<MerchantId, Link>,
    moved: BTreeMap<MerchantId, Head>,
}

/// Where a write leaves one merchant's clock: its last journal number and
/// the chain's last link, stored together on the clock row
/// (`merchant_clocks.last_transaction_seq`, `head_hash`) in the write's own
/// database transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::core) struct Head {
    /// The last journal number this write gave the merchant.
    pub number: i64,
    /// The link of that transaction in the merchant's chain.
    pub link: Link,
}

impl Linker {
    /// A linker from the heads `reserve` read.
    pub(in crate::core) fn new(heads: BTreeMap<MerchantId, Link>) -> Self {
        Self { heads, moved: BTreeMap::new() }
    }

    /// Sets `t.hash` (and a deal's `t.counterparty_hash`) to its next link.
    /// Call it for the write's transactions in the order `reserve` numbered
    /// them. Errors: [`LedgerError::Internal`] for a merchant whose head was
    /// not read, or a transaction that does not encode (a bug: its fields
    /// were checked before).
    pub(in crate::core) fn link(
        &mut self,
        t: &mut TransactionRecord,
        entries: &[EntryRecord],
    ) -> Result<(), LedgerError> {
        let on = chains_on();
        let mut next = |chain: MerchantId, sequence: i64| -> Result<Option<String>, LedgerError> {
            let head = self
                .heads
                .get_mut(&chain)
                .ok_or_else(|| LedgerError::internal(format!("the chain head of {chain} was not read")))?;
            if on {
                let encoded = chain_transaction(chain, sequence, t, entries);
                *head = link(head, &encoded).map_err(|e| LedgerError::internal(e.to_string()))?;
            }
            self.moved.insert(chain, Head { number: sequence, link: *head });
            Ok(on.then(|| to_hex(head)))
        };
        let hash = next(t.merchant, t.number)?;
        let counterparty_hash = match (t.counterparty, t.counterparty_number) {
            (Some(c), Some(n)) => next(c, n)?,
            _ => None,
        };
        t.hash = hash;
        t.counterparty_hash = counterparty_hash;
        Ok(())
    }

    /// Where this write leaves each involved merchant's clock: what the same
    /// database transaction stores ([`clocks_write`], [`store_clocks`]).
    pub(in crate::core) fn moved(&self) -> &BTreeMap<MerchantId, Head> {
        &self.moved
    }
}

/// Whether writes link their transactions. Always, except in a benchmark
/// build (feature `bench-switches`) started with `LEDGER_BENCH_NO_CHAIN=1`,
/// which measures what the chain costs (BENCHMARKS.md, issue 21).
fn chains_on() -> bool {
    #[cfg(feature = "bench-switches")]
    {
        static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *ON.get_or_init(|| std::env::var_os("LEDGER_BENCH_NO_CHAIN").is_none())
    }
    #[cfg(not(feature = "bench-switches"))]
    {
        true
    }
}
