//! The `sops` metadata block (`stores/stores.go: Metadata` in sops 3.11):
//! read from any format, written back in 3.11's field order, with the other
//! back ends' entries and unknown keys kept verbatim.

use regex::Regex;

use super::error::Error;
use super::value::{Item, Map, Text, Value};

/// The version written into new files: the sops format version followed.
pub const FORMAT_VERSION: &str = "3.11.0";

/// One age entry: a recipient and the armored age file of the data key (or share).
#[derive(Clone, PartialEq, Eq)]
pub struct AgeEntry {
    /// The public recipient, e.g. `age1…`.
    pub recipient: String,
    /// The armored age file.
    pub enc: String,
}

/// A key group: its age entries plus any other back ends, kept as they are.
#[derive(Clone, Default, PartialEq)]
pub struct KeyGroup {
    /// Age recipients of this group.
    pub age: Vec<AgeEntry>,
    /// Other back ends (`kms`, `pgp`, `hc_vault`, …) in file order, verbatim.
    pub other: Vec<(String, Value)>,
}

impl KeyGroup {
    /// The key types of this group seal cannot use (`pgp`, `kms`, …) that
    /// hold at least one key; sops writes an empty `hc_vault: []` in every
    /// group, which is no key.
    pub fn foreign_types(&self) -> impl Iterator<Item = &str> {
        self.other
            .iter()
            .filter(|(_, v)| !matches!(v, Value::Null) && !matches!(v, Value::List(l) if l.is_empty()))
            .map(|(k, _)| k.as_str())
    }
}

/// Which values are encrypted (sops' selection rules; at most one per file).
#[derive(Clone)]
pub enum Rule {
    /// Values under a key ending with this suffix stay clear.
    UnencryptedSuffix(String),
    /// Only values under a key ending with this suffix are encrypted.
    EncryptedSuffix(String),
    /// Values under a key matching this stay clear.
    UnencryptedRegex(Regex),
    /// Only values under a key matching this are encrypted.
    EncryptedRegex(Regex),
    /// Values after a comment matching this stay clear.
    UnencryptedCommentRegex(Regex),
    /// Only values after a comment matching this are encrypted.
    EncryptedCommentRegex(Regex),
    /// No selection rule: every value is encrypted, and no rule field is
    /// written. sops' binary files (one value, always encrypted) have
    /// none, and a file whose metadata names no rule reads as this.
    Everything,
}

impl Default for Rule {
    fn default() -> Self {
        Rule::UnencryptedSuffix("_unencrypted".to_owned())
    }
}

impl Rule {
    /// The metadata field name and its value (none for [`Rule::Everything`]).
    pub fn field(&self) -> Option<(&'static str, &str)> {
        Some(match self {
            Rule::UnencryptedSuffix(s) => ("unencrypted_suffix", s),
            Rule::EncryptedSuffix(s) => ("encrypted_suffix", s),
            Rule::UnencryptedRegex(r) => ("unencrypted_regex", r.as_str()),
            Rule::EncryptedRegex(r) => ("encrypted_regex", r.as_str()),
            Rule::UnencryptedCommentRegex(r) => ("unencrypted_comment_regex", r.as_str()),
            Rule::EncryptedCommentRegex(r) => ("encrypted_comment_regex", r.as_str()),
            Rule::Everything => return None,
        })
    }

    /// Builds a rule from a field name and value.
    pub fn from_field(name: &str, value: &str) -> Result<Rule, Error> {
        let re = |v: &str| {
            compiled(v).map_err(|e| Error::Metadata(format!("{name} is not a valid regular expression: {e}")))
        };
        Ok(match name {
            "unencrypted_suffix" => Rule::UnencryptedSuffix(value.to_owned()),
            "encrypted_suffix" => Rule::EncryptedSuffix(value.to_owned()),
            "unencrypted_regex" => Rule::UnencryptedRegex(re(value)?),
            "encrypted_regex" => Rule::EncryptedRegex(re(value)?),
            "unencrypted_comment_regex" => Rule::UnencryptedCommentRegex(re(value)?),
            "encrypted_comment_regex" => Rule::EncryptedCommentRegex(re(value)?),
            other => return Err(Error::Metadata(format!("unknown selection rule {other}"))),
        })
    }

