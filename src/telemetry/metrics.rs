//! The controller's metrics (prometheus-client). Every label value comes
//! from a fixed set — kinds, results, reasons, policies — so the number of
//! series is bounded whatever tenants create.

use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::api::{DriftPolicy, Reason};

type Labels1 = [(&'static str, &'static str); 1];
type Labels2 = [(&'static str, &'static str); 2];
type Labels3 = [(&'static str, &'static str); 3];
type Histograms = Family<Labels1, Histogram, fn() -> Histogram>;

const BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

fn histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

/// A reconcile's result as a metric label: its status reason, or `error`
/// when it failed before reaching one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResultLabel {
    /// The reason the status ended with.
    Reason(Reason),
    /// The reconcile returned an error (retried with backoff).
    Error,
}

impl ResultLabel {
    fn as_str(self) -> &'static str {
        match self {
            ResultLabel::Reason(r) => r.as_str(),
            ResultLabel::Error => "error",
        }
    }
}

/// The controller's metrics and their registry.
pub struct Metrics {
    registry: Registry,
    reconcile: Family<Labels2, Counter>,
    reconcile_errors: Family<Labels2, Counter>,
    reconcile_duration: Histograms,
    decrypt: Counter,
    decrypt_errors: Family<Labels1, Counter>,
    vault_reads: Counter,
    vault_logins: Counter,
    vault_read_errors: Family<Labels1, Counter>,
    drift: Family<Labels1, Counter>,
    rollout_restarts: Counter,
    keys_loaded: Gauge,
    leader: Gauge,
    api_requests: Family<Labels3, Counter>,
}

impl Default for Metrics {
    fn default() -> Metrics {
        let mut registry = Registry::with_prefix("seal");
        let m = Metrics {
            reconcile: Family::default(),
            reconcile_errors: Family::default(),
            reconcile_duration: Family::new_with_constructor(histogram as fn() -> Histogram),
            decrypt: Counter::default(),
            decrypt_errors: Family::default(),
            vault_reads: Counter::default(),
            vault_logins: Counter::default(),
            vault_read_errors: Family::default(),
            drift: Family::default(),
            rollout_restarts: Counter::default(),
            keys_loaded: Gauge::default(),
            leader: Gauge::default(),
            api_requests: Family::default(),
            registry: Registry::default(),
        };
        registry.register("reconcile", "Reconciles by kind and result", m.reconcile.clone());
        registry.register("reconcile_errors", "Failed reconciles by kind and reason", m.reconcile_errors.clone());
        registry.register("reconcile_duration_seconds", "Reconcile duration by kind", m.reconcile_duration.clone());
        registry.register("decrypt", "SealedSecret decryptions", m.decrypt.clone());
        registry.register("decrypt_errors", "Failed decryptions by reason", m.decrypt_errors.clone());
        registry.register("vault_reads", "Reads sent to Vault", m.vault_reads.clone());
        registry.register("vault_logins", "Logins to Vault", m.vault_logins.clone());
        registry.register("vault_read_errors", "Failed Vault reads by reason", m.vault_read_errors.clone());
        registry.register("drift", "Drifts detected by policy", m.drift.clone());
        registry.register("rollout_restarts", "Rollout restarts requested", m.rollout_restarts.clone());
        registry.register("keys_loaded", "Age identities loaded", m.keys_loaded.clone());
        registry.register("leader", "1 when this replica leads", m.leader.clone());
        registry.register(
            "api_requests",
            "Requests sent to the Kubernetes API by verb, resource and subresource",
            m.api_requests.clone(),
        );
        Metrics { registry, ..m }
    }
}

impl Metrics {
    /// Counts a reconcile of `kind` ending with `result`.
    pub fn reconciled(&self, kind: &'static str, result: ResultLabel) {
        self.reconcile.get_or_create(&[("kind", kind), ("result", result.as_str())]).inc();
    }

    /// Counts a failed reconcile; `reason` is a short fixed label.
    pub fn reconcile_failed(&self, kind: &'static str, reason: &'static str) {
        self.reconcile_errors.get_or_create(&[("kind", kind), ("reason", reason)]).inc();
    }

    /// Records a reconcile's duration.
    pub fn observe(&self, kind: &'static str, d: Duration) {
        self.reconcile_duration.get_or_create(&[("kind", kind)]).observe(d.as_secs_f64());
    }

    /// Counts a decryption.
    pub fn decrypted(&self) {
        self.decrypt.inc();
    }

