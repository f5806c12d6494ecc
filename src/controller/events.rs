//! Events (events.k8s.io/v1) about seal's objects: a Warning when
//! something new went wrong (decided by [`super::report::StatusUpdate`]), a
//! Normal one when a Secret was written, sent in the background.

use kube::runtime::events::EventType;
use kube::{Api, Client};
use tracing::warn;

use super::Context;
use super::report::truncate;
use crate::api::Reason;

/// Publishes Events (events.k8s.io/v1) as this controller. Unlike
/// kube-runtime's `Recorder` it keeps no per-Event cache for series: seal
/// emits an Event only when something changed, so there is nothing to
/// aggregate, and that cache would grow with the number of objects.
pub struct EventPublisher {
    client: Client,
    controller: String,
    instance: String,
    /// Events being sent at once: a reconcile does not wait for its Event
    /// unless this many are in flight.
    inflight: std::sync::Arc<tokio::sync::Semaphore>,
}

/// Where the Events about cluster-scoped objects go.
pub const CLUSTER_EVENTS_NAMESPACE: &str = "kube-system";

/// Events sent at once before a reconcile waits for one to finish.
const EVENTS_INFLIGHT: usize = 32;

impl EventPublisher {
    /// A publisher reporting as `controller` (instance: the pod's name).
    pub fn new(client: Client, controller: &str, instance: Option<String>) -> EventPublisher {
        let instance = instance.unwrap_or_else(|| controller.to_owned());
        EventPublisher {
            client,
            controller: controller.to_owned(),
            instance,
            inflight: std::sync::Arc::new(tokio::sync::Semaphore::new(EVENTS_INFLIGHT)),
        }
    }

    fn event(
        &self,
        reference: k8s_openapi::api::core::v1::ObjectReference,
        type_: EventType,
        reason: Reason,
        note: &str,
    ) -> k8s_openapi::api::events::v1::Event {
        use k8s_openapi::api::events::v1::Event as K8sEvent;
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
        let now = k8s_openapi::jiff::Timestamp::now();
        // A cluster-scoped object's Events (ClusterSecretStore,
        // ClusterExternalSecret) go to kube-system: the API server accepts a
        // new-style Event about such an object there on every version
        // (before 1.22 nowhere else; `default` since).
        let ns = reference.namespace.clone().unwrap_or_else(|| CLUSTER_EVENTS_NAMESPACE.to_owned());
        let name = format!("{}.{:x}", reference.name.as_deref().unwrap_or(&self.controller), now.as_nanosecond());
        K8sEvent {
            action: Some("Reconcile".into()),
            reason: Some(reason.as_str().to_owned()),
            event_time: Some(MicroTime(now)),
            regarding: Some(reference),
            note: Some(truncate(note)),
            metadata: kube::api::ObjectMeta { namespace: Some(ns.clone()), name: Some(name), ..Default::default() },
            reporting_controller: Some(self.controller.clone()),
            reporting_instance: Some(self.instance.clone()),
            type_: Some(
                match type_ {
                    EventType::Normal => "Normal",
                    EventType::Warning => "Warning",
                }
                .into(),
            ),
            ..Default::default()
        }
    }
}

/// Publishes an Event about an object in the background (failures are
/// logged): the reconcile goes on while the Event is sent, unless many are
/// in flight already.
pub async fn publish(
    ctx: &Context,
    reference: k8s_openapi::api::core::v1::ObjectReference,
    type_: EventType,
    reason: Reason,
    note: &str,
) {
    let publisher = &ctx.events;
    let ev = publisher.event(reference, type_, reason, note);
    let Ok(permit) = publisher.inflight.clone().acquire_owned().await else { return };
    let ns = ev.metadata.namespace.clone().unwrap_or_default();
    let api: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(publisher.client.clone(), &ns);
    tokio::spawn(async move {
        if let Err(e) = api.create(&kube::api::PostParams::default(), &ev).await {
            warn!(error = %e, "could not publish an Event");
        }
        drop(permit);
    });
}
