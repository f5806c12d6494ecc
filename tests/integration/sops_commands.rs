//! sops' `set`, `unset`, `exec-env`, `exec-file`, `filestatus` and `groups`
//! run by seal and by the real sops 3.11 on copies of the same sops-written
//! file: the same steps give the same exit codes and the same decrypted
//! result (read back by sops). Also: keys seal cannot use (PGP, with a
//! throwaway gpg key) kept byte for byte through seal's edits.

use std::path::{Path, PathBuf};

use libtest_mimic::{Failed, Trial};

use crate::support::{Run, age_keygen, check, seal_bin, tool};

/// Every test of this module.
pub fn trials() -> Vec<Trial> {
    vec![
        Trial::test("sops_commands::set_matches_sops", set_matches_sops),
        Trial::test(
            "sops_commands::set_keeps_untouched_ciphertexts_and_idempotent_does_not_write",
            set_keeps_ciphertexts,
        ),
        Trial::test("sops_commands::unset_matches_sops", unset_matches_sops),
        Trial::test("sops_commands::exec_env_matches_sops", exec_env_matches_sops),
        Trial::test("sops_commands::exec_file_matches_sops", exec_file_matches_sops),
        Trial::test("sops_commands::filestatus_matches_sops", filestatus_matches_sops),
        Trial::test("sops_commands::groups_add_and_delete_match_sops", groups_match_sops),
        Trial::test("sops_commands::foreign_pgp_stanza_kept_through_edit_set_unset_updatekeys", foreign_pgp_kept),
        Trial::test("sops_commands::foreign_pgp_rotate_refused_unless_removed", foreign_pgp_rotate),
        Trial::test("sops_commands::foreign_hckms_rotate_refused_unless_removed", foreign_hckms_rotate),
        Trial::test(
            "sops_commands::foreign_pgp_key_group_kept_through_edit_set_unset_updatekeys",
            foreign_pgp_group_kept,
        ),
        Trial::test("sops_commands::a_pgp_key_group_seal_cannot_open_is_named", pgp_group_seal_cannot_open_is_named),
    ]
}

/// A folder with an age key and `plain` encrypted by sops as `name`.
struct Case {
    dir: tempfile::TempDir,
    key: PathBuf,
    recipient: String,
}

