//! ESO's `UUID` and `SSHKey` generators through the real controller: an
//! ExternalSecret whose `dataFrom` names them gets ESO's keys (`uuid`;
//! `privateKey`, `publicKey`), the private key is one `ssh-keygen` reads and
//! derives the same public key from, values stay put across a reconcile
//! within one refresh, and none of them reaches status or Events. ESO's
//! default (RSA 2048) is made; a spec seal cannot honour (an RSA size other
//! than 2048, 3072 or 4096) is refused naming the field. A
//! PushSecret pushes a generator's values (`selector.generatorRef`). A
//! `VaultDynamicSecret` issues a certificate from OpenBao's PKI engine,
//! once per refresh however many resyncs.

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
        env::trial(
            "generators::a_vault_dynamic_secret_issues_one_pki_certificate_per_refresh_and_refuses_by_field",
            vault_dynamic_pki,
        ),
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
            ("ec384-key", json!({"keyType": "ecdsa", "keySize": 384})),
            ("ec521-key", json!({"keyType": "ecdsa", "keySize": 521})),
            ("eso-default", json!({})),
            ("rsa-8192", json!({"keyType": "rsa", "keySize": 8192})),
        ] {
            create(
                &keys,
                json!({"apiVersion": "seal.dev/v1alpha1", "kind": "SSHKey", "metadata": {"name": name}, "spec": spec}),
            )
            .await?;
        }
        // A field ESO's schema may gain, sent as written (the typed client
        // would drop it before the API server sees it).
        kubectl(&fx.cluster.kubeconfig, &["-n", &ns, "apply", "-f", "-"])
            .stdin("apiVersion: seal.dev/v1alpha1\nkind: SSHKey\nmetadata:\n  name: future\nspec:\n  keyType: ed25519\n  passphraseSecretRef:\n    name: x\n")
            .ok()
            .map_err(crate::fixtures::fmsg)?;
        // ESO's Password with `secretKeys` and `encoding` (which the CRD
        // used to prune, leaving one raw `password`).
        let passwords: Api<seal::api::generator::Password> = fx.app.api();
        let spec = json!({"length": 12, "secretKeys": ["a", "b"], "encoding": "hex"});
        create(
            &passwords,
            json!({"apiVersion": "seal.dev/v1alpha1", "kind": "Password", "metadata": {"name": "two-hex"}, "spec": spec}),
        )
        .await?;
        let es = fx.es();
        let gen_ref = |kind: &str, name: &str| json!({"sourceRef": {"generatorRef": {"apiVersion": "seal.dev/v1alpha1", "kind": kind, "name": name}}});
        for (name, refs) in [
            ("ed", vec![gen_ref("UUID", "id"), gen_ref("SSHKey", "deploy-key")]),
            ("bare", vec![gen_ref("UUID", "bare")]),
            ("ec", vec![gen_ref("SSHKey", "ec-key")]),
            ("ec384", vec![gen_ref("SSHKey", "ec384-key")]),
            ("ec521", vec![gen_ref("SSHKey", "ec521-key")]),
            ("rsa", vec![gen_ref("SSHKey", "eso-default")]),
            ("rsa-big", vec![gen_ref("SSHKey", "rsa-8192")]),
            ("future", vec![gen_ref("SSHKey", "future")]),
            ("pw", vec![gen_ref("Password", "two-hex")]),
        ] {
            create(
                &es,
                json!({"apiVersion": "seal.dev/v1alpha1", "kind": "ExternalSecret", "metadata": {"name": name},
                "spec": {"refreshInterval": "1h", "target": {"name": name}, "dataFrom": refs}}),
            )
            .await?;
        }
        let obj = wait_ready(&es, "ed", "True", "Materialized").await?;
        for name in ["ec", "ec384", "ec521"] {
            wait_ready(&es, name, "True", "Materialized").await?;
        }
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
            (data(secrets.get("ec384").await?), "ecdsa-sha2-nistp384"),
            (data(secrets.get("ec521").await?), "ecdsa-sha2-nistp521"),
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
        wait_ready(&es, "pw", "True", "Materialized").await?;
        let pw = data(secrets.get("pw").await?);
        let hex12 = |v: Option<&Vec<u8>>| v.is_some_and(|v| v.len() == 24 && v.iter().all(u8::is_ascii_hexdigit));
        ensure(
            pw.keys().map(String::as_str).collect::<Vec<_>>() == ["a", "b"]
                && hex12(pw.get("a"))
                && hex12(pw.get("b"))
                && pw.get("a") != pw.get("b"),
            format!("a and b, each a hex-encoded 12-character password: {:?}", pw.keys().collect::<Vec<_>>()),
        )?;
        // A field of ESO's schema seal does not implement is refused by name, not pruned.
        let future = wait_ready(&es, "future", "False", "Unsupported").await?;
        let message = ready_of(&future).1.map(|c| c.2).unwrap_or_default();
        ensure(message.contains("spec.passphraseSecretRef"), format!("names the field: {message}"))?;
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

