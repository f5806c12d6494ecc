//! `Password`: a generator, as External Secrets Operator's
//! (`generators.external-secrets.io` `Password`), used from an
//! ExternalSecret's `dataFrom[].sourceRef.generatorRef`: random values that
//! exist in the cluster and never in git.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A password's shape. Defaults as ESO's: 24 characters, a quarter of them
/// digits and a quarter symbols, upper and lower case, no character twice.
#[derive(CustomResource, Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[kube(group = "seal.dev", version = "v1alpha1", kind = "Password", namespaced)]
#[kube(category = "seal")]
#[serde(rename_all = "camelCase")]
pub struct PasswordSpec {
    /// Length (default 24, at most 1024).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub length: Option<i64>,
    /// How many digits (default: a quarter of the length).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digits: Option<i64>,
    /// How many symbols (default: a quarter of the length).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symbols: Option<i64>,
    /// The symbols to choose from (default: ESO's 30 ASCII punctuation characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symbol_characters: Option<String>,
    /// No upper-case letters.
    #[serde(default)]
    pub no_upper: bool,
    /// Characters may repeat.
    #[serde(default)]
    pub allow_repeat: bool,
}

/// ESO's default symbols.
pub const DEFAULT_SYMBOLS: &str = "~!@#$%^&*()_+`-={}|[]\\:\"<>?,./";

/// `UUID`: a random UUID (version 4) under the key `uuid`, as ESO's `UUID`
/// generator. Its spec is empty, as ESO's.
#[derive(CustomResource, Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[kube(group = "seal.dev", version = "v1alpha1", kind = "UUID", root = "Uuid", namespaced)]
#[kube(category = "seal")]
pub struct UuidSpec {}

/// `SSHKey`: an SSH key pair under the keys `privateKey` (OpenSSH format,
/// unencrypted) and `publicKey` (`authorized_keys` line), as ESO's `SSHKey`
/// generator.
#[derive(CustomResource, Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[kube(group = "seal.dev", version = "v1alpha1", kind = "SSHKey", root = "SshKey", namespaced)]
#[kube(category = "seal")]
#[serde(rename_all = "camelCase")]
pub struct SshKeySpec {
    /// `rsa` (ESO's default when left out), `ed25519` or `ecdsa` (P-256).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_type: Option<String>,
    /// For `rsa`: 2048 (the default), 3072 or 4096. For `ecdsa`: 256 (the
    /// only size seal makes). Ignored for ed25519, as in ESO.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_size: Option<i64>,
    /// The key's comment, in both keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// The `UUID` CRD, with `spec` optional as in ESO's (its spec is empty, and
/// manifests may leave it out). The controller reads a UUID's metadata only.
pub fn uuid_crd() -> k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition {
    use kube::CustomResourceExt;
    let mut crd = Uuid::crd();
    for v in &mut crd.spec.versions {
        if let Some(root) = v.schema.as_mut().and_then(|s| s.open_api_v3_schema.as_mut()) {
            root.required = root.required.take().map(|r| r.into_iter().filter(|f| f != "spec").collect());
            root.required = root.required.take().filter(|r| !r.is_empty());
        }
    }
    crd
}
