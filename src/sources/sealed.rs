//! A `SealedSecret` as the API server returns it → the Secret's data.
//!
//! The live object's `spec` and `sops` block form the SOPS document, judged
//! by `seal_format::document::open` — the same checks `seal verify` runs:
//! the structure, the MAC over encrypted values, every value's path, and the
//! scope binding against the object's own namespace and name.

use std::time::Duration;

use kube::ResourceExt;
use seal_format::document::{self, SealedError};
use seal_format::sops::{Metadata, Value};

use super::{Common, CommonStatus, Desired, Made, Ownership, Retry, SecretData, Source, SourceContext, SourceError};
use crate::api::{Reason, SealedSecret};

pub use crate::api::annotations::ALLOW_REPLAY_ANNOTATION;

/// Whether the RFC 3339 time `doc` is before `accepted` (unparseable times
/// are not compared: such a document fails its MAC check anyway).
pub fn is_older(doc: &str, accepted: &str) -> bool {
    match (chrono::DateTime::parse_from_rfc3339(doc.trim()), chrono::DateTime::parse_from_rfc3339(accepted.trim())) {
        (Ok(d), Ok(a)) => d < a,
        _ => false,
    }
}

/// The status reason of a document error.
pub fn reason(e: &SealedError) -> Reason {
    match e {
        SealedError::InvalidDocument(_) => Reason::InvalidDocument,
        SealedError::NoMatchingKey(_) => Reason::NoMatchingKey,
        SealedError::DecryptFailed(_) => Reason::DecryptFailed,
        SealedError::MacMismatch(_) => Reason::MacMismatch,
        SealedError::ScopeMismatch(_) => Reason::ScopeMismatch,
        SealedError::KeysChanged(_) => Reason::KeySetMismatch,
    }
}

/// The source error of a document error: a missing key may appear soon (a
/// key being restored), anything else needs a new object.
pub fn source_error(e: SealedError) -> SourceError {
    let retry = match e {
        SealedError::NoMatchingKey(_) => Retry::After(Duration::from_secs(60)),
        _ => Retry::Resync,
    };
    SourceError::new(reason(&e), e.to_string(), retry)
}

/// Decrypts and checks a SealedSecret with the given identities.
pub fn desired_data(obj: &SealedSecret, ids: &seal_format::sops::Identities) -> Result<SecretData, SealedError> {
    let namespace = obj.metadata.namespace.as_deref().unwrap_or_default();
    let name = obj.metadata.name.as_deref().unwrap_or_default();
    let sops_block = obj.sops.as_ref().ok_or_else(|| {
        SealedError::InvalidDocument("the object has no `sops` block: it was not encrypted with seal or sops".into())
    })?;
    let limit = |e: seal_format::sops::Error| SealedError::InvalidDocument(e.to_string());
    let Value::Map(meta_map) = document::json_to_value(sops_block).map_err(limit)? else {
        return Err(SealedError::InvalidDocument("the `sops` block is not a mapping".into()));
    };
    let metadata =
        Metadata::from_map(&meta_map).map_err(|e| SealedError::InvalidDocument(format!("{e}; re-seal the file")))?;
    let spec = serde_json::to_value(&obj.spec)
        .map_err(|e| SealedError::InvalidDocument(format!("the spec cannot be read: {e}")))?;
    let Value::Map(spec) = document::json_to_value(&spec).map_err(limit)? else {
        return Err(SealedError::InvalidDocument("the spec is not a mapping".into()));
    };
    Ok(document::open(namespace, name, &spec, metadata, ids)?.data)
}

impl Source for SealedSecret {
    const OK_MESSAGE: &'static str = "the Secret holds the desired data";
    const RECORDS_REFRESH_TIME: bool = false;

