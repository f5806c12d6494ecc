//! Sessions and reads: values from Vault or OpenBao (KV v1 and v2) through
//! `vaultrs`.
//!
//! One authenticated client per store (and its generation), logged in once
//! and again before its token expires — never per reconcile. Reads are
//! de-duplicated: a value read less than half a refresh interval ago is
//! used again, so one refresh round (every ExternalSecret once, spread over
//! less than half an interval) reads each (store, path, version) once,
//! whatever the number of ExternalSecrets and keys that name it. A
//! semaphore bounds the requests in flight to Vault.
//!
//! The writes for PushSecrets are in `pool_push.rs` (a child module, as
//! they share the per-store slots); the credentials a login reads, in
//! `credentials`.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kube::Client;
use tokio::sync::{OnceCell, Semaphore};
use vaultrs::client::VaultClient;
use vaultrs::error::ClientError;
use zeroize::Zeroizing;

use super::ResolvedStore;
use super::bounded;
use super::connect::{self, ConnectPolicy};
use super::credentials::{read_secret_key, service_account_token};
use super::ownership;
use crate::api::Reason;
use crate::api::secret_store::{KvVersion, VaultProvider};
use crate::telemetry::Metrics;

/// Why a store could not be used. Messages name stores, paths and
/// properties, never values or tokens.
#[derive(Debug, Clone, thiserror::Error)]
pub enum VaultError {
    /// Unreachable, sealed, or answering with a server error.
    #[error("{0}")]
    Unavailable(String),
    /// Vault refused the login or the read (403).
    #[error("{0}")]
    Denied(String),
    /// The path does not exist (404).
    #[error("{0}")]
    NotFound(String),
    /// The path exists but has no such property.
    #[error("{0}")]
    PropertyNotFound(String),
    /// The store or its credentials are not usable as configured.
    #[error("{0}")]
    Misconfigured(String),
    /// The store was unreachable and is paused; it is tried again after
    /// the given time (the message is the same as for `Unavailable`).
    #[error("{0}")]
    Paused(String, Duration),
    /// The server answered with more than a store's answer may hold; it is
    /// paused as an unreachable one is.
    #[error("{0}")]
    TooLarge(String),
}

impl VaultError {
    /// The status reason (also the bounded metric label).
    pub fn reason(&self) -> Reason {
        match self {
            VaultError::Unavailable(_) | VaultError::Paused(..) | VaultError::TooLarge(_) => Reason::StoreUnavailable,
            VaultError::Denied(_) => Reason::StoreAccessDenied,
            VaultError::NotFound(_) => Reason::SecretNotFound,
            VaultError::PropertyNotFound(_) => Reason::PropertyNotFound,
            VaultError::Misconfigured(_) => Reason::StoreMisconfigured,
        }
    }
}

/// `store` is the store's name alone; `what` adds the operation. A server
/// that cannot be reached gets the store's name alone, the same words as
/// while the store is paused, so the message does not depend on timing and
/// a refused port reads like a silent one.
fn from_client(e: ClientError, store: &str, what: &str) -> VaultError {
    if bounded::too_large(&e) {
        return VaultError::TooLarge(too_large_message(store));
    }
    match e {
        ClientError::APIError { code: 403, .. } => VaultError::Denied(format!("{what}: permission denied (403)")),
        ClientError::APIError { code: 404, .. } => VaultError::NotFound(format!("{what}: not found (404)")),
        // OpenBao answers a wrong AppRole secret_id or role with 400.
        ClientError::APIError { code: 400, .. } => {
            VaultError::Denied(format!("{what}: refused (400): check the store's credentials and role"))
        }
        ClientError::APIError { code: 503, .. } => {
            VaultError::Unavailable(format!("{what}: Vault is sealed or in standby (503)"))
        }
        ClientError::APIError { code, .. } => VaultError::Unavailable(format!("{what}: Vault answered {code}")),
        ClientError::RestClientError { .. } => VaultError::Unavailable(format!("{store}: Vault is unreachable")),
        ClientError::ResponseEmptyError | ClientError::ResponseDataEmptyError => {
            VaultError::NotFound(format!("{what}: empty response"))
        }
        _ => VaultError::Unavailable(format!("{what}: unexpected response from Vault")),
    }
}

