//! The `SealedSecret` document (see `docs/architecture.md`): a SOPS file
//! of the whole resource, with `data`, `stringData` and `scope` encrypted,
//! the MAC over encrypted values only, and every map that holds encrypted
//! values in the sorted key order the Kubernetes API server returns.
//!
//! Shared by the CLI (which builds and checks these documents) and the
//! controller: [`check_encrypted`] and [`open`] are the one place where a
//! SealedSecret is judged, whoever asks. No Kubernetes client here.
//!
//! Over 600 lines on purpose: the selection rule, the scope binding, the
//! key-name rules and the checks built on them are one security decision,
//! kept in one file so that a reviewer reads all of it in one place (its
//! last 140 lines are its tests).

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use base64::Engine;
use zeroize::Zeroizing;

use crate::sops::limits::Budget;
use crate::sops::{self, DecryptOptions, Identities, Item, Map, Metadata, Rule, Value};

/// API group and version of seal's resources.
pub const API_VERSION: &str = "seal.dev/v1alpha1";
/// The kind of a sealed secret.
pub const KIND: &str = "SealedSecret";
/// The selection rule every SealedSecret uses.
pub const ENCRYPTED_REGEX: &str = "^(data|stringData|scope)$";
/// Key names that the rule would encrypt wherever they appear.
pub const RESERVED_KEYS: [&str; 3] = ["data", "stringData", "scope"];

/// The selection rule of a SealedSecret.
pub fn rule() -> Rule {
    Rule::from_field("encrypted_regex", ENCRYPTED_REGEX).unwrap_or_else(|_| unreachable!("constant regex"))
}

/// Where a sealed document may be materialized.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScopeBinding {
    /// Only as `namespace/name`.
    Strict {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
    },
    /// Any name in this namespace.
    Namespace {
        /// Namespace.
        namespace: String,
    },
    /// Anywhere.
    Cluster,
}

impl ScopeBinding {
    /// Parses `ns/name`, `ns/*` or `*/*`.
    pub fn parse(s: &str) -> Result<ScopeBinding, String> {
        let (ns, name) =
            s.split_once('/').ok_or_else(|| "the scope must be namespace/name, namespace/* or */*".to_owned())?;
        match (ns, name) {
            ("*", "*") => Ok(ScopeBinding::Cluster),
            ("*", _) | ("", _) | (_, "") => Err("the scope must be namespace/name, namespace/* or */*".to_owned()),
            (ns, "*") => Ok(ScopeBinding::Namespace { namespace: ns.to_owned() }),
            (ns, name) => Ok(ScopeBinding::Strict { namespace: ns.to_owned(), name: name.to_owned() }),
        }
    }

    /// Whether an object with this namespace and name may use the document.
    pub fn allows(&self, namespace: &str, name: &str) -> bool {
        match self {
            ScopeBinding::Strict { namespace: n, name: m } => n == namespace && m == name,
            ScopeBinding::Namespace { namespace: n } => n == namespace,
            ScopeBinding::Cluster => true,
        }
    }
}

impl fmt::Display for ScopeBinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScopeBinding::Strict { namespace, name } => write!(f, "{namespace}/{name}"),
            ScopeBinding::Namespace { namespace } => write!(f, "{namespace}/*"),
            ScopeBinding::Cluster => f.write_str("*/*"),
        }
    }
}

/// True when the document is a SealedSecret: it says so (`kind`), or,
/// whatever it says, one of its encrypted values sits where a
/// SealedSecret's values are encrypted ([`sealed_value_path`]). `kind` and
/// `apiVersion` are clear text outside the MAC, so a renamed copy must not
/// escape the scope check.
pub fn is_sealed_secret(doc: &Map) -> bool {
    doc.get("kind").and_then(Value::as_str) == Some(KIND) || sealed_value_path(doc).is_some()
}

/// Whether `aad` (a value's path as SOPS binds it: the keys joined with
/// `:`, plus `:`) is one where a SealedSecret encrypts its values.
fn is_sealed_aad(aad: &str) -> bool {
    aad == "spec:scope:" || aad.starts_with("spec:data:") || aad.starts_with("spec:stringData:")
}

/// Whether a path could still lead to one of a SealedSecret's value paths.
fn may_lead_to_sealed_aad(aad: &str) -> bool {
    is_sealed_aad(aad) || ["spec:scope:", "spec:data:", "spec:stringData:"].iter().any(|t| t.starts_with(aad))
}

