//! The pure domain core: money, assets, accounts, transactions and the payment
//! rules that build them.
//!
//! Nothing in here touches the network, the database or GraphQL, so every rule is
//! unit-tested on its own. Values are parsed into these types once, at the edge
//! (the GraphQL resolvers), and are trusted from then on.

pub mod account;
pub mod actor;
pub mod chain;
pub mod error;
pub mod event;
pub mod idempotency;
pub mod merchant;
pub mod money;
pub mod transaction;

pub use account::{AccountCode, AccountId, AsOf, Balance, Direction, NormalBalance, Owner};
pub use error::DomainError;
pub use idempotency::{Fingerprint, IdempotencyKey};
pub use merchant::{MerchantClass, MerchantExternalId, MerchantId, MerchantName};
pub use money::{Amount, Asset, AssetCode};
pub use transaction::{AccountRef, EntryDraft, Layer, TransactionDraft, TransactionId, TransactionKind};
