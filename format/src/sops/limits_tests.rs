//! Hostile inputs: each reader refuses past its limit with `Error::Limit`
//! (or a syntax error from the YAML scanner's own bound), quickly and
//! without a value in the message.

use super::limits::{MAX_DEPTH, MAX_INPUT_BYTES, MAX_VALUES};
use super::*;

fn refused(r: Result<impl Sized, Error>, what: &str) -> String {
    match r {
        Err(e @ Error::Limit(_)) => e.to_string(),
        Err(other) => panic!("{what}: refused for another reason: {other}"),
        Ok(_) => panic!("{what}: accepted"),
    }
}

#[test]
fn yaml_block_nesting_deeper_than_the_limit_is_refused() {
    let deep = format!("k:\n{}x\n", "- ".repeat(200_000));
    let msg = refused(parse_plain(deep.as_bytes(), Format::Yaml), "deep block YAML");
    assert!(msg.contains(&format!("more than {MAX_DEPTH} levels")), "{msg}");
    // At the limit itself the file is fine.
    let ok = format!("k:\n{}x\n", "- ".repeat(MAX_DEPTH - 2));
    assert!(parse_plain(ok.as_bytes(), Format::Yaml).is_ok());
}

#[test]
fn yaml_flow_nesting_is_refused_by_the_scanner_before_the_stack_grows() {
    let deep = format!("k: {}{}\n", "[".repeat(200_000), "]".repeat(200_000));
    let Err(e) = parse_plain(deep.as_bytes(), Format::Yaml) else { panic!("deep flow YAML accepted") };
    assert!(matches!(e, Error::Syntax { .. } | Error::Limit(_)), "{e}");
}

#[test]
fn yaml_alias_expansion_beyond_the_budget_is_refused_before_copying() {
    // A billion laughs: 9 aliases per level, 8 levels, under 300 bytes.
    let mut src = String::from("a: &a [x,x,x,x,x,x,x,x,x]\n");
    let mut prev = 'a';
    for c in "bcdefgh".chars() {
        src.push_str(&format!("{c}: &{c} [{}]\n", vec![format!("*{prev}"); 9].join(",")));
        prev = c;
    }
    let msg = refused(parse_plain(src.as_bytes(), Format::Yaml), "laughs");
    assert!(msg.contains(&format!("more than {MAX_VALUES} values once its aliases are expanded")), "{msg}");
}

#[test]
fn yaml_aliases_of_a_long_string_are_charged_by_their_bytes() {
    // Few values, but each alias repeats 1 MiB of text.
    let big = "y".repeat(1 << 20);
    let mut src = format!("a: &a {big}\nl:\n");
    for _ in 0..100 {
        src.push_str("- *a\n");
    }
    let msg = refused(parse_plain(src.as_bytes(), Format::Yaml), "string aliases");
    assert!(msg.contains("MiB once its aliases are expanded"), "{msg}");
    assert!(!msg.contains("yyyy"), "the message holds the value: {msg}");
}

#[test]
fn yaml_aliases_within_the_budget_still_work() {
    let src = "base: &b {user: u, pass: p}\nprod: *b\nlist: &l [1, 2]\nagain: *l\n";
    let docs = parse_plain(src.as_bytes(), Format::Yaml).expect("ordinary aliases are fine");
    assert_eq!(docs[0].get("prod"), docs[0].get("base"));
    assert_eq!(docs[0].get("again"), docs[0].get("list"));
}

#[test]
fn json_nesting_deeper_than_the_limit_is_refused() {
    let deep = format!("{{\"k\": {}{}}}", "[".repeat(200_000), "]".repeat(200_000));
    let msg = refused(parse_plain(deep.as_bytes(), Format::Json), "deep JSON");
    assert!(msg.contains("line 1 column"), "{msg}");
    let ok = format!("{{\"k\": {}{}}}", "[".repeat(MAX_DEPTH - 1), "]".repeat(MAX_DEPTH - 1));
    assert!(parse_plain(ok.as_bytes(), Format::Json).is_ok());
}

#[test]
fn json_with_more_values_than_the_limit_is_refused() {
    let many = format!("{{\"k\": [{}0]}}", "0,".repeat(MAX_VALUES));
    let msg = refused(parse_plain(many.as_bytes(), Format::Json), "many JSON values");
    assert!(msg.contains(&format!("more than {MAX_VALUES} values")), "{msg}");
}

#[test]
fn dotenv_with_more_lines_than_the_limit_is_refused() {
    let many = "A=1\n".repeat(MAX_VALUES + 1);
    refused(parse_plain(many.as_bytes(), Format::Dotenv), "many dotenv lines");
}

#[test]
fn an_input_over_the_size_limit_is_refused_before_parsing() {
    let big = vec![b' '; MAX_INPUT_BYTES + 1];
    for format in [Format::Yaml, Format::Json, Format::Dotenv, Format::Binary] {
        let msg = refused(parse_plain(&big, format), format.name());
        assert!(msg.contains("16 MiB"), "{msg}");
        refused(parse_encrypted(&big, format), format.name());
    }
}

