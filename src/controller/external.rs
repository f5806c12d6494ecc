//! Reconcile of ExternalSecrets (values from Vault/OpenBao) and of the
//! stores themselves. The write path is the one SealedSecrets use.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Secret;
use kube::api::DeleteParams;
use kube::core::DeserializeGuard;
use kube::runtime::controller::Action;
use kube::{Api, Resource, ResourceExt};
use tracing::{Instrument, info, info_span, warn};
use zeroize::Zeroizing;

use super::sealed::{policy_label, report_drift, report_not_owned};
use super::status::{CommonStatus, Outcome, StatusUpdate};
use super::{Context, Error, Written, finish, parse_duration, record_write, write_secret};
use crate::api::external_secret::{CreationPolicy, DeletionPolicy, ExternalSecret};
use crate::api::secret_store::{ClusterSecretStore, SecretStore};
use crate::materialize::{self, LiveSecret, OwnerState, Plan};
use crate::sources::SecretData;
use crate::sources::vault::{ResolvedStore, VaultError};

/// Default refresh interval, as in External Secrets Operator.
const DEFAULT_REFRESH: Duration = Duration::from_secs(3600);

/// The kube-runtime reconcile function for ExternalSecrets.
pub async fn reconcile(obj: Arc<DeserializeGuard<ExternalSecret>>, ctx: Arc<Context>) -> Result<Action, Error> {
    let es = match &obj.0 {
        Ok(es) => es,
        Err(invalid) => {
            let ns = invalid.metadata.namespace.clone().unwrap_or_default();
            let name = invalid.metadata.name.clone().unwrap_or_default();
            warn!(namespace = %ns, name = %name, "an ExternalSecret does not match its schema");
            return Ok(Action::await_change());
        }
    };
    let span = info_span!("reconcile", kind = "ExternalSecret", namespace = %es.namespace().unwrap_or_default(), name = %es.name_any());
    let start = Instant::now();
    let result = reconcile_external(es, &ctx).instrument(span).await;
    ctx.metrics.observe("ExternalSecret", start.elapsed());
    result
}

/// A failure's requeue: exponential per object, independent of the refresh interval.
fn backoff(ctx: &Context, key: &str) -> Duration {
    let mut b = ctx.backoff.lock().unwrap_or_else(|p| p.into_inner());
    let n = b.entry(key.to_owned()).or_insert(0);
    *n = (*n + 1).min(8);
    let base = Duration::from_secs(2u64.pow(*n)).min(Duration::from_secs(300));
    base + jitter(base / 5)
}

fn jitter(max: Duration) -> Duration {
    let mut b = [0u8; 4];
    let _ = getrandom::fill(&mut b);
    let frac = u32::from_le_bytes(b) as f64 / u32::MAX as f64;
    max.mul_f64(frac)
}

/// Finds the store an ExternalSecret names and checks it may use it.
async fn resolve_store(ctx: &Context, es: &ExternalSecret) -> Result<ResolvedStore, (&'static str, String)> {
    let ns = es.namespace().unwrap_or_default();
    let r = &es.spec.secret_store_ref;
    let not_found = |e: kube::Error| ("StoreNotFound", format!("cannot read the store {}: {e}", r.name));
    match r.kind.as_deref().unwrap_or("SecretStore") {
        "ClusterSecretStore" => {
            let api: Api<ClusterSecretStore> = Api::all(ctx.client.clone());
            let s = api
                .get_opt(&r.name)
                .await
                .map_err(not_found)?
                .ok_or_else(|| ("StoreNotFound", format!("ClusterSecretStore {} does not exist", r.name)))?;
            let allowed =
                s.spec.conditions.is_empty() || s.spec.conditions.iter().any(|c| c.namespaces.iter().any(|n| n == &ns));
            if !allowed {
                return Err((
                    "NamespaceNotAllowed",
                    format!("ClusterSecretStore {} does not allow namespace {ns} (spec.conditions)", r.name),
                ));
            }
            Ok(ResolvedStore {
                display: format!("ClusterSecretStore {}", r.name),
                key: format!(
                    "ClusterSecretStore/{}/{}@{}",
                    r.name,
                    s.uid().unwrap_or_default(),
                    s.metadata.generation.unwrap_or_default()
                ),
                provider: s.spec.provider.vault.clone(),
                own_namespace: None,
            })
        }
        "SecretStore" => {
            let api: Api<SecretStore> = Api::namespaced(ctx.client.clone(), &ns);
            let s = api
                .get_opt(&r.name)
                .await
                .map_err(not_found)?
                .ok_or_else(|| ("StoreNotFound", format!("SecretStore {ns}/{} does not exist", r.name)))?;
            Ok(store_of_secret_store(&s))
        }
        other => {
            Err(("StoreNotFound", format!("secretStoreRef.kind {other:?} is not SecretStore or ClusterSecretStore")))
        }
    }
}

