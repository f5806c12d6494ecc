//! ExternalSecrets end to end: `seal-controller` against the real control
//! plane and real OpenBao dev servers. KV v1 and v2 values (property,
//! version, dataFrom) become Secrets; changed values arrive after the refresh
//! interval and restart workloads once per change; token, AppRole,
//! Kubernetes and JWT auth work; short-lived tokens are replaced without a
//! failed reconcile; an OpenBao that goes away keeps the Secrets and the
//! controller recovers by itself; 200 ExternalSecrets over 20 paths cost one
//! read per path per refresh and one login; stores only use credentials they
//! may; no token or value leaks.
//!
//! Each test starts its own controller (this test binary re-executed with
//! `--seal-controller`) with its own controller namespace and
//! `--watch-namespace` set to its own namespaces, so that parallel
//! controllers do not fight. Tests that must stop OpenBao or read its audit
//! log run a private dev server ([`DevServer`]); the others use the shared one.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use kube::{Api, ResourceExt};
use libtest_mimic::{Failed, Trial};
use seal::api::{ClusterSecretStore, ExternalSecret, SecretStore};
use serde_json::{Value, json};

use crate::env::bao::DevServer;
use crate::env::{self, Bao, ensure, wait_for};
use crate::fixtures::metrics::metric;
use crate::fixtures::objects::{
    ClusterStoreGuard, TIMEOUT, approle_auth, cluster_stores_lock, create, create_es, create_es_ref, create_store,
    data_of, describe, events, item, kv, put_secret, read_policy, ready_of, token_auth, token_with, vault, wait_data,
    wait_event, wait_ready, wait_ready_within,
};
use crate::fixtures::{Opts, fmsg, setup};

const RESTARTED_AT: &str = "seal.dev/restartedAt";

/// Every ExternalSecret test.
pub fn trials() -> Vec<Trial> {
    vec![
        env::trial(
            "external::kv2_and_kv1_values_materialize_with_property_version_and_datafrom",
            kv2_and_kv1_values_materialize_with_property_version_and_datafrom,
        ),
        env::trial(
            "external::changed_value_in_openbao_reaches_the_secret_after_refresh",
            changed_value_in_openbao_reaches_the_secret_after_refresh,
        ),
        env::trial(
            "external::token_approle_and_kubernetes_and_jwt_auth_work",
            token_approle_and_kubernetes_and_jwt_auth_work,
        ),
        env::trial(
            "external::expiring_token_is_replaced_without_failing_reconciles",
            expiring_token_is_replaced_without_failing_reconciles,
        ),
        env::trial("external::openbao_down_keeps_secrets_and_recovers", openbao_down_keeps_secrets_and_recovers),
        env::trial(
            "external::two_hundred_external_secrets_over_twenty_paths_read_each_path_once_per_refresh",
            two_hundred_external_secrets_over_twenty_paths_read_each_path_once_per_refresh,
        ),
        env::trial(
            "external::secret_store_cannot_use_credentials_from_another_namespace",
            secret_store_cannot_use_credentials_from_another_namespace,
        ),
        env::trial(
            "external::cluster_secret_store_refuses_namespaces_it_does_not_allow",
            cluster_secret_store_refuses_namespaces_it_does_not_allow,
        ),
        env::trial(
            "external::no_token_or_value_in_logs_events_status_or_metrics",
            no_token_or_value_in_logs_events_status_or_metrics,
        ),
    ]
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default()
}

// ---------------------------------------------------------------------------
// Tests

