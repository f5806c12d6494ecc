//! `ClusterExternalSecret`: the namespaces its selectors choose each get an
//! ExternalSecret with its spec (server-side apply, an owner reference to
//! the ClusterExternalSecret, a label naming it); ExternalSecrets it made
//! in namespaces no longer chosen are deleted. An ExternalSecret of the same
//! name that it did not make is left alone and the namespace reported as
//! failed. Namespace changes (new namespaces, changed labels) re-run every
//! ClusterExternalSecret.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use kube::core::{DeserializeGuard, Selector, SelectorExt};
use kube::runtime::controller::Action;
use kube::{Api, Resource, ResourceExt};

use super::{Context, Error};
use crate::api::cluster_external_secret::{ClusterExternalSecret, FailedNamespace};
use crate::api::{Condition, ExternalSecret};
use crate::key_registry::FIELD_MANAGER;

/// Label on the ExternalSecrets a ClusterExternalSecret made: its name.
pub const OWNER_LABEL: &str = "seal.dev/cluster-external-secret";

/// Which namespaces a ClusterExternalSecret chooses, from all namespaces
/// and their labels (an instance limited to some namespaces: those only).
pub fn chosen(
    ces: &ClusterExternalSecret,
    namespaces: &[(String, BTreeMap<String, String>)],
    watch: &[String],
) -> Result<BTreeSet<String>, String> {
    let spec = &ces.spec;
    let mut selectors = Vec::new();
    for (i, s) in spec.namespace_selectors.iter().chain(spec.namespace_selector.iter()).enumerate() {
        let sel = Selector::try_from(s.clone()).map_err(|e| format!("namespace selector {i}: {e}"))?;
        selectors.push(sel);
    }
    let mut out = BTreeSet::new();
    for (name, labels) in namespaces {
        if spec.namespaces.contains(name) || selectors.iter().any(|s| s.matches(labels)) {
            out.insert(name.clone());
        }
    }
    if !watch.is_empty() {
        out.retain(|n| watch.contains(n));
    }
    Ok(out)
}

