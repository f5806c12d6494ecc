//! PushSecret `template`, `dataTo` and `conversionStrategy` under seal's
//! own rules, through the real controller against OpenBao: a pushed or
//! rendered value reaches no status, Event or log line; `dataTo` reaches no
//! remote secret another PushSecret owns (neither to write nor to delete);
//! a `templateFrom` Secret is read only with the PushSecret's grant; what
//! seal cannot honour is refused naming the field.

use std::collections::BTreeMap;
use std::time::Duration;

use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams};
use libtest_mimic::{Failed, Trial};
use seal::api::push_secret::PushSecret;
use serde_json::{Value, json};

use crate::env::{self, ensure, wait_for};
use crate::fixtures::objects::{create, ready_of, wait_ready};
use crate::fixtures::{kubectl, setup};
use crate::push_eso::{nowhere, push_secret, remote_secrets, world};

/// The source's value: never in a status, an Event or a log.
const CANARY: &str = "canary-pushtpl-7Hv";
/// What the template renders from it.
const CANARY_RENDERED: &str = "CANARY-PUSHTPL-7HV";

pub fn trials() -> Vec<Trial> {
    vec![
        env::trial(
            "push_eso::a_pushed_or_rendered_value_never_reaches_status_events_or_the_log",
            a_pushed_or_rendered_value_never_reaches_status_events_or_the_log,
        ),
        env::trial(
            "push_eso::data_to_cannot_write_or_delete_a_path_another_push_secret_owns",
            data_to_cannot_write_or_delete_a_path_another_push_secret_owns,
        ),
        env::trial(
            "push_eso::what_seal_cannot_honour_in_a_push_secret_is_refused_by_name",
            what_seal_cannot_honour_in_a_push_secret_is_refused_by_name,
        ),
        env::trial(
            "push_eso::a_template_from_secret_is_read_only_with_the_push_secrets_grant",
            a_template_from_secret_is_read_only_with_the_push_secrets_grant,
        ),
    ]
}

/// `kubectl apply` of `manifest` in the test's namespace.
fn apply(fx: &crate::fixtures::Fx, manifest: &Value) -> Result<(), Failed> {
    let out = kubectl(fx.kubeconfig(), &["-n", fx.ns(), "apply", "-f", "-"]).stdin(manifest.to_string()).output()?;
    ensure(out.status.success(), format!("kubectl apply: {}", String::from_utf8_lossy(&out.stderr)))
}

/// The Ready message of a PushSecret, as JSON.
fn message(obj: &Value) -> String {
    ready_of(obj).1.map(|c| c.2).unwrap_or_default()
}

/// Waits until `name` is `Ready=False` with `reason`; returns its message.
async fn refused(api: &Api<PushSecret>, name: &str, reason: &str) -> Result<String, Failed> {
    Ok(message(&wait_ready(api, name, "False", reason).await?))
}

