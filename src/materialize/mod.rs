//! Desired data → a Kubernetes Secret, whatever the source. This module is
//! pure: the Secret's shape ([`build_secret`]), what the live Secret says
//! ([`LiveSecret`]), and the drift and ownership decision ([`plan`]). The
//! writes themselves are in [`apply`].

pub mod apply;

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use seal_format::document::SecretData;

use crate::api::Ownership;
use crate::api::{DriftPolicy, SecretTemplate};
use crate::key_registry::FIELD_MANAGER;

pub use crate::api::annotations::{
    ADOPT_ANNOTATION, ALLOW_MERGE_ANNOTATION, DATA_HMAC_ANNOTATION, GENERATION_ANNOTATION, INPUT_DIGEST_ANNOTATION,
    MANAGED_BY_LABEL, MERGE_DIGEST_PREFIX, OWNER_UID_ANNOTATION, RESTART_ON_ANNOTATION, RESTARTED_AT_ANNOTATION,
    RESUME_ANNOTATION, RESUMED_ANNOTATION,
};

/// Keyed HMAC of a live Secret's data, comparable with [`SecretData::hmac`].
pub fn live_data_hmac(key: &[u8], data: &BTreeMap<String, ByteString>) -> String {
    seal_format::document::data_hmac(key, data.iter().map(|(k, v)| (k.as_str(), v.0.as_slice())))
}

pub use seal_format::document::{DEFAULT_REFUSED_ANNOTATION_PREFIXES, invalid_keys, reserved_metadata_key};

/// Checks a Secret template against what seal refuses to write (see
/// [`seal_format::document::check_template_parts`], which `seal render`
/// uses too).
pub fn check_template(template: Option<&SecretTemplate>, refused_prefixes: &[String]) -> Result<(), String> {
    let Some(t) = template else { return Ok(()) };
    let labels = t.metadata.iter().flat_map(|m| m.labels.keys().map(String::as_str));
    let annotations = t.metadata.iter().flat_map(|m| m.annotations.keys().map(String::as_str));
    seal_format::document::check_template_parts(t.type_.as_deref(), labels, annotations, refused_prefixes)
}

/// Whether a workload's annotations let `source` (a SealedSecret's or
/// ExternalSecret's name) restart it.
pub fn restart_allowed(annotations: Option<&BTreeMap<String, String>>, source: &str) -> bool {
    annotations
        .and_then(|a| a.get(RESTART_ON_ANNOTATION))
        .is_some_and(|v| v.split(',').map(str::trim).any(|n| n == "*" || n == source))
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

/// Where and how a source's data becomes a Secret: who owns it and how,
/// the template it is written with, and the workloads restarted when its
/// data changes.
pub struct Target<'a> {
    /// The object the Secret is written for.
    pub owner: Owner<'a>,
    /// Owner reference, adoption, or a merge into someone else's Secret.
    pub ownership: Ownership,
    /// `template` (labels, annotations, type, immutability).
    pub template: Option<&'a SecretTemplate>,
    /// `rolloutRestartTargets`.
    pub restart: &'a [crate::api::RolloutTarget],
}

/// The Secret to apply: name and namespace forced to the owner's; an owner
/// reference only with [`Ownership::Owner`].
pub fn build_secret(
    owner: &Owner<'_>,
    ownership: Ownership,
    template: Option<&SecretTemplate>,
    data: &SecretData,
    hmac: &str,
    digest: &str,
) -> Secret {
    let mut labels = BTreeMap::new();
    let mut annotations = BTreeMap::new();
    let mut finalizers = Vec::new();
    if let Some(m) = template.and_then(|t| t.metadata.as_ref()) {
        labels.extend(m.labels.clone());
        annotations.extend(m.annotations.clone());
        finalizers.extend(m.finalizers.iter().cloned());
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
            finalizers: (!finalizers.is_empty()).then_some(finalizers),
            owner_references: (ownership == Ownership::Owner).then(|| {
                vec![OwnerReference {
                    api_version: owner.api_version.to_owned(),
                    kind: owner.kind.to_owned(),
                    name: owner.name.to_owned(),
                    uid: owner.uid.to_owned(),
                    controller: Some(true),
                    block_owner_deletion: Some(true),
                }]
            }),
            ..Default::default()
        },
        data: Some(to_bytestrings(data)),
        type_: Some(template.and_then(|t| t.type_.clone()).unwrap_or_else(|| "Opaque".into())),
        immutable: template.and_then(|t| t.immutable),
        ..Default::default()
    }
}

