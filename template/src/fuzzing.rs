//! What the fuzz targets (`fuzz/fuzz_targets/template_execute.rs` and
//! `pkcs12_decode.rs`) run, here so that the tests below replay the
//! inputs they found (`fuzz/regressions/<target>/`) through the same code.
//! Each function panics when the property its target checks fails.

use std::time::Duration;

use zeroize::Zeroizing;

use seal_format::document::SecretData;

use crate::{MAX_OUTPUT, Work, context, execute_in, pkcs12};

/// The key of the value every fuzzed template's data holds.
pub const CANARY_KEY: &str = "canary";
/// The value under [`CANARY_KEY`]: an error message that holds it shows a
/// stored value.
pub const CANARY: &str = "Zq8-canary-value-7f3";

/// The template's text (the input up to its first NUL) and its data: the
/// NUL-separated key and value pairs after it (values as raw bytes), and
/// the canary.
pub fn template_input(data: &[u8]) -> (String, SecretData) {
    let mut parts = data.split(|b| *b == 0);
    let src = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let mut values = SecretData::default();
    while let Some(key) = parts.next() {
        let value = parts.next().unwrap_or_default();
        values.0.insert(String::from_utf8_lossy(key).into_owned(), Zeroizing::new(value.to_vec()));
    }
    values.0.insert(CANARY_KEY.to_owned(), Zeroizing::new(CANARY.as_bytes().to_vec()));
    (src, values)
}

/// The stored value an error message shows, if any: the canary, when the
/// template's own text does not spell it (or a fragment of it).
pub fn leaked_value(error: &str, src: &str) -> Option<&'static str> {
    (error.contains(CANARY) && !src.contains("Zq8") && !src.contains("canary-value")).then_some(CANARY)
}

/// `template_execute`: a template over its data (see [`template_input`])
/// with a small budget (20 ms of rendering, 64 PKCS#12 iterations, no
/// bcrypt hash), so that each run is short. No panic, an output within
/// [`MAX_OUTPUT`], and no error that shows a stored value.
pub fn template_execute(data: &[u8]) {
    let (src, values) = template_input(data);
    let work = Work::with_limits(Duration::from_millis(20), 64, 0);
    match execute_in(&work, "t", &src, &context(&values), b"fuzz key") {
        Ok(out) => assert!(out.len() <= MAX_OUTPUT, "an output of {} bytes", out.len()),
        Err(e) => {
            if let Some(leak) = leaked_value(&e, &src) {
                panic!("the error {e:?} shows the stored value {leak:?}");
            }
        }
    }
}

/// `pkcs12_decode`: a mode byte, a password length (0..=32) and the
/// password, then the body. With mode bit 0 the body is a file's content
/// (an AuthenticatedSafe), wrapped in a valid MAC ([`pkcs12::with_mac`])
/// so that mutations reach the parsers behind it; otherwise the body is
/// the whole file. With bit 1 the body is also read as PEM. Key derivation
/// is capped at 64 iterations. No panic, and a file that reads has a key
/// and a certificate.
pub fn pkcs12_decode(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else { return };
    let Some((&n, rest)) = rest.split_first() else { return };
    let (pass, body) = rest.split_at(usize::from(n % 33).min(rest.len()));
    let pass = String::from_utf8_lossy(pass);
    let file = if mode & 1 == 1 { pkcs12::with_mac(body, &pass) } else { body.to_vec() };
    let mut budget = pkcs12::Budget::new(64);
    if let Ok(got) = pkcs12::decode(&file, &pass, &mut budget) {
        assert!(!got.key.is_empty() && !got.certs.is_empty(), "a file read without a key or a certificate");
        let _ = pkcs12::order_chain(&got.certs);
    }
    if mode & 2 == 2 {
        let _ = pkcs12::pem_blocks(&String::from_utf8_lossy(body));
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    /// Inputs the fuzz targets found (`fuzz/regressions/<target>/`) and
    /// their seeds (`fuzz/seeds/<target>/`), kept as regression tests:
    /// each goes through the same check as its target.
    #[test]
    fn fuzz_regressions_and_seeds_hold() {
        let fuzz = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
        let mut checked = 0;
        for (target, check) in
            [("template_execute", super::template_execute as fn(&[u8])), ("pkcs12_decode", super::pkcs12_decode)]
        {
            for dir in ["regressions", "seeds"] {
                let Ok(entries) = std::fs::read_dir(fuzz.join(dir).join(target)) else { continue };
                for entry in entries {
                    let path = entry.expect("entry").path();
                    let data = std::fs::read(&path).expect("read");
                    let outcome = std::panic::catch_unwind(|| check(&data));
                    assert!(outcome.is_ok(), "{}: the {target} check fails", path.display());
                    checked += 1;
                }
            }
        }
        assert!(checked >= 20, "the seeds and regression inputs are checked in ({checked} found)");
    }
}
