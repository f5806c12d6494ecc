//! The writes: server-side apply of the Secret with seal's field manager,
//! deletion, and rollout restarts. The one place a Secret is written.

use k8s_openapi::api::core::v1::Secret;
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::{Api, Client};
use seal_format::document::SecretData;

use super::{LiveSecret, Owner, build_secret};
use crate::api::{RolloutTarget, SecretTemplate};
use crate::key_registry::FIELD_MANAGER;
use crate::sources::Ownership;

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
/// restarts the targets when the data changed.
#[allow(clippy::too_many_arguments)]
pub async fn write(
    client: &Client,
    hmac_key: &[u8],
    owner: &Owner<'_>,
    ownership: Ownership,
    template: Option<&SecretTemplate>,
    data: &SecretData,
    digest: &str,
    live: Option<&LiveSecret>,
    targets: &[RolloutTarget],
) -> Result<Written, kube::Error> {
    let hmac = data.hmac(hmac_key);
    let secret = build_secret(owner, ownership, template, data, &hmac, digest);
    apply_secret(client, &secret).await?;
    drop(secret);
    let data_changed = live.is_some_and(|l| l.actual_hmac != hmac);
    let mut restart_failures = Vec::new();
    if data_changed && !targets.is_empty() {
        let stamp = chrono::Utc::now().to_rfc3339();
        restart_failures = restart_targets(client, owner.namespace, targets, &stamp).await;
    }
    Ok(Written { hmac, data_changed, restart_failures })
}

/// Server-side applies the Secret (taking over fields from other managers).
pub async fn apply_secret(client: &Client, secret: &Secret) -> Result<Secret, kube::Error> {
    let ns = secret.metadata.namespace.as_deref().unwrap_or_default();
    let name = secret.metadata.name.as_deref().unwrap_or_default();
    let api: Api<Secret> = Api::namespaced(client.clone(), ns);
    let mut body = serde_json::to_value(secret).map_err(kube::Error::SerdeError)?;
    if let Some(m) = body.as_object_mut() {
        m.insert("apiVersion".into(), "v1".into());
        m.insert("kind".into(), "Secret".into());
    }
    api.patch(name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&body)).await
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

/// Restarts each target by setting a fresh pod-template annotation.
pub async fn restart_targets(client: &Client, namespace: &str, targets: &[RolloutTarget], stamp: &str) -> Vec<String> {
    use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
    let mut failures = Vec::new();
    let body = serde_json::json!({"spec": {"template": {"metadata": {"annotations": {super::RESTARTED_AT_ANNOTATION: stamp}}}}});
    for t in targets {
        let patch = Patch::Merge(&body);
        let pp = PatchParams::default();
        let r = match t.kind.as_str() {
            "Deployment" => {
                Api::<Deployment>::namespaced(client.clone(), namespace).patch(&t.name, &pp, &patch).await.map(drop)
            }
            "StatefulSet" => {
                Api::<StatefulSet>::namespaced(client.clone(), namespace).patch(&t.name, &pp, &patch).await.map(drop)
            }
            "DaemonSet" => {
                Api::<DaemonSet>::namespaced(client.clone(), namespace).patch(&t.name, &pp, &patch).await.map(drop)
            }
            other => {
                failures.push(format!("{other}/{}: unsupported kind (Deployment, StatefulSet, DaemonSet)", t.name));
                continue;
            }
        };
        if let Err(e) = r {
            failures.push(format!("{}/{}: {e}", t.kind, t.name));
        }
    }
    failures
}
