//! Fields shared by SealedSecret and (later) ExternalSecret: the template of
//! the resulting Secret, the drift policy, rollout restart targets, and the
//! status conditions.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What the materialized Secret looks like besides its data.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SecretTemplate {
    /// Secret type (default `Opaque`).
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    /// Make the Secret immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub immutable: Option<bool>,
    /// Labels and annotations for the Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<TemplateMetadata>,
}

/// Labels, annotations and finalizers of the materialized Secret.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
pub struct TemplateMetadata {
    /// Labels (for an ExternalSecret, each value a template, as in ESO).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Annotations (for an ExternalSecret, each value a template, as in ESO).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Finalizers set on the Secret (ESO's `template.metadata.finalizers`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub finalizers: Vec<String>,
}

/// Who owns the Secret an object writes (from `creationPolicy`; a
/// SealedSecret always owns its Secret).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ownership {
    /// The object owns the Secret (owner reference; garbage-collected with it).
    Owner,
    /// The object writes the Secret but does not own it.
    Orphan,
    /// The object merges its keys into an existing Secret it does not own.
    Merge,
    /// As `Merge`, and the object creates the Secret (no owner reference)
    /// when it is missing.
    CreateOrMerge,
}

/// What to do when someone changes a managed Secret's data.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
pub enum DriftPolicy {
    /// Restore the desired data at once (default).
    #[default]
    Revert,
    /// Leave the change; set `Drifted=True`, emit a Warning Event.
    Alert,
    /// Leave the change and stop writing until the spec changes or the
    /// resume annotation is set.
    Pause,
}

/// A workload restarted when the Secret's data changes.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
pub struct RolloutTarget {
    /// `Deployment`, `StatefulSet` or `DaemonSet`.
    pub kind: String,
    /// Name, in the same namespace.
    pub name: String,
}

/// A status condition (Kubernetes conventions; what kstatus and
/// `kubectl wait` read).
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// `Ready` or `Drifted`.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// CamelCase reason.
    pub reason: String,
    /// Human-readable message; never a secret value.
    pub message: String,
    /// When the status last changed (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<String>,
    /// The generation this condition was computed for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}
