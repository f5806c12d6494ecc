//! `PushSecret`: a Secret's values written to Vault/OpenBao (see
//! `sources::vault::pool::VaultPool::push` for the write rules). The source
//! Secret must consent with the annotation `seal.dev/allow-push` naming the
//! PushSecret (comma-separated names, or `*`). With `deletionPolicy: Delete`
//! a finalizer removes the pushed values before the object goes.

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
use crate::api::push_secret::{PushDeletionPolicy, PushSecret, PushUpdatePolicy};
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
    if ps.meta().deletion_timestamp.is_some() {
        if has_finalizer {
            if delete && let Err(e) = remove_all(&ctx, ps, &ns).await {
                report(&api, ps, false, "Errored", &e, BTreeMap::new()).await?;
                return Ok(Action::requeue(Duration::from_secs(10)));
            }
            let rest: Vec<&String> = ps.finalizers().iter().filter(|f| *f != FINALIZER).collect();
            api.patch(
                &name,
                &PatchParams::default(),
                &Patch::Merge(serde_json::json!({"metadata": {"finalizers": rest}})),
            )
            .await?;
        }
        return Ok(Action::await_change());
    }
    if delete && !has_finalizer {
        let mut all = ps.finalizers().to_vec();
        all.push(FINALIZER.to_owned());
        api.patch(&name, &PatchParams::default(), &Patch::Merge(serde_json::json!({"metadata": {"finalizers": all}})))
            .await?;
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
                report(&api, ps, false, "Errored", &e.to_string(), BTreeMap::new()).await?;
                return Ok(Action::await_change());
            }
        },
    };
    match push_all(&ctx, ps, &ns).await {
        Ok(synced) => {
            report(&api, ps, true, "Synced", "the values are in the store", synced).await?;
            Ok(Action::requeue(interval))
        }
        Err(e) => {
            report(&api, ps, false, "Errored", &e, BTreeMap::new()).await?;
            Ok(Action::requeue(interval.min(Duration::from_secs(60))))
        }
    }
}

/// Pushes every value; returns what was synced, per store.
async fn push_all(ctx: &Context, ps: &PushSecret, ns: &str) -> Result<BTreeMap<String, Vec<String>>, String> {
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
    let mut synced = BTreeMap::new();
    for r in &ps.spec.secret_store_refs {
        let st = store::resolve_ref(client, &ctx.sources.stores, ns, r).await.map_err(|(_, m)| m)?;
        let mut keys = Vec::new();
        for d in &ps.spec.data {
            let m = &d.match_;
            let value =
                data.get(&m.secret_key).ok_or_else(|| format!("Secret {ns}/{src} has no key {:?}", m.secret_key))?;
            let value = zeroize::Zeroizing::new(value.0.clone());
            let rr = &m.remote_ref;
            let if_not_exists = ps.spec.update_policy == Some(PushUpdatePolicy::IfNotExists);
            ctx.sources
                .vault
                .push(client, &st, &rr.remote_key, rr.property.as_deref(), &value, if_not_exists)
                .await
                .map_err(|e| e.to_string())?;
            keys.push(match &rr.property {
                Some(p) => format!("{}/{p}", rr.remote_key),
                None => rr.remote_key.clone(),
            });
        }
        synced.insert(st.display.clone(), keys);
    }
    Ok(synced)
}

/// Removes every pushed value (`deletionPolicy: Delete`).
async fn remove_all(ctx: &Context, ps: &PushSecret, ns: &str) -> Result<(), String> {
    let client = &ctx.sources.client;
    for r in &ps.spec.secret_store_refs {
        let st = store::resolve_ref(client, &ctx.sources.stores, ns, r).await.map_err(|(_, m)| m)?;
        for d in &ps.spec.data {
            let rr = &d.match_.remote_ref;
            ctx.sources
                .vault
                .unpush(client, &st, &rr.remote_key, rr.property.as_deref())
                .await
                .map_err(|e| e.to_string())?;
        }
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
    if prev == Some(&condition) && old.observed_generation == generation && old.synced_push_secrets == synced {
        return Ok(());
    }
    let patch = serde_json::json!({"status": {
        "observedGeneration": generation,
        "conditions": [condition],
        "syncedPushSecrets": synced,
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
}
