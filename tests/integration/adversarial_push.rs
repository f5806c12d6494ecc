//! Attacks through PushSecrets by a tenant who may create seal's resources,
//! ConfigMaps and its own Secrets in one namespace, with a
//! ClusterSecretStore shared with another tenant: each test is named after
//! the attack and shows the other tenant's remote secret surviving with
//! every version and property, and no value in any status or log.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::{Api, ResourceExt};
use libtest_mimic::{Failed, Trial};
use seal::api::ClusterSecretStore;
use seal::api::push_secret::PushSecret;
use serde_json::{Value, json};

use crate::env::{self, Bao, ensure, wait_for};
use crate::fixtures::objects::{
    ClusterStoreGuard, cluster_stores_lock, create, create_store, put_secret, ready_of, token_auth, vault, wait_ready,
};
use crate::fixtures::{Fx, Opts, setup};
use crate::support::assert_absent;

/// Every PushSecret attack test.
pub fn trials() -> Vec<Trial> {
    vec![
        env::trial(
            "adversarial_push::deleting_a_push_secret_never_deletes_a_path_it_did_not_write",
            deleting_a_push_secret_never_deletes_a_path_it_did_not_write,
        ),
        env::trial(
            "adversarial_push::a_gone_property_does_not_make_unpush_delete_the_others",
            a_gone_property_does_not_make_unpush_delete_the_others,
        ),
        env::trial(
            "adversarial_push::a_push_secret_cannot_overwrite_a_path_another_push_secret_owns",
            a_push_secret_cannot_overwrite_a_path_another_push_secret_owns,
        ),
        env::trial(
            "adversarial_push::an_ownerless_path_is_taken_over_only_by_its_pusher_or_with_own_credentials",
            an_ownerless_path_is_taken_over_only_by_its_pusher_or_with_own_credentials,
        ),
    ]
}

/// The victim's value: it must never appear in a status or a log.
const CANARY: &str = "canary-Push-victim-4Rz";
/// The victim's value after its second push.
const CANARY_V2: &str = "canary-Push-victim-v2-8Kq";
/// The victim's path, under the shared mount.
const VICTIM_PATH: &str = "team-a/db";

/// A ClusterSecretStore over a fresh KV v2 mount with the root token,
/// open to `namespaces`, as a platform team shares one.
struct Shared {
    mount: String,
    store_ref: Value,
    _guard: ClusterStoreGuard,
}

async fn shared_store(fx: &Fx, bao: &Bao, namespaces: &[&str]) -> Result<Shared, Failed> {
    let mount = bao.enable_kv2().await?;
    let sys_secrets: Api<Secret> = fx.sys.api();
    put_secret(&sys_secrets, "vault-token", "token", &bao.root_token).await?;
    let api: Api<ClusterSecretStore> = Api::all(fx.cluster.admin());
    let name = format!("{}-css", fx.ns());
    let guard = ClusterStoreGuard { api: api.clone(), name: name.clone() };
    let auth = json!({"tokenSecretRef": {"name": "vault-token", "key": "token", "namespace": fx.sys.name}});
    create(
        &api,
        json!({
            "apiVersion": "seal.dev/v1alpha1", "kind": "ClusterSecretStore",
            "metadata": {"name": name},
            "spec": {"provider": vault(&bao.addr, &mount, "v2", auth), "conditions": [{"namespaces": namespaces}]}
        }),
    )
    .await?;
    Ok(Shared { mount, store_ref: json!({"name": name, "kind": "ClusterSecretStore"}), _guard: guard })
}

/// A Secret `name` with `key: value` that the PushSecrets `allow` may push.
async fn source(api: &Api<Secret>, name: &str, key: &str, value: &str, allow: &str) -> Result<(), Failed> {
    let metadata = json!({"name": name, "annotations": {"seal.dev/allow-push": allow}});
    create(api, json!({"metadata": metadata, "stringData": {key: value}})).await.map(drop)
}