fn kv2_and_kv1_values_materialize_with_property_version_and_datafrom() -> Result<(), Failed> {
    let fx = setup("ext-kv")?;
    let bao = env::bao()?;
    env::block_on(async {
        let root = bao.root()?;
        let kv2 = bao.enable_kv2().await?;
        let kv1 = bao.enable_kv1().await?;
        vaultrs::kv2::set(&root, &kv2, "app/db", &kv(&[("username", "app"), ("password", "first")])).await?;
        let v = vaultrs::kv2::set(&root, &kv2, "app/db", &kv(&[("username", "app"), ("password", "second")])).await?;
        ensure(v.version == 2, format!("the second write is version {}", v.version))?;
        vaultrs::kv2::set(&root, &kv2, "app/extra", &kv(&[("color", "teal"), ("size", "3")])).await?;
        let legacy = std::collections::HashMap::from([("key", "k-1"), ("region", "eu")]);
        vaultrs::kv1::set(&root, &kv1, "legacy/api", &legacy).await?;

        put_secret(&fx.secrets(), "vault-token", "token", &bao.root_token).await?;
        create_store(&fx.stores(), "kv2", vault(&bao.addr, &kv2, "v2", token_auth("vault-token"))).await?;
        create_store(&fx.stores(), "kv1", vault(&bao.addr, &kv1, "v1", token_auth("vault-token"))).await?;
        let es = fx.es();
        create_es(
            &es,
            "db",
            "kv2",
            json!({
                "refreshInterval": "1h",
                "target": {"name": "db-creds", "template": {"type": "Opaque", "metadata": {"labels": {"team": "payments"}}}},
                "data": [
                    item("password", "app/db", Some("password")),
                    {"secretKey": "old-password", "remoteRef": {"key": "app/db", "property": "password", "version": "1"}},
                    item("user", "app/db", Some("username")),
                    item("extra.json", "app/extra", None),
                ],
                "dataFrom": [{"extract": {"key": "app/extra"}}],
            }),
        )
        .await?;
        create_es(
            &es,
            "legacy-api",
            "kv1",
            json!({
                "data": [item("api-key", "legacy/api", Some("key"))],
                "dataFrom": [{"extract": {"key": "legacy/api"}}],
            }),
        )
        .await?;
        let _ctrl = fx.start(Opts::default()).await?;

        for store in ["kv2", "kv1"] {
            wait_ready(&fx.stores(), store, "True", "Authenticated").await?;
        }
        let db = wait_ready(&es, "db", "True", "Materialized").await?;
        let legacy_es = wait_ready(&es, "legacy-api", "True", "Materialized").await?;
        ensure(db["status"]["refreshTime"].is_string(), format!("no refreshTime: {}", describe(&db)))?;

        // KV v2: property, an older version, the whole secret as JSON, dataFrom.
        let s = fx.secrets().get("db-creds").await?;
        let mut data = data_of(&s);
        let whole: BTreeMap<String, String> = serde_json::from_str(&data.remove("extra.json").unwrap_or_default())
            .map_err(|e| format!("extra.json is not a JSON object of strings: {e}"))?;
        ensure(
            whole == BTreeMap::from([("color".into(), "teal".into()), ("size".into(), "3".into())]),
            format!("extra.json holds {whole:?}"),
        )?;
        let want: BTreeMap<String, String> =
            [("password", "second"), ("old-password", "first"), ("user", "app"), ("color", "teal"), ("size", "3")]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        ensure(data == want, format!("Secret db-creds holds {data:?}, expected {want:?}"))?;
        // KV v1: property and dataFrom.
        wait_data(&fx.secrets(), "legacy-api", &[("api-key", "k-1"), ("key", "k-1"), ("region", "eu")]).await?;

        // The Secret as the contract says: template, label, annotations, owner.
        ensure(s.type_.as_deref() == Some("Opaque"), format!("type {:?}", s.type_))?;
        let labels = s.labels();
        ensure(
            labels.get("app.kubernetes.io/managed-by").map(String::as_str) == Some("seal-controller"),
            format!("labels {labels:?}"),
        )?;
        ensure(
            labels.get("team").map(String::as_str) == Some("payments"),
            format!("template label missing: {labels:?}"),
        )?;
        let ann = s.annotations();
        for a in ["seal.dev/data-hmac", "seal.dev/input-digest"] {
            ensure(ann.contains_key(a), format!("annotation {a} missing: {ann:?}"))?;
        }
        for (secret, owner) in [(&s, &db), (&fx.secrets().get("legacy-api").await?, &legacy_es)] {
            let uid = owner["metadata"]["uid"].as_str().unwrap_or_default();
            ensure(
                secret.owner_references().iter().any(|o| o.uid == uid && o.kind == "ExternalSecret"),
                format!(
                    "Secret {} is not owned by its ExternalSecret: {:?}",
                    secret.name_any(),
                    secret.owner_references()
                ),
            )?;
        }
        wait_event(&fx.cluster.admin(), fx.ns(), "db", "Normal", "Materialized").await
    })
}

fn changed_value_in_openbao_reaches_the_secret_after_refresh() -> Result<(), Failed> {
    let fx = setup("ext-refresh")?;
    let bao = env::bao()?;
    env::block_on(async {
        let root = bao.root()?;
        let mount = bao.enable_kv2().await?;
        vaultrs::kv2::set(&root, &mount, "app/config", &kv(&[("token", "one")])).await?;
        put_secret(&fx.secrets(), "vault-token", "token", &bao.root_token).await?;
        create_store(&fx.stores(), "kv", vault(&bao.addr, &mount, "v2", token_auth("vault-token"))).await?;
        let deployments: Api<Deployment> = fx.app.api();
        create(
            &deployments,
            json!({
                "metadata": {"name": "web", "annotations": {"seal.dev/restart-on": "*"}},
                "spec": {
                    "replicas": 1,
                    "selector": {"matchLabels": {"app": "web"}},
                    "template": {
                        "metadata": {"labels": {"app": "web"}},
                        "spec": {"containers": [{"name": "web", "image": "registry.invalid/web:1"}]}
                    }
                }
            }),
        )
        .await?;
        let es = fx.es();
        create_es(
            &es,
            "config",
            "kv",
            json!({
                "refreshInterval": "5s",
                "data": [item("token", "app/config", Some("token"))],
                "rolloutRestartTargets": [{"kind": "Deployment", "name": "web"}],
            }),
        )
        .await?;
        let ctrl = fx.start(Opts::default()).await?;
        wait_ready(&es, "config", "True", "Materialized").await?;
        wait_data(&fx.secrets(), "config", &[("token", "one")]).await?;

        // (generation, restartedAt) of the Deployment's pod template.
        let restart_state = || async {
            let d = deployments.get("web").await?;
            let stamp = d
                .spec
                .as_ref()
                .and_then(|s| s.template.metadata.as_ref())
                .and_then(|m| m.annotations.as_ref())
                .and_then(|a| a.get(RESTARTED_AT).cloned());
            Ok::<_, Failed>((d.metadata.generation.unwrap_or_default(), stamp))
        };
        // Unchanged refreshes (over more than two intervals) restart nothing
        // and write nothing, although they read OpenBao again.
        let hold = |expect: (i64, Option<String>), what: &'static str| {
            let restart_state = &restart_state;
            let secrets = fx.secrets();
            let ctrl = &ctrl;
            async move {
                let rv = secrets.get("config").await?.resource_version();
                let reads0 = metric(&ctrl.metrics().await?, "seal_vault_reads_total", &[]);
                let end = Instant::now() + Duration::from_secs(12);
                while Instant::now() < end {
                    let now = restart_state().await?;
                    ensure(now == expect, format!("{what}: the Deployment went from {expect:?} to {now:?}"))?;
                    let rv_now = secrets.get("config").await?.resource_version();
                    ensure(
                        rv_now == rv,
                        format!("{what}: the Secret was written again (resourceVersion {rv:?} -> {rv_now:?})"),
                    )?;
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
                let reads = metric(&ctrl.metrics().await?, "seal_vault_reads_total", &[]) - reads0;
                ensure(reads >= 2.0, format!("{what}: only {reads} reads of OpenBao in 12 s with refreshInterval 5s"))
            }
        };
        let (gen0, stamp0) = restart_state().await?;
        ensure(stamp0.is_none(), format!("the first materialization restarted the Deployment ({stamp0:?})"))?;
        hold((gen0, None), "unchanged value").await?;

        let mut last = None;
        for (round, value) in [(1, "two"), (2, "three")] {
            vaultrs::kv2::set(&root, &mount, "app/config", &kv(&[("token", value)])).await?;
            let changed = Instant::now();
            wait_data(&fx.secrets(), "config", &[("token", value)]).await?;
            let latency = changed.elapsed();
            ensure(
                latency <= Duration::from_secs(16),
                format!("the change took {latency:?} to reach the Secret (refreshInterval 5s)"),
            )?;
            eprintln!("external: change {round} reached the Secret in {:.1}s", latency.as_secs_f64());
            let state = wait_for("the Deployment to be restarted", Duration::from_secs(30), || async {
                match restart_state().await {
                    Ok((g, Some(s))) if g == gen0 + round && Some(&s) != last.as_ref() => Ok(Some((g, Some(s)))),
                    Ok(other) => Err(format!("generation and restartedAt: {other:?} (started at {gen0})")),
                    Err(e) => Err(fmsg(e)),
                }
            })
            .await?;
            last = state.1.clone();
            // Exactly once per change: nothing more over the next refreshes.
            hold(state, "after a change").await?;
        }
        let restarts = metric(&ctrl.metrics().await?, "seal_rollout_restarts_total", &[]);
        ensure(restarts == 2.0, format!("seal_rollout_restarts_total is {restarts}, expected 2"))
    })
}

