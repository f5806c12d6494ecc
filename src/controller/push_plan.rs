//! What a PushSecret writes to one store, decided before anything is
//! written: its `data[]` entries and its `dataTo[]` entries for that store
//! expanded over the source's keys, with External Secrets Operator's rules
//! (`pkg/controllers/pushsecret`): keys read through `conversionStrategy`,
//! matched by `match.regexp`, renamed by `rewrite` (the rewrite code of
//! ExternalSecret's `dataFrom`) or bundled under `remoteKey`; an explicit
//! `data[]` entry for the same source key replaces the `dataTo` one; two
//! entries writing one remote place are an error. Every entry is written
//! through the same ownership rules as `data[]` (`VaultPool::push`), so
//! `dataTo` reaches no path a `data[]` entry could not. Messages name
//! fields, keys and remote paths, never values.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use zeroize::Zeroizing;

use crate::api::Reason;
use crate::api::external_secret::SecretStoreRef;
use crate::api::push_secret::{PushConversionStrategy, PushSecretSpec};
use crate::sources::SecretData;
use crate::sources::external_secret::keys;
use crate::sources::template::Work;

/// Most `dataTo` entries a PushSecret may have.
pub const MAX_DATA_TO: usize = 32;
/// Most remote places one PushSecret writes per store (its `data[]` and
/// what its `dataTo` expands to): each is a few requests to the store.
pub const MAX_ENTRIES: usize = 256;

/// Where an entry's value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// One key of the source, by its name in the source.
    Key(String),
    /// Keys bundled as one JSON object: (the name written, the source key).
    Bundle(Vec<(String, String)>),
}

/// One remote place to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The field it comes from (`spec.data[0]`, `spec.dataTo[1]`).
    pub field: String,
    /// The path under the store's mount.
    pub remote_key: String,
    /// The property, when one is written.
    pub property: Option<String>,
    /// Its value.
    pub source: Source,
}

/// Why nothing is written: the status reason and the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal(pub Reason, pub String);

fn invalid(m: String) -> Refusal {
    Refusal(Reason::InvalidDocument, m)
}

/// Whether a store reference names the store `kind`/`name` (kind default
/// `SecretStore`).
fn same_store(r: &SecretStoreRef, kind: &str, name: &str) -> bool {
    r.name == name && r.kind.as_deref().unwrap_or("SecretStore") == kind
}

/// Checks what does not depend on the source or the store: every
/// `dataTo[].storeRef` is one of `secretStoreRefs` (ESO's rule), and the
/// counts are bounded.
pub fn check_spec(spec: &PushSecretSpec) -> Result<(), Refusal> {
    if spec.data_to.len() > MAX_DATA_TO {
        return Err(invalid(format!("spec.dataTo has {} entries; at most {MAX_DATA_TO}", spec.data_to.len())));
    }
    if spec.data.len() > MAX_ENTRIES {
        return Err(invalid(format!("spec.data has {} entries; at most {MAX_ENTRIES}", spec.data.len())));
    }
    for (i, d) in spec.data_to.iter().enumerate() {
        let kind = d.store_ref.kind.as_deref().unwrap_or("SecretStore");
        if !spec.secret_store_refs.iter().any(|r| same_store(r, kind, &d.store_ref.name)) {
            return Err(invalid(format!(
                "spec.dataTo[{i}].storeRef: {kind} {:?} is not in spec.secretStoreRefs",
                d.store_ref.name
            )));
        }
        if d.remote_key.as_deref().is_some_and(|k| !k.is_empty()) && !d.rewrite.is_empty() {
            return Err(invalid(format!(
                "spec.dataTo[{i}]: remoteKey and rewrite are mutually exclusive (rewrite names one remote secret per key)"
            )));
        }
    }
    Ok(())
}

