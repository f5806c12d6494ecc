//! The template cases of External Secrets Operator's ExternalSecret
//! controller tests (`pkg/controllers/externalsecret/externalsecret_controller_test.go`,
//! ESO v2.9.0, commit cc5bfbc2), run through seal's real controller against
//! OpenBao, under ESO's case names; and the cases where seal used to write
//! a different Secret from ESO's without a word: templated metadata,
//! `templateFrom[].target`, `valuesDecodingStrategy`, finalizers, `data[]`
//! over `dataFrom`. Manifests are applied with kubectl, as a user would, so
//! a field the CRD would prune is pruned here too.
//!
//! ESO's fake provider answers every `data[]` read with `someValue` and
//! every `dataFrom` read with its map: here `app/es` holds `value:
//! someValue` and `datamap` the map.

use kube::api::{ListParams, Patch, PatchParams};
use libtest_mimic::{Failed, Trial};
use serde_json::json;

use crate::env::{self, ensure, wait_for};
use crate::fixtures::objects::{data_of, kv, put_secret, ready_of, wait_ready};
use crate::fixtures::{Fx, Opts, fmsg, kubectl, setup};
use crate::process::ControllerProcess;
use crate::support::assert_absent;

/// ESO's `targetPropObj` and what it renders to from `someValue`.
const TARGET_PROP_OBJ: &str = "{{ .targetProperty | toString | upper }} was templated";
const EXPECTED_SECRET_VAL: &str = "SOMEVALUE was templated";
const FINALIZER: &str = "example.com/finalizer";
/// A value that must never appear in status, Events or logs.
const CANARY: &str = "canary Lbl-7Qx not a label";

pub fn trials() -> Vec<Trial> {
    vec![
        env::trial("eso_templates::should_sync_with_template", should_sync_with_template),
        env::trial(
            "eso_templates::should_sync_template_with_correct_value_precedence",
            should_sync_template_with_correct_value_precedence,
        ),
        env::trial("eso_templates::should_sync_template_from_literal", should_sync_template_from_literal),
        env::trial(
            "eso_templates::should_be_able_to_use_only_metadata_from_template",
            should_be_able_to_use_only_metadata_from_template,
        ),
        env::trial("eso_templates::should_sync_with_template_engine_v2", should_sync_with_template_engine_v2),
        env::trial(
            "eso_templates::should_sync_template_from_keys_and_values",
            should_sync_template_from_keys_and_values,
        ),
        env::trial(
            "eso_templates::should_fetch_secret_using_datafrom_and_a_template",
            should_fetch_secret_using_datafrom_and_a_template,
        ),
        env::trial(
            "eso_templates::should_update_template_if_externalsecret_is_updated",
            should_update_template_if_externalsecret_is_updated,
        ),
        env::trial(
            "eso_templates::should_keep_data_with_templates_if_mergepolicy_merge",
            should_keep_data_with_templates_if_mergepolicy_merge,
        ),
        env::trial("eso_templates::should_refresh_secret_from_template", should_refresh_secret_from_template),
        env::trial(
            "eso_templates::should_refresh_secret_map_when_provider_secret_changes_when_using_a_template",
            should_refresh_secret_map_when_provider_secret_changes_when_using_a_template,
        ),
        env::trial(
            "eso_templates::templated_metadata_annotations_and_labels_are_rendered",
            templated_metadata_is_rendered,
        ),
        env::trial(
            "eso_templates::values_decoding_strategy_decodes_what_templatefrom_rendered",
            values_decoding_strategy,
        ),
        env::trial(
            "eso_templates::a_rendered_label_the_api_server_would_refuse_is_named_never_quoted",
            refused_rendered_label,
        ),
        env::trial(
            "eso_templates::rendered_metadata_keys_pass_the_deny_list_unnamed",
            rendered_keys_pass_the_deny_list,
        ),
    ]
}