fn token_approle_and_kubernetes_and_jwt_auth_work() -> Result<(), Failed> {
    let fx = setup("ext-auth")?;
    let bao = env::bao()?;
    let cluster = fx.cluster;
    env::block_on(async {
        let root = bao.root()?;
        let mount = bao.enable_kv2().await?;
        vaultrs::kv2::set(&root, &mount, "team/app", &kv(&[("value", "from-openbao")])).await?;
        let policy = read_policy(bao, &mount, "team/").await?;
        let ns = fx.ns().to_owned();

        // Token: a token of that policy only, in a Secret.
        let token = token_with(bao, &[&policy]).await?;
        put_secret(&fx.secrets(), "vault-token", "token", &token).await?;
        create_store(&fx.stores(), "token", vault(&bao.addr, &mount, "v2", token_auth("vault-token"))).await?;
        // AppRole: role_id in the store, secret_id in a Secret.
        let approle = bao.enable_approle(&[&policy]).await?;
        put_secret(&fx.secrets(), "approle", "secret-id", &approle.secret_id).await?;
        create_store(
            &fx.stores(),
            "approle",
            vault(&bao.addr, &mount, "v2", approle_auth(&approle.mount, &approle.role_id, "approle")),
        )
        .await?;
        // Kubernetes: OpenBao reviews the ServiceAccount's token with the API server.
        cluster.service_account_for_stores(&ns, "vault-k8s", "*").await?;
        cluster.bind_auth_delegator(&ns, "vault-k8s").await?;
        let k8s_mount = bao.enable_kubernetes_auth(cluster, "app", &ns, "vault-k8s", &[&policy]).await?;
        create_store(
            &fx.stores(),
            "kubernetes",
            vault(
                &bao.addr,
                &mount,
                "v2",
                json!({"kubernetes": {"mountPath": k8s_mount, "role": "app", "serviceAccountRef": {"name": "vault-k8s"}}}),
            ),
        )
        .await?;
        // JWT: OpenBao checks the token's signature with the cluster's key.
        cluster.service_account_for_stores(&ns, "vault-jwt", "*").await?;
        let audience = "seal-test";
        let jwt_mount = bao
            .enable_jwt(
                &[&cluster.service_account_public_key_pem],
                &cluster.service_account_issuer,
                "app",
                &format!("system:serviceaccount:{ns}:vault-jwt"),
                audience,
                &[&policy],
            )
            .await?;
        create_store(
            &fx.stores(),
            "jwt",
            vault(
                &bao.addr,
                &mount,
                "v2",
                json!({"jwt": {"path": jwt_mount, "role": "app", "kubernetesServiceAccountToken": {
                    "serviceAccountRef": {"name": "vault-jwt", "audiences": [audience]}}}}),
            ),
        )
        .await?;
        let kinds = ["token", "approle", "kubernetes", "jwt"];
        for k in kinds {
            create_es(&fx.es(), &format!("via-{k}"), k, json!({"data": [item("value", "team/app", Some("value"))]}))
                .await?;
        }
        let _ctrl = fx.start(Opts::default()).await?;
        for k in kinds {
            wait_ready(&fx.stores(), k, "True", "Authenticated").await?;
            wait_ready(&fx.es(), &format!("via-{k}"), "True", "Materialized").await?;
            wait_data(&fx.secrets(), &format!("via-{k}"), &[("value", "from-openbao")]).await?;
        }
        Ok(())
    })
}

