//! The controller process: the HTTP port, leadership (a standby serves
//! recipients and waits), the keys, one kube-runtime `Controller` per kind
//! and scope, and a shutdown that lets in-flight work finish, then releases
//! the Lease.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use k8s_openapi::api::core::v1::Secret;
use kube::core::{DeserializeGuard, NamespaceResourceScope};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{PredicateConfig, WatchStreamExt, watcher};
use kube::{Api, Client, Resource};
use tracing::{info, warn};

use super::cache::{self, SecretCache};
use super::events::EventPublisher;
use super::{Args, Context, Error, leader, reconcile, stores};
use crate::api::{ClusterSecretStore, ExternalSecret, SealedSecret, SecretStore};
use crate::key_registry::KeyRegistry;
use crate::sources::SourceContext;
use crate::sources::vault::VaultPool;
use crate::sources::vault::store::StoreCaches;
use crate::telemetry::metrics::{CountApiRequests, ResultLabel};
use crate::telemetry::{self, HttpState, Metrics};

/// Requests in flight to Vault at once, over all stores (each store has at
/// most two of them, so a few stores that do not answer cannot take all).
const VAULT_INFLIGHT: usize = 32;

/// Runs the controller until a shutdown signal.
pub async fn run(args: Args) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let Args {
        namespace,
        key_renew_period,
        key_type,
        concurrency,
        metrics_address,
        log_format: _,
        resync_period,
        watch_namespace,
        shard_selector,
        leader_election,
        lease_name,
        lease_duration,
        refused_annotation_prefixes,
        allowed_vault_servers,
        cluster_external_secrets,
    } = args;
    // kube and other TLS users may enable both rustls back ends: pick one.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let namespace = namespace
        .or_else(|| std::env::var("POD_NAMESPACE").ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "seal-system".to_owned());
    let metrics = Arc::new(Metrics::default());
    // Every request the controller sends is counted by verb and resource
    // (seal_api_requests_total), so the API load per object is measurable.
    let config = kube::Config::infer().await.map_err(|e| explain_trust(kube::Error::InferConfig(e)))?;
    let client = kube::client::ClientBuilder::try_from(config)
        .map_err(explain_trust)?
        .with_layer(&CountApiRequests(metrics.clone()))
        .build();
    let registry = Arc::new(KeyRegistry::new(client.clone(), &namespace, key_renew_period, key_type));

    let http = Arc::new(HttpState {
        metrics: metrics.clone(),
        ready: Default::default(),
        recipients: {
            let r = registry.clone();
            Box::new(move || crate::key_registry::recipients_text(&r.recipients()))
        },
    });
    let listener = tokio::net::TcpListener::bind(&metrics_address).await?;
    info!(address = %metrics_address, namespace = %namespace, "seal-controller starting");
    tokio::spawn(telemetry::serve(listener, http.clone()));

    let shutdown = Shutdown::new();
    tokio::spawn({
        let shutdown = shutdown.clone();
        async move {
            shutdown_signal().await;
            info!("shutdown requested; finishing in-flight work");
            shutdown.trigger();
        }
    });
    // Only the leader writes: wait for the Lease before touching anything.
    let leadership = if leader_election {
        metrics.set_leader(false);
        // A standby serves the recipients (read-only key load) and reports
        // ready, so that rolling updates and disruption budgets work with
        // several replicas; it writes nothing until it leads.
        let standby = tokio::spawn({
            let (registry, http) = (registry.clone(), http.clone());
            async move {
                loop {
                    // Ready only with a key to serve: on a first start there
                    // is none until the leader makes and publishes it.
                    match registry.load_readonly().await {
                        Ok(()) if !registry.is_empty() => http.ready.store(true, Ordering::Relaxed),
                        Ok(()) => {}
                        Err(e) => warn!(error = %e, "standby: reading keys failed"),
                    }
                    tokio::time::sleep(Duration::from_secs(30)).await;
                }
            }
        });
        let acquired = leader::acquire(&client, &namespace, &lease_name, lease_duration, &shutdown).await;
        standby.abort();
        match acquired? {
            Some(l) => Some(l),
            None => return Ok(()),
        }
    } else {
        None
    };
    metrics.set_leader(true);
    if let Some(l) = &leadership {
        l.on_loss(shutdown.clone());
    }

    // Keys first: nothing can be decrypted without them.
    let mut backoff = Duration::from_secs(1);
    while let Err(e) = registry.sync().await {
        warn!(error = %e, "loading keys failed; retrying");
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
    metrics.set_keys_loaded(registry.len());
    {
        let (registry, metrics) = (registry.clone(), metrics.clone());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(registry.check_interval()).await;
                match registry.sync().await {
                    Ok(()) => metrics.set_keys_loaded(registry.len()),
                    Err(e) => warn!(error = %e, "key renewal check failed"),
                }
            }
        });
    }

    let scopes: Vec<Option<String>> =
        if watch_namespace.is_empty() { vec![None] } else { watch_namespace.iter().cloned().map(Some).collect() };
    // One watch of the managed Secrets per scope feeds the Secret cache and
    // wakes the SealedSecret and ExternalSecret controllers.
    let mut secret_stores = Vec::new();
    let mut owned_triggers = Vec::new();
    for ns in &scopes {
        let (store, sealed_rx, external_rx) = owned_secrets(&client, ns, registry.clone());
        secret_stores.push(store);
        owned_triggers.push((sealed_rx, external_rx));
    }
    let instance = std::env::var("POD_NAME").ok().or_else(|| std::env::var("HOSTNAME").ok());
    let ctx = Arc::new(Context {
        sources: SourceContext {
            client: client.clone(),
            registry,
            vault: VaultPool::new(VAULT_INFLIGHT, metrics.clone(), allowed_vault_servers),
            metrics: metrics.clone(),
            stores: Default::default(),
            templates: Default::default(),
        },
        events: EventPublisher::new(client.clone(), "seal-controller", instance),
        secrets: SecretCache::new(secret_stores),
        status_memo: Default::default(),
        metrics,
        resync: resync_period,
        backoff: Default::default(),
        watch_namespaces: watch_namespace.clone(),
        refused_annotation_prefixes,
        store_changes: Default::default(),
    });

    let objects = match &shard_selector {
        Some(sel) => watcher::Config::default().labels(sel),
        None => watcher::Config::default(),
    };
    let wiring = Wiring { client: &client, ctx: &ctx, shutdown: &shutdown, concurrency };
    let mut runs = Vec::new();
    let mut stores = Vec::new();
    let mut store_caches = Vec::new();
    for (ns, (sealed_rx, external_rx)) in scopes.into_iter().zip(owned_triggers) {
        let sealed = wiring.controller::<SealedSecret>(&ns, objects.clone()).owns_stream(sealed_rx.map(Ok));
        stores.push(sealed.store());
        runs.push(wiring.run(sealed, reconcile::reconcile::<SealedSecret>));
        let external = wiring.controller::<ExternalSecret>(&ns, objects.clone()).owns_stream(external_rx.map(Ok));
        // A store whose spec changed re-queues the ExternalSecrets reading from it.
        let users = external.store();
        let external = external.reconcile_on(ctx.store_changes.subscribe().flat_map(move |change| {
            let refs: Vec<_> = users
                .state()
                .iter()
                .filter(|obj| obj.0.as_ref().is_ok_and(|es| change.used_by(es)))
                .map(|obj| kube::runtime::reflector::ObjectRef::from_obj(&**obj))
                .collect();
            futures::stream::iter(refs)
        }));
        runs.push(wiring.run(external, reconcile::reconcile::<ExternalSecret>));
        let pushes = wiring.controller::<crate::api::push_secret::PushSecret>(&ns, objects.clone());
        runs.push(wiring.run(pushes, super::push::reconcile));
        let secret_stores = wiring.controller::<SecretStore>(&ns, watcher::Config::default());
        store_caches.push(secret_stores.store());
        runs.push(wiring.run(secret_stores, stores::reconcile_store));
    }
    // ClusterSecretStores are cluster-wide; the shard selector applies to them too.
    let cluster_stores = Controller::new(Api::<DeserializeGuard<ClusterSecretStore>>::all(client.clone()), objects)
        .graceful_shutdown_on(shutdown.wait());
    ctx.sources.stores.set(StoreCaches { namespaced: store_caches, cluster: cluster_stores.store() });
    runs.push(wiring.run(cluster_stores, stores::reconcile_cluster_store));
    // ClusterExternalSecrets, re-run whenever a namespace appears or
    // changes. By default only an instance serving every namespace runs
    // them; one limited to some namespaces writes only into those.
    let serve_ces = match cluster_external_secrets.as_str() {
        "true" => true,
        "false" => false,
        _ => watch_namespace.is_empty(),
    };
    if serve_ces {
        let namespaces =
            watcher(Api::<k8s_openapi::api::core::v1::Namespace>::all(client.clone()), watcher::Config::default())
                .default_backoff()
                .touched_objects()
                .map(|_| ());
        let cluster_external = Controller::new(
            Api::<DeserializeGuard<crate::api::cluster_external_secret::ClusterExternalSecret>>::all(client.clone()),
            watcher::Config::default(),
        )
        .reconcile_all_on(namespaces)
        .graceful_shutdown_on(shutdown.wait());
        runs.push(wiring.run(cluster_external, super::cluster_external::reconcile));
    }

    let secret_caches = ctx.secrets.clone();
    tokio::spawn(async move {
        // The controller itself also waits on these stores, and kube-runtime
        // 5.0 wakes only one waiter: poll with a timeout instead of waiting once.
        for s in stores {
            loop {
                match tokio::time::timeout(Duration::from_millis(500), s.wait_until_ready()).await {
                    Ok(Ok(())) => break,
                    Ok(Err(_)) => return,
                    Err(_) => {}
                }
            }
        }
        // The managed Secrets too: ready means their first list is done
        // (and its memory spent), not only the objects'.
        for s in secret_caches.stores() {
            loop {
                match tokio::time::timeout(Duration::from_millis(500), s.wait_until_ready()).await {
                    Ok(Ok(())) => break,
                    Ok(Err(_)) => return,
                    Err(_) => {}
                }
            }
        }
        http.ready.store(true, Ordering::Relaxed);
        info!("caches synced; ready");
    });
    // The reconciles start once the managed Secrets are listed (or after
    // SECRET_CACHE_WAIT): a reconcile whose Secret is not in the cache yet
    // reads it from the API server, so starting at once costs up to one
    // read per object while the list (10 per page) is still arriving.
    let listed = async {
        for s in ctx.secrets.stores() {
            while tokio::time::timeout(Duration::from_millis(500), s.wait_until_ready()).await.is_err() {}
        }
    };
    tokio::select! {
        _ = listed => {}
        _ = tokio::time::sleep(SECRET_CACHE_WAIT) => warn!("the managed Secrets are not listed yet; reconciling anyway"),
        _ = shutdown.wait() => {}
    }
    // In-flight reconciles get a bounded grace period after a shutdown
    // request: the Lease is released (and the standby takes over) in time
    // even if a controller loop does not wind down, e.g. a signal during
    // start-up.
    let grace = async {
        shutdown.wait().await;
        tokio::time::sleep(Duration::from_secs(5)).await;
    };
    tokio::select! {
        _ = futures::future::join_all(runs) => {}
        _ = grace => warn!("in-flight work did not finish within 5 s of the shutdown request; stopping"),
    }
    if let Some(l) = leadership {
        if l.lost() {
            return Err("lost the leader Lease; stopping so that only the leader writes".into());
        }
        l.release().await;
    }
    info!("seal-controller stopped");
    Ok(())
}

