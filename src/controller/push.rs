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
use kube::api::{Patch, PatchParams};
use kube::core::DeserializeGuard;
use kube::runtime::controller::Action;
use kube::{Api, Resource, ResourceExt};

use super::{Context, Error};
use crate::api::Condition;
use crate::api::external_secret::SecretStoreRef;
use crate::api::push_secret::{PushDeletionPolicy, PushSecret, PushSecretStatus, PushUpdatePolicy, PushedPath};
use crate::sources::vault::ownership::PushOwner;
use crate::sources::vault::pool::PushRequest;
use crate::sources::vault::store;

/// Annotation on a Secret: the PushSecrets (names, or `*`) that may push it.
pub const ALLOW_PUSH_ANNOTATION: &str = "seal.dev/allow-push";
/// The finalizer of a PushSecret with `deletionPolicy: Delete`.
pub const FINALIZER: &str = "seal.dev/push-secret";

/// Whether a Secret's annotations let the PushSecret `name` push it.
pub fn push_allowed(annotations: &BTreeMap<String, String>, name: &str) -> bool {
    annotations.get(ALLOW_PUSH_ANNOTATION).is_some_and(|v| v.split(',').map(str::trim).any(|n| n == "*" || n == name))
}

/// Reconcile of a PushSecret.
pub async fn reconcile(obj: Arc<DeserializeGuard<PushSecret>>, ctx: Arc<Context>) -> Result<Action, Error> {
    let Ok(ps) = &obj.0 else { return Ok(Action::await_change()) };
    let client = ctx.sources.client.clone();
    let ns = ps.namespace().unwrap_or_default();
    let name = ps.name_any();
    let api: Api<PushSecret> = Api::namespaced(client.clone(), &ns);
    let delete = ps.spec.deletion_policy == Some(PushDeletionPolicy::Delete);
    let has_finalizer = ps.finalizers().iter().any(|f| f == FINALIZER);
    let old_record = ps.status.as_ref().map(|s| s.pushed.clone()).unwrap_or_default();
    // The API server gives every object a uid; without one there is no
    // owner to record, so nothing is written.
    let Some(uid) = ps.uid() else { return Ok(Action::await_change()) };
    let owner = PushOwner { namespace: ns.clone(), name: name.clone(), uid };
    if ps.meta().deletion_timestamp.is_some() {
        if has_finalizer {
            if delete && let Err(e) = remove_all(&ctx, ps, &ns, &owner).await {
                report(&api, ps, false, "Errored", &e, BTreeMap::new(), &old_record).await?;
                return Ok(Action::requeue(Duration::from_secs(10)));
            }
            let rest: Vec<&String> = ps.finalizers().iter().filter(|f| *f != FINALIZER).collect();
            set_finalizers(&api, ps, &rest).await?;
        }
        return Ok(Action::await_change());
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
                report(&api, ps, false, "Errored", &e.to_string(), BTreeMap::new(), &old_record).await?;
                return Ok(Action::await_change());
            }
        },
    };
    let mut written = Vec::new();
    let result = push_all(&ctx, ps, &ns, &owner, &mut written).await;
    let record = merge_record(&old_record, &written);
    // The finalizer only once a value is written and owned: never for a
    // PushSecret refused (no consent, a path it may not write), whose
    // deletion has nothing of its own to remove.
    if delete && !has_finalizer && !record.is_empty() {
        let mut all: Vec<&String> = ps.finalizers().iter().collect();
        let ours = FINALIZER.to_owned();
        all.push(&ours);
        set_finalizers(&api, ps, &all).await?;
    }
    match result {
        Ok(synced) => {
            report(&api, ps, true, "Synced", "the values are in the store", synced, &record).await?;
            Ok(Action::requeue(interval))
        }
        Err(e) => {
            report(&api, ps, false, "Errored", &e, BTreeMap::new(), &record).await?;
            Ok(Action::requeue(interval.min(Duration::from_secs(60))))
        }
    }
}