/// ESO's `ReverseUnicode`: every `_UXXXX_` or `_UXXXXX_` (hexadecimal, as
/// ExternalSecret's `Unicode` conversion writes a character) becomes the
/// character, left to right, five digits tried before four; a code point
/// that is no character (a surrogate) becomes U+FFFD, as Go's `%c` makes
/// it. The result is never longer than `key`.
pub fn reverse_unicode(key: &str) -> String {
    let bytes = key.as_bytes();
    let mut out = String::with_capacity(key.len());
    let mut i = 0;
    while let Some(rest) = key.get(i..) {
        let Some(c) = rest.chars().next() else { break };
        if rest.starts_with("_U") {
            let found = [5usize, 4].into_iter().find_map(|n| {
                let hex = key.get(i + 2..i + 2 + n)?;
                let closes = bytes.get(i + 2 + n) == Some(&b'_');
                (closes && hex.bytes().all(|b| b.is_ascii_hexdigit()))
                    .then(|| u32::from_str_radix(hex, 16).ok())
                    .flatten()
                    .map(|v| (n, char::from_u32(v).unwrap_or('\u{FFFD}')))
            });
            if let Some((n, ch)) = found {
                out.push(ch);
                i += 3 + n;
                continue;
            }
        }
        out.push(c);
        i += c.len_utf8();
    }
    out
}

/// The source's keys as `strategy` reads them: name read → source key. Two
/// keys read as one name are an error (ESO's "secret name collision").
fn read_names(
    values: &SecretData,
    strategy: Option<PushConversionStrategy>,
    field: &str,
) -> Result<BTreeMap<String, String>, Refusal> {
    let mut out = BTreeMap::new();
    for k in values.0.keys() {
        let name = match strategy.unwrap_or_default() {
            PushConversionStrategy::None => k.clone(),
            PushConversionStrategy::ReverseUnicode => reverse_unicode(k),
        };
        if let Some(other) = out.insert(name.clone(), k.clone()) {
            return Err(invalid(format!(
                "{field}.conversionStrategy: the source keys {other:?} and {k:?} both read as {name:?}"
            )));
        }
    }
    Ok(out)
}