    /// Whether a single path component triggers the rule.
    pub fn component_matches(&self, key: &str) -> bool {
        match self {
            Rule::UnencryptedSuffix(s) | Rule::EncryptedSuffix(s) => key.ends_with(s.as_str()),
            Rule::UnencryptedRegex(r) | Rule::EncryptedRegex(r) => r.is_match(key),
            Rule::UnencryptedCommentRegex(_) | Rule::EncryptedCommentRegex(_) | Rule::Everything => false,
        }
    }

    /// True for the two rules that look at comments.
    pub fn is_comment_rule(&self) -> bool {
        matches!(self, Rule::UnencryptedCommentRegex(_) | Rule::EncryptedCommentRegex(_))
    }

    /// Same rule (kind and text).
    pub fn same_as(&self, other: &Rule) -> bool {
        self.field() == other.field()
    }
}

/// The patterns [`compiled`] keeps.
static COMPILED: std::sync::OnceLock<std::sync::Mutex<Vec<(String, Regex)>>> = std::sync::OnceLock::new();

/// The patterns kept now (for tests).
#[cfg(test)]
pub(crate) fn compiled_patterns() -> Vec<String> {
    COMPILED.get().and_then(|c| c.lock().ok().map(|c| c.iter().map(|(p, _)| p.clone()).collect())).unwrap_or_default()
}

/// Most patterns [`compiled`] keeps, and the longest it keeps: a file
/// names its pattern, so what the cache holds is bounded by these, not by
/// the files read.
const MAX_COMPILED: usize = 32;
const MAX_COMPILED_LEN: usize = 1024;

/// The patterns compiled so far: every file of a repository, and every
/// SealedSecret the controller reads, names the same few rules, and
/// compiling one cost about an eighth of decrypting a SealedSecret. A
/// compiled `Regex` is shared (cloning it is a reference count). Only
/// patterns that compiled are kept, at most [`MAX_COMPILED`] of them of at
/// most [`MAX_COMPILED_LEN`] bytes, the first ones seen.
fn compiled(pattern: &str) -> Result<Regex, regex::Error> {
    let cache = COMPILED.get_or_init(|| std::sync::Mutex::new(Vec::new()));
    let hit = cache.lock().ok().and_then(|c| c.iter().find(|(p, _)| p == pattern).map(|(_, r)| r.clone()));
    if let Some(re) = hit {
        return Ok(re);
    }
    let re = Regex::new(pattern)?;
    if let Ok(mut c) = cache.lock()
        && c.len() < MAX_COMPILED
        && pattern.len() <= MAX_COMPILED_LEN
    {
        c.push((pattern.to_owned(), re.clone()));
    }
    Ok(re)
}

/// The whole `sops` block.
#[derive(Clone, Default)]
pub struct Metadata {
    /// Key groups; one group is written in the flat form.
    pub key_groups: Vec<KeyGroup>,
    /// Shamir quorum (0 = number of groups).
    pub shamir_threshold: usize,
    /// `lastmodified`, as written.
    pub lastmodified: String,
    /// The encrypted MAC.
    pub mac: String,
    /// The selection rule.
    pub rule: Rule,
    /// MAC only over encrypted values.
    pub mac_only_encrypted: bool,
    /// The writer's version.
    pub version: String,
    /// Unknown keys, kept verbatim.
    pub extra: Vec<(String, Value)>,
}

/// The field names of the six selection rules, as sops writes them in the
/// metadata and reads them in `.sops.yaml` creation rules. One list, so the
/// file reader, the creation-rule reader and the CRD schema cannot drift apart.
pub const RULE_FIELDS: [&str; 6] = [
    "unencrypted_suffix",
    "encrypted_suffix",
    "unencrypted_regex",
    "encrypted_regex",
    "unencrypted_comment_regex",
    "encrypted_comment_regex",
];
const BACKENDS: [&str; 6] = ["kms", "gcp_kms", "hckms", "azure_kv", "hc_vault", "pgp"];

