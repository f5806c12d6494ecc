//! Desired data → a Kubernetes Secret, whatever the source: the Secret's
//! shape (pure), the drift decision (pure), and the writes (server-side
//! apply with one field manager, rollout restarts).

use std::collections::BTreeMap;

use hmac::{Hmac, Mac};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::{Patch, PatchParams};
use kube::{Api, Client};
use sha2::{Digest, Sha256};

use crate::api::{DriftPolicy, RolloutTarget, SecretTemplate};
use crate::keys::FIELD_MANAGER;
use crate::sources::SecretData;

/// Annotation: keyed HMAC of the data the controller last wrote.
pub const DATA_HMAC_ANNOTATION: &str = "seal.dev/data-hmac";
/// Annotation: digest of the inputs the data was made from.
pub const INPUT_DIGEST_ANNOTATION: &str = "seal.dev/input-digest";
/// Annotation: UID of the object the Secret was written for (also with no
/// owner reference, as with creationPolicy Orphan).
pub const OWNER_UID_ANNOTATION: &str = "seal.dev/owner-uid";
/// Annotation: the owner's generation the data was written for.
pub const GENERATION_ANNOTATION: &str = "seal.dev/generation";
/// Annotation: the resume annotation value the last write acted on.
pub const RESUMED_ANNOTATION: &str = "seal.dev/resumed";
/// Annotation on an existing Secret: the controller may take it over.
pub const ADOPT_ANNOTATION: &str = "seal.dev/adopt";
/// Annotation on a SealedSecret: a new value resumes a paused Secret.
pub const RESUME_ANNOTATION: &str = "seal.dev/resume";
/// Pod-template annotation set on rollout restart targets.
pub const RESTARTED_AT_ANNOTATION: &str = "seal.dev/restartedAt";
/// Label on every materialized Secret.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";

/// Keyed HMAC-SHA256 of a Secret's data (keys and values, length-prefixed),
/// hex. Fingerprints data without keeping it.
pub fn data_hmac(key: &[u8], data: &BTreeMap<String, ByteString>) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC takes any key"));
    for (k, v) in data {
        mac.update(&(k.len() as u64).to_be_bytes());
        mac.update(k.as_bytes());
        mac.update(&(v.0.len() as u64).to_be_bytes());
        mac.update(&v.0);
    }
    hex::encode(mac.finalize().into_bytes())
}

/// SHA-256 over the parts that determine the desired Secret.
pub fn input_digest(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
    }
    hex::encode(&h.finalize()[..16])
}

/// What owns the Secret.
pub struct Owner<'a> {
    /// `seal.dev/v1alpha1`.
    pub api_version: &'a str,
    /// `SealedSecret`.
    pub kind: &'a str,
    /// The owner's name.
    pub name: &'a str,
    /// The Secret's name (the owner's, for SealedSecrets).
    pub secret_name: &'a str,
    /// Namespace (also the Secret's).
    pub namespace: &'a str,
    /// UID.
    pub uid: &'a str,
    /// The owner's `metadata.generation`.
    pub generation: Option<i64>,
    /// The owner's resume annotation, if any.
    pub resume: Option<&'a str>,
}

/// The Secret to apply: name and namespace forced to the owner's.
pub fn build_secret(
    owner: &Owner<'_>,
    template: Option<&SecretTemplate>,
    data: &SecretData,
    hmac: &str,
    digest: &str,
) -> Secret {
    let mut labels = BTreeMap::new();
    let mut annotations = BTreeMap::new();
    if let Some(m) = template.and_then(|t| t.metadata.as_ref()) {
        labels.extend(m.labels.clone());
        annotations.extend(m.annotations.clone());
    }
    labels.insert(MANAGED_BY_LABEL.to_owned(), FIELD_MANAGER.to_owned());
    annotations.insert(DATA_HMAC_ANNOTATION.to_owned(), hmac.to_owned());
    annotations.insert(INPUT_DIGEST_ANNOTATION.to_owned(), digest.to_owned());
    annotations.insert(OWNER_UID_ANNOTATION.to_owned(), owner.uid.to_owned());
    if let Some(g) = owner.generation {
        annotations.insert(GENERATION_ANNOTATION.to_owned(), g.to_string());
    }
    if let Some(r) = owner.resume {
        annotations.insert(RESUMED_ANNOTATION.to_owned(), r.to_owned());
    }
    Secret {
        metadata: ObjectMeta {
            name: Some(owner.secret_name.to_owned()),
            namespace: Some(owner.namespace.to_owned()),
            labels: Some(labels),
            annotations: Some(annotations),
            owner_references: Some(vec![OwnerReference {
                api_version: owner.api_version.to_owned(),
                kind: owner.kind.to_owned(),
                name: owner.name.to_owned(),
                uid: owner.uid.to_owned(),
                controller: Some(true),
                block_owner_deletion: Some(true),
            }]),
            ..Default::default()
        },
        data: Some(to_bytestrings(data)),
        type_: Some(template.and_then(|t| t.type_.clone()).unwrap_or_else(|| "Opaque".into())),
        immutable: template.and_then(|t| t.immutable),
        ..Default::default()
    }
}

