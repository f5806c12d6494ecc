//! The writers: parse → emit → parse gives the same data (comments aside),
//! for YAML, JSON and dotenv (the first byte picks the format).
#![no_main]
use libfuzzer_sys::fuzz_target;
use seal_format::sops::{self, Format};
use seal_fuzz::same_data;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, input)) = data.split_first() else { return };
    let format = match pick % 3 {
        0 => Format::Yaml,
        1 => Format::Json,
        _ => Format::Dotenv,
    };
    let Ok(tree) = sops::parse_plain(input, format) else { return };
    let Ok(out) = sops::emit_plain(&tree, format) else { return };
    let again = match sops::parse_plain(&out, format) {
        Ok(t) => t,
        Err(e) => panic!("{} output does not read back: {e}\n{}", format.name(), String::from_utf8_lossy(&out)),
    };
    assert!(same_data(&tree, &again), "{} round trip changed the data:\n{}", format.name(), String::from_utf8_lossy(&out));
});
