//! Who is calling and what they may do: callers, staff roles, service scopes,
//! the access rule of each API field ([`FIELD_ACCESS`], the one place where a
//! field names who may call it and the scope a service key needs), the tenant a
//! caller's database work runs under, and the shape of API keys and session
//! tokens.
//!
//! Pure rules only: hashing, storage and HTTP live in `crate::core::access::auth`,
//! `crate::core::access::store` and `crate::http`.

use std::collections::BTreeSet;
use std::fmt;

use crate::domain::MerchantId;
pub use crate::domain::actor::{Actor, MAX_SERVICE_NAME_LEN, ServiceName, Tenant};

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

/// What a service key may do. Each scope is one kind of fact a platform
/// service reports to the ledger (the card processing service reports
/// payments, the bank service payouts), as Stripe's restricted keys and Blnk's
/// scoped keys grant one resource at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// Card payments: record, authorize, capture, void and refund them.
    PaymentsWrite,
    /// Chargebacks: open and resolve disputes.
    DisputesWrite,
    /// Payouts: create, record, settle and fail them, and their settings.
    PayoutsWrite,
    /// General postings (including on platform accounts), accounts and deals.
    TransactionsWrite,
    /// Reads of every merchant's books.
    LedgerRead,
    /// The bank's word: import bank statements (camt.053, CSV) and read the
    /// platform's bank accounts and their statements.
    ReconciliationWrite,
}

impl Scope {
    /// Every scope, in the order the API lists them.
    pub const ALL: [Scope; 6] = [
        Scope::PaymentsWrite,
        Scope::DisputesWrite,
        Scope::PayoutsWrite,
        Scope::TransactionsWrite,
        Scope::LedgerRead,
        Scope::ReconciliationWrite,
    ];

    /// The name on the wire and in storage: `payments:write`, ….
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::PaymentsWrite => "payments:write",
            Scope::DisputesWrite => "disputes:write",
            Scope::PayoutsWrite => "payouts:write",
            Scope::TransactionsWrite => "transactions:write",
            Scope::LedgerRead => "ledger:read",
            Scope::ReconciliationWrite => "reconciliation:write",
        }
    }

    /// Parses a scope name; `None` for anything else.
    pub fn parse(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|scope| scope.as_str() == s)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The scopes of one service key: at least one, each once.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Scopes(BTreeSet<Scope>);

impl Scopes {
    /// Parses scope names as a client sends them. Errors: a message naming an
    /// unknown scope, or saying that none was given (a key that may do nothing
    /// is a mistake, not a key).
    pub fn parse<S: AsRef<str>>(names: &[S]) -> Result<Scopes, String> {
        let mut set = BTreeSet::new();
        for name in names {
            let name = name.as_ref();
            let scope = Scope::parse(name.trim()).ok_or_else(|| {
                let known: Vec<&str> = Scope::ALL.iter().map(|s| s.as_str()).collect();
                format!("unknown scope {name:?}; scopes are {}", known.join(", "))
            })?;
            set.insert(scope);
        }
        if set.is_empty() {
            return Err("give at least one scope".to_owned());
        }
        Ok(Scopes(set))
    }

    /// The stored form: the names, sorted, separated by single spaces.
    pub fn stored(&self) -> String {
        self.iter().map(Scope::as_str).collect::<Vec<_>>().join(" ")
    }

    /// Reads the stored form; `None` when it names an unknown scope or none.
    pub fn from_stored(s: &str) -> Option<Scopes> {
        let names: Vec<&str> = s.split_whitespace().collect();
        Scopes::parse(&names).ok()
    }

    /// True when `scope` is one of them.
    pub fn contains(&self, scope: Scope) -> bool {
        self.0.contains(&scope)
    }

    /// The scopes in [`Scope`] order.
    pub fn iter(&self) -> impl Iterator<Item = Scope> + '_ {
        self.0.iter().copied()
    }
}

