//! The `templateFrom` ConfigMaps and Secrets, read from watches rather than
//! with a GET per render.
//!
//! Each ConfigMap or Secret a template names gets one watch (a list and a
//! watch with the field selector `metadata.name=NAME`), shared by every
//! ExternalSecret that names it: 1,000 ExternalSecrets sharing one template
//! ConfigMap cost one list and one watch, not 1,000 GETs per refresh round.
//! Only named objects are watched (never a namespace's every ConfigMap), so
//! memory follows what templates use.
//!
//! Bounds: at most [`MAX_WATCHED`] objects are watched at once, each kept
//! only when its texts are at most [`MAX_KEPT_BYTES`] (so one tenant's large
//! ConfigMaps hold at most 16 MiB here, not 256 × 1 MiB); a read past either
//! bound is a plain GET, as before, whose copy lives only for that render. A
//! watch no render has used for [`IDLE`] is stopped (a later read starts it
//! again).
//!
//! A Secret is kept only when it carries the read-consent annotation
//! ([`super::ALLOW_TEMPLATE_READ_ANNOTATION`]), whoever it names; the
//! consent itself is checked per reader in `templates`. A Secret without
//! the annotation is kept as "present, not shared": its values are never
//! held.
//!
//! Where no watch can run (the mock API of the unit tests), [`TemplateCache::direct`]
//! reads with a GET every time.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};
use tokio::sync::watch;
use zeroize::Zeroizing;

use super::ALLOW_TEMPLATE_READ_ANNOTATION;
use super::templates::api_reason;

/// Most ConfigMaps and Secrets watched at once.
pub const MAX_WATCHED: usize = 256;
/// Largest object kept by its watch (keys and values, in bytes).
pub const MAX_KEPT_BYTES: usize = 64 * 1024;
/// A watch unused for this long is stopped.
pub const IDLE: Duration = Duration::from_secs(30 * 60);
/// How long a render waits for a new watch's first list.
const FIRST_LIST: Duration = Duration::from_secs(30);

/// What a `templateFrom` entry reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SourceKind {
    ConfigMap,
    Secret,
}

impl SourceKind {
    /// The kind's name, as messages write it.
    pub fn name(self) -> &'static str {
        match self {
            SourceKind::ConfigMap => "ConfigMap",
            SourceKind::Secret => "Secret",
        }
    }
}

/// A ConfigMap's or Secret's keys as text; `Err(key)` names a Secret key
/// whose value is not UTF-8.
pub type Texts = Result<Arc<BTreeMap<String, Zeroizing<String>>>, String>;

/// One ConfigMap or Secret, as the template reader needs it.
#[derive(Clone)]
pub enum Snapshot {
    /// The object does not exist.
    Missing,
    /// It exists; `consent` is the read-consent annotation's value (always
    /// `None` for a ConfigMap). A Secret without it keeps no values.
    Present { consent: Option<String>, texts: Texts },
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Snapshot::Missing => f.write_str("Missing"),
            Snapshot::Present { consent, texts } => f
                .debug_struct("Present")
                .field("consent", consent)
                .field("keys", &texts.as_ref().map(|t| t.len()))
                .finish(),
        }
    }
}

fn config_map_snapshot(cm: ConfigMap) -> Snapshot {
    let texts = cm.data.unwrap_or_default().into_iter().map(|(k, v)| (k, Zeroizing::new(v))).collect();
    Snapshot::Present { consent: None, texts: Ok(Arc::new(texts)) }
}

fn secret_snapshot(s: Secret) -> Snapshot {
    let consent = s.metadata.annotations.as_ref().and_then(|a| a.get(ALLOW_TEMPLATE_READ_ANNOTATION)).cloned();
    if consent.is_none() {
        return Snapshot::Present { consent, texts: Ok(Arc::default()) };
    }
    let mut texts = BTreeMap::new();
    for (k, v) in s.data.unwrap_or_default() {
        match String::from_utf8(v.0) {
            Ok(t) => {
                texts.insert(k, Zeroizing::new(t));
            }
            Err(e) => {
                drop(Zeroizing::new(e.into_bytes()));
                return Snapshot::Present { consent, texts: Err(k) };
            }
        }
    }
    Snapshot::Present { consent, texts: Ok(Arc::new(texts)) }
}

/// A watch's latest view: `None` before its first list, `Err` (the API
/// server's status, never its message) while it has failed before any.
type View = Option<Result<Snapshot, String>>;

struct Watched {
    view: watch::Receiver<View>,
    last_used: Instant,
    task: tokio::task::AbortHandle,
}

impl Drop for Watched {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A watched object: its kind, namespace and name.
type Key = (SourceKind, String, String);

/// The `templateFrom` sources, watched by name (see the module docs).
pub struct TemplateCache {
    /// `None`: read with a GET every time.
    watched: Option<Mutex<HashMap<Key, Watched>>>,
}

impl Default for TemplateCache {
    /// The watching cache.
    fn default() -> Self {
        TemplateCache { watched: Some(Mutex::default()) }
    }
}

impl TemplateCache {
    /// A cache that reads with a GET every time (no watch).
    pub fn direct() -> Self {
        TemplateCache { watched: None }
    }

