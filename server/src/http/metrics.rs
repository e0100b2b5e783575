//! `GET /metrics`: the Prometheus text exposition format
//! (prometheus.io/docs/instrumenting/exposition_formats/, version 0.0.4).
//! The names are listed in [`crate::telemetry::metrics`].
//!
//! Like `/healthz`, it needs no token and is not rate-limited: a Prometheus
//! server scrapes it every few seconds. It tells the outside how busy the
//! service is, never whose money moved; keep it off the public internet as
//! any operations endpoint. `--metrics false` turns it off (404).
//!
//! The gauges that describe state rather than events are sampled when
//! scraped: each connection pool's size, and the NATS relay's lag (read from
//! the outbox, bounded by [`SAMPLE_TIMEOUT`]; left at its last value when the
//! read fails or takes longer).

use std::time::Duration;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::PrometheusHandle;
use sea_orm::DatabaseConnection;

use super::AppState;
use crate::telemetry::metrics as names;

/// The path.
pub const PATH: &str = "/metrics";

/// Media type of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Longest a scrape waits for the outbox read behind the relay-lag gauges.
pub const SAMPLE_TIMEOUT: Duration = Duration::from_secs(2);

/// What a scrape renders and samples.
#[derive(Clone)]
pub struct Scrape {
    /// The recorder's handle.
    pub handle: PrometheusHandle,
    /// The connection pools, by the name their gauges carry.
    pub pools: Vec<(&'static str, DatabaseConnection)>,
    /// The NATS relay's name (its progress row), when a relay runs.
    pub relay: Option<String>,
}

impl std::fmt::Debug for Scrape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scrape").field("relay", &self.relay).finish_non_exhaustive()
    }
}

/// Renders every metric after sampling the pools and the relay's lag.
/// Errors: 404 `NOT_FOUND` when metrics are off.
pub async fn metrics(State(state): State<AppState>) -> Response {
    let Some(scrape) = state.metrics.as_deref() else {
        return super::error_response(StatusCode::NOT_FOUND, "NOT_FOUND", "metrics are off (--metrics false)");
    };
    sample(scrape).await;
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], scrape.handle.render()).into_response()
}

async fn sample(scrape: &Scrape) {
    for (name, pool) in &scrape.pools {
        names::sample_pool(name, pool);
    }
    let (Some(relay), Some((_, pool))) = (&scrape.relay, scrape.pools.first()) else { return };
    match tokio::time::timeout(SAMPLE_TIMEOUT, crate::core::outbox::relay_lag(pool, relay, names::RELAY_LAG_CAP)).await
    {
        Ok(Ok(lag)) => {
            let age = lag.oldest.map_or(0.0, |t| (chrono::Utc::now() - t).num_milliseconds().max(0) as f64 / 1000.0);
            metrics::gauge!(names::OUTBOX_UNPUBLISHED_EVENTS).set(lag.events as f64);
            metrics::gauge!(names::OUTBOX_OLDEST_UNPUBLISHED_AGE_SECONDS).set(age);
        }
        Ok(Err(e)) => tracing::warn!(error = %e, "metrics: cannot read the relay's lag"),
        Err(_) => tracing::warn!("metrics: reading the relay's lag took too long"),
    }
}
