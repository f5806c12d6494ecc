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
            keys: Vec::new(),
            merge_allowed: false,
            merged_digest: None,
            immutable: false,
        }
    }

    fn state(policy: DriftPolicy) -> OwnerState {
        OwnerState { policy, spec_changed: false, resume_requested: false, was_materialized: true }
    }

    #[test]
    fn unchanged_inputs_and_data_need_nothing() {
        let l = live(true, Some("h"), "h", Some("d"));
        assert_eq!(plan(Some(&l), "d", Ownership::Owner, state(DriftPolicy::Revert)), Plan::UpToDate);
    }

    #[test]
    fn changed_inputs_are_written() {
        let l = live(true, Some("h"), "h", Some("old"));
        assert_eq!(plan(Some(&l), "new", Ownership::Owner, state(DriftPolicy::Revert)), Plan::Write);
    }

    #[test]
    fn drift_follows_the_policy() {
        let l = live(true, Some("h"), "other", Some("d"));
        assert_eq!(plan(Some(&l), "d", Ownership::Owner, state(DriftPolicy::Revert)), Plan::Revert);
        assert_eq!(plan(Some(&l), "d", Ownership::Owner, state(DriftPolicy::Alert)), Plan::Alert);
        assert_eq!(plan(Some(&l), "d", Ownership::Owner, state(DriftPolicy::Pause)), Plan::Paused);
    }

    #[test]
    fn a_spec_change_or_resume_ends_a_pause() {
        let l = live(true, Some("h"), "other", Some("d"));
        let mut s = state(DriftPolicy::Pause);
        s.spec_changed = true;
        assert_eq!(plan(Some(&l), "d2", Ownership::Owner, s), Plan::Write);
        let mut s = state(DriftPolicy::Pause);
        s.resume_requested = true;
        assert_eq!(plan(Some(&l), "d", Ownership::Owner, s), Plan::Write);
    }

    #[test]
    fn foreign_secrets_are_left_alone_unless_adoptable() {
        let mut l = live(false, None, "x", None);
        assert_eq!(plan(Some(&l), "d", Ownership::Owner, state(DriftPolicy::Revert)), Plan::NotOwned);
        l.adoptable = true;
        assert_eq!(plan(Some(&l), "d", Ownership::Owner, state(DriftPolicy::Revert)), Plan::Write);
    }

    #[test]
    fn a_deleted_secret_follows_the_policy() {
        assert_eq!(plan(None, "d", Ownership::Owner, state(DriftPolicy::Revert)), Plan::Revert);
        assert_eq!(plan(None, "d", Ownership::Owner, state(DriftPolicy::Pause)), Plan::DeletedLeft);
        let mut first = state(DriftPolicy::Pause);
        first.was_materialized = false;
        assert_eq!(plan(None, "d", Ownership::Owner, first), Plan::Write);
    }

    #[test]
    fn merge_needs_consent_writes_only_into_an_existing_secret_and_ignores_drift() {
        let s = state(DriftPolicy::Revert);
        assert_eq!(plan(None, "d", Ownership::Merge, s), Plan::MergeTargetMissing);
        let mut foreign = live(false, None, "x", Some("d"));
        assert_eq!(plan(Some(&foreign), "d", Ownership::Merge, s), Plan::MergeNotAllowed);
        foreign.merge_allowed = true;
        assert_eq!(plan(Some(&foreign), "d", Ownership::Merge, s), Plan::Write, "its own digest is not recorded yet");
        foreign.merged_digest = Some("d".into());
        assert_eq!(plan(Some(&foreign), "d", Ownership::Merge, s), Plan::UpToDate);
        assert_eq!(plan(Some(&foreign), "new", Ownership::Merge, s), Plan::Write);
        let mut drifted = live(true, Some("h"), "other", Some("d"));
        drifted.merge_allowed = true;
        drifted.merged_digest = Some("d".into());
        assert_eq!(plan(Some(&drifted), "d", Ownership::Merge, s), Plan::UpToDate);
    }

    #[test]
    fn create_or_merge_creates_a_missing_secret_and_otherwise_merges_as_merge_does() {
        let s = state(DriftPolicy::Revert);
        assert_eq!(plan(None, "d", Ownership::CreateOrMerge, s), Plan::Write);
        let was_ready = OwnerState { was_materialized: true, ..s };
        assert_eq!(plan(None, "d", Ownership::CreateOrMerge, was_ready), Plan::Write, "deleted: created again");
        let mut existing = live(false, None, "x", Some("d"));
        assert_eq!(plan(Some(&existing), "d", Ownership::CreateOrMerge, s), Plan::MergeNotAllowed);
        existing.merge_allowed = true;
        assert_eq!(plan(Some(&existing), "d", Ownership::CreateOrMerge, s), Plan::Write);
        existing.merged_digest = Some("d".into());
        assert_eq!(plan(Some(&existing), "d", Ownership::CreateOrMerge, s), Plan::UpToDate);
    }

    #[test]
    fn merge_consent_names_the_object_or_everyone() {
        let mut s = Secret::default();
        let consent = |v: &str| Some(BTreeMap::from([(ALLOW_MERGE_ANNOTATION.to_owned(), v.to_owned())]));
        s.metadata.annotations = consent("other, es-a");
        assert!(LiveSecret::observe(&s, "u", "es-a", b"k").merge_allowed);
        assert!(!LiveSecret::observe(&s, "u", "es-b", b"k").merge_allowed);
        s.metadata.annotations = consent("*");
        assert!(LiveSecret::observe(&s, "u", "es-b", b"k").merge_allowed);
        s.metadata.annotations = None;
        assert!(!LiveSecret::observe(&s, "u", "es-a", b"k").merge_allowed);
    }

    #[test]
    fn a_merge_carries_only_data_and_its_own_digest() {
        let owner = Owner {
            api_version: "seal.dev/v1alpha1",
            kind: "ExternalSecret",
            name: "es",
            secret_name: "target",
            namespace: "ns",
            uid: "u1",
            generation: Some(1),
            resume: None,
        };
        let mut data = SecretData::default();
        data.0.insert("k".into(), zeroize::Zeroizing::new(b"v".to_vec()));
        let s = build_merge(&owner, &data, "d");
        assert!(s.metadata.labels.is_none() && s.metadata.owner_references.is_none());
        let ann = s.metadata.annotations.unwrap_or_default();
        assert_eq!(ann.len(), 1);
        assert_eq!(ann.get("merge.seal.dev/u1").map(String::as_str), Some("d"));
        assert!(s.type_.is_none(), "the type stays the owner's");
        assert_ne!(merge_field_manager("u1"), merge_field_manager("u2"));
    }

    #[test]
    fn orphaned_secrets_follow_the_same_decisions_as_owned_ones() {
        let l = live(true, Some("h"), "other", Some("d"));
        assert_eq!(plan(Some(&l), "d", Ownership::Orphan, state(DriftPolicy::Revert)), Plan::Revert);
        assert_eq!(plan(None, "d", Ownership::Orphan, state(DriftPolicy::Alert)), Plan::DeletedLeft);
    }

    #[test]
    fn a_secret_without_a_recorded_hmac_is_rewritten() {
        let l = live(true, None, "h", Some("d"));
        assert_eq!(plan(Some(&l), "d", Ownership::Owner, state(DriftPolicy::Revert)), Plan::Write);
    }

    #[test]
    fn live_and_desired_hmacs_agree_and_depend_on_key_and_data() {
        let mut d = BTreeMap::new();
        d.insert("a".to_owned(), ByteString(b"1".to_vec()));
        let mut desired = SecretData::default();
        desired.0.insert("a".to_owned(), zeroize::Zeroizing::new(b"1".to_vec()));
        let h1 = live_data_hmac(b"k1", &d);
        assert_eq!(h1, desired.hmac(b"k1"));
        assert_ne!(h1, live_data_hmac(b"k2", &d));
        d.insert("a".to_owned(), ByteString(b"2".to_vec()));
        assert_ne!(h1, live_data_hmac(b"k1", &d));
    }

    #[test]
    fn owner_state_prefers_what_the_secret_recorded_over_a_lagging_status() {
        let mut l = live(true, Some("h"), "h", Some("d"));
        l.recorded_generation = Some(3);
        l.recorded_resume = Some("r1".into());
        // The status still says generation 2 and no resume: the Secret knows better.
        let st = OwnerState::new(DriftPolicy::Pause, Some(3), Some("r1"), Some(2), None, true, Some(&l));
        assert!(!st.spec_changed);
        assert!(!st.resume_requested);
        let st = OwnerState::new(DriftPolicy::Pause, Some(4), Some("r2"), Some(3), Some("r1"), true, Some(&l));
        assert!(st.spec_changed);
        assert!(st.resume_requested);
        // Never written: no spec change to speak of.
        let st = OwnerState::new(DriftPolicy::Pause, Some(1), None, None, None, false, None);
        assert!(!st.spec_changed && !st.resume_requested);
    }

    #[test]
    fn live_secret_observation_reads_ownership_and_annotations() {
        let mut s = Secret::default();
        s.metadata.owner_references = Some(vec![OwnerReference { uid: "u1".into(), ..Default::default() }]);
        s.metadata.annotations = Some(BTreeMap::from([
            (DATA_HMAC_ANNOTATION.to_owned(), "h".to_owned()),
            (INPUT_DIGEST_ANNOTATION.to_owned(), "d".to_owned()),
            (GENERATION_ANNOTATION.to_owned(), "7".to_owned()),
            (ADOPT_ANNOTATION.to_owned(), "true".to_owned()),
        ]));
        let l = LiveSecret::observe(&s, "u1", "o", b"k");
        assert!(l.owned && l.adoptable);
        assert_eq!(l.recorded_digest.as_deref(), Some("d"));
        assert_eq!(l.recorded_generation, Some(7));
        assert!(l.drifted(), "the recorded HMAC differs from the (empty) data's");
        assert!(!LiveSecret::observe(&s, "other", "o", b"k").owned);
    }

    #[test]
    fn built_secrets_force_name_namespace_and_carry_an_owner_only_when_owned() {
        let owner = Owner {
            api_version: "seal.dev/v1alpha1",
            kind: "SealedSecret",
            name: "o",
            secret_name: "s",
            namespace: "ns",
            uid: "u",
            generation: Some(2),
            resume: None,
        };
        let data = SecretData::default();
        let s = build_secret(&owner, Ownership::Owner, None, &data, "h", "d");
        assert_eq!(s.metadata.name.as_deref(), Some("s"));
        assert_eq!(s.metadata.namespace.as_deref(), Some("ns"));
        assert_eq!(s.type_.as_deref(), Some("Opaque"));
        assert_eq!(s.metadata.owner_references.as_ref().map(Vec::len), Some(1));
        let s = build_secret(&owner, Ownership::Orphan, None, &data, "h", "d");
        assert!(s.metadata.owner_references.is_none());
        let ann = s.metadata.annotations.unwrap_or_default();
        assert_eq!(ann.get(OWNER_UID_ANNOTATION).map(String::as_str), Some("u"));
        assert_eq!(ann.get(GENERATION_ANNOTATION).map(String::as_str), Some("2"));
    }

    fn template(ty: Option<&str>, labels: &[&str], annotations: &[&str]) -> SecretTemplate {
        let map = |ks: &[&str]| ks.iter().map(|k| ((*k).to_owned(), "v".to_owned())).collect();
        SecretTemplate {
            type_: ty.map(str::to_owned),
            immutable: None,
            metadata: Some(crate::api::TemplateMetadata {
                labels: map(labels),
                annotations: map(annotations),
                finalizers: Vec::new(),
            }),
        }
    }

    #[test]
    fn templates_cannot_ask_for_tokens_reserved_keys_or_replication() {
        let refused: Vec<String> = DEFAULT_REFUSED_ANNOTATION_PREFIXES.iter().map(|s| (*s).to_owned()).collect();
        let ok = template(Some("Opaque"), &["app", "app.kubernetes.io/name"], &["team.example.com/owner"]);
        assert_eq!(check_template(Some(&ok), &refused), Ok(()));
        assert_eq!(check_template(None, &refused), Ok(()));
        let bad = [
            template(Some("kubernetes.io/service-account-token"), &[], &[]),
            template(None, &["seal.dev/key"], &[]),
            template(None, &[], &["kubernetes.io/service-account.name"]),
            template(None, &["node-role.kubernetes.io/x"], &[]),
            template(None, &[], &["k8s.io/x"]),
            template(None, &[], &["x.seal.dev/y"]),
            template(None, &[], &["replicator.v1.mittwald.de/replicate-to"]),
            template(None, &[], &["reflector.v1.k8s.emberstack.com/reflection-allowed"]),
        ];
        for t in bad {
            assert!(check_template(Some(&t), &refused).is_err(), "{:?} was accepted", t);
        }
    }

    #[test]
    fn workloads_opt_in_to_restarts_by_name_or_wildcard() {
        let ann = |v: &str| Some(BTreeMap::from([(RESTART_ON_ANNOTATION.to_owned(), v.to_owned())]));
        assert!(restart_allowed(ann("db, api").as_ref(), "api"));
        assert!(restart_allowed(ann("*").as_ref(), "anything"));
        assert!(!restart_allowed(ann("db").as_ref(), "api"));
        assert!(!restart_allowed(None, "api"));
        assert!(!restart_allowed(ann("").as_ref(), "api"));
    }

    #[test]
    fn invalid_secret_keys_are_named() {
        let mut d = SecretData::default();
        for k in ["ok.key_1-x", "bad key", "", "slash/no"] {
            d.0.insert(k.to_owned(), zeroize::Zeroizing::new(Vec::new()));
        }
        let long = "a".repeat(254);
        d.0.insert(long.clone(), zeroize::Zeroizing::new(Vec::new()));
        let bad = invalid_keys(&d);
        assert_eq!(bad, vec!["", long.as_str(), "bad key", "slash/no"]);
    }
}