/// What a merging object applies to someone else's Secret: its keys and
/// its own digest annotation, nothing else (no labels, no owner, no
/// ownership annotations), under its own field manager.
pub fn build_merge(owner: &Owner<'_>, data: &SecretData, digest: &str) -> Secret {
    Secret {
        metadata: ObjectMeta {
            name: Some(owner.secret_name.to_owned()),
            namespace: Some(owner.namespace.to_owned()),
            annotations: Some(BTreeMap::from([(format!("{MERGE_DIGEST_PREFIX}{}", owner.uid), digest.to_owned())])),
            ..Default::default()
        },
        data: Some(to_bytestrings(data)),
        ..Default::default()
    }
}

/// The field manager of a merging object (one per object, so two objects
/// merging into one Secret keep each other's keys).
pub fn merge_field_manager(owner_uid: &str) -> String {
    format!("{FIELD_MANAGER}/merge/{owner_uid}")
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
    /// The data's key names (not the values).
    pub keys: Vec<String>,
    /// The Secret's owner consents to this object merging keys into it.
    pub merge_allowed: bool,
    /// The input digest this object's last merge recorded.
    pub merged_digest: Option<String>,
    /// The Secret is immutable (a changed value cannot be written to it).
    pub immutable: bool,
}

impl LiveSecret {
    /// Reads the decision-relevant facts from a Secret about the object
    /// `owner_name` (UID `owner_uid`), hashing its data with `key` (the
    /// data itself is not kept).
    pub fn observe(s: &Secret, owner_uid: &str, owner_name: &str, key: &[u8]) -> LiveSecret {
        let actual = live_data_hmac(key, s.data.as_ref().unwrap_or(&BTreeMap::new()));
        LiveSecret::observe_with_hmac(s, owner_uid, owner_name, actual)
    }

    /// As [`observe`](Self::observe), for a Secret whose data HMAC was
    /// computed before (a cached copy that holds key names but no values).
    pub fn observe_with_hmac(s: &Secret, owner_uid: &str, owner_name: &str, actual_hmac: String) -> LiveSecret {
        let ann = s.metadata.annotations.as_ref();
        LiveSecret {
            keys: s.data.iter().flatten().map(|(k, _)| k.clone()).collect(),
            merge_allowed: ann
                .and_then(|a| a.get(ALLOW_MERGE_ANNOTATION))
                .is_some_and(|v| v.split(',').map(str::trim).any(|n| n == "*" || n == owner_name)),
            merged_digest: ann.and_then(|a| a.get(&format!("{MERGE_DIGEST_PREFIX}{owner_uid}"))).cloned(),
            owned: s.metadata.owner_references.iter().flatten().any(|r| r.uid == owner_uid)
                || ann.and_then(|a| a.get(OWNER_UID_ANNOTATION)).is_some_and(|u| u == owner_uid),
            adoptable: ann.and_then(|a| a.get(ADOPT_ANNOTATION)).is_some_and(|v| v == "true"),
            recorded_hmac: ann.and_then(|a| a.get(DATA_HMAC_ANNOTATION)).cloned(),
            actual_hmac,
            recorded_digest: ann.and_then(|a| a.get(INPUT_DIGEST_ANNOTATION)).cloned(),
            recorded_generation: ann.and_then(|a| a.get(GENERATION_ANNOTATION)).and_then(|g| g.parse().ok()),
            recorded_resume: ann.and_then(|a| a.get(RESUMED_ANNOTATION)).cloned(),
            immutable: s.immutable == Some(true),
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
    /// `creationPolicy: Merge` and there is no Secret to merge into.
    MergeTargetMissing,
    /// `creationPolicy: Merge` into a Secret whose owner has not consented.
    MergeNotAllowed,
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
pub fn plan(live: Option<&LiveSecret>, digest: &str, ownership: Ownership, owner: OwnerState) -> Plan {
    if matches!(ownership, Ownership::Merge | Ownership::CreateOrMerge) {
        // Someone else's Secret: seal's keys only, no drift tracking.
        return match live {
            None if ownership == Ownership::CreateOrMerge => Plan::Write,
            None => Plan::MergeTargetMissing,
            Some(l) if !l.merge_allowed => Plan::MergeNotAllowed,
            Some(l) if l.merged_digest.as_deref() == Some(digest) => Plan::UpToDate,
            Some(_) => Plan::Write,
        };
    }
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

#[cfg(test)]
mod tests;
