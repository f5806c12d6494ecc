//! The `SealedSecret` document (design §4): a SOPS file of the whole
//! resource, with `data`, `stringData` and `scope` encrypted, the MAC over
//! encrypted values only, and every map that holds encrypted values in the
//! sorted key order the Kubernetes API server returns.
//!
//! Shared by the CLI (which builds and checks these documents) and the
//! controller (which checks the scope binding). No Kubernetes client here.

use std::fmt;

use crate::sops::{Item, Map, Rule, Value};

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
    Rule::EncryptedRegex(regex::Regex::new(ENCRYPTED_REGEX).unwrap_or_else(|_| unreachable!("constant regex")))
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

/// True when the document is a SealedSecret.
pub fn is_sealed_secret(doc: &Map) -> bool {
    doc.get("kind").and_then(Value::as_str) == Some(KIND)
}

/// `metadata.namespace` and `metadata.name` of a document.
pub fn object_ref(doc: &Map) -> (Option<&str>, Option<&str>) {
    let md = doc.get("metadata").and_then(Value::as_map);
    (
        md.and_then(|m| m.get("namespace")).and_then(Value::as_str),
        md.and_then(|m| m.get("name")).and_then(Value::as_str),
    )
}

/// Sorts `spec` and the `data`/`stringData` maps by key, as the API server
/// returns them, so the MAC computed at encryption matches the live object.
pub fn sort_for_api_server(doc: &mut Map) {
    if let Some(Value::Map(spec)) = doc.get_mut("spec") {
        spec.sort_keys();
        for key in ["data", "stringData"] {
            if let Some(Value::Map(m)) = spec.get_mut(key) {
                m.sort_keys();
            }
        }
    }
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
            let valid = !k.is_empty()
                && k.len() <= 253
                && k.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
            if !valid {
                return Err(format!(
                    "{k:?} is not a valid Secret key (letters, digits, '-', '_' and '.'; at most 253 characters)"
                ));
            }
        }
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
        sort_for_api_server(&mut doc);
        doc
    }
}
