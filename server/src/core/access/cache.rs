//! Callers authenticated from memory (issue 18): a bearer token checked once
//! against the database is remembered, so the requests after it cost no
//! statement for authentication.
//!
//! - **What is remembered:** only tokens that authenticated. An API key under
//!   its visible prefix, a staff session under its token's SHA-256; each with
//!   the hash of the whole secret, which a later request must match, and a
//!   session with its expiry, after which it is forgotten.
//! - **Revocation:** the instance that revokes a key (`revokeApiKey`,
//!   `rotateApiKey`) or a session (`logout`) forgets it at once, and on
//!   PostgreSQL sends `NOTIFY` on [`REVOCATION_CHANNEL`] after its commit.
//!   Every instance listens there (`startup`) and forgets what it names,
//!   within milliseconds. A listener that loses its connection forgets
//!   everything when it is back, since notifications sent meanwhile are lost.
//! - **The bounds:** at most [`AUTH_CACHE_ENTRIES`] tokens (the least used go
//!   first), each trusted for at most [`AUTH_CACHE_TTL`] without a look at
//!   the database. A revocation whose notification never left (the revoking
//!   instance died between its commit and its `NOTIFY`) therefore reaches
//!   the other instances within [`AUTH_CACHE_TTL`].
//! - **A lookup racing a revocation:** a token read from the database before a
//!   revocation and remembered after it would outlive it. So every
//!   revocation bumps a generation, and a lookup remembers its token only if
//!   no revocation happened while it read.
//!
//! SQLite runs one process: its revocations only need the local forget.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::rules::Caller;

/// Most tokens remembered at once; beyond it the least used are forgotten
/// and checked against the database again on their next request.
pub const AUTH_CACHE_ENTRIES: u64 = 100_000;

/// Longest a remembered token is trusted without a look at the database.
pub const AUTH_CACHE_TTL: Duration = Duration::from_secs(60);

/// PostgreSQL `NOTIFY` channel of revocations; the payload is the revoked
/// token's cache key ([`AuthCache::api_key`] or [`AuthCache::session`]).
pub const REVOCATION_CHANNEL: &str = "ledger_auth";

/// One remembered token.
#[derive(Debug, Clone)]
struct Remembered {
    caller: Caller,
    /// SHA-256 (hex) of the whole token, which a request must present.
    secret_hash: String,
    /// A session's end; `None` for an API key (valid until revoked).
    expires_at: Option<DateTime<Utc>>,
}

/// The tokens this instance has authenticated lately (see the module doc).
#[derive(Debug)]
pub struct AuthCache {
    entries: moka::future::Cache<String, Remembered>,
    /// Bumped by every revocation, local or notified.
    generation: AtomicU64,
}

impl Default for AuthCache {
    fn default() -> Self {
        Self::new()
    }
}

impl AuthCache {
    /// An empty cache bounded by [`AUTH_CACHE_ENTRIES`] and [`AUTH_CACHE_TTL`].
    pub fn new() -> Self {
        let entries =
            moka::future::Cache::builder().max_capacity(AUTH_CACHE_ENTRIES).time_to_live(AUTH_CACHE_TTL).build();
        Self { entries, generation: AtomicU64::new(0) }
    }

    /// The cache key of an API key: `k:` and its visible prefix (`lk_…`, `sk_…`).
    pub fn api_key(prefix: &str) -> String {
        format!("k:{prefix}")
    }

    /// The cache key of a staff session: `s:` and its token's SHA-256 (hex).
    pub fn session(token_hash: &str) -> String {
        format!("s:{token_hash}")
    }

    /// The generation to pass to [`AuthCache::remember`] after a lookup that
    /// starts now.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The caller remembered under `key`, if the request's `secret_hash` is
    /// the remembered one and, for a session, it has not ended at `now`.
    pub async fn get(&self, key: &str, secret_hash: &str, now: DateTime<Utc>) -> Option<Caller> {
        let found = self.entries.get(key).await?;
        // A wrong secret under a known prefix is refused by the database
        // lookup that follows; it does not evict the right one.
        if found.secret_hash != secret_hash {
            return None;
        }
        if found.expires_at.is_some_and(|end| end <= now) {
            self.entries.invalidate(key).await;
            return None;
        }
        Some(found.caller)
    }