fn expiring_token_is_replaced_without_failing_reconciles() -> Result<(), Failed> {
    let fx = setup("ext-ttl")?;
    let bao = env::bao()?;
    env::block_on(async {
        let root = bao.root()?;
        let mount = bao.enable_kv2().await?;
        for p in ["rot/a", "rot/b"] {
            vaultrs::kv2::set(&root, &mount, p, &kv(&[("value", "v")])).await?;
        }
        let policy = read_policy(bao, &mount, "rot/").await?;
        // Tokens of this role expire 6 s after login.
        let approle = bao.enable_approle_with_ttl(&[&policy], "6s").await?;
        put_secret(&fx.secrets(), "approle", "secret-id", &approle.secret_id).await?;
        create_store(
            &fx.stores(),
            "short",
            vault(&bao.addr, &mount, "v2", approle_auth(&approle.mount, &approle.role_id, "approle")),
        )
        .await?;
        let names: Vec<String> = (0..10).map(|i| format!("rot-{i}")).collect();
        for (i, n) in names.iter().enumerate() {
            let path = if i % 2 == 0 { "rot/a" } else { "rot/b" };
            create_es(
                &fx.es(),
                n,
                "short",
                json!({"refreshInterval": "2s", "data": [item("value", path, Some("value"))]}),
            )
            .await?;
        }
        let ctrl = fx.start(Opts::default()).await?;
        let mut transitions = BTreeMap::new();
        for n in &names {
            let v = wait_ready(&fx.es(), n, "True", "Materialized").await?;
            transitions.insert(n.clone(), ready_of(&v).1.map(|c| c.3).unwrap_or_default());
        }
        let m0 = ctrl.metrics().await?;
        let window = Duration::from_secs(20);
        let end = Instant::now() + window;
        let mut polls = 0;
        while Instant::now() < end {
            for es in fx.es().list(&ListParams::default()).await?.items {
                let v = serde_json::to_value(&es)?;
                match ready_of(&v).1 {
                    Some((s, r, _, _)) if s == "True" && r == "Materialized" => {}
                    other => return Err(format!("{} was {other:?} during token rotation", es.name_any()).into()),
                }
            }
            polls += 1;
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let m1 = ctrl.metrics().await?;
        let delta = |name: &str, want: &[(&str, &str)]| metric(&m1, name, want) - metric(&m0, name, want);
        let logins = delta("seal_vault_logins_total", &[]);
        let reads = delta("seal_vault_reads_total", &[]);
        let errors = delta("seal_vault_read_errors_total", &[]);
        let reconciles = delta("seal_reconcile_total", &[("kind", "ExternalSecret")]);
        let failed =
            reconciles - delta("seal_reconcile_total", &[("kind", "ExternalSecret"), ("result", "Materialized")]);
        eprintln!(
            "external: over {window:?} with token_ttl 6s: {logins} logins, {reads} reads, {reconciles} reconciles \
             ({failed} not Materialized), {errors} read errors, {polls} status polls"
        );
        // A transient failure would have moved lastTransitionTime.
        for es in fx.es().list(&ListParams::default()).await?.items {
            let v = serde_json::to_value(&es)?;
            let t = ready_of(&v).1.map(|c| c.3).unwrap_or_default();
            ensure(
                transitions.get(&es.name_any()) == Some(&t),
                format!("{}: Ready changed and changed back during the window ({t})", es.name_any()),
            )?;
            let warnings: Vec<_> = events(&fx.cluster.admin(), fx.ns(), &es.name_any())
                .await?
                .into_iter()
                .filter(|e| e.0 == "Warning")
                .map(|e| e.1)
                .collect();
            ensure(warnings.is_empty(), format!("{}: Warning Events {warnings:?}", es.name_any()))?;
        }
        ensure(errors == 0.0 && failed == 0.0, format!("{errors} read errors, {failed} failed reconciles"))?;
        // The token lives 6 s and is replaced at 2/3 of that: ~5 logins in 20 s.
        ensure(logins >= 2.0, format!("only {logins} logins in {window:?} with tokens living 6 s: not replaced?"))?;
        ensure(logins <= 10.0, format!("{logins} logins in {window:?}: more than one per 2/3 of the token's life"))?;
        ensure(reconciles >= 40.0, format!("only {reconciles} reconciles of 10 ExternalSecrets refreshing every 2 s"))?;
        ensure(
            logins * 4.0 <= reconciles,
            format!("{logins} logins for {reconciles} reconciles: logging in per reconcile?"),
        )
    })
}

fn openbao_down_keeps_secrets_and_recovers() -> Result<(), Failed> {
    let fx = setup("ext-down")?;
    env::block_on(async {
        let mut server = DevServer::start(&fx.dir.path().join("bao"), false).await?;
        let bao = &server.bao;
        let write = |bao: &Bao, value: &'static str| {
            let root = bao.root();
            async move {
                let root = root?;
                vaultrs::kv2::set(&root, "secret", "app/db", &kv(&[("password", value)])).await?;
                vaultrs::kv2::set(&root, "secret", "app/gone", &kv(&[("password", value)])).await?;
                Ok::<_, Failed>(())
            }
        };
        write(bao, "before").await?;
        put_secret(&fx.secrets(), "vault-token", "token", &bao.root_token).await?;
        create_store(&fx.stores(), "private", vault(&bao.addr, "secret", "v2", token_auth("vault-token"))).await?;
        let es = fx.es();
        create_es(
            &es,
            "db",
            "private",
            json!({"refreshInterval": "2s", "data": [item("password", "app/db", Some("password"))]}),
        )
        .await?;
        // deletionPolicy Delete: still kept, since an unreachable store did
        // not say that the value is gone.
        create_es(
            &es,
            "gone",
            "private",
            json!({"refreshInterval": "2s", "target": {"deletionPolicy": "Delete"},
                   "data": [item("password", "app/gone", Some("password"))]}),
        )
        .await?;
        let ctrl = fx.start(Opts::default()).await?;
        let mut kept = BTreeMap::new();
        for n in ["db", "gone"] {
            wait_ready(&es, n, "True", "Materialized").await?;
            kept.insert(n, wait_data(&fx.secrets(), n, &[("password", "before")]).await?.resource_version());
        }

        server.stop();
        let stopped = Instant::now();
        for n in ["db", "gone"] {
            wait_ready_within(&es, n, "False", "StoreUnavailable", Duration::from_secs(60)).await?;
            wait_event(&fx.cluster.admin(), fx.ns(), n, "Warning", "StoreUnavailable").await?;
        }
        eprintln!("external: StoreUnavailable {:.1}s after OpenBao was killed", stopped.elapsed().as_secs_f64());
        // The Secrets stay as they were while OpenBao is away.
        let until = Instant::now() + Duration::from_secs(8);
        while Instant::now() < until {
            for (n, rv) in &kept {
                let s =
                    fx.secrets().get_opt(n).await?.ok_or(format!("Secret {n} was deleted while OpenBao was down"))?;
                ensure(
                    data_of(&s).get("password").map(String::as_str) == Some("before"),
                    format!("Secret {n} changed"),
                )?;
                ensure(&s.resource_version() == rv, format!("Secret {n} was written while OpenBao was down"))?;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let errors = metric(&ctrl.metrics().await?, "seal_vault_read_errors_total", &[("reason", "StoreUnavailable")]);
        ensure(errors >= 1.0, format!("seal_vault_read_errors_total{{reason=StoreUnavailable}} is {errors}"))?;

        // Back (empty, as dev servers start): the value is written again and
        // the controller recovers by itself, within its backoff.
        server.restart().await?;
        write(&server.bao, "before").await?;
        let back = Instant::now();
        for n in ["db", "gone"] {
            wait_ready_within(&es, n, "True", "Materialized", Duration::from_secs(150)).await?;
        }
        eprintln!("external: Materialized again {:.1}s after OpenBao came back", back.elapsed().as_secs_f64());
        wait_data(&fx.secrets(), "db", &[("password", "before")]).await?;
        // And it reads for real again.
        vaultrs::kv2::set(&server.bao.root()?, "secret", "app/db", &kv(&[("password", "after")])).await?;
        wait_data(&fx.secrets(), "db", &[("password", "after")]).await?;
        Ok(())
    })
}

/// One audit log request: (time, operation, path).
fn audit_requests(log: &Path) -> Result<Vec<(i64, String, String)>, Failed> {
    let text = std::fs::read_to_string(log).map_err(|e| format!("reading {}: {e}", log.display()))?;
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line).map_err(|e| format!("audit line is not JSON: {e}"))?;
        if v["type"] != "request" {
            continue;
        }
        let time = v["time"].as_str().unwrap_or_default();
        let t = chrono::DateTime::parse_from_rfc3339(time).map_err(|e| format!("audit time {time:?}: {e}"))?;
        let op = v["request"]["operation"].as_str().unwrap_or_default().to_owned();
        let path = v["request"]["path"].as_str().unwrap_or_default().to_owned();
        out.push((t.timestamp(), op, path));
    }
    Ok(out)
}

