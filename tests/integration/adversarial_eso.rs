//! Attacks through ExternalSecret templates by a tenant who may create
//! seal's resources, ConfigMaps and its own Secrets in one namespace, but
//! may not read the Secrets it did not write: each test is named after the
//! attack and shows it refused with a precise reason, the victim's value in
//! no Secret, Vault path, status, Event or log line, and the controller
//! still serving another namespace.

use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use libtest_mimic::{Failed, Trial};
use seal::api::ExternalSecret;
use serde_json::{Value, json};

use crate::env::{self, ensure, wait_for};
use crate::fixtures::kubectl;
use crate::fixtures::objects::{
    create, create_es, create_store, events, kv, put_secret, ready_of, token_auth, vault, wait_data, wait_event,
    wait_ready,
};
use crate::fixtures::{Opts, setup};
use crate::support::assert_absent;

/// Every ExternalSecret template attack test.
pub fn trials() -> Vec<Trial> {
    vec![
        env::trial(
            "adversarial_eso::a_template_cannot_copy_a_secret_its_owner_did_not_share",
            a_template_cannot_copy_a_secret_its_owner_did_not_share,
        ),
        env::trial(
            "adversarial_eso::status_events_and_logs_never_carry_template_output_or_refusal_text",
            status_events_and_logs_never_carry_template_output_or_refusal_text,
        ),
        env::trial(
            "adversarial_eso::template_work_is_bounded_and_other_namespaces_keep_working",
            template_work_is_bounded_and_other_namespaces_keep_working,
        ),
    ]
}

const VICTIM: &str = "canary-Vict1m-t0ken-Hq4";
const STORE_CANARY: &str = "canary-St0re value/Zp2";

/// Every Secret of `api`'s namespace except `except`, as JSON bytes.
async fn other_secrets(api: &Api<Secret>, except: &str) -> Result<Vec<u8>, Failed> {
    let list = api.list(&Default::default()).await?;
    let mut out = Vec::new();
    for s in list.items.into_iter().filter(|s| s.metadata.name.as_deref() != Some(except)) {
        out.extend(serde_json::to_vec(&s)?);
    }
    Ok(out)
}

/// The Ready message of an ExternalSecret.
fn message(obj: &Value) -> String {
    ready_of(obj).1.map(|c| c.2).unwrap_or_default()
}

/// The attack of the issue, end to end: a tenant renders a victim Secret
/// through `templateFrom` into a Secret of its own (Merge, with its own
/// consent annotations), then a PushSecret sends it to a Vault path the
/// tenant reads. The victim granted nothing: nothing is read, nothing
/// leaves. The grant, once given, is what makes the same object work.
fn a_template_cannot_copy_a_secret_its_owner_did_not_share() -> Result<(), Failed> {
    let fx = setup("adv-eso-copy")?;
    let bao = env::bao()?;
    let ns = fx.ns().to_owned();
    env::block_on(async {
        let root = bao.root()?;
        let mount = bao.enable_kv2().await?;
        vaultrs::kv2::set(&root, &mount, "tenant/plain", &kv(&[("x", "y")])).await?;
        put_secret(&fx.secrets(), "vault-token", "token", &bao.root_token).await?;
        create_store(&fx.stores(), "vault", vault(&bao.addr, &mount, "v2", token_auth("vault-token"))).await?;
        let secrets = fx.secrets();
        // The victim: another account's token in the same namespace.
        create(&secrets, json!({"metadata": {"name": "victim"}, "stringData": {"token": VICTIM}})).await?;
        // The tenant's own Secret, with every consent the tenant can give.
        create(
            &secrets,
            json!({"metadata": {"name": "mine", "annotations": {
                "seal.dev/allow-merge-from": "loot", "seal.dev/allow-push": "exfil"}},
                "stringData": {"seed": "1"}}),
        )
        .await?;
        let ctrl = fx.start(Opts::default()).await?;
        let tpl = json!({"engineVersion": "v2", "mergePolicy": "Merge", "templateFrom": [
            {"secret": {"name": "victim", "items": [{"key": "token", "templateAs": "Values"}]}}]});
        create_es(
            &fx.es(),
            "loot",
            "vault",
            json!({"refreshInterval": "2s",
                   "target": {"name": "mine", "creationPolicy": "Merge", "template": tpl},
                   "data": [{"secretKey": "x", "remoteRef": {"key": "tenant/plain", "property": "x"}}]}),
        )
        .await?;
        create(
            &fx.app.api::<seal::api::push_secret::PushSecret>(),
            json!({"apiVersion": "seal.dev/v1alpha1", "kind": "PushSecret", "metadata": {"name": "exfil"},
                   "spec": {"refreshInterval": "2s",
                            "secretStoreRefs": [{"name": "vault", "kind": "SecretStore"}],
                            "selector": {"secret": {"name": "mine"}},
                            "data": [{"match": {"secretKey": "token", "remoteRef": {"remoteKey": "tenant/out"}}}]}}),
        )
        .await?;
        let es = fx.es();
        let obj = wait_ready(&es, "loot", "False", "SecretNotShared").await?;
        let msg = message(&obj);
        ensure(
            msg.contains("templateFrom[0].secret") && msg.contains("seal.dev/allow-template-read"),
            format!("the refusal names the field and the grant: {msg}"),
        )?;
        // Several refresh periods: the value is nowhere. The ExternalSecret
        // and the PushSecret (the test's only ones) are reconciled again
        // after a touch, so a stalled controller cannot pass.
        ctrl.wait_reconciles_after("ExternalSecret", 1, async { fx.touch("externalsecret", "loot") }).await?;
        ctrl.wait_reconciles_after("PushSecret", 1, async { fx.touch("pushsecret", "exfil") }).await?;
        tokio::time::sleep(Duration::from_secs(6)).await;
        assert_absent(&other_secrets(&secrets, "victim").await?, VICTIM, "another Secret of the namespace")?;
        let out = vaultrs::kv2::read::<std::collections::HashMap<String, String>>(&root, &mount, "tenant/out").await;
        assert_absent(format!("{out:?}").as_bytes(), VICTIM, "the tenant's Vault path")?;
        assert_absent(&serde_json::to_vec(&es.get("loot").await?)?, VICTIM, "the ExternalSecret")?;
        let evs = events(&fx.cluster.admin(), &ns, "loot").await?;
        assert_absent(format!("{evs:?}").as_bytes(), VICTIM, "the Events")?;
        assert_absent(&ctrl.logs(), VICTIM, "the controller's log")?;

        // The victim's owner grants this one ExternalSecret: the same object
        // now works (so the refusal above was the grant, not a broken spec).
        kubectl(
            &fx.cluster.kubeconfig,
            &["-n", &ns, "annotate", "secret", "victim", "seal.dev/allow-template-read=loot"],
        )
        .ok()?;
        wait_ready(&es, "loot", "True", "Materialized").await?;
        wait_for("the granted value in the tenant's Secret", Duration::from_secs(60), || async {
            let s = secrets.get("mine").await.map_err(|e| e.to_string())?;
            let got = s.data.unwrap_or_default().get("token").map(|v| v.0.clone());
            Ok::<_, String>((got.as_deref() == Some(VICTIM.as_bytes())).then_some(()))
        })
        .await?;
        Ok::<_, Failed>(())
    })
}