fn scalar_string(v: &Value) -> Option<String> {
    Some(match v {
        Value::Str(s) => s.as_str().to_owned(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => super::cipher::go_format_f(*f),
        Value::Bool(b) => b.to_string(),
        Value::Time(t) => t.0.clone(),
        _ => return None,
    })
}

/// A file's `shamir_threshold`: a whole number of at least 1 (sops leaves
/// the field out for its default, every group). A negative number used to
/// become 0 and a fraction was cut down; both are refused, as is zero
/// written out. The message does not repeat the value.
fn threshold(v: &Value) -> Result<usize, Error> {
    let bad = |why: &str| Error::Metadata(format!("shamir_threshold {why}"));
    let n = match v {
        Value::Int(i) => *i,
        Value::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => *f as i64,
        Value::Str(s) => s.as_str().trim().parse::<i64>().map_err(|_| bad("is not a whole number"))?,
        _ => return Err(bad("is not a whole number")),
    };
    match usize::try_from(n) {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(bad("must be at least 1")),
    }
}

fn parse_group(m: &Map, ctx: &str) -> Result<KeyGroup, Error> {
    let mut g = KeyGroup::default();
    for (k, v) in m.pairs() {
        if k == "age" {
            g.age = parse_age(v, ctx)?;
        } else {
            g.other.push((k.to_owned(), v.clone()));
        }
    }
    Ok(g)
}

fn parse_age(v: &Value, ctx: &str) -> Result<Vec<AgeEntry>, Error> {
    let list = match v {
        Value::List(l) => l,
        Value::Null => return Ok(Vec::new()),
        _ => return Err(Error::Metadata(format!("{ctx}age must be a list"))),
    };
    let mut out = Vec::new();
    for (i, e) in list.iter().enumerate() {
        let m = e.as_map().ok_or_else(|| Error::Metadata(format!("{ctx}age[{i}] must be a mapping")))?;
        let get = |f: &str| {
            m.get(f)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| Error::Metadata(format!("{ctx}age[{i}].{f} is missing")))
        };
        out.push(AgeEntry { recipient: get("recipient")?.trim().to_owned(), enc: get("enc")? });
    }
    Ok(out)
}

impl Metadata {
    /// Reads the metadata map.
    pub fn from_map(m: &Map) -> Result<Metadata, Error> {
        let mut md = Metadata::default();
        let mut flat = KeyGroup::default();
        let mut rule: Option<Rule> = None;
        let mut groups = None;
        for (k, v) in m.pairs() {
            match k {
                "shamir_threshold" => md.shamir_threshold = threshold(v)?,
                "key_groups" => {
                    let Value::List(l) = v else {
                        return Err(Error::Metadata("key_groups must be a list".into()));
                    };
                    let mut gs = Vec::new();
                    for (i, g) in l.iter().enumerate() {
                        let gm =
                            g.as_map().ok_or_else(|| Error::Metadata(format!("key_groups[{i}] must be a mapping")))?;
                        gs.push(parse_group(gm, &format!("key_groups[{i}]."))?);
                    }
                    groups = Some(gs);
                }
                "age" => flat.age = parse_age(v, "")?,
                "lastmodified" => {
                    md.lastmodified =
                        scalar_string(v).ok_or_else(|| Error::Metadata("lastmodified must be a string".into()))?
                }
                "mac" => md.mac = scalar_string(v).unwrap_or_default(),
                "mac_only_encrypted" => {
                    md.mac_only_encrypted = match v {
                        Value::Bool(b) => *b,
                        Value::Str(s) => s.as_str() == "true",
                        _ => false,
                    }
                }
                "version" => md.version = scalar_string(v).unwrap_or_default(),
                k if RULE_FIELDS.contains(&k) => {
                    let text = scalar_string(v).unwrap_or_default();
                    if text.is_empty() {
                        continue;
                    }
                    if let Some(r) = &rule {
                        return Err(Error::Metadata(format!(
                            "both {} and {k} are set; a file may use only one selection rule",
                            r.field().map_or("a rule", |f| f.0)
                        )));
                    }
                    rule = Some(Rule::from_field(k, &text)?);
                }
                k if BACKENDS.contains(&k) => {
                    let empty = matches!(v, Value::List(l) if l.is_empty()) || matches!(v, Value::Null);
                    if !empty {
                        flat.other.push((k.to_owned(), v.clone()));
                    }
                }
                _ => md.extra.push((k.to_owned(), v.clone())),
            }
        }
        // No rule field: sops encrypts every value (its binary files).
        md.rule = rule.unwrap_or(Rule::Everything);
        md.key_groups = match groups {
            Some(g) if !g.is_empty() => g,
            _ => vec![flat],
        };
        if md.shamir_threshold > md.key_groups.len() {
            return Err(Error::Metadata(format!(
                "shamir_threshold is more than the number of key groups ({}): no set of keys could open the file",
                md.key_groups.len()
            )));
        }
        Ok(md)
    }