impl Case {
    fn new(name: &str, plain: &str) -> Result<Case, Failed> {
        let dir = tempfile::tempdir()?;
        let (key, recipient) = age_keygen(dir.path(), "k")?;
        let case = Case { dir, key, recipient };
        let src = case.path(&format!("plain-{name}"));
        std::fs::write(&src, plain)?;
        let enc = case.sops(["encrypt", "--age", &case.recipient, &src.display().to_string()]).ok()?;
        std::fs::write(case.path(name), enc)?;
        Ok(case)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn run<I, S>(&self, program: &Path, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        Run::new(program, args).env("SOPS_AGE_KEY_FILE", &self.key).dir(self.dir.path())
    }

    fn sops<I, S>(&self, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        self.run(&sops_bin(), args)
    }

    /// The file as sops decrypts it.
    fn decrypted(&self, name: &str) -> Result<String, Failed> {
        Ok(String::from_utf8(self.sops(["decrypt", name]).ok()?)?)
    }
}

fn sops_bin() -> PathBuf {
    tool("sops").unwrap_or_else(|_| PathBuf::from("sops"))
}

/// The two tools under comparison.
fn tools() -> Result<[(&'static str, PathBuf); 2], Failed> {
    Ok([("sops", tool("sops")?), ("seal", seal_bin())])
}

/// Runs `steps` (argument lists; `{f}` is the tool's copy of `file`) with
/// each tool on its own copy, and returns per tool the exit codes and the
/// copy as sops decrypts it at the end.
fn compare(case: &Case, file: &str, steps: &[&[&str]], stdin: Option<&str>) -> Result<(), Failed> {
    let mut results = Vec::new();
    for (name, bin) in tools()? {
        let copy = format!("{name}-{file}");
        std::fs::copy(case.path(file), case.path(&copy))?;
        let mut codes = Vec::new();
        for step in steps {
            let args: Vec<String> = step.iter().map(|a| a.replace("{f}", &copy)).collect();
            let mut run = case.run(&bin, &args);
            if let Some(s) = stdin {
                run = run.stdin(s);
            }
            let out = run.output()?;
            codes.push((step.join(" "), out.status.code()));
        }
        results.push((name, codes, case.decrypted(&copy)?));
    }
    let [(_, sops_codes, sops_out), (_, seal_codes, seal_out)] = results.as_slice() else {
        return Err("two tools".into());
    };
    check(sops_codes == seal_codes, format!("exit codes differ:\nsops {sops_codes:?}\nseal {seal_codes:?}"))?;
    check(sops_out == seal_out, format!("results differ:\n--- sops\n{sops_out}\n--- seal\n{seal_out}"))
}

const PLAIN: &str = "a: 1\nb:\n    c: x\nl:\n    - 1\n    # cmt\n    - 2\n";

fn set_matches_sops() -> Result<(), Failed> {
    let case = Case::new("s.yaml", PLAIN)?;
    std::fs::write(case.path("v.json"), "{\"k\": \"from a file\"}")?;
    compare(
        &case,
        "s.yaml",
        &[
            &["set", "{f}", r#"["n"]"#, "5"],
            &["set", "{f}", r#"["f"]"#, "5.5"],
            &["set", "{f}", r#"["x"]["y"][0]["z"]"#, r#"{"q": [1, "t", true, null, 1e3]}"#],
            // Position 1 is the comment, which sops counts.
            &["set", "{f}", r#"["l"][1]"#, r#""new""#],
            &["set", "{f}", r#"["l"][7]"#, r#""appended""#],
            &["set", "{f}", r#"["a"][0]"#, r#""k""#],
            &["set", "--value-file", "{f}", r#"["vf"]"#, "v.json"],
            &["set", "--idempotent", "{f}", r#"["n"]"#, "5"],
            // Failures: a bad index and a bad value (7), missing arguments (100).
            &["set", "{f}", "bad", "1"],
            &["set", "{f}", r#"["a"]"#, "not json"],
            &["set", "{f}", r#"["a"]"#],
            &["set", "--value-file", "--value-stdin", "{f}", r#"["a"]"#],
        ],
        None,
    )?;
    compare(&case, "s.yaml", &[&["set", "--value-stdin", "{f}", r#"["s"]"#]], Some(r#"{"from": "stdin"}"#))
}

fn set_keeps_ciphertexts() -> Result<(), Failed> {
    let case = Case::new("s.yaml", PLAIN)?;
    let before = std::fs::read_to_string(case.path("s.yaml"))?;
    let seal = seal_bin();
    case.run(&seal, ["set", "s.yaml", r#"["b"]["c"]"#, r#""y""#]).ok()?;
    let after = std::fs::read_to_string(case.path("s.yaml"))?;
    let enc = |text: &str, key: &str| {
        text.lines().find(|l| l.trim_start().starts_with(key)).map(str::to_owned).unwrap_or_default()
    };
    check(enc(&before, "a: ENC[") == enc(&after, "a: ENC["), "the untouched value `a` must keep its ciphertext")?;
    check(enc(&before, "c: ENC[") != enc(&after, "c: ENC["), "the set value must change")?;
    check(enc(&before, "mac: ") != enc(&after, "mac: "), "the MAC must be renewed")?;
    check(case.decrypted("s.yaml")?.contains("c: \"y\""), "sops must read the new value")?;
    // Setting the value it already has with --idempotent leaves the file as it is.
    case.run(&seal, ["set", "--idempotent", "s.yaml", r#"["b"]["c"]"#, r#""y""#]).ok()?;
    check(std::fs::read_to_string(case.path("s.yaml"))? == after, "--idempotent with the same value must not write")
}

fn unset_matches_sops() -> Result<(), Failed> {
    let case = Case::new("u.yaml", "a: 1\nb:\n    c: x\n    d: z\nl: [1, 2, 3]\nm: 2\n")?;
    compare(
        &case,
        "u.yaml",
        &[
            &["unset", "{f}", r#"["b"]["c"]"#],
            &["unset", "{f}", r#"["l"][1]"#],
            &["unset", "{f}", r#"["a"]"#],
            &["unset", "--idempotent", "{f}", r#"["nope"]"#],
            &["unset", "{f}", r#"["nope"]"#],
            &["unset", "{f}", r#"["l"][9]"#],
            &["unset", "{f}", "bad"],
            &["unset", "{f}"],
        ],
        None,
    )
}

/// Runs `args` with each tool and requires the same exit code and stdout.
fn same_output(case: &Case, args: &[&str]) -> Result<String, Failed> {
    let mut seen: Vec<(Option<i32>, String)> = Vec::new();
    for (_, bin) in tools()? {
        let out = case.run(&bin, args).output()?;
        seen.push((out.status.code(), String::from_utf8(out.stdout)?));
    }
    let [sops, seal] = seen.as_slice() else { return Err("two tools".into()) };
    check(sops == seal, format!("{args:?}: sops gave {sops:?}, seal {seal:?}"))?;
    Ok(seal.1.clone())
}

fn exec_env_matches_sops() -> Result<(), Failed> {
    let case = Case::new("e.env", "A=1\nB=two words\n")?;
    let nested = Case::new("n.yaml", "a: 1\nb:\n    c: x\n")?;
    let out = same_output(&case, &["exec-env", "e.env", "echo \"$A|$B\"; exit 3"])?;
    check(out == "1|two words\n", format!("exec-env output {out:?}"))?;
    same_output(&case, &["exec-env", "--pristine", "e.env", "env | grep -v '^PWD=\\|^SHLVL=\\|^_=' | sort"])?;
    same_output(&case, &["exec-env", "--same-process", "e.env", "echo same $A"])?;
    same_output(&case, &["exec-env", "--background", "--same-process", "e.env", "true"])?;
    same_output(&case, &["exec-env", "e.env"])?;
    same_output(&case, &["exec-env", "e.env", "kill -9 $$"])?;
    same_output(&nested, &["exec-env", "n.yaml", "true"]).map(drop)
}

fn exec_file_matches_sops() -> Result<(), Failed> {
    let case = Case::new("f.env", "A=1\nB=two\n")?;
    let out = same_output(&case, &["exec-file", "f.env", "cat {}; stat -c %A {}; basename {}"])?;
    check(out == "A=1\nB=two\nprw-------\ntmp-file\n", format!("fifo: {out:?}"))?;
    let out = same_output(
        &case,
        &["exec-file", "--no-fifo", "--filename", "x.json", "--output-type", "json", "f.env", "cat {}; stat -c %A {}"],
    )?;
    check(out.contains("\"B\": \"two\"") && out.ends_with("-rw-------\n"), format!("file: {out:?}"))?;
    same_output(&case, &["exec-file", "--no-fifo", "f.env", "basename {} | cut -c1-8; exit 4"])?;
    // The private directory is gone once the command has run.
    let dir = String::from_utf8(case.run(&seal_bin(), ["exec-file", "--no-fifo", "f.env", "dirname {}"]).ok()?)?;
    check(!Path::new(dir.trim()).exists(), "the temporary directory must be removed")
}

fn filestatus_matches_sops() -> Result<(), Failed> {
    let case = Case::new("e.yaml", PLAIN)?;
    std::fs::write(case.path("p.yaml"), PLAIN)?;
    std::fs::write(case.path("b.txt"), "hello\n")?;
    check(same_output(&case, &["filestatus", "e.yaml"])? == "{\"encrypted\":true}\n", "encrypted")?;
    check(same_output(&case, &["filestatus", "p.yaml"])? == "{\"encrypted\":false}\n", "plain")?;
    same_output(&case, &["filestatus", "b.txt"])?;
    same_output(&case, &["filestatus", "missing.yaml"])?;
    same_output(&case, &["filestatus"]).map(drop)
}

fn groups_match_sops() -> Result<(), Failed> {
    let case = Case::new("g.yaml", PLAIN)?;
    let (key2, r2) = age_keygen(case.dir.path(), "k2")?;
    let (key3, r3) = age_keygen(case.dir.path(), "k3")?;
    let both = case.path("k12.txt");
    std::fs::write(&both, std::fs::read_to_string(&case.key)? + &std::fs::read_to_string(&key2)?)?;
    for (name, bin) in tools()? {
        let f = format!("{name}-g.yaml");
        std::fs::copy(case.path("g.yaml"), case.path(&f))?;
        case.run(&bin, ["groups", "add", "--file", &f, "--age", &r2, "-i"]).ok()?;
        // Two groups, quorum 2: the second key alone no longer opens it, both do.
        let alone = case.sops(["decrypt", &f]).env("SOPS_AGE_KEY_FILE", &key2).output()?;
        check(!alone.status.success(), format!("{name}: one group of two opened the file"))?;
        case.sops(["decrypt", &f]).env("SOPS_AGE_KEY_FILE", &both).ok()?;
        case.run(&bin, ["groups", "add", "--file", &f, "--age", &r3, "--shamir-secret-sharing-threshold", "2", "-i"])
            .env("SOPS_AGE_KEY_FILE", &both)
            .ok()?;
        let two_of_three = case.path("k23.txt");
        std::fs::write(&two_of_three, std::fs::read_to_string(&key2)? + &std::fs::read_to_string(&key3)?)?;
        let plain = case.sops(["decrypt", &f]).env("SOPS_AGE_KEY_FILE", &two_of_three).ok()?;
        check(String::from_utf8(plain)?.contains("c: x"), format!("{name}: 2 of 3 groups must open the file"))?;
        let bad = case.run(&bin, ["groups", "delete", "--file", &f, "x"]).env("SOPS_AGE_KEY_FILE", &both).output()?;
        check(!bad.status.success(), format!("{name}: a non-numeric index must fail"))?;
        case.run(&bin, ["groups", "delete", "--file", &f, "-i", "0"]).env("SOPS_AGE_KEY_FILE", &both).ok()?;
        let plain = case.sops(["decrypt", &f]).env("SOPS_AGE_KEY_FILE", &two_of_three).ok()?;
        check(String::from_utf8(plain)?.contains("c: x"), format!("{name}: groups 2 and 3 must open the file"))?;
    }
    let (code, _, err) =
        Run::seal(["groups", "add", "--file", "g.yaml", "--pgp", "ABCD"]).dir(case.dir.path()).fails()?;
    check(code == 1 && err.contains("--pgp"), format!("--pgp must be refused by name: {code} {err}"))
}

// ---------------------------------------------------------------------------
// Keys seal cannot use

/// A folder with a throwaway gpg key (its own GNUPGHOME) and an age key.
struct Pgp {
    case: Case,
    gnupghome: PathBuf,
    fingerprint: String,
}

impl Pgp {
    fn new() -> Result<Pgp, Failed> {
        let case = Case::new("unused.yaml", "a: 1\n")?;
        let gnupghome = case.path("gnupg");
        std::fs::create_dir(&gnupghome)?;
        std::fs::set_permissions(&gnupghome, std::os::unix::fs::PermissionsExt::from_mode(0o700))?;
        let gpg = tool("gpg")?;
        let gen_args = [
            "--batch",
            "--pinentry-mode",
            "loopback",
            "--passphrase",
            "",
            "--quick-gen-key",
            "seal test <test@example.invalid>",
            "default",
            "default",
            "never",
        ];
        Run::new(&gpg, gen_args).env("GNUPGHOME", &gnupghome).ok()?;
        let list = Run::new(&gpg, ["--list-keys", "--with-colons"]).env("GNUPGHOME", &gnupghome).ok()?;
        let fingerprint = String::from_utf8(list)?
            .lines()
            .find_map(|l| l.strip_prefix("fpr:").map(|r| r.trim_matches(':').to_owned()))
            .ok_or("gpg listed no fingerprint")?;
        Ok(Pgp { case, gnupghome, fingerprint })
    }

    /// The key group of an encrypted YAML file that holds the PGP key, from
    /// its `- pgp:` to the end of its `fp:` line.
    fn group_stanza(text: &str) -> String {
        Pgp::from_to_fp(text, "- pgp:")
    }

    /// The `pgp:` stanza of an encrypted YAML file, from its key to `fp:`.
    fn stanza(text: &str) -> String {
        Pgp::from_to_fp(text, "    pgp:")
    }

    /// `text` from `start` to the end of the fingerprint after the next `fp: `.
    fn from_to_fp(text: &str, start: &str) -> String {
        let start = text.find(start).unwrap_or(text.len());
        let rest = text.get(start..).unwrap_or_default();
        let end = rest.find("fp: ").map(|i| i + "fp: ".len() + 40).unwrap_or(rest.len()).min(rest.len());
        rest.get(..end).unwrap_or_default().to_owned()
    }
}

fn foreign_pgp_kept() -> Result<(), Failed> {
    let p = Pgp::new()?;
    let c = &p.case;
    std::fs::write(c.path("plain.yaml"), "user: alice\npassword: s3cret\n")?;
    let enc = c
        .sops(["encrypt", "--age", &c.recipient, "--pgp", &p.fingerprint, "plain.yaml"])
        .env("GNUPGHOME", &p.gnupghome)
        .ok()?;
    std::fs::write(c.path("f.yaml"), &enc)?;
    let (_, r2) = age_keygen(c.dir.path(), "k2")?;
    let updatekeys = ["--age".to_owned(), format!("{},{r2}", c.recipient)];
    through_seal(&p, &c.key, &c.key, Pgp::stanza, &updatekeys)?;
    let text = std::fs::read_to_string(c.path("f.yaml"))?;
    check(text.contains(&r2), "updatekeys must add the age recipient")
}

/// A sops-written file of three key groups, two of age keys and one of a
/// PGP key, any two of which open it (`shamir_threshold: 2`): seal, holding
/// both age keys, edits it and re-keys its second group, and the PGP group
/// stays byte for byte, its share still the file's: sops opens the file
/// with one age key and the PGP key after every step.
fn foreign_pgp_group_kept() -> Result<(), Failed> {
    let p = Pgp::new()?;
    let c = &p.case;
    let (k2, r2) = age_keygen(c.dir.path(), "k2")?;
    let (k3, r3) = age_keygen(c.dir.path(), "k3")?;
    let both = c.path("both.txt");
    std::fs::write(&both, [std::fs::read_to_string(&c.key)?, std::fs::read_to_string(&k2)?].concat())?;
    let groups = |second: &str, third: &str| {
        format!(
            "creation_rules:\n  - shamir_threshold: 2\n    key_groups:\n      - age: [{}]\n      - age: [{second}]\n{third}",
            c.recipient
        )
    };
    std::fs::write(c.path(".sops.yaml"), groups(&r2, &format!("      - pgp: [{}]\n", p.fingerprint)))?;
    std::fs::write(c.path("plain.yaml"), "user: alice\npassword: s3cret\n")?;
    let enc = c.sops(["encrypt", "plain.yaml"]).env("GNUPGHOME", &p.gnupghome).ok()?;
    std::fs::write(c.path("f.yaml"), &enc)?;
    let text = String::from_utf8(enc)?;
    check(text.contains("key_groups:") && text.contains("shamir_threshold: 2"), "sops wrote three key groups")?;
    // The rule seal re-keys to: the age groups only (the second gains k3);
    // the PGP group is not seal's to change.
    std::fs::write(c.path("age.sops.yaml"), groups(&format!("{r2}, {r3}"), ""))?;
    let updatekeys = ["--config".to_owned(), "age.sops.yaml".to_owned()];
    through_seal(&p, &both, &c.key, Pgp::group_stanza, &updatekeys)?;
    // k3 now holds the second group's share: with the PGP key, two groups.
    let plain = c.sops(["decrypt", "f.yaml"]).env("SOPS_AGE_KEY_FILE", &k3).env("GNUPGHOME", &p.gnupghome).ok()?;
    check(String::from_utf8(plain)?.contains("user: bob"), "sops must open the file with k3 and the PGP key")
}

/// Two key groups, an age one and a PGP one, both needed: seal cannot open
/// the file, says which group it lacks and why, and writes nothing.
fn pgp_group_seal_cannot_open_is_named() -> Result<(), Failed> {
    let p = Pgp::new()?;
    let c = &p.case;
    let rule =
        format!("creation_rules:\n  - key_groups:\n      - age: [{}]\n      - pgp: [{}]\n", c.recipient, p.fingerprint);
    std::fs::write(c.path(".sops.yaml"), rule)?;
    std::fs::write(c.path("plain.yaml"), "password: s3cret\n")?;
    let enc = c.sops(["encrypt", "plain.yaml"]).env("GNUPGHOME", &p.gnupghome).ok()?;
    std::fs::write(c.path("f.yaml"), &enc)?;
    let seal = seal_bin();
    for args in [&["decrypt", "f.yaml"][..], &["set", "f.yaml", r#"["password"]"#, r#""n3w""#]] {
        let (code, out, err) = c.run(&seal, args).fails()?;
        check(
            code == 128 && err.contains("key group 1 holds only pgp keys") && err.contains("sops"),
            format!("seal {} must name the PGP group it cannot open, exit 128: {code} {err}", args.join(" ")),
        )?;
        check(!out.contains("s3cret"), "nothing decrypted is printed")?;
        check(std::fs::read(c.path("f.yaml"))? == enc, "a refused command must not write")?;
    }
    let plain = c.sops(["decrypt", "f.yaml"]).env("GNUPGHOME", &p.gnupghome).ok()?;
    check(String::from_utf8(plain)?.contains("s3cret"), "sops opens it with both keys")
}

/// Runs seal's `decrypt`, `edit` (alice → bob), `set`, `unset` and
/// `updatekeys` (with `updatekeys` args) on the case's `f.yaml`, with the
/// age identities in `key`. After each, the PGP part (`stanza_of` the
/// file) must be unchanged, and sops must still open the file with the age
/// identities in `sops_key` and the PGP key.
fn through_seal(
    p: &Pgp,
    key: &Path,
    sops_key: &Path,
    stanza_of: fn(&str) -> String,
    updatekeys: &[String],
) -> Result<(), Failed> {
    let c = &p.case;
    let stanza = stanza_of(&std::fs::read_to_string(c.path("f.yaml"))?);
    check(stanza.contains("BEGIN PGP MESSAGE") && stanza.contains(&p.fingerprint), "sops wrote a pgp stanza")?;
    let seal = seal_bin();
    let editor = c.path("editor.sh");
    std::fs::write(&editor, "#!/bin/sh\nsed -i 's/alice/bob/' \"$1\"\n")?;
    std::fs::set_permissions(&editor, std::os::unix::fs::PermissionsExt::from_mode(0o700))?;
    let mut update = vec!["updatekeys".to_owned(), "-y".to_owned()];
    update.extend_from_slice(updatekeys);
    let steps: [(&str, Vec<String>); 5] = [
        ("decrypt", vec!["decrypt".into(), "--output-type".into(), "json".into()]),
        ("edit", vec!["edit".into()]),
        ("set", vec!["set".into(), "{f}".into(), r#"["password"]"#.into(), r#""n3w""#.into()]),
        ("unset", vec!["unset".into(), "--idempotent".into(), "{f}".into(), r#"["extra"]"#.into()]),
        ("updatekeys", update),
    ];
    for (what, args) in &steps {
        let mut args: Vec<String> = args.iter().map(|a| a.replace("{f}", "f.yaml")).collect();
        if !args.iter().any(|a| a == "f.yaml") {
            args.push("f.yaml".into());
        }
        c.run(&seal, &args).env("SOPS_AGE_KEY_FILE", key).env("EDITOR", &editor).ok()?;
        let now = std::fs::read_to_string(c.path("f.yaml"))?;
        check(stanza_of(&now) == stanza, format!("seal {what} changed the pgp stanza:\n{}", stanza_of(&now)))?;
        let plain =
            c.sops(["decrypt", "f.yaml"]).env("SOPS_AGE_KEY_FILE", sops_key).env("GNUPGHOME", &p.gnupghome).ok()?;
        let user = if *what == "decrypt" { "user: alice" } else { "user: bob" };
        check(String::from_utf8(plain)?.contains(user), format!("after seal {what}, sops must decrypt with PGP"))?;
    }
    Ok(())
}

fn foreign_pgp_rotate() -> Result<(), Failed> {
    let p = Pgp::new()?;
    let c = &p.case;
    std::fs::write(c.path("plain.yaml"), "password: s3cret\n")?;
    let enc = c
        .sops(["encrypt", "--age", &c.recipient, "--pgp", &p.fingerprint, "plain.yaml"])
        .env("GNUPGHOME", &p.gnupghome)
        .ok()?;
    std::fs::write(c.path("f.yaml"), &enc)?;
    let seal = seal_bin();
    let (code, _, err) = c.run(&seal, ["rotate", "-i", "f.yaml"]).fails()?;
    check(code == 67 && err.contains("pgp") && err.contains("--rm-pgp"), format!("rotate must refuse: {code} {err}"))?;
    check(std::fs::read(c.path("f.yaml"))? == enc, "a refused rotate must not write")?;
    c.run(&seal, ["rotate", "-i", "--rm-pgp", &p.fingerprint, "f.yaml"]).ok()?;
    let text = std::fs::read_to_string(c.path("f.yaml"))?;
    check(!text.contains("pgp:") && !text.contains(&p.fingerprint), "the named PGP key must be gone")?;
    check(c.decrypted("f.yaml")?.contains("password: s3cret"), "the age key must still open it")
}

/// A HuaweiCloud KMS key (sops 3.12's `hckms`) beside the age key, as a
/// 3.12 file holds it: `rotate` refuses to drop it unasked, names
/// `--rm-hckms`, and with it removes that key only.
fn foreign_hckms_rotate() -> Result<(), Failed> {
    let c = Case::new("f.yaml", "password: s3cret\n")?;
    let text = std::fs::read_to_string(c.path("f.yaml"))?;
    let stanza = "    hckms:\n        - key_id: tr-west-1:0f1e2d3c-aaaa-bbbb-cccc-111122223333\n          created_at: \"2026-12-01T00:00:00Z\"\n          enc: c2VhbC10ZXN0\n";
    let at = text.find("    lastmodified:").ok_or("no lastmodified")?;
    let with = format!("{}{stanza}{}", &text[..at], &text[at..]);
    std::fs::write(c.path("f.yaml"), &with)?;
    let seal = seal_bin();
    let (code, _, err) = c.run(&seal, ["rotate", "-i", "f.yaml"]).fails()?;
    check(
        code == 67 && err.contains("hckms") && err.contains("--rm-hckms"),
        format!("rotate must refuse: {code} {err}"),
    )?;
    check(std::fs::read_to_string(c.path("f.yaml"))? == with, "a refused rotate must not write")?;
    let (code, _, err) = c.run(&seal, ["rotate", "-i", "--rm-hckms", "tr-west-1:other", "f.yaml"]).fails()?;
    check(code == 2 && err.contains("no hckms key"), format!("a name matching no key: {code} {err}"))?;
    c.run(&seal, ["-r", "-i", "--rm-hckms", "tr-west-1:0f1e2d3c-aaaa-bbbb-cccc-111122223333", "f.yaml"]).ok()?;
    let text = std::fs::read_to_string(c.path("f.yaml"))?;
    check(!text.contains("hckms") && !text.contains("0f1e2d3c"), "the named key must be gone")?;
    check(c.decrypted("f.yaml")?.contains("password: s3cret"), "sops opens the rotated file with the age key")
}
