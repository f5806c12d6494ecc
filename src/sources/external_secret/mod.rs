//! An `ExternalSecret` → the Secret's data, as External Secrets Operator
//! defines it: the [`Source`] implementation, the refresh policy
//! (`refreshInterval`, `refreshPolicy`) and the checks ESO's admission
//! webhook makes. The rest is in its own module:
//!
//! - [`fetch`]: one function that reads `data`, `dataFrom` and generators
//!   (through the Vault pool, de-duplicated), used by both
//!   [`Source::desired`] and [`Source::data`];
//! - [`keys`]: property paths, decoding strategies, key conversion and
//!   rewrite rules (pure, bounded);
//! - [`templates`]: `target.template` and `templateFrom`, with the consent
//!   check on Secrets it reads;
//! - [`template_cache`]: the `templateFrom` ConfigMaps and Secrets, each
//!   watched by name and shared by the objects naming it;
//! - [`error`]: the typed failures and their status reasons.
//!
//! The store itself (resolution, sessions, reads, bounds) is `sources::vault`.

pub mod error;
pub mod fetch;
pub mod keys;
pub mod metadata;
pub mod template_cache;
pub mod templates;
mod vault_dynamic;

use std::time::Duration;

use kube::ResourceExt;

use crate::api::duration;
use crate::api::external_secret::{CreationPolicy, DeletionPolicy, ExternalSecret, RefreshPolicy};
use crate::sources::vault::{ResolvedStore, store};
use crate::sources::{
    Common, CommonStatus, Desired, Made, Ownership, Source, SourceContext, SourceError, input_digest,
};

pub use error::{EsError, GeneratorError, InvalidSpec};
pub use keys::{KeyError, MAX_KEY_BYTES, MAX_REWRITE_KEYS, MAX_REWRITE_RULES, MAX_REWRITE_TARGET, MAX_TRANSFORM_RUNS};
pub use templates::{ALLOW_TEMPLATE_READ_ANNOTATION, TemplateError, template_read_allowed};

/// Default refresh interval, as in External Secrets Operator.
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(3600);
/// Shortest refresh interval accepted: faster polling only loads Vault.
pub const MIN_REFRESH: Duration = Duration::from_secs(1);
/// Longest refresh interval accepted (timers further out are refused).
pub const MAX_REFRESH: Duration = Duration::from_secs(8760 * 3600);

/// The object's refresh interval (`spec.refreshInterval`, Go syntax).
pub fn refresh_interval(es: &ExternalSecret) -> Result<Duration, InvalidSpec> {
    match es.spec.refresh_interval.as_deref() {
        None => Ok(DEFAULT_REFRESH),
        // Read once (see `refresh_policy`); the interval then only spaces
        // the read window.
        Some(s) if is_zero(s) => Ok(DEFAULT_REFRESH),
        Some(s) => duration::parse_bounded(s, "spec.refreshInterval", MIN_REFRESH, MAX_REFRESH)
            .map_err(|e| InvalidSpec(e.to_string())),
    }
}

fn is_zero(s: &str) -> bool {
    duration::parse(s).is_ok_and(|d| d.is_zero())
}

/// The object's refresh policy: `spec.refreshPolicy`, else `CreatedOnce`
/// for `refreshInterval: 0`, else `Periodic`.
pub fn refresh_policy(es: &ExternalSecret) -> Result<RefreshPolicy, InvalidSpec> {
    let zero = es.spec.refresh_interval.as_deref().is_some_and(is_zero);
    match (es.spec.refresh_policy, zero) {
        (Some(RefreshPolicy::Periodic), true) => {
            Err(InvalidSpec("spec.refreshPolicy Periodic needs a refreshInterval above 0".into()))
        }
        (Some(p), _) => Ok(p),
        (None, true) => Ok(RefreshPolicy::CreatedOnce),
        (None, false) => Ok(RefreshPolicy::Periodic),
    }
}

/// The refresh epoch of `now`: a generator's value is the same within one.
pub fn epoch(now_secs: u64, interval: Duration) -> u64 {
    now_secs / interval.as_secs().max(1)
}

fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default()
}

/// How old a value read for another ExternalSecret may be and still be
/// used: half the refresh interval. One refresh round (every object once,
/// spread by creation order and jitter) then reads each path once, and no
/// value is older than one and a half intervals.
pub fn read_window(interval: Duration) -> Duration {
    interval / 2
}