/// What every controller is built from.
struct Wiring<'a> {
    client: &'a Client,
    ctx: &'a Arc<Context>,
    shutdown: &'a Shutdown,
    concurrency: u16,
}

impl Wiring<'_> {
    /// A controller for a namespaced kind in one namespace (or all), with
    /// bounded concurrency. Its cache holds the objects without managed
    /// fields, and it wakes only when an object's spec or metadata changed:
    /// a status write (its own, after every reconcile that changed the
    /// status) does not reconcile the object again.
    fn controller<K>(&self, ns: &Option<String>, config: watcher::Config) -> Controller<DeserializeGuard<K>>
    where
        K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug
            + Send
            + Sync
            + 'static,
    {
        let api: Api<DeserializeGuard<K>> = match ns {
            Some(ns) => Api::namespaced(self.client.clone(), ns),
            None => Api::all(self.client.clone()),
        };
        let (reader, writer) = reflector::store();
        // kube-runtime never reconciles an object that is gone, so the
        // watch's Delete is where its per-object state is dropped (a
        // deletion the watch misses ages out of the map instead).
        let ctx = self.ctx.clone();
        let trigger =
            reflector::reflector(writer, watcher(api, config).modify(cache::slim_object::<DeserializeGuard<K>>))
                .inspect(move |event| {
                    if let Ok(watcher::Event::Delete(obj)) = event {
                        ctx.backoff.reset(&reconcile::key_of::<K>(obj.meta()));
                    }
                })
                .applied_objects()
                .predicate_filter(spec_or_metadata, PredicateConfig::default());
        Controller::for_stream(trigger, reader)
            .with_config(kube::runtime::controller::Config::default().concurrency(self.concurrency))
            .graceful_shutdown_on(self.shutdown.wait())
    }

    /// Runs a controller with `reconcile` and the shared error policy.
    fn run<K, F, Fut>(&self, controller: Controller<DeserializeGuard<K>>, reconcile: F) -> BoxFuture<'static, ()>
    where
        K: Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
        F: FnMut(Arc<DeserializeGuard<K>>, Arc<Context>) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Result<Action, Error>> + Send + 'static,
    {
        controller.run(reconcile, error_policy, self.ctx.clone()).for_each(|_| futures::future::ready(())).boxed()
    }
}

