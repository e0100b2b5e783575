//! [`Call`]: who asks for a write, under which idempotency key: everything of a
//! write-path request but the change itself. The transport builds one per
//! mutation; a service adds its command and submits it.

use serde::Serialize;

use super::{AuditDraft, Command, Request};
use crate::core::LedgerError;
use crate::core::access::rules::{Caller, Tenant};
use crate::domain::{Fingerprint, IdempotencyKey, MerchantId};

/// Who asks for a write and under which idempotency key.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    caller: Caller,
    request_id: Option<String>,
    key: IdempotencyKey,
    operation: &'static str,
    fingerprint: Fingerprint,
    reason: Option<String>,
    partition: Option<MerchantId>,
    dry_run: bool,
}

impl Call {
    /// A call of `caller` (HTTP request id `request_id`) for the mutation
    /// `operation` under idempotency key `key`, fingerprinting `input` as sent:
    /// the same key with a different input is `IDEMPOTENCY_KEY_REUSED`. A
    /// staff caller's call is audited, with the input's `reason` when it has
    /// one. Errors: `IDEMPOTENCY_KEY_INVALID`; [`LedgerError::Internal`] when
    /// the input cannot be serialized (a bug).
    pub fn new(
        caller: &Caller,
        request_id: Option<String>,
        key: &str,
        operation: &'static str,
        input: &impl Serialize,
    ) -> Result<Call, LedgerError> {
        let key = IdempotencyKey::parse(key)?;
        let input = serde_json::to_value(input).map_err(|e| LedgerError::internal(format!("input to JSON: {e}")))?;
        let reason = input.get("reason").and_then(|r| r.as_str()).map(str::to_owned);
        Ok(Call {
            caller: caller.clone(),
            request_id,
            key,
            operation,
            fingerprint: Fingerprint::of(operation, &input),
            reason,
            partition: None,
            dry_run: false,
        })
    }

    /// This call with `merchant` named as the one whose books hold what the
    /// command names by id (see [`Request::partition`]); `None` leaves it to
    /// the caller's own merchant, for a merchant key.
    pub fn naming(mut self, merchant: Option<MerchantId>) -> Call {
        self.partition = merchant;
        self
    }

    /// This call as a dry run when `dry` is set: the write path runs it in
    /// a database transaction it then rolls back, so it writes nothing and
    /// claims no idempotency key (see `core::posting::DryRun`).
    pub fn dry_run(mut self, dry: bool) -> Call {
        self.dry_run = dry;
        self
    }

    /// True for a dry run.
    pub fn is_dry_run(&self) -> bool {
        self.dry_run
    }

    /// Whose rows the write may touch.
    pub fn tenant(&self) -> Tenant {
        self.caller.tenant()
    }

    /// The merchant whose books hold what the command names by id: the one
    /// named with [`Call::naming`], else a merchant key's own (see
    /// [`Request::partition`]).
    pub fn partition(&self) -> Option<MerchantId> {
        self.partition.or(self.caller.tenant().partition())
    }

    /// The write-path request of `command` under this call: the key lives in
    /// the caller's key space (its merchant for a merchant key; for staff and
    /// service keys, the merchant the command names, or the platform).
    pub(in crate::core) fn request(self, command: Command) -> Request {
        let partition = self.partition();
        let scope = match &self.caller {
            Caller::Merchant { merchant, .. } => *merchant,
            _ => command.key_scope(),
        };
        let audit = self.caller.staff_username().map(|username| {
            let (target_type, target_id) = command.audit_target();
            AuditDraft { actor: username.to_owned(), target_type, target_id, reason: self.reason.clone() }
        });
        Request {
            scope,
            key: Some(self.key),
            operation: self.operation,
            fingerprint: self.fingerprint,
            command,
            tenant: self.caller.tenant(),
            actor: self.caller.actor(),
            request_id: self.request_id,
            partition,
            audit,
        }
    }
}
