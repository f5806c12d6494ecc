//! The generators, as External Secrets Operator's
//! (`generators.external-secrets.io`), used from an ExternalSecret's
//! `dataFrom[].sourceRef.generatorRef` or a PushSecret's
//! `selector.generatorRef`: `Password`, `UUID` and `SSHKey` make random
//! values that exist in the cluster and never in git; `VaultDynamicSecret`
//! asks Vault for one (a certificate, a database login, a token).

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A password's shape. Defaults as ESO's: 24 characters, a quarter of them
/// digits and a quarter symbols, upper and lower case, no character twice,
/// under the key `password`, written as it is.
#[derive(CustomResource, Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[kube(group = "seal.dev", version = "v1alpha1", kind = "Password", namespaced)]
#[kube(category = "seal")]
#[serde(rename_all = "camelCase")]
#[serde(remote = "Self")]
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
    /// The keys to fill, each with a password of its own (default:
    /// `password`); non-empty and unique, at most 64.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secret_keys: Vec<String>,
    /// How each password is written: `raw` (the default), `base64`,
    /// `base64url` (with padding), `base32` or `hex`, as ESO's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding: Option<PasswordEncoding>,
    /// Fields of External Secrets Operator's schema that seal does not
    /// implement, as paths: recorded as the object is read, and refused.
    #[serde(skip)]
    #[schemars(skip)]
    pub unsupported: Vec<String>,
}

crate::api::unknown::spec_recording_unknown_fields!(PasswordSpec, Password);

/// `spec.encoding` of a `Password`.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum PasswordEncoding {
    /// As drawn.
    #[default]
    Raw,
    /// Standard base64, padded.
    Base64,
    /// URL-safe base64, padded (Go's `base64.URLEncoding`).
    Base64url,
    /// Standard base32, padded.
    Base32,
    /// Lower-case hexadecimal.
    Hex,
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
#[serde(remote = "Self")]
pub struct SshKeySpec {
    /// `rsa` (ESO's default when left out), `ed25519` or `ecdsa` (P-256,
    /// P-384 or P-521).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_type: Option<String>,
    /// For `rsa`: 2048 (the default), 3072 or 4096. For `ecdsa`: 256 (the
    /// default), 384 or 521. Ignored for ed25519, as in ESO.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_size: Option<i64>,
    /// The key's comment, in both keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Fields of External Secrets Operator's schema that seal does not
    /// implement, as paths: recorded as the object is read, and refused.
    #[serde(skip)]
    #[schemars(skip)]
    pub unsupported: Vec<String>,
}

crate::api::unknown::spec_recording_unknown_fields!(SshKeySpec, SshKey);

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

/// `VaultDynamicSecret`: one request to Vault or OpenBao (a PKI `issue`, a
/// database `creds` read, a token create …) with the tenant's own Vault
/// credentials, its answer's `data` (or `auth`, or the whole answer) as
/// the values, as ESO's `VaultDynamicSecret` generator. Fields of ESO's
/// schema seal does not implement (`controller`, `retrySettings`, and the
/// provider's) are kept by the CRD and refused by name.
#[derive(CustomResource, Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[kube(group = "seal.dev", version = "v1alpha1", kind = "VaultDynamicSecret", namespaced)]
#[kube(category = "seal")]
#[serde(rename_all = "camelCase")]
#[serde(remote = "Self")]
pub struct VaultDynamicSecretSpec {
    /// How to reach Vault and log in: a SecretStore's `spec.provider.vault`
    /// (its `path` and `version`, the KV mount, are not used here, as in ESO).
    #[serde(deserialize_with = "provider_without_kv_path")]
    #[schemars(schema_with = "provider_schema")]
    pub provider: crate::api::secret_store::VaultProvider,
    /// The request's path below `/v1/`, whole (the provider's `path` is not
    /// joined), e.g. `/pki/issue/web`.
    #[schemars(length(max = 1024))]
    pub path: String,
    /// `GET` (the default), `LIST`, `POST` or `PUT` (both sent as ESO sends
    /// them: a write, `PUT`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// The JSON body of a `POST` or `PUT` (ignored on `GET` and `LIST`, as in ESO).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "free_json")]
    pub parameters: Option<serde_json::Value>,
    /// The query string of a `GET` (each key may repeat; ignored for other
    /// methods, as in ESO).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub get_parameters: std::collections::BTreeMap<String, Vec<String>>,
    /// Which part of the answer becomes the values: `Data` (the default),
    /// `Auth` or `Raw` (the whole answer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result_type: Option<VaultResultType>,
    /// An answer with nothing in it makes no values instead of failing.
    #[serde(default)]
    pub allow_empty_response: bool,
    /// Fields of External Secrets Operator's schema that seal does not
    /// implement, as paths (`spec.retrySettings`): recorded as the object
    /// is read, and refused with reason `Unsupported`.
    #[serde(skip)]
    #[schemars(skip)]
    pub unsupported: Vec<String>,
}

crate::api::unknown::spec_recording_unknown_fields!(VaultDynamicSecretSpec, VaultDynamicSecret);

/// `spec.resultType` of a `VaultDynamicSecret`.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
pub enum VaultResultType {
    /// The answer's `data`.
    #[default]
    Data,
    /// The answer's `auth` (a token create, a login).
    Auth,
    /// The whole answer.
    Raw,
}

/// The provider, whose KV mount `path` may be left out (ESO's generator
/// manifests do; it is not used here).
fn provider_without_kv_path<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<crate::api::secret_store::VaultProvider, D::Error> {
    use serde::de::Error as _;
    let mut raw = serde_json::Value::deserialize(d)?;
    if let Some(o) = raw.as_object_mut() {
        o.entry("path").or_insert_with(|| serde_json::Value::String(String::new()));
    }
    serde_json::from_value(raw).map_err(D::Error::custom)
}

/// The SecretStore's provider schema, `path` no longer required.
fn provider_schema(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let mut s = g.subschema_for::<crate::api::secret_store::VaultProvider>();
    if let Some(req) = s.get_mut("required").and_then(serde_json::Value::as_array_mut) {
        req.retain(|f| f != "path");
    }
    s
}

/// Any JSON value, kept whole by the API server.
fn free_json(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({ "x-kubernetes-preserve-unknown-fields": true })
}