/// The additional data of the first encrypted value (or encrypted
/// comment) that SOPS would decrypt at a SealedSecret's value path, walking
/// the tree as SOPS does (`sops.go: walkBranch`): each key appends `KEY:`,
/// list items share their key's path.
pub fn sealed_value_path(doc: &Map) -> Option<String> {
    fn map(m: &Map, aad: &mut String) -> Option<String> {
        for item in &m.items {
            match item {
                Item::Comment(c) => {
                    if sops::cipher::is_envelope(c) && is_sealed_aad(aad) {
                        return Some(aad.clone());
                    }
                }
                Item::Pair(k, v) => {
                    let len = aad.len();
                    aad.push_str(k);
                    aad.push(':');
                    let found = if may_lead_to_sealed_aad(aad) { value(v, aad) } else { None };
                    aad.truncate(len);
                    if found.is_some() {
                        return found;
                    }
                }
            }
        }
        None
    }
    fn value(v: &Value, aad: &mut String) -> Option<String> {
        match v {
            Value::Map(m) => map(m, aad),
            Value::List(items) => items.iter().find_map(|item| value(item, aad)),
            Value::Str(s) | Value::Comment(s) if sops::cipher::is_envelope(s) && is_sealed_aad(aad) => {
                Some(aad.clone())
            }
            _ => None,
        }
    }
    map(doc, &mut String::new())
}

/// `metadata.namespace` and `metadata.name` of a document.
pub fn object_ref(doc: &Map) -> (Option<&str>, Option<&str>) {
    let md = doc.get("metadata").and_then(Value::as_map);
    (
        md.and_then(|m| m.get("namespace")).and_then(Value::as_str),
        md.and_then(|m| m.get("name")).and_then(Value::as_str),
    )
}

/// Prepares a plaintext SealedSecret for encryption: sorts `spec` and the
/// `data`/`stringData` maps by key, as the API server returns them (so the
/// MAC computed at encryption matches the live object), and binds the set of
/// key names into the scope value (so no key can be added without a key to
/// the file, not even one with an empty value, which the MAC cannot see).
pub fn normalize(doc: &mut Map) {
    if let Some(Value::Map(spec)) = doc.get_mut("spec") {
        spec.sort_keys();
        for key in ["data", "stringData"] {
            if let Some(Value::Map(m)) = spec.get_mut(key) {
                m.sort_keys();
            }
        }
        let digest = key_names_digest(spec);
        if let Some(Value::Str(scope)) = spec.get("scope") {
            let (binding, _) = split_scope(scope.as_str());
            let bound = format!("{binding}{KEYS_MARK}{digest}");
            spec.insert("scope", Value::str(bound));
        }
    }
}

/// Separates the binding from the key-names digest in a scope value.
const KEYS_MARK: &str = ";keys=";

/// Splits a scope value into its binding and key-names digest (files
/// sealed before the digest existed have none).
pub fn split_scope(value: &str) -> (&str, Option<&str>) {
    match value.split_once(KEYS_MARK) {
        Some((binding, digest)) => (binding, Some(digest)),
        None => (value, None),
    }
}

/// Digest of the key names of `spec.data` and `spec.stringData`, in order
/// (hex, 16 bytes): what the scope value binds.
pub fn key_names_digest(spec: &Map) -> String {
    let mut parts: Vec<Vec<u8>> = Vec::new();
    for field in ["data", "stringData"] {
        parts.push(field.as_bytes().to_vec());
        if let Some(m) = spec.get(field).and_then(Value::as_map) {
            let mut keys: Vec<&str> = m.pairs().map(|(k, _)| k).collect();
            keys.sort_unstable();
            parts.extend(keys.into_iter().map(|k| k.as_bytes().to_vec()));
        }
    }
    let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
    input_digest(&refs)
}

/// The path (`spec.data` …) of a map holding encrypted values whose keys are
/// not sorted, if any.
pub fn unsorted_map(doc: &Map) -> Option<String> {
    fn sorted(m: &Map) -> bool {
        let keys: Vec<&str> = m.pairs().map(|(k, _)| k).collect();
        keys.windows(2).all(|w| w[0] <= w[1])
    }
    let spec = doc.get("spec").and_then(Value::as_map)?;
    if !sorted(spec) {
        return Some("spec".into());
    }
    for key in ["data", "stringData"] {
        if let Some(m) = spec.get(key).and_then(Value::as_map)
            && !sorted(m)
        {
            return Some(format!("spec.{key}"));
        }
    }
    None
}

/// Labels or annotation keys named like an encrypted field, which the
/// selection rule would encrypt by accident.
pub fn reserved_metadata_keys(doc: &Map) -> Vec<String> {
    let mut found = Vec::new();
    let mut check = |where_: &str, m: Option<&Map>| {
        if let Some(m) = m {
            for (k, _) in m.pairs() {
                if RESERVED_KEYS.contains(&k) {
                    found.push(format!("{where_}.{k}"));
                }
            }
        }
    };
    let md = doc.get("metadata").and_then(Value::as_map);
    for field in ["labels", "annotations"] {
        check(&format!("metadata.{field}"), md.and_then(|m| m.get(field)).and_then(Value::as_map));
    }
    let tmd = doc
        .get("spec")
        .and_then(Value::as_map)
        .and_then(|s| s.get("template"))
        .and_then(Value::as_map)
        .and_then(|t| t.get("metadata"))
        .and_then(Value::as_map);
    for field in ["labels", "annotations"] {
        check(&format!("spec.template.metadata.{field}"), tmd.and_then(|m| m.get(field)).and_then(Value::as_map));
    }
    found
}

