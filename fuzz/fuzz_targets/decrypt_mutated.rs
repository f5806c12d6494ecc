//! Decryption of a structurally valid document with a mutated body: the
//! input is a list of byte edits (offset, xor) applied to a file encrypted
//! once per run. Whatever the edits, decryption never panics, and when it
//! succeeds every decrypted value is the one that was encrypted: a changed
//! ciphertext, path, MAC or `lastmodified` is never accepted.
#![no_main]
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use seal_format::sops::{
    self, DataKey, DecryptOptions, EncryptOptions, Format, Identities, Map, Recipient, Rule, Value, cipher, recipients,
};

struct Fixture {
    files: Vec<(Format, Vec<u8>, Vec<(String, Vec<u8>)>)>,
    key: DataKey,
}

const YAML: &str = "a: secret-a\nn: 5\nl:\n    - x\n    - true\nm:\n    k: 1.5\n# note\nz: null\n";
const JSON: &str = "{\"a\": \"secret-a\", \"n\": 5, \"l\": [\"x\", true], \"m\": {\"k\": 1.5}}";
const DOTENV: &str = "A=secret-a\n#note\nB=two\n";

/// Path and plaintext bytes of every value that carries data.
fn values(branches: &[Map]) -> Vec<(String, Vec<u8>)> {
    fn walk(v: &Value, path: &str, out: &mut Vec<(String, Vec<u8>)>) {
        match v {
            Value::Map(m) => {
                for (k, v) in m.pairs() {
                    walk(v, &format!("{path}/{k}"), out);
                }
            }
            Value::List(l) => l.iter().for_each(|v| walk(v, path, out)),
            // Null and the empty string carry no data and, as in sops, are
            // neither encrypted nor in the MAC: a mutation may turn one into
            // the other (`z: null` → `z: !ull`, an empty string). A
            // SealedSecret binds its key names in its scope instead.
            Value::Comment(_) | Value::Null => {}
            leaf => {
                if let Some((bytes, _)) = cipher::plaintext_bytes(leaf)
                    && !bytes.is_empty()
                {
                    out.push((path.to_owned(), bytes.to_vec()));
                }
            }
        }
    }
    let mut out = Vec::new();
    for b in branches {
        walk(&Value::Map(b.clone()), "", &mut out);
    }
    out
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let id = age::x25519::Identity::generate();
        let r = Recipient::parse(&id.to_public().to_string()).expect("recipient");
        let mut ids = Identities::new();
        ids.push(id);
        let opts = EncryptOptions { groups: vec![vec![r]], shamir_threshold: 0, rule: Rule::default(), mac_only_encrypted: false };
        // One data key for all three files, so one key decrypts any of them.
        let first = sops::encrypt_document(sops::parse_plain(YAML.as_bytes(), Format::Yaml).expect("yaml"), &opts).expect("encrypt");
        let key = recipients::recover(&first.metadata, &ids).expect("key");
        let mut files = Vec::new();
        for (format, text) in [(Format::Yaml, YAML), (Format::Json, JSON), (Format::Dotenv, DOTENV)] {
            let plain = sops::parse_plain(text.as_bytes(), format).expect("plain");
            let expected = values(&plain);
            let mut branches = plain;
            let mut md = first.metadata.clone();
            sops::encrypt_tree(&mut branches, &mut md, &cipher::Cipher::new(key.clone())).expect("encrypt");
            let doc = sops::EncryptedDocument { branches, metadata: md };
            files.push((format, sops::emit_encrypted(&doc, format).expect("emit"), expected));
        }
        Fixture { files, key }
    })
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    let Some((&pick, edits)) = data.split_first() else { return };
    let (format, original, expected) = &f.files[pick as usize % f.files.len()];
    let mut bytes = original.clone();
    for e in edits.chunks_exact(3) {
        let offset = u16::from_le_bytes([e[0], e[1]]) as usize % bytes.len();
        bytes[offset] ^= e[2];
    }
    let Ok(doc) = sops::parse_encrypted(&bytes, *format) else { return };
    let Ok((plain, _, _)) = sops::decrypt_with_key(doc, f.key.clone(), DecryptOptions::default()) else { return };
    let got = values(&plain);
    assert!(
        got == *expected,
        "a mutated {} file decrypted to other values:\n{}",
        format.name(),
        String::from_utf8_lossy(&bytes)
    );
});
