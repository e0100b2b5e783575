//! Telemetry: logs, traces and metrics.
//!
//! - **Logs** go to stderr through one `tracing` subscriber, filtered by the
//!   configured EnvFilter, as text or as JSON lines ([`LogFormat`]). A
//!   request's lines carry its `request_id` and `trace_id` (fields of the
//!   `request` span, see [`crate::http`]).
//! - **Traces** ([`traces`]) leave the process over OTLP/HTTP when the
//!   standard `OTEL_EXPORTER_OTLP_ENDPOINT` (or
//!   `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set: the same spans, turned into
//!   OpenTelemetry spans by `tracing-opentelemetry`.
//! - **Metrics** ([`metrics`]) are served at `/metrics` in Prometheus's text
//!   format.

pub mod metrics;
pub mod traces;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::LogFormat;

/// What [`init`] set up that must be shut down at exit: the trace exporter,
/// whose batch of unsent spans is flushed by [`Telemetry::shutdown`].
#[derive(Debug, Default)]
pub struct Telemetry {
    traces: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
}

impl Telemetry {
    /// Sends the spans not exported yet and stops the exporter (a no-op
    /// without one). Errors are logged: nothing more can be done at exit.
    pub fn shutdown(self) {
        if let Some(provider) = self.traces
            && let Err(e) = provider.shutdown()
        {
            tracing::warn!(error = %e, "could not flush the last spans to the OTLP endpoint");
        }
    }
}

/// Installs the global subscriber: the log layer (text or JSON, filtered by
/// `filter`, an EnvFilter directive string; a bad one falls back to `info`)
/// and, when an OTLP endpoint is configured ([`traces::configured`]), the
/// OpenTelemetry layer under its own filter ([`traces::FILTER`]), so `--log
/// warn` quiets the logs without emptying the traces. Calling it twice (as tests do)
/// keeps the first subscriber.
///
/// With [`LogFormat::Json`] each line is one JSON object carrying the fields of
/// the spans it happened in (so a request's lines carry its `request_id` and
/// `trace_id`).
///
/// Errors: the OTLP exporter cannot be built from the `OTEL_EXPORTER_OTLP_*`
/// variables (a malformed endpoint, say).
pub fn init(filter: &str, format: LogFormat) -> anyhow::Result<Telemetry> {
    let log_filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = match format {
        LogFormat::Text => tracing_subscriber::fmt::layer().with_writer(std::io::stderr).boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .with_writer(std::io::stderr)
            .boxed(),
    };
    let provider = if traces::configured() { Some(traces::provider()?) } else { None };
    let otel = provider.as_ref().map(|p| {
        tracing_opentelemetry::layer()
            .with_tracer(traces::tracer(p))
            // What each of these adds is paid on every span or every poll of
            // an instrumented future: busy/idle times (two clock reads per
            // poll), thread and source-location attributes, the target, and
            // the OTel context made current on each entry (only OTel's own
            // instrumentation reads it, and the server has none).
            .with_tracked_inactivity(false)
            .with_threads(false)
            .with_location(false)
            .with_target(false)
            .with_context_activation(false)
            // A level, not an EnvFilter: decided once per callsite, where an
            // EnvFilter is also asked on every entry into every span.
            .with_filter(traces::FILTER)
    });
    let installed = tracing_subscriber::registry().with(logs.with_filter(log_filter)).with(otel).try_init().is_ok();
    if !installed {
        // Another subscriber is in place (an earlier call in the same process).
        return Ok(Telemetry::default());
    }
    if let Some(p) = &provider {
        traces::started(p);
    }
    Ok(Telemetry { traces: provider })
}