/// Checks a plaintext SealedSecret before it is encrypted: no label or
/// annotation may be named like an encrypted field.
pub fn check_plaintext(doc: &Map) -> Result<(), String> {
    let reserved = reserved_metadata_keys(doc);
    if reserved.is_empty() {
        return Ok(());
    }
    Err(format!(
        "{} would be encrypted by the SealedSecret rule {ENCRYPTED_REGEX}; rename these labels or annotations",
        reserved.join(", ")
    ))
}

/// The parts of a Kubernetes Secret that a SealedSecret carries.
#[derive(Default)]
pub struct SecretParts {
    /// Name of the Secret (and the SealedSecret).
    pub name: String,
    /// Namespace, if known.
    pub namespace: Option<String>,
    /// `type`, e.g. `Opaque`.
    pub type_: Option<String>,
    /// `immutable`.
    pub immutable: Option<bool>,
    /// Labels for the Secret.
    pub labels: Map,
    /// Annotations for the Secret.
    pub annotations: Map,
    /// `data`: base64 values.
    pub data: Map,
    /// `stringData`: UTF-8 values.
    pub string_data: Map,
}

impl SecretParts {
    /// Reads a `kind: Secret` manifest.
    pub fn from_secret(doc: &Map) -> Result<SecretParts, String> {
        let kind = doc.get("kind").and_then(Value::as_str).unwrap_or("");
        if kind != "Secret" {
            return Err(format!("expected a manifest of kind Secret, found kind {kind:?}"));
        }
        let md = doc.get("metadata").and_then(Value::as_map);
        let get_map =
            |m: Option<&Map>, k: &str| m.and_then(|m| m.get(k)).and_then(Value::as_map).cloned().unwrap_or_default();
        let name =
            md.and_then(|m| m.get("name")).and_then(Value::as_str).ok_or("the Secret has no metadata.name")?.to_owned();
        let mut parts = SecretParts {
            name,
            namespace: md.and_then(|m| m.get("namespace")).and_then(Value::as_str).map(str::to_owned),
            type_: doc.get("type").and_then(Value::as_str).map(str::to_owned),
            immutable: match doc.get("immutable") {
                Some(Value::Bool(b)) => Some(*b),
                _ => None,
            },
            labels: get_map(md, "labels"),
            annotations: get_map(md, "annotations"),
            data: get_map(Some(doc), "data"),
            string_data: get_map(Some(doc), "stringData"),
        };
        for m in [&mut parts.data, &mut parts.string_data] {
            for item in m.items.iter_mut() {
                if let Item::Pair(k, v) = item {
                    *v = match std::mem::replace(v, Value::Null) {
                        Value::Str(s) => Value::Str(s),
                        Value::Null => Value::str(""),
                        other => {
                            return Err(format!(
                                "the value of {k:?} is a {}; Secret values must be strings",
                                other.kind()
                            ));
                        }
                    };
                }
            }
        }
        Ok(parts)
    }

    /// Checks Secret key names (`[-._a-zA-Z0-9]+`, at most 253 characters).
    pub fn validate_keys(&self) -> Result<(), String> {
        for (k, _) in self.data.pairs().chain(self.string_data.pairs()) {
            if !valid_secret_key(k) {
                return Err(format!(
                    "{k:?} is not a valid Secret key (letters, digits, '-', '_' and '.'; at most 253 characters)"
                ));
            }
        }
        Ok(())
    }

    /// Merges these values into a decrypted SealedSecret document: each key
    /// replaces the same key in either map, `type` and `scope` are replaced
    /// when given; the result is in API-server order. Other values are
    /// left as they are (and keep their ciphertext when re-encrypted with
    /// the file's data key).
    pub fn merge_into(self, doc: &mut Map, scope: Option<&ScopeBinding>) -> Result<(), String> {
        let Some(Value::Map(spec)) = doc.get_mut("spec") else {
            return Err("the SealedSecret has no spec".into());
        };
        for (field, other, values) in [("data", "stringData", self.data), ("stringData", "data", self.string_data)] {
            for (k, v) in values.pairs() {
                if let Some(Value::Map(o)) = spec.get_mut(other) {
                    o.remove(k);
                }
                if spec.get(field).is_none() {
                    spec.push(field, Value::Map(Map::new()));
                }
                if let Some(Value::Map(m)) = spec.get_mut(field) {
                    m.insert(k, v.clone());
                }
            }
        }
        if let Some(scope) = scope {
            spec.insert("scope", Value::str(scope.to_string()));
        }
        if let Some(t) = self.type_
            && let Some(Value::Map(tpl)) = spec.get_mut("template")
        {
            tpl.insert("type", Value::str(t));
        }
        normalize(doc);
        Ok(())
    }