/// The checks External Secrets Operator's admission webhook makes, done by
/// the controller (the CRD schema cannot express them on every supported
/// Kubernetes version): an object with nothing to read, a `dataFrom` entry
/// with no source, and policy combinations that cannot work.
pub fn validate(es: &ExternalSecret) -> Result<(), InvalidSpec> {
    let invalid = |m: String| Err(InvalidSpec(m));
    let spec = &es.spec;
    if spec.data.is_empty() && spec.data_from.is_empty() {
        return invalid("spec.data and spec.dataFrom are both empty: name at least one value to read".into());
    }
    for (i, df) in spec.data_from.iter().enumerate() {
        let generator = df.source_ref.as_ref().is_some_and(|r| r.generator_ref.is_some());
        match [df.extract.is_some(), df.find.is_some(), generator].iter().filter(|x| **x).count() {
            0 => {
                return invalid(format!(
                    "spec.dataFrom[{i}] names no source: give extract, find or sourceRef.generatorRef"
                ));
            }
            1 => {}
            _ => {
                return invalid(format!(
                    "spec.dataFrom[{i}]: extract, find and sourceRef.generatorRef cannot be set in the same entry"
                ));
            }
        }
        if df.rewrite.len() > MAX_REWRITE_RULES {
            return invalid(format!(
                "spec.dataFrom[{i}].rewrite has {} rules; at most {MAX_REWRITE_RULES}",
                df.rewrite.len()
            ));
        }
        for (j, r) in df.rewrite.iter().enumerate() {
            if r.regexp.is_some() == r.transform.is_some() {
                return invalid(format!("spec.dataFrom[{i}].rewrite[{j}]: give exactly one of regexp and transform"));
            }
            if r.regexp.as_ref().is_some_and(|r| r.target.len() > MAX_REWRITE_TARGET) {
                return invalid(format!(
                    "spec.dataFrom[{i}].rewrite[{j}].regexp.target is longer than {MAX_REWRITE_TARGET} bytes"
                ));
            }
        }
    }
    for (i, d) in spec.data.iter().enumerate() {
        if d.secret_key.is_empty() {
            return invalid(format!("spec.data[{i}].secretKey is empty"));
        }
        if d.remote_ref.key.is_empty() {
            return invalid(format!("spec.data[{i}].remoteRef.key is empty"));
        }
    }
    if let Some(p @ (CreationPolicy::Merge | CreationPolicy::CreateOrMerge)) = spec.target.creation_policy
        && spec.target.deletion_policy == Some(DeletionPolicy::Delete)
    {
        return invalid(format!(
            "spec.target: deletionPolicy Delete cannot be used with creationPolicy {p:?} (the Secret may hold someone else's keys)"
        ));
    }
    Ok(())
}

/// ESO fields seal does not implement: refused, named, until the object
/// changes (nothing is read or written meanwhile).
fn unsupported(es: &ExternalSecret) -> Result<(), SourceError> {
    if es.spec.unsupported.is_empty() {
        return Ok(());
    }
    let message = crate::api::unknown::unsupported_message(&es.spec.unsupported);
    Err(SourceError::new(crate::api::Reason::Unsupported, message, crate::sources::Retry::AwaitChange))
}

/// The store, unless every value comes from a generator.
async fn resolve_if_needed(ctx: &SourceContext, es: &ExternalSecret) -> Result<Option<ResolvedStore>, EsError> {
    let needs = !es.spec.data.is_empty() || es.spec.data_from.iter().any(|d| d.extract.is_some() || d.find.is_some());
    if !needs {
        return Ok(None);
    }
    store::resolve(&ctx.client, &ctx.stores, es)
        .await
        .map(Some)
        .map_err(|(reason, message)| EsError::Resolve { reason, message })
}

impl Source for ExternalSecret {
    const OK_MESSAGE: &'static str = "the Secret holds the store's current values";
    const RECORDS_REFRESH_TIME: bool = true;