    /// Writes the metadata map in sops 3.11's field order.
    pub fn to_map(&self) -> Map {
        let mut m = Map::new();
        if self.shamir_threshold != 0 && self.key_groups.len() > 1 {
            m.push("shamir_threshold", Value::Int(self.shamir_threshold as i64));
        }
        let single = self.key_groups.len() <= 1;
        if !single {
            let groups = self.key_groups.iter().map(|g| Value::Map(group_map(g, true))).collect();
            m.push("key_groups", Value::List(groups));
        }
        let empty = KeyGroup::default();
        let flat = if single { self.key_groups.first().unwrap_or(&empty) } else { &empty };
        for name in ["kms", "gcp_kms", "hckms", "azure_kv", "hc_vault"] {
            if let Some((_, v)) = flat.other.iter().find(|(k, _)| k == name) {
                m.push(name, v.clone());
            }
        }
        if !flat.age.is_empty() {
            m.push("age", age_list(&flat.age));
        }
        m.push("lastmodified", Value::str(self.lastmodified.clone()));
        m.push("mac", Value::str(self.mac.clone()));
        if let Some((_, v)) = flat.other.iter().find(|(k, _)| k == "pgp") {
            m.push("pgp", v.clone());
        }
        if let Some((name, value)) = self.rule.field() {
            m.push(name, Value::str(value));
        }
        if self.mac_only_encrypted {
            m.push("mac_only_encrypted", Value::Bool(true));
        }
        m.push("version", Value::str(self.version.clone()));
        for (k, v) in &self.extra {
            m.push(k, v.clone());
        }
        m
    }

    /// Every age recipient of every group, in order.
    pub fn recipients(&self) -> impl Iterator<Item = &str> {
        self.key_groups.iter().flat_map(|g| g.age.iter().map(|a| a.recipient.as_str()))
    }
}

fn age_list(entries: &[AgeEntry]) -> Value {
    Value::List(
        entries
            .iter()
            .map(|a| {
                let mut e = Map::new();
                e.push("recipient", Value::str(a.recipient.clone()));
                e.push("enc", Value::str(a.enc.clone()));
                Value::Map(e)
            })
            .collect(),
    )
}

fn group_map(g: &KeyGroup, grouped: bool) -> Map {
    let mut m = Map::new();
    for (k, v) in &g.other {
        if k != "hc_vault" {
            m.push(k, v.clone());
        }
    }
    // sops 3.11 always writes these two in a key group (no omitempty).
    let vault = g.other.iter().find(|(k, _)| k == "hc_vault").map(|(_, v)| v.clone());
    if grouped {
        m.push("hc_vault", vault.unwrap_or(Value::List(Vec::new())));
        m.push("age", age_list(&g.age));
    }
    m
}

