//! Reconcile tests against a fake API server (`tower_test::mock`, as
//! controller-rs does): every arm of the plan runs through the real
//! reconcile flow — decryption, the write, status and Events — without
//! etcd, and each test asserts the requests the controller sent.

use std::collections::BTreeMap;
use std::sync::Arc;

use http::{Request, Response};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::client::Body;
use kube::core::DeserializeGuard;
use seal_format::document::{ScopeBinding, SecretParts};
use seal_format::sops::{self, EncryptOptions, Format, Recipient, Value};

use super::{Context, reconcile};
use crate::api::{Condition, DriftPolicy, Reason, SealedSecret, SealedSecretStatus};
use crate::key_registry::KeyRegistry;
use crate::materialize::{self, DATA_HMAC_ANNOTATION, INPUT_DIGEST_ANNOTATION, OWNER_UID_ANNOTATION};
use crate::sources::vault::VaultPool;
use crate::sources::{Source, SourceContext};
use crate::telemetry::Metrics;

const NS: &str = "team";
const NAME: &str = "db";
const UID: &str = "uid-1";
const HMAC_KEY: [u8; 32] = [7; 32];
const CANARY: &str = "canary-s3cr3t-value";

/// How the fake API server answers.
#[derive(Clone, Default)]
struct Fake {
    /// The live Secret (`None`: 404).
    secret: Option<Secret>,
    /// The status code for the Secret's server-side apply.
    apply_code: Option<u16>,
    /// The object, returned by its status patch.
    object: serde_json::Value,
}

/// One request the controller sent.
#[derive(Debug, Clone)]
struct Sent {
    method: String,
    path: String,
    body: String,
}

impl Sent {
    fn is(&self, method: &str, path_suffix: &str) -> bool {
        self.method == method && self.path.ends_with(path_suffix)
    }
}

fn respond(fake: &Fake, method: &str, path: &str, body: &[u8]) -> (u16, Vec<u8>) {
    let not_found = || {
        let s = serde_json::json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404, "message": "not found"});
        (404, serde_json::to_vec(&s).unwrap_or_default())
    };
    let secret_path = format!("/api/v1/namespaces/{NS}/secrets/{NAME}");
    match method {
        "GET" if path == secret_path => match &fake.secret {
            Some(s) => (200, serde_json::to_vec(s).unwrap_or_default()),
            None => not_found(),
        },
        "PATCH" if path == secret_path => match fake.apply_code {
            Some(code) if code >= 400 => {
                let s = serde_json::json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Invalid", "code": code, "message": "Secret \"db\" is invalid: data: Too long"});
                (code, serde_json::to_vec(&s).unwrap_or_default())
            }
            _ => (200, body.to_vec()),
        },
        "PATCH" if path.ends_with("/status") => (200, serde_json::to_vec(&fake.object).unwrap_or_default()),
        // Events: echo the body.
        _ => (if method == "POST" { 201 } else { 200 }, body.to_vec()),
    }
}

/// Runs one reconcile of `obj` against the fake; returns the requests sent.
fn run(obj: SealedSecret, fake: Fake, ids: Vec<age::x25519::Identity>) -> Vec<Sent> {
    run_with_metrics(obj, fake, ids).0
}

/// As [`run`], also returning the metrics text afterwards.
fn run_with_metrics<S: Source + crate::controller::report::Reported + serde::Serialize>(
    obj: S,
    mut fake: Fake,
    ids: Vec<age::x25519::Identity>,
) -> (Vec<Sent>, String) {
    fake.object = serde_json::to_value(&obj).expect("json");
    if let Some(m) = fake.object.as_object_mut() {
        m.insert("apiVersion".into(), S::api_version(&()).into());
        m.insert("kind".into(), S::kind(&()).into());
    }
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(async move {
        let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        let server = tokio::spawn(async move {
            let mut sent = Vec::new();
            while let Some((req, reply)) = handle.next_request().await {
                let method = req.method().to_string();
                let path = req.uri().path().to_owned();
                let body = req.into_body().collect_bytes().await.map(|b| b.to_vec()).unwrap_or_default();
                let (code, answer) = respond(&fake, &method, &path, &body);
                sent.push(Sent { method, path, body: String::from_utf8_lossy(&body).into_owned() });
                let resp = Response::builder().status(code).body(Body::from(answer)).expect("response");
                reply.send_response(resp);
            }
            sent
        });
        let client = kube::Client::new(service, "default");
        let metrics = Arc::new(Metrics::default());
        let metrics_out = metrics.clone();
        let ctx = Context::test_arc(SourceContext {
            client: client.clone(),
            registry: Arc::new(KeyRegistry::preloaded(client.clone(), "seal-system", ids, HMAC_KEY)),
            vault: VaultPool::new(1, metrics.clone(), Vec::new()),
            metrics,
            stores: Default::default(),
            templates: Arc::new(crate::sources::external_secret::template_cache::TemplateCache::direct()),
        });
        drop(client);
        let action = reconcile::reconcile(Arc::new(DeserializeGuard(Ok(obj))), ctx.clone()).await;
        assert!(action.is_ok(), "reconcile failed: {:?}", action.err());
        drop(ctx);
        (server.await.expect("fake API server"), metrics_out.render())
    })
}

