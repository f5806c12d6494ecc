//! Bounds on what one tenant object can cost the controller: someone who may
//! create seal's resources in one namespace must not be able to stop it for
//! everyone (a loop on an async worker, memory past the pod's limit and an
//! OOM-kill that restarts into the same work). Each test is named after the
//! attack and shows the object refused with a reason naming its field, the
//! controller's peak memory (`VmHWM` of the process the test started) under
//! the shipped 256 MiB limit, and other namespaces served meanwhile.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::PostParams;
use libtest_mimic::{Failed, Trial};
use seal::api::ExternalSecret;
use seal::api::generator::Password;
use serde_json::{Value, json};

use crate::env::{self, ensure, wait_for};
use crate::fixtures::metrics::metric;
use crate::fixtures::objects::{
    approle_auth, create, create_es, create_store, item, kv, put_secret, token_auth, vault,
};
use crate::fixtures::{Fx, Opts, setup};
use crate::process::ControllerProcess;

/// Every bounds test.
pub fn trials() -> Vec<Trial> {
    vec![
        env::trial(
            "adversarial_bounds::an_impossible_password_is_refused_and_other_namespaces_keep_working",
            an_impossible_password_is_refused_and_other_namespaces_keep_working,
        ),
        env::trial(
            "adversarial_bounds::doubling_rewrite_rules_are_refused_without_growing_memory",
            doubling_rewrite_rules_are_refused_without_growing_memory,
        ),
        env::trial(
            "adversarial_bounds::a_store_answering_a_huge_login_is_refused_without_growing_memory",
            a_store_answering_a_huge_login_is_refused_without_growing_memory,
        ),
        env::trial(
            "adversarial_bounds::two_hundred_tenant_secrets_labelled_as_ours_cost_a_slim_entry_each",
            two_hundred_tenant_secrets_labelled_as_ours_cost_a_slim_entry_each,
        ),
    ]
}

/// The memory limit the shipped Deployment gives the controller.
const SHIPPED_LIMIT_KIB: u64 = 256 * 1024;

/// How long a victim's ExternalSecret may take to materialize: it takes
/// about a second on an idle controller; this allows for two shared cores.
const USUAL: Duration = Duration::from_secs(30);

/// The Ready condition's (status, reason, message) of an object.
fn ready(v: &Value) -> (String, String, String) {
    let c = v["status"]["conditions"].as_array().and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"));
    let s = |k: &str| c.and_then(|c| c[k].as_str()).unwrap_or_default().to_owned();
    (s("status"), s("reason"), s("message"))
}

/// Waits until `name` is Ready=False with `reason` and a message containing
/// every one of `needles`; returns the message.
async fn wait_refused<K>(api: &Api<K>, name: &str, reason: &str, needles: &[&str]) -> Result<String, Failed>
where
    K: Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    wait_for(&format!("{name} to be refused with {reason}"), Duration::from_secs(60), || async {
        let o = api.get(name).await.map_err(|e| e.to_string())?;
        let v = serde_json::to_value(&o).map_err(|e| e.to_string())?;
        let (status, r, message) = ready(&v);
        if status == "False" && r == reason && needles.iter().all(|n| message.contains(n)) {
            Ok(Some(message))
        } else {
            Err(format!("Ready={status} {r}: {message}"))
        }
    })
    .await
}

