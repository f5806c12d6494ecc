//! SecretStore and ClusterSecretStore health: Ready when the controller can
//! log in to the store as configured.

use std::sync::Arc;
use std::time::Duration;

use kube::Resource;
use kube::core::DeserializeGuard;
use kube::runtime::controller::Action;

use super::reconcile::{finish, guarded};
use super::report::{Reported, StatusUpdate};
use super::{Context, Error};
use crate::api::{ClusterSecretStore, Reason, SecretStore};
use crate::sources::vault::ResolvedStore;

/// A store whose spec changed (a new generation).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreChange {
    /// `ClusterSecretStore` (true) or `SecretStore`.
    pub cluster: bool,
    /// A SecretStore's namespace.
    pub namespace: Option<String>,
    pub name: String,
}

impl StoreChange {
    /// Whether this ExternalSecret reads from the store.
    pub fn used_by(&self, es: &crate::api::ExternalSecret) -> bool {
        use kube::ResourceExt;
        let r = &es.spec.secret_store_ref;
        let cluster = r.kind.as_deref() == Some("ClusterSecretStore");
        r.name == self.name && cluster == self.cluster && (cluster || es.namespace() == self.namespace)
    }
}

/// Announces store spec changes, so that the ExternalSecrets reading from a
/// changed store are reconciled at once (as ESO re-queues them) rather than
/// at their next refresh. The health reconcile of a store runs after the
/// store cache holds the new generation, so the ExternalSecrets resolve it.
pub struct StoreChanges {
    tx: tokio::sync::broadcast::Sender<StoreChange>,
    /// Generation last seen per store UID: the first sight (start-up)
    /// announces nothing, since every ExternalSecret is reconciled then.
    seen: std::sync::Mutex<std::collections::HashMap<String, i64>>,
}

impl Default for StoreChanges {
    fn default() -> Self {
        StoreChanges { tx: tokio::sync::broadcast::channel(1024).0, seen: Default::default() }
    }
}

impl StoreChanges {
    /// Records a store's generation; announces it when it changed.
    pub fn observe<K: Resource>(&self, obj: &K, cluster: bool) {
        let (Some(uid), Some(generation)) = (obj.meta().uid.clone(), obj.meta().generation) else { return };
        let previous = self.seen.lock().unwrap_or_else(|p| p.into_inner()).insert(uid, generation);
        if previous.is_some_and(|g| g != generation) {
            let change = StoreChange {
                cluster,
                namespace: obj.meta().namespace.clone(),
                name: obj.meta().name.clone().unwrap_or_default(),
            };
            // No receiver (no ExternalSecret controller yet) is not an error.
            let _ = self.tx.send(change);
        }
    }

    /// The changes announced from now on. A receiver that falls more than
    /// 1,024 changes behind skips the ones it missed; those ExternalSecrets
    /// pick the change up at their next refresh.
    pub fn subscribe(&self) -> impl futures::Stream<Item = StoreChange> + Send + 'static {
        futures::stream::unfold(self.tx.subscribe(), |mut rx| async move {
            loop {
                match rx.recv().await {
                    Ok(c) => return Some((c, rx)),
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
                }
            }
        })
    }
}

/// Reconcile of a SecretStore.
pub async fn reconcile_store(obj: Arc<DeserializeGuard<SecretStore>>, ctx: Arc<Context>) -> Result<Action, Error> {
    guarded(&obj, &ctx, |s| async {
        ctx.store_changes.observe(s, false);
        check(&ctx, s, &ResolvedStore::of_secret_store(s), &s.spec.unsupported).await
    })
    .await
}

/// Reconcile of a ClusterSecretStore. An instance restricted to some
/// namespaces checks only the stores whose conditions name nothing else
/// (the others are left to the instances serving those namespaces).
pub async fn reconcile_cluster_store(
    obj: Arc<DeserializeGuard<ClusterSecretStore>>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    guarded(&obj, &ctx, |s| async {
        ctx.store_changes.observe(s, true);
        if !serves(&ctx.watch_namespaces, s) {
            return Ok(Action::await_change());
        }
        check(&ctx, s, &ResolvedStore::of_cluster_store(s), &s.spec.unsupported).await
    })
    .await
}

