//! The materialize decisions (`plan`, `LiveSecret::observe`, `build_secret`), one behaviour per test.

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
