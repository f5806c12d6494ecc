//! `PushSecret`: a Secret's values written to Vault/OpenBao (see
//! `sources::vault::pool::VaultPool::push` for the write rules). The source
//! Secret must consent with the annotation `seal.dev/allow-push` naming the
//! PushSecret (comma-separated names, or `*`). Each path written is owned by
//! the PushSecret (recorded in its status and in the remote secret's custom
//! metadata, see `sources::vault::ownership`); no other PushSecret writes
//! it. With `deletionPolicy: Delete` a finalizer, added once a value is
//! written, removes what the PushSecret wrote, and only that, before the
//! object goes.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::core::DeserializeGuard;
use kube::runtime::controller::Action;
use kube::runtime::finalizer::{self, finalizer};
use kube::{Api, Resource, ResourceExt};

use super::reconcile::{finish, guarded};
use super::report::{Extra, Reported, StatusUpdate};
use super::{Context, Error};
use crate::api::Reason;
use crate::api::external_secret::SecretStoreRef;
use crate::api::push_secret::{PushDeletionPolicy, PushSecret, PushSecretStatus, PushUpdatePolicy, PushedPath};
use crate::sources::vault::ownership::PushOwner;
use crate::sources::vault::pool::PushRequest;
use crate::sources::vault::store;

pub use crate::api::annotations::{ALLOW_PUSH_ANNOTATION, PUSH_SECRET_FINALIZER as FINALIZER};

/// Whether a Secret's annotations let the PushSecret `name` push it.
pub fn push_allowed(annotations: &BTreeMap<String, String>, name: &str) -> bool {
    annotations.get(ALLOW_PUSH_ANNOTATION).is_some_and(|v| v.split(',').map(str::trim).any(|n| n == "*" || n == name))
}

