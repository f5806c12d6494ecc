//! Sources turn a resource into the data its Secret should hold, each in
//! one place: [`sealed`] decrypts a SealedSecret; [`external_secret`]
//! applies External Secrets Operator's rules to an ExternalSecret (what to
//! read, keys, rewrites, templates, generators, refresh) and reads its
//! values through [`vault`], which talks to Vault or OpenBao (stores,
//! sessions, de-duplicated and bounded reads). They know nothing of how the
//! Secret is written (that is `materialize`) or of status and Events (that
//! is `controller`), which drives every source the same way through the
//! [`Source`] trait.

pub mod external_secret;
pub mod generator;
pub mod sealed;
pub mod vault;

/// ESO's template engine v2 and the PKCS#12 reader live in their own crate
/// (`template/`, seal-template) so that they can be fuzzed; this name keeps
/// the controller's paths (`sources::template::execute_in`, …).
pub use seal_template as template;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use kube::Resource;
use kube::core::NamespaceResourceScope;

pub use seal_format::document::{SecretData, input_digest};

pub use crate::api::Ownership;
use crate::api::{Condition, DriftPolicy, Reason, RolloutTarget, SecretTemplate, TemplateMetadata};
use crate::key_registry::KeyRegistry;
use crate::telemetry::Metrics;

/// What sources may use: the API client (credentials, tokens), the keys,
/// the Vault sessions and read cache, the metrics.
pub struct SourceContext {
    /// Kubernetes API client.
    pub client: kube::Client,
    /// The controller's age keys and HMAC key.
    pub registry: Arc<KeyRegistry>,
    /// Vault sessions and the per-epoch read cache.
    pub vault: vault::VaultPool,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// The watch caches of SecretStores and ClusterSecretStores.
    pub stores: vault::store::StoreCache,
    /// The `templateFrom` ConfigMaps and Secrets.
    pub templates: Arc<external_secret::template_cache::TemplateCache>,
}

/// When to try again after a failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retry {
    /// Exponential backoff per object, with jitter.
    Backoff,
    /// After this long.
    After(Duration),
    /// At the next periodic resync.
    Resync,
    /// Only when the object changes.
    AwaitChange,
}

/// Why a source could not produce the data: a status reason, a message with
/// no value in it, and when to retry.
#[derive(Clone, Debug)]
pub struct SourceError {
    /// The status reason.
    pub reason: Reason,
    /// What is wrong and how to fix it (names and paths, never values).
    pub message: String,
    /// When to retry.
    pub retry: Retry,
    /// The source says the values are gone for good (a plain 404 from Vault).
    pub gone: bool,
}

impl SourceError {
    /// An error with `reason` and `message`, retried as `retry`.
    pub fn new(reason: Reason, message: impl Into<String>, retry: Retry) -> SourceError {
        SourceError { reason, message: message.into(), retry, gone: false }
    }
}

/// The inputs of the Secret, as far as the source knows them before writing.
pub struct Desired {
    /// Digest of every input: unchanged digest and data mean nothing to do.
    pub digest: String,
    /// Who owns the Secret.
    pub ownership: Ownership,
    /// When to look again after success (`None`: at the periodic resync).
    pub requeue: Option<Duration>,
    /// The data, when the source had to read it to compute the digest
    /// (Vault); `None` when it is made only if a write is due ([`Source::data`]).
    pub data: Option<Made>,
    /// Status fields to record once the Secret holds this data (only those
    /// that differ from the status, so an unchanged resync writes nothing).
    pub record: Vec<(&'static str, String)>,
}

/// What a source makes for the Secret: its data and, when the source
/// renders them (ESO's templated labels and annotations, `templateFrom`
/// targets), its labels, annotations and finalizers, which then replace the
/// template's.
pub struct Made {
    /// The Secret's data.
    pub data: SecretData,
    /// The rendered metadata (`None`: the template's, as written).
    pub metadata: Option<TemplateMetadata>,
}

impl From<SecretData> for Made {
    fn from(data: SecretData) -> Made {
        Made { data, metadata: None }
    }
}

/// The parts of an object's status that every seal resource has.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CommonStatus {
    /// `observedGeneration`.
    pub observed_generation: Option<i64>,
    /// `conditions`.
    pub conditions: Vec<Condition>,
    /// The resume annotation value last acted on.
    pub resumed: Option<String>,
}

/// The fields every source object shares.
pub struct Common<'a> {
    /// `spec.suspend`.
    pub suspend: bool,
    /// `spec.driftPolicy`.
    pub drift_policy: DriftPolicy,
    /// `spec.template` (or `spec.target.template`, with ESO's
    /// `spec.target.immutable` folded in).
    pub template: Option<std::borrow::Cow<'a, SecretTemplate>>,
    /// `spec.rolloutRestartTargets`.
    pub rollout_restart_targets: &'a [RolloutTarget],
    /// The Secret's name.
    pub secret_name: String,
    /// Delete the Secret when the source says its values are gone.
    pub delete_when_gone: bool,
    /// The current status.
    pub status: CommonStatus,
}

/// A resource that becomes a Secret. The controller drives every source
/// through the same flow: observe, decide (a pure plan), write, report.
pub trait Source:
    Resource<DynamicType = (), Scope = NamespaceResourceScope>
    + Clone
    + serde::de::DeserializeOwned
    + std::fmt::Debug
    + Send
    + Sync
    + 'static
{
    /// Status message when the Secret holds the desired data.
    const OK_MESSAGE: &'static str;
    /// Whether a write records `status.refreshTime`.
    const RECORDS_REFRESH_TIME: bool;

    /// The shared fields.
    fn common(&self) -> Common<'_>;

    /// The inputs' digest (and the data, when it had to be read for it).
    fn desired(&self, ctx: &SourceContext) -> impl Future<Output = Result<Desired, SourceError>> + Send;

    /// The data, when [`Desired::data`] was `None` and a write is due.
    fn data(&self, ctx: &SourceContext) -> impl Future<Output = Result<Made, SourceError>> + Send;
}

/// A random duration in `0..max`, to spread requeues.
pub fn jitter(max: Duration) -> Duration {
    let mut b = [0u8; 4];
    let _ = getrandom::fill(&mut b);
    max.mul_f64(f64::from(u32::from_le_bytes(b)) / f64::from(u32::MAX))
}
