//! OpenTelemetry traces over OTLP/HTTP (protobuf), switched on by the
//! standard variables of the OpenTelemetry specification
//! (opentelemetry.io/docs/specs/otel/protocol/exporter/):
//! `OTEL_EXPORTER_OTLP_ENDPOINT` (a base URL; `/v1/traces` is appended) or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (used as is), with the SDK's other
//! `OTEL_EXPORTER_OTLP_*` and `OTEL_BSP_*` settings (headers, timeout, batch
//! sizes and delay). `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none`
//! turns them off again. The service is named by `OTEL_SERVICE_NAME`
//! (default `ledger`).
//!
//! What a payment's trace holds (span names; each a child of the one before
//! unless said): `POST /graphql` (the HTTP request, [`crate::http`]) →
//! `graphql.parse`, `graphql.validate`, `graphql.resolve` (the operation's
//! root resolvers, exported as `resolve mutation recordPayment`,
//! [`crate::graphql::observe`]) → `group_commit.wait` (queued until its batch
//! committed) → `group_commit.commit` (the batch's database transaction; a
//! child of the first request it carried, with a span link to every request
//! it carried, so each request's trace can find the commit that made it
//! durable).
//!
//! A request's W3C `traceparent` header (W3C Trace Context,
//! www.w3.org/TR/trace-context/) makes its spans part of the caller's trace.

use std::sync::atomic::{AtomicBool, Ordering};

use axum::http::HeaderMap;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{TraceContextExt, TracerProvider};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The service name when `OTEL_SERVICE_NAME` is not set.
pub const DEFAULT_SERVICE_NAME: &str = "ledger";

/// Which spans are exported: INFO and above, every span of a request's
/// trace, whatever `--log` says about the logs.
pub const FILTER: tracing_subscriber::filter::LevelFilter = tracing_subscriber::filter::LevelFilter::INFO;

/// The instrumentation scope of our spans.
const SCOPE: &str = "ledger-server";

/// Whether spans are exported (set once the OpenTelemetry layer is installed):
/// the hot paths skip the work of links and parents when they are not.
static EXPORTING: AtomicBool = AtomicBool::new(false);

fn env_set(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| !v.trim().is_empty())
}

/// Whether the environment asks for OTLP traces: an endpoint variable is set
/// and neither `OTEL_SDK_DISABLED=true` nor `OTEL_TRACES_EXPORTER=none`.
pub fn configured() -> bool {
    let disabled = std::env::var("OTEL_SDK_DISABLED").is_ok_and(|v| v.trim().eq_ignore_ascii_case("true"));
    let none = std::env::var("OTEL_TRACES_EXPORTER").is_ok_and(|v| v.trim().eq_ignore_ascii_case("none"));
    !disabled && !none && (env_set("OTEL_EXPORTER_OTLP_ENDPOINT") || env_set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
}

/// The tracer provider: an OTLP/HTTP exporter configured from the
/// environment behind the SDK's batch span processor (its own thread; spans
/// are queued, never sent on a request's path). Errors: the exporter cannot be
/// built from the `OTEL_EXPORTER_OTLP_*` variables.
pub fn provider() -> anyhow::Result<SdkTracerProvider> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .build()
        .map_err(|e| anyhow::anyhow!("OTEL_EXPORTER_OTLP_ENDPOINT: cannot export traces: {e}"))?;
    let service = std::env::var("OTEL_SERVICE_NAME")
        .ok()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_SERVICE_NAME.to_owned());
    let resource = opentelemetry_sdk::Resource::builder().with_service_name(service).build();
    Ok(SdkTracerProvider::builder().with_batch_exporter(exporter).with_resource(resource).build())
}

/// The tracer our spans are exported through.
pub fn tracer(provider: &SdkTracerProvider) -> SdkTracer {
    provider.tracer(SCOPE)
}

/// Marks traces as exported and installs the W3C Trace Context propagator.
pub(super) fn started(provider: &SdkTracerProvider) {
    opentelemetry::global::set_tracer_provider(provider.clone());
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    EXPORTING.store(true, Ordering::Relaxed);
}

/// Whether spans leave the process.
pub fn exporting() -> bool {
    EXPORTING.load(Ordering::Relaxed)
}

/// Joins `span` (a request's root span) to the caller's trace named by the
/// W3C `traceparent` header in `headers`, if any and well-formed, and returns
/// the trace id the request's logs carry (32 lower-case hex digits): the
/// span's own when traces are exported, else the caller's from
/// `traceparent`; `None` when neither exists.
pub fn continue_trace(span: &tracing::Span, headers: &HeaderMap) -> Option<String> {
    let parent = TraceContextPropagator::new().extract(&opentelemetry_http::HeaderExtractor(headers));
    let from_caller = parent.span().span_context().clone();
    if exporting() {
        if from_caller.is_valid() {
            // Only fails when the span was entered already; it was just made.
            let _ = span.set_parent(parent);
        }
        let own = span.context().span().span_context().clone();
        if own.is_valid() {
            return Some(own.trace_id().to_string());
        }
    }
    from_caller.is_valid().then(|| from_caller.trace_id().to_string())
}

/// Adds a span link from `span` to `to` (a batch's commit to a request it
/// carried). A no-op unless traces are exported.
pub fn link(span: &tracing::Span, to: &tracing::Span) {
    if !exporting() {
        return;
    }
    let target = to.context().span().span_context().clone();
    if target.is_valid() {
        span.add_link(target);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_traceparent_names_the_trace_of_the_logs_even_when_nothing_is_exported() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "traceparent",
            axum::http::HeaderValue::from_static("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
        );
        let span = tracing::Span::none();
        assert_eq!(continue_trace(&span, &headers).as_deref(), Some("4bf92f3577b34da6a3ce929d0e0e4736"));
        headers.insert("traceparent", axum::http::HeaderValue::from_static("00-not-a-trace-01"));
        assert_eq!(continue_trace(&span, &headers), None);
        assert_eq!(continue_trace(&span, &HeaderMap::new()), None);
    }
}
