//! Reconcile of a SealedSecret: read the live Secret (metadata and an HMAC
//! of its data), decide, decrypt only when a write is due, apply, report.

use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Secret;
use kube::core::DeserializeGuard;
use kube::runtime::controller::Action;
use kube::{Api, Resource, ResourceExt};
use tracing::{Instrument, info_span, warn};

use super::status::{CommonStatus, Outcome, StatusUpdate};
use super::{Context, Error, Written, finish, record_write, write_secret};
use crate::api::{DriftPolicy, SealedSecret};
use crate::materialize::{self, LiveSecret, OwnerState, Plan};
use crate::sources::sealed::{SealedError, desired_data};

/// The kube-runtime reconcile function for SealedSecrets.
pub async fn reconcile(obj: Arc<DeserializeGuard<SealedSecret>>, ctx: Arc<Context>) -> Result<Action, Error> {
    let ss = match &obj.0 {
        Ok(ss) => ss,
        Err(invalid) => {
            // The object does not match the schema: report it by name only
            // (serde's message could quote a value).
            let ns = invalid.metadata.namespace.clone().unwrap_or_default();
            let name = invalid.metadata.name.clone().unwrap_or_default();
            warn!(namespace = %ns, name = %name, "a SealedSecret does not match its schema");
            ctx.metrics.inc("seal_reconcile_total", &[("kind", "SealedSecret"), ("result", "InvalidDocument")]);
            return Ok(Action::await_change());
        }
    };
    let span = info_span!("reconcile", kind = "SealedSecret", namespace = %ss.namespace().unwrap_or_default(), name = %ss.name_any());
    let start = Instant::now();
    let result = reconcile_sealed(ss, &ctx).instrument(span).await;
    ctx.metrics.observe("SealedSecret", start.elapsed());
    result
}

/// Drift policy as a bounded metric label.
pub(crate) fn policy_label(p: DriftPolicy) -> &'static str {
    match p {
        DriftPolicy::Revert => "Revert",
        DriftPolicy::Alert => "Alert",
        DriftPolicy::Pause => "Pause",
    }
}

/// Status for a drift that is left in place (Alert, Pause, or a deletion).
pub(crate) fn report_drift(update: &mut StatusUpdate, plan: Plan, exists: bool) {
    let (reason, what) = match (plan, exists) {
        (Plan::Paused, true) => (
            "DriftPaused",
            "the Secret's data was changed outside seal; driftPolicy Pause: seal stops writing it until the spec changes or the seal.dev/resume annotation gets a new value",
        ),
        (_, true) => (
            "DriftDetected",
            "the Secret's data was changed outside seal; driftPolicy Alert: the change is left in place",
        ),
        (Plan::Paused, false) => (
            "DriftPaused",
            "the Secret was deleted outside seal; driftPolicy Pause: it is not recreated until the spec changes or the seal.dev/resume annotation gets a new value",
        ),
        _ => ("DriftDetected", "the Secret was deleted outside seal; driftPolicy Alert: it is not recreated"),
    };
    update.ready(Outcome::ok("Materialized", "the Secret was materialized; see the Drifted condition"));
    update.drifted(reason, what);
}

/// Status for a Secret of the same name that belongs to someone else.
pub(crate) fn report_not_owned(update: &mut StatusUpdate, name: &str) {
    update.ready(Outcome::failed(
        "SecretNotOwned",
        &format!(
            "a Secret named {name} exists and is not owned by this object; it is left alone. Delete it, or annotate it {}=\"true\" to let seal take it over",
            materialize::ADOPT_ANNOTATION
        ),
    ));
}

