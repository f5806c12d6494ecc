//! The Vault path, in one place: [`store`] resolves the SecretStore or
//! ClusterSecretStore an ExternalSecret names and checks it may use it;
//! [`pool`] logs in (once per store, again before the token expires) and
//! reads with de-duplication; [`external`] turns an ExternalSecret into its
//! data (which paths, which properties, which keys).

pub mod bounded;
pub mod connect;
pub mod external;
pub mod ownership;
pub mod pool;
pub mod store;

pub use pool::{ALLOWED_STORES_ANNOTATION, VaultError, VaultPool, VaultSecret};
pub use store::ResolvedStore;