    /// Builds the plaintext SealedSecret document (to be encrypted with
    /// [`rule`] and `mac_only_encrypted`), in API-server order.
    pub fn to_document(&self, namespace: &str, scope: &ScopeBinding) -> Map {
        let mut meta = Map::new();
        meta.push("name", Value::str(self.name.clone()));
        meta.push("namespace", Value::str(namespace));
        let mut spec = Map::new();
        if !self.data.is_empty() {
            spec.push("data", Value::Map(self.data.clone()));
        }
        spec.push("scope", Value::str(scope.to_string()));
        if !self.string_data.is_empty() {
            spec.push("stringData", Value::Map(self.string_data.clone()));
        }
        let mut template = Map::new();
        if let Some(b) = self.immutable {
            template.push("immutable", Value::Bool(b));
        }
        if !self.labels.is_empty() || !self.annotations.is_empty() {
            let mut tm = Map::new();
            if !self.annotations.is_empty() {
                tm.push("annotations", Value::Map(self.annotations.clone()));
            }
            if !self.labels.is_empty() {
                tm.push("labels", Value::Map(self.labels.clone()));
            }
            template.push("metadata", Value::Map(tm));
        }
        template.push("type", Value::str(self.type_.clone().unwrap_or_else(|| "Opaque".into())));
        spec.push("template", Value::Map(template));
        let mut doc = Map::new();
        doc.push("apiVersion", Value::str(API_VERSION));
        doc.push("kind", Value::str(KIND));
        doc.push("metadata", Value::Map(meta));
        doc.push("spec", Value::Map(spec));
        normalize(&mut doc);
        doc
    }
}

/// The data a Secret should hold: key → bytes. Zeroized on drop; no `Debug`.
#[derive(Default, Clone, PartialEq)]
pub struct SecretData(pub BTreeMap<String, Zeroizing<Vec<u8>>>);

impl SecretData {
    /// The keys (safe to log).
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    /// Keyed fingerprint of the data (see [`data_hmac`]).
    pub fn hmac(&self, key: &[u8]) -> String {
        data_hmac(key, self.0.iter().map(|(k, v)| (k.as_str(), v.as_slice())))
    }
}

/// Annotation prefixes of well-known Secret replicators, refused in
/// templates by default: they would copy the Secret into other namespaces.
pub const DEFAULT_REFUSED_ANNOTATION_PREFIXES: [&str; 4] =
    ["replicator.v1.mittwald.de/", "reflector.v1.k8s.emberstack.com/", "kubed.appscode.com/", "kubernetes-replicator/"];

/// Whether a label or annotation key is in a namespace seal reserves for
/// itself or Kubernetes (`seal.dev/`, `kubernetes.io/`, `k8s.io/` and
/// their subdomains; `app.kubernetes.io/` recommended labels excepted).
pub fn reserved_metadata_key(key: &str) -> bool {
    let Some((prefix, _)) = key.split_once('/') else { return false };
    let prefix = prefix.to_ascii_lowercase();
    if prefix == "app.kubernetes.io" {
        return false;
    }
    ["seal.dev", "kubernetes.io", "k8s.io"].iter().any(|r| prefix == *r || prefix.ends_with(&format!(".{r}")))
}

/// Checks the parts of a Secret template (`type`, label and annotation
/// keys) against what seal refuses to write: the service-account-token and
/// bootstrap-token types (credentials the API server mints or accepts), reserved label and
/// annotation keys, and annotations of Secret replicators
/// (`refused_prefixes`). The controller and `seal render` both judge
/// templates here.
pub fn check_template_parts<'a>(
    type_: Option<&str>,
    labels: impl IntoIterator<Item = &'a str>,
    annotations: impl IntoIterator<Item = &'a str>,
    refused_prefixes: &[String],
) -> Result<(), String> {
    if type_.is_some_and(|ty| ty.trim() == "kubernetes.io/service-account-token") {
        return Err("template.type kubernetes.io/service-account-token is refused: the API server would fill such a Secret with a ServiceAccount token".into());
    }
    // ESO refuses it too: in kube-system such a Secret is a bootstrap token
    // the API server accepts as a credential (to join nodes).
    if type_.is_some_and(|ty| ty.trim() == "bootstrap.kubernetes.io/token") {
        return Err("template.type bootstrap.kubernetes.io/token is refused: such a Secret can be a credential the API server accepts (a bootstrap token)".into());
    }
    for k in labels {
        if reserved_metadata_key(k) {
            return Err(format!(
                "template label {k:?} is refused: seal.dev/, kubernetes.io/ and k8s.io/ keys are reserved"
            ));
        }
    }
    for k in annotations {
        if reserved_metadata_key(k) {
            return Err(format!(
                "template annotation {k:?} is refused: seal.dev/, kubernetes.io/ and k8s.io/ keys are reserved"
            ));
        }
        if let Some(p) = refused_prefixes.iter().find(|p| k.starts_with(p.as_str())) {
            return Err(format!(
                "template annotation {k:?} is refused: {p} belongs to a Secret replicator, which would copy the Secret elsewhere"
            ));
        }
    }
    Ok(())
}