/// Values reach status through four doors, each closed: `required`'s
/// message, a value used as a Secret key, an API server refusal quoting a
/// value, and the engine's own error text.
fn status_events_and_logs_never_carry_template_output_or_refusal_text() -> Result<(), Failed> {
    let fx = setup("adv-eso-status")?;
    let bao = env::bao()?;
    let ns = fx.ns().to_owned();
    env::block_on(async {
        let root = bao.root()?;
        let mount = bao.enable_kv2().await?;
        vaultrs::kv2::set(&root, &mount, "admin/v", &kv(&[("v", STORE_CANARY), ("n", "9081726354")])).await?;
        put_secret(&fx.secrets(), "vault-token", "token", &bao.root_token).await?;
        create_store(&fx.stores(), "vault", vault(&bao.addr, &mount, "v2", token_auth("vault-token"))).await?;
        let ctrl = fx.start(Opts::default()).await?;
        let data = json!([{"secretKey": "v", "remoteRef": {"key": "admin/v", "property": "v"}},
                          {"secretKey": "n", "remoteRef": {"key": "admin/v", "property": "n"}}]);
        let cases = [
            ("required", json!({"data": {"x": "{{ required .v \"\" }}"}}), "TemplateFailed"),
            ("as-key", json!({"templateFrom": [{"literal": "\"{{ .v }}\": x"}]}), "InvalidDocument"),
            (
                "docker",
                json!({"type": "kubernetes.io/dockerconfigjson", "data": {".dockerconfigjson": "{{ .v }}"}}),
                "WriteFailed",
            ),
            ("engine", json!({"data": {"x": "{{ len (fromJson .n) }}"}}), "TemplateFailed"),
        ];
        let es: Api<ExternalSecret> = fx.es();
        for (name, template, _) in &cases {
            let mut template = template.clone();
            template["engineVersion"] = json!("v2");
            create_es(
                &es,
                name,
                "vault",
                json!({"refreshInterval": "1h", "target": {"template": template}, "data": data}),
            )
            .await?;
        }
        for (name, _, reason) in &cases {
            let obj = wait_ready(&es, name, "False", reason).await?;
            let bytes = serde_json::to_vec(&obj)?;
            assert_absent(&bytes, STORE_CANARY, &format!("{name}'s status"))?;
            assert_absent(&bytes, "9081726354", &format!("{name}'s status"))?;
            wait_event(&fx.cluster.admin(), &ns, name, "Warning", reason).await?;
            let evs = events(&fx.cluster.admin(), &ns, name).await?;
            assert_absent(format!("{evs:?}").as_bytes(), STORE_CANARY, &format!("{name}'s Events"))?;
            assert_absent(format!("{evs:?}").as_bytes(), "9081726354", &format!("{name}'s Events"))?;
        }
        let refusal = message(&serde_json::to_value(es.get("docker").await?)?);
        ensure(refusal.contains("422"), format!("the refusal gives the API server's code: {refusal}"))?;
        // The API server's own text (which quotes characters of the value)
        // is not repeated.
        ensure(!refusal.contains("invalid character"), format!("the API server's text is repeated: {refusal}"))?;
        // The Secret key made of a value is counted, not quoted.
        let as_key = message(&serde_json::to_value(es.get("as-key").await?)?);
        ensure(as_key.contains("1 of the Secret's keys"), format!("the invalid key is counted: {as_key}"))?;
        assert_absent(&ctrl.logs(), STORE_CANARY, "the controller's log")?;
        assert_absent(&ctrl.logs(), "9081726354", "the controller's log")?;
        ensure(fx.secrets().get_opt("docker").await?.is_none(), "no Secret was written for the refused type")?;
        Ok::<_, Failed>(())
    })
}