    /// How many objects are watched now.
    pub fn watched(&self) -> usize {
        self.watched.as_ref().map_or(0, |w| w.lock().unwrap_or_else(|p| p.into_inner()).len())
    }

    /// The object `kind` `ns/name`: from its watch (started on first use),
    /// or by a GET when no watch can be started. Errors name the object
    /// and the API server's status code, never its message.
    pub async fn read(&self, client: &Client, kind: SourceKind, ns: &str, name: &str) -> Result<Snapshot, String> {
        let Some(view) = self.view(client, kind, ns, name) else {
            return get(client, kind, ns, name).await;
        };
        let mut view = view;
        let what = || format!("cannot read {} {ns}/{name}", kind.name());
        // The view's guard is dropped here, before any await below.
        let seen = match tokio::time::timeout(FIRST_LIST, view.wait_for(Option::is_some)).await {
            Ok(Ok(v)) => v.clone(),
            Ok(Err(_)) => return Err(format!("{}: its watch stopped", what())),
            Err(_) => return Err(format!("{}: not listed within {} s", what(), FIRST_LIST.as_secs())),
        };
        match seen {
            Some(Ok(snapshot)) => Ok(snapshot),
            // Not kept (over MAX_KEPT_BYTES), or the watch cannot list
            // (RBAC from before the cache granted only `get`, or the API
            // server is failing): read directly, so templates keep working.
            Some(Err(_)) | None => get(client, kind, ns, name).await,
        }
    }

