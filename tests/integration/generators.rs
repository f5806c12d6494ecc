//! ESO's `UUID` and `SSHKey` generators through the real controller: an
//! ExternalSecret whose `dataFrom` names them gets ESO's keys (`uuid`;
//! `privateKey`, `publicKey`), the private key is one `ssh-keygen` reads and
//! derives the same public key from, values stay put across a reconcile
//! within one refresh, and none of them reaches status or Events. ESO's
//! default (RSA 2048) is made; a spec seal cannot honour (an RSA size other
//! than 2048, 3072 or 4096) is refused naming the field. A
//! PushSecret pushes a generator's values (`selector.generatorRef`).

use std::time::Duration;

use k8s_openapi::api::events::v1::Event;
use kube::Api;
use kube::api::ListParams;
use libtest_mimic::{Failed, Trial};
use seal::api::push_secret::PushSecret;
use serde_json::json;

use crate::env::{self, ensure};
use crate::fixtures::objects::{create, create_store, put_secret, ready_of, token_auth, vault, wait_ready};
use crate::fixtures::{Opts, kubectl, setup};
use crate::support::{Run, assert_absent, tool};

pub fn trials() -> Vec<Trial> {
    vec![
        env::trial("generators::uuid_and_ssh_key_generators_fill_eso_keys", uuid_and_ssh_key),
        env::trial("generators::a_push_secret_pushes_a_generators_values", push_generated),
    ]
}

/// ESO's PushSecret `selector.generatorRef`: the generator's values are
/// pushed under its keys (no Secret, so no consent to ask), the same value
/// at each push within one refresh interval, and none in the status.
fn push_generated() -> Result<(), Failed> {
    let fx = setup("gen-push")?;
    let bao = env::bao()?;
    env::block_on(async {
        let mount = bao.enable_kv2().await?;
        put_secret(&fx.secrets(), "vault-token", "token", &bao.root_token).await?;
        create_store(&fx.stores(), "kv", vault(&bao.addr, &mount, "v2", token_auth("vault-token"))).await?;
        let uuids: Api<seal::api::generator::Uuid> = fx.app.api();
        create(
            &uuids,
            json!({"apiVersion": "seal.dev/v1alpha1", "kind": "UUID", "metadata": {"name": "id"}, "spec": {}}),
        )
        .await?;
        let pss: Api<PushSecret> = fx.app.api();
        create(&pss, json!({"apiVersion": "seal.dev/v1alpha1", "kind": "PushSecret", "metadata": {"name": "push-id"},
            "spec": {"refreshInterval": "1h", "secretStoreRefs": [{"name": "kv"}],
                     "selector": {"generatorRef": {"apiVersion": "seal.dev/v1alpha1", "kind": "UUID", "name": "id"}},
                     "data": [{"match": {"secretKey": "uuid", "remoteRef": {"remoteKey": "app/id", "property": "id"}}}]}}))
        .await?;
        let ctrl = fx.start(Opts::default()).await?;
        let obj = wait_ready(&pss, "push-id", "True", "Synced").await?;
        let root = bao.root()?;
        let remote: std::collections::BTreeMap<String, String> = vaultrs::kv2::read(&root, &mount, "app/id").await?;
        let id = remote.get("id").cloned().unwrap_or_default();
        ensure(
            id.len() == 36 && id.as_bytes().get(14) == Some(&b'4'),
            format!("a version 4 UUID in the store: {id:?}"),
        )?;
        assert_absent(&serde_json::to_vec(&obj)?, &id, "the PushSecret")?;
        let events: Api<Event> = fx.app.api();
        assert_absent(&serde_json::to_vec(&events.list(&ListParams::default()).await?.items)?, &id, "the Events")?;
        assert_absent(&ctrl.logs(), &id, "the controller's log")?;
        // Neither a Secret nor a generator: refused by the API server.
        let out = kubectl(&fx.cluster.kubeconfig, &["-n", fx.ns(), "apply", "-f", "-"])
            .stdin(
                "apiVersion: seal.dev/v1alpha1\nkind: PushSecret\nmetadata: {name: neither}\nspec:\n  secretStoreRefs: [{name: kv}]\n  selector: {}\n",
            )
            .output()?;
        ensure(!out.status.success(), "a PushSecret with an empty selector was accepted")?;
        Ok::<_, Failed>(())
    })
}