/// What the PushSecret `spec` writes to the store `kind`/`name` from the
/// source's `values` (`src` names the source in messages): `dataTo`
/// entries for this store (not replaced by `data[]`), then `data[]`.
/// `work` is the object's template budget (rewrite `transform`s).
pub fn plan(
    spec: &PushSecretSpec,
    (kind, name): (&str, &str),
    values: &SecretData,
    src: &str,
    work: &Arc<Work>,
) -> Result<Vec<Entry>, Refusal> {
    check_spec(spec)?;
    let mut expanded = Vec::new();
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for (i, d) in spec.data_to.iter().enumerate() {
        if !same_store(&d.store_ref, kind, name) {
            continue;
        }
        let field = format!("spec.dataTo[{i}]");
        let names = read_names(values, d.conversion_strategy, &field)?;
        let re = match d.match_.as_ref().and_then(|m| m.regexp.as_deref()).filter(|r| !r.is_empty()) {
            Some(r) => Some(
                keys::bounded_regex(r, &format!("{field}.match.regexp"))
                    .map_err(|e| Refusal(e.reason(), e.to_string()))?,
            ),
            None => None,
        };
        let matched: Vec<(String, String)> =
            names.into_iter().filter(|(n, _)| re.as_ref().is_none_or(|re| re.is_match(n))).collect();
        if matched.is_empty() {
            continue;
        }
        let mut entries = Vec::new();
        if let Some(rk) = d.remote_key.as_deref().filter(|k| !k.is_empty()) {
            entries.push(Entry {
                field: field.clone(),
                remote_key: rk.to_owned(),
                property: None,
                source: Source::Bundle(matched),
            });
        } else {
            let by_name: BTreeMap<String, String> = matched.into_iter().collect();
            let renamed = if d.rewrite.is_empty() {
                by_name.keys().map(|n| (n.clone(), n.clone())).collect::<BTreeMap<_, _>>()
            } else {
                // The rewrite code of `dataFrom`, over the names (each entry's
                // value is its own name, so the result maps back to it).
                let named =
                    SecretData(by_name.keys().map(|n| (n.clone(), Zeroizing::new(n.as_bytes().to_vec()))).collect());
                let out = keys::rewrite_at(work, named, &d.rewrite, &field)
                    .map_err(|e| Refusal(e.reason(), e.to_string()))?;
                if out.0.len() != by_name.len() {
                    return Err(invalid(format!("{field}.rewrite: two source keys rewrite to the same remote key")));
                }
                out.0.into_iter().map(|(k, v)| (k, String::from_utf8_lossy(&v).into_owned())).collect()
            };
            for (remote, read) in renamed {
                let Some(orig) = by_name.get(&read) else { continue };
                if remote.is_empty() {
                    return Err(invalid(format!(
                        "{field}.rewrite: the source key {orig:?} rewrites to an empty remote key"
                    )));
                }
                entries.push(Entry {
                    field: field.clone(),
                    remote_key: remote,
                    property: None,
                    source: Source::Key(orig.clone()),
                });
            }
        }
        for e in entries {
            if let Some(other) = seen.insert(e.remote_key.clone(), field.clone()) {
                return Err(invalid(format!("{field}: the remote key {:?} is also written by {other}", e.remote_key)));
            }
            if expanded.len() >= MAX_ENTRIES {
                return Err(invalid(format!(
                    "spec.dataTo expands to more than {MAX_ENTRIES} remote secrets for {kind} {name}; at most {MAX_ENTRIES}"
                )));
            }
            expanded.push(e);
        }
    }
    let mut explicit = Vec::with_capacity(spec.data.len());
    for (j, d) in spec.data.iter().enumerate() {
        let field = format!("spec.data[{j}]");
        let key = &d.match_.secret_key;
        let orig = match d.conversion_strategy.unwrap_or_default() {
            PushConversionStrategy::None => values.0.contains_key(key).then(|| key.clone()),
            PushConversionStrategy::ReverseUnicode => read_names(values, d.conversion_strategy, &field)?.remove(key),
        };
        let orig = orig.ok_or_else(|| Refusal(Reason::PropertyNotFound, format!("{src} has no key {key:?}")))?;
        let rr = &d.match_.remote_ref;
        explicit.push(Entry {
            field,
            remote_key: rr.remote_key.clone(),
            property: rr.property.clone(),
            source: Source::Key(orig),
        });
    }
    // ESO: an explicit entry replaces the dataTo one for the same source key.
    let named: BTreeSet<&str> = explicit
        .iter()
        .filter_map(|e| match &e.source {
            Source::Key(k) => Some(k.as_str()),
            Source::Bundle(_) => None,
        })
        .collect();
    expanded.retain(|e| !matches!(&e.source, Source::Key(k) if named.contains(k.as_str())));
    expanded.extend(explicit);
    let mut places: BTreeMap<(&str, Option<&str>), &str> = BTreeMap::new();
    for e in &expanded {
        if let Some(other) = places.insert((&e.remote_key, e.property.as_deref()), &e.field) {
            let place = match &e.property {
                Some(p) => format!("{}/{p}", e.remote_key),
                None => e.remote_key.clone(),
            };
            return Err(invalid(format!("{other} and {} both write {place:?}", e.field)));
        }
    }
    if expanded.len() > MAX_ENTRIES {
        return Err(invalid(format!(
            "spec.data and spec.dataTo write {} remote places in {kind} {name}; at most {MAX_ENTRIES}",
            expanded.len()
        )));
    }
    Ok(expanded)
}

/// An entry's value: a source key's, or the bundle's JSON object (its
/// values must be text).
pub fn value<'a>(entry: &Entry, values: &'a SecretData, src: &str) -> Result<Value<'a>, Refusal> {
    match &entry.source {
        Source::Key(k) => values
            .0
            .get(k)
            .map(|v| Value::Borrowed(v.as_slice()))
            .ok_or_else(|| Refusal(Reason::PropertyNotFound, format!("{src} has no key {k:?}"))),
        Source::Bundle(pairs) => {
            let mut object = BTreeMap::new();
            let mut size = 2usize;
            for (name, k) in pairs {
                let v = values
                    .0
                    .get(k)
                    .ok_or_else(|| Refusal(Reason::PropertyNotFound, format!("{src} has no key {k:?}")))?;
                let text = std::str::from_utf8(v).map_err(|_| {
                    invalid(format!(
                        "{}: the value of {src} key {k:?} is not text; a remoteKey bundle holds text",
                        entry.field
                    ))
                })?;
                size = size.saturating_add(name.len()).saturating_add(text.len()).saturating_add(6);
                object.insert(name.as_str(), text);
            }
            let mut out = Zeroizing::new(Vec::with_capacity(size));
            serde_json::to_writer(&mut *out, &object).map_err(|_| {
                Refusal(Reason::InternalError, format!("{}: the bundle could not be written", entry.field))
            })?;
            Ok(Value::Owned(out))
        }
    }
}

