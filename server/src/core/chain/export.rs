//! A merchant's chain export, as JSON Lines (<https://jsonlines.org>), and its
//! offline check (`ledger-server verify-export`), which needs no database.
//!
//! One JSON object per line, each with a `type`:
//!
//! 1. `{"type":"header","format":"ledger-chain-export/1","merchant":M,
//!    "first_sequence":1,"last_sequence":N}`;
//! 2. per transaction of M's journal, in order: `{"type":"transaction", …}`
//!    with every field of [`ChainTransaction`] (the chain's encoding, see
//!    [`crate::domain::chain`]) and `hash`, its link (64 hex digits);
//! 3. `{"type":"checkpoint","note":…}`: the latest signed checkpoint
//!    ([`super::checkpoint`]), at `last_sequence` (signed at the download when
//!    the chain had moved past the last one); absent for an empty journal.
//!
//! The check recomputes every link from 32 zero bytes, so a changed field, a
//! missing, added or reordered transaction, or a changed link is found at
//! the first sequence where it shows; then it checks the checkpoint's
//! signature against the given public keys and that it names the merchant,
//! the last sequence and the last link.

use std::io::BufRead;

use serde::{Deserialize, Serialize};

use super::checkpoint::{self, CheckpointError};
use crate::domain::chain::{ChainTransaction, GENESIS, from_hex, link, to_hex};

/// The export's format name (its header's `format`).
pub const FORMAT: &str = "ledger-chain-export/1";

/// One line of an export.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ExportLine {
    /// The first line.
    Header {
        /// [`FORMAT`].
        format: String,
        /// The journal's merchant.
        merchant: uuid::Uuid,
        /// The first transaction's journal number (1 unless the merchant's
        /// books predate the chains).
        first_sequence: u64,
        /// The last transaction's journal number (0 for an empty journal).
        last_sequence: u64,
    },
    /// A transaction with its link.
    Transaction {
        /// The encoded fields.
        #[serde(flatten)]
        transaction: Box<ChainTransaction>,
        /// Its link, 64 hex digits.
        hash: String,
    },
    /// The signed checkpoint at `last_sequence`.
    Checkpoint {
        /// The C2SP signed note.
        note: String,
    },
}

/// What a good export holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The merchant.
    pub merchant: uuid::Uuid,
    /// Transactions checked.
    pub transactions: u64,
    /// The last journal number.
    pub last_sequence: u64,
    /// The last link (hex).
    pub head: String,
    /// The checkpoint's signing key name and time, when there was one.
    pub checkpoint: Option<checkpoint::Checkpoint>,
}

/// Why an export does not check: where (the first bad journal number, when
/// one is at fault) and what.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{problem}", .sequence.map(|s| format!("sequence {s}: ")).unwrap_or_default())]
pub struct ExportError {
    /// The first journal number that does not check.
    pub sequence: Option<u64>,
    /// What is wrong.
    pub problem: String,
}

fn fail<T>(sequence: Option<u64>, problem: impl Into<String>) -> Result<T, ExportError> {
    Err(ExportError { sequence, problem: problem.into() })
}

/// Checks an export read from `input` against the public keys `keys` (C2SP
/// verifier keys; a checkpoint signed by none of them fails). Errors:
/// [`ExportError`] naming the first bad sequence.
pub fn verify(input: impl BufRead, keys: &[String]) -> Result<Verified, ExportError> {
    let mut lines = input.lines().enumerate();
    let read = |n: usize, line: std::io::Result<String>| -> Result<ExportLine, String> {
        let line = line.map_err(|e| format!("line {}: {e}", n + 1))?;
        serde_json::from_str(&line).map_err(|e| format!("line {}: {e}", n + 1))
    };
    let Some((n, first)) = lines.next() else { return fail(None, "the export is empty") };
    let (merchant, first_sequence, last_sequence) = match read(n, first) {
        Ok(ExportLine::Header { format, merchant, first_sequence, last_sequence }) if format == FORMAT => {
            (merchant, first_sequence, last_sequence)
        }
        Ok(ExportLine::Header { format, .. }) => return fail(None, format!("unknown format {format:?}")),
        Ok(_) => return fail(None, "the first line is not the header"),
        Err(e) => return fail(None, e),
    };
    let mut previous = GENESIS;
    let mut expected = first_sequence.max(1);
    let mut transactions = 0u64;
    let mut note = None;
    for (n, line) in lines {
        let at = Some(expected);
        match read(n, line) {
            Err(e) => return fail(at, e),
            Ok(ExportLine::Header { .. }) => return fail(at, format!("line {}: a second header", n + 1)),
            Ok(ExportLine::Checkpoint { note: text }) => {
                if note.replace(text).is_some() {
                    return fail(None, "a second checkpoint");
                }
            }
            Ok(ExportLine::Transaction { transaction: t, hash }) => {
                if note.is_some() {
                    return fail(at, "a transaction after the checkpoint");
                }
                if t.chain != merchant {
                    return fail(at, format!("transaction {} is in the chain of {}, not {merchant}", t.id, t.chain));
                }
                if t.sequence != expected {
                    return fail(
                        at,
                        format!(
                            "the next transaction is number {} (one is missing, added or out of order)",
                            t.sequence
                        ),
                    );
                }
                let computed = match link(&previous, &t) {
                    Ok(l) => l,
                    Err(e) => return fail(at, e.to_string()),
                };
                if from_hex(&hash) != Some(computed) {
                    return fail(
                        at,
                        format!("transaction {} does not hash to its link (a field or an earlier link changed)", t.id),
                    );
                }
                previous = computed;
                expected += 1;
                transactions += 1;
            }
        }
    }
    let last = expected - 1;
    if transactions > 0 && last != last_sequence {
        return fail(Some(expected), format!("the export ends at {last}, its header says {last_sequence}"));
    }
    let checkpoint = match note {
        None if transactions == 0 => None,
        None => return fail(None, "no checkpoint: nothing signed vouches for the chain"),
        Some(note) => {
            let c = checkpoint::open(&note, keys).map_err(|e| ExportError {
                sequence: None,
                problem: match e {
                    CheckpointError::Signature(why) => format!("the checkpoint's signature does not verify: {why}"),
                    other => other.to_string(),
                },
            })?;
            if c.merchant.0 != merchant {
                return fail(None, format!("the checkpoint is of merchant {}, not {merchant}", c.merchant.0));
            }
            if c.sequence != last || c.head != previous {
                return fail(
                    Some(c.sequence),
                    format!(
                        "the checkpoint signs {} at {}; the export gives {} at {last}",
                        to_hex(&c.head),
                        c.sequence,
                        to_hex(&previous)
                    ),
                );
            }
            Some(c)
        }
    };
    Ok(Verified { merchant, transactions, last_sequence: last, head: to_hex(&previous), checkpoint })
}

