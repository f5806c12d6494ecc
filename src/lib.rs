//! seal: secrets for GitOps.
//!
//! - [`sops`]: the SOPS file format (age), shared by the CLI and the controller; no Kubernetes here.
//! - [`sealed`]: the SealedSecret document: scope binding, key order.
//! - [`api`]: the custom resource types.
//! - [`keys`]: the controller's age keys and their published recipients.
//! - [`sources`]: resources → desired Secret data (sealed).
//! - [`materialize`]: desired data → Secret; drift decisions; rollout restarts.
//! - [`controller`]: the kube-runtime controller that wires these together.
//! - [`telemetry`]: logs, metrics, the HTTP port.

pub mod api;
pub mod controller;
pub mod keys;
pub mod materialize;
pub mod sealed;
pub mod sops;
pub mod sources;
pub mod telemetry;
