//! `PushSecret`: values of a Secret written to Vault/OpenBao KV v2, as
//! External Secrets Operator's. The source Secret must consent (annotation
//! `seal.dev/allow-push` naming the PushSecret, or `*`): otherwise anyone who
//! may create a PushSecret could copy out Secrets they cannot read.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::Condition;
use super::external_secret::{ExternalSecretTemplate, GeneratorRef, Rewrite, SecretStoreRef};

/// Desired state.
#[derive(CustomResource, Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[kube(group = "seal.dev", version = "v1alpha1", kind = "PushSecret", namespaced)]
#[kube(status = "PushSecretStatus", shortname = "ps", category = "seal")]
#[kube(
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#
)]
#[kube(
    printcolumn = r#"{"name":"Reason","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].reason"}"#
)]
#[serde(rename_all = "camelCase")]
#[serde(remote = "Self")]
pub struct PushSecretSpec {
    /// How often to write again (default `1h`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_interval: Option<String>,
    /// The stores to write to (KV v2).
    pub secret_store_refs: Vec<SecretStoreRef>,
    /// The Secret to read.
    pub selector: PushSelector,
    /// Which keys go where.
    #[serde(default)]
    pub data: Vec<PushData>,
    /// Keys pushed in bulk, to one store each: every key matching
    /// `match.regexp`, each to its own remote secret (its name, after
    /// `rewrite`), or all of them to `remoteKey` as one JSON object. An
    /// explicit `data[]` entry for the same source key wins.
    #[serde(default, rename = "dataTo", skip_serializing_if = "Vec::is_empty")]
    pub data_to: Vec<PushDataTo>,
    /// The source's values rendered before they are pushed (ESO's engine
    /// v2): the templates' output over the source's keys. Its labels,
    /// annotations and type are rendered, as ESO does, and pushed nowhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<ExternalSecretTemplate>,
    /// `Replace` (default): write when the remote value differs.
    /// `IfNotExists`: never overwrite a remote secret that exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_policy: Option<PushUpdatePolicy>,
    /// `None` (default): remote values stay when the PushSecret goes.
    /// `Delete`: they are removed (a finalizer waits for it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_policy: Option<PushDeletionPolicy>,
    /// Fields of External Secrets Operator's schema that seal does not
    /// implement, as paths (`spec.target.manifest`): recorded as the object
    /// is read, and refused with reason `Unsupported`.
    #[serde(skip)]
    #[schemars(skip)]
    pub unsupported: Vec<String>,
}

crate::api::unknown::spec_recording_unknown_fields!(PushSecretSpec, PushSecret);

/// The source: exactly one of a Secret and a generator.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[schemars(extend("oneOf" = [{"required": ["secret"]}, {"required": ["generatorRef"]}]))]
pub struct PushSelector {
    /// A Secret in the PushSecret's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<PushSecretRef>,
    /// A generator (`Password`, `UUID`, `SSHKey`, `VaultDynamicSecret`) in
    /// the PushSecret's namespace: its values, under its keys (`password`,
    /// `uuid`, `privateKey`/`publicKey`, a Vault answer's), the same within
    /// one refresh interval.
    #[serde(default, rename = "generatorRef", skip_serializing_if = "Option::is_none")]
    pub generator_ref: Option<GeneratorRef>,
}

/// A Secret by name.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
pub struct PushSecretRef {
    /// Its name.
    pub name: String,
}

/// One key to push.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PushData {
    /// The key and where it goes.
    #[serde(rename = "match")]
    pub match_: PushMatch,
    /// How the source's key names are read (default `None`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversion_strategy: Option<PushConversionStrategy>,
}

/// ESO's conversion of the source's key names before they are matched.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
pub enum PushConversionStrategy {
    /// As they are.
    #[default]
    None,
    /// `_UXXXX_` (4 or 5 hex digits, as ExternalSecret's `Unicode`
    /// conversion writes them) back to the character.
    ReverseUnicode,
}

/// Keys pushed in bulk to one store (ESO's `dataTo`).
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
// ESO's CEL rule, as a schema Kubernetes 1.16+ evaluates: `remoteKey` and
// a non-empty `rewrite` are mutually exclusive.
#[schemars(extend("not" = {"required": ["remoteKey", "rewrite"], "properties": {"rewrite": {"minItems": 1}}}))]
pub struct PushDataTo {
    /// The store these keys go to: one of `secretStoreRefs`.
    pub store_ref: SecretStoreRef,
    /// All matched keys go to this one remote secret, as a JSON object;
    /// without it each key goes to its own remote secret, named by the key
    /// after `rewrite` (its value must then be a JSON object).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_key: Option<String>,
    /// Which keys (default: all).
    #[serde(default, rename = "match", skip_serializing_if = "Option::is_none")]
    pub match_: Option<PushDataToMatch>,
    /// Renames of the keys into remote names, in order (not with `remoteKey`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rewrite: Vec<Rewrite>,
    /// How the source's key names are read (default `None`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversion_strategy: Option<PushConversionStrategy>,
}

/// `dataTo[].match`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
pub struct PushDataToMatch {
    /// A regular expression (RE2 syntax) the key must match (default: all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regexp: Option<String>,
}

/// A key of the Secret and its remote place.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PushMatch {
    /// The Secret's key.
    pub secret_key: String,
    /// Where it goes.
    pub remote_ref: PushRemoteRef,
}

/// A remote place.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PushRemoteRef {
    /// The path under the store's mount.
    pub remote_key: String,
    /// A property of the remote secret (others are kept); without one, the
    /// value must be a JSON object and becomes the whole secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub property: Option<String>,
}

/// ESO's update policies.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
pub enum PushUpdatePolicy {
    /// Write when different.
    #[default]
    Replace,
    /// Only create.
    IfNotExists,
}

/// ESO's deletion policies for pushed values.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
pub enum PushDeletionPolicy {
    /// Keep remote values.
    #[default]
    None,
    /// Remove them with the PushSecret.
    Delete,
}

/// Observed state.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PushSecretStatus {
    /// The generation last reconciled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready`: reason `Synced`, or why a push or its removal failed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// What was pushed: store → remote keys (`path` or `path/property`).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub synced_push_secrets: std::collections::BTreeMap<String, Vec<String>>,
    /// Every path this PushSecret has written and owns, with the properties
    /// it wrote there, kept until it is deleted (also after a path leaves
    /// the spec), so that `deletionPolicy: Delete` knows where to look. The
    /// remote secret's own record (custom metadata `seal.dev/pushed-by`,
    /// `seal.dev/pushed-properties`) decides what is removed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pushed: Vec<PushedPath>,
}

/// A path a PushSecret wrote, through one store.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "camelCase")]
pub struct PushedPath {
    /// `SecretStore` or `ClusterSecretStore`.
    pub store_kind: String,
    /// The store's name.
    pub store_name: String,
    /// The path under the store's mount.
    pub remote_key: String,
    /// The properties written there (names, never values).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub properties: Vec<String>,
}
