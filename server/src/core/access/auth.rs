//! Authentication: turning a bearer token into a [`Caller`], staff login and
//! logout, API key issue, and the bootstrap admin.
//!
//! - API keys are `lk_<8 chars>_<43 chars>` (a merchant's) or
//!   `sk_<8 chars>_<43 chars>` (a platform service's): 256 random bits behind an
//!   8-character visible id. They are stored as the hex SHA-256 of the whole key. A slow hash
//!   is for low-entropy secrets such as passwords; a 256-bit key cannot be guessed,
//!   and a fast hash keeps every request's lookup cheap.
//! - Staff passwords are hashed with argon2id (the `argon2` crate's defaults,
//!   OWASP's recommended parameters), off the async runtime.
//! - Session tokens are `ls_<43 chars>` (256 random bits), stored hashed, with an
//!   expiry; logout revokes them. Opaque tokens rather than JWTs, because a
//!   session must be revocable at once, which a self-contained token is not.
//! - Login attempts are limited per username with `governor`, so a password
//!   cannot be guessed online.

use std::num::NonZeroU32;
use std::sync::{Arc, OnceLock};

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use base64::Engine;
use chrono::{DateTime, Utc};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use rand::RngCore;
use sea_orm::{DatabaseConnection, DbErr};
use sha2::{Digest, Sha256};

use crate::core::access::cache::AuthCache;
use crate::core::access::rules::{
    API_KEY_ID_LEN, API_KEY_PREFIX, Caller, Role, SERVICE_KEY_PREFIX, SESSION_TOKEN_PREFIX, Secret, Token,
};
use crate::core::access::store as access;
use crate::domain::MerchantId;

/// Usernames remembered by the login limiter before stale ones are pruned, so
/// a spray of made-up usernames cannot grow it without bound.
pub const MAX_TRACKED_LOGIN_NAMES: usize = 10_000;

/// Why authentication or login failed.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No valid credentials: unknown, malformed, expired or revoked.
    #[error("authentication required: the token is unknown, expired or revoked")]
    Unauthenticated,
    /// Wrong username or password (never says which).
    #[error("wrong username or password")]
    InvalidCredentials,
    /// Too many login attempts for this username; try again later.
    #[error("too many login attempts for this user; try again in a minute")]
    RateLimited,
    /// A database failure.
    #[error("internal error")]
    Internal(#[from] DbErr),
    /// Hashing a password failed (argon2's own error, or its blocking task
    /// panicked): a bug or an exhausted machine, never the caller's doing.
    #[error("internal error: {0}")]
    Hashing(String),
}

/// The hex SHA-256 of a token, as stored.
pub fn token_hash(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// 256 random bits, base64url without padding (43 characters).
fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A fresh API key: `(prefix, whole key)`, a service key (`sk_`) when
/// `service` is true, else a merchant key (`lk_`). The id part is 8 of `[a-z0-9]`.
pub fn new_api_key(service: bool) -> (String, String) {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    let id: String =
        (0..API_KEY_ID_LEN).map(|_| ALPHABET[(rng.next_u32() as usize) % ALPHABET.len()] as char).collect();
    // The secret may contain '-' and '_' (base64url); the key splits at the first '_'
    // after the prefix, and the id part has none.
    let kind = if service { SERVICE_KEY_PREFIX } else { API_KEY_PREFIX };
    let prefix = format!("{kind}{id}");
    let full = format!("{prefix}_{}", random_secret());
    (prefix, full)
}

/// Hashes a password with argon2id on a blocking thread.
///
/// Errors: [`AuthError::Hashing`] if hashing fails.
pub async fn hash_password(password: &str) -> Result<String, AuthError> {
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || Argon2::default().hash_password(password.as_bytes()).map(|h| h.to_string()))
        .await
        .map_err(|e| AuthError::Hashing(format!("hashing task: {e}")))?
        .map_err(|e| AuthError::Hashing(format!("argon2: {e}")))
}

/// Checks a password against an argon2 PHC string on a blocking thread.
async fn verify_password(password: &str, phc: &str) -> bool {
    let (password, phc) = (password.to_owned(), phc.to_owned());
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&phc).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
    })
    .await
    .unwrap_or(false)
}

