//! The INI reader, plaintext and encrypted, and the writer over what it
//! read: never panics, never overflows.
#![no_main]
use libfuzzer_sys::fuzz_target;
use seal_format::sops::{self, Format};

fuzz_target!(|data: &[u8]| {
    if let Ok(tree) = sops::parse_plain(data, Format::Ini) {
        let _ = sops::emit_plain(&tree, Format::Ini);
    }
    let _ = sops::parse_encrypted(data, Format::Ini);
});
