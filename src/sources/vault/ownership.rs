//! Who owns a path a PushSecret wrote, and what it may do there.
//!
//! The record lives in the KV v2 secret's custom metadata (a flat string
//! map, each value at most 512 bytes), next to the `managed-by` marker ESO
//! also writes:
//!
//! | key | value |
//! |---|---|
//! | `managed-by` | `seal` |
//! | `seal.dev/pushed-by` | `<namespace>/<name>/<uid>` of the one PushSecret owning the path |
//! | `seal.dev/pushed-properties` | JSON array of the properties that PushSecret wrote |
//!
//! A path has one owner: another PushSecret never writes it, and the
//! owner's deletion removes the properties it wrote and nothing else. The
//! decisions are pure functions here, so they are tested without a server;
//! `pool::VaultPool::push` and `unpush` apply them.

use std::collections::{BTreeSet, HashMap};

/// Custom metadata key marking the KV v2 secrets a PushSecret wrote (the
/// key ESO uses too).
pub const MANAGED_BY_KEY: &str = "managed-by";
/// Its value for seal.
pub const MANAGED_BY_SEAL: &str = "seal";
/// Its value for External Secrets Operator.
pub const MANAGED_BY_ESO: &str = "external-secrets";
pub use crate::api::annotations::{PUSHED_BY_KEY, PUSHED_PROPERTIES_KEY};
/// Longest custom metadata value Vault and OpenBao accept.
pub const MAX_METADATA_VALUE: usize = 512;

/// A PushSecret, as the record names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushOwner {
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// Its uid (empty in a record an administrator wrote by hand).
    pub uid: String,
}

impl PushOwner {
    /// The value of [`PUSHED_BY_KEY`]: `<namespace>/<name>/<uid>`.
    pub fn record(&self) -> String {
        format!("{}/{}/{}", self.namespace, self.name, self.uid)
    }

    /// Reads a [`PUSHED_BY_KEY`] value: `<namespace>/<name>/<uid>`, or
    /// `<namespace>/<name>` (a hand-over written by an administrator).
    /// Namespaces and names cannot contain `/`, so the split is exact.
    pub fn parse(v: &str) -> Option<PushOwner> {
        let mut parts = v.splitn(3, '/');
        let namespace = parts.next().filter(|s| !s.is_empty())?;
        let name = parts.next().filter(|s| !s.is_empty())?;
        let uid = parts.next().unwrap_or_default();
        if uid.contains('/') {
            return None;
        }
        Some(PushOwner { namespace: namespace.to_owned(), name: name.to_owned(), uid: uid.to_owned() })
    }

    /// For messages: `PushSecret <namespace>/<name>`.
    pub fn display(&self) -> String {
        format!("PushSecret {}/{}", self.namespace, self.name)
    }

    /// Whether `recorded` is this PushSecret for writing: the same
    /// namespace and name (a PushSecret deleted with `deletionPolicy: None`
    /// and created again under its name, in its namespace, writes its path
    /// again).
    fn may_write_as(&self, recorded: &PushOwner) -> bool {
        self.namespace == recorded.namespace && self.name == recorded.name
    }

    /// Whether `recorded` is this very object for removing: the same
    /// namespace, name and uid (or a record without uid). A new object that
    /// only reuses the name removes nothing its predecessor wrote until it
    /// has written the path itself.
    fn may_remove_as(&self, recorded: &PushOwner) -> bool {
        self.may_write_as(recorded) && (recorded.uid.is_empty() || recorded.uid == self.uid)
    }
}

/// What a push may do at a path, from its custom metadata.
#[derive(Debug, PartialEq, Eq)]
pub enum Claim {
    /// Nothing is there: the push creates the secret and its record.
    New,
    /// This PushSecret owns it; the properties it wrote so far.
    Mine(BTreeSet<String>),
    /// Written by seal before owners were recorded, or by ESO: the push
    /// takes it over (writes its record).
    TakeOver,
}

