//! ExternalSecret reconciles against a fake API server (tower-test) and a
//! fake Vault on 127.0.0.1 (`sources::vault::fake`): the real reconcile
//! flow — store resolution, login, de-duplicated reads, keys, rewrites,
//! templates, the write, status and Events — in milliseconds, each test
//! asserting the requests sent to both.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::{Context, reconcile};
use crate::api::ExternalSecret;
use crate::sources::vault::fake::{self, FakeKube, FakeVault, Mode, Sent};
use crate::telemetry::Metrics;

const NS: &str = "team";
const CANARY: &str = "canary-v4ult-value";

/// A fake Vault, a fake API server holding a SecretStore `vault` and its
/// token, and a controller context over them.
struct Rig {
    vault: FakeVault,
    api: FakeKube,
    ctx: Arc<Context>,
}

impl Rig {
    async fn new() -> Rig {
        let vault = FakeVault::start().await;
        let api = FakeKube::default();
        api.put(&fake::seal_path(NS, "secretstores", "vault"), fake::secret_store(NS, "vault", &vault.addr));
        api.put(&fake::core_path(NS, "secrets", "vault-token"), fake::token_secret(NS, "vault", fake::TOKEN));
        let ctx = Self::context(&api);
        Rig { vault, api, ctx }
    }

    fn context(api: &FakeKube) -> Arc<Context> {
        Context::test_arc(fake::source_context(api.client(), Arc::new(Metrics::default())))
    }

    /// The next refresh round: a new controller context (its read cache
    /// and sessions empty), the same API server and Vault.
    fn next_round(&mut self) {
        self.ctx = Self::context(&self.api);
    }

    /// Creates the ExternalSecret `name` with `spec`.
    fn create(&self, name: &str, spec: Value) {
        let obj = json!({"apiVersion": "seal.dev/v1alpha1", "kind": "ExternalSecret",
                         "metadata": {"name": name, "namespace": NS, "uid": format!("uid-{name}"), "generation": 1},
                         "spec": spec});
        self.api.put(&fake::seal_path(NS, "externalsecrets", name), obj);
    }

    /// Changes the ExternalSecret's spec (a new generation).
    fn change(&self, name: &str, f: impl FnOnce(&mut Value)) {
        let path = fake::seal_path(NS, "externalsecrets", name);
        let mut obj = self.api.get(&path).expect("the object");
        f(&mut obj["spec"]);
        obj["metadata"]["generation"] = json!(obj["metadata"]["generation"].as_i64().unwrap_or(1) + 1);
        self.api.put(&path, obj);
    }

    /// Reconciles the ExternalSecret `name` as the API server holds it now;
    /// returns the requests sent to the API server meanwhile.
    async fn reconcile(&self, name: &str) -> Vec<Sent> {
        self.api.take_sent();
        let obj = self.api.get(&fake::seal_path(NS, "externalsecrets", name)).expect("the object");
        let es: ExternalSecret = serde_json::from_value(obj).expect("an ExternalSecret");
        let guard = Arc::new(kube::core::DeserializeGuard(Ok(es)));
        let action = reconcile::reconcile(guard, self.ctx.clone()).await;
        assert!(action.is_ok(), "reconcile failed: {:?}", action.err());
        self.api.take_sent()
    }

    /// The value of `key` in the Secret `name` as the API server holds it.
    fn secret_value(&self, name: &str, key: &str) -> Option<String> {
        use base64::Engine;
        let s = self.api.get(&fake::core_path(NS, "secrets", name))?;
        let b64 = s["data"][key].as_str()?;
        let bytes = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
        Some(String::from_utf8_lossy(&bytes).into_owned())
    }

    fn secret_keys(&self, name: &str) -> Vec<String> {
        let s = self.api.get(&fake::core_path(NS, "secrets", name)).unwrap_or_default();
        s["data"].as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default()
    }
}

fn item(key: &str, path: &str, property: &str) -> Value {
    json!({"secretKey": key, "remoteRef": {"key": path, "property": property}})
}

fn store_ref() -> Value {
    json!({"name": "vault", "kind": "SecretStore"})
}

/// The `Ready` condition of the status patch sent: (status, reason, message).
fn ready(sent: &[Sent]) -> (String, String, String) {
    let s = sent.iter().find(|s| s.is("PATCH", "/status")).expect("a status patch");
    let body: Value = serde_json::from_str(&s.body).expect("json");
    let conds = body["status"]["conditions"].as_array().cloned().unwrap_or_default();
    let r = conds.iter().find(|c| c["type"] == "Ready").cloned().unwrap_or_default();
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    (text(&r["status"]), text(&r["reason"]), text(&r["message"]))
}

