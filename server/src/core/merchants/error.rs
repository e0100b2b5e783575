//! Why a merchant call was refused. Codes are stable API (GraphQL `extensions.code`).

use thiserror::Error;

/// Why a merchant call was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum MerchantError {
    /// No merchant has this id (or the caller may not see it).
    #[error("merchant not found")]
    NotFound,
    /// Another merchant already has this external id.
    #[error("external id is already taken")]
    ExternalIdTaken,
}

impl MerchantError {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            MerchantError::NotFound => "NOT_FOUND",
            MerchantError::ExternalIdTaken => "EXTERNAL_ID_TAKEN",
        }
    }
}