/// A store whose server answered with more than [`bounded::MAX_RESPONSE`]
/// bytes: the store's name alone (the same words while it is paused).
fn too_large_message(store: &str) -> String {
    format!(
        "{store}: the server answered with more than {} KiB, the limit for one answer from a store; refused",
        bounded::MAX_RESPONSE >> 10
    )
}

/// The properties of one Vault secret. Values zeroized on drop; no `Debug`.
pub struct VaultSecret(pub BTreeMap<String, Zeroizing<String>>);

struct Session {
    client: Arc<VaultClient>,
    renew_at: Option<Instant>,
}

/// Store, path, version, and whether the read is of the KV v2 custom
/// metadata (`metadataPolicy: Fetch`) rather than the data.
type ReadKey = (String, String, Option<String>, bool);
type ReadCell = Arc<OnceCell<Result<Arc<VaultSecret>, VaultError>>>;

/// Authenticated clients and the read cache, shared by all reconciles.
pub struct VaultPool {
    sessions: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Option<Session>>>>>,
    reads: Mutex<HashMap<ReadKey, (Instant, ReadCell)>>,
    inflight: Semaphore,
    /// Per store: requests in flight (so one store cannot take every slot)
    /// and when an unreachable store may be tried again.
    stores: Mutex<HashMap<String, StoreState>>,
    policy: ConnectPolicy,
    /// Audiences a ServiceAccount token is never minted for.
    refused_audiences: Vec<String>,
    metrics: Arc<Metrics>,
}

pub use super::credentials::{ALLOWED_STORES_ANNOTATION, granted};
pub use super::ownership::{MANAGED_BY_KEY, MANAGED_BY_SEAL};

/// One value a PushSecret writes (see [`VaultPool::push`]).
pub struct PushRequest<'a> {
    /// The path under the store's mount.
    pub path: &'a str,
    /// The property written, or `None`: the value is a JSON object of
    /// properties.
    pub property: Option<&'a str>,
    /// The value (zeroized by the caller).
    pub value: &'a [u8],
    /// `updatePolicy: IfNotExists`.
    pub if_not_exists: bool,
    /// The PushSecret writing.
    pub owner: &'a ownership::PushOwner,
    /// Its status lists this path as pushed through this store.
    pub wrote_before: bool,
}

/// Most secrets one `dataFrom.find` may match.
pub const MAX_FIND_KEYS: usize = 1000;
/// Deepest folder level `dataFrom.find` descends to.
pub const MAX_FIND_DEPTH: usize = 16;

/// Requests one store may have in flight at once.
const PER_STORE_INFLIGHT: usize = 2;
/// Longest pause before an unreachable store is tried again.
const MAX_PAUSE: Duration = Duration::from_secs(30);

#[derive(Clone)]
struct StoreState {
    slots: Arc<Semaphore>,
    failures: u32,
    paused_until: Option<Instant>,
    /// Whether the last failure was an answer over the limit (said while
    /// the store is paused, instead of "unreachable").
    too_large: bool,
}

impl Default for StoreState {
    fn default() -> StoreState {
        StoreState {
            slots: Arc::new(Semaphore::new(PER_STORE_INFLIGHT)),
            failures: 0,
            paused_until: None,
            too_large: false,
        }
    }
}

impl VaultPool {
    /// A pool allowing `max_inflight` requests to Vault at once, to the
    /// `allowed_servers` only (empty: any).
    pub fn new(max_inflight: usize, metrics: Arc<Metrics>, allowed_servers: Vec<String>) -> VaultPool {
        VaultPool {
            sessions: Mutex::new(HashMap::new()),
            reads: Mutex::new(HashMap::new()),
            inflight: Semaphore::new(max_inflight.max(1)),
            stores: Mutex::new(HashMap::new()),
            policy: ConnectPolicy { allowed_servers },
            refused_audiences: connect::api_server_audiences(),
            metrics,
        }
    }

