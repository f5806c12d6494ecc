//! A `SealedSecret` as the API server returns it → the Secret's data.
//!
//! The live object's `spec` and `sops` block form the SOPS document: the MAC
//! (over encrypted values only) and every value's path are checked, then the
//! scope binding against the object's own namespace and name.

use base64::Engine;
use zeroize::Zeroizing;

use super::SecretData;
use crate::api::SealedSecret;
use crate::sealed::{self, ScopeBinding};
use crate::sops::{self, DecryptOptions, Identities, Item, Map, Metadata, Value};

/// Why a SealedSecret cannot be materialized. Each variant is a status
/// reason; messages name paths and causes, never values.
#[derive(Debug, thiserror::Error)]
pub enum SealedError {
    /// The document is not a usable SealedSecret.
    #[error("{0}")]
    InvalidDocument(String),
    /// No controller key is a recipient.
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
}

impl SealedError {
    /// The CamelCase status reason.
    pub fn reason(&self) -> &'static str {
        match self {
            SealedError::InvalidDocument(_) => "InvalidDocument",
            SealedError::NoMatchingKey(_) => "NoMatchingKey",
            SealedError::DecryptFailed(_) => "DecryptFailed",
            SealedError::MacMismatch(_) => "MacMismatch",
            SealedError::ScopeMismatch(_) => "ScopeMismatch",
        }
    }
}

/// Converts JSON (as the API server returns it) into a sops tree.
pub fn json_to_value(v: &serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        serde_json::Value::String(s) => Value::str(s.clone()),
        serde_json::Value::Array(a) => Value::List(a.iter().map(json_to_value).collect()),
        serde_json::Value::Object(o) => {
            let mut m = Map::new();
            for (k, v) in o {
                m.items.push(Item::Pair(k.clone(), json_to_value(v)));
            }
            Value::Map(m)
        }
    }
}

/// Decrypts and checks a SealedSecret; returns the data for its Secret.
pub fn desired_data(obj: &SealedSecret, ids: &Identities) -> Result<SecretData, SealedError> {
    let namespace = obj.metadata.namespace.as_deref().unwrap_or_default();
    let name = obj.metadata.name.as_deref().unwrap_or_default();
    let sops_block = obj.sops.as_ref().ok_or_else(|| {
        SealedError::InvalidDocument("the object has no `sops` block: it was not encrypted with seal or sops".into())
    })?;
    let Value::Map(meta_map) = json_to_value(sops_block) else {
        return Err(SealedError::InvalidDocument("the `sops` block is not a mapping".into()));
    };
    let metadata =
        Metadata::from_map(&meta_map).map_err(|e| SealedError::InvalidDocument(format!("{e}; re-seal the file")))?;
    if !metadata.mac_only_encrypted {
        return Err(SealedError::InvalidDocument(
            "the document lacks `mac_only_encrypted: true`; the cluster adds fields a full MAC cannot allow. Re-seal it with `seal secret` (or sops --mac-only-encrypted)".into(),
        ));
    }
    if !metadata.rule.same_as(&sealed::rule()) {
        let (field, value) = metadata.rule.field();
        return Err(SealedError::InvalidDocument(format!(
            "the selection rule must be encrypted_regex {} (found {field}: {value}); re-seal with `seal secret`",
            sealed::ENCRYPTED_REGEX
        )));
    }
    // Only `spec` can hold encrypted values (the CLI refuses labels and
    // annotations named like them); server-added fields stay out of the walk.
    let spec = serde_json::to_value(&obj.spec)
        .map_err(|e| SealedError::InvalidDocument(format!("the spec cannot be read: {e}")))?;
    let mut doc = Map::new();
    doc.push("spec", json_to_value(&spec));
    let doc = sops::EncryptedDocument { branches: vec![doc], metadata };
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
    let scope = ScopeBinding::parse(scope_text)
        .map_err(|e| SealedError::ScopeMismatch(format!("spec.scope is missing or invalid ({e})")))?;
    if !scope.allows(namespace, name) {
        return Err(SealedError::ScopeMismatch(format!(
            "the values are bound to {scope} but this object is {namespace}/{name}; re-seal them for this namespace and name"
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
            let bytes = match v {
                Value::Str(s) => s.as_bytes().to_vec(),
                other => {
                    return Err(SealedError::InvalidDocument(format!(
                        "spec.stringData.{k} is a {}, expected a string",
                        other.kind()
                    )));
                }
            };
            data.0.insert(k.to_owned(), Zeroizing::new(bytes));
        }
    }
    Ok(data)
}
