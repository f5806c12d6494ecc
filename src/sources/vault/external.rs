//! An `ExternalSecret` → the Secret's data: which store, which paths, which
//! properties, under which keys. Reads go through the pool, so a path is
//! read once per refresh round however many objects and keys name it.

use std::time::Duration;

use kube::ResourceExt;
use zeroize::Zeroizing;

use super::{ResolvedStore, VaultError, store};
use crate::api::Reason;
use crate::api::duration;
use crate::api::external_secret::{CreationPolicy, DeletionPolicy, ExternalSecret};
use crate::sources::{
    Common, CommonStatus, Desired, Ownership, Retry, SecretData, Source, SourceContext, SourceError, input_digest,
};

/// Default refresh interval, as in External Secrets Operator.
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(3600);
/// Shortest refresh interval accepted: faster polling only loads Vault.
pub const MIN_REFRESH: Duration = Duration::from_secs(1);
/// Longest refresh interval accepted (timers further out are refused).
pub const MAX_REFRESH: Duration = Duration::from_secs(8760 * 3600);

/// The object's refresh interval (`spec.refreshInterval`, Go syntax).
pub fn refresh_interval(es: &ExternalSecret) -> Result<Duration, SourceError> {
    match es.spec.refresh_interval.as_deref() {
        None => Ok(DEFAULT_REFRESH),
        Some(s) => duration::parse_bounded(s, "spec.refreshInterval", MIN_REFRESH, MAX_REFRESH)
            .map_err(|e| SourceError::new(Reason::InvalidDocument, e.to_string(), Retry::AwaitChange)),
    }
}

/// How old a value read for another ExternalSecret may be and still be
/// used: half the refresh interval. One refresh round (every object once,
/// spread by creation order and jitter) then reads each path once, and no
/// value is older than one and a half intervals.
pub fn read_window(interval: Duration) -> Duration {
    interval / 2
}

fn vault_error(e: VaultError) -> SourceError {
    let gone = matches!(e, VaultError::NotFound(_));
    // A paused store is tried again when the pause ends: failing fast while
    // it lasts must not grow the object's own backoff.
    let retry = match e {
        VaultError::Paused(_, left) => Retry::After(left + crate::sources::jitter(Duration::from_secs(1))),
        _ => Retry::Backoff,
    };
    SourceError { reason: e.reason(), message: e.to_string(), retry, gone }
}

/// Reads every value the ExternalSecret names (each path once per read window).
pub async fn fetch(
    ctx: &SourceContext,
    es: &ExternalSecret,
    store: &ResolvedStore,
    max_age: Duration,
) -> Result<SecretData, VaultError> {
    let mut data = SecretData::default();
    for d in &es.spec.data {
        let r = &d.remote_ref;
        let secret = ctx.vault.read(&ctx.client, store, &r.key, r.version.as_deref(), max_age).await?;
        let value: Zeroizing<Vec<u8>> = match &r.property {
            Some(p) => match secret.0.get(p) {
                Some(v) => Zeroizing::new(v.as_bytes().to_vec()),
                None => {
                    return Err(VaultError::PropertyNotFound(format!(
                        "{}: {} has no property {p:?}",
                        store.display, r.key
                    )));
                }
            },
            None => {
                let map: serde_json::Map<String, serde_json::Value> =
                    secret.0.iter().map(|(k, v)| (k.clone(), serde_json::Value::String(v.to_string()))).collect();
                Zeroizing::new(serde_json::to_vec(&map).unwrap_or_default())
            }
        };
        data.0.insert(d.secret_key.clone(), value);
    }
    for df in &es.spec.data_from {
        if let Some(r) = &df.extract {
            let secret = ctx.vault.read(&ctx.client, store, &r.key, r.version.as_deref(), max_age).await?;
            for (k, v) in &secret.0 {
                data.0.insert(k.clone(), Zeroizing::new(v.as_bytes().to_vec()));
            }
        }
    }
    Ok(data)
}

impl Source for ExternalSecret {
    const OK_MESSAGE: &'static str = "the Secret holds the store's current values";
    const RECORDS_REFRESH_TIME: bool = true;