/// Flattens metadata for dotenv (`sops_` prefix, `__map_`, `__list_N`),
/// keys sorted (`stores/flatten.go`).
pub fn flatten(m: &Map, prefix: &str) -> Vec<(String, String)> {
    fn walk(out: &mut Vec<(String, String)>, v: &Value, key: String) {
        match v {
            Value::Map(m) => {
                for (k, v) in m.pairs() {
                    walk(out, v, format!("{key}__map_{k}"));
                }
            }
            Value::List(l) => {
                for (i, v) in l.iter().enumerate() {
                    walk(out, v, format!("{key}__list_{i}"));
                }
            }
            other => out.push((key, scalar_string(other).unwrap_or_default())),
        }
    }
    let mut out = Vec::new();
    for (k, v) in m.pairs() {
        match v {
            Value::Map(_) | Value::List(_) => {
                // The first level is `sops_age`, then `__list_0__map_enc`.
                let mut inner = Vec::new();
                walk(&mut inner, v, String::new());
                for (sub, val) in inner {
                    out.push((format!("{prefix}{k}{sub}"), val));
                }
            }
            other => out.push((format!("{prefix}{k}"), scalar_string(other).unwrap_or_default())),
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Rebuilds the metadata map from flattened `sops_*` entries. List indexes
/// and the number of segments are bounded ([`super::limits`]): a key such as
/// `sops_age__list_99999999999__map_enc` is refused, not allocated.
pub fn unflatten(entries: &[(String, String)]) -> Result<Map, Error> {
    use super::limits::{MAX_METADATA_INDEX, MAX_METADATA_SEGMENTS};
    let mut root = Map::new();
    for (key, val) in entries {
        let mut parts: Vec<Seg> = Vec::new();
        let mut rest = key.as_str();
        let first_end = rest.find("__").unwrap_or(rest.len());
        parts.push(Seg::Key(rest[..first_end].to_owned()));
        rest = &rest[first_end..];
        while !rest.is_empty() {
            let (seg, tail) = if let Some(r) = rest.strip_prefix("__map_") {
                let end = r.find("__").unwrap_or(r.len());
                (Seg::Key(r[..end].to_owned()), &r[end..])
            } else if let Some(r) = rest.strip_prefix("__list_") {
                let end = r.find("__").unwrap_or(r.len());
                let index = r[..end].parse::<usize>().ok().filter(|i| *i <= MAX_METADATA_INDEX).ok_or_else(|| {
                    Error::Limit(format!(
                        "the metadata key sops_{key} has a list index that is not a number up to {MAX_METADATA_INDEX}"
                    ))
                })?;
                (Seg::Index(index), &r[end..])
            } else {
                break;
            };
            parts.push(seg);
            if parts.len() > MAX_METADATA_SEGMENTS {
                return Err(Error::Limit(format!(
                    "the metadata key sops_{key} has more than {MAX_METADATA_SEGMENTS} segments"
                )));
            }
            rest = tail;
        }
        insert_path(&mut root, &parts, Value::Str(Text::new(val.clone())));
    }
    Ok(root)
}

enum Seg {
    Key(String),
    Index(usize),
}

fn insert_path(m: &mut Map, path: &[Seg], leaf: Value) {
    let Some((Seg::Key(k), rest)) = path.split_first() else {
        return;
    };
    if rest.is_empty() {
        m.insert(k, leaf);
        return;
    }
    let slot = match m.get_mut(k) {
        Some(v) => v,
        None => {
            let init = match rest[0] {
                Seg::Key(_) => Value::Map(Map::new()),
                Seg::Index(_) => Value::List(Vec::new()),
            };
            m.items.push(Item::Pair(k.clone(), init));
            match m.items.last_mut() {
                Some(Item::Pair(_, v)) => v,
                _ => return,
            }
        }
    };
    insert_value(slot, rest, leaf);
}

fn insert_value(slot: &mut Value, path: &[Seg], leaf: Value) {
    match (&path[0], slot) {
        (Seg::Key(_), Value::Map(m)) => insert_path(m, path, leaf),
        (Seg::Index(i), Value::List(l)) => {
            while l.len() <= *i {
                l.push(match path.get(1) {
                    Some(Seg::Key(_)) => Value::Map(Map::new()),
                    Some(Seg::Index(_)) => Value::List(Vec::new()),
                    None => Value::Null,
                });
            }
            if path.len() == 1 {
                l[*i] = leaf;
            } else {
                insert_value(&mut l[*i], &path[1..], leaf);
            }
        }
        _ => {}
    }
}
