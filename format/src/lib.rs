//! seal's format library, shared by the `seal` CLI and `seal-controller`.
//!
//! - [`sops`]: the SOPS file format (age back end), compatible with sops 3.11
//!   in both directions; see `docs/sops-format.md`.
//! - [`document`]: the SealedSecret document model: the selection rule, the
//!   scope binding, key order, the recipients-file format, and the checks
//!   that `seal verify`, `seal render` and the controller share.
//!
//! The crate has no Kubernetes client and no async runtime (its
//! `Cargo.toml` lists neither), so the CLI links none of the controller's
//! stack.

#![forbid(unsafe_code)]

pub mod document;
pub mod sops;
