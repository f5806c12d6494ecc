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

    /// The OpenMetrics text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
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
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
        }
    }
}
