//! Attacks through stores and ExternalSecrets by someone who may create
//! them in one namespace: each test is named after the attack and shows the
//! object refused or reported with a precise reason, the controller still
//! serving other namespaces, and no value or token leaving.

use std::io::Read;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Secret;
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::{Api, ResourceExt};
use libtest_mimic::{Failed, Trial};
use seal::api::{ExternalSecret, SecretStore};
use serde_json::{Value, json};

use crate::env::{self, ensure, wait_for};
use crate::fixtures::objects::{
    create, create_es, create_store, data_of, kv, put_secret, token_auth, vault, wait_data, wait_ready,
};
use crate::fixtures::{Opts, fmsg, setup};

/// Every store and ExternalSecret attack test.
pub fn trials() -> Vec<Trial> {
    vec![
        env::trial(
            "adversarial_vault::store_addresses_that_crashed_the_controller_are_refused_and_others_keep_working",
            store_addresses_that_crashed_the_controller_are_refused_and_others_keep_working,
        ),
        env::trial(
            "adversarial_vault::store_cannot_read_a_secret_its_owner_did_not_share",
            store_cannot_read_a_secret_its_owner_did_not_share,
        ),
        env::trial(
            "adversarial_vault::store_cannot_mint_tokens_for_unshared_accounts_or_the_api_server_audience",
            store_cannot_mint_tokens_for_unshared_accounts_or_the_api_server_audience,
        ),
        env::trial(
            "adversarial_vault::exfiltration_store_at_a_local_listener_receives_no_value_or_token",
            exfiltration_store_at_a_local_listener_receives_no_value_or_token,
        ),
        env::trial(
            "adversarial_vault::unreachable_addresses_all_get_the_same_message",
            unreachable_addresses_all_get_the_same_message,
        ),
        env::trial(
            "adversarial_vault::fifty_black_hole_stores_do_not_delay_another_namespace",
            fifty_black_hole_stores_do_not_delay_another_namespace,
        ),
        env::trial(
            "adversarial_vault::merge_into_a_foreign_secret_needs_consent_and_never_takes_it_over",
            merge_into_a_foreign_secret_needs_consent_and_never_takes_it_over,
        ),
        env::trial(
            "adversarial_vault::create_or_merge_creates_a_missing_secret_and_merges_only_with_consent",
            create_or_merge_creates_a_missing_secret_and_merges_only_with_consent,
        ),
    ]
}

const CANARY_TOKEN: &str = "hvs.CANARY-token-7f3a";

/// A TCP listener on loopback that records what it receives and answers
/// nothing (a black hole), holding every connection open until dropped.
struct Listener {
    port: u16,
    received: Arc<Mutex<Vec<u8>>>,
    connections: Arc<Mutex<usize>>,
}

impl Listener {
    fn start() -> Result<Listener, Failed> {
        let l = TcpListener::bind("127.0.0.1:0")?;
        let port = l.local_addr()?.port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(Mutex::new(0));
        let (r, c) = (received.clone(), connections.clone());
        std::thread::spawn(move || {
            for stream in l.incoming() {
                let Ok(mut stream) = stream else { return };
                *c.lock().unwrap_or_else(|e| e.into_inner()) += 1;
                let r = r.clone();
                // Read (and keep) whatever arrives; never answer.
                std::thread::spawn(move || {
                    let mut buf = [0u8; 4096];
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(60)));
                    while let Ok(n) = stream.read(&mut buf) {
                        if n == 0 {
                            break;
                        }
                        r.lock().unwrap_or_else(|e| e.into_inner()).extend_from_slice(&buf[..n]);
                    }
                });
            }
        });
        Ok(Listener { port, received, connections })
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn received(&self) -> String {
        String::from_utf8_lossy(&self.received.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }

    fn connections(&self) -> usize {
        *self.connections.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A loopback port with nothing listening.
fn closed_port() -> Result<u16, Failed> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    let port = l.local_addr()?.port();
    drop(l);
    Ok(port)
}

/// The Ready condition's (status, reason, message) of an object.
fn ready(v: &Value) -> (String, String, String) {
    let c = v["status"]["conditions"].as_array().and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"));
    let s = |k: &str| c.and_then(|c| c[k].as_str()).unwrap_or_default().to_owned();
    (s("status"), s("reason"), s("message"))
}

/// Waits until `name` is Ready=False with `reason` and a message containing
/// `needle`; returns the message.
async fn wait_refused<K>(api: &Api<K>, name: &str, reason: &str, needle: &str) -> Result<String, Failed>
where
    K: Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    wait_for(&format!("{name} to be refused with {reason}"), Duration::from_secs(60), || async {
        let o = api.get(name).await.map_err(|e| e.to_string())?;
        let v = serde_json::to_value(&o).map_err(|e| e.to_string())?;
        let (status, r, message) = ready(&v);
        if status == "False" && r == reason && message.contains(needle) {
            Ok(Some(message))
        } else {
            Err(format!("Ready={status} {r}: {message}"))
        }
    })
    .await
}

