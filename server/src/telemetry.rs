//! Logging and tracing set-up: one `tracing` subscriber, filtered by the
//! configured EnvFilter, writing to stderr as text or as JSON lines.

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the global subscriber. Calling it twice (as tests do) is harmless.
/// With [`LogFormat::Json`] each line is one JSON object carrying the fields of
/// the spans it happened in (so a request's lines carry its `request_id`).
pub fn init(filter: &str, format: LogFormat) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().with_current_span(true).with_span_list(true).try_init(),
    };
}