/// A PushSecret `name` pushing `secret`'s key `key` to `path` (as
/// `property` when given) through `store_ref`, with `deletionPolicy:
/// Delete`, refreshed every second.
fn manifest(name: &str, store_ref: &Value, secret: &str, key: &str, path: &str, property: Option<&str>) -> Value {
    let mut remote = json!({"remoteKey": path});
    if let Some(p) = property {
        remote["property"] = json!(p);
    }
    json!({"apiVersion": "seal.dev/v1alpha1", "kind": "PushSecret", "metadata": {"name": name},
           "spec": {"refreshInterval": "1s", "deletionPolicy": "Delete",
                    "secretStoreRefs": [store_ref],
                    "selector": {"secret": {"name": secret}},
                    "data": [{"match": {"secretKey": key, "remoteRef": remote}}]}})
}

/// Creates the PushSecret of [`manifest`].
async fn push_secret(
    api: &Api<PushSecret>,
    name: &str,
    store_ref: &Value,
    (secret, key): (&str, &str),
    path: &str,
    property: Option<&str>,
) -> Result<(), Failed> {
    create(api, manifest(name, store_ref, secret, key, path, property)).await.map(drop)
}

/// What is at `path` now: its properties, its versions (number → alive)
/// and its custom metadata; `None` when there is no secret.
struct Remote {
    data: BTreeMap<String, String>,
    versions: BTreeMap<u64, bool>,
    custom: HashMap<String, String>,
}

async fn remote(bao: &Bao, mount: &str, path: &str) -> Result<Option<Remote>, Failed> {
    let root = bao.root()?;
    let Ok(meta) = vaultrs::kv2::read_metadata(&root, mount, path).await else { return Ok(None) };
    let versions = meta
        .versions
        .iter()
        .filter_map(|(n, v)| Some((n.parse::<u64>().ok()?, v.deletion_time.is_empty() && !v.destroyed)))
        .collect();
    let data = vaultrs::kv2::read::<BTreeMap<String, String>>(&root, mount, path).await.unwrap_or_default();
    Ok(Some(Remote { data, versions, custom: meta.custom_metadata.unwrap_or_default() }))
}

/// Every version of the victim's secret is there and readable, and its
/// current value is `CANARY_V2`, its only property.
async fn victim_intact(bao: &Bao, mount: &str) -> Result<(), Failed> {
    let r = remote(bao, mount, VICTIM_PATH).await?.ok_or("the victim's secret is gone (every version)")?;
    ensure(r.data.get("password").map(String::as_str) == Some(CANARY_V2), "the victim's value changed")?;
    ensure(r.data.len() == 1, format!("properties were added to the victim's secret: {:?}", r.data.keys()))?;
    ensure(
        r.versions == BTreeMap::from([(1, true), (2, true)]),
        format!("the victim's versions changed: {:?}", r.versions),
    )?;
    let root = bao.root()?;
    let v1 = vaultrs::kv2::read_version::<BTreeMap<String, String>>(&root, mount, VICTIM_PATH, 1).await?;
    ensure(v1.get("password").map(String::as_str) == Some(CANARY), "version 1 of the victim's secret changed")
}