fn store_addresses_that_crashed_the_controller_are_refused_and_others_keep_working() -> Result<(), Failed> {
    let fx = setup("adv-addr")?;
    let bao = env::bao()?;
    env::block_on(async {
        let root = bao.root()?;
        let mount = bao.enable_kv2().await?;
        vaultrs::kv2::set(&root, &mount, "app/ok", &kv(&[("v", "fine")])).await?;
        put_secret(&fx.secrets(), "vault-token", "token", &bao.root_token).await?;
        let ctrl = fx.start(Opts::default()).await?;

        // The address that made vaultrs panic (no scheme): the CRD refuses it.
        let typo = create(
            &fx.stores(),
            json!({"apiVersion": "seal.dev/v1alpha1", "kind": "SecretStore", "metadata": {"name": "typo"},
                   "spec": {"provider": vault("127.0.0.1:8200", &mount, "v2", token_auth("vault-token"))}}),
        )
        .await;
        let refused = typo.err().map(|e| e.message().unwrap_or_default().to_owned()).unwrap_or_default();
        ensure(refused.contains("spec.provider.vault.server"), format!("the API server accepted it: {refused}"))?;

        // Plain http without asking for it.
        let plain =
            json!({"vault": {"server": bao.addr, "path": mount, "version": "v2", "auth": token_auth("vault-token")}});
        create_store(&fx.stores(), "plain", plain).await?;
        wait_refused(&fx.stores(), "plain", "StoreMisconfigured", "allowInsecureHttp").await?;

        // A token with a line break in it (it would make the HTTP stack panic).
        put_secret(&fx.secrets(), "broken-token", "token", "hvs.abc\r\nX-Injected: 1").await?;
        create_store(&fx.stores(), "broken", vault(&bao.addr, &mount, "v2", token_auth("broken-token"))).await?;
        let msg = wait_refused(&fx.stores(), "broken", "StoreMisconfigured", "token").await?;
        ensure(!msg.contains("hvs.abc") && !msg.contains("Injected"), format!("the token is quoted: {msg}"))?;

        // A refresh interval that overflowed a Duration add.
        create_store(&fx.stores(), "good", vault(&bao.addr, &mount, "v2", token_auth("vault-token"))).await?;
        let es = fx.es();
        create_es(
            &es,
            "overflow",
            "good",
            json!({"refreshInterval": "18446744073709551615s",
            "data": [{"secretKey": "v", "remoteRef": {"key": "app/ok", "property": "v"}}]}),
        )
        .await?;
        wait_refused(&es, "overflow", "InvalidDocument", "refreshInterval").await?;

        // Everything else keeps working, and the process never exited.
        create_es(
            &es,
            "fine",
            "good",
            json!({"refreshInterval": "1h",
            "data": [{"secretKey": "v", "remoteRef": {"key": "app/ok", "property": "v"}}]}),
        )
        .await?;
        wait_ready(&es, "fine", "True", "Materialized").await?;
        wait_data(&fx.secrets(), "fine", &[("v", "fine")]).await?;
        ctrl.alive()?;
        let (code, _) = ctrl.get("/healthz").await?;
        ensure(code == 200, format!("/healthz answered {code}"))
    })
}