/// A merchant's export, opened in one read snapshot: the journal as it stood
/// then, to its clock's number and head.
pub struct OpenExport {
    reads: sea_orm::DatabaseTransaction,
    checkpoints: super::checkpoint::Checkpoints,
    merchant: crate::domain::MerchantId,
    first: i64,
    last: i64,
    head: crate::domain::chain::Link,
}

/// How many transactions one read of an export takes.
const EXPORT_PAGE: i64 = 2_000;

/// Opens `merchant`'s export. Errors: [`crate::core::LedgerError::Merchant`]
/// (`NOT_FOUND`) for no such merchant; the database's.
pub async fn open(
    db: &sea_orm::DatabaseConnection,
    checkpoints: super::checkpoint::Checkpoints,
    merchant: crate::domain::MerchantId,
) -> Result<OpenExport, crate::core::LedgerError> {
    let reads = crate::core::db::begin_read(db, crate::core::access::rules::Tenant::All).await?;
    let Some((last, head)) = super::store::clock(&reads, merchant).await? else {
        return Err(crate::core::merchants::MerchantError::NotFound.into());
    };
    let first = super::store::first_linked(&reads, merchant).await?.unwrap_or(last + 1);
    Ok(OpenExport { reads, checkpoints, merchant, first, last, head })
}

impl OpenExport {
    /// The export's lines, each a JSON object and a newline, page by page;
    /// the checkpoint last (signed now when the chain has moved past its
    /// latest one). Errors (in the stream): the database's.
    pub fn lines(self) -> impl futures::Stream<Item = Result<Vec<u8>, crate::core::LedgerError>> + Send {
        async_stream::try_stream! {
            let OpenExport { reads, checkpoints, merchant, first, last, head } = self;
            let header = ExportLine::Header {
                format: FORMAT.to_owned(),
                merchant: merchant.0,
                first_sequence: u64::try_from(first.min(last.max(0) + 1)).unwrap_or(1).max(1),
                last_sequence: u64::try_from(last).unwrap_or_default(),
            };
            yield line(&header)?;
            let mut after = first - 1;
            while after < last {
                let page = super::store::journal_page(&reads, merchant, after, EXPORT_PAGE.min(last - after)).await?;
                if page.is_empty() {
                    Err(crate::core::LedgerError::internal(format!("the journal of {merchant} ends before {last}")))?;
                }
                let mut out = Vec::with_capacity(page.len() * 700);
                for item in page {
                    after = item.sequence;
                    let transaction = super::chain_transaction(merchant, item.sequence, &item.transaction, &item.entries);
                    let hash = item.link.unwrap_or_default();
                    out.extend(line(&ExportLine::Transaction { transaction: Box::new(transaction), hash })?);
                }
                yield out;
            }
            reads.commit().await?;
            if let Some(note) = checkpoints.sign_at(merchant, last, head).await? {
                yield line(&ExportLine::Checkpoint { note })?;
            }
        }
    }
}

fn line(l: &ExportLine) -> Result<Vec<u8>, crate::core::LedgerError> {
    let mut out = serde_json::to_vec(l).map_err(|e| crate::core::LedgerError::internal(e.to_string()))?;
    out.push(b'\n');
    Ok(out)
}