/// A hash of no one's password, checked when the username is unknown so that a
/// wrong username takes as long as a wrong password.
fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| {
        Argon2::default().hash_password(b"decoy password for unknown users").map(|h| h.to_string()).unwrap_or_default()
    })
}

/// A logged-in session.
#[derive(Debug, Clone)]
pub struct Session {
    /// The bearer token (shown once).
    pub token: String,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
    /// The user.
    pub user: access::StaffUser,
}

/// Authenticates requests and logs staff in.
pub struct Authenticator {
    pool: DatabaseConnection,
    session_ttl: chrono::Duration,
    logins: DefaultKeyedRateLimiter<String>,
    cache: Arc<AuthCache>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator").field("session_ttl", &self.session_ttl).finish_non_exhaustive()
    }
}

impl Authenticator {
    /// An authenticator over the request pool. `session_ttl` is how long a
    /// session lasts; `logins_per_minute` how many login attempts one username
    /// gets per minute (at least 1); `cache` the tokens authenticated lately,
    /// shared with the ledger, whose revocations clear it
    /// ([`super::cache`]).
    pub fn new(
        pool: DatabaseConnection,
        session_ttl: chrono::Duration,
        logins_per_minute: u32,
        cache: Arc<AuthCache>,
    ) -> Arc<Self> {
        let quota = Quota::per_minute(NonZeroU32::new(logins_per_minute).unwrap_or(NonZeroU32::MIN));
        Arc::new(Self { pool, session_ttl, logins: RateLimiter::keyed(quota), cache })
    }

    /// The caller named by an `Authorization` header value (`Bearer <token>`),
    /// or [`Caller::Anonymous`] when there is none. A token that authenticated
    /// lately is answered from memory, without a statement ([`super::cache`]).
    ///
    /// Errors: [`AuthError::Unauthenticated`] for a malformed, unknown, expired
    /// or revoked token; [`AuthError::Internal`] on a database failure.
    pub async fn authenticate(&self, authorization: Option<&str>) -> Result<Caller, AuthError> {
        let Some(value) = authorization else { return Ok(Caller::Anonymous) };
        let raw = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .ok_or(AuthError::Unauthenticated)?;
        let token = Token::parse(raw).map_err(|_| AuthError::Unauthenticated)?;
        let (key, secret_hash) = match &token {
            Token::ApiKey { prefix, full } => (AuthCache::api_key(prefix), token_hash(full)),
            Token::Session(full) => {
                let hash = token_hash(full);
                (AuthCache::session(&hash), hash)
            }
        };
        let now = Utc::now();
        if let Some(caller) = self.cache.get(&key, &secret_hash, now).await {
            return Ok(caller);
        }
        let generation = self.cache.generation();
        let (caller, expires_at) = self.look_up(&token, &secret_hash, now).await?;
        self.cache.remember(generation, key, secret_hash, caller.clone(), expires_at).await;
        Ok(caller)
    }

