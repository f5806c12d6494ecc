//! Unit tests of the format engine: the known answers made with sops 3.11
//! (`tests/data/sops-vectors/kat.json`), and property tests of the parsers
//! and the decryptor.

use std::path::PathBuf;

use proptest::prelude::*;
use sha2::{Digest, Sha512};

use super::*;

fn vectors() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/data/sops-vectors")
}

fn kat() -> serde_json::Value {
    let text = std::fs::read_to_string(vectors().join("kat.json")).expect("kat.json is checked in");
    serde_json::from_str(&text).expect("kat.json is JSON")
}

fn key_of(v: &serde_json::Value) -> DataKey {
    let bytes = hex::decode(v["data_key_hex"].as_str().expect("hex")).expect("hex key");
    DataKey::from_slice(&bytes).expect("32 bytes")
}

#[test]
fn kat_every_stored_value_decrypts_to_its_plaintext() {
    let mut checked = 0;
    for (name, v) in kat().as_object().expect("object") {
        let mut cipher = Cipher::new(key_of(v));
        for leaf in v["leaves"].as_array().expect("leaves") {
            let stored = leaf["stored"].as_str().expect("stored");
            if !leaf["encrypted"].as_bool().expect("bool") || stored.is_empty() {
                continue;
            }
            let (plain, _) = cipher.decrypt(stored, leaf["aad"].as_str().expect("aad")).expect(name);
            assert_eq!(plain.as_slice(), leaf["plaintext_bytes"].as_str().expect("bytes").as_bytes(), "{name}");
            checked += 1;
        }
    }
    assert!(checked > 30, "only {checked} values checked");
}

#[test]
fn kat_mac_is_reproduced_from_the_listed_leaves() {
    for (name, v) in kat().as_object().expect("object") {
        let mut h = Sha512::new();
        if v["mac_only_encrypted"].as_bool().expect("bool") {
            h.update(MAC_ONLY_ENCRYPTED_INIT);
        }
        for leaf in v["leaves"].as_array().expect("leaves") {
            if leaf["in_mac"].as_bool().expect("bool") {
                h.update(leaf["plaintext_bytes"].as_str().expect("bytes").as_bytes());
            }
        }
        let computed = hex::encode_upper(h.finalize());
        assert_eq!(computed, v["mac_plaintext"].as_str().expect("mac"), "{name}");
        let mut cipher = Cipher::new(key_of(v));
        let aad = mac_aad(v["lastmodified"].as_str().expect("lm")).expect("time");
        assert_eq!(aad, v["mac_aad"].as_str().expect("aad"));
        let (stored, _) = cipher.decrypt(v["mac_stored"].as_str().expect("mac"), &aad).expect(name);
        assert_eq!(stored.as_slice(), computed.as_bytes(), "{name}");
    }
}

#[test]
fn kat_files_decrypt_and_verify_with_the_known_key() {
    for (name, v) in kat().as_object().expect("object") {
        let bytes = std::fs::read(vectors().join("enc").join(name)).expect("vector");
        let format = Format::from_path(name);
        let doc = parse_encrypted(&bytes, format).expect(name);
        let (plain, _, _) = decrypt_with_key(doc, key_of(v), DecryptOptions::default()).expect(name);
        let expected = std::fs::read(vectors().join("dec").join(name)).expect("dec");
        assert_eq!(emit_plain(&plain, format).expect("emit"), expected, "{name}");
    }
}

#[test]
fn kat_reencrypting_with_the_iv_stash_reproduces_sops_ciphertexts() {
    for (name, v) in kat().as_object().expect("object") {
        let bytes = std::fs::read(vectors().join("enc").join(name)).expect("vector");
        let format = Format::from_path(name);
        let original = parse_encrypted(&bytes, format).expect(name);
        let opts = DecryptOptions { verify_mac: true, stash: true };
        let (mut plain, mut md, cipher) = decrypt_with_key(original.clone(), key_of(v), opts).expect(name);
        encrypt_tree(&mut plain, &mut md, &cipher).expect("encrypt");
        let mut before = Vec::new();
        let mut after = Vec::new();
        collect_strings(&original.branches, &mut before);
        collect_strings(&plain, &mut after);
        assert_eq!(before.len(), after.len(), "{name}");
        // A (path, plaintext) pair seen twice (multidoc: `kind: Secret` in
        // each document) has one stash slot, as in sops: the later IV wins.
        // So every ciphertext written must be one that sops wrote.
        for b in &after {
            assert!(before.contains(b), "{name}: a value was not reproduced byte for byte");
        }
        let same_place = before.iter().zip(&after).filter(|(a, b)| a == b).count();
        assert!(same_place + 2 >= before.len(), "{name}: only {same_place} of {} reproduced in place", before.len());
    }
}