fn store_cannot_read_a_secret_its_owner_did_not_share() -> Result<(), Failed> {
    let fx = setup("adv-deputy-secret")?;
    let bao = env::bao()?;
    env::block_on(async {
        let root = bao.root()?;
        let mount = bao.enable_kv2().await?;
        vaultrs::kv2::set(&root, &mount, "app/db", &kv(&[("password", "from-vault")])).await?;
        // Someone else's Secret in the namespace, with no grant: the store's
        // author may not `get secrets` and must not get it through seal.
        let secrets = fx.secrets();
        create(&secrets, json!({"metadata": {"name": "admin-token"}, "stringData": {"token": bao.root_token}})).await?;
        create_store(&fx.stores(), "borrow", vault(&bao.addr, &mount, "v2", token_auth("admin-token"))).await?;
        create_es(
            &fx.es(),
            "db",
            "borrow",
            json!({"refreshInterval": "1h",
            "data": [{"secretKey": "password", "remoteRef": {"key": "app/db", "property": "password"}}]}),
        )
        .await?;
        let _ctrl = fx.start(Opts::default()).await?;
        let msg = wait_refused(&fx.stores(), "borrow", "StoreMisconfigured", "seal.dev/allowed-stores").await?;
        ensure(msg.contains("SecretStore/borrow"), format!("the message does not say what to grant: {msg}"))?;
        wait_refused(&fx.es(), "db", "StoreMisconfigured", "seal.dev/allowed-stores").await?;
        ensure(secrets.get_opt("db").await?.is_none(), "a Secret was written from a borrowed credential")?;

        // A grant for another store does not help; the owner's grant for
        // this one does.
        let grant = |v: &str| json!({"metadata": {"annotations": {"seal.dev/allowed-stores": v}}});
        secrets.patch("admin-token", &PatchParams::default(), &Patch::Merge(&grant("SecretStore/other"))).await?;
        wait_refused(&fx.stores(), "borrow", "StoreMisconfigured", "seal.dev/allowed-stores").await?;
        secrets.patch("admin-token", &PatchParams::default(), &Patch::Merge(&grant("SecretStore/borrow"))).await?;
        // The store is re-checked on its own schedule; any change of it
        // (here a label) triggers a check now.
        let bump = json!({"metadata": {"labels": {"bump": "1"}}});
        fx.stores().patch("borrow", &PatchParams::default(), &Patch::Merge(&bump)).await?;
        wait_ready(&fx.stores(), "borrow", "True", "Authenticated").await?;
        Ok(())
    })
}

fn store_cannot_mint_tokens_for_unshared_accounts_or_the_api_server_audience() -> Result<(), Failed> {
    let fx = setup("adv-deputy-sa")?;
    let bao = env::bao()?;
    env::block_on(async {
        let mount = bao.enable_kv2().await?;
        fx.cluster.ensure_service_account(fx.ns(), "deployer").await?;
        let k8s = |sa: &str, audiences: Value| {
            json!({"kubernetes": {"mountPath": "kubernetes", "role": "app",
                   "serviceAccountRef": {"name": sa, "audiences": audiences}}})
        };
        create_store(&fx.stores(), "unshared", vault(&bao.addr, &mount, "v2", k8s("deployer", json!([])))).await?;
        let _ctrl = fx.start(Opts::default()).await?;
        let msg = wait_refused(&fx.stores(), "unshared", "StoreMisconfigured", "seal.dev/allowed-stores").await?;
        ensure(msg.contains("ServiceAccount"), msg)?;

        // Shared, but asking for the API server's audience: such a token is a
        // credential for the API server in the hands of the store's server.
        fx.cluster.service_account_for_stores(fx.ns(), "shared", "*").await?;
        for (name, aud) in [
            ("apiserver", "https://kubernetes.default.svc.cluster.local"),
            ("apiserver-short", "https://kubernetes.default.svc"),
        ] {
            create_store(&fx.stores(), name, vault(&bao.addr, &mount, "v2", k8s("shared", json!([aud])))).await?;
            wait_refused(&fx.stores(), name, "StoreMisconfigured", "audience").await?;
        }
        // The default audience is `vault`: this store gets as far as OpenBao
        // (which has no such role: denied), proving a token was minted for it.
        create_store(&fx.stores(), "default-aud", vault(&bao.addr, &mount, "v2", k8s("shared", json!([])))).await?;
        wait_for("default-aud to reach OpenBao", Duration::from_secs(60), || async {
            let v = serde_json::to_value(fx.stores().get("default-aud").await.map_err(|e| e.to_string())?)
                .map_err(|e| e.to_string())?;
            let (_, reason, message) = ready(&v);
            match reason.as_str() {
                "StoreAccessDenied" | "StoreUnavailable" | "SecretNotFound" => Ok(Some(())),
                _ => Err(format!("{reason}: {message}")),
            }
        })
        .await
    })
}

