//! The dotenv reader, plaintext and encrypted: never panics, never overflows.
#![no_main]
use libfuzzer_sys::fuzz_target;
use seal_format::sops::{self, Format};

fuzz_target!(|data: &[u8]| {
    let _ = sops::parse_plain(data, Format::Dotenv);
    let _ = sops::parse_encrypted(data, Format::Dotenv);
});