    /// Counts a failed decryption.
    pub fn decrypt_failed(&self, reason: Reason) {
        self.decrypt_errors.get_or_create(&[("reason", reason.as_str())]).inc();
    }

    /// Counts a read sent to Vault.
    pub fn vault_read(&self) {
        self.vault_reads.inc();
    }

    /// Counts a login to Vault.
    pub fn vault_login(&self) {
        self.vault_logins.inc();
    }

    /// Counts a failed Vault read.
    pub fn vault_read_failed(&self, reason: Reason) {
        self.vault_read_errors.get_or_create(&[("reason", reason.as_str())]).inc();
    }

    /// Counts a drift under `policy`.
    pub fn drifted(&self, policy: DriftPolicy) {
        let p = match policy {
            DriftPolicy::Revert => "Revert",
            DriftPolicy::Alert => "Alert",
            DriftPolicy::Pause => "Pause",
        };
        self.drift.get_or_create(&[("policy", p)]).inc();
    }

    /// Counts a rollout restart.
    pub fn rollout_restarted(&self) {
        self.rollout_restarts.inc();
    }

    /// Sets how many identities are loaded.
    pub fn set_keys_loaded(&self, n: usize) {
        self.keys_loaded.set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    /// Sets whether this replica leads.
    pub fn set_leader(&self, leads: bool) {
        self.leader.set(i64::from(leads));
    }

    /// Counts a request sent to the Kubernetes API.
    pub fn api_request(&self, call: ApiCall) {
        self.api_requests
            .get_or_create(&[("verb", call.verb), ("resource", call.resource), ("subresource", call.subresource)])
            .inc();
    }

    /// The OpenMetrics text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

/// A Kubernetes API request reduced to bounded labels: the verb as RBAC
/// names it, the resource and the subresource, each from a fixed set (an
/// unknown resource is `other`; names and namespaces are never labels).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ApiCall {
    /// get, list, watch, create, update, patch, delete, deletecollection, other.
    pub verb: &'static str,
    /// The resource's plural name, or `other`.
    pub resource: &'static str,
    /// `status`, `token`, `other`, or empty for the resource itself.
    pub subresource: &'static str,
}

/// The resources seal's controller talks to; anything else is `other`.
const RESOURCES: [&str; 16] = [
    "secrets",
    "sealedsecrets",
    "externalsecrets",
    "secretstores",
    "clustersecretstores",
    "events",
    "configmaps",
    "leases",
    "deployments",
    "statefulsets",
    "daemonsets",
    "serviceaccounts",
    "namespaces",
    "tokenreviews",
    "selfsubjectaccessreviews",
    "subjectaccessreviews",
];

impl ApiCall {
    /// Classifies a request by its method and URI path and query
    /// (`/api/v1/namespaces/ns/secrets/name`, `/apis/group/version/...`).
    pub fn classify(method: &http::Method, uri: &http::Uri) -> ApiCall {
        let segments: Vec<&str> = uri.path().split('/').filter(|s| !s.is_empty()).collect();
        let rest: &[&str] = match segments.first() {
            Some(&"api") => segments.get(2..).unwrap_or_default(),
            Some(&"apis") => segments.get(3..).unwrap_or_default(),
            _ => &[],
        };
        // namespaces/NS/RESOURCE/... is a namespaced resource; namespaces[/NS] is the namespace itself.
        let rest = match rest {
            ["namespaces", _, tail @ ..] if !tail.is_empty() => tail,
            other => other,
        };
        let resource = rest.first().map_or("other", |r| RESOURCES.iter().find(|k| *k == r).copied().unwrap_or("other"));
        let named = rest.len() >= 2;
        let subresource = match rest.get(2) {
            None => "",
            Some(&"status") => "status",
            Some(&"token") => "token",
            Some(_) => "other",
        };
        let watch = uri.query().is_some_and(|q| q.split('&').any(|kv| kv == "watch=true" || kv == "watch=1"));
        let verb = match *method {
            http::Method::GET if watch => "watch",
            http::Method::GET if named => "get",
            http::Method::GET => "list",
            http::Method::POST => "create",
            http::Method::PUT => "update",
            http::Method::PATCH => "patch",
            http::Method::DELETE if named => "delete",
            http::Method::DELETE => "deletecollection",
            _ => "other",
        };
        ApiCall { verb, resource, subresource }
    }