fn exfiltration_store_at_a_local_listener_receives_no_value_or_token() -> Result<(), Failed> {
    let fx = setup("adv-exfil")?;
    env::block_on(async {
        let listener = Listener::start()?;
        // The victim's credentials in the namespace, shared with nobody.
        let secrets = fx.secrets();
        create(&secrets, json!({"metadata": {"name": "vault-token"}, "stringData": {"token": CANARY_TOKEN}})).await?;
        fx.cluster.ensure_service_account(fx.ns(), "app").await?;
        let mut provider = vault(&listener.url(), "secret", "v2", token_auth("vault-token"));
        create_store(&fx.stores(), "steal-token", provider.clone()).await?;
        provider["vault"]["auth"] = json!({"kubernetes": {"mountPath": "kubernetes", "role": "x",
                                                          "serviceAccountRef": {"name": "app"}}});
        create_store(&fx.stores(), "steal-jwt", provider.clone()).await?;
        provider["vault"]["auth"] = json!({"jwt": {"path": "jwt", "role": "x",
            "kubernetesServiceAccountToken": {"serviceAccountRef": {"name": "app"}}}});
        create_store(&fx.stores(), "steal-jwt2", provider).await?;
        create_es(
            &fx.es(),
            "loot",
            "steal-token",
            json!({"refreshInterval": "2s",
            "data": [{"secretKey": "x", "remoteRef": {"key": "x", "property": "x"}}]}),
        )
        .await?;
        let ctrl = fx.start(Opts::default()).await?;
        for store in ["steal-token", "steal-jwt", "steal-jwt2"] {
            wait_refused(&fx.stores(), store, "StoreMisconfigured", "seal.dev/allowed-stores").await?;
        }
        wait_refused(&fx.es(), "loot", "StoreMisconfigured", "seal.dev/allowed-stores").await?;
        // Several refresh periods later the listener has seen nothing at all,
        // though the controller reconciled each store and the ExternalSecret
        // again (touched; the test's only ones).
        ctrl.wait_reconciles_after("SecretStore", 3, async {
            for store in ["steal-token", "steal-jwt", "steal-jwt2"] {
                fx.touch("secretstore", store)?;
            }
            Ok(())
        })
        .await?;
        ctrl.wait_reconciles_after("ExternalSecret", 1, async { fx.touch("externalsecret", "loot") }).await?;
        tokio::time::sleep(Duration::from_secs(6)).await;
        let got = listener.received();
        ensure(!got.contains(CANARY_TOKEN), "the token reached the listener")?;
        ensure(!got.contains("eyJ"), "a ServiceAccount token reached the listener")?;
        ensure(listener.connections() == 0, format!("{} connections reached the listener", listener.connections()))
    })
}

