//! Vault and OpenBao, and nothing of ESO's rules: [`store`] resolves the
//! SecretStore or ClusterSecretStore an object names and checks it may use
//! it; [`pool`] logs in (once per store, again before the token expires),
//! reads with de-duplication, lists, and writes for PushSecrets, with the
//! credentials [`credentials`] reads (only with their owner's consent);
//! [`connect`] is the connection policy (allowed servers, TLS, timeouts, no
//! redirects); [`bounded`] reads every answer to a bounded size;
//! [`ownership`] records who pushed what. What an ExternalSecret reads and
//! how it becomes data is `sources::external_secret`.

pub mod bounded;
pub mod connect;
pub mod credentials;
pub mod ownership;
pub mod pool;
pub mod store;

#[cfg(test)]
pub mod fake;

pub use pool::{ALLOWED_STORES_ANNOTATION, DynamicMethod, VaultError, VaultPool, VaultSecret};
pub use store::ResolvedStore;
