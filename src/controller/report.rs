//! Reporting: what the status should be (conditions following Kubernetes
//! conventions, `Ready` and `Drifted`), computed purely from the old status
//! and the outcome; and writing it, with an Event when something new went
//! wrong, only when something changed.

use kube::api::{Patch, PatchParams};
use kube::runtime::events::EventType;
use kube::{Api, Client, Resource, ResourceExt};

use super::Context;
use crate::api::{Condition, Reason};
use crate::sources::CommonStatus;

/// Longest status or Event message; the API server drops Events whose note
/// is over 1 KiB, and long messages help nobody.
pub const MAX_MESSAGE: usize = 1000;

/// Cuts a message to [`MAX_MESSAGE`] bytes at a character boundary.
pub fn truncate(message: &str) -> String {
    if message.len() <= MAX_MESSAGE {
        return message.to_owned();
    }
    let mut end = MAX_MESSAGE - 3;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &message[..end])
}

/// True when the conditions say the Secret was materialized.
pub fn is_ready(conditions: &[Condition]) -> bool {
    conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True")
}

/// The Warning Event a status change calls for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    /// The reason.
    pub reason: Reason,
    /// The message.
    pub message: String,
}

/// Builds the new status from the old one.
pub struct StatusUpdate {
    old: CommonStatus,
    new: CommonStatus,
    generation: Option<i64>,
    warnings: Vec<Warning>,
    now: String,
}

impl StatusUpdate {
    /// Starts from the current status of an object at `generation`.
    pub fn new(old: CommonStatus, generation: Option<i64>) -> StatusUpdate {
        let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
        StatusUpdate::at(old, generation, now)
    }

    /// As [`new`](Self::new), with the time to stamp transitions with.
    pub fn at(old: CommonStatus, generation: Option<i64>, now: String) -> StatusUpdate {
        let mut new = old.clone();
        new.observed_generation = generation;
        StatusUpdate { old, new, generation, warnings: Vec::new(), now }
    }

    fn set(&mut self, type_: &str, status: &str, reason: Reason, message: &str) {
        let previous = self.old.conditions.iter().find(|c| c.type_ == type_);
        let transition = match previous {
            Some(p) if p.status == status => p.last_transition_time.clone(),
            _ => Some(self.now.clone()),
        };
        let changed_outcome = previous.is_none_or(|p| p.status != status || p.reason != reason.as_str())
            || self.old.observed_generation != self.generation;
        let message = truncate(message);
        let worth_event = status == "False" && type_ == "Ready" || type_ == "Drifted" && status == "True";
        if changed_outcome && worth_event {
            self.warnings.push(Warning { reason, message: message.clone() });
        }
        self.new.conditions.retain(|c| c.type_ != type_);
        self.new.conditions.push(Condition {
            type_: type_.into(),
            status: status.into(),
            reason: reason.as_str().into(),
            message,
            last_transition_time: transition,
            observed_generation: self.generation,
        });
        self.new.conditions.sort_by(|a, b| b.type_.cmp(&a.type_));
    }

    /// `Ready=True` with `reason`.
    pub fn ready(&mut self, reason: Reason, message: &str) {
        self.set("Ready", "True", reason, message);
    }

    /// `Ready=False` with `reason`.
    pub fn failed(&mut self, reason: Reason, message: &str) {
        self.set("Ready", "False", reason, message);
    }

    /// `Drifted=True`.
    pub fn drifted(&mut self, reason: Reason, message: &str) {
        self.set("Drifted", "True", reason, message);
    }

    /// Records a revert: `Drifted=False` with reason `DriftReverted`.
    pub fn drifted_reverted(&mut self) {
        self.set("Drifted", "False", Reason::DriftReverted, "the Secret was changed outside seal and restored");
    }

    /// Clears a `Drifted` condition if present.
    pub fn not_drifted(&mut self) {
        if self.new.conditions.iter().any(|c| c.type_ == "Drifted" && c.status == "True") {
            self.set("Drifted", "False", Reason::NoDrift, "the Secret holds the desired data");
        }
    }

    /// Records the resume annotation value acted on.
    pub fn resumed(&mut self, v: Option<String>) {
        self.new.resumed = v;
    }

    /// The `Ready` reason, if set.
    pub fn ready_reason(&self) -> Option<Reason> {
        self.new.conditions.iter().find(|c| c.type_ == "Ready").and_then(|c| Reason::parse(&c.reason))
    }

    /// The Warning Event to emit for a new failure or drift, if any.
    pub fn warning(&self) -> Option<&Warning> {
        self.warnings.first()
    }