fn wrote_secret(sent: &[Sent], name: &str) -> bool {
    sent.iter().any(|s| s.method == "PATCH" && s.path == fake::core_path(NS, "secrets", name))
}

fn touched_secret(sent: &[Sent], name: &str) -> bool {
    let path = fake::core_path(NS, "secrets", name);
    sent.iter().any(|s| s.path == path && s.method != "GET")
}

/// No request but the Secret's write carries the value.
fn no_canary(sent: &[Sent]) {
    for s in sent {
        if s.method == "PATCH" && s.path.contains("/secrets/") && !s.path.ends_with("/status") {
            continue;
        }
        assert!(!s.body.contains(CANARY), "{} {} carries the value", s.method, s.path);
    }
}

#[tokio::test]
async fn two_items_of_one_path_and_two_objects_on_it_are_one_read() {
    let rig = Rig::new().await;
    rig.vault.put("app/db", &[("user", "admin"), ("password", CANARY)]);
    for name in ["db", "db-copy"] {
        rig.create(
            name,
            json!({"secretStoreRef": store_ref(),
                   "data": [item("user", "app/db", "user"), item("password", "app/db", "password")]}),
        );
    }
    let sent = rig.reconcile("db").await;
    assert_eq!(ready(&sent).1, "Materialized");
    assert_eq!(rig.secret_value("db", "password").as_deref(), Some(CANARY));
    assert_eq!(rig.secret_value("db", "user").as_deref(), Some("admin"));
    no_canary(&sent);
    let sent = rig.reconcile("db-copy").await;
    assert_eq!(ready(&sent).1, "Materialized");
    assert_eq!(rig.vault.kv_reads(), 1, "{:?}", rig.vault.requests());
    assert_eq!(rig.vault.logins(), 1);
}

#[tokio::test]
async fn a_refused_login_is_access_denied_backs_off_and_writes_nothing() {
    let rig = Rig::new().await;
    rig.api.put(&fake::core_path(NS, "secrets", "vault-token"), fake::token_secret(NS, "vault", "wrong-token"));
    rig.vault.put("app/db", &[("password", CANARY)]);
    rig.create("db", json!({"secretStoreRef": store_ref(), "data": [item("password", "app/db", "password")]}));
    let sent = rig.reconcile("db").await;
    let (status, reason, message) = ready(&sent);
    assert_eq!((status.as_str(), reason.as_str()), ("False", "StoreAccessDenied"), "{message}");
    assert!(!wrote_secret(&sent, "db"));
    assert!(!message.contains("wrong-token"), "{message}");
    // One login, no read: a refused login is not retried within the reconcile.
    assert_eq!((rig.vault.logins(), rig.vault.kv_reads()), (1, 0), "{:?}", rig.vault.requests());
    // The object was put on its backoff: the next delay is the second step.
    let key = reconcile::key_of::<ExternalSecret>(&kube::api::ObjectMeta {
        name: Some("db".into()),
        namespace: Some(NS.into()),
        ..Default::default()
    });
    assert!(rig.ctx.backoff.next(&key) >= Duration::from_secs(4), "the failure did not take a backoff step");
}

#[tokio::test]
async fn a_store_down_keeps_the_last_good_secret_and_says_why() {
    let mut rig = Rig::new().await;
    rig.vault.put("app/db", &[("password", CANARY)]);
    rig.create("db", json!({"secretStoreRef": store_ref(), "data": [item("password", "app/db", "password")]}));
    rig.reconcile("db").await;
    assert_eq!(rig.secret_value("db", "password").as_deref(), Some(CANARY));
    let before = rig.api.get(&fake::core_path(NS, "secrets", "db"));

    rig.vault.set_mode(Mode::Sealed);
    rig.next_round();
    let sent = rig.reconcile("db").await;
    let (status, reason, message) = ready(&sent);
    assert_eq!((status.as_str(), reason.as_str()), ("False", "StoreUnavailable"), "{message}");
    assert!(message.ends_with("the existing Secret is kept"), "{message}");
    assert!(!touched_secret(&sent, "db"), "the Secret was written or deleted");
    assert_eq!(rig.api.get(&fake::core_path(NS, "secrets", "db")), before);

    // The path gone (404), deletionPolicy Retain (the default): kept too.
    rig.vault.set_mode(Mode::Up);
    rig.change("db", |spec| spec["data"] = json!([item("password", "app/gone", "password")]));
    rig.next_round();
    let sent = rig.reconcile("db").await;
    assert_eq!(ready(&sent).1, "SecretNotFound");
    assert!(!touched_secret(&sent, "db"));
    no_canary(&sent);
}