/// The data as the API's byte strings.
pub fn to_bytestrings(data: &SecretData) -> BTreeMap<String, ByteString> {
    data.0.iter().map(|(k, v)| (k.clone(), ByteString(v.to_vec()))).collect()
}

/// What the live Secret looks like, reduced to what decisions need (no data).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveSecret {
    /// Owned by this object (ownerReference with its UID).
    pub owned: bool,
    /// Carries the adopt annotation.
    pub adoptable: bool,
    /// HMAC of the data the controller last wrote (annotation).
    pub recorded_hmac: Option<String>,
    /// HMAC of the data it holds now.
    pub actual_hmac: String,
    /// The input digest annotation.
    pub recorded_digest: Option<String>,
    /// The owner generation the data was written for.
    pub recorded_generation: Option<i64>,
    /// The resume value the last write acted on.
    pub recorded_resume: Option<String>,
}

impl LiveSecret {
    /// Reads the decision-relevant facts from a Secret, hashing its data
    /// with `key` (the data itself is not kept).
    pub fn observe(s: &Secret, owner_uid: &str, key: &[u8]) -> LiveSecret {
        let ann = s.metadata.annotations.as_ref();
        LiveSecret {
            owned: s.metadata.owner_references.iter().flatten().any(|r| r.uid == owner_uid)
                || ann.and_then(|a| a.get(OWNER_UID_ANNOTATION)).is_some_and(|u| u == owner_uid),
            adoptable: ann.and_then(|a| a.get(ADOPT_ANNOTATION)).is_some_and(|v| v == "true"),
            recorded_hmac: ann.and_then(|a| a.get(DATA_HMAC_ANNOTATION)).cloned(),
            actual_hmac: data_hmac(key, s.data.as_ref().unwrap_or(&BTreeMap::new())),
            recorded_digest: ann.and_then(|a| a.get(INPUT_DIGEST_ANNOTATION)).cloned(),
            recorded_generation: ann.and_then(|a| a.get(GENERATION_ANNOTATION)).and_then(|g| g.parse().ok()),
            recorded_resume: ann.and_then(|a| a.get(RESUMED_ANNOTATION)).cloned(),
        }
    }

    /// Someone changed the data since the controller wrote it.
    pub fn drifted(&self) -> bool {
        self.owned && self.recorded_hmac.as_deref().is_some_and(|h| h != self.actual_hmac)
    }
}

/// What the reconciler should do with the Secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// Inputs and data unchanged since the last write: nothing to do, no decryption.
    UpToDate,
    /// Write the desired data (first time, inputs changed, or adopting).
    Write,
    /// The data was changed by someone else: restore it (Revert).
    Revert,
    /// The data was changed by someone else: report only (Alert).
    Alert,
    /// The data was changed by someone else: leave it and stop writing (Pause).
    Paused,
    /// The Secret was deleted by someone else while the policy says leave it.
    DeletedLeft,
    /// A Secret of that name exists and is not ours.
    NotOwned,
}

impl OwnerState {
    /// Facts from the owner and the live Secret. The Secret is read fresh on
    /// every reconcile, while the owner's status may lag in the watch cache:
    /// what the last write acted on is taken from the Secret when it has it.
    pub fn new(
        policy: DriftPolicy,
        generation: Option<i64>,
        resume: Option<&str>,
        status_generation: Option<i64>,
        status_resumed: Option<&str>,
        was_materialized: bool,
        live: Option<&LiveSecret>,
    ) -> OwnerState {
        let written_generation = live.and_then(|l| l.recorded_generation).or(status_generation);
        let written_resume = live.and_then(|l| l.recorded_resume.as_deref()).or(status_resumed);
        OwnerState {
            policy,
            spec_changed: written_generation.is_some() && written_generation != generation,
            resume_requested: resume.is_some() && resume != written_resume && resume != status_resumed,
            was_materialized,
        }
    }
}

/// Facts about the owner object for the drift decision.
#[derive(Debug, Clone, Copy)]
pub struct OwnerState {
    /// The drift policy.
    pub policy: DriftPolicy,
    /// The spec changed since the last reconcile (generation moved on).
    pub spec_changed: bool,
    /// The resume annotation has a value not yet acted on.
    pub resume_requested: bool,
    /// The object was materialized before (Ready at an earlier point).
    pub was_materialized: bool,
}