fn error_policy<K: Resource<DynamicType = ()>>(
    _obj: Arc<DeserializeGuard<K>>,
    err: &Error,
    ctx: Arc<Context>,
) -> Action {
    // Counted and shown on the object already, under its status reason.
    if let Error::Unfinished(after) = err {
        return Action::requeue(*after);
    }
    let kind = super::kind_label::<K>();
    ctx.metrics.reconciled(kind, ResultLabel::Error);
    ctx.metrics.reconcile_failed(kind, err.metric_label());
    warn!(error = %err, "reconcile failed; retrying");
    Action::requeue(Duration::from_secs(5))
}

/// What wakes a controller: a new object, a spec change (generation), or
/// a change of its labels or annotations (resume, allow-replay); not a
/// status-only change. The periodic resync is a requeue and needs no event.
fn spec_or_metadata<K: Resource>(o: &K) -> Option<u64> {
    use std::hash::{Hash, Hasher};
    let m = o.meta();
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (&m.uid, m.generation, &m.labels, &m.annotations, m.deletion_timestamp.is_some()).hash(&mut h);
    Some(h.finish())
}

/// The longest the reconciles wait at start for the managed Secrets' list.
const SECRET_CACHE_WAIT: Duration = Duration::from_secs(30);

/// Owned-Secret events buffered per controller before the watch waits.
const OWNED_BUFFER: usize = 1024;