fn two_hundred_external_secrets_over_twenty_paths_read_each_path_once_per_refresh() -> Result<(), Failed> {
    const INTERVAL: u64 = 30;
    const PATHS: usize = 20;
    const OBJECTS: usize = 200;
    let fx = setup("ext-scale")?;
    // No ClusterSecretStore may exist while this controller runs: each
    // would add a login to seal_vault_logins_total.
    let _lock = cluster_stores_lock();
    env::block_on(async {
        // A private OpenBao whose audit log sees only this test's requests.
        let server = DevServer::start(&fx.dir.path().join("bao"), true).await?;
        let bao = &server.bao;
        let root = bao.root()?;
        for p in 0..PATHS {
            let v = format!("value-{p}");
            let n = p.to_string();
            vaultrs::kv2::set(&root, "secret", &format!("bulk/p{p:02}"), &BTreeMap::from([("value", &v), ("n", &n)]))
                .await?;
        }
        let policy = read_policy(bao, "secret", "bulk/").await?;
        let approle = bao.enable_approle(&[&policy]).await?;
        put_secret(&fx.secrets(), "approle", "secret-id", &approle.secret_id).await?;
        create_store(
            &fx.stores(),
            "bulk",
            vault(&bao.addr, "secret", "v2", approle_auth(&approle.mount, &approle.role_id, "approle")),
        )
        .await?;
        // 200 objects, each naming its path twice (two properties), every
        // other one a third time (dataFrom).
        let es = fx.es();
        let made = Instant::now();
        let results: Vec<Result<ExternalSecret, Failed>> = futures::stream::iter(0..OBJECTS)
            .map(|i| {
                let es = es.clone();
                async move {
                    let path = format!("bulk/p{:02}", i % PATHS);
                    let mut spec = json!({
                        "refreshInterval": format!("{INTERVAL}s"),
                        "data": [item("value", &path, Some("value")), item("n", &path, Some("n"))],
                    });
                    if i % 2 == 0 {
                        spec["dataFrom"] = json!([{"extract": {"key": path}}]);
                    }
                    create_es(&es, &format!("es-{i:03}"), "bulk", spec).await
                }
            })
            .buffer_unordered(16)
            .collect()
            .await;
        for r in results {
            r?;
        }
        eprintln!("external: {OBJECTS} ExternalSecrets created in {:.1}s", made.elapsed().as_secs_f64());

        let t_start = unix_now();
        let ctrl = fx.start(Opts::default()).await?;
        let started = Instant::now();
        wait_for("every ExternalSecret to be Ready", Duration::from_secs(400), || async {
            let list = es.list(&ListParams::default()).await.map_err(|e| e.to_string())?;
            let ready = list
                .items
                .iter()
                .filter(|o| {
                    let v = serde_json::to_value(o).unwrap_or_default();
                    matches!(ready_of(&v), (true, Some((s, r, _, _))) if s == "True" && r == "Materialized")
                })
                .count();
            if ready == OBJECTS { Ok(Some(())) } else { Err(format!("{ready} of {} Ready", list.items.len())) }
        })
        .await?;
        let t_ready = unix_now();
        eprintln!("external: all {OBJECTS} Ready {:.1}s after the controller started", started.elapsed().as_secs_f64());
        let secrets =
            fx.secrets().list(&ListParams::default().labels("app.kubernetes.io/managed-by=seal-controller")).await?;
        ensure(secrets.items.len() == OBJECTS, format!("{} managed Secrets, expected {OBJECTS}", secrets.items.len()))?;
        for s in &secrets.items {
            let i: usize =
                s.name_any().trim_start_matches("es-").parse().map_err(|_| format!("Secret {}", s.name_any()))?;
            let p = i % PATHS;
            // dataFrom (every other object) extracts the same two keys.
            let want = BTreeMap::from([("value".to_string(), format!("value-{p}")), ("n".to_string(), p.to_string())]);
            let have = data_of(s);
            ensure(have == want, format!("Secret {} holds {have:?}, expected {want:?}", s.name_any()))?;
        }
        let at_ready = audit_requests(server.audit_log.as_deref().ok_or("no audit log")?)?;
        let reads_at_ready =
            at_ready.iter().filter(|(_, op, p)| op == "read" && p.starts_with("secret/data/bulk/")).count();

        // Two more refreshes of every object (each refreshes 30-33 s after
        // its last reconcile).
        tokio::time::sleep(Duration::from_secs(2 * INTERVAL + 10)).await;
        ctrl.metrics().await?; // still serving
        let t_end = unix_now();
        let m = ctrl.metrics().await?;
        let audit = audit_requests(server.audit_log.as_deref().ok_or("no audit log")?)?;

        let login_path = format!("auth/{}/login", approle.mount);
        let audit_logins = audit.iter().filter(|(_, _, p)| *p == login_path).count();
        let reads: Vec<&(i64, String, String)> =
            audit.iter().filter(|(_, op, p)| op == "read" && p.starts_with("secret/data/bulk/")).collect();
        let mut per_path: BTreeMap<&str, usize> = BTreeMap::new();
        let mut per_epoch: BTreeMap<i64, usize> = BTreeMap::new();
        for (t, _, p) in &reads {
            *per_path.entry(p.as_str()).or_default() += 1;
            *per_epoch.entry(t / INTERVAL as i64).or_default() += 1;
        }
        let reads_after_ready: BTreeSet<&str> = audit
            .iter()
            .skip(at_ready.len())
            .filter(|(_, op, p)| op == "read" && p.starts_with("secret/data/bulk/"))
            .map(|(_, _, p)| p.as_str())
            .collect();
        // The controller's epoch is floor(unix time / refreshInterval): the
        // run touched these epochs, and a path may be read once in each.
        let epochs = t_end / INTERVAL - t_start / INTERVAL + 1;
        let epochs_since_ready = t_end / INTERVAL - t_ready / INTERVAL + 1;
        let metric_reads = metric(&m, "seal_vault_reads_total", &[]);
        let metric_logins = metric(&m, "seal_vault_logins_total", &[]);
        let reconciles = metric(&m, "seal_reconcile_total", &[("kind", "ExternalSecret")]);
        eprintln!(
            "external: {OBJECTS} ExternalSecrets, {PATHS} paths, refreshInterval {INTERVAL}s, {}s observed over {epochs} \
             epochs ({epochs_since_ready} after all were Ready): OpenBao audit log: {} reads ({reads_at_ready} until all \
             were Ready), per epoch {per_epoch:?}, per path max {}, {audit_logins} logins; controller metrics: \
             {metric_reads} reads, {metric_logins} logins, {reconciles} ExternalSecret reconciles",
            t_end - t_start,
            reads.len(),
            per_path.values().max().copied().unwrap_or_default(),
        );
        ensure(per_path.len() == PATHS, format!("{} paths read, expected {PATHS}", per_path.len()))?;
        for (p, n) in &per_path {
            ensure(
                *n as u64 <= epochs,
                format!("{p} was read {n} times over {epochs} refresh epochs: not de-duplicated per refresh"),
            )?;
        }
        // Bucketed by the time OpenBao saw the request, an epoch holds its
        // own 20 reads, plus at most 20 started just before its boundary.
        for (e, n) in &per_epoch {
            ensure(*n <= 2 * PATHS, format!("{n} reads in epoch {e}: more than one per path per refresh"))?;
        }
        ensure(
            reads_at_ready <= PATHS * (t_ready / INTERVAL - t_start / INTERVAL + 1) as usize,
            format!("{reads_at_ready} reads until all {OBJECTS} were Ready"),
        )?;
        ensure(
            reads_after_ready.len() == PATHS,
            format!("only {} paths were read again after all were Ready: no refresh?", reads_after_ready.len()),
        )?;
        ensure(
            metric_reads == reads.len() as f64,
            format!("seal_vault_reads_total is {metric_reads}, OpenBao saw {} reads", reads.len()),
        )?;
        ensure(audit_logins == 1, format!("OpenBao saw {audit_logins} AppRole logins, expected 1"))?;
        ensure(metric_logins == 1.0, format!("seal_vault_logins_total is {metric_logins}, expected 1"))?;
        ensure(reconciles >= 2.0 * OBJECTS as f64, format!("only {reconciles} reconciles"))
    })
}

