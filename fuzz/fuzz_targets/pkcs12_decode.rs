//! The PKCS#12 reader on arbitrary bytes. Input: a mode byte, a password
//! length (0..=32) and the password, then the body. With mode bit 0 set
//! the body is the file's content (an AuthenticatedSafe) and the check
//! wraps it in a valid one-iteration SHA-256 MAC (`pkcs12::with_mac`), so
//! that mutations reach the bag and decryption parsers behind the MAC;
//! otherwise the body is the whole file. Key derivation is capped at 64
//! iterations per run (files with more are refused before any derivation,
//! as the budget does in the controller). Whatever the input: no panic,
//! and a file that reads has a key and a certificate. The check is
//! `seal_template::fuzzing`'s, which also replays
//! `fuzz/regressions/pkcs12_decode`.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| seal_template::fuzzing::pkcs12_decode(data));