#[test]
fn dotenv_metadata_list_indexes_are_bounded() {
    for key in [
        "sops_age__list_99999999999__map_enc",
        "sops_age__list_1025__map_enc",
        "sops_age__list_x__map_enc",
        "sops_age__list_-1__map_enc",
    ] {
        let src = format!("A=ENC[AES256_GCM,data:eA==,iv:eA==,tag:eA==,type:str]\n{key}=x\nsops_version=3.11.0\n");
        let msg = refused(parse_encrypted(src.as_bytes(), Format::Dotenv), key);
        assert!(msg.contains("list index"), "{key}: {msg}");
    }
    let segments = format!("sops_a{}=x\n", "__map_b".repeat(20));
    refused(parse_encrypted(segments.as_bytes(), Format::Dotenv), "many segments");
}

#[test]
fn trees_at_the_depth_limit_walk_emit_and_drop_on_a_small_stack() {
    // The walk, the emitters and Drop recurse per level; the depth limit
    // keeps them within a 1 MiB stack in a debug build (tokio's workers
    // have 2 MiB; a release build needs a quarter of that).
    let yaml = format!("k:\n{}x\n", "- ".repeat(MAX_DEPTH - 2));
    let json = format!("{{\"k\": {}1{}}}", "[".repeat(MAX_DEPTH - 1), "]".repeat(MAX_DEPTH - 1));
    std::thread::Builder::new()
        .stack_size(1024 << 10)
        .spawn(move || {
            for (src, format) in [(yaml, Format::Yaml), (json, Format::Json)] {
                let id = age::x25519::Identity::generate();
                let r = Recipient::parse(&id.to_public().to_string()).expect("recipient");
                let mut ids = Identities::new();
                ids.push(id);
                let plain = parse_plain(src.as_bytes(), format).expect("parses");
                let opts = EncryptOptions {
                    groups: vec![vec![r]],
                    shamir_threshold: 0,
                    rule: Rule::default(),
                    mac_only_encrypted: false,
                };
                let enc = encrypt_document(plain.clone(), &opts).expect("encrypts");
                let bytes = emit_encrypted(&enc, format).expect("emits");
                let parsed = parse_encrypted(&bytes, format).expect("re-parses");
                let (out, _, _) = decrypt_document(parsed, &ids, DecryptOptions::default()).expect("decrypts");
                assert!(out == plain, "{} round trip", format.name());
                emit_plain(&out, format).expect("emits plaintext");
            }
        })
        .expect("thread")
        .join()
        .expect("no stack overflow");
}

#[test]
fn the_controller_input_conversion_has_the_same_limits() {
    let mut v = serde_json::json!("x");
    for _ in 0..(MAX_DEPTH + 1) {
        v = serde_json::json!([v]);
    }
    assert!(matches!(crate::document::json_to_value(&v), Err(Error::Limit(_))));
    let wide = serde_json::Value::Array(vec![serde_json::json!(1); MAX_VALUES + 1]);
    assert!(matches!(crate::document::json_to_value(&wide), Err(Error::Limit(_))));
    let fine = serde_json::json!({"spec": {"data": {"a": "b"}}});
    assert!(crate::document::json_to_value(&fine).is_ok());
}

/// Inputs the fuzz targets found (`fuzz/regressions/<target>/`), kept as
/// regression tests: each goes through the same check as its target.
#[test]
fn fuzz_regressions_hold() {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/regressions");
    let mut checked = 0;
    for entry in std::fs::read_dir(dir.join("roundtrip")).expect("fuzz/regressions/roundtrip") {
        let path = entry.expect("entry").path();
        let data = std::fs::read(&path).expect("read");
        let Some((&pick, input)) = data.split_first() else { continue };
        let format = [Format::Yaml, Format::Json, Format::Dotenv][pick as usize % 3];
        if let Ok(tree) = parse_plain(input, format)
            && let Ok(out) = emit_plain(&tree, format)
        {
            let again =
                parse_plain(&out, format).unwrap_or_else(|e| panic!("{}: does not read back: {e}", path.display()));
            assert!(compare::same_data(&tree, &again), "{}: the round trip changed the data", path.display());
        }
        checked += 1;
    }
    for target in ["read_yaml", "read_json", "read_dotenv", "read_ini"] {
        let Ok(entries) = std::fs::read_dir(dir.join(target)) else { continue };
        for entry in entries {
            let data = std::fs::read(entry.expect("entry").path()).expect("read");
            for format in [Format::Yaml, Format::Json, Format::Dotenv, Format::Ini] {
                let _ = parse_plain(&data, format);
                let _ = parse_encrypted(&data, format);
            }
            checked += 1;
        }
    }
    assert!(checked >= 2, "the regression inputs are checked in");
}

#[test]
fn yaml_control_characters_are_refused_with_their_position() {
    let Err(e) = parse_plain(b"a: 1\nb: x\0y\n", Format::Yaml) else { panic!("NUL accepted") };
    assert!(e.to_string().contains("U+0000 at line 2 column 5"), "{e}");
    assert!(parse_plain("a: \"tab\\there\"\nb: caf\u{e9} \u{1F510}\n".as_bytes(), Format::Yaml).is_ok());
}