fn collect_strings(branches: &[Map], out: &mut Vec<String>) {
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Str(s) | Value::Comment(s) => out.push(s.as_str().to_owned()),
            Value::Map(m) => m.items.iter().for_each(|i| item(i, out)),
            Value::List(l) => l.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    fn item(i: &Item, out: &mut Vec<String>) {
        match i {
            Item::Pair(_, v) => walk(v, out),
            Item::Comment(c) => out.push(c.as_str().to_owned()),
        }
    }
    for b in branches {
        b.items.iter().for_each(|i| item(i, out));
    }
}

#[test]
fn go_float_formats_match_go() {
    assert_eq!(cipher::go_format_f(1.5e10), "15000000000");
    assert_eq!(cipher::go_format_f(1e-7), "0.0000001");
    assert_eq!(cipher::go_format_f(1.0), "1");
    assert_eq!(cipher::go_format_f(f64::INFINITY), "+Inf");
    assert_eq!(cipher::go_format_g(1.5e10), "1.5e+10");
    assert_eq!(cipher::go_format_g(1e-7), "1e-07");
    assert_eq!(cipher::go_format_g(123456.0), "123456");
    assert_eq!(cipher::go_format_g(1234567.0), "1.234567e+06");
    assert_eq!(cipher::go_format_g(0.75), "0.75");
    assert_eq!(cipher::go_json_float(1e21), "1e+21");
    assert_eq!(cipher::go_json_float(1e-7), "1e-7");
    assert_eq!(cipher::go_json_float(12345678901234567000.0), "12345678901234567000");
}

#[test]
fn mac_aad_follows_go_rfc3339() {
    assert_eq!(mac_aad("2026-11-26T09:29:30Z").expect("t"), "2026-11-26T09:29:30Z");
    assert_eq!(mac_aad("2026-11-26T09:29:30.000Z").expect("t"), "2026-11-26T09:29:30Z");
    assert_eq!(mac_aad("2026-11-26T10:29:30+01:00").expect("t"), "2026-11-26T10:29:30+01:00");
    assert!(mac_aad("yesterday").is_err());
}

#[test]
fn a_stashed_value_is_written_back_as_read_and_only_a_changed_one_is_encrypted_again() {
    let key = DataKey::generate().expect("key");
    let mut cipher = Cipher::with_stash(DataKey::from_slice(key.as_bytes()).expect("key"));
    let read = Cipher::new(DataKey::from_slice(key.as_bytes()).expect("key")).encrypt(b"42", "str", "a:").expect("enc");
    assert_eq!(cipher.decrypt(&read, "a:").expect("dec").0.as_slice(), b"42");
    // Unchanged: the envelope as read, without encrypting it again.
    assert_eq!(cipher.encrypt(b"42", "str", "a:").expect("enc"), read);
    // The same bytes as another type: encrypted again, with the stashed IV.
    let as_int = cipher.encrypt(b"42", "int", "a:").expect("enc");
    assert!(as_int.ends_with(",type:int]") && as_int.contains(read.split(",tag:").next().unwrap_or("?")));
    // Another path or another plaintext: a new IV.
    let elsewhere = cipher.encrypt(b"42", "str", "b:").expect("enc");
    let changed = cipher.encrypt(b"43", "str", "a:").expect("enc");
    let iv = |e: &str| e.split(",iv:").nth(1).and_then(|r| r.split(',').next()).unwrap_or_default().to_owned();
    assert!(iv(&elsewhere) != iv(&read) && iv(&changed) != iv(&read));
}

#[test]
fn metadata_without_a_rule_encrypts_every_value_and_writes_no_rule() {
    let mut m = Map::new();
    m.push("lastmodified", Value::str("2026-12-03T00:00:00Z"));
    m.push("mac", Value::str(""));
    m.push("version", Value::str("3.11.0"));
    let md = Metadata::from_map(&m).expect("metadata");
    assert!(matches!(md.rule, Rule::Everything));
    let written = md.to_map();
    assert!(!written.pairs().any(|(k, _)| metadata::RULE_FIELDS.contains(&k)), "no rule field written");
    // Every value, whatever its key, is encrypted under it.
    let key = DataKey::generate().expect("key");
    let cipher = Cipher::new(key);
    let mut doc = Map::new();
    doc.push("x_unencrypted", Value::str("a"));
    doc.push("data", Value::str("b"));
    let mut branches = vec![doc];
    let mut md = md;
    encrypt_tree(&mut branches, &mut md, &cipher).expect("encrypt");
    assert!(branches[0].pairs().all(|(_, v)| v.as_str().is_some_and(cipher::is_envelope)));
}

