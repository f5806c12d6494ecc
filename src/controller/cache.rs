//! What the controller keeps in memory per object, kept small: the watch
//! caches hold only what reconciles read.
//!
//! - The Secrets seal manages are watched once per scope and cached as
//!   their name, owner references, seal's annotations, their key names and
//!   an HMAC of their data ([`CACHED_HMAC_ANNOTATION`]): never a value. A
//!   reconcile reads the live Secret from this cache instead of a GET per
//!   reconcile; it still GETs when the cache has no entry (a new object, or
//!   a Secret seal does not own) and before any write (the cache may lag).
//! - SealedSecrets and ExternalSecrets are cached without `managedFields`
//!   and kubectl's last-applied annotation (a full second copy of the
//!   object), which no reconcile reads.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::Resource;
use kube::runtime::reflector::{ObjectRef, Store};

use crate::key_registry::KeyRegistry;

pub use crate::api::annotations::CACHED_HMAC_ANNOTATION;

/// kubectl's client-side apply copy of the whole object.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Reduces a managed Secret to what [`crate::materialize::LiveSecret`]
/// reads: seal's annotations, the owner references, the key names (values
/// emptied) and the HMAC of the data under the controller's HMAC key.
pub fn slim_secret(s: &mut Secret, registry: &KeyRegistry) {
    let hmac = registry
        .hmac_key_bytes()
        .map(|k| crate::materialize::live_data_hmac(&k[..], s.data.as_ref().unwrap_or(&BTreeMap::new())));
    if let Some(data) = s.data.as_mut() {
        for v in data.values_mut() {
            *v = ByteString(Vec::new());
        }
    }
    s.string_data = None;
    let meta = &mut s.metadata;
    meta.managed_fields = None;
    meta.labels = None;
    if let Some(a) = meta.annotations.as_mut() {
        a.retain(|k, _| k.contains("seal.dev/"));
        // The HMAC is kept only when it could be computed; without it the
        // entry is treated as a cache miss.
        match hmac {
            Some(h) => a.insert(CACHED_HMAC_ANNOTATION.to_owned(), h),
            None => a.remove(CACHED_HMAC_ANNOTATION),
        };
    } else if let Some(h) = hmac {
        meta.annotations = Some(BTreeMap::from([(CACHED_HMAC_ANNOTATION.to_owned(), h)]));
    }
}

/// Drops what no reconcile reads from a cached SealedSecret or
/// ExternalSecret: its managed fields and kubectl's last-applied copy.
pub fn slim_object<K: Resource>(o: &mut K) {
    let meta = o.meta_mut();
    meta.managed_fields = None;
    if let Some(a) = meta.annotations.as_mut() {
        a.remove(LAST_APPLIED);
    }
}

/// The caches of managed Secrets, one per watched scope.
#[derive(Clone, Default)]
pub struct SecretCache(Vec<Store<Secret>>);

impl SecretCache {
    /// A cache over these stores.
    pub fn new(stores: Vec<Store<Secret>>) -> SecretCache {
        SecretCache(stores)
    }

    /// The stores, one per watched scope.
    pub fn stores(&self) -> &[Store<Secret>] {
        &self.0
    }

    /// The cached (slimmed) Secret `ns/name`, if a store holds it.
    pub fn get(&self, ns: &str, name: &str) -> Option<Arc<Secret>> {
        let key = ObjectRef::new(name).within(ns);
        self.0.iter().find_map(|s| s.get(&key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_slim_secret_keeps_key_names_and_seal_annotations_but_no_value() {
        let (service, _handle) =
            tower_test::mock::pair::<http::Request<kube::client::Body>, http::Response<kube::client::Body>>();
        let registry =
            KeyRegistry::preloaded(kube::Client::new(service, "default"), "seal-system", Vec::new(), [7; 32]);
        let mut s = Secret {
            metadata: kube::api::ObjectMeta {
                name: Some("db".into()),
                annotations: Some(BTreeMap::from([
                    ("seal.dev/data-hmac".to_owned(), "h".to_owned()),
                    ("merge.seal.dev/uid".to_owned(), "d".to_owned()),
                    (LAST_APPLIED.to_owned(), "{\"data\":{}}".to_owned()),
                ])),
                labels: Some(BTreeMap::from([("app.kubernetes.io/managed-by".to_owned(), "seal".to_owned())])),
                ..Default::default()
            },
            data: Some(BTreeMap::from([("password".to_owned(), ByteString(b"hunter2".to_vec()))])),
            ..Default::default()
        };
        let want = crate::materialize::live_data_hmac(&[7; 32], s.data.as_ref().expect("data"));
        slim_secret(&mut s, &registry);
        let data = s.data.as_ref().expect("keys kept");
        assert_eq!(data.keys().collect::<Vec<_>>(), ["password"]);
        assert!(data.values().all(|v| v.0.is_empty()), "a value was kept");
        let a = s.metadata.annotations.as_ref().expect("annotations");
        assert_eq!(a.get(CACHED_HMAC_ANNOTATION), Some(&want));
        assert!(a.contains_key("seal.dev/data-hmac") && a.contains_key("merge.seal.dev/uid"));
        assert!(!a.contains_key(LAST_APPLIED));
        assert!(s.metadata.labels.is_none());
    }
}
