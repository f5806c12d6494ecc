//! `ExternalSecret`: values in an external store (Vault/OpenBao) to
//! materialize as a Secret. Field names follow External Secrets Operator.

use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{Condition, DriftPolicy, RolloutTarget, SecretTemplate};

/// Desired state.
#[derive(CustomResource, Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[kube(group = "seal.dev", version = "v1alpha1", kind = "ExternalSecret", namespaced)]
#[kube(status = "ExternalSecretStatus", shortname = "es", category = "seal")]
#[kube(printcolumn = r#"{"name":"Store","type":"string","jsonPath":".spec.secretStoreRef.name"}"#)]
#[kube(
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#
)]
#[kube(
    printcolumn = r#"{"name":"Reason","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].reason"}"#
)]
#[kube(printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#)]
#[serde(rename_all = "camelCase")]
// ESO's webhook: no data and no dataFrom is refused (by the API server here,
// and by the controller for objects stored before this rule).
#[schemars(extend("anyOf" = [{"required": ["data"]}, {"required": ["dataFrom"]}]))]
#[serde(remote = "Self")]
pub struct ExternalSecretSpec {
    /// The store to read from (not needed when every value comes from a
    /// generator).
    #[serde(default)]
    pub secret_store_ref: SecretStoreRef,
    /// How often to read again, e.g. `1h`, `15m`, `30s` (default `1h`);
    /// `0`: read once, when the Secret is created (as `CreatedOnce`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_interval: Option<String>,
    /// `Periodic` (default: every `refreshInterval`), `OnChange` (only when
    /// the object changes), `CreatedOnce` (only when the Secret is created).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_policy: Option<RefreshPolicy>,
    /// The Secret to write.
    #[serde(default)]
    pub target: Target,
    /// Single values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub data: Vec<ExternalSecretData>,
    /// Whole paths, every property becoming a key.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub data_from: Vec<DataFrom>,
    /// What to do when the Secret's data is changed by someone else.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift_policy: Option<DriftPolicy>,
    /// Workloads to restart when the data changes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rollout_restart_targets: Vec<RolloutTarget>,
    /// Stop reconciling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspend: Option<bool>,
    /// Fields of External Secrets Operator's schema that seal does not
    /// implement, as paths (`spec.target.manifest`): recorded as the object
    /// is read, and refused with reason `Unsupported`.
    #[serde(skip)]
    #[schemars(skip)]
    pub unsupported: Vec<String>,
}

crate::api::unknown::spec_recording_unknown_fields!(ExternalSecretSpec, ExternalSecret);

/// ESO's refresh policies.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
pub enum RefreshPolicy {
    /// Read again every `refreshInterval`.
    #[default]
    Periodic,
    /// Read again only when the object's spec, labels or annotations change
    /// (e.g. `kubectl annotate … force-sync=…`).
    OnChange,
    /// Read once, when the Secret is created; never rewrite it after.
    CreatedOnce,
}

/// Which store.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
pub struct SecretStoreRef {
    /// Store name.
    pub name: String,
    /// `SecretStore` (default) or `ClusterSecretStore`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

/// The Secret written.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
// ESO's webhook: deletionPolicy Delete cannot go with creationPolicy Merge
// or CreateOrMerge (the Secret is not the object's own).
#[schemars(extend("not" = {
    "required": ["creationPolicy", "deletionPolicy"],
    "properties": {"creationPolicy": {"enum": ["Merge", "CreateOrMerge"]}, "deletionPolicy": {"enum": ["Delete"]}}
}))]
pub struct Target {
    /// Secret name (default: the ExternalSecret's name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `Owner` (default: owner reference), `Orphan` (no owner reference),
    /// `Merge` (into an existing Secret), `CreateOrMerge` (created without
    /// an owner reference when missing, merged into when it exists).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_policy: Option<CreationPolicy>,
    /// `Retain` (default) or `Delete`: remove the Secret when the store says
    /// every value is gone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_policy: Option<DeletionPolicy>,
    /// ESO's `target.immutable`: make the Secret immutable (the same as
    /// `template.immutable`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub immutable: Option<bool>,
    /// Type, labels, annotations, immutability; and, as in ESO, templates
    /// of the values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<ExternalSecretTemplate>,
}