fn secret_store_cannot_use_credentials_from_another_namespace() -> Result<(), Failed> {
    let fx = setup("ext-xns")?;
    let bao = env::bao()?;
    env::block_on(async {
        let root = bao.root()?;
        let mount = bao.enable_kv2().await?;
        vaultrs::kv2::set(&root, &mount, "app/x", &kv(&[("value", "x")])).await?;
        let other = fx.namespace("ext-xns-b").await?;
        let b = other.name.clone();
        // Valid credentials, in namespace B.
        let b_secrets: Api<Secret> = other.api();
        put_secret(&b_secrets, "vault-token", "token", &bao.root_token).await?;
        let approle = bao.enable_approle(&[]).await?;
        put_secret(&b_secrets, "approle", "secret-id", &approle.secret_id).await?;
        fx.cluster.service_account_for_stores(&b, "vault", "*").await?;
        // The same token in A: the control case.
        put_secret(&fx.secrets(), "vault-token", "token", &bao.root_token).await?;

        let stores = fx.stores();
        create_store(&stores, "own", vault(&bao.addr, &mount, "v2", token_auth("vault-token"))).await?;
        let sa = json!({"name": "vault", "namespace": b});
        let cross = [
            ("token", json!({"tokenSecretRef": {"name": "vault-token", "key": "token", "namespace": b}})),
            (
                "approle",
                json!({"appRole": {"path": approle.mount, "roleId": approle.role_id,
                    "secretRef": {"name": "approle", "key": "secret-id", "namespace": b}}}),
            ),
            ("kubernetes", json!({"kubernetes": {"role": "app", "serviceAccountRef": sa}})),
            ("jwt", json!({"jwt": {"role": "app", "kubernetesServiceAccountToken": {"serviceAccountRef": sa}}})),
        ];
        for (name, auth) in &cross {
            create_store(&stores, &format!("cross-{name}"), vault(&bao.addr, &mount, "v2", auth.clone())).await?;
        }
        let es = fx.es();
        create_es(&es, "own", "own", json!({"data": [item("value", "app/x", Some("value"))]})).await?;
        for (name, _) in &cross {
            create_es(
                &es,
                &format!("cross-{name}"),
                &format!("cross-{name}"),
                json!({"data": [item("value", "app/x", Some("value"))]}),
            )
            .await?;
        }
        // A store of namespace B is not visible from A either.
        let b_stores: Api<SecretStore> = other.api();
        create_store(&b_stores, "b-store", vault(&bao.addr, &mount, "v2", token_auth("vault-token"))).await?;
        create_es(&es, "uses-b-store", "b-store", json!({"data": [item("value", "app/x", Some("value"))]})).await?;

        let _ctrl = fx.start(Opts::watching(&[&b])).await?;
        wait_ready(&stores, "own", "True", "Authenticated").await?;
        wait_ready(&es, "own", "True", "Materialized").await?;
        wait_ready(&b_stores, "b-store", "True", "Authenticated").await?;
        for (name, _) in &cross {
            let store = wait_ready(&stores, &format!("cross-{name}"), "False", "StoreMisconfigured").await?;
            let msg = ready_of(&store).1.map(|c| c.2).unwrap_or_default();
            ensure(msg.contains(&b), format!("cross-{name}: the message does not name namespace {b}: {msg}"))?;
            wait_ready(&es, &format!("cross-{name}"), "False", "StoreMisconfigured").await?;
            wait_event(&fx.cluster.admin(), fx.ns(), &format!("cross-{name}"), "Warning", "StoreMisconfigured").await?;
        }
        wait_ready(&es, "uses-b-store", "False", "StoreNotFound").await?;
        for name in ["cross-token", "cross-approle", "cross-kubernetes", "cross-jwt", "uses-b-store"] {
            ensure(fx.secrets().get_opt(name).await?.is_none(), format!("a Secret {name} was written"))?;
        }
        Ok(())
    })
}