/// Whether the API server accepts `key` as a Secret key
/// (`[-._a-zA-Z0-9]+`, at most 253 characters).
pub fn valid_secret_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 253
        && key.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Secret key names the API server would refuse, named so that a status
/// or an error can list them.
pub fn invalid_keys(data: &SecretData) -> Vec<&str> {
    data.keys().filter(|k| !valid_secret_key(k)).collect()
}

/// Keyed HMAC-SHA256 of a Secret's data (keys and values, length-prefixed,
/// in the order given — sorted, for maps), hex. Tells whether data changed
/// without keeping it.
pub fn data_hmac<'a>(key: &[u8], pairs: impl Iterator<Item = (&'a str, &'a [u8])>) -> String {
    use hmac::{Hmac, Mac};
    let Ok(mut mac) = <Hmac<sha2::Sha256> as Mac>::new_from_slice(key) else {
        unreachable!("HMAC takes keys of any length")
    };
    for (k, v) in pairs {
        mac.update(&(k.len() as u64).to_be_bytes());
        mac.update(k.as_bytes());
        mac.update(&(v.len() as u64).to_be_bytes());
        mac.update(v);
    }
    hex::encode(mac.finalize().into_bytes())
}

/// SHA-256 over the parts that determine a desired Secret (length-prefixed,
/// so parts cannot run into each other), hex of the first 16 bytes.
pub fn input_digest(parts: &[&[u8]]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
    }
    hex::encode(&h.finalize()[..16])
}

/// Why a SealedSecret cannot be used. The controller shows the variant as
/// the status reason, the CLI maps it to an exit code; messages name paths
/// and causes, never values.
#[derive(Debug, thiserror::Error)]
pub enum SealedError {
    /// The document is not a usable SealedSecret.
    #[error("{0}")]
    InvalidDocument(String),
    /// No available identity is a recipient.
    #[error("{0}")]
    NoMatchingKey(String),
    /// A value does not decrypt (tampered, moved, or another data key).
    #[error("{0}")]
    DecryptFailed(String),
    /// The MAC does not match the encrypted values.
    #[error("{0}")]
    MacMismatch(String),
    /// The scope binding does not allow this namespace and name.
    #[error("{0}")]
    ScopeMismatch(String),
    /// Keys were added or removed without a key to the file.
    #[error("{0}")]
    KeysChanged(String),
}

/// A SealedSecret that decrypted and passed every check.
pub struct Opened {
    /// Where the values may be used (it allows the object's namespace and name).
    pub scope: ScopeBinding,
    /// `spec.data` (base64-decoded) and `spec.stringData`, merged.
    pub data: SecretData,
    /// The document's `sops.lastmodified` (authenticated by the MAC).
    pub lastmodified: String,
}

/// The ConfigMap (in the controller's namespace) that publishes the
/// cluster's recipients, readable by every authenticated user.
pub const RECIPIENTS_CONFIGMAP: &str = "seal-recipients";
/// Its data key, holding a recipients file.
pub const RECIPIENTS_KEY: &str = "recipients.txt";

/// Writes a recipients file: one recipient per line.
pub fn recipients_text(recipients: &[String]) -> String {
    let mut s = String::new();
    for r in recipients {
        s.push_str(r);
        s.push('\n');
    }
    s
}

/// Reads a recipients file's text: one `age1…` per line; blank lines and
/// `#` comments are ignored.
pub fn parse_recipients_file(text: &str) -> Vec<String> {
    text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(str::to_owned).collect()
}

/// Reads a recipients file from disk (see [`parse_recipients_file`]).
pub fn read_recipients_file(path: &Path) -> Result<Vec<String>, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("cannot read recipients file {}: {e}", path.display()))?;
    Ok(parse_recipients_file(&text))
}

/// Most key groups a SealedSecret may have.
pub const MAX_KEY_GROUPS: usize = 8;
/// Most age recipients a SealedSecret may have, over all key groups.
pub const MAX_RECIPIENTS: usize = 64;