fn store_of_secret_store(s: &SecretStore) -> ResolvedStore {
    let ns = s.namespace().unwrap_or_default();
    ResolvedStore {
        display: format!("SecretStore {ns}/{}", s.name_any()),
        key: format!(
            "SecretStore/{ns}/{}/{}@{}",
            s.name_any(),
            s.uid().unwrap_or_default(),
            s.metadata.generation.unwrap_or_default()
        ),
        provider: s.spec.provider.vault.clone(),
        own_namespace: Some(ns),
    }
}

/// Reads every value the ExternalSecret names (each path once).
async fn fetch(
    ctx: &Context,
    es: &ExternalSecret,
    store: &ResolvedStore,
    epoch: u64,
) -> Result<SecretData, VaultError> {
    let mut data = SecretData::default();
    for d in &es.spec.data {
        let r = &d.remote_ref;
        let secret = ctx.vault.read(&ctx.client, store, &r.key, r.version.as_deref(), epoch).await?;
        let value: Zeroizing<Vec<u8>> = match &r.property {
            Some(p) => match secret.0.get(p) {
                Some(v) => Zeroizing::new(v.as_bytes().to_vec()),
                None => {
                    return Err(VaultError::PropertyNotFound(format!(
                        "{}: {} has no property {p:?}",
                        store.display, r.key
                    )));
                }
            },
            None => {
                let map: serde_json::Map<String, serde_json::Value> =
                    secret.0.iter().map(|(k, v)| (k.clone(), serde_json::Value::String(v.to_string()))).collect();
                Zeroizing::new(serde_json::to_vec(&map).unwrap_or_default())
            }
        };
        data.0.insert(d.secret_key.clone(), value);
    }
    for df in &es.spec.data_from {
        if let Some(r) = &df.extract {
            let secret = ctx.vault.read(&ctx.client, store, &r.key, r.version.as_deref(), epoch).await?;
            for (k, v) in &secret.0 {
                data.0.insert(k.clone(), Zeroizing::new(v.as_bytes().to_vec()));
            }
        }
    }
    Ok(data)
}