/// Templates that cost minutes of CPU or hundreds of MiB each before the
/// work budget: refused in one reconcile, while another namespace's
/// ExternalSecret materializes, `/healthz` answers and the controller's
/// peak memory stays under the shipped 256 MiB limit.
fn template_work_is_bounded_and_other_namespaces_keep_working() -> Result<(), Failed> {
    let fx = setup("adv-eso-work")?;
    let bao = env::bao()?;
    env::block_on(async {
        let other = fx.namespace("adv-eso-work-other").await?;
        let root = bao.root()?;
        let mount = bao.enable_kv2().await?;
        // 960 KiB values: the largest a Secret holds comfortably.
        let big = "x".repeat(960 * 1024);
        let commas = ",".repeat(960 * 1024);
        // One value a path: a store's answer is capped at 1 MiB.
        vaultrs::kv2::set(&root, &mount, "big/v", &json!({"big": big})).await?;
        vaultrs::kv2::set(&root, &mount, "big/c", &json!({"commas": commas})).await?;
        vaultrs::kv2::set(&root, &mount, "ok/v", &kv(&[("v", "fine")])).await?;
        for api in [fx.secrets(), other.api()] {
            put_secret(&api, "vault-token", "token", &bao.root_token).await?;
        }
        for api in [fx.stores(), other.api()] {
            create_store(&api, "vault", vault(&bao.addr, &mount, "v2", token_auth("vault-token"))).await?;
        }
        let ctrl = fx.start(Opts::watching(&[&other.name])).await?;
        let data = json!([{"secretKey": "big", "remoteRef": {"key": "big/v", "property": "big"}},
                          {"secretKey": "commas", "remoteRef": {"key": "big/c", "property": "commas"}}]);
        let hostile = [
            ("hash-loop", "{{ range 100000 }}{{ $h := sha256sum $.big }}{{ end }}", "in one reconcile"),
            ("split-lists", "{{ range 8 }}{{ $l := splitList \",\" $.commas }}{{ end }}", "elements"),
            ("deep-lists", "{{ $x := list }}{{ range 100000 }}{{ $x = list $x }}{{ end }}{{ $x }}", "deeper than"),
        ];
        let es: Api<ExternalSecret> = fx.es();
        for (name, tpl, _) in hostile {
            // The same template under many keys: one budget for the object.
            let many: serde_json::Map<String, Value> = (0..20).map(|i| (format!("k{i}"), json!(tpl))).collect();
            create_es(
                &es,
                name,
                "vault",
                json!({"refreshInterval": "5s", "data": data,
                       "target": {"template": {"engineVersion": "v2", "data": many}}}),
            )
            .await?;
        }
        let started = std::time::Instant::now();
        create_es(
            &other.api(),
            "fine",
            "vault",
            json!({"refreshInterval": "1h", "data": [{"secretKey": "v", "remoteRef": {"key": "ok/v", "property": "v"}}]}),
        )
        .await?;
        wait_data(&other.api(), "fine", &[("v", "fine")]).await?;
        let other_took = started.elapsed();
        for (name, _, needle) in hostile {
            let obj = wait_ready(&es, name, "False", "TemplateFailed").await?;
            let msg = message(&obj);
            ensure(msg.contains(needle), format!("{name}: the refusal names the bound: {msg}"))?;
        }
        // Several refreshes of the hostile objects while the controller serves.
        for _ in 0..6 {
            ctrl.get_ok("/healthz").await?;
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        ctrl.alive()?;
        let peak = ctrl.peak_rss_kib()?;
        ensure(peak < 256 * 1024, format!("peak RSS {} MiB, over 256 MiB", peak / 1024))?;
        ensure(
            other_took < Duration::from_secs(30),
            format!("another namespace's ExternalSecret took {other_took:?} beside the hostile ones"),
        )?;
        eprintln!("template_work_is_bounded: peak RSS {} MiB, other namespace ready in {other_took:?}", peak / 1024);
        Ok::<_, Failed>(())
    })
}