/// `target.template`: the Secret's shape (shared with SealedSecret) and
/// ESO's template engine v2 fields.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ExternalSecretTemplate {
    /// Type, immutability, labels and annotations.
    #[serde(flatten)]
    pub secret: SecretTemplate,
    /// ESO's template engine: `v2` (the default, and the only one seal runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine_version: Option<String>,
    /// `Replace` (default): with templates, the Secret holds only their
    /// output. `Merge`: the store's values, overridden by the output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merge_policy: Option<MergePolicy>,
    /// Secret key → the template of its value (Go text/template, sprig).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub data: BTreeMap<String, String>,
    /// Templates kept in a ConfigMap or Secret of this namespace, or given
    /// literally; applied before `data`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub template_from: Vec<TemplateFrom>,
}

impl ExternalSecretTemplate {
    /// Whether there is anything to render.
    pub fn has_templates(&self) -> bool {
        !self.data.is_empty() || !self.template_from.is_empty()
    }
}

/// ESO's merge policies.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
pub enum MergePolicy {
    /// Only the templates' output.
    #[default]
    Replace,
    /// The store's values, then the templates' output over them.
    Merge,
}

/// One `templateFrom` entry: exactly one of `configMap`, `secret`, `literal`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TemplateFrom {
    /// Templates in a ConfigMap of this namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map: Option<TemplateRef>,
    /// Templates in a Secret of this namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<TemplateRef>,
    /// A template whose output is YAML `key: value` lines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub literal: Option<String>,
    /// Where the output goes: `Data` (the default), `Annotations` or
    /// `Labels` (case-insensitive, as in ESO).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// How each rendered value is decoded before it is written: `None`
    /// (default), `Base64`, `Base64URL` or `Auto`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values_decoding_strategy: Option<DecodingStrategy>,
}

/// A ConfigMap or Secret holding templates.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
pub struct TemplateRef {
    /// Its name (in the ExternalSecret's namespace).
    pub name: String,
    /// Which of its keys are templates.
    #[serde(default)]
    pub items: Vec<TemplateRefItem>,
}

/// One key of a template ConfigMap or Secret.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TemplateRefItem {
    /// The key.
    pub key: String,
    /// `Values` (default): the content is the template of the Secret key of
    /// the same name. `KeysAndValues`: the output is YAML `key: value` lines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_as: Option<TemplateAs>,
}

/// How a template item is read.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
pub enum TemplateAs {
    /// One template, one Secret key.
    #[default]
    Values,
    /// The output names its keys.
    KeysAndValues,
}

/// ESO's creation policies.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
pub enum CreationPolicy {
    /// The ExternalSecret owns the Secret (deleted with it).
    #[default]
    Owner,
    /// Created without an owner reference.
    Orphan,
    /// Merged into an existing Secret.
    Merge,
    /// Created (without an owner reference) when missing, merged into when
    /// it exists; kept when the object goes (ESO 2.x).
    CreateOrMerge,
}

/// ESO's deletion policies.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
pub enum DeletionPolicy {
    /// Keep the Secret when values disappear from the store.
    #[default]
    Retain,
    /// Delete the Secret when the store says plainly that the values are gone.
    Delete,
}

/// One value.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ExternalSecretData {
    /// Key in the Secret.
    pub secret_key: String,
    /// Where the value is.
    pub remote_ref: RemoteRef,
}

/// A value in the store.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
pub struct RemoteRef {
    /// Path under the store's mount.
    pub key: String,
    /// Property of the secret at that path (default: the whole secret as JSON).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub property: Option<String>,
    /// KV v2 version (default: latest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// How the value is decoded before it is written: `None` (default),
    /// `Base64`, `Base64URL`, or `Auto` (base64 if it decodes, else as is).
    #[serde(default, rename = "decodingStrategy", skip_serializing_if = "Option::is_none")]
    pub decoding_strategy: Option<DecodingStrategy>,
    /// `Fetch`: read the secret's KV v2 custom metadata instead of its data
    /// (a property names one metadata key); `None` (default): the data.
    #[serde(default, rename = "metadataPolicy", skip_serializing_if = "Option::is_none")]
    pub metadata_policy: Option<MetadataPolicy>,
    /// How `dataFrom[].extract` keys are made valid when the entry has no
    /// rewrite rules: `Default` (invalid characters become `_`) or
    /// `Unicode` (`_UXXXX_`).
    #[serde(default, rename = "conversionStrategy", skip_serializing_if = "Option::is_none")]
    pub conversion_strategy: Option<ConversionStrategy>,
}

