//! Logs, metrics and the controller's HTTP port. Metric labels are bounded:
//! kinds, results, reasons and policies, never object names.

pub mod http;
pub mod metrics;

pub use http::{HttpState, serve};
pub use metrics::Metrics;

/// Installs the log subscriber: `text` or `json`, level from `RUST_LOG`
/// (default `info`).
pub fn init_logging(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,kube=warn,tower=warn,hyper=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_target(false);
    let _ = if format == "json" { builder.json().flatten_event(true).try_init() } else { builder.try_init() };
}
