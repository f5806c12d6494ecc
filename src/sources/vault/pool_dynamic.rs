//! The pool's one request whose method and path a tenant chooses (a
//! `VaultDynamicSecret`: a PKI `issue`, a database `creds` read …). A child
//! of `pool`, so it shares the pool's sessions, per-store slots and pauses;
//! the answer is read through the bounded client, whole and unparsed, for
//! the caller to take apart. Nothing is cached here: each call is one
//! request (the caller remembers what a request issued).

use kube::Client;
use vaultrs::error::ClientError;
use zeroize::Zeroizing;

use super::super::bounded::raw;
use super::{ResolvedStore, VaultError, VaultPool, from_client};

/// A request's method, as seal sends it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DynamicMethod {
    /// A read (`GET`), with a query string.
    Get,
    /// A list (`LIST`).
    List,
    /// A write (`PUT`, as Vault's Go client sends every write), with a JSON body.
    Put,
}

impl DynamicMethod {
    fn name(self) -> &'static str {
        match self {
            DynamicMethod::Get => "GET",
            DynamicMethod::List => "LIST",
            DynamicMethod::Put => "PUT",
        }
    }
}

impl VaultPool {
    /// Sends one request to `store` and returns the answer's body (`None`
    /// when the answer is empty, or when a read or list finds nothing:
    /// Vault's Go client reads a 404 of a `GET` or `LIST` as no answer,
    /// which ESO reports as an empty one). `segments` must be checked by
    /// the caller (none empty, `.` or `..`); messages name the store, the
    /// method and the path, never the body or the answer.
    pub async fn dynamic(
        &self,
        kube: &Client,
        store: &ResolvedStore,
        method: DynamicMethod,
        segments: &[String],
        query: Option<String>,
        body: Option<Vec<u8>>,
    ) -> Result<Option<Zeroizing<Vec<u8>>>, VaultError> {
        let what = format!("{}: {} /{}", store.display, method.name(), segments.join("/"));
        let mut retried = false;
        loop {
            let client = self.client(kube, store).await?;
            let req = raw::Request {
                method: match method {
                    DynamicMethod::Get => rustify::enums::RequestMethod::GET,
                    DynamicMethod::List => rustify::enums::RequestMethod::LIST,
                    DynamicMethod::Put => rustify::enums::RequestMethod::PUT,
                },
                segments: segments.to_vec(),
                query: query.clone(),
                body: body.clone(),
            };
            let r = self
                .request(store, async {
                    self.metrics.vault_read();
                    match raw::send(client.as_ref(), req).await {
                        Ok(body) => Ok(body.map(Zeroizing::new)),
                        Err(ClientError::APIError { code: 404, .. }) if method != DynamicMethod::Put => Ok(None),
                        Err(e) => Err(from_client(e, &store.display, &what)),
                    }
                })
                .await;
            match r {
                // A rejected token may have been revoked: log in again once
                // (a refused request issued nothing).
                Err(VaultError::Denied(_)) if !retried => {
                    retried = true;
                    self.invalidate(store).await;
                }
                r => return r,
            }
        }
    }
}