#[test]
fn selection_patterns_are_compiled_once_and_the_cache_is_bounded() {
    let rule = |p: &str| Rule::from_field("encrypted_regex", p).expect("valid");
    let first = rule("^cache-test-0$");
    assert!(metadata::compiled_patterns().iter().any(|p| p == "^cache-test-0$"));
    assert!(
        matches!((first, rule("^cache-test-0$")), (Rule::EncryptedRegex(a), Rule::EncryptedRegex(b)) if a.as_str() == b.as_str())
    );
    let long = format!("^{}$", "x".repeat(2000));
    rule(&long);
    for i in 1..100 {
        rule(&format!("^cache-test-{i}$"));
    }
    let kept = metadata::compiled_patterns();
    assert!(kept.len() <= 32, "{} kept", kept.len());
    assert!(!kept.contains(&long), "a long pattern is compiled, not kept");
    assert!(Rule::from_field("encrypted_regex", "(").is_err(), "an invalid pattern is still refused");
}

#[test]
fn layout_indents_as_sops_stores_do() {
    let mut m = Map::new();
    let mut inner = Map::new();
    inner.push("b", Value::Int(1));
    m.push("a", Value::Map(inner));
    let yaml = |n: i64| {
        let out = emit_plain_in(std::slice::from_ref(&m), Format::Yaml, &Layout { yaml: n, ..Layout::default() });
        out.map(|b| String::from_utf8(b).unwrap_or_default())
    };
    let json = |n: i64| {
        let out = emit_plain_in(std::slice::from_ref(&m), Format::Json, &Layout { json: n, ..Layout::default() });
        out.map(|b| String::from_utf8(b).unwrap_or_default())
    };
    // YAML: 0 is sops' default 4; go-yaml writes 2 for 1 and for 10 or more.
    assert_eq!(yaml(0).ok().as_deref(), Some("a:\n    b: 1\n"));
    for (n, spaces) in [(1, 2), (2, 2), (3, 3), (9, 9), (10, 2)] {
        assert_eq!(yaml(n).ok(), Some(format!("a:\n{}b: 1\n", " ".repeat(spaces))), "{n}");
    }
    assert!(matches!(yaml(-1), Err(Error::Emit { .. })));
    // JSON: -1 is a tab, 0 a line per value without indentation.
    assert_eq!(json(-1).ok().as_deref(), Some("{\n\t\"a\": {\n\t\t\"b\": 1\n\t}\n}\n"));
    assert_eq!(json(0).ok().as_deref(), Some("{\n\"a\": {\n\"b\": 1\n}\n}\n"));
    assert_eq!(json(2).ok().as_deref(), Some("{\n  \"a\": {\n    \"b\": 1\n  }\n}\n"));
    assert!(matches!(json(-2), Err(Error::Emit { .. })));
    assert!(matches!(json(MAX_JSON_INDENT + 1), Err(Error::Limit(_))), "no unbounded indentation string");
    // The binary format's encrypted JSON follows `json_binary`, not `json`.
    let layout = Layout { json: 2, json_binary: -1, ..Layout::default() };
    assert_eq!(layout.json_indent(Format::Binary).ok().as_deref(), Some("\t"));
}

#[test]
fn shamir_split_and_combine_round_trip() {
    let secret = [7u8; 32];
    let shares = recipients::shamir::split(&secret, 3, 2).expect("split");
    assert_eq!(shares[2][32], 3, "x-coordinate is group index + 1");
    for pair in [[0, 1], [1, 2], [0, 2]] {
        let subset: Vec<_> = pair.iter().map(|&i| shares[i].clone()).collect();
        assert_eq!(recipients::shamir::combine(&subset).expect("combine").as_slice(), &secret);
    }
}