/// Where the push comes from, beyond the path's metadata.
#[derive(Clone, Copy, Debug)]
pub struct ClaimContext {
    /// The PushSecret's status lists this path as pushed through this store
    /// (it wrote it before owners were recorded).
    pub wrote_before: bool,
    /// The store is a SecretStore of the PushSecret's namespace: the write
    /// uses credentials its namespace holds, not a ClusterSecretStore's
    /// shared ones.
    pub namespaced_store: bool,
}

/// Decides whether `me` may push to a path whose KV v2 metadata is `meta`
/// (`None`: no secret there; `Some(custom_metadata)` otherwise). `Err` is
/// the reason, to follow the path in a message; it names owners, never
/// values.
pub fn claim(meta: Option<&HashMap<String, String>>, me: &PushOwner, ctx: ClaimContext) -> Result<Claim, String> {
    let Some(custom) = meta else { return Ok(Claim::New) };
    if let Some(v) = custom.get(PUSHED_BY_KEY) {
        return match PushOwner::parse(v) {
            Some(o) if me.may_write_as(&o) => Ok(Claim::Mine(recorded_properties(custom))),
            // Another namespace's owner is not named: a shared store must
            // not tell a tenant which objects other tenants have.
            Some(o) => Err(format!(
                "is owned by {} (custom metadata {PUSHED_BY_KEY}); a path has one owner, refusing to write it",
                if o.namespace == me.namespace { o.display() } else { "a PushSecret of another namespace".to_owned() }
            )),
            None => Err(format!("has a custom metadata {PUSHED_BY_KEY} seal cannot read; refusing to write it")),
        };
    }
    match custom.get(MANAGED_BY_KEY).map(String::as_str) {
        Some(MANAGED_BY_SEAL | MANAGED_BY_ESO) if ctx.wrote_before || ctx.namespaced_store => Ok(Claim::TakeOver),
        Some(by @ (MANAGED_BY_SEAL | MANAGED_BY_ESO)) => Err(format!(
            "was written by {} for no recorded owner (custom metadata {MANAGED_BY_KEY}: {by}, no {PUSHED_BY_KEY}) and this PushSecret has not pushed it; through a ClusterSecretStore seal writes only paths the PushSecret owns, refusing to write it (to hand it over, set its custom metadata {PUSHED_BY_KEY}: \"{}/{}\")",
            if by == MANAGED_BY_SEAL { "seal" } else { "External Secrets Operator" },
            me.namespace,
            me.name,
        )),
        _ => Err(format!(
            "exists and was not written by seal (custom metadata {MANAGED_BY_KEY} is not {MANAGED_BY_SEAL}); refusing to overwrite it"
        )),
    }
}

/// The properties a record lists (none when it lists none, or cannot be
/// read: then nothing is removed on its behalf).
pub fn recorded_properties(custom: &HashMap<String, String>) -> BTreeSet<String> {
    custom.get(PUSHED_PROPERTIES_KEY).and_then(|v| serde_json::from_str(v).ok()).unwrap_or_default()
}

/// The custom metadata after `me` wrote `properties`: the other keys kept,
/// the marker and the record set. `Err` when the list does not fit in one
/// metadata value.
pub fn with_record(
    custom: &HashMap<String, String>,
    me: &PushOwner,
    properties: &BTreeSet<String>,
) -> Result<HashMap<String, String>, String> {
    let list = serde_json::to_string(properties).map_err(|e| format!("cannot record the properties: {e}"))?;
    if list.len() > MAX_METADATA_VALUE {
        return Err(format!(
            "the names of the {} properties this PushSecret writes there take {} bytes in custom metadata {PUSHED_PROPERTIES_KEY}, more than the {MAX_METADATA_VALUE} a store accepts; push fewer or shorter properties to one path",
            properties.len(),
            list.len()
        ));
    }
    let mut out = custom.clone();
    out.insert(MANAGED_BY_KEY.to_owned(), MANAGED_BY_SEAL.to_owned());
    out.insert(PUSHED_BY_KEY.to_owned(), me.record());
    out.insert(PUSHED_PROPERTIES_KEY.to_owned(), list);
    Ok(out)
}

