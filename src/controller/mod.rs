//! `seal-controller`: wires the key registry, the sources, the materializer
//! and telemetry into a kube-runtime `Controller`.
//!
//! Reconcile of a SealedSecret, in order: read the live Secret (metadata and
//! an HMAC of its data, never kept); decide (`materialize::plan`) whether the
//! inputs or the data changed; only then decrypt (`sources::sealed`) and
//! server-side apply; finally write status and Events when they change.

pub mod status;

use std::ffi::OsString;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Patch, PatchParams};
use kube::core::DeserializeGuard;
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use tracing::{Instrument, info, info_span, warn};

use crate::api::{DriftPolicy, SealedSecret};
use crate::keys::KeyRegistry;
use crate::materialize::{self, LiveSecret, OwnerState, Plan};
use crate::sources::sealed::{SealedError, desired_data};
use crate::telemetry::{self, HttpState, Metrics};
use status::{Outcome, StatusUpdate};

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
        metrics,
        resync: resync_period,
    });

    let scopes: Vec<Option<String>> =
        if watch_namespace.is_empty() { vec![None] } else { watch_namespace.into_iter().map(Some).collect() };
    let mut runs = Vec::new();
    let mut stores = Vec::new();
    for ns in scopes {
        let (sealed, secrets): (Api<DeserializeGuard<SealedSecret>>, Api<PartialObjectMeta<Secret>>) = match &ns {
            Some(ns) => (Api::namespaced(client.clone(), ns), Api::namespaced(client.clone(), ns)),
            None => (Api::all(client.clone()), Api::all(client.clone())),
        };
        // Secrets are watched by metadata only: no plaintext in any cache.
        let owned = watcher(
            secrets,
            watcher::Config::default().labels(&format!(
                "{}={}",
                materialize::MANAGED_BY_LABEL,
                crate::keys::FIELD_MANAGER
            )),
        )
        .touched_objects();
        let controller = Controller::new(sealed, watcher::Config::default())
            .owns_stream(owned)
            .with_config(kube::runtime::controller::Config::default().concurrency(concurrency))
            .graceful_shutdown_on(shutdown_signal());
        stores.push(controller.store());
        runs.push(controller.run(reconcile, error_policy, ctx.clone()).for_each(|_| futures::future::ready(())));
    }
    tokio::spawn(async move {
        for s in stores {
            if s.wait_until_ready().await.is_err() {
                return;
            }
        }
        http.ready.store(true, Ordering::Relaxed);
        info!("caches synced; ready");
    });
    futures::future::join_all(runs).await;
    info!("seal-controller stopped");
    Ok(())
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

fn error_policy(_obj: Arc<DeserializeGuard<SealedSecret>>, err: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics.inc("seal_reconcile_total", &[("kind", "SealedSecret"), ("result", "error")]);
    ctx.metrics.inc("seal_reconcile_errors_total", &[("kind", "SealedSecret"), ("reason", err.metric_label())]);
    warn!(error = %err, "reconcile failed; retrying");
    Action::requeue(Duration::from_secs(5))
}

async fn reconcile(obj: Arc<DeserializeGuard<SealedSecret>>, ctx: Arc<Context>) -> Result<Action, Error> {
    let ss = match &obj.0 {
        Ok(ss) => ss,
        Err(invalid) => {
            // The object does not match the schema: report it by name only
            // (serde's message could quote a value).
            let ns = invalid.metadata.namespace.clone().unwrap_or_default();
            let name = invalid.metadata.name.clone().unwrap_or_default();
            warn!(namespace = %ns, name = %name, "a SealedSecret does not match its schema");
            ctx.metrics.inc("seal_reconcile_total", &[("kind", "SealedSecret"), ("result", "InvalidDocument")]);
            return Ok(Action::await_change());
        }
    };
    let span = info_span!("reconcile", namespace = %ss.namespace().unwrap_or_default(), name = %ss.name_any());
    let start = Instant::now();
    let result = reconcile_sealed(ss, &ctx).instrument(span).await;
    ctx.metrics.observe("SealedSecret", start.elapsed());
    result
}

