//! Sources turn a resource into the data its Secret should hold. They know
//! nothing of how the Secret is written (that is `materialize`).

pub mod sealed;
pub mod vault;

use std::collections::BTreeMap;

use zeroize::Zeroizing;

/// The data a Secret should hold: key → bytes. Zeroized on drop; no `Debug`.
#[derive(Default, Clone, PartialEq)]
pub struct SecretData(pub BTreeMap<String, Zeroizing<Vec<u8>>>);

impl SecretData {
    /// The keys (safe to log).
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }
}