    fn common(&self) -> Common<'_> {
        let status = self.status.clone().unwrap_or_default();
        Common {
            suspend: self.spec.suspend == Some(true),
            drift_policy: self.spec.drift_policy.unwrap_or_default(),
            template: match (self.spec.target.template.as_ref(), self.spec.target.immutable) {
                // ESO's `target.immutable`: the same as the template's `immutable`.
                (t, Some(true)) => {
                    let mut secret = t.map(|t| t.secret.clone()).unwrap_or_default();
                    secret.immutable = Some(true);
                    Some(std::borrow::Cow::Owned(secret))
                }
                (t, _) => t.map(|t| std::borrow::Cow::Borrowed(&t.secret)),
            },
            rollout_restart_targets: &self.spec.rollout_restart_targets,
            secret_name: self.spec.target.name.clone().unwrap_or_else(|| self.name_any()),
            delete_when_gone: self.spec.target.deletion_policy == Some(DeletionPolicy::Delete),
            status: CommonStatus {
                observed_generation: status.observed_generation,
                conditions: status.conditions,
                resumed: status.resumed,
            },
        }
    }

    /// The values must be read to know whether they changed: the digest
    /// covers the spec, an HMAC of the values (never the values) and the
    /// target name.
    async fn desired(&self, ctx: &SourceContext) -> Result<Desired, SourceError> {
        unsupported(self)?;
        validate(self).map_err(EsError::from)?;
        let interval = refresh_interval(self).map_err(EsError::from)?;
        let ownership = match self.spec.target.creation_policy.unwrap_or_default() {
            CreationPolicy::Owner => Ownership::Owner,
            CreationPolicy::Orphan => Ownership::Orphan,
            CreationPolicy::Merge => Ownership::Merge,
            CreationPolicy::CreateOrMerge => Ownership::CreateOrMerge,
        };
        let target = self.common().secret_name;
        // OnChange and CreatedOnce: the digest leaves the values out, so an
        // unchanged object reads nothing and writes nothing; the store is
        // read (by `data`) only when a write is due: the object changed
        // (OnChange), or the Secret is missing or drifted.
        let policy = refresh_policy(self).map_err(EsError::from)?;
        if policy != RefreshPolicy::Periodic {
            let spec_json = serde_json::to_vec(&self.spec).unwrap_or_default();
            let meta = serde_json::to_vec(&(self.labels(), self.annotations())).unwrap_or_default();
            let parts: [&[u8]; 4] = match policy {
                RefreshPolicy::CreatedOnce => [b"created-once", b"", b"", target.as_bytes()],
                _ => [b"on-change", &spec_json, &meta, target.as_bytes()],
            };
            let digest = input_digest(&parts);
            return Ok(Desired { digest, ownership, requeue: None, data: None, record: Vec::new() });
        }
        let (made, hmac_key) = values(ctx, self, interval).await?;
        // The digest covers the output (data and rendered metadata), so a
        // changed template source (a ConfigMap) is written even when the
        // store's values are the same. Rendered metadata can hold values:
        // only its HMAC is kept.
        let data_hmac = made.data.hmac(&hmac_key[..]);
        let meta_json = serde_json::to_vec(&made.metadata).unwrap_or_default();
        let meta_hmac = seal_format::document::data_hmac(&hmac_key[..], std::iter::once(("metadata", &meta_json[..])));
        let spec_json = serde_json::to_vec(&self.spec).unwrap_or_default();
        let digest = input_digest(&[&spec_json, data_hmac.as_bytes(), meta_hmac.as_bytes(), target.as_bytes()]);
        let jitter = crate::sources::jitter(interval / 10);
        Ok(Desired { digest, ownership, requeue: Some(interval + jitter), data: Some(made), record: Vec::new() })
    }

    async fn data(&self, ctx: &SourceContext) -> Result<Made, SourceError> {
        // Reached when `desired` returned no data (OnChange, CreatedOnce)
        // and a write is due.
        let interval = refresh_interval(self).map_err(EsError::from)?;
        Ok(values(ctx, self, interval).await?.0)
    }
}

