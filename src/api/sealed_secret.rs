//! `SealedSecret`: a SOPS document (age) of the whole resource. The `sops`
//! block sits beside `spec` at the top level, so the Rust type and the CRD
//! are written by hand around schemas generated from the spec and status.

use std::collections::BTreeMap;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceColumnDefinition, CustomResourceDefinition, CustomResourceDefinitionNames,
    CustomResourceDefinitionSpec, CustomResourceDefinitionVersion, CustomResourceSubresources,
    CustomResourceValidation, JSONSchemaProps,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{Condition, DriftPolicy, RolloutTarget, SecretTemplate};

/// Desired state. `data`, `stringData` and `scope` hold `ENC[…]` values.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SealedSecretSpec {
    /// Encrypted values whose plaintext is base64 (as in `Secret.data`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub data: BTreeMap<String, String>,
    /// Encrypted `namespace/name`, `namespace/*` or `*/*`.
    #[serde(default)]
    pub scope: String,
    /// Encrypted values whose plaintext is UTF-8 (as in `Secret.stringData`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub string_data: BTreeMap<String, String>,
    /// Type, immutability, labels and annotations of the Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<SecretTemplate>,
    /// What to do when the Secret's data is changed by someone else.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift_policy: Option<DriftPolicy>,
    /// Workloads to restart when the data changes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rollout_restart_targets: Vec<RolloutTarget>,
    /// Stop reconciling (the Secret is left as it is).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspend: Option<bool>,
}

/// Observed state.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SealedSecretStatus {
    /// The generation last reconciled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready` and, where it applies, `Drifted`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The resume annotation value last acted on (Pause drift policy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resumed: Option<String>,
    /// `sops.lastmodified` of the last document accepted: an older one
    /// (a replay) is refused unless the object is annotated
    /// `seal.dev/allow-replay: "true"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<String>,
}

/// A SealedSecret as stored in the cluster.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
pub struct SealedSecret {
    /// `seal.dev/v1alpha1` (filled on serialization).
    #[serde(default, rename = "apiVersion", skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    /// `SealedSecret`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// Standard object metadata.
    pub metadata: ObjectMeta,
    /// Desired state.
    #[serde(default)]
    pub spec: SealedSecretSpec,
    /// The SOPS metadata block, kept as the API server stores it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sops: Option<serde_json::Value>,
    /// Observed state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<SealedSecretStatus>,
}

impl Resource for SealedSecret {
    type DynamicType = ();
    type Scope = kube::core::NamespaceResourceScope;

    fn kind(_: &()) -> std::borrow::Cow<'_, str> {
        "SealedSecret".into()
    }
    fn group(_: &()) -> std::borrow::Cow<'_, str> {
        super::GROUP.into()
    }
    fn version(_: &()) -> std::borrow::Cow<'_, str> {
        super::VERSION.into()
    }
    fn plural(_: &()) -> std::borrow::Cow<'_, str> {
        "sealedsecrets".into()
    }
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

/// A JSON schema generated from a Rust type, as the CRD's schema type,
/// made structural by the same transforms `#[derive(CustomResource)]` uses.
pub(crate) fn schema_of<T: JsonSchema>() -> JSONSchemaProps {
    use kube::core::schema::{OptionalEnum, OptionalIntOrString, StructuralSchemaRewriter};
    let settings = schemars::generate::SchemaSettings::openapi3()
        .with(|s| {
            s.inline_subschemas = true;
            s.meta_schema = None;
        })
        .with_transform(schemars::transform::AddNullable::default())
        .with_transform(StructuralSchemaRewriter)
        .with_transform(OptionalEnum)
        .with_transform(OptionalIntOrString);
    let schema = settings.into_generator().into_root_schema_for::<T>();
    let mut value = serde_json::to_value(schema).unwrap_or_default();
    if let Some(m) = value.as_object_mut() {
        // The root's name and the (inlined) definitions are not schema.
        m.remove("title");
        m.remove("$defs");
    }
    serde_json::from_value(value).unwrap_or_default()
}

/// Longest wrapped data key (armored age file) accepted in a `sops` block.
/// seal and sops write one recipient per file, and the age library adds a
/// grease stanza of at most about 210 bytes: an X25519 file is about 350
/// bytes armored, a post-quantum hybrid (`mlkem768x25519`) one at most
/// about 2,650 (its stanza alone is 1,557 bytes before armor). Re-derived
/// for the hybrid stanza, not just raised: with [`MAX_AGE_ENTRIES`] entries
/// the block stays under 64 × (4 + 2) KiB = 384 KiB, a quarter of an
/// object's 1.5 MiB.
pub const MAX_ENC_LENGTH: i64 = 4096;
/// Longest recipient: a hybrid `age1pq1…` is 1,959 characters (an X25519
/// one 62).
pub const MAX_RECIPIENT_LENGTH: i64 = 2048;
/// Longest field of another back end's entry (kept, never used).
pub const MAX_OTHER_FIELD_LENGTH: i64 = 2048;
/// Most age recipients in the flat `age` list.
pub const MAX_AGE_ENTRIES: i64 = 64;
/// Most key groups, and most age recipients in each.
pub const MAX_KEY_GROUPS: i64 = 8;
/// Most age recipients in one key group.
pub const MAX_GROUP_AGE_ENTRIES: i64 = 16;