/// A freshly issued API key or token, shown to its owner once: a
/// `secrecy::SecretString`, so its `Debug` never prints it (it cannot reach a
/// log by accident), reading it takes an explicit [`Secret::expose`], and its
/// memory is zeroed on drop. It is never serialized (nothing stores it: only
/// its SHA-256 is kept).
#[derive(Clone, Debug)]
pub struct Secret(secrecy::SecretString);

impl Secret {
    /// Wraps a freshly made secret.
    pub fn new(secret: String) -> Secret {
        Secret(secret.into())
    }

    /// The secret itself, to hand to its owner.
    pub fn expose(&self) -> &str {
        secrecy::ExposeSecret::expose_secret(&self.0)
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
    /// A platform service's key: acts for every merchant, within its scopes.
    Service {
        /// The service's name.
        name: ServiceName,
        /// The key's visible prefix, e.g. `sk_a1b2c3d4`.
        key_prefix: String,
        /// What the key may do.
        scopes: Scopes,
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
    /// How the caller is recorded as an actor.
    pub fn actor(&self) -> Actor {
        match self {
            Caller::Anonymous => Actor::Anonymous,
            Caller::Merchant { key_prefix, .. } => Actor::Key { prefix: key_prefix.clone() },
            Caller::Service { name, key_prefix, .. } => {
                Actor::Service { name: name.clone(), prefix: key_prefix.clone() }
            }
            Caller::Staff { username, .. } => Actor::Staff { username: username.clone() },
        }
    }

    /// The tenant this caller's database work runs under: its own merchant for a
    /// merchant key, everything for staff and service keys (a service acts for
    /// every merchant; its scopes bound what it may do), nothing for anonymous
    /// callers.
    pub fn tenant(&self) -> Tenant {
        match self {
            Caller::Anonymous => Tenant::Nobody,
            Caller::Merchant { merchant, .. } => Tenant::Merchant(*merchant),
            Caller::Service { .. } | Caller::Staff { .. } => Tenant::All,
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

/// What an audited action acts on: the audit log's `target_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::EnumString)]
#[strum(serialize_all = "snake_case")]
pub enum AuditTarget {
    /// A transaction (a reversal).
    Transaction,
    /// A payment (a life-cycle step).
    Payment,
    /// A payout.
    Payout,
    /// A merchant (postings, accounts, settings for it).
    Merchant,
    /// A registered asset.
    Asset,
    /// One account (its balance limit).
    Account,
    /// The default balance limit of an account code and asset.
    BalanceLimitDefault,
    /// An API key.
    ApiKey,
    /// A staff user.
    StaffUser,
    /// A staff session (login, logout).
    Session,
    /// One of the platform's bank accounts (registered).
    BankAccount,
    /// A bank statement (imported).
    BankStatement,
}

impl AuditTarget {
    /// The stored form, e.g. `balance_limit_default`.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Reads the stored form back. Errors: `DbErr::Type` for text that is no
    /// target (the log holds nothing else).
    pub fn parse(stored: &str) -> Result<AuditTarget, sea_orm::DbErr> {
        stored.parse().map_err(|_| crate::core::db::corrupt(format!("stored audit target `{stored}`")))
    }
}

pub use super::error::AccessError;

/// Which service keys may call a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceAccess {
    /// None: the field is the platform staff's (or a merchant's) alone.
    Denied,
    /// Every service key, whatever its scopes (`me`, `assets`, `login`).
    AnyKey,
    /// Keys holding this scope.
    Scope(Scope),
}

/// Who may call one API field. Checked once per field by the GraphQL guard,
/// which finds the field's rule in [`FIELD_ACCESS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access {
    /// Anonymous callers too (only `login`).
    pub anonymous: bool,
    /// Merchant API keys (always limited to their own merchant's data).
    pub merchant: bool,
    /// The lowest staff role allowed; `None` for no staff.
    pub staff: Option<Role>,
    /// The service keys allowed.
    pub service: ServiceAccess,
}

impl Access {
    /// Everyone, signed in or not: `login`.
    pub const ANYONE: Access =
        Access { anonymous: true, merchant: true, staff: Some(Role::Viewer), service: ServiceAccess::AnyKey };

    /// Staff of `role` and above; nobody else (add others with the methods below).
    pub const fn staff(role: Role) -> Access {
        Access { anonymous: false, merchant: false, staff: Some(role), service: ServiceAccess::Denied }
    }

    /// Also merchant keys, for their own merchant only.
    pub const fn and_merchant(self) -> Access {
        Access { merchant: true, ..self }
    }

    /// Also service keys that hold `scope`.
    pub const fn and_scope(self, scope: Scope) -> Access {
        Access { service: ServiceAccess::Scope(scope), ..self }
    }

    /// Also every service key.
    pub const fn and_any_service(self) -> Access {
        Access { service: ServiceAccess::AnyKey, ..self }
    }

    /// The scope a service key needs, when one does.
    pub fn scope(&self) -> Option<Scope> {
        match self.service {
            ServiceAccess::Scope(scope) => Some(scope),
            ServiceAccess::Denied | ServiceAccess::AnyKey => None,
        }
    }

    /// Checks `caller` against the rule. Errors: [`AccessError::Unauthenticated`]
    /// for anonymous callers of a non-anonymous field, [`AccessError::Forbidden`]
    /// for a kind, role or scope the rule does not allow.
    pub fn check(&self, caller: &Caller) -> Result<(), AccessError> {
        let allowed = match caller {
            Caller::Anonymous => return if self.anonymous { Ok(()) } else { Err(AccessError::Unauthenticated) },
            Caller::Merchant { .. } => self.merchant,
            Caller::Service { scopes, .. } => match self.service {
                ServiceAccess::Denied => false,
                ServiceAccess::AnyKey => true,
                ServiceAccess::Scope(scope) => scopes.contains(scope),
            },
            Caller::Staff { role, .. } => self.staff.is_some_and(|min| *role >= min),
        };
        if allowed { Ok(()) } else { Err(AccessError::Forbidden) }
    }
}

/// Every root field of the API (queries, mutations, subscriptions) and who may
/// call it: the one place a field names the scope it needs. The README's
/// authorization table says the same in prose columns, and the `authz`
/// integration test runs that table against the server and checks its scope
/// column against this one. A field missing here is refused to everyone.
///
/// Why these lines: a merchant key reads its own books, moves money between
/// its own accounts, refunds its own payments (money going back never raises
/// its balance) and asks for payouts of what is available; it never declares
/// that money arrived (`recordPayment`, `authorizePayment`, `capturePayment`,
/// `voidAuthorization`) or left (`recordPayout`), because those are the card
/// network's and the bank's word, which only the platform's own services
/// (service keys) and admins report.
pub const FIELD_ACCESS: &[(&str, Access)] = {
    use Role::{Admin, Support, Viewer};
    use Scope::{DisputesWrite, LedgerRead, PaymentsWrite, PayoutsWrite, ReconciliationWrite, TransactionsWrite};
    &[
        // Queries.
        ("me", Access::staff(Viewer).and_merchant().and_any_service()),
        ("assets", Access::staff(Viewer).and_merchant().and_any_service()),
        ("merchant", Access::staff(Viewer).and_merchant().and_scope(LedgerRead)),
        ("merchants", Access::staff(Viewer).and_merchant().and_scope(LedgerRead)),
        ("account", Access::staff(Viewer).and_merchant().and_scope(LedgerRead)),
        ("transaction", Access::staff(Viewer).and_merchant().and_scope(LedgerRead)),
        ("transactions", Access::staff(Viewer).and_merchant().and_scope(LedgerRead)),
        ("entries", Access::staff(Viewer).and_merchant().and_scope(LedgerRead)),
        ("payment", Access::staff(Viewer).and_merchant().and_scope(LedgerRead)),
        ("payments", Access::staff(Viewer).and_merchant().and_scope(LedgerRead)),
        ("payout", Access::staff(Viewer).and_merchant().and_scope(LedgerRead)),
        ("payouts", Access::staff(Viewer).and_merchant().and_scope(LedgerRead)),
        ("events", Access::staff(Viewer).and_merchant().and_scope(LedgerRead)),
        ("trialBalance", Access::staff(Viewer)),
        ("platformBalances", Access::staff(Viewer)),
        ("auditLog", Access::staff(Viewer)),
        ("apiKeys", Access::staff(Viewer)),
        ("serviceKeys", Access::staff(Viewer)),
        ("staffUsers", Access::staff(Viewer)),
        ("monthlyRollup", Access::staff(Viewer)),
        ("rollupMonths", Access::staff(Viewer)),
        ("conversionRates", Access::staff(Viewer)),
        ("refundPreview", Access::staff(Support).and_merchant().and_scope(PaymentsWrite)),
        ("bankAccounts", Access::staff(Viewer).and_scope(ReconciliationWrite)),
        ("bankStatements", Access::staff(Viewer).and_scope(ReconciliationWrite)),
        ("bankStatementLines", Access::staff(Viewer).and_scope(ReconciliationWrite)),
        ("unconfirmedLedgerItems", Access::staff(Viewer).and_scope(ReconciliationWrite)),
        ("reconciliationReport", Access::staff(Viewer).and_scope(ReconciliationWrite)),
        // Subscriptions.
        ("balanceUpdated", Access::staff(Viewer).and_merchant().and_scope(LedgerRead)),
        ("transactionPosted", Access::staff(Viewer).and_merchant().and_scope(LedgerRead)),
        // Mutations.
        ("login", Access::ANYONE),
        ("logout", Access::staff(Viewer)),
        ("openAccount", Access::staff(Admin).and_merchant().and_scope(TransactionsWrite)),
        ("postTransaction", Access::staff(Admin).and_merchant().and_scope(TransactionsWrite)),
        ("postTransactions", Access::staff(Admin).and_merchant().and_scope(TransactionsWrite)),
        ("recordPayment", Access::staff(Admin).and_scope(PaymentsWrite)),
        ("recordPayout", Access::staff(Admin).and_scope(PayoutsWrite)),
        ("authorizePayment", Access::staff(Admin).and_scope(PaymentsWrite)),
        ("capturePayment", Access::staff(Admin).and_scope(PaymentsWrite)),
        ("voidAuthorization", Access::staff(Admin).and_scope(PaymentsWrite)),
        ("createPayout", Access::staff(Admin).and_merchant().and_scope(PayoutsWrite)),
        ("setPayoutSettings", Access::staff(Admin).and_merchant().and_scope(PayoutsWrite)),
        ("refundPayment", Access::staff(Support).and_merchant().and_scope(PaymentsWrite)),
        ("reverseTransaction", Access::staff(Support)),
        ("reversalPreview", Access::staff(Support)),
        ("resolveDispute", Access::staff(Support).and_scope(DisputesWrite)),
        ("createMerchant", Access::staff(Admin)),
        ("registerAsset", Access::staff(Admin)),
        ("setFeeSchedule", Access::staff(Admin)),
        ("openDispute", Access::staff(Admin).and_scope(DisputesWrite)),
        ("settlePayout", Access::staff(Admin).and_scope(PayoutsWrite)),
        ("failPayout", Access::staff(Admin).and_scope(PayoutsWrite)),
        ("recordDeal", Access::staff(Admin).and_scope(TransactionsWrite)),
        ("createApiKey", Access::staff(Admin)),
        ("createServiceKey", Access::staff(Admin)),
        ("rotateApiKey", Access::staff(Admin)),
        ("revokeApiKey", Access::staff(Admin)),
        ("createStaffUser", Access::staff(Admin)),
        ("setBalanceLimit", Access::staff(Admin)),
        ("registerBankAccount", Access::staff(Admin)),
        ("importBankStatement", Access::staff(Admin).and_scope(ReconciliationWrite)),
        ("matchBankStatementLines", Access::staff(Admin).and_scope(ReconciliationWrite)),
        ("matchBankStatementLine", Access::staff(Support)),
        ("matchBankDeposit", Access::staff(Support)),
        ("unmatchBankStatementLine", Access::staff(Support)),
        ("writeOffBankStatementLine", Access::staff(Support)),
        ("writeOffLedgerItem", Access::staff(Support)),
    ]
};

/// The access rule of the root field `field` (its GraphQL name), from
/// [`FIELD_ACCESS`]; `None` for a field that has none.
pub fn field_access(field: &str) -> Option<Access> {
    FIELD_ACCESS.iter().find(|(name, _)| *name == field).map(|(_, access)| *access)
}

/// Prefix of every merchant API key.
pub const API_KEY_PREFIX: &str = "lk_";
/// Prefix of every service key: distinct from a merchant key's, so a leaked
/// token says at a glance that it can act for every merchant.
pub const SERVICE_KEY_PREFIX: &str = "sk_";
/// Prefix of every staff session token.
pub const SESSION_TOKEN_PREFIX: &str = "ls_";
/// Length of an API key's visible id, after `lk_` or `sk_`: 8 characters of `[a-z0-9]`.
pub const API_KEY_ID_LEN: usize = 8;
/// Longest bearer token accepted; longer ones are refused before any lookup.
pub const MAX_TOKEN_LEN: usize = 128;

/// A bearer token, parsed by shape only (whether it is valid is the store's word).
#[derive(Clone, PartialEq, Eq)]
pub enum Token {
    /// `lk_<id>_<secret>` (a merchant key) or `sk_<id>_<secret>` (a service
    /// key); `prefix` is `lk_<id>` or `sk_<id>`. Which of the two a key is, is
    /// the stored key's word.
    ApiKey {
        /// The visible prefix, `lk_<id>` or `sk_<id>`, stored in clear to find the key.
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
        for key_prefix in [API_KEY_PREFIX, SERVICE_KEY_PREFIX] {
            if let Some(rest) = raw.strip_prefix(key_prefix) {
                let (id, secret) = rest.split_once('_').ok_or(AccessError::Unauthenticated)?;
                if id.len() != API_KEY_ID_LEN || secret.len() < 16 {
                    return Err(AccessError::Unauthenticated);
                }
                return Ok(Token::ApiKey { prefix: format!("{key_prefix}{id}"), full: raw.to_owned() });
            }
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

    fn service(scopes: &[&str]) -> Caller {
        Caller::Service {
            name: ServiceName::parse("card-processing").unwrap_or_else(|e| unreachable!("{e}")),
            key_prefix: "sk_x".into(),
            scopes: Scopes::parse(scopes).unwrap_or_else(|e| unreachable!("{e}")),
        }
    }

    fn rule(field: &str) -> Access {
        field_access(field).unwrap_or_else(|| unreachable!("{field} has a rule"))
    }

    #[test]
    fn roles_include_the_ones_below_them() {
        let support = Access::staff(Role::Support);
        assert!(support.check(&staff(Role::Admin)).is_ok());
        assert!(support.check(&staff(Role::Support)).is_ok());
        assert_eq!(support.check(&staff(Role::Viewer)), Err(AccessError::Forbidden));
        assert_eq!(Access::staff(Role::Admin).check(&Caller::Anonymous), Err(AccessError::Unauthenticated));
        let key = Caller::Merchant { merchant: MerchantId::PLATFORM, key_prefix: "lk_x".into() };
        assert_eq!(Access::staff(Role::Viewer).check(&key), Err(AccessError::Forbidden));
        assert!(Access::ANYONE.check(&Caller::Anonymous).is_ok());
    }

    #[test]
    fn a_merchant_key_cannot_declare_that_money_arrived_or_left() {
        let key = Caller::Merchant { merchant: MerchantId::PLATFORM, key_prefix: "lk_x".into() };
        for field in ["recordPayment", "authorizePayment", "capturePayment", "voidAuthorization", "recordPayout"] {
            assert_eq!(rule(field).check(&key), Err(AccessError::Forbidden), "{field}");
        }
        for field in
            ["postTransaction", "refundPayment", "createPayout", "setPayoutSettings", "openAccount", "payments"]
        {
            assert!(rule(field).check(&key).is_ok(), "{field}");
        }
    }

    #[test]
    fn a_service_key_needs_the_scope_its_field_names() {
        let payments = service(&["payments:write"]);
        let all_but_payments = service(&["disputes:write", "payouts:write", "transactions:write", "ledger:read"]);
        assert!(rule("recordPayment").check(&payments).is_ok());
        assert_eq!(rule("recordPayment").check(&all_but_payments), Err(AccessError::Forbidden));
        assert_eq!(rule("payments").check(&payments), Err(AccessError::Forbidden), "reads need ledger:read");
        assert!(rule("payments").check(&all_but_payments).is_ok());
        // Staff-only fields are no service's, whatever it holds; `me` is every service's.
        let every = service(&Scope::ALL.map(Scope::as_str));
        for field in ["createApiKey", "reverseTransaction", "trialBalance", "logout", "createMerchant"] {
            assert_eq!(rule(field).check(&every), Err(AccessError::Forbidden), "{field}");
        }
        assert!(rule("me").check(&payments).is_ok());
    }

    #[test]
    fn every_field_is_listed_once() {
        let mut names: Vec<&str> = FIELD_ACCESS.iter().map(|(n, _)| *n).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(names.len(), before, "a field is listed twice in FIELD_ACCESS");
        assert!(field_access("noSuchField").is_none());
    }

    #[test]
    fn scopes_parse_store_and_refuse_unknown_names() {
        let s = Scopes::parse(&["payouts:write", "payments:write", "payments:write"])
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(s.stored(), "payments:write payouts:write");
        assert_eq!(Scopes::from_stored(&s.stored()), Some(s));
        assert!(Scopes::parse(&["payments:read"]).is_err());
        assert!(Scopes::parse::<&str>(&[]).is_err());
        assert!(ServiceName::parse("card-processing").is_ok());
        for bad in ["", "Card", "1bank", "bank:eu", &"b".repeat(65)] {
            assert!(ServiceName::parse(bad).is_err(), "{bad:?}");
        }
        let shown = format!("{:?}", Secret::new("sk_abcd1234_secret".into()));
        assert!(!shown.contains("sk_abcd1234_secret") && shown.contains("REDACTED"), "{shown}");
    }

    #[test]
    fn tokens_parse_by_shape_and_never_print_their_secret() {
        let t = Token::parse("lk_abcd1234_0123456789abcdefghij")
            .unwrap_or_else(|_| unreachable!("a well-formed API key token"));
        assert_eq!(format!("{t:?}"), "ApiKey(lk_abcd1234_…)");
        assert!(matches!(Token::parse("ls_0123456789abcdefghij"), Ok(Token::Session(_))));
        let service = Token::parse("sk_abcd1234_0123456789abcdefghij")
            .unwrap_or_else(|_| unreachable!("a well-formed service key token"));
        assert!(matches!(service, Token::ApiKey { ref prefix, .. } if prefix == "sk_abcd1234"));
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

    #[test]
    fn audit_targets_are_stored_in_snake_case_and_read_back() {
        // The actors' stored forms are tested next to them, in `domain::actor`.
        assert_eq!(AuditTarget::BalanceLimitDefault.as_str(), "balance_limit_default");
        assert_eq!(AuditTarget::ApiKey.as_str(), "api_key");
        for t in [AuditTarget::BalanceLimitDefault, AuditTarget::StaffUser, AuditTarget::Session] {
            assert_eq!(AuditTarget::parse(t.as_str()).ok(), Some(t));
        }
        assert!(AuditTarget::parse("spaceship").is_err());
    }
}