impl RemoteRef {
    /// Whether the custom metadata is read instead of the data.
    pub fn fetch_metadata(&self) -> bool {
        self.metadata_policy == Some(MetadataPolicy::Fetch)
    }
}

/// ESO's `remoteRef.metadataPolicy`.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
pub enum MetadataPolicy {
    /// The secret's data.
    #[default]
    None,
    /// The secret's KV v2 custom metadata.
    Fetch,
}

/// ESO's `conversionStrategy` for `dataFrom` keys.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
pub enum ConversionStrategy {
    /// Characters a Secret key cannot hold become `_`.
    #[default]
    Default,
    /// Characters a Secret key cannot hold become `_UXXXX_` (code point in hex).
    Unicode,
}

/// ESO's decoding strategies.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
pub enum DecodingStrategy {
    /// As stored.
    #[default]
    None,
    /// Standard base64 (padding optional).
    Base64,
    /// URL-safe base64 (padding optional).
    #[serde(rename = "Base64URL")]
    Base64Url,
    /// Base64 or URL-safe base64 when the value decodes as such, else as stored.
    Auto,
}

/// Values read in bulk: exactly one of `extract`, `find` and `sourceRef`, then the
/// `rewrite` rules applied to the keys in order.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
// ESO's webhook: each entry has exactly one source.
#[schemars(extend("oneOf" = [{"required": ["extract"]}, {"required": ["find"]}, {"required": ["sourceRef"]}]))]
pub struct DataFrom {
    /// Extract every property of this path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extract: Option<RemoteRef>,
    /// Every secret under a path (KV v2) whose name and tags match; each
    /// becomes one key (its path, `/` as `_`) holding the secret as JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub find: Option<FindRef>,
    /// A generator's output (`generatorRef` to a `Password`).
    #[serde(default, rename = "sourceRef", skip_serializing_if = "Option::is_none")]
    pub source_ref: Option<SourceRef>,
    /// Renames of the keys this entry produced, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rewrite: Vec<Rewrite>,
}

/// ESO's `dataFrom[].sourceRef`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SourceRef {
    /// A generator in the ExternalSecret's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generator_ref: Option<GeneratorRef>,
}

/// Which generator.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct GeneratorRef {
    /// `seal.dev/v1alpha1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// `Password`, `UUID`, `SSHKey` or `VaultDynamicSecret`.
    pub kind: String,
    /// Its name.
    pub name: String,
}

/// ESO's `dataFrom[].find`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FindRef {
    /// The folder to search under (default: the whole mount).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// A regular expression the secret's path must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<FindName>,
    /// KV v2 custom metadata the secret must carry (every pair).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// How each value is decoded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decoding_strategy: Option<DecodingStrategy>,
    /// How the keys (the secrets' paths) are made valid when the entry has
    /// no rewrite rules: `Default` (`/` and other invalid characters become
    /// `_`) or `Unicode` (`_UXXXX_`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversion_strategy: Option<ConversionStrategy>,
}

/// A name filter.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
pub struct FindName {
    /// The regular expression (RE2 syntax, as Go's).
    pub regexp: String,
}

/// One key rename: a regular expression, or a template of the key.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
pub struct Rewrite {
    /// Replace matches of `source` by `target` (`$1`, `${name}` groups).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regexp: Option<RewriteRegexp>,
    /// A template whose output is the new key (the old one is `.value`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transform: Option<RewriteTransform>,
}

/// `rewrite[].regexp`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
pub struct RewriteRegexp {
    /// The expression.
    pub source: String,
    /// The replacement.
    pub target: String,
}

/// `rewrite[].transform`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
pub struct RewriteTransform {
    /// The template.
    pub template: String,
}

/// Observed state.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ExternalSecretStatus {
    /// The generation last reconciled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready` and, where it applies, `Drifted`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// When the store was last read successfully (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_time: Option<String>,
    /// The resume annotation value last acted on (Pause drift policy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resumed: Option<String>,
}