/// [`wait_refused`], failing at once when the controller's peak memory
/// passes the shipped limit meanwhile (the process would have been
/// OOM-killed, and restarted into the same work).
async fn wait_refused_in_memory<K>(
    ctrl: &ControllerProcess,
    api: &Api<K>,
    name: &str,
    reason: &str,
    needles: &[&str],
) -> Result<String, Failed>
where
    K: Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let peak = ctrl.peak_rss_kib()?;
        ensure(
            peak < SHIPPED_LIMIT_KIB,
            format!("while {name} was reconciled the controller's peak RSS reached {} MiB, over 256 MiB", peak >> 10),
        )?;
        let v = serde_json::to_value(api.get(name).await?)?;
        let (status, r, message) = ready(&v);
        if status == "False" && r == reason && needles.iter().all(|n| message.contains(n)) {
            return Ok(message);
        }
        if Instant::now() >= deadline {
            let shown: String = message.chars().take(300).collect();
            return Err(format!("{name} was not refused with {reason} within 60 s: Ready={status} {r}: {shown}").into());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The controller's peak resident memory, checked against the shipped
/// limit; returns it in MiB.
fn peak_under(ctrl: &ControllerProcess, limit_kib: u64, what: &str) -> Result<u64, Failed> {
    let peak = ctrl.peak_rss_kib()?;
    eprintln!("adversarial_bounds: {what}: controller peak RSS {} MiB", peak >> 10);
    ensure(
        peak < limit_kib,
        format!("{what}: the controller's peak RSS was {} MiB, over {} MiB", peak >> 10, limit_kib >> 10),
    )?;
    Ok(peak >> 10)
}

/// Writes a KV v2 secret, retried while a new mount finishes its upgrade
/// (OpenBao answers 400 until then, more slowly when tests run together).
async fn put_kv(
    root: &vaultrs::client::VaultClient,
    mount: &str,
    path: &str,
    pairs: &[(&'static str, &'static str)],
) -> Result<(), Failed> {
    wait_for(&format!("writing {mount}/{path}"), Duration::from_secs(30), || async {
        vaultrs::kv2::set(root, mount, path, &kv(pairs)).await.map(|_| Some(())).map_err(|e| e.to_string())
    })
    .await
}

/// The victim: a namespace's ExternalSecret reading OpenBao, created now and
/// timed until its Secret holds the value.
async fn victim_materializes(fx: &Fx, name: &str) -> Result<Duration, Failed> {
    let bao = env::bao()?;
    let root = bao.root()?;
    let mount = bao.enable_kv2().await?;
    put_kv(&root, &mount, "app/v", &[("v", "victim-value")]).await?;
    put_secret(&fx.secrets(), &format!("{name}-token"), "token", &bao.root_token).await?;
    create_store(&fx.stores(), name, vault(&bao.addr, &mount, "v2", token_auth(&format!("{name}-token")))).await?;
    let t0 = Instant::now();
    create_es(&fx.es(), name, name, json!({"refreshInterval": "1h", "data": [item("v", "app/v", Some("v"))]})).await?;
    wait_for(&format!("{name}'s Secret"), USUAL, || async {
        let s = fx.secrets().get_opt(name).await.map_err(|e| e.to_string())?;
        match s.and_then(|s| s.data).and_then(|d| d.get("v").cloned()) {
            Some(v) if v.0 == b"victim-value" => Ok(Some(())),
            _ => Err("not yet".to_owned()),
        }
    })
    .await?;
    Ok(t0.elapsed())
}

fn an_impossible_password_is_refused_and_other_namespaces_keep_working() -> Result<(), Failed> {
    let fx = setup("bounds-pw")?;
    env::block_on(async {
        let attacker = fx.namespace("bounds-pw-attacker").await?;
        let passwords: Api<Password> = attacker.api();
        let es: Api<ExternalSecret> = attacker.api();
        // Three shapes that cannot be filled without repeats because the
        // symbols are also digits or letters: each looped forever on an
        // async worker, and three stopped /healthz and every namespace.
        let shapes = [
            ("digits", json!({"length": 11, "digits": 10, "symbols": 1, "symbolCharacters": "0"})),
            ("letters", json!({"length": 27, "digits": 0, "symbols": 1, "noUpper": true, "symbolCharacters": "q"})),
            ("both", json!({"length": 12, "digits": 10, "symbols": 2, "noUpper": true, "symbolCharacters": "7z"})),
        ];
        for (name, spec) in &shapes {
            create(
                &passwords,
                json!({"apiVersion": "seal.dev/v1alpha1", "kind": "Password", "metadata": {"name": name}, "spec": spec}),
            )
            .await?;
            create(
                &es,
                json!({"apiVersion": "seal.dev/v1alpha1", "kind": "ExternalSecret", "metadata": {"name": name},
                       "spec": {"refreshInterval": "1h",
                                "dataFrom": [{"sourceRef": {"generatorRef": {"kind": "Password", "name": name}}}]}}),
            )
            .await?;
        }
        let ctrl = fx.start(Opts::watching(&[&attacker.name])).await?;
        for (name, _) in &shapes {
            let msg = wait_refused(
                &es,
                name,
                "InvalidDocument",
                &["spec.dataFrom[0].sourceRef.generatorRef", "spec.symbols", "spec.symbolCharacters", "allowRepeat"],
            )
            .await?;
            eprintln!("adversarial_bounds: Password {name}: {msg}");
        }
        // While they exist (and are retried), another namespace is served
        // in its usual time and the health endpoint answers.
        let took = victim_materializes(&fx, "victim").await?;
        eprintln!("adversarial_bounds: the victim's ExternalSecret materialized in {took:?}");
        let (code, _) = ctrl.get("/healthz").await?;
        ensure(code == 200, format!("/healthz answered {code}"))?;
        // A possible shape in the attacker's namespace still works.
        create(
            &passwords,
            json!({"apiVersion": "seal.dev/v1alpha1", "kind": "Password", "metadata": {"name": "fine"},
                   "spec": {"length": 10, "digits": 9, "symbols": 1, "symbolCharacters": "0"}}),
        )
        .await?;
        create(
            &es,
            json!({"apiVersion": "seal.dev/v1alpha1", "kind": "ExternalSecret", "metadata": {"name": "fine"},
                   "spec": {"refreshInterval": "1h",
                            "dataFrom": [{"sourceRef": {"generatorRef": {"kind": "Password", "name": "fine"}}}]}}),
        )
        .await?;
        let secrets: Api<Secret> = attacker.api();
        let s = wait_for("the possible Password's Secret", USUAL, || async {
            secrets.get_opt("fine").await.map_err(|e| e.to_string())?.ok_or_else(|| "not yet".to_owned()).map(Some)
        })
        .await?;
        let pw = s.data.unwrap_or_default().remove("password").map(|v| v.0).unwrap_or_default();
        let mut chars = pw.clone();
        chars.sort_unstable();
        ensure(chars == b"0123456789", "the possible shape is every digit once")?;
        ctrl.alive()?;
        Ok(())
    })
}

fn doubling_rewrite_rules_are_refused_without_growing_memory() -> Result<(), Failed> {
    let fx = setup("bounds-rewrite")?;
    let bao = env::bao()?;
    env::block_on(async {
        let attacker = fx.namespace("bounds-rewrite-attacker").await?;
        let root = bao.root()?;
        let mount = bao.enable_kv2().await?;
        put_kv(&root, &mount, "app/x", &[("canary-key-name", "canary-value")]).await?;
        let a_secrets: Api<Secret> = attacker.api();
        put_secret(&a_secrets, "vault-token", "token", &bao.root_token).await?;
        create_store(&attacker.api(), "kv", vault(&bao.addr, &mount, "v2", token_auth("vault-token"))).await?;
        let es: Api<ExternalSecret> = attacker.api();
        // 25 rules doubling the key: 15 bytes became 480 MiB (788 MiB of
        // RSS); 31 aborted the process. And more rules than allowed.
        let double = |n: usize| vec![json!({"regexp": {"source": "^.*$", "target": "$0$0"}}); n];
        for (name, n) in [("double", 25), ("many", 40)] {
            create_es(
                &es,
                name,
                "kv",
                json!({"refreshInterval": "1h", "dataFrom": [{"extract": {"key": "app/x"}, "rewrite": double(n)}]}),
            )
            .await?;
        }
        let ctrl = fx.start(Opts::watching(&[&attacker.name])).await?;
        let msg = wait_refused_in_memory(
            &ctrl,
            &es,
            "double",
            "InvalidDocument",
            &["spec.dataFrom[0].rewrite[4]", "253 bytes"],
        )
        .await?;
        ensure(!msg.contains("canary"), format!("the key or value is quoted: {msg}"))?;
        let msg = wait_refused(&es, "many", "InvalidDocument", &["spec.dataFrom[0].rewrite", "at most 32"]).await?;
        ensure(!msg.contains("canary"), format!("the key or value is quoted: {msg}"))?;
        ensure(a_secrets.get_opt("double").await?.is_none(), "a Secret was written")?;
        victim_materializes(&fx, "victim").await?;
        peak_under(&ctrl, SHIPPED_LIMIT_KIB, "25 doubling rewrite rules")?;
        Ok(())
    })
}

/// A fake store on loopback answering every request with a 200 and a body
/// of [`HUGE`] bytes, streamed in 64 KiB writes until the client hangs up:
/// with a `Content-Length` (`declared`) or without one (the body ends when
/// the connection closes). Counts connections and bytes sent.
struct HugeServer {
    port: u16,
    connections: Arc<AtomicUsize>,
    sent: Arc<AtomicU64>,
}

const HUGE: u64 = 400 << 20;

impl HugeServer {
    fn start(declared: bool) -> Result<HugeServer, Failed> {
        let l = TcpListener::bind("127.0.0.1:0")?;
        let port = l.local_addr()?.port();
        let connections = Arc::new(AtomicUsize::new(0));
        let sent = Arc::new(AtomicU64::new(0));
        let (c, total) = (connections.clone(), sent.clone());
        std::thread::spawn(move || {
            for stream in l.incoming() {
                let Ok(mut s) = stream else { return };
                c.fetch_add(1, Ordering::Relaxed);
                let total = total.clone();
                std::thread::spawn(move || {
                    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
                    let _ = s.set_write_timeout(Some(Duration::from_secs(10)));
                    // The request's head; what it asks does not matter.
                    let mut head = Vec::new();
                    let mut buf = [0u8; 4096];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 65536 {
                        match s.read(&mut buf) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(buf.get(..n).unwrap_or_default()),
                        }
                    }
                    let answer = if declared {
                        format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {HUGE}\r\n\r\n")
                    } else {
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n".to_owned()
                    };
                    if s.write_all(answer.as_bytes()).is_err() {
                        return;
                    }
                    let chunk = vec![b' '; 64 * 1024];
                    let mut left = HUGE;
                    while left > 0 {
                        let n = left.min(chunk.len() as u64) as usize;
                        if s.write_all(chunk.get(..n).unwrap_or_default()).is_err() {
                            break;
                        }
                        total.fetch_add(n as u64, Ordering::Relaxed);
                        left -= n as u64;
                    }
                });
            }
        });
        Ok(HugeServer { port, connections, sent })
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

fn a_store_answering_a_huge_login_is_refused_without_growing_memory() -> Result<(), Failed> {
    let fx = setup("bounds-huge")?;
    env::block_on(async {
        let declared = HugeServer::start(true)?;
        let streamed = HugeServer::start(false)?;
        let attacker = fx.namespace("bounds-huge-attacker").await?;
        let a_secrets: Api<Secret> = attacker.api();
        put_secret(&a_secrets, "approle", "secret-id", "any-secret-id").await?;
        put_secret(&a_secrets, "vault-token", "token", "hvs.any").await?;
        let stores = [
            ("declared", vault(&declared.url(), "secret", "v2", approle_auth("approle", "role", "approle"))),
            ("streamed", vault(&streamed.url(), "secret", "v2", approle_auth("approle", "role", "approle"))),
            // A token login reads the token's own lookup: the same answer.
            ("token", vault(&streamed.url(), "secret", "v2", token_auth("vault-token"))),
        ];
        let es: Api<ExternalSecret> = attacker.api();
        for (name, provider) in &stores {
            create_store(&attacker.api(), name, provider.clone()).await?;
            create_es(&es, name, name, json!({"refreshInterval": "1h", "data": [item("x", "x", Some("x"))]})).await?;
        }
        let ctrl = fx.start(Opts::watching(&[&attacker.name])).await?;
        for (name, _) in &stores {
            let stores = attacker.api::<seal::api::SecretStore>();
            let msg = wait_refused_in_memory(&ctrl, &stores, name, "StoreUnavailable", &["1024 KiB"]).await?;
            ensure(msg.contains(&format!("SecretStore {}/{name}", attacker.name)), format!("no store named: {msg}"))?;
            wait_refused(&es, name, "StoreUnavailable", &["1024 KiB"]).await?;
            eprintln!("adversarial_bounds: store {name}: {msg}");
        }
        victim_materializes(&fx, "victim").await?;
        let (code, _) = ctrl.get("/healthz").await?;
        ensure(code == 200, format!("/healthz answered {code}"))?;
        eprintln!(
            "adversarial_bounds: the huge servers saw {} and {} connections and sent {} MiB and {} MiB before the controller hung up",
            declared.connections.load(Ordering::Relaxed),
            streamed.connections.load(Ordering::Relaxed),
            declared.sent.load(Ordering::Relaxed) >> 20,
            streamed.sent.load(Ordering::Relaxed) >> 20,
        );
        peak_under(&ctrl, SHIPPED_LIMIT_KIB, "stores answering 400 MiB")?;
        Ok(())
    })
}

/// Tenant Secrets that claim to be seal's, and their size.
const TENANT_SECRETS: usize = 200;
const TENANT_SECRET_BYTES: usize = 1_048_000;
/// The bound on the controller's peak memory with them: well under the
/// 200 MiB the Secrets hold (579 MiB when the list came in one page) and
/// under the shipped 256 MiB limit with room to spare. The cache keeps a
/// slim entry per Secret (key names and an HMAC); what remains is the
/// controller's own (about 47 MiB here, with OpenBao clients and the other
/// watches: the rewrite test's peak) and the list's pages of 10 in flight
/// (their JSON and objects, about 4.5 MiB per 1 MiB Secret, more when the
/// allocator spreads pages over threads). Measured: 92 MiB alone, 117 MiB
/// with the other tests running.
const TENANT_BOUND_KIB: u64 = 160 * 1024;

fn two_hundred_tenant_secrets_labelled_as_ours_cost_a_slim_entry_each() -> Result<(), Failed> {
    let fx = setup("bounds-labelled")?;
    env::block_on(async {
        let tenant = fx.namespace("bounds-labelled-tenant").await?;
        let secrets: Api<Secret> = tenant.api();
        let results: Vec<Result<(), String>> = futures::stream::iter(0..TENANT_SECRETS)
            .map(|i| {
                let secrets = secrets.clone();
                async move {
                    let mut s = Secret::default();
                    s.metadata.name = Some(format!("big-{i}"));
                    s.metadata.labels =
                        Some([("app.kubernetes.io/managed-by".to_owned(), "seal-controller".to_owned())].into());
                    let fill = b'a' + (i % 26) as u8;
                    s.data = Some([("blob".to_owned(), ByteString(vec![fill; TENANT_SECRET_BYTES]))].into());
                    secrets.create(&PostParams::default(), &s).await.map(drop).map_err(|e| e.to_string())
                }
            })
            .buffer_unordered(4)
            .collect()
            .await;
        results.into_iter().collect::<Result<Vec<()>, String>>()?;
        // The controller starts with them in place: its first list of the
        // Secrets it manages returns all of them, and it is ready (what
        // `start` waits for) once that list is done.
        let ctrl = fx.start(Opts::watching(&[&tenant.name])).await?;
        // Until every Secret was listed (pages of at most 10), the peak
        // stays under the bound.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let peak = ctrl.peak_rss_kib()?;
            ensure(
                peak < TENANT_BOUND_KIB,
                format!("while the Secrets were listed the controller's peak RSS reached {} MiB", peak >> 10),
            )?;
            let m = ctrl.metrics().await?;
            let lists = metric(&m, "seal_api_requests_total", &[("verb", "list"), ("resource", "secrets")]);
            if lists >= (TENANT_SECRETS / 10) as f64 {
                break;
            }
            ensure(Instant::now() < deadline, format!("{lists} lists of Secrets after 60 s"))?;
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let took = victim_materializes(&fx, "victim").await?;
        eprintln!("adversarial_bounds: the victim's ExternalSecret materialized in {took:?}");
        tokio::time::sleep(Duration::from_secs(3)).await;
        peak_under(&ctrl, TENANT_BOUND_KIB, "200 tenant Secrets of 1 MiB labelled as seal's")?;
        Ok(())
    })
}