    fn common(&self) -> Common<'_> {
        let status = self.status.clone().unwrap_or_default();
        Common {
            suspend: self.spec.suspend == Some(true),
            drift_policy: self.spec.drift_policy.unwrap_or_default(),
            template: self.spec.target.template.as_ref(),
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
        let interval = refresh_interval(self)?;
        let store = store::resolve(&ctx.client, &ctx.stores, self)
            .await
            .map_err(|(reason, message)| SourceError::new(reason, message, Retry::Backoff))?;
        let data = fetch(ctx, self, &store, read_window(interval)).await.map_err(vault_error)?;
        let hmac_key = ctx.registry.hmac_key_bytes().ok_or_else(|| {
            SourceError::new(Reason::StoreUnavailable, "the controller's keys are not loaded yet", Retry::Backoff)
        })?;
        let data_hmac = data.hmac(&hmac_key[..]);
        let spec_json = serde_json::to_vec(&self.spec).unwrap_or_default();
        let target = self.common().secret_name;
        let digest = input_digest(&[&spec_json, data_hmac.as_bytes(), target.as_bytes()]);
        let ownership = match self.spec.target.creation_policy.unwrap_or_default() {
            CreationPolicy::Owner => Ownership::Owner,
            CreationPolicy::Orphan => Ownership::Orphan,
            CreationPolicy::Merge => Ownership::Merge,
        };
        let jitter = crate::sources::jitter(interval / 10);
        Ok(Desired { digest, ownership, requeue: Some(interval + jitter), data: Some(data), record: Vec::new() })
    }

    async fn data(&self, ctx: &SourceContext) -> Result<SecretData, SourceError> {
        // Only reached if `desired` returned no data, which it never does;
        // read again rather than fail.
        let interval = refresh_interval(self)?;
        let store = store::resolve(&ctx.client, &ctx.stores, self)
            .await
            .map_err(|(reason, message)| SourceError::new(reason, message, Retry::Backoff))?;
        fetch(ctx, self, &store, read_window(interval)).await.map_err(vault_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn es(refresh: Option<&str>) -> ExternalSecret {
        let mut es = ExternalSecret::new("x", Default::default());
        es.spec.refresh_interval = refresh.map(str::to_owned);
        es
    }

    #[test]
    fn refresh_intervals_follow_eso_syntax_and_bounds() {
        assert_eq!(refresh_interval(&es(None)).ok(), Some(DEFAULT_REFRESH));
        assert_eq!(refresh_interval(&es(Some("1h30m"))).ok(), Some(Duration::from_secs(5400)));
        for bad in ["18446744073709551615s", "0", "500ms", "1d", "9000h"] {
            let e = refresh_interval(&es(Some(bad))).expect_err(bad);
            assert_eq!(e.reason, Reason::InvalidDocument);
            assert_eq!(e.retry, Retry::AwaitChange);
            assert!(e.message.starts_with("spec.refreshInterval"), "{}", e.message);
        }
    }

    #[test]
    fn a_read_is_shared_for_half_an_interval() {
        assert_eq!(read_window(Duration::from_secs(30)), Duration::from_secs(15));
        assert_eq!(read_window(Duration::from_secs(3600)), Duration::from_secs(1800));
    }

    #[test]
    fn a_paused_store_is_retried_when_the_pause_ends() {
        let se = vault_error(VaultError::Paused("s: Vault is unreachable".into(), Duration::from_secs(4)));
        assert_eq!(se.reason, Reason::StoreUnavailable);
        assert_eq!(se.message, "s: Vault is unreachable");
        match se.retry {
            Retry::After(d) => assert!(d >= Duration::from_secs(4) && d <= Duration::from_secs(5), "{d:?}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn only_a_plain_not_found_marks_the_values_gone() {
        assert!(vault_error(VaultError::NotFound("p".into())).gone);
        for e in [
            VaultError::Unavailable("u".into()),
            VaultError::Denied("d".into()),
            VaultError::PropertyNotFound("p".into()),
            VaultError::Misconfigured("m".into()),
        ] {
            let r = e.reason();
            let se = vault_error(e);
            assert!(!se.gone);
            assert_eq!(se.reason, r);
            assert_eq!(se.retry, Retry::Backoff);
        }
    }
}