    /// Whether the request changes something on the API server.
    pub fn is_write(&self) -> bool {
        matches!(self.verb, "create" | "update" | "patch" | "delete" | "deletecollection")
    }
}

/// A tower layer for the kube client that counts every request it sends
/// by [`ApiCall`], so the API load per object can be measured and bounded.
#[derive(Clone)]
pub struct CountApiRequests(pub std::sync::Arc<Metrics>);

impl<S> tower::Layer<S> for CountApiRequests {
    type Service = CountedService<S>;

    fn layer(&self, inner: S) -> CountedService<S> {
        CountedService { inner, metrics: self.0.clone() }
    }
}

/// The service [`CountApiRequests`] wraps the client's stack in.
#[derive(Clone)]
pub struct CountedService<S> {
    inner: S,
    metrics: std::sync::Arc<Metrics>,
}

impl<S, B> tower::Service<http::Request<B>> for CountedService<S>
where
    S: tower::Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> S::Future {
        self.metrics.api_request(ApiCall::classify(req.method(), req.uri()));
        self.inner.call(req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendering_names_every_family_with_bounded_labels() {
        let m = Metrics::default();
        m.reconciled("SealedSecret", ResultLabel::Reason(Reason::Materialized));
        m.reconcile_failed("ExternalSecret", "kube_api");
        m.observe("SealedSecret", Duration::from_millis(3));
        m.decrypted();
        m.decrypt_failed(Reason::MacMismatch);
        m.vault_read();
        m.vault_login();
        m.vault_read_failed(Reason::StoreUnavailable);
        m.drifted(DriftPolicy::Alert);
        m.rollout_restarted();
        m.set_keys_loaded(2);
        m.set_leader(true);
        m.api_request(ApiCall { verb: "patch", resource: "sealedsecrets", subresource: "status" });
        let text = m.render();
        for line in [
            "seal_reconcile_total{kind=\"SealedSecret\",result=\"Materialized\"} 1",
            "seal_reconcile_errors_total{kind=\"ExternalSecret\",reason=\"kube_api\"} 1",
            "seal_decrypt_total 1",
            "seal_decrypt_errors_total{reason=\"MacMismatch\"} 1",
            "seal_vault_reads_total 1",
            "seal_vault_logins_total 1",
            "seal_vault_read_errors_total{reason=\"StoreUnavailable\"} 1",
            "seal_drift_total{policy=\"Alert\"} 1",
            "seal_rollout_restarts_total 1",
            "seal_keys_loaded 2",
            "seal_leader 1",
            "seal_reconcile_duration_seconds_count{kind=\"SealedSecret\"} 1",
            "seal_api_requests_total{verb=\"patch\",resource=\"sealedsecrets\",subresource=\"status\"} 1",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
        }
    }

    #[test]
    fn api_requests_are_classified_by_verb_resource_and_subresource() {
        let c = |m: &str, uri: &str| {
            let call = ApiCall::classify(&m.parse().expect("method"), &uri.parse().expect("uri"));
            (call.verb, call.resource, call.subresource)
        };
        assert_eq!(c("GET", "/api/v1/namespaces/a/secrets/db"), ("get", "secrets", ""));
        assert_eq!(c("GET", "/api/v1/namespaces/a/secrets?labelSelector=x"), ("list", "secrets", ""));
        assert_eq!(c("GET", "/api/v1/secrets?watch=true&resourceVersion=1"), ("watch", "secrets", ""));
        assert_eq!(
            c("PATCH", "/apis/seal.dev/v1alpha1/namespaces/a/sealedsecrets/db/status"),
            ("patch", "sealedsecrets", "status")
        );
        assert_eq!(c("POST", "/apis/events.k8s.io/v1/namespaces/a/events"), ("create", "events", ""));
        assert_eq!(c("DELETE", "/api/v1/namespaces/a/secrets/db"), ("delete", "secrets", ""));
        assert_eq!(c("GET", "/api/v1/namespaces/a"), ("get", "namespaces", ""));
        assert_eq!(c("POST", "/api/v1/namespaces/a/serviceaccounts/sa/token"), ("create", "serviceaccounts", "token"));
        // Unknown resources and paths collapse into one label: names never become labels.
        assert_eq!(c("GET", "/apis/x.io/v1/namespaces/a/tenant-chosen-name/y"), ("get", "other", ""));
        assert_eq!(c("GET", "/version"), ("list", "other", ""));
        assert!(
            ApiCall::classify(&http::Method::PATCH, &"/api/v1/namespaces/a/secrets/x".parse().expect("uri")).is_write()
        );
    }
}