#[tokio::test]
async fn templates_render_the_secret_and_read_a_secret_only_with_its_consent() {
    let rig = Rig::new().await;
    rig.vault.put("app/db", &[("user", "admin"), ("password", CANARY)]);
    rig.api.put(
        &fake::core_path(NS, "secrets", "shape"),
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "shape", "namespace": NS},
               "data": {"tpl": base64_of("dsn: \"{{ .user }}@db\"")}}),
    );
    let spec = json!({"secretStoreRef": store_ref(),
                      "data": [item("user", "app/db", "user"), item("password", "app/db", "password")],
                      "target": {"template": {
                          "data": {"url": "postgres://{{ .user }}:{{ .password }}@db"},
                          "templateFrom": [{"secret": {"name": "shape", "items": [{"key": "tpl", "templateAs": "KeysAndValues"}]}}]}}});
    rig.create("db", spec);
    let sent = rig.reconcile("db").await;
    let (_, reason, message) = ready(&sent);
    assert_eq!(reason, "SecretNotShared", "{message}");
    assert!(message.contains(crate::sources::external_secret::ALLOW_TEMPLATE_READ_ANNOTATION), "{message}");
    assert!(!wrote_secret(&sent, "db"));

    let mut shape = rig.api.get(&fake::core_path(NS, "secrets", "shape")).expect("shape");
    shape["metadata"]["annotations"] =
        json!({crate::sources::external_secret::ALLOW_TEMPLATE_READ_ANNOTATION: "other, db"});
    rig.api.put(&fake::core_path(NS, "secrets", "shape"), shape);
    let sent = rig.reconcile("db").await;
    assert_eq!(ready(&sent).1, "Materialized");
    assert_eq!(rig.secret_value("db", "url"), Some(format!("postgres://admin:{CANARY}@db")));
    assert_eq!(rig.secret_value("db", "dsn").as_deref(), Some("admin@db"));
    assert_eq!(rig.secret_keys("db"), ["dsn", "url"], "mergePolicy Replace: the template's keys only");
    no_canary(&sent);
}

