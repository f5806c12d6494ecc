//! The one reconcile flow, for every source: observe (the object, the live
//! Secret's metadata and an HMAC of its data — never kept), decide
//! ([`materialize::plan`], pure), write (only when the plan says so, and
//! only then make the data: a SealedSecret is decrypted only here), report
//! (status and Events when something changed, metrics always).

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::FutureExt;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::core::DeserializeGuard;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Api, Resource, ResourceExt};
use tracing::{Instrument, info, info_span, warn};

use super::cache::CACHED_HMAC_ANNOTATION;
use super::events;
use super::report::{self, Reported, StatusUpdate};
use super::{Context, Error};
use crate::api::Reason;
use crate::materialize::{self, LiveSecret, OwnerState, Plan, apply};
use crate::sources::{Retry, Source, SourceError};
use crate::telemetry::metrics::ResultLabel;

/// The kube-runtime reconcile function of every source kind.
pub async fn reconcile<S: Source + Reported>(
    obj: Arc<DeserializeGuard<S>>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    guarded(&obj, &ctx, |s| run(s, &ctx)).await
}

/// What every reconcile of every kind goes through around its own steps
/// (`body`): an object that does not match its schema is logged by name and
/// counted, never reconciled; the reconcile runs in a span naming the
/// object; a panic in it (a bug, or a dependency that panics on input)
/// becomes an `InternalError` status on that object, retried with backoff,
/// never a process exit that would stop every other object in the cluster;
/// its duration is recorded under the object's kind.
pub async fn guarded<'a, K, F, Fut>(obj: &'a DeserializeGuard<K>, ctx: &'a Context, body: F) -> Result<Action, Error>
where
    K: Reported,
    F: FnOnce(&'a K) -> Fut,
    Fut: std::future::Future<Output = Result<Action, Error>> + 'a,
{
    let kind = super::kind_label::<K>();
    let k = match &obj.0 {
        Ok(k) => k,
        Err(invalid) => {
            // Reported by name only (serde's message could quote a value).
            let ns = invalid.metadata.namespace.clone().unwrap_or_default();
            let name = invalid.metadata.name.clone().unwrap_or_default();
            warn!(kind, namespace = %ns, name = %name, "an object does not match its schema");
            ctx.metrics.reconciled(kind, ResultLabel::Reason(Reason::InvalidDocument));
            return Ok(Action::await_change());
        }
    };
    let span = info_span!("reconcile", kind, namespace = %k.namespace().unwrap_or_default(), name = %k.name_any());
    let start = Instant::now();
    let result = match std::panic::AssertUnwindSafe(body(k).instrument(span.clone())).catch_unwind().await {
        Ok(r) => r,
        Err(_) => panicked(k, ctx).instrument(span).await,
    };
    ctx.metrics.observe(kind, start.elapsed());
    result
}

/// Reports a reconcile that panicked: logged (without the panic's
/// message, which could quote input), counted, shown on the object, retried
/// with backoff.
async fn panicked<K: Reported>(obj: &K, ctx: &Context) -> Result<Action, Error> {
    let kind = super::kind_label::<K>();
    tracing::error!("the reconcile panicked; the object is retried with backoff");
    ctx.metrics.reconcile_failed(kind, "panic");
    let mut update = StatusUpdate::new(obj.common_status(), obj.meta().generation);
    update.failed(
        Reason::InternalError,
        "seal-controller failed on this object (an internal error, see its log); it is retried with backoff. What it wrote before is kept",
    );
    let retry = ctx.backoff.next(&key_of::<K>(obj.meta()));
    finish(ctx, obj, &update, Vec::new(), Action::requeue(retry)).await
}

/// A stable key for per-object state (backoff).
fn object_key<S: Source>(obj: &S) -> String {
    key_of::<S>(obj.meta())
}

/// The per-object state key of an object of kind `K`, from its metadata
/// alone, so that the watch can name the entry of an object it saw deleted.
pub fn key_of<K: Resource<DynamicType = ()>>(meta: &ObjectMeta) -> String {
    let name = meta.name.as_deref().or(meta.generate_name.as_deref()).unwrap_or_default();
    format!("{}/{}/{name}", super::kind_label::<K>(), meta.namespace.as_deref().unwrap_or_default())
}

async fn run<S: Source + Reported>(obj: &S, ctx: &Context) -> Result<Action, Error> {
    let common = obj.common();
    let ns = obj.namespace().unwrap_or_default();
    let name = obj.name_any();
    let uid = obj.uid().unwrap_or_default();
    let key = object_key(obj);
    let mut update = StatusUpdate::new(common.status.clone(), obj.meta().generation);

    if common.suspend {
        update.failed(Reason::Suspended, "spec.suspend is true: the Secret is left as it is");
        return finish(ctx, obj, &update, Vec::new(), Action::await_change()).await;
    }

    if let Err(message) = materialize::check_template(common.template.as_deref(), &ctx.refused_annotation_prefixes) {
        let e = SourceError::new(Reason::TemplateRefused, message, Retry::AwaitChange);
        return failed(ctx, obj, update, e, false).await;
    }
    let hmac_key = ctx.sources.registry.hmac_key_bytes().ok_or(Error::KeysNotLoaded)?;
    let desired = match obj.desired(&ctx.sources).await {
        Ok(d) => d,
        Err(e) => return failed(ctx, obj, update, e, common.delete_when_gone).await,
    };

    let resume = obj.annotations().get(materialize::RESUME_ANNOTATION).cloned();
    let decide = |live: Option<&LiveSecret>| {
        let owner_state = OwnerState::new(
            common.drift_policy,
            obj.meta().generation,
            resume.as_deref(),
            common.status.observed_generation,
            common.status.resumed.as_deref(),
            report::is_ready(&common.status.conditions),
            live,
        );
        (materialize::plan(live, &desired.digest, desired.ownership, owner_state), owner_state)
    };
    // The watch cache of managed Secrets answers the common case, a Secret
    // that already holds the desired data, without a request. Anything else
    // (no entry: a new object or a Secret seal does not manage; or a write
    // due, which the cache may only think is due because it lags) is
    // decided on a fresh read.
    let cached = ctx.secrets.get(&ns, &common.secret_name).and_then(|s| {
        let hmac = s.annotations().get(CACHED_HMAC_ANNOTATION)?.clone();
        Some(LiveSecret::observe_with_hmac(&s, &uid, &name, hmac))
    });
    let (live, (plan, owner_state)) = match cached {
        Some(l) if decide(Some(&l)).0 == Plan::UpToDate => {
            let decided = decide(Some(&l));
            (Some(l), decided)
        }
        _ => {
            let secrets: Api<Secret> = Api::namespaced(ctx.sources.client.clone(), &ns);
            let current = secrets.get_opt(&common.secret_name).await?;
            let live = current.as_ref().map(|s| LiveSecret::observe(s, &uid, &name, &hmac_key[..]));
            drop(current);
            let decided = decide(live.as_ref());
            (live, decided)
        }
    };
    let mut record = Vec::new();
    match plan {
        Plan::UpToDate => {
            update.ready(Reason::Materialized, S::OK_MESSAGE);
            update.not_drifted();
            record = desired.record;
        }
        Plan::NotOwned => update.not_owned(&common.secret_name),
        Plan::MergeTargetMissing => update.failed(
            Reason::SecretNotFound,
            &format!("creationPolicy Merge needs an existing Secret {}", common.secret_name),
        ),
        Plan::MergeNotAllowed => update.failed(
            Reason::SecretNotOwned,
            &format!(
                "creationPolicy Merge: Secret {} has not consented; its owner must annotate it {}: \"{name}\"",
                common.secret_name,
                materialize::ALLOW_MERGE_ANNOTATION
            ),
        ),
        Plan::Alert | Plan::Paused | Plan::DeletedLeft => {
            ctx.metrics.drifted(common.drift_policy);
            update.drift_left(plan == Plan::Paused, live.is_some());
        }
        Plan::Write | Plan::Revert => {
            let made = match desired.data {
                Some(d) => d,
                None => match obj.data(&ctx.sources).await {
                    Ok(d) => d,
                    Err(e) => {
                        return failed(ctx, obj, update, e, false).await;
                    }
                },
            };
            let (data, template) = match with_rendered_metadata(common.template.as_deref(), made, ctx) {
                Ok(d) => d,
                Err(e) => return failed(ctx, obj, update, e, false).await,
            };
            let invalid = materialize::invalid_keys(&data);
            if !invalid.is_empty() {
                // Counted, not named: a key can be template output or come
                // from the store's values.
                let message = format!(
                    "{} of the Secret's keys are not valid Secret keys (letters, digits, '-', '_' and '.'; at most 253 characters)",
                    invalid.len()
                );
                let e = SourceError::new(Reason::InvalidDocument, message, Retry::Resync);
                return failed(ctx, obj, update, e, false).await;
            }
            let api_version = S::api_version(&());
            let kind = S::kind(&());
            let target = materialize::Target {
                owner: materialize::Owner {
                    api_version: &api_version,
                    kind: &kind,
                    name: &name,
                    secret_name: &common.secret_name,
                    namespace: &ns,
                    uid: &uid,
                    generation: obj.meta().generation,
                    resume: resume.as_deref(),
                },
                ownership: desired.ownership,
                template: template.as_ref(),
                restart: common.rollout_restart_targets,
            };
            let written =
                apply::write(&ctx.sources.client, &hmac_key[..], &target, &data, &desired.digest, live.as_ref()).await;
            drop(data);
            match written {
                Ok(w) => {
                    if w.data_changed && !common.rollout_restart_targets.is_empty() {
                        ctx.metrics.rollout_restarted();
                    }
                    if !w.restart_failures.is_empty() {
                        let note = format!("not restarted: {}", w.restart_failures.join("; "));
                        warn!(targets = %note, "rollout restart refused or failed");
                        let obj_ref = obj.object_ref(&());
                        events::publish(ctx, obj_ref, EventType::Warning, Reason::RestartRefused, &note).await;
                    }
                    if owner_state.resume_requested {
                        update.resumed(resume.clone());
                    }
                    update.ready(Reason::Materialized, S::OK_MESSAGE);
                    let obj_ref = obj.object_ref(&());
                    if plan == Plan::Revert {
                        ctx.metrics.drifted(common.drift_policy);
                        update.drifted_reverted();
                        let note = "the Secret was changed or deleted outside seal; the desired data was restored";
                        events::publish(ctx, obj_ref, EventType::Warning, Reason::DriftReverted, note).await;
                    } else {
                        update.not_drifted();
                        events::publish(
                            ctx,
                            obj_ref,
                            EventType::Normal,
                            Reason::Materialized,
                            "the Secret was written",
                        )
                        .await;
                    }
                    info!(written = true, "materialized");
                    record = desired.record;
                    if S::RECORDS_REFRESH_TIME {
                        record.push(("refreshTime", chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()));
                    }
                }
                Err(e) => match write_refusal(&e, live.as_ref().is_some_and(|l| l.immutable)) {
                    Some((reason, message)) => {
                        // The API server refused the Secret as written: shown
                        // on the object and retried with backoff, not in a
                        // tight loop that decrypts each time.
                        warn!(error = %message, reason = %reason, "the API server refused to write the Secret");
                        ctx.metrics.reconcile_failed(super::kind_label::<S>(), "kube_api");
                        update.failed(reason, &message);
                        let retry = ctx.backoff.next(&key);
                        return finish(ctx, obj, &update, Vec::new(), Action::requeue(retry)).await;
                    }
                    None => return Err(e.into()),
                },
            }
        }
    }
    ctx.backoff.reset(&key);
    let requeue = desired.requeue.unwrap_or(ctx.resync);
    let extra = record.into_iter().map(|(k, v)| (k, v.into())).collect();
    finish(ctx, obj, &update, extra, Action::requeue(requeue)).await
}

/// The data and the template the Secret is written with: the template's
/// metadata replaced by what the source rendered (ESO's templated labels,
/// annotations and `templateFrom` targets). The rendered keys pass the same
/// deny-list as the template's own (checked before anything was read); a
/// refusal here can only come from a key a template made: it is not named.
fn with_rendered_metadata(
    template: Option<&crate::api::SecretTemplate>,
    made: crate::sources::Made,
    ctx: &Context,
) -> Result<(crate::sources::SecretData, Option<crate::api::SecretTemplate>), SourceError> {
    let Some(metadata) = made.metadata else { return Ok((made.data, template.cloned())) };
    let rendered = crate::api::SecretTemplate { metadata: Some(metadata), ..template.cloned().unwrap_or_default() };
    if materialize::check_template(Some(&rendered), &ctx.refused_annotation_prefixes).is_err() {
        return Err(SourceError::new(
            Reason::TemplateRefused,
            "spec.target.template.templateFrom rendered a label or annotation key seal refuses (seal.dev/, kubernetes.io/ and k8s.io/ keys are reserved, and Secret replicators' annotations refused); the key is not shown, as it is template output",
            Retry::Backoff,
        ));
    }
    Ok((made.data, Some(rendered)))
}

/// The reason and message for an API refusal of a Secret write that the
/// object's status should show; `None` for failures worth a plain retry
/// (server errors, timeouts, conflicts). `immutable`: the live Secret is
/// immutable, the usual cause of a refused change.
///
/// A validation refusal (400, 413, 422) is never repeated as the API server
/// wrote it, nor logged: it can quote the Secret's values (a
/// `dockerconfigjson` that is not JSON, a label value). It is given as its
/// code, its reason and those of its causes, each with the top of its field
/// path (`data`, not `data[KEY]`: key names can be template output). An
/// RBAC refusal (403) is repeated: the authorizer writes it from the
/// request's verb, resource, namespace and user, never from its body, and
/// it names the rule to grant.
pub fn write_refusal(e: &kube::Error, immutable: bool) -> Option<(Reason, String)> {
    let kube::Error::Api(s) = e else { return None };
    match s.code {
        403 => Some((Reason::Forbidden, format!("the controller may not write the Secret: {}", s.message))),
        400 | 413 | 422 => {
            let causes: Vec<String> = s
                .details
                .iter()
                .flat_map(|d| d.causes.iter())
                .take(4)
                .map(|c| {
                    let field: String =
                        c.field.chars().take_while(|ch| *ch != '[').take(64).filter(|ch| !ch.is_control()).collect();
                    let reason: String = c.reason.chars().filter(char::is_ascii_alphanumeric).take(64).collect();
                    if field.is_empty() { reason } else { format!("{reason} at {field}") }
                })
                .collect();
            let mut why =
                format!("{} {}", s.code, s.reason.chars().filter(char::is_ascii_alphanumeric).collect::<String>());
            if !causes.is_empty() {
                why.push_str(&format!(": {}", causes.join(", ")));
            }
            let hint = if immutable {
                "the Secret is immutable and its data changed: delete it to let seal write the new values"
            } else {
                "check the Secret's type against its keys and values, its size, and the template's labels and annotations"
            };
            Some((
                Reason::WriteFailed,
                format!(
                    "the API server refused the Secret ({why}); its message is not shown, as it can quote the Secret's values: {hint}"
                ),
            ))
        }
        _ => None,
    }
}

/// Reports a source failure: the status, an Event if new, the retry; a
/// Secret whose values are gone is deleted only when the object asks for it
/// (`delete_when_gone`).
async fn failed<S: Source + Reported>(
    ctx: &Context,
    obj: &S,
    mut update: StatusUpdate,
    e: SourceError,
    delete_when_gone: bool,
) -> Result<Action, Error> {
    let secret_name = &obj.common().secret_name;
    let uid = obj.uid().unwrap_or_default();
    let key = object_key(obj);
    let mut message = e.message.clone();
    if e.gone && delete_when_gone {
        let ns = obj.namespace().unwrap_or_default();
        let secrets: Api<Secret> = Api::namespaced(ctx.sources.client.clone(), &ns);
        let owned = secrets.get_metadata_opt(secret_name).await?.is_some_and(|s| {
            s.metadata.owner_references.iter().flatten().any(|r| r.uid == uid)
                || s.metadata
                    .annotations
                    .as_ref()
                    .and_then(|a| a.get(materialize::OWNER_UID_ANNOTATION))
                    .is_some_and(|u| *u == uid)
        });
        if owned {
            apply::delete_secret(&ctx.sources.client, &ns, secret_name).await?;
            message.push_str("; the Secret was deleted (deletionPolicy Delete)");
            info!(deleted = true, "the store no longer has the values");
        } else {
            message.push_str("; the existing Secret is kept");
        }
    } else if e.reason != Reason::InvalidDocument {
        message.push_str("; the existing Secret is kept");
    }
    update.failed(e.reason, &message);
    let action = match e.retry {
        Retry::Backoff => Action::requeue(ctx.backoff.next(&key)),
        Retry::After(d) => Action::requeue(d),
        Retry::Resync => Action::requeue(ctx.resync),
        Retry::AwaitChange => Action::await_change(),
    };
    finish(ctx, obj, &update, Vec::new(), action).await
}

/// Writes status (with the `extra` fields of the kind) and Events, counts
/// the reconcile under its `Ready` reason, returns `action`: the end of
/// every reconcile of every kind.
pub async fn finish<K: Reported>(
    ctx: &Context,
    obj: &K,
    update: &StatusUpdate,
    extra: report::Extra,
    action: Action,
) -> Result<Action, Error> {
    let result = update.ready_reason().map_or(ResultLabel::Error, ResultLabel::Reason);
    ctx.metrics.reconciled(super::kind_label::<K>(), result);
    report::write(ctx, obj, update, extra).await?;
    Ok(action)
}

/// Per-object exponential backoff with jitter (2 s doubling to 5 min),
/// independent of the refresh interval.
///
/// An entry is dropped on success, when the watch sees its object deleted
/// ([`Backoff::reset`]), and, because a watch can miss a deletion (it
/// relists after a disconnect without reporting what went away), once it
/// has not been used for [`BACKOFF_IDLE`]: anyone who may create and delete
/// failing objects could otherwise grow the map without end.
#[derive(Default)]
pub struct Backoff(std::sync::Mutex<BackoffEntries>);

/// The longest delay [`Backoff`] gives (before jitter, which at most doubles it).
const BACKOFF_MAX: Duration = Duration::from_secs(300);

/// An entry unused this long belongs to an object that is gone or no longer
/// retried with backoff: well past the longest jittered delay (2 ×
/// [`BACKOFF_MAX`]) plus a slow reconcile. Dropping a live one only restarts
/// its backoff from the bottom.
const BACKOFF_IDLE: Duration = Duration::from_secs(20 * 60);

/// How often [`Backoff::next`] looks for idle entries: a sweep visits every
/// entry, so not on every call.
const BACKOFF_SWEEP_EVERY: Duration = Duration::from_secs(60);

#[derive(Default)]
struct BackoffEntries {
    /// Each object's backoff and when it was last used.
    map: std::collections::HashMap<String, (Instant, backon::ExponentialBackoff)>,
    /// When idle entries were last dropped.
    swept: Option<Instant>,
}

impl Backoff {
    fn builder() -> backon::ExponentialBuilder {
        backon::ExponentialBuilder::default()
            .with_min_delay(Duration::from_secs(2))
            .with_max_delay(BACKOFF_MAX)
            .with_factor(2.0)
            .with_jitter()
            .without_max_times()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BackoffEntries> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The next delay for `key`.
    pub fn next(&self, key: &str) -> Duration {
        self.next_at(key, Instant::now())
    }

    fn next_at(&self, key: &str, now: Instant) -> Duration {
        use backon::BackoffBuilder;
        let mut entries = self.lock();
        if entries.swept.is_none_or(|t| now.saturating_duration_since(t) >= BACKOFF_SWEEP_EVERY) {
            entries.map.retain(|_, (used, _)| now.saturating_duration_since(*used) < BACKOFF_IDLE);
            entries.swept = Some(now);
        }
        let (used, backoff) = entries.map.entry(key.to_owned()).or_insert_with(|| (now, Self::builder().build()));
        *used = now;
        backoff.next().unwrap_or(BACKOFF_MAX)
    }

    /// Forgets `key`'s failures: on success, and when its object is deleted.
    pub fn reset(&self, key: &str) {
        self.lock().map.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api_error(code: u16) -> kube::Error {
        kube::Error::Api(kube::core::Status::failure("refused", "Invalid").with_code(code).boxed())
    }

    #[test]
    fn write_refusals_map_to_reasons_and_server_errors_retry() {
        assert_eq!(write_refusal(&api_error(403), false).map(|r| r.0), Some(Reason::Forbidden));
        for code in [400, 413, 422] {
            assert_eq!(write_refusal(&api_error(code), false).map(|r| r.0), Some(Reason::WriteFailed), "{code}");
        }
        for code in [409, 429, 500, 503] {
            assert!(write_refusal(&api_error(code), false).is_none(), "{code}");
        }
    }

    #[test]
    fn a_refusal_quoting_a_value_is_not_repeated() {
        let canary = "canary-R3fusal-v4lue";
        let e = kube::Error::Api(
            kube::core::Status::failure(
                &format!("Secret \"x\" is invalid: data[.dockerconfigjson]: {canary}"),
                "Invalid",
            )
            .with_code(422)
            .boxed(),
        );
        let (reason, message) = write_refusal(&e, false).expect("a refusal");
        assert_eq!(reason, Reason::WriteFailed);
        assert!(message.contains("422 Invalid"), "{message}");
        assert!(!message.contains(canary), "{message}");
        // Causes give their reason and the top of their field, not the key
        // inside it (a key can be template output) nor their message.
        let mut status = kube::core::Status::failure("refused", "Invalid").with_code(422);
        status.details = Some(kube::core::response::StatusDetails {
            causes: vec![kube::core::response::StatusCause {
                reason: "FieldValueInvalid".into(),
                message: canary.into(),
                field: format!("data[{canary}]"),
            }],
            name: String::new(),
            group: String::new(),
            kind: String::new(),
            uid: String::new(),
            retry_after_seconds: 0,
        });
        let (_, message) = write_refusal(&kube::Error::Api(status.boxed()), true).expect("a refusal");
        assert!(message.contains("422 Invalid: FieldValueInvalid at data)"), "{message}");
        assert!(message.contains("immutable"), "an immutable Secret is named as the cause: {message}");
        assert!(!message.contains(canary), "{message}");
    }

    #[test]
    fn backoff_grows_per_object_stays_bounded_and_resets() {
        let b = Backoff::default();
        let first = b.next("a");
        assert!(first >= Duration::from_secs(2) && first <= Duration::from_secs(4), "{first:?}");
        let mut last = first;
        for _ in 0..20 {
            last = b.next("a");
            assert!(last <= Duration::from_secs(600), "{last:?}");
        }
        assert!(last >= Duration::from_secs(300), "{last:?}");
        // Another object starts from the bottom.
        assert!(b.next("b") <= Duration::from_secs(4));
        b.reset("a");
        assert!(b.next("a") <= Duration::from_secs(4));
    }

    #[test]
    fn backoff_entries_of_objects_no_longer_retried_are_dropped() {
        let b = Backoff::default();
        let start = Instant::now();
        for i in 0..100 {
            b.next_at(&format!("gone-{i}"), start);
        }
        // Still retried: used every longest jittered delay, kept throughout.
        let mut now = start;
        for _ in 0..12 {
            now += 2 * BACKOFF_MAX;
            b.next_at("failing", now);
        }
        assert!(now.duration_since(start) >= BACKOFF_IDLE);
        let entries = b.lock();
        assert_eq!(entries.map.len(), 1, "only the object still retried is kept");
        assert!(entries.map.contains_key("failing"));
        drop(entries);
        // Its backoff kept growing across the sweeps.
        assert!(b.next_at("failing", now) >= BACKOFF_MAX);
    }

    #[test]
    fn a_deleted_objects_backoff_is_forgotten_by_its_key() {
        let b = Backoff::default();
        let mut meta = ObjectMeta { name: Some("db".into()), namespace: Some("team".into()), ..Default::default() };
        let key = key_of::<crate::api::SealedSecret>(&meta);
        assert_eq!(key, "SealedSecret/team/db");
        for _ in 0..10 {
            b.next(&key);
        }
        // The watch's Delete event carries the same metadata.
        meta.resource_version = Some("42".into());
        b.reset(&key_of::<crate::api::SealedSecret>(&meta));
        assert!(b.lock().map.is_empty());
        // Other kinds with the same name are other entries.
        assert_ne!(key_of::<crate::api::ExternalSecret>(&meta), key);
    }
}
