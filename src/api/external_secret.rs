//! `ExternalSecret`: values in an external store (Vault/OpenBao) to
//! materialize as a Secret. Field names follow External Secrets Operator.

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
pub struct ExternalSecretSpec {
    /// The store to read from.
    pub secret_store_ref: SecretStoreRef,
    /// How often to read again, e.g. `1h`, `15m`, `30s` (default `1h`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_interval: Option<String>,
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
pub struct Target {
    /// Secret name (default: the ExternalSecret's name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `Owner` (default: owner reference), `Orphan` (no owner reference),
    /// `Merge` (into an existing Secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_policy: Option<CreationPolicy>,
    /// `Retain` (default) or `Delete`: remove the Secret when the store says
    /// every value is gone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_policy: Option<DeletionPolicy>,
    /// Type, labels, annotations, immutability.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<SecretTemplate>,
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
}

/// A whole path.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
pub struct DataFrom {
    /// Extract every property of this path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extract: Option<RemoteRef>,
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
