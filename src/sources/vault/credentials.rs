//! The credentials a store logs in with, read only with their owner's
//! consent: a token or AppRole secret_id from a Secret, a ServiceAccount
//! token minted for the store's audience. Either must carry the
//! [`ALLOWED_STORES_ANNOTATION`] naming the store.

use std::collections::BTreeMap;

use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use kube::api::PostParams;
use kube::{Api, Client};
use zeroize::Zeroizing;

use super::connect;
use super::{ResolvedStore, VaultError};
use crate::api::secret_store::{SecretKeyRef, ServiceAccountRef};

pub(super) async fn read_secret_key(
    kube: &Client,
    store: &ResolvedStore,
    field: &str,
    r: &SecretKeyRef,
) -> Result<Zeroizing<String>, VaultError> {
    let ns = store.ref_namespace(field, r.namespace.as_ref())?;
    let api: Api<Secret> = Api::namespaced(kube.clone(), &ns);
    let s = api.get_opt(&r.name).await.map_err(|e| {
        VaultError::Misconfigured(format!(
            "{}: {field}: cannot read Secret {ns}/{}: {}",
            store.display,
            r.name,
            api_reason(&e)
        ))
    })?;
    let s = s.ok_or_else(|| {
        VaultError::Misconfigured(format!("{}: {field}: Secret {ns}/{} does not exist", store.display, r.name))
    })?;
    check_grant(store, field, "Secret", &ns, &r.name, s.metadata.annotations.as_ref())?;
    let v = s.data.and_then(|mut d| d.remove(&r.key)).ok_or_else(|| {
        VaultError::Misconfigured(format!("{}: {field}: Secret {ns}/{} has no key {}", store.display, r.name, r.key))
    })?;
    let text = String::from_utf8(v.0).map_err(|_| {
        VaultError::Misconfigured(format!(
            "{}: {field}: Secret {ns}/{} key {} is not text",
            store.display, r.name, r.key
        ))
    })?;
    Ok(Zeroizing::new(text.trim().to_owned()))
}

pub(super) async fn service_account_token(
    kube: &Client,
    store: &ResolvedStore,
    field: &str,
    r: &ServiceAccountRef,
    refused_audiences: &[String],
) -> Result<Zeroizing<String>, VaultError> {
    let ns = store.ref_namespace(field, r.namespace.as_ref())?;
    let audiences = connect::token_audiences(store, &r.audiences, refused_audiences)?;
    let api: Api<ServiceAccount> = Api::namespaced(kube.clone(), &ns);
    let sa = api.get_metadata_opt(&r.name).await.map_err(|e| {
        VaultError::Misconfigured(format!(
            "{}: {field}: cannot read ServiceAccount {ns}/{}: {}",
            store.display,
            r.name,
            api_reason(&e)
        ))
    })?;
    let sa = sa.ok_or_else(|| {
        VaultError::Misconfigured(format!("{}: {field}: ServiceAccount {ns}/{} does not exist", store.display, r.name))
    })?;
    check_grant(store, field, "ServiceAccount", &ns, &r.name, sa.metadata.annotations.as_ref())?;
    let req = TokenRequest {
        spec: TokenRequestSpec { audiences, expiration_seconds: Some(600), ..Default::default() },
        ..Default::default()
    };
    let tr = api.create_token_request(&r.name, &PostParams::default(), &req).await.map_err(|e| {
        VaultError::Misconfigured(format!(
            "{}: {field}: cannot get a token for ServiceAccount {ns}/{}: {}",
            store.display,
            r.name,
            api_reason(&e)
        ))
    })?;
    let token = tr.status.map(|s| s.token).unwrap_or_default();
    Ok(Zeroizing::new(token))
}

/// Without [`ALLOWED_STORES_ANNOTATION`] on a Secret or ServiceAccount no
/// store may use it: creating a store must not let its author read a Secret
/// or mint a token they could not get themselves.
pub use crate::api::annotations::ALLOWED_STORES_ANNOTATION;

/// Whether the annotations on a credential grant it to `store`.
pub fn granted(annotations: Option<&BTreeMap<String, String>>, store: &ResolvedStore) -> bool {
    annotations
        .and_then(|a| a.get(ALLOWED_STORES_ANNOTATION))
        .is_some_and(|v| v.split(',').map(str::trim).any(|g| g == "*" || g == store.grant))
}

fn check_grant(
    store: &ResolvedStore,
    field: &str,
    kind: &str,
    ns: &str,
    name: &str,
    annotations: Option<&BTreeMap<String, String>>,
) -> Result<(), VaultError> {
    if granted(annotations, store) {
        return Ok(());
    }
    Err(VaultError::Misconfigured(format!(
        "{}: {field}: {kind} {ns}/{name} does not allow this store to use it; its owner must annotate it {ALLOWED_STORES_ANNOTATION}: \"{}\"",
        store.display, store.grant
    )))
}

/// The API server's short reason for a failed request (no response body,
/// which could echo input).
fn api_reason(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => format!("{} ({})", s.reason, s.code),
        _ => "the API server is unreachable".to_owned(),
    }
}