/// Reconcile of a ClusterExternalSecret.
pub async fn reconcile(obj: Arc<DeserializeGuard<ClusterExternalSecret>>, ctx: Arc<Context>) -> Result<Action, Error> {
    let Ok(ces) = &obj.0 else { return Ok(Action::await_change()) };
    let client = ctx.sources.client.clone();
    let name = ces.name_any();
    let es_name = ces.spec.external_secret_name.clone().unwrap_or_else(|| name.clone());
    let nss: Api<Namespace> = Api::all(client.clone());
    let namespaces: Vec<(String, BTreeMap<String, String>)> = nss
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter(|n| n.metadata.deletion_timestamp.is_none())
        .map(|n| (n.name_any(), n.metadata.labels.unwrap_or_default()))
        .collect();
    let mut failed = Vec::new();
    let targets = match chosen(ces, &namespaces, &ctx.watch_namespaces) {
        Ok(t) => t,
        Err(e) => {
            failed.push(FailedNamespace { namespace: String::new(), reason: e });
            BTreeSet::new()
        }
    };
    let owner = OwnerReference {
        api_version: ClusterExternalSecret::api_version(&()).into_owned(),
        kind: ClusterExternalSecret::kind(&()).into_owned(),
        name: name.clone(),
        uid: ces.uid().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    };
    let uid = owner.uid.clone();
    let md = ces.spec.external_secret_metadata.clone().unwrap_or_default();
    let mut provisioned = Vec::new();
    for ns in &targets {
        let api: Api<ExternalSecret> = Api::namespaced(client.clone(), ns);
        match api.get_opt(&es_name).await {
            Ok(Some(existing)) if !existing.owner_references().iter().any(|o| o.uid == uid) => {
                failed.push(FailedNamespace {
                    namespace: ns.clone(),
                    reason: format!(
                        "an ExternalSecret {ns}/{es_name} exists and was not made by this ClusterExternalSecret"
                    ),
                });
                continue;
            }
            Err(e) => {
                failed.push(FailedNamespace {
                    namespace: ns.clone(),
                    reason: format!("cannot read ExternalSecret {ns}/{es_name}: {e}"),
                });
                continue;
            }
            _ => {}
        }
        let mut labels = md.labels.clone();
        labels.insert(OWNER_LABEL.to_owned(), name.clone());
        let doc = serde_json::json!({
            "apiVersion": ExternalSecret::api_version(&()),
            "kind": ExternalSecret::kind(&()),
            "metadata": {
                "name": es_name,
                "namespace": ns,
                "labels": labels,
                "annotations": md.annotations,
                "ownerReferences": [owner],
            },
            "spec": ces.spec.external_secret_spec,
        });
        let pp = PatchParams::apply(FIELD_MANAGER).force();
        match api.patch(&es_name, &pp, &Patch::Apply(&doc)).await {
            Ok(_) => provisioned.push(ns.clone()),
            Err(e) => failed.push(FailedNamespace {
                namespace: ns.clone(),
                reason: format!("cannot write ExternalSecret {ns}/{es_name}: {e}"),
            }),
        }
    }
    // ExternalSecrets it made where it no longer should be.
    let all: Api<ExternalSecret> = Api::all(client.clone());
    let made = all.list(&ListParams::default().labels(&format!("{OWNER_LABEL}={name}"))).await?;
    for es in made.items {
        let ns = es.namespace().unwrap_or_default();
        let ours = es.owner_references().iter().any(|o| o.uid == uid);
        if ours && (!targets.contains(&ns) || es.name_any() != es_name) {
            let api: Api<ExternalSecret> = Api::namespaced(client.clone(), &ns);
            if let Err(e) = api.delete(&es.name_any(), &DeleteParams::background()).await {
                failed.push(FailedNamespace {
                    namespace: ns.clone(),
                    reason: format!("cannot delete ExternalSecret {ns}/{}: {e}", es.name_any()),
                });
            }
        }
    }
    let ok = failed.is_empty();
    let old = ces.status.clone().unwrap_or_default();
    let generation = ces.meta().generation;
    let (status, reason, message) = if ok {
        ("True", "Provisioned", format!("the ExternalSecret {es_name} is in {} namespace(s)", provisioned.len()))
    } else {
        ("False", "ProvisioningFailed", format!("{} namespace(s) failed; see status.failedNamespaces", failed.len()))
    };
    let prev = old.conditions.iter().find(|c| c.type_ == "Ready");
    let since = match prev {
        Some(c) if c.status == status => c.last_transition_time.clone(),
        _ => Some(chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()),
    };
    let condition = Condition {
        type_: "Ready".into(),
        status: status.into(),
        reason: reason.into(),
        message: super::report::truncate(&message),
        last_transition_time: since,
        observed_generation: generation,
    };
    let changed = old.observed_generation != generation
        || old.provisioned_namespaces != provisioned
        || old.failed_namespaces != failed
        || old.external_secret_name.as_deref() != Some(es_name.as_str())
        || prev != Some(&condition);
    if changed {
        let patch = serde_json::json!({"status": {
            "observedGeneration": generation,
            "externalSecretName": es_name,
            "provisionedNamespaces": provisioned,
            "failedNamespaces": failed,
            "conditions": [condition],
        }});
        let api: Api<ClusterExternalSecret> = Api::all(client);
        api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch)).await?;
    }
    Ok(if ok { Action::requeue(ctx.resync) } else { Action::requeue(Duration::from_secs(30)) })
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};

    use super::*;
    use crate::api::cluster_external_secret::ClusterExternalSecretSpec;

    fn ces(spec: ClusterExternalSecretSpec) -> ClusterExternalSecret {
        ClusterExternalSecret::new("c", spec)
    }

    fn ns(list: &[(&str, &[(&str, &str)])]) -> Vec<(String, BTreeMap<String, String>)> {
        list.iter()
            .map(|(n, l)| ((*n).to_owned(), l.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()))
            .collect()
    }

    #[test]
    fn namespaces_are_chosen_by_any_selector_or_by_name() {
        let all = ns(&[("a", &[("team", "x")]), ("b", &[("team", "y")]), ("c", &[]), ("d", &[("env", "prod")])]);
        let spec = ClusterExternalSecretSpec {
            namespace_selectors: vec![LabelSelector {
                match_labels: Some([("team".to_owned(), "x".to_owned())].into()),
                ..Default::default()
            }],
            namespace_selector: Some(LabelSelector {
                match_expressions: Some(vec![LabelSelectorRequirement {
                    key: "env".into(),
                    operator: "Exists".into(),
                    values: None,
                }]),
                ..Default::default()
            }),
            namespaces: vec!["c".into()],
            ..Default::default()
        };
        let got = chosen(&ces(spec.clone()), &all, &[]).expect("valid");
        assert_eq!(got.into_iter().collect::<Vec<_>>(), vec!["a", "c", "d"]);
        let limited = chosen(&ces(spec), &all, &["a".to_owned(), "b".to_owned()]).expect("valid");
        assert_eq!(limited.into_iter().collect::<Vec<_>>(), vec!["a"]);
        let none = chosen(&ces(ClusterExternalSecretSpec::default()), &all, &[]).expect("valid");
        assert!(none.is_empty(), "no selector chooses nothing");
        let bad = ClusterExternalSecretSpec {
            namespace_selectors: vec![LabelSelector {
                match_expressions: Some(vec![LabelSelectorRequirement {
                    key: "k".into(),
                    operator: "Sideways".into(),
                    values: None,
                }]),
                ..Default::default()
            }],
            ..Default::default()
        };
        assert!(chosen(&ces(bad), &all, &[]).is_err());
    }
}