fn a_pushed_or_rendered_value_never_reaches_status_events_or_the_log() -> Result<(), Failed> {
    let fx = setup("push-eso-canary")?;
    let bao = env::bao()?;
    env::block_on(async {
        let (mounts, ctrl) = world(&fx, bao, &["test-store"], &[("password", CANARY), ("user", "admin")]).await?;
        let mount = mounts.get("test-store").ok_or("no mount")?;
        let pss: Api<PushSecret> = fx.app.api();
        // Rendered (also into a label and an annotation, pushed nowhere),
        // pushed as a property and in a dataTo bundle.
        let spec = json!({
            "template": {"metadata": {"labels": {"l": "{{ .password }}"}, "annotations": {"a": "{{ .password | upper }}"}},
                         "data": {"rendered": "{{ .password | upper }}"}},
            "data": [{"match": {"secretKey": "rendered", "remoteRef": {"remoteKey": "app/rendered", "property": "p"}}}],
            "dataTo": [{"storeRef": {"name": "test-store"}, "remoteKey": "app/bundle", "match": {"regexp": "^(password|user)$"}}]
        });
        create(&pss, push_secret("ok", spec)).await?;
        wait_ready(&pss, "ok", "True", "Synced").await?;
        let got = remote_secrets(bao, mount).await?;
        ensure(
            got.get("app/rendered") == Some(&json!({"p": CANARY_RENDERED})),
            format!("the rendered value: {got:?}"),
        )?;
        ensure(
            got.get("app/bundle") == Some(&json!({"password": CANARY, "user": "admin"})),
            format!("the bundle: {got:?}"),
        )?;
        // Failures that could quote a value: a template function refusing
        // it, a per-key dataTo entry whose value is no JSON object.
        create(
            &pss,
            push_secret(
                "bad-tpl",
                json!({"template": {"data": {"x": "{{ .password | b64dec }}"}},
            "data": [{"match": {"secretKey": "x", "remoteRef": {"remoteKey": "app/x", "property": "p"}}}]}),
            ),
        )
        .await?;
        refused(&pss, "bad-tpl", "TemplateFailed").await?;
        create(
            &pss,
            push_secret(
                "bad-json",
                json!({"dataTo": [{"storeRef": {"name": "test-store"}, "match": {"regexp": "^password$"}}]}),
            ),
        )
        .await?;
        let m = refused(&pss, "bad-json", "StoreMisconfigured").await?;
        ensure(m.contains("must be a JSON object"), format!("why: {m}"))?;
        for name in ["ok", "bad-tpl", "bad-json"] {
            nowhere(&fx, &ctrl, name, CANARY).await?;
            nowhere(&fx, &ctrl, name, CANARY_RENDERED).await?;
        }
        Ok(())
    })
}