/// A test's world: OpenBao with `app/es` (`value: someValue`) and
/// `datamap` (`more`), a SecretStore `vault-backend`, a controller.
pub(crate) async fn world(fx: &Fx, more: &[(&'static str, &'static str)]) -> Result<ControllerProcess, Failed> {
    Ok(world_and_mount(fx, more).await?.0)
}

/// As [`world`], with the KV mount's name, for tests that change its values.
async fn world_and_mount(
    fx: &Fx,
    more: &[(&'static str, &'static str)],
) -> Result<(ControllerProcess, String), Failed> {
    let bao = env::bao()?;
    let root = bao.root()?;
    let mount = bao.enable_kv2().await?;
    vaultrs::kv2::set(&root, &mount, "app/es", &kv(&[("value", "someValue")])).await?;
    vaultrs::kv2::set(&root, &mount, "datamap", &kv(more)).await?;
    put_secret(&fx.secrets(), "vault-token", "token", &bao.root_token).await?;
    let store = format!(
        "apiVersion: seal.dev/v1alpha1\nkind: SecretStore\nmetadata: {{name: vault-backend, namespace: {ns}}}\n\
         spec:\n  provider:\n    vault: {{server: \"{addr}\", path: {mount}, version: v2, allowInsecureHttp: true,\n      \
         auth: {{tokenSecretRef: {{name: vault-token, key: token}}}}}}\n",
        ns = fx.ns(),
        addr = bao.addr,
    );
    apply(fx, &store).await?;
    Ok((fx.start(Opts::default()).await?, mount))
}

/// `kubectl apply -f -` of `yaml` (`NS` replaced by the test's namespace),
/// client-side as users apply by default: a field the CRD does not know is
/// pruned without a word, as a user would see it.
pub(crate) async fn apply(fx: &Fx, yaml: &str) -> Result<(), Failed> {
    let yaml = yaml.replace("{NS}", fx.ns());
    wait_for("kubectl apply of the manifests", std::time::Duration::from_secs(30), || async {
        let out = kubectl(fx.kubeconfig(), &["apply", "-f", "-"])
            .stdin(yaml.clone())
            .output()
            .map_err(|e| format!("{e:?}"))?;
        if out.status.success() { Ok(Some(())) } else { Err(String::from_utf8_lossy(&out.stderr).into_owned()) }
    })
    .await
}

/// An ExternalSecret `es` writing Secret `target`, with `spec` (YAML, at
/// the spec's indentation) after its store reference.
fn external_secret(spec: &str) -> String {
    format!(
        "apiVersion: seal.dev/v1alpha1\nkind: ExternalSecret\nmetadata: {{name: es, namespace: \"{{NS}}\"}}\nspec:\n  \
         refreshInterval: 1h\n  secretStoreRef: {{name: vault-backend, kind: SecretStore}}\n{spec}"
    )
}

/// The Secret `target` once the ExternalSecret is Ready.
async fn synced(fx: &Fx) -> Result<k8s_openapi::api::core::v1::Secret, Failed> {
    wait_ready(&fx.es(), "es", "True", "Materialized").await?;
    Ok(fx.secrets().get("target").await?)
}

/// Lets the test namespace go: the controller stopped first (it would
/// put the finalizer back), then the template's finalizer removed.
async fn release(fx: &Fx, ctrl: ControllerProcess) -> Result<(), Failed> {
    drop(ctrl);
    let patch = json!({"metadata": {"finalizers": null}});
    fx.secrets().patch("target", &PatchParams::default(), &Patch::Merge(patch)).await?;
    Ok(())
}

fn label<'a>(s: &'a k8s_openapi::api::core::v1::Secret, k: &str) -> Option<&'a str> {
    s.metadata.labels.as_ref().and_then(|m| m.get(k)).map(String::as_str)
}

fn annotation<'a>(s: &'a k8s_openapi::api::core::v1::Secret, k: &str) -> Option<&'a str> {
    s.metadata.annotations.as_ref().and_then(|m| m.get(k)).map(String::as_str)
}

