//! seal-controller's library: the custom resources, the controller's keys,
//! the sources of Secret data, the materializer and the controller itself.
//! The SOPS format and the SealedSecret document model live in the
//! `seal-format` crate, shared with the `seal` CLI.
//!
//! Dependencies run one way: [`controller`] → [`materialize`] and
//! [`sources`] → [`api`], [`key_registry`] and `seal_format`.
//!
//! - [`api`]: the custom resource types, status reasons, durations.
//! - [`key_registry`]: the controller's age keys and their published recipients.
//! - [`sources`]: resources → desired Secret data (sealed, Vault).
//! - [`materialize`]: desired data → Secret; drift decisions; the writes.
//! - [`controller`]: the one reconcile flow, status, the process.
//! - [`telemetry`]: logs, metrics, the HTTP port.

pub mod api;
pub mod controller;
pub mod key_registry;
pub mod materialize;
pub mod sources;
pub mod telemetry;
