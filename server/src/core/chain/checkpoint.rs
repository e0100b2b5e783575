//! Signed checkpoints of the merchants' chains: the platform's Ed25519 keys,
//! the checkpoint text, and the job that signs them.
//!
//! A checkpoint says "merchant M's chain has `sequence` transactions and its
//! last link is `head`", at a time, signed by the platform. Its text follows
//! C2SP tlog-checkpoint (<https://c2sp.org/tlog-checkpoint>): an origin line,
//! the size, the head in base64, then one extension line with the time:
//!
//! ```text
//! ledger.example.com/merchants/7b0e3f2a-5c1d-4e8f-9a6b-2d4c8e1f0a3b
//! 3
//! q0Rm…base64 of the 32-byte head…=
//! time 2026-12-04T18:07:12Z
//! ```
//!
//! signed as a C2SP signed note (<https://c2sp.org/signed-note>) with an
//! Ed25519 key (the `signed_note` crate, a port of Go's `sumdb/note`). Keys
//! are written in that spec's forms: the private key
//! `PRIVATE+KEY+<name>+<keyid>+<base64>` (`ledger-server checkpoint-key`
//! makes one), the public (verifier) key `<name>+<keyid>+<base64>`. Every
//! public key ever used is kept (`checkpoint_keys`) and served at
//! [`WELL_KNOWN_KEYS_PATH`], so a checkpoint signed before a key rotation stays
//! verifiable after it.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::DatabaseConnection;
use signed_note::{Note, Signer, StandardSigner, StandardVerifier, VerifierList};

use super::store::{self, CheckpointRow};
use crate::core::LedgerError;
use crate::domain::MerchantId;
use crate::domain::chain::Link;

pub use super::store::KeyRow;

/// Where the public keys are served (JSON, no credentials needed).
pub const WELL_KNOWN_KEYS_PATH: &str = "/.well-known/ledger-checkpoint-keys";

/// Why a key or a checkpoint was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    /// Not a C2SP Ed25519 private key (`PRIVATE+KEY+name+keyid+base64`).
    #[error("not a checkpoint signing key (expected PRIVATE+KEY+<name>+<keyid>+<base64>): {0}")]
    BadPrivateKey(String),
    /// Not a C2SP Ed25519 verifier key (`name+keyid+base64`).
    #[error("not a checkpoint public key (expected <name>+<keyid>+<base64>): {0}")]
    BadPublicKey(String),
    /// A key name with a space or a `+` (C2SP signed-note forbids them).
    #[error("a key name must be non-empty, without spaces or '+': {0:?}")]
    BadName(String),
    /// The note is malformed, unsigned by a given key, or its signature fails.
    #[error("the checkpoint does not verify: {0}")]
    Signature(String),
    /// The signed text is not a checkpoint of this format.
    #[error("the checkpoint's text is malformed: {0}")]
    Text(String),
}

/// A checkpoint read back from its signed text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The origin line: `<key name>/merchants/<merchant>`.
    pub origin: String,
    /// The merchant whose chain it covers.
    pub merchant: MerchantId,
    /// The journal number it covers up to.
    pub sequence: u64,
    /// The link at that number.
    pub head: Link,
    /// When it was signed (seconds).
    pub time: DateTime<Utc>,
}

/// The platform's checkpoint signing key.
pub struct CheckpointKey {
    signer: StandardSigner,
    name: String,
    verifier_key: String,
}

impl std::fmt::Debug for CheckpointKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckpointKey").field("verifier_key", &self.verifier_key).finish_non_exhaustive()
    }
}

impl CheckpointKey {
    /// A new random key named `name` (OS randomness), with its private key's
    /// text to keep. Errors: [`CheckpointError::BadName`].
    pub fn generate(name: &str) -> Result<(Self, String), CheckpointError> {
        if !signed_note::is_key_name_valid(name) {
            return Err(CheckpointError::BadName(name.to_owned()));
        }
        let (private, _) = signed_note::generate_key(&mut rand_core::OsRng, name);
        Ok((Self::from_private(&private)?, private))
    }