/// Whether an instance watching `watch` (empty: all) checks this store.
pub fn serves(watch: &[String], s: &ClusterSecretStore) -> bool {
    if watch.is_empty() {
        return true;
    }
    let names: Vec<&String> = s.spec.conditions.iter().flat_map(|c| &c.namespaces).collect();
    !names.is_empty() && names.iter().all(|n| watch.contains(n))
}

/// A store's health: `Unsupported` (no login tried) when its spec has ESO
/// fields seal does not implement, else whether the controller can log in.
async fn check<K: Reported>(
    ctx: &Context,
    obj: &K,
    store: &ResolvedStore,
    unsupported: &[String],
) -> Result<Action, Error> {
    let mut update = StatusUpdate::new(obj.common_status(), obj.meta().generation);
    if !unsupported.is_empty() {
        update.failed(Reason::Unsupported, &crate::api::unknown::unsupported_message(unsupported));
        return finish(ctx, obj, &update, Vec::new(), Action::await_change()).await;
    }
    let action = match ctx.sources.vault.client(&ctx.sources.client, store).await {
        Ok(_) => {
            update.ready(Reason::Authenticated, "the controller is logged in to the store");
            Action::requeue(Duration::from_secs(300))
        }
        Err(e) => {
            update.failed(e.reason(), &e.to_string());
            Action::requeue(Duration::from_secs(30))
        }
    };
    finish(ctx, obj, &update, Vec::new(), action).await
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

#[cfg(test)]
mod change_tests {
    use super::*;
    use futures::StreamExt;

    fn store(uid: &str, generation: i64) -> SecretStore {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "seal.dev/v1alpha1", "kind": "SecretStore",
            "metadata": {"name": "vault", "namespace": "team-a", "uid": uid, "generation": generation},
            "spec": {"provider": {"vault": {"server": "http://x", "path": "kv", "auth": {"tokenSecretRef": {"name": "t", "key": "token"}}}}}
        }))
        .expect("a store")
    }

    fn es(ns: &str, store: &str, kind: Option<&str>) -> crate::api::ExternalSecret {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "seal.dev/v1alpha1", "kind": "ExternalSecret",
            "metadata": {"name": "e", "namespace": ns},
            "spec": {"secretStoreRef": {"name": store, "kind": kind}, "data": []}
        }))
        .expect("an ExternalSecret")
    }

    #[tokio::test]
    async fn only_a_new_generation_of_a_known_store_is_announced() {
        let changes = StoreChanges::default();
        let mut rx = Box::pin(changes.subscribe());
        changes.observe(&store("u1", 1), false); // first sight: start-up
        changes.observe(&store("u1", 1), false); // a status write
        changes.observe(&store("u1", 2), false); // a spec change
        let got = rx.next().await.expect("one change");
        assert_eq!(got, StoreChange { cluster: false, namespace: Some("team-a".into()), name: "vault".into() });
        assert!(tokio::time::timeout(std::time::Duration::from_millis(50), rx.next()).await.is_err(), "only one");
    }

    #[test]
    fn a_change_names_only_the_external_secrets_of_that_store() {
        let change = StoreChange { cluster: false, namespace: Some("team-a".into()), name: "vault".into() };
        assert!(change.used_by(&es("team-a", "vault", None)));
        assert!(change.used_by(&es("team-a", "vault", Some("SecretStore"))));
        assert!(!change.used_by(&es("team-b", "vault", None)), "a store of the same name elsewhere");
        assert!(!change.used_by(&es("team-a", "vault", Some("ClusterSecretStore"))));
        assert!(!change.used_by(&es("team-a", "other", None)));
        let cluster = StoreChange { cluster: true, namespace: None, name: "vault".into() };
        assert!(cluster.used_by(&es("team-b", "vault", Some("ClusterSecretStore"))));
        assert!(!cluster.used_by(&es("team-b", "vault", None)));
    }
}