fn data_to_cannot_write_or_delete_a_path_another_push_secret_owns() -> Result<(), Failed> {
    let fx = setup("push-eso-owner")?;
    let bao = env::bao()?;
    env::block_on(async {
        let source = [("password", CANARY), ("evil", r#"{"password":"overwritten"}"#)];
        let (mounts, ctrl) = world(&fx, bao, &["test-store"], &source).await?;
        let mount = mounts.get("test-store").ok_or("no mount")?;
        let pss: Api<PushSecret> = fx.app.api();
        let victim = json!({"data": [{"match": {"secretKey": "password", "remoteRef": {"remoteKey": "team/db", "property": "password"}}}]});
        create(&pss, push_secret("victim", victim)).await?;
        wait_ready(&pss, "victim", "True", "Synced").await?;
        let intact = || async {
            let got = remote_secrets(bao, mount).await?;
            ensure(got.get("team/db") == Some(&json!({"password": CANARY})), format!("the victim's secret: {got:?}"))
        };
        // Per key, renamed onto the victim's path; and as a bundle there.
        let per_key = json!({"deletionPolicy": "Delete", "dataTo": [{"storeRef": {"name": "test-store"}, "match": {"regexp": "^evil$"},
            "rewrite": [{"regexp": {"source": "^evil$", "target": "team/db"}}]}]});
        let bundle = json!({"deletionPolicy": "Delete", "dataTo": [{"storeRef": {"name": "test-store"}, "remoteKey": "team/db"}]});
        for (name, spec) in [("per-key", per_key), ("bundle", bundle)] {
            create(&pss, push_secret(name, spec)).await?;
            let m = refused(&pss, name, "StoreAccessDenied").await?;
            ensure(m.contains("team/db"), format!("{name}: the path is named: {m}"))?;
            intact().await?;
            pss.delete(name, &DeleteParams::default()).await?;
            wait_for(&format!("{name} to go"), Duration::from_secs(60), || async {
                Ok::<_, String>(pss.get_opt(name).await.map_err(|e| e.to_string())?.is_none().then_some(()))
            })
            .await?;
            intact().await?;
        }
        nowhere(&fx, &ctrl, "victim", CANARY).await
    })
}

fn what_seal_cannot_honour_in_a_push_secret_is_refused_by_name() -> Result<(), Failed> {
    let fx = setup("push-eso-refused")?;
    let bao = env::bao()?;
    env::block_on(async {
        let (mounts, _ctrl) = world(&fx, bao, &["test-store"], &[("k", "v")]).await?;
        let pss: Api<PushSecret> = fx.app.api();
        let data = json!([{"match": {"secretKey": "k", "remoteRef": {"remoteKey": "app/k", "property": "p"}}}]);
        let cases = [
            (
                "merge-replace",
                json!({"data": data, "template": {"mergePolicy": "Replace", "data": {"k": "x"}}}),
                "Unsupported",
                "spec.template.mergePolicy",
            ),
            (
                "immutable",
                json!({"data": data, "template": {"immutable": true}}),
                "Unsupported",
                "spec.template.immutable",
            ),
            (
                "engine-v1",
                json!({"data": data, "template": {"engineVersion": "v1"}}),
                "TemplateFailed",
                "spec.template.engineVersion",
            ),
            (
                "to-metadata",
                json!({"dataTo": [{"storeRef": {"name": "test-store"}, "metadata": {"x": 1}}]}),
                "Unsupported",
                "spec.dataTo[0].metadata",
            ),
            (
                "data-metadata",
                json!({"data": [{"match": {"secretKey": "k", "remoteRef": {"remoteKey": "app/k"}}, "metadata": {"x": 1}}]}),
                "Unsupported",
                "spec.data[0].metadata",
            ),
        ];
        for (name, spec, reason, field) in cases {
            // kubectl, as a user applies it: seal's typed client would drop
            // the fields it does not declare before sending.
            apply(&fx, &push_secret(name, spec))?;
            let m = refused(&pss, name, reason).await?;
            ensure(m.contains(field), format!("{name}: the field {field} is named: {m}"))?;
        }
        // A conversion strategy ESO does not define: refused by the API server.
        let other = push_secret(
            "other",
            json!({"data": [{"conversionStrategy": "Unicode", "match": {"secretKey": "k", "remoteRef": {"remoteKey": "app/k"}}}]}),
        );
        ensure(apply(&fx, &other).is_err(), "conversionStrategy: Unicode was accepted")?;
        let got = remote_secrets(bao, mounts.get("test-store").ok_or("no mount")?).await?;
        ensure(got.is_empty(), format!("nothing is pushed: {got:?}"))
    })
}

fn a_template_from_secret_is_read_only_with_the_push_secrets_grant() -> Result<(), Failed> {
    let fx = setup("push-eso-grant")?;
    let bao = env::bao()?;
    env::block_on(async {
        let (mounts, _ctrl) = world(&fx, bao, &["test-store"], &[("k", "v")]).await?;
        let tpl = json!({"metadata": {"name": "tpl"}, "stringData": {"t": "{{ .k }}-templated"}});
        create(&fx.secrets(), tpl).await?;
        let pss: Api<PushSecret> = fx.app.api();
        let spec = json!({"template": {"templateFrom": [{"secret": {"name": "tpl", "items": [{"key": "t"}]}}]},
                          "data": [{"match": {"secretKey": "t", "remoteRef": {"remoteKey": "app/t", "property": "p"}}}]});
        create(&pss, push_secret("ps", spec)).await?;
        let m = refused(&pss, "ps", "SecretNotShared").await?;
        ensure(m.contains("PushSecret/ps"), format!("the grant to give is named: {m}"))?;
        // The grant of an ExternalSecret of the same name is not this one's.
        let grant = |who: &str| json!({"metadata": {"annotations": {"seal.dev/allow-template-read": who}}});
        // (A new generation each time: the status then shows a reconcile
        // that saw the annotation.)
        let bump = |every: &str| json!({"spec": {"refreshInterval": every}});
        fx.secrets().patch("tpl", &PatchParams::default(), &Patch::Merge(grant("ps"))).await?;
        pss.patch("ps", &PatchParams::default(), &Patch::Merge(bump("2h"))).await?;
        refused(&pss, "ps", "SecretNotShared").await?;
        fx.secrets().patch("tpl", &PatchParams::default(), &Patch::Merge(grant("PushSecret/ps"))).await?;
        pss.patch("ps", &PatchParams::default(), &Patch::Merge(bump("3h"))).await?;
        wait_ready(&pss, "ps", "True", "Synced").await?;
        let got = remote_secrets(bao, mounts.get("test-store").ok_or("no mount")?).await?;
        let want: BTreeMap<String, Value> = [("app/t".to_owned(), json!({"p": "v-templated"}))].into();
        ensure(got == want, format!("the templated value: {got:?}"))
    })
}