    /// The new status, if it differs from the old one.
    pub fn changed(&self) -> Option<&CommonStatus> {
        (self.new != self.old).then_some(&self.new)
    }

    /// The new status.
    pub fn status(&self) -> &CommonStatus {
        &self.new
    }

    /// Status for a drift that is left in place (Alert, Pause, or a deletion).
    pub fn drift_left(&mut self, paused: bool, secret_exists: bool) {
        let (reason, what) = match (paused, secret_exists) {
            (true, true) => (
                Reason::DriftPaused,
                "the Secret's data was changed outside seal; driftPolicy Pause: seal stops writing it until the spec changes or the seal.dev/resume annotation gets a new value",
            ),
            (false, true) => (
                Reason::DriftDetected,
                "the Secret's data was changed outside seal; driftPolicy Alert: the change is left in place",
            ),
            (true, false) => (
                Reason::DriftPaused,
                "the Secret was deleted outside seal; driftPolicy Pause: it is not recreated until the spec changes or the seal.dev/resume annotation gets a new value",
            ),
            (false, false) => {
                (Reason::DriftDetected, "the Secret was deleted outside seal; driftPolicy Alert: it is not recreated")
            }
        };
        self.ready(Reason::Materialized, "the Secret was materialized; see the Drifted condition");
        self.drifted(reason, what);
    }

    /// Status for a Secret of the same name that belongs to someone else.
    pub fn not_owned(&mut self, name: &str) {
        self.failed(
            Reason::SecretNotOwned,
            &format!(
                "a Secret named {name} exists and is not owned by this object; it is left alone. Delete it, or annotate it {}=\"true\" to let seal take it over",
                crate::materialize::ADOPT_ANNOTATION
            ),
        );
    }
}