#[test]
fn shamir_key_groups_encrypt_and_decrypt() {
    let ids: Vec<age::x25519::Identity> = (0..3).map(|_| age::x25519::Identity::generate()).collect();
    let groups: Vec<Vec<Recipient>> =
        ids.iter().map(|i| vec![Recipient::parse(&i.to_public().to_string()).expect("recipient")]).collect();
    let opts = EncryptOptions { groups, shamir_threshold: 2, rule: Rule::default(), mac_only_encrypted: false };
    let plain = parse_plain(b"a: secret\n", Format::Yaml).expect("parse");
    let doc = encrypt_document(plain, &opts).expect("encrypt");
    let text = emit_encrypted(&doc, Format::Yaml).expect("emit");
    let text = String::from_utf8(text).expect("utf8");
    assert!(text.contains("key_groups:") && text.contains("shamir_threshold: 2"));
    // Any two of the three groups are enough; one is not.
    let mut two = Identities::new();
    two.push(ids[0].clone());
    two.push(ids[2].clone());
    let parsed = parse_encrypted(text.as_bytes(), Format::Yaml).expect("parse");
    let (out, _, _) = decrypt_document(parsed, &two, DecryptOptions::default()).expect("decrypt");
    assert!(out[0].get("a").and_then(Value::as_str) == Some("secret"));
    let mut one = Identities::new();
    one.push(ids[1].clone());
    let parsed = parse_encrypted(text.as_bytes(), Format::Yaml).expect("parse");
    assert!(matches!(decrypt_document(parsed, &one, DecryptOptions::default()), Err(Error::NoMatchingKey(_))));
}

#[test]
fn debug_of_errors_and_keys_never_shows_values() {
    let e = Error::Value { path: error::display_path("stringData:password:"), source: CipherError::Authentication };
    let shown = format!("{e} {e:?}");
    assert!(shown.contains("[\"stringData\"][\"password\"]"));
    // A real ciphertext of the canary, so that decryption gets as far as the
    // plaintext before each failure: a tampered tag, another path (AAD), and
    // a type that the plaintext does not parse as (the type is not
    // authenticated, so the plaintext is in hand when parsing fails).
    let canary = "canary-value-123";
    let key = DataKey::generate().expect("key");
    let mut c = Cipher::new(DataKey::from_slice(key.as_bytes()).expect("copy"));
    let env = c.encrypt_value(&Value::str(canary), "stringData:password:").expect("encrypt");
    assert!(c.decrypt_value(&env, "stringData:password:").is_ok(), "the untampered value must decrypt");
    let tag_start = env.find(",tag:").expect("tag") + 5;
    let mut tampered_tag = env.clone();
    let flip = if &env[tag_start..tag_start + 1] == "A" { "B" } else { "A" };
    tampered_tag.replace_range(tag_start..tag_start + 1, flip);
    let wrong_type = env.replace("type:str", "type:int");
    let cases = [
        ("tampered tag", tampered_tag.as_str(), "stringData:password:"),
        ("another path", env.as_str(), "stringData:other:"),
        ("wrong type", wrong_type.as_str(), "stringData:password:"),
    ];
    for (what, envelope, aad) in cases {
        let err = c.decrypt_value(envelope, aad).err().unwrap_or_else(|| panic!("{what}: decrypted"));
        let mut shown = format!("{err} {err:?}");
        let wrapped = Error::Value { path: error::display_path(aad), source: err };
        shown.push_str(&format!(" {wrapped} {wrapped:?}"));
        assert!(!shown.contains(canary), "{what}: the error shows the value: {shown}");
    }
    // The whole-document path: a file holding the canary, its MAC edited
    // and one value's type changed; each error is checked the same way.
    let id = age::x25519::Identity::generate();
    let mut ids = Identities::new();
    ids.push(id.clone());
    let mut doc = Map::new();
    doc.push("password", Value::str(canary));
    let r = Recipient::parse(&id.to_public().to_string()).expect("recipient");
    let opts =
        EncryptOptions { groups: vec![vec![r]], shamir_threshold: 0, rule: Rule::default(), mac_only_encrypted: false };
    let enc = encrypt_document(vec![doc], &opts).expect("encrypt");
    let text = String::from_utf8(emit_encrypted(&enc, Format::Yaml).expect("emit")).expect("utf-8");
    assert!(!text.contains(canary));
    let good = parse_encrypted(text.as_bytes(), Format::Yaml).expect("parse");
    let (plain, _, _) = decrypt_document(good, &ids, DecryptOptions::default()).expect("decrypts");
    assert_eq!(plain[0].get("password").and_then(Value::as_str), Some(canary), "the canary must really be inside");
    let mut bad_mac = parse_encrypted(text.as_bytes(), Format::Yaml).expect("parse");
    bad_mac.metadata.mac = bad_mac.metadata.mac.replacen("data:", "data:AAAA", 1);
    let bad_type = parse_encrypted(text.replace("type:str", "type:float").as_bytes(), Format::Yaml).expect("parse");
    for (what, doc) in [("edited MAC", bad_mac), ("wrong type", bad_type)] {
        let err = decrypt_document(doc, &ids, DecryptOptions::default()).err().unwrap_or_else(|| panic!("{what}: ok"));
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains(canary), "{what}: the error shows the value: {shown}");
    }
}

