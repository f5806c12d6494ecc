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

use super::{Common, CommonStatus, Desired, Ownership, Retry, SecretData, Source, SourceContext, SourceError};
use crate::api::{Reason, SealedSecret};

/// The status reason of a document error.
pub fn reason(e: &SealedError) -> Reason {
    match e {
        SealedError::InvalidDocument(_) => Reason::InvalidDocument,
        SealedError::NoMatchingKey(_) => Reason::NoMatchingKey,
        SealedError::DecryptFailed(_) => Reason::DecryptFailed,
        SealedError::MacMismatch(_) => Reason::MacMismatch,
        SealedError::ScopeMismatch(_) => Reason::ScopeMismatch,
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
    let Value::Map(meta_map) = document::json_to_value(sops_block) else {
        return Err(SealedError::InvalidDocument("the `sops` block is not a mapping".into()));
    };
    let metadata =
        Metadata::from_map(&meta_map).map_err(|e| SealedError::InvalidDocument(format!("{e}; re-seal the file")))?;
    let spec = serde_json::to_value(&obj.spec)
        .map_err(|e| SealedError::InvalidDocument(format!("the spec cannot be read: {e}")))?;
    let Value::Map(spec) = document::json_to_value(&spec) else {
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
            template: self.spec.template.as_ref(),
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
        let recipients = ctx.registry.recipients().join(",");
        let spec_json = serde_json::to_vec(&self.spec).unwrap_or_default();
        let sops_json = serde_json::to_vec(&self.sops).unwrap_or_default();
        let ns = self.namespace().unwrap_or_default();
        let name = self.name_any();
        let digest =
            document::input_digest(&[&spec_json, &sops_json, recipients.as_bytes(), ns.as_bytes(), name.as_bytes()]);
        Ok(Desired { digest, ownership: Ownership::Owner, requeue: None, data: None })
    }

    async fn data(&self, ctx: &SourceContext) -> Result<SecretData, SourceError> {
        ctx.metrics.decrypted();
        desired_data(self, &ctx.registry.identities()).map_err(|e| {
            ctx.metrics.decrypt_failed(reason(&e));
            source_error(e)
        })
    }
}
