//! Idempotency keys and request fingerprints.
//!
//! Every mutation carries a caller-chosen key (as Stripe's `Idempotency-Key`). The
//! ledger stores, per owner and key, a fingerprint of the request and its result:
//! the same key with the same request returns the stored result and writes
//! nothing; the same key with a different request is refused.

use sha2::{Digest, Sha256};

use super::DomainError;

/// Longest idempotency key, in bytes (Stripe allows 255).
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;

/// A caller's idempotency key: 1 to [`MAX_IDEMPOTENCY_KEY_LEN`] visible ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// Errors: [`DomainError::IdempotencyKeyInvalid`].
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let ok = !raw.is_empty() && raw.len() <= MAX_IDEMPOTENCY_KEY_LEN && raw.bytes().all(|b| b.is_ascii_graphic());
        if ok { Ok(Self(raw.to_owned())) } else { Err(DomainError::IdempotencyKeyInvalid) }
    }

    /// The key.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// SHA-256 of an operation name and its canonical JSON input, hex-encoded (64 chars).
/// Two requests with the same fingerprint are the same request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint(String);

impl Fingerprint {
    /// Fingerprints `operation` applied to `input` (the request as the caller sent
    /// it, without the idempotency key, so that server-side defaults such as "now"
    /// do not make a retry look different).
    pub fn of(operation: &str, input: &serde_json::Value) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(operation.as_bytes());
        hasher.update([0u8]);
        hasher.update(input.to_string().as_bytes());
        let digest = hasher.finalize();
        Self(digest.iter().map(|b| format!("{b:02x}")).collect())
    }

    /// Wraps a stored fingerprint.
    pub fn from_stored(hex: String) -> Self {
        Self(hex)
    }

    /// The hex digest.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_differ_by_input_and_operation() {
        let a = Fingerprint::of("recordPayment", &serde_json::json!({"amount": "1.00"}));
        let b = Fingerprint::of("recordPayment", &serde_json::json!({"amount": "1.01"}));
        let c = Fingerprint::of("recordPayout", &serde_json::json!({"amount": "1.00"}));
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_eq!(a, Fingerprint::of("recordPayment", &serde_json::json!({"amount": "1.00"})));
        assert_eq!(a.as_str().len(), 64);
    }

    #[test]
    fn keys_are_bounded_visible_ascii() {
        assert!(IdempotencyKey::parse("order-1:2").is_ok());
        assert!(IdempotencyKey::parse("").is_err());
        assert!(IdempotencyKey::parse("has space").is_err());
        assert!(IdempotencyKey::parse(&"k".repeat(256)).is_err());
    }
}