/// A SealedSecret for team/db sealed to `id`, as the API server returns it.
fn sealed_for(id: &age::x25519::Identity, scope: ScopeBinding) -> SealedSecret {
    let mut parts = SecretParts { name: NAME.into(), namespace: Some(NS.into()), ..Default::default() };
    parts.string_data.push("password", Value::str(CANARY));
    let doc = parts.to_document(NS, &scope);
    let r = Recipient::parse(&id.to_public().to_string()).expect("recipient");
    let opts = EncryptOptions {
        groups: vec![vec![r]],
        shamir_threshold: 0,
        rule: seal_format::document::rule(),
        mac_only_encrypted: true,
    };
    let enc = sops::encrypt_document(vec![doc], &opts).expect("encrypt");
    let yaml = sops::emit_encrypted(&enc, Format::Yaml).expect("emit");
    let mut ss: SealedSecret = serde_yaml::from_slice(&yaml).expect("a SealedSecret");
    ss.metadata.uid = Some(UID.into());
    ss.metadata.generation = Some(1);
    ss
}

fn ready(reason: Reason) -> SealedSecretStatus {
    SealedSecretStatus {
        observed_generation: Some(1),
        conditions: vec![Condition {
            type_: "Ready".into(),
            status: "True".into(),
            reason: reason.as_str().into(),
            message: SealedSecret::OK_MESSAGE.into(),
            last_transition_time: Some("2026-01-01T00:00:00Z".into()),
            observed_generation: Some(1),
        }],
        resumed: None,
        last_modified: None,
    }
}

/// The Secret the controller would have written for `ss`, holding `value`.
fn live_secret(value: &str, owned: bool) -> Secret {
    let data = BTreeMap::from([("password".to_owned(), ByteString(value.as_bytes().to_vec()))]);
    let mut annotations = BTreeMap::from([
        (DATA_HMAC_ANNOTATION.to_owned(), materialize::live_data_hmac(&HMAC_KEY, &data)),
        (OWNER_UID_ANNOTATION.to_owned(), if owned { UID.to_owned() } else { "someone-else".to_owned() }),
    ]);
    annotations.insert(INPUT_DIGEST_ANNOTATION.to_owned(), String::new());
    Secret {
        metadata: ObjectMeta {
            name: Some(NAME.into()),
            namespace: Some(NS.into()),
            annotations: Some(annotations),
            owner_references: owned
                .then(|| vec![OwnerReference { uid: UID.into(), kind: "SealedSecret".into(), ..Default::default() }]),
            ..Default::default()
        },
        data: Some(data),
        ..Default::default()
    }
}

/// Sets the live Secret's recorded digest to what `ss` digests to now.
fn with_digest(mut s: Secret, ss: &SealedSecret, id: &age::x25519::Identity) -> Secret {
    let recipients = id.to_public().to_string();
    let digest = seal_format::document::input_digest(&[
        &serde_json::to_vec(&ss.spec).unwrap_or_default(),
        &serde_json::to_vec(&ss.sops).unwrap_or_default(),
        recipients.as_bytes(),
        NS.as_bytes(),
        NAME.as_bytes(),
    ]);
    if let Some(a) = s.metadata.annotations.as_mut() {
        a.insert(INPUT_DIGEST_ANNOTATION.to_owned(), digest);
    }
    s
}

fn status_body(sent: &[Sent]) -> serde_json::Value {
    let s = sent.iter().find(|s| s.is("PATCH", "/status")).expect("a status patch");
    serde_json::from_str(&s.body).expect("json")
}

fn ready_reason(sent: &[Sent]) -> (String, String) {
    let body = status_body(sent);
    let conds = body["status"]["conditions"].as_array().cloned().unwrap_or_default();
    let r = conds.iter().find(|c| c["type"] == "Ready").expect("Ready");
    (r["status"].as_str().unwrap_or_default().to_owned(), r["reason"].as_str().unwrap_or_default().to_owned())
}