/// Sets the PushSecret's finalizers, on the version read (a conflict, when
/// someone changed them meanwhile, fails and is retried, rather than
/// dropping their change).
async fn set_finalizers(api: &Api<PushSecret>, ps: &PushSecret, finalizers: &[&String]) -> Result<(), Error> {
    let patch = serde_json::json!({"metadata": {
        "finalizers": finalizers,
        "resourceVersion": ps.resource_version(),
    }});
    api.patch(&ps.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await?;
    Ok(())
}

/// Pushes every value; returns what was synced, per store. Each path
/// written (and owned) is added to `written` as it is, so what a failure
/// half-way leaves is recorded too.
async fn push_all(
    ctx: &Context,
    ps: &PushSecret,
    ns: &str,
    owner: &PushOwner,
    written: &mut Vec<PushedPath>,
) -> Result<BTreeMap<String, Vec<String>>, String> {
    let client = &ctx.sources.client;
    let src = &ps.spec.selector.secret.name;
    let secret = Api::<Secret>::namespaced(client.clone(), ns)
        .get_opt(src)
        .await
        .map_err(|e| format!("cannot read Secret {ns}/{src}: {e}"))?
        .ok_or_else(|| format!("Secret {ns}/{src} does not exist"))?;
    if !push_allowed(secret.annotations(), &ps.name_any()) {
        return Err(format!(
            "Secret {ns}/{src} does not allow this PushSecret to push it: its owner must annotate it {ALLOW_PUSH_ANNOTATION}: \"{}\"",
            ps.name_any()
        ));
    }
    let data = secret.data.unwrap_or_default();
    let status = ps.status.clone().unwrap_or_default();
    let mut synced = BTreeMap::new();
    for r in &ps.spec.secret_store_refs {
        let st = store::resolve_ref(client, &ctx.sources.stores, ns, r).await.map_err(|(_, m)| m)?;
        let (kind, store_name) = store_of(r);
        let mut keys = Vec::new();
        for d in &ps.spec.data {
            let m = &d.match_;
            let value =
                data.get(&m.secret_key).ok_or_else(|| format!("Secret {ns}/{src} has no key {:?}", m.secret_key))?;
            let value = zeroize::Zeroizing::new(value.0.clone());
            let rr = &m.remote_ref;
            let req = PushRequest {
                path: &rr.remote_key,
                property: rr.property.as_deref(),
                value: &value,
                if_not_exists: ps.spec.update_policy == Some(PushUpdatePolicy::IfNotExists),
                owner,
                wrote_before: wrote_before(
                    &status,
                    &st.display,
                    kind,
                    store_name,
                    &rr.remote_key,
                    rr.property.as_deref(),
                ),
            };
            let owned = ctx.sources.vault.push(client, &st, &req).await.map_err(|e| e.to_string())?;
            if let Some(owned) = owned {
                written.push(PushedPath {
                    store_kind: kind.to_owned(),
                    store_name: store_name.to_owned(),
                    remote_key: rr.remote_key.clone(),
                    properties: owned.into_iter().collect(),
                });
            }
            keys.push(match &rr.property {
                Some(p) => format!("{}/{p}", rr.remote_key),
                None => rr.remote_key.clone(),
            });
        }
        synced.insert(st.display.clone(), keys);
    }
    Ok(synced)
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
    for (r, path) in recorded.chain(named) {
        if seen.insert((r.kind.clone(), r.name.clone(), path.clone())) {
            out.push((r, path));
        }
    }
    out
}

/// Removes what this PushSecret pushed (`deletionPolicy: Delete`): at each
/// path, only the properties the remote record says it wrote.
async fn remove_all(ctx: &Context, ps: &PushSecret, ns: &str, owner: &PushOwner) -> Result<(), String> {
    let client = &ctx.sources.client;
    for (r, path) in removal_targets(ps) {
        let st = store::resolve_ref(client, &ctx.sources.stores, ns, &r).await.map_err(|(_, m)| m)?;
        let done = ctx.sources.vault.unpush(client, &st, &path, owner).await.map_err(|e| e.to_string())?;
        tracing::info!(store = %st.display, path = %path, outcome = ?done, "PushSecret {ns}/{}: removed what it pushed", owner.name);
    }
    Ok(())
}

/// Writes the status when it changed.
async fn report(
    api: &Api<PushSecret>,
    ps: &PushSecret,
    ok: bool,
    reason: &str,
    message: &str,
    synced: BTreeMap<String, Vec<String>>,
    pushed: &[PushedPath],
) -> Result<(), Error> {
    let old = ps.status.clone().unwrap_or_default();
    let generation = ps.meta().generation;
    let status = if ok { "True" } else { "False" };
    let prev = old.conditions.iter().find(|c| c.type_ == "Ready");
    let condition = Condition {
        type_: "Ready".into(),
        status: status.into(),
        reason: reason.into(),
        message: super::report::truncate(message),
        last_transition_time: match prev {
            Some(c) if c.status == status => c.last_transition_time.clone(),
            _ => Some(chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()),
        },
        observed_generation: generation,
    };
    let synced = if ok { synced } else { old.synced_push_secrets.clone() };
    if prev == Some(&condition)
        && old.observed_generation == generation
        && old.synced_push_secrets == synced
        && old.pushed == pushed
    {
        return Ok(());
    }
    let patch = serde_json::json!({"status": {
        "observedGeneration": generation,
        "conditions": [condition],
        "syncedPushSecrets": synced,
        "pushed": pushed,
    }});
    api.patch_status(&ps.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await?;
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
