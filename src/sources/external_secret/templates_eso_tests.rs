//! ESO's unit tests of how a template is applied to a Secret, ported under
//! their names (ESO v2.9.0, commit cc5bfbc2):
//! `pkg/controllers/templating/parser_test.go` and
//! `pkg/controllers/externalsecret/externalsecret_controller_template_test.go`.
//! ESO's `ApplyTemplate` is seal's template check (`materialize::check_template`,
//! before anything is read) followed by [`render_templates`]; ESO's error
//! texts differ from seal's, so each case asserts that seal refuses, what
//! its message names, and that nothing refused reaches the Secret.

use serde_json::json;

use super::{TemplateError, render_templates};
use crate::api::external_secret::ExternalSecretTemplate;
use crate::materialize::{DEFAULT_REFUSED_ANNOTATION_PREFIXES, check_template};
use crate::sources::{Made, SecretData};

fn template(t: serde_json::Value) -> ExternalSecretTemplate {
    serde_json::from_value(t).expect("an ESO template")
}

/// ESO's `ApplyTemplate`: the check, then the rendering with no value read.
fn apply(t: &ExternalSecretTemplate) -> Result<Made, String> {
    let refused: Vec<String> = DEFAULT_REFUSED_ANNOTATION_PREFIXES.iter().map(|p| (*p).to_owned()).collect();
    check_template(Some(&t.secret), &refused)?;
    let sources = t.template_from.iter().map(|_| None).collect();
    let work = std::sync::Arc::new(super::engine::Work::new());
    render_templates(t, "default", SecretData::default(), sources, b"k", &work).map_err(|e| e.to_string())
}

fn text(made: &Made, key: &str) -> Option<String> {
    made.data.0.get(key).map(|v| String::from_utf8_lossy(v).into_owned())
}

const SA_NAME: &str = "kubernetes.io/service-account.name";

#[test]
fn test_parser_merge_literal_passes_template_from_values_decoding_strategy() {
    let t = template(json!({"templateFrom": [{"literal": "decoded: SGVsbG8=", "valuesDecodingStrategy": "Base64"}]}));
    let made = apply(&t).expect("renders");
    assert_eq!(text(&made, "decoded").as_deref(), Some("Hello"));
}

#[test]
fn test_parser_merge_map_keeps_template_data_undecoded() {
    // `data` is not a templateFrom entry: a templateFrom entry's strategy
    // does not reach it.
    let t = template(json!({
        "data": {"encoded": "SGVsbG8="},
        "templateFrom": [{"literal": "other: b2s=", "valuesDecodingStrategy": "Base64"}]
    }));
    let made = apply(&t).expect("renders");
    assert_eq!(text(&made, "encoded").as_deref(), Some("SGVsbG8="));
    assert_eq!(text(&made, "other").as_deref(), Some("ok"));
}

#[test]
fn test_apply_template_rejects_path_style_template_from_target() {
    for (name, target) in [
        ("type", "type"),
        ("nested annotations path", "metadata.annotations"),
        ("mixed case nested annotations path", "Metadata.Annotations"),
        ("immutable", "immutable"),
        ("owner references", "metadata.ownerReferences"),
    ] {
        let t = template(json!({
            "engineVersion": "v2",
            "templateFrom": [{"literal": "kubernetes.io/service-account-token", "target": target}]
        }));
        let e = apply(&t).map(drop).expect_err(name);
        assert!(e.starts_with("spec.target.template.templateFrom[0].target"), "{name}: {e}");
        // ESO's case also carries the ServiceAccount annotation in the
        // template's metadata: refused before anything renders.
        let mut t = t;
        t.secret.metadata = Some(crate::api::TemplateMetadata {
            annotations: [(SA_NAME.to_owned(), "victim-sa".to_owned())].into(),
            ..Default::default()
        });
        let e = apply(&t).map(drop).expect_err(name);
        assert!(e.contains(SA_NAME) && e.contains("reserved"), "{name}: {e}");
    }
}

#[test]
fn test_apply_template_rejects_privileged_template() {
    let cases = [
        (
            "service account token type with a service account annotation",
            json!({"engineVersion": "v2", "type": "kubernetes.io/service-account-token",
                   "metadata": {"annotations": {SA_NAME: "kube-system-admin-sa"}}}),
            "kubernetes.io/service-account-token",
        ),
        (
            "service account token type with a templateFrom annotations target",
            json!({"engineVersion": "v2", "type": "kubernetes.io/service-account-token",
                   "templateFrom": [{"literal": "irrelevant", "target": "Annotations"}]}),
            "kubernetes.io/service-account-token",
        ),
        (
            "bootstrap token type",
            json!({"engineVersion": "v2", "type": "bootstrap.kubernetes.io/token"}),
            "bootstrap.kubernetes.io/token",
        ),
    ];
    for (name, t, named) in cases {
        let e = apply(&template(t)).map(drop).expect_err(name);
        assert!(e.contains(named) && e.contains("refused"), "{name}: {e}");
    }
}

#[test]
fn test_apply_template_allows_well_known_template_from_targets() {
    let t = template(json!({
        "engineVersion": "v2",
        "templateFrom": [
            {"literal": "greeting: hello", "target": "data"},
            {"literal": "team: platform", "target": "Annotations"}
        ]
    }));
    let made = apply(&t).expect("renders");
    assert_eq!(text(&made, "greeting").as_deref(), Some("hello"));
    let annotations = made.metadata.map(|m| m.annotations).unwrap_or_default();
    assert_eq!(annotations.get("team").map(String::as_str), Some("platform"));
}

/// The refusals above are `Refused` (tried again only when the object
/// changes), not `Failed`.
#[test]
fn a_path_style_target_is_refused_not_retried() {
    let t = template(json!({"templateFrom": [{"literal": "a: b", "target": "immutable"}]}));
    let work = std::sync::Arc::new(super::engine::Work::new());
    let e = render_templates(&t, "default", SecretData::default(), vec![None], b"k", &work).map(drop);
    assert!(matches!(e, Err(TemplateError::Refused(_))), "{e:?}");
}