fn unreachable_addresses_all_get_the_same_message() -> Result<(), Failed> {
    let fx = setup("adv-scan")?;
    env::block_on(async {
        let hole = Listener::start()?;
        put_secret(&fx.secrets(), "vault-token", "token", "hvs.any").await?;
        let closed = format!("http://127.0.0.1:{}", closed_port()?);
        create_store(&fx.stores(), "closed", vault(&closed, "secret", "v2", token_auth("vault-token"))).await?;
        create_store(&fx.stores(), "hole", vault(&hole.url(), "secret", "v2", token_auth("vault-token"))).await?;
        let _ctrl = fx.start(Opts::default()).await?;
        let a = wait_refused(&fx.stores(), "closed", "StoreUnavailable", "unreachable").await?;
        let b = wait_refused(&fx.stores(), "hole", "StoreUnavailable", "unreachable").await?;
        // The same words for a refused connection and a silent one: a store
        // cannot be used to tell which addresses listen.
        let strip = |m: &str, name: &str| m.replace(&format!("SecretStore {}/{name}", fx.ns()), "STORE");
        ensure(strip(&a, "closed") == strip(&b, "hole"), format!("messages differ: {a:?} vs {b:?}"))
    })
}

fn fifty_black_hole_stores_do_not_delay_another_namespace() -> Result<(), Failed> {
    let fx = setup("adv-hole")?;
    let bao = env::bao()?;
    env::block_on(async {
        let hole = Listener::start()?;
        // The attacker's namespace: 50 stores at a black hole, each used.
        let attacker = fx.namespace("adv-hole-attacker").await?;
        let a_secrets: Api<Secret> = attacker.api();
        put_secret(&a_secrets, "vault-token", "token", "hvs.any").await?;
        let a_stores: Api<SecretStore> = attacker.api();
        let a_es: Api<ExternalSecret> = attacker.api();
        for i in 0..50 {
            let name = format!("hole-{i}");
            create_store(&a_stores, &name, vault(&hole.url(), "secret", "v2", token_auth("vault-token"))).await?;
            create_es(
                &a_es,
                &name,
                &name,
                json!({"refreshInterval": "2s",
                "data": [{"secretKey": "x", "remoteRef": {"key": "x", "property": "x"}}]}),
            )
            .await?;
        }
        // The victim's namespace: one ExternalSecret refreshing every 3 s.
        let root = bao.root()?;
        let mount = bao.enable_kv2().await?;
        vaultrs::kv2::set(&root, &mount, "app/v", &kv(&[("v", "0")])).await?;
        put_secret(&fx.secrets(), "vault-token", "token", &bao.root_token).await?;
        create_store(&fx.stores(), "kv", vault(&bao.addr, &mount, "v2", token_auth("vault-token"))).await?;
        let interval = Duration::from_secs(3);
        create_es(
            &fx.es(),
            "app",
            "kv",
            json!({"refreshInterval": "3s",
            "data": [{"secretKey": "v", "remoteRef": {"key": "app/v", "property": "v"}}]}),
        )
        .await?;
        let _ctrl = fx.start(Opts::watching(&[&attacker.name])).await?;
        wait_data(&fx.secrets(), "app", &[("v", "0")]).await?;
        // Wait until every attacker's ExternalSecret has hit the black hole,
        // then time value changes while they keep retrying.
        wait_for("the attacker's ExternalSecrets to fail", Duration::from_secs(120), || async {
            let list = a_es.list(&Default::default()).await.map_err(|e| e.to_string())?;
            let failed = list
                .items
                .iter()
                .filter(|e| serde_json::to_value(e).map(|v| ready(&v).1 == "StoreUnavailable").unwrap_or(false))
                .count();
            if failed == 50 { Ok(Some(())) } else { Err(format!("{failed} of 50 StoreUnavailable")) }
        })
        .await?;
        let mut worst = Duration::ZERO;
        for round in 1..=4 {
            let value = round.to_string();
            vaultrs::kv2::set(&root, &mount, "app/v", &std::collections::BTreeMap::from([("v", value.as_str())]))
                .await?;
            let t0 = Instant::now();
            wait_for(&format!("change {round} to arrive"), Duration::from_secs(60), || async {
                let s = fx.secrets().get("app").await.map_err(|e| e.to_string())?;
                if data_of(&s).get("v") == Some(&value) { Ok(Some(())) } else { Err("old value".to_owned()) }
            })
            .await?;
            worst = worst.max(t0.elapsed());
        }
        eprintln!(
            "adversarial: with 50 black-hole stores ({} connections held), the victim's 3 s refresh arrived within {worst:?} at worst",
            hole.connections()
        );
        // On time: one interval, its 10% jitter, and some slack for 2 cores.
        ensure(worst <= interval * 2 + Duration::from_secs(2), format!("a change took {worst:?}"))
    })
}