    /// The caller of `token` (whose whole secret hashes to `secret_hash`) as
    /// the database says at `now`, and when it stops working if it is a
    /// session. Errors: as [`Authenticator::authenticate`].
    async fn look_up(
        &self,
        token: &Token,
        secret_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<(Caller, Option<DateTime<Utc>>), AuthError> {
        // Key and session lookups happen before the caller's tenant is known, so
        // they run as the server itself.
        // One statement each, outside any transaction: sessions and staff users
        // are not under row-level security, and API keys are looked up through
        // a function the request role may call (migration `create_key_lookup`).
        Ok(match token {
            Token::ApiKey { prefix, .. } => match access::api_key_for_auth(&self.pool, prefix).await? {
                // The prefix's kind and the stored kind agree by construction;
                // checking it too means a stray row can never turn one into the other.
                Some(k)
                    if k.revoked_at.is_none()
                        && k.key_hash == secret_hash
                        && k.prefix.starts_with(SERVICE_KEY_PREFIX) == k.service.is_some() =>
                {
                    let caller = match k.service {
                        Some(grant) => Caller::Service { name: grant.name, key_prefix: k.prefix, scopes: grant.scopes },
                        None => Caller::Merchant { merchant: k.merchant, key_prefix: k.prefix },
                    };
                    (caller, None)
                }
                _ => return Err(AuthError::Unauthenticated),
            },
            Token::Session(_) => match access::live_session(&self.pool, secret_hash, now).await? {
                Some((session, expires_at, user)) => {
                    (Caller::Staff { id: user.id, username: user.username, role: user.role, session }, Some(expires_at))
                }
                None => return Err(AuthError::Unauthenticated),
            },
        })
    }

    /// Logs a staff user in and starts a session.
    ///
    /// Errors: [`AuthError::RateLimited`] after too many attempts for this
    /// username in the last minute (checked before the password, so it holds even
    /// for the right one); [`AuthError::InvalidCredentials`]; [`AuthError::Internal`].
    #[tracing::instrument(name = "ledger.auth.login", skip_all)]
    pub async fn login(&self, username: &str, password: &str) -> Result<Session, AuthError> {
        if self.logins.len() > MAX_TRACKED_LOGIN_NAMES {
            self.logins.retain_recent();
        }
        if self.logins.check_key(&username.to_owned()).is_err() {
            tracing::warn!(username, "login attempts rate-limited");
            return Err(AuthError::RateLimited);
        }
        let user = access::staff_by_username(&self.pool, username).await?;
        let phc = user.as_ref().map_or_else(|| decoy_hash().to_owned(), |u| u.password_hash.clone());
        let verified = verify_password(password, &phc).await;
        let Some(user) = user.filter(|_| verified) else {
            tracing::info!(username, "login refused");
            return Err(AuthError::InvalidCredentials);
        };
        let token = format!("{SESSION_TOKEN_PREFIX}{}", random_secret());
        let expires_at = Utc::now() + self.session_ttl;
        access::insert_session(&self.pool, uuid::Uuid::now_v7(), &token_hash(&token), user.id, expires_at).await?;
        tracing::info!(username, "staff logged in");
        Ok(Session { token, expires_at, user })
    }

    /// Issues a new API key: a merchant key for `merchant`, or, with `service`,
    /// a service key (then `merchant` must be the platform). Returns the stored
    /// key and the secret (shown once, never stored). Runs inside `db`, the
    /// caller's open transaction.
    ///
    /// Errors: the database's (including a prefix collision, one in 2^41).
    pub async fn issue_api_key(
        db: &impl sea_orm::ConnectionTrait,
        merchant: MerchantId,
        service: Option<access::ServiceGrant>,
        name: Option<String>,
        created_by: String,
    ) -> Result<(access::ApiKey, Secret), DbErr> {
        let (prefix, full) = new_api_key(service.is_some());
        let key = access::ApiKey {
            id: uuid::Uuid::now_v7(),
            merchant,
            service,
            prefix,
            key_hash: token_hash(&full),
            name,
            created_by,
            created_at: Utc::now(),
            revoked_at: None,
        };
        access::insert_api_key(db, &key).await?;
        Ok((key, Secret::new(full)))
    }

    /// On a database with no staff user, creates the admin: with `password` when
    /// given (`LEDGER_ADMIN_PASSWORD`), or else a random one-time password that is
    /// printed once to the log. Several instances starting at once create one admin.
    pub async fn bootstrap_admin(&self, username: &str, password: Option<&str>) -> Result<(), AuthError> {
        if access::staff_count(&self.pool).await? > 0 {
            return Ok(());
        }
        let (password, generated) = match password {
            Some(p) => (p.to_owned(), false),
            None => (random_secret(), true),
        };
        let user = access::StaffUser {
            id: uuid::Uuid::now_v7(),
            username: username.to_owned(),
            password_hash: hash_password(&password).await?,
            role: Role::Admin,
            created_at: Utc::now(),
        };
        let txn = crate::core::db::begin(&self.pool).await?;
        let created = access::insert_staff(&txn, &user).await?;
        txn.commit().await?;
        if created && generated {
            // The one secret the server ever logs, on purpose: without it no one
            // could sign in to a fresh install. It is shown once and never stored.
            tracing::warn!(
                username,
                one_time_password = %password,
                "bootstrap admin created with a one-time password; sign in and create your own admin, \
                 or restart with LEDGER_ADMIN_PASSWORD set"
            );
        } else if created {
            tracing::info!(username, "bootstrap admin created from LEDGER_ADMIN_PASSWORD");
        }
        Ok(())
    }
}
