//! SecretStore and ClusterSecretStore health: Ready when the controller can
//! log in to the store as configured.

use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use kube::Resource;
use kube::core::DeserializeGuard;
use kube::runtime::controller::Action;

use super::report::{self, ScopeKind, StatusUpdate};
use super::{Context, Error};
use crate::api::{ClusterSecretStore, Reason, SecretStore};
use crate::sources::CommonStatus;
use crate::sources::vault::ResolvedStore;
use crate::telemetry::metrics::ResultLabel;

/// Reconcile of a SecretStore.
pub async fn reconcile_store(obj: Arc<DeserializeGuard<SecretStore>>, ctx: Arc<Context>) -> Result<Action, Error> {
    let Ok(s) = &obj.0 else { return Ok(Action::await_change()) };
    let status = s.status.clone().unwrap_or_default();
    check(&ctx, s, &ResolvedStore::of_secret_store(s), status.conditions, status.observed_generation).await
}

/// Reconcile of a ClusterSecretStore. An instance restricted to some
/// namespaces checks only the stores whose conditions name nothing else
/// (the others are left to the instances serving those namespaces).
pub async fn reconcile_cluster_store(
    obj: Arc<DeserializeGuard<ClusterSecretStore>>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    let Ok(s) = &obj.0 else { return Ok(Action::await_change()) };
    if !serves(&ctx.watch_namespaces, s) {
        return Ok(Action::await_change());
    }
    let status = s.status.clone().unwrap_or_default();
    check(&ctx, s, &ResolvedStore::of_cluster_store(s), status.conditions, status.observed_generation).await
}

/// Whether an instance watching `watch` (empty: all) checks this store.
pub fn serves(watch: &[String], s: &ClusterSecretStore) -> bool {
    if watch.is_empty() {
        return true;
    }
    let names: Vec<&String> = s.spec.conditions.iter().flat_map(|c| &c.namespaces).collect();
    !names.is_empty() && names.iter().all(|n| watch.contains(n))
}

async fn check<K>(
    ctx: &Context,
    obj: &K,
    store: &ResolvedStore,
    conditions: Vec<crate::api::Condition>,
    observed: Option<i64>,
) -> Result<Action, Error>
where
    K: Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    K::Scope: ScopeKind,
{
    let mut update = StatusUpdate::new(
        CommonStatus { observed_generation: observed, conditions, resumed: None },
        obj.meta().generation,
    );
    // As for every reconcile, a panic (a bug, or a dependency that panics
    // on a server's answer) is this store's error, not the process's.
    let login = std::panic::AssertUnwindSafe(ctx.sources.vault.client(&ctx.sources.client, store)).catch_unwind();
    let login = match login.await {
        Ok(r) => r,
        Err(_) => {
            tracing::error!("checking a store panicked; it is retried");
            Err(crate::sources::vault::VaultError::Unavailable(format!(
                "{}: seal-controller failed checking this store (an internal error, see its log)",
                store.display
            )))
        }
    };
    let (reason, action) = match login {
        Ok(_) => {
            update.ready(Reason::Authenticated, "the controller is logged in to the store");
            (Reason::Authenticated, Action::requeue(Duration::from_secs(300)))
        }
        Err(e) => {
            update.failed(e.reason(), &e.to_string());
            (e.reason(), Action::requeue(Duration::from_secs(30)))
        }
    };
    ctx.metrics.reconciled(super::kind_label::<K>(), ResultLabel::Reason(reason));
    report::write(ctx, obj, &update, Vec::new()).await?;
    Ok(action)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::secret_store::{ClusterSecretStoreSpec, StoreCondition};

    fn store(namespaces: &[&str]) -> ClusterSecretStore {
        let mut spec = ClusterSecretStoreSpec::default();
        if !namespaces.is_empty() {
            spec.conditions = vec![StoreCondition { namespaces: namespaces.iter().map(|s| (*s).to_owned()).collect() }];
        }
        ClusterSecretStore::new("s", spec)
    }

    #[test]
    fn a_restricted_instance_checks_only_stores_within_its_namespaces() {
        let watch = vec!["a".to_owned(), "b".to_owned()];
        assert!(serves(&[], &store(&[])));
        assert!(serves(&[], &store(&["x"])));
        assert!(serves(&watch, &store(&["a"])));
        assert!(serves(&watch, &store(&["a", "b"])));
        assert!(!serves(&watch, &store(&["a", "c"])));
        assert!(!serves(&watch, &store(&[])), "an unrestricted store belongs to the cluster-wide instance");
    }
}
