//! Test doubles for the ExternalSecret path, shared by the pool's unit
//! tests and the controller's mock-API tests (as ESO keeps `vault/fake`):
//!
//! - [`FakeVault`]: a small Vault on 127.0.0.1 (axum) that answers the
//!   endpoints `sources::vault` calls for reads — token lookup, AppRole
//!   login, KV v2 data (latest or a version), metadata and list — logs every
//!   request, and can be sealed (503) or refuse reads (403);
//! - [`FakeKube`]: a fake API server (`tower_test::mock`, as controller-rs
//!   does) that holds objects by path, answers GET, server-side apply,
//!   status patches, Events and DELETE, and records what was sent;
//! - [`source_context`]: the sources' context over a [`FakeKube`] client,
//!   with a preloaded HMAC key.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use http::{Request, Response};
use kube::client::Body;
use serde_json::{Value, json};

use crate::key_registry::KeyRegistry;
use crate::sources::SourceContext;
use crate::sources::vault::VaultPool;
use crate::telemetry::Metrics;

/// The token the fake Vault accepts.
pub const TOKEN: &str = "fake-vault-token";
/// The AppRole secret_id the fake Vault accepts (role_id is not checked).
pub const SECRET_ID: &str = "fake-secret-id";
/// The KV v2 mount of the fake Vault.
pub const MOUNT: &str = "secret";
/// The controller's HMAC key in tests.
pub const HMAC_KEY: [u8; 32] = [7; 32];

/// How the fake Vault answers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// As Vault does.
    #[default]
    Up,
    /// 503 to everything (sealed).
    Sealed,
    /// 403 to KV requests (a token whose policy was taken away); logins work.
    DenyReads,
}

#[derive(Default)]
struct VaultState {
    /// Path below the mount → every version's data (the last is current).
    kv: BTreeMap<String, Vec<serde_json::Map<String, Value>>>,
    /// Path → custom metadata.
    custom: BTreeMap<String, BTreeMap<String, String>>,
    mode: Mode,
    /// `METHOD /path?query` of every request, in order.
    log: Vec<String>,
}

