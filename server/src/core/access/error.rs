//! Why an access call was refused: the caller may not (unauthenticated,
//! forbidden), or the key or staff user it names is wrong. Codes are stable API.

use thiserror::Error;

/// Why a caller may not do something, or an access call was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AccessError {
    /// No valid credentials: none, unknown, expired or revoked.
    #[error("authentication required: send `Authorization: Bearer <API key or session token>`")]
    Unauthenticated,
    /// Valid credentials, but this caller may not use this field.
    #[error("this caller may not use this field")]
    Forbidden,
    /// No API key has this id.
    #[error("api key not found")]
    ApiKeyNotFound,
    /// A staff user with this username exists.
    #[error("a staff user with this username exists")]
    UsernameTaken,
}

impl AccessError {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            AccessError::Unauthenticated => "UNAUTHENTICATED",
            AccessError::Forbidden => "FORBIDDEN",
            AccessError::ApiKeyNotFound => "NOT_FOUND",
            AccessError::UsernameTaken => "USERNAME_TAKEN",
        }
    }
}