fn cluster_secret_store_refuses_namespaces_it_does_not_allow() -> Result<(), Failed> {
    let fx = setup("ext-css")?;
    let bao = env::bao()?;
    let _lock = cluster_stores_lock();
    env::block_on(async {
        let root = bao.root()?;
        let mount = bao.enable_kv2().await?;
        vaultrs::kv2::set(&root, &mount, "shared/x", &kv(&[("value", "shared")])).await?;
        let other = fx.namespace("ext-css-b").await?;
        let b = other.name.clone();
        // The store's credentials live in the controller's namespace.
        let sys_secrets: Api<Secret> = fx.sys.api();
        put_secret(&sys_secrets, "vault-token", "token", &bao.root_token).await?;
        let css_api: Api<ClusterSecretStore> = Api::all(fx.cluster.admin());
        let name = format!("{}-css", fx.ns());
        let guard = ClusterStoreGuard { api: css_api.clone(), name: name.clone() };
        let auth = json!({"tokenSecretRef": {"name": "vault-token", "key": "token", "namespace": fx.sys.name}});
        create(
            &css_api,
            json!({
                "apiVersion": "seal.dev/v1alpha1", "kind": "ClusterSecretStore",
                "metadata": {"name": name},
                "spec": {"provider": vault(&bao.addr, &mount, "v2", auth), "conditions": [{"namespaces": [fx.ns()]}]}
            }),
        )
        .await?;
        let store_ref = json!({"name": name, "kind": "ClusterSecretStore"});
        let spec = json!({"refreshInterval": "10s", "data": [item("value", "shared/x", Some("value"))]});
        create_es_ref(&fx.es(), "allowed", store_ref.clone(), spec.clone()).await?;
        let b_es: Api<ExternalSecret> = other.api();
        create_es_ref(&b_es, "refused", store_ref, spec).await?;

        let _ctrl = fx.start(Opts::watching(&[&b])).await?;
        wait_ready(&css_api, &name, "True", "Authenticated").await?;
        wait_ready(&fx.es(), "allowed", "True", "Materialized").await?;
        wait_data(&fx.secrets(), "allowed", &[("value", "shared")]).await?;
        let refused = wait_ready(&b_es, "refused", "False", "NamespaceNotAllowed").await?;
        let msg = ready_of(&refused).1.map(|c| c.2).unwrap_or_default();
        ensure(msg.contains(&b), format!("the message does not name the namespace: {msg}"))?;
        wait_event(&fx.cluster.admin(), &b, "refused", "Warning", "NamespaceNotAllowed").await?;
        let b_secrets: Api<Secret> = other.api();
        ensure(b_secrets.get_opt("refused").await?.is_none(), "a Secret was written in the refused namespace")?;

        // Allowing the namespace lets it through (on the object's next retry).
        css_api
            .patch(
                &name,
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"conditions": [{"namespaces": [fx.ns(), b]}]}})),
            )
            .await?;
        wait_ready_within(&b_es, "refused", "True", "Materialized", Duration::from_secs(150)).await?;
        wait_data(&b_secrets, "refused", &[("value", "shared")]).await?;

        // Deleted (and gone) before the lock is released.
        css_api.delete(&name, &DeleteParams::default()).await?;
        wait_for("the ClusterSecretStore to be gone", TIMEOUT, || async {
            css_api.get_opt(&name).await.map(|o| o.is_none().then_some(()))
        })
        .await?;
        drop(guard);
        Ok(())
    })
}

