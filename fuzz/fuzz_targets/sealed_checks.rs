//! The checks the controller and `seal verify` run on a SealedSecret:
//! reading it (as YAML, and as the JSON the API server returns), the
//! keyless structure check, then decryption, MAC, scope and key-name checks
//! with the fuzzer's own identity. Never panics; a document that opens is
//! bound to the object it is opened as.
#![no_main]
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use seal_format::document;
use seal_format::sops::{self, Format, Identities, Value};

/// The identity the seed corpus was sealed to (`fuzz/run` makes the seeds).
pub const IDENTITY: &str = "AGE-SECRET-KEY-1KXPEP49MWRXJL3G2UH49MLL30VTQ94VC5KTUSKMFX98ZZR8J4RMQZ8M3DW";

fn ids() -> &'static Identities {
    static IDS: OnceLock<Identities> = OnceLock::new();
    IDS.get_or_init(|| {
        let mut ids = Identities::new();
        ids.push(IDENTITY.parse().expect("identity"));
        ids
    })
}

fuzz_target!(|data: &[u8]| {
    if let Ok(json) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = document::json_to_value(&json);
    }
    let Ok(doc) = sops::parse_encrypted(data, Format::Yaml) else { return };
    let Some(object) = doc.branches.first() else { return };
    if document::check_encrypted(object, &doc.metadata).is_err() {
        return;
    }
    let Some(Value::Map(spec)) = object.get("spec") else { return };
    let (ns, name) = document::object_ref(object);
    let (ns, name) = (ns.unwrap_or("default"), name.unwrap_or("x"));
    if let Ok(opened) = document::open(ns, name, spec, doc.metadata.clone(), ids()) {
        assert!(opened.scope.allows(ns, name), "opened for an object its scope does not allow");
    }
});