/// SecretStore `kv` over a fresh KV v2 mount holding `app/x` =
/// `{injected: from-vault}`, read with the root token.
async fn store_with_injected_value(fx: &crate::fixtures::Fx, bao: &env::Bao) -> Result<(), Failed> {
    let root = bao.root()?;
    let mount = bao.enable_kv2().await?;
    vaultrs::kv2::set(&root, &mount, "app/x", &kv(&[("injected", "from-vault")])).await?;
    put_secret(&fx.secrets(), "vault-token", "token", &bao.root_token).await?;
    create_store(&fx.stores(), "kv", vault(&bao.addr, &mount, "v2", token_auth("vault-token"))).await?;
    Ok(())
}

/// Waits until the controller has seen an ExternalSecret's deletion. A
/// deleted object is not reconciled: a witness ExternalSecret created after
/// the deletion, reconciled by this controller, proves it saw the deletion
/// (the watch delivers events in order) and was not stalled; then a little
/// time for anything the deletion would wrongly do.
async fn deletion_seen(ctrl: &crate::process::ControllerProcess, es: &Api<ExternalSecret>) -> Result<(), Failed> {
    ctrl.wait_reconciles_after("ExternalSecret", 1, async {
        let spec = json!({"refreshInterval": "1h",
            "data": [{"secretKey": "x", "remoteRef": {"key": "app/x", "property": "injected"}}]});
        create_es(es, "witness", "kv", spec).await.map_err(fmsg)
    })
    .await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    Ok(())
}

/// ESO 2.x's `creationPolicy: CreateOrMerge`: a missing Secret is created
/// (no owner reference, recreated at the next reconcile when deleted, kept
/// when the ExternalSecret goes) and merged into afterwards, keeping keys
/// others add; a Secret that exists already is someone else's and needs
/// the same consent as `Merge`.
fn create_or_merge_creates_a_missing_secret_and_merges_only_with_consent() -> Result<(), Failed> {
    let fx = setup("adv-com")?;
    let bao = env::bao()?;
    env::block_on(async {
        store_with_injected_value(&fx, bao).await?;
        let secrets = fx.secrets();
        create(&secrets, json!({"metadata": {"name": "theirs"}, "stringData": {"owner-key": "theirs"}})).await?;
        let es = fx.es();
        let spec = |target: &str, interval: &str| {
            json!({"refreshInterval": interval, "target": {"name": target, "creationPolicy": "CreateOrMerge"},
                   "data": [{"secretKey": "injected", "remoteRef": {"key": "app/x", "property": "injected"}}]})
        };
        create_es(&es, "com", "kv", spec("made", "1h")).await?;
        create_es(&es, "intruder", "kv", spec("theirs", "1h")).await?;
        let ctrl = fx.start(Opts::default()).await?;
        // Missing: created, not owned, consenting to its creator only.
        wait_data(&secrets, "made", &[("injected", "from-vault")]).await?;
        let made = secrets.get("made").await?;
        ensure(made.owner_references().is_empty(), "CreateOrMerge made an owned Secret")?;
        ensure(
            made.annotations().get("seal.dev/allow-merge-from").map(String::as_str) == Some("com"),
            format!("annotations: {:?}", made.annotations()),
        )?;
        // Existing and someone else's: refused without consent, untouched.
        wait_refused(&es, "intruder", "SecretNotOwned", "seal.dev/allow-merge-from").await?;
        ensure(data_of(&secrets.get("theirs").await?).len() == 1, "the foreign Secret was written")?;
        // A key someone adds is kept by the next merge.
        let add = json!({"stringData": {"added": "by-hand"}});
        secrets.patch("made", &PatchParams::default(), &Patch::Merge(&add)).await?;
        es.patch("com", &PatchParams::default(), &Patch::Merge(&json!({"spec": {"refreshInterval": "1h1m"}}))).await?;
        wait_data(&secrets, "made", &[("injected", "from-vault"), ("added", "by-hand")]).await?;
        // Deleted: created again at the next reconcile.
        secrets.delete("made", &DeleteParams::default()).await?;
        es.patch("com", &PatchParams::default(), &Patch::Merge(&json!({"spec": {"refreshInterval": "1h2m"}}))).await?;
        wait_data(&secrets, "made", &[("injected", "from-vault")]).await?;
        // The ExternalSecret goes, the Secret stays.
        es.delete("com", &DeleteParams::default()).await?;
        deletion_seen(&ctrl, &es).await?;
        ensure(
            secrets.get_opt("made").await?.is_some(),
            "deleting the ExternalSecret deleted its CreateOrMerge Secret",
        )?;
        Ok(())
    })
}

