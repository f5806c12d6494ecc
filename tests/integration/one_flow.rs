//! Every kind goes through the controller's one flow: a PushSecret and a
//! ClusterExternalSecret that fail show a `Reason` of seal's list in their
//! `Ready` condition, a Warning Event with that reason, and a
//! `seal_reconcile` count under their own kind — as a SealedSecret or an
//! ExternalSecret does.

use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::{Patch, PatchParams};
use libtest_mimic::{Failed, Trial};
use seal::api::cluster_external_secret::ClusterExternalSecret;
use seal::api::push_secret::PushSecret;
use seal::api::{ExternalSecret, Reason};
use serde_json::json;

use crate::env::{self, ensure, wait_for};
use crate::fixtures::metrics::metric;
use crate::fixtures::objects::{cluster_external_secrets_lock, create, events, wait_event, wait_ready};
use crate::fixtures::{Fx, Opts, fmsg, setup};
use crate::process::ControllerProcess;

/// The tests of this file.
pub fn trials() -> Vec<Trial> {
    vec![
        env::trial(
            "one_flow::a_failing_push_secret_shows_a_reason_an_event_and_its_own_kind_in_metrics",
            a_failing_push_secret_shows_a_reason_an_event_and_its_own_kind_in_metrics,
        ),
        env::trial(
            "one_flow::a_failing_cluster_external_secret_shows_a_reason_an_event_and_its_own_kind_in_metrics",
            a_failing_cluster_external_secret_shows_a_reason_an_event_and_its_own_kind_in_metrics,
        ),
    ]
}

/// The source Secret's value: never in a status, an Event or a log.
const CANARY: &str = "canary-OneFlow-push-7Tq";

/// Waits until the controller's `seal_reconcile_total` counts `kind` with
/// `result` at least once.
async fn wait_counted(ctrl: &ControllerProcess, kind: &str, result: &str) -> Result<(), Failed> {
    wait_for(&format!("seal_reconcile_total{{kind={kind},result={result}}}"), Duration::from_secs(30), || async {
        let text = ctrl.metrics().await?;
        let n = metric(&text, "seal_reconcile_total", &[("kind", kind), ("result", result)]);
        if n >= 1.0 { Ok(Some(())) } else { Err(format!("{n}")) }
    })
    .await
}

fn a_failing_push_secret_shows_a_reason_an_event_and_its_own_kind_in_metrics() -> Result<(), Failed> {
    let fx = setup("flow-push")?;
    env::block_on(async {
        let ctrl = fx.start(Opts::default()).await?;
        let secrets: Api<Secret> = fx.secrets();
        // The source Secret has not consented to being pushed.
        create(&secrets, json!({"metadata": {"name": "src"}, "stringData": {"password": CANARY}})).await?;
        let pss: Api<PushSecret> = fx.app.api();
        create(
            &pss,
            json!({"apiVersion": "seal.dev/v1alpha1", "kind": "PushSecret", "metadata": {"name": "push"},
                   "spec": {"refreshInterval": "1s", "deletionPolicy": "Delete",
                            "secretStoreRefs": [{"name": "no-such-store"}],
                            "selector": {"secret": {"name": "src"}},
                            "data": [{"match": {"secretKey": "password", "remoteRef": {"remoteKey": "app/db"}}}]}}),
        )
        .await?;
        let refused = Reason::SecretNotShared.as_str();
        let obj = wait_ready(&pss, "push", "False", refused).await?;
        ensure(
            obj["metadata"]["finalizers"].as_array().is_none_or(|f| f.is_empty()),
            format!("a refused PushSecret got a finalizer: {}", obj["metadata"]["finalizers"]),
        )?;
        wait_event(&fx.cluster.admin(), fx.ns(), "push", "Warning", refused).await?;
        wait_counted(&ctrl, "PushSecret", refused).await?;
        // Consent given: the next failure is the missing store, with its own reason.
        let consent = json!({"metadata": {"annotations": {"seal.dev/allow-push": "push"}}});
        secrets.patch("src", &PatchParams::default(), &Patch::Merge(&consent)).await?;
        let missing = Reason::StoreNotFound.as_str();
        wait_ready(&pss, "push", "False", missing).await?;
        wait_event(&fx.cluster.admin(), fx.ns(), "push", "Warning", missing).await?;
        wait_counted(&ctrl, "PushSecret", missing).await?;
        let text = ctrl.metrics().await?;
        ensure(
            metric(&text, "seal_reconcile_total", &[("kind", "Other")]) == 0.0,
            "no reconcile is counted as kind Other",
        )?;
        // No value anywhere.
        let evs = events(&fx.cluster.admin(), fx.ns(), "push").await?;
        let status = serde_json::to_string(&pss.get("push").await?.status)?;
        for (what, text) in [
            ("the status", status),
            ("the Events", format!("{evs:?}")),
            ("the log", String::from_utf8_lossy(&ctrl.logs()).into_owned()),
        ] {
            ensure(!text.contains(CANARY), format!("{what} holds the source Secret's value"))?;
        }
        Ok(())
    })
}