/// Status fields of one kind written beside the shared ones
/// (`refreshTime`, a PushSecret's `pushed`, a ClusterExternalSecret's
/// namespaces), each as its JSON value.
pub type Extra = Vec<(&'static str, serde_json::Value)>;

/// Every kind seal reconciles: its status has `observedGeneration` and
/// `conditions`, written through [`write`] whatever else it holds.
pub trait Reported:
    Resource<DynamicType = (), Scope: ScopeKind>
    + Clone
    + serde::de::DeserializeOwned
    + std::fmt::Debug
    + Send
    + Sync
    + 'static
{
    /// The status fields all kinds share, as the object has them now.
    fn common_status(&self) -> CommonStatus;
}

/// The JSON merge patch body for a status (only ever sets `resumed`: a
/// status read from a lagging watch cache must not erase a value a previous
/// reconcile just recorded).
pub fn status_patch(st: &CommonStatus, extra: Extra) -> serde_json::Value {
    let mut body = serde_json::Map::new();
    body.insert("observedGeneration".into(), serde_json::json!(st.observed_generation));
    body.insert("conditions".into(), serde_json::json!(st.conditions));
    if let Some(r) = &st.resumed {
        body.insert("resumed".into(), r.clone().into());
    }
    for (k, v) in extra {
        body.insert(k.into(), v);
    }
    serde_json::json!({ "status": body })
}

/// Writes the status when it changed (or `extra` is set) and emits the
/// Warning Event it calls for.
///
/// The object comes from the watch cache, which may not show this
/// controller's last status write yet (a reconcile triggered by the Secret
/// it just wrote runs before the status event arrives). The same status on
/// the same cached version is then not written, nor its Event sent, twice.
pub async fn write<K: Reported>(
    ctx: &Context,
    obj: &K,
    update: &StatusUpdate,
    extra: Extra,
) -> Result<(), kube::Error> {
    let key = format!("{}/{}/{}", K::kind(&()), obj.meta().namespace.as_deref().unwrap_or_default(), obj.name_any());
    let version = obj.meta().resource_version.clone().unwrap_or_default();
    let writes = update.changed().is_some() || !extra.is_empty();
    let body = writes.then(|| status_patch(update.status(), extra));
    let warning = update.warning();
    if ctx.status_memo.already_written(&key, &version, body.as_ref(), warning) {
        return Ok(());
    }
    if let Some(w) = warning {
        super::events::publish(ctx, obj.object_ref(&()), EventType::Warning, w.reason, &w.message).await;
    }
    if let Some(body) = body {
        let api: Api<K> = K::Scope::api(ctx.sources.client.clone(), obj.meta().namespace.as_deref());
        api.patch_status(&obj.name_any(), &PatchParams::default(), &Patch::Merge(&body)).await?;
        ctx.status_memo.written(key, version, body, warning.cloned());
    }
    Ok(())
}

/// The status writes made on a cached object version the watch has not
/// caught up with yet: (object key) → (the version written on, a hash of
/// each status field written, a hash of the Warning sent). An entry lives
/// until the next reconcile of the object sees a newer version; it holds
/// hashes only, so it stays small however many objects wait for a resync.
#[derive(Default)]
pub struct StatusMemo(std::sync::Mutex<std::collections::HashMap<String, Written>>);

struct Written {
    version: String,
    fields: Vec<(String, u64)>,
    warning: Option<u64>,
}

fn hash_of<T: std::hash::Hash + ?Sized>(v: &T) -> u64 {
    use std::hash::Hasher;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    v.hash(&mut h);
    h.finish()
}

/// The hash of each status field. A condition's transition time is left
/// out: a reconcile on the stale version stamps the same transition with
/// its own clock.
fn field_hashes(body: &serde_json::Value) -> Vec<(String, u64)> {
    let Some(fields) = body["status"].as_object() else { return Vec::new() };
    fields
        .iter()
        .map(|(k, v)| {
            let mut v = v.clone();
            if k == "conditions"
                && let Some(cs) = v.as_array_mut()
            {
                for c in cs.iter_mut().filter_map(serde_json::Value::as_object_mut) {
                    c.remove("lastTransitionTime");
                }
            }
            (k.clone(), hash_of(&v.to_string()))
        })
        .collect()
}

fn warning_hash(w: &Warning) -> u64 {
    hash_of(&(w.reason.as_str(), w.message.as_str()))
}

impl StatusMemo {
    /// Whether writing `body` (and sending `warning`) on `version` of `key`
    /// would repeat the last write: every field of `body` was written with
    /// that value (a later reconcile on the same stale version may leave
    /// out a field the write recorded, such as `refreshTime`), and the same
    /// Warning, if any, was sent. An entry for an older version is dropped
    /// (the cache caught up).
    pub fn already_written(
        &self,
        key: &str,
        version: &str,
        body: Option<&serde_json::Value>,
        warning: Option<&Warning>,
    ) -> bool {
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let Some(w) = m.get(key) else { return false };
        if w.version != version {
            m.remove(key);
            return false;
        }
        let fields_written = match body {
            Some(b) => field_hashes(b).iter().all(|f| w.fields.contains(f)),
            None => true,
        };
        fields_written && warning.is_none_or(|x| w.warning == Some(warning_hash(x)))
    }

    /// Records a status write made on `version` of `key`.
    pub fn written(&self, key: String, version: String, body: serde_json::Value, warning: Option<Warning>) {
        let entry = Written { version, fields: field_hashes(&body), warning: warning.as_ref().map(warning_hash) };
        self.0.lock().unwrap_or_else(|p| p.into_inner()).insert(key, entry);
    }
}

/// Namespaced or cluster-scoped API for a resource.
pub trait ScopeKind {
    /// The API for `K`.
    fn api<K: Resource<DynamicType = (), Scope = Self>>(client: Client, ns: Option<&str>) -> Api<K>
    where
        Self: Sized;
}

impl ScopeKind for kube::core::NamespaceResourceScope {
    fn api<K: Resource<DynamicType = (), Scope = Self>>(client: Client, ns: Option<&str>) -> Api<K> {
        Api::namespaced(client, ns.unwrap_or_default())
    }
}

impl ScopeKind for kube::core::ClusterResourceScope {
    fn api<K: Resource<DynamicType = (), Scope = Self>>(client: Client, _ns: Option<&str>) -> Api<K> {
        Api::all(client)
    }
}

impl Reported for crate::api::SealedSecret {
    fn common_status(&self) -> CommonStatus {
        crate::sources::Source::common(self).status
    }
}

impl Reported for crate::api::ExternalSecret {
    fn common_status(&self) -> CommonStatus {
        crate::sources::Source::common(self).status
    }
}

/// The shared part of a status that has only `observedGeneration` and
/// `conditions` in common with the others.
fn plain(observed_generation: Option<i64>, conditions: &[Condition]) -> CommonStatus {
    CommonStatus { observed_generation, conditions: conditions.to_vec(), resumed: None }
}

impl Reported for crate::api::SecretStore {
    fn common_status(&self) -> CommonStatus {
        self.status.as_ref().map(|s| plain(s.observed_generation, &s.conditions)).unwrap_or_default()
    }
}

impl Reported for crate::api::ClusterSecretStore {
    fn common_status(&self) -> CommonStatus {
        self.status.as_ref().map(|s| plain(s.observed_generation, &s.conditions)).unwrap_or_default()
    }
}

impl Reported for crate::api::push_secret::PushSecret {
    fn common_status(&self) -> CommonStatus {
        self.status.as_ref().map(|s| plain(s.observed_generation, &s.conditions)).unwrap_or_default()
    }
}

impl Reported for crate::api::cluster_external_secret::ClusterExternalSecret {
    fn common_status(&self) -> CommonStatus {
        self.status.as_ref().map(|s| plain(s.observed_generation, &s.conditions)).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: &str = "2026-01-01T00:00:00Z";
    const T1: &str = "2026-01-01T00:05:00Z";

    fn update(old: CommonStatus, generation: i64, now: &str) -> StatusUpdate {
        StatusUpdate::at(old, Some(generation), now.to_owned())
    }

    #[test]
    fn a_first_success_sets_ready_without_an_event() {
        let mut u = update(CommonStatus::default(), 1, T0);
        u.ready(Reason::Materialized, "ok");
        let st = u.changed().expect("changed");
        assert_eq!(st.observed_generation, Some(1));
        assert_eq!(st.conditions.len(), 1);
        let c = &st.conditions[0];
        assert_eq!((c.type_.as_str(), c.status.as_str(), c.reason.as_str()), ("Ready", "True", "Materialized"));
        assert_eq!(c.last_transition_time.as_deref(), Some(T0));
        assert!(u.warning().is_none());
        assert_eq!(u.ready_reason(), Some(Reason::Materialized));
    }

    #[test]
    fn the_same_outcome_again_changes_nothing() {
        let mut first = update(CommonStatus::default(), 1, T0);
        first.ready(Reason::Materialized, "ok");
        let old = first.status().clone();
        let mut again = update(old, 1, T1);
        again.ready(Reason::Materialized, "ok");
        assert!(again.changed().is_none(), "an unchanged outcome must not write the status");
        assert!(again.warning().is_none());
    }

    #[test]
    fn a_new_failure_warns_once_and_keeps_no_stale_transition_time() {
        let mut first = update(CommonStatus::default(), 1, T0);
        first.ready(Reason::Materialized, "ok");
        let mut fail = update(first.status().clone(), 1, T1);
        fail.failed(Reason::MacMismatch, "MAC mismatch");
        assert_eq!(fail.warning(), Some(&Warning { reason: Reason::MacMismatch, message: "MAC mismatch".into() }));
        let st = fail.changed().expect("changed").clone();
        assert_eq!(st.conditions[0].last_transition_time.as_deref(), Some(T1));
        // The same failure at the next resync: no second Event, no write.
        let mut again = update(st, 1, "2026-01-01T00:10:00Z");
        again.failed(Reason::MacMismatch, "MAC mismatch");
        assert!(again.warning().is_none());
        assert!(again.changed().is_none());
    }

    #[test]
    fn a_failure_with_another_reason_warns_again_but_keeps_the_transition_time() {
        let mut a = update(CommonStatus::default(), 1, T0);
        a.failed(Reason::MacMismatch, "m");
        let mut b = update(a.status().clone(), 1, T1);
        b.failed(Reason::ScopeMismatch, "s");
        assert_eq!(b.warning().map(|w| w.reason), Some(Reason::ScopeMismatch));
        assert_eq!(b.status().conditions[0].last_transition_time.as_deref(), Some(T0));
    }

    #[test]
    fn a_new_generation_with_the_same_failure_warns_again() {
        let mut a = update(CommonStatus::default(), 1, T0);
        a.failed(Reason::MacMismatch, "m");
        let mut b = update(a.status().clone(), 2, T1);
        b.failed(Reason::MacMismatch, "m");
        assert!(b.warning().is_some());
        assert_eq!(b.changed().map(|s| s.observed_generation), Some(Some(2)));
    }

    #[test]
    fn drift_conditions_sort_after_ready_and_clear_to_no_drift() {
        let mut a = update(CommonStatus::default(), 1, T0);
        a.drift_left(false, true);
        let types: Vec<&str> = a.status().conditions.iter().map(|c| c.type_.as_str()).collect();
        assert_eq!(types, ["Ready", "Drifted"]);
        assert_eq!(a.warning().map(|w| w.reason), Some(Reason::DriftDetected));
        let mut b = update(a.status().clone(), 1, T1);
        b.ready(Reason::Materialized, "ok");
        b.not_drifted();
        let drifted = b.status().conditions.iter().find(|c| c.type_ == "Drifted").expect("kept");
        assert_eq!((drifted.status.as_str(), drifted.reason.as_str()), ("False", "NoDrift"));
        assert!(b.warning().is_none());
    }

    #[test]
    fn each_drift_left_in_place_has_its_reason() {
        for (paused, exists, reason) in [
            (true, true, Reason::DriftPaused),
            (false, true, Reason::DriftDetected),
            (true, false, Reason::DriftPaused),
            (false, false, Reason::DriftDetected),
        ] {
            let mut u = update(CommonStatus::default(), 1, T0);
            u.drift_left(paused, exists);
            assert_eq!(u.ready_reason(), Some(Reason::Materialized));
            assert_eq!(u.warning().map(|w| w.reason), Some(reason), "paused={paused} exists={exists}");
        }
    }

    #[test]
    fn a_revert_is_recorded_as_drifted_false() {
        let mut u = update(CommonStatus::default(), 1, T0);
        u.ready(Reason::Materialized, "ok");
        u.drifted_reverted();
        let d = u.status().conditions.iter().find(|c| c.type_ == "Drifted").expect("set");
        assert_eq!((d.status.as_str(), d.reason.as_str()), ("False", "DriftReverted"));
        assert!(u.warning().is_none(), "the revert's Event is published by the write path");
    }

    #[test]
    fn not_owned_names_the_secret_and_the_adopt_annotation() {
        let mut u = update(CommonStatus::default(), 1, T0);
        u.not_owned("db");
        let w = u.warning().expect("warns");
        assert_eq!(w.reason, Reason::SecretNotOwned);
        assert!(w.message.contains("db") && w.message.contains("seal.dev/adopt"));
    }

    #[test]
    fn messages_are_truncated_for_status_and_events() {
        let long = "é".repeat(2000);
        let mut u = update(CommonStatus::default(), 1, T0);
        u.failed(Reason::InvalidDocument, &long);
        let m = &u.status().conditions[0].message;
        assert!(m.len() <= MAX_MESSAGE && m.ends_with("..."), "{}", m.len());
        assert_eq!(truncate("short"), "short");
    }

    #[test]
    fn the_status_patch_never_erases_resumed() {
        let mut st = CommonStatus { observed_generation: Some(3), ..Default::default() };
        let body = status_patch(&st, Vec::new());
        assert!(body["status"].get("resumed").is_none());
        st.resumed = Some("r".into());
        let body = status_patch(&st, vec![("refreshTime", "t".into())]);
        assert_eq!(body["status"]["resumed"], "r");
        assert_eq!(body["status"]["refreshTime"], "t");
        assert_eq!(body["status"]["observedGeneration"], 3);
    }

    #[test]
    fn readiness_is_read_from_the_ready_condition() {
        let mut u = update(CommonStatus::default(), 1, T0);
        assert!(!is_ready(&u.status().conditions));
        u.ready(Reason::Materialized, "ok");
        assert!(is_ready(&u.status().conditions));
        u.failed(Reason::Forbidden, "no");
        assert!(!is_ready(&u.status().conditions));
    }

    #[test]
    fn a_status_written_on_a_version_is_not_written_again_until_the_cache_moves_on() {
        let memo = StatusMemo::default();
        let mut u = update(CommonStatus::default(), 1, T0);
        u.ready(Reason::Materialized, "ok");
        let full = status_patch(u.status(), vec![("refreshTime", "t".into())]);
        assert!(!memo.already_written("k", "5", Some(&full), None));
        memo.written("k".into(), "5".into(), full.clone(), None);
        // Same stale version: the same body, or a part of it, is a repeat.
        assert!(memo.already_written("k", "5", Some(&full), None));
        assert!(memo.already_written("k", "5", Some(&status_patch(u.status(), Vec::new())), None));
        let mut later = update(CommonStatus::default(), 1, T1);
        later.ready(Reason::Materialized, "ok");
        assert!(memo.already_written("k", "5", Some(&status_patch(later.status(), Vec::new())), None));
        // Another outcome, or a new Warning, is written.
        let mut other = update(CommonStatus::default(), 1, T0);
        other.failed(Reason::MacMismatch, "m");
        assert!(!memo.already_written("k", "5", Some(&status_patch(other.status(), Vec::new())), None));
        let w = Warning { reason: Reason::MacMismatch, message: "m".into() };
        assert!(!memo.already_written("k", "5", Some(&full), Some(&w)));
        // The cache caught up: the entry is dropped and the status is judged afresh.
        assert!(!memo.already_written("k", "6", Some(&full), None));
        assert!(!memo.already_written("k", "5", Some(&full), None));
    }
}