/// Checks an encrypted SealedSecret without a key: the selection rule,
/// `mac_only_encrypted`, sorted maps, reserved metadata key names, and that
/// the scope and every value are encrypted. `object` is the resource
/// (`metadata`, `spec`), `metadata` its `sops` block.
pub fn check_encrypted(object: &Map, metadata: &Metadata) -> Result<(), SealedError> {
    let invalid = SealedError::InvalidDocument;
    if !metadata.rule.same_as(&rule()) {
        let found = match metadata.rule.field() {
            Some((field, value)) => format!("{field}: {value}"),
            None => "no rule".to_owned(),
        };
        return Err(invalid(format!(
            "the selection rule must be encrypted_regex {ENCRYPTED_REGEX} (found {found}); re-seal with `seal secret`"
        )));
    }
    if !metadata.mac_only_encrypted {
        return Err(invalid(
            "the document lacks `mac_only_encrypted: true`; the cluster adds fields a full MAC cannot allow. Re-seal it with `seal secret` (or sops --mac-only-encrypted)".into(),
        ));
    }
    if let Some(path) = unsorted_map(object) {
        return Err(invalid(format!(
            "the keys of {path} are not in sorted order, so the MAC will not verify after the API server sorts them; re-seal with `seal secret`"
        )));
    }
    check_plaintext(object).map_err(invalid)?;
    let recipients = metadata.key_groups.iter().map(|g| g.age.len()).sum::<usize>();
    if metadata.key_groups.len() > MAX_KEY_GROUPS || recipients > MAX_RECIPIENTS {
        return Err(invalid(format!(
            "the document has {} key groups and {recipients} age recipients; at most {MAX_KEY_GROUPS} and {MAX_RECIPIENTS} are accepted",
            metadata.key_groups.len()
        )));
    }
    let spec = object.get("spec").and_then(Value::as_map);
    let data = spec.and_then(|s| s.get("data")).and_then(Value::as_map);
    let string_data = spec.and_then(|s| s.get("stringData")).and_then(Value::as_map);
    if let (Some(d), Some(sd)) = (data, string_data) {
        // stringData would override data: an empty value there (which the
        // MAC cannot see) would blank a sealed one.
        if let Some((k, _)) = d.pairs().find(|(k, _)| sd.get(k).is_some()) {
            return Err(invalid(format!(
                "spec.data and spec.stringData both hold {k:?}; a key may appear in only one of them"
            )));
        }
    }
    match spec.and_then(|s| s.get("scope")) {
        Some(Value::Str(s)) if sops::cipher::is_envelope(s) => {}
        _ => return Err(invalid("spec.scope is missing or not encrypted; re-seal with `seal secret`".into())),
    }
    for field in ["data", "stringData"] {
        if let Some(m) = spec.and_then(|s| s.get(field)).and_then(Value::as_map) {
            for (k, v) in m.pairs() {
                if !matches!(v, Value::Str(s) if s.is_empty() || sops::cipher::is_envelope(s)) {
                    return Err(SealedError::DecryptFailed(format!("spec.{field}.{k} is not encrypted")));
                }
            }
        }
    }
    Ok(())
}

/// Decrypts a SealedSecret's `spec` for the object `namespace/name` and runs
/// every check: the structure ([`check_encrypted`]), the MAC over the
/// encrypted values, every value's path, and the scope binding.
pub fn open(
    namespace: &str,
    name: &str,
    spec: &Map,
    metadata: Metadata,
    ids: &Identities,
) -> Result<Opened, SealedError> {
    // Only `spec` can hold encrypted values (labels and annotations named
    // like them are refused); fields the cluster adds stay out of the walk.
    let mut object = Map::new();
    object.push("spec", Value::Map(spec.clone()));
    check_encrypted(&object, &metadata)?;
    let lastmodified = metadata.lastmodified.clone();
    let doc = sops::EncryptedDocument { branches: vec![object], metadata };
    let (plain, _, _) = sops::decrypt_document(doc, ids, DecryptOptions::default()).map_err(|e| match e {
        sops::Error::NoMatchingKey(m) => SealedError::NoMatchingKey(format!(
            "{m}. Re-seal to the cluster's recipients (`seal recipients`, `seal secret --controller`)"
        )),
        sops::Error::MacMismatch { .. } | sops::Error::MacUndecryptable(_) | sops::Error::MacMissing => {
            SealedError::MacMismatch(format!(
                "{e}. If the file was sealed with keys out of sorted order, re-seal it with `seal secret`"
            ))
        }
        sops::Error::Value { .. } | sops::Error::NotEncrypted { .. } => SealedError::DecryptFailed(e.to_string()),
        other => SealedError::InvalidDocument(other.to_string()),
    })?;
    let spec = plain.first().and_then(|d| d.get("spec")).and_then(Value::as_map).cloned().unwrap_or_default();
    let scope_text = spec.get("scope").and_then(Value::as_str).unwrap_or_default();
    let (binding, bound_keys) = split_scope(scope_text);
    let scope = ScopeBinding::parse(binding)
        .map_err(|e| SealedError::ScopeMismatch(format!("spec.scope is missing or invalid ({e})")))?;
    if let Some(bound) = bound_keys
        && bound != key_names_digest(&spec)
    {
        return Err(SealedError::KeysChanged(
            "the key names in spec.data and spec.stringData differ from the ones sealed (a key was added or removed without a key to the file); re-seal with `seal secret` or `seal edit`".into(),
        ));
    }
    if !scope.allows(namespace, name) {
        return Err(SealedError::ScopeMismatch(format!(
            "scope mismatch: the values are bound to {scope} but this object is {namespace}/{name}; re-seal them for this namespace and name"
        )));
    }
    let mut data = SecretData::default();
    if let Some(m) = spec.get("data").and_then(Value::as_map) {
        for (k, v) in m.pairs() {
            let text = v.as_str().unwrap_or_default();
            let bytes = base64::engine::general_purpose::STANDARD.decode(text.trim()).map_err(|_| {
                SealedError::InvalidDocument(format!("spec.data.{k} is not base64 (use stringData for text)"))
            })?;
            data.0.insert(k.to_owned(), Zeroizing::new(bytes));
        }
    }
    if let Some(m) = spec.get("stringData").and_then(Value::as_map) {
        for (k, v) in m.pairs() {
            let Value::Str(s) = v else {
                return Err(SealedError::InvalidDocument(format!(
                    "spec.stringData.{k} is a {}, expected a string",
                    v.kind()
                )));
            };
            data.0.insert(k.to_owned(), Zeroizing::new(s.as_bytes().to_vec()));
        }
    }
    Ok(Opened { scope, data, lastmodified })
}