    /// The key of a C2SP private key text (surrounding whitespace ignored).
    /// Errors: [`CheckpointError::BadPrivateKey`].
    pub fn from_private(text: &str) -> Result<Self, CheckpointError> {
        let text = text.trim();
        let bad = |why: &str| CheckpointError::BadPrivateKey(why.to_owned());
        // The base64 of the key may itself hold '+'.
        let parts: Vec<&str> = text.splitn(5, '+').collect();
        let [_, _, name, _, key] = parts[..] else { return Err(bad("five '+'-separated parts")) };
        let bytes = STANDARD.decode(key).map_err(|_| bad("the key is not base64"))?;
        let seed: [u8; 32] = match bytes.as_slice() {
            [1, seed @ ..] => seed.try_into().map_err(|_| bad("an Ed25519 key has 32 bytes"))?,
            _ => return Err(bad("not an Ed25519 key (algorithm byte 0x01)")),
        };
        let signer = StandardSigner::new(text).map_err(|e| bad(&e.to_string()))?;
        let public = ed25519_dalek::SigningKey::from_bytes(&seed).verifying_key();
        let verifier_key = signed_note::new_ed25519_verifier_key(name, &public);
        Ok(Self { signer, name: name.to_owned(), verifier_key })
    }

    /// The public key, as a C2SP verifier key.
    pub fn verifier_key(&self) -> &str {
        &self.verifier_key
    }

    /// The key's name (the checkpoints' origin prefix).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key id, 8 hex digits.
    pub fn key_id(&self) -> String {
        format!("{:08x}", self.signer.key_id())
    }

    /// Signs a checkpoint of `merchant`'s chain at `sequence` with `head`,
    /// at `time` (cut to seconds). Errors: [`CheckpointError::Signature`]
    /// when signing fails.
    pub fn sign(
        &self,
        merchant: MerchantId,
        sequence: u64,
        head: &Link,
        time: DateTime<Utc>,
    ) -> Result<String, CheckpointError> {
        let text = checkpoint_text(&self.name, merchant, sequence, head, time);
        let mut note = Note::new(text.as_bytes(), &[]).map_err(|e| CheckpointError::Signature(e.to_string()))?;
        note.add_sigs(&[&self.signer]).map_err(|e| CheckpointError::Signature(e.to_string()))?;
        String::from_utf8(note.to_bytes()).map_err(|e| CheckpointError::Signature(e.to_string()))
    }
}

/// The text a checkpoint signs (see the module doc).
pub fn checkpoint_text(name: &str, merchant: MerchantId, sequence: u64, head: &Link, time: DateTime<Utc>) -> String {
    format!(
        "{name}/merchants/{}\n{sequence}\n{}\ntime {}\n",
        merchant.0,
        STANDARD.encode(head),
        time.trunc_subsecs(0).format("%Y-%m-%dT%H:%M:%SZ")
    )
}

/// Checks a signed checkpoint against the public keys `keys` (C2SP verifier
/// keys; one must have signed it) and reads it. Errors:
/// [`CheckpointError::BadPublicKey`], [`CheckpointError::Signature`] (no given
/// key signed it, or a signature of a given key fails),
/// [`CheckpointError::Text`].
pub fn open(note: &str, keys: &[String]) -> Result<Checkpoint, CheckpointError> {
    let mut verifiers: Vec<Box<dyn signed_note::Verifier>> = Vec::with_capacity(keys.len());
    for k in keys {
        verifiers.push(Box::new(
            StandardVerifier::new(k.trim()).map_err(|e| CheckpointError::BadPublicKey(format!("{k}: {e}")))?,
        ));
    }
    let parsed = Note::from_bytes(note.as_bytes()).map_err(|e| CheckpointError::Signature(e.to_string()))?;
    parsed.verify(&VerifierList::new(verifiers)).map_err(|e| CheckpointError::Signature(e.to_string()))?;
    let text = std::str::from_utf8(parsed.text()).map_err(|_| CheckpointError::Text("not UTF-8".into()))?;
    let bad = |why: &str| CheckpointError::Text(why.to_owned());
    let lines: Vec<&str> = text.lines().collect();
    let [origin, size, head, time, ..] = lines[..] else { return Err(bad("four lines")) };
    let merchant = origin
        .rsplit_once("/merchants/")
        .and_then(|(_, m)| uuid::Uuid::parse_str(m).ok())
        .ok_or_else(|| bad("the origin names no merchant"))?;
    let head: Link = STANDARD
        .decode(head)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| bad("the head is not 32 bytes of base64"))?;
    let time = time
        .strip_prefix("time ")
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .ok_or_else(|| bad("no time line"))?
        .with_timezone(&Utc);
    Ok(Checkpoint {
        origin: origin.to_owned(),
        merchant: MerchantId(merchant),
        sequence: size.parse().map_err(|_| bad("the size is not a number"))?,
        head,
        time,
    })
}