    /// Remembers a token that just authenticated, unless a revocation came
    /// since `generation` was read (then the next request looks again).
    pub async fn remember(
        &self,
        generation: u64,
        key: String,
        secret_hash: String,
        caller: Caller,
        expires_at: Option<DateTime<Utc>>,
    ) {
        if self.generation() != generation {
            return;
        }
        self.entries.insert(key, Remembered { caller, secret_hash, expires_at }).await;
        // A revocation that landed during the insert may have missed it.
        if self.generation() != generation {
            self.forget_all();
        }
    }

    /// Forgets the token under `key` (a revocation).
    pub async fn forget(&self, key: &str) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.entries.invalidate(key).await;
    }

    /// Forgets every token (a listener that missed notifications).
    pub fn forget_all(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.entries.invalidate_all();
    }
}

/// Longest wait between two attempts to reconnect the revocation listener.
const MAX_LISTEN_BACKOFF: Duration = Duration::from_secs(5);

/// Listens on [`REVOCATION_CHANNEL`] of the PostgreSQL at `url` and forgets
/// each revoked token in `cache`; runs until its task is aborted. After every
/// (re)connection it forgets everything, since revocations sent while it was
/// not listening are lost ([`crate::core::db::listen_forever`]).
pub async fn listen(url: String, cache: std::sync::Arc<AuthCache>) {
    crate::core::listen_forever(url, REVOCATION_CHANNEL, MAX_LISTEN_BACKOFF, |heard| {
        let cache = cache.clone();
        async move {
            match heard {
                Some(key) => cache.forget(&key).await,
                None => cache.forget_all(),
            }
        }
    })
    .await;
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::domain::MerchantId;

    fn merchant_caller() -> Caller {
        Caller::Merchant { merchant: MerchantId::new(), key_prefix: "lk_test".into() }
    }

    #[tokio::test]
    async fn a_remembered_key_answers_only_its_own_secret_and_is_forgotten_on_revocation() {
        let cache = AuthCache::new();
        let key = AuthCache::api_key("lk_test");
        let caller = merchant_caller();
        cache.remember(cache.generation(), key.clone(), "right".into(), caller.clone(), None).await;
        assert_eq!(cache.get(&key, "right", Utc::now()).await, Some(caller.clone()));
        assert_eq!(cache.get(&key, "wrong", Utc::now()).await, None, "another secret under the prefix");
        assert_eq!(cache.get(&key, "right", Utc::now()).await, Some(caller), "a wrong secret evicts nothing");
        cache.forget(&key).await;
        assert_eq!(cache.get(&key, "right", Utc::now()).await, None);
    }

    #[tokio::test]
    async fn a_session_is_forgotten_at_its_end() {
        let cache = AuthCache::new();
        let key = AuthCache::session("abc");
        let end = Utc::now() + chrono::Duration::seconds(5);
        cache.remember(cache.generation(), key.clone(), "abc".into(), merchant_caller(), Some(end)).await;
        assert!(cache.get(&key, "abc", Utc::now()).await.is_some());
        assert_eq!(cache.get(&key, "abc", end).await, None, "ended");
        assert_eq!(cache.get(&key, "abc", Utc::now()).await, None, "and gone");
    }

    #[tokio::test]
    async fn a_lookup_that_raced_a_revocation_is_not_remembered() {
        let cache = AuthCache::new();
        let key = AuthCache::api_key("lk_test");
        let before = cache.generation();
        // Another key's revocation lands while this lookup reads the database.
        cache.forget(&AuthCache::api_key("lk_other")).await;
        cache.remember(before, key.clone(), "right".into(), merchant_caller(), None).await;
        assert_eq!(cache.get(&key, "right", Utc::now()).await, None);
        cache.remember(cache.generation(), key.clone(), "right".into(), merchant_caller(), None).await;
        assert!(cache.get(&key, "right", Utc::now()).await.is_some());
        cache.forget_all();
        assert_eq!(cache.get(&key, "right", Utc::now()).await, None);
    }
}