/// Converts JSON (as the API server returns it) into a sops tree, within
/// the same depth and size limits as the file readers
/// ([`sops::limits`]): a tenant's object is as untrusted as a file.
pub fn json_to_value(v: &serde_json::Value) -> Result<Value, sops::Error> {
    fn convert(v: &serde_json::Value, budget: &mut Budget) -> Result<Value, sops::Error> {
        let at = || "in the object".to_owned();
        Ok(match v {
            serde_json::Value::Null => {
                budget.value(0, &at)?;
                Value::Null
            }
            serde_json::Value::Bool(b) => {
                budget.value(0, &at)?;
                Value::Bool(*b)
            }
            serde_json::Value::Number(n) => {
                budget.value(0, &at)?;
                match n.as_i64() {
                    Some(i) => Value::Int(i),
                    None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
                }
            }
            serde_json::Value::String(s) => {
                budget.value(s.len(), &at)?;
                Value::str(s.clone())
            }
            serde_json::Value::Array(a) => {
                budget.enter(&at)?;
                let list = a.iter().map(|v| convert(v, budget)).collect::<Result<Vec<_>, _>>()?;
                budget.leave();
                Value::List(list)
            }
            serde_json::Value::Object(o) => {
                budget.enter(&at)?;
                let mut m = Map::new();
                for (k, v) in o {
                    m.items.push(Item::Pair(k.clone(), convert(v, budget)?));
                }
                budget.leave();
                Value::Map(m)
            }
        })
    }
    convert(v, &mut Budget::default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sops::{EncryptOptions, Format, Recipient};

    /// A sealed team/db with `password` in stringData and `tls` in data,
    /// as (the parsed encrypted object, its identity).
    fn sealed(scope: ScopeBinding) -> (sops::EncryptedDocument, Identities) {
        let id = age::x25519::Identity::generate();
        let mut ids = Identities::new();
        ids.push(id.clone());
        let mut parts = SecretParts { name: "db".into(), namespace: Some("team".into()), ..Default::default() };
        parts.string_data.push("password", Value::str("s3cr3t"));
        parts.data.push("tls", Value::str("AAEC"));
        let doc = parts.to_document("team", &scope);
        let r = Recipient::parse(&id.to_public().to_string()).expect("recipient");
        let opts =
            EncryptOptions { groups: vec![vec![r]], shamir_threshold: 0, rule: rule(), mac_only_encrypted: true };
        let enc = sops::encrypt_document(vec![doc], &opts).expect("encrypt");
        let text = sops::emit_encrypted(&enc, Format::Yaml).expect("emit");
        (sops::parse_encrypted(&text, Format::Yaml).expect("parse"), ids)
    }

    fn spec_of(doc: &sops::EncryptedDocument) -> Map {
        doc.branches[0].get("spec").and_then(Value::as_map).cloned().expect("spec")
    }

    fn strict() -> ScopeBinding {
        ScopeBinding::Strict { namespace: "team".into(), name: "db".into() }
    }

    #[test]
    fn a_sealed_document_opens_with_its_data_scope_and_lastmodified() {
        let (doc, ids) = sealed(strict());
        let opened = open("team", "db", &spec_of(&doc), doc.metadata.clone(), &ids).expect("opens");
        assert_eq!(opened.scope, strict());
        assert_eq!(opened.data.0.get("password").map(|v| v.as_slice()), Some(&b"s3cr3t"[..]));
        assert_eq!(opened.data.0.get("tls").map(|v| v.as_slice()), Some(&[0u8, 1, 2][..]));
        assert_eq!(opened.lastmodified, doc.metadata.lastmodified);
    }

    #[test]
    fn an_empty_value_shadowing_a_sealed_one_is_refused() {
        let (doc, ids) = sealed(strict());
        let mut spec = spec_of(&doc);
        // stringData.tls: "" would override the sealed data.tls.
        if let Some(Value::Map(sd)) = spec.get_mut("stringData") {
            sd.insert("tls", Value::str(""));
            sd.sort_keys();
        }
        let Err(e) = open("team", "db", &spec, doc.metadata.clone(), &ids) else { panic!("refused") };
        assert!(matches!(e, SealedError::InvalidDocument(ref m) if m.contains("both hold \"tls\"")), "{e}");
    }

    #[test]
    fn a_key_added_without_a_key_to_the_file_is_refused() {
        let (doc, ids) = sealed(strict());
        let mut spec = spec_of(&doc);
        // An empty value is left in clear by sops and the MAC cannot see it.
        if let Some(Value::Map(sd)) = spec.get_mut("stringData") {
            sd.insert("extra", Value::str(""));
            sd.sort_keys();
        }
        let Err(e) = open("team", "db", &spec, doc.metadata.clone(), &ids) else { panic!("refused") };
        assert!(matches!(e, SealedError::KeysChanged(_)), "{e}");
    }

    #[test]
    fn a_document_without_the_key_names_digest_still_opens() {
        // Files sealed by plain sops (or an older seal) have a bare scope.
        let mut parts = SecretParts { name: "db".into(), namespace: Some("team".into()), ..Default::default() };
        parts.string_data.push("password", Value::str("x"));
        let mut doc = parts.to_document("team", &strict());
        if let Some(Value::Map(spec)) = doc.get_mut("spec") {
            spec.insert("scope", Value::str("team/db"));
        }
        let id = age::x25519::Identity::generate();
        let mut ids = Identities::new();
        ids.push(id.clone());
        let r = Recipient::parse(&id.to_public().to_string()).expect("recipient");
        let opts =
            EncryptOptions { groups: vec![vec![r]], shamir_threshold: 0, rule: rule(), mac_only_encrypted: true };
        let enc = sops::encrypt_document(vec![doc], &opts).expect("encrypt");
        let spec = enc.branches[0].get("spec").and_then(Value::as_map).cloned().expect("spec");
        assert!(open("team", "db", &spec, enc.metadata.clone(), &ids).is_ok());
    }

    #[test]
    fn scope_values_split_into_binding_and_digest() {
        assert_eq!(split_scope("a/b"), ("a/b", None));
        assert_eq!(split_scope("a/*;keys=00ff"), ("a/*", Some("00ff")));
        let mut spec = Map::new();
        spec.push("scope", Value::str("a/b"));
        let before = key_names_digest(&spec);
        let mut sd = Map::new();
        sd.push("k", Value::str(""));
        spec.push("stringData", Value::Map(sd));
        assert_ne!(before, key_names_digest(&spec));
        // Moving a key between data and stringData changes the digest too.
        let mut moved = Map::new();
        moved.push("scope", Value::str("a/b"));
        let mut d = Map::new();
        d.push("k", Value::str(""));
        moved.push("data", Value::Map(d));
        assert_ne!(key_names_digest(&spec), key_names_digest(&moved));
    }

    #[test]
    fn too_many_recipients_are_refused_before_any_decryption() {
        let (mut doc, ids) = sealed(strict());
        let entry = doc.metadata.key_groups[0].age[0].clone();
        doc.metadata.key_groups[0].age = vec![entry; MAX_RECIPIENTS + 1];
        let Err(e) = open("team", "db", &spec_of(&doc), doc.metadata.clone(), &ids) else { panic!("refused") };
        assert!(matches!(e, SealedError::InvalidDocument(ref m) if m.contains("age recipients")), "{e}");
    }

    #[test]
    fn the_scope_binding_is_checked_against_the_object() {
        let (doc, ids) = sealed(strict());
        let Err(e) = open("other", "db", &spec_of(&doc), doc.metadata.clone(), &ids) else { panic!("refused") };
        assert!(matches!(e, SealedError::ScopeMismatch(ref m) if m.starts_with("scope mismatch")), "{e}");
        let (doc, ids) = sealed(ScopeBinding::Namespace { namespace: "team".into() });
        assert!(open("team", "renamed", &spec_of(&doc), doc.metadata.clone(), &ids).is_ok());
        let (doc, ids) = sealed(ScopeBinding::Cluster);
        assert!(open("anywhere", "x", &spec_of(&doc), doc.metadata.clone(), &ids).is_ok());
    }

    #[test]
    fn recipients_files_ignore_comments_and_blank_lines() {
        let text = "# cluster\nage1abc\n\n  age1def  \n#age1no\n";
        assert_eq!(parse_recipients_file(text), ["age1abc", "age1def"]);
        assert_eq!(recipients_text(&["a".into(), "b".into()]), "a\nb\n");
    }

    #[test]
    fn plaintext_with_reserved_metadata_keys_is_refused() {
        let mut parts = SecretParts { name: "db".into(), ..Default::default() };
        parts.labels.push("data", Value::str("x"));
        let doc = parts.to_document("team", &strict());
        assert!(check_plaintext(&doc).is_err());
    }
}