fn no_token_or_value_in_logs_events_status_or_metrics() -> Result<(), Failed> {
    let fx = setup("ext-leak")?;
    let bao = env::bao()?;
    env::block_on(async {
        let root = bao.root()?;
        let mount = bao.enable_kv2().await?;
        let nonce = format!(
            "{:x}{:x}",
            SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or_default(),
            std::process::id()
        );
        let canary = format!("canary-value-{nonce}");
        vaultrs::kv2::set(&root, &mount, "app/canary", &BTreeMap::from([("password", canary.as_str())])).await?;
        vaultrs::kv2::set(&root, &mount, "other/denied", &BTreeMap::from([("password", canary.as_str())])).await?;
        let policy = read_policy(bao, &mount, "app/").await?;
        let token = token_with(bao, &[&policy]).await?;
        let approle = bao.enable_approle(&[&policy]).await?;
        put_secret(&fx.secrets(), "vault-token", "token", &token).await?;
        put_secret(&fx.secrets(), "approle", "secret-id", &approle.secret_id).await?;
        create_store(&fx.stores(), "tok", vault(&bao.addr, &mount, "v2", token_auth("vault-token"))).await?;
        create_store(
            &fx.stores(),
            "ar",
            vault(&bao.addr, &mount, "v2", approle_auth(&approle.mount, &approle.role_id, "approle")),
        )
        .await?;
        let es = fx.es();
        let cases = [
            ("value", "tok", json!([item("password", "app/canary", Some("password"))]), "True", "Materialized"),
            ("whole", "ar", json!([item("all.json", "app/canary", None)]), "True", "Materialized"),
            ("no-property", "tok", json!([item("x", "app/canary", Some("nope"))]), "False", "PropertyNotFound"),
            ("no-path", "ar", json!([item("x", "app/missing", Some("password"))]), "False", "SecretNotFound"),
            ("denied", "tok", json!([item("x", "other/denied", Some("password"))]), "False", "StoreAccessDenied"),
        ];
        for (name, store, data, _, _) in &cases {
            create_es(&es, name, store, json!({"refreshInterval": "5s", "data": data})).await?;
        }
        create_es(
            &es,
            "extract",
            "ar",
            json!({"refreshInterval": "5s", "dataFrom": [{"extract": {"key": "app/canary"}}]}),
        )
        .await?;
        // Debug logs too: the most a user would turn on.
        let ctrl = fx.start(Opts::default().env("RUST_LOG", "debug")).await?;
        for (name, _, _, status, reason) in &cases {
            wait_ready(&es, name, status, reason).await?;
        }
        wait_ready(&es, "extract", "True", "Materialized").await?;
        wait_ready(&fx.stores(), "tok", "True", "Authenticated").await?;
        wait_ready(&fx.stores(), "ar", "True", "Authenticated").await?;
        // The canary did go through the controller.
        wait_data(&fx.secrets(), "value", &[("password", &canary)]).await?;
        wait_data(&fx.secrets(), "extract", &[("password", &canary)]).await?;
        for (name, _, _, status, reason) in &cases {
            if *status == "False" {
                wait_event(&fx.cluster.admin(), fx.ns(), name, "Warning", reason).await?;
            }
        }
        // A few refreshes (and failure retries) more: this test's own
        // controller reconciles its ExternalSecrets (5 s intervals) in the
        // window, so the search below is not of a stalled controller.
        ctrl.wait_reconciles("ExternalSecret", 2).await?;
        tokio::time::sleep(Duration::from_secs(12)).await;

        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let needles = [
            ("the secret value", canary.clone()),
            ("the secret value (base64)", b64(&canary)),
            ("the Vault token", token.clone()),
            ("the Vault token (base64)", b64(&token)),
            ("the AppRole secret_id", approle.secret_id.clone()),
            ("the AppRole secret_id (base64)", b64(&approle.secret_id)),
        ];
        let logs = ctrl.logs();
        ensure(logs.len() > 1000, format!("the controller wrote only {} bytes of logs", logs.len()))?;
        let admin = fx.cluster.admin();
        let new_events: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(admin.clone(), fx.ns());
        let core_events: Api<k8s_openapi::api::core::v1::Event> = Api::namespaced(admin.clone(), fx.ns());
        let ev_new = new_events.list(&ListParams::default()).await?;
        ensure(!ev_new.items.is_empty(), "no Events at all")?;
        let places: Vec<(&str, Vec<u8>)> = vec![
            ("controller logs", logs),
            ("Events (events.k8s.io/v1)", serde_json::to_vec(&ev_new)?),
            ("Events (v1)", serde_json::to_vec(&core_events.list(&ListParams::default()).await?)?),
            ("ExternalSecrets", serde_json::to_vec(&es.list(&ListParams::default()).await?)?),
            ("SecretStores", serde_json::to_vec(&fx.stores().list(&ListParams::default()).await?)?),
            ("metrics", ctrl.metrics().await?.into_bytes()),
        ];
        let found = |hay: &[u8], needle: &str| hay.windows(needle.len()).any(|w| w == needle.as_bytes());
        // The search itself works: the value is where it belongs.
        let managed = serde_json::to_vec(&fx.secrets().get("value").await?)?;
        ensure(found(&managed, &b64(&canary)), "the canary is not found even in its own Secret")?;
        let mut leaks = Vec::new();
        for (place, hay) in &places {
            for (what, needle) in &needles {
                if found(hay, needle) {
                    leaks.push(format!("{what} in {place}"));
                }
            }
        }
        ensure(leaks.is_empty(), format!("leaked: {}", leaks.join(", ")))
    })
}
