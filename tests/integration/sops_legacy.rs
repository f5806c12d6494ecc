//! sops' classic command lines (`-d`, `-e -i`, `--set`, `-r`, a bare file
//! to edit), standard input, `--output`, seal invoked as `sops`, and the
//! exit code of each common failure — each run with the real sops 3.11 on
//! the same input and compared: the same stdout, the same exit code.

use std::path::PathBuf;
use std::process::Output;

use libtest_mimic::{Failed, Trial};

use crate::support::{Run, age_keygen, check, seal_bin, tool};

/// Every test of the classic form.
pub fn trials() -> Vec<Trial> {
    vec![
        Trial::test("sops_legacy::decrypt_with_d_prints_what_sops_prints", decrypt_with_d),
        Trial::test("sops_legacy::encrypt_in_place_with_e_i_is_read_by_both", encrypt_in_place),
        Trial::test("sops_legacy::decrypt_reads_stdin_with_input_type", decrypt_stdin),
        Trial::test("sops_legacy::output_writes_the_file_sops_writes", output_file),
        Trial::test("sops_legacy::invoked_as_sops_through_a_symlink", invoked_as_sops),
        Trial::test("sops_legacy::keys_seal_does_not_implement_are_refused_naming_the_flag", refused_key_flags),
        Trial::test("sops_legacy::exit_codes_of_common_failures_match_sops", exit_codes_match),
        Trial::test("sops_legacy::show_master_keys_shows_what_sops_shows_and_keeps_value_edits", show_master_keys),
        Trial::test("sops_legacy::indent_and_sops_yaml_stores_indent_as_sops_does", indent_as_sops),
        Trial::test("sops_legacy::a_binary_file_is_encrypted_whatever_the_selection_rule", binary_always_encrypted),
        Trial::test("sops_legacy::editing_a_file_that_does_not_exist_starts_from_sops_example", new_file_edit),
        Trial::test("sops_legacy::set_with_a_nested_path_matches_sops", set_nested),
    ]
}

const PLAIN: &str = "a:\n    b: x\nc: 1\nlist:\n    - one\n    - two\n";

/// A folder with an age key, `p.yaml` (plaintext) and `e.yaml` (encrypted
/// by sops), and a `sops` symlink to the seal under test.
struct Fixture {
    dir: tempfile::TempDir,
    key: PathBuf,
    recipient: String,
}

