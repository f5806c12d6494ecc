//! seal: secrets for GitOps.
//!
//! - [`sops`]: the SOPS file format (age), shared by the CLI and the controller.
//! - [`sealed`]: the SealedSecret document: scope binding, key order.

pub mod sealed;
pub mod sops;