fn merge_into_a_foreign_secret_needs_consent_and_never_takes_it_over() -> Result<(), Failed> {
    let fx = setup("adv-merge")?;
    let bao = env::bao()?;
    env::block_on(async {
        store_with_injected_value(&fx, bao).await?;
        // The victim: someone else's Secret, with a label of its own.
        let secrets = fx.secrets();
        create(
            &secrets,
            json!({"metadata": {"name": "victim", "labels": {"team": "payments"}},
                                "stringData": {"owner-key": "theirs"}}),
        )
        .await?;
        let es = fx.es();
        create_es(
            &es,
            "merge",
            "kv",
            json!({"refreshInterval": "1h",
            "target": {"name": "victim", "creationPolicy": "Merge"},
            "data": [{"secretKey": "injected", "remoteRef": {"key": "app/x", "property": "injected"}}]}),
        )
        .await?;
        let ctrl = fx.start(Opts::default()).await?;
        wait_refused(&es, "merge", "SecretNotOwned", "seal.dev/allow-merge-from").await?;
        let v = secrets.get("victim").await?;
        ensure(data_of(&v).len() == 1, format!("the victim was written without consent: {:?}", data_of(&v).keys()))?;

        // With the owner's consent the key is merged, and nothing else changes.
        let consent = json!({"metadata": {"annotations": {"seal.dev/allow-merge-from": "merge"}}});
        secrets.patch("victim", &PatchParams::default(), &Patch::Merge(&consent)).await?;
        let bump = json!({"metadata": {"annotations": {"force-sync": "1"}}, "spec": {"refreshInterval": "1h1m"}});
        es.patch("merge", &PatchParams::default(), &Patch::Merge(&bump)).await?;
        wait_data(&secrets, "victim", &[("owner-key", "theirs"), ("injected", "from-vault")]).await?;
        let v = secrets.get("victim").await?;
        ensure(v.owner_references().is_empty(), "a merge made the Secret owned")?;
        ensure(v.labels().len() == 1 && v.labels().get("team").is_some(), format!("labels changed: {:?}", v.labels()))?;
        for a in ["seal.dev/owner-uid", "seal.dev/data-hmac", "seal.dev/input-digest"] {
            ensure(!v.annotations().contains_key(a), format!("a merge stamped {a}"))?;
        }

        // Switching to Owner does not take the Secret over, and deleting the
        // ExternalSecret leaves it alone.
        let owner = json!({"spec": {"target": {"creationPolicy": "Owner"}}});
        es.patch("merge", &PatchParams::default(), &Patch::Merge(&owner)).await?;
        wait_refused(&es, "merge", "SecretNotOwned", "not owned").await?;
        ensure(secrets.get("victim").await?.owner_references().is_empty(), "the victim got an owner")?;
        es.delete("merge", &DeleteParams::default()).await?;
        deletion_seen(&ctrl, &es).await?;
        ensure(secrets.get_opt("victim").await?.is_some(), "deleting the ExternalSecret deleted the victim")?;
        Ok(())
    })
}