fn event_reasons(sent: &[Sent]) -> Vec<String> {
    sent.iter()
        .filter(|s| s.is("POST", "/events"))
        .map(|s| {
            serde_json::from_str::<serde_json::Value>(&s.body).expect("json")["reason"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

fn applied(sent: &[Sent]) -> Option<&Sent> {
    sent.iter().find(|s| s.is("PATCH", &format!("/secrets/{NAME}")))
}

fn no_canary(sent: &[Sent]) {
    for s in sent {
        // The applied Secret carries the value (base64); nothing else may.
        if s.is("PATCH", &format!("/secrets/{NAME}")) {
            continue;
        }
        assert!(!s.body.contains(CANARY), "{} {} carries the value", s.method, s.path);
    }
}

#[test]
fn plan_write_decrypts_applies_an_owned_secret_and_reports_materialized() {
    let id = age::x25519::Identity::generate();
    let ss = sealed_for(&id, ScopeBinding::Strict { namespace: NS.into(), name: NAME.into() });
    let sent = run(ss, Fake::default(), vec![id]);
    let apply = applied(&sent).expect("the Secret is applied");
    let body: serde_json::Value = serde_json::from_str(&apply.body).expect("json");
    let expected = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, CANARY);
    assert_eq!(body["data"]["password"], expected);
    assert_eq!(body["metadata"]["ownerReferences"][0]["uid"], UID);
    assert_eq!(ready_reason(&sent), ("True".into(), "Materialized".into()));
    assert_eq!(event_reasons(&sent), ["Materialized"]);
    no_canary(&sent);
}

#[test]
fn plan_up_to_date_neither_decrypts_nor_writes() {
    let id = age::x25519::Identity::generate();
    let mut ss = sealed_for(&id, ScopeBinding::Strict { namespace: NS.into(), name: NAME.into() });
    let mut status = ready(Reason::Materialized);
    status.last_modified = ss.sops.as_ref().and_then(|s| s["lastmodified"].as_str()).map(str::to_owned);
    ss.status = Some(status);
    let live = with_digest(live_secret(CANARY, true), &ss, &id);
    let (sent, metrics) = run_with_metrics(ss, Fake { secret: Some(live), ..Default::default() }, vec![id]);
    let methods: Vec<String> = sent.iter().map(|s| format!("{} {}", s.method, s.path)).collect();
    assert_eq!(methods, [format!("GET /api/v1/namespaces/{NS}/secrets/{NAME}")]);
    assert!(metrics.lines().any(|l| l == "seal_decrypt_total 0"), "decrypted:\n{metrics}");
}

#[test]
fn plan_not_owned_leaves_a_foreign_secret_alone() {
    let id = age::x25519::Identity::generate();
    let ss = sealed_for(&id, ScopeBinding::Strict { namespace: NS.into(), name: NAME.into() });
    let live = live_secret("theirs", false);
    let sent = run(ss, Fake { secret: Some(live), ..Default::default() }, vec![id]);
    assert!(applied(&sent).is_none(), "a foreign Secret must not be written");
    assert_eq!(ready_reason(&sent), ("False".into(), "SecretNotOwned".into()));
    assert_eq!(event_reasons(&sent), ["SecretNotOwned"]);
}

#[test]
fn plan_revert_restores_changed_data_and_warns() {
    let id = age::x25519::Identity::generate();
    let mut ss = sealed_for(&id, ScopeBinding::Strict { namespace: NS.into(), name: NAME.into() });
    ss.status = Some(ready(Reason::Materialized));
    let mut live = with_digest(live_secret(CANARY, true), &ss, &id);
    live.data = Some(BTreeMap::from([("password".to_owned(), ByteString(b"changed".to_vec()))]));
    let sent = run(ss, Fake { secret: Some(live), ..Default::default() }, vec![id]);
    assert!(applied(&sent).is_some(), "the data is restored");
    assert_eq!(event_reasons(&sent), ["DriftReverted"]);
    let body = status_body(&sent);
    let drifted = body["status"]["conditions"].as_array().into_iter().flatten().find(|c| c["type"] == "Drifted");
    assert_eq!(drifted.map(|c| c["reason"].clone()), Some("DriftReverted".into()));
}

fn drifted_with(policy: DriftPolicy, delete: bool) -> Vec<Sent> {
    let id = age::x25519::Identity::generate();
    let mut ss = sealed_for(&id, ScopeBinding::Strict { namespace: NS.into(), name: NAME.into() });
    ss.spec.drift_policy = Some(policy);
    ss.status = Some(ready(Reason::Materialized));
    let mut live = with_digest(live_secret(CANARY, true), &ss, &id);
    live.data = Some(BTreeMap::from([("password".to_owned(), ByteString(b"changed".to_vec()))]));
    let fake = Fake { secret: (!delete).then_some(live), ..Default::default() };
    run(ss, fake, vec![id])
}

#[test]
fn plan_alert_reports_drift_and_writes_nothing() {
    let sent = drifted_with(DriftPolicy::Alert, false);
    assert!(applied(&sent).is_none());
    assert_eq!(event_reasons(&sent), ["DriftDetected"]);
}

#[test]
fn plan_paused_reports_drift_and_writes_nothing() {
    let sent = drifted_with(DriftPolicy::Pause, false);
    assert!(applied(&sent).is_none());
    assert_eq!(event_reasons(&sent), ["DriftPaused"]);
}

#[test]
fn plan_deleted_left_does_not_recreate_under_alert() {
    let sent = drifted_with(DriftPolicy::Alert, true);
    assert!(applied(&sent).is_none());
    assert_eq!(event_reasons(&sent), ["DriftDetected"]);
    assert_eq!(ready_reason(&sent), ("True".into(), "Materialized".into()));
}

#[test]
fn suspended_objects_write_only_their_status() {
    let id = age::x25519::Identity::generate();
    let mut ss = sealed_for(&id, ScopeBinding::Strict { namespace: NS.into(), name: NAME.into() });
    ss.spec.suspend = Some(true);
    let sent = run(ss, Fake::default(), vec![id]);
    assert_eq!(sent.iter().filter(|s| s.path.contains("/secrets/")).count(), 0);
    assert_eq!(ready_reason(&sent), ("False".into(), "Suspended".into()));
}

#[test]
fn a_document_for_another_name_is_refused_with_scope_mismatch_and_nothing_leaks() {
    let id = age::x25519::Identity::generate();
    let ss = sealed_for(&id, ScopeBinding::Strict { namespace: NS.into(), name: "other".into() });
    let sent = run(ss, Fake::default(), vec![id]);
    assert!(applied(&sent).is_none());
    assert_eq!(ready_reason(&sent), ("False".into(), "ScopeMismatch".into()));
    assert_eq!(event_reasons(&sent), ["ScopeMismatch"]);
    no_canary(&sent);
}

#[test]
fn a_tampered_value_is_refused_and_the_last_good_secret_stays() {
    let id = age::x25519::Identity::generate();
    let mut ss = sealed_for(&id, ScopeBinding::Strict { namespace: NS.into(), name: NAME.into() });
    let v = ss.spec.string_data.get_mut("password").expect("value");
    let at = v.find("data:").expect("envelope") + 5;
    let flip = if &v[at..at + 1] == "A" { "B" } else { "A" };
    v.replace_range(at..at + 1, flip);
    let live = live_secret("last-good", true);
    let sent = run(ss, Fake { secret: Some(live), ..Default::default() }, vec![id]);
    assert!(applied(&sent).is_none(), "the last good Secret must stay");
    let (status, reason) = ready_reason(&sent);
    assert_eq!(status, "False");
    assert!(reason == "MacMismatch" || reason == "DecryptFailed", "{reason}");
    no_canary(&sent);
}

#[test]
fn no_matching_key_is_reported_as_such() {
    let id = age::x25519::Identity::generate();
    let ss = sealed_for(&id, ScopeBinding::Cluster);
    let sent = run(ss, Fake::default(), vec![age::x25519::Identity::generate()]);
    assert_eq!(ready_reason(&sent), ("False".into(), "NoMatchingKey".into()));
}

#[test]
fn a_refused_write_becomes_write_failed_on_the_object() {
    let id = age::x25519::Identity::generate();
    let ss = sealed_for(&id, ScopeBinding::Strict { namespace: NS.into(), name: NAME.into() });
    let sent = run(ss, Fake { apply_code: Some(422), ..Default::default() }, vec![id]);
    assert!(applied(&sent).is_some(), "the write was attempted");
    assert_eq!(ready_reason(&sent), ("False".into(), "WriteFailed".into()));
    assert_eq!(event_reasons(&sent), ["WriteFailed"]);
    no_canary(&sent);
}

#[test]
fn a_forbidden_write_becomes_forbidden_on_the_object() {
    let id = age::x25519::Identity::generate();
    let ss = sealed_for(&id, ScopeBinding::Strict { namespace: NS.into(), name: NAME.into() });
    let sent = run(ss, Fake { apply_code: Some(403), ..Default::default() }, vec![id]);
    assert_eq!(ready_reason(&sent), ("False".into(), "Forbidden".into()));
}

#[test]
fn the_accepted_lastmodified_is_recorded_once_and_an_older_document_is_refused() {
    let id = age::x25519::Identity::generate();
    let mut ss = sealed_for(&id, ScopeBinding::Strict { namespace: NS.into(), name: NAME.into() });
    let sent = run(ss.clone(), Fake::default(), vec![id.clone()]);
    let lm = ss.sops.as_ref().and_then(|s| s["lastmodified"].as_str()).map(str::to_owned).expect("lastmodified");
    assert_eq!(status_body(&sent)["status"]["lastModified"], lm.as_str());
    // The status says a newer document was accepted: this one is a replay.
    let mut status = ready(Reason::Materialized);
    status.last_modified = Some("2999-01-01T00:00:00Z".into());
    ss.status = Some(status);
    let sent = run(ss.clone(), Fake::default(), vec![id.clone()]);
    assert!(applied(&sent).is_none(), "a replayed document must not be written");
    assert_eq!(ready_reason(&sent), ("False".into(), "ReplayRefused".into()));
    // A deliberate rollback is allowed by annotation.
    ss.metadata.annotations = Some(BTreeMap::from([("seal.dev/allow-replay".to_owned(), "true".to_owned())]));
    let sent = run(ss, Fake::default(), vec![id]);
    assert!(applied(&sent).is_some());
}

#[test]
fn a_template_asking_for_a_service_account_token_is_refused_before_decryption() {
    let id = age::x25519::Identity::generate();
    let mut ss = sealed_for(&id, ScopeBinding::Strict { namespace: NS.into(), name: NAME.into() });
    ss.spec.template = Some(crate::api::SecretTemplate {
        type_: Some("kubernetes.io/service-account-token".into()),
        ..Default::default()
    });
    let (sent, metrics) = run_with_metrics(ss, Fake::default(), vec![id]);
    assert!(applied(&sent).is_none());
    assert_eq!(ready_reason(&sent), ("False".into(), "TemplateRefused".into()));
    assert!(metrics.lines().any(|l| l == "seal_decrypt_total 0"), "decrypted:\n{metrics}");
}

/// A resource whose source panics, standing for a bug (or a dependency
/// that panics on input) in one object's reconcile.
#[derive(kube::CustomResource, Clone, Debug, Default, serde::Deserialize, serde::Serialize, schemars::JsonSchema)]
#[kube(group = "test.seal.dev", version = "v1", kind = "Panicky", namespaced)]
struct PanickySpec {}

impl Source for Panicky {
    const OK_MESSAGE: &'static str = "ok";
    const RECORDS_REFRESH_TIME: bool = false;

    fn common(&self) -> crate::sources::Common<'_> {
        crate::sources::Common {
            suspend: false,
            drift_policy: DriftPolicy::Revert,
            template: None,
            rollout_restart_targets: &[],
            secret_name: NAME.into(),
            delete_when_gone: false,
            status: Default::default(),
        }
    }

    async fn desired(&self, _: &SourceContext) -> Result<crate::sources::Desired, crate::sources::SourceError> {
        panic!("input-dependent panic quoting {CANARY}")
    }

    async fn data(&self, _: &SourceContext) -> Result<crate::sources::Made, crate::sources::SourceError> {
        panic!("unreachable in this test")
    }
}

impl crate::controller::report::Reported for Panicky {
    fn common_status(&self) -> crate::sources::CommonStatus {
        Source::common(self).status
    }
}

#[test]
fn a_panic_in_one_reconcile_becomes_internal_error_on_that_object() {
    let mut obj = Panicky::new(NAME, PanickySpec {});
    obj.metadata.namespace = Some(NS.into());
    obj.metadata.uid = Some(UID.into());
    obj.metadata.generation = Some(1);
    // `run` asserts that the reconcile returned Ok: the panic did not escape.
    let (sent, metrics) = run_with_metrics(obj, Fake::default(), vec![]);
    assert_eq!(ready_reason(&sent), ("False".into(), "InternalError".into()));
    assert!(metrics.lines().any(|l| l.starts_with("seal_reconcile_errors_total") && l.contains("reason=\"panic\"")));
    no_canary(&sent);
}