/// A value to push, borrowed from the source or made for the push.
pub enum Value<'a> {
    /// A source key's value.
    Borrowed(&'a [u8]),
    /// A bundle's JSON.
    Owned(Zeroizing<Vec<u8>>),
}

impl Value<'_> {
    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Value::Borrowed(b) => b,
            Value::Owned(v) => v,
        }
    }
}

/// Ported from External Secrets Operator v2.9.0 (commit cc5bfbc2): the
/// `reverse`/`ReverseKeys` cases of `runtime/esutils/utils_test.go` and the
/// "mergeDataEntries unit tests" of
/// `pkg/controllers/pushsecret/pushsecret_controller_test.go`, under their
/// names; ESO's internal entries are written here as the `dataTo` and
/// `data[]` that make them.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::external_secret::{ConversionStrategy, Rewrite, RewriteRegexp};
    use crate::api::push_secret::{PushData, PushDataTo, PushDataToMatch, PushMatch, PushRemoteRef};

    const KEY_WITH_INVALID_CHARS: &str = "some-array[0].entity";
    const KEY_WITH_ENCODED_INVALID_CHARS: &str = "some-array_U005b_0_U005d_.entity";
    const KEY_WITH_EMOJIS: &str = "😀foo😁bar😂baz😈bing";

    fn values(keys: &[&str]) -> SecretData {
        SecretData(keys.iter().map(|k| ((*k).to_owned(), Zeroizing::new(b"{\"v\":\"x\"}".to_vec()))).collect())
    }

    fn kv() -> SecretStoreRef {
        SecretStoreRef { name: "kv".into(), kind: None }
    }

    /// A dataTo entry pushing the key `key` alone to `remote`.
    fn data_to(key: &str, remote: &str) -> PushDataTo {
        PushDataTo {
            store_ref: kv(),
            match_: Some(PushDataToMatch { regexp: Some(format!("^{}$", regex::escape(key))) }),
            rewrite: vec![Rewrite {
                regexp: Some(RewriteRegexp { source: "^.*$".into(), target: remote.replace('$', "$$") }),
                transform: None,
            }],
            ..Default::default()
        }
    }

    fn data(key: &str, remote: &str, property: Option<&str>) -> PushData {
        PushData {
            match_: PushMatch {
                secret_key: key.into(),
                remote_ref: PushRemoteRef { remote_key: remote.into(), property: property.map(str::to_owned) },
            },
            conversion_strategy: None,
        }
    }

    fn spec(data_to: Vec<PushDataTo>, data: Vec<PushData>) -> PushSecretSpec {
        PushSecretSpec { secret_store_refs: vec![kv()], data_to, data, ..Default::default() }
    }

    fn run(spec: &PushSecretSpec, values: &SecretData) -> Result<Vec<Entry>, Refusal> {
        plan(spec, ("SecretStore", "kv"), values, "Secret ns/src", &Work::new())
    }

    /// source key → remote key of each planned entry.
    fn by_source(entries: &[Entry]) -> BTreeMap<String, String> {
        entries
            .iter()
            .filter_map(|e| match &e.source {
                Source::Key(k) => Some((k.clone(), e.remote_key.clone())),
                Source::Bundle(_) => None,
            })
            .collect()
    }

    #[test]
    fn do_not_change_the_key_when_using_the_none_strategy() {
        let names = read_names(&values(&[KEY_WITH_ENCODED_INVALID_CHARS]), Some(PushConversionStrategy::None), "f");
        assert_eq!(names.ok().and_then(|n| n.into_keys().next()).as_deref(), Some(KEY_WITH_ENCODED_INVALID_CHARS));
    }

    #[test]
    fn reverse_an_unicode_encoded_key() {
        assert_eq!(reverse_unicode(KEY_WITH_ENCODED_INVALID_CHARS), KEY_WITH_INVALID_CHARS);
    }

    #[test]
    fn do_not_attempt_to_decode_an_invalid_unicode_representation() {
        assert_eq!(reverse_unicode("_U0xxx_x_U005b_"), "_U0xxx_x[");
    }

    /// ESO's `TestReverseKeys`: ExternalSecret's `Unicode` conversion, then
    /// `ReverseUnicode`, gives the key back (inside and beyond the BMP);
    /// with `None` the encoded key stays.
    #[test]
    fn encoding_with_unicode_and_decoding_with_reverse_unicode_gives_the_key_back() {
        for key in [KEY_WITH_EMOJIS, KEY_WITH_INVALID_CHARS] {
            let encoded = keys::convert_keys(values(&[key]), ConversionStrategy::Unicode, 0).expect("converts");
            let encoded = encoded.0.into_keys().next().unwrap_or_default();
            assert_ne!(encoded, key);
            assert_eq!(reverse_unicode(&encoded), key);
        }
        let encoded = keys::convert_keys(values(&[KEY_WITH_INVALID_CHARS]), ConversionStrategy::Unicode, 0);
        assert_eq!(encoded.ok().and_then(|e| e.0.into_keys().next()).as_deref(), Some(KEY_WITH_ENCODED_INVALID_CHARS));
    }

    #[test]
    fn reverse_unicode_handles_edges_without_panicking() {
        assert_eq!(reverse_unicode("_U1f600_"), "😀");
        assert_eq!(reverse_unicode("_Ud800_"), "\u{FFFD}", "a surrogate is U+FFFD, as Go's %c");
        assert_eq!(reverse_unicode("_U0041__U0042_"), "AB");
        assert_eq!(reverse_unicode("_U004"), "_U004");
        assert_eq!(reverse_unicode("é_U00e9_é"), "ééé");
        assert_eq!(reverse_unicode("_U00410_"), "\u{410}", "five digits before four");
    }

    #[test]
    fn should_let_explicit_data_override_data_to_for_same_source_key() {
        let s = spec(
            vec![data_to("foo", "dataTo/foo"), data_to("bar", "dataTo/bar")],
            vec![data("foo", "explicit/foo", None)],
        );
        let got = by_source(&run(&s, &values(&["foo", "bar"])).expect("plans"));
        assert_eq!(got.len(), 2);
        assert_eq!(got.get("bar").map(String::as_str), Some("dataTo/bar"));
        assert_eq!(got.get("foo").map(String::as_str), Some("explicit/foo"));
    }

    #[test]
    fn should_keep_all_entries_when_no_conflicts() {
        let s = spec(vec![data_to("a", "a")], vec![data("b", "b", None)]);
        assert_eq!(run(&s, &values(&["a", "b"])).expect("plans").len(), 2);
    }

    #[test]
    fn should_handle_empty_data_to() {
        let s = spec(vec![], vec![data("x", "x", None)]);
        assert_eq!(by_source(&run(&s, &values(&["x"])).expect("plans")).keys().collect::<Vec<_>>(), ["x"]);
    }

    #[test]
    fn should_handle_empty_explicit() {
        let s = spec(vec![data_to("y", "y")], vec![]);
        assert_eq!(by_source(&run(&s, &values(&["y"])).expect("plans")).keys().collect::<Vec<_>>(), ["y"]);
    }

    #[test]
    fn should_resolve_conflicts_when_explicit_data_uses_conversion_strategy() {
        let mut explicit = data("some-key", "explicit/some-key", None);
        explicit.conversion_strategy = Some(PushConversionStrategy::ReverseUnicode);
        let s =
            spec(vec![data_to("some_U002D_key", "dataTo/some-key"), data_to("other", "dataTo/other")], vec![explicit]);
        let got = by_source(&run(&s, &values(&["some_U002D_key", "other"])).expect("plans"));
        assert_eq!(got.len(), 2);
        assert_eq!(got.get("other").map(String::as_str), Some("dataTo/other"));
        assert_eq!(got.get("some_U002D_key").map(String::as_str), Some("explicit/some-key"));
    }

    #[test]
    fn should_pass_for_unique_remote_keys() {
        let s = spec(vec![], vec![data("a", "remote-a", None), data("b", "remote-b", None)]);
        assert!(run(&s, &values(&["a", "b"])).is_ok());
    }

    #[test]
    fn should_fail_for_duplicate_remote_keys() {
        let s = spec(vec![], vec![data("a", "shared", None), data("b", "shared", None)]);
        let e = run(&s, &values(&["a", "b"])).expect_err("refused");
        assert_eq!(e, Refusal(Reason::InvalidDocument, "spec.data[0] and spec.data[1] both write \"shared\"".into()));
    }

    #[test]
    fn should_pass_for_same_remote_key_with_different_properties() {
        let s = spec(vec![], vec![data("a", "shared", Some("field1")), data("b", "shared", Some("field2"))]);
        assert!(run(&s, &values(&["a", "b"])).is_ok());
    }

    #[test]
    fn should_fail_for_same_remote_key_and_same_property() {
        let s = spec(vec![], vec![data("a", "shared", Some("field")), data("b", "shared", Some("field"))]);
        let e = run(&s, &values(&["a", "b"])).expect_err("refused");
        assert!(e.1.ends_with("both write \"shared/field\""), "{}", e.1);
    }

    #[test]
    fn should_merge_valid_entries() {
        let s = spec(vec![data_to("a", "a")], vec![data("b", "b", None)]);
        assert_eq!(run(&s, &values(&["a", "b"])).expect("plans").len(), 2);
    }

    #[test]
    fn should_override_data_to_with_explicit_for_same_source_key() {
        let s = spec(vec![data_to("key", "dataTo-path")], vec![data("key", "explicit-path", None)]);
        let got = run(&s, &values(&["key"])).expect("plans");
        assert_eq!(got.iter().map(|e| e.remote_key.as_str()).collect::<Vec<_>>(), ["explicit-path"]);
    }

    #[test]
    fn should_fail_for_remote_key_conflict_after_merge() {
        let s = spec(vec![data_to("a", "shared")], vec![data("b", "shared", None)]);
        let e = run(&s, &values(&["a", "b"])).expect_err("refused");
        assert!(e.1.contains("both write \"shared\""), "{}", e.1);
    }

    #[test]
    fn data_to_for_another_store_is_not_planned_here_and_an_unlisted_store_is_refused() {
        let mut other = data_to("a", "a");
        other.store_ref.name = "other".into();
        let mut s = spec(vec![other], vec![]);
        s.secret_store_refs.push(SecretStoreRef { name: "other".into(), kind: None });
        assert!(run(&s, &values(&["a"])).expect("plans").is_empty());
        s.secret_store_refs.truncate(1);
        let e = run(&s, &values(&["a"])).expect_err("refused");
        assert!(e.1.starts_with("spec.dataTo[0].storeRef: SecretStore \"other\" is not in"), "{}", e.1);
    }

    #[test]
    fn data_to_expansion_is_bounded() {
        let keys: Vec<String> = (0..=MAX_ENTRIES).map(|i| format!("k{i}")).collect();
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        let s = spec(vec![PushDataTo { store_ref: kv(), ..Default::default() }], vec![]);
        let e = run(&s, &values(&keys)).expect_err("refused");
        assert!(e.1.contains("at most 256"), "{}", e.1);
        let s = spec((0..=MAX_DATA_TO).map(|_| PushDataTo { store_ref: kv(), ..Default::default() }).collect(), vec![]);
        assert!(check_spec(&s).is_err());
    }

    #[test]
    fn a_bundle_is_one_json_object_of_the_matched_keys_as_read() {
        let mut v = values(&[]);
        v.0.insert("DB_HOST".into(), Zeroizing::new(b"localhost".to_vec()));
        v.0.insert("DB_USER_U002E_X".into(), Zeroizing::new(b"admin".to_vec()));
        v.0.insert("APP".into(), Zeroizing::new(b"x".to_vec()));
        let s = spec(
            vec![PushDataTo {
                store_ref: kv(),
                remote_key: Some("bundle".into()),
                match_: Some(PushDataToMatch { regexp: Some("^DB_".into()) }),
                conversion_strategy: Some(PushConversionStrategy::ReverseUnicode),
                ..Default::default()
            }],
            vec![],
        );
        let got = run(&s, &v).expect("plans");
        assert_eq!(got.len(), 1);
        let text = value(got.first().expect("one"), &v, "src").expect("made").as_bytes().to_vec();
        assert_eq!(String::from_utf8_lossy(&text), r#"{"DB_HOST":"localhost","DB_USER.X":"admin"}"#);
    }
}
