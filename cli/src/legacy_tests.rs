//! The classic sops command lines and the subcommand argv each becomes.

use std::ffi::OsString;

use super::*;

fn known() -> Known {
    let sub = |name: &str, flags: &[&str]| (name.to_owned(), flags.iter().map(|f| f.to_string()).collect());
    Known {
        subcommands: vec![
            sub("encrypt", &["age", "in-place", "output", "config", "indent"]),
            sub("decrypt", &["in-place", "output", "extract", "config", "indent"]),
            sub("exec-env", &["user"]),
            sub("edit", &[]),
            sub("rotate", &["add-age", "rm-age", "rm-pgp"]),
            sub("set", &[]),
            sub("help", &[]),
        ],
    }
}

fn os(args: &[&str]) -> Vec<OsString> {
    args.iter().map(OsString::from).collect()
}

fn translated(args: &[&str]) -> Result<Vec<String>, Failure> {
    translate(os(args), &known()).map(|v| v.into_iter().map(|a| a.to_string_lossy().into_owned()).collect())
}

fn ok(args: &[&str]) -> Vec<String> {
    match translated(args) {
        Ok(v) => v,
        Err(f) => panic!("{args:?} refused: {} ({})", f.message, f.code),
    }
}

fn refused(args: &[&str]) -> Failure {
    match translated(args) {
        Ok(v) => panic!("{args:?} accepted as {v:?}"),
        Err(f) => f,
    }
}

#[test]
fn decrypt_short_and_long() {
    assert_eq!(ok(&["seal", "-d", "f.yaml"]), ["seal", "decrypt", "--", "f.yaml"]);
    assert_eq!(ok(&["seal", "--decrypt", "f.yaml"]), ["seal", "decrypt", "--", "f.yaml"]);
    // Go's flag package takes one dash for long names too.
    assert_eq!(ok(&["seal", "-decrypt", "f.yaml"]), ["seal", "decrypt", "--", "f.yaml"]);
}

#[test]
fn encrypt_in_place_with_age() {
    assert_eq!(
        ok(&["seal", "-e", "-i", "--age", "age1x", "f.yaml"]),
        ["seal", "encrypt", "--age", "age1x", "--in-place", "--", "f.yaml"]
    );
    assert_eq!(ok(&["seal", "-e", "-a=age1x", "f.yaml"]), ["seal", "encrypt", "--age", "age1x", "--", "f.yaml"]);
}

#[test]
fn flags_after_the_file_are_applied() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = dir.path().join("f.yaml");
    std::fs::write(&f, "a: 1\n").expect("write");
    let f = f.display().to_string();
    assert_eq!(ok(&["seal", &f, "-d"]), ["seal", "decrypt", "--", f.as_str()]);
    assert_eq!(ok(&["sops", "-i", "missing.yaml", "-e"]), ["sops", "encrypt", "--in-place", "--", "missing.yaml"]);
}