/// The schema of the `sops` block: typed and bounded, so the API server
/// refuses an oversized block before any controller reads it (an untyped
/// block let a tenant store megabytes of nested JSON in every object).
/// Fields not listed are pruned by the API server.
fn sops_schema() -> JSONSchemaProps {
    let string = |max: i64, description: &str| JSONSchemaProps {
        type_: Some("string".into()),
        max_length: Some(max),
        description: Some(description.into()),
        ..Default::default()
    };
    let object = |props: Vec<(&str, JSONSchemaProps)>, description: &str| JSONSchemaProps {
        type_: Some("object".into()),
        description: Some(description.into()),
        properties: Some(props.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()),
        ..Default::default()
    };
    let array = |items: JSONSchemaProps, max: i64, description: &str| JSONSchemaProps {
        type_: Some("array".into()),
        max_items: Some(max),
        description: Some(description.into()),
        items: Some(
            k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::JSONSchemaPropsOrArray::Schema(
                Box::new(items),
            ),
        ),
        ..Default::default()
    };
    let age_entry = object(
        vec![
            ("recipient", string(MAX_RECIPIENT_LENGTH, "An age recipient (age1… or age1pq1…).")),
            ("enc", string(MAX_ENC_LENGTH, "The data key, encrypted to the recipient (armored age file).")),
        ],
        "The data key wrapped for one recipient.",
    );
    let ages = |max: i64| array(age_entry.clone(), max, "Age recipients and their wrapped data keys.");
    // Other back ends are kept so a file also sealed to them can be read
    // back, as flat objects of short strings (seal itself uses only age):
    // nothing in the block may nest freely or grow without bound.
    let other = || {
        array(
            JSONSchemaProps {
                type_: Some("object".into()),
                max_properties: Some(8),
                additional_properties: Some(
                    k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::JSONSchemaPropsOrBool::Schema(
                        Box::new(string(MAX_OTHER_FIELD_LENGTH, "A field of the back end's entry.")),
                    ),
                ),
                ..Default::default()
            },
            4,
            "Keys of another SOPS back end (kept as written; not used by seal).",
        )
    };
    let group_props = vec![("age", ages(MAX_GROUP_AGE_ENTRIES))];
    let mut props = vec![
        ("age", ages(MAX_AGE_ENTRIES)),
        ("lastmodified", string(64, "When the file was last encrypted (RFC 3339).")),
        ("mac", string(1024, "The encrypted MAC over the encrypted values.")),
        ("version", string(64, "The writer's SOPS version.")),
        ("mac_only_encrypted", JSONSchemaProps { type_: Some("boolean".into()), ..Default::default() }),
        ("shamir_threshold", JSONSchemaProps { type_: Some("integer".into()), ..Default::default() }),
    ];
    for rule in seal_format::sops::metadata::RULE_FIELDS {
        props.push((rule, string(1024, "The selection rule.")));
    }
    for backend in ["kms", "gcp_kms", "hckms", "azure_kv", "hc_vault", "pgp"] {
        props.push((backend, other()));
    }
    props.push((
        "key_groups",
        array(object(group_props, "One key group."), MAX_KEY_GROUPS, "Key groups (Shamir secret sharing)."),
    ));
    object(props, "The SOPS metadata: recipients, wrapped data keys, MAC. Written by seal or sops.")
}

/// The CustomResourceDefinition of SealedSecret.
pub fn crd() -> CustomResourceDefinition {
    let object = |props: Vec<(&str, JSONSchemaProps)>| JSONSchemaProps {
        type_: Some("object".into()),
        properties: Some(props.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()),
        ..Default::default()
    };
    let sops = sops_schema();
    let schema = object(vec![
        ("apiVersion", JSONSchemaProps { type_: Some("string".into()), ..Default::default() }),
        ("kind", JSONSchemaProps { type_: Some("string".into()), ..Default::default() }),
        ("metadata", JSONSchemaProps { type_: Some("object".into()), ..Default::default() }),
        ("spec", schema_of::<SealedSecretSpec>()),
        ("sops", sops),
        ("status", schema_of::<SealedSecretStatus>()),
    ]);
    let column = |name: &str, path: &str, ty: &str| CustomResourceColumnDefinition {
        name: name.into(),
        json_path: path.into(),
        type_: ty.into(),
        ..Default::default()
    };
    CustomResourceDefinition {
        metadata: ObjectMeta { name: Some("sealedsecrets.seal.dev".into()), ..Default::default() },
        spec: CustomResourceDefinitionSpec {
            group: super::GROUP.into(),
            names: CustomResourceDefinitionNames {
                kind: "SealedSecret".into(),
                plural: "sealedsecrets".into(),
                singular: Some("sealedsecret".into()),
                short_names: Some(vec!["sls".into()]),
                categories: Some(vec!["seal".into()]),
                ..Default::default()
            },
            scope: "Namespaced".into(),
            versions: vec![CustomResourceDefinitionVersion {
                name: super::VERSION.into(),
                served: true,
                storage: true,
                schema: Some(CustomResourceValidation { open_api_v3_schema: Some(schema) }),
                subresources: Some(CustomResourceSubresources {
                    status: Some(k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceSubresourceStatus(serde_json::json!({}))),
                    ..Default::default()
                }),
                additional_printer_columns: Some(vec![
                    column("Ready", ".status.conditions[?(@.type==\"Ready\")].status", "string"),
                    column("Reason", ".status.conditions[?(@.type==\"Ready\")].reason", "string"),
                    column("Age", ".metadata.creationTimestamp", "date"),
                ]),
                ..Default::default()
            }],
            ..Default::default()
        },
        status: None,
    }
}