fn uuid_and_ssh_key() -> Result<(), Failed> {
    let fx = setup("gen-ssh")?;
    let ns = fx.ns().to_owned();
    env::block_on(async {
        let ctrl = fx.start(Opts::default()).await?;
        let uuids: Api<seal::api::generator::Uuid> = fx.app.api();
        // As ESO's documentation writes it, and with the empty spec left out (as ESO allows).
        create(
            &uuids,
            json!({"apiVersion": "seal.dev/v1alpha1", "kind": "UUID", "metadata": {"name": "id"}, "spec": {}}),
        )
        .await?;
        kubectl(&fx.cluster.kubeconfig, &["-n", &ns, "apply", "-f", "-"])
            .stdin("apiVersion: seal.dev/v1alpha1\nkind: UUID\nmetadata:\n  name: bare\n")
            .ok()
            .map_err(crate::fixtures::fmsg)?;
        let keys: Api<seal::api::generator::SshKey> = fx.app.api();
        for (name, spec) in [
            ("deploy-key", json!({"keyType": "ed25519", "comment": "deploy@ci"})),
            ("ec-key", json!({"keyType": "ecdsa", "keySize": 256})),
            ("eso-default", json!({})),
            ("rsa-8192", json!({"keyType": "rsa", "keySize": 8192})),
        ] {
            create(
                &keys,
                json!({"apiVersion": "seal.dev/v1alpha1", "kind": "SSHKey", "metadata": {"name": name}, "spec": spec}),
            )
            .await?;
        }
        let es = fx.es();
        let gen_ref = |kind: &str, name: &str| json!({"sourceRef": {"generatorRef": {"apiVersion": "seal.dev/v1alpha1", "kind": kind, "name": name}}});
        for (name, refs) in [
            ("ed", vec![gen_ref("UUID", "id"), gen_ref("SSHKey", "deploy-key")]),
            ("bare", vec![gen_ref("UUID", "bare")]),
            ("ec", vec![gen_ref("SSHKey", "ec-key")]),
            ("rsa", vec![gen_ref("SSHKey", "eso-default")]),
            ("rsa-big", vec![gen_ref("SSHKey", "rsa-8192")]),
        ] {
            create(
                &es,
                json!({"apiVersion": "seal.dev/v1alpha1", "kind": "ExternalSecret", "metadata": {"name": name},
                "spec": {"refreshInterval": "1h", "target": {"name": name}, "dataFrom": refs}}),
            )
            .await?;
        }
        let obj = wait_ready(&es, "ed", "True", "Materialized").await?;
        wait_ready(&es, "ec", "True", "Materialized").await?;
        wait_ready(&es, "bare", "True", "Materialized").await?;
        wait_ready(&es, "rsa", "True", "Materialized").await?;
        let secrets = fx.secrets();
        let data = |s: k8s_openapi::api::core::v1::Secret| -> std::collections::BTreeMap<String, Vec<u8>> {
            s.data.unwrap_or_default().into_iter().map(|(k, v)| (k, v.0)).collect()
        };
        let ed = data(secrets.get("ed").await?);
        ensure(
            ed.keys().map(String::as_str).collect::<Vec<_>>() == ["privateKey", "publicKey", "uuid"],
            format!("ESO's keys: {:?}", ed.keys().collect::<Vec<_>>()),
        )?;
        let uuid = String::from_utf8(ed.get("uuid").cloned().unwrap_or_default())?;
        ensure(uuid.len() == 36 && uuid.as_bytes().get(14) == Some(&b'4'), format!("a version 4 UUID: {uuid}"))?;
        for (secret, want_type) in [
            (ed.clone(), "ssh-ed25519"),
            (data(secrets.get("ec").await?), "ecdsa-sha2-nistp256"),
            (data(secrets.get("rsa").await?), "ssh-rsa"),
        ] {
            let public = String::from_utf8(secret.get("publicKey").cloned().unwrap_or_default())?;
            ensure(public.starts_with(&format!("{want_type} ")), format!("public key type: {public}"))?;
            // ssh-keygen reads the private key and derives the same public key.
            let file = fx.dir.path().join(format!("{want_type}.key"));
            std::fs::write(&file, secret.get("privateKey").cloned().unwrap_or_default())?;
            std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
            let derived = String::from_utf8(
                Run::new(tool("ssh-keygen")?, ["-y".as_ref(), "-f".as_ref(), file.as_os_str()]).ok()?,
            )?;
            let blob = |l: &str| l.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
            ensure(
                blob(&derived) == blob(&public),
                format!("ssh-keygen derives {derived} from the private key, not {public}"),
            )?;
        }
        ensure(
            String::from_utf8_lossy(ed.get("publicKey").map(Vec::as_slice).unwrap_or_default())
                .ends_with(" deploy@ci\n"),
            "the comment ends the public key line",
        )?;
        // An RSA size seal does not make is refused naming the field, nothing written.
        let big = wait_ready(&es, "rsa-big", "False", "InvalidDocument").await?;
        let (_, cond) = ready_of(&big);
        let message = cond.map(|c| c.2).unwrap_or_default();
        ensure(message.contains("spec.keySize: 8192"), format!("names the field: {message}"))?;
        ensure(secrets.get_opt("rsa-big").await?.is_none(), "no Secret for the refused generator")?;
        // Within one refresh a reconcile keeps the values.
        ctrl.wait_reconciles_after("ExternalSecret", 1, async {
            kubectl(
                &fx.cluster.kubeconfig,
                &["-n", &ns, "annotate", "externalsecret", "ed", "force-sync=1", "--overwrite"],
            )
            .ok()
            .map_err(crate::fixtures::fmsg)
        })
        .await?;
        tokio::time::sleep(Duration::from_secs(2)).await;
        ensure(data(secrets.get("ed").await?) == ed, "the generated values are kept within one refresh")?;
        // No generated value in status or Events.
        let events: Api<Event> = fx.app.api();
        let events = serde_json::to_vec(&events.list(&ListParams::default()).await?.items)?;
        let private = String::from_utf8(ed.get("privateKey").cloned().unwrap_or_default())?;
        let private_body: String = private.lines().nth(1).unwrap_or_default().to_owned();
        for value in [uuid.as_str(), private_body.as_str()] {
            assert_absent(&serde_json::to_vec(&obj)?, value, "the ExternalSecret")?;
            assert_absent(&events, value, "the Events")?;
            assert_absent(&ctrl.logs(), value, "the controller's log")?;
        }
        Ok::<_, Failed>(())
    })
}
