//! `seal-controller`: wires the key registry, the sources, the materializer
//! and telemetry into a kube-runtime `Controller`.
//!
//! Reconcile of a SealedSecret, in order: read the live Secret (metadata and
//! an HMAC of its data, never kept); decide (`materialize::plan`) whether the
//! inputs or the data changed; only then decrypt (`sources::sealed`) and
//! server-side apply; finally write status and Events when they change.

pub mod external;
pub mod leader;
pub mod sealed;
pub mod status;

use std::ffi::OsString;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Patch, PatchParams};
use kube::core::DeserializeGuard;
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use tracing::{info, warn};

use crate::api::{ClusterSecretStore, ExternalSecret, SealedSecret, SecretStore};
use crate::keys::KeyRegistry;
use crate::materialize::{self, LiveSecret};
use crate::telemetry::{self, HttpState, Metrics};
use status::StatusUpdate;

/// Command-line flags of `seal-controller` (each with an environment name).
#[derive(clap::Parser, Debug, Clone)]
#[command(name = "seal-controller", version, about = "Materializes SealedSecrets into Kubernetes Secrets")]
pub struct Args {
    /// The controller's own namespace (keys, recipients ConfigMap). Default:
    /// the pod's namespace (POD_NAMESPACE), else seal-system.
    #[arg(long, env = "SEAL_NAMESPACE")]
    pub namespace: Option<String>,
    /// Generate a new age key when the newest is older than this (e.g. 30d, 12h, 90s).
    #[arg(long, env = "SEAL_KEY_RENEW_PERIOD", default_value = "30d", value_parser = parse_duration)]
    pub key_renew_period: Duration,
    /// How many objects are reconciled at once.
    #[arg(long, env = "SEAL_CONCURRENCY", default_value_t = 16)]
    pub concurrency: u16,
    /// Address of the metrics, health and recipients HTTP port.
    #[arg(long, env = "SEAL_METRICS_ADDRESS", default_value = "0.0.0.0:8080")]
    pub metrics_address: String,
    /// Log format: text or json.
    #[arg(long, env = "SEAL_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,
    /// Re-check every object this often, even without events.
    #[arg(long, env = "SEAL_RESYNC_PERIOD", default_value = "10m", value_parser = parse_duration)]
    pub resync_period: Duration,
    /// Only reconcile objects in these namespaces (comma-separated; default all).
    #[arg(long, env = "SEAL_WATCH_NAMESPACE", value_delimiter = ',')]
    pub watch_namespace: Vec<String>,
    /// Only reconcile SealedSecrets and ExternalSecrets matching this label
    /// selector (to split a large cluster between controller instances).
    #[arg(long, env = "SEAL_SHARD_SELECTOR")]
    pub shard_selector: Option<String>,
    /// Elect a leader among replicas through a coordination.k8s.io Lease;
    /// only the leader writes.
    #[arg(long, env = "SEAL_LEADER_ELECTION", default_value_t = true, action = clap::ArgAction::Set)]
    pub leader_election: bool,
    /// Name of the Lease (in the controller's namespace).
    #[arg(long, env = "SEAL_LEASE_NAME", default_value = "seal-controller")]
    pub lease_name: String,
    /// How long a leader's Lease lasts without renewal, in seconds.
    #[arg(long, env = "SEAL_LEASE_DURATION", default_value_t = 15)]
    pub lease_duration: u64,
}

/// Parses `30d`, `12h`, `5m`, `90s` or a number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num.parse().map_err(|_| format!("invalid duration {s:?} (e.g. 30d, 12h, 5m, 90s)"))?;
    let secs = match unit {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86400,
        _ => return Err(format!("invalid duration unit in {s:?} (use s, m, h or d)")),
    };
    if secs == 0 {
        return Err("the duration must be positive".into());
    }
    Ok(Duration::from_secs(secs))
}

/// Errors that stop a reconcile (and are retried with backoff).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The Kubernetes API failed.
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    /// The keys are not loaded yet.
    #[error("the key registry is not loaded yet")]
    KeysNotLoaded,
}

impl Error {
    /// The API server's message when it refused the controller (403): an
    /// RBAC problem the object's status should show.
    pub fn forbidden(&self) -> Option<String> {
        match self {
            Error::Kube(kube::Error::Api(e)) if e.code == 403 => Some(e.message.clone()),
            _ => None,
        }
    }

    /// A short, bounded label for metrics.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::Kube(_) => "kube_api",
            Error::KeysNotLoaded => "keys_not_loaded",
        }
    }
}