/// The drift and ownership decision: pure, so it is unit-tested.
pub fn plan(live: Option<&LiveSecret>, digest: &str, owner: OwnerState) -> Plan {
    let explicit = owner.spec_changed || owner.resume_requested;
    match live {
        None => {
            if owner.was_materialized && !explicit {
                match owner.policy {
                    DriftPolicy::Revert => Plan::Revert,
                    DriftPolicy::Alert | DriftPolicy::Pause => Plan::DeletedLeft,
                }
            } else {
                Plan::Write
            }
        }
        Some(l) if !l.owned && !l.adoptable => Plan::NotOwned,
        Some(l) if !l.owned => Plan::Write,
        Some(l) if l.drifted() => match (owner.policy, explicit) {
            (_, true) => Plan::Write,
            (DriftPolicy::Revert, _) => Plan::Revert,
            (DriftPolicy::Alert, _) => Plan::Alert,
            (DriftPolicy::Pause, _) => Plan::Paused,
        },
        Some(l) if l.recorded_digest.as_deref() == Some(digest) && l.recorded_hmac.is_some() => Plan::UpToDate,
        Some(_) => Plan::Write,
    }
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

/// Restarts each target by setting a fresh pod-template annotation.
pub async fn restart_targets(client: &Client, namespace: &str, targets: &[RolloutTarget], stamp: &str) -> Vec<String> {
    use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
    let mut failures = Vec::new();
    let body =
        serde_json::json!({"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT_ANNOTATION: stamp}}}}});
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

#[cfg(test)]
mod tests {
    use super::*;

    fn live(owned: bool, recorded: Option<&str>, actual: &str, digest: Option<&str>) -> LiveSecret {
        LiveSecret {
            owned,
            adoptable: false,
            recorded_hmac: recorded.map(str::to_owned),
            actual_hmac: actual.to_owned(),
            recorded_digest: digest.map(str::to_owned),
            recorded_generation: None,
            recorded_resume: None,
        }
    }

    fn state(policy: DriftPolicy) -> OwnerState {
        OwnerState { policy, spec_changed: false, resume_requested: false, was_materialized: true }
    }

    #[test]
    fn unchanged_inputs_and_data_need_nothing() {
        let l = live(true, Some("h"), "h", Some("d"));
        assert_eq!(plan(Some(&l), "d", state(DriftPolicy::Revert)), Plan::UpToDate);
    }

    #[test]
    fn changed_inputs_are_written() {
        let l = live(true, Some("h"), "h", Some("old"));
        assert_eq!(plan(Some(&l), "new", state(DriftPolicy::Revert)), Plan::Write);
    }

    #[test]
    fn drift_follows_the_policy() {
        let l = live(true, Some("h"), "other", Some("d"));
        assert_eq!(plan(Some(&l), "d", state(DriftPolicy::Revert)), Plan::Revert);
        assert_eq!(plan(Some(&l), "d", state(DriftPolicy::Alert)), Plan::Alert);
        assert_eq!(plan(Some(&l), "d", state(DriftPolicy::Pause)), Plan::Paused);
    }

    #[test]
    fn a_spec_change_or_resume_ends_a_pause() {
        let l = live(true, Some("h"), "other", Some("d"));
        let mut s = state(DriftPolicy::Pause);
        s.spec_changed = true;
        assert_eq!(plan(Some(&l), "d2", s), Plan::Write);
        let mut s = state(DriftPolicy::Pause);
        s.resume_requested = true;
        assert_eq!(plan(Some(&l), "d", s), Plan::Write);
    }

    #[test]
    fn foreign_secrets_are_left_alone_unless_adoptable() {
        let mut l = live(false, None, "x", None);
        assert_eq!(plan(Some(&l), "d", state(DriftPolicy::Revert)), Plan::NotOwned);
        l.adoptable = true;
        assert_eq!(plan(Some(&l), "d", state(DriftPolicy::Revert)), Plan::Write);
    }

    #[test]
    fn a_deleted_secret_follows_the_policy() {
        assert_eq!(plan(None, "d", state(DriftPolicy::Revert)), Plan::Revert);
        assert_eq!(plan(None, "d", state(DriftPolicy::Pause)), Plan::DeletedLeft);
        let mut first = state(DriftPolicy::Pause);
        first.was_materialized = false;
        assert_eq!(plan(None, "d", first), Plan::Write);
    }

    #[test]
    fn hmac_depends_on_key_and_data() {
        let mut d = BTreeMap::new();
        d.insert("a".to_owned(), ByteString(b"1".to_vec()));
        let h1 = data_hmac(b"k1", &d);
        assert_ne!(h1, data_hmac(b"k2", &d));
        d.insert("a".to_owned(), ByteString(b"2".to_vec()));
        assert_ne!(h1, data_hmac(b"k1", &d));
    }
}