fn a_failing_cluster_external_secret_shows_a_reason_an_event_and_its_own_kind_in_metrics() -> Result<(), Failed> {
    // Every controller serving ClusterExternalSecrets reconciles every one
    // of them: one test at a time.
    let _one = cluster_external_secrets_lock();
    let fx = setup("flow-ces")?;
    env::block_on(async {
        let target = fx.namespace("flow-ces-t").await?;
        // An ExternalSecret of the chosen name that is someone else's.
        let foreign: Api<ExternalSecret> = target.api();
        create(
            &foreign,
            json!({"apiVersion": "seal.dev/v1alpha1", "kind": "ExternalSecret", "metadata": {"name": "taken"},
                   "spec": {"secretStoreRef": {"name": "none"},
                            "data": [{"secretKey": "k", "remoteRef": {"key": "app/k"}}]}}),
        )
        .await?;
        let ctrl = fx.start(Opts::watching(&[&target.name]).env("SEAL_CLUSTER_EXTERNAL_SECRETS", "true")).await?;
        let name = format!("flow-{}", target.name);
        let cess: Api<ClusterExternalSecret> = Api::all(fx.cluster.admin());
        let result = failing_ces(&fx, &ctrl, &cess, &name, &target.name, &foreign).await;
        // Cluster-scoped: not deleted with the test's namespaces.
        let _ = cess.delete(&name, &Default::default()).await;
        result
    })
}

async fn failing_ces(
    fx: &Fx,
    ctrl: &ControllerProcess,
    cess: &Api<ClusterExternalSecret>,
    name: &str,
    target: &str,
    foreign: &Api<ExternalSecret>,
) -> Result<(), Failed> {
    {
        create(
            cess,
            json!({"apiVersion": "seal.dev/v1alpha1", "kind": "ClusterExternalSecret", "metadata": {"name": name},
                   "spec": {"externalSecretName": "taken", "namespaces": [target],
                            "externalSecretSpec": {"secretStoreRef": {"name": "none"},
                                                   "data": [{"secretKey": "k", "remoteRef": {"key": "app/k"}}]}}}),
        )
        .await?;
        let failed = Reason::ProvisioningFailed.as_str();
        let obj = wait_ready(cess, name, "False", failed).await?;
        ensure(
            obj["status"]["failedNamespaces"][0]["namespace"] == json!(target),
            format!("the failed namespace is listed: {}", obj["status"]),
        )?;
        // A cluster-scoped object's Events go to kube-system.
        wait_event(&fx.cluster.admin(), "kube-system", name, "Warning", failed)
            .await
            .map_err(|e| format!("{}\n{}", fmsg(e), ctrl.log_tail()))?;
        wait_counted(ctrl, "ClusterExternalSecret", failed).await?;
        // The foreign ExternalSecret is left alone.
        let es = foreign.get("taken").await?;
        ensure(es.metadata.owner_references.is_none_or(|o| o.is_empty()), "the foreign ExternalSecret was taken over")?;
        Ok(())
    }
}
