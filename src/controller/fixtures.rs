//! Test fixtures for the controller, as kube-rs' controller-rs has them:
//! [`Context::test`] builds the shared state every reconcile takes around a
//! sources' context (usually `sources::vault::fake::source_context` over a
//! fake API server), with empty caches and no refused annotations.

use std::sync::Arc;
use std::time::Duration;

use super::Context;
use crate::sources::SourceContext;

impl Context {
    /// A context for tests: `sources` as given, Events published as
    /// `seal-controller`, a 10-minute resync, every namespace served.
    pub fn test(sources: SourceContext) -> Context {
        let client = sources.client.clone();
        let metrics = sources.metrics.clone();
        Context {
            sources,
            events: super::events::EventPublisher::new(client, "seal-controller", None),
            secrets: Default::default(),
            status_memo: Default::default(),
            metrics,
            resync: Duration::from_secs(600),
            backoff: Default::default(),
            watch_namespaces: Vec::new(),
            refused_annotation_prefixes: Vec::new(),
            store_changes: Default::default(),
        }
    }

    /// [`Context::test`], shared.
    pub fn test_arc(sources: SourceContext) -> Arc<Context> {
        Arc::new(Context::test(sources))
    }
}