async fn reconcile_external(es: &ExternalSecret, ctx: &Context) -> Result<Action, Error> {
    let ns = es.namespace().unwrap_or_default();
    let name = es.name_any();
    let uid = es.uid().unwrap_or_default();
    let object_key = format!("{ns}/{name}");
    let status = es.status.clone().unwrap_or_default();
    let common = CommonStatus {
        observed_generation: status.observed_generation,
        conditions: status.conditions.clone(),
        resumed: status.resumed.clone(),
    };
    let mut update = StatusUpdate::new(common, es.metadata.generation);
    let no_extra = serde_json::json!({});

    if es.spec.suspend == Some(true) {
        update.ready(Outcome::failed("Suspended", "spec.suspend is true: the Secret is left as it is"));
        return finish(ctx, es, &update, no_extra, "Suspended", Action::await_change()).await;
    }
    let interval = match es.spec.refresh_interval.as_deref() {
        None => DEFAULT_REFRESH,
        Some(s) => match parse_duration(s) {
            Ok(d) => d,
            Err(e) => {
                update.ready(Outcome::failed("InvalidDocument", &format!("spec.refreshInterval: {e}")));
                return finish(ctx, es, &update, no_extra, "InvalidDocument", Action::await_change()).await;
            }
        },
    };
    let store = match resolve_store(ctx, es).await {
        Ok(s) => s,
        Err((reason, message)) => {
            update.ready(Outcome::failed(reason, &message));
            let retry = backoff(ctx, &object_key);
            return finish(ctx, es, &update, no_extra, reason, Action::requeue(retry)).await;
        }
    };
    let target_name = es.spec.target.name.clone().unwrap_or_else(|| name.clone());
    let creation = es.spec.target.creation_policy.unwrap_or_default();
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &ns);
    let hmac_key = ctx.registry.hmac_key_bytes().ok_or(Error::KeysNotLoaded)?;
    let current = secrets.get_opt(&target_name).await?;
    let live = current.as_ref().map(|s| LiveSecret::observe(s, &uid, &hmac_key[..]));
    drop(current);

    let epoch = now_secs() / interval.as_secs().max(1);
    let data = match fetch(ctx, es, &store, epoch).await {
        Ok(d) => d,
        Err(e) => {
            // Only a plain "gone" from Vault deletes, and only if asked to.
            let gone = matches!(e, VaultError::NotFound(_));
            let delete = es.spec.target.deletion_policy == Some(DeletionPolicy::Delete);
            if gone && delete && live.as_ref().is_some_and(|l| l.owned) {
                secrets.delete(&target_name, &DeleteParams::default()).await?;
                update.ready(Outcome::failed(
                    e.reason(),
                    &format!("{e}; the Secret was deleted (deletionPolicy Delete)"),
                ));
                info!(deleted = true, "the store no longer has the values");
            } else {
                update.ready(Outcome::failed(e.reason(), &format!("{e}; the existing Secret is kept")));
            }
            let retry = backoff(ctx, &object_key);
            return finish(ctx, es, &update, no_extra, e.reason(), Action::requeue(retry)).await;
        }
    };
    ctx.backoff.lock().unwrap_or_else(|p| p.into_inner()).remove(&object_key);
    let invalid: BTreeSet<&str> = data
        .keys()
        .filter(|k| k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        .collect();
    if !invalid.is_empty() {
        let msg = format!("{} are not valid Secret keys", invalid.into_iter().collect::<Vec<_>>().join(", "));
        update.ready(Outcome::failed("InvalidDocument", &msg));
        return finish(ctx, es, &update, no_extra, "InvalidDocument", Action::requeue(interval)).await;
    }
    let desired_hmac = materialize::data_hmac(&hmac_key[..], &materialize::to_bytestrings(&data));
    let spec_json = serde_json::to_vec(&es.spec).unwrap_or_default();
    let digest = materialize::input_digest(&[&spec_json, desired_hmac.as_bytes(), target_name.as_bytes()]);

    let resume = es.annotations().get(materialize::RESUME_ANNOTATION).cloned();
    let policy = es.spec.drift_policy.unwrap_or_default();
    let owner_state = OwnerState::new(
        policy,
        es.metadata.generation,
        resume.as_deref(),
        status.observed_generation,
        status.resumed.as_deref(),
        super::status::is_ready(&status.conditions),
        live.as_ref(),
    );
    let plan = match (creation, &live) {
        // Merging into a Secret someone else owns: seal's keys only, no drift tracking.
        (CreationPolicy::Merge, None) => {
            update.ready(Outcome::failed(
                "SecretNotFound",
                &format!("creationPolicy Merge needs an existing Secret {target_name}"),
            ));
            return finish(ctx, es, &update, no_extra, "SecretNotFound", Action::requeue(interval)).await;
        }
        (CreationPolicy::Merge, Some(l)) if l.recorded_digest.as_deref() == Some(digest.as_str()) => Plan::UpToDate,
        (CreationPolicy::Merge, Some(_)) => Plan::Write,
        _ => materialize::plan(live.as_ref(), &digest, owner_state),
    };
    let mut extra = serde_json::json!({});
    match plan {
        Plan::UpToDate => {
            update.ready(Outcome::ok("Materialized", "the Secret holds the store's current values"));
            update.not_drifted();
        }
        Plan::NotOwned => report_not_owned(&mut update, &target_name),
        Plan::Alert | Plan::Paused | Plan::DeletedLeft => {
            ctx.metrics.inc("seal_drift_total", &[("policy", policy_label(policy))]);
            report_drift(&mut update, plan, live.is_some());
        }
        Plan::Write | Plan::Revert => {
            let owner = materialize::Owner {
                api_version: &ExternalSecret::api_version(&()),
                kind: &ExternalSecret::kind(&()),
                name: &name,
                secret_name: &target_name,
                namespace: &ns,
                uid: &uid,
                generation: es.metadata.generation,
                resume: resume.as_deref(),
            };
            let owned = creation == CreationPolicy::Owner;
            let template = es.spec.target.template.as_ref();
            let written = write_secret(
                ctx,
                &owner,
                owned,
                template,
                &data,
                &digest,
                live.as_ref(),
                &es.spec.rollout_restart_targets,
            )
            .await;
            let resume = owner_state.resume_requested.then(|| resume.clone());
            let ok = "the Secret holds the store's current values";
            if let Written::Forbidden = record_write(ctx, es, &mut update, written, plan, policy, resume, ok).await? {
                let retry = backoff(ctx, &object_key);
                return finish(ctx, es, &update, no_extra, "Forbidden", Action::requeue(retry)).await;
            }
            extra = serde_json::json!({ "refreshTime": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string() });
        }
    }
    drop(data);
    let label = update.ready_reason().to_owned();
    let next = interval + jitter(interval / 10);
    finish(ctx, es, &update, extra, &label, Action::requeue(next)).await
}

fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default()
}

/// Reconcile of a SecretStore: Ready when the controller can authenticate.
pub async fn reconcile_store(obj: Arc<DeserializeGuard<SecretStore>>, ctx: Arc<Context>) -> Result<Action, Error> {
    let Ok(s) = &obj.0 else { return Ok(Action::await_change()) };
    let store = store_of_secret_store(s);
    let status = s.status.clone().unwrap_or_default();
    check_store(&ctx, s, &store, status.conditions, status.observed_generation).await
}

/// Reconcile of a ClusterSecretStore: Ready when the controller can authenticate.
pub async fn reconcile_cluster_store(
    obj: Arc<DeserializeGuard<ClusterSecretStore>>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    let Ok(s) = &obj.0 else { return Ok(Action::await_change()) };
    if !ctx.watch_namespaces.is_empty() {
        let names: Vec<&String> = s.spec.conditions.iter().flat_map(|c| &c.namespaces).collect();
        if names.is_empty() || names.iter().any(|n| !ctx.watch_namespaces.contains(n)) {
            return Ok(Action::await_change());
        }
    }
    let store = ResolvedStore {
        display: format!("ClusterSecretStore {}", s.name_any()),
        key: format!(
            "ClusterSecretStore/{}/{}@{}",
            s.name_any(),
            s.uid().unwrap_or_default(),
            s.metadata.generation.unwrap_or_default()
        ),
        provider: s.spec.provider.vault.clone(),
        own_namespace: None,
    };
    let status = s.status.clone().unwrap_or_default();
    check_store(&ctx, s, &store, status.conditions, status.observed_generation).await
}

async fn check_store<K>(
    ctx: &Context,
    obj: &K,
    store: &ResolvedStore,
    conditions: Vec<crate::api::Condition>,
    observed: Option<i64>,
) -> Result<Action, Error>
where
    K: Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    K::Scope: super::ScopeKind,
{
    let mut update = StatusUpdate::new(
        CommonStatus { observed_generation: observed, conditions, resumed: None },
        obj.meta().generation,
    );
    let (reason, action) = match ctx.vault.client(&ctx.client, store).await {
        Ok(_) => {
            update.ready(Outcome::ok("Authenticated", "the controller is logged in to the store"));
            ("Authenticated", Action::requeue(Duration::from_secs(300)))
        }
        Err(e) => {
            update.ready(Outcome::failed(e.reason(), &e.to_string()));
            (e.reason(), Action::requeue(Duration::from_secs(30)))
        }
    };
    finish(ctx, obj, &update, serde_json::json!({}), reason, action).await
}