/// The custom metadata once the owner has gone: its record and seal's
/// marker removed (what stays there was not written by seal, so no
/// PushSecret may take it over), other keys kept.
pub fn without_record(custom: &HashMap<String, String>) -> HashMap<String, String> {
    let mut out = custom.clone();
    out.remove(PUSHED_BY_KEY);
    out.remove(PUSHED_PROPERTIES_KEY);
    if out.get(MANAGED_BY_KEY).map(String::as_str) == Some(MANAGED_BY_SEAL) {
        out.remove(MANAGED_BY_KEY);
    }
    out
}

/// The properties a push writes and the data it leaves: with `property`,
/// that property set to `value`; without, `value` (a JSON object) replaces
/// the properties this PushSecret wrote before, and any other property is
/// kept. Returns the written property names; `None` when `value` is not a
/// JSON object though it must be.
pub fn merge_push(
    data: &mut serde_json::Map<String, serde_json::Value>,
    owned: &BTreeSet<String>,
    property: Option<&str>,
    value: &str,
) -> Option<BTreeSet<String>> {
    match property {
        Some(p) => {
            data.insert(p.to_owned(), serde_json::Value::String(value.to_owned()));
            Some(BTreeSet::from([p.to_owned()]))
        }
        None => match serde_json::from_str::<serde_json::Value>(value) {
            Ok(serde_json::Value::Object(m)) => {
                data.retain(|k, _| !owned.contains(k));
                let written = m.keys().cloned().collect();
                data.extend(m);
                Some(written)
            }
            _ => None,
        },
    }
}

/// The record after a push: what the owner wrote before and is still
/// there, and what it wrote now.
pub fn owned_after(
    owned: &BTreeSet<String>,
    written: &BTreeSet<String>,
    data: &serde_json::Map<String, serde_json::Value>,
) -> BTreeSet<String> {
    owned.iter().filter(|p| data.contains_key(p.as_str())).chain(written).cloned().collect()
}

/// What removing a PushSecret's values does at one path.
#[derive(Debug, PartialEq, Eq)]
pub enum Unpush {
    /// The path is not this PushSecret's: nothing is touched.
    NotMine,
    /// Nothing but this PushSecret's properties is there: the whole secret
    /// goes (every version).
    DeleteAll,
    /// These properties (this PushSecret's, still there) are removed; the
    /// others stay, and the record goes.
    Remove(BTreeSet<String>),
    /// Its properties are already gone: the data stays as it is, the record
    /// goes.
    Release,
}