async fn reconcile_sealed(ss: &SealedSecret, ctx: &Context) -> Result<Action, Error> {
    let ns = ss.namespace().unwrap_or_default();
    let name = ss.name_any();
    let uid = ss.uid().unwrap_or_default();
    let status = ss.status.clone().unwrap_or_default();
    let common = CommonStatus {
        observed_generation: status.observed_generation,
        conditions: status.conditions.clone(),
        resumed: status.resumed.clone(),
    };
    let mut update = StatusUpdate::new(common, ss.metadata.generation);
    let no_extra = serde_json::json!({});

    if ss.spec.suspend == Some(true) {
        update.ready(Outcome::failed("Suspended", "spec.suspend is true: the Secret is left as it is"));
        return finish(ctx, ss, &update, no_extra, "Suspended", Action::await_change()).await;
    }

    let hmac_key = ctx.registry.hmac_key_bytes().ok_or(Error::KeysNotLoaded)?;
    let recipients = ctx.registry.recipients().join(",");
    let spec_json = serde_json::to_vec(&ss.spec).unwrap_or_default();
    let sops_json = serde_json::to_vec(&ss.sops).unwrap_or_default();
    let digest =
        materialize::input_digest(&[&spec_json, &sops_json, recipients.as_bytes(), ns.as_bytes(), name.as_bytes()]);

    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &ns);
    let current = secrets.get_opt(&name).await?;
    let live = current.as_ref().map(|s| LiveSecret::observe(s, &uid, &hmac_key[..]));
    drop(current);
    let resume = ss.annotations().get(materialize::RESUME_ANNOTATION).cloned();
    let policy = ss.spec.drift_policy.unwrap_or_default();
    let owner_state = OwnerState::new(
        policy,
        ss.metadata.generation,
        resume.as_deref(),
        status.observed_generation,
        status.resumed.as_deref(),
        super::status::is_ready(&status.conditions),
        live.as_ref(),
    );
    let plan = materialize::plan(live.as_ref(), &digest, owner_state);
    match plan {
        Plan::UpToDate => {
            update.ready(Outcome::ok("Materialized", "the Secret holds the desired data"));
            update.not_drifted();
        }
        Plan::NotOwned => report_not_owned(&mut update, &name),
        Plan::Alert | Plan::Paused | Plan::DeletedLeft => {
            ctx.metrics.inc("seal_drift_total", &[("policy", policy_label(policy))]);
            report_drift(&mut update, plan, live.is_some());
        }
        Plan::Write | Plan::Revert => {
            ctx.metrics.inc("seal_decrypt_total", &[]);
            let data = match desired_data(ss, &ctx.registry.identities()) {
                Ok(d) => d,
                Err(e) => {
                    ctx.metrics.inc("seal_decrypt_errors_total", &[("reason", e.reason())]);
                    update.ready(Outcome::failed(e.reason(), &e.to_string()));
                    let retry = match e {
                        SealedError::NoMatchingKey(_) => Duration::from_secs(60),
                        _ => ctx.resync,
                    };
                    return finish(ctx, ss, &update, no_extra, e.reason(), Action::requeue(retry)).await;
                }
            };
            let owner = materialize::Owner {
                api_version: &SealedSecret::api_version(&()),
                kind: &SealedSecret::kind(&()),
                name: &name,
                secret_name: &name,
                namespace: &ns,
                uid: &uid,
                generation: ss.metadata.generation,
                resume: resume.as_deref(),
            };
            let template = ss.spec.template.as_ref();
            let written = write_secret(
                ctx,
                &owner,
                true,
                template,
                &data,
                &digest,
                live.as_ref(),
                &ss.spec.rollout_restart_targets,
            )
            .await;
            drop(data);
            let resume = owner_state.resume_requested.then(|| resume.clone());
            let ok = "the Secret holds the desired data";
            if let Written::Forbidden = record_write(ctx, ss, &mut update, written, plan, policy, resume, ok).await? {
                return finish(ctx, ss, &update, no_extra, "Forbidden", Action::requeue(Duration::from_secs(10))).await;
            }
        }
    }
    let label = update.ready_reason().to_owned();
    finish(ctx, ss, &update, no_extra, &label, Action::requeue(ctx.resync)).await
}