    /// Runs one request to `store`: fails fast while the store is paused
    /// after being unreachable, holds one of the store's slots and one of
    /// the pool's, and pauses the store (growing, up to 30 s) when it is
    /// unreachable again, so stores pointing at a black hole cost the others
    /// little.
    async fn request<T, F>(&self, store: &ResolvedStore, f: F) -> Result<T, VaultError>
    where
        F: std::future::Future<Output = Result<T, VaultError>>,
    {
        let slots = {
            let mut stores = self.stores.lock().unwrap_or_else(|p| p.into_inner());
            let st = stores.entry(store.key.clone()).or_default();
            let now = Instant::now();
            if let Some(until) = st.paused_until
                && now < until
            {
                let why = if st.too_large {
                    too_large_message(&store.display)
                } else {
                    format!("{}: Vault is unreachable", store.display)
                };
                return Err(VaultError::Paused(why, until - now));
            }
            st.slots.clone()
        };
        let _store_slot = slots.acquire_owned().await.map_err(|_| VaultError::Unavailable("shutting down".into()))?;
        let _slot = self.inflight.acquire().await.map_err(|_| VaultError::Unavailable("shutting down".into()))?;
        let r = f.await;
        let mut stores = self.stores.lock().unwrap_or_else(|p| p.into_inner());
        let st = stores.entry(store.key.clone()).or_default();
        match &r {
            Err(VaultError::Unavailable(_) | VaultError::TooLarge(_)) => {
                st.too_large = matches!(r, Err(VaultError::TooLarge(_)));
                st.failures = st.failures.saturating_add(1);
                let pause = Duration::from_secs(1u64 << st.failures.min(5)).min(MAX_PAUSE);
                st.paused_until = Some(Instant::now() + pause);
            }
            _ => {
                st.failures = 0;
                st.paused_until = None;
            }
        }
        r
    }

    /// The logged-in client of a store, logging in when there is none or its
    /// token is about to expire.
    pub async fn client(&self, kube: &Client, store: &ResolvedStore) -> Result<Arc<VaultClient>, VaultError> {
        let slot = {
            let mut s = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
            // A new generation of the store replaces the old sessions.
            let prefix = store.key.rsplit_once('@').map(|(p, _)| p.to_owned()).unwrap_or_default();
            s.retain(|k, _| k == &store.key || !k.starts_with(&prefix));
            s.entry(store.key.clone()).or_default().clone()
        };
        let mut guard = slot.lock().await;
        if let Some(sess) = guard.as_ref()
            && sess.renew_at.is_none_or(|t| Instant::now() < t)
        {
            return Ok(sess.client.clone());
        }
        let sess = self.login(kube, store).await?;
        let client = sess.client.clone();
        *guard = Some(sess);
        Ok(client)
    }

    /// Forgets a store's session (after Vault rejected its token).
    pub async fn invalidate(&self, store: &ResolvedStore) {
        let slot = self.sessions.lock().unwrap_or_else(|p| p.into_inner()).get(&store.key).cloned();
        if let Some(slot) = slot {
            *slot.lock().await = None;
        }
    }

    async fn login(&self, kube: &Client, store: &ResolvedStore) -> Result<Session, VaultError> {
        // Checked before anything is read or minted for the store.
        let url = self.policy.server(store)?;
        self.request(store, self.login_at(kube, store, &url)).await
    }

    async fn login_at(&self, kube: &Client, store: &ResolvedStore, url: &url::Url) -> Result<Session, VaultError> {
        let auth = &store.provider.auth;
        self.metrics.vault_login();
        let what = format!("{}: login", store.display);
        let (token, ttl) = if let Some(r) = &auth.token_secret_ref {
            let token = read_secret_key(kube, store, "auth.tokenSecretRef", r).await?;
            (token, None)
        } else if let Some(a) = &auth.app_role {
            let secret_id = read_secret_key(kube, store, "auth.appRole.secretRef", &a.secret_ref).await?;
            let c = connect::client(store, url, "")?;
            let info = bounded::approle::login(&c, &a.path, &a.role_id, &secret_id)
                .await
                .map_err(|e| from_client(e, &store.display, &what))?;
            (Zeroizing::new(info.client_token), Some(info.lease_duration))
        } else if let Some(k) = &auth.kubernetes {
            let jwt = service_account_token(
                kube,
                store,
                "auth.kubernetes.serviceAccountRef",
                &k.service_account_ref,
                &self.refused_audiences,
            )
            .await?;
            let c = connect::client(store, url, "")?;
            let info = bounded::kubernetes::login(&c, &k.mount_path, &k.role, &jwt)
                .await
                .map_err(|e| from_client(e, &store.display, &what))?;
            (Zeroizing::new(info.client_token), Some(info.lease_duration))
        } else if let Some(j) = &auth.jwt {
            let sa = &j.kubernetes_service_account_token.service_account_ref;
            let jwt = service_account_token(
                kube,
                store,
                "auth.jwt.kubernetesServiceAccountToken",
                sa,
                &self.refused_audiences,
            )
            .await?;
            let c = connect::client(store, url, "")?;
            let info = bounded::oidc::login(&c, &j.path, &jwt, Some(j.role.clone()))
                .await
                .map_err(|e| from_client(e, &store.display, &what))?;
            (Zeroizing::new(info.client_token), Some(info.lease_duration))
        } else {
            return Err(VaultError::Misconfigured(format!(
                "{}: auth needs one of tokenSecretRef, appRole, kubernetes, jwt",
                store.display
            )));
        };
        let client = connect::client(store, url, &token)?;
        // A token from a Secret is checked now, so a bad one shows on the store.
        let ttl = match ttl {
            Some(t) => t,
            None => bounded::token::lookup_self(&client).await.map_err(|e| from_client(e, &store.display, &what))?.ttl,
        };
        // Log in again at two thirds of the token's life (0 = no expiry).
        // The TTL comes from the store's server: bounded before any
        // arithmetic, so no answer can overflow a timer.
        let renew_at = (ttl > 0).then(|| renew_time(Instant::now(), ttl)).flatten();
        Ok(Session { client: Arc::new(client), renew_at })
    }