async fn reconcile_sealed(ss: &SealedSecret, ctx: &Context) -> Result<Action, Error> {
    let ns = ss.namespace().unwrap_or_default();
    let name = ss.name_any();
    let uid = ss.uid().unwrap_or_default();
    let generation = ss.metadata.generation;
    let status = ss.status.clone().unwrap_or_default();
    let mut update = StatusUpdate::new(&status, generation);

    if ss.spec.suspend == Some(true) {
        update.ready(Outcome::failed("Suspended", "spec.suspend is true: the Secret is left as it is"));
        return finish(ss, ctx, update, "Suspended", Action::await_change()).await;
    }

    let hmac_key = ctx.registry.hmac_key_bytes().ok_or(Error::KeysNotLoaded)?;
    let recipients = ctx.registry.recipients().join(",");
    let spec_json = serde_json::to_vec(&ss.spec).unwrap_or_default();
    let sops_json = serde_json::to_vec(&ss.sops).unwrap_or_default();
    let digest =
        materialize::input_digest(&[&spec_json, &sops_json, recipients.as_bytes(), ns.as_bytes(), name.as_bytes()]);

    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &ns);
    let current = secrets.get_opt(&name).await?;
    let live = current.as_ref().map(|s| LiveSecret::observe(s, &uid, &hmac_key[..]));
    let resume = ss.annotations().get(materialize::RESUME_ANNOTATION).cloned();
    let policy = ss.spec.drift_policy.unwrap_or_default();
    let owner_state = OwnerState {
        policy,
        spec_changed: status.observed_generation.is_some() && status.observed_generation != generation,
        resume_requested: resume.is_some() && resume != status.resumed,
        was_materialized: status::is_ready(&status),
    };
    let plan = materialize::plan(live.as_ref(), &digest, owner_state);
    let policy_label = match policy {
        DriftPolicy::Revert => "Revert",
        DriftPolicy::Alert => "Alert",
        DriftPolicy::Pause => "Pause",
    };
    match plan {
        Plan::UpToDate => {
            update.ready(Outcome::ok("Materialized", "the Secret holds the desired data"));
            update.not_drifted();
        }
        Plan::NotOwned => {
            update.ready(Outcome::failed(
                "SecretNotOwned",
                &format!(
                    "a Secret named {name} exists and is not owned by this SealedSecret; it is left alone. Delete it, or annotate it {}=\"true\" to let seal take it over",
                    materialize::ADOPT_ANNOTATION
                ),
            ));
        }
        Plan::Alert | Plan::Paused | Plan::DeletedLeft => {
            ctx.metrics.inc("seal_drift_total", &[("policy", policy_label)]);
            let (reason, what) = match (plan, live.is_some()) {
                (Plan::Paused, true) => (
                    "DriftPaused",
                    "the Secret's data was changed outside seal; driftPolicy Pause: seal stops writing it until the spec changes or the seal.dev/resume annotation gets a new value",
                ),
                (_, true) => (
                    "DriftDetected",
                    "the Secret's data was changed outside seal; driftPolicy Alert: the change is left in place",
                ),
                (Plan::Paused, false) => (
                    "DriftPaused",
                    "the Secret was deleted outside seal; driftPolicy Pause: it is not recreated until the spec changes or the seal.dev/resume annotation gets a new value",
                ),
                _ => ("DriftDetected", "the Secret was deleted outside seal; driftPolicy Alert: it is not recreated"),
            };
            update.ready(Outcome::ok("Materialized", "the Secret was materialized; see the Drifted condition"));
            update.drifted(reason, what);
        }
        Plan::Write | Plan::Revert => {
            ctx.metrics.inc("seal_decrypt_total", &[]);
            let ids = ctx.registry.identities();
            match desired_data(ss, &ids) {
                Err(e) => {
                    ctx.metrics.inc("seal_decrypt_errors_total", &[("reason", e.reason())]);
                    update.ready(Outcome::failed(e.reason(), &e.to_string()));
                    let retry = match e {
                        SealedError::NoMatchingKey(_) => Duration::from_secs(60),
                        _ => ctx.resync,
                    };
                    return finish(ss, ctx, update, e.reason(), Action::requeue(retry)).await;
                }
                Ok(data) => {
                    let bytes = materialize::to_bytestrings(&data);
                    let hmac = materialize::data_hmac(&hmac_key[..], &bytes);
                    drop(bytes);
                    let owner = materialize::Owner {
                        api_version: &SealedSecret::api_version(&()),
                        kind: &SealedSecret::kind(&()),
                        name: &name,
                        namespace: &ns,
                        uid: &uid,
                    };
                    let secret = materialize::build_secret(&owner, ss.spec.template.as_ref(), &data, &hmac, &digest);
                    drop(data);
                    materialize::apply_secret(&ctx.client, &secret).await?;
                    drop(secret);
                    let changed = live.as_ref().is_some_and(|l| l.actual_hmac != hmac);
                    if changed && !ss.spec.rollout_restart_targets.is_empty() {
                        let stamp = chrono::Utc::now().to_rfc3339();
                        for f in
                            materialize::restart_targets(&ctx.client, &ns, &ss.spec.rollout_restart_targets, &stamp)
                                .await
                        {
                            warn!(target = %f, "rollout restart failed");
                        }
                    }
                    if owner_state.resume_requested {
                        update.resumed(resume.clone());
                    }
                    update.ready(Outcome::ok("Materialized", "the Secret holds the desired data"));
                    if plan == Plan::Revert {
                        ctx.metrics.inc("seal_drift_total", &[("policy", policy_label)]);
                        update.drifted_reverted();
                        publish(
                            ctx,
                            ss,
                            EventType::Warning,
                            "DriftReverted",
                            "the Secret was changed or deleted outside seal; the desired data was restored",
                        )
                        .await;
                    } else {
                        update.not_drifted();
                        publish(ctx, ss, EventType::Normal, "Materialized", "the Secret was written").await;
                    }
                    info!(written = true, "materialized");
                }
            }
        }
    }
    let label = update.ready_reason().to_owned();
    let resync = ctx.resync;
    finish(ss, ctx, update, &label, Action::requeue(resync)).await
}

/// Writes the status when it changed, emits an Event on a change of
/// outcome, counts the reconcile.
async fn finish(
    ss: &SealedSecret,
    ctx: &Context,
    update: StatusUpdate,
    result: &str,
    action: Action,
) -> Result<Action, Error> {
    ctx.metrics.inc("seal_reconcile_total", &[("kind", "SealedSecret"), ("result", status::bounded_reason(result))]);
    if let Some((ty, reason, message)) = update.event_worthy() {
        publish(ctx, ss, ty, &reason, &message).await;
    }
    if let Some(new_status) = update.changed() {
        let api: Api<SealedSecret> = Api::namespaced(ctx.client.clone(), &ss.namespace().unwrap_or_default());
        let body = serde_json::json!({"status": new_status});
        api.patch_status(&ss.name_any(), &PatchParams::default(), &Patch::Merge(&body)).await?;
    }
    Ok(action)
}

async fn publish(ctx: &Context, ss: &SealedSecret, type_: EventType, reason: &str, note: &str) {
    let ev = Event {
        type_,
        reason: reason.to_owned(),
        note: Some(note.to_owned()),
        action: "Reconcile".into(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&ev, &ss.object_ref(&())).await {
        warn!(error = %e, "could not publish an Event");
    }
}
