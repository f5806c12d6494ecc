//! Tests of the test control plane itself (and of the kube usage patterns
//! seal relies on): CRDs from Rust types, server-side apply, garbage
//! collection, RBAC with real ServiceAccount tokens, watches.

use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::runtime::wait::{await_condition, conditions};
use kube::{Api, CustomResource, CustomResourceExt, Resource, ResourceExt};
use libtest_mimic::Failed;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::env::{self, ensure, wait_for, within};

const TIMEOUT: Duration = Duration::from_secs(60);
const MANAGER: &str = "seal-tests";

/// The control plane's own checks, run as one step of the environment's
/// smoke test (`env::smoke`): they exercise the harness and the kube usage
/// patterns seal relies on, not seal's code.
pub fn checks() -> Vec<env::Check> {
    vec![
        (
            "a CRD from Rust types is established and serves objects",
            crd_from_rust_types_is_established_and_serves_objects,
        ),
        (
            "the garbage collector deletes a Secret owned by a deleted ConfigMap",
            garbage_collector_deletes_secret_owned_by_deleted_configmap,
        ),
        (
            "a ServiceAccount gets 403 on Secrets until a RoleBinding grants list",
            service_account_gets_403_on_secrets_until_role_binding_grants_list,
        ),
        ("a watch sees added, modified and deleted ConfigMaps", watch_sees_added_modified_deleted_for_configmap),
    ]
}

/// A small custom resource, only for these tests.
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(group = "harness.seal.dev", version = "v1", kind = "Gadget", namespaced, status = "GadgetStatus")]
pub struct GadgetSpec {
    pub size: u32,
    pub color: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
}

#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct GadgetStatus {
    pub ready: bool,
}

fn crd_from_rust_types_is_established_and_serves_objects() -> Result<(), Failed> {
    let cluster = env::cluster()?;
    env::block_on(async {
        let client = cluster.admin();
        let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
        let crd = Gadget::crd();
        let name = crd.name_any();
        crds.patch(&name, &PatchParams::apply(MANAGER).force(), &Patch::Apply(&crd))
            .await
            .map_err(|e| format!("server-side apply of CRD {name}: {e}"))?;
        let established =
            within("CRD Established", TIMEOUT, await_condition(crds.clone(), &name, conditions::is_crd_established()))
                .await?
                .map_err(|e| format!("waiting for CRD {name}: {e}"))?;
        ensure(established.is_some(), format!("CRD {name} vanished"))?;

        let ns = cluster.namespace("crd").await?;
        let gadgets: Api<Gadget> = ns.api();
        let mut gadget =
            Gadget::new("g1", GadgetSpec { size: 3, color: "teal".into(), tags: vec!["a".into(), "b".into()] });
        gadget.meta_mut().namespace = Some(ns.name.clone());
        // Discovery of a new CRD can lag its Established condition by a moment.
        wait_for("creating a Gadget", TIMEOUT, || async {
            match gadgets.create(&PostParams::default(), &gadget).await {
                Ok(g) => Ok(Some(g)),
                Err(kube::Error::Api(s)) if s.code == 404 => Ok(None),
                Err(e) => Err(e),
            }
        })
        .await?;
        let back = gadgets.get("g1").await?;
        ensure(back.spec == gadget.spec, format!("read back {:?}, wrote {:?}", back.spec, gadget.spec))?;
        ensure(back.uid().is_some(), "object has no uid")?;

        // The status subresource is served too.
        let patched = gadgets
            .patch_status("g1", &PatchParams::default(), &Patch::Merge(json!({"status": {"ready": true}})))
            .await?;
        ensure(
            patched.status == Some(GadgetStatus { ready: true }),
            format!("status after patch: {:?}", patched.status),
        )
    })
}

fn garbage_collector_deletes_secret_owned_by_deleted_configmap() -> Result<(), Failed> {
    let cluster = env::cluster()?;
    env::block_on(async {
        let ns = cluster.namespace("gc").await?;
        let cms: Api<ConfigMap> = ns.api();
        let secrets: Api<Secret> = ns.api();
        let owner = cms
            .create(
                &PostParams::default(),
                &serde_json::from_value(json!({
                    "metadata": {"name": "owner"},
                    "data": {"k": "v"}
                }))?,
            )
            .await?;
        let owner_uid = owner.uid().ok_or("owner has no uid")?;
        let secret = json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": "owned",
                "ownerReferences": [{
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "name": "owner",
                    "uid": owner_uid,
                }],
            },
            "stringData": {"password": "hunter2"},
        });
        secrets.patch("owned", &PatchParams::apply(MANAGER), &Patch::Apply(&secret)).await?;
        let applied = secrets.get("owned").await?;
        let refs = applied.owner_references();
        ensure(refs.len() == 1 && refs[0].uid == owner_uid, format!("owner references after apply: {refs:?}"))?;
        ensure(
            applied.data.as_ref().and_then(|d| d.get("password")).map(|v| v.0.as_slice())
                == Some(b"hunter2".as_slice()),
            "applied Secret lacks its data",
        )?;

        cms.delete("owner", &DeleteParams::background()).await?;
        wait_for("the garbage collector to delete the Secret", TIMEOUT, || async {
            secrets.get_opt("owned").await.map(|s| s.is_none().then_some(()))
        })
        .await
    })
}

