//! Who is calling and what they may do: callers, staff roles, the access rule of
//! each API field, the tenant a caller's database work runs under, and the shape
//! of API keys and session tokens.
//!
//! Pure rules only: hashing, storage and HTTP live in `crate::auth`,
//! `crate::store::access` and `crate::http`.

use std::fmt;

use super::MerchantId;

/// A staff member's role. Each role can do everything the one before it can.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Reads everything.
    Viewer,
    /// Also refunds, reverses and resolves disputes, always with a reason.
    Support,
    /// Also manages staff, merchants and keys, and runs every write.
    Admin,
}

impl Role {
    /// The stored and logged name: `viewer`, `support`, `admin`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Support => "support",
            Role::Admin => "admin",
        }
    }

    /// Parses a stored name; `None` for anything else.
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "viewer" => Some(Role::Viewer),
            "support" => Some(Role::Support),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// The authenticated (or not) caller of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// No credentials.
    Anonymous,
    /// A merchant's API key.
    Merchant {
        /// The key's merchant.
        merchant: MerchantId,
        /// The key's visible prefix, e.g. `lk_a1b2c3d4`.
        key_prefix: String,
    },
    /// A logged-in staff member.
    Staff {
        /// The staff user's id.
        id: uuid::Uuid,
        /// The username.
        username: String,
        /// The role.
        role: Role,
        /// The session's id (logout revokes it).
        session: uuid::Uuid,
    },
}

impl Caller {
    /// How the caller is recorded as a transaction's actor: `key:<prefix>`,
    /// `staff:<username>`, or `anonymous`.
    pub fn actor(&self) -> String {
        match self {
            Caller::Anonymous => "anonymous".to_owned(),
            Caller::Merchant { key_prefix, .. } => format!("key:{key_prefix}"),
            Caller::Staff { username, .. } => format!("staff:{username}"),
        }
    }

    /// The tenant this caller's database work runs under: its own merchant for a
    /// key, everything for staff, nothing for anonymous callers.
    pub fn tenant(&self) -> Tenant {
        match self {
            Caller::Anonymous => Tenant::Nobody,
            Caller::Merchant { merchant, .. } => Tenant::Merchant(*merchant),
            Caller::Staff { .. } => Tenant::All,
        }
    }

    /// The staff username, when the caller is staff.
    pub fn staff_username(&self) -> Option<&str> {
        match self {
            Caller::Staff { username, .. } => Some(username),
            _ => None,
        }
    }
}

/// Whose rows a database transaction may see (PostgreSQL enforces it with
/// row-level security; the application checks it too).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tenant {
    /// No rows of any merchant (anonymous callers; also the default).
    Nobody,
    /// One merchant's rows.
    Merchant(MerchantId),
    /// Every row: staff and the server's own jobs.
    All,
}

impl Tenant {
    /// True when rows of `merchant` are visible.
    pub fn sees(self, merchant: MerchantId) -> bool {
        match self {
            Tenant::Nobody => false,
            Tenant::Merchant(m) => m == merchant,
            Tenant::All => true,
        }
    }

    /// The value of the `ledger.tenant` setting: a merchant id, `*`, or empty.
    pub fn setting(self) -> String {
        match self {
            Tenant::Nobody => String::new(),
            Tenant::Merchant(m) => m.to_string(),
            Tenant::All => "*".to_owned(),
        }
    }
}

/// Why a caller may not do something.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccessError {
    /// No valid credentials: none, unknown, expired or revoked.
    #[error("authentication required: send `Authorization: Bearer <API key or session token>`")]
    Unauthenticated,
    /// Valid credentials, but this caller may not use this field.
    #[error("this caller may not use this field")]
    Forbidden,
}

/// Who may call one API field. Checked once per field by the GraphQL guard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access {
    /// Anonymous callers too (only `login`).
    pub anonymous: bool,
    /// Merchant API keys (always limited to their own merchant's data).
    pub merchant: bool,
    /// The lowest staff role allowed; `None` for no staff.
    pub staff: Option<Role>,
}

impl Access {
    /// Everyone, signed in or not: `login`.
    pub const ANYONE: Access = Access { anonymous: true, merchant: true, staff: Some(Role::Viewer) };
    /// Any authenticated caller; merchants see their own data only.
    pub const READ: Access = Access { anonymous: false, merchant: true, staff: Some(Role::Viewer) };
    /// Staff only, any role: platform-wide reads.
    pub const STAFF_READ: Access = Access { anonymous: false, merchant: false, staff: Some(Role::Viewer) };
    /// A merchant's own writes, and admins on anyone's behalf.
    pub const MERCHANT_WRITE: Access = Access { anonymous: false, merchant: true, staff: Some(Role::Admin) };
    /// A merchant's own refunds, and support staff.
    pub const REFUND: Access = Access { anonymous: false, merchant: true, staff: Some(Role::Support) };
    /// Support staff and above: reversals and dispute outcomes.
    pub const SUPPORT: Access = Access { anonymous: false, merchant: false, staff: Some(Role::Support) };
    /// Admins only: staff, merchants, keys and platform-side money movements.
    pub const ADMIN: Access = Access { anonymous: false, merchant: false, staff: Some(Role::Admin) };

    /// Checks `caller` against the rule. Errors: [`AccessError::Unauthenticated`]
    /// for anonymous callers of a non-anonymous field, [`AccessError::Forbidden`]
    /// for a kind or role the rule does not allow.
    pub fn check(&self, caller: &Caller) -> Result<(), AccessError> {
        let allowed = match caller {
            Caller::Anonymous => return if self.anonymous { Ok(()) } else { Err(AccessError::Unauthenticated) },
            Caller::Merchant { .. } => self.merchant,
            Caller::Staff { role, .. } => self.staff.is_some_and(|min| *role >= min),
        };
        if allowed { Ok(()) } else { Err(AccessError::Forbidden) }
    }
}