/// One request to OpenBao with the root token (the test's setup); the
/// answer's JSON (`null` when empty).
async fn bao_call(
    bao: &env::bao::Bao,
    method: reqwest::Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> Result<serde_json::Value, Failed> {
    let mut req = reqwest::Client::new()
        .request(method.clone(), format!("{}/v1/{path}", bao.addr))
        .header("X-Vault-Token", &bao.root_token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await?;
    let status = resp.status();
    let text = resp.text().await?;
    ensure(status.is_success(), format!("{method} {path}: {status} {text}"))?;
    Ok(if text.trim().is_empty() { serde_json::Value::Null } else { serde_json::from_str(&text)? })
}

/// The serial numbers of the certificates the PKI mount has issued.
async fn issued(bao: &env::bao::Bao, mount: &str) -> Result<usize, Failed> {
    let listed = bao_call(bao, reqwest::Method::from_bytes(b"LIST")?, &format!("{mount}/certs"), None).await?;
    Ok(listed.pointer("/data/keys").and_then(serde_json::Value::as_array).map_or(0, Vec::len))
}

/// ESO's PKI example (a `POST` to `/pki/issue/ROLE` with `common_name`)
/// with only the apiVersion changed: the Secret has ESO's keys, the
/// certificate's CN is the one asked for, OpenBao issues one certificate
/// however many resyncs within the refresh interval, and no value reaches
/// status, Events or the log. `resultType: Auth` gives a token's fields; a
/// DELETE and ESO's `retrySettings` are refused naming the field.
fn vault_dynamic_pki() -> Result<(), Failed> {
    let fx = setup("gen-vds")?;
    let bao = env::bao()?;
    let ns = fx.ns().to_owned();
    env::block_on(async {
        let mount = format!("pki-{}", env::unique());
        let post = reqwest::Method::POST;
        bao_call(bao, post.clone(), &format!("sys/mounts/{mount}"), Some(json!({"type": "pki"}))).await?;
        let ca = json!({"common_name": "seal-test-ca", "ttl": "87600h"});
        bao_call(bao, post.clone(), &format!("{mount}/root/generate/internal"), Some(ca)).await?;
        let role = json!({"allowed_domains": ["example.com"], "allow_subdomains": true, "ttl": "1h", "key_type": "ec", "key_bits": 256});
        bao_call(bao, post.clone(), &format!("{mount}/roles/web"), Some(role)).await?;
        let before = issued(bao, &mount).await?;
        // The token's Secret names the generators that may use it.
        let metadata = json!({"name": "vault-token", "annotations": {"seal.dev/allowed-stores": "VaultDynamicSecret/pki-web,VaultDynamicSecret/token,VaultDynamicSecret/delete-it,VaultDynamicSecret/retrying"}});
        create(&fx.secrets(), json!({"metadata": metadata, "stringData": {"token": bao.root_token}})).await?;
        let provider = format!(
            "  provider:\n    server: \"{}\"\n    allowInsecureHttp: true\n    auth: {{tokenSecretRef: {{name: vault-token, key: token}}}}\n",
            bao.addr
        );
        let generator = |name: &str, rest: &str| {
            format!(
                "---\napiVersion: seal.dev/v1alpha1\nkind: VaultDynamicSecret\nmetadata: {{name: {name}}}\nspec:\n{provider}{rest}"
            )
        };
        let manifests = [
            generator(
                "pki-web",
                &format!("  path: \"/{mount}/issue/web\"\n  method: \"POST\"\n  parameters:\n    common_name: \"app.example.com\"\n  resultType: \"Data\"\n"),
            ),
            generator(
                "token",
                "  path: auth/token/create\n  method: POST\n  parameters: {policies: [default], ttl: 10m}\n  resultType: Auth\n",
            ),
            generator("delete-it", &format!("  path: \"/{mount}/roles/web\"\n  method: DELETE\n")),
            generator("retrying", "  path: auth/token/lookup-self\n  retrySettings: {maxRetries: 3, retryInterval: 10s}\n"),
        ]
        .concat();
        kubectl(&fx.cluster.kubeconfig, &["-n", &ns, "apply", "-f", "-"])
            .stdin(manifests)
            .ok()
            .map_err(crate::fixtures::fmsg)?;
        let es = fx.es();
        for (name, generator) in
            [("web", "pki-web"), ("token", "token"), ("delete-it", "delete-it"), ("retrying", "retrying")]
        {
            create(&es, json!({"apiVersion": "seal.dev/v1alpha1", "kind": "ExternalSecret", "metadata": {"name": name},
                "spec": {"refreshInterval": "1h", "target": {"name": name},
                         "dataFrom": [{"sourceRef": {"generatorRef": {"apiVersion": "seal.dev/v1alpha1", "kind": "VaultDynamicSecret", "name": generator}}}]}}))
            .await?;
        }
        let ctrl = fx.start(Opts::default()).await?;
        let obj = wait_ready(&es, "web", "True", "Materialized").await?;
        let secrets = fx.secrets();
        let data = |s: k8s_openapi::api::core::v1::Secret| -> std::collections::BTreeMap<String, Vec<u8>> {
            s.data.unwrap_or_default().into_iter().map(|(k, v)| (k, v.0)).collect()
        };
        let web = data(secrets.get("web").await?);
        for key in
            ["certificate", "private_key", "issuing_ca", "ca_chain", "serial_number", "private_key_type", "expiration"]
        {
            ensure(web.contains_key(key), format!("ESO's key {key} in {:?}", web.keys().collect::<Vec<_>>()))?;
        }
        ensure(web.get("private_key_type").map(Vec::as_slice) == Some(b"ec"), "private_key_type is the text ec")?;
        let cert = fx.dir.path().join("web.crt");
        std::fs::write(&cert, web.get("certificate").cloned().unwrap_or_default())?;
        let subject = String::from_utf8(
            Run::new(
                tool("openssl")?,
                ["x509".as_ref(), "-noout".as_ref(), "-subject".as_ref(), "-in".as_ref(), cert.as_os_str()],
            )
            .ok()?,
        )?;
        ensure(
            subject.contains("CN = app.example.com") || subject.contains("CN=app.example.com"),
            format!("the CN asked for: {subject}"),
        )?;
        let after_first = issued(bao, &mount).await?;
        ensure(after_first == before + 1, format!("one certificate issued: {before} before, {after_first} after"))?;
        // Resyncs within the refresh interval issue nothing new.
        const RESYNCS: u32 = 3;
        for i in 0..RESYNCS {
            ctrl.wait_reconciles_after("ExternalSecret", 1, async {
                kubectl(
                    &fx.cluster.kubeconfig,
                    &["-n", &ns, "annotate", "externalsecret", "web", &format!("force-sync={i}"), "--overwrite"],
                )
                .ok()
                .map_err(crate::fixtures::fmsg)
            })
            .await?;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        let after_resyncs = issued(bao, &mount).await?;
        println!(
            "vault_dynamic_pki: certificates issued: {} at the first sync, {} after {RESYNCS} more resyncs",
            after_first - before,
            after_resyncs - before
        );
        ensure(
            after_resyncs == after_first,
            format!("{RESYNCS} resyncs issued {} more certificates", after_resyncs - after_first),
        )?;
        ensure(data(secrets.get("web").await?) == web, "the Secret keeps its certificate within one refresh")?;
        // resultType Auth: the token's fields, as ESO's.
        wait_ready(&es, "token", "True", "Materialized").await?;
        let token = data(secrets.get("token").await?);
        let client_token = String::from_utf8(token.get("client_token").cloned().unwrap_or_default())?;
        ensure(!client_token.is_empty(), format!("a client_token in {:?}", token.keys().collect::<Vec<_>>()))?;
        ensure(token.get("policies").map(Vec::as_slice) == Some(&br#"["default"]"#[..]), "policies as JSON")?;
        // Refused by name: nothing is sent, nothing written.
        let refused = wait_ready(&es, "delete-it", "False", "InvalidDocument").await?;
        let message = ready_of(&refused).1.map(|c| c.2).unwrap_or_default();
        ensure(message.contains("spec.method: DELETE"), format!("names spec.method: {message}"))?;
        let refused = wait_ready(&es, "retrying", "False", "Unsupported").await?;
        let message = ready_of(&refused).1.map(|c| c.2).unwrap_or_default();
        ensure(
            message.contains("VaultDynamicSecret") && message.contains("spec.retrySettings"),
            format!("names the field: {message}"),
        )?;
        bao_call(bao, reqwest::Method::GET, &format!("{mount}/roles/web"), None).await?;
        ensure(
            secrets.get_opt("delete-it").await?.is_none() && secrets.get_opt("retrying").await?.is_none(),
            "no Secret for a refused generator",
        )?;
        // No issued value in status, Events or the log.
        let events: Api<Event> = fx.app.api();
        let events = serde_json::to_vec(&events.list(&ListParams::default()).await?.items)?;
        let key = String::from_utf8(web.get("private_key").cloned().unwrap_or_default())?;
        let key_body = key.lines().nth(1).unwrap_or_default().to_owned();
        let cert_body = String::from_utf8_lossy(web.get("certificate").map(Vec::as_slice).unwrap_or_default())
            .lines()
            .nth(1)
            .unwrap_or_default()
            .to_owned();
        ensure(
            key_body.len() > 32 && cert_body.len() > 32 && client_token.len() > 8,
            "canaries long enough to mean something",
        )?;
        let token_obj = es.get("token").await?;
        for value in [key_body.as_str(), cert_body.as_str(), client_token.as_str()] {
            assert_absent(&serde_json::to_vec(&obj)?, value, "the ExternalSecret")?;
            assert_absent(&serde_json::to_vec(&token_obj)?, value, "the ExternalSecret")?;
            assert_absent(&events, value, "the Events")?;
            assert_absent(&ctrl.logs(), value, "the controller's log")?;
        }
        Ok::<_, Failed>(())
    })
}
