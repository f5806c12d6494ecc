//! A `VaultDynamicSecret` named by a `generatorRef`: read the generator,
//! refuse what seal does not implement, and send its one request through
//! the pool with the generator's own provider (a namespaced store of the
//! generator's namespace) — unless this object was issued its values in
//! this refresh epoch already (`sources::generator::vault_dynamic`).

use std::sync::Arc;

use kube::ResourceExt;
use zeroize::Zeroizing;

use super::error::{EsError, GeneratorError};
use super::fetch::read_generator;
use crate::api::external_secret::GeneratorRef;
use crate::api::generator::VaultDynamicSecret;
use crate::sources::SourceContext;
use crate::sources::generator::vault_dynamic::{self, ISSUED};
use crate::sources::vault::{ResolvedStore, VaultError};

/// The values of the VaultDynamicSecret `g` names, for the object `uid` of
/// namespace `ns` in refresh epoch `epoch` (see `fetch::generator_values`).
pub(super) async fn values(
    ctx: &SourceContext,
    ns: &str,
    uid: &str,
    g: &GeneratorRef,
    field: &str,
    epoch: u64,
) -> Result<Vec<(String, Zeroizing<Vec<u8>>)>, EsError> {
    let v: VaultDynamicSecret = read_generator(ctx, ns, g, field).await?;
    let name = format!("VaultDynamicSecret {ns}/{}", g.name);
    if !v.spec.unsupported.is_empty() {
        let why = format!("{name}: {}", crate::api::unknown::unsupported_message(&v.spec.unsupported));
        return Err(GeneratorError::NotImplemented { field: field.to_owned(), why }.into());
    }
    let plan = vault_dynamic::plan(&v.spec)
        .map_err(|e| GeneratorError::Impossible { field: field.to_owned(), why: format!("{name}: {e}") })?;
    let owner = vault_dynamic::owner_key(
        ns,
        uid,
        &g.name,
        &v.uid().unwrap_or_default(),
        v.metadata.generation.unwrap_or_default(),
    );
    let unusable = |why: String| GeneratorError::Unavailable { field: field.to_owned(), why: format!("{name}: {why}") };
    match ISSUED.remembered(&owner, epoch) {
        Some(Ok(issued)) => return Ok(issued.as_ref().clone()),
        Some(Err(why)) => return Err(unusable(why).into()),
        None => {}
    }
    let store = ResolvedStore::of_vault_dynamic_secret(&v);
    let answer = ctx
        .vault
        .dynamic(&ctx.client, &store, plan.method, &plan.segments, plan.query, plan.body)
        .await
        .map_err(|e| in_field(e, field))?;
    // Remembered either way: a request that was answered may have issued
    // something even when its answer cannot be used.
    let made = vault_dynamic::values(
        answer.as_ref().map(|a| a.as_slice()),
        v.spec.result_type.unwrap_or_default(),
        v.spec.allow_empty_response,
    )
    .map(Arc::new);
    ISSUED.remember(&owner, epoch, made.clone());
    Ok(made.map_err(unusable)?.as_ref().clone())
}

/// A store error, prefixed with the field naming the generator. A 404 is
/// the generator failing, not the values being gone (which could delete
/// the Secret under `deletionPolicy: Delete`).
fn in_field(e: VaultError, field: &str) -> EsError {
    let at = |m: String| format!("{field}: {m}");
    match e {
        VaultError::NotFound(m) => GeneratorError::Unavailable { field: field.to_owned(), why: m }.into(),
        VaultError::Unavailable(m) => VaultError::Unavailable(at(m)).into(),
        VaultError::Denied(m) => VaultError::Denied(at(m)).into(),
        VaultError::PropertyNotFound(m) => VaultError::PropertyNotFound(at(m)).into(),
        VaultError::Misconfigured(m) => VaultError::Misconfigured(at(m)).into(),
        VaultError::Paused(m, d) => VaultError::Paused(at(m), d).into(),
        VaultError::TooLarge(m) => VaultError::TooLarge(at(m)).into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Reason;
    use crate::sources::SourceError;

    #[test]
    fn a_generator_request_vault_does_not_find_fails_the_generator_and_does_not_say_the_values_are_gone() {
        let field = "spec.dataFrom[0].sourceRef.generatorRef";
        let e = SourceError::from(in_field(
            VaultError::NotFound("VaultDynamicSecret ns/g: PUT /pki/issue/x: not found (404)".into()),
            field,
        ));
        assert_eq!((e.reason, e.gone), (Reason::GeneratorFailed, false));
        assert!(e.message.starts_with(field) && e.message.contains("VaultDynamicSecret ns/g"), "{}", e.message);
        let e = SourceError::from(in_field(
            VaultError::Denied("VaultDynamicSecret ns/g: login: permission denied (403)".into()),
            field,
        ));
        assert_eq!(e.reason, Reason::StoreAccessDenied);
        assert!(e.message.starts_with(field), "{}", e.message);
    }
}