/// Prefix of every merchant API key.
pub const API_KEY_PREFIX: &str = "lk_";
/// Prefix of every staff session token.
pub const SESSION_TOKEN_PREFIX: &str = "ls_";
/// Length of an API key's visible id, after `lk_`: 8 characters of `[a-z0-9]`.
pub const API_KEY_ID_LEN: usize = 8;
/// Longest bearer token accepted; longer ones are refused before any lookup.
pub const MAX_TOKEN_LEN: usize = 128;

/// A bearer token, parsed by shape only (whether it is valid is the store's word).
#[derive(Clone, PartialEq, Eq)]
pub enum Token {
    /// `lk_<id>_<secret>`: a merchant API key; `prefix` is `lk_<id>`.
    ApiKey {
        /// The visible prefix, `lk_<id>`, stored in clear to find the key.
        prefix: String,
        /// The whole key, to hash.
        full: String,
    },
    /// `ls_<secret>`: a staff session token.
    Session(String),
}

impl fmt::Debug for Token {
    /// Never prints the secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Token::ApiKey { prefix, .. } => write!(f, "ApiKey({prefix}_…)"),
            Token::Session(_) => f.write_str("Session(…)"),
        }
    }
}

impl Token {
    /// Parses a bearer token's shape. Errors: [`AccessError::Unauthenticated`]
    /// for anything that is not a well-formed key or session token.
    pub fn parse(raw: &str) -> Result<Token, AccessError> {
        let raw = raw.trim();
        if raw.len() > MAX_TOKEN_LEN || !raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
            return Err(AccessError::Unauthenticated);
        }
        if let Some(rest) = raw.strip_prefix(API_KEY_PREFIX) {
            let (id, secret) = rest.split_once('_').ok_or(AccessError::Unauthenticated)?;
            if id.len() != API_KEY_ID_LEN || secret.len() < 16 {
                return Err(AccessError::Unauthenticated);
            }
            return Ok(Token::ApiKey { prefix: format!("{API_KEY_PREFIX}{id}"), full: raw.to_owned() });
        }
        match raw.strip_prefix(SESSION_TOKEN_PREFIX) {
            Some(secret) if secret.len() >= 16 => Ok(Token::Session(raw.to_owned())),
            _ => Err(AccessError::Unauthenticated),
        }
    }
}

/// Shortest staff password accepted, in characters (OWASP ASVS 2.1.1 asks for 12
/// or more; 12 here).
pub const MIN_PASSWORD_LEN: usize = 12;
/// Longest staff password accepted, so hashing stays bounded (ASVS 2.1.2: at least 64).
pub const MAX_PASSWORD_LEN: usize = 128;

/// Checks a new staff user's username (1 to 64 of `a-z 0-9 . _ -`) and password
/// length. Errors: a message naming what is wrong.
pub fn check_new_staff(username: &str, password: &str) -> Result<(), String> {
    let ok_name = !username.is_empty()
        && username.len() <= 64
        && username.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
    if !ok_name {
        return Err("username must be 1 to 64 of a-z 0-9 . _ -".to_owned());
    }
    let n = password.chars().count();
    if !(MIN_PASSWORD_LEN..=MAX_PASSWORD_LEN).contains(&n) {
        return Err(format!("password must be {MIN_PASSWORD_LEN} to {MAX_PASSWORD_LEN} characters"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn staff(role: Role) -> Caller {
        Caller::Staff { id: uuid::Uuid::nil(), username: "s".into(), role, session: uuid::Uuid::nil() }
    }

    #[test]
    fn roles_include_the_ones_below_them() {
        assert!(Access::SUPPORT.check(&staff(Role::Admin)).is_ok());
        assert!(Access::SUPPORT.check(&staff(Role::Support)).is_ok());
        assert_eq!(Access::SUPPORT.check(&staff(Role::Viewer)), Err(AccessError::Forbidden));
        assert_eq!(Access::ADMIN.check(&Caller::Anonymous), Err(AccessError::Unauthenticated));
        let key = Caller::Merchant { merchant: MerchantId::PLATFORM, key_prefix: "lk_x".into() };
        assert_eq!(Access::STAFF_READ.check(&key), Err(AccessError::Forbidden));
        assert!(Access::ANYONE.check(&Caller::Anonymous).is_ok());
    }

    #[test]
    fn tokens_parse_by_shape_and_never_print_their_secret() {
        let t = Token::parse("lk_abcd1234_0123456789abcdefghij")
            .unwrap_or_else(|_| unreachable!("a well-formed API key token"));
        assert_eq!(format!("{t:?}"), "ApiKey(lk_abcd1234_…)");
        assert!(matches!(Token::parse("ls_0123456789abcdefghij"), Ok(Token::Session(_))));
        for bad in ["", "lk_short_x", "lk_abcd1234", "nope", "ls_x", "lk_abcd1234_0123456789abcdef\u{0}"] {
            assert_eq!(Token::parse(bad), Err(AccessError::Unauthenticated), "{bad:?}");
        }
    }

    #[test]
    fn tenants_see_only_their_own_merchant() {
        let a = MerchantId(uuid::Uuid::from_u128(1));
        let b = MerchantId(uuid::Uuid::from_u128(2));
        assert!(Tenant::Merchant(a).sees(a));
        assert!(!Tenant::Merchant(a).sees(b));
        assert!(Tenant::All.sees(b));
        assert!(!Tenant::Nobody.sees(a));
        assert_eq!(Tenant::All.setting(), "*");
    }
}
