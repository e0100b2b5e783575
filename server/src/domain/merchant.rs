//! Merchants: the platform's customers, on whose behalf money is collected.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::DomainError;

/// Identifies a merchant (UUIDv7). The nil UUID is reserved for the platform's
/// own books ([`MerchantId::PLATFORM`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct MerchantId(pub Uuid);

impl MerchantId {
    /// The platform's pseudo-merchant id, the nil UUID. A row with this id exists in
    /// `merchants` so that platform accounts satisfy the same foreign keys.
    pub const PLATFORM: MerchantId = MerchantId(Uuid::nil());

    /// A fresh, time-ordered id.
    pub fn new() -> Self {
        Self(Uuid::now_v7())
    }
}

impl Default for MerchantId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for MerchantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Longest merchant name, external id or other free label, in characters.
pub const MAX_LABEL_LEN: usize = 200;

/// Longest merchant class, in characters.
pub const MAX_CLASS_LEN: usize = 64;

/// A merchant's display name, 1 to [`MAX_LABEL_LEN`] characters after trimming.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MerchantName(String);

impl MerchantName {
    /// Errors: [`DomainError::MerchantNameInvalid`].
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let t = raw.trim();
        if t.is_empty() || t.chars().count() > MAX_LABEL_LEN {
            return Err(DomainError::MerchantNameInvalid);
        }
        Ok(Self(t.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The merchant's id in the caller's own systems (Olist's `seller_id`), unique.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MerchantExternalId(String);

impl MerchantExternalId {
    /// Errors: [`DomainError::ExternalIdInvalid`].
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        if raw.is_empty() || raw.trim() != raw || raw.chars().count() > MAX_LABEL_LEN {
            return Err(DomainError::ExternalIdInvalid);
        }
        Ok(Self(raw.to_owned()))
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A free label that groups merchants for rollups (Olist's `seller_state`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MerchantClass(String);

impl MerchantClass {
    /// The class of a merchant created without one.
    pub const DEFAULT: &'static str = "default";

    /// Errors: [`DomainError::MerchantClassInvalid`].
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let t = raw.trim();
        if t.is_empty() || t.chars().count() > MAX_CLASS_LEN {
            return Err(DomainError::MerchantClassInvalid);
        }
        Ok(Self(t.to_owned()))
    }

    /// The class.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
