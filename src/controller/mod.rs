//! `seal-controller`: wires the key registry, the sources, the materializer
//! and telemetry into kube-runtime controllers, one per kind and scope.
//!
//! - [`args`]: the flags.
//! - [`runtime`]: the process — leadership, keys, the controllers, shutdown,
//!   and the error policy every controller shares.
//! - [`leader`]: the Lease.
//! - [`reconcile`]: the flow every kind goes through. [`reconcile::guarded`]
//!   wraps each reconcile (schema failures logged by name, a span, panic
//!   isolation, duration); [`reconcile::finish`] ends it (status and Events
//!   through [`report`], `seal_reconcile_total` under the kind's own
//!   label). For the sources (SealedSecret, ExternalSecret) the steps
//!   between are observe → decide (pure `materialize::plan`) → write.
//! - [`report`]: status conditions ([`report::StatusUpdate`]), the status
//!   write with its Warning Event ([`report::write`]), for every kind
//!   ([`report::Reported`]); [`events`] sends the Events.
//! - [`push`]: PushSecret — consent, the push, ownership, kube-runtime's
//!   finalizer helper for `deletionPolicy: Delete`.
//! - [`cluster_external`]: ClusterExternalSecret — one ExternalSecret per
//!   chosen namespace.
//! - [`stores`]: SecretStore and ClusterSecretStore health, and the store
//!   changes that re-queue the ExternalSecrets using them.
//! - [`cache`]: what the watch caches keep per object (kept small).

pub mod args;
pub mod cache;
pub mod cluster_external;
pub mod events;
pub mod leader;
pub mod push;
pub mod push_plan;
pub mod reconcile;
pub mod report;
pub mod runtime;
pub mod stores;

#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod mock_api_external_tests;
#[cfg(test)]
mod mock_api_tests;

use std::ffi::OsString;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use kube::Resource;

pub use args::Args;
pub use runtime::{Shutdown, run};

use crate::sources::SourceContext;
use crate::telemetry::{self, Metrics};

/// Errors that stop a reconcile (and are retried with backoff).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The Kubernetes API failed.
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    /// The keys are not loaded yet.
    #[error("the key registry is not loaded yet")]
    KeysNotLoaded,
    /// kube-runtime's finalizer helper refused the object (no name, a
    /// finalizer name that is not a JSON pointer segment).
    #[error("finalizer: {0}")]
    Finalizer(String),
    /// A step that must finish before the object may go (removing what a
    /// PushSecret pushed) did not; the status says why. Retried after the
    /// given time.
    #[error("not finished; retried in {0:?}")]
    Unfinished(Duration),
}

impl Error {
    /// A short, bounded label for metrics.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::Kube(_) => "kube_api",
            Error::KeysNotLoaded => "keys_not_loaded",
            Error::Finalizer(_) => "finalizer",
            Error::Unfinished(_) => "unfinished",
        }
    }
}

/// Shared state of all reconciles.
pub struct Context {
    /// What sources use: client, keys, Vault, metrics.
    pub sources: SourceContext,
    /// Events.
    pub events: events::EventPublisher,
    /// The managed Secrets, slimmed (key names and an HMAC, no values).
    pub secrets: cache::SecretCache,
    /// Status writes the watch cache does not show yet.
    pub status_memo: report::StatusMemo,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// The periodic resync.
    pub resync: Duration,
    /// Per-object failure backoff.
    pub backoff: reconcile::Backoff,
    /// The namespaces this instance serves (empty: all).
    pub watch_namespaces: Vec<String>,
    /// Annotation prefixes refused in Secret templates.
    pub refused_annotation_prefixes: Vec<String>,
    /// Store spec changes, re-queueing the ExternalSecrets that use them.
    pub store_changes: stores::StoreChanges,
}

/// Entry point of the `seal-controller` binary (and of tests that run the
/// controller as a process): parses `args` (program name first), runs until
/// SIGTERM or Ctrl-C.
pub fn main_with_args<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    use clap::Parser;
    let args = match Args::try_parse_from(args) {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { ExitCode::from(2) } else { ExitCode::SUCCESS };
        }
    };
    telemetry::init_logging(&args.log_format);
    limit_malloc_arenas();
    // A panic is logged with its place only: its message could quote input.
    std::panic::set_hook(Box::new(|info| {
        let at = info.location().map(|l| format!("{}:{}", l.file(), l.line())).unwrap_or_default();
        tracing::error!(at = %at, "panic");
    }));
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("seal-controller: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "seal-controller stopped");
            ExitCode::FAILURE
        }
    }
}

/// glibc gives each thread that allocates its own malloc arena (up to 8
/// per core); the decryptions on the blocking pool and the async workers
/// then each keep freed memory of their own, and the peak RSS grows with
/// the number of objects decrypted at once. Two arenas keep it down; the
/// controller's threads mostly wait on the API server, not on malloc.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; it is called before
    // the async runtime starts any thread.
    #[allow(unsafe_code)]
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

/// The kind as a bounded metric label.
pub fn kind_label<K: Resource<DynamicType = ()>>() -> &'static str {
    match K::kind(&()).as_ref() {
        "SealedSecret" => "SealedSecret",
        "ExternalSecret" => "ExternalSecret",
        "SecretStore" => "SecretStore",
        "ClusterSecretStore" => "ClusterSecretStore",
        "PushSecret" => "PushSecret",
        "ClusterExternalSecret" => "ClusterExternalSecret",
        _ => "Other",
    }
}