/// A Vault on 127.0.0.1 for tests; stops when dropped.
pub struct FakeVault {
    /// `http://127.0.0.1:PORT`.
    pub addr: String,
    state: Arc<Mutex<VaultState>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeVault {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeVault {
    /// Starts one on a free port (inside a tokio runtime).
    pub async fn start() -> FakeVault {
        let state = Arc::new(Mutex::new(VaultState::default()));
        let app = axum::Router::new().fallback(answer).with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1");
        let addr = format!("http://{}", listener.local_addr().expect("local address"));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeVault { addr, state, task }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VaultState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes a new version of the secret at `path` (below the mount).
    pub fn put(&self, path: &str, pairs: &[(&str, &str)]) {
        let data = pairs.iter().map(|(k, v)| ((*k).to_owned(), Value::String((*v).to_owned()))).collect();
        self.lock().kv.entry(path.to_owned()).or_default().push(data);
    }

    /// Sets the custom metadata of the secret at `path`.
    pub fn set_custom_metadata(&self, path: &str, pairs: &[(&str, &str)]) {
        let m = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        self.lock().custom.insert(path.to_owned(), m);
    }

    /// Changes how it answers from now on.
    pub fn set_mode(&self, mode: Mode) {
        self.lock().mode = mode;
    }

    /// Every request so far, as `METHOD /path?query`.
    pub fn requests(&self) -> Vec<String> {
        self.lock().log.clone()
    }

    /// How many requests so far were exactly `METHOD /path?query`.
    pub fn count(&self, request: &str) -> usize {
        self.lock().log.iter().filter(|r| *r == request).count()
    }

    /// How many KV data reads so far (any path, any version).
    pub fn kv_reads(&self) -> usize {
        let prefix = format!("GET /v1/{MOUNT}/data/");
        self.lock().log.iter().filter(|r| r.starts_with(&prefix)).count()
    }

    /// How many logins (token lookups and AppRole logins) so far.
    pub fn logins(&self) -> usize {
        self.lock().log.iter().filter(|r| r.contains("/v1/auth/")).count()
    }

    /// Forgets the requests logged so far.
    pub fn clear_log(&self) {
        self.lock().log.clear();
    }
}

/// Vault's answer envelope around `data` (or `auth`).
fn envelope(data: Value, auth: Value) -> Value {
    json!({"request_id": "fake", "lease_id": "", "renewable": false, "lease_duration": 0,
           "data": data, "auth": auth, "wrap_info": null, "warnings": null})
}

fn error(code: StatusCode, why: &str) -> (StatusCode, String) {
    (code, json!({"errors": [why]}).to_string())
}

async fn answer(
    State(state): State<Arc<Mutex<VaultState>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, [(header::HeaderName, &'static str); 1], String) {
    let (code, text) = respond(&state, &method, &uri, &headers, &body);
    (code, [(header::CONTENT_TYPE, "application/json")], text)
}

fn respond(
    state: &Mutex<VaultState>,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> (StatusCode, String) {
    let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
    let path = uri.path().to_owned();
    let query = uri.query().unwrap_or_default().to_owned();
    st.log.push(if query.is_empty() { format!("{method} {path}") } else { format!("{method} {path}?{query}") });
    if st.mode == Mode::Sealed {
        return error(StatusCode::SERVICE_UNAVAILABLE, "Vault is sealed");
    }
    let token_ok = headers.get("x-vault-token").and_then(|v| v.to_str().ok()) == Some(TOKEN);
    if path == "/v1/auth/approle/login" {
        let login: Value = serde_json::from_slice(body).unwrap_or_default();
        if login["secret_id"] != SECRET_ID {
            return error(StatusCode::BAD_REQUEST, "invalid role or secret ID");
        }
        let auth = json!({"client_token": TOKEN, "accessor": "a", "policies": [], "token_policies": [],
                          "metadata": null, "lease_duration": 3600, "renewable": true, "entity_id": "",
                          "token_type": "service", "orphan": true});
        return (StatusCode::OK, envelope(Value::Null, auth).to_string());
    }
    if !token_ok {
        return error(StatusCode::FORBIDDEN, "permission denied");
    }
    if path == "/v1/auth/token/lookup-self" {
        let data = json!({"accessor": "a", "creation_time": 0, "creation_ttl": 0, "display_name": "token",
                          "entity_id": "", "expire_time": null, "explicit_max_ttl": 0, "id": "",
                          "identity_policies": null, "issue_time": null, "meta": null, "num_uses": 0,
                          "orphan": true, "path": "auth/token/create", "policies": ["default"],
                          "renewable": false, "role": null, "ttl": 0});
        return (StatusCode::OK, envelope(data, Value::Null).to_string());
    }
    if st.mode == Mode::DenyReads {
        return error(StatusCode::FORBIDDEN, "permission denied");
    }
    let data_prefix = format!("/v1/{MOUNT}/data/");
    let meta_prefix = format!("/v1/{MOUNT}/metadata/");
    if let Some(p) = path.strip_prefix(&data_prefix)
        && method == Method::GET
    {
        let Some(versions) = st.kv.get(p) else { return error(StatusCode::NOT_FOUND, "") };
        let wanted = query.strip_prefix("version=").and_then(|v| v.parse::<usize>().ok()).unwrap_or(versions.len());
        let Some(data) = wanted.checked_sub(1).and_then(|i| versions.get(i)) else {
            return error(StatusCode::NOT_FOUND, "");
        };
        let meta = json!({"created_time": "2026-01-01T00:00:00Z", "deletion_time": "", "custom_metadata": null,
                          "destroyed": false, "version": wanted});
        return (StatusCode::OK, envelope(json!({"data": data, "metadata": meta}), Value::Null).to_string());
    }
    if let Some(p) = path.strip_prefix(&meta_prefix) {
        if method.as_str() == "LIST" || query.contains("list=true") {
            let mut keys: Vec<String> = st
                .kv
                .keys()
                .filter_map(|k| k.strip_prefix(p))
                .map(|rest| match rest.split_once('/') {
                    Some((folder, _)) => format!("{folder}/"),
                    None => rest.to_owned(),
                })
                .collect();
            keys.dedup();
            if keys.is_empty() {
                return error(StatusCode::NOT_FOUND, "");
            }
            return (StatusCode::OK, envelope(json!({"keys": keys}), Value::Null).to_string());
        }
        let Some(versions) = st.kv.get(p) else { return error(StatusCode::NOT_FOUND, "") };
        let all: serde_json::Map<String, Value> = (1..=versions.len())
            .map(|v| (v.to_string(), json!({"created_time": "", "deletion_time": "", "destroyed": false})))
            .collect();
        let data = json!({"cas_required": false, "created_time": "", "current_version": versions.len(),
                          "delete_version_after": "0s", "max_versions": 0, "oldest_version": 1,
                          "updated_time": "", "custom_metadata": st.custom.get(p), "versions": all});
        return (StatusCode::OK, envelope(data, Value::Null).to_string());
    }
    error(StatusCode::NOT_FOUND, "no handler for this path in the fake Vault")
}

/// One request the controller sent to the fake API server.
#[derive(Debug, Clone)]
pub struct Sent {
    /// `GET`, `PATCH`, …
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The body, as text.
    pub body: String,
}

impl Sent {
    /// Whether it is `method` on a path ending with `suffix`.
    pub fn is(&self, method: &str, suffix: &str) -> bool {
        self.method == method && self.path.ends_with(suffix)
    }
}

/// A fake Kubernetes API server: objects by path, and a log of requests.
#[derive(Clone, Default)]
pub struct FakeKube {
    objects: Arc<Mutex<BTreeMap<String, Value>>>,
    sent: Arc<Mutex<Vec<Sent>>>,
}

impl FakeKube {
    /// Puts `obj` at `path` (what a GET there returns).
    pub fn put(&self, path: &str, obj: Value) {
        self.objects.lock().unwrap_or_else(|p| p.into_inner()).insert(path.to_owned(), obj);
    }

    /// The object at `path`.
    pub fn get(&self, path: &str) -> Option<Value> {
        self.objects.lock().unwrap_or_else(|p| p.into_inner()).get(path).cloned()
    }

    /// Removes the object at `path`.
    pub fn remove(&self, path: &str) {
        self.objects.lock().unwrap_or_else(|p| p.into_inner()).remove(path);
    }

    /// The requests sent since the last call, taken.
    pub fn take_sent(&self) -> Vec<Sent> {
        std::mem::take(&mut *self.sent.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// A client whose requests this fake answers (call inside a tokio
    /// runtime: the answering task runs there until every client is gone).
    pub fn client(&self) -> kube::Client {
        let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        let fake = self.clone();
        tokio::spawn(async move {
            while let Some((req, reply)) = handle.next_request().await {
                let method = req.method().to_string();
                let path = req.uri().path().to_owned();
                let body = req.into_body().collect_bytes().await.map(|b| b.to_vec()).unwrap_or_default();
                let (code, answer) = fake.respond(&method, &path, &body);
                fake.sent.lock().unwrap_or_else(|p| p.into_inner()).push(Sent {
                    method,
                    path,
                    body: String::from_utf8_lossy(&body).into_owned(),
                });
                let resp = Response::builder().status(code).body(Body::from(answer)).expect("response");
                reply.send_response(resp);
            }
        });
        kube::Client::new(service, "default")
    }

    fn respond(&self, method: &str, path: &str, body: &[u8]) -> (u16, Vec<u8>) {
        let status = |code: u16, reason: &str| {
            let s = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": reason,
                           "code": code, "message": reason});
            (code, s.to_string().into_bytes())
        };
        let mut objects = self.objects.lock().unwrap_or_else(|p| p.into_inner());
        let sent: Value = serde_json::from_slice(body).unwrap_or_default();
        match method {
            "GET" => match objects.get(path) {
                Some(o) => (200, o.to_string().into_bytes()),
                None => status(404, "NotFound"),
            },
            "PATCH" if path.ends_with("/status") => {
                let base = path.trim_end_matches("/status");
                match objects.get_mut(base) {
                    Some(o) => {
                        o["status"] = sent["status"].clone();
                        (200, o.to_string().into_bytes())
                    }
                    None => status(404, "NotFound"),
                }
            }
            // Server-side apply: the applied object becomes the object.
            "PATCH" => {
                objects.insert(path.to_owned(), sent);
                (200, body.to_vec())
            }
            "DELETE" => match objects.remove(path) {
                Some(_) => (200, json!({"kind": "Status", "status": "Success"}).to_string().into_bytes()),
                None => status(404, "NotFound"),
            },
            // Events and anything else created: echoed.
            _ => (201, body.to_vec()),
        }
    }
}

/// The path of a core object (`secrets`, `configmaps`).
pub fn core_path(ns: &str, plural: &str, name: &str) -> String {
    format!("/api/v1/namespaces/{ns}/{plural}/{name}")
}

/// The path of a seal.dev object (`externalsecrets`, `secretstores`, `passwords`).
pub fn seal_path(ns: &str, plural: &str, name: &str) -> String {
    format!("/apis/seal.dev/v1alpha1/namespaces/{ns}/{plural}/{name}")
}

/// A SecretStore `name` in `ns` for `vault`'s address, logging in with the
/// token in Secret `vault-token` (key `token`).
pub fn secret_store(ns: &str, name: &str, vault: &str) -> Value {
    json!({"apiVersion": "seal.dev/v1alpha1", "kind": "SecretStore",
           "metadata": {"name": name, "namespace": ns, "uid": format!("uid-store-{name}"), "generation": 1},
           "spec": {"provider": {"vault": {"server": vault, "path": MOUNT, "version": "v2",
                                           "allowInsecureHttp": true,
                                           "auth": {"tokenSecretRef": {"name": "vault-token", "key": "token"}}}}}})
}

/// The Secret `vault-token` in `ns` holding `token`, granted to the
/// SecretStore `store`.
pub fn token_secret(ns: &str, store: &str, token: &str) -> Value {
    use base64::Engine;
    json!({"apiVersion": "v1", "kind": "Secret",
           "metadata": {"name": "vault-token", "namespace": ns,
                        "annotations": {crate::sources::vault::ALLOWED_STORES_ANNOTATION: format!("SecretStore/{store}")}},
           "data": {"token": base64::engine::general_purpose::STANDARD.encode(token)}})
}

/// The sources' context over `client`: keys preloaded ([`HMAC_KEY`], no
/// age identity), a fresh Vault pool allowing any server, no store cache.
pub fn source_context(client: kube::Client, metrics: Arc<Metrics>) -> SourceContext {
    let _ = rustls::crypto::ring::default_provider().install_default();
    SourceContext {
        client: client.clone(),
        registry: Arc::new(KeyRegistry::preloaded(client, "seal-system", Vec::new(), HMAC_KEY)),
        vault: VaultPool::new(8, metrics.clone(), Vec::new()),
        metrics,
        stores: Default::default(),
        // The fake API answers GETs, not watches.
        templates: Arc::new(crate::sources::external_secret::template_cache::TemplateCache::direct()),
    }
}