fn finalizers(s: &k8s_openapi::api::core::v1::Secret) -> Vec<String> {
    s.metadata.finalizers.clone().unwrap_or_default()
}

/// ESO: "should sync with template" (`syncWithTemplate`): values, labels,
/// annotations and finalizers from the template.
fn should_sync_with_template() -> Result<(), Failed> {
    let fx = setup("esot-sync")?;
    env::block_on(async {
        let ctrl = world(&fx, &[("unused", "x")]).await?;
        let spec = format!(
            "  target:\n    name: target\n    template:\n      type: Opaque\n      engineVersion: v2\n      metadata:\n        \
             labels: {{foos: ball}}\n        annotations: {{hihi: ga}}\n        finalizers: [\"{FINALIZER}\"]\n      data:\n        \
             targetProperty: \"{TARGET_PROP_OBJ}\"\n        tplstatickey: tplstaticvalue\n  data:\n  \
             - {{secretKey: targetProperty, remoteRef: {{key: app/es, property: value}}}}\n"
        );
        apply(&fx, &external_secret(&spec)).await?;
        let s = synced(&fx).await?;
        let data = data_of(&s);
        ensure(data.get("targetProperty").map(String::as_str) == Some(EXPECTED_SECRET_VAL), "the templated value")?;
        ensure(data.get("tplstatickey").map(String::as_str) == Some("tplstaticvalue"), "the static value")?;
        ensure(label(&s, "foos") == Some("ball"), "the template's label")?;
        ensure(annotation(&s, "hihi") == Some("ga"), "the template's annotation")?;
        ensure(finalizers(&s).contains(&FINALIZER.to_owned()), format!("the finalizer: {:?}", finalizers(&s)))?;
        release(&fx, ctrl).await
    })
}

/// ESO: "should sync template with correct value precedence"
/// (`syncWithTemplatePrecedence`): `data[]` over `dataFrom` for the same
/// key, `template.data` over both, `templateFrom` from a ConfigMap and a
/// Secret. The Secret grants the read (`seal.dev/allow-template-read`),
/// which seal requires and ESO does not.
fn should_sync_template_with_correct_value_precedence() -> Result<(), Failed> {
    let fx = setup("esot-precedence")?;
    env::block_on(async {
        let _ctrl = world(&fx, &[("targetProperty", "map-foo-value"), ("bar", "map-bar-value")]).await?;
        let sources = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: template-cm, namespace: \"{NS}\"}\n\
             data:\n  tpl-from-key: \"tpl-from-value: {{ .targetProperty | toString }} // {{ .bar | toString }}\"\n---\n\
             apiVersion: v1\nkind: Secret\nmetadata:\n  name: template-secret\n  namespace: \"{NS}\"\n  \
             annotations: {seal.dev/allow-template-read: es}\n\
             stringData:\n  tpl-from-sec-key: \"tpl-from-sec-value: {{ .targetProperty | toString }} // {{ .bar | toString }}\"\n";
        apply(&fx, sources).await?;
        let spec = format!(
            "  target:\n    name: target\n    template:\n      type: Opaque\n      templateFrom:\n      \
             - configMap: {{name: template-cm, items: [{{key: tpl-from-key}}]}}\n      \
             - secret: {{name: template-secret, items: [{{key: tpl-from-sec-key}}]}}\n      data:\n        \
             targetProperty: \"{TARGET_PROP_OBJ}\"\n        bar: \"value from map: {{{{ .bar | toString }}}}\"\n        \
             tplstatickey: tplstaticvalue\n  data:\n  \
             - {{secretKey: targetProperty, remoteRef: {{key: app/es, property: value}}}}\n  dataFrom:\n  \
             - extract: {{key: datamap}}\n"
        );
        apply(&fx, &external_secret(&spec)).await?;
        let data = data_of(&synced(&fx).await?);
        let want = [
            ("targetProperty", EXPECTED_SECRET_VAL),
            ("tplstatickey", "tplstaticvalue"),
            ("bar", "value from map: map-bar-value"),
            ("tpl-from-key", "tpl-from-value: someValue // map-bar-value"),
            ("tpl-from-sec-key", "tpl-from-sec-value: someValue // map-bar-value"),
        ];
        for (k, v) in want {
            ensure(data.get(k).map(String::as_str) == Some(v), format!("{k}: {:?}", data.get(k)))?;
        }
        Ok(())
    })
}