/// Secrets per page of the managed Secrets' list. Anyone who may create a
/// Secret can label it as seal's, and a Secret holds up to 1 MiB: a page is
/// held whole (its JSON, then its objects) before each Secret is slimmed to
/// its cache entry, so the page size bounds the peak memory a list costs.
/// Measured with 200 labelled Secrets of 1 MiB (peak RSS of the process):
/// 579 MiB at kube's default of 500 (one page), 133 MiB at 20, 92 MiB at
/// 10, 70 MiB at 5. 10 keeps such a namespace well under the 256 MiB limit;
/// 10,000 small managed Secrets then take 1,000 list requests at start
/// instead of 20.
const SECRET_PAGE_SIZE: u32 = 10;

type OwnedRx = futures::channel::mpsc::Receiver<Secret>;

/// The Secrets seal manages in one scope: a single watch whose cache keeps
/// each Secret slimmed ([`cache::slim_secret`]: key names and an HMAC, no
/// value), and whose changes wake both the SealedSecret and the
/// ExternalSecret controller (each maps a Secret to its owner).
fn owned_secrets(
    client: &Client,
    ns: &Option<String>,
    registry: Arc<KeyRegistry>,
) -> (Store<Secret>, OwnedRx, OwnedRx) {
    let secrets: Api<Secret> = match ns {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let selector = format!("{}={}", crate::materialize::MANAGED_BY_LABEL, crate::key_registry::FIELD_MANAGER);
    let (reader, writer) = reflector::store();
    let (mut to_sealed, sealed_rx) = futures::channel::mpsc::channel(OWNED_BUFFER);
    let (mut to_external, external_rx) = futures::channel::mpsc::channel(OWNED_BUFFER);
    let stream = reflector::reflector(
        writer,
        watcher(secrets, watcher::Config::default().labels(&selector).page_size(SECRET_PAGE_SIZE))
            .modify(move |s| cache::slim_secret(s, &registry))
            .default_backoff(),
    )
    .touched_objects();
    tokio::spawn(async move {
        use futures::SinkExt;
        let mut stream = std::pin::pin!(stream);
        while let Some(item) = stream.next().await {
            match item {
                // A controller that stopped (shutdown) no longer receives.
                Ok(s) => {
                    let _ = to_sealed.send(s.clone()).await;
                    let _ = to_external.send(s).await;
                }
                Err(e) => warn!(error = %e, "watching the managed Secrets failed; retrying"),
            }
        }
    });
    (reader, sealed_rx, external_rx)
}

/// A shutdown trigger shared by the signal handler, leadership loss and
/// every controller loop.
#[derive(Clone)]
pub struct Shutdown(Arc<tokio::sync::watch::Sender<bool>>);

impl Shutdown {
    fn new() -> Shutdown {
        Shutdown(Arc::new(tokio::sync::watch::channel(false).0))
    }

    /// Starts the shutdown.
    pub fn trigger(&self) {
        self.0.send_replace(true);
    }

    /// Resolves once the shutdown started.
    pub fn wait(&self) -> impl std::future::Future<Output = ()> + Send + Sync + 'static {
        let mut rx = self.0.subscribe();
        async move {
            let _ = rx.wait_for(|v| *v).await;
        }
    }
}

/// A kube client error, with what to do when the trouble is missing trust:
/// an image without a system CA bundle (as the shipped one) needs the CA
/// from its configuration.
fn explain_trust(e: kube::Error) -> Box<dyn std::error::Error + Send + Sync> {
    let text = e.to_string();
    if text.contains("No CA certificates were loaded") {
        format!(
            "{text}: the kubeconfig names no certificate authority and this system has no CA certificates; \
             add certificate-authority-data to the kubeconfig (in a cluster, the service account's ca.crt is used)"
        )
        .into()
    } else {
        Box::new(e)
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(t) => t,
        Err(_) => {
            let _ = ctrl_c.await;
            return;
        }
    };
    tokio::select! {
        _ = ctrl_c => {},
        _ = term.recv() => {},
    }
}
