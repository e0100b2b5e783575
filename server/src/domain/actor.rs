//! Who acts on the books and whose rows they see: [`Actor`] (recorded on every
//! transaction and key), [`ServiceName`] and [`Tenant`].
//!
//! Shared vocabulary: the posting core records actors, the event feed carries
//! them and the access rules derive them from callers.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::MerchantId;

/// The name of a platform service that holds keys, e.g. `card-processing`:
/// 1 to 64 of `a-z 0-9 . _ -`, starting with a letter. It is recorded in every
/// actor the service's keys write (`service:<name>:<prefix>`), so it may not
/// contain `:`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ServiceName(String);

/// Longest service name, in characters.
pub const MAX_SERVICE_NAME_LEN: usize = 64;

impl ServiceName {
    /// Errors: a message saying what a service name looks like.
    pub fn parse(raw: &str) -> Result<ServiceName, String> {
        let ok = raw.len() <= MAX_SERVICE_NAME_LEN
            && raw.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
            && raw.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
        if ok {
            Ok(ServiceName(raw.to_owned()))
        } else {
            Err(format!("service must be 1 to {MAX_SERVICE_NAME_LEN} of a-z 0-9 . _ -, starting with a letter"))
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ServiceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Who does something, as the books record it on every transaction it posts
/// and every key it issues. Its text form (`Display`) is what is stored:
/// `key:<prefix>`, `service:<name>:<prefix>`, `staff:<username>`,
/// `system:<job>` or `anonymous`; transactions posted before actors were
/// kept read back as `unrecorded` (migration `m20261123_000003`'s default).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// Not recorded: a transaction older than the `actor` column.
    Unrecorded,
    /// No credentials (never writes: every mutation needs a caller).
    Anonymous,
    /// A merchant's API key, by its visible prefix.
    Key {
        /// The key's prefix, e.g. `lk_a1b2c3d4`.
        prefix: String,
    },
    /// A platform service's key.
    Service {
        /// The service.
        name: ServiceName,
        /// The key's prefix, e.g. `sk_a1b2c3d4`.
        prefix: String,
    },
    /// A staff member.
    Staff {
        /// The username.
        username: String,
    },
    /// One of the server's own jobs (`sweeper`, `payouts`).
    System {
        /// The job's name.
        job: String,
    },
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Actor::Unrecorded => f.write_str("unrecorded"),
            Actor::Anonymous => f.write_str("anonymous"),
            Actor::Key { prefix } => write!(f, "key:{prefix}"),
            Actor::Service { name, prefix } => write!(f, "service:{name}:{prefix}"),
            Actor::Staff { username } => write!(f, "staff:{username}"),
            Actor::System { job } => write!(f, "system:{job}"),
        }
    }
}

impl FromStr for Actor {
    type Err = String;

    /// Parses the stored form back. Errors: a message naming the text that is
    /// none of the five forms (the books hold nothing else).
    fn from_str(raw: &str) -> Result<Actor, String> {
        let bad = || format!("`{raw}` is not an actor (key:, service:, staff:, system:, anonymous or unrecorded)");
        match raw {
            "anonymous" => return Ok(Actor::Anonymous),
            "unrecorded" => return Ok(Actor::Unrecorded),
            _ => {}
        }
        let (kind, rest) = raw.split_once(':').ok_or_else(bad)?;
        if rest.is_empty() {
            return Err(bad());
        }
        match kind {
            "key" => Ok(Actor::Key { prefix: rest.to_owned() }),
            "staff" => Ok(Actor::Staff { username: rest.to_owned() }),
            "system" => Ok(Actor::System { job: rest.to_owned() }),
            "service" => {
                let (name, prefix) = rest.split_once(':').ok_or_else(bad)?;
                let name = ServiceName::parse(name).map_err(|_| bad())?;
                if prefix.is_empty() {
                    return Err(bad());
                }
                Ok(Actor::Service { name, prefix: prefix.to_owned() })
            }
            _ => Err(bad()),
        }
    }
}

/// Serialized as its stored text form (the event feed's `actor`).
impl Serialize for Actor {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Actor {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Actor, D::Error> {
        let raw = String::deserialize(d)?;
        raw.parse().map_err(serde::de::Error::custom)
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

    /// The merchant whose partition holds every row this tenant may see,
    /// when it is one merchant (a merchant's key); `None` for staff, jobs and
    /// anonymous callers. Lookups by id name it, so that on Citus they read
    /// one shard instead of every shard's `id` index.
    pub fn partition(self) -> Option<MerchantId> {
        match self {
            Tenant::Merchant(m) => Some(m),
            Tenant::Nobody | Tenant::All => None,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actors_are_stored_in_the_forms_the_books_already_hold_and_read_back() {
        let name = ServiceName::parse("card-processor").unwrap_or_else(|_| unreachable!());
        let forms = [
            (Actor::Key { prefix: "lk_a1b2c3d4".into() }, "key:lk_a1b2c3d4"),
            (Actor::Service { name, prefix: "sk_a1b2c3d4".into() }, "service:card-processor:sk_a1b2c3d4"),
            (Actor::Staff { username: "alice".into() }, "staff:alice"),
            (Actor::System { job: "sweeper".into() }, "system:sweeper"),
            (Actor::Anonymous, "anonymous"),
            (Actor::Unrecorded, "unrecorded"),
        ];
        for (actor, stored) in forms {
            assert_eq!(actor.to_string(), stored);
            assert_eq!(stored.parse::<Actor>().as_ref(), Ok(&actor), "{stored}");
            assert_eq!(serde_json::to_value(&actor).ok(), Some(serde_json::json!(stored)));
        }
        for bad in ["", "alice", "key:", "service:card", "service:Bad Name:sk_1", "service:card:", "robot:x"] {
            assert!(bad.parse::<Actor>().is_err(), "{bad:?}");
        }
        assert!(serde_json::from_value::<Actor>(serde_json::json!("nobody")).is_err());
    }
}