    /// Reads a path, or returns the value read for it less than `max_age`
    /// ago (by any caller). With `metadata`, the secret's KV v2 custom
    /// metadata is read instead of its data (ESO's `metadataPolicy: Fetch`).
    pub async fn read(
        &self,
        kube: &Client,
        store: &ResolvedStore,
        path: &str,
        version: Option<&str>,
        metadata: bool,
        max_age: Duration,
    ) -> Result<Arc<VaultSecret>, VaultError> {
        if metadata && store.provider.version.unwrap_or_default() != KvVersion::V2 {
            return Err(VaultError::Misconfigured(format!(
                "{}: metadataPolicy Fetch needs a KV version 2 mount (version: v2)",
                store.display
            )));
        }
        let key: ReadKey = (store.key.clone(), path.to_owned(), version.map(str::to_owned), metadata);
        let cell = {
            let mut reads = self.reads.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            // Older values are dropped (zeroized) and read again.
            reads.retain(|_, (at, _)| now.saturating_duration_since(*at) < max_age);
            reads.entry(key.clone()).or_insert_with(|| (now, ReadCell::default())).1.clone()
        };
        cell.get_or_init(|| async {
            let r = self.read_uncached(kube, store, path, version, metadata).await;
            if let Err(e) = &r {
                self.metrics.vault_read_failed(e.reason());
                // Failures are not kept: the next reconcile retries.
            }
            r
        })
        .await
        .clone()
        .inspect_err(|_| {
            let mut reads = self.reads.lock().unwrap_or_else(|p| p.into_inner());
            if reads.get(&key).is_some_and(|(_, c)| Arc::ptr_eq(c, &cell)) {
                reads.remove(&key);
            }
        })
    }

    /// The secrets under `root` (KV v2), recursively: their paths below the
    /// mount and, with `tags`, their custom metadata. Bounded: at most
    /// [`MAX_FIND_KEYS`] secrets and [`MAX_FIND_DEPTH`] folder levels, one
    /// LIST request per folder.
    pub async fn find(
        &self,
        kube: &Client,
        store: &ResolvedStore,
        root: &str,
        tags: bool,
    ) -> Result<Vec<(String, BTreeMap<String, String>)>, VaultError> {
        if store.provider.version.unwrap_or_default() != KvVersion::V2 {
            return Err(VaultError::Misconfigured(format!(
                "{}: dataFrom.find needs a KV version 2 mount (version: v2)",
                store.display
            )));
        }
        let client = self.client(kube, store).await?;
        let mount = store.provider.path.clone();
        let mut out = Vec::new();
        let root = root.trim_matches('/');
        let mut folders = vec![(if root.is_empty() { String::new() } else { format!("{root}/") }, 0usize)];
        while let Some((folder, depth)) = folders.pop() {
            let what = format!("{}: list {}", store.display, if folder.is_empty() { "/" } else { &folder });
            let listed = self
                .request(store, async {
                    bounded::kv2::list(client.as_ref(), &mount, &folder)
                        .await
                        .map_err(|e| from_client(e, &store.display, &what))
                })
                .await;
            let keys = match listed {
                Ok(k) => k,
                // An empty folder (or a root that is one secret) lists as 404.
                Err(VaultError::NotFound(_)) => Vec::new(),
                Err(e) => return Err(e),
            };
            for k in keys {
                let path = format!("{folder}{k}");
                if k.ends_with('/') {
                    if depth + 1 > MAX_FIND_DEPTH {
                        return Err(VaultError::Misconfigured(format!(
                            "{}: dataFrom.find: folders are nested more than {MAX_FIND_DEPTH} deep under {root:?}",
                            store.display
                        )));
                    }
                    folders.push((path, depth + 1));
                    continue;
                }
                if out.len() >= MAX_FIND_KEYS {
                    return Err(VaultError::Misconfigured(format!(
                        "{}: dataFrom.find: more than {MAX_FIND_KEYS} secrets under {root:?}; narrow the path",
                        store.display
                    )));
                }
                let meta = if tags {
                    let what = format!("{}: read metadata of {path}", store.display);
                    self.request(store, async {
                        bounded::kv2::read_metadata(client.as_ref(), &mount, &path)
                            .await
                            .map_err(|e| from_client(e, &store.display, &what))
                    })
                    .await?
                    .custom_metadata
                    .unwrap_or_default()
                    .into_iter()
                    .collect()
                } else {
                    BTreeMap::new()
                };
                out.push((path, meta));
            }
        }
        out.sort();
        Ok(out)
    }

