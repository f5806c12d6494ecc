//! ESO's own tests of its template engine v2 (`runtime/template/v2/*_test.go`
//! of external-secrets v2.9.0, commit
//! cc5bfbc2234ace9cb0caff4ea89c435cf517b27b), ported case by case: each
//! Go test function is one test here, each case keeps ESO's name and its
//! inputs and expected outputs; the test code is seal's. A case where seal
//! deliberately differs is marked [`Want::Differs`] with the reason, the
//! same reason the README's table of differences gives, and asserts what
//! seal does instead. ESO's fixture files are in `testdata/eso/`.
//!
//! Not here: the cases of the same files about where rendered text goes
//! (targets, scopes, decoding strategies, nested paths): the controller's,
//! tested with it.

mod decrypt;
mod functions;
mod pem;
mod pkcs12;
mod template;
mod vectors;

use std::sync::Arc;

use seal_format::document::SecretData;
use zeroize::Zeroizing;

use crate::{Work, context, execute_in};

/// What a ported case expects of seal.
#[derive(Debug)]
pub(super) enum Want {
    /// ESO's output, exactly.
    Out(&'static str),
    /// An error, as ESO gives one; seal's message holds this text.
    Err(&'static str),
    /// A deliberate difference (the reason): seal gives an error holding
    /// the text, where ESO renders.
    Differs { why: &'static str, err: &'static str },
}

/// The controller's key in these tests (it keys `htpasswd` and PKCS#12
/// salts).
pub(super) const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

/// Renders `src` over `data` (raw bytes, as a store gives them).
pub(super) fn render(src: &str, data: &[(&str, &[u8])]) -> Result<String, String> {
    let mut d = SecretData::default();
    for (k, v) in data {
        d.0.insert((*k).to_owned(), Zeroizing::new(v.to_vec()));
    }
    let work: Arc<Work> = Work::with_time(std::time::Duration::from_secs(3600));
    execute_in(&work, "t", src, &context(&d), KEY).map(|z| z.to_string())
}

/// Checks one rendering against what the case wants; the case's name in
/// every failure.
pub(super) fn check(case: &str, got: Result<String, String>, want: &Want) {
    match (want, got) {
        (Want::Out(w), Ok(g)) => assert_eq!(g, *w, "case {case:?}"),
        (Want::Err(w), Err(e)) => assert!(e.contains(w), "case {case:?}: the error {e:?} does not hold {w:?}"),
        (Want::Differs { why, err }, Err(e)) => {
            assert!(e.contains(err), "case {case:?} (a difference: {why}): the error {e:?} does not hold {err:?}")
        }
        (want, got) => panic!("case {case:?}: wanted {want:?}, got {got:?}"),
    }
}

/// One of ESO's fixture files (`runtime/template/v2/_testdata`).
pub(super) fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/testdata/eso/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}
