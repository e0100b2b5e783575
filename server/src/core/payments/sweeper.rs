//! The expiry sweeper: voids what expired authorizations still hold.
//!
//! Balances already ignore expired holds before the sweep (see
//! `payments::store::expired_holds`); the sweeper writes the release entries that
//! make the books say so too. It is safe on several server instances at once:
//! each expiry runs under the payment's row lock and re-checks the payment's
//! state there, so a payment expires exactly once (a second sweeper gets
//! `ALREADY_VOIDED` for it and moves on).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::core::LedgerError;
use crate::core::access::rules::Tenant;
use crate::core::db as store;
use crate::core::payments::store as payments;
use crate::core::posting::{Command, Ledger, Request};

/// Most expired authorizations released per database transaction: enough to
/// clear a backlog quickly, few enough that one sweep holds locks briefly.
pub const SWEEP_BATCH: u64 = 100;

/// Releases up to [`SWEEP_BATCH`] expired authorizations as of `now`, in one
/// database transaction. Returns how many it released (a payment swept
/// concurrently by another instance counts as not released here).
#[tracing::instrument(name = "ledger.sweeper.sweep", skip_all)]
pub async fn sweep_once(ledger: &Ledger, now: DateTime<Utc>) -> Result<usize, LedgerError> {
    let reads = store::begin_read(ledger.db(), Tenant::All).await?;
    let due = payments::expired_unreleased(&reads, now, SWEEP_BATCH).await?;
    reads.commit().await?;
    if due.is_empty() {
        return Ok(0);
    }
    let mut batch = Vec::with_capacity(due.len());
    for p in &due {
        let input = json!({ "paymentId": p.id.to_string() });
        batch.push(Request::system_in(
            "sweeper",
            "expireAuthorization",
            &input,
            Command::Expire { payment: p.id },
            Some(p.merchant),
        ));
    }
    let results = ledger.submit(batch).await;
    let released = results.iter().filter(|r| matches!(r, Ok(a) if !a.replayed)).count();
    if released > 0 {
        tracing::info!(released, "expired authorizations released");
    }
    Ok(released)
}

/// Sweeps every `interval` until the task is dropped.
pub async fn run(ledger: Arc<Ledger>, interval: Duration) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = sweep_once(&ledger, Utc::now()).await {
            tracing::warn!(error = %e, "expiry sweep failed; will retry");
        }
    }
}