/// Decides what `me`'s deletion does at a path with custom metadata
/// `custom` and current properties `present`. Only the properties the
/// record lists are removed; the secret is deleted only when nothing else
/// is in it.
pub fn plan_unpush(custom: &HashMap<String, String>, me: &PushOwner, present: &BTreeSet<String>) -> Unpush {
    let mine = custom.get(PUSHED_BY_KEY).and_then(|v| PushOwner::parse(v)).is_some_and(|o| me.may_remove_as(&o));
    if !mine {
        return Unpush::NotMine;
    }
    let owned = recorded_properties(custom);
    let (ours, others): (BTreeSet<String>, BTreeSet<String>) = present.iter().cloned().partition(|p| owned.contains(p));
    if others.is_empty() {
        Unpush::DeleteAll
    } else if ours.is_empty() {
        Unpush::Release
    } else {
        Unpush::Remove(ours)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn me() -> PushOwner {
        PushOwner { namespace: "team-a".into(), name: "push-db".into(), uid: "u-1".into() }
    }

    fn meta(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    fn set(v: &[&str]) -> BTreeSet<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    const SHARED: ClaimContext = ClaimContext { wrote_before: false, namespaced_store: false };

    #[test]
    fn an_owner_record_round_trips_and_refuses_nonsense() {
        assert_eq!(PushOwner::parse(&me().record()), Some(me()));
        let handed = PushOwner::parse("team-a/push-db").unwrap_or_else(me);
        assert_eq!(handed.uid, "");
        for bad in ["", "team-a", "team-a/", "/push-db", "a/b/c/d"] {
            assert_eq!(PushOwner::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_free_path_is_created_and_an_own_path_written_again() {
        assert_eq!(claim(None, &me(), SHARED), Ok(Claim::New));
        let m = meta(&[
            (MANAGED_BY_KEY, "seal"),
            (PUSHED_BY_KEY, "team-a/push-db/u-1"),
            (PUSHED_PROPERTIES_KEY, "[\"password\"]"),
        ]);
        assert_eq!(claim(Some(&m), &me(), SHARED), Ok(Claim::Mine(set(&["password"]))));
        // Created again under its name in its namespace: still its path.
        let again = PushOwner { uid: "u-2".into(), ..me() };
        assert_eq!(claim(Some(&m), &again, SHARED), Ok(Claim::Mine(set(&["password"]))));
    }

    #[test]
    fn a_path_another_push_secret_owns_is_never_written() {
        let m = meta(&[(MANAGED_BY_KEY, "seal"), (PUSHED_BY_KEY, "team-b/push-db/u-9")]);
        for ctx in [SHARED, ClaimContext { wrote_before: true, namespaced_store: true }] {
            let e = claim(Some(&m), &me(), ctx).err().unwrap_or_default();
            // Refused, without naming another tenant's object.
            assert!(e.contains("owned by a PushSecret of another namespace"), "{e}");
            assert!(!e.contains("team-b"), "{e}");
        }
        let other_name = PushOwner { name: "push-db-2".into(), ..me() };
        let m = meta(&[(MANAGED_BY_KEY, "seal"), (PUSHED_BY_KEY, &me().record())]);
        let e = claim(Some(&m), &other_name, SHARED).err().unwrap_or_default();
        assert!(e.contains("owned by PushSecret team-a/push-db "), "{e}");
        let garbled = meta(&[(MANAGED_BY_KEY, "seal"), (PUSHED_BY_KEY, "nonsense")]);
        assert!(claim(Some(&garbled), &me(), SHARED).is_err());
    }

    #[test]
    fn an_unowned_seal_or_eso_path_is_taken_over_only_by_its_pusher_or_own_credentials() {
        for by in [MANAGED_BY_SEAL, MANAGED_BY_ESO] {
            let m = meta(&[(MANAGED_BY_KEY, by)]);
            let e = claim(Some(&m), &me(), SHARED).err().unwrap_or_default();
            assert!(e.contains("seal.dev/pushed-by: \"team-a/push-db\""), "{e}");
            let before = ClaimContext { wrote_before: true, namespaced_store: false };
            assert_eq!(claim(Some(&m), &me(), before), Ok(Claim::TakeOver));
            let own = ClaimContext { wrote_before: false, namespaced_store: true };
            assert_eq!(claim(Some(&m), &me(), own), Ok(Claim::TakeOver));
        }
    }

    #[test]
    fn a_path_seal_did_not_write_is_never_written() {
        let all = ClaimContext { wrote_before: true, namespaced_store: true };
        for m in [meta(&[]), meta(&[(MANAGED_BY_KEY, "someone")]), meta(&[("owner", "team-a")])] {
            let e = claim(Some(&m), &me(), all).err().unwrap_or_default();
            assert!(e.contains("was not written by seal"), "{e}");
        }
    }

    #[test]
    fn the_record_keeps_other_metadata_and_fits_a_metadata_value() {
        let m = meta(&[("team", "payments"), (MANAGED_BY_KEY, "external-secrets")]);
        let r = with_record(&m, &me(), &set(&["password", "user"])).unwrap_or_default();
        assert_eq!(r.get("team").map(String::as_str), Some("payments"));
        assert_eq!(r.get(MANAGED_BY_KEY).map(String::as_str), Some("seal"));
        assert_eq!(r.get(PUSHED_BY_KEY).map(String::as_str), Some("team-a/push-db/u-1"));
        assert_eq!(recorded_properties(&r), set(&["password", "user"]));
        let many: BTreeSet<String> = (0..100).map(|i| format!("property-{i}")).collect();
        let e = with_record(&m, &me(), &many).err().unwrap_or_default();
        assert!(e.contains("512"), "{e}");
        let gone = without_record(&r);
        assert_eq!(gone, meta(&[("team", "payments")]));
    }

    #[test]
    fn an_unreadable_property_list_owns_nothing() {
        let m = meta(&[(PUSHED_BY_KEY, &me().record()), (PUSHED_PROPERTIES_KEY, "password")]);
        assert!(recorded_properties(&m).is_empty());
        assert_eq!(plan_unpush(&m, &me(), &set(&["password"])), Unpush::Release);
    }

    #[test]
    fn a_whole_secret_push_replaces_only_what_it_wrote() {
        let mut data = serde_json::Map::new();
        data.insert("theirs".into(), "kept".into());
        data.insert("old".into(), "mine".into());
        let written = merge_push(&mut data, &set(&["old"]), None, r#"{"a": "1", "b": "2"}"#);
        assert_eq!(written, Some(set(&["a", "b"])));
        assert_eq!(data.keys().cloned().collect::<BTreeSet<_>>(), set(&["a", "b", "theirs"]));
        assert_eq!(owned_after(&set(&["old"]), &set(&["a", "b"]), &data), set(&["a", "b"]));
        assert_eq!(merge_push(&mut data, &set(&[]), None, "[1]"), None);
        let written = merge_push(&mut data, &set(&["a", "b"]), Some("p"), "v");
        assert_eq!(written, Some(set(&["p"])));
        assert_eq!(owned_after(&set(&["a", "b"]), &set(&["p"]), &data), set(&["a", "b", "p"]));
    }

    #[test]
    fn unpush_removes_only_recorded_properties_and_deletes_only_when_nothing_else_is_left() {
        let m = meta(&[(PUSHED_BY_KEY, &me().record()), (PUSHED_PROPERTIES_KEY, "[\"password\",\"user\"]")]);
        assert_eq!(plan_unpush(&m, &me(), &set(&["password", "user"])), Unpush::DeleteAll);
        assert_eq!(plan_unpush(&m, &me(), &set(&["password"])), Unpush::DeleteAll);
        assert_eq!(plan_unpush(&m, &me(), &set(&["password", "url"])), Unpush::Remove(set(&["password"])));
        // Its properties already gone: the others are not deleted.
        assert_eq!(plan_unpush(&m, &me(), &set(&["url"])), Unpush::Release);
    }

    #[test]
    fn unpush_touches_nothing_it_does_not_own() {
        let present = set(&["password"]);
        let theirs = meta(&[(MANAGED_BY_KEY, "seal"), (PUSHED_BY_KEY, "team-b/push-db/u-9")]);
        assert_eq!(plan_unpush(&theirs, &me(), &present), Unpush::NotMine);
        // Seal's, but no owner recorded (or ESO's): not this PushSecret's.
        assert_eq!(plan_unpush(&meta(&[(MANAGED_BY_KEY, "seal")]), &me(), &present), Unpush::NotMine);
        assert_eq!(plan_unpush(&meta(&[(MANAGED_BY_KEY, "external-secrets")]), &me(), &present), Unpush::NotMine);
        // The same name, another object: it did not write this.
        let twin = PushOwner { uid: "u-2".into(), ..me() };
        let m = meta(&[(PUSHED_BY_KEY, &me().record()), (PUSHED_PROPERTIES_KEY, "[\"password\"]")]);
        assert_eq!(plan_unpush(&m, &twin, &present), Unpush::NotMine);
        // An administrator's hand-over without uid.
        let handed = meta(&[(PUSHED_BY_KEY, "team-a/push-db"), (PUSHED_PROPERTIES_KEY, "[\"password\"]")]);
        assert_eq!(plan_unpush(&handed, &twin, &present), Unpush::DeleteAll);
    }
}