fn service_account_gets_403_on_secrets_until_role_binding_grants_list() -> Result<(), Failed> {
    let cluster = env::cluster()?;
    env::block_on(async {
        let ns = cluster.namespace("rbac").await?;
        let sa_client = cluster.client_as_service_account(&ns.name, "reader").await?;
        let as_sa: Api<Secret> = Api::namespaced(sa_client.clone(), &ns.name);

        match as_sa.list(&ListParams::default()).await {
            Err(kube::Error::Api(s)) if s.code == 403 => {}
            other => {
                return Err(format!("listing secrets without rights: expected 403, got {other:?}").into());
            }
        }

        let roles: Api<Role> = ns.api();
        roles
            .create(
                &PostParams::default(),
                &Role {
                    metadata: kube::api::ObjectMeta { name: Some("secret-reader".into()), ..Default::default() },
                    rules: Some(vec![PolicyRule {
                        api_groups: Some(vec![String::new()]),
                        resources: Some(vec!["secrets".into()]),
                        verbs: vec!["get".into(), "list".into()],
                        ..Default::default()
                    }]),
                },
            )
            .await?;
        let bindings: Api<RoleBinding> = ns.api();
        bindings
            .create(
                &PostParams::default(),
                &RoleBinding {
                    metadata: kube::api::ObjectMeta { name: Some("reader-reads-secrets".into()), ..Default::default() },
                    role_ref: RoleRef {
                        api_group: "rbac.authorization.k8s.io".into(),
                        kind: "Role".into(),
                        name: "secret-reader".into(),
                    },
                    subjects: Some(vec![Subject {
                        kind: "ServiceAccount".into(),
                        name: "reader".into(),
                        namespace: Some(ns.name.clone()),
                        ..Default::default()
                    }]),
                },
            )
            .await?;

        // The authorizer's caches take a moment to see the binding.
        wait_for("the RoleBinding to allow listing secrets", TIMEOUT, || async {
            match as_sa.list(&ListParams::default()).await {
                Ok(_) => Ok(Some(())),
                Err(kube::Error::Api(s)) if s.code == 403 => Ok(None),
                Err(e) => Err(e),
            }
        })
        .await?;

        // The Role grants nothing elsewhere.
        let other: Api<Secret> = Api::namespaced(sa_client, "default");
        match other.list(&ListParams::default()).await {
            Err(kube::Error::Api(s)) if s.code == 403 => Ok(()),
            other => Err(format!("listing secrets in default: expected 403, got {other:?}").into()),
        }
    })
}

fn watch_sees_added_modified_deleted_for_configmap() -> Result<(), Failed> {
    let cluster = env::cluster()?;
    env::block_on(async {
        let ns = cluster.namespace("watch").await?;
        let cms: Api<ConfigMap> = ns.api();
        let rv =
            cms.list(&ListParams::default()).await?.metadata.resource_version.ok_or("list has no resourceVersion")?;
        let stream = cms.watch(&WatchParams::default().timeout(50), &rv).await?;

        cms.create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "w"}, "data": {"n": "1"}}))?,
        )
        .await?;
        cms.patch("w", &PatchParams::default(), &Patch::Merge(json!({"data": {"n": "2"}}))).await?;
        cms.delete("w", &DeleteParams::default()).await?;

        let mut seen = Vec::new();
        let mut stream = std::pin::pin!(stream);
        within("watch events", TIMEOUT, async {
            while let Some(ev) = stream.next().await {
                let ev = ev.map_err(|e| format!("watch stream: {e}"))?;
                let (kind, cm) = match ev {
                    WatchEvent::Added(cm) => ("ADDED", cm),
                    WatchEvent::Modified(cm) => ("MODIFIED", cm),
                    WatchEvent::Deleted(cm) => ("DELETED", cm),
                    WatchEvent::Bookmark(_) => continue,
                    WatchEvent::Error(e) => return Err(format!("watch error: {e:?}")),
                };
                let n = cm.data.and_then(|d| d.get("n").cloned()).unwrap_or_default();
                seen.push(format!("{kind}:{}:{n}", cm.metadata.name.unwrap_or_default()));
                if kind == "DELETED" {
                    break;
                }
            }
            Ok(())
        })
        .await??;
        let want = ["ADDED:w:1", "MODIFIED:w:2", "DELETED:w:2"];
        ensure(seen == want, format!("watch saw {seen:?}, expected {want:?}"))
    })
}
