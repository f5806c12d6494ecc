//! The pool against the fake Vault (`super::super::fake`): one login per
//! store, reads de-duplicated and keyed by store, path, version and
//! metadata, failures not kept, an unreachable store paused, a rejected
//! token replaced once, `find` bounded.

use std::sync::Arc;
use std::time::Duration;

use super::super::fake::{self, FakeKube, FakeVault, Mode};
use super::*;
use crate::api::secret_store::SecretStore;

const NS: &str = "team";
const WINDOW: Duration = Duration::from_secs(600);

struct Rig {
    vault: FakeVault,
    kube: kube::Client,
    pool: VaultPool,
    store: ResolvedStore,
}

async fn rig() -> Rig {
    let vault = FakeVault::start().await;
    let api = FakeKube::default();
    api.put(&fake::core_path(NS, "secrets", "vault-token"), fake::token_secret(NS, "vault", fake::TOKEN));
    let kube = api.client();
    let store: SecretStore = serde_json::from_value(fake::secret_store(NS, "vault", &vault.addr)).expect("a store");
    let ctx = fake::source_context(kube.clone(), Arc::new(Metrics::default()));
    Rig { vault, kube, pool: ctx.vault, store: ResolvedStore::of_secret_store(&store) }
}

fn value(s: &VaultSecret, k: &str) -> String {
    s.0.get(k).map(|v| v.to_string()).unwrap_or_default()
}

#[tokio::test]
async fn concurrent_reads_of_one_path_are_one_request() {
    let r = rig().await;
    r.vault.put("app/db", &[("user", "u"), ("password", "p")]);
    let read = || r.pool.read(&r.kube, &r.store, "app/db", None, false, WINDOW);
    let (a, b, c) = tokio::join!(read(), read(), read());
    for s in [a, b, c] {
        assert_eq!(value(&s.expect("read"), "user"), "u");
    }
    // And later within the window, from the cache.
    let again = read().await.expect("read");
    assert_eq!(value(&again, "password"), "p");
    assert_eq!(r.vault.kv_reads(), 1, "{:?}", r.vault.requests());
    assert_eq!(r.vault.logins(), 1, "one login for the store");
}

#[tokio::test]
async fn reads_are_keyed_by_store_path_version_and_metadata() {
    let r = rig().await;
    r.vault.put("app/db", &[("v", "one")]);
    r.vault.put("app/db", &[("v", "two")]);
    r.vault.put("app/other", &[("v", "x")]);
    r.vault.set_custom_metadata("app/db", &[("owner", "team")]);
    let read = |path: &'static str, version: Option<&'static str>, meta: bool| {
        r.pool.read(&r.kube, &r.store, path, version, meta, WINDOW)
    };
    assert_eq!(value(&read("app/db", None, false).await.expect("latest"), "v"), "two");
    assert_eq!(value(&read("app/db", Some("1"), false).await.expect("version 1"), "v"), "one");
    assert_eq!(value(&read("app/db", None, true).await.expect("metadata"), "owner"), "team");
    assert_eq!(value(&read("app/other", None, false).await.expect("other"), "v"), "x");
    // Each again: all cached.
    read("app/db", None, false).await.expect("latest");
    read("app/db", Some("1"), false).await.expect("version 1");
    read("app/db", None, true).await.expect("metadata");
    assert_eq!(r.vault.kv_reads(), 3, "{:?}", r.vault.requests());
    assert_eq!(r.vault.count("GET /v1/secret/metadata/app/db"), 1);
    // Another generation of the store is another key (and another session).
    let mut next = r.store.clone();
    next.key = next.key.replace("@1", "@2");
    r.pool.read(&r.kube, &next, "app/db", None, false, WINDOW).await.expect("new generation");
    assert_eq!(r.vault.kv_reads(), 4);
    assert_eq!(r.vault.logins(), 2);
}

#[tokio::test]
async fn a_value_older_than_the_window_is_read_again() {
    let r = rig().await;
    r.vault.put("app/db", &[("v", "one")]);
    r.pool.read(&r.kube, &r.store, "app/db", None, false, WINDOW).await.expect("read");
    r.vault.put("app/db", &[("v", "two")]);
    let cached = r.pool.read(&r.kube, &r.store, "app/db", None, false, WINDOW).await.expect("cached");
    assert_eq!(value(&cached, "v"), "one", "within the window: the value read before");
    let fresh = r.pool.read(&r.kube, &r.store, "app/db", None, false, Duration::ZERO).await.expect("fresh");
    assert_eq!(value(&fresh, "v"), "two");
    assert_eq!(r.vault.kv_reads(), 2);
}

#[tokio::test]
async fn a_failed_read_is_not_kept() {
    let r = rig().await;
    let e = r.pool.read(&r.kube, &r.store, "app/missing", None, false, WINDOW).await.err().expect("404");
    assert!(matches!(e, VaultError::NotFound(_)), "{e:?}");
    r.vault.put("app/missing", &[("v", "now")]);
    let s = r.pool.read(&r.kube, &r.store, "app/missing", None, false, WINDOW).await.expect("read again");
    assert_eq!(value(&s, "v"), "now");
    assert_eq!(r.vault.kv_reads(), 2);
}