#[test]
fn set_splits_index_and_value_after_the_first_bracket_space() {
    assert_eq!(
        ok(&["seal", "--set", r#"["a"]["b"] "v w""#, "f.yaml"]),
        ["seal", "set", "--", "f.yaml", r#"["a"]["b"]"#, r#""v w""#]
    );
    assert_eq!(ok(&["seal", "--set", r#"["a"] {"x": [1]}"#, "f.yaml"])[4..], [r#"["a"]"#, r#"{"x": [1]}"#]);
    assert_eq!(refused(&["seal", "--set", "bogus", "f.yaml"]).code, exit::INVALID_SET_FORMAT);
}

#[test]
fn rotate_with_recipient_changes() {
    assert_eq!(
        ok(&["seal", "-r", "-i", "--add-age", "age1a", "--rm-age=age1b", "f.yaml"]),
        ["seal", "rotate", "--add-age", "age1a", "--rm-age", "age1b", "--in-place", "--", "f.yaml"]
    );
}

#[test]
fn a_bare_file_is_edited() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = dir.path().join("f.yaml");
    std::fs::write(&f, "a: 1\n").expect("write");
    let f = f.display().to_string();
    assert_eq!(ok(&["seal", &f]), ["seal", "edit", "--", f.as_str()]);
    // Under its own name, a word that is not a file stays clap's error.
    assert_eq!(ok(&["seal", "decrpyt", "x"]), ["seal", "decrpyt", "x"]);
    // As sops, it is a file to edit, as sops reads it.
    assert_eq!(ok(&["/usr/bin/sops", "new.yaml"]), ["/usr/bin/sops", "edit", "--", "new.yaml"]);
}

#[test]
fn indent_and_config_apply_to_every_operation() {
    assert_eq!(ok(&["seal", "-d", "--indent", "2", "f"]), ["seal", "decrypt", "--indent", "2", "--", "f"]);
    assert_eq!(
        ok(&["seal", "--indent=-1", "-r", "--config", "c.yaml", "f"]),
        ["seal", "rotate", "--indent", "-1", "--config", "c.yaml", "--", "f"]
    );
    assert_eq!(ok(&["seal", "--config", "c.yaml", "f"]), ["seal", "edit", "--config", "c.yaml", "--", "f"]);
    assert_eq!(
        ok(&["seal", "--indent", "3", "--set", r#"["a"] 1"#, "f"]),
        ["seal", "set", "--indent", "3", "--", "f", r#"["a"]"#, "1"]
    );
}

#[test]
fn global_flags_before_a_subcommand_move_after_it() {
    assert_eq!(ok(&["seal", "--indent", "2", "decrypt", "f"]), ["seal", "decrypt", "--indent", "2", "f"]);
    assert_eq!(
        ok(&["sops", "--config=c.yaml", "--verbose", "encrypt", "--age", "R", "f"]),
        ["sops", "encrypt", "--config", "c.yaml", "--age", "R", "f"]
    );
    assert_eq!(ok(&["seal", "--disable-version-check", "decrypt", "f"]), ["seal", "decrypt", "f"]);
    assert_eq!(refused(&["seal", "--indent", "2", "exec-env", "f", "true"]).code, exit::USAGE);
    // Not the form: classic flags before a file stay the classic form.
    assert_eq!(ok(&["seal", "-d", "--indent", "2", "f"]), ["seal", "decrypt", "--indent", "2", "--", "f"]);
}

#[test]
fn show_master_keys_is_an_edit_flag() {
    assert_eq!(ok(&["seal", "-s", "f.yaml"]), ["seal", "edit", "--show-master-keys", "--", "f.yaml"]);
    assert_eq!(ok(&["seal", "--show-master-keys=true", "f"]), ["seal", "edit", "--show-master-keys", "--", "f"]);
    assert_eq!(ok(&["seal", "-s=false", "f"]), ["seal", "edit", "--", "f"]);
    assert_eq!(refused(&["seal", "-d", "-s", "f"]).code, exit::USAGE);
}

#[test]
fn subcommands_and_help_pass_through() {
    assert_eq!(ok(&["seal", "decrypt", "-i", "f"]), ["seal", "decrypt", "-i", "f"]);
    assert_eq!(ok(&["seal", "--help"]), ["seal", "--help"]);
    assert_eq!(ok(&["seal"]), ["seal"]);
    assert_eq!(ok(&["sops", "-v"]), ["sops", "--version"]);
    assert_eq!(ok(&["sops", "publish", "f"]), ["sops", "publish", "f"]);
}

#[test]
fn stdin_is_read_without_a_file_for_decrypt_and_encrypt_only() {
    assert_eq!(ok(&["seal", "-d", "--input-type", "yaml"]), ["seal", "decrypt", "--input-type", "yaml", "--"]);
    for args in [&["seal", "-r"][..], &["seal", "--set", r#"["a"] 1"#], &["sops"]] {
        let f = refused(args);
        assert_eq!((f.code, f.message.as_str()), (exit::NO_FILE_SPECIFIED, "Error: no file specified"), "{args:?}");
    }
    assert_eq!(refused(&["seal", "-d", "-i"]).code, exit::CONFLICTING_PARAMETERS);
}

#[test]
fn conflicting_flags_exit_8() {
    let f = refused(&["seal", "-d", "-i", "--output", "o", "f.yaml"]);
    assert_eq!(
        (f.code, f.message.as_str()),
        (exit::CONFLICTING_PARAMETERS, "Error: cannot operate on both --output and --in-place")
    );
    assert_eq!(refused(&["seal", "-d", "-e", "f.yaml"]).code, exit::CONFLICTING_PARAMETERS);
}

#[test]
fn keys_seal_does_not_implement_are_refused_by_name() {
    for flag in [
        "--pgp",
        "-p",
        "--kms",
        "-k",
        "--gcp-kms",
        "--azure-kv",
        "--hc-vault-transit",
        "--hckms",
        "--add-pgp",
        "--rm-kms",
    ] {
        let f = refused(&["seal", "-e", flag, "X", "f.yaml"]);
        assert_eq!(f.code, exit::UNSUPPORTED, "{flag}");
        assert!(f.message.starts_with(&format!("-{}", flag.trim_start_matches('-'))), "{flag}: {}", f.message);
    }
    // A flag the subcommand has is passed on: rotate's --rm-pgp here.
    assert_eq!(ok(&["seal", "-r", "--rm-pgp", "FP", "f"]), ["seal", "rotate", "--rm-pgp", "FP", "--", "f"]);
    assert_eq!(refused(&["seal", "-r", "--rm-kms", "arn", "f"]).code, exit::UNSUPPORTED);
    // An order only sorts the keys tried, and seal has age keys only:
    // sops' default order is followed as it is; a type twice is sops' 112.
    assert_eq!(ok(&["seal", "-d", "--decryption-order", "age,pgp", "f"]), ["seal", "decrypt", "--", "f"]);
    assert_eq!(ok(&["seal", "-d", "--decryption-order", "age", "f"]), ["seal", "decrypt", "--", "f"]);
    assert_eq!(
        refused(&["seal", "-d", "--decryption-order", "age,age", "f"]).code,
        exit::DUPLICATE_DECRYPTION_KEY_TYPE
    );
}

#[test]
fn key_environment_variables_are_refused_when_encrypting() {
    let c = Classic::parse(&os(&["-e", "f.yaml"])).expect("parses");
    let f = c.into_subcommand(&known(), |v| v == "SOPS_PGP_FP").expect_err("refused");
    assert!(f.code == exit::UNSUPPORTED && f.message.contains("SOPS_PGP_FP"), "{}", f.message);
    let c = Classic::parse(&os(&["-e", "--age", "age1x", "f.yaml"])).expect("parses");
    assert!(c.into_subcommand(&known(), |v| v == "SOPS_PGP_FP").is_ok(), "--age decides the keys, as in sops");
}

#[test]
fn flags_that_do_not_apply_are_refused() {
    for args in [
        &["seal", "-d", "--age", "age1x", "f"][..],
        &["seal", "-e", "--extract", r#"["a"]"#, "f"],
        &["seal", "-d", "--encrypted-regex", "^a", "f"],
        &["seal", "--add-age", "age1x", "f"],
    ] {
        assert_eq!(refused(args).code, exit::USAGE, "{args:?}");
    }
    let f = refused(&["seal", "--bogus", "f"]);
    assert_eq!((f.code, f.message.as_str()), (exit::USAGE, "flag provided but not defined: -bogus"));
    assert_eq!(refused(&["seal", "-d", "f", "g"]).code, exit::USAGE);
}

#[test]
fn logging_and_update_flags_are_accepted() {
    assert_eq!(
        ok(&["seal", "--verbose", "--disable-version-check", "-d", "--ignore-mac", "f"]),
        ["seal", "decrypt", "--ignore-mac", "--", "f"]
    );
    assert_eq!(
        ok(&["seal", "-d=false", "-e", "--config", "c.yaml", "f"]),
        ["seal", "encrypt", "--config", "c.yaml", "--", "f"]
    );
}

#[test]
fn invoked_as_sops_by_basename() {
    assert!(invoked_as_sops(&os(&["/usr/local/bin/sops"])));
    assert!(invoked_as_sops(&os(&["sops"])));
    assert!(!invoked_as_sops(&os(&["seal"])));
    assert!(!invoked_as_sops(&os(&["/opt/sops/seal"])));
}