    fn common(&self) -> Common<'_> {
        let status = self.status.clone().unwrap_or_default();
        Common {
            suspend: self.spec.suspend == Some(true),
            drift_policy: self.spec.drift_policy.unwrap_or_default(),
            template: self.spec.template.as_ref().map(std::borrow::Cow::Borrowed),
            rollout_restart_targets: &self.spec.rollout_restart_targets,
            secret_name: self.name_any(),
            delete_when_gone: false,
            status: CommonStatus {
                observed_generation: status.observed_generation,
                conditions: status.conditions,
                resumed: status.resumed,
            },
        }
    }

    /// The digest covers the spec, the sops block, the keys that could
    /// decrypt it and the object's name: no decryption is needed to tell
    /// that nothing changed.
    async fn desired(&self, ctx: &SourceContext) -> Result<Desired, SourceError> {
        let recipients = ctx.registry.all_recipients().join(",");
        let spec_json = serde_json::to_vec(&self.spec).unwrap_or_default();
        let sops_json = serde_json::to_vec(&self.sops).unwrap_or_default();
        let ns = self.namespace().unwrap_or_default();
        let name = self.name_any();
        let digest =
            document::input_digest(&[&spec_json, &sops_json, recipients.as_bytes(), ns.as_bytes(), name.as_bytes()]);
        let lastmodified = self.sops.as_ref().and_then(|s| s.get("lastmodified")).and_then(|v| v.as_str());
        let accepted = self.status.as_ref().and_then(|s| s.last_modified.as_deref());
        let allowed = self.annotations().get(ALLOW_REPLAY_ANNOTATION).is_some_and(|v| v == "true");
        if let (Some(doc), Some(accepted)) = (lastmodified, accepted)
            && is_older(doc, accepted)
            && !allowed
        {
            return Err(SourceError::new(
                Reason::ReplayRefused,
                format!(
                    "this document was sealed at {doc}, before the one already accepted ({accepted}): an old version was re-applied. Re-seal the values, or annotate the object {ALLOW_REPLAY_ANNOTATION}=\"true\" to roll back on purpose"
                ),
                Retry::AwaitChange,
            ));
        }
        // Recorded only after the Secret holds this document's data; the
        // value is authenticated by the MAC, checked before any write.
        let record = match lastmodified {
            Some(lm) if Some(lm) != accepted => vec![("lastModified", lm.to_owned())],
            _ => Vec::new(),
        };
        Ok(Desired { digest, ownership: Ownership::Owner, requeue: None, data: None, record })
    }

    async fn data(&self, ctx: &SourceContext) -> Result<Made, SourceError> {
        ctx.metrics.decrypted();
        let ids = ctx.registry.identities();
        let obj = self.clone();
        // Decryption is CPU work: on the blocking pool it cannot stall the
        // async workers that drive the watches and every other reconcile.
        match tokio::task::spawn_blocking(move || desired_data(&obj, &ids)).await {
            Ok(Ok(data)) => Ok(data.into()),
            Ok(Err(e)) => {
                ctx.metrics.decrypt_failed(reason(&e));
                Err(source_error(e))
            }
            Err(_) => Err(SourceError::new(
                Reason::InternalError,
                "the decryption stopped unexpectedly (see the controller's log); it is retried with backoff",
                Retry::Backoff,
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replays_are_detected_by_time_not_by_text() {
        assert!(is_older("2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"));
        assert!(!is_older("2026-01-02T00:00:00Z", "2026-01-01T00:00:00Z"));
        assert!(!is_older("2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z"));
        // Same instant in another offset is not older.
        assert!(!is_older("2026-01-01T01:00:00+01:00", "2026-01-01T00:00:00Z"));
        assert!(!is_older("garbage", "2026-01-01T00:00:00Z"));
    }

    #[test]
    fn every_document_error_has_its_reason_and_retry() {
        let cases = [
            (SealedError::InvalidDocument("x".into()), Reason::InvalidDocument, Retry::Resync),
            (SealedError::NoMatchingKey("x".into()), Reason::NoMatchingKey, Retry::After(Duration::from_secs(60))),
            (SealedError::DecryptFailed("x".into()), Reason::DecryptFailed, Retry::Resync),
            (SealedError::MacMismatch("x".into()), Reason::MacMismatch, Retry::Resync),
            (SealedError::ScopeMismatch("x".into()), Reason::ScopeMismatch, Retry::Resync),
            (SealedError::KeysChanged("x".into()), Reason::KeySetMismatch, Retry::Resync),
        ];
        for (e, reason, retry) in cases {
            let se = source_error(e);
            assert_eq!((se.reason, se.retry), (reason, retry));
            assert!(!se.gone);
        }
    }
}