impl Fixture {
    fn new() -> Result<Fixture, Failed> {
        let dir = tempfile::tempdir()?;
        let (key, recipient) = age_keygen(dir.path(), "key")?;
        let f = Fixture { dir, key, recipient };
        std::fs::write(f.path("p.yaml"), PLAIN)?;
        let enc = f.sops(&["-e", "--age", &f.recipient, "p.yaml"]).ok()?;
        std::fs::write(f.path("e.yaml"), enc)?;
        std::fs::create_dir(f.path("bin"))?;
        std::os::unix::fs::symlink(seal_bin(), f.path("bin/sops"))?;
        Ok(f)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn with_env(&self, run: Run) -> Run {
        run.dir(self.dir.path()).env("SOPS_AGE_KEY_FILE", &self.key).env("EDITOR", "true")
    }

    /// The real sops 3.11.
    fn sops(&self, args: &[&str]) -> Run {
        let sops = tool("sops").unwrap_or_else(|_| PathBuf::from("sops"));
        self.with_env(Run::new(sops, args))
    }

    fn seal(&self, args: &[&str]) -> Run {
        self.with_env(Run::seal(args))
    }

    /// seal through the `sops` symlink.
    fn seal_as_sops(&self, args: &[&str]) -> Run {
        self.with_env(Run::new(self.path("bin/sops"), args))
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Both ran: the same exit code and the same stdout.
fn same(what: &str, sops: &Output, seal: &Output) -> Result<(), Failed> {
    check(
        sops.status.code() == seal.status.code() && sops.stdout == seal.stdout,
        format!(
            "{what}: sops exit {:?}, seal exit {:?}\nsops stdout:\n{}\nseal stdout:\n{}\nsops stderr: {}\nseal stderr: {}",
            sops.status.code(),
            seal.status.code(),
            text(&sops.stdout),
            text(&seal.stdout),
            text(&sops.stderr),
            text(&seal.stderr)
        ),
    )
}

fn decrypt_with_d() -> Result<(), Failed> {
    let f = Fixture::new()?;
    for args in [
        &["-d", "e.yaml"][..],
        &["--decrypt", "--output-type", "json", "e.yaml"],
        &["-d", "--extract", r#"["a"]["b"]"#, "e.yaml"],
    ] {
        let sops = f.sops(args).output()?;
        check(sops.status.success(), format!("sops {args:?} failed: {}", text(&sops.stderr)))?;
        same(&format!("{args:?}"), &sops, &f.seal(args).output()?)?;
    }
    // A flag after the file: sops ignores it and opens the editor; seal applies it.
    let seal = f.seal(&["e.yaml", "-d"]).output()?;
    check(seal.status.success() && text(&seal.stdout) == PLAIN, format!("seal e.yaml -d: {}", text(&seal.stderr)))
}

fn encrypt_in_place() -> Result<(), Failed> {
    let f = Fixture::new()?;
    std::fs::write(f.path("by-sops.yaml"), PLAIN)?;
    std::fs::write(f.path("by-seal.yaml"), PLAIN)?;
    let sops = f.sops(&["-e", "-i", "--age", &f.recipient, "by-sops.yaml"]).output()?;
    let seal = f.seal(&["-e", "-i", "--age", &f.recipient, "by-seal.yaml"]).output()?;
    same("-e -i", &sops, &seal)?;
    check(seal.status.success() && seal.stdout.is_empty(), format!("seal -e -i: {}", text(&seal.stderr)))?;
    let written = std::fs::read_to_string(f.path("by-seal.yaml"))?;
    check(
        written.contains("ENC[AES256_GCM") && written.contains(&f.recipient),
        "seal -e -i must encrypt the file in place",
    )?;
    // Each tool decrypts the other's file to the plaintext.
    let by_sops = f.sops(&["-d", "by-seal.yaml"]).ok()?;
    let by_seal = f.seal(&["-d", "by-sops.yaml"]).ok()?;
    check(
        text(&by_sops) == PLAIN && text(&by_seal) == PLAIN,
        "both files must decrypt to the plaintext with the other tool",
    )
}

fn decrypt_stdin() -> Result<(), Failed> {
    let f = Fixture::new()?;
    let enc = std::fs::read(f.path("e.yaml"))?;
    let seal = f.seal(&["-d", "--input-type", "yaml"]).stdin(enc.clone()).output()?;
    // sops reads stdin in its `decrypt` form; its classic `-d` without a
    // file exits 100 ("no file specified"), where seal reads stdin.
    let sops = f.sops(&["decrypt", "--input-type", "yaml", "--output-type", "yaml"]).stdin(enc.clone()).output()?;
    same("-d --input-type yaml < e.yaml", &sops, &seal)?;
    check(text(&seal.stdout) == PLAIN, "seal -d of stdin prints the plaintext")?;
    let classic = f.sops(&["-d", "--input-type", "yaml"]).stdin(enc.clone()).output()?;
    check(
        classic.status.code() == Some(100),
        format!("sops 3.11 -d without a file exits 100, got {:?}", classic.status),
    )?;
    let sub = f.seal(&["decrypt", "--input-type", "yaml", "--output-type", "yaml"]).stdin(enc).output()?;
    same("decrypt --input-type yaml --output-type yaml < e.yaml", &sops, &sub)
}

fn output_file() -> Result<(), Failed> {
    let f = Fixture::new()?;
    let sops = f.sops(&["-d", "--output", "by-sops.txt", "e.yaml"]).output()?;
    let seal = f.seal(&["-d", "--output", "by-seal.txt", "e.yaml"]).output()?;
    same("-d --output", &sops, &seal)?;
    check(
        std::fs::read(f.path("by-sops.txt"))? == std::fs::read(f.path("by-seal.txt"))?,
        "--output must write what sops writes",
    )?;
    let seal = f.seal(&["encrypt", "--age", &f.recipient, "--output", "enc.yaml", "p.yaml"]).output()?;
    check(seal.status.success() && seal.stdout.is_empty(), format!("encrypt --output: {}", text(&seal.stderr)))?;
    check(text(&f.sops(&["-d", "enc.yaml"]).ok()?) == PLAIN, "sops decrypts the file encrypt --output wrote")
}

fn invoked_as_sops() -> Result<(), Failed> {
    let f = Fixture::new()?;
    let sops = f.sops(&["-d", "e.yaml"]).output()?;
    same("sops -d e.yaml", &sops, &f.seal_as_sops(&["-d", "e.yaml"]).output()?)?;
    // A bare file is edited, as sops does; an unchanged edit exits 200.
    same("sops e.yaml", &f.sops(&["e.yaml"]).output()?, &f.seal_as_sops(&["e.yaml"]).output()?)?;
    // sops' own messages, without seal's prefix.
    let seal = f.seal_as_sops(&["e.yaml"]).output()?;
    check(text(&seal.stderr) == "File has not changed, exiting.\n", format!("unchanged edit: {}", text(&seal.stderr)))?;
    let (other, _) = age_keygen(f.dir.path(), "other")?;
    let sops = f.sops(&["-d", "e.yaml"]).env("SOPS_AGE_KEY_FILE", &other).output()?;
    let seal = f.seal_as_sops(&["-d", "e.yaml"]).env("SOPS_AGE_KEY_FILE", &other).output()?;
    same("sops -d e.yaml with a key that opens nothing", &sops, &seal)?;
    let headline = "Failed to get the data key required to decrypt the SOPS file.\n";
    check(
        text(&sops.stderr).starts_with(headline) && text(&seal.stderr).starts_with(headline),
        format!("no key: sops said {:?}, seal said {:?}", text(&sops.stderr), text(&seal.stderr)),
    )?;
    let out = f.seal_as_sops(&["-d", "missing.yaml"]).output()?;
    let want =
        format!("Error: cannot operate on non-existent file {:?}\n", f.path("missing.yaml").display().to_string());
    check(out.status.code() == Some(100) && text(&out.stderr) == want, format!("missing file: {}", text(&out.stderr)))?;
    let out = f.seal_as_sops(&["-r"]).output()?;
    check(
        out.status.code() == Some(100) && text(&out.stderr) == "Error: no file specified\n",
        format!("sops -r without a file: {:?} {:?}", out.status.code(), text(&out.stderr)),
    )
}

fn refused_key_flags() -> Result<(), Failed> {
    let f = Fixture::new()?;
    for (flag, value) in
        [("--pgp", "85D77543B3D624B63CEA9E6DBC17301B491B3F21"), ("-k", "arn:aws:kms:x"), ("--gcp-kms", "projects/x")]
    {
        let out = f.seal(&["-e", flag, value, "p.yaml"]).output()?;
        let err = text(&out.stderr);
        check(
            out.status.code() == Some(67)
                && out.stdout.is_empty()
                && err.contains(&format!("-{}:", flag.trim_start_matches('-'))),
            format!("seal -e {flag}: exit {:?}, must be 67 naming the flag: {err}", out.status.code()),
        )?;
    }
    let out = f.seal(&["-e", "p.yaml"]).env("SOPS_PGP_FP", "85D77543B3D624B63CEA9E6DBC17301B491B3F21").output()?;
    check(
        out.status.code() == Some(67) && text(&out.stderr).contains("SOPS_PGP_FP"),
        format!("SOPS_PGP_FP must be refused by name: {:?} {}", out.status.code(), text(&out.stderr)),
    )
}

/// One failure: a name, the setup in the fixture folder, the classic
/// arguments, and the exit code sops 3.11 gives.
struct Case {
    name: &'static str,
    setup: fn(&Fixture) -> Result<(), Failed>,
    args: Vec<String>,
    env: Vec<(&'static str, PathBuf)>,
    code: i32,
}

fn case(name: &'static str, args: &[&str], code: i32) -> Case {
    Case { name, setup: |_| Ok(()), args: args.iter().map(|s| s.to_string()).collect(), env: Vec::new(), code }
}

fn write(f: &Fixture, name: &str, content: &str) -> Result<(), Failed> {
    Ok(std::fs::write(f.path(name), content)?)
}

/// Replaces the first line starting with `prefix` (after indentation) in e.yaml, into `to`.
fn tamper(f: &Fixture, to: &str, prefix: &str, edit: impl Fn(&str) -> String) -> Result<(), Failed> {
    let enc = std::fs::read_to_string(f.path("e.yaml"))?;
    let line = enc.lines().find(|l| l.trim_start().starts_with(prefix)).ok_or("no such line")?;
    Ok(std::fs::write(f.path(to), enc.replacen(line, &edit(line), 1))?)
}

fn exit_codes_match() -> Result<(), Failed> {
    let f = Fixture::new()?;
    let (other, _) = age_keygen(f.dir.path(), "other")?;
    let r = f.recipient.clone();
    let mut cases = vec![
        Case { env: vec![("SOPS_AGE_KEY_FILE", other)], ..case("a key that opens nothing", &["-d", "e.yaml"], 128) },
        Case {
            setup: |f| tamper(f, "mac.yaml", "lastmodified:", |_| "    lastmodified: \"2020-01-01T00:00:00Z\"".into()),
            ..case("MAC mismatch", &["-d", "mac.yaml"], 51)
        },
        Case {
            setup: |f| {
                tamper(f, "value.yaml", "c: ENC[", |l| {
                    let at = l.find("data:").map_or(0, |i| i + 5);
                    let swap = if l.get(at..at + 1) == Some("A") { "B" } else { "A" };
                    format!("{}{swap}{}", &l[..at], &l[at + 1..])
                })
            },
            ..case("a tampered value", &["-d", "value.yaml"], 25)
        },
        case("decrypt of a plaintext file", &["-d", "p.yaml"], 1),
        Case { setup: |f| write(f, "bad.yaml", "a: [\n"), ..case("decrypt of invalid YAML", &["-d", "bad.yaml"], 1) },
        Case {
            setup: |f| write(f, "bad.yaml", "a: [\n"),
            ..case("encrypt of invalid YAML", &["-e", "--age", &r, "bad.yaml"], 2)
        },
        case("encrypt of an encrypted file", &["-e", "--age", &r, "e.yaml"], 203),
        Case {
            setup: |f| write(f, "empty.yaml", ""),
            ..case("encrypt of an empty file", &["-e", "--age", &r, "empty.yaml"], 92)
        },
        case("encrypt with no keys", &["-e", "p.yaml"], 1),
        case("an edit that changes nothing", &["e.yaml"], 200),
        Case { env: vec![("EDITOR", PathBuf::from("false"))], ..case("an editor that fails", &["e.yaml"], 201) },
        case("rotate without a file", &["-r"], 100),
        case("a key type twice in --decryption-order", &["-d", "--decryption-order", "age,age", "e.yaml"], 112),
        case("set with a key type twice", &["set", "--decryption-order", "age,age", "e.yaml", r#"["c"]"#, "2"], 112),
        case("sops' default order, age then pgp", &["decrypt", "--decryption-order", "age,pgp", "e.yaml"], 0),
        case("decrypt of a missing file", &["-d", "missing.yaml"], 100),
        case("--in-place with --output", &["-d", "-i", "--output", "o.yaml", "e.yaml"], 8),
        case(
            "two selection rules",
            &["-e", "--age", &r, "--encrypted-regex", "a", "--unencrypted-regex", "b", "p.yaml"],
            8,
        ),
        case("a malformed --extract path", &["-d", "--extract", r#"["a""#, "e.yaml"], 91),
        case("--extract of a missing value", &["-d", "--extract", r#"["zz"]"#, "e.yaml"], 1),
        case("a malformed --set", &["--set", "bogus", "e.yaml"], 7),
        case("an output that cannot be written", &["-d", "--output", "no/such/dir/o.yaml", "e.yaml"], 3),
        case("a nested value into dotenv", &["-d", "--output-type", "dotenv", "e.yaml"], 4),
        case("--add-age on a missing file", &["-r", "--add-age", &r, "missing.yaml"], 49),
        Case {
            setup: |f| write(f, ".sops.yaml", "creation_rules:\n  - key_groups:\n      - {}\n"),
            ..case("an empty key group in .sops.yaml", &["-e", "p.yaml"], 1)
        },
    ];
    // The subcommand forms give the same codes.
    cases.push(Case {
        env: vec![("SOPS_AGE_KEY_FILE", f.path("other.txt"))],
        ..case("decrypt, no key", &["decrypt", "e.yaml"], 128)
    });
    cases.push(case("decrypt, missing file", &["decrypt", "missing.yaml"], 100));
    cases.push(case("encrypt from stdin without --filename-override", &["encrypt", "--age", &r], 8));
    let mut failures = Vec::new();
    for c in cases {
        (c.setup)(&f)?;
        let args: Vec<&str> = c.args.iter().map(String::as_str).collect();
        let with = |mut run: Run| {
            for (k, v) in &c.env {
                run = run.env(k, v);
            }
            run.output()
        };
        let sops = with(f.sops(&args))?;
        let seal = with(f.seal(&args))?;
        let (sc, lc) = (sops.status.code(), seal.status.code());
        if sc != Some(c.code) || lc != Some(c.code) {
            failures.push(format!(
                "{}: expected {}, sops {sc:?}, seal {lc:?}\n  sops: {}  seal: {}",
                c.name,
                c.code,
                text(&sops.stderr),
                text(&seal.stderr)
            ));
        }
        let _ = std::fs::remove_file(f.path(".sops.yaml"));
    }
    check(failures.is_empty(), failures.join("\n"))
}

/// `-s` opens the editor on the values and the `sops` metadata, shown as
/// sops shows them. seal saves the value edits (sops 3.11 drops every edit
/// made with `-s` and exits 0: checked here too, so the difference is
/// known) and refuses a changed metadata block, writing nothing.
fn show_master_keys() -> Result<(), Failed> {
    let f = Fixture::new()?;
    let editor = |name: &str, edit: &str| -> Result<PathBuf, Failed> {
        let path = f.path(name);
        let seen = f.path(&format!("{name}.seen"));
        std::fs::write(&path, format!("#!/bin/sh\ncp \"$1\" '{}'\n{edit} \"$1\"\n", seen.display()))?;
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o700))?;
        Ok(path)
    };
    let value_edit = "sed -i 's/b: x/b: z/'";
    let (for_sops, for_seal) = (editor("sops-ed.sh", value_edit)?, editor("seal-ed.sh", value_edit)?);
    for name in ["by-sops.yaml", "by-seal.yaml"] {
        std::fs::copy(f.path("e.yaml"), f.path(name))?;
    }
    f.sops(&["-s", "by-sops.yaml"]).env("EDITOR", &for_sops).ok()?;
    f.seal(&["-s", "by-seal.yaml"]).env("EDITOR", &for_seal).ok()?;
    let shown = std::fs::read_to_string(f.path("seal-ed.sh.seen"))?;
    check(
        shown == std::fs::read_to_string(f.path("sops-ed.sh.seen"))?,
        format!("seal -s must show what sops -s shows; seal showed:\n{shown}"),
    )?;
    check(shown.contains("b: x") && shown.contains(&f.recipient), "the values in clear and the recipients")?;
    let after = text(&f.sops(&["-d", "by-seal.yaml"]).ok()?);
    check(after.contains("b: z") && !after.contains("b: x"), format!("seal -s must save the edit:\n{after}"))?;
    // sops 3.11 writes the file back without the edit.
    let sops_after = text(&f.sops(&["-d", "by-sops.yaml"]).ok()?);
    check(sops_after == PLAIN, format!("sops 3.11's -s was expected to drop the edit:\n{sops_after}"))?;
    // A changed metadata block: refused, nothing written, the same under `sops`.
    let meta_edit = editor("meta-ed.sh", "sed -i 's/unencrypted_suffix: _unencrypted/unencrypted_suffix: _clear/'")?;
    let before = std::fs::read(f.path("e.yaml"))?;
    for run in [f.seal(&["-s", "e.yaml"]), f.seal_as_sops(&["--show-master-keys", "e.yaml"])] {
        let (code, _, err) = run.env("EDITOR", &meta_edit).stdin("").fails()?;
        check(
            code == 67 && err.contains("`sops` metadata was changed") && err.contains("updatekeys"),
            format!("a changed metadata block must be refused with 67: {code} {err}"),
        )?;
        check(std::fs::read(f.path("e.yaml"))? == before, "a refused -s edit must not write")?;
    }
    // `-s` is for editing only.
    let (code, _, err) = f.seal(&["-d", "-s", "e.yaml"]).fails()?;
    check(code == 64 && err.contains("--show-master-keys"), format!("-d -s: {code} {err}"))
}

/// A block scalar in a map in a list: where go-yaml's indentation is least
/// regular (at 2 it goes one level past the keys).
const NESTED: &str = "l:\n  - k: |\n      multi\n      line\n    j: 1\n    n:\n      - |\n        inner\n  - |\n    seqblock\nm:\n  - - |\n      nested\n";

/// `--indent` and the `stores` section of `.sops.yaml`: seal prints and
/// writes what sops does, for YAML and JSON, at every indentation sops
/// takes (and those it clamps or refuses).
fn indent_as_sops() -> Result<(), Failed> {
    let f = Fixture::new()?;
    std::fs::write(f.path("n.yaml"), NESTED)?;
    std::fs::write(f.path("n.json"), r#"{"a": {"b": [1, {"c": "x"}], "e": {}}, "f": []}"#)?;
    for name in ["n.yaml", "n.json"] {
        let enc = f.sops(&["-e", "--age", &f.recipient, name]).ok()?;
        std::fs::write(f.path(&format!("e-{name}")), enc)?;
    }
    for n in ["0", "1", "2", "3", "4", "9", "10", "-1", "-2"] {
        for file in ["e-n.yaml", "e-n.json"] {
            let indent = format!("--indent={n}");
            let args = ["-d", indent.as_str(), file];
            same(&format!("{args:?}"), &f.sops(&args).output()?, &f.seal(&args).output()?)?;
        }
    }
    let stores = "stores:\n  yaml:\n    indent: 2\n  json:\n    indent: 3\n";
    std::fs::write(f.path(".sops.yaml"), format!("{stores}creation_rules:\n  - age: {}\n", f.recipient))?;
    for file in ["e-n.yaml", "e-n.json"] {
        same(&format!("-d {file} under stores"), &f.sops(&["-d", file]).output()?, &f.seal(&["-d", file]).output()?)?;
        // sops 3.11 applies a global --indent to its classic form only
        // (`sops --indent 5 decrypt` keeps the stores' 2); seal applies it
        // to the subcommand too, and prints what `sops -d --indent=5` does.
        let classic = f.sops(&["-d", "--indent=5", file]).output()?;
        same(&format!("--indent 5 decrypt {file}"), &classic, &f.seal(&["--indent", "5", "decrypt", file]).output()?)?;
    }
    for name in ["n.yaml", "n.json"] {
        let (by_sops, by_seal) = (f.sops(&["-e", name]).ok()?, f.seal(&["-e", name]).ok()?);
        let (by_sops, by_seal) = (text(&by_sops), text(&by_seal));
        check(
            skeleton(&by_sops) == skeleton(&by_seal),
            format!("seal -e {name} must lay the file out as sops does:\n--- sops\n{by_sops}\n--- seal\n{by_seal}"),
        )?;
        std::fs::write(f.path(&format!("s-{name}")), &by_seal)?;
        let back = f.sops(&["-d", &format!("s-{name}")]).ok()?;
        check(back == f.sops(&["-d", &format!("e-{name}")]).ok()?, format!("sops reads seal's {name}"))?;
    }
    // A setting sops does not have is refused by name, not ignored.
    std::fs::write(f.path(".sops.yaml"), "stores:\n  yaml:\n    indnet: 2\n")?;
    let (code, _, err) = f.seal(&["-d", "e-n.yaml"]).fails()?;
    check(code == 1 && err.contains("stores.yaml.indnet"), format!("a misspelt setting: {code} {err}"))
}

/// The shape of a file's lines: indentation and first word, with base64
/// (which differs between two encryptions, and in length: age's grease
/// stanzas) folded into one mark per run.
fn skeleton(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut armored = false;
    for line in text.lines() {
        let body = line.trim_start();
        let word = body.split([':', ' ']).next().unwrap_or_default();
        // Inside an age armor every line is base64, of any length.
        let inside = armored && !body.starts_with("-----END");
        armored = (armored || body.starts_with("-----BEGIN")) && !body.starts_with("-----END");
        let word = if inside { "B64" } else { word };
        let shape = format!("{}|{word}", line.len() - body.len());
        if word == "B64" && out.last() == Some(&shape) {
            continue;
        }
        out.push(shape);
    }
    out
}

/// A binary file holds one value, `data`, which sops always encrypts: a
/// selection rule (a flag or `.sops.yaml`'s) is ignored with a warning,
/// and no rule is written. seal applied the rule, so `--encrypted-regex
/// '^pass'` wrote the file's content in clear.
fn binary_always_encrypted() -> Result<(), Failed> {
    let f = Fixture::new()?;
    let canary = "CANARY-binary-7f3a";
    std::fs::write(f.path("s.bin"), format!("{canary}\n"))?;
    let runs: [(&str, &[&str]); 4] = [
        ("--encrypted-regex", &["-e", "--encrypted-regex", "^pass"]),
        ("--unencrypted-regex", &["-e", "--unencrypted-regex", "data"]),
        ("--unencrypted-suffix", &["-e", "--unencrypted-suffix", "ta"]),
        ("--mac-only-encrypted", &["-e", "--mac-only-encrypted"]),
    ];
    let keys = |text: &str| -> Vec<String> {
        text.lines().filter_map(|l| l.trim_start().split('"').nth(1).map(str::to_owned)).collect()
    };
    let by_sops = text(&f.sops(&["-e", "--age", &f.recipient, "s.bin"]).ok()?);
    for (what, args) in runs {
        let mut args = args.to_vec();
        args.extend(["--age", f.recipient.as_str(), "s.bin"]);
        let out = f.seal(&args).output()?;
        let (file, err) = (text(&out.stdout), text(&out.stderr));
        check(out.status.success(), format!("seal {what}: {err}"))?;
        check(
            !file.contains(canary) && file.contains("\"data\": \"ENC[AES256_GCM"),
            format!("{what} left it in clear:\n{file}"),
        )?;
        check(
            keys(&file) == keys(&by_sops),
            format!("{what}: the fields sops writes, and no rule:\n{file}\n{by_sops}"),
        )?;
        check(
            what == "--mac-only-encrypted" || err.contains("ignored"),
            format!("{what}: a warning, as sops gives: {err}"),
        )?;
        std::fs::write(f.path("s.enc"), &file)?;
        let back = f.sops(&["-d", "--input-type", "binary", "--output-type", "binary", "s.enc"]).ok()?;
        check(text(&back) == format!("{canary}\n"), format!("sops decrypts seal's file ({what})"))?;
    }
    // A `.sops.yaml` rule, as a Kubernetes repository would have for all its files.
    std::fs::write(
        f.path(".sops.yaml"),
        format!("creation_rules:\n  - encrypted_regex: ^(password|token)$\n    age: {}\n", f.recipient),
    )?;
    let file = text(&f.seal(&["-e", "s.bin"]).ok()?);
    check(!file.contains(canary) && !file.contains("encrypted_regex"), format!("under .sops.yaml:\n{file}"))
}

/// `sops new.yaml` on a file that does not exist opens sops' example
/// document of that format; saved changed, it is encrypted for the
/// creation rule's (or `--age`'s) recipients; saved unchanged, nothing is
/// written (exit 200). seal exited 100 ("not yet").
fn new_file_edit() -> Result<(), Failed> {
    let f = Fixture::new()?;
    let editor = |name: &str, edit: &str| -> Result<PathBuf, Failed> {
        let path = f.path(name);
        let body = format!("#!/bin/sh\ncp \"$1\" \"{}/$(basename \"$1\").{name}\"\n{edit}\n", f.dir.path().display());
        std::fs::write(&path, body)?;
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o700))?;
        Ok(path)
    };
    let (look_sops, look_seal) = (editor("sops-look.sh", "")?, editor("seal-look.sh", "")?);
    for name in ["n.yaml", "n.json", "n.env", "n.ini", "n.bin"] {
        let args = ["--age", f.recipient.as_str(), name];
        let sops = f.sops(&args).env("EDITOR", &look_sops).output()?;
        let seal = f.seal_as_sops(&args).env("EDITOR", &look_seal).output()?;
        check(
            sops.status.code() == Some(200) && seal.status.code() == Some(200),
            format!("{name} unchanged: exit 200 from both: {:?} {:?} {}", sops.status, seal.status, text(&seal.stderr)),
        )?;
        check(!f.path(name).exists(), format!("an unchanged example writes no {name}"))?;
        let shown_sops = std::fs::read(f.path(&format!("{name}.sops-look.sh")))?;
        let shown_seal = std::fs::read(f.path(&format!("{name}.seal-look.sh")))?;
        check(shown_sops == shown_seal, format!("{name}: seal must show sops' example:\n{}", text(&shown_seal)))?;
    }
    // Saved changed, under the name sops and a creation rule: encrypted for its recipients.
    std::fs::write(f.path(".sops.yaml"), format!("creation_rules:\n  - age: {}\n", f.recipient))?;
    let change = editor("change.sh", "sed -i 's/example_value/CANARY-new-file/' \"$1\"")?;
    f.seal_as_sops(&["new.yaml"]).env("EDITOR", &change).ok()?;
    let written = std::fs::read_to_string(f.path("new.yaml"))?;
    check(!written.contains("CANARY-new-file") && written.contains(&f.recipient), "encrypted for the rule's key")?;
    let plain = text(&f.sops(&["-d", "new.yaml"]).ok()?);
    check(plain.contains("example_key: CANARY-new-file"), format!("sops decrypts the new file:\n{plain}"))?;
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(f.path("new.yaml"))?.permissions());
    check(mode & 0o077 == 0, format!("the new file is private: {mode:o}"))?;
    // An existing file keeps its recipients: --age there is refused, not ignored.
    let (code, _, err) = f.seal(&["edit", "--age", &f.recipient, "new.yaml"]).env("EDITOR", &change).fails()?;
    check(
        code == 64 && err.contains("--age applies to a new file only"),
        format!("--age on an existing file: {code} {err}"),
    )
}

/// The classic `--set '["a"]["b"] "v"' f`, on a value that exists and on
/// a path that does not yet: seal and sops give the same exit code and the
/// same file, as sops decrypts it.
fn set_nested() -> Result<(), Failed> {
    let f = Fixture::new()?;
    for (name, set) in [("over", r#"["a"]["b"] "v""#), ("new", r#"["n"]["m"] {"k": [1, "two"]}"#)] {
        let (by_sops, by_seal) = (format!("{name}-sops.yaml"), format!("{name}-seal.yaml"));
        std::fs::copy(f.path("e.yaml"), f.path(&by_sops))?;
        std::fs::copy(f.path("e.yaml"), f.path(&by_seal))?;
        let sops = f.sops(&["--set", set, &by_sops]).output()?;
        let seal = f.seal(&["--set", set, &by_seal]).output()?;
        same(&format!("--set {set}"), &sops, &seal)?;
        check(seal.status.success(), format!("--set {set}: {}", text(&seal.stderr)))?;
        let (a, b) = (f.sops(&["-d", &by_sops]).ok()?, f.sops(&["-d", &by_seal]).ok()?);
        check(a == b, format!("--set {set}:\n--- sops\n{}\n--- seal\n{}", text(&a), text(&b)))?;
    }
    Ok(())
}