/// The Secret's data, read and rendered, with the HMAC key it was made
/// with: the store resolved (unless only generators are named), every
/// value read ([`fetch::fetch`]), then `target.template`. One template
/// budget for the object in this reconcile, shared by rewrite transforms
/// and the Secret's templates.
async fn values(
    ctx: &SourceContext,
    es: &ExternalSecret,
    interval: Duration,
) -> Result<(Made, zeroize::Zeroizing<[u8; 32]>), EsError> {
    // The key seeds generators and templates' salts: without it nothing is
    // read (the controller is starting; not a store problem).
    let hmac_key = ctx.registry.hmac_key_bytes().ok_or(EsError::KeysNotLoaded)?;
    let store = resolve_if_needed(ctx, es).await?;
    let work = templates::engine::Work::new();
    let epoch = epoch(now_secs(), interval);
    let data = fetch::fetch(ctx, es, store.as_ref(), read_window(interval), epoch, &work).await?;
    let data = templates::apply_templates(ctx, es, data, &hmac_key[..], &work).await?;
    Ok((data, hmac_key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Reason;
    use crate::sources::Retry;

    fn es(refresh: Option<&str>) -> ExternalSecret {
        let mut es = ExternalSecret::new("x", Default::default());
        es.spec.refresh_interval = refresh.map(str::to_owned);
        es
    }

    #[test]
    fn refresh_intervals_follow_eso_syntax_and_bounds() {
        assert_eq!(refresh_interval(&es(None)).ok(), Some(DEFAULT_REFRESH));
        assert_eq!(refresh_interval(&es(Some("1h30m"))).ok(), Some(Duration::from_secs(5400)));
        assert_eq!(refresh_interval(&es(Some("0"))).ok(), Some(DEFAULT_REFRESH), "0 reads once");
        for bad in ["18446744073709551615s", "500ms", "1d", "9000h"] {
            let e = SourceError::from(EsError::from(refresh_interval(&es(Some(bad))).expect_err(bad)));
            assert_eq!(e.reason, Reason::InvalidDocument);
            assert_eq!(e.retry, Retry::AwaitChange);
            assert!(e.message.starts_with("spec.refreshInterval"), "{}", e.message);
        }
    }

    #[test]
    fn rewrite_bounds_are_checked_as_the_webhook_would() {
        use crate::api::external_secret::{DataFrom, Rewrite, RewriteRegexp};
        let regexp = |source: &str, target: &str| Rewrite {
            regexp: Some(RewriteRegexp { source: source.into(), target: target.into() }),
            transform: None,
        };
        let mut es = es(None);
        es.spec.data_from.push(DataFrom {
            extract: Some(Default::default()),
            rewrite: vec![regexp("a", "b"); MAX_REWRITE_RULES + 1],
            ..Default::default()
        });
        assert!(validate(&es).is_err_and(|e| e.0.starts_with("spec.dataFrom[0].rewrite has 33 rules")));
        es.spec.data_from[0].rewrite = vec![regexp("a", &"b".repeat(MAX_REWRITE_TARGET + 1))];
        assert!(validate(&es).is_err_and(|e| e.0.starts_with("spec.dataFrom[0].rewrite[0].regexp.target")));
    }

    #[test]
    fn what_esos_webhook_refuses_is_refused() {
        use crate::api::external_secret::{DataFrom, ExternalSecretData, RemoteRef};
        let item = ExternalSecretData {
            secret_key: "k".into(),
            remote_ref: RemoteRef { key: "p".into(), ..Default::default() },
        };
        let mut ok = es(None);
        ok.spec.data.push(item.clone());
        assert_eq!(validate(&ok), Ok(()));
        let validate = |e: &ExternalSecret| validate(e).map_err(|e| e.0);
        let empty = es(None);
        assert!(validate(&empty).is_err_and(|e| e.contains("both empty")));
        let mut no_source = ok.clone();
        no_source.spec.data_from.push(DataFrom::default());
        assert!(validate(&no_source).is_err_and(|e| e.starts_with("spec.dataFrom[0]")));
        let mut merge_delete = ok.clone();
        merge_delete.spec.target.creation_policy = Some(CreationPolicy::Merge);
        merge_delete.spec.target.deletion_policy = Some(DeletionPolicy::Delete);
        assert!(validate(&merge_delete).is_err_and(|e| e.contains("creationPolicy Merge")));
        let mut no_key = es(None);
        no_key.spec.data.push(ExternalSecretData { secret_key: String::new(), ..item });
        assert!(validate(&no_key).is_err_and(|e| e.contains("secretKey is empty")));
    }

    #[test]
    fn refresh_policies_follow_eso() {
        let mut e = es(None);
        assert_eq!(refresh_policy(&e).ok(), Some(RefreshPolicy::Periodic));
        e.spec.refresh_interval = Some("0".into());
        assert_eq!(refresh_policy(&e).ok(), Some(RefreshPolicy::CreatedOnce));
        e.spec.refresh_policy = Some(RefreshPolicy::OnChange);
        assert_eq!(refresh_policy(&e).ok(), Some(RefreshPolicy::OnChange));
        e.spec.refresh_policy = Some(RefreshPolicy::Periodic);
        assert!(refresh_policy(&e).is_err_and(|x| EsError::from(x).reason() == Reason::InvalidDocument));
        e.spec.refresh_interval = Some("0s".into());
        assert!(refresh_policy(&e).is_err());
    }

    #[test]
    fn a_read_is_shared_for_half_an_interval() {
        assert_eq!(read_window(Duration::from_secs(30)), Duration::from_secs(15));
        assert_eq!(read_window(Duration::from_secs(3600)), Duration::from_secs(1800));
    }
}
