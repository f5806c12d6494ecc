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

use super::reconcile::{finish, guarded};
use super::report::{Extra, Reported, StatusUpdate};
use super::{Context, Error};
use crate::api::cluster_external_secret::{ClusterExternalSecret, FailedNamespace};
use crate::api::{ExternalSecret, Reason};
use crate::key_registry::FIELD_MANAGER;

pub use crate::api::annotations::CLUSTER_EXTERNAL_SECRET_LABEL as OWNER_LABEL;

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
    guarded(&obj, &ctx, |ces| run(ces, &ctx)).await
}

async fn run(ces: &ClusterExternalSecret, ctx: &Context) -> Result<Action, Error> {
    if !ces.spec.unsupported.is_empty() {
        // Nothing is provisioned: the ExternalSecrets made would lack the
        // fields (what exists is left as it is).
        let mut update = StatusUpdate::new(ces.common_status(), ces.meta().generation);
        update.failed(Reason::Unsupported, &crate::api::unknown::unsupported_message(&ces.spec.unsupported));
        return finish(ctx, ces, &update, Vec::new(), Action::await_change()).await;
    }
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
    let mut invalid = false;
    let targets = match chosen(ces, &namespaces, &ctx.watch_namespaces) {
        Ok(t) => t,
        Err(e) => {
            invalid = true;
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
    let old = ces.status.clone().unwrap_or_default();
    let mut update = StatusUpdate::new(ces.common_status(), ces.meta().generation);
    let action = if invalid {
        update.failed(Reason::InvalidDocument, "a namespace selector is not valid; see status.failedNamespaces");
        Action::await_change()
    } else if failed.is_empty() {
        let message = format!("the ExternalSecret {es_name} is in {} namespace(s)", provisioned.len());
        update.ready(Reason::Provisioned, &message);
        Action::requeue(ctx.resync)
    } else {
        let message = format!("{} namespace(s) failed; see status.failedNamespaces", failed.len());
        update.failed(Reason::ProvisioningFailed, &message);
        Action::requeue(Duration::from_secs(30))
    };
    let mut extra: Extra = Vec::new();
    if old.external_secret_name.as_deref() != Some(es_name.as_str()) {
        extra.push(("externalSecretName", serde_json::json!(es_name)));
    }
    if old.provisioned_namespaces != provisioned {
        extra.push(("provisionedNamespaces", serde_json::json!(provisioned)));
    }
    if old.failed_namespaces != failed {
        extra.push(("failedNamespaces", serde_json::json!(failed)));
    }
    finish(ctx, ces, &update, extra, action).await
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
