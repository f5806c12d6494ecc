//! The `sops` metadata block: parsing any YAML document's `sops` map, and
//! writing it back (nested and flattened for dotenv) reads back the same.
#![no_main]
use libfuzzer_sys::fuzz_target;
use seal_format::sops::{self, Metadata, Value, metadata};

fuzz_target!(|data: &[u8]| {
    let Ok(docs) = sops::yaml::parse(&String::from_utf8_lossy(data)) else { return };
    for doc in docs {
        let Some(Value::Map(m)) = doc.get("sops") else { continue };
        let Ok(md) = Metadata::from_map(m) else { continue };
        let written = md.to_map();
        let again = Metadata::from_map(&written).expect("written metadata reads back");
        assert!(again.to_map() == written, "metadata round trip changed it");
        // The dotenv form: unknown keys may hold `__`, so reading it back
        // may be refused, but never panics.
        let flat = metadata::flatten(&written, "");
        if let Ok(unflat) = metadata::unflatten(&flat) {
            let _ = Metadata::from_map(&unflat);
        }
    }
});
