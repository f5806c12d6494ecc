//! A tenant's template over a tenant's data: the input is the template's
//! text, then NUL-separated key and value pairs (values as bytes, so that
//! text that is not UTF-8 reaches the engine as a store's bytes do). Each
//! run has a small budget (20 ms of rendering, 64 PKCS#12 iterations, no
//! bcrypt hash: `htpasswd`'s cost-10 hash takes 60 ms and has unit tests)
//! so that runs stay short. Whatever the input: no panic, an output within
//! `MAX_OUTPUT`, and no error message that shows a stored value (a canary
//! the data always holds). The check is `seal_template::fuzzing`'s, which
//! also replays `fuzz/regressions/template_execute`.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| seal_template::fuzzing::template_execute(data));