/// Shared state of all reconciles.
pub struct Context {
    client: Client,
    registry: Arc<KeyRegistry>,
    recorder: Recorder,
    metrics: Arc<Metrics>,
    resync: Duration,
    vault: crate::sources::vault::VaultPool,
    backoff: std::sync::Mutex<std::collections::HashMap<String, u32>>,
    /// The namespaces this instance serves (empty: all).
    watch_namespaces: Vec<String>,
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

/// Runs the controller until a shutdown signal.
pub async fn run(args: Args) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let Args {
        namespace,
        key_renew_period,
        concurrency,
        metrics_address,
        log_format: _,
        resync_period,
        watch_namespace,
        shard_selector,
        leader_election,
        lease_name,
        lease_duration,
    } = args;
    // kube and other TLS users may enable both rustls back ends: pick one.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let namespace = namespace
        .or_else(|| std::env::var("POD_NAMESPACE").ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "seal-system".to_owned());
    let client = Client::try_default().await?;
    let registry = Arc::new(KeyRegistry::new(client.clone(), &namespace, key_renew_period));
    let metrics = Arc::new(Metrics::default());

    let http = Arc::new(HttpState {
        metrics: metrics.clone(),
        ready: Default::default(),
        recipients: {
            let r = registry.clone();
            Box::new(move || crate::keys::recipients_text(&r.recipients()))
        },
    });
    let listener = tokio::net::TcpListener::bind(&metrics_address).await?;
    info!(address = %metrics_address, namespace = %namespace, "seal-controller starting");
    tokio::spawn(telemetry::serve(listener, http.clone()));

