//! Nothing a user writes is dropped without a word. The CRDs of the kinds
//! that follow External Secrets Operator (ExternalSecret,
//! ClusterExternalSecret, PushSecret, SecretStore, ClusterSecretStore and the
//! VaultDynamicSecret generator) keep fields they do not declare
//! (`x-kubernetes-preserve-unknown-fields` on every object of the spec,
//! [`preserve_unknown_fields`]), so a manifest
//! written for ESO keeps its fields in the cluster; their specs record, as
//! they are read, the paths of the fields seal does not implement
//! ([`unknown_fields`], against the kind's own generated schema), and the
//! controller refuses such an object with reason `Unsupported`, naming
//! them. The paths are spec field names, never values.

use std::sync::OnceLock;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde_json::Value;

/// At most this many paths are recorded per object (the message names
/// them all; a longer list would only repeat the point).
pub const MAX_UNKNOWN: usize = 16;

/// Marks every object schema under `spec` (and `spec` itself) with
/// `x-kubernetes-preserve-unknown-fields: true`: the API server then keeps
/// fields seal does not declare, for [`unknown_fields`] to name.
pub fn preserve_unknown_fields(crd: CustomResourceDefinition) -> CustomResourceDefinition {
    let Ok(mut v) = serde_json::to_value(&crd) else { return crd };
    if let Some(versions) = v.pointer_mut("/spec/versions").and_then(Value::as_array_mut) {
        for version in versions {
            if let Some(spec) = version.pointer_mut("/schema/openAPIV3Schema/properties/spec") {
                mark(spec);
            }
        }
    }
    serde_json::from_value(v).unwrap_or(crd)
}

fn mark(schema: &mut Value) {
    let Some(obj) = schema.as_object_mut() else { return };
    if let Some(props) = obj.get_mut("properties").and_then(Value::as_object_mut) {
        for p in props.values_mut() {
            mark(p);
        }
        obj.insert("x-kubernetes-preserve-unknown-fields".into(), Value::Bool(true));
    }
    if let Some(items) = obj.get_mut("items") {
        mark(items);
    }
    if let Some(extra) = obj.get_mut("additionalProperties").filter(|a| a.is_object()) {
        mark(extra);
    }
}

/// The `spec` schema of a kind's CRD, as JSON.
pub fn spec_schema(crd: &CustomResourceDefinition) -> Value {
    let v = serde_json::to_value(crd).unwrap_or_default();
    v.pointer("/spec/versions/0/schema/openAPIV3Schema/properties/spec").cloned().unwrap_or_default()
}

/// The paths (`spec.target.manifest`, `spec.data[0].sourceRef`) of the
/// fields of `raw` that `schema` does not declare: at most
/// [`MAX_UNKNOWN`], the first unknown name on each branch (what is below
/// it is not looked at). The walk follows the schema, which is finite, so
/// its depth is the schema's whatever the input.
pub fn unknown_fields(raw: &Value, schema: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk(raw, schema, "spec", &mut out);
    out
}

