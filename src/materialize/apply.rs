//! The writes: server-side apply of the Secret with seal's field manager,
//! deletion, and rollout restarts. The one place a Secret is written.

use k8s_openapi::api::core::v1::Secret;
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::{Api, Client};
use seal_format::document::SecretData;

use super::{LiveSecret, Target, build_secret};
use crate::api::Ownership;
use crate::api::RolloutTarget;
use crate::api::annotations::ALLOW_MERGE_ANNOTATION;
use crate::key_registry::FIELD_MANAGER;

/// What a write did.
pub struct Written {
    /// The HMAC of the data now in the Secret.
    pub hmac: String,
    /// The data differs from what the Secret held before.
    pub data_changed: bool,
    /// Rollout restarts that failed (kind/name: reason).
    pub restart_failures: Vec<String>,
}

/// Builds the Secret from desired data, server-side applies it, and
/// restarts the target's workloads when the data changed.
pub async fn write(
    client: &Client,
    hmac_key: &[u8],
    target: &Target<'_>,
    data: &SecretData,
    digest: &str,
    live: Option<&LiveSecret>,
) -> Result<Written, kube::Error> {
    let Target { owner, ownership, template, restart: targets } = target;
    let (ownership, template) = (*ownership, *template);
    let hmac = data.hmac(hmac_key);
    if matches!(ownership, Ownership::Merge | Ownership::CreateOrMerge) {
        let mut secret = super::build_merge(owner, data, digest);
        let manager = super::merge_field_manager(owner.uid);
        if live.is_none() {
            // CreateOrMerge of a missing Secret: created (never applied, so
            // a Secret someone else made meanwhile is not taken over), with
            // the consent to merge into it, which its creator gives itself.
            secret
                .metadata
                .annotations
                .get_or_insert_default()
                .insert(ALLOW_MERGE_ANNOTATION.to_owned(), owner.name.to_owned());
            let api: Api<Secret> = Api::namespaced(client.clone(), owner.namespace);
            let params = kube::api::PostParams { field_manager: Some(manager), ..Default::default() };
            api.create(&params, &secret).await?;
        } else {
            apply_secret(client, &secret, &manager).await?;
        }
        return Ok(Written { hmac, data_changed: false, restart_failures: Vec::new() });
    }
    let secret = build_secret(owner, ownership, template, data, &hmac, digest);
    apply_secret(client, &secret, FIELD_MANAGER).await?;
    drop(secret);
    // Keys someone else added are not seal's to apply away (another field
    // manager owns them): remove them, or the Secret drifts forever.
    let foreign: Vec<&String> =
        live.map(|l| l.keys.iter().filter(|k| !data.0.contains_key(*k)).collect()).unwrap_or_default();
    if !foreign.is_empty() {
        let nulls: serde_json::Map<String, serde_json::Value> =
            foreign.iter().map(|k| ((*k).clone(), serde_json::Value::Null)).collect();
        let api: Api<Secret> = Api::namespaced(client.clone(), owner.namespace);
        let body = serde_json::json!({ "data": nulls });
        api.patch(owner.secret_name, &PatchParams::default(), &Patch::Merge(&body)).await?;
    }
    let data_changed = live.is_some_and(|l| l.actual_hmac != hmac);
    let mut restart_failures = Vec::new();
    if data_changed && !targets.is_empty() {
        let stamp = chrono::Utc::now().to_rfc3339();
        restart_failures = restart_targets(client, owner.namespace, owner.name, targets, &stamp).await;
    }
    Ok(Written { hmac, data_changed, restart_failures })
}

/// Server-side applies the Secret as `manager` (taking over fields from
/// other managers).
pub async fn apply_secret(client: &Client, secret: &Secret, manager: &str) -> Result<Secret, kube::Error> {
    let ns = secret.metadata.namespace.as_deref().unwrap_or_default();
    let name = secret.metadata.name.as_deref().unwrap_or_default();
    let api: Api<Secret> = Api::namespaced(client.clone(), ns);
    let mut body = serde_json::to_value(secret).map_err(kube::Error::SerdeError)?;
    if let Some(m) = body.as_object_mut() {
        m.insert("apiVersion".into(), "v1".into());
        m.insert("kind".into(), "Secret".into());
    }
    api.patch(name, &PatchParams::apply(manager).force(), &Patch::Apply(&body)).await
}

/// Deletes a Secret (already gone counts as done).
pub async fn delete_secret(client: &Client, namespace: &str, name: &str) -> Result<(), kube::Error> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    match api.delete(name, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        Err(e) => Err(e),
    }
}

/// Restarts each target that opted in (annotation `seal.dev/restart-on`
/// naming `source`) by setting a fresh pod-template annotation. Returns
/// what was not restarted, and why.
pub async fn restart_targets(
    client: &Client,
    namespace: &str,
    source: &str,
    targets: &[RolloutTarget],
    stamp: &str,
) -> Vec<String> {
    use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
    let mut failures = Vec::new();
    for t in targets {
        let r = match t.kind.as_str() {
            "Deployment" => restart::<Deployment>(client, namespace, source, &t.name, stamp).await,
            "StatefulSet" => restart::<StatefulSet>(client, namespace, source, &t.name, stamp).await,
            "DaemonSet" => restart::<DaemonSet>(client, namespace, source, &t.name, stamp).await,
            other => Err(format!("unsupported kind {other} (Deployment, StatefulSet, DaemonSet)")),
        };
        if let Err(e) = r {
            failures.push(format!("{}/{}: {e}", t.kind, t.name));
        }
    }
    failures
}

async fn restart<K>(client: &Client, namespace: &str, source: &str, name: &str, stamp: &str) -> Result<(), String>
where
    K: kube::Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let api = Api::<K>::namespaced(client.clone(), namespace);
    let meta = api.get_metadata_opt(name).await.map_err(|e| e.to_string())?.ok_or("it does not exist")?;
    if !super::restart_allowed(meta.metadata.annotations.as_ref(), source) {
        return Err(format!(
            "it has not opted in: annotate it {}={source} (or \"*\") to let seal restart it",
            super::RESTART_ON_ANNOTATION
        ));
    }
    let body = serde_json::json!({"spec": {"template": {"metadata": {"annotations": {super::RESTARTED_AT_ANNOTATION: stamp}}}}});
    api.patch(name, &PatchParams::default(), &Patch::Merge(&body)).await.map(drop).map_err(|e| e.to_string())
}