    /// The view of the object's watch, started when new; `None` when
    /// reads are direct or [`MAX_WATCHED`] objects are watched already.
    fn view(&self, client: &Client, kind: SourceKind, ns: &str, name: &str) -> Option<watch::Receiver<View>> {
        let mut watched = self.watched.as_ref()?.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        watched.retain(|_, w| now.duration_since(w.last_used) < IDLE);
        let key = (kind, ns.to_owned(), name.to_owned());
        if let Some(w) = watched.get_mut(&key) {
            w.last_used = now;
            return Some(w.view.clone());
        }
        if watched.len() >= MAX_WATCHED {
            return None;
        }
        let (tx, view) = watch::channel(None);
        let task = match kind {
            SourceKind::ConfigMap => {
                tokio::spawn(follow(Api::namespaced(client.clone(), ns), name.to_owned(), tx, config_map_snapshot))
            }
            SourceKind::Secret => {
                tokio::spawn(follow(Api::namespaced(client.clone(), ns), name.to_owned(), tx, secret_snapshot))
            }
        };
        watched.insert(key, Watched { view: view.clone(), last_used: now, task: task.abort_handle() });
        Some(view)
    }
}

/// Keeps `tx` at the object's latest state, for as long as it runs.
async fn follow<K>(api: Api<K>, name: String, tx: watch::Sender<View>, snapshot: fn(K) -> Snapshot)
where
    K: kube::Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + 'static,
{
    let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let mut events = watcher(api, config).default_backoff().boxed();
    // What the list in progress has seen (a relist starts with `Init`).
    let mut listed = None;
    while let Some(event) = events.next().await {
        match event {
            Ok(watcher::Event::Init) => listed = None,
            Ok(watcher::Event::InitApply(o)) => listed = Some(kept(snapshot(o))),
            Ok(watcher::Event::InitDone) => {
                tx.send_replace(Some(listed.take().unwrap_or(Ok(Snapshot::Missing))));
            }
            Ok(watcher::Event::Apply(o)) => {
                tx.send_replace(Some(kept(snapshot(o))));
            }
            Ok(watcher::Event::Delete(_)) => {
                tx.send_replace(Some(Ok(Snapshot::Missing)));
            }
            // Before the first list, readers learn why; after it they keep
            // the last state while the watch relists (with backoff).
            Err(e) => {
                tx.send_if_modified(|v| {
                    if matches!(v, Some(Ok(_))) {
                        return false;
                    }
                    *v = Some(Err(format!("cannot list {name}: {}", watch_reason(&e))));
                    true
                });
            }
        }
    }
}

/// The snapshot, or (over [`MAX_KEPT_BYTES`]) an error that makes readers
/// read it with a GET instead.
fn kept(s: Snapshot) -> Result<Snapshot, String> {
    let size = match &s {
        Snapshot::Present { texts: Ok(t), .. } => t.iter().map(|(k, v)| k.len().saturating_add(v.len())).sum(),
        _ => 0usize,
    };
    if size > MAX_KEPT_BYTES {
        return Err(format!("larger than {MAX_KEPT_BYTES} bytes: not kept, read directly"));
    }
    Ok(s)
}

fn watch_reason(e: &watcher::Error) -> String {
    match e {
        watcher::Error::InitialListFailed(k) | watcher::Error::WatchStartFailed(k) | watcher::Error::WatchFailed(k) => {
            api_reason(k)
        }
        watcher::Error::WatchError(s) => format!("the API server answered {} {}", s.code, s.reason),
        watcher::Error::NoResourceVersion => "the watch has no resourceVersion".to_owned(),
    }
}

/// One GET: reads past [`MAX_WATCHED`], and the direct cache.
async fn get(client: &Client, kind: SourceKind, ns: &str, name: &str) -> Result<Snapshot, String> {
    let why = |e: kube::Error| format!("cannot read {} {ns}/{name}: {}", kind.name(), api_reason(&e));
    Ok(match kind {
        SourceKind::ConfigMap => Api::<ConfigMap>::namespaced(client.clone(), ns)
            .get_opt(name)
            .await
            .map_err(why)?
            .map_or(Snapshot::Missing, config_map_snapshot),
        SourceKind::Secret => Api::<Secret>::namespaced(client.clone(), ns)
            .get_opt(name)
            .await
            .map_err(why)?
            .map_or(Snapshot::Missing, secret_snapshot),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::ByteString;

    #[test]
    fn a_secret_without_the_consent_annotation_keeps_no_values() {
        let s = Secret {
            data: Some(BTreeMap::from([("tpl".to_owned(), ByteString(b"canary-value".to_vec()))])),
            ..Default::default()
        };
        let Snapshot::Present { consent: None, texts: Ok(t) } = secret_snapshot(s) else { panic!("present") };
        assert!(t.is_empty());
    }

    #[test]
    fn a_shared_secret_keeps_its_texts_and_names_a_key_that_is_not_text() {
        let mut s = Secret {
            metadata: kube::api::ObjectMeta {
                annotations: Some(BTreeMap::from([(ALLOW_TEMPLATE_READ_ANNOTATION.to_owned(), "db".to_owned())])),
                ..Default::default()
            },
            data: Some(BTreeMap::from([("tpl".to_owned(), ByteString(b"{{ .x }}".to_vec()))])),
            ..Default::default()
        };
        let Snapshot::Present { consent: Some(c), texts: Ok(t) } = secret_snapshot(s.clone()) else { panic!() };
        assert_eq!((c.as_str(), t.get("tpl").map(|v| v.as_str())), ("db", Some("{{ .x }}")));
        s.data = Some(BTreeMap::from([("bin".to_owned(), ByteString(vec![0xff, 0xfe]))]));
        let Snapshot::Present { texts: Err(k), .. } = secret_snapshot(s) else { panic!("refused") };
        assert_eq!(k, "bin");
    }

    #[test]
    fn debug_shows_key_counts_not_values() {
        let cm = ConfigMap {
            data: Some(BTreeMap::from([("tpl".to_owned(), "canary-value".to_owned())])),
            ..Default::default()
        };
        let d = format!("{:?}", config_map_snapshot(cm));
        assert!(!d.contains("canary") && d.contains("keys: Ok(1)"), "{d}");
    }

    #[test]
    fn an_object_over_the_size_bound_is_not_kept() {
        let cm = |n: usize| ConfigMap {
            data: Some(BTreeMap::from([("tpl".to_owned(), "x".repeat(n))])),
            ..Default::default()
        };
        assert!(kept(config_map_snapshot(cm(MAX_KEPT_BYTES - 3))).is_ok());
        assert!(kept(config_map_snapshot(cm(MAX_KEPT_BYTES - 2))).is_err());
        assert!(kept(Snapshot::Missing).is_ok());
    }

    /// The fake API answers GETs of objects only: every list fails, as it
    /// does where RBAC grants `get` alone.
    #[tokio::test]
    async fn a_watch_that_cannot_list_falls_back_to_a_get() {
        use crate::sources::vault::fake::{FakeKube, core_path};
        let api = FakeKube::default();
        let path = core_path("ns", "configmaps", "shape");
        let cm = serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap",
                                    "metadata": {"name": "shape", "namespace": "ns"}, "data": {"tpl": "x"}});
        api.put(&path, cm);
        let (cache, client) = (TemplateCache::default(), api.client());
        let read = cache.read(&client, SourceKind::ConfigMap, "ns", "shape").await.expect("read by a GET");
        let Snapshot::Present { consent: None, texts: Ok(t) } = read else { panic!("present: {read:?}") };
        assert_eq!(t.get("tpl").map(|v| v.as_str()), Some("x"));
        assert!(matches!(cache.read(&client, SourceKind::ConfigMap, "ns", "nope").await, Ok(Snapshot::Missing)));
        assert_eq!(cache.watched(), 2, "a watch per named object, still trying");
        let sent = api.take_sent();
        assert!(sent.iter().any(|r| r.path == path), "the GET");
        assert!(sent.iter().any(|r| r.path == "/api/v1/namespaces/ns/configmaps"), "the list tried");
    }
}
