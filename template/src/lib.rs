//! External Secrets Operator's template engine v2, for
//! `ExternalSecret.spec.target.template`: Go `text/template` syntax (the
//! `gotmpl` crate, a Rust port of Go's package) with the sprig and ESO
//! functions that manifests use, over the values read from the store.
//!
//! Templates are written by a tenant and run in the controller, so every
//! execution is bounded: nesting depth (the engine's own limits), `range`
//! iterations, the size of each output, and the number of expensive calls
//! (bcrypt). Errors name the template and the position, never a value:
//! messages of the functions below are written so, and a test plants a
//! canary in every failing case.
//!
//! Go strings are bytes and Rust strings are UTF-8: a value's bytes that are
//! not UTF-8 travel through the engine as the characters U+F780..U+F7FF, one
//! per byte ([`text_from_bytes`], [`bytes_from_text`]), so `{{ .p12 }}`,
//! `b64enc` and the PKCS#12 functions see the bytes Go would.
//!
//! Not here (see the README's table of template functions): `env`,
//! `expandenv` and `getHostByName` (ESO removes them too), and the sprig
//! functions the README lists as refused.
//!
//! A crate of its own, with no Kubernetes client, async runtime or
//! serde_yaml, so that it can be fuzzed (`fuzz/`, targets
//! `template_execute` and `pkcs12_decode`). Layout: [`engine`] parses and
//! runs a template and turns engine errors into messages; [`work`] is the
//! budget one object's templates share; `functions` holds the functions
//! by family (strings, encoding, collections, printing, paths, keys, PEM
//! and PKCS#12); [`gopem`] reads PEM as Go does;
//! [`pkcs12`] reads and writes PKCS#12 files; [`bytes`] carries bytes that
//! are not UTF-8 through the engine.

#![forbid(unsafe_code)]

pub mod bytes;
pub mod engine;
mod functions;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
mod gopem;
pub mod pkcs12;
pub mod work;

pub use bytes::{bytes_from_text, context, text_from_bytes};
pub use engine::{execute, execute_in};
pub use functions::certificates::filter_pem;
pub use functions::encoding::base32_encode;
pub use functions::printing::go_printf;
pub use functions::yaml::to_yaml;
pub use gotmpl::Value;
pub use work::{MAX_VALUE_DEPTH, MAX_WORK_BYTES, MAX_WORK_ELEMENTS, MAX_WORK_TIME, Work};

/// Most bytes one template may write.
pub const MAX_OUTPUT: usize = 1 << 20;
/// Most `range` iterations of one execution.
pub const MAX_RANGE_ITERATIONS: u64 = 100_000;
/// Most bcrypt hashes (`htpasswd`) of one object's templates in one reconcile.
pub const MAX_BCRYPT_CALLS: usize = 16;
/// bcrypt cost of `htpasswd`, as sprig uses (`bcrypt.DefaultCost`).
pub const BCRYPT_COST: u32 = 10;

#[cfg(test)]
mod eso_tests;
#[cfg(test)]
mod tests;
