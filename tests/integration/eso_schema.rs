//! Fields of External Secrets Operator's schemas that seal does not
//! implement are kept by the CRDs and refused by the controller with reason
//! `Unsupported`, naming them: an ESO manifest applied as it is never loses
//! a field without a word (the API server pruned them before).

use kube::api::{Patch, PatchParams};
use libtest_mimic::{Failed, Trial};
use serde_json::json;

use crate::env::{self, ensure, wait_for};
use crate::fixtures::objects::{kv, put_secret, ready_of, wait_ready};
use crate::fixtures::{Fx, Opts, kubectl, setup};

pub fn trials() -> Vec<Trial> {
    vec![env::trial(
        "eso_schema::an_eso_field_seal_does_not_implement_is_kept_and_refused_as_unsupported_by_name",
        unsupported_fields,
    )]
}

/// `kubectl apply -f -` (client-side, as users apply by default).
async fn apply(fx: &Fx, yaml: &str) -> Result<(), Failed> {
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

fn message(obj: &serde_json::Value) -> String {
    ready_of(obj).1.map(|c| c.2).unwrap_or_default()
}

fn unsupported_fields() -> Result<(), Failed> {
    let fx = setup("esos-unsupported")?;
    let bao = env::bao()?;
    env::block_on(async {
        let root = bao.root()?;
        let mount = bao.enable_kv2().await?;
        vaultrs::kv2::set(&root, &mount, "app/db", &kv(&[("password", "pw")])).await?;
        put_secret(&fx.secrets(), "vault-token", "token", &bao.root_token).await?;
        let store = format!(
            "apiVersion: seal.dev/v1alpha1\nkind: SecretStore\nmetadata: {{name: vault-backend, namespace: \"{{NS}}\"}}\n\
             spec:\n  provider:\n    vault: {{server: \"{}\", path: {mount}, version: v2, allowInsecureHttp: true,\n      \
             auth: {{tokenSecretRef: {{name: vault-token, key: token}}}}}}\n",
            bao.addr
        );
        apply(&fx, &store).await?;
        let _ctrl = fx.start(Opts::default()).await?;
        // ESO's `nullBytePolicy` and `target.manifest`, as ESO's docs write them.
        let es = "apiVersion: seal.dev/v1alpha1\nkind: ExternalSecret\nmetadata: {name: db, namespace: \"{NS}\"}\nspec:\n  \
             secretStoreRef: {name: vault-backend, kind: SecretStore}\n  target:\n    name: db\n    \
             manifest: {apiVersion: v1, kind: ConfigMap}\n  data:\n  \
             - {secretKey: password, remoteRef: {key: app/db, property: password, nullBytePolicy: Fail}}\n";
        apply(&fx, es).await?;
        let obj = wait_ready(&fx.es(), "db", "False", "Unsupported").await?;
        let m = message(&obj);
        ensure(
            m.contains("spec.data[0].remoteRef.nullBytePolicy") && m.contains("spec.target.manifest"),
            format!("both fields are named: {m}"),
        )?;
        let jsonpath = "jsonpath={.spec.target.manifest.kind}";
        let kept = kubectl(fx.kubeconfig(), &["get", "externalsecrets.seal.dev", "db", "-n", fx.ns(), "-o", jsonpath])
            .output()
            .map_err(|e| format!("{e:?}"))?;
        ensure(String::from_utf8_lossy(&kept.stdout) == "ConfigMap", "the API server kept the field")?;
        ensure(fx.secrets().get_opt("db").await?.is_none(), "nothing is written")?;
        // Removing the fields makes it work.
        let patch = json!([
            {"op": "remove", "path": "/spec/target/manifest"},
            {"op": "remove", "path": "/spec/data/0/remoteRef/nullBytePolicy"}
        ]);
        fx.es().patch("db", &PatchParams::default(), &Patch::<()>::Json(serde_json::from_value(patch)?)).await?;
        wait_ready(&fx.es(), "db", "True", "Materialized").await?;

        // A store option of ESO's Vault provider seal does not implement:
        // the store is Unsupported, and an ExternalSecret using it is too.
        let patch = json!({"spec": {"provider": {"vault": {"readYourWrites": true}}}});
        fx.stores().patch("vault-backend", &PatchParams::default(), &Patch::Merge(patch)).await?;
        let s = wait_ready(&fx.stores(), "vault-backend", "False", "Unsupported").await?;
        ensure(
            message(&s).contains("spec.provider.vault.readYourWrites"),
            format!("the store's field: {}", message(&s)),
        )?;
        fx.es()
            .patch(
                "db",
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"annotations": {"force-sync": "1"}}})),
            )
            .await?;
        let obj = wait_for("the ExternalSecret to refuse the store", crate::fixtures::TIMEOUT, || async {
            let o =
                serde_json::to_value(fx.es().get("db").await.map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
            let (_, c) = ready_of(&o);
            match c {
                Some((_, r, _, _)) if r == "Unsupported" => Ok(Some(o)),
                _ => Err(crate::fixtures::objects::describe(&o)),
            }
        })
        .await?;
        ensure(message(&obj).contains("readYourWrites"), format!("the store's field is named: {}", message(&obj)))?;
        Ok(())
    })
}