/// When the checkpoint job signs: every `every` transactions of a chain, or
/// every `max_age` when the chain has moved, checked each `tick`.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    /// Sign once a chain is this many transactions past its last checkpoint.
    pub every: i64,
    /// Sign once the last checkpoint is this old and the chain has moved.
    pub max_age: Duration,
    /// How often the job looks.
    pub tick: Duration,
}

/// The checkpoint service: signs with the platform's key, stores and reads.
#[derive(Debug, Clone)]
pub struct Checkpoints {
    db: DatabaseConnection,
    key: Arc<CheckpointKey>,
}

impl Checkpoints {
    /// The service over `db`, signing with `key`; records `key` as the one
    /// in use (every other key retired). Errors: the database's.
    pub async fn start(db: DatabaseConnection, key: CheckpointKey) -> Result<Self, LedgerError> {
        store::use_key(&db, key.verifier_key(), key.name(), &key.key_id(), Utc::now()).await?;
        Ok(Self { db, key: Arc::new(key) })
    }

    /// The public key in use.
    pub fn verifier_key(&self) -> &str {
        self.key.verifier_key()
    }

    /// Every public key ever used, oldest first. Errors: the database's.
    pub async fn keys(&self) -> Result<Vec<KeyRow>, LedgerError> {
        Ok(store::keys(&self.db).await?)
    }

    /// Signs `merchant`'s chain head now, unless its latest checkpoint is
    /// already at the head (then that one); returns the signed note, or
    /// `None` when the chain is empty. Errors: [`LedgerError::Merchant`]
    /// (`NOT_FOUND`) for a merchant without a journal, the database's.
    pub async fn sign_now(&self, merchant: MerchantId) -> Result<Option<String>, LedgerError> {
        let Some((last, head)) = store::clock(&self.db, merchant).await? else {
            return Err(crate::core::merchants::MerchantError::NotFound.into());
        };
        self.sign_at(merchant, last, head).await
    }

    /// The latest checkpoint of `merchant`, signed now if the chain has moved
    /// past it; `None` for an empty chain. Errors: the database's.
    pub(in crate::core) async fn sign_at(
        &self,
        merchant: MerchantId,
        last: i64,
        head: Link,
    ) -> Result<Option<String>, LedgerError> {
        if last <= 0 {
            return Ok(None);
        }
        if let Some(c) = store::latest_checkpoint(&self.db, merchant).await?
            && c.sequence == last
            && c.head == head
        {
            return Ok(Some(c.note));
        }
        let now = Utc::now().trunc_subsecs(0);
        let sequence = u64::try_from(last).map_err(|_| LedgerError::internal("a negative journal number"))?;
        let note = self.key.sign(merchant, sequence, &head, now).map_err(|e| LedgerError::internal(e.to_string()))?;
        let row = CheckpointRow {
            merchant,
            sequence: last,
            head,
            signed_at: now,
            verifier_key: self.key.verifier_key().to_owned(),
            note: note.clone(),
        };
        store::insert_checkpoint(&self.db, &row).await?;
        Ok(Some(note))
    }

