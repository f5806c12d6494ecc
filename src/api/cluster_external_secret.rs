//! `ClusterExternalSecret`: one ExternalSecret spec fanned out to the
//! namespaces its selectors choose, as External Secrets Operator's.
//! Cluster-scoped, so only those who may create cluster-wide objects (cluster
//! admins) can write into other namespaces; each ExternalSecret it makes is
//! then bound by its namespace's store rules like any other.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::Condition;
use super::external_secret::ExternalSecretSpec;

/// Desired state.
#[derive(CustomResource, Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[kube(group = "seal.dev", version = "v1alpha1", kind = "ClusterExternalSecret")]
#[kube(status = "ClusterExternalSecretStatus", shortname = "ces", category = "seal")]
#[kube(
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#
)]
#[kube(printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#)]
#[serde(rename_all = "camelCase")]
#[serde(remote = "Self")]
pub struct ClusterExternalSecretSpec {
    /// The spec of every ExternalSecret made.
    pub external_secret_spec: ExternalSecretSpec,
    /// Their name (default: this object's name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_secret_name: Option<String>,
    /// Their labels and annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_secret_metadata: Option<ExternalSecretMetadata>,
    /// Namespaces whose labels match any of these selectors.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespace_selectors: Vec<LabelSelector>,
    /// One selector (ESO's older field; added to `namespaceSelectors`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<LabelSelector>,
    /// Namespaces by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<String>,
    /// How often to look for new namespaces besides watching them
    /// (accepted for ESO compatibility; seal watches namespaces).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_time: Option<String>,
    /// Fields of External Secrets Operator's schema that seal does not
    /// implement, as paths (`spec.target.manifest`): recorded as the object
    /// is read, and refused with reason `Unsupported`.
    #[serde(skip)]
    #[schemars(skip)]
    pub unsupported: Vec<String>,
}

crate::api::unknown::spec_recording_unknown_fields!(ClusterExternalSecretSpec, ClusterExternalSecret);

/// Labels and annotations of the ExternalSecrets made.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
pub struct ExternalSecretMetadata {
    /// Labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// Observed state.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ClusterExternalSecretStatus {
    /// The generation last reconciled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// The name of the ExternalSecrets made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_secret_name: Option<String>,
    /// Namespaces that hold the ExternalSecret as specified.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub provisioned_namespaces: Vec<String>,
    /// Namespaces where it could not be written, and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed_namespaces: Vec<FailedNamespace>,
    /// `Ready`: True when every chosen namespace is provisioned.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

/// A namespace the ExternalSecret could not be written to.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
pub struct FailedNamespace {
    /// The namespace.
    pub namespace: String,
    /// Why.
    pub reason: String,
}