/// ESO: "should sync template from literal" (`syncTemplateFromLiteral`):
/// literals into data, and with `target: Annotations` and `Labels`.
fn should_sync_template_from_literal() -> Result<(), Failed> {
    let fx = setup("esot-literal")?;
    env::block_on(async {
        let map = [
            ("targetKey", "map-foo-value"),
            ("targetValue", "map-bar-value"),
            ("complex", r#"{"nested":"json","can":"be","templated":"successfully"}"#),
        ];
        let _ctrl = world(&fx, &map).await?;
        let spec = "  target:\n    name: target\n    template:\n      type: Opaque\n      templateFrom:\n      \
             - literal: \"{{ .targetKey }}-literal: {{ .targetValue }}\"\n      \
             - literal: \"{{- range $k, $v := ( .complex | fromJson )}}\\n{{ $k }}: {{ $v }}\\n{{- end }}\\n\"\n      \
             - {target: Annotations, literal: \"{{ .targetKey }}-annotations: {{ .targetValue }}\"}\n      \
             - {target: Labels, literal: \"{{ .targetKey }}-labels: {{ .targetValue }}\"}\n  \
             dataFrom:\n  - extract: {key: datamap}\n";
        apply(&fx, &external_secret(spec)).await?;
        let s = synced(&fx).await?;
        let data = data_of(&s);
        let want = [
            ("map-foo-value-literal", "map-bar-value"),
            ("nested", "json"),
            ("can", "be"),
            ("templated", "successfully"),
        ];
        for (k, v) in want {
            ensure(data.get(k).map(String::as_str) == Some(v), format!("{k}: {:?}", data.get(k)))?;
        }
        ensure(annotation(&s, "map-foo-value-annotations") == Some("map-bar-value"), "the annotation literal")?;
        ensure(label(&s, "map-foo-value-labels") == Some("map-bar-value"), "the label literal")?;
        ensure(!data.contains_key("map-foo-value-labels"), "labels do not land in the data")?;
        Ok(())
    })
}

/// ESO: "should be able to use only metadata from template"
/// (`onlyMetadataFromTemplate`): no value template, so the values read are
/// written as they are, with the template's metadata and finalizers.
fn should_be_able_to_use_only_metadata_from_template() -> Result<(), Failed> {
    let fx = setup("esot-metaonly")?;
    env::block_on(async {
        let ctrl = world(&fx, &[("unused", "x")]).await?;
        let spec = format!(
            "  target:\n    name: target\n    template:\n      metadata:\n        \
             labels: {{foo: bar}}\n        annotations: {{foo: bar}}\n        finalizers: [\"{FINALIZER}\"]\n  data:\n  \
             - {{secretKey: targetProperty, remoteRef: {{key: app/es, property: value}}}}\n"
        );
        apply(&fx, &external_secret(&spec)).await?;
        let s = synced(&fx).await?;
        ensure(data_of(&s).get("targetProperty").map(String::as_str) == Some("someValue"), "the value as read")?;
        ensure(label(&s, "foo") == Some("bar") && annotation(&s, "foo") == Some("bar"), "the metadata")?;
        ensure(finalizers(&s).contains(&FINALIZER.to_owned()), format!("the finalizer: {:?}", finalizers(&s)))?;
        release(&fx, ctrl).await
    })
}

/// `template.metadata` values are templates, as in ESO: an annotation and
/// a label rendered from the values read (seal wrote them literally).
fn templated_metadata_is_rendered() -> Result<(), Failed> {
    let fx = setup("esot-meta")?;
    env::block_on(async {
        // base64 of "prod".
        let _ctrl = world(&fx, &[("env", "cHJvZA=="), ("team", "payments")]).await?;
        let spec = "  target:\n    name: target\n    template:\n      metadata:\n        \
             annotations: {deployed-env: \"{{ .env | b64dec }}\"}\n        labels: {team: \"{{ .team }}\", tier: static}\n  \
             dataFrom:\n  - extract: {key: datamap}\n";
        apply(&fx, &external_secret(spec)).await?;
        let s = synced(&fx).await?;
        ensure(
            annotation(&s, "deployed-env") == Some("prod"),
            format!("the annotation: {:?}", annotation(&s, "deployed-env")),
        )?;
        ensure(label(&s, "team") == Some("payments"), format!("the templated label: {:?}", label(&s, "team")))?;
        ensure(label(&s, "tier") == Some("static"), "a label without a template")?;
        ensure(data_of(&s).get("team").map(String::as_str) == Some("payments"), "the values, as read")?;
        Ok(())
    })
}

/// `templateFrom[].valuesDecodingStrategy` (ESO 2.x): the rendered values
/// decoded before they are written (the CRD pruned the field, so values
/// stayed base64).
fn values_decoding_strategy() -> Result<(), Failed> {
    let fx = setup("esot-decode")?;
    env::block_on(async {
        // base64 of "-----BEGIN CERT-----" and of "s3cr3t".
        let _ctrl = world(&fx, &[("cert", "LS0tLS1CRUdJTiBDRVJULS0tLS0="), ("pw", "czNjcjN0")]).await?;
        let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: tpl, namespace: \"{NS}\"}\ndata:\n  password: \"{{ .pw }}\"\n";
        apply(&fx, cm).await?;
        let spec = "  target:\n    name: target\n    template:\n      templateFrom:\n      \
             - {literal: \"tls.crt: {{ .cert }}\", valuesDecodingStrategy: Base64}\n      \
             - configMap: {name: tpl, items: [{key: password}]}\n        valuesDecodingStrategy: Auto\n  \
             dataFrom:\n  - extract: {key: datamap}\n";
        apply(&fx, &external_secret(spec)).await?;
        let data = data_of(&synced(&fx).await?);
        ensure(data.get("tls.crt").map(String::as_str) == Some("-----BEGIN CERT-----"), "Base64 decoded")?;
        ensure(data.get("password").map(String::as_str) == Some("s3cr3t"), "Auto decoded")?;
        Ok(())
    })
}

/// A templated label whose rendered value the API server would refuse:
/// `Ready=False`, `TemplateFailed`, the field named, the value nowhere in
/// status, Events or the log (an API-server refusal would quote it).
fn refused_rendered_label() -> Result<(), Failed> {
    let fx = setup("esot-badlabel")?;
    env::block_on(async {
        let ctrl = world(&fx, &[("pw", CANARY)]).await?;
        let spec = "  target:\n    name: target\n    template:\n      metadata:\n        labels: {pw: \"{{ .pw }}\"}\n  \
             dataFrom:\n  - extract: {key: datamap}\n";
        apply(&fx, &external_secret(spec)).await?;
        let obj = wait_ready(&fx.es(), "es", "False", "TemplateFailed").await?;
        let message = ready_of(&obj).1.map(|c| c.2).unwrap_or_default();
        ensure(
            message.contains("spec.target.template.metadata.labels[\"pw\"]")
                && message.contains("not a valid label value"),
            format!("the message names the field and the reason: {message}"),
        )?;
        ensure(fx.secrets().get_opt("target").await?.is_none(), "nothing is written")?;
        assert_absent(&serde_json::to_vec(&obj["status"])?, CANARY, "the status").map_err(fmsg)?;
        let events: kube::Api<k8s_openapi::api::events::v1::Event> = fx.app.api();
        let evs = serde_json::to_vec(&events.list(&ListParams::default()).await?.items)?;
        assert_absent(&evs, CANARY, "the Events").map_err(fmsg)?;
        assert_absent(&ctrl.logs(), CANARY, "the controller's log").map_err(fmsg)?;
        Ok(())
    })
}

/// A `templateFrom` entry with `target: Annotations` that renders a
/// Secret replicator's annotation, and one with `target: Labels` that
/// renders a `seal.dev/` label: refused as the template's own keys are
/// (`TemplateRefused`), without naming the key (template output).
fn rendered_keys_pass_the_deny_list() -> Result<(), Failed> {
    let fx = setup("esot-deny")?;
    env::block_on(async {
        let _ctrl = world(&fx, &[("to", "replicator.v1.mittwald.de/replicate-to")]).await?;
        let spec = "  target:\n    name: target\n    template:\n      templateFrom:\n      \
             - {target: Annotations, literal: \"{{ .to }}: '*'\"}\n  dataFrom:\n  - extract: {key: datamap}\n";
        apply(&fx, &external_secret(spec)).await?;
        let obj = wait_ready(&fx.es(), "es", "False", "TemplateRefused").await?;
        let message = ready_of(&obj).1.map(|c| c.2).unwrap_or_default();
        ensure(
            message.contains("spec.target.template.templateFrom") && !message.contains("mittwald"),
            format!("the field is named, the rendered key is not: {message}"),
        )?;
        ensure(fx.secrets().get_opt("target").await?.is_none(), "nothing is written")?;
        let patch = json!({"spec": {"target": {"template": {"templateFrom": [
            {"target": "Labels", "literal": "seal.dev/key: x"}
        ]}}}});
        fx.es().patch("es", &PatchParams::default(), &Patch::Merge(patch)).await?;
        let obj = wait_ready(&fx.es(), "es", "False", "TemplateRefused").await?;
        let message = ready_of(&obj).1.map(|c| c.2).unwrap_or_default();
        ensure(!message.contains("seal.dev/key"), format!("a reserved label key is not named: {message}"))?;
        Ok(())
    })
}

/// ESO: "should sync with template engine v2" (`syncWithTemplateV2`): no
/// `engineVersion` means v2.
fn should_sync_with_template_engine_v2() -> Result<(), Failed> {
    let fx = setup("esot-v2")?;
    env::block_on(async {
        let _ctrl = world(&fx, &[("unused", "x")]).await?;
        let spec = "  target:\n    name: target\n    template:\n      type: Opaque\n      data:\n        \
             targetProperty: \"{{ .targetProperty | upper }} was templated\"\n  data:\n  \
             - {secretKey: targetProperty, remoteRef: {key: app/es, property: value}}\n";
        apply(&fx, &external_secret(spec)).await?;
        let data = data_of(&synced(&fx).await?);
        ensure(data.get("targetProperty").map(String::as_str) == Some(EXPECTED_SECRET_VAL), "the templated value")?;
        Ok(())
    })
}

/// ESO: "should sync template from keys and values"
/// (`syncTemplateFromKeysAndValues`): a ConfigMap's and a Secret's item
/// read as `KeysAndValues`.
fn should_sync_template_from_keys_and_values() -> Result<(), Failed> {
    let fx = setup("esot-kv")?;
    env::block_on(async {
        let _ctrl = world(&fx, &[("targetKey", "map-foo-value"), ("targetValue", "map-bar-value")]).await?;
        let sources = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: template-cm, namespace: \"{NS}\"}\n\
             data:\n  tpl-from-key: \"{{ .targetKey }}-cm: {{ .targetValue }}\"\n---\n\
             apiVersion: v1\nkind: Secret\nmetadata:\n  name: template-secret\n  namespace: \"{NS}\"\n  \
             annotations: {seal.dev/allow-template-read: es}\n\
             stringData:\n  tpl-from-sec-key: \"{{ .targetKey }}-sec: {{ .targetValue }}\"\n";
        apply(&fx, sources).await?;
        let spec = "  target:\n    name: target\n    template:\n      type: Opaque\n      templateFrom:\n      \
             - configMap: {name: template-cm, items: [{key: tpl-from-key, templateAs: KeysAndValues}]}\n      \
             - secret: {name: template-secret, items: [{key: tpl-from-sec-key, templateAs: KeysAndValues}]}\n  \
             dataFrom:\n  - extract: {key: datamap}\n";
        apply(&fx, &external_secret(spec)).await?;
        let data = data_of(&synced(&fx).await?);
        ensure(data.get("map-foo-value-cm").map(String::as_str) == Some("map-bar-value"), "from the ConfigMap")?;
        ensure(data.get("map-foo-value-sec").map(String::as_str) == Some("map-bar-value"), "from the Secret")?;
        Ok(())
    })
}

/// ESO: "should fetch secret using dataFrom and a template"
/// (`syncWithDataFromTemplate`): a template with only a type keeps the
/// values read.
fn should_fetch_secret_using_datafrom_and_a_template() -> Result<(), Failed> {
    let fx = setup("esot-tls")?;
    env::block_on(async {
        let _ctrl = world(&fx, &[("tls.crt", "map-foo-value"), ("tls.key", "map-bar-value")]).await?;
        let spec = "  target:\n    name: target\n    template: {type: kubernetes.io/tls}\n  \
             dataFrom:\n  - extract: {key: datamap}\n";
        apply(&fx, &external_secret(spec)).await?;
        let s = synced(&fx).await?;
        ensure(s.type_.as_deref() == Some("kubernetes.io/tls"), "the type")?;
        let data = data_of(&s);
        ensure(data.get("tls.crt").map(String::as_str) == Some("map-foo-value"), "tls.crt")?;
        ensure(data.get("tls.key").map(String::as_str) == Some("map-bar-value"), "tls.key")?;
        Ok(())
    })
}

/// ESO: "should update template if ExternalSecret is updated"
/// (`templateShouldRewrite`): a changed template replaces the Secret's
/// keys; the old ones do not stay.
fn should_update_template_if_externalsecret_is_updated() -> Result<(), Failed> {
    let fx = setup("esot-rewrite")?;
    env::block_on(async {
        let _ctrl = world(&fx, &[("unused", "x")]).await?;
        let spec = "  target:\n    name: target\n    template:\n      data: {key: \"{{.targetProperty}}-foo\"}\n  data:\n  \
             - {secretKey: targetProperty, remoteRef: {key: app/es, property: value}}\n";
        apply(&fx, &external_secret(spec)).await?;
        ensure(data_of(&synced(&fx).await?).get("key").map(String::as_str) == Some("someValue-foo"), "first")?;
        let patch = json!({"spec": {"target": {"template": {"data": {"key": null, "new": "foo"}}}}});
        fx.es().patch("es", &PatchParams::default(), &Patch::Merge(patch)).await?;
        crate::fixtures::objects::wait_data(&fx.secrets(), "target", &[("new", "foo")]).await?;
        Ok(())
    })
}

/// ESO: "should keep data with templates if MergePolicy=Merge"
/// (`templateShouldMerge`).
fn should_keep_data_with_templates_if_mergepolicy_merge() -> Result<(), Failed> {
    let fx = setup("esot-merge")?;
    env::block_on(async {
        let _ctrl = world(&fx, &[("unused", "x")]).await?;
        let spec = "  target:\n    name: target\n    template:\n      mergePolicy: Merge\n      \
             data: {key: \"{{.targetProperty}}-foo\"}\n  data:\n  \
             - {secretKey: targetProperty, remoteRef: {key: app/es, property: value}}\n";
        apply(&fx, &external_secret(spec)).await?;
        let data = data_of(&synced(&fx).await?);
        ensure(data.get("key").map(String::as_str) == Some("someValue-foo"), "the template's key")?;
        ensure(data.get("targetProperty").map(String::as_str) == Some("someValue"), "the value read, kept")?;
        Ok(())
    })
}

/// ESO: "should refresh secret from template" (`refreshWithTemplate`): a
/// changed template's labels, annotations and data reach the Secret.
fn should_refresh_secret_from_template() -> Result<(), Failed> {
    let fx = setup("esot-refresh")?;
    env::block_on(async {
        let ctrl = world(&fx, &[("unused", "x")]).await?;
        let spec = format!(
            "  target:\n    name: target\n    template:\n      type: Opaque\n      metadata:\n        \
             labels: {{foo: bar}}\n        annotations: {{foo: bar}}\n        finalizers: [\"{FINALIZER}\"]\n      data:\n        \
             targetProperty: \"{TARGET_PROP_OBJ}\"\n        tplstatickey: tplstaticvalue\n  data:\n  \
             - {{secretKey: targetProperty, remoteRef: {{key: app/es, property: value}}}}\n"
        );
        apply(&fx, &external_secret(&spec)).await?;
        let s = synced(&fx).await?;
        ensure(label(&s, "foo") == Some("bar") && annotation(&s, "foo") == Some("bar"), "the metadata")?;
        ensure(finalizers(&s).contains(&FINALIZER.to_owned()), "the finalizer")?;
        let patch = json!({"spec": {"target": {"template": {
            "metadata": {"labels": {"fuzz": "buzz"}, "annotations": {"fuzz": "buzz"}},
            "data": {"new": "value"}
        }}}});
        fx.es().patch("es", &PatchParams::default(), &Patch::Merge(patch)).await?;
        let s = wait_for("the new template in the Secret", crate::fixtures::TIMEOUT, || async {
            let s = fx.secrets().get("target").await.map_err(|e| e.to_string())?;
            let done = data_of(&s).get("new").map(String::as_str) == Some("value")
                && label(&s, "fuzz") == Some("buzz")
                && annotation(&s, "fuzz") == Some("buzz");
            if done { Ok(Some(s)) } else { Err("not yet".to_owned()) }
        })
        .await?;
        ensure(label(&s, "foo") == Some("bar"), "the other label stays")?;
        release(&fx, ctrl).await
    })
}

/// ESO: "should refresh secret map when provider secret changes when using
/// a template" (`refreshSecretValueMapTemplate`): with an empty template
/// and `dataFrom.extract`, a key removed from the store leaves the Secret
/// at the next refresh (1 s).
fn should_refresh_secret_map_when_provider_secret_changes_when_using_a_template() -> Result<(), Failed> {
    let fx = setup("esot-refmap")?;
    env::block_on(async {
        let (_ctrl, mount) = world_and_mount(&fx, &[("foo", "1111"), ("bar", "2222")]).await?;
        let spec = "  target:\n    name: target\n    template: {}\n  dataFrom:\n  - extract: {key: datamap}\n";
        apply(&fx, &external_secret(spec)).await?;
        fx.es().patch("es", &PatchParams::default(), &Patch::Merge(json!({"spec": {"refreshInterval": "1s"}}))).await?;
        let data = data_of(&synced(&fx).await?);
        ensure(data.get("foo").map(String::as_str) == Some("1111"), "foo")?;
        ensure(data.get("bar").map(String::as_str) == Some("2222"), "bar")?;
        let root = env::bao()?.root()?;
        vaultrs::kv2::set(&root, &mount, "datamap", &kv(&[("foo", "1111")])).await?;
        crate::fixtures::objects::wait_data(&fx.secrets(), "target", &[("foo", "1111")]).await?;
        Ok(())
    })
}
