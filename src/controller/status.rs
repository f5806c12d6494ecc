//! What the status should be: conditions following Kubernetes conventions
//! (`Ready`, `Drifted`), computed from the old status and the outcome,
//! written only when something changed.

use kube::runtime::events::EventType;

use crate::api::Condition;

/// The result of a reconcile for the `Ready` condition.
pub struct Outcome {
    ok: bool,
    reason: String,
    message: String,
}

impl Outcome {
    /// Ready=True.
    pub fn ok(reason: &str, message: &str) -> Outcome {
        Outcome { ok: true, reason: reason.into(), message: message.into() }
    }
    /// Ready=False.
    pub fn failed(reason: &str, message: &str) -> Outcome {
        Outcome { ok: false, reason: reason.into(), message: message.into() }
    }
}

/// True when the conditions say the Secret was materialized.
pub fn is_ready(conditions: &[Condition]) -> bool {
    conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True")
}

/// Reasons used as metric labels: a fixed set.
pub fn bounded_reason(r: &str) -> &'static str {
    const KNOWN: [&str; 20] = [
        "Forbidden",
        "StoreUnavailable",
        "StoreAccessDenied",
        "SecretNotFound",
        "PropertyNotFound",
        "StoreMisconfigured",
        "StoreNotFound",
        "NamespaceNotAllowed",
        "Authenticated",
        "Materialized",
        "DecryptFailed",
        "MacMismatch",
        "ScopeMismatch",
        "NoMatchingKey",
        "InvalidDocument",
        "SecretNotOwned",
        "Suspended",
        "DriftDetected",
        "DriftPaused",
        "DriftReverted",
    ];
    KNOWN.iter().find(|k| **k == r).copied().unwrap_or("Other")
}

/// The parts of a status that every seal resource has.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CommonStatus {
    /// `observedGeneration`.
    pub observed_generation: Option<i64>,
    /// `conditions`.
    pub conditions: Vec<Condition>,
    /// The resume annotation value last acted on.
    pub resumed: Option<String>,
}

/// Builds the new status from the old one.
pub struct StatusUpdate {
    old: CommonStatus,
    new: CommonStatus,
    generation: Option<i64>,
    events: Vec<(EventType, String, String)>,
}

impl StatusUpdate {
    /// Starts from the current status.
    pub fn new(old: CommonStatus, generation: Option<i64>) -> StatusUpdate {
        let mut new = old.clone();
        new.observed_generation = generation;
        StatusUpdate { old, new, generation, events: Vec::new() }
    }
    fn set(&mut self, type_: &str, status: &str, reason: &str, message: &str) {
        let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
        let previous = self.old.conditions.iter().find(|c| c.type_ == type_);
        let transition = match previous {
            Some(p) if p.status == status => p.last_transition_time.clone(),
            _ => Some(now),
        };
        let changed_outcome = previous.is_none_or(|p| p.status != status || p.reason != reason)
            || self.old.observed_generation != self.generation;
        let cond = Condition {
            type_: type_.into(),
            status: status.into(),
            reason: reason.into(),
            message: message.into(),
            last_transition_time: transition,
            observed_generation: self.generation,
        };
        self.new.conditions.retain(|c| c.type_ != type_);
        self.new.conditions.push(cond);
        self.new.conditions.sort_by(|a, b| b.type_.cmp(&a.type_));
        let worth_event = status == "False" && type_ == "Ready" || type_ == "Drifted" && status == "True";
        if changed_outcome && worth_event {
            self.events.push((EventType::Warning, reason.into(), message.into()));
        }
    }

    /// Sets `Ready`.
    pub fn ready(&mut self, o: Outcome) {
        let status = if o.ok { "True" } else { "False" };
        self.set("Ready", status, &o.reason, &o.message);
    }

    /// Sets `Drifted=True`.
    pub fn drifted(&mut self, reason: &str, message: &str) {
        self.set("Drifted", "True", reason, message);
    }

    /// Records a revert: `Drifted=False` with reason `DriftReverted`.
    pub fn drifted_reverted(&mut self) {
        self.set("Drifted", "False", "DriftReverted", "the Secret was changed outside seal and restored");
    }

    /// Clears a `Drifted` condition if present.
    pub fn not_drifted(&mut self) {
        if self.new.conditions.iter().any(|c| c.type_ == "Drifted" && c.status == "True") {
            self.set("Drifted", "False", "NoDrift", "the Secret holds the desired data");
        }
    }

    /// Records the resume annotation value acted on.
    pub fn resumed(&mut self, v: Option<String>) {
        self.new.resumed = v;
    }

    /// The `Ready` reason.
    pub fn ready_reason(&self) -> &str {
        self.new.conditions.iter().find(|c| c.type_ == "Ready").map(|c| c.reason.as_str()).unwrap_or("")
    }

    /// The Warning Event to emit for a new failure or drift, if any.
    pub fn event_worthy(&self) -> Option<(EventType, String, String)> {
        self.events.first().cloned()
    }

    /// The new status, if it differs from the old one.
    pub fn changed(&self) -> Option<&CommonStatus> {
        (self.new != self.old).then_some(&self.new)
    }

    /// The new status.
    pub fn status(&self) -> &CommonStatus {
        &self.new
    }
}
