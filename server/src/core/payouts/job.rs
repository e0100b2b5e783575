//! The payout scheduler: pays out every merchant with a schedule once per period.
//!
//! Safe on several server instances at once: a scheduled payout stores its
//! period under a unique key (merchant, asset, period), and it is created under
//! the merchant's balance lock, so two runs make one payout. Runs carry no
//! idempotency key (see `Request::key` in `core::posting`).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::core::LedgerError;
use crate::core::access::rules::Tenant;
use crate::core::db as store;
use crate::core::payouts::store as payouts;
use crate::core::posting::{Command, Ledger, Request};

/// Most payouts created per database transaction.
pub const PAYOUT_BATCH: usize = 100;

/// Creates the payouts due at `now`. Returns how many were made by this run.
#[tracing::instrument(name = "ledger.payouts.run_scheduled", skip_all)]
pub async fn run_once(ledger: &Ledger, now: DateTime<Utc>) -> Result<usize, LedgerError> {
    let mut due = Vec::new();
    let reads = store::begin_read(ledger.db(), Tenant::All).await?;
    for (merchant, asset, schedule) in payouts::scheduled(&reads).await? {
        let period = schedule.period(now);
        if !payouts::exists_for_period(&reads, merchant, &asset, &period).await? {
            due.push((merchant, asset, period));
        }
    }
    reads.commit().await?;
    let mut made = 0;
    for chunk in due.chunks(PAYOUT_BATCH) {
        let batch = chunk
            .iter()
            .map(|(merchant, asset, period)| {
                let input = json!({ "merchantId": merchant.to_string(), "asset": asset.as_str(), "period": period });
                let command =
                    Command::CreatePayout { merchant: *merchant, asset: asset.clone(), period: Some(period.clone()) };
                Request::system("payout-scheduler", "scheduledPayout", &input, command)
            })
            .collect();
        made += ledger.submit(batch).await.iter().filter(|r| r.is_ok()).count();
    }
    if made > 0 {
        tracing::info!(made, "scheduled payouts created");
    }
    Ok(made)
}

/// Runs the scheduler every `interval` until the task is dropped.
pub async fn run(ledger: Arc<Ledger>, interval: Duration) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = run_once(&ledger, Utc::now()).await {
            tracing::warn!(error = %e, "payout run failed; will retry");
        }
    }
}