fn base64_of(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

#[tokio::test]
async fn rewrite_renames_the_keys_of_an_extracted_path() {
    let rig = Rig::new().await;
    rig.vault.put("app/db", &[("user", "admin"), ("password", CANARY)]);
    rig.create(
        "db",
        json!({"secretStoreRef": store_ref(),
               "dataFrom": [{"extract": {"key": "app/db"},
                             "rewrite": [{"regexp": {"source": "^(.*)$", "target": "db_$1"}},
                                         {"transform": {"template": "{{ .value | upper }}"}}]}]}),
    );
    let sent = rig.reconcile("db").await;
    assert_eq!(ready(&sent).1, "Materialized");
    assert_eq!(rig.secret_keys("db"), ["DB_PASSWORD", "DB_USER"]);
    assert_eq!(rig.secret_value("db", "DB_PASSWORD").as_deref(), Some(CANARY));
}

#[tokio::test]
async fn a_value_that_is_not_base64_is_a_decode_failure_not_a_missing_property() {
    let rig = Rig::new().await;
    rig.vault.put("app/db", &[("blob", CANARY)]);
    rig.create(
        "db",
        json!({"secretStoreRef": store_ref(),
               "data": [{"secretKey": "blob", "remoteRef": {"key": "app/db", "property": "blob", "decodingStrategy": "Base64"}}]}),
    );
    let sent = rig.reconcile("db").await;
    let (_, reason, message) = ready(&sent);
    assert_eq!(reason, "DecodeFailed", "{message}");
    assert!(message.contains("\"blob\"") && message.contains("decodingStrategy"), "{message}");
    assert!(!wrote_secret(&sent, "db"));
    no_canary(&sent);
}

#[tokio::test]
async fn a_missing_password_generator_is_a_generator_failure_not_a_store_problem() {
    let rig = Rig::new().await;
    rig.create("db", json!({"dataFrom": [{"sourceRef": {"generatorRef": {"kind": "Password", "name": "pw"}}}]}));
    let sent = rig.reconcile("db").await;
    let (_, reason, message) = ready(&sent);
    assert_eq!(reason, "GeneratorFailed", "{message}");
    assert!(message.contains("spec.dataFrom[0].sourceRef.generatorRef") && message.contains("does not exist"));
    assert!(rig.vault.requests().is_empty(), "no store is needed");
    // Once it exists, the value is made (and the same within the epoch).
    rig.api.put(
        &fake::seal_path(NS, "passwords", "pw"),
        json!({"apiVersion": "seal.dev/v1alpha1", "kind": "Password", "metadata": {"name": "pw", "namespace": NS},
               "spec": {"length": 24}}),
    );
    let sent = rig.reconcile("db").await;
    assert_eq!(ready(&sent).1, "Materialized");
    assert_eq!(rig.secret_value("db", "password").map(|p| p.len()), Some(24));
}

fn one_item(policy: Option<&str>, interval: &str) -> Value {
    let mut spec = json!({"secretStoreRef": store_ref(), "refreshInterval": interval,
                          "data": [item("password", "app/db", "password")]});
    if let Some(p) = policy {
        spec["refreshPolicy"] = json!(p);
    }
    spec
}

#[tokio::test]
async fn periodic_reads_every_round_and_writes_only_a_changed_value() {
    let mut rig = Rig::new().await;
    rig.vault.put("app/db", &[("password", "one")]);
    rig.create("db", one_item(None, "1h"));
    assert!(wrote_secret(&rig.reconcile("db").await, "db"));
    // The next round, nothing changed: read, not written.
    rig.next_round();
    let sent = rig.reconcile("db").await;
    assert!(!wrote_secret(&sent, "db"));
    assert!(!sent.iter().any(|s| s.is("PATCH", "/status")), "an unchanged status is not written again");
    assert_eq!(rig.vault.kv_reads(), 2);
    // The value changed: read and written.
    rig.vault.put("app/db", &[("password", "two")]);
    rig.next_round();
    assert!(wrote_secret(&rig.reconcile("db").await, "db"));
    assert_eq!(rig.secret_value("db", "password").as_deref(), Some("two"));
    assert_eq!(rig.vault.kv_reads(), 3);
}

#[tokio::test]
async fn on_change_reads_only_when_the_object_changes() {
    let mut rig = Rig::new().await;
    rig.vault.put("app/db", &[("password", "one")]);
    rig.create("db", one_item(Some("OnChange"), "1h"));
    assert!(wrote_secret(&rig.reconcile("db").await, "db"));
    assert_eq!(rig.vault.kv_reads(), 1);
    // The store changed, the object did not: nothing read, nothing written.
    rig.vault.put("app/db", &[("password", "two")]);
    rig.next_round();
    let sent = rig.reconcile("db").await;
    assert!(!wrote_secret(&sent, "db"));
    assert_eq!(rig.vault.kv_reads(), 1, "{:?}", rig.vault.requests());
    assert_eq!(rig.secret_value("db", "password").as_deref(), Some("one"));
    // The object changed: read and written.
    rig.change("db", |spec| spec["refreshInterval"] = json!("2h"));
    rig.next_round();
    assert!(wrote_secret(&rig.reconcile("db").await, "db"));
    assert_eq!(rig.vault.kv_reads(), 2);
    assert_eq!(rig.secret_value("db", "password").as_deref(), Some("two"));
}

#[tokio::test]
async fn created_once_reads_again_only_when_the_secret_is_gone() {
    let mut rig = Rig::new().await;
    rig.vault.put("app/db", &[("password", "one")]);
    // `refreshInterval: 0` means CreatedOnce.
    rig.create("db", one_item(None, "0"));
    assert!(wrote_secret(&rig.reconcile("db").await, "db"));
    rig.vault.put("app/db", &[("password", "two")]);
    // Neither a new round nor a changed object reads again.
    rig.next_round();
    assert!(!wrote_secret(&rig.reconcile("db").await, "db"));
    rig.change("db", |spec| spec["refreshPolicy"] = json!("CreatedOnce"));
    rig.next_round();
    assert!(!wrote_secret(&rig.reconcile("db").await, "db"));
    assert_eq!(rig.vault.kv_reads(), 1, "{:?}", rig.vault.requests());
    // The Secret deleted: made again, from the store's current value.
    rig.api.remove(&fake::core_path(NS, "secrets", "db"));
    rig.next_round();
    assert!(wrote_secret(&rig.reconcile("db").await, "db"));
    assert_eq!(rig.vault.kv_reads(), 2);
    assert_eq!(rig.secret_value("db", "password").as_deref(), Some("two"));
}

#[tokio::test]
async fn find_names_keys_by_path_converted_as_eso_does() {
    let rig = Rig::new().await;
    rig.vault.put("team/a/db", &[("password", CANARY)]);
    rig.vault.put("team/b", &[("token", "t")]);
    rig.vault.put("other/c", &[("x", "y")]);
    rig.create(
        "db",
        json!({"secretStoreRef": store_ref(),
               "dataFrom": [{"find": {"path": "team", "name": {"regexp": "db$|b$"}}}]}),
    );
    let sent = rig.reconcile("db").await;
    assert_eq!(ready(&sent).1, "Materialized");
    assert_eq!(rig.secret_keys("db"), ["team_a_db", "team_b"]);
    assert_eq!(rig.secret_value("db", "team_b").as_deref(), Some(r#"{"token":"t"}"#));
    // One list per folder, one read per secret found.
    assert_eq!(rig.vault.kv_reads(), 2, "{:?}", rig.vault.requests());
    no_canary(&sent);
}
