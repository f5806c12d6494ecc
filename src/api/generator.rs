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