// ---------------------------------------------------------------------------
// Property tests (run with `cargo test --lib sops::tests::prop`).

fn arb_scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::Int),
        (-1e12f64..1e12).prop_map(Value::Float),
        "\\PC{0,20}".prop_map(Value::str),
        "[a-z]{1,8}\n[a-z ]{0,8}".prop_map(Value::str),
        Just(Value::Null),
    ]
}

fn arb_value() -> impl Strategy<Value = Value> {
    arb_scalar().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::List),
            prop::collection::btree_map("[a-zA-Z_][a-zA-Z0-9_.-]{0,8}", inner, 0..4).prop_map(|m| {
                let mut map = Map::new();
                for (k, v) in m {
                    map.push(&k, v);
                }
                Value::Map(map)
            }),
        ]
    })
}

fn arb_doc() -> impl Strategy<Value = Map> {
    prop::collection::btree_map("[a-zA-Z_][a-zA-Z0-9_.-]{0,8}", arb_value(), 1..6).prop_map(|m| {
        let mut map = Map::new();
        for (k, v) in m {
            if k != "sops" {
                map.push(&k, v);
            }
        }
        map
    })
}

fn test_identity() -> (Identities, Recipient) {
    let id = age::x25519::Identity::generate();
    let r = Recipient::parse(&id.to_public().to_string()).expect("recipient");
    let mut ids = Identities::new();
    ids.push(id);
    (ids, r)
}

/// Compares trees, treating floats by their bits and NaN as equal to NaN.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Float(x), Value::Float(y)) => x == y || (x.is_nan() && y.is_nan()),
        (Value::Float(x), Value::Int(y)) | (Value::Int(y), Value::Float(x)) => *x == *y as f64,
        (Value::Map(x), Value::Map(y)) => {
            let (px, py): (Vec<_>, Vec<_>) = (x.pairs().collect(), y.pairs().collect());
            px.len() == py.len() && px.iter().zip(&py).all(|((ka, va), (kb, vb))| ka == kb && same(va, vb))
        }
        (Value::List(x), Value::List(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q)),
        _ => a == b,
    }
}

/// The non-null scalars of a tree with their paths, in order.
fn leaves(v: &Value) -> Vec<(String, Value)> {
    fn walk(v: &Value, path: &str, out: &mut Vec<(String, Value)>) {
        match v {
            Value::Map(m) => {
                for (k, v) in m.pairs() {
                    walk(v, &format!("{path}{k}:"), out);
                }
            }
            Value::List(l) => l.iter().for_each(|v| walk(v, path, out)),
            Value::Null | Value::Comment(_) => {}
            leaf => out.push((path.to_owned(), leaf.clone())),
        }
    }
    let mut out = Vec::new();
    walk(v, "", &mut out);
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn prop_yaml_and_json_round_trip_through_encryption(doc in arb_doc(), json in any::<bool>()) {
        let format = if json { Format::Json } else { Format::Yaml };
        let (ids, r) = test_identity();
        let opts = EncryptOptions { groups: vec![vec![r]], shamir_threshold: 0, rule: Rule::default(), mac_only_encrypted: false };
        let enc = encrypt_document(vec![doc.clone()], &opts).expect("encrypt");
        let bytes = emit_encrypted(&enc, format).expect("emit");
        let parsed = parse_encrypted(&bytes, format).expect("re-parse");
        let (plain, _, _) = decrypt_document(parsed, &ids, DecryptOptions::default()).expect("decrypt");
        prop_assert!(same(&Value::Map(plain[0].clone()), &Value::Map(doc)));
    }

    #[test]
    fn prop_parsers_never_panic_on_arbitrary_input(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        for f in [Format::Yaml, Format::Json, Format::Dotenv, Format::Binary] {
            let _ = parse_plain(&bytes, f);
            let _ = parse_encrypted(&bytes, f);
        }
    }

    #[test]
    fn prop_a_changed_byte_never_yields_other_plaintext(doc in arb_doc(), pos in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let (ids, r) = test_identity();
        let opts = EncryptOptions { groups: vec![vec![r]], shamir_threshold: 0, rule: Rule::default(), mac_only_encrypted: false };
        let enc = encrypt_document(vec![doc.clone()], &opts).expect("encrypt");
        let mut bytes = emit_encrypted(&enc, Format::Yaml).expect("emit");
        let i = pos.index(bytes.len());
        bytes[i] = byte;
        if let Ok(parsed) = parse_encrypted(&bytes, Format::Yaml)
            && let Ok((plain, _, _)) = decrypt_document(parsed, &ids, DecryptOptions::default())
        {
            // Whatever survives a changed byte must hold the original values
            // at their original paths. (Keys holding only null or empty
            // containers carry no value, so, as in sops, nothing authenticates them.)
            prop_assert!(plain.len() == 1);
            let (got, want) = (leaves(&Value::Map(plain[0].clone())), leaves(&Value::Map(doc)));
            prop_assert!(got.len() == want.len());
            prop_assert!(got.iter().zip(&want).all(|((pa, va), (pb, vb))| pa == pb && same(va, vb)));
        }
    }
}