fn walk(raw: &Value, schema: &Value, path: &str, out: &mut Vec<String>) {
    if out.len() >= MAX_UNKNOWN {
        return;
    }
    match raw {
        Value::Object(m) => {
            let Some(props) = schema.get("properties").and_then(Value::as_object) else { return };
            for (k, v) in m {
                let here = format!("{path}.{k}");
                match props.get(k) {
                    Some(s) => walk(v, s, &here, out),
                    None if out.len() < MAX_UNKNOWN => out.push(here),
                    None => return,
                }
            }
        }
        Value::Array(a) => {
            let Some(items) = schema.get("items") else { return };
            for (i, v) in a.iter().enumerate() {
                walk(v, items, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// A kind's spec schema, computed once.
pub fn cached(cell: &'static OnceLock<Value>, crd: fn() -> CustomResourceDefinition) -> &'static Value {
    cell.get_or_init(|| spec_schema(&crd()))
}

/// The sentence that refuses an object for its `unknown` fields.
pub fn unsupported_message(unknown: &[String]) -> String {
    format!(
        "{} {} not supported by seal (fields of External Secrets Operator seal does not implement): remove {}; see the README's \"Migrating from ESO, field by field\"",
        unknown.join(", "),
        if unknown.len() == 1 { "is" } else { "are" },
        if unknown.len() == 1 { "it" } else { "them" },
    )
}

/// Implements `Deserialize` for a spec type whose derived impls were made
/// inherent with `#[serde(remote = "Self")]`: the derived reading, plus the
/// paths of the fields the kind's schema does not declare, in its
/// `unsupported` field. `Serialize` is the derived one.
macro_rules! spec_recording_unknown_fields {
    ($spec:ty, $kind:ty) => {
        impl<'de> serde::Deserialize<'de> for $spec {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                use serde::de::Error as _;
                static SCHEMA: std::sync::OnceLock<serde_json::Value> = std::sync::OnceLock::new();
                let raw = serde_json::Value::deserialize(d)?;
                let mut spec = <$spec>::deserialize(&raw).map_err(D::Error::custom)?;
                let schema = $crate::api::unknown::cached(&SCHEMA, <$kind as kube::CustomResourceExt>::crd);
                spec.unsupported = $crate::api::unknown::unknown_fields(&raw, schema);
                Ok(spec)
            }
        }
        impl serde::Serialize for $spec {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                <$spec>::serialize(self, s)
            }
        }
    };
}
pub(crate) use spec_recording_unknown_fields;

#[cfg(test)]
mod tests {
    use super::*;
    use kube::CustomResourceExt;

    /// ESO v2.9.0's spec fields (generated from its CRDs; the file says
    /// from which commit).
    const ESO_FIELDS: &str = include_str!("../../tests/data/eso-v2.9.0-spec-fields.txt");

    fn crd_of(kind: &str) -> Option<CustomResourceDefinition> {
        use super::super::*;
        Some(match kind {
            "ExternalSecret" => ExternalSecret::crd(),
            "ClusterExternalSecret" => cluster_external_secret::ClusterExternalSecret::crd(),
            "PushSecret" => push_secret::PushSecret::crd(),
            "SecretStore" => SecretStore::crd(),
            "ClusterSecretStore" => ClusterSecretStore::crd(),
            "VaultDynamicSecret" => generator::VaultDynamicSecret::crd(),
            "Password" => generator::Password::crd(),
            "SSHKey" => generator::SshKey::crd(),
            _ => return None,
        })
    }

    /// Where an ESO path stands in seal's CRD: `Some(true)` declared
    /// (implemented), `Some(false)` not declared but kept by the API server
    /// for the controller to refuse, `None` pruned without a word.
    fn standing(schema: &Value, path: &str) -> Option<bool> {
        let mut node = schema;
        for part in path.trim_start_matches("spec").split('.').filter(|p| !p.is_empty()) {
            let (name, lists) = (part.trim_end_matches("[]"), part.matches("[]").count());
            match node.get("properties").and_then(|p| p.get(name)) {
                Some(n) => node = n,
                None if node.get("properties").is_some() => {
                    return (node.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true)))
                        .then_some(false);
                }
                // seal's field is a map or a scalar where ESO's is deeper.
                None => return Some(true),
            }
            for _ in 0..lists {
                match node.get("items") {
                    Some(i) => node = i,
                    None => return Some(true),
                }
            }
        }
        Some(true)
    }

    #[test]
    fn every_field_of_esos_schemas_is_implemented_or_kept_and_refused() {
        let (mut implemented, mut refused, mut pruned) = (0, 0, Vec::new());
        for line in ESO_FIELDS.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
            let Some((kind, path)) = line.split_once(' ') else { panic!("malformed line {line:?}") };
            let Some(crd) = crd_of(kind) else { panic!("unknown kind {kind}") };
            let crd = preserve_unknown_fields(crd);
            match standing(&spec_schema(&crd), path) {
                Some(true) => implemented += 1,
                Some(false) => refused += 1,
                None => pruned.push(line),
            }
        }
        assert!(pruned.is_empty(), "ESO fields seal neither implements nor keeps to refuse: {pruned:#?}");
        assert!(implemented > 100 && refused > 100, "{implemented} implemented, {refused} refused");
    }

    #[test]
    fn the_generated_crds_keep_unknown_fields() {
        for (file, crd) in crate::api::crds() {
            let eso_kinds = [
                "externalsecrets.yaml",
                "clusterexternalsecrets.yaml",
                "pushsecrets.yaml",
                "secretstores.yaml",
                "clustersecretstores.yaml",
                "vaultdynamicsecrets.yaml",
                "passwords.yaml",
                "sshkeys.yaml",
            ];
            if !eso_kinds.contains(&file) {
                continue;
            }
            let spec = spec_schema(&crd);
            assert_eq!(spec.get("x-kubernetes-preserve-unknown-fields"), Some(&Value::Bool(true)), "{file}");
        }
    }

    #[test]
    fn unknown_fields_are_named_by_path_and_known_ones_are_not() {
        let schema = spec_schema(&crate::api::ExternalSecret::crd());
        let raw = serde_json::json!({
            "secretStoreRef": {"name": "s"},
            "target": {"manifest": {"kind": "ConfigMap"}, "template": {"metadata": {"finalizers": ["x"]}}},
            "data": [
                {"secretKey": "a", "remoteRef": {"key": "k"}},
                {"secretKey": "b", "remoteRef": {"key": "k", "nullBytePolicy": "Fail"}, "sourceRef": {}}
            ],
            "syncWindows": {"kind": "Allow"}
        });
        assert_eq!(
            unknown_fields(&raw, &schema),
            [
                "spec.data[1].remoteRef.nullBytePolicy",
                "spec.data[1].sourceRef",
                "spec.syncWindows",
                "spec.target.manifest"
            ]
        );
        let parsed: crate::api::ExternalSecretSpec = serde_json::from_value(raw).expect("reads");
        assert_eq!(parsed.unsupported.len(), 4);
        assert!(unsupported_message(&parsed.unsupported).starts_with("spec.data[1].remoteRef.nullBytePolicy, "));
    }
}