    async fn read_uncached(
        &self,
        kube: &Client,
        store: &ResolvedStore,
        path: &str,
        version: Option<&str>,
        metadata: bool,
    ) -> Result<Arc<VaultSecret>, VaultError> {
        let mut retried = false;
        loop {
            let client = self.client(kube, store).await?;
            let what = format!("{}: read {path}", store.display);
            let r = self
                .request(store, async {
                    self.metrics.vault_read();
                    if metadata {
                        let m = bounded::kv2::read_metadata(client.as_ref(), &store.provider.path, path)
                            .await
                            .map_err(|e| from_client(e, &store.display, &what))?;
                        return Ok(m
                            .custom_metadata
                            .unwrap_or_default()
                            .into_iter()
                            .map(|(k, v)| (k, serde_json::Value::String(v)))
                            .collect());
                    }
                    read_kv(&client, &store.provider, path, version)
                        .await
                        .map_err(|e| from_client(e, &store.display, &what))
                })
                .await;
            match r {
                // A rejected token may have been revoked: log in again once.
                Err(VaultError::Denied(_)) if !retried => {
                    retried = true;
                    self.invalidate(store).await;
                }
                Err(e) => return Err(e),
                Ok(map) => {
                    let mut out = BTreeMap::new();
                    for (k, v) in map {
                        let text = match v {
                            serde_json::Value::String(s) => s,
                            other => other.to_string(),
                        };
                        out.insert(k, Zeroizing::new(text));
                    }
                    return Ok(Arc::new(VaultSecret(out)));
                }
            }
        }
    }
}

async fn read_kv(
    client: &VaultClient,
    p: &VaultProvider,
    path: &str,
    version: Option<&str>,
) -> Result<serde_json::Map<String, serde_json::Value>, ClientError> {
    match p.version.unwrap_or_default() {
        KvVersion::V1 => bounded::kv1::get(client, &p.path, path).await,
        KvVersion::V2 => match version.and_then(|v| v.parse::<u64>().ok()) {
            Some(v) => bounded::kv2::read_version(client, &p.path, path, v).await,
            None => bounded::kv2::read(client, &p.path, path).await,
        },
    }
}

/// When to log in again: at two thirds of a token's TTL (seconds, as the
/// server said), the TTL bounded to a day; `None` if the clock cannot say.
pub fn renew_time(now: Instant, ttl: u64) -> Option<Instant> {
    now.checked_add(Duration::from_secs(ttl.min(86_400)) * 2 / 3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_ttl_from_the_server_cannot_overflow_the_renewal_timer() {
        let now = Instant::now();
        assert_eq!(renew_time(now, 30), Some(now + Duration::from_secs(20)));
        assert_eq!(renew_time(now, u64::MAX), Some(now + Duration::from_secs(57_600)));
    }
}

#[cfg(test)]
#[path = "pool_tests.rs"]
mod pool_tests;

#[path = "pool_push.rs"]
mod push;

#[path = "pool_dynamic.rs"]
mod dynamic;
pub use dynamic::DynamicMethod;
