//! Which store an ExternalSecret uses, and whether it may use it.

use kube::core::DeserializeGuard;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Api, Client, ResourceExt};

use super::VaultError;
use crate::api::Reason;
use crate::api::external_secret::ExternalSecret;
use crate::api::generator::VaultDynamicSecret;
use crate::api::secret_store::{ClusterSecretStore, SecretStore, VaultProvider};

/// The watch caches of the SecretStore and ClusterSecretStore controllers,
/// set once they run: an ExternalSecret's reconcile finds its store there
/// instead of a GET per reconcile. A store the cache does not hold (not
/// synced yet, or not valid against the schema) is read from the API.
#[derive(Default)]
pub struct StoreCache(std::sync::OnceLock<StoreCaches>);

/// The caches themselves.
pub struct StoreCaches {
    /// One per watched scope.
    pub namespaced: Vec<Store<DeserializeGuard<SecretStore>>>,
    /// ClusterSecretStores.
    pub cluster: Store<DeserializeGuard<ClusterSecretStore>>,
}

impl StoreCache {
    /// Sets the caches (once; later calls change nothing).
    pub fn set(&self, caches: StoreCaches) {
        let _ = self.0.set(caches);
    }

    fn secret_store(&self, ns: &str, name: &str) -> Option<SecretStore> {
        let key = ObjectRef::new(name).within(ns);
        let found = self.0.get()?.namespaced.iter().find_map(|s| s.get(&key))?;
        found.0.as_ref().ok().cloned()
    }

    fn cluster_store(&self, name: &str) -> Option<ClusterSecretStore> {
        let found = self.0.get()?.cluster.get(&ObjectRef::new(name))?;
        found.0.as_ref().ok().cloned()
    }
}

/// A store resolved for use: identity, settings, and where its credentials live.
#[derive(Clone, Debug)]
pub struct ResolvedStore {
    /// `SecretStore ns/name` or `ClusterSecretStore name` (for messages).
    pub display: String,
    /// Identity of this store version (kind, namespace, name, uid, generation).
    pub key: String,
    /// How credentials name the store in their `seal.dev/allowed-stores`
    /// annotation: `SecretStore/<name>` or `ClusterSecretStore/<name>`.
    pub grant: String,
    /// The Vault settings.
    pub provider: VaultProvider,
    /// Namespace a SecretStore's credentials must be in (`None` for a
    /// ClusterSecretStore, whose references name their namespace).
    pub own_namespace: Option<String>,
}

impl ResolvedStore {
    /// A namespaced SecretStore: credentials only from its own namespace.
    pub fn of_secret_store(s: &SecretStore) -> ResolvedStore {
        let ns = s.namespace().unwrap_or_default();
        ResolvedStore {
            display: format!("SecretStore {ns}/{}", s.name_any()),
            key: format!(
                "SecretStore/{ns}/{}/{}@{}",
                s.name_any(),
                s.uid().unwrap_or_default(),
                s.metadata.generation.unwrap_or_default()
            ),
            grant: format!("SecretStore/{}", s.name_any()),
            provider: s.spec.provider.vault.clone(),
            own_namespace: Some(ns),
        }
    }

    /// A ClusterSecretStore: its references name their namespaces.
    pub fn of_cluster_store(s: &ClusterSecretStore) -> ResolvedStore {
        ResolvedStore {
            display: format!("ClusterSecretStore {}", s.name_any()),
            key: format!(
                "ClusterSecretStore/{}/{}@{}",
                s.name_any(),
                s.uid().unwrap_or_default(),
                s.metadata.generation.unwrap_or_default()
            ),
            grant: format!("ClusterSecretStore/{}", s.name_any()),
            provider: s.spec.provider.vault.clone(),
            own_namespace: None,
        }
    }

    /// A `VaultDynamicSecret`'s own provider: a namespaced store of its
    /// own, so its credentials come from its namespace only and every rule
    /// of a SecretStore (allowed servers, TLS, audiences, consent) applies;
    /// its credentials consent with `VaultDynamicSecret/<name>`.
    pub fn of_vault_dynamic_secret(v: &VaultDynamicSecret) -> ResolvedStore {
        let ns = v.namespace().unwrap_or_default();
        ResolvedStore {
            display: format!("VaultDynamicSecret {ns}/{}", v.name_any()),
            key: format!(
                "VaultDynamicSecret/{ns}/{}/{}@{}",
                v.name_any(),
                v.uid().unwrap_or_default(),
                v.metadata.generation.unwrap_or_default()
            ),
            grant: format!("VaultDynamicSecret/{}", v.name_any()),
            provider: v.spec.provider.clone(),
            own_namespace: Some(ns),
        }
    }