#[test]
fn an_age_file_with_too_many_stanzas_is_refused_before_trying_them() {
    use std::io::Write;
    let id = age::x25519::Identity::generate();
    let mut ids = Identities::new();
    ids.push(id.clone());
    let mut recipients: Vec<Box<dyn age::Recipient + Send>> = vec![Box::new(id.to_public())];
    for _ in 0..recipients::MAX_STANZAS {
        recipients.push(Box::new(age::x25519::Identity::generate().to_public()));
    }
    let enc = age::Encryptor::with_recipients(recipients.iter().map(|r| r.as_ref() as &dyn age::Recipient))
        .expect("recipients");
    let mut out = Vec::new();
    let armor = age::armor::ArmoredWriter::wrap_output(&mut out, age::armor::Format::AsciiArmor).expect("armor");
    let mut w = enc.wrap_output(armor).expect("wrap");
    w.write_all(&[7u8; 32]).expect("write");
    w.finish().and_then(|a| a.finish()).expect("finish");
    let text = String::from_utf8(out).expect("text");
    let Err(e) = recipients::unwrap(&text, &ids) else { panic!("refused") };
    assert!(e.contains("stanzas"), "{e}");
    // One stanza fewer than the limit still works.
    let few: Vec<Box<dyn age::Recipient + Send>> = vec![Box::new(id.to_public())];
    let enc = age::Encryptor::with_recipients(few.iter().map(|r| r.as_ref() as &dyn age::Recipient)).expect("one");
    let mut out = Vec::new();
    let armor = age::armor::ArmoredWriter::wrap_output(&mut out, age::armor::Format::AsciiArmor).expect("armor");
    let mut w = enc.wrap_output(armor).expect("wrap");
    w.write_all(&[7u8; 32]).expect("write");
    w.finish().and_then(|a| a.finish()).expect("finish");
    let text = String::from_utf8(out).expect("text");
    assert_eq!(recipients::unwrap(&text, &ids).expect("unwraps").as_slice(), &[7u8; 32]);
}

/// A comment after a block scalar's header is kept above its key, as sops
/// 3.11 writes it, also for a block of blank lines ending the file (whose
/// span saphyr starts at the header, so the comment was inside it).
#[test]
fn a_comment_after_a_block_header_is_kept_above_its_key() {
    for (doc, sops_reads) in [
        ("k: >+ # h\n  \n", "# h\nk: |4+\n\n"),
        ("k: >+ # h\n\n", "# h\nk: |4+\n\n"),
        ("k16_0\t: 'y' # c\nk16_1:\t>+ # h\n  \n", "# c\nk16_0: \"y\"\n# h\nk16_1: |4+\n\n"),
        ("k: >+ # h\n  \nd: 1\n", "# h\nk: |4+\n\nd: 1\n"),
    ] {
        let read = parse_plain(doc.as_bytes(), Format::Yaml).expect("reads");
        let written = emit_plain(&read, Format::Yaml).expect("writes");
        assert_eq!(String::from_utf8_lossy(&written), sops_reads, "{doc:?}");
    }
}