    /// `merchant`'s latest stored checkpoint. Errors: the database's.
    pub async fn latest(&self, merchant: MerchantId) -> Result<Option<String>, LedgerError> {
        Ok(store::latest_checkpoint(&self.db, merchant).await?.map(|c| c.note))
    }

    /// One round of the job: signs every chain that is `schedule.every`
    /// transactions past its last checkpoint, or has moved past it and whose
    /// last checkpoint is older than `schedule.max_age`. A chain never signed
    /// counts from 0, and its age from when a round first saw it hold
    /// transactions (`first_seen`, kept by the caller between rounds).
    /// Returns how many it signed. Errors: the database's.
    pub async fn sign_due(
        &self,
        schedule: Schedule,
        first_seen: &mut std::collections::HashMap<MerchantId, DateTime<Utc>>,
    ) -> Result<usize, LedgerError> {
        let latest = store::latest_checkpoints(&self.db).await?;
        let now = Utc::now();
        let max_age = chrono::Duration::from_std(schedule.max_age).unwrap_or(chrono::Duration::MAX);
        let mut signed = 0;
        for (merchant, last, head) in store::clocks(&self.db).await? {
            let (covered, since) = match latest.get(&merchant) {
                Some(c) => (c.sequence, c.signed_at),
                None if last > 0 => (0, *first_seen.entry(merchant).or_insert(now)),
                None => continue,
            };
            let due = last > covered && (last - covered >= schedule.every || now - since >= max_age);
            if due && self.sign_at(merchant, last, head).await?.is_some() {
                first_seen.remove(&merchant);
                signed += 1;
            }
        }
        Ok(signed)
    }
}

/// The checkpoint job: [`Checkpoints::sign_due`] every `schedule.tick`, the
/// first one tick after start (a server that has just started has signed
/// nothing new, and its first requests are not shared with the job's reads),
/// until the task is aborted. A failed round is logged and retried on the
/// next tick.
pub async fn run(checkpoints: Checkpoints, schedule: Schedule) {
    let period = schedule.tick.max(Duration::from_millis(100));
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut first_seen = std::collections::HashMap::new();
    loop {
        tick.tick().await;
        match checkpoints.sign_due(schedule, &mut first_seen).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(signed = n, "checkpoints signed"),
            Err(e) => tracing::warn!(error = %e, "the checkpoint job failed; it runs again on the next tick"),
        }
    }
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_checkpoint_opens_with_its_key_and_not_with_another() {
        let (key, private) = CheckpointKey::generate("ledger.test").expect("key");
        let again = CheckpointKey::from_private(&private).expect("parses");
        assert_eq!(again.verifier_key(), key.verifier_key());
        let m = MerchantId(uuid::Uuid::new_v4());
        let at = DateTime::parse_from_rfc3339("2026-12-04T18:00:00Z").expect("time").with_timezone(&Utc);
        let note = key.sign(m, 7, &[9; 32], at).expect("signs");
        let c = open(&note, &[key.verifier_key().to_owned()]).expect("opens");
        assert_eq!((c.merchant, c.sequence, c.head, c.time), (m, 7, [9; 32], at));
        let (other, _) = CheckpointKey::generate("ledger.test").expect("key");
        assert!(matches!(open(&note, &[other.verifier_key().to_owned()]), Err(CheckpointError::Signature(_))));
        let forged = note.replacen("\n7\n", "\n8\n", 1);
        assert!(matches!(open(&forged, &[key.verifier_key().to_owned()]), Err(CheckpointError::Signature(_))));
        assert!(matches!(open(&note, &["junk".to_owned()]), Err(CheckpointError::BadPublicKey(_))));
        assert!(matches!(CheckpointKey::from_private("PRIVATE+KEY+x"), Err(CheckpointError::BadPrivateKey(_))));
        assert!(matches!(CheckpointKey::generate("has space"), Err(CheckpointError::BadName(_))));
    }
}
