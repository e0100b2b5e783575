//! Logging and tracing set-up: one `tracing` subscriber, filtered by the
//! configured EnvFilter, writing to stderr.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. Calling it twice (as tests do) is harmless.
pub fn init(filter: &str) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}