/// Why a push (or the removal of what was pushed) did not happen, with
/// the status reason it is shown with. Messages name Secrets, keys, stores
/// and paths, never values.
#[derive(Debug, thiserror::Error)]
enum PushError {
    /// Shown on the object with its reason; retried at the next refresh.
    #[error("{1}")]
    Refused(Reason, String),
    /// The Kubernetes API failed: retried with backoff.
    #[error(transparent)]
    Kube(#[from] kube::Error),
}

impl PushError {
    fn vault(e: crate::sources::vault::VaultError) -> PushError {
        PushError::Refused(e.reason(), e.to_string())
    }
}

/// Reconcile of a PushSecret.
pub async fn reconcile(obj: Arc<DeserializeGuard<PushSecret>>, ctx: Arc<Context>) -> Result<Action, Error> {
    guarded(&obj, &ctx, |ps| run(ps, &ctx)).await
}

async fn run(ps: &PushSecret, ctx: &Context) -> Result<Action, Error> {
    // The API server gives every object a uid; without one there is no
    // owner to record, so nothing is written.
    let Some(uid) = ps.uid() else { return Ok(Action::await_change()) };
    let owner = PushOwner { namespace: ps.namespace().unwrap_or_default(), name: ps.name_any(), uid };
    let api: Api<PushSecret> = Api::namespaced(ctx.sources.client.clone(), &owner.namespace);
    let has_finalizer = ps.finalizers().iter().any(|f| f == FINALIZER);
    if !has_finalizer {
        if ps.meta().deletion_timestamp.is_some() {
            return Ok(Action::await_change());
        }
        let (action, wrote) = push(ps, ctx, &owner).await?;
        // The finalizer only once a value is written and owned: never for a
        // PushSecret refused (no consent, a path it may not write), whose
        // deletion has nothing of its own to remove. kube-runtime's helper
        // adds it (with a JSON-patch test, so a concurrent change of the
        // list is retried rather than overwritten) and runs no step here.
        if wrote && ps.spec.deletion_policy == Some(PushDeletionPolicy::Delete) {
            let this = Arc::new(ps.clone());
            finalizer(&api, FINALIZER, this, |_| async { Ok::<_, Error>(Action::await_change()) })
                .await
                .map_err(finalizer_error)?;
        }
        return Ok(action);
    }
    // With the finalizer: kube-runtime's helper pushes while the object
    // lives, and on deletion removes what it pushed, then the finalizer.
    // A finalizer that outlived `deletionPolicy: Delete` (the policy was
    // changed to `None`) is removed without touching the store.
    finalizer(&api, FINALIZER, Arc::new(ps.clone()), |event| async move {
        match event {
            finalizer::Event::Apply(ps) => push(&ps, ctx, &owner).await.map(|(action, _)| action),
            finalizer::Event::Cleanup(ps) => cleanup(&ps, ctx, &owner).await,
        }
    })
    .await
    .map_err(finalizer_error)
}

/// The controller error of a finalizer step.
fn finalizer_error(e: finalizer::Error<Error>) -> Error {
    match e {
        finalizer::Error::ApplyFailed(e) | finalizer::Error::CleanupFailed(e) => e,
        finalizer::Error::AddFinalizer(e) | finalizer::Error::RemoveFinalizer(e) => Error::Kube(e),
        other => Error::Finalizer(other.to_string()),
    }
}

/// Pushes every value and reports it; returns what to do next and whether
/// this PushSecret now owns something in a store.
async fn push(ps: &PushSecret, ctx: &Context, owner: &PushOwner) -> Result<(Action, bool), Error> {
    let mut update = StatusUpdate::new(ps.common_status(), ps.meta().generation);
    let old = ps.status.clone().unwrap_or_default();
    if !ps.spec.unsupported.is_empty() {
        // Nothing is pushed: ESO would push something else (provider
        // metadata, to stores chosen by labels).
        update.failed(Reason::Unsupported, &crate::api::unknown::unsupported_message(&ps.spec.unsupported));
        let action = finish(ctx, ps, &update, Vec::new(), Action::await_change()).await?;
        return Ok((action, !old.pushed.is_empty()));
    }
    let interval = match ps.spec.refresh_interval.as_deref() {
        None => Duration::from_secs(3600),
        Some(s) => match crate::api::duration::parse_bounded(
            s,
            "spec.refreshInterval",
            Duration::from_secs(1),
            Duration::from_secs(8760 * 3600),
        ) {
            Ok(d) => d,
            Err(e) => {
                update.failed(Reason::InvalidDocument, &e.to_string());
                let action = finish(ctx, ps, &update, Vec::new(), Action::await_change()).await?;
                return Ok((action, !old.pushed.is_empty()));
            }
        },
    };
    let mut written = Vec::new();
    let result = push_all(ctx, ps, owner, interval, &mut written).await;
    let record = merge_record(&old.pushed, &written);
    let (synced, action) = match result {
        Ok(synced) => {
            update.ready(Reason::Synced, "the values are in the store");
            (synced, Action::requeue(interval))
        }
        Err(PushError::Refused(reason, message)) => {
            update.failed(reason, &message);
            (old.synced_push_secrets.clone(), Action::requeue(interval.min(Duration::from_secs(60))))
        }
        Err(PushError::Kube(e)) => {
            // What was written before the failure is recorded all the same
            // (the reconcile itself is counted by the error policy).
            if record != old.pushed {
                let extra = vec![("pushed", serde_json::json!(record))];
                super::report::write(ctx, ps, &update, extra).await?;
            }
            return Err(e.into());
        }
    };
    let mut extra: Extra = Vec::new();
    if synced != old.synced_push_secrets {
        extra.push(("syncedPushSecrets", serde_json::json!(synced)));
    }
    if record != old.pushed {
        extra.push(("pushed", serde_json::json!(record)));
    }
    let owns = !record.is_empty();
    Ok((finish(ctx, ps, &update, extra, action).await?, owns))
}

/// Removes what this PushSecret pushed, when its policy says so; a failure
/// is shown on the object and keeps the finalizer (retried after 10 s).
async fn cleanup(ps: &PushSecret, ctx: &Context, owner: &PushOwner) -> Result<Action, Error> {
    if ps.spec.deletion_policy != Some(PushDeletionPolicy::Delete) {
        return Ok(Action::await_change());
    }
    match remove_all(ctx, ps, owner).await {
        Ok(()) => Ok(Action::await_change()),
        Err(PushError::Kube(e)) => Err(e.into()),
        Err(PushError::Refused(reason, message)) => {
            let mut update = StatusUpdate::new(ps.common_status(), ps.meta().generation);
            update.failed(reason, &format!("{message}; what this PushSecret pushed is not removed yet"));
            finish(ctx, ps, &update, Vec::new(), Action::await_change()).await?;
            Err(Error::Unfinished(Duration::from_secs(10)))
        }
    }
}

/// Pushes every value; returns what was synced, per store. Each path
/// written (and owned) is added to `written` as it is, so what a failure
/// half-way leaves is recorded too.
async fn push_all(
    ctx: &Context,
    ps: &PushSecret,
    owner: &PushOwner,
    interval: Duration,
    written: &mut Vec<PushedPath>,
) -> Result<BTreeMap<String, Vec<String>>, PushError> {
    let client = &ctx.sources.client;
    let ns = &owner.namespace;
    super::push_plan::check_spec(&ps.spec).map_err(refusal)?;
    let (data, src) = source_values(ctx, ps, ns, interval).await?;
    let work = crate::sources::template::Work::new();
    let data = templated(ctx, ps, data, &work).await?;
    let status = ps.status.clone().unwrap_or_default();
    let mut synced = BTreeMap::new();
    for r in &ps.spec.secret_store_refs {
        let st = store::resolve_ref(client, &ctx.sources.stores, ns, r)
            .await
            .map_err(|(reason, m)| PushError::Refused(reason, m))?;
        let (kind, store_name) = store_of(r);
        let entries = super::push_plan::plan(&ps.spec, (kind, store_name), &data, &src, &work).map_err(refusal)?;
        let mut keys = Vec::new();
        for e in &entries {
            let value = super::push_plan::value(e, &data, &src).map_err(refusal)?;
            let req = PushRequest {
                path: &e.remote_key,
                property: e.property.as_deref(),
                value: value.as_bytes(),
                if_not_exists: ps.spec.update_policy == Some(PushUpdatePolicy::IfNotExists),
                owner,
                wrote_before: wrote_before(
                    &status,
                    &st.display,
                    kind,
                    store_name,
                    &e.remote_key,
                    e.property.as_deref(),
                ),
            };
            let owned = ctx.sources.vault.push(client, &st, &req).await.map_err(PushError::vault)?;
            if let Some(owned) = owned {
                written.push(PushedPath {
                    store_kind: kind.to_owned(),
                    store_name: store_name.to_owned(),
                    remote_key: e.remote_key.clone(),
                    properties: owned.into_iter().collect(),
                });
            }
            keys.push(match &e.property {
                Some(p) => format!("{}/{p}", e.remote_key),
                None => e.remote_key.clone(),
            });
        }
        synced.insert(st.display.clone(), keys);
    }
    Ok(synced)
}

fn refusal(r: super::push_plan::Refusal) -> PushError {
    PushError::Refused(r.0, r.1)
}

/// The source's values through `spec.template`, when there is one: ESO's
/// engine v2 over the source's keys, its output over them (ESO keeps the
/// source's keys whatever `mergePolicy` says, so `Replace` is refused, not
/// ignored). A `templateFrom` Secret must grant `PushSecret/<name>`.
async fn templated(
    ctx: &Context,
    ps: &PushSecret,
    data: crate::sources::SecretData,
    work: &Arc<crate::sources::template::Work>,
) -> Result<crate::sources::SecretData, PushError> {
    use crate::api::external_secret::MergePolicy;
    use crate::sources::external_secret::templates;
    let Some(t) = &ps.spec.template else { return Ok(data) };
    let unsupported = |field: &str, why: &str| {
        PushError::Refused(Reason::Unsupported, format!("spec.template.{field}: {why}; remove it"))
    };
    if t.merge_policy == Some(MergePolicy::Replace) {
        return Err(unsupported(
            "mergePolicy",
            "ESO pushes the source Secret's keys with the templates' output over them whatever mergePolicy says; seal does the same and refuses Replace, which it would not honour",
        ));
    }
    if t.secret.immutable.is_some() {
        return Err(unsupported("immutable", "a PushSecret writes no Secret"));
    }
    let Some(hmac_key) = ctx.sources.registry.hmac_key_bytes() else {
        return Err(PushError::Refused(
            Reason::InternalError,
            "the controller's keys are not loaded yet; the template runs once they are".to_owned(),
        ));
    };
    let mut t = t.clone();
    t.merge_policy = Some(MergePolicy::Merge);
    let site = templates::TemplateSite {
        field: "spec.template",
        namespace: ps.namespace().unwrap_or_default(),
        reader: format!("PushSecret/{}", ps.name_any()),
        metadata_written: false,
    };
    let made = templates::render(&ctx.sources, &t, &site, data, &hmac_key[..], work)
        .await
        .map_err(|e| PushError::Refused(e.reason(), e.to_string()))?;
    Ok(made.data)
}

/// The values to push, by key, and what they come from (for messages):
/// the selected Secret, which must consent, or the selected generator's
/// values of this refresh interval.
async fn source_values(
    ctx: &Context,
    ps: &PushSecret,
    ns: &str,
    interval: Duration,
) -> Result<(crate::sources::SecretData, String), PushError> {
    use crate::sources::external_secret::{epoch, fetch::generator_values};
    let selector = &ps.spec.selector;
    match (&selector.secret, &selector.generator_ref) {
        (Some(s), None) => {
            let src = &s.name;
            let Some(secret) = Api::<Secret>::namespaced(ctx.sources.client.clone(), ns).get_opt(src).await? else {
                return Err(PushError::Refused(Reason::SecretNotFound, format!("Secret {ns}/{src} does not exist")));
            };
            if !push_allowed(secret.annotations(), &ps.name_any()) {
                return Err(PushError::Refused(
                    Reason::SecretNotShared,
                    format!(
                        "Secret {ns}/{src} does not allow this PushSecret to push it: its owner must annotate it {ALLOW_PUSH_ANNOTATION}: \"{}\"",
                        ps.name_any()
                    ),
                ));
            }
            let data = secret.data.unwrap_or_default().into_iter().map(|(k, v)| (k, zeroize::Zeroizing::new(v.0)));
            Ok((crate::sources::SecretData(data.collect()), format!("Secret {ns}/{src}")))
        }
        (None, Some(g)) => {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
            let uid = ps.uid().unwrap_or_default();
            let values = generator_values(
                &ctx.sources,
                ns,
                &uid,
                g,
                "spec.selector.generatorRef",
                epoch(now.as_secs(), interval),
            )
            .await
            .map_err(|e| PushError::Refused(e.reason(), e.to_string()))?;
            let data = values.into_iter().collect();
            Ok((crate::sources::SecretData(data), format!("{} {ns}/{}", g.kind, g.name)))
        }
        _ => Err(PushError::Refused(
            Reason::InvalidDocument,
            "spec.selector: give exactly one of secret and generatorRef".to_owned(),
        )),
    }
}

/// A store reference's kind (default `SecretStore`) and name.
fn store_of(r: &SecretStoreRef) -> (&str, &str) {
    (r.kind.as_deref().unwrap_or("SecretStore"), &r.name)
}

/// Whether the status says this PushSecret pushed `path` through the store
/// before: in its record, or (written before the record existed) in
/// `syncedPushSecrets`. Only lets it take over a path seal wrote for no
/// recorded owner, never one another PushSecret owns.
pub fn wrote_before(
    status: &PushSecretStatus,
    display: &str,
    kind: &str,
    store_name: &str,
    path: &str,
    property: Option<&str>,
) -> bool {
    let recorded =
        status.pushed.iter().any(|p| p.store_kind == kind && p.store_name == store_name && p.remote_key == path);
    let key = match property {
        Some(p) => format!("{path}/{p}"),
        None => path.to_owned(),
    };
    recorded || status.synced_push_secrets.get(display).is_some_and(|keys| keys.contains(&key))
}

/// The record after a reconcile: every path written before (kept until
/// the PushSecret goes, so its deletion looks there even after the spec
/// dropped it) and, for the paths written now, the properties the store's
/// record says it owns now. Sorted, one entry per store and path.
pub fn merge_record(old: &[PushedPath], new: &[PushedPath]) -> Vec<PushedPath> {
    let mut out: BTreeMap<(String, String, String), Vec<String>> = BTreeMap::new();
    for p in old {
        out.insert((p.store_kind.clone(), p.store_name.clone(), p.remote_key.clone()), p.properties.clone());
    }
    for p in new {
        out.insert((p.store_kind.clone(), p.store_name.clone(), p.remote_key.clone()), p.properties.clone());
    }
    out.into_iter()
        .map(|((store_kind, store_name, remote_key), properties)| PushedPath {
            store_kind,
            store_name,
            remote_key,
            properties,
        })
        .collect()
}

/// Where a deletion looks: every path the status records and every path
/// the spec names, once each. What is removed there is decided by the
/// remote secret's own record, so a path listed here that this PushSecret
/// does not own is left alone.
pub fn removal_targets(ps: &PushSecret) -> Vec<(SecretStoreRef, String)> {
    let mut seen = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    let recorded = ps.status.iter().flat_map(|s| s.pushed.iter()).map(|p| {
        (SecretStoreRef { name: p.store_name.clone(), kind: Some(p.store_kind.clone()) }, p.remote_key.clone())
    });
    let named = ps.spec.secret_store_refs.iter().flat_map(|r| {
        ps.spec.data.iter().map(move |d| {
            let (kind, name) = store_of(r);
            (
                SecretStoreRef { name: name.to_owned(), kind: Some(kind.to_owned()) },
                d.match_.remote_ref.remote_key.clone(),
            )
        })
    });
    // A dataTo bundle's one remote secret (per-key ones are known only
    // from the source, and recorded as they are written).
    let bundles = ps.spec.data_to.iter().filter_map(|d| {
        let path = d.remote_key.clone().filter(|k| !k.is_empty())?;
        let (kind, name) = store_of(&d.store_ref);
        Some((SecretStoreRef { name: name.to_owned(), kind: Some(kind.to_owned()) }, path))
    });
    for (r, path) in recorded.chain(named).chain(bundles) {
        if seen.insert((r.kind.clone(), r.name.clone(), path.clone())) {
            out.push((r, path));
        }
    }
    out
}

/// Removes what this PushSecret pushed (`deletionPolicy: Delete`): at each
/// path, only the properties the remote record says it wrote.
async fn remove_all(ctx: &Context, ps: &PushSecret, owner: &PushOwner) -> Result<(), PushError> {
    let client = &ctx.sources.client;
    for (r, path) in removal_targets(ps) {
        let st = store::resolve_ref(client, &ctx.sources.stores, &owner.namespace, &r)
            .await
            .map_err(|(reason, m)| PushError::Refused(reason, m))?;
        let done = ctx.sources.vault.unpush(client, &st, &path, owner).await.map_err(PushError::vault)?;
        tracing::info!(store = %st.display, path = %path, outcome = ?done, "removed what the PushSecret pushed");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_consents_by_name_or_wildcard() {
        let a = |v: &str| BTreeMap::from([(ALLOW_PUSH_ANNOTATION.to_owned(), v.to_owned())]);
        assert!(push_allowed(&a("push-db"), "push-db"));
        assert!(push_allowed(&a("x, push-db"), "push-db"));
        assert!(push_allowed(&a("*"), "anything"));
        assert!(!push_allowed(&a("push-db-2"), "push-db"));
        assert!(!push_allowed(&BTreeMap::new(), "push-db"));
    }

    fn pushed(kind: &str, store: &str, path: &str, props: &[&str]) -> PushedPath {
        PushedPath {
            store_kind: kind.into(),
            store_name: store.into(),
            remote_key: path.into(),
            properties: props.iter().map(|p| (*p).to_owned()).collect(),
        }
    }

    #[test]
    fn the_record_keeps_every_path_until_deletion_and_takes_the_stores_properties() {
        let old = vec![pushed("SecretStore", "kv", "app/old", &["a"]), pushed("SecretStore", "kv", "app/db", &["a"])];
        let new = vec![pushed("SecretStore", "kv", "app/db", &["a", "b"])];
        let r = merge_record(&old, &new);
        assert_eq!(
            r,
            vec![pushed("SecretStore", "kv", "app/db", &["a", "b"]), pushed("SecretStore", "kv", "app/old", &["a"])]
        );
        assert!(merge_record(&[], &[]).is_empty());
    }

    #[test]
    fn only_the_status_of_the_push_secret_that_wrote_a_path_counts_as_having_written_it() {
        let mut st = PushSecretStatus::default();
        assert!(!wrote_before(&st, "SecretStore ns/kv", "SecretStore", "kv", "app/db", Some("p")));
        st.synced_push_secrets.insert("SecretStore ns/kv".into(), vec!["app/db/p".into(), "app/whole".into()]);
        assert!(wrote_before(&st, "SecretStore ns/kv", "SecretStore", "kv", "app/db", Some("p")));
        assert!(wrote_before(&st, "SecretStore ns/kv", "SecretStore", "kv", "app/whole", None));
        assert!(!wrote_before(&st, "SecretStore ns/other", "SecretStore", "other", "app/db", Some("p")));
        assert!(!wrote_before(&st, "SecretStore ns/kv", "SecretStore", "kv", "app/db", Some("q")));
        st.pushed = vec![pushed("ClusterSecretStore", "shared", "team/x", &["p"])];
        assert!(wrote_before(&st, "ClusterSecretStore shared", "ClusterSecretStore", "shared", "team/x", Some("q")));
        assert!(!wrote_before(&st, "SecretStore ns/shared", "SecretStore", "shared", "team/x", Some("q")));
    }

    #[test]
    fn a_deletion_looks_at_recorded_and_named_paths_once_each() {
        let mut ps = PushSecret::new("p", Default::default());
        ps.spec.secret_store_refs = vec![SecretStoreRef { name: "kv".into(), kind: None }];
        let entry = |path: &str, prop: Option<&str>| crate::api::push_secret::PushData {
            match_: crate::api::push_secret::PushMatch {
                secret_key: "k".into(),
                remote_ref: crate::api::push_secret::PushRemoteRef {
                    remote_key: path.into(),
                    property: prop.map(str::to_owned),
                },
            },
            conversion_strategy: None,
        };
        ps.spec.data = vec![entry("app/db", Some("a")), entry("app/db", Some("b")), entry("app/new", None)];
        ps.status = Some(PushSecretStatus {
            pushed: vec![
                pushed("SecretStore", "kv", "app/db", &["a"]),
                pushed("SecretStore", "kv", "app/gone", &["x"]),
            ],
            ..Default::default()
        });
        let t: Vec<(String, String)> = removal_targets(&ps)
            .into_iter()
            .map(|(r, p)| (format!("{}/{}", r.kind.unwrap_or_default(), r.name), p))
            .collect();
        let want = |s: &str, p: &str| (s.to_owned(), p.to_owned());
        assert_eq!(
            t,
            vec![
                want("SecretStore/kv", "app/db"),
                want("SecretStore/kv", "app/gone"),
                want("SecretStore/kv", "app/new")
            ]
        );
    }
}