    /// The namespace a credential reference (`field`) resolves to.
    pub fn ref_namespace(&self, field: &str, ns: Option<&String>) -> Result<String, VaultError> {
        match (&self.own_namespace, ns) {
            (Some(own), None) => Ok(own.clone()),
            (Some(own), Some(n)) if n == own => Ok(own.clone()),
            (Some(own), Some(n)) => Err(VaultError::Misconfigured(format!(
                "{}: {field} names namespace {n}, but a SecretStore may only use credentials from its own namespace {own}",
                self.display
            ))),
            (None, Some(n)) => Ok(n.clone()),
            (None, None) => Err(VaultError::Misconfigured(format!(
                "{}: {field} must name a namespace (ClusterSecretStore)",
                self.display
            ))),
        }
    }
}

/// Whether a ClusterSecretStore's `spec.conditions` let `namespace` use it
/// (no conditions: every namespace).
pub fn cluster_store_allows(s: &ClusterSecretStore, namespace: &str) -> bool {
    s.spec.conditions.is_empty() || s.spec.conditions.iter().any(|c| c.namespaces.iter().any(|n| n == namespace))
}

/// Finds the store an ExternalSecret names and checks it may use it.
pub async fn resolve(
    client: &Client,
    cache: &StoreCache,
    es: &ExternalSecret,
) -> Result<ResolvedStore, (Reason, String)> {
    resolve_ref(client, cache, &es.namespace().unwrap_or_default(), &es.spec.secret_store_ref).await
}

/// Finds the store an object in `ns` names and checks it may use it (from
/// the stores' watch caches when they hold it).
///
/// A store using fields of ESO's schema that seal does not implement is not
/// used: its values could differ from what its author meant (a provider
/// option ignored).
pub async fn resolve_ref(
    client: &Client,
    cache: &StoreCache,
    ns: &str,
    r: &crate::api::external_secret::SecretStoreRef,
) -> Result<ResolvedStore, (Reason, String)> {
    let ns = ns.to_owned();
    let not_found = |e: kube::Error| (Reason::StoreNotFound, format!("cannot read the store {}: {e}", r.name));
    match r.kind.as_deref().unwrap_or("SecretStore") {
        "ClusterSecretStore" => {
            let s = match cache.cluster_store(&r.name) {
                Some(s) => s,
                None => {
                    let api: Api<ClusterSecretStore> = Api::all(client.clone());
                    api.get_opt(&r.name).await.map_err(not_found)?.ok_or_else(|| {
                        (Reason::StoreNotFound, format!("ClusterSecretStore {} does not exist", r.name))
                    })?
                }
            };
            refuse_unsupported("ClusterSecretStore", &r.name, &s.spec.unsupported)?;
            if !cluster_store_allows(&s, &ns) {
                return Err((
                    Reason::NamespaceNotAllowed,
                    format!("ClusterSecretStore {} does not allow namespace {ns} (spec.conditions)", r.name),
                ));
            }
            Ok(ResolvedStore::of_cluster_store(&s))
        }
        "SecretStore" => {
            let s = match cache.secret_store(&ns, &r.name) {
                Some(s) => s,
                None => {
                    let api: Api<SecretStore> = Api::namespaced(client.clone(), &ns);
                    api.get_opt(&r.name)
                        .await
                        .map_err(not_found)?
                        .ok_or_else(|| (Reason::StoreNotFound, format!("SecretStore {ns}/{} does not exist", r.name)))?
                }
            };
            refuse_unsupported("SecretStore", &format!("{ns}/{}", r.name), &s.spec.unsupported)?;
            Ok(ResolvedStore::of_secret_store(&s))
        }
        other => Err((
            Reason::StoreNotFound,
            format!("secretStoreRef.kind {other:?} is not SecretStore or ClusterSecretStore"),
        )),
    }
}

/// Refuses a store whose spec has fields seal does not implement.
fn refuse_unsupported(kind: &str, name: &str, unsupported: &[String]) -> Result<(), (Reason, String)> {
    if unsupported.is_empty() {
        return Ok(());
    }
    Err((Reason::Unsupported, format!("{kind} {name}: {}", crate::api::unknown::unsupported_message(unsupported))))
}
