//! Files that hold keys seal cannot use (PGP here), written by sops 3.11
//! (`tests/data/sops-foreign`): their metadata is kept byte for byte, and a
//! `shamir_threshold` no set of keys can meet is refused.

use std::path::PathBuf;

use super::*;

fn fixture(name: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/data/sops-foreign").join(name);
    std::fs::read_to_string(p).expect("fixture is checked in")
}

fn ids() -> Identities {
    let mut ids = Identities::new();
    ids.add_text(&fixture("age-keys.txt"), "age-keys.txt").expect("test keys");
    ids
}

#[test]
fn sops_written_pgp_stanzas_are_emitted_byte_for_byte() {
    for name in ["flat-pgp.yaml", "key-groups-pgp.yaml"] {
        let text = fixture(name);
        let doc = parse_encrypted(text.as_bytes(), Format::Yaml).expect("parses");
        let out = String::from_utf8(emit_encrypted(&doc, Format::Yaml).expect("emits")).expect("utf8");
        assert_eq!(out, text, "{name}");
    }
}

#[test]
fn a_changed_value_keeps_the_pgp_group_as_sops_wrote_it() {
    let text = fixture("key-groups-pgp.yaml");
    let doc = parse_encrypted(text.as_bytes(), Format::Yaml).expect("parses");
    let (mut branches, md, cipher) = decrypt_with_key(
        doc.clone(),
        recipients::recover(&doc.metadata, &ids()).expect("two of three groups"),
        DecryptOptions { verify_mac: true, stash: true },
    )
    .expect("decrypts");
    branches[0].insert("password", Value::str("changed"));
    let mut md2 = md.clone();
    encrypt_tree(&mut branches, &mut md2, &cipher).expect("re-encrypts");
    let out =
        String::from_utf8(emit_encrypted(&EncryptedDocument { branches, metadata: md2 }, Format::Yaml).expect("emits"))
            .expect("utf8");
    let block =
        |s: &str| s[s.find("        - pgp:").expect("pgp group")..s.find("    lastmodified").expect("end")].to_owned();
    assert_eq!(block(&out), block(&text));
}

fn with_threshold(t: &str) -> Result<EncryptedDocument, Error> {
    let text =
        fixture("key-groups-pgp.yaml").replace("    shamir_threshold: 2\n", &format!("    shamir_threshold: {t}\n"));
    parse_encrypted(text.as_bytes(), Format::Yaml)
}

#[test]
fn shamir_threshold_in_a_file_must_be_a_reachable_quorum() {
    assert_eq!(with_threshold("3").expect("three groups").metadata.shamir_threshold, 3);
    for (t, why) in [
        ("-1", "at least 1"),
        ("0", "at least 1"),
        ("4", "more than the number of key groups"),
        ("18446744073709551616", "whole number"),
        ("1.5", "whole number"),
        ("two", "whole number"),
    ] {
        let e = with_threshold(t).err().unwrap_or_else(|| panic!("{t} is refused"));
        let msg = e.to_string();
        assert!(msg.contains("shamir_threshold") && msg.contains(why), "{t}: {msg}");
        assert!(!msg.contains(t), "the value stays out of the message: {msg}");
    }
}

#[test]
fn collections_under_a_key_of_a_list_item_align_as_go_yaml_v3_does() {
    // What `sops set f '["x"]["y"][0]["z"]' '{"q": [1]}'` writes (sops 3.11).
    let text =
        "x:\n    \"y\":\n        - z:\n            q:\n                - 1\n            r:\n                s: t\n";
    let docs = parse_plain(text.as_bytes(), Format::Yaml).expect("parses");
    assert_eq!(String::from_utf8(emit_plain(&docs, Format::Yaml).expect("emits")).expect("utf8"), text);
}