    // Only the leader writes: wait for the Lease before touching anything.
    let shutdown = Shutdown::new();
    tokio::spawn({
        let shutdown = shutdown.clone();
        async move {
            shutdown_signal().await;
            info!("shutdown requested; finishing in-flight work");
            shutdown.trigger();
        }
    });
    let leadership = if leader_election {
        metrics.set("seal_leader", 0.0);
        // A standby serves the recipients (read-only key load) and reports
        // ready, so that rolling updates and disruption budgets work with
        // several replicas; it writes nothing until it leads.
        let standby = tokio::spawn({
            let (registry, http) = (registry.clone(), http.clone());
            async move {
                loop {
                    match registry.load_readonly().await {
                        Ok(()) => http.ready.store(true, Ordering::Relaxed),
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
    metrics.set("seal_leader", 1.0);
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
    metrics.set("seal_keys_loaded", registry.len() as f64);
    {
        let (registry, metrics) = (registry.clone(), metrics.clone());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(registry.check_interval()).await;
                match registry.sync().await {
                    Ok(()) => metrics.set("seal_keys_loaded", registry.len() as f64),
                    Err(e) => warn!(error = %e, "key renewal check failed"),
                }
            }
        });
    }

    let reporter = Reporter {
        controller: "seal-controller".into(),
        instance: std::env::var("POD_NAME").ok().or_else(|| std::env::var("HOSTNAME").ok()),
    };
    let ctx = Arc::new(Context {
        client: client.clone(),
        registry,
        recorder: Recorder::new(client.clone(), reporter),
        vault: crate::sources::vault::VaultPool::new(8, metrics.clone()),
        metrics,
        resync: resync_period,
        backoff: Default::default(),
        watch_namespaces: watch_namespace.clone(),
    });

    let scopes: Vec<Option<String>> =
        if watch_namespace.is_empty() { vec![None] } else { watch_namespace.iter().cloned().map(Some).collect() };
    let objects_config = match &shard_selector {
        Some(sel) => watcher::Config::default().labels(sel),
        None => watcher::Config::default(),
    };
    let mut runs = Vec::new();
    let mut stores = Vec::new();
    for ns in scopes {
        let sealed: Api<DeserializeGuard<SealedSecret>> = scoped(&client, &ns);
        let owned = owned_secrets(&client, &ns);
        let controller = Controller::new(sealed, objects_config.clone())
            .owns_stream(owned)
            .with_config(kube::runtime::controller::Config::default().concurrency(concurrency))
            .graceful_shutdown_on(shutdown.wait());
        stores.push(controller.store());
        runs.push(
            controller
                .run(sealed::reconcile, error_policy, ctx.clone())
                .for_each(|_| futures::future::ready(()))
                .boxed(),
        );

        let externals: Api<DeserializeGuard<ExternalSecret>> = scoped(&client, &ns);
        let secret_stores: Api<DeserializeGuard<SecretStore>> = scoped(&client, &ns);
        let owned = owned_secrets(&client, &ns);
        let controller = Controller::new(externals, objects_config.clone())
            .owns_stream(owned)
            .with_config(kube::runtime::controller::Config::default().concurrency(concurrency))
            .graceful_shutdown_on(shutdown.wait());
        runs.push(
            controller
                .run(external::reconcile, error_policy, ctx.clone())
                .for_each(|_| futures::future::ready(()))
                .boxed(),
        );
        let controller =
            Controller::new(secret_stores, watcher::Config::default()).graceful_shutdown_on(shutdown.wait());
        runs.push(
            controller
                .run(external::reconcile_store, error_policy, ctx.clone())
                .for_each(|_| futures::future::ready(()))
                .boxed(),
        );
    }
    // ClusterSecretStores are cluster-wide. An instance restricted to some
    // namespaces checks only the stores whose conditions name nothing else
    // (the others are left to the instances serving those namespaces); the
    // shard selector applies to stores too.
    let cluster_stores: Api<DeserializeGuard<ClusterSecretStore>> = Api::all(client.clone());
    let controller = Controller::new(cluster_stores, objects_config.clone()).graceful_shutdown_on(shutdown.wait());
    runs.push(
        controller
            .run(external::reconcile_cluster_store, error_policy, ctx.clone())
            .for_each(|_| futures::future::ready(()))
            .boxed(),
    );
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
        http.ready.store(true, Ordering::Relaxed);
        info!("caches synced; ready");
    });
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

/// The API for a namespaced kind in one namespace, or in all.
fn scoped<K>(client: &Client, ns: &Option<String>) -> Api<K>
where
    K: Resource<Scope = kube::core::NamespaceResourceScope, DynamicType = ()>,
{
    match ns {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
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
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

fn error_policy<K: Resource<DynamicType = ()>>(
    _obj: Arc<DeserializeGuard<K>>,
    err: &Error,
    ctx: Arc<Context>,
) -> Action {
    let kind = kind_label::<K>();
    ctx.metrics.inc("seal_reconcile_total", &[("kind", kind), ("result", "error")]);
    ctx.metrics.inc("seal_reconcile_errors_total", &[("kind", kind), ("reason", err.metric_label())]);
    warn!(error = %err, "reconcile failed; retrying");
    Action::requeue(Duration::from_secs(5))
}

/// Writes the status when it changed (merging `extra` fields), emits a
/// Warning Event on a new failure or drift, counts the reconcile.
pub(crate) async fn finish<K>(
    ctx: &Context,
    obj: &K,
    update: &StatusUpdate,
    extra: serde_json::Value,
    result: &str,
    action: Action,
) -> Result<Action, Error>
where
    K: Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    K::Scope: ScopeKind,
{
    ctx.metrics.inc("seal_reconcile_total", &[("kind", kind_label::<K>()), ("result", status::bounded_reason(result))]);
    if let Some((ty, reason, message)) = update.event_worthy() {
        publish(ctx, obj.object_ref(&()), ty, &reason, &message).await;
    }
    let extra_changed = extra.as_object().is_some_and(|m| !m.is_empty());
    if update.changed().is_some() || extra_changed {
        let st = update.status();
        let mut body = serde_json::json!({
            "observedGeneration": st.observed_generation,
            "conditions": st.conditions,
        });
        // Only ever set `resumed`: a status read from a lagging watch cache
        // must not erase a value a previous reconcile just recorded.
        if let (Some(b), Some(r)) = (body.as_object_mut(), &st.resumed) {
            b.insert("resumed".into(), r.clone().into());
        }
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        let api: Api<K> = K::Scope::api(ctx.client.clone(), obj.meta().namespace.as_deref());
        api.patch_status(
            &obj.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&serde_json::json!({ "status": body })),
        )
        .await?;
    }
    Ok(action)
}

/// Namespaced or cluster-scoped API for a resource.
pub(crate) trait ScopeKind {
    /// The API for `K`.
    fn api<K: Resource<DynamicType = (), Scope = Self>>(client: Client, ns: Option<&str>) -> Api<K>
    where
        Self: Sized;
}

impl ScopeKind for kube::core::NamespaceResourceScope {
    fn api<K: Resource<DynamicType = (), Scope = Self>>(client: Client, ns: Option<&str>) -> Api<K> {
        Api::namespaced(client, ns.unwrap_or_default())
    }
}

impl ScopeKind for kube::core::ClusterResourceScope {
    fn api<K: Resource<DynamicType = (), Scope = Self>>(client: Client, _ns: Option<&str>) -> Api<K> {
        Api::all(client)
    }
}

fn kind_label<K: Resource<DynamicType = ()>>() -> &'static str {
    match K::kind(&()).as_ref() {
        "SealedSecret" => "SealedSecret",
        "ExternalSecret" => "ExternalSecret",
        "SecretStore" => "SecretStore",
        "ClusterSecretStore" => "ClusterSecretStore",
        _ => "Other",
    }
}

/// Publishes an Event about an object (failures to publish are logged).
pub(crate) async fn publish(
    ctx: &Context,
    reference: k8s_openapi::api::core::v1::ObjectReference,
    type_: EventType,
    reason: &str,
    note: &str,
) {
    let ev = Event {
        type_,
        reason: reason.to_owned(),
        note: Some(note.to_owned()),
        action: "Reconcile".into(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&ev, &reference).await {
        warn!(error = %e, "could not publish an Event");
    }
}

/// What happened to a write, for the status.
pub(crate) enum Written {
    /// The Secret holds the desired data.
    Done,
    /// The API server refused (RBAC); the status says so.
    Forbidden,
}

/// Records a write's outcome on the status, in Events, metrics and logs.
/// Errors other than an RBAC refusal are returned (retried with backoff).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn record_write<K: Resource<DynamicType = ()>>(
    ctx: &Context,
    obj: &K,
    update: &mut StatusUpdate,
    written: Result<String, Error>,
    plan: materialize::Plan,
    policy: crate::api::DriftPolicy,
    resume: Option<Option<String>>,
    ok_message: &str,
) -> Result<Written, Error> {
    if let Err(e) = written {
        let Some(message) = e.forbidden() else { return Err(e) };
        // An RBAC refusal: logged and counted like any API error, and shown on
        // the object, whose status the controller may still write.
        warn!(error = %message, "the API server refused to write the Secret");
        ctx.metrics.inc("seal_reconcile_errors_total", &[("kind", kind_label::<K>()), ("reason", "kube_api")]);
        update.ready(status::Outcome::failed(
            "Forbidden",
            &format!("the controller may not write the Secret: {message}"),
        ));
        return Ok(Written::Forbidden);
    }
    if let Some(r) = resume {
        update.resumed(r);
    }
    update.ready(status::Outcome::ok("Materialized", ok_message));
    if plan == materialize::Plan::Revert {
        ctx.metrics.inc("seal_drift_total", &[("policy", sealed::policy_label(policy))]);
        update.drifted_reverted();
        let note = "the Secret was changed or deleted outside seal; the desired data was restored";
        publish(ctx, obj.object_ref(&()), EventType::Warning, "DriftReverted", note).await;
    } else {
        update.not_drifted();
        publish(ctx, obj.object_ref(&()), EventType::Normal, "Materialized", "the Secret was written").await;
    }
    info!(written = true, "materialized");
    Ok(Written::Done)
}

/// The Secrets seal manages, watched by metadata only: no plaintext in any cache.
fn owned_secrets(
    client: &Client,
    ns: &Option<String>,
) -> impl futures::Stream<Item = Result<PartialObjectMeta<Secret>, watcher::Error>> + Send + 'static {
    let secrets: Api<PartialObjectMeta<Secret>> = scoped(client, ns);
    let selector = format!("{}={}", materialize::MANAGED_BY_LABEL, crate::keys::FIELD_MANAGER);
    watcher(secrets, watcher::Config::default().labels(&selector)).touched_objects()
}

/// The write half shared by every source: build the Secret from desired
/// data, server-side apply it, restart workloads when the data changed, and
/// record the outcome. Returns the data HMAC written.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn write_secret(
    ctx: &Context,
    owner: &materialize::Owner<'_>,
    owned: bool,
    template: Option<&crate::api::SecretTemplate>,
    data: &crate::sources::SecretData,
    digest: &str,
    live: Option<&LiveSecret>,
    targets: &[crate::api::RolloutTarget],
) -> Result<String, Error> {
    let hmac_key = ctx.registry.hmac_key_bytes().ok_or(Error::KeysNotLoaded)?;
    let hmac = materialize::data_hmac(&hmac_key[..], &materialize::to_bytestrings(data));
    let mut secret = materialize::build_secret(owner, template, data, &hmac, digest);
    if !owned {
        secret.metadata.owner_references = None;
    }
    materialize::apply_secret(&ctx.client, &secret).await?;
    drop(secret);
    let changed = live.is_some_and(|l| l.actual_hmac != hmac);
    if changed && !targets.is_empty() {
        let stamp = chrono::Utc::now().to_rfc3339();
        for f in materialize::restart_targets(&ctx.client, owner.namespace, targets, &stamp).await {
            warn!(target = %f, "rollout restart failed");
        }
        ctx.metrics.inc("seal_rollout_restarts_total", &[]);
    }
    Ok(hmac)
}