#[tokio::test]
async fn an_unreachable_store_is_paused_and_fails_fast() {
    let r = rig().await;
    r.vault.put("app/db", &[("v", "x")]);
    r.vault.set_mode(Mode::Sealed);
    let e = r.pool.read(&r.kube, &r.store, "app/db", None, false, WINDOW).await.err().expect("sealed");
    assert!(matches!(e, VaultError::Unavailable(_)), "{e:?}");
    assert_eq!(e.reason(), Reason::StoreUnavailable);
    let sent = r.vault.requests().len();
    // Paused: the next reads fail at once, without a request.
    for _ in 0..5 {
        let e = r.pool.read(&r.kube, &r.store, "app/db", None, false, WINDOW).await.err().expect("paused");
        assert!(matches!(e, VaultError::Paused(_, left) if left <= Duration::from_secs(2)), "{e:?}");
    }
    assert_eq!(r.vault.requests().len(), sent, "no request while paused");
}

#[tokio::test]
async fn a_rejected_token_is_replaced_once_not_in_a_loop() {
    let r = rig().await;
    r.vault.put("app/db", &[("v", "x")]);
    r.vault.set_mode(Mode::DenyReads);
    let e = r.pool.read(&r.kube, &r.store, "app/db", None, false, WINDOW).await.err().expect("denied");
    assert_eq!(e.reason(), Reason::StoreAccessDenied);
    // One read, one login again, one more read: then the error.
    assert_eq!((r.vault.logins(), r.vault.kv_reads()), (2, 2), "{:?}", r.vault.requests());
}

#[tokio::test]
async fn one_login_serves_every_path_of_a_store() {
    let r = rig().await;
    for p in ["a", "b", "c", "d"] {
        r.vault.put(p, &[("v", p)]);
        r.pool.read(&r.kube, &r.store, p, None, false, WINDOW).await.expect("read");
    }
    assert_eq!(r.vault.logins(), 1);
    assert_eq!(r.vault.kv_reads(), 4);
}

#[tokio::test]
async fn find_is_bounded_in_keys_and_depth() {
    let r = rig().await;
    for n in 0..MAX_FIND_KEYS {
        r.vault.put(&format!("many/k{n}"), &[("v", "x")]);
    }
    let found = r.pool.find(&r.kube, &r.store, "many", false).await.expect("at the bound");
    assert_eq!(found.len(), MAX_FIND_KEYS);
    r.vault.put("many/one-more", &[("v", "x")]);
    let e = r.pool.find(&r.kube, &r.store, "many", false).await.expect_err("past the bound");
    assert!(e.to_string().contains("more than 1000 secrets"), "{e}");
    let deep = (0..=MAX_FIND_DEPTH).map(|d| format!("d{d}")).collect::<Vec<_>>().join("/");
    r.vault.put(&format!("deep/{deep}/leaf"), &[("v", "x")]);
    let e = r.pool.find(&r.kube, &r.store, "deep", false).await.expect_err("too deep");
    assert!(e.to_string().contains("nested more than 16 deep"), "{e}");
}

#[tokio::test]
async fn an_approle_login_is_one_request_and_a_wrong_secret_id_is_denied() {
    let r = rig().await;
    r.vault.put("app/db", &[("v", "x")]);
    let api = FakeKube::default();
    let secret = |id: &str| {
        let mut s = fake::token_secret(NS, "vault", id);
        s["metadata"]["name"] = "approle".into();
        s
    };
    api.put(&fake::core_path(NS, "secrets", "approle"), secret("wrong"));
    let kube = api.client();
    let mut store = r.store.clone();
    store.provider.auth = serde_json::from_value(serde_json::json!({
        "appRole": {"path": "approle", "roleId": "role", "secretRef": {"name": "approle", "key": "token"}}
    }))
    .expect("auth");
    let e = r.pool.read(&kube, &store, "app/db", None, false, WINDOW).await.err().expect("refused");
    assert_eq!(e.reason(), Reason::StoreAccessDenied, "{e}");
    assert_eq!(r.vault.count("POST /v1/auth/approle/login"), 1);
    api.put(&fake::core_path(NS, "secrets", "approle"), secret(fake::SECRET_ID));
    let s = r.pool.read(&kube, &store, "app/db", None, false, WINDOW).await.expect("read");
    assert_eq!(value(&s, "v"), "x");
    r.pool.read(&kube, &store, "app/db", None, false, Duration::ZERO).await.expect("read again");
    assert_eq!(r.vault.count("POST /v1/auth/approle/login"), 2, "one more login, kept for the next read");
    assert_eq!(r.vault.count("GET /v1/auth/token/lookup-self"), 0, "an AppRole token needs no lookup");
}