/// The victim's PushSecret `owner` (`<namespace>/<name>`) is recorded as
/// the owner of its path and property, in its status and in the secret's
/// custom metadata (names only).
async fn victim_recorded(bao: &Bao, mount: &str, pss: &Api<PushSecret>, owner: &str) -> Result<(), Failed> {
    let r = remote(bao, mount, VICTIM_PATH).await?.ok_or("the victim's secret is gone")?;
    let by = r.custom.get("seal.dev/pushed-by").cloned().unwrap_or_default();
    ensure(by.starts_with(&format!("{owner}/")), format!("the remote record does not name {owner}: {by:?}"))?;
    let props = r.custom.get("seal.dev/pushed-properties").cloned().unwrap_or_default();
    ensure(props == r#"["password"]"#, format!("the remote record lists {props:?}"))?;
    let name = owner.rsplit('/').next().unwrap_or_default();
    let obj = serde_json::to_value(pss.get(name).await?)?;
    let pushed = &obj["status"]["pushed"];
    ensure(
        pushed[0]["remoteKey"] == VICTIM_PATH && pushed[0]["properties"] == json!(["password"]),
        format!("the status does not record what was pushed: {pushed}"),
    )
}

/// The victim's PushSecret pushes `CANARY`, then `CANARY_V2`: two versions.
async fn victim_pushes(fx: &Fx, bao: &Bao, shared: &Shared) -> Result<(), Failed> {
    let secrets = fx.secrets();
    source(&secrets, "db", "password", CANARY, "push-db").await?;
    let pss: Api<PushSecret> = fx.app.api();
    push_secret(&pss, "push-db", &shared.store_ref, ("db", "password"), VICTIM_PATH, Some("password")).await?;
    wait_ready(&pss, "push-db", "True", "Synced").await?;
    let v2 = json!({"stringData": {"password": CANARY_V2}});
    secrets.patch("db", &PatchParams::default(), &Patch::Merge(&v2)).await?;
    wait_for("the victim's second version", Duration::from_secs(30), || async {
        let r = remote(bao, &shared.mount, VICTIM_PATH).await.map_err(|e| format!("{e:?}"))?;
        Ok::<_, String>(r.filter(|r| r.data.get("password").map(String::as_str) == Some(CANARY_V2)).map(drop))
    })
    .await?;
    victim_intact(bao, &shared.mount).await
}

/// Waits until the PushSecret `name` is refused with `reason` and a
/// message containing `needle`; returns it as JSON.
async fn wait_errored(api: &Api<PushSecret>, name: &str, reason: &str, needle: &str) -> Result<Value, Failed> {
    wait_for(&format!("{name} to be refused ({reason}: {needle})"), Duration::from_secs(60), || async {
        let o = api.get(name).await.map_err(|e| e.to_string())?;
        let v = serde_json::to_value(&o).map_err(|e| e.to_string())?;
        match ready_of(&v).1 {
            Some((s, r, m, _)) if s == "False" && r == reason && m.contains(needle) => Ok(Some(v)),
            other => Err(format!("{other:?}")),
        }
    })
    .await
}

/// Deletes a PushSecret and waits until it is gone (its finalizer, if any,
/// removed by the controller).
async fn delete_and_wait(api: &Api<PushSecret>, name: &str) -> Result<(), Failed> {
    api.delete(name, &DeleteParams::default()).await?;
    wait_for(&format!("{name} to be deleted"), Duration::from_secs(60), || async {
        Ok::<_, String>(api.get_opt(name).await.map_err(|e| e.to_string())?.is_none().then_some(()))
    })
    .await
}

fn deleting_a_push_secret_never_deletes_a_path_it_did_not_write() -> Result<(), Failed> {
    let fx = setup("adv-push-del")?;
    let bao = env::bao()?;
    let _lock = cluster_stores_lock();
    env::block_on(async {
        let attacker = fx.namespace("adv-push-del-attacker").await?;
        let shared = shared_store(&fx, bao, &[fx.ns(), &attacker.name]).await?;
        let ctrl = fx.start(Opts::watching(&[&attacker.name])).await?;
        victim_pushes(&fx, bao, &shared).await?;

        // The attacker names the victim's path with a Secret that does not
        // exist, as a property, as the whole secret, and with seal's
        // finalizer already set by hand.
        let pss: Api<PushSecret> = attacker.api();
        let r = &shared.store_ref;
        push_secret(&pss, "grab", r, ("missing", "password"), VICTIM_PATH, Some("password")).await?;
        push_secret(&pss, "grab-whole", r, ("missing", "password"), VICTIM_PATH, None).await?;
        let mut preset = manifest("grab-finalized", r, "missing", "password", VICTIM_PATH, Some("password"));
        preset["metadata"]["finalizers"] = json!(["seal.dev/push-secret"]);
        create(&pss, preset).await?;
        for name in ["grab", "grab-whole", "grab-finalized"] {
            let obj = wait_errored(&pss, name, "SecretNotFound", "does not exist").await?;
            assert_absent(&serde_json::to_vec(&obj)?, CANARY_V2, "the attacker's status")?;
        }
        let mut finalized = Vec::new();
        for name in ["grab", "grab-whole"] {
            finalized.push((name, pss.get(name).await?.finalizers().to_vec()));
        }
        for name in ["grab", "grab-whole", "grab-finalized"] {
            delete_and_wait(&pss, name).await?;
        }
        victim_intact(bao, &shared.mount).await?;
        // Refused before anything was written: no finalizer was added (the
        // one set by hand removed nothing that was not its own).
        for (name, f) in finalized {
            ensure(f.is_empty(), format!("{name} got finalizers {f:?} without writing anything"))?;
        }
        wait_ready(&fx.app.api::<PushSecret>(), "push-db", "True", "Synced").await?;
        for canary in [CANARY, CANARY_V2] {
            assert_absent(&ctrl.logs(), canary, "the controller's logs")?;
        }
        Ok(())
    })
}

fn a_gone_property_does_not_make_unpush_delete_the_others() -> Result<(), Failed> {
    let fx = setup("adv-push-gone")?;
    let bao = env::bao()?;
    env::block_on(async {
        let root = bao.root()?;
        let mount = bao.enable_kv2().await?;
        put_secret(&fx.secrets(), "vault-token", "token", &bao.root_token).await?;
        create_store(&fx.stores(), "kv", vault(&bao.addr, &mount, "v2", token_auth("vault-token"))).await?;
        let store_ref = json!({"name": "kv", "kind": "SecretStore"});
        let secrets = fx.secrets();
        source(&secrets, "app", "token", CANARY, "push-gone,push-kept").await?;
        let pss: Api<PushSecret> = fx.app.api();
        push_secret(&pss, "push-gone", &store_ref, ("app", "token"), "app/gone", Some("token")).await?;
        push_secret(&pss, "push-kept", &store_ref, ("app", "token"), "app/kept", Some("token")).await?;
        let _ctrl = fx.start(Opts::default()).await?;
        wait_ready(&pss, "push-gone", "True", "Synced").await?;
        wait_ready(&pss, "push-kept", "True", "Synced").await?;
        // The Secret's owner withdraws consent, so nothing is pushed again
        // while the remote secrets change by hand (the finalizers stay).
        let withdraw = json!({"metadata": {"annotations": {"seal.dev/allow-push": "nobody"}}});
        secrets.patch("app", &PatchParams::default(), &Patch::Merge(&withdraw)).await?;
        wait_errored(&pss, "push-gone", "SecretNotShared", "seal.dev/allow-push").await?;
        wait_errored(&pss, "push-kept", "SecretNotShared", "seal.dev/allow-push").await?;

        // Someone adds a property of their own to each secret (keeping its
        // custom metadata, as `bao kv patch` does); at app/gone the pushed
        // property is then removed by hand.
        let theirs = BTreeMap::from([("url", "https://db.internal")]);
        let mut both = theirs.clone();
        both.insert("token", CANARY);
        vaultrs::kv2::set(&root, &mount, "app/kept", &both).await?;
        vaultrs::kv2::set(&root, &mount, "app/gone", &both).await?;
        vaultrs::kv2::set(&root, &mount, "app/gone", &theirs).await?;
        let before = remote(bao, &mount, "app/gone").await?.ok_or("app/gone is not there")?;

        // The pushed property already gone: unpush leaves the others, and
        // every version.
        delete_and_wait(&pss, "push-gone").await?;
        let after = remote(bao, &mount, "app/gone").await?.ok_or("unpush deleted app/gone with every version")?;
        let want: BTreeMap<String, String> = theirs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        ensure(after.data == want, format!("app/gone changed: {:?}", after.data.keys()))?;
        ensure(after.versions == before.versions, format!("versions changed: {:?}", after.versions))?;
        ensure(
            !after.custom.contains_key("seal.dev/pushed-by") && !after.custom.contains_key("managed-by"),
            format!("app/gone still names seal as its writer: {:?}", after.custom),
        )?;

        // The pushed property there: it alone goes, the others stay.
        delete_and_wait(&pss, "push-kept").await?;
        let kept = remote(bao, &mount, "app/kept").await?.ok_or("unpush deleted app/kept with every version")?;
        ensure(kept.data == want, format!("app/kept: {:?}", kept.data.keys()))?;
        ensure(kept.versions.len() == 3, format!("app/kept versions: {:?}", kept.versions))?;
        Ok(())
    })
}

fn a_push_secret_cannot_overwrite_a_path_another_push_secret_owns() -> Result<(), Failed> {
    let fx = setup("adv-push-own")?;
    let bao = env::bao()?;
    let _lock = cluster_stores_lock();
    env::block_on(async {
        let attacker = fx.namespace("adv-push-own-attacker").await?;
        let shared = shared_store(&fx, bao, &[fx.ns(), &attacker.name]).await?;
        let ctrl = fx.start(Opts::watching(&[&attacker.name])).await?;
        victim_pushes(&fx, bao, &shared).await?;
        let victim = format!("{}/push-db", fx.ns());

        // The attacker pushes its own consenting Secret over the victim's
        // property, into a new property, and over the whole secret.
        let a_secrets: Api<Secret> = attacker.api();
        source(&a_secrets, "mine", "password", "attacker-value", "*").await?;
        let pss: Api<PushSecret> = attacker.api();
        let r = &shared.store_ref;
        push_secret(&pss, "overwrite", r, ("mine", "password"), VICTIM_PATH, Some("password")).await?;
        push_secret(&pss, "add", r, ("mine", "password"), VICTIM_PATH, Some("extra")).await?;
        let whole = json!({"stringData": {"whole": "{\"password\": \"attacker-value\"}"}});
        a_secrets.patch("mine", &PatchParams::default(), &Patch::Merge(&whole)).await?;
        push_secret(&pss, "whole", r, ("mine", "whole"), VICTIM_PATH, None).await?;
        for name in ["overwrite", "add", "whole"] {
            // Refused, without telling the attacker which object owns it.
            let obj =
                wait_errored(&pss, name, "StoreAccessDenied", "owned by a PushSecret of another namespace").await?;
            assert_absent(&serde_json::to_vec(&obj)?, CANARY_V2, "the attacker's status")?;
            let msg = ready_of(&obj).1.map(|c| c.2).unwrap_or_default();
            ensure(!msg.contains(&victim), format!("the attacker is told the owner: {msg}"))?;
            let f = pss.get(name).await?.finalizers().to_vec();
            ensure(f.is_empty(), format!("{name} got finalizers {f:?} without writing anything"))?;
        }
        // Not even another PushSecret of the victim's own namespace (told
        // which one owns it).
        let secrets = fx.secrets();
        source(&secrets, "other", "password", "other-value", "push-db-2").await?;
        let own: Api<PushSecret> = fx.app.api();
        push_secret(&own, "push-db-2", r, ("other", "password"), VICTIM_PATH, Some("other")).await?;
        wait_errored(&own, "push-db-2", "StoreAccessDenied", &format!("owned by PushSecret {victim}")).await?;

        // Some refresh rounds later nothing changed, and the victim is still
        // the recorded owner; deleting them all changes nothing either.
        // Each refused PushSecret is touched, and this test's own controller
        // reconciles PushSecrets again, so a stalled one cannot pass.
        ctrl.wait_reconciles_after("PushSecret", 4, async {
            for name in ["overwrite", "add", "whole"] {
                fx.touch_in(&attacker.name, "pushsecret", name)?;
            }
            fx.touch("pushsecret", "push-db-2")
        })
        .await?;
        tokio::time::sleep(Duration::from_secs(3)).await;
        victim_intact(bao, &shared.mount).await?;
        victim_recorded(bao, &shared.mount, &own, &victim).await?;
        for name in ["overwrite", "add", "whole"] {
            delete_and_wait(&pss, name).await?;
        }
        delete_and_wait(&own, "push-db-2").await?;
        victim_intact(bao, &shared.mount).await?;
        for canary in [CANARY, CANARY_V2] {
            assert_absent(&ctrl.logs(), canary, "the controller's logs")?;
        }

        // The owner's own deletion removes the secret: its property was the
        // only one there.
        delete_and_wait(&own, "push-db").await?;
        ensure(remote(bao, &shared.mount, VICTIM_PATH).await?.is_none(), "the owner's deletion left its secret")?;
        Ok(())
    })
}

fn an_ownerless_path_is_taken_over_only_by_its_pusher_or_with_own_credentials() -> Result<(), Failed> {
    let fx = setup("adv-push-legacy")?;
    let bao = env::bao()?;
    let _lock = cluster_stores_lock();
    env::block_on(async {
        let attacker = fx.namespace("adv-push-legacy-attacker").await?;
        let shared = shared_store(&fx, bao, &[fx.ns(), &attacker.name]).await?;
        let root = bao.root()?;
        let mount = &shared.mount;
        // Secrets marked as seal's before owners were recorded (an upgrade)
        // and as ESO's, with no owner.
        for (path, by) in [("legacy/db", "seal"), ("eso/db", "external-secrets")] {
            vaultrs::kv2::set(&root, mount, path, &BTreeMap::from([("password", "old")])).await?;
            let mut opts = vaultrs::api::kv2::requests::SetSecretMetadataRequest::builder();
            opts.custom_metadata(HashMap::from([("managed-by".to_owned(), by.to_owned())]));
            vaultrs::kv2::set_metadata(&root, mount, path, Some(&mut opts)).await?;
        }
        // The PushSecret that pushed legacy/db before the upgrade: its
        // status lists it.
        let secrets = fx.secrets();
        source(&secrets, "db", "password", CANARY, "*").await?;
        let pss: Api<PushSecret> = fx.app.api();
        let r = &shared.store_ref;
        push_secret(&pss, "push-legacy", r, ("db", "password"), "legacy/db", Some("password")).await?;
        let store = format!("ClusterSecretStore {}", r["name"].as_str().unwrap_or_default());
        let status = json!({"status": {"syncedPushSecrets": {store: ["legacy/db/password"]}}});
        pss.patch_status("push-legacy", &PatchParams::default(), &Patch::Merge(&status)).await?;
        // The attacker, through the shared store, at both.
        let a_secrets: Api<Secret> = attacker.api();
        source(&a_secrets, "mine", "password", "attacker-value", "*").await?;
        let a_pss: Api<PushSecret> = attacker.api();
        push_secret(&a_pss, "grab-legacy", r, ("mine", "password"), "legacy/db", Some("password")).await?;
        push_secret(&a_pss, "grab-eso", r, ("mine", "password"), "eso/db", Some("password")).await?;
        let _ctrl = fx.start(Opts::watching(&[&attacker.name])).await?;

        wait_ready(&pss, "push-legacy", "True", "Synced").await?;
        let legacy = remote(bao, mount, "legacy/db").await?.ok_or("legacy/db is gone")?;
        ensure(legacy.data.get("password").map(String::as_str) == Some(CANARY), "legacy/db was not pushed")?;
        let by = legacy.custom.get("seal.dev/pushed-by").cloned().unwrap_or_default();
        ensure(by.starts_with(&format!("{}/push-legacy/", fx.ns())), format!("legacy/db is recorded as {by:?}"))?;
        wait_errored(&a_pss, "grab-legacy", "StoreAccessDenied", "owned by a PushSecret of another namespace").await?;
        wait_errored(&a_pss, "grab-eso", "StoreAccessDenied", "no recorded owner").await?;
        let eso = remote(bao, mount, "eso/db").await?.ok_or("eso/db is gone")?;
        ensure(eso.data.get("password").map(String::as_str) == Some("old"), "the attacker overwrote eso/db")?;
        ensure(eso.versions.len() == 1, format!("eso/db versions: {:?}", eso.versions))?;

        // With a SecretStore of its own namespace (its own credentials) a
        // PushSecret takes an ESO path over, as a migration from ESO does.
        put_secret(&secrets, "vault-token", "token", &bao.root_token).await?;
        create_store(&fx.stores(), "own", vault(&bao.addr, mount, "v2", token_auth("vault-token"))).await?;
        let own = json!({"name": "own", "kind": "SecretStore"});
        push_secret(&pss, "migrate", &own, ("db", "password"), "eso/db", Some("password")).await?;
        wait_ready(&pss, "migrate", "True", "Synced").await?;
        let eso = remote(bao, mount, "eso/db").await?.ok_or("eso/db is gone")?;
        let by = eso.custom.get("seal.dev/pushed-by").cloned().unwrap_or_default();
        ensure(by.starts_with(&format!("{}/migrate/", fx.ns())), format!("eso/db is recorded as {by:?}"))?;
        Ok(())
    })
}
