//! `SecretStore` (namespaced) and `ClusterSecretStore`: how to reach Vault or
//! OpenBao and authenticate. Field names follow External Secrets Operator
//! where the meaning is the same.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::Condition;

/// Spec shared by both store kinds.
#[derive(CustomResource, Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[kube(group = "seal.dev", version = "v1alpha1", kind = "SecretStore", namespaced)]
#[kube(status = "SecretStoreStatus", shortname = "ss", category = "seal")]
#[kube(
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#
)]
#[kube(
    printcolumn = r#"{"name":"Reason","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].reason"}"#
)]
#[kube(printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#)]
#[serde(rename_all = "camelCase")]
#[serde(remote = "Self")]
pub struct SecretStoreSpec {
    /// The store's back end.
    pub provider: Provider,
    /// ClusterSecretStore only: which namespaces may use it (none = every namespace).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<StoreCondition>,
    /// Fields of External Secrets Operator's schema that seal does not
    /// implement, as paths (`spec.target.manifest`): recorded as the object
    /// is read, and refused with reason `Unsupported`.
    #[serde(skip)]
    #[schemars(skip)]
    pub unsupported: Vec<String>,
}

crate::api::unknown::spec_recording_unknown_fields!(SecretStoreSpec, SecretStore);

/// `ClusterSecretStore`: a store every allowed namespace may use.
#[derive(CustomResource, Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[kube(group = "seal.dev", version = "v1alpha1", kind = "ClusterSecretStore")]
#[kube(status = "SecretStoreStatus", shortname = "css", category = "seal")]
#[kube(
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#
)]
#[kube(
    printcolumn = r#"{"name":"Reason","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].reason"}"#
)]
#[kube(printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#)]
#[serde(rename_all = "camelCase")]
#[serde(remote = "Self")]
pub struct ClusterSecretStoreSpec {
    /// The store's back end.
    pub provider: Provider,
    /// Which namespaces may use it (none = every namespace).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<StoreCondition>,
    /// Fields of External Secrets Operator's schema that seal does not
    /// implement, as paths (`spec.target.manifest`): recorded as the object
    /// is read, and refused with reason `Unsupported`.
    #[serde(skip)]
    #[schemars(skip)]
    pub unsupported: Vec<String>,
}

crate::api::unknown::spec_recording_unknown_fields!(ClusterSecretStoreSpec, ClusterSecretStore);

/// Namespaces allowed to use a ClusterSecretStore.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct StoreCondition {
    /// Namespace names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<String>,
}

/// The back end (only Vault/OpenBao for now).
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
pub struct Provider {
    /// Vault or OpenBao.
    pub vault: VaultProvider,
}

/// How to reach Vault.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct VaultProvider {
    /// Server URL, e.g. `https://vault.example:8200`.
    #[schemars(regex(pattern = r"^https?://[^\s/?#@]+(/[^\s?#]*)?$"), length(max = 2048))]
    pub server: String,
    /// Mount path of the KV engine, e.g. `secret`.
    pub path: String,
    /// KV engine version: `v1` or `v2` (default `v2`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<KvVersion>,
    /// Vault Enterprise / OpenBao namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// PEM CA bundle, base64-encoded, to verify the server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_bundle: Option<String>,
    /// How to log in.
    pub auth: VaultAuth,
    /// Allow a plain `http://` server. Tokens and values then cross the
    /// network unencrypted: only for a server on the same host or a test.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_insecure_http: Option<bool>,
}

/// KV engine version.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum KvVersion {
    /// KV version 1.
    V1,
    /// KV version 2 (default).
    #[default]
    V2,
}

/// Exactly one way to authenticate.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct VaultAuth {
    /// A token stored in a Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_secret_ref: Option<SecretKeyRef>,
    /// AppRole login.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_role: Option<AppRoleAuth>,
    /// Kubernetes auth with a ServiceAccount token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes: Option<KubernetesAuth>,
    /// JWT auth with a ServiceAccount token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwt: Option<JwtAuth>,
}

/// A key of a Secret. For a SecretStore the Secret must be in the store's
/// namespace; a ClusterSecretStore must name the namespace.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
pub struct SecretKeyRef {
    /// Secret name.
    pub name: String,
    /// Key in the Secret's data.
    pub key: String,
    /// Namespace (ClusterSecretStore only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// AppRole login.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AppRoleAuth {
    /// Mount path of the AppRole auth method (default `approle`).
    #[serde(default = "default_approle")]
    pub path: String,
    /// The role ID.
    pub role_id: String,
    /// Where the secret ID is.
    pub secret_ref: SecretKeyRef,
}

fn default_approle() -> String {
    "approle".into()
}

/// A ServiceAccount whose token the controller requests (TokenRequest API).
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
pub struct ServiceAccountRef {
    /// ServiceAccount name.
    pub name: String,
    /// Namespace (ClusterSecretStore only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Token audiences.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub audiences: Vec<String>,
}

/// Kubernetes auth method.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct KubernetesAuth {
    /// Mount path (default `kubernetes`).
    #[serde(default = "default_kubernetes")]
    pub mount_path: String,
    /// Vault role.
    pub role: String,
    /// The ServiceAccount that logs in.
    pub service_account_ref: ServiceAccountRef,
}

fn default_kubernetes() -> String {
    "kubernetes".into()
}

/// JWT auth method.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct JwtAuth {
    /// Mount path (default `jwt`).
    #[serde(default = "default_jwt")]
    pub path: String,
    /// Vault role.
    pub role: String,
    /// The ServiceAccount whose token is the JWT.
    pub kubernetes_service_account_token: ServiceAccountTokenRef,
}

fn default_jwt() -> String {
    "jwt".into()
}

/// ESO's wrapper around the ServiceAccount reference for JWT auth.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ServiceAccountTokenRef {
    /// The ServiceAccount.
    pub service_account_ref: ServiceAccountRef,
}

/// Observed state of a store.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SecretStoreStatus {
    /// The generation last checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready`: the controller can authenticate.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}
